//! The key-value store: one path for every call — keys → group → reduce → update or
//! assign → store — following MXNet's local store semantics (reference §3) with the
//! differences of spec §4: every call is validated whole before anything changes, the
//! store holds its own copy of each value, shapes must match and dtypes convert.
//!
//! Store kinds differ only in their [`Engine`]: where a merged value goes and where a
//! pulled one comes from. Validation, the key table and the updater are the store's.
//!
//! # Locks
//! In the order a thread may take them (a lock is never waited for while one later in
//! the list is held):
//! 1. the key table (`table`, read for a call's lookup, written by Init/Broadcast), the
//!    updater slot and the scratch slot: each held only to read or swap a field, never
//!    across a key lock, an updater or an engine call;
//! 2. key locks ([`Entry::lock`]), held while a key's value is assigned, updated (the
//!    updater runs under it) or copied out; an updater may wait for another key's lock,
//!    unless that key's holder waits, directly or through others, for this thread: then
//!    the push fails (see `entry.rs`);
//! 3. array chunk locks (`ndarray`), held for one copy or sum, in address order.
//!
//! Engine methods run with none of these held, so an engine may communicate and wait.

pub mod compression;
mod engine;
mod entry;
mod keys;
mod merge;
pub mod param_float;
pub mod twobit;
mod updater;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use compression::{Compressor, GradientCompression};
pub use engine::{engine_for, Engine, LocalEngine, Role};
pub use entry::{Entry, KeyGuard};
pub use keys::Keys;
pub use merge::Merged;
pub use updater::{UpdateKey, Updater};

use crate::error::{Error, Result};
use crate::ndarray::{Context, DType, NDArray, Shape, SumOrder};
use keys::{Direction, KeyTable, Target, Targets};

/// Where initialised values live (MXNet keeps them in pinned CPU memory, reference §3.3).
const STORE_CONTEXT: Context = Context::cpu_pinned(0);

pub struct KVStore {
    type_name: String,
    engine: Arc<dyn Engine>,
    /// How the arrays pushed for one key are added up: in the order of MXNet's reduce for
    /// this store kind (reference §3.4), so that sums are the same floats.
    sum_order: SumOrder,
    table: RwLock<KeyTable>,
    updater: RwLock<Option<Arc<dyn Updater>>>,
    compressor: Compressor,
    /// Whether the arrays pushed for a key are summed through 2-bit compression once it is
    /// set: as MXNet's `CommDevice`, on stores whose name contains `device` (reference §3.8).
    compresses_sums: bool,
    barrier_before_exit: AtomicBool,
    /// A buffer for the merged value handed to an updater, kept between pushes: as large
    /// as the largest such sum so far. A push takes it out while it runs.
    scratch: Mutex<Option<NDArray>>,
}

impl KVStore {
    /// Creates a store by MXNet's rules (reference §3.1): the name is lower-cased and
    /// chooses the engine ([`engine_for`]).
    pub fn create(name: &str) -> Result<KVStore> {
        let type_name = name.to_lowercase();
        let engine = engine_for(&type_name)?;
        Ok(KVStore::with_engine(type_name, engine))
    }

