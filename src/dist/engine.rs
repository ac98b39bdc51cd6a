//! The store's engine for `dist*` names: how a dist store's values travel through the
//! job (the seam of `kvstore::engine`).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::ThreadId;

use parking_lot::Mutex;

use super::worker::Item;
use super::Dist;
use crate::error::Result;
use crate::kvstore::{Engine, Entry, Merged, Role, Updater};
use crate::ndarray::NDArray;

pub struct DistEngine {
    dist: Dist,
    /// The merged values of the push call in progress on each thread, sent together by
    /// `push_done`, so that a call's keys travel in one message per server.
    queued: Mutex<HashMap<ThreadId, Vec<(i32, NDArray)>>>,
    /// Buffers for serverless sums, used again once the store has let go of them (so a
    /// large push does not pay for fresh memory each time).
    spare: Mutex<Vec<NDArray>>,
}

/// How many sum buffers a store keeps.
const SPARE_BUFFERS: usize = 4;

impl DistEngine {
    pub fn new(type_name: &str) -> Result<DistEngine> {
        Ok(DistEngine {
            dist: Dist::new(type_name)?,
            queued: Mutex::new(HashMap::new()),
            spare: Mutex::new(Vec::new()),
        })
    }

    /// A buffer shaped like `stored` that no one else uses.
    fn buffer_like(&self, stored: &NDArray) -> Result<NDArray> {
        let mut spare = self.spare.lock();
        let free = spare
            .iter()
            .position(|b| b.is_sole_view() && b.capacity() >= stored.nbytes());
        let buffer = match free.and_then(|i| spare.swap_remove(i).recycle_as(stored)) {
            Some(buffer) => buffer,
            None => stored.like()?,
        };
        if spare.len() >= SPARE_BUFFERS {
            let smallest = (0..spare.len()).min_by_key(|&i| spare[i].capacity());
            spare.swap_remove(smallest.expect("a full list"));
        }
        spare.push(buffer.clone());
        Ok(buffer)
    }
}

fn items<'a>(keys: &'a [(i32, NDArray)]) -> Vec<Item<'a>> {
    keys.iter()
        .map(|(key, array)| Item { key: *key, array })
        .collect()
}

/// The items of keys whose stored values (taken out of their entries) are `stored`.
fn items_of<'a>(keys: &[(i32, &Entry)], stored: &'a [NDArray]) -> Vec<Item<'a>> {
    keys.iter()
        .zip(stored)
        .map(|((key, _), array)| Item { key: *key, array })
        .collect()
}

impl Engine for DistEngine {
    fn init(&self, added: &[(i32, &Entry)]) -> Result<()> {
        let stored: Vec<NDArray> = added.iter().map(|(_, entry)| entry.stored()).collect();
        self.dist.init(&items_of(added, &stored))
    }

    fn push<'a>(&self, key: i32, entry: &Entry, merged: Merged<'a>) -> Result<Option<Merged<'a>>> {
        if self.dist.updates_locally() {
            // Serverless: the sum over the workers comes back to be applied here.
            let stored = entry.stored();
            let value = merged.into_array(&stored, &mut None)?;
            let sum = self.buffer_like(&stored)?;
            self.dist.allreduce(key, &value, &sum)?;
            return Ok(Some(Merged::Array(sum)));
        }
        let value = merged.into_array(&entry.stored(), &mut None)?;
        self.queued
            .lock()
            .entry(std::thread::current().id())
            .or_default()
            .push((key, value));
        Ok(None)
    }

    fn push_done(&self) -> Result<()> {
        let queued = self.queued.lock().remove(&std::thread::current().id());
        match queued {
            Some(keys) => self.dist.push(&items(&keys)),
            None => Ok(()),
        }
    }

    fn fetch(&self, keys: &[(i32, &Entry)]) -> Result<()> {
        let stored: Vec<NDArray> = keys.iter().map(|(_, entry)| entry.stored()).collect();
        self.dist.pull(&items_of(keys, &stored))
    }

    fn pull(&self, _key: i32, entry: &Entry, out: &NDArray) -> Result<()> {
        entry.copy_to(out)
    }

    fn updates_locally(&self) -> bool {
        self.dist.updates_locally()
    }

    fn rank(&self) -> i32 {
        self.dist.rank()
    }

    fn group_size(&self) -> i32 {
        self.dist.group_size()
    }

    fn barrier(&self) -> Result<()> {
        self.dist.barrier()
    }

    fn num_dead_nodes(&self, _node_id: i32, _timeout_sec: i32) -> Result<i32> {
        Ok(self.dist.num_dead_nodes())
    }

    fn send_command_to_servers(&self, head: i32, body: &str) -> Result<()> {
        self.dist.send_command_to_servers(head, body)
    }

    fn run_server(
        &self,
        controller: &mut dyn FnMut(i32, &str),
        updater: &dyn Fn() -> Option<Arc<dyn Updater>>,
    ) -> Result<()> {
        self.dist.run_server(controller, updater)
    }

    fn role(&self) -> Role {
        self.dist.role()
    }

    fn close(&self, barrier_before_exit: bool) -> Result<()> {
        self.dist.close(barrier_before_exit)
    }
}
