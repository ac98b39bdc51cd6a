//! The key-value store: one path for every call — keys → group → reduce → update or
//! assign → store — following MXNet's local store semantics (reference §3) with the
//! differences of spec §4: every call is validated whole before anything changes, the
//! store holds its own copy of each value, shapes must match and dtypes convert.
//!
//! Store kinds differ only in their [`Engine`]: where a merged value goes and where a
//! pulled one comes from. Validation, the key table and the updater are the store's.
//!
//! # Locks
//! Three kinds, taken in this order (a thread holding one kind takes only later kinds):
//! 1. key locks ([`Entry::lock`]), held while a key's value is assigned, updated or
//!    copied out. The updater runs under its key's lock and may call the store again, so
//!    a thread may wait for another key's lock while holding some: it does unless that
//!    key's holder waits, through a chain of waits, for this thread, and then the push
//!    fails (a pull copies the value as it is; see `entry.rs`).
//! 2. the store's slots — key table, updater, scratch buffer, the device store's
//!    placement, the compression residuals — each held only to look up or change its own fields; under the table's
//!    write lock Init and Broadcast copy the initial values (chunk locks), nothing else.
//!    A key's stored-value slot is written only by its key lock's holder, holding nothing
//!    else; that holder may read it across the chunk locks of an assign or a copy, which
//!    no writer can be waiting for. Anyone else reads it only to clone the array.
//! 3. array chunk locks (`ndarray`), held for one copy or sum, several in address order.
//!
//! Engine methods run with no slot or chunk lock held, and with no key lock either except
//! under a push or pull made from inside an updater (which holds its own key's lock).

pub mod compression;
mod engine;
mod entry;
mod keys;
mod merge;
pub mod param_float;
mod placement;
pub mod sparse;
pub mod twobit;
mod updater;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use compression::{Compressor, GradientCompression};
pub use engine::{
    engine_for, register_dist, DistHooks, Engine, KeyPush, LocalEngine, Role, RowPull,
};
pub use entry::{Entry, Found, KeyGuard};
pub use keys::Keys;
pub use merge::Merged;
use merge::{SumBuffers, SumMemory};
pub use updater::{UpdateKey, Updater};

use crate::error::{escaped, Error, Result};
use crate::ndarray::{Context, NDArray, SumOrder, PREFETCH_MOST, WRITE_AHEAD};
use entry::Direction;
use keys::{KeyTable, Target, Targets};
use placement::Placement;

/// Where initialised values live (MXNet keeps them in pinned CPU memory, reference §3.3).
const STORE_CONTEXT: Context = Context::cpu_pinned(0);

/// A key-value store of arrays: data-parallel training's gradient sum and weight store.
///
/// Keys are all ints or all strings. [`KVStore::push`] sums the arrays given for each key
/// (one per device) and assigns the sum, or hands it to an [`Updater`];
/// [`KVStore::pull`] copies a key's value into each output.
///
/// ```
/// use mxkv::kvstore::{KVStore, Keys};
/// use mxkv::ndarray::{Context, DType, NDArray, Shape};
///
/// let array = |v: &[f32]| -> mxkv::Result<NDArray> {
///     let a = NDArray::new(Shape(vec![v.len() as i64]), DType::F32, Context::cpu(0))?;
///     a.copy_from_bytes(bytemuck::cast_slice(v), v.len())?;
///     Ok(a)
/// };
/// let kv = KVStore::create("local")?;
/// kv.init(Keys::Str(&[b"weight"]), &[array(&[0.0, 0.0])?])?;
/// // Two devices push their gradients for one key: the store keeps the sum.
/// kv.push(
///     Keys::Str(&[b"weight", b"weight"]),
///     &[array(&[1.0, 2.0])?, array(&[3.0, 4.0])?],
/// )?;
/// let out = array(&[0.0, 0.0])?;
/// kv.pull(Keys::Str(&[b"weight"]), &[out.clone()], true)?;
/// assert_eq!(out.to_bytes()?, bytemuck::cast_slice(&[4.0f32, 6.0]));
/// // A key that was never initialised is an error, and changes nothing.
/// assert!(kv.push(Keys::Str(&[b"bias"]), &[array(&[1.0])?]).is_err());
/// # Ok::<(), mxkv::Error>(())
/// ```
pub struct KVStore {
    type_name: String,
    engine: Arc<dyn Engine>,
    /// How the arrays pushed for one key are added up: in the order of MXNet's reduce for
    /// this store kind (reference §3.4), so that sums are the same floats.
    sum_order: SumOrder,
    /// The `device` store's merge buffer contexts (`None` for other stores).
    placement: Option<Mutex<Placement>>,
    table: RwLock<KeyTable>,
    updater: RwLock<Option<Arc<dyn Updater>>>,
    /// Whether `updater` is set: a push without one does not take its lock.
    has_updater: AtomicBool,
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
        let device = type_name.contains("device");
        let sum_order = if device {
            SumOrder::Sequential
        } else {
            SumOrder::GroupsOfFour
        };
        KVStore {
            compresses_sums: type_name.contains("device") && !type_name.contains("dist"),
            type_name,
            engine: Arc::from(engine),
            sum_order,
            placement: device.then(Mutex::default),
            table: RwLock::new(KeyTable::default()),
            updater: RwLock::new(None),
            has_updater: AtomicBool::new(false),
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
        let mut targets = Targets::new();
        self.table
            .read()
            .resolve(&mut targets, None, keys, values, Direction::Push)?;
        sparse::check_values(values)?;
        self.apply_push(&targets, values)
    }

