//! The distributed stores on MPI (spec §6): `dist_sync`, `dist_async` and their `_device`
//! spellings, launched with `mpirun`. The first `DMLC_NUM_SERVER` ranks (default 1) are
//! servers and the rest workers; with no servers, `dist_sync` is an allreduce among the
//! workers.
//!
//! - [`layout`]: roles from ranks, and where each key lives on the servers;
//! - [`wire`]: the messages and their bytes;
//! - [`net`]: MPI joined once per process, and waits with deadlines that yield the core;
//! - [`worker`] and [`server`]: the two ends of a store with servers;
//! - `mailbox`: their values through shared memory, when the ranks share a node;
//! - [`allreduce`]: the serverless store, summing through shared memory (`shared`) on one node.

pub mod allreduce;
mod arena;
mod broken;
mod engine;
pub mod layout;
pub mod liveness;
mod mailbox;
pub mod net;
mod pushed;
mod row_sums;
pub mod server;
mod shared;
pub mod wire;
pub mod worker;

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::kvstore::{
    Engine, Entry, Found, GradientCompression, KeyPush, LocalEngine, Merged, Role, RowPull,
};
use crate::ndarray::{DType, NDArray, Storage};
use broken::Broken;
use worker::{Item, Worker};

/// How many dist stores this process has made. The first (MXNet's customer 0) stops the
/// servers when rank 0 frees it (reference §4.9).
static STORES_MADE: AtomicU32 = AtomicU32::new(0);

/// MXNet's command telling servers to sum one push of every worker per round.
const COMMAND_SYNC_MODE: i32 = server::COMMAND_SYNC_MODE;

pub use engine::DistEngine;

/// Gives the store this engine for `dist*` names (called by the C API before it creates a
/// store or answers a role query).
pub fn register() {
    crate::kvstore::register_dist(crate::kvstore::DistHooks {
        engine: |type_name| Ok(Box::new(DistEngine::new(type_name)?)),
        role: launched_role,
    });
}

/// The role of this process from its rank, when an MPI launcher started it in a job with
/// a valid layout.
pub fn launched_role() -> Option<Role> {
    match layout::Layout::from_env() {
        Ok(Some(l)) if l.is_server() => Some(Role::Server),
        Ok(Some(_)) => Some(Role::Worker),
        _ => None,
    }
}

/// What this process is in a dist store.
enum Side {
    /// A worker of a job with servers.
    Worker(Worker),
    /// A worker of a serverless job, with the memory of its sums and its first failure,
    /// repeated by every later call.
    Allreduce(allreduce::Memory, Broken),
    /// A server: the store only runs the server loop.
    Server,
}

/// A distributed store's link to its job.
pub struct Dist {
    name: String,
    net: &'static net::Net,
    side: Side,
    stops_servers: bool,
}

impl Dist {
    pub fn new(type_name: &str) -> Result<Dist> {
        let net = net::net(type_name)?;
        let l = net.layout;
        let id = STORES_MADE.fetch_add(1, Ordering::Relaxed);
        let side = if l.is_server() {
            Side::Server
        } else if l.servers == 0 {
            if type_name.contains("async") {
                return Err(Error::Dist(format!(
                    "{type_name} needs servers: start the job with DMLC_NUM_SERVER >= 1 \
                     (DMLC_NUM_SERVER=0 gives a serverless dist_sync only)"
                )));
            }
            Side::Allreduce(allreduce::Memory::default(), Broken::default())
        } else {
            Side::Worker(Worker::new(net, type_name, id))
        };
        let dist = Dist {
            name: type_name.to_string(),
            net,
            side,
            stops_servers: id == 0,
        };
        if let Side::Worker(w) = &dist.side {
            if w.rank() == 0 && !type_name.contains("_async") {
                w.command(COMMAND_SYNC_MODE, b"")?;
            }
        }
        Ok(dist)
    }

    pub fn role(&self) -> Role {
        match self.side {
            Side::Server => Role::Server,
            _ => Role::Worker,
        }
    }

    /// Serverless, through shared memory: one push call's arrays summed straight into
    /// their keys' stored values when those lie in order in one block
    /// ([`allreduce::sum_in_block`]); false, with nothing changed, otherwise.
    pub fn sum_in_block(&self, keys: &[(i32, &Entry)], values: &[NDArray]) -> Result<bool> {
        match &self.side {
            Side::Allreduce(memory, broken) if self.net.shared.is_some() => {
                broken.guard(|| allreduce::sum_in_block(self.net, &self.name, keys, values, memory))
            }
            _ => Ok(false),
        }
    }

