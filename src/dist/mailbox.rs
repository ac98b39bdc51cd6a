//! Values through shared memory, when workers and servers all run on one node: a worker
//! copies the values of a push into its mailbox for that server, and the server sums them
//! from there; a server copies the values a pull asks for into its mailbox for that worker,
//! and the worker copies them out. Every worker has a mailbox for every server and every
//! server one for every worker, in a window shared by the job. This replaces MPI messages
//! of values, which cost a copy by the receiver (for pushes, the server's single thread
//! receiving one worker after the other) and then one more out of the message.
//!
//! A server has one more mailbox, for answers that several workers read: when workers pull
//! the same keys while no value changes, the values are copied there once.
//!
//! A mailbox holds one message's values at a time. Two counters order it: its owner counts
//! the messages it put in (`taken`), the reader those it is done with (`released`); the
//! mailbox is free when they are equal. Values that do not fit, or find the mailbox in use
//! (a push whose round is not summed yet), travel as MPI messages.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::layout::Layout;
use crate::error::Result;
use crate::ffi::mpi::Comm;
use crate::ndarray::NDArray;

/// The bytes a mailbox holds.
const MAILBOX: usize = 8 << 20;
/// A mailbox's counters come first, on a page of their own; its bytes follow.
const BYTES: usize = 4096;
const STRIDE: usize = BYTES + MAILBOX;

/// The head of a push request whose values that travel apart are in the sender's mailbox.
pub(crate) const HEAD_IN_MAILBOX: i32 = 1;

/// Where a value of `len` bytes goes in a mailbox after `at` bytes: at a multiple of 8
/// bytes, so that it can be read in place as its elements.
pub fn place(at: usize, len: usize) -> Range<usize> {
    let start = at.next_multiple_of(8);
    start..start + len
}

/// The job's mailboxes.
pub struct Mailboxes {
    layout: Layout,
    /// Where each rank's mailboxes start, by world rank.
    parts: Vec<usize>,
    /// This rank's use of its mailboxes, one per peer (several threads may push).
    mine: Vec<Mutex<()>>,
    /// A server's use of its shared mailbox.
    shared_lock: Mutex<()>,
}

// SAFETY: the addresses are of memory that lives as long as the process; every access to
// a mailbox's bytes is ordered by its counters.
unsafe impl Send for Mailboxes {}
unsafe impl Sync for Mailboxes {}

/// A mailbox this rank holds, to put a message's values in.
pub struct Filling<'a> {
    bytes: &'a mut [u8],
    taken: &'a AtomicU64,
    len: usize,
    _held: MutexGuard<'a, ()>,
}

impl Filling<'_> {
    /// Appends `bytes` (at the next [`place`]; the caller made sure they fit).
    pub fn put(&mut self, bytes: &[u8]) {
        let range = place(self.len, bytes.len());
        self.bytes[range.clone()].copy_from_slice(bytes);
        self.len = range.end;
    }

    /// Appends the values of `arrays`, each at the next [`place`] (the caller made sure
    /// they fit).
    pub fn put_arrays(&mut self, arrays: &[&NDArray]) -> Result<()> {
        for a in arrays {
            a.read(|b| self.put(b))?;
        }
        Ok(())
    }

    /// The values are in: the peer may read them once told (by the message sent after this).
    pub fn close(self) {
        self.taken.fetch_add(1, Ordering::Release);
    }
}

/// Values a rank reads from a peer's mailbox; the mailbox is released when this is dropped
/// (a server: every value of the push has been summed, or given up).
pub struct Lease {
    at: usize,
    len: usize,
    released: *const AtomicU64,
}

impl Lease {
    /// The bytes `range` of the values.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        assert!(range.end <= self.len, "bytes beyond the push");
        // SAFETY: the owner does not write its mailbox until the lease is dropped.
        unsafe { std::slice::from_raw_parts((self.at + range.start) as *const u8, range.len()) }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // SAFETY: the counter lives as long as the process.
        unsafe { &*self.released }.fetch_add(1, Ordering::Release);
    }
}

