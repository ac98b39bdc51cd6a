//! Memory that the ranks of one node share (an MPI shared window), addressed by rank and
//! offset: the distributed engine's mailboxes and serverless sums live in it. The raw
//! addresses stay here; callers get counters, and byte ranges whose use their counters
//! order (one writer, or readers, at a time).

use std::ops::Range;
use std::sync::atomic::AtomicU64;

use crate::error::{Error, Result};
use crate::ndarray::NDArray;

/// Alignment of every part's start: a page, so that counters at multiples of 64 bytes sit
/// on cache lines of their own.
const ALIGN: usize = 4096;

/// Every rank's part of a shared window, each starting on a page and holding at least the
/// bytes that rank was asked for. The memory lasts as long as the process.
pub struct Window {
    /// Where each rank's part starts in this process, and its usable length.
    parts: Vec<(usize, usize)>,
}

// SAFETY: the memory lives as long as the process; who reads and writes which bytes when is
// ordered by the counters the callers keep in it.
unsafe impl Send for Window {}
unsafe impl Sync for Window {}

impl Window {
    /// The window from each rank's (address, length) as MPI gives them, when every rank's
    /// part holds `wanted(rank)` bytes from a page boundary within it; `None` otherwise.
    pub(crate) fn new(raw: Vec<(usize, usize)>, wanted: impl Fn(usize) -> usize) -> Option<Window> {
        let parts = raw
            .into_iter()
            .enumerate()
            .map(|(rank, (at, len))| {
                let start = at.next_multiple_of(ALIGN);
                let need = wanted(rank);
                let fits = need == 0 || (at != 0 && len >= need + (start - at));
                fits.then_some((start, need))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Window { parts })
    }

    /// The bytes `range` of `rank`'s part, checked to lie within it.
    fn span(&self, rank: usize, range: &Range<usize>) -> usize {
        let (start, len) = self.parts[rank];
        assert!(
            range.start <= range.end && range.end <= len,
            "bytes {range:?} of a shared part of {len}"
        );
        start + range.start
    }

    /// How many ranks have a part.
    pub fn ranks(&self) -> usize {
        self.parts.len()
    }

    /// The counter at `offset` (a multiple of 8) in `rank`'s part.
    pub fn counter(&self, rank: usize, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0, "a counter at {offset}");
        let at = self.span(rank, &(offset..offset + 8));
        // SAFETY: 8 aligned bytes within the part, which lives as long as the process and
        // is only ever accessed atomically there.
        unsafe { &*(at as *const AtomicU64) }
    }

    /// The bytes `range` of `rank`'s part, to read: the caller's counters say that no one
    /// writes them meanwhile.
    pub fn bytes(&self, rank: usize, range: Range<usize>) -> &[u8] {
        let at = self.span(rank, &range);
        // SAFETY: within the part (checked), which lives as long as the process.
        unsafe { std::slice::from_raw_parts(at as *const u8, range.len()) }
    }

    /// The bytes `range` of `rank`'s part, to write: the caller's counters say that no one
    /// else reads or writes them meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub fn bytes_mut(&self, rank: usize, range: Range<usize>) -> &mut [u8] {
        let at = self.span(rank, &range);
        // SAFETY: within the part (checked), which lives as long as the process.
        unsafe { std::slice::from_raw_parts_mut(at as *mut u8, range.len()) }
    }
}

/// Runs `f` on the bytes of `into` and of each of `from`, without taking the arrays' locks:
/// for a sum that the caller made safe as an MPI collective on their addresses would be
/// (the keys' locks, or the only reference, keep other writers out; `from` is not `into`'s
/// memory).
pub fn with_bytes<R>(
    into: &NDArray,
    from: &[&NDArray],
    f: impl FnOnce(&mut [u8], &[&[u8]]) -> R,
) -> Result<R> {
    let dense = |a: &NDArray| {
        a.data_addr()
            .filter(|_| !a.is_sparse())
            .ok_or_else(|| Error::Dist("a sum of an array without dense data".into()))
    };
    let to = dense(into)?;
    let mut sources = Vec::with_capacity(from.len());
    for a in from {
        let at = dense(a)?;
        if a.memory_id() == into.memory_id() {
            return Err(Error::Dist("a sum read from the memory it writes".into()));
        }
        // SAFETY: the array's own bytes, alive while `a` is; writers are kept out by the
        // caller (see above).
        sources.push(unsafe { std::slice::from_raw_parts(at as *const u8, a.nbytes()) });
    }
    // SAFETY: as above, and not aliased by any source (checked).
    let into = unsafe { std::slice::from_raw_parts_mut(to as *mut u8, into.nbytes()) };
    Ok(f(into, &sources))
}

#[cfg(test)]
mod tests {
    use super::{Window, ALIGN};

    #[test]
    fn parts_start_on_a_page_and_must_hold_what_is_wanted_from_there() {
        let base = 10 * ALIGN + 8;
        // Given one page of slack, an unaligned part holds what is wanted from its page.
        let w = Window::new(
            vec![(base, 100 + ALIGN), (base + 200 + ALIGN, 50 + ALIGN)],
            |r| [100, 50][r],
        )
        .expect("both parts fit");
        let second = (base + 200 + ALIGN).next_multiple_of(ALIGN);
        assert_eq!(w.parts, vec![(11 * ALIGN, 100), (second, 50)]);
        // Without it, it does not; a rank that gives nothing is fine when nothing is wanted.
        assert!(Window::new(vec![(base, 100)], |_| 100).is_none());
        assert!(Window::new(vec![(0, 0)], |_| 0).is_some());
        assert!(Window::new(vec![(0, 0)], |_| 1).is_none());
    }
}