    /// Copies each key's value into its outputs, in each output's storage type; with
    /// `ignore_sparse` (MXNet's flag) sparse outputs are skipped (reference §3.5).
    pub fn pull(&self, keys: Keys<'_>, outs: &[NDArray], ignore_sparse: bool) -> Result<()> {
        let mut targets = Targets::new();
        self.table
            .read()
            .resolve(&mut targets, None, keys, outs, Direction::Pull)?;
        sparse::check_outs(outs, ignore_sparse)?;
        self.apply_pull(&targets, outs, ignore_sparse)
    }

    /// Copies the rows `row_ids[i]` of each key's row_sparse value into the row_sparse
    /// output `outs[i]` (reference §3.6). Every pair is checked before any output changes.
    /// The engine brings the rows (a dist store's from its servers).
    pub fn pull_row_sparse(
        &self,
        keys: Keys<'_>,
        outs: &[NDArray],
        row_ids: &[NDArray],
    ) -> Result<()> {
        let mut targets = Targets::new();
        self.table
            .read()
            .resolve(&mut targets, None, keys, outs, Direction::Pull)?;
        if row_ids.len() != outs.len() {
            return Err(Error::invalid(format!(
                "{} outputs but {} row id arrays",
                outs.len(),
                row_ids.len()
            )));
        }
        let pulls = targets
            .iter()
            .zip(outs)
            .zip(row_ids)
            .map(|((t, out), ids)| {
                Ok(RowPull {
                    key: t.key,
                    entry: &t.entry,
                    ids: sparse::rows_to_pull(&t.entry.stored(), out, ids)?,
                    out,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.engine.pull_rows(&pulls)
    }

    /// Push `values` to `vkeys`, then pull `okeys` into `outs`, all validated first.
    ///
    /// ```
    /// # use mxkv::kvstore::{KVStore, Keys};
    /// # use mxkv::ndarray::{Context, DType, NDArray, Shape};
    /// let kv = KVStore::create("device")?;
    /// let ones = NDArray::new(Shape(vec![2]), DType::F32, Context::cpu(0))?;
    /// ones.copy_from_bytes(bytemuck::cast_slice(&[1.0f32, 1.0]), 2)?;
    /// let out = NDArray::new(Shape(vec![2]), DType::F32, Context::cpu(0))?;
    /// kv.broadcast(Keys::Int(&[3]), &[ones.clone()], Keys::Int(&[3]), &[out.clone()])?;
    /// kv.pushpull(Keys::Int(&[3, 3]), &[ones.clone(), ones], Keys::Int(&[3]), &[out.clone()])?;
    /// assert_eq!(out.to_bytes()?, bytemuck::cast_slice(&[2.0f32, 2.0]));
    /// # Ok::<(), mxkv::Error>(())
    /// ```
    pub fn pushpull(
        &self,
        vkeys: Keys<'_>,
        values: &[NDArray],
        okeys: Keys<'_>,
        outs: &[NDArray],
    ) -> Result<()> {
        let (mut pushes, mut pulls) = (Targets::new(), Targets::new());
        {
            let table = self.table.read();
            table.resolve(&mut pushes, None, vkeys, values, Direction::Push)?;
            table.resolve(&mut pulls, None, okeys, outs, Direction::Pull)?;
        }
        sparse::check_values(values)?;
        self.apply_push(&pushes, values)?;
        self.apply_pull(&pulls, outs, true)
    }

    /// Init `vkeys` with `values`, then pull `okeys` into `outs` (reference §3.7).
    pub fn broadcast(
        &self,
        vkeys: Keys<'_>,
        values: &[NDArray],
        okeys: Keys<'_>,
        outs: &[NDArray],
    ) -> Result<()> {
        let mut pulls = Targets::new();
        let new = {
            let mut table = self.table.write();
            let new = table.prepare_init(vkeys, values, stored_copy)?;
            table.resolve(&mut pulls, Some(&new), okeys, outs, Direction::Pull)?;
            table.commit(&new);
            new
        };
        self.engine_init(&new.added)?;
        self.apply_pull(&pulls, outs, true)
    }

    /// Installs the updater: from now on pushed values are handed to it instead of being
    /// assigned.
    pub fn set_updater(&self, updater: impl Updater + 'static) {
        let mut slot = self.updater.write();
        *slot = Some(Arc::new(updater));
        self.has_updater.store(true, Ordering::Release);
    }

    /// Removes the updater: pushed values are assigned again.
    pub fn remove_updater(&self) {
        let mut slot = self.updater.write();
        *slot = None;
        self.has_updater.store(false, Ordering::Release);
    }

    /// Sets or changes 2-bit gradient compression; stores that do not compress their sums
    /// keep the setting and sum exactly, as MXNet's. The engine hears of it first (a
    /// distributed one compresses what it sends, and may refuse).
    pub fn set_gradient_compression(&self, params: GradientCompression) -> Result<()> {
        self.engine.set_gradient_compression(params)?;
        self.compressor.set(params);
        Ok(())
    }

    pub fn gradient_compression(&self) -> Option<GradientCompression> {
        self.compressor.setting()
    }

    /// Whether freeing a worker's store waits for the other workers first (reference §5).
    pub fn set_barrier_before_exit(&self, on: bool) {
        self.barrier_before_exit.store(on, Ordering::Relaxed);
    }

    /// Runs the server loop of a dist store until the workers stop it: controller commands
    /// go to `controller`, pushed values to this store's updater (assigned without one).
    pub fn run_server(&self, controller: &mut dyn FnMut(i32, &[u8])) -> Result<()> {
        self.engine.run_server(controller, &|| self.updater())
    }

    /// The updater a push hands its sums to, as it is set now.
    fn updater(&self) -> Option<Arc<dyn Updater>> {
        if self.has_updater.load(Ordering::Acquire) {
            self.updater.read().clone()
        } else {
            None
        }
    }

    /// Tells the placement and the engine about keys just added.
    fn engine_init(&self, added: &[Target<'_>]) -> Result<()> {
        if let Some(placement) = &self.placement {
            let mut placement = placement.lock();
            for t in added {
                placement.register(t.key, t.entry.stored().size());
            }
        }
        let added: Vec<(i32, &Entry)> = added.iter().map(|t| (t.key, &*t.entry)).collect();
        self.engine.init(&added)
    }

    fn apply_pull(
        &self,
        targets: &[Target<'_>],
        outs: &[NDArray],
        ignore_sparse: bool,
    ) -> Result<()> {
        // One target's key on the stack (the common single pull), several in a list.
        let one: [(i32, &Entry); 1];
        let many: Vec<(i32, &Entry)>;
        let keys: &[(i32, &Entry)] = match targets {
            [t] => {
                one = [(t.key, &t.entry)];
                &one
            }
            _ => {
                many = targets.iter().map(|t| (t.key, &*t.entry)).collect();
                &many
            }
        };
        if self.engine.fetch_into(keys, outs)? {
            return Ok(());
        }
        self.engine.fetch(keys)?;
        for first in outs.iter().take(WRITE_AHEAD) {
            first.prefetch_write(0..PREFETCH_MOST);
        }
        for (i, (t, out)) in targets.iter().zip(outs).enumerate() {
            if let Some(next) = outs.get(i + WRITE_AHEAD) {
                next.prefetch_write(0..PREFETCH_MOST);
            }
            if ignore_sparse && out.is_sparse() {
                continue;
            }
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
            _ => Ok(Some(merge::reserve_buffer(nbytes)?.into_array())),
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
    fn apply_push(&self, targets: &[Target<'_>], values: &[NDArray]) -> Result<()> {
        let updater = self.updater();
        let checks = updater.as_ref().filter(|_| self.engine.updates_locally());
        let compressing = self.compresses_sums && self.compressor.setting().is_some();
        let needs_array = updater.is_some() || !self.engine.updates_locally();
        if let ([target], [value]) = (targets, values) {
            // One key, one value: nothing to order, nothing allocated.
            let group = Group::new(target, std::slice::from_ref(&value), compressing);
            let groups = [group];
            check_updater(checks, &groups)?;
            return self.push_groups(&groups, updater.as_ref(), needs_array);
        }
        let ascending = targets.windows(2).all(|t| t[0].key < t[1].key);
        if ascending && updater.is_none() && !compressing {
            // Keys given once each, in order, and assigned: the engine may sum the arrays
            // straight into the stored values.
            let keys: Vec<(i32, &Entry)> = targets.iter().map(|t| (t.key, &*t.entry)).collect();
            if self.engine.push_from(&keys, values)? {
                return Ok(());
            }
        }
        let mut groups = Vec::with_capacity(targets.len());
        let sorted: Vec<&NDArray>;
        if ascending {
            // Keys given once each, in order (a model's parameters): a group per value.
            sorted = values.iter().collect();
            for (target, value) in targets.iter().zip(sorted.chunks(1)) {
                groups.push(Group::new(target, value, compressing));
            }
        } else {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            order.sort_by_key(|&i| targets[i].key);
            // The values in key order (a stable sort keeps each key's in call order).
            sorted = order.iter().map(|&i| &values[i]).collect();
            let mut start = 0;
            for same_key in order.chunk_by(|&a, &b| targets[a].key == targets[b].key) {
                let sources = &sorted[start..start + same_key.len()];
                groups.push(Group::new(&targets[same_key[0]], sources, compressing));
                start += same_key.len();
            }
        }
        check_updater(checks, &groups)?;
        self.push_groups(&groups, updater.as_ref(), needs_array)
    }

    /// Pushes the keys' groups, with compression residuals and the scratch buffer made
    /// ready for all of them first.
    fn push_groups(
        &self,
        groups: &[Group<'_>],
        updater: Option<&Arc<dyn Updater>>,
        needs_array: bool,
    ) -> Result<()> {
        for g in groups.iter().filter(|g| g.compressed) {
            self.compressor
                .prepare(g.target.key, &g.stored.value, g.sources)?;
        }
        let mut scratch = if needs_array {
            self.take_scratch(groups.iter().map(sum_bytes).max().unwrap_or(0))?
        } else {
            None
        };
        if let [group @ Group { sources: [_], .. }] = groups {
            // One value for one key.
            let (context, merged) = self.merged(group)?;
            let entry = &group.target.entry;
            if let Some(merged) =
                self.engine
                    .push(group.target.key, entry, merged, updater.is_none())?
            {
                apply_here(group, merged, updater, &mut scratch, context)?;
            }
        } else {
            scratch = self.push_each(groups, updater, needs_array, scratch)?;
        }
        self.keep_scratch(scratch);
        Ok(())
    }

    /// Pushes several groups: the engine takes every key at once (to fuse them); what comes
    /// back is applied key by key, in ascending order. Gives back the scratch buffer.
    fn push_each(
        &self,
        groups: &[Group<'_>],
        updater: Option<&Arc<dyn Updater>>,
        needs_array: bool,
        scratch: Option<NDArray>,
    ) -> Result<Option<NDArray>> {
        // An updater here may keep each key's sum, and the scratch buffer with it: the
        // other keys' buffers are reserved before any key changes.
        let keeps = needs_array && updater.is_some() && self.engine.updates_locally();
        let kept_sums = groups.iter().map(sum_bytes).filter(|_| keeps);
        let mut buffers = SumBuffers::reserve(scratch, kept_sums)?;
        let mut contexts = Vec::with_capacity(groups.len());
        let mut pushes = Vec::with_capacity(groups.len());
        for group in groups {
            let (context, merged) = self.merged(group)?;
            contexts.push(context);
            pushes.push(KeyPush {
                key: group.target.key,
                entry: &group.target.entry,
                found: &group.stored,
                merged,
            });
        }
        let back = self.engine.push_all(pushes, updater.is_none())?;
        for ((group, context), merged) in groups.iter().zip(contexts).zip(back) {
            if let Some(merged) = merged {
                apply_here(group, merged, updater, &mut buffers, context)?;
            }
        }
        Ok(buffers.reusable)
    }

    /// One key's merged value, not summed yet where it can wait, and the context of its
    /// merge buffer when MXNet reports one.
    #[inline(always)]
    fn merged<'a>(&'a self, group: &Group<'a>) -> Result<(Option<Context>, Merged<'a>)> {
        let Group {
            target,
            ref stored,
            sources,
            sparse,
            compressed,
        } = *group;
        // MXNet places the merge buffers at the first sum of several arrays, or at the first
        // compressed push of any number (`ReduceCompressed` always merges).
        let context = match &self.placement {
            Some(placement) if compressed || sources.len() > 1 => {
                placement.lock().context(target.key, sources)
            }
            _ => None,
        };
        // Row_sparse values are summed by their rows, uncompressed (reference §3.4).
        let merged = if sparse {
            Merged::Array(sparse::merge(&stored.value, sources)?)
        } else if compressed {
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
        Ok((context, merged))
    }
}

/// One key's part of a push: its arrays, and its stored value as the push found it, which
/// decides how they merge.
struct Group<'a> {
    target: &'a Target<'a>,
    stored: Found,
    sources: &'a [&'a NDArray],
    /// Whether a row_sparse array is involved: then the arrays are summed by their rows.
    sparse: bool,
    /// Whether the arrays are summed through 2-bit compression.
    compressed: bool,
}

impl<'a> Group<'a> {
    fn new(target: &'a Target<'a>, sources: &'a [&'a NDArray], compressing: bool) -> Group<'a> {
        let stored = target.entry.found();
        let sparse = sparse::involved(&stored.value, sources);
        Group {
            target,
            stored,
            sources,
            sparse,
            compressed: compressing && !sparse,
        }
    }
}

/// Bytes of the buffer a group's sum needs as an array (see [`merge::buffer_bytes`]).
fn sum_bytes(g: &Group<'_>) -> usize {
    merge::buffer_bytes(&g.stored.value, g.sources, g.compressed)
}

/// Under the key's lock, assigns a merged value that the engine gave back, or hands it to
/// the updater, reporting `context` (the merge buffer's) when one is given. A sum made for
/// the updater in `buffers` goes back there when the updater let go of it.
#[inline(always)]
fn apply_here(
    group: &Group<'_>,
    merged: Merged<'_>,
    updater: Option<&Arc<dyn Updater>>,
    buffers: &mut impl SumMemory,
    context: Option<Context>,
) -> Result<()> {
    let target = group.target;
    let Some(_serial) = target.entry.lock() else {
        let key = target.name.map_or_else(|| target.key.to_string(), escaped);
        return Err(Error::WouldDeadlock(key));
    };
    let Some(updater) = updater else {
        return target.entry.assign(merged, &group.stored);
    };
    let stored = target.entry.current(&group.stored);
    let recv = merged.into_array(&stored, buffers)?;
    let recv = match context {
        Some(ctx) => recv.in_context(ctx),
        None => recv,
    };
    // Only a sum no one else holds can go back to `buffers`: the pushed array itself, handed
    // over as the sum, is moved to the updater without a second reference.
    let reusable = recv.is_sole_view().then(|| recv.clone());
    updater.update(update_key(target), recv, stored.into_owned())?;
    if let Some(recv) = reusable {
        buffers.give_back(recv);
    }
    Ok(())
}

/// The key as the updater sees it.
fn update_key<'k>(target: &Target<'k>) -> UpdateKey<'k> {
    match target.name {
        Some(name) => UpdateKey::Str {
            name,
            index: target.key,
        },
        None => UpdateKey::Int(target.key),
    }
}

/// Asks the updater, when it runs here (`Some`), whether it can update every key of the
/// push, before any key changes.
fn check_updater(updater: Option<&Arc<dyn Updater>>, groups: &[Group<'_>]) -> Result<()> {
    if let Some(updater) = updater {
        for g in groups {
            updater.check(update_key(g.target), &g.stored.value)?;
        }
    }
    Ok(())
}

fn stored_copy(value: &NDArray) -> Result<Entry> {
    sparse::check_value(value, "init")?;
    let copy = value.copy_as(value.storage(), value.dtype(), STORE_CONTEXT)?;
    Ok(Entry::new(copy))
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
