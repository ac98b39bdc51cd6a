//! Allreduce through shared memory, for workers that all run on one node: faster than
//! MPI's own there, as nothing is copied by the kernel or between page-pinned buffers.
//!
//! Each worker has a part of one shared window: a flag, a slot and a result area of
//! [`CHUNK`] bytes each. A sum goes chunk by chunk (a chunk stays in cache); every chunk
//! is cut into one segment per worker, and worker `r` sums segment `r`:
//!
//! 1. each worker copies the segments the others sum into its slot, and raises its flag;
//! 2. once every flag is up, worker `r` adds its own segment `r` to segment `r` of every
//!    other slot, in rank order, into its result area (and its output), and raises its flag
//!    again;
//! 3. once every flag is up again, each worker copies the other segments' sums from the
//!    others' result areas into its output.
//!
//! Every segment is summed once, by one worker, so every worker ends with the same bits.
//! A worker rewrites its slot and result area only after every other worker has raised
//! its flag for the next chunk, that is, has finished reading them. Flags count up: a
//! worker's flag is `2c - 1` after step 1 of its `c`-th chunk, `2c` after step 2.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::net::{timeout, wait_until};
use crate::error::{Error, Result};
use crate::ffi::cache::prefetch;
use crate::ffi::mpi::{shared_memory_room, Comm};
use crate::ffi::shared_memory::Window;
use crate::ndarray::kernels::{pair_loop, sum_into, sum_into_both, Elems};
use crate::ndarray::DType;
use crate::ndarray::SumOrder::Sequential;

/// How many pieces ahead of the one it reads [`Spans::each_run`] asks for memory.
const AHEAD: usize = 2;
/// The bytes of a chunk: a slot, and a result area, hold this many.
const CHUNK: usize = 1 << 19;
/// Where a worker's slot starts in its part of the window (the flag comes first, on a
/// page of its own).
const SLOT: usize = 4096;
const RESULT: usize = SLOT + CHUNK;
const PART: usize = RESULT + CHUNK;

/// Whether `MXKV_DIST_SHM=0` asks that ranks on one node talk through MPI only (every
/// rank must be given the same).
pub fn declined() -> bool {
    std::env::var("MXKV_DIST_SHM").is_ok_and(|v| v.trim() == "0")
}

/// Whether every rank of `comm` sees room for `bytes` of shared memory (a rank that cannot
/// tell says yes). Collective over `comm`.
pub fn room_for(comm: &Comm, bytes: usize) -> Result<bool> {
    let room = shared_memory_room().map_or(true, |free| free >= bytes as u64);
    let deadline = Instant::now() + timeout();
    comm.all_say(room, |req| {
        Ok(wait_until(deadline, || false, || Ok(req.test()?.then_some(())))?.is_some())
    })
}

/// The workers' shared memory, when they all share one node.
pub struct Shared {
    rank: usize,
    /// Every worker's part of the window, by worker rank.
    window: Window,
    /// How many chunks this worker has summed (its flag's count); under the lock, as sums
    /// from several threads must not mix.
    chunks: Mutex<u64>,
    /// Set when a sum was given up (a peer did not come): the flags no longer agree.
    failed: AtomicBool,
}

/// A worker that did not reach a sum in time (its rank among the workers).
pub struct Silent(pub i32);

/// The bytes a sum reads: pieces of memory, one after the other (the arrays of several
/// keys, read where they are rather than copied together first).
pub struct Spans<'a> {
    pieces: &'a [&'a [u8]],
    /// Where each piece starts.
    starts: Vec<usize>,
    len: usize,
}

