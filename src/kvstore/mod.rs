//! The key-value store: one path for every call — keys → group → reduce → update or
//! assign → store — following MXNet's local store semantics (reference §3) with the
//! differences of spec §4: every call is validated whole before anything changes, the
//! store holds its own copy of each value, shapes must match and dtypes convert.
//!
//! Store kinds differ only in their [`Cluster`] (rank, group, barrier, servers); the
//! local kind is a single-member cluster.

pub mod compression;
pub mod param_float;
pub mod twobit;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{const_reentrant_mutex, Mutex, ReentrantMutex, RwLock};
use smallvec::SmallVec;

pub use compression::GradientCompression;

use crate::error::{Error, Result};
use crate::ndarray::{Context, DType, NDArray, Shape};

/// The keys of one call: a store is int-keyed or string-keyed (reference §3.2).
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    Int(&'a [i32]),
    Str(&'a [&'a str]),
}

impl Keys<'_> {
    pub fn len(&self) -> usize {
        match self {
            Keys::Int(k) => k.len(),
            Keys::Str(k) => k.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kind(&self) -> KeyType {
        match self {
            Keys::Int(_) => KeyType::Int,
            Keys::Str(_) => KeyType::Str,
        }
    }
}

/// MXNet's codes: kStringKey = 0, kIntKey = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Str = 0,
    Int = 1,
}

impl KeyType {
    fn name(self) -> &'static str {
        match self {
            KeyType::Str => "string",
            KeyType::Int => "int",
        }
    }
}

/// An updater callback: `(key, recv, local)`. It owns both arrays; what it writes into
/// `local` (a view of the stored value) becomes the stored value.
pub type IntUpdater = Box<dyn Fn(i32, NDArray, NDArray) + Send + Sync>;
pub type StrUpdater = Box<dyn Fn(&str, NDArray, NDArray) + Send + Sync>;

/// The updaters of a store. When only one is given it serves both key kinds (spec §4.5):
/// string keys reach the int updater as their registration index, as in MXNet, and int
/// keys reach the string updater as their decimal text.
pub struct Updater {
    pub int: Option<IntUpdater>,
    pub str: Option<StrUpdater>,
}

/// What differs between store kinds: membership of a group of processes.
pub trait Cluster: Send + Sync {
    fn rank(&self) -> i32;
    fn group_size(&self) -> i32;
    fn barrier(&self) -> Result<()>;
    fn num_dead_nodes(&self, node_id: i32, timeout_sec: i32) -> Result<i32>;
    fn send_command_to_servers(&self, head: i32, body: &str) -> Result<()>;
    /// Runs the server loop, handing controller commands to `controller`.
    fn run_server(&self, controller: &mut dyn FnMut(i32, &str)) -> Result<()>;
}

/// A single process: rank 0 of a group of 1; server operations are no-ops that succeed.
struct Local;

impl Cluster for Local {
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
    fn send_command_to_servers(&self, _head: i32, _body: &str) -> Result<()> {
        Ok(())
    }
    fn run_server(&self, _controller: &mut dyn FnMut(i32, &str)) -> Result<()> {
        Ok(())
    }
}

/// The role of this process, from `DMLC_ROLE` as MXNet reads it (unset means worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Server,
    Scheduler,
}

pub fn role() -> Role {
    match std::env::var("DMLC_ROLE").as_deref() {
        Ok("server") => Role::Server,
        Ok("scheduler") => Role::Scheduler,
        _ => Role::Worker,
    }
}

/// Where initialised values live (MXNet keeps them in pinned CPU memory, reference §3.3).
const STORE_CONTEXT: Context = Context {
    dev_type: Context::CPU_PINNED,
    dev_id: 0,
};

/// One key's stored value.
struct Entry {
    stored: NDArray,
    /// Serialises pushes of this key, and pulls against them (re-entrant: an updater may
    /// pull or push its own key again). Taken after [`UPDATING`], never before it.
    push_lock: ReentrantMutex<()>,
}

/// Int keys are chosen by the program, not by an adversary: a multiplicative hash is
/// enough, and much cheaper than SipHash on the push/pull path.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.0 = (i as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Default)]
struct KeyTable {
    key_type: Option<KeyType>,
    /// String key → internal index, assigned 0, 1, 2 … in registration order.
    index: HashMap<String, i32>,
    entries: HashMap<i32, Arc<Entry>, BuildHasherDefault<KeyHasher>>,
}

impl KeyTable {
    fn check_key_type(&self, call: KeyType) -> Result<()> {
        match self.key_type {
            Some(store) if store != call => Err(Error::MixedKeyTypes {
                store: store as i32,
                call: call as i32,
                store_name: store.name(),
                call_name: call.name(),
            }),
            _ => Ok(()),
        }
    }
}

