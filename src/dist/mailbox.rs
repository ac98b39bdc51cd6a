//! Pushes through shared memory, when workers and servers all run on one node: a worker
//! copies the large values of a push into its mailbox for that server (one per worker and
//! server, in a window shared by the job), and the server sums them from there, instead of
//! receiving them as MPI messages (which costs the server a copy of every push, one worker
//! after the other, on its single thread).
//!
//! A mailbox holds one push at a time. Two counters order it: the worker counts the pushes
//! it put in (`taken`), the server those it is done with (`released`); the mailbox is free
//! when they are equal. A push that does not fit, or finds the mailbox in use (its round
//! is not summed yet), travels as MPI messages.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::layout::Layout;
use crate::error::Result;
use crate::ffi::mpi::Comm;

/// The bytes a mailbox holds.
const MAILBOX: usize = 16 << 20;
/// A mailbox's counters come first, on a page of their own; its bytes follow.
const BYTES: usize = 4096;
const STRIDE: usize = BYTES + MAILBOX;

/// The head of a push request whose large values are in the sender's mailbox.
pub const HEAD_IN_MAILBOX: i32 = 1;

/// The job's mailboxes.
pub struct Mailboxes {
    layout: Layout,
    /// Where each worker's mailboxes start (servers have none), by world rank.
    parts: Vec<usize>,
    /// This worker's use of its mailboxes, one per server (several threads may push).
    mine: Vec<Mutex<()>>,
}

// SAFETY: the addresses are of memory that lives as long as the process; every access to
// a mailbox's bytes is ordered by its counters.
unsafe impl Send for Mailboxes {}
unsafe impl Sync for Mailboxes {}

/// A mailbox this worker holds, to put a push in.
pub struct Filling<'a> {
    bytes: &'a mut [u8],
    taken: &'a AtomicU64,
    len: usize,
    _held: MutexGuard<'a, ()>,
}

impl Filling<'_> {
    /// Appends `bytes` (the caller made sure they fit).
    pub fn put(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// The push is in: the server may read it once told (by the message sent after this).
    pub fn close(self) {
        self.taken.fetch_add(1, Ordering::Release);
    }
}

/// A push a server reads from a worker's mailbox; the mailbox is released when this is
/// dropped (every value of the push has been summed, or given up).
pub struct Lease {
    at: usize,
    len: usize,
    released: *const AtomicU64,
}

impl Lease {
    /// The bytes `range` of the push.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        assert!(range.end <= self.len, "bytes beyond the push");
        // SAFETY: the worker does not write its mailbox until the lease is dropped.
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
        // Each worker's part starts on a page boundary within what it gives.
        let wanted = STRIDE * layout.servers as usize;
        let size = match layout.is_server() {
            true => 0,
            false => wanted + 4096,
        };
        let parts: Vec<Option<usize>> = world
            .shared_memory(size)?
            .into_iter()
            .map(|(at, len)| {
                let start = at.next_multiple_of(4096);
                (at != 0 && len >= wanted + (start - at)).then_some(start)
            })
            .collect();
        let usable = parts
            .iter()
            .enumerate()
            .all(|(rank, part)| (rank as i32) < layout.servers || part.is_some());
        if !usable {
            return Ok(None);
        }
        let boxes = Mailboxes {
            layout,
            parts: parts.into_iter().map(|p| p.unwrap_or(0)).collect(),
            mine: (0..layout.servers).map(|_| Mutex::new(())).collect(),
        };
        Ok(Some(boxes))
    }

    /// Where `worker`'s (world rank) mailbox for `server` starts.
    fn mailbox(&self, worker: i32, server: i32) -> usize {
        self.parts[worker as usize] + STRIDE * server as usize
    }

    fn counters(&self, worker: i32, server: i32) -> (&AtomicU64, &AtomicU64) {
        let at = self.mailbox(worker, server);
        // SAFETY: a mailbox's first page holds its two counters (on cache lines of their
        // own), for as long as the process lives; they are only accessed atomically.
        unsafe {
            (
                &*(at as *const AtomicU64),
                &*((at + 64) as *const AtomicU64),
            )
        }
    }

    /// This worker's mailbox for `server`, when it is free and holds `len` bytes.
    pub fn fill(&self, server: i32, len: usize) -> Option<Filling<'_>> {
        if len > MAILBOX {
            return None;
        }
        let held = self.mine.get(server as usize)?.try_lock()?;
        let me = self.layout.rank;
        let (taken, released) = self.counters(me, server);
        if taken.load(Ordering::Relaxed) != released.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: the mailbox is free (the server released every push in it) and this
        // worker holds it.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut((self.mailbox(me, server) + BYTES) as *mut u8, MAILBOX)
        };
        Some(Filling {
            bytes,
            taken,
            len: 0,
            _held: held,
        })
    }

    /// The push of `len` bytes that `worker` (world rank) put in its mailbox for this
    /// server, which told this server so.
    pub fn lease(&self, worker: i32, len: usize) -> Option<Lease> {
        let server = self.layout.rank;
        let workers = self.layout.servers..self.layout.servers + self.layout.workers;
        if !workers.contains(&worker) || len > MAILBOX {
            return None;
        }
        let (taken, released) = self.counters(worker, server);
        // The worker's writes come before its count, which comes before its message.
        if taken.load(Ordering::Acquire) <= released.load(Ordering::Relaxed) {
            return None;
        }
        Some(Lease {
            at: self.mailbox(worker, server) + BYTES,
            len,
            released,
        })
    }
}
