//! `MXKV*Optimizer*`: mxkv's optimizer extensions (not in MXNet). One call runs an update
//! operator of MXNet's (`sgd_mom_update`, `adam_update`, …) in place on arrays, as the
//! Perl and Python optimizers do; the others install one of MXNet's optimizers as a store's
//! updater by name and arguments, and save or load its per-key states.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use super::handles::pin;
use super::kvstore::{store, CKVStore};
use super::ndarray::arrays as array_list;
use super::{
    boundary, count, mx_uint, out_arg, path_arg, str_arg, str_list, with_thread_buffer,
    KVStoreHandle, NDArrayHandle,
};
use crate::error::{Error, Result};
use crate::ndarray::io;
use crate::optimizer::{self, Optimizer, StoreOptimizer};

/// Stores and their native optimizers, both held weakly.
type Installed = Vec<(Weak<CKVStore>, Weak<Optimizer>)>;

/// The native optimizer of each store that has one: the store owns it as its updater, so
/// replacing the updater or freeing the store ends it here too.
static INSTALLED: LazyLock<Mutex<Installed>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn installed(s: &Arc<CKVStore>) -> Result<Arc<Optimizer>> {
    INSTALLED
        .lock()
        .iter()
        .find(|(st, _)| st.upgrade().is_some_and(|st| Arc::ptr_eq(&st, s)))
        .and_then(|(_, opt)| opt.upgrade())
        .ok_or_else(|| {
            Error::invalid("the store has no native optimizer (set one with MXKVStoreSetOptimizer)")
        })
}

/// `num_params` parameter names and values as pairs.
unsafe fn params<'a>(
    num_params: mx_uint,
    keys: *mut *const c_char,
    vals: *mut *const c_char,
) -> Result<Vec<(&'a str, &'a str)>> {
    let keys = str_list(keys, count(num_params), "keys")?;
    let vals = str_list(vals, count(num_params), "vals")?;
    Ok(keys.into_iter().zip(vals).collect())
}

/// mxkv extension: runs MXNet's update operator `op` in place. `arrays` are the operator's
/// inputs in MXNet's order — e.g. (weight, grad, mom) for `sgd_mom_update`, (weight, grad,
/// mom, weight32) for `mp_sgd_mom_update` — and the result goes into the weight,
/// `arrays[0]`, and the states (`lamb_update_phase1` and `mp_lamb_update_phase1` write
/// their result into one more array after their inputs). `keys`/`vals` are the operator's
/// parameters by MXNet's names, as strings (`"lr"`, `"0.1"`). Operators: MXNet's
/// `sgd_update`, `sgd_mom_update`, `mp_sgd_update`, `mp_sgd_mom_update`, `multi_sgd_update`,
/// `multi_sgd_mom_update`, `multi_mp_sgd_update`, `multi_mp_sgd_mom_update` (`num_weights`
/// weights, their arrays one weight after another, `lrs`/`wds` as tuples `(0.1,0.2)`),
/// `nag_mom_update`, `mp_nag_mom_update`, `adam_update`, `rmsprop_update`,
/// `rmspropalex_update`, `ftrl_update`, `ftml_update`, `signsgd_update`, `signum_update`,
/// `lamb_update_phase1`, `lamb_update_phase2`, `mp_lamb_update_phase1`,
/// `mp_lamb_update_phase2`, and the steps of MXNet's Python optimizers:
/// `mxkv_adagrad_update` (weight, grad, history; `lr`, `wd`, `epsilon`),
/// `mxkv_adadelta_update` (weight, grad, acc_g, acc_delta; `rho`, `epsilon`, `wd`),
/// `mxkv_adamax_update` (weight, grad, mean, var; `lr` already divided by `1 - beta1^t`,
/// `beta1`, `beta2`, `wd`), `mxkv_nadam_update` (weight, grad, mean, var; `lr`, `beta1`,
/// `beta2`, `epsilon`, `wd`, `t`, `momentum_t`, `momentum_t_1`, `m_schedule`,
/// `m_schedule_next`), `mxkv_test_update` (weight, grad), and the step of AI::MXNet's
/// Perl NAG, whose momentum is in gradient units: `mxkv_nag_update` (weight, grad, mom;
/// `lr`, `momentum`, `wd`); each also takes `rescale_grad` and `clip_gradient` (a
/// negative `clip_gradient` does not clip). Arrays are float32, float64 or float16
/// (multi-precision states float32), of one shape, each with its own memory. A bad name,
/// parameter or array fails with nothing changed. Arrays may be row_sparse: with a
/// row_sparse gradient, `sgd_update`, `sgd_mom_update` and `adam_update` update only the
/// rows it stores when `lazy_update` is true (the default) and every row otherwise;
/// `ftrl_update` with row_sparse weight and states and `mxkv_adagrad_update` (then
/// without `wd`) update only those rows; other operators treat rows not stored as zeros.
/// A row_sparse weight must store every row; a row_sparse state storing none is given all
/// rows, zero.
#[no_mangle]
pub unsafe extern "C" fn MXKVOptimizerUpdate(
    op: *const c_char,
    num_arrays: mx_uint,
    arrays: *mut NDArrayHandle,
    num_params: mx_uint,
    keys: *mut *const c_char,
    vals: *mut *const c_char,
) -> c_int {
    boundary(|| {
        let op = str_arg(op, "op")?;
        let arrays = array_list(arrays, count(num_arrays), "arrays", &pin())?;
        let params = params(num_params, keys, vals)?;
        optimizer::apply(op, &arrays.iter().collect::<Vec<_>>(), &params)
    })
}