/// A key of a call, resolved: internal key, the name it was given by, and its entry.
struct Target<'a> {
    key: i32,
    name: Option<&'a str>,
    entry: Arc<Entry>,
}

/// The keys of a call, resolved; a call of one or two keys allocates nothing for them.
type Targets<'a> = SmallVec<[Target<'a>; 2]>;

/// Keys about to be added by an Init or Broadcast.
struct NewKeys<'a> {
    kind: KeyType,
    added: Vec<(i32, Option<&'a str>, Arc<Entry>)>,
}

pub struct KVStore {
    type_name: String,
    cluster: Box<dyn Cluster>,
    table: RwLock<KeyTable>,
    updater: RwLock<Option<Arc<Updater>>>,
    compression: Mutex<Option<GradientCompression>>,
    barrier_before_exit: AtomicBool,
    /// A buffer for the sum handed to an updater as `recv`, kept between pushes: one per
    /// store, as large as the largest such sum so far.
    scratch: Mutex<Option<NDArray>>,
}

impl KVStore {
    /// Creates a store by MXNet's rules (reference §3.1): the name is lower-cased; a name
    /// containing `dist` asks for a distributed store, one containing `nccl` for NCCL;
    /// every other name gives a local store.
    pub fn create(name: &str) -> Result<KVStore> {
        let type_name = name.to_lowercase();
        if type_name.contains("dist") {
            return Err(Error::NoDist(type_name));
        }
        if type_name.contains("nccl") {
            return Err(Error::Nccl(type_name));
        }
        Ok(KVStore {
            type_name,
            cluster: Box::new(Local),
            table: RwLock::new(KeyTable::default()),
            updater: RwLock::new(None),
            compression: Mutex::new(None),
            barrier_before_exit: AtomicBool::new(true),
            scratch: Mutex::new(None),
        })
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn cluster(&self) -> &dyn Cluster {
        self.cluster.as_ref()
    }

    pub fn init(&self, keys: Keys<'_>, values: &[NDArray]) -> Result<()> {
        let mut table = self.table.write();
        let new = self.prepare_init(&table, keys, values)?;
        commit(&mut table, new);
        Ok(())
    }

    pub fn push(&self, keys: Keys<'_>, values: &[NDArray]) -> Result<()> {
        let targets = self.resolve(keys, values)?;
        self.apply_push(targets, values)
    }

    /// Copies each key's value into its outputs. `ignore_sparse` is MXNet's flag for
    /// skipping non-dense outputs; every array mxkv makes is dense, so it changes nothing.
    pub fn pull(&self, keys: Keys<'_>, outs: &[NDArray], _ignore_sparse: bool) -> Result<()> {
        let targets = self.resolve(keys, outs)?;
        apply_pull(&targets, outs)
    }

    /// Push `values` to `vkeys`, then pull `okeys` into `outs`, all validated first.
    pub fn pushpull(
        &self,
        vkeys: Keys<'_>,
        values: &[NDArray],
        okeys: Keys<'_>,
        outs: &[NDArray],
    ) -> Result<()> {
        let pushes = self.resolve(vkeys, values)?;
        let pulls = self.resolve(okeys, outs)?;
        self.apply_push(pushes, values)?;
        apply_pull(&pulls, outs)
    }

    /// Init `vkeys` with `values`, then pull `okeys` into `outs` (reference §3.7).
    pub fn broadcast(
        &self,
        vkeys: Keys<'_>,
        values: &[NDArray],
        okeys: Keys<'_>,
        outs: &[NDArray],
    ) -> Result<()> {
        let pulls = {
            let mut table = self.table.write();
            let new = self.prepare_init(&table, vkeys, values)?;
            let pulls = lookup(&table, Some(&new), okeys)?;
            check_shapes(&pulls, outs)?;
            commit(&mut table, new);
            pulls
        };
        apply_pull(&pulls, outs)
    }

    /// Installs (or, with `None`, removes) the updater.
    pub fn set_updater(&self, updater: Option<Updater>) {
        *self.updater.write() = updater.map(Arc::new);
    }

    pub fn set_gradient_compression(&self, params: GradientCompression) {
        *self.compression.lock() = Some(params);
    }

    pub fn gradient_compression(&self) -> Option<GradientCompression> {
        *self.compression.lock()
    }

    pub fn set_barrier_before_exit(&self, on: bool) {
        self.barrier_before_exit.store(on, Ordering::Relaxed);
    }

    pub fn barrier_before_exit(&self) -> bool {
        self.barrier_before_exit.load(Ordering::Relaxed)
    }

    fn prepare_init<'k>(
        &self,
        table: &KeyTable,
        keys: Keys<'k>,
        values: &[NDArray],
    ) -> Result<NewKeys<'k>> {
        table.check_key_type(keys.kind())?;
        check_counts(keys, values)?;
        let mut added: Vec<(i32, Option<&'k str>, Arc<Entry>)> = Vec::with_capacity(keys.len());
        let mut next_index = table.index.len() as i32;
        for (i, value) in values.iter().enumerate() {
            let (key, name) = match keys {
                Keys::Int(k) => {
                    let key = k[i];
                    if table.entries.contains_key(&key) || added.iter().any(|(a, _, _)| *a == key) {
                        return Err(Error::DuplicateInit(key.to_string()));
                    }
                    (key, None)
                }
                Keys::Str(k) => {
                    let name = k[i];
                    if table.index.contains_key(name)
                        || added.iter().any(|(_, n, _)| *n == Some(name))
                    {
                        return Err(Error::DuplicateInit(name.to_string()));
                    }
                    next_index += 1;
                    (next_index - 1, Some(name))
                }
            };
            if value.is_none() {
                return Err(Error::NoneArray("cannot init a key with it"));
            }
            let entry = Entry {
                stored: value.deep_copy(STORE_CONTEXT)?,
                push_lock: ReentrantMutex::new(()),
            };
            added.push((key, name, Arc::new(entry)));
        }
        Ok(NewKeys {
            kind: keys.kind(),
            added,
        })
    }

