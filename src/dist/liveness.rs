//! Dead nodes (`MXKVStoreGetNumDeadNode`, reference §4.8): every process of the job sends
//! a heartbeat to every other rank every [`HEARTBEAT`], from a thread of its own, so that a
//! process busy with its own work still counts as alive; a node is dead when nothing has
//! been heard from it for the asked number of seconds (counted from the moment this
//! process joined the job, as ps-lite counts from its start). A stopped or killed process
//! sends nothing.
//!
//! MXNet's node ids: 1 the scheduler (an MPI job has none), 2 the servers, 4 the workers —
//! groups that sum, 7 being everyone — and 8 + 2r server r, 9 + 2r worker r.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::layout::Layout;
use super::net::Net;
use crate::error::{Error, Result};
use crate::ffi::mpi::{self, Bytes, Request};

/// How often a process tells the others that it is alive.
pub const HEARTBEAT: Duration = Duration::from_millis(250);

/// How long a rank whose heartbeats stopped has been silent, at least, when an error
/// names it.
const SILENT: Duration = Duration::from_secs(1);

/// The tag of heartbeats (requests and answers use 1 and up).
const HEARTBEAT_TAG: i32 = 0;

/// Heartbeat sends not completed yet (to a stopped peer) that are kept at most; older
/// ones are given up.
const PENDING_BEATS: usize = 1024;

const SCHEDULER_GROUP: i32 = 1;
const SERVER_GROUP: i32 = 2;
const WORKER_GROUP: i32 = 4;
const FIRST_NODE: i32 = 8;

/// When each rank of the job was last heard from.
pub struct Liveness {
    heard: Mutex<Vec<Instant>>,
    /// Whether heartbeats run (only when mxkv started MPI).
    beating: AtomicBool,
}

impl Liveness {
    pub fn new(ranks: i32) -> Liveness {
        Liveness {
            heard: Mutex::new(vec![Instant::now(); ranks.max(0) as usize]),
            beating: AtomicBool::new(false),
        }
    }

