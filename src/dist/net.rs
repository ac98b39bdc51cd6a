//! The process's link to the job: MPI started once, our own communicators, and waits
//! that have a deadline and yield the core.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::layout::Layout;
use super::liveness::Liveness;
use crate::error::{Error, Result};
use crate::ffi::mpi::{self, Bytes, Comm, Incoming, Request};

/// Tag of every worker → server request; answers use tags from [`Net::reply_tag`].
pub(crate) const REQUEST_TAG: i32 = 1;
const FIRST_REPLY_TAG: i32 = 2;
/// Every MPI guarantees tags up to 32767.
const LAST_REPLY_TAG: i32 = 32767;

/// `MXKV_DIST_TIMEOUT` seconds (default 60): the longest any wait on a peer lasts.
pub fn timeout() -> Duration {
    let secs = std::env::var("MXKV_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

/// Polls `ready` until it says yes or the deadline passes. While `busy` says data is
/// moving (MPI moves a large message only while both ends poll), the poller only yields
/// the core between polls; otherwise, after a few polls, it sleeps, a little longer each
/// time (at most half a millisecond), so that an idle rank leaves the cores to busy ones.
pub fn wait_until<T>(
    deadline: Instant,
    busy: impl Fn() -> bool,
    mut ready: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let mut nap = Duration::from_micros(20);
    let mut idle_polls = 0u32;
    loop {
        if let Some(v) = ready()? {
            return Ok(Some(v));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        if busy() {
            idle_polls = 0;
            nap = Duration::from_micros(20);
        } else {
            idle_polls += 1;
        }
        if idle_polls < 200 {
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
    next_tag: AtomicI32,
    /// Sends not known to be complete yet; kept until MPI is done with their bytes.
    sending: Mutex<Vec<Request>>,
    /// When each rank was last heard from (dead-node counts).
    pub liveness: Liveness,
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
        Ok(Net {
            layout,
            world,
            workers,
            next_tag: AtomicI32::new(FIRST_REPLY_TAG),
            sending: Mutex::new(Vec::new()),
            liveness: Liveness::new(layout.servers + layout.workers),
        })
    }

    /// A tag for the answer to one request: unique among the requests in flight.
    pub fn reply_tag(&self) -> i32 {
        let span = LAST_REPLY_TAG - FIRST_REPLY_TAG + 1;
        let n = self.next_tag.fetch_add(1, Ordering::Relaxed);
        FIRST_REPLY_TAG + (n - FIRST_REPLY_TAG).rem_euclid(span)
    }

    /// Sends without waiting; the bytes are kept until MPI has them.
    pub fn post(&self, dest: i32, tag: i32, data: Vec<u8>) -> Result<()> {
        let mut req = self.world.send(dest, tag, data)?;
        if !req.test()? {
            self.sending.lock().push(req);
        }
        Ok(())
    }

    /// Moves the sends in flight along and forgets the finished ones.
    pub fn progress(&self) -> Result<()> {
        let mut sending = self.sending.lock();
        let mut failed = None;
        sending.retain_mut(|r| match r.test() {
            Ok(done) => !done,
            Err(e) => {
                failed = Some(e);
                false
            }
        });
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
        let mut req = incoming.receive()?;
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
        Err(Error::Dist(format!(
            "{store}: the workers' barrier of {what} did not complete within {:?} \
             (MXKV_DIST_TIMEOUT): a worker has failed or stopped answering",
            timeout()
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