    /// Looks the keys up and checks the arrays' shapes against the stored values.
    fn resolve<'k>(&self, keys: Keys<'k>, arrays: &[NDArray]) -> Result<Targets<'k>> {
        check_counts(keys, arrays)?;
        let targets = lookup(&self.table.read(), None, keys)?;
        check_shapes(&targets, arrays)?;
        Ok(targets)
    }

    /// The sum for the updater: the pushed array itself when there is one of the key's
    /// dtype (no copy, as in MXNet), else a sum in the store's scratch buffer.
    fn recv(&self, entry: &Entry, sources: &[&NDArray]) -> NDArray {
        if let ([only], 0) = (sources, sum_bytes(entry, sources)) {
            return (*only).clone();
        }
        let recycled = self
            .scratch
            .lock()
            .take()
            .and_then(|buf| buf.recycle_as(&entry.stored));
        let recv = match recycled {
            Some(buf) => buf,
            None => entry
                .stored
                .like()
                .expect("a buffer the size of a stored value"),
        };
        recv.assign_sum(sources).expect("validated push");
        recv
    }

    /// Makes sure the scratch buffer holds `nbytes`, before the push changes anything: a
    /// push that cannot get the memory fails whole.
    fn reserve_scratch(&self, nbytes: usize) -> Result<()> {
        if nbytes == 0 {
            return Ok(());
        }
        let mut kept = self.scratch.lock();
        if kept.as_ref().map_or(true, |k| k.capacity() < nbytes) {
            let bytes = Shape(vec![nbytes as i64]);
            *kept = Some(NDArray::new(bytes, DType::U8, STORE_CONTEXT)?);
        }
        Ok(())
    }

    /// Keeps `recv` for later pushes if it is a scratch buffer nobody else holds (the
    /// updater may keep its handle) and larger than the one kept.
    fn keep_scratch(&self, recv: NDArray) {
        if recv.is_sole_view() {
            let mut kept = self.scratch.lock();
            if kept
                .as_ref()
                .map_or(true, |k| k.capacity() < recv.capacity())
            {
                *kept = Some(recv);
            }
        }
    }

    /// Groups the pairs by key, ascending, and for each key sums its values into the store
    /// or hands the sum to the updater. Everything was validated before; the one thing that
    /// can still fail, memory for the updater's sums, is reserved before any key changes.
    fn apply_push(&self, targets: Targets<'_>, values: &[NDArray]) -> Result<()> {
        let updater = self.updater.read().clone();
        let updater = updater.as_deref();
        let _one_at_a_time = updater.map(|_| UPDATING.lock());
        if let ([target], [value]) = (&targets[..], values) {
            if updater.is_some() {
                self.reserve_scratch(sum_bytes(&target.entry, &[value]))?;
            }
            self.push_key(target, &[value], updater);
            return Ok(());
        }
        let mut order: Vec<usize> = (0..targets.len()).collect();
        order.sort_by_key(|&i| targets[i].key);
        let groups: Vec<(&Target<'_>, Vec<&NDArray>)> = order
            .chunk_by(|&a, &b| targets[a].key == targets[b].key)
            .map(|g| (&targets[g[0]], g.iter().map(|&i| &values[i]).collect()))
            .collect();
        if updater.is_some() {
            let most = groups
                .iter()
                .map(|(t, sources)| sum_bytes(&t.entry, sources));
            self.reserve_scratch(most.max().unwrap_or(0))?;
        }
        for (target, sources) in &groups {
            self.push_key(target, sources, updater);
        }
        Ok(())
    }

    fn push_key(&self, target: &Target<'_>, sources: &[&NDArray], updater: Option<&Updater>) {
        let entry = &target.entry;
        let _serial = entry.push_lock.lock();
        match updater {
            None => entry.stored.assign_sum(sources).expect("validated push"),
            Some(updater) => {
                let recv = self.recv(entry, sources);
                call_updater(updater, target, recv.clone(), entry.stored.clone());
                self.keep_scratch(recv);
            }
        }
    }
}

