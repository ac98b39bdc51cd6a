//! The process's link to the job: MPI started once, our own communicators, and waits
//! that have a deadline and yield the core.

use std::ops::Range;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::layout::Layout;
use super::liveness::Liveness;
use super::mailbox::Mailboxes;
use super::shared::Shared;
use crate::error::{Error, Result};
pub use crate::ffi::mpi::ArrayBytes;
use crate::ffi::mpi::{self, Bytes, Comm, Incoming, Request};
use crate::ndarray::NDArray;

/// Tag of every worker → server request; answers use tags from [`Net::reply_tag`].
pub(crate) const REQUEST_TAG: i32 = 1;
const FIRST_REPLY_TAG: i32 = 2;
/// Every MPI guarantees tags up to 32767.
const LAST_REPLY_TAG: i32 = 32767;

/// Notes that a peer is lost, so that this process's exit does not wait for it longer than
/// [`timeout`].
pub fn peer_lost() {
    mpi::peer_lost(timeout());
}

/// What every error about a lost peer says.
pub const NOT_ANSWERING: &str = "has failed or stopped answering";

/// The error of a wait on a peer that ran out of time (`what` ends with [`NOT_ANSWERING`]):
/// the peer is lost, so this process will not wait for it at exit either.
pub fn lost_peer(what: String) -> Error {
    peer_lost();
    Error::Dist(what)
}