/// mxkv extension: installs MXNet's optimizer `name` (`sgd`, `nag`, `adam`, `rmsprop`,
/// `adagrad`, `adadelta`, `ftrl`, `signum`, `ftml`, `adamax`, `nadam`, `lamb`, `test`; any
/// case) as the store's updater, with its constructor arguments by name as strings
/// (`learning_rate`, `wd`, `rescale_grad`, `clip_gradient`, `multi_precision`,
/// `begin_num_update`, `momentum`, `beta1`, …). Each key's state lives in the store from
/// its first push, in MXNet's layout (float16 keys with `multi_precision=True` keep float32
/// master copies). Replaces any updater; an unknown name or argument fails with nothing
/// changed. A later push of a key that is not float32/float64/float16 fails; so does a push
/// whose keys' new states or scratch arrays cannot be allocated, before any key changes
/// (`out of memory`: no weight, state or update count moves).
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreSetOptimizer(
    handle: KVStoreHandle,
    name: *const c_char,
    num_params: mx_uint,
    keys: *mut *const c_char,
    vals: *mut *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let name = str_arg(name, "name")?;
        let opt = Arc::new(Optimizer::create(name, &params(num_params, keys, vals)?)?);
        let mut table = INSTALLED.lock();
        table.retain(|(st, o)| st.strong_count() > 0 && o.strong_count() > 0);
        table.retain(|(st, _)| !st.upgrade().is_some_and(|st| Arc::ptr_eq(&st, &s)));
        table.push((Arc::downgrade(&s), Arc::downgrade(&opt)));
        s.kv.set_updater(StoreOptimizer(opt));
        Ok(())
    })
}

/// mxkv extension: saves the states of the store's native optimizer to `fname` in MXNet's
/// `.params` format: per key `<key>:<state>` arrays in MXNet's order (e.g. `3:momentum`,
/// `3:weight32`) and `<key>:count` (int64, the key's update count), and `num_update`.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreSaveOptimizerStates(
    handle: KVStoreHandle,
    fname: *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let fname = path_arg(fname, "fname")?;
        let (arrays, names) = installed(&s)?.states()?;
        io::save_file(fname, &arrays, &names)
    })
}

/// mxkv extension: replaces the states of the store's native optimizer with those saved in
/// `fname` by `MXKVStoreSaveOptimizerStates`; a bad file changes nothing.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreLoadOptimizerStates(
    handle: KVStoreHandle,
    fname: *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let fname = path_arg(fname, "fname")?;
        let opt = installed(&s)?;
        let (arrays, names) = io::load_file(fname)?;
        opt.set_states(&arrays, &names)
    })
}

thread_local! {
    /// The names `MXKVStoreGetOptimizerStateNames` gives, and their pointers.
    static STATE_NAMES: RefCell<(Vec<CString>, Vec<*const c_char>)> =
        const { RefCell::new((Vec::new(), Vec::new())) };
}

/// mxkv extension: the names of the state arrays that the store's native optimizer keeps
/// per key, in MXNet's order (the `<state>` of the `<key>:<state>` arrays of
/// `MXKVStoreSaveOptimizerStates`), for a weight updated in place (`master` 0) or through a
/// float32 master copy (`master` 1: a float16 weight with `multi_precision`). The names stay
/// valid until this thread's next call of this function.
#[no_mangle]
pub unsafe extern "C" fn MXKVStoreGetOptimizerStateNames(
    handle: KVStoreHandle,
    master: c_int,
    out_size: *mut mx_uint,
    out_names: *mut *const *const c_char,
) -> c_int {
    boundary(|| {
        let s = store(handle)?;
        let out_size = out_arg(out_size, "out_size")?;
        let out_names = out_arg(out_names, "out_names")?;
        let names = installed(&s)?.state_names(master != 0);
        with_thread_buffer(&STATE_NAMES, |(strings, pointers)| {
            *strings = names
                .iter()
                .map(|n| CString::new(*n).expect("state names have no NUL"))
                .collect();
            *pointers = strings.iter().map(|c| c.as_ptr()).collect();
            *out_size = pointers.len() as mx_uint;
            *out_names = pointers.as_ptr();
        })
    })
}
