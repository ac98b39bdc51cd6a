//! The store's engine for `dist*` names: how a dist store's values travel through the
//! job (the seam of `kvstore::engine`).

use std::sync::Arc;

use super::worker::Item;
use super::Dist;
use crate::error::Result;
use crate::kvstore::{Engine, Entry, GradientCompression, KeyPush, Merged, Role, RowPull, Updater};
use crate::ndarray::NDArray;

pub struct DistEngine {
    dist: Dist,
}

impl DistEngine {
    pub fn new(type_name: &str) -> Result<DistEngine> {
        Ok(DistEngine {
            dist: Dist::new(type_name)?,
        })
    }
}

impl DistEngine {
    /// Sends a call's pushes. Serverless, the sums over the workers come back to be
    /// applied here (all keys in one allreduce per element type), or, when the store
    /// `assigns`, are made the stored values already; with servers, every key goes in
    /// one message per server and nothing comes back.
    fn send(&self, pushes: Vec<KeyPush<'_>>, assigns: bool) -> Result<Vec<Option<NDArray>>> {
        if self.dist.updates_locally() {
            return self.dist.allreduce(pushes, assigns);
        }
        let count = pushes.len();
        let values = pushes
            .into_iter()
            .map(|p| Ok((p.key, p.merged.into_array(&p.entry.stored(), &mut None)?)))
            .collect::<Result<Vec<(i32, NDArray)>>>()?;
        let items: Vec<Item<'_>> = values
            .iter()
            .map(|(key, array)| Item { key: *key, array })
            .collect();
        self.dist.push(&items)?;
        Ok(vec![None; count])
    }
}

/// The items of `keys` with `arrays`, one each (their stored values, the pushed arrays, or
/// the outputs of a pull).
fn items_of<'a>(keys: &[(i32, &Entry)], arrays: &'a [NDArray]) -> Vec<Item<'a>> {
    keys.iter()
        .zip(arrays)
        .map(|((key, _), array)| Item { key: *key, array })
        .collect()
}

impl Engine for DistEngine {
    fn init(&self, added: &[(i32, &Entry)]) -> Result<()> {
        self.dist.init(added)
    }

    fn push<'a>(
        &self,
        key: i32,
        entry: &Entry,
        merged: Merged<'a>,
        assigns: bool,
    ) -> Result<Option<Merged<'a>>> {
        let found = entry.found();
        let push = KeyPush {
            key,
            entry,
            found: &found,
            merged,
        };
        let sum = self.send(vec![push], assigns)?.pop().flatten();
        Ok(sum.map(Merged::Array))
    }

    fn push_all<'a>(
        &self,
        pushes: Vec<KeyPush<'a>>,
        assigns: bool,
    ) -> Result<Vec<Option<Merged<'a>>>> {
        let sums = self.send(pushes, assigns)?;
        Ok(sums.into_iter().map(|s| s.map(Merged::Array)).collect())
    }

    /// Serverless, the sum goes straight into the stored block ([`Dist::sum_in_block`]);
    /// with servers, each array goes as it is when it is a dense one of its key's dtype
    /// (what [`Merged::into_array`] would give), without merging key by key.
    fn push_from(&self, keys: &[(i32, &Entry)], values: &[NDArray]) -> Result<bool> {
        if self.dist.updates_locally() {
            return self.dist.sum_in_block(keys, values);
        }
        let plain = keys.iter().zip(values).all(|((_, entry), value)| {
            entry.with_stored(|stored| {
                !stored.is_sparse() && !value.is_sparse() && value.dtype() == stored.dtype()
            })
        });
        if !plain || keys.len() != values.len() {
            return Ok(false);
        }
        self.dist.push(&items_of(keys, values))?;
        Ok(true)
    }

    fn fetch(&self, keys: &[(i32, &Entry)]) -> Result<()> {
        if self.dist.updates_locally() {
            // Serverless: every value is here already.
            return self.dist.pull(&[]);
        }
        let stored: Vec<NDArray> = keys.iter().map(|(_, entry)| entry.stored()).collect();
        self.dist.pull(&items_of(keys, &stored))
    }

    /// With servers, each output of a key's own shape and dtype is filled straight from
    /// the answers (the stored value here only gives shape and dtype: nothing reads its
    /// values).
    fn fetch_into(&self, keys: &[(i32, &Entry)], outs: &[NDArray]) -> Result<bool> {
        if self.dist.updates_locally() {
            return Ok(false);
        }
        let direct = keys.iter().zip(outs).all(|((_, entry), out)| {
            entry.with_stored(|stored| {
                !out.is_sparse()
                    && !stored.is_sparse()
                    && out.dtype() == stored.dtype()
                    && out.shape() == stored.shape()
            })
        });
        if !direct {
            return Ok(false);
        }
        self.dist.pull(&items_of(keys, outs))?;
        Ok(true)
    }

    fn pull(&self, _key: i32, entry: &Entry, out: &NDArray) -> Result<()> {
        entry.copy_to(out)
    }

    fn pull_rows(&self, pulls: &[RowPull<'_>]) -> Result<()> {
        self.dist.pull_rows(pulls)
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

    fn num_dead_nodes(&self, node_id: i32, timeout_sec: i32) -> Result<i32> {
        self.dist.num_dead_nodes(node_id, timeout_sec)
    }

    fn set_gradient_compression(&self, setting: GradientCompression) -> Result<()> {
        self.dist.set_gradient_compression(setting)
    }

    fn send_command_to_servers(&self, head: i32, body: &[u8]) -> Result<()> {
        self.dist.send_command_to_servers(head, body)
    }

    fn run_server(
        &self,
        controller: &mut dyn FnMut(i32, &[u8]),
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
