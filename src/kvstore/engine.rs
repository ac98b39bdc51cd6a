//! The engine of a store: how a validated call's values travel and come back.
//!
//! A store validates every call whole, resolves keys, groups and sums the arrays pushed
//! for each key, and runs the updater; all of that is shared by every store kind. What
//! differs between kinds — where a key's merged value goes, where a pulled value comes
//! from, who applies the updater, and the group of processes — is an [`Engine`]. The
//! local kind ([`LocalEngine`]) is a group of one whose values never leave the process;
//! distributed kinds (spec §6) send them to other processes.
//!
//! The store calls every engine method outside its own locks (key table, slots, key
//! locks — except the key lock an updater runs under, when the updater itself pushes or
//! pulls), so an engine may communicate and wait; an engine that needs a key's value whole
//! takes the key's lock itself, through [`Entry::lock`], and holds it across a wait only
//! while the job itself writes the stored value (a serverless sum received in place).

use std::sync::{Arc, OnceLock};

use super::compression::GradientCompression;
use super::entry::{Entry, Found};
use super::merge::Merged;
use super::updater::Updater;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;

/// The role of this process, from `DMLC_ROLE` as MXNet reads it (unset means worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Server,
    Scheduler,
}

impl Role {
    /// This process's role: from its rank when an MPI launcher started it and the library
    /// has the distributed engine, else from `DMLC_ROLE`.
    pub fn of_process() -> Role {
        DIST.get()
            .and_then(|dist| (dist.role)())
            .unwrap_or_else(Role::from_env)
    }

    pub fn from_env() -> Role {
        match std::env::var("DMLC_ROLE").as_deref() {
            Ok("server") => Role::Server,
            Ok("scheduler") => Role::Scheduler,
            _ => Role::Worker,
        }
    }
}

/// One key of a multi-key push, on its way to the engine.
pub struct KeyPush<'a> {
    pub key: i32,
    pub entry: &'a Entry,
    /// The stored value as the push read it ([`Entry::found`]).
    pub found: &'a Found,
    pub merged: Merged<'a>,
}

/// What differs between store kinds (see the module doc for the locks held around calls).
pub trait Engine: Send + Sync {
    /// Keys were just added by an Init or Broadcast: `(key, stored value)` pairs, each value
    /// already a deep copy of the caller's array, in the order given. A distributed engine
    /// makes rank 0's values the initial ones everywhere (reference §3.3, §5).
    fn init(&self, added: &[(i32, &Entry)]) -> Result<()>;

    /// One key's merged value — the sum of the arrays pushed for it in one call — leaves
    /// this process. Returns the value the store then applies here (hands to its updater,
    /// or assigns), or `None` when it is applied already: elsewhere (by servers), or, when
    /// `assigns` says the store has no updater and would assign it, by the engine itself,
    /// which made it the stored value under the key's lock.
    fn push<'a>(
        &self,
        key: i32,
        entry: &Entry,
        merged: Merged<'a>,
        assigns: bool,
    ) -> Result<Option<Merged<'a>>>;

    /// The merged values of one call's keys, in ascending key order, leave this process
    /// together, so that an engine can fuse them (one message per server, one allreduce):
    /// returns, key by key, what [`Engine::push`] would. Nothing has left when it fails.
    /// The default pushes them one by one.
    fn push_all<'a>(
        &self,
        pushes: Vec<KeyPush<'a>>,
        assigns: bool,
    ) -> Result<Vec<Option<Merged<'a>>>> {
        pushes
            .into_iter()
            .map(|p| self.push(p.key, p.entry, p.merged, assigns))
            .collect()
    }

    /// Takes one push call's arrays on from where they are, without merging them key by
    /// key, when the engine can and the store has no updater here: `values[i]` is the one
    /// array pushed for `keys[i]` (keys ascending, each once, arrays checked). True when it
    /// did, and the push is done; false, with nothing changed, sends the call the general
    /// way ([`Engine::push_all`]). A serverless engine sums the arrays straight into the
    /// stored values when those lie in order in one block; one with servers sends each
    /// array as it is when it is a dense one of its key's dtype.
    fn push_from(&self, _keys: &[(i32, &Entry)], _values: &[NDArray]) -> Result<bool> {
        Ok(false)
    }

    /// Before the pulls of one call: a distributed engine fetches every key's value into
    /// its stored value, one message per server for all the call's keys.
    fn fetch(&self, _keys: &[(i32, &Entry)]) -> Result<()> {
        Ok(())
    }

    /// Fills the outputs of one pull call straight from where the values are, when the
    /// engine can (a distributed one, from its servers, when every output is dense and of
    /// its key's shape and dtype): true when it did, and the pull is done.
    fn fetch_into(&self, _keys: &[(i32, &Entry)], _outs: &[NDArray]) -> Result<bool> {
        Ok(false)
    }

    /// Fills each row_sparse output with the rows `ids` of its key's value (every pair
    /// checked before): local stores copy them from the stored value; distributed ones
    /// fetch only those rows.
    fn pull_rows(&self, pulls: &[RowPull<'_>]) -> Result<()> {
        for p in pulls {
            let _whole = p.entry.lock();
            p.entry.stored().retain_into(&p.ids, p.out)?;
        }
        Ok(())
    }

    /// 2-bit gradient compression was set (reference §3.8): a distributed engine sends its
    /// pushes packed from now on.
    fn set_gradient_compression(&self, _setting: GradientCompression) -> Result<()> {
        Ok(())
    }

    /// Fills `out` with the key's value: local stores copy the stored value; distributed
    /// ones fetch it first.
    fn pull(&self, key: i32, entry: &Entry, out: &NDArray) -> Result<()>;

    /// Whether a pushed value is applied in this process (local and serverless stores), so
    /// that the store's updater runs here; `false` when servers apply it.
    fn updates_locally(&self) -> bool;

    /// This process's rank among the workers.
    fn rank(&self) -> i32;

    /// The number of workers.
    fn group_size(&self) -> i32;

    /// Waits until every worker has reached the barrier.
    fn barrier(&self) -> Result<()>;

    /// How many nodes of group `node_id` have not been heard from for `timeout_sec` seconds.
    fn num_dead_nodes(&self, node_id: i32, timeout_sec: i32) -> Result<i32>;

    /// Sends a controller command to every server.
    fn send_command_to_servers(&self, head: i32, body: &[u8]) -> Result<()>;

    /// Runs the server loop until the workers stop it, handing controller commands to
    /// `controller` on the calling thread.
    /// Pushed values go to the store's updater as it is at that moment (`updater()`: the
    /// controller may install one), or, with none, are assigned.
    fn run_server(
        &self,
        controller: &mut dyn FnMut(i32, &[u8]),
        updater: &dyn Fn() -> Option<Arc<dyn Updater>>,
    ) -> Result<()>;

    /// This process's role in the group.
    fn role(&self) -> Role;

    /// The store is being freed. A distributed worker waits for the others first when
    /// `barrier_before_exit` is set, and rank 0 then stops the servers (reference §5).
    fn close(&self, barrier_before_exit: bool) -> Result<()>;
}