/// Bytes of the buffer an updater's `recv` needs for these sources: none when the one pushed
/// array can be handed over as it is.
fn sum_bytes(entry: &Entry, sources: &[&NDArray]) -> usize {
    match sources {
        [only] if only.dtype() == entry.stored.dtype() => 0,
        _ => entry.stored.nbytes(),
    }
}

fn call_updater(updater: &Updater, target: &Target<'_>, recv: NDArray, local: NDArray) {
    match (target.name, &updater.int, &updater.str) {
        (Some(name), _, Some(f)) => f(name, recv, local),
        (_, Some(f), _) => f(target.key, recv, local),
        (None, None, Some(f)) => f(&target.key.to_string(), recv, local),
        (_, None, None) => {}
    }
}

/// Held by a push while it runs updaters, so that updaters run one at a time in the
/// process. An updater may push or pull any key of any store: the only key lock it can
/// wait for is held by a plain copy or sum, which ends without waiting on anything; two
/// updaters on two threads can never hold key locks the other needs.
static UPDATING: ReentrantMutex<()> = const_reentrant_mutex(());

fn commit(table: &mut KeyTable, new: NewKeys<'_>) {
    if new.added.is_empty() {
        return;
    }
    table.key_type = Some(new.kind);
    for (key, name, entry) in new.added {
        if let Some(name) = name {
            table.index.insert(name.to_string(), key);
        }
        table.entries.insert(key, entry);
    }
}

fn check_counts(keys: Keys<'_>, arrays: &[NDArray]) -> Result<()> {
    if keys.len() != arrays.len() {
        return Err(Error::invalid(format!(
            "{} keys but {} arrays",
            keys.len(),
            arrays.len()
        )));
    }
    Ok(())
}

/// Resolves every key of a call against the table (and keys about to be added).
fn lookup<'k>(
    table: &KeyTable,
    pending: Option<&NewKeys<'_>>,
    keys: Keys<'k>,
) -> Result<Targets<'k>> {
    if !keys.is_empty() {
        table.check_key_type(keys.kind())?;
    }
    let find = |key: i32| -> Option<Arc<Entry>> {
        table.entries.get(&key).cloned().or_else(|| {
            pending.and_then(|p| {
                p.added
                    .iter()
                    .find(|(k, _, _)| *k == key)
                    .map(|(_, _, e)| e.clone())
            })
        })
    };
    let index_of = |name: &str| -> Option<i32> {
        table.index.get(name).copied().or_else(|| {
            pending.and_then(|p| {
                p.added
                    .iter()
                    .find(|(_, n, _)| *n == Some(name))
                    .map(|(k, _, _)| *k)
            })
        })
    };
    let mut targets = Targets::with_capacity(keys.len());
    match keys {
        Keys::Int(ks) => {
            for &key in ks {
                let entry = find(key).ok_or(Error::NotInited(key))?;
                targets.push(Target {
                    key,
                    name: None,
                    entry,
                });
            }
        }
        Keys::Str(ks) => {
            for &name in ks {
                let missing = || Error::UnknownKey(name.to_string());
                let key = index_of(name).ok_or_else(missing)?;
                let entry = find(key).ok_or_else(missing)?;
                targets.push(Target {
                    key,
                    name: Some(name),
                    entry,
                });
            }
        }
    }
    Ok(targets)
}

fn check_shapes(targets: &[Target<'_>], arrays: &[NDArray]) -> Result<()> {
    for (t, a) in targets.iter().zip(arrays) {
        if a.is_none() {
            return Err(Error::NoneArray("it cannot be pushed or pulled"));
        }
        t.entry.stored.check_same_shape(a)?;
    }
    Ok(())
}

/// Copies each stored value out. A pull waits for an update of its key in progress on
/// another thread, so it sees the value before or after the update, never half of one.
fn apply_pull(targets: &[Target<'_>], outs: &[NDArray]) -> Result<()> {
    for (t, out) in targets.iter().zip(outs) {
        // A pull into the stored value itself (the updater's `local`) is a no-op.
        if !out.same_memory(&t.entry.stored) {
            let _serial = t.entry.push_lock.lock();
            out.assign_sum(&[&t.entry.stored])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