    /// Starts this process's heartbeat thread (once per process, when it joins the job).
    pub fn start(net: &'static Net) -> Result<()> {
        if !mpi::background_calls_allowed()? {
            return Ok(());
        }
        std::thread::Builder::new()
            .name("mxkv-heartbeat".into())
            .spawn(move || beat(net))
            .map_err(|e| Error::Dist(format!("cannot start the heartbeat thread: {e}")))?;
        net.liveness.beating.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// How many nodes of `node_id` other than this process have not been heard from for
    /// `timeout_sec` seconds; 0 for a timeout of 0, as MXNet.
    pub fn dead_nodes(&self, layout: &Layout, node_id: i32, timeout_sec: i32) -> Result<i32> {
        if timeout_sec < 0 {
            return Err(Error::invalid(format!(
                "GetNumDeadNode: timeout {timeout_sec} s is negative"
            )));
        }
        let ranks = ranks_of(layout, node_id)?;
        if !self.beating.load(Ordering::Relaxed) {
            return Err(Error::Dist(
                "GetNumDeadNode needs heartbeats, which run only when mxkv starts MPI itself \
                 (with MPI_THREAD_SERIALIZED): this program started MPI before its first dist \
                 store"
                    .into(),
            ));
        }
        if timeout_sec == 0 {
            return Ok(0);
        }
        let limit = Duration::from_secs(timeout_sec as u64);
        let now = Instant::now();
        let heard = self.heard.lock();
        let dead = ranks
            .into_iter()
            .filter(|&r| r != layout.rank && now.duration_since(heard[r as usize]) > limit)
            .count();
        Ok(dead as i32)
    }

    /// Who an error about a silent worker names: the one other worker whose heartbeats
    /// stopped (nothing heard for [`SILENT`]), else "a worker" (no heartbeats, or all
    /// arriving: the silent one is alive but not calling).
    pub fn silent_worker(&self, layout: &Layout) -> String {
        if self.beating.load(Ordering::Relaxed) {
            let now = Instant::now();
            let heard = self.heard.lock();
            let silent: Vec<i32> = (layout.servers..layout.servers + layout.workers)
                .filter(|&r| r != layout.rank && now.duration_since(heard[r as usize]) > SILENT)
                .collect();
            if let [rank] = silent[..] {
                return format!("worker rank {}", rank - layout.servers);
            }
        }
        "a worker".into()
    }

    fn heard_from(&self, rank: i32) {
        if let Some(at) = self.heard.lock().get_mut(rank as usize) {
            *at = Instant::now();
        }
    }
}

/// The world ranks that MXNet's `node_id` names in this job.
pub fn ranks_of(layout: &Layout, node_id: i32) -> Result<Vec<i32>> {
    let servers = 0..layout.servers;
    let workers = layout.servers..layout.servers + layout.workers;
    if (SCHEDULER_GROUP..FIRST_NODE).contains(&node_id) {
        let mut ranks = Vec::new();
        if node_id & SERVER_GROUP != 0 {
            ranks.extend(servers);
        }
        if node_id & WORKER_GROUP != 0 {
            ranks.extend(workers);
        }
        return Ok(ranks);
    }
    let index = (node_id - FIRST_NODE) / 2;
    let rank = match node_id % 2 {
        _ if node_id < FIRST_NODE => None,
        0 => (index < layout.servers).then_some(index),
        _ => (index < layout.workers).then_some(layout.servers + index),
    };
    rank.map(|r| vec![r]).ok_or_else(|| {
        Error::invalid(format!(
            "GetNumDeadNode: node id {node_id} names no node of this job: groups are 1 \
             (scheduler), 2 (servers), 4 (workers) and their sums; server r is 8 + 2r \
             (r < {}), worker r is 9 + 2r (r < {})",
            layout.servers, layout.workers
        ))
    })
}

/// The heartbeat loop: tells every other rank this process is alive and notes who said so,
/// until MPI is finalized (by mxkv at exit, or by the program).
fn beat(net: &'static Net) {
    let mut pending: Vec<Request> = Vec::new();
    while beat_once(net, &mut pending).is_ok() {
        std::thread::sleep(HEARTBEAT);
    }
}

fn beat_once(net: &Net, pending: &mut Vec<Request>) -> Result<()> {
    pending.retain_mut(|r| !r.test().unwrap_or(true));
    if pending.len() > PENDING_BEATS {
        pending.drain(..pending.len() - PENDING_BEATS);
    }
    for rank in (0..net.world.size()).filter(|&r| r != net.layout.rank) {
        pending.push(net.world.send(rank, HEARTBEAT_TAG, Vec::new())?);
    }
    while let Some(incoming) = net.world.probe(None, Some(HEARTBEAT_TAG))? {
        let from = incoming.source;
        let mut received = incoming.receive(Bytes::default())?;
        // An empty message that has arrived completes at once.
        while !received.test()? {
            std::thread::yield_now();
        }
        net.liveness.heard_from(from);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_name_groups_and_single_nodes() {
        // 2 servers (world ranks 0, 1) and 3 workers (2, 3, 4).
        let l = Layout::new(2, 5, 2, None).unwrap();
        assert_eq!(ranks_of(&l, 1).unwrap(), Vec::<i32>::new());
        assert_eq!(ranks_of(&l, 2).unwrap(), vec![0, 1]);
        assert_eq!(ranks_of(&l, 4).unwrap(), vec![2, 3, 4]);
        assert_eq!(ranks_of(&l, 7).unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(ranks_of(&l, 8).unwrap(), vec![0]);
        assert_eq!(ranks_of(&l, 10).unwrap(), vec![1]);
        assert_eq!(ranks_of(&l, 9).unwrap(), vec![2]);
        assert_eq!(ranks_of(&l, 13).unwrap(), vec![4]);
        for bad in [0, -4, 12, 15] {
            let e = ranks_of(&l, bad).unwrap_err().to_string();
            assert!(e.contains(&format!("node id {bad} names no node")), "{e}");
        }
    }

    #[test]
    fn a_silent_worker_is_named_when_it_is_the_only_one() {
        // 1 server (world rank 0) and 3 workers; this process is worker 0 (world rank 1).
        let l = Layout::new(1, 4, 1, None).unwrap();
        let live = Liveness::new(4);
        live.beating.store(true, Ordering::Relaxed);
        assert_eq!(live.silent_worker(&l), "a worker", "all beating");
        let long_ago = Instant::now() - SILENT * 3;
        live.heard.lock()[3] = long_ago;
        assert_eq!(live.silent_worker(&l), "worker rank 2");
        live.heard.lock()[0] = long_ago;
        assert_eq!(
            live.silent_worker(&l),
            "worker rank 2",
            "servers do not count"
        );
        live.heard.lock()[1] = long_ago;
        assert_eq!(
            live.silent_worker(&l),
            "worker rank 2",
            "itself does not count"
        );
        live.heard.lock()[2] = long_ago;
        assert_eq!(live.silent_worker(&l), "a worker", "two are silent");
    }

    #[test]
    fn a_node_is_dead_once_unheard_for_the_timeout() {
        let l = Layout::new(0, 3, 1, None).unwrap();
        let live = Liveness::new(3);
        live.beating.store(true, Ordering::Relaxed);
        let long_ago = Instant::now() - Duration::from_secs(5);
        live.heard.lock().iter_mut().for_each(|t| *t = long_ago);
        live.heard_from(2);
        assert_eq!(live.dead_nodes(&l, 4, 2).unwrap(), 1);
        assert_eq!(
            live.dead_nodes(&l, 7, 2).unwrap(),
            1,
            "itself is never dead"
        );
        assert_eq!(live.dead_nodes(&l, 4, 10).unwrap(), 0);
        assert_eq!(live.dead_nodes(&l, 4, 0).unwrap(), 0);
        assert!(live.dead_nodes(&l, 4, -1).is_err());
        live.beating.store(false, Ordering::Relaxed);
        assert_eq!(live.silent_worker(&l), "a worker", "no heartbeats, no name");
        let e = live.dead_nodes(&l, 4, 2).unwrap_err().to_string();
        assert!(e.contains("MPI_THREAD_SERIALIZED"), "{e}");
    }
}