impl Mailboxes {
    /// The job's mailboxes, when every rank runs on one node and there are servers
    /// (`MXKV_DIST_SHM=0` declines them). Collective over `world`, and blocking: called when
    /// every rank has just been heard from.
    pub fn join(world: &Comm, layout: Layout) -> Result<Option<Mailboxes>> {
        if super::shared::declined() || layout.servers == 0 {
            return Ok(None);
        }
        if world.node()?.size() != world.size() {
            return Ok(None);
        }
        // Each rank's part starts on a page boundary within what it gives: a mailbox for
        // every rank of the other kind.
        let wanted = |rank: i32| STRIDE * Self::boxes(&layout, rank);
        let size = wanted(layout.rank) + 4096;
        let total = (0..world.size()).map(|r| wanted(r) + 4096).sum();
        if !super::shared::room_for(world, total)? {
            return Ok(None);
        }
        let parts: Option<Vec<usize>> = world
            .shared_memory(size)?
            .into_iter()
            .enumerate()
            .map(|(rank, (at, len))| {
                let start = at.next_multiple_of(4096);
                (at != 0 && len >= wanted(rank as i32) + (start - at)).then_some(start)
            })
            .collect::<Option<_>>();
        let Some(parts) = parts else {
            return Ok(None);
        };
        let boxes = Mailboxes {
            layout,
            parts,
            mine: (0..Self::peers(&layout, layout.rank))
                .map(|_| Mutex::new(()))
                .collect(),
            shared_lock: Mutex::new(()),
        };
        Ok(Some(boxes))
    }

    /// How many mailboxes `rank` has: one per rank of the other kind, and a server one more,
    /// for answers that several workers read.
    fn boxes(layout: &Layout, rank: i32) -> usize {
        Self::peers(layout, rank) as usize + usize::from(rank < layout.servers)
    }

    /// How many ranks of the other kind `rank` has a mailbox for.
    fn peers(layout: &Layout, rank: i32) -> i32 {
        match rank < layout.servers {
            true => layout.workers,
            false => layout.servers,
        }
    }

    /// The number of `peer`'s mailbox among `owner`'s (world ranks), when they are of two
    /// kinds.
    fn index(&self, owner: i32, peer: i32) -> Option<usize> {
        let l = &self.layout;
        let ranks = l.servers + l.workers;
        if !(0..ranks).contains(&owner) || !(0..ranks).contains(&peer) {
            return None;
        }
        match (owner < l.servers, peer < l.servers) {
            (true, false) => Some((peer - l.servers) as usize),
            (false, true) => Some(peer as usize),
            _ => None,
        }
    }

    /// Where `owner`'s mailbox for `peer` starts (world ranks).
    fn mailbox(&self, owner: i32, peer: i32) -> Option<usize> {
        Some(self.parts[owner as usize] + STRIDE * self.index(owner, peer)?)
    }

    fn counters(&self, at: usize) -> (&AtomicU64, &AtomicU64) {
        // SAFETY: a mailbox's first page holds its two counters (on cache lines of their
        // own), for as long as the process lives; they are only accessed atomically.
        unsafe {
            (
                &*(at as *const AtomicU64),
                &*((at + 64) as *const AtomicU64),
            )
        }
    }