/// One pair of a row_sparse pull: the rows `ids` (ascending, unique, in range) of `key`
/// into the row_sparse `out`.
pub struct RowPull<'a> {
    pub key: i32,
    pub entry: &'a Entry,
    pub ids: Vec<i64>,
    pub out: &'a NDArray,
}

/// A single process: rank 0 of a group of 1, whose values never leave it; server
/// operations are no-ops that succeed.
pub struct LocalEngine;

impl Engine for LocalEngine {
    fn init(&self, _added: &[(i32, &Entry)]) -> Result<()> {
        Ok(())
    }
    fn push<'a>(
        &self,
        _key: i32,
        _entry: &Entry,
        merged: Merged<'a>,
        _assigns: bool,
    ) -> Result<Option<Merged<'a>>> {
        Ok(Some(merged))
    }
    fn pull(&self, _key: i32, entry: &Entry, out: &NDArray) -> Result<()> {
        entry.copy_to(out)
    }
    fn updates_locally(&self) -> bool {
        true
    }
    fn rank(&self) -> i32 {
        0
    }
    fn group_size(&self) -> i32 {
        1
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn num_dead_nodes(&self, _node_id: i32, _timeout_sec: i32) -> Result<i32> {
        Ok(0)
    }
    fn send_command_to_servers(&self, _head: i32, _body: &[u8]) -> Result<()> {
        Ok(())
    }
    fn run_server(
        &self,
        _controller: &mut dyn FnMut(i32, &[u8]),
        _updater: &dyn Fn() -> Option<Arc<dyn Updater>>,
    ) -> Result<()> {
        Ok(())
    }
    fn role(&self) -> Role {
        Role::from_env()
    }
    fn close(&self, _barrier_before_exit: bool) -> Result<()> {
        Ok(())
    }
}

/// The engine for a lower-cased store name, by MXNet's rules (reference §3.1): a name
/// containing `dist` asks for a distributed store, one containing `nccl` for NCCL; every
/// other name is local. Distributed engines come with the `dist` feature.
pub fn engine_for(type_name: &str) -> Result<Box<dyn Engine>> {
    if type_name.contains("dist") {
        return match DIST.get() {
            Some(dist) => (dist.engine)(type_name),
            None => Err(Error::NoDist(type_name.to_string())),
        };
    }
    if type_name.contains("nccl") {
        return Err(Error::Nccl(type_name.to_string()));
    }
    Ok(Box::new(LocalEngine))
}

/// What the distributed engine (the `dist` feature, `crate::dist`) gives the store: its
/// engine for `dist*` names, and this process's role in a job it was launched in.
pub struct DistHooks {
    pub engine: fn(&str) -> Result<Box<dyn Engine>>,
    pub role: fn() -> Option<Role>,
}

static DIST: OnceLock<DistHooks> = OnceLock::new();

/// Registers the distributed engine (once; later calls change nothing).
pub fn register_dist(hooks: DistHooks) {
    let _ = DIST.set(hooks);
}
