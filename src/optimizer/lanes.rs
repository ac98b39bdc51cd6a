//! Element-wise rules over several arrays at once, split across the rayon pool when the
//! arrays are large. Each rule is written as a serial loop over a tuple of slices (its
//! "lanes"); [`run`] cuts the tuple in two and runs the loop on each half.

/// Below twice this many elements a rule never leaves the calling thread.
const GRAIN: usize = 1 << 16;

/// A tuple of equally long slices that can be cut at one index.
pub trait Lanes: Sized + Send {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Send> Lanes for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T: Sync> Lanes for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

macro_rules! tuple_lanes {
    ($($name:ident),+) => {
        impl<$($name: Lanes),+> Lanes for ($($name,)+) {
            #[allow(non_snake_case)]
            fn len(&self) -> usize {
                let ($($name,)+) = self;
                let lens = [$($name.len()),+];
                lens[0]
            }
            #[allow(non_snake_case)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($name,)+) = self;
                $(let $name = $name.split_at(mid);)+
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}
tuple_lanes!(A, B);
tuple_lanes!(A, B, C);
tuple_lanes!(A, B, C, D);
tuple_lanes!(A, B, C, D, E);
tuple_lanes!(A, B, C, D, E, F);

/// Runs `body` over `lanes`, in two halves on both cores when there are many elements (on
/// the process's own pool, [`crate::pool`], so a forked child never waits on its parent's).
/// The calling thread runs the first half itself while a pool thread takes the second: only
/// one thread has to wake, and the caller does not wait for one to start its own work.
pub fn run<L: Lanes>(lanes: L, body: &(impl Fn(L) + Sync)) {
    match crate::pool::pool() {
        Some(pool) if lanes.len() >= 2 * GRAIN && pool.current_num_threads() >= 2 => {
            let half = lanes.len() / 2;
            let (first, second) = lanes.split_at(half);
            pool.in_place_scope(|scope| {
                scope.spawn(|_| body(second));
                body(first);
            });
        }
        _ => body(lanes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_is_visited_once_in_large_and_small_runs() {
        for n in [0, 5, GRAIN * 5 + 3] {
            let src: Vec<u32> = (0..n as u32).collect();
            let mut dst = vec![0u32; n];
            let mut hits = vec![0u8; n];
            run((&mut dst[..], &src[..], &mut hits[..]), &|(d, s, h)| {
                for ((d, s), h) in d.iter_mut().zip(s).zip(h) {
                    *d = s * 2;
                    *h += 1;
                }
            });
            assert!(dst.iter().enumerate().all(|(i, &d)| d == 2 * i as u32));
            assert!(hits.iter().all(|&h| h == 1));
        }
    }
}