    /// Whether pushed values are applied in this process (serverless), not by servers.
    pub fn updates_locally(&self) -> bool {
        matches!(self.side, Side::Allreduce(..))
    }

    fn worker_only(&self, what: &str) -> Result<()> {
        match self.side {
            Side::Server => Err(Error::Dist(format!(
                "{}: {what} is for workers; this process (rank {}) is a server: it calls \
                 MXKVStoreRunServer",
                self.name, self.net.layout.rank
            ))),
            _ => Ok(()),
        }
    }

    pub fn rank(&self) -> i32 {
        self.net.layout.worker_rank().unwrap_or(0)
    }

    pub fn group_size(&self) -> i32 {
        self.net.layout.workers
    }

    /// Makes rank 0's values of the keys just added (with their entries) everyone's.
    pub fn init(&self, added: &[(i32, &Entry)]) -> Result<()> {
        self.worker_only("init")?;
        match &self.side {
            Side::Worker(w) => {
                let stored: Vec<NDArray> = added.iter().map(|(_, entry)| entry.stored()).collect();
                let items: Vec<Item<'_>> = added
                    .iter()
                    .zip(&stored)
                    .map(|((key, _), array)| Item { key: *key, array })
                    .collect();
                w.init(&items)
            }
            // Serverless, the values move into blocks first ([`arena`]); the others take
            // rank 0's values by a sum where only rank 0 adds (row_sparse values: only rank
            // 0's rows travel).
            Side::Allreduce(memory, _) => self.serverless(|| {
                memory.arenas.lay_out(added)?;
                let stored: Vec<NDArray> = added.iter().map(|(_, entry)| entry.stored()).collect();
                let mut merged = Vec::with_capacity(stored.len());
                for array in &stored {
                    merged.push(match (self.rank(), array.is_sparse()) {
                        (0, _) => array.clone(),
                        (_, true) => NDArray::new_sparse(
                            Storage::RowSparse,
                            array.shape().clone(),
                            array.dtype(),
                            array.context(),
                            &[(DType::I64, 0)],
                        )?,
                        (_, false) => {
                            array.write(|b| b.fill(0))?;
                            array.clone()
                        }
                    });
                }
                let found: Vec<Found> = added.iter().map(|(_, entry)| entry.found()).collect();
                let pushes = added
                    .iter()
                    .zip(&found)
                    .zip(merged)
                    .map(|(((key, entry), found), value)| KeyPush {
                        key: *key,
                        entry,
                        found,
                        merged: Merged::Array(value),
                    })
                    .collect();
                for (array, sum) in stored.iter().zip(self.allreduce(pushes, true)?) {
                    if let Some(sum) = sum {
                        array.assign_value(&sum)?;
                    }
                }
                Ok(())
            }),
            Side::Server => Ok(()),
        }
    }