    /// A store of the given type that moves its values through `engine`.
    pub fn with_engine(type_name: String, engine: Box<dyn Engine>) -> KVStore {
        // CommDevice adds left to right; CommCPU the first array plus groups of up to four.
        let sum_order = if type_name.contains("device") {
            SumOrder::Sequential
        } else {
            SumOrder::GroupsOfFour
        };
        KVStore {
            compresses_sums: type_name.contains("device") && !type_name.contains("dist"),
            type_name,
            engine: Arc::from(engine),
            sum_order,
            table: RwLock::new(KeyTable::default()),
            updater: RwLock::new(None),
            compressor: Compressor::default(),
            barrier_before_exit: AtomicBool::new(true),
            scratch: Mutex::new(None),
        }
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The store kind's engine: rank, group, barrier and server operations.
    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    pub fn init(&self, keys: Keys<'_>, values: &[NDArray]) -> Result<()> {
        let new = {
            let mut table = self.table.write();
            let new = table.prepare_init(keys, values, stored_copy)?;
            table.commit(&new);
            new
        };
        self.engine_init(&new.added)
    }

    pub fn push(&self, keys: Keys<'_>, values: &[NDArray]) -> Result<()> {
        let targets = self
            .table
            .read()
            .resolve(None, keys, values, Direction::Push)?;
        self.apply_push(targets, values)
    }

    /// Copies each key's value into its outputs. `ignore_sparse` is MXNet's flag for
    /// skipping non-dense outputs; every array mxkv makes is dense, so it changes nothing.
    pub fn pull(&self, keys: Keys<'_>, outs: &[NDArray], _ignore_sparse: bool) -> Result<()> {
        let targets = self
            .table
            .read()
            .resolve(None, keys, outs, Direction::Pull)?;
        self.apply_pull(&targets, outs)
    }

    /// Push `values` to `vkeys`, then pull `okeys` into `outs`, all validated first.
    pub fn pushpull(
        &self,
        vkeys: Keys<'_>,
        values: &[NDArray],
        okeys: Keys<'_>,
        outs: &[NDArray],
    ) -> Result<()> {
        let (pushes, pulls) = {
            let table = self.table.read();
            (
                table.resolve(None, vkeys, values, Direction::Push)?,
                table.resolve(None, okeys, outs, Direction::Pull)?,
            )
        };
        self.apply_push(pushes, values)?;
        self.apply_pull(&pulls, outs)
    }

    /// Init `vkeys` with `values`, then pull `okeys` into `outs` (reference §3.7).
    pub fn broadcast(
        &self,
        vkeys: Keys<'_>,
        values: &[NDArray],
        okeys: Keys<'_>,
        outs: &[NDArray],
    ) -> Result<()> {
        let (new, pulls) = {
            let mut table = self.table.write();
            let new = table.prepare_init(vkeys, values, stored_copy)?;
            let pulls = table.resolve(Some(&new), okeys, outs, Direction::Pull)?;
            table.commit(&new);
            (new, pulls)
        };
        self.engine_init(&new.added)?;
        self.apply_pull(&pulls, outs)
    }

    /// Installs the updater: from now on pushed values are handed to it instead of being
    /// assigned.
    pub fn set_updater(&self, updater: impl Updater + 'static) {
        *self.updater.write() = Some(Arc::new(updater));
    }

    /// Removes the updater: pushed values are assigned again.
    pub fn remove_updater(&self) {
        *self.updater.write() = None;
    }

    /// Sets or changes 2-bit gradient compression; stores that do not compress their sums
    /// keep the setting and sum exactly, as MXNet's.
    pub fn set_gradient_compression(&self, params: GradientCompression) {
        self.compressor.set(params);
    }

    pub fn gradient_compression(&self) -> Option<GradientCompression> {
        self.compressor.setting()
    }

    /// Whether freeing a worker's store waits for the other workers first (reference §5).
    pub fn set_barrier_before_exit(&self, on: bool) {
        self.barrier_before_exit.store(on, Ordering::Relaxed);
    }

    fn engine_init(&self, added: &[Target<'_>]) -> Result<()> {
        let added: Vec<(i32, &Entry)> = added.iter().map(|t| (t.key, &*t.entry)).collect();
        self.engine.init(&added)
    }

    fn apply_pull(&self, targets: &[Target<'_>], outs: &[NDArray]) -> Result<()> {
        for (t, out) in targets.iter().zip(outs) {
            self.engine.pull(t.key, &t.entry, out)?;
        }
        Ok(())
    }

    /// Takes the scratch buffer out for a push, making sure it holds `nbytes` before the
    /// push changes anything: a push that cannot get the memory fails whole.
    fn take_scratch(&self, nbytes: usize) -> Result<Option<NDArray>> {
        if nbytes == 0 {
            return Ok(None);
        }
        let kept = self.scratch.lock().take();
        match kept {
            Some(buf) if buf.capacity() >= nbytes => Ok(Some(buf)),
            _ => {
                let bytes = Shape(vec![nbytes as i64]);
                Ok(Some(NDArray::new(bytes, DType::U8, STORE_CONTEXT)?))
            }
        }
    }

    /// Keeps `buffer` for later pushes if it is larger than the one kept.
    fn keep_scratch(&self, buffer: Option<NDArray>) {
        let Some(buffer) = buffer else {
            return;
        };
        let mut kept = self.scratch.lock();
        if kept
            .as_ref()
            .map_or(true, |k| k.capacity() < buffer.capacity())
        {
            *kept = Some(buffer);
        }
    }

    /// Groups the pairs by key, ascending, and pushes each key's merged value. Everything
    /// was validated before; the one thing that can still fail here, memory for the
    /// updater's sums, is reserved before any key changes.
    fn apply_push(&self, targets: Targets<'_>, values: &[NDArray]) -> Result<()> {
        let updater = self.updater.read().clone();
        let needs_array = updater.is_some() || !self.engine.updates_locally();
        let compressed = self.compresses_sums && self.compressor.setting().is_some();
        if let ([target], [value]) = (&targets[..], values) {
            let sources = [value];
            if compressed {
                self.compressor
                    .prepare(target.key, target.entry.stored(), &sources)?;
            }
            let mut scratch = if needs_array {
                let stored = target.entry.stored();
                self.take_scratch(merge::buffer_bytes(stored, &sources, compressed))?
            } else {
                None
            };
            self.push_key(target, &sources, &mut scratch, updater.as_ref(), compressed)?;
            self.keep_scratch(scratch);
            return Ok(());
        }
        let mut order: Vec<usize> = (0..targets.len()).collect();
        order.sort_by_key(|&i| targets[i].key);
        let groups: Vec<(&Target<'_>, Vec<&NDArray>)> = order
            .chunk_by(|&a, &b| targets[a].key == targets[b].key)
            .map(|g| (&targets[g[0]], g.iter().map(|&i| &values[i]).collect()))
            .collect();
        if compressed {
            for (t, sources) in &groups {
                self.compressor.prepare(t.key, t.entry.stored(), sources)?;
            }
        }
        let mut scratch = if needs_array {
            let most = groups
                .iter()
                .map(|(t, sources)| merge::buffer_bytes(t.entry.stored(), sources, compressed));
            self.take_scratch(most.max().unwrap_or(0))?
        } else {
            None
        };
        for (target, sources) in &groups {
            self.push_key(target, sources, &mut scratch, updater.as_ref(), compressed)?;
        }
        self.keep_scratch(scratch);
        Ok(())
    }

    /// Pushes one key's merged value through the engine and applies what comes back here.
    fn push_key(
        &self,
        target: &Target<'_>,
        sources: &[&NDArray],
        scratch: &mut Option<NDArray>,
        updater: Option<&Arc<dyn Updater>>,
        compressed: bool,
    ) -> Result<()> {
        let merged = if compressed {
            Merged::Compressed {
                key: target.key,
                sources,
                compressor: &self.compressor,
            }
        } else {
            Merged::Sources {
                sources,
                order: self.sum_order,
            }
        };
        let entry = &target.entry;
        let Some(merged) = self.engine.push(target.key, entry, merged)? else {
            return Ok(());
        };
        let Some(_serial) = entry.lock() else {
            let key = target
                .name
                .map_or_else(|| target.key.to_string(), str::to_string);
            return Err(Error::WouldDeadlock(key));
        };
        apply(target, merged, updater, scratch)
    }
}

/// Assigns the merged value, or hands it to the updater; the caller holds the key's lock.
/// A sum made for the updater in `scratch` goes back there when the updater let go of it.
fn apply(
    target: &Target<'_>,
    merged: Merged<'_>,
    updater: Option<&Arc<dyn Updater>>,
    scratch: &mut Option<NDArray>,
) -> Result<()> {
    let stored = target.entry.stored();
    let Some(updater) = updater else {
        return merged.assign_to(stored);
    };
    let recv = merged.into_array(stored, scratch)?;
    let key = match target.name {
        Some(name) => UpdateKey::Str {
            name,
            index: target.key,
        },
        None => UpdateKey::Int(target.key),
    };
    updater.update(key, recv.clone(), stored.clone());
    if scratch.is_none() && recv.is_sole_view() {
        *scratch = Some(recv);
    }
    Ok(())
}

fn stored_copy(value: &NDArray) -> Result<Entry> {
    Ok(Entry::new(value.deep_copy(STORE_CONTEXT)?))
}

impl Drop for KVStore {
    fn drop(&mut self) {
        // Free cannot report an error (MXNet's destructor does not either).
        let _ = self
            .engine
            .close(self.barrier_before_exit.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests;
