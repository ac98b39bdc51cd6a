//! `MXKVStore*`: the store API (reference §1.3, spec §3–4).

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use smallvec::SmallVec;

use super::handles::{pin, Guard, HandleKind, HandleMap};
use super::keys::{KeyArg, KeyList};
use super::ndarray::{arrays, new_handle};
use super::{
    boundary, bytes_arg, count, mx_uint, out_arg, str_arg, str_list, KVStoreHandle, NDArrayHandle,
};
use crate::error::{Error, Result};
use crate::kvstore::{GradientCompression, KVStore, Keys, Role, UpdateKey, Updater};
use crate::ndarray::NDArray;

/// Called once per pushed key with the summed gradient `recv` and the stored value `local`.
/// The updater owns both handles and must free them with `MXNDArrayFree`; what it writes
/// into `local` is the new stored value.
pub type MXKVStoreUpdater = Option<
    unsafe extern "C" fn(
        key: c_int,
        recv: NDArrayHandle,
        local: NDArrayHandle,
        handle: *mut c_void,
    ),
>;
/// As `MXKVStoreUpdater`, for string keys.
pub type MXKVStoreStrUpdater = Option<
    unsafe extern "C" fn(
        key: *const c_char,
        recv: NDArrayHandle,
        local: NDArrayHandle,
        handle: *mut c_void,
    ),
>;
/// Receives the commands that workers send to servers (`MXKVStoreRunServer`).
pub type MXKVStoreServerController =
    Option<unsafe extern "C" fn(head: c_int, body: *const c_char, controller_handle: *mut c_void)>;

/// A store as C holds it: the store and its lower-cased name as a C string, whose pointer
/// `MXKVStoreGetType` hands out until the store is freed.
pub(crate) struct CKVStore {
    pub(crate) kv: KVStore,
    type_name: CString,
}

static KVSTORES: HandleMap<Arc<CKVStore>> = HandleMap::new(HandleKind::KVStore);

pub(crate) fn store(handle: KVStoreHandle) -> Result<Arc<CKVStore>> {
    KVSTORES.get(handle)
}

/// The caller's opaque pointer, passed back untouched to its callbacks; the caller is
/// responsible for it being usable from the threads it pushes from.
#[derive(Clone, Copy)]
struct CallerData(*mut c_void);
unsafe impl Send for CallerData {}
unsafe impl Sync for CallerData {}

impl CallerData {
    fn get(self) -> *mut c_void {
        self.0
    }
}

/// A list of keys and the arrays that go with them, as C passes them.
#[derive(Clone, Copy)]
struct KeyedArrays<K> {
    num: mx_uint,
    keys: K,
    arrays: *const NDArrayHandle,
}

impl<K: KeyArg> KeyedArrays<K> {
    fn new(num: mx_uint, keys: K, arrays: *const NDArrayHandle) -> KeyedArrays<K> {
        KeyedArrays { num, keys, arrays }
    }

    /// # Safety
    /// As [`KeyArg::key_list`] and [`arrays`] with `num` entries each.
    #[inline]
    unsafe fn read<'a>(
        self,
        names: (&str, &str),
        pinned: &Guard,
    ) -> Result<(KeyList<'a>, SmallVec<[NDArray; 2]>)> {
        let n = count(self.num);
        Ok((
            self.keys.key_list(n, names.0)?,
            arrays(self.arrays, n, names.1, pinned)?,
        ))
    }
}