    /// This rank's mailbox for `peer` (world rank), when it is free and holds `len` bytes.
    pub fn fill(&self, peer: i32, len: usize) -> Option<Filling<'_>> {
        let me = self.layout.rank;
        let at = self.mailbox(me, peer)?;
        if len > MAILBOX {
            return None;
        }
        let held = self.mine.get(self.index(me, peer)?)?.try_lock()?;
        let (taken, released) = self.counters(at);
        if taken.load(Ordering::Relaxed) != released.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: the mailbox is free (its reader released everything put in it) and this
        // rank holds it.
        let bytes = unsafe { std::slice::from_raw_parts_mut((at + BYTES) as *mut u8, MAILBOX) };
        Some(Filling {
            bytes,
            taken,
            len: 0,
            _held: held,
        })
    }

    /// Where `server`'s mailbox for answers that several workers read starts.
    fn shared_mailbox(&self, server: i32) -> Option<usize> {
        (0..self.layout.servers)
            .contains(&server)
            .then(|| self.parts[server as usize] + STRIDE * self.layout.workers as usize)
    }

    /// This server's mailbox for answers that several workers read, when every worker
    /// released what it read there and it holds `len` bytes. Each worker given its values
    /// is counted ([`Filling::close`], then [`Mailboxes::lend_shared`]).
    pub fn fill_shared(&self, len: usize) -> Option<Filling<'_>> {
        let at = self.shared_mailbox(self.layout.rank)?;
        if len > MAILBOX {
            return None;
        }
        let (taken, released) = self.counters(at);
        if taken.load(Ordering::Relaxed) != released.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: every reader released the mailbox, and only this server's thread fills it.
        let bytes = unsafe { std::slice::from_raw_parts_mut((at + BYTES) as *mut u8, MAILBOX) };
        Some(Filling {
            bytes,
            taken,
            len: 0,
            _held: self.shared_lock.lock(),
        })
    }

    /// One more worker is given what this server's shared mailbox holds.
    pub fn lend_shared(&self) {
        if let Some(at) = self.shared_mailbox(self.layout.rank) {
            self.counters(at).0.fetch_add(1, Ordering::Release);
        }
    }

    /// The values of `len` bytes a server put in its mailbox for answers that several
    /// workers read, and told this worker so.
    pub fn lease_shared(&self, server: i32, len: usize) -> Option<Lease> {
        let at = self.shared_mailbox(server)?;
        if len > MAILBOX {
            return None;
        }
        let (taken, released) = self.counters(at);
        if taken.load(Ordering::Acquire) <= released.load(Ordering::Relaxed) {
            return None;
        }
        Some(Lease {
            at: at + BYTES,
            len,
            released,
        })
    }

    /// The values of `len` bytes that `owner` (world rank) put in its mailbox for this
    /// rank, and told this rank so.
    pub fn lease(&self, owner: i32, len: usize) -> Option<Lease> {
        let at = self.mailbox(owner, self.layout.rank)?;
        if len > MAILBOX {
            return None;
        }
        let (taken, released) = self.counters(at);
        // The owner's writes come before its count, which comes before its message.
        if taken.load(Ordering::Acquire) <= released.load(Ordering::Relaxed) {
            return None;
        }
        Some(Lease {
            at: at + BYTES,
            len,
            released,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndarray::Context;

    #[test]
    fn values_are_put_at_multiples_of_8() {
        let arrays: Vec<NDArray> = [3usize, 1, 1_300_001, 5, 300_000]
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                let v: Vec<u8> = (0..n).map(|i| (i * 7 + k) as u8).collect();
                NDArray::from_slice(&[n], &v, Context::cpu(0)).unwrap()
            })
            .collect();
        for range in [0..5, 2..3, 3..5] {
            let refs: Vec<&NDArray> = arrays[range].iter().collect();
            let (taken, held) = (AtomicU64::new(0), Mutex::new(()));
            let mut memory = vec![0xAAu8; 2 << 20];
            let mut filling = Filling {
                bytes: &mut memory,
                taken: &taken,
                len: 0,
                _held: held.lock(),
            };
            filling.put(&[9; 2]);
            filling.put_arrays(&refs).unwrap();
            let end = filling.len;
            filling.close();
            assert_eq!(taken.load(Ordering::Relaxed), 1);
            let mut at = place(0, 2).end;
            for a in &refs {
                let to = place(at, a.nbytes());
                let want: Vec<u8> = a.to_vec::<u8>().unwrap();
                assert!(
                    memory[to.clone()] == want[..],
                    "array of {} bytes",
                    a.nbytes()
                );
                at = to.end;
            }
            assert_eq!(at, end);
        }
    }
}