    /// Runs a serverless call unless the store already failed (see [`Broken`]).
    fn serverless<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        match &self.side {
            Side::Allreduce(_, broken) => broken.guard(f),
            _ => f(),
        }
    }

    /// Sends the merged values to the servers.
    pub fn push(&self, items: &[Item<'_>]) -> Result<()> {
        self.worker_only("push")?;
        match &self.side {
            Side::Worker(w) => w.push(items),
            _ => Ok(()),
        }
    }

    /// Serverless: each key's sum over the workers of their merged values, all keys
    /// fused (see [`allreduce`]); `None` for a key whose sum became its stored value, as
    /// it may when the store `assigns`.
    /// Row_sparse values are summed by rows ([`row_sums`]), key by key, after the others.
    pub fn allreduce(
        &self,
        pushes: Vec<KeyPush<'_>>,
        assigns: bool,
    ) -> Result<Vec<Option<NDArray>>> {
        match &self.side {
            Side::Allreduce(memory, broken) => broken.guard(|| {
                let row_sparse =
                    |p: &KeyPush<'_>| matches!(&p.merged, Merged::Array(a) if a.is_sparse());
                if !pushes.iter().any(row_sparse) {
                    return allreduce::sum_over_workers(
                        self.net, &self.name, pushes, assigns, memory,
                    );
                }
                let count = pushes.len();
                let (sparse, dense): (Vec<_>, Vec<_>) = pushes
                    .into_iter()
                    .enumerate()
                    .partition(|(_, p)| row_sparse(p));
                let (at, dense): (Vec<usize>, Vec<KeyPush<'_>>) = dense.into_iter().unzip();
                let mut sums: Vec<Option<NDArray>> = vec![None; count];
                let dense_sums =
                    allreduce::sum_over_workers(self.net, &self.name, dense, assigns, memory)?;
                for (i, sum) in at.into_iter().zip(dense_sums) {
                    sums[i] = sum;
                }
                for (i, p) in sparse {
                    let Merged::Array(merged) = &p.merged else {
                        unreachable!("partitioned by Merged::Array")
                    };
                    let sum = row_sums::sum_rows_over_workers(
                        self.net,
                        &self.name,
                        p.key,
                        merged,
                        &p.entry.stored(),
                    )?;
                    sums[i] = Some(sum);
                }
                Ok(sums)
            }),
            _ => Err(Error::Dist(format!(
                "{}: an allreduce is for a job without servers",
                self.name
            ))),
        }
    }

    /// Fetches the keys' values from the servers (serverless: they are here already).
    pub fn pull(&self, items: &[Item<'_>]) -> Result<()> {
        self.worker_only("pull")?;
        match &self.side {
            Side::Worker(w) => w.pull(items),
            _ => self.serverless(|| Ok(())),
        }
    }

    /// Fetches only the asked rows from the servers (serverless: the replica here has
    /// them, as a local store's).
    pub fn pull_rows(&self, pulls: &[RowPull<'_>]) -> Result<()> {
        self.worker_only("row_sparse_pull")?;
        match &self.side {
            Side::Worker(w) => w.pull_rows(pulls),
            _ => self.serverless(|| LocalEngine.pull_rows(pulls)),
        }
    }

    pub fn barrier(&self) -> Result<()> {
        self.worker_only("barrier")?;
        match &self.side {
            Side::Worker(w) => w.barrier(),
            _ => self.allreduce_barrier(),
        }
    }

    fn allreduce_barrier(&self) -> Result<()> {
        self.serverless(|| self.net.workers_barrier(&self.name, "a barrier"))
    }

    /// How many nodes of MXNet's group or node `node_id` have not been heard from for
    /// `timeout_sec` seconds ([`liveness`]).
    pub fn num_dead_nodes(&self, node_id: i32, timeout_sec: i32) -> Result<i32> {
        let net = self.net;
        net.liveness.dead_nodes(&net.layout, node_id, timeout_sec)
    }

    /// 2-bit compression: a worker with servers packs its pushes from now on; serverless
    /// stores sum exactly (the allreduce adds full values), as do a server's own calls.
    pub fn set_gradient_compression(&self, setting: GradientCompression) -> Result<()> {
        match &self.side {
            Side::Worker(w) => w.set_gradient_compression(setting),
            _ => Ok(()),
        }
    }

    pub fn send_command_to_servers(&self, head: i32, body: &[u8]) -> Result<()> {
        self.worker_only("SendCommmandToServers")?;
        match &self.side {
            Side::Worker(w) => w.command(head, body),
            _ => Err(Error::invalid(format!(
                "SendCommmandToServers: this job has no servers (DMLC_NUM_SERVER=0), so nothing would receive command {head}"
            ))),
        }
    }

    /// Serves until the workers stop the servers. On a worker this is an error, as in
    /// MXNet (`RunServer` is for servers).
    pub fn run_server(
        &self,
        controller: &mut dyn FnMut(i32, &[u8]),
        updater: &server::CurrentUpdater<'_>,
    ) -> Result<()> {
        match self.side {
            Side::Server => server::serve(self.net, controller, updater),
            _ => Err(Error::Dist(format!(
                "{}: MXKVStoreRunServer is for server ranks; this process is worker rank {}",
                self.name,
                self.rank()
            ))),
        }
    }

    pub fn close(&self, barrier_before_exit: bool) -> Result<()> {
        match &self.side {
            Side::Worker(w) => w.close(barrier_before_exit, self.stops_servers),
            Side::Allreduce(..) if barrier_before_exit => self.allreduce_barrier(),
            _ => Ok(()),
        }
    }
}