/// The body of Init, Push and Pull (int or string keys): one list of keys and arrays.
/// One pin of the handle epoch serves every lookup of the call, the updater's included.
unsafe fn keyed(
    handle: KVStoreHandle,
    args: KeyedArrays<impl KeyArg>,
    op: impl FnOnce(&KVStore, Keys<'_>, &[NDArray]) -> Result<()>,
) -> c_int {
    boundary(|| {
        let lookups = pin();
        let s = KVSTORES.find(handle, &lookups)?;
        let (keys, vals) = args.read(("keys", "vals"), &lookups)?;
        op(&s.kv, keys.keys(), &vals)
    })
}

/// A store call with values for some keys and outputs for others (Broadcast, PushPull).
type KeyedPairOp = fn(&KVStore, Keys<'_>, &[NDArray], Keys<'_>, &[NDArray]) -> Result<()>;

/// The body of Broadcast and PushPull: values for `vkeys`, then outputs for `okeys`.
unsafe fn keyed_pair(
    handle: KVStoreHandle,
    vals: KeyedArrays<impl KeyArg>,
    outs: KeyedArrays<impl KeyArg>,
    op: KeyedPairOp,
) -> c_int {
    boundary(|| {
        let lookups = pin();
        let s = KVSTORES.find(handle, &lookups)?;
        let (vkeys, vals) = vals.read(("vkeys", "vals"), &lookups)?;
        let (okeys, outs) = outs.read(("okeys", "outs"), &lookups)?;
        op(&s.kv, vkeys.keys(), &vals, okeys.keys(), &outs)
    })
}

/// Creates a store. `type` is lower-cased; names containing `dist` ask for a distributed
/// store, names containing `nccl` for NCCL (both refused by this build); every other name
/// (`local`, `device`, `local_allreduce_cpu`, …) gives a local store. Free it with
/// `MXKVStoreFree`.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreCreate(r#type: *const c_char, out: *mut KVStoreHandle) -> c_int {
    boundary(|| {
        let name = str_arg(r#type, "type")?;
        let out = out_arg(out, "out")?;
        with_dist();
        let kv = KVStore::create(name)?;
        let type_name =
            CString::new(kv.type_name()).map_err(|_| Error::invalid("type contains a NUL byte"))?;
        *out = KVSTORES.insert(Arc::new(CKVStore { kv, type_name }));
        Ok(())
    })
}

/// Frees a store; NULL is accepted and does nothing. Handles of arrays pulled from it stay
/// valid.
#[no_mangle]
pub extern "C" fn MXKVStoreFree(handle: KVStoreHandle) -> c_int {
    boundary(|| KVSTORES.free(handle))
}

/// Sets 2-bit gradient compression from `num_params` key/value strings: `type` (required,
/// `2bit`) and `threshold` (> 0, default 0.5), read and refused with MXNet 1.9.1's rules and
/// messages; unknown keys are ignored, a failed call keeps the setting in force. Stores
/// whose name contains `device` then compress each pushed float32 array with a residual per
/// key and pushed-array position (values >= threshold send +threshold, <= -threshold send
/// -threshold, else 0); other local stores keep the setting and sum exactly, as MXNet's.
/// A dist worker with servers sends each push's float32 values 2-bit packed, with a
/// residual per key, and its servers sum them dequantised; it must be set before the first
/// init (big keys are split between packed words). Serverless stores sum exactly.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreSetGradientCompression(
    handle: KVStoreHandle,
    num_params: mx_uint,
    keys: *mut *const c_char,
    vals: *mut *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let keys = str_list(keys, count(num_params), "keys")?;
        let vals = str_list(vals, count(num_params), "vals")?;
        s.kv.set_gradient_compression(GradientCompression::parse(keys.into_iter().zip(vals))?)
    })
}

/// Initialises `num` int keys with deep copies of `vals`. A key may be initialised once.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreInit(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *const c_int,
    vals: *mut NDArrayHandle,
) -> c_int {
    keyed(handle, KeyedArrays::new(num, keys, vals), KVStore::init)
}

/// As `MXKVStoreInit`, for string keys, which are numbered 0, 1, 2 … in registration order.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreInitEx(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *mut *const c_char,
    vals: *mut NDArrayHandle,
) -> c_int {
    keyed(handle, KeyedArrays::new(num, keys, vals), KVStore::init)
}

/// Pushes `num` (key, value) pairs. Values of the same key are summed; without an updater
/// the sum becomes the stored value, with one the updater is called once per key, in
/// ascending key order, on this thread. `priority` is accepted and has no effect.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePush(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *const c_int,
    vals: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    keyed(handle, KeyedArrays::new(num, keys, vals), KVStore::push)
}