/// `MXKV_DIST_TIMEOUT` seconds (default 60): the longest any wait on a peer lasts.
pub fn timeout() -> Duration {
    let secs = std::env::var("MXKV_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

/// How long a waiter keeps the core between polls (yielding it) after data last moved:
/// longer than an allreduce or a server's round takes, so that an answer due soon is seen
/// at once, not after a nap.
const SPIN: Duration = Duration::from_millis(5);

/// Polls `ready` until it says yes or the deadline passes. While `busy` says data is
/// moving (MPI moves a large message only while both ends poll), and for [`SPIN`] after,
/// the poller only yields the core between polls; then it sleeps, a little longer each
/// time (at most half a millisecond), so that an idle rank leaves the cores to busy ones.
pub fn wait_until<T>(
    deadline: Instant,
    busy: impl Fn() -> bool,
    mut ready: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let mut nap = Duration::from_micros(20);
    let mut moved = Instant::now();
    loop {
        if let Some(v) = ready()? {
            return Ok(Some(v));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        if busy() {
            moved = now;
            nap = Duration::from_micros(20);
        }
        if now < moved + SPIN {
            std::thread::yield_now();
        } else {
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_micros(500));
        }
    }
}

/// The job as this process sees it.
pub struct Net {
    pub layout: Layout,
    /// All ranks: workers ↔ servers.
    pub world: Comm,
    /// The workers only (None on a server): barriers and serverless allreduces.
    pub workers: Option<Comm>,
    /// The workers' shared memory, for serverless sums, when they all run on one node.
    pub shared: Option<Shared>,
    /// The workers' mailboxes for pushes to servers, when every rank runs on one node.
    pub mailboxes: Option<Mailboxes>,
    next_tag: AtomicI32,
    /// Sends not known to be complete yet; kept until MPI is done with their bytes.
    sending: Mutex<Vec<Request>>,
    /// When each rank was last heard from (dead-node counts).
    pub liveness: Liveness,
    /// Memory of large messages sent and received, for the next ones: fresh memory of
    /// megabytes costs page faults (and zeroing) on every message.
    sent: Spare<Vec<u8>>,
    received: Spare<Bytes>,
}

/// Messages smaller than this are not worth keeping memory for.
const SPARE_FROM: usize = 64 << 10;
/// At most this many buffers of each kind are kept, and this many bytes in all.
const SPARE_COUNT: usize = 4;
const SPARE_BYTES: usize = 256 << 20;

/// Buffers of large messages, kept for the next ones.
struct Spare<T>(Mutex<Vec<T>>);

/// What a kept buffer can hold.
trait Capacity {
    fn capacity(&self) -> usize;
}

impl Capacity for Vec<u8> {
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
}

impl Capacity for Bytes {
    fn capacity(&self) -> usize {
        Bytes::capacity(self)
    }
}

impl<T: Capacity> Spare<T> {
    fn new() -> Spare<T> {
        Spare(Mutex::new(Vec::new()))
    }

    /// A kept buffer that holds `len` bytes, for a large message.
    fn take(&self, len: usize) -> Option<T> {
        if len < SPARE_FROM {
            return None;
        }
        let mut kept = self.0.lock();
        let i = kept.iter().position(|b| b.capacity() >= len)?;
        Some(kept.swap_remove(i))
    }

    fn keep(&self, buffer: T) {
        let size = buffer.capacity();
        if size < SPARE_FROM {
            return;
        }
        let mut kept = self.0.lock();
        let total: usize = kept.iter().map(|b| b.capacity()).sum();
        if kept.len() < SPARE_COUNT && total + size <= SPARE_BYTES {
            kept.push(buffer);
        }
    }
}

static NET: OnceLock<std::result::Result<Net, Error>> = OnceLock::new();

/// The layout of this process's job, read from the launcher's variables (no MPI call).
pub fn layout() -> Result<Option<Layout>> {
    Layout::from_env()
}

/// Joins the job on first use: starts MPI, duplicates the world (a collective that every
/// rank reaches when it creates its first dist store), and forms the workers' group.
pub fn net(store: &str) -> Result<&'static Net> {
    let net = NET
        .get_or_init(|| Net::join(store))
        .as_ref()
        .map_err(Clone::clone)?;
    let mut started = Ok(());
    HEARTBEAT.call_once(|| started = Liveness::start(net));
    started.map(|()| net)
}

static HEARTBEAT: Once = Once::new();

impl Net {
    fn join(store: &str) -> Result<Net> {
        let layout = Layout::from_env()?.ok_or_else(|| {
            Error::Dist(format!(
                "{store} needs an MPI launch: run the program under mpirun (for example \
                 `DMLC_NUM_SERVER=1 mpirun -np 3 prog`: rank 0 serves, ranks 1-2 work)"
            ))
        })?;
        if !mpi::init()? {
            return Err(Error::Dist(format!(
                "{store}: MPI was already finalized in this process"
            )));
        }
        let mut dup = Comm::start_world_dup()?;
        let deadline = Instant::now() + timeout();
        if wait_until(deadline, || false, || Ok(dup.request.test()?.then_some(())))?.is_none() {
            return Err(Error::Dist(format!(
                "{store}: not every rank of the job created a dist store within {:?} \
                 (MXKV_DIST_TIMEOUT)",
                timeout()
            )));
        }
        let world = dup.into_comm()?;
        if world.rank() != layout.rank || world.size() != layout.servers + layout.workers {
            return Err(Error::Dist(format!(
                "the launcher said rank {} of {}, MPI says rank {} of {}",
                layout.rank,
                layout.servers + layout.workers,
                world.rank(),
                world.size()
            )));
        }
        let workers = if layout.is_server() {
            None
        } else {
            Some(world.subgroup(layout.servers, layout.workers)?)
        };
        // Serverless sums go through shared memory when the workers share a node.
        let shared = match (&workers, layout.servers) {
            (Some(workers), 0) => Shared::join(workers)?,
            _ => None,
        };
        // Pushes to servers go through mailboxes when every rank shares the node.
        let mailboxes = Mailboxes::join(&world, layout)?;
        Ok(Net {
            layout,
            world,
            workers,
            shared,
            mailboxes,
            next_tag: AtomicI32::new(FIRST_REPLY_TAG),
            sending: Mutex::new(Vec::new()),
            liveness: Liveness::new(layout.servers + layout.workers),
            sent: Spare::new(),
            received: Spare::new(),
        })
    }

    /// A tag for the answer to one request: unique among the requests in flight.
    pub fn reply_tag(&self) -> i32 {
        let span = LAST_REPLY_TAG - FIRST_REPLY_TAG + 1;
        let n = self.next_tag.fetch_add(1, Ordering::Relaxed);
        FIRST_REPLY_TAG + (n - FIRST_REPLY_TAG).rem_euclid(span)
    }

    /// Memory for a message of `len` bytes: a large message's sent before, when one is
    /// free.
    pub fn send_buffer(&self, len: usize) -> Vec<u8> {
        match self.sent.take(len) {
            Some(mut buffer) => {
                buffer.clear();
                buffer
            }
            None => Vec::with_capacity(len),
        }
    }

    /// Keeps a received message's memory for the next message.
    pub fn recycle(&self, bytes: Bytes) {
        self.received.keep(bytes);
    }

    /// Sends without waiting; the bytes are kept until MPI has them.
    pub fn post(&self, dest: i32, tag: i32, data: Vec<u8>) -> Result<()> {
        let mut req = self.world.send(dest, tag, data)?;
        if req.test()? {
            self.sent.keep(req.into_sent());
        } else {
            self.sending.lock().push(req);
        }
        Ok(())
    }

    /// Sends the bytes `bytes` of `array` from its memory, without waiting; the array is
    /// kept until MPI has them (see [`Net::in_flight`]).
    pub fn post_array(
        &self,
        dest: i32,
        tag: i32,
        array: &NDArray,
        bytes: Range<usize>,
    ) -> Result<()> {
        let mut req = self
            .world
            .send_array(dest, tag, ArrayBytes::new(array, bytes)?)?;
        if !req.test()? {
            self.sending.lock().push(req);
        }
        Ok(())
    }

    /// Sends pieces of arrays from their memory, in order, and waits (until `deadline`)
    /// until MPI has them all: the caller may change the arrays after; false when a piece
    /// was not taken in time.
    pub fn send_arrays(
        &self,
        dest: i32,
        tag: i32,
        pieces: &[(NDArray, Range<usize>)],
        deadline: Instant,
    ) -> Result<bool> {
        let mut sent = Vec::with_capacity(pieces.len());
        for (array, bytes) in pieces {
            let bytes = ArrayBytes::new(array, bytes.clone())?;
            sent.push(self.world.send_array(dest, tag, bytes)?);
        }
        for req in &mut sent {
            if !self.complete(req, deadline)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether a send in flight reads `array`'s memory (which must not change until it
    /// has finished).
    pub fn in_flight(&self, array: &NDArray) -> Result<bool> {
        self.progress()?;
        Ok(self.sending.lock().iter().any(|req| req.uses(array)))
    }

    /// Receives the next message from `source` with `tag` into `bytes` of an array,
    /// waiting until `deadline`; false when it did not come in time. The message must
    /// have that many bytes.
    pub fn receive_array(
        &self,
        source: i32,
        tag: i32,
        bytes: ArrayBytes,
        deadline: Instant,
    ) -> Result<bool> {
        let mut req = self.world.receive_array(source, tag, bytes)?;
        self.complete(&mut req, deadline)
    }

    /// Moves the sends in flight along; the finished ones' memory is kept for others.
    pub fn progress(&self) -> Result<()> {
        let mut sending = self.sending.lock();
        let mut failed = None;
        let mut i = 0;
        while i < sending.len() {
            match sending[i].test() {
                Ok(false) => i += 1,
                Ok(true) => self.sent.keep(sending.swap_remove(i).into_sent()),
                Err(e) => {
                    sending.swap_remove(i);
                    failed = Some(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Whether sends are in flight.
    fn sending(&self) -> bool {
        !self.sending.lock().is_empty()
    }

    /// Waits (until `deadline`) for the sends in flight to finish.
    pub fn flush(&self, deadline: Instant) -> Result<bool> {
        Ok(wait_until(
            deadline,
            || true,
            || {
                self.progress()?;
                Ok(self.sending.lock().is_empty().then_some(()))
            },
        )?
        .is_some())
    }

    /// Receives the next message from `source` with `tag` (None: any), waiting until
    /// `deadline`; None when it did not come in time.
    pub fn receive(
        &self,
        source: Option<i32>,
        tag: Option<i32>,
        deadline: Instant,
    ) -> Result<Option<(i32, i32, Bytes)>> {
        let incoming: Option<Incoming> = wait_until(
            deadline,
            || self.sending(),
            || {
                self.progress()?;
                self.world.probe(source, tag)
            },
        )?;
        let Some(incoming) = incoming else {
            return Ok(None);
        };
        let (from, tag) = (incoming.source, incoming.tag);
        let buffer = self.received.take(incoming.len).unwrap_or_default();
        let mut req = incoming.receive(buffer)?;
        // The message is here: its bytes follow at once unless the sender died meanwhile.
        match wait_until(deadline, || true, || Ok(req.test()?.then_some(())))? {
            Some(()) => Ok(Some((from, tag, req.into_bytes()))),
            None => Ok(None),
        }
    }

    /// Waits for every worker to reach this barrier of `store`'s `what`.
    pub fn workers_barrier(&self, store: &str, what: &str) -> Result<()> {
        let comm = self
            .workers
            .as_ref()
            .expect("a worker has the workers' group");
        let mut req = comm.barrier()?;
        if self.complete(&mut req, Instant::now() + timeout())? {
            return Ok(());
        }
        Err(lost_peer(format!(
            "{store}: the workers' barrier of {what} did not complete within {:?} \
             (MXKV_DIST_TIMEOUT): {} {NOT_ANSWERING}",
            timeout(),
            self.liveness.silent_worker(&self.layout)
        )))
    }

    /// Waits for a request of the workers' group (a barrier, an allreduce) to finish.
    pub fn complete(&self, req: &mut Request, deadline: Instant) -> Result<bool> {
        Ok(wait_until(
            deadline,
            || self.sending(),
            || {
                self.progress()?;
                Ok(req.test()?.then_some(()))
            },
        )?
        .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_message_memory_is_kept_within_bounds_and_handed_out_when_it_fits() {
        let spare: Spare<Vec<u8>> = Spare::new();
        spare.keep(Vec::with_capacity(1000));
        assert!(
            spare.take(100).is_none(),
            "small messages take fresh memory"
        );
        assert!(
            spare.take(SPARE_FROM).is_none(),
            "small buffers are not kept"
        );
        for _ in 0..SPARE_COUNT + 2 {
            spare.keep(Vec::with_capacity(SPARE_FROM * 2));
        }
        assert_eq!(spare.0.lock().len(), SPARE_COUNT);
        assert!(spare.take(SPARE_FROM * 4).is_none(), "none large enough");
        let buffer = spare.take(SPARE_FROM + 1).expect("one fits");
        assert!(buffer.capacity() >= SPARE_FROM * 2);
        assert_eq!(spare.0.lock().len(), SPARE_COUNT - 1);
        spare.keep(Vec::with_capacity(SPARE_BYTES));
        assert_eq!(spare.0.lock().len(), SPARE_COUNT - 1, "past the byte bound");
    }

    #[test]
    fn a_wait_yields_until_ready_and_gives_up_at_its_deadline() {
        let mut polls = 0;
        let got = wait_until(
            Instant::now() + Duration::from_secs(5),
            || false,
            || {
                polls += 1;
                Ok((polls == 3).then_some(polls))
            },
        )
        .unwrap();
        assert_eq!(got, Some(3));
        let start = Instant::now();
        let none = wait_until(start + SPIN * 4, || false, || Ok(None::<()>)).unwrap();
        assert!(none.is_none());
        assert!(start.elapsed() >= SPIN * 4);
    }
}
