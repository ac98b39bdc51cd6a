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
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::layout::Layout;
use crate::error::Result;
use crate::ffi::mpi::Comm;
use crate::ffi::shared_memory::Window;
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
    /// Every rank's part of the window: its mailboxes, one after the other.
    window: Arc<Window>,
    /// This rank's use of its mailboxes, one per peer (several threads may push), and a
    /// server's of its shared mailbox, last.
    mine: Vec<Mutex<()>>,
}

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

/// A mailbox: whose part of the window it is in, and where.
#[derive(Clone, Copy)]
struct Spot {
    rank: usize,
    at: usize,
}

/// Values a rank reads from a peer's mailbox; the mailbox is released when this is dropped
/// (a server: every value of the push has been summed, or given up).
pub struct Lease {
    window: Arc<Window>,
    spot: Spot,
    len: usize,
}

impl Lease {
    /// The bytes `range` of the values (the owner does not write its mailbox until the
    /// lease is dropped).
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        assert!(range.end <= self.len, "bytes beyond the push");
        let at = self.spot.at + BYTES;
        self.window
            .bytes(self.spot.rank, at + range.start..at + range.end)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        counters(&self.window, self.spot)
            .1
            .fetch_add(1, Ordering::Release);
    }
}

/// A mailbox's counters (`taken`, `released`), on cache lines of their own on its first
/// page.
fn counters(window: &Window, spot: Spot) -> (&AtomicU64, &AtomicU64) {
    (
        window.counter(spot.rank, spot.at),
        window.counter(spot.rank, spot.at + 64),
    )
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
        let wanted = |rank: usize| STRIDE * Self::boxes(&layout, rank as i32);
        let size = wanted(layout.rank as usize) + 4096;
        let total = (0..world.size() as usize).map(|r| wanted(r) + 4096).sum();
        if !super::shared::room_for(world, total)? {
            return Ok(None);
        }
        let Some(window) = world.shared_window(size, wanted)? else {
            return Ok(None);
        };
        let boxes = Mailboxes {
            layout,
            window: Arc::new(window),
            mine: (0..Self::boxes(&layout, layout.rank))
                .map(|_| Mutex::new(()))
                .collect(),
        };
        Ok(Some(boxes))
    }

    /// How many mailboxes `rank` has: one per rank of the other kind, and a server one more,
    /// for answers that several workers read.
    fn boxes(layout: &Layout, rank: i32) -> usize {
        let peers = match rank < layout.servers {
            true => layout.workers,
            false => layout.servers,
        };
        peers as usize + usize::from(rank < layout.servers)
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

    /// `owner`'s mailbox number `index`.
    fn spot(owner: i32, index: usize) -> Spot {
        Spot {
            rank: owner as usize,
            at: STRIDE * index,
        }
    }

    /// `server`'s mailbox for answers that several workers read: after its one per worker.
    fn shared_index(&self, server: i32) -> Option<usize> {
        (0..self.layout.servers)
            .contains(&server)
            .then_some(self.layout.workers as usize)
    }

    /// This rank's mailbox number `index`, when it is free (its readers released everything
    /// put in it), holds `len` bytes, and no other thread of this rank holds it.
    fn fill_at(&self, index: usize, len: usize) -> Option<Filling<'_>> {
        if len > MAILBOX {
            return None;
        }
        let held = self.mine.get(index)?.try_lock()?;
        let spot = Self::spot(self.layout.rank, index);
        let (taken, released) = counters(&self.window, spot);
        if taken.load(Ordering::Relaxed) != released.load(Ordering::Acquire) {
            return None;
        }
        let bytes = self
            .window
            .bytes_mut(spot.rank, spot.at + BYTES..spot.at + STRIDE);
        Some(Filling {
            bytes,
            taken,
            len: 0,
            _held: held,
        })
    }

    /// `owner`'s mailbox number `index`, when it told this rank that it holds `len` bytes
    /// of values for it (its count is ahead of their releases).
    fn lease_at(&self, owner: i32, index: usize, len: usize) -> Option<Lease> {
        if len > MAILBOX {
            return None;
        }
        let spot = Self::spot(owner, index);
        let (taken, released) = counters(&self.window, spot);
        // The owner's writes come before its count, which comes before its message.
        if taken.load(Ordering::Acquire) <= released.load(Ordering::Relaxed) {
            return None;
        }
        Some(Lease {
            window: self.window.clone(),
            spot,
            len,
        })
    }

    /// This rank's mailbox for `peer` (world rank), when it is free and holds `len` bytes.
    pub fn fill(&self, peer: i32, len: usize) -> Option<Filling<'_>> {
        self.fill_at(self.index(self.layout.rank, peer)?, len)
    }

    /// This server's mailbox for answers that several workers read, when every worker
    /// released what it read there and it holds `len` bytes. Each worker given its values
    /// is counted ([`Filling::close`], then [`Mailboxes::lend_shared`]).
    pub fn fill_shared(&self, len: usize) -> Option<Filling<'_>> {
        self.fill_at(self.shared_index(self.layout.rank)?, len)
    }

    /// One more worker is given what this server's shared mailbox holds.
    pub fn lend_shared(&self) {
        if let Some(index) = self.shared_index(self.layout.rank) {
            let spot = Self::spot(self.layout.rank, index);
            counters(&self.window, spot)
                .0
                .fetch_add(1, Ordering::Release);
        }
    }

    /// The values of `len` bytes that `owner` (world rank) put in its mailbox for this
    /// rank, and told this rank so.
    pub fn lease(&self, owner: i32, len: usize) -> Option<Lease> {
        self.lease_at(owner, self.index(owner, self.layout.rank)?, len)
    }

    /// The values of `len` bytes a server put in its mailbox for answers that several
    /// workers read, and told this worker so.
    pub fn lease_shared(&self, server: i32, len: usize) -> Option<Lease> {
        self.lease_at(server, self.shared_index(server)?, len)
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