/// As `MXKVStorePush`, for string keys.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePushEx(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *mut *const c_char,
    vals: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    keyed(handle, KeyedArrays::new(num, keys, vals), KVStore::push)
}

/// The body of the four pulls.
unsafe fn pull(
    handle: KVStoreHandle,
    args: KeyedArrays<impl KeyArg>,
    ignore_sparse: bool,
) -> c_int {
    keyed(handle, args, |kv, keys, outs| {
        kv.pull(keys, outs, ignore_sparse)
    })
}

/// Copies each key's stored value into its output arrays (shapes must match; the dtype
/// converts to the output's). The same key may be given with several outputs.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePullWithSparse(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *const c_int,
    vals: *mut NDArrayHandle,
    _priority: c_int,
    ignore_sparse: bool,
) -> c_int {
    pull(handle, KeyedArrays::new(num, keys, vals), ignore_sparse)
}

/// As `MXKVStorePullWithSparse`, for string keys.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePullWithSparseEx(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *mut *const c_char,
    vals: *mut NDArrayHandle,
    _priority: c_int,
    ignore_sparse: bool,
) -> c_int {
    pull(handle, KeyedArrays::new(num, keys, vals), ignore_sparse)
}

/// `MXKVStorePullWithSparse` with `ignore_sparse` true.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePull(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *const c_int,
    vals: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    pull(handle, KeyedArrays::new(num, keys, vals), true)
}

/// `MXKVStorePullWithSparseEx` with `ignore_sparse` true.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePullEx(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *mut *const c_char,
    vals: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    pull(handle, KeyedArrays::new(num, keys, vals), true)
}

/// Copies rows of row_sparse stored values: for each i, the rows `row_ids[i]` (a dense array
/// of any dtype and shape; ids may repeat and come in any order) of key `keys[i]` into the
/// row_sparse output `vals[i]`, whose indices become the sorted unique ids (rows the key does
/// not store are zeros). Every pair is checked before any output changes.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePullRowSparse(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *const c_int,
    vals: *mut NDArrayHandle,
    row_ids: *const NDArrayHandle,
    _priority: c_int,
) -> c_int {
    pull_row_sparse(handle, KeyedArrays::new(num, keys, vals), row_ids)
}

/// As `MXKVStorePullRowSparse`, for string keys.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePullRowSparseEx(
    handle: KVStoreHandle,
    num: mx_uint,
    keys: *mut *const c_char,
    vals: *mut NDArrayHandle,
    row_ids: *const NDArrayHandle,
    _priority: c_int,
) -> c_int {
    pull_row_sparse(handle, KeyedArrays::new(num, keys, vals), row_ids)
}

/// The body of the PullRowSparse twins: `num` row id arrays beside the keys and outputs.
unsafe fn pull_row_sparse(
    handle: KVStoreHandle,
    args: KeyedArrays<impl KeyArg>,
    row_ids: *const NDArrayHandle,
) -> c_int {
    let num = args.num;
    keyed(handle, args, |kv, keys, outs| {
        let row_ids = arrays(row_ids, count(num), "row_ids", &pin())?;
        kv.pull_row_sparse(keys, outs, &row_ids)
    })
}

/// Initialises `vkeys` with `vals`, then pulls `okeys` into `outs`; all checked first.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreBroadcast(
    handle: KVStoreHandle,
    vnum: mx_uint,
    vkeys: *const c_int,
    onum: mx_uint,
    okeys: *const c_int,
    vals: *mut NDArrayHandle,
    outs: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    let vals = KeyedArrays::new(vnum, vkeys, vals);
    keyed_pair(
        handle,
        vals,
        KeyedArrays::new(onum, okeys, outs),
        KVStore::broadcast,
    )
}

/// As `MXKVStoreBroadcast`, for string keys (`vkeys` are registered).
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreBroadcastEx(
    handle: KVStoreHandle,
    vnum: mx_uint,
    vkeys: *mut *const c_char,
    onum: mx_uint,
    okeys: *mut *const c_char,
    vals: *mut NDArrayHandle,
    outs: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    let vals = KeyedArrays::new(vnum, vkeys, vals);
    keyed_pair(
        handle,
        vals,
        KeyedArrays::new(onum, okeys, outs),
        KVStore::broadcast,
    )
}

