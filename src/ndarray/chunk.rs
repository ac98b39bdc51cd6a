//! The memory behind arrays: a chunk is one block of elements under one lock, shared by
//! every view of it. Storage kinds with auxiliary arrays (row_sparse indices, …) keep each
//! of their blocks in a chunk of its own.

use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use smallvec::SmallVec;

use crate::error::{Error, Result};

/// A block of array memory, in whole cache lines. Every dtype is aligned, and a copy
/// between two whole arrays never meets the slow case of a destination 1–31 bytes past its
/// source modulo 4 KiB (4K aliasing), which makes a copy several times slower.
#[derive(Debug)]
pub(crate) struct Chunk {
    lines: RwLock<Vec<Line>>,
    /// Where the lines start, and their bytes: the memory never moves or changes size
    /// during the chunk's life, so these are read without the lock.
    base: usize,
    nbytes: usize,
}

#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Line([u64; 8]);

impl Chunk {
    /// Memory for a chunk of at least `nbytes`, allocated but not yet touched; out of memory
    /// is an error, not an abort.
    pub(crate) fn reserve(nbytes: usize) -> Result<Reservation> {
        let n = nbytes.div_ceil(size_of::<Line>());
        let mut lines = Vec::new();
        if allocation_refused() {
            return Err(Error::OutOfMemory(nbytes));
        }
        lines
            .try_reserve_exact(n)
            .map_err(|_| Error::OutOfMemory(nbytes))?;
        Ok(Reservation { lines, n })
    }

    pub(crate) fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// The chunk's identity, which is also its place in the lock order.
    pub(crate) fn addr(self: &Arc<Chunk>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Address of the first byte (the memory never moves during the chunk's life).
    pub(crate) fn base_addr(&self) -> usize {
        self.base
    }

    /// Runs `f` on all the chunk's bytes under its read lock.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(bytemuck::cast_slice(&self.lines.read()[..]))
    }

    /// Runs `f` on all the chunk's bytes under its write lock.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        f(bytemuck::cast_slice_mut(&mut self.lines.write()[..]))
    }
}

/// Memory set aside for a chunk: allocated, so that making the chunk cannot fail, but not
/// touched until then (an unused reservation costs no page of memory).
#[derive(Debug)]
pub(crate) struct Reservation {
    lines: Vec<Line>,
    n: usize,
}

impl Reservation {
    /// The zero-filled chunk, in the reserved memory.
    pub(crate) fn into_chunk(mut self) -> Arc<Chunk> {
        self.lines.resize(self.n, Line([0; 8]));
        Arc::new(Chunk {
            base: self.lines.as_ptr() as usize,
            nbytes: self.lines.len() * size_of::<Line>(),
            lines: RwLock::new(self.lines),
        })
    }
}

/// Runs `f` on all of `dst`'s bytes, write-locked, and all of `src`'s, read-locked: the
/// one-source case of [`OrderedLocks`] (the same lock order), without its bookkeeping.
/// `src` must be another chunk.
pub(crate) fn with_pair<R>(
    dst: &Arc<Chunk>,
    src: &Arc<Chunk>,
    f: impl FnOnce(&mut [u8], &[u8]) -> R,
) -> R {
    let (mut write, read) = if dst.addr() < src.addr() {
        let w = dst.lines.write();
        (w, src.lines.read())
    } else {
        let r = src.lines.read();
        (dst.lines.write(), r)
    };
    f(
        bytemuck::cast_slice_mut(&mut write[..]),
        bytemuck::cast_slice(&read[..]),
    )
}