impl<'a> Spans<'a> {
    pub fn new(pieces: &'a [&'a [u8]]) -> Spans<'a> {
        let mut starts = Vec::with_capacity(pieces.len());
        let mut len = 0;
        for p in pieces {
            starts.push(len);
            len += p.len();
        }
        Spans {
            pieces,
            starts,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Calls `f` with each run of the bytes `range` that lies in one piece (none empty),
    /// and where the run starts in the range. Each piece is asked for [`AHEAD`] pieces
    /// before its run: small arrays, each in its own allocation, are otherwise read at the
    /// pace of memory's latency, not of its bandwidth.
    fn each_run(&self, range: Range<usize>, mut f: impl FnMut(usize, &'a [u8])) {
        let mut at = range.start;
        let mut i = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
        while at < range.end {
            if let Some(ahead) = self.pieces.get(i + AHEAD) {
                prefetch(ahead);
            }
            let piece = self.pieces[i];
            let from = at - self.starts[i];
            let n = (piece.len() - from).min(range.end - at);
            if n > 0 {
                f(at - range.start, &piece[from..from + n]);
            }
            at += n;
            i += 1;
        }
    }

    /// Copies the bytes `range` into `into` (of as many bytes).
    fn copy(&self, range: Range<usize>, into: &mut [u8]) {
        self.each_run(range, |at, run| {
            into[at..at + run.len()].copy_from_slice(run)
        });
    }
}

impl Shared {
    /// The shared memory of the workers of `workers`, when they are more than one and all
    /// on one node (`MXKV_DIST_SHM=0` declines it). Collective over `workers`, and blocking:
    /// called when every worker has just been heard from.
    pub fn join(workers: &Comm) -> Result<Option<Shared>> {
        if declined() || workers.size() < 2 {
            return Ok(None);
        }
        if workers.node()?.size() != workers.size() {
            return Ok(None);
        }
        if !room_for(workers, (PART + 4096) * workers.size() as usize)? {
            return Ok(None);
        }
        let Some(window) = workers.shared_window(PART + 4096, |_| PART)? else {
            return Ok(None);
        };
        let rank = workers.rank() as usize;
        let shared = Shared {
            rank,
            window,
            chunks: Mutex::new(0),
            failed: AtomicBool::new(false),
        };
        shared.flag(rank).store(0, Ordering::Release);
        Ok(Some(shared))
    }

    /// How many workers share the window (one part each).
    fn workers(&self) -> usize {
        self.window.ranks()
    }

    /// A worker's flag: the first bytes of its part.
    fn flag(&self, worker: usize) -> &AtomicU64 {
        self.window.counter(worker, 0)
    }

    /// `len` bytes from `at` in `worker`'s part, to read: the flags say that no one writes
    /// them meanwhile.
    fn area(&self, worker: usize, at: usize, len: usize) -> &[u8] {
        self.window.bytes(worker, at..at + len)
    }

    /// The same, to write: the flags say that no one else reads or writes them meanwhile.
    #[allow(clippy::mut_from_ref)]
    fn area_mut(&self, worker: usize, at: usize, len: usize) -> &mut [u8] {
        self.window.bytes_mut(worker, at..at + len)
    }

    /// Raises this worker's flag to `to`, then waits (until `deadline`) for every other
    /// worker's to reach it.
    fn meet(&self, to: u64, deadline: Instant) -> Result<Option<Silent>> {
        self.flag(self.rank).store(to, Ordering::Release);
        for w in (0..self.workers()).filter(|&w| w != self.rank) {
            let flag = self.flag(w);
            let came = wait_until(
                deadline,
                || false,
                || Ok((flag.load(Ordering::Acquire) >= to).then_some(())),
            )?;
            if came.is_none() {
                self.failed.store(true, Ordering::Relaxed);
                return Ok(Some(Silent(w as i32)));
            }
        }
        Ok(None)
    }

    /// Sums `from` (elements of `dtype`; `into` itself when `None`) over the workers into
    /// `into`: every worker calls this with as many bytes, in the same order. `Some(worker)`
    /// when a worker did not come by `deadline` (`into` is then partly summed).
    pub fn sum(
        &self,
        from: Option<&Spans<'_>>,
        into: &mut [u8],
        dtype: DType,
        deadline: Instant,
    ) -> Result<Option<Silent>> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(Error::Dist(
                "an earlier allreduce through shared memory was given up: the workers are \
                 out of step"
                    .into(),
            ));
        }
        if from.is_some_and(|f| f.len() != into.len()) {
            return Err(Error::Dist(
                "an allreduce from and into memory of different sizes".into(),
            ));
        }
        let mut chunks = self.chunks.lock();
        let width = dtype.size();
        let per_chunk = (CHUNK / width * width).max(1);
        for start in (0..into.len()).step_by(per_chunk) {
            let chunk = start..(start + per_chunk).min(into.len());
            *chunks += 1;
            let from = from.map(|f| (f, chunk.start));
            if let Some(silent) =
                self.sum_chunk(from, &mut into[chunk], dtype, *chunks, deadline)?
            {
                return Ok(Some(silent));
            }
        }
        Ok(None)
    }

    /// The bytes of `len` that `worker` sums: whole elements, split as evenly as can be.
    fn segment(&self, worker: usize, len: usize, width: usize) -> Range<usize> {
        let workers = self.workers();
        let per = (len / width).div_ceil(workers) * width;
        (worker * per).min(len)..((worker + 1) * per).min(len)
    }

    /// One chunk: `into` is its bytes, read from `from` (spans, and where the chunk starts
    /// in them) or from `into` itself.
    fn sum_chunk(
        &self,
        from: Option<(&Spans<'_>, usize)>,
        into: &mut [u8],
        dtype: DType,
        count: u64,
        deadline: Instant,
    ) -> Result<Option<Silent>> {
        let (me, len, width) = (self.rank, into.len(), dtype.size());
        let others = (0..self.workers()).filter(|&w| w != me);
        let mine = self.segment(me, len, width);
        let shifted = |r: &Range<usize>, by: usize| r.start + by..r.end + by;
        // 1. The segments the others sum, into this worker's slot (at their own offsets).
        for w in others.clone() {
            let seg = self.segment(w, len, width);
            // The others read this slot only after the flag below.
            let slot = &mut self.area_mut(me, SLOT, CHUNK)[seg.clone()];
            match from {
                Some((spans, at)) => spans.copy(shifted(&seg, at), slot),
                None => slot.copy_from_slice(&into[seg]),
            }
        }
        if let Some(silent) = self.meet(2 * count - 1, deadline)? {
            return Ok(Some(silent));
        }
        // 2. This worker's segment, summed in rank order into its result area and its
        // output. Its own values are read where they are, array by array, and each run's
        // sum is written to both places at once.
        if !mine.is_empty() {
            // The result area is this worker's own; every slot holds this chunk
            // (the flags are up) and is not rewritten before this worker's next flag.
            let result = &mut self.area_mut(me, RESULT, CHUNK)[mine.clone()];
            let slots: SmallVec<[&[u8]; 8]> = (0..self.workers())
                .map(|w| match w == me {
                    true => &[][..],
                    false => &self.area(w, SLOT, CHUNK)[mine.clone()],
                })
                .collect();
            let sources = |run: &Range<usize>, own| -> SmallVec<[Elems<'_>; 8]> {
                (0..self.workers())
                    .map(|w| Elems {
                        bytes: match w == me {
                            true => own,
                            false => &slots[w][run.clone()],
                        },
                        dtype,
                    })
                    .collect()
            };
            match from {
                Some((spans, base)) => {
                    let out = &mut into[mine.clone()];
                    // Two workers adding in their dtype's own arithmetic: the loop is
                    // looked up once, not for each run (an array's, for many small keys).
                    let pair = pair_loop(dtype).filter(|_| self.workers() == 2);
                    spans.each_run(shifted(&mine, base), |at, own| {
                        let run = at..at + own.len();
                        let (result, out) = (&mut result[run.clone()], &mut out[run.clone()]);
                        match pair {
                            Some(pair) => {
                                let other = &slots[1 - me][run];
                                // In rank order, as `sources` gives them.
                                let (a, b) = if me == 0 { (own, other) } else { (other, own) };
                                pair(result, Some(out), a, b);
                            }
                            None => {
                                sum_into_both(result, out, dtype, &sources(&run, own), Sequential)
                            }
                        }
                    });
                }
                None => {
                    let run = 0..mine.len();
                    sum_into(
                        result,
                        dtype,
                        &sources(&run, &into[mine.clone()]),
                        Sequential,
                    );
                    into[mine].copy_from_slice(result);
                }
            }
        }
        if let Some(silent) = self.meet(2 * count, deadline)? {
            return Ok(Some(silent));
        }
        // 3. The others' segments' sums.
        for w in others {
            let seg = self.segment(w, len, width);
            // w's result area holds its sum (its flag is up) until every worker's
            // flag for the next chunk is.
            into[seg.clone()].copy_from_slice(&self.area(w, RESULT, CHUNK)[seg]);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_across_their_pieces() {
        let (a, b, c) = ([1u8, 2, 3], [4u8], [5u8, 6, 7, 8]);
        let pieces = [&a[..], &b[..], &[][..], &c[..]];
        let spans = Spans::new(&pieces);
        assert_eq!(spans.len(), 8);
        let all: Vec<u8> = (1..=8).collect();
        for start in 0..8 {
            for end in start..=8 {
                let mut got = vec![0u8; end - start];
                spans.copy(start..end, &mut got);
                assert_eq!(got, all[start..end], "bytes {start}..{end}");
                let mut runs = Vec::new();
                spans.each_run(start..end, |at, run| runs.push((at, run)));
                let mut next = 0;
                for &(at, run) in &runs {
                    assert!(
                        !run.is_empty() && at == next,
                        "runs of {start}..{end}: {runs:?}"
                    );
                    assert_eq!(run, &all[start + at..start + at + run.len()]);
                    next = at + run.len();
                }
                assert_eq!(next, end - start);
            }
        }
        let mut runs = Vec::new();
        spans.each_run(1..6, |at, run| runs.push((at, run)));
        assert_eq!(runs, vec![(0, &a[1..]), (2, &b[..]), (3, &c[..2])]);
    }

    #[test]
    fn segments_cover_a_chunk_in_whole_elements() {
        let shared = Shared {
            rank: 0,
            window: Window::new(vec![(0, 0); 3], |_| 0).unwrap(),
            chunks: Mutex::new(0),
            failed: AtomicBool::new(false),
        };
        for (len, width) in [(0, 4), (4, 4), (40, 4), (44, 4), (CHUNK, 8), (24, 8)] {
            let segs: Vec<Range<usize>> = (0..3).map(|w| shared.segment(w, len, width)).collect();
            assert_eq!(segs[0].start, 0);
            assert_eq!(segs[2].end, len);
            for pair in segs.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            assert!(segs
                .iter()
                .all(|s| s.start % width == 0 && s.end % width == 0));
        }
    }
}