/// Pushes `vals` to `vkeys`, then pulls `okeys` into `outs` (which may be `vals`); all
/// checked first.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePushPull(
    handle: KVStoreHandle,
    vnum: mx_uint,
    vkeys: *const c_int,
    onum: mx_uint,
    okeys: *const c_int,
    vals: *mut NDArrayHandle,
    outs: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    let vals = KeyedArrays::new(vnum, vkeys, vals);
    keyed_pair(
        handle,
        vals,
        KeyedArrays::new(onum, okeys, outs),
        KVStore::pushpull,
    )
}

/// As `MXKVStorePushPull`, for string keys.
#[no_mangle]
pub unsafe extern "C" fn MXKVStorePushPullEx(
    handle: KVStoreHandle,
    vnum: mx_uint,
    vkeys: *mut *const c_char,
    onum: mx_uint,
    okeys: *mut *const c_char,
    vals: *mut NDArrayHandle,
    outs: *mut NDArrayHandle,
    _priority: c_int,
) -> c_int {
    let vals = KeyedArrays::new(vnum, vkeys, vals);
    keyed_pair(
        handle,
        vals,
        KeyedArrays::new(onum, okeys, outs),
        KVStore::pushpull,
    )
}

/// The C updaters of a store. When only one is given it serves both key kinds (spec §4.5):
/// string keys reach the int updater as their registration index, as in MXNet, and int
/// keys reach the string updater as their decimal text.
struct CUpdater {
    int: MXKVStoreUpdater,
    str: MXKVStoreStrUpdater,
    data: CallerData,
}

impl Updater for CUpdater {
    fn update(&self, key: UpdateKey<'_>, recv: NDArray, local: NDArray) -> Result<()> {
        // The updater owns the two new handles.
        let (recv, local) = (new_handle(recv), new_handle(local));
        let data = self.data.get();
        let str_key = |name: &[u8]| CString::new(name).unwrap_or_default();
        match (key, self.int, self.str) {
            (UpdateKey::Str { name, .. }, _, Some(f)) => {
                // Keys came from C strings, so they hold no NUL: the updater gets the same
                // bytes back.
                unsafe { f(str_key(name).as_ptr(), recv, local, data) }
            }
            (key, Some(f), _) => unsafe { f(key.int(), recv, local, data) },
            (UpdateKey::Int(key), None, Some(f)) => unsafe {
                f(
                    str_key(key.to_string().as_bytes()).as_ptr(),
                    recv,
                    local,
                    data,
                )
            },
            (_, None, None) => {}
        }
        Ok(())
    }
}

/// Sets the updater (NULL removes it). For a string-keyed store it receives each key's
/// registration index. `updater_handle` is passed back on every call. The updater runs on
/// the pushing thread (updaters of different keys at the same time); it owns `recv` and `local`
/// (free them with MXNDArrayFree) and may call any function of the API.
#[no_mangle]
pub extern "C" fn MXKVStoreSetUpdater(
    handle: KVStoreHandle,
    updater: MXKVStoreUpdater,
    updater_handle: *mut c_void,
) -> c_int {
    MXKVStoreSetUpdaterEx(handle, updater, None, updater_handle)
}

/// Sets an int-key and a string-key updater. Either may be NULL: the one given serves both
/// key kinds (string keys as their index for the int updater); both NULL removes them.
#[no_mangle]
pub extern "C" fn MXKVStoreSetUpdaterEx(
    handle: KVStoreHandle,
    updater: MXKVStoreUpdater,
    str_updater: MXKVStoreStrUpdater,
    updater_handle: *mut c_void,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        if updater.is_none() && str_updater.is_none() {
            s.kv.remove_updater();
        } else {
            s.kv.set_updater(CUpdater {
                int: updater,
                str: str_updater,
                data: CallerData(updater_handle),
            });
        }
        Ok(())
    })
}

/// The store's type: its lower-cased creation name. The string belongs to the store and
/// stays valid until `MXKVStoreFree`.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreGetType(
    handle: KVStoreHandle,
    r#type: *mut *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        *out_arg(r#type, "type")? = s.type_name.as_ptr();
        Ok(())
    })
}