/// One chunk locked for writing and others for reading, for a copy or a sum between them.
///
/// Lock order: chunks are locked in address order, each once, so two threads copying in
/// opposite directions (or summing overlapping sets) cannot deadlock.
pub(crate) struct OrderedLocks<'a> {
    dst: RwLockWriteGuard<'a, Vec<Line>>,
    srcs: SmallVec<[(usize, RwLockReadGuard<'a, Vec<Line>>); 4]>,
}

impl<'a> OrderedLocks<'a> {
    /// Write-locks `dst` and read-locks each of `srcs` that is not `dst`.
    pub(crate) fn take(
        dst: &'a Arc<Chunk>,
        srcs: impl IntoIterator<Item = &'a Arc<Chunk>>,
    ) -> OrderedLocks<'a> {
        let mut order: SmallVec<[&'a Arc<Chunk>; 4]> = srcs.into_iter().collect();
        order.push(dst);
        order.sort_unstable_by_key(|c| c.addr());
        order.dedup_by_key(|c| c.addr());
        let mut write = None;
        let mut reads = SmallVec::new();
        for c in order {
            if Arc::ptr_eq(c, dst) {
                write = Some(c.lines.write());
            } else {
                reads.push((c.addr(), c.lines.read()));
            }
        }
        OrderedLocks {
            dst: write.expect("the destination is in the lock order"),
            srcs: reads,
        }
    }

    /// The destination's bytes, and the locked sources' bytes.
    pub(crate) fn split(&mut self) -> (&mut [u8], LockedSources<'_, 'a>) {
        (
            bytemuck::cast_slice_mut(&mut self.dst[..]),
            LockedSources(&self.srcs),
        )
    }
}

/// The read-locked sources of [`OrderedLocks`].
pub(crate) struct LockedSources<'l, 'a>(&'l [(usize, RwLockReadGuard<'a, Vec<Line>>)]);

impl<'l> LockedSources<'l, '_> {
    /// All the bytes of `chunk`, which must be one of the locked sources.
    pub(crate) fn bytes(&self, chunk: &Arc<Chunk>) -> &'l [u8] {
        let (_, guard) = self
            .0
            .iter()
            .find(|(a, _)| *a == chunk.addr())
            .expect("the source chunk is locked");
        bytemuck::cast_slice(&guard[..])
    }
}

#[cfg(test)]
thread_local! {
    /// Makes every array allocation on this thread fail, to test what out of memory does.
    pub(crate) static FAIL_ALLOCATIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// When set to `Some(n)`, lets `n` more array allocations on this thread succeed and
    /// makes every one after them fail: memory running out at each point of a call in turn.
    pub(crate) static ALLOCATIONS_LEFT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

#[cfg(test)]
fn allocation_refused() -> bool {
    let left = ALLOCATIONS_LEFT.get();
    ALLOCATIONS_LEFT.set(left.map(|n| n.saturating_sub(1)));
    FAIL_ALLOCATIONS.get() || left == Some(0)
}

#[cfg(not(test))]
fn allocation_refused() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed(nbytes: usize) -> Arc<Chunk> {
        Chunk::reserve(nbytes).unwrap().into_chunk()
    }

    #[test]
    fn chunks_are_zeroed_whole_lines() {
        let c = zeroed(65);
        assert_eq!(c.nbytes(), 128);
        assert!(c.read(|b| b.iter().all(|&x| x == 0)));
        assert_eq!(c.base_addr() % 64, 0);
    }

    #[test]
    fn refused_allocations_are_out_of_memory() {
        FAIL_ALLOCATIONS.set(true);
        let r = Chunk::reserve(8);
        FAIL_ALLOCATIONS.set(false);
        assert_eq!(r.unwrap_err(), Error::OutOfMemory(8));
    }

    #[test]
    fn opposite_copies_on_two_threads_do_not_deadlock() {
        let (a, b) = (zeroed(64), zeroed(64));
        let copy = |dst: Arc<Chunk>, src: Arc<Chunk>, fill: u8| {
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    src.write(|s| s[0] = fill);
                    let mut locks = OrderedLocks::take(&dst, [&src, &src]);
                    let (d, sources) = locks.split();
                    d[0] = sources.bytes(&src)[0];
                }
            })
        };
        let t1 = copy(a.clone(), b.clone(), 1);
        let t2 = copy(b.clone(), a.clone(), 2);
        t1.join().unwrap();
        t2.join().unwrap();
    }
}