/// Writes `query(store)` to `*ret`.
unsafe fn store_query(
    handle: KVStoreHandle,
    ret: *mut c_int,
    query: impl FnOnce(&KVStore) -> Result<c_int>,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let ret = out_arg(ret, "ret")?;
        *ret = query(&s.kv)?;
        Ok(())
    })
}

/// This process's rank among the workers (0 for local stores).
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreGetRank(handle: KVStoreHandle, ret: *mut c_int) -> c_int {
    store_query(handle, ret, |kv| Ok(kv.engine().rank()))
}

/// The number of workers (1 for local stores).
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreGetGroupSize(handle: KVStoreHandle, ret: *mut c_int) -> c_int {
    store_query(handle, ret, |kv| Ok(kv.engine().group_size()))
}

/// How many nodes of group `node_id` have not been heard from for `timeout_sec` seconds
/// (0 for local stores).
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreGetNumDeadNode(
    handle: KVStoreHandle,
    node_id: c_int,
    number: *mut c_int,
    timeout_sec: c_int,
) -> c_int {
    store_query(handle, number, |kv| {
        kv.engine().num_dead_nodes(node_id, timeout_sec)
    })
}

/// Gives the store the distributed engine when the library has one.
fn with_dist() {
    #[cfg(feature = "dist")]
    crate::dist::register();
}

unsafe fn role_query(ret: *mut c_int, role: Role) -> c_int {
    boundary(|| {
        with_dist();
        *out_arg(ret, "ret")? = (Role::of_process() == role) as c_int;
        Ok(())
    })
}

/// 1 unless this process is a server or scheduler: by its rank under an MPI launcher (the
/// first `DMLC_NUM_SERVER` ranks serve), else by `DMLC_ROLE`.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreIsWorkerNode(ret: *mut c_int) -> c_int {
    role_query(ret, Role::Worker)
}

/// 1 when this process is a server: one of the first `DMLC_NUM_SERVER` ranks under an MPI
/// launcher, else when `DMLC_ROLE` is `server`.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreIsServerNode(ret: *mut c_int) -> c_int {
    role_query(ret, Role::Server)
}

/// 1 when `DMLC_ROLE` is `scheduler`.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreIsSchedulerNode(ret: *mut c_int) -> c_int {
    role_query(ret, Role::Scheduler)
}

/// Waits for every worker (returns at once for local stores).
#[no_mangle]
pub extern "C" fn MXKVStoreBarrier(handle: KVStoreHandle) -> c_int {
    boundary(|| store(handle)?.kv.engine().barrier())
}

/// Whether freeing a worker's store waits for the other workers first (default 1).
#[no_mangle]
pub extern "C" fn MXKVStoreSetBarrierBeforeExit(
    handle: KVStoreHandle,
    barrier_before_exit: c_int,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        s.kv.set_barrier_before_exit(barrier_before_exit != 0);
        Ok(())
    })
}

/// Runs the server loop until the workers stop it, passing commands to `controller` on
/// this thread. Returns at once for local stores.
#[no_mangle]
pub extern "C" fn MXKVStoreRunServer(
    handle: KVStoreHandle,
    controller: MXKVStoreServerController,
    controller_handle: *mut c_void,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let data = CallerData(controller_handle);
        let mut forward = |head: i32, body: &[u8]| {
            if let (Some(f), Ok(body)) = (controller, CString::new(body)) {
                unsafe { f(head, body.as_ptr(), data.get()) }
            }
        };
        s.kv.run_server(&mut forward)
    })
}

/// Sends a command to every server (ids 0–5 are MXNet's; 0 reaches the controller).
/// A no-op for local stores.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreSendCommmandToServers(
    handle: KVStoreHandle,
    cmd_id: c_int,
    cmd_body: *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let body = if cmd_body.is_null() {
            b""
        } else {
            bytes_arg(cmd_body, "cmd_body")?
        };
        s.kv.engine().send_command_to_servers(cmd_id, body)
    })
}
