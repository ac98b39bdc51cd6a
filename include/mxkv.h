/*
 * mxkv — the Apache MXNet 1.x KVStore C API (KVStore and dense NDArray functions).
 * Drop-in for the matching part of MXNet's c_api.h: same names, signatures and codes.
 * Every function returns 0 on success and -1 on failure (see MXGetLastError).
 *
 * Generated from the Rust source by cbindgen; do not edit.
 */

#ifndef MXKV_H
#define MXKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * mxkv's own major version; `MXKVGetVersion` gives major*10000 + minor*100 + patch.
 */
#define MXKV_VERSION_MAJOR 0

/**
 * mxkv's own minor version.
 */
#define MXKV_VERSION_MINOR 1

/**
 * mxkv's own patch version.
 */
#define MXKV_VERSION_PATCH 0

/**
 * The MXNet API level implemented, as `MXGetVersion` reports it (1.9.1).
 */
#define MXKV_MXNET_VERSION 10901

/**
 * An opaque KVStore handle.
 */
typedef void *KVStoreHandle;

/**
 * `mx_uint` of MXNet's `c_api.h`.
 */
typedef uint32_t mx_uint;

/**
 * An opaque NDArray handle.
 */
typedef void *NDArrayHandle;

/**
 * Called once per pushed key with the summed gradient `recv` and the stored value `local`.
 * The updater owns both handles and must free them with `MXNDArrayFree`; what it writes
 * into `local` is the new stored value.
 */
typedef void (*MXKVStoreUpdater)(int key, NDArrayHandle recv, NDArrayHandle local, void *handle);

/**
 * As `MXKVStoreUpdater`, for string keys.
 */
typedef void (*MXKVStoreStrUpdater)(const char *key, NDArrayHandle recv, NDArrayHandle local, void *handle);

/**
 * Receives the commands that workers send to servers (`MXKVStoreRunServer`).
 */
typedef void (*MXKVStoreServerController)(int head, const char *body, void *controller_handle);

/**
 * `dim_t` of MXNet's `c_api.h`: a 64-bit dimension.
 */
typedef int64_t dim_t;

/**
 * `mx_float` of MXNet's `c_api.h`.
 */
typedef float mx_float;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Version of mxkv itself: `*out = major*10000 + minor*100 + patch`.
 */
int MXKVGetVersion(int *out);

/**
 * The MXNet API level mxkv implements: `*out = 10901` (MXNet 1.9.1).
 */
int MXGetVersion(int *out);

/**
 * Called by frontends at exit. mxkv's local work is always finished when a call returns,
 * so there is nothing left to wait for; returns 0.
 */
int MXNotifyShutdown(void);

/**
 * The message of the last failed call on this thread ("" if none failed). The pointer
 * stays valid until the next failure on this thread; later successes do not clear it.
 */
const char *MXGetLastError(void);

/**
 * Creates a store. `type` is lower-cased; names containing `dist` ask for a distributed
 * store, names containing `nccl` for NCCL (both refused by this build); every other name
 * (`local`, `device`, `local_allreduce_cpu`, …) gives a local store. Free it with
 * `MXKVStoreFree`.
 */
int MXKVStoreCreate(const char *type, KVStoreHandle *out);

/**
 * Frees a store; NULL is accepted and does nothing. Handles of arrays pulled from it stay
 * valid.
 */
int MXKVStoreFree(KVStoreHandle handle);

/**
 * Sets 2-bit gradient compression from `num_params` key/value strings: `type` (required,
 * `2bit`) and `threshold` (> 0, default 0.5), read and refused with MXNet 1.9.1's rules and
 * messages; unknown keys are ignored, a failed call keeps the setting in force. Stores
 * whose name contains `device` then compress each pushed float32 array with a residual per
 * key and pushed-array position (values >= threshold send +threshold, <= -threshold send
 * -threshold, else 0); other local stores keep the setting and sum exactly, as MXNet's.
 * A dist worker with servers sends each push's float32 values 2-bit packed, with a
 * residual per key, and its servers sum them dequantised; it must be set before the first
 * init (big keys are split between packed words). Serverless stores sum exactly.
 */
int MXKVStoreSetGradientCompression(KVStoreHandle handle, mx_uint num_params, const char **keys, const char **vals);

/**
 * Initialises `num` int keys with deep copies of `vals`. A key may be initialised once.
 */
int MXKVStoreInit(KVStoreHandle handle, mx_uint num, const int *keys, NDArrayHandle *vals);

/**
 * As `MXKVStoreInit`, for string keys, which are numbered 0, 1, 2 … in registration order.
 */
int MXKVStoreInitEx(KVStoreHandle handle, mx_uint num, const char **keys, NDArrayHandle *vals);

/**
 * Pushes `num` (key, value) pairs. Values of the same key are summed; without an updater
 * the sum becomes the stored value, with one the updater is called once per key, in
 * ascending key order, on this thread. `priority` is accepted and has no effect.
 */
int MXKVStorePush(KVStoreHandle handle, mx_uint num, const int *keys, NDArrayHandle *vals, int _priority);

/**
 * As `MXKVStorePush`, for string keys.
 */
int MXKVStorePushEx(KVStoreHandle handle, mx_uint num, const char **keys, NDArrayHandle *vals, int _priority);

/**
 * Copies each key's stored value into its output arrays (shapes must match; the dtype
 * converts to the output's). The same key may be given with several outputs.
 */
int MXKVStorePullWithSparse(KVStoreHandle handle, mx_uint num, const int *keys, NDArrayHandle *vals, int _priority, bool ignore_sparse);

/**
 * As `MXKVStorePullWithSparse`, for string keys.
 */
int MXKVStorePullWithSparseEx(KVStoreHandle handle, mx_uint num, const char **keys, NDArrayHandle *vals, int _priority, bool ignore_sparse);

/**
 * `MXKVStorePullWithSparse` with `ignore_sparse` true.
 */
int MXKVStorePull(KVStoreHandle handle, mx_uint num, const int *keys, NDArrayHandle *vals, int _priority);

/**
 * `MXKVStorePullWithSparseEx` with `ignore_sparse` true.
 */
int MXKVStorePullEx(KVStoreHandle handle, mx_uint num, const char **keys, NDArrayHandle *vals, int _priority);

/**
 * Copies rows of row_sparse stored values: for each i, the rows `row_ids[i]` (a dense array
 * of any dtype and shape; ids may repeat and come in any order) of key `keys[i]` into the
 * row_sparse output `vals[i]`, whose indices become the sorted unique ids (rows the key does
 * not store are zeros). Every pair is checked before any output changes.
 */
int MXKVStorePullRowSparse(KVStoreHandle handle, mx_uint num, const int *keys, NDArrayHandle *vals, const NDArrayHandle *row_ids, int _priority);

/**
 * As `MXKVStorePullRowSparse`, for string keys.
 */
int MXKVStorePullRowSparseEx(KVStoreHandle handle, mx_uint num, const char **keys, NDArrayHandle *vals, const NDArrayHandle *row_ids, int _priority);

/**
 * Initialises `vkeys` with `vals`, then pulls `okeys` into `outs`; all checked first.
 */
int MXKVStoreBroadcast(KVStoreHandle handle, mx_uint vnum, const int *vkeys, mx_uint onum, const int *okeys, NDArrayHandle *vals, NDArrayHandle *outs, int _priority);

/**
 * As `MXKVStoreBroadcast`, for string keys (`vkeys` are registered).
 */
int MXKVStoreBroadcastEx(KVStoreHandle handle, mx_uint vnum, const char **vkeys, mx_uint onum, const char **okeys, NDArrayHandle *vals, NDArrayHandle *outs, int _priority);

/**
 * Pushes `vals` to `vkeys`, then pulls `okeys` into `outs` (which may be `vals`); all
 * checked first.
 */
int MXKVStorePushPull(KVStoreHandle handle, mx_uint vnum, const int *vkeys, mx_uint onum, const int *okeys, NDArrayHandle *vals, NDArrayHandle *outs, int _priority);

/**
 * As `MXKVStorePushPull`, for string keys.
 */
int MXKVStorePushPullEx(KVStoreHandle handle, mx_uint vnum, const char **vkeys, mx_uint onum, const char **okeys, NDArrayHandle *vals, NDArrayHandle *outs, int _priority);

/**
 * Sets the updater (NULL removes it). For a string-keyed store it receives each key's
 * registration index. `updater_handle` is passed back on every call. The updater runs on
 * the pushing thread (updaters of different keys at the same time); it owns `recv` and `local`
 * (free them with MXNDArrayFree) and may call any function of the API.
 */
int MXKVStoreSetUpdater(KVStoreHandle handle, MXKVStoreUpdater updater, void *updater_handle);

/**
 * Sets an int-key and a string-key updater. Either may be NULL: the one given serves both
 * key kinds (string keys as their index for the int updater); both NULL removes them.
 */
int MXKVStoreSetUpdaterEx(KVStoreHandle handle, MXKVStoreUpdater updater, MXKVStoreStrUpdater str_updater, void *updater_handle);

/**
 * The store's type: its lower-cased creation name. The string belongs to the store and
 * stays valid until `MXKVStoreFree`.
 */
int MXKVStoreGetType(KVStoreHandle handle, const char **type);

/**
 * This process's rank among the workers (0 for local stores).
 */
int MXKVStoreGetRank(KVStoreHandle handle, int *ret);

/**
 * The number of workers (1 for local stores).
 */
int MXKVStoreGetGroupSize(KVStoreHandle handle, int *ret);

/**
 * How many nodes of group `node_id` have not been heard from for `timeout_sec` seconds
 * (0 for local stores).
 */
int MXKVStoreGetNumDeadNode(KVStoreHandle handle, int node_id, int *number, int timeout_sec);

/**
 * 1 unless this process is a server or scheduler: by its rank under an MPI launcher (the
 * first `DMLC_NUM_SERVER` ranks serve), else by `DMLC_ROLE`.
 */
int MXKVStoreIsWorkerNode(int *ret);

/**
 * 1 when this process is a server: one of the first `DMLC_NUM_SERVER` ranks under an MPI
 * launcher, else when `DMLC_ROLE` is `server`.
 */
int MXKVStoreIsServerNode(int *ret);

/**
 * 1 when `DMLC_ROLE` is `scheduler`.
 */
int MXKVStoreIsSchedulerNode(int *ret);

/**
 * Waits for every worker (returns at once for local stores).
 */
int MXKVStoreBarrier(KVStoreHandle handle);

/**
 * Whether freeing a worker's store waits for the other workers first (default 1).
 */
int MXKVStoreSetBarrierBeforeExit(KVStoreHandle handle, int barrier_before_exit);

/**
 * Runs the server loop until the workers stop it, passing commands to `controller` on
 * this thread. Returns at once for local stores.
 */
int MXKVStoreRunServer(KVStoreHandle handle, MXKVStoreServerController controller, void *controller_handle);

/**
 * Sends a command to every server (ids 0–5 are MXNet's; 0 reaches the controller).
 * A no-op for local stores.
 */
int MXKVStoreSendCommmandToServers(KVStoreHandle handle, int cmd_id, const char *cmd_body);

/**
 * Creates an empty ("none") array handle: no shape, no memory, dtype -1.
 */
int MXNDArrayCreateNone(NDArrayHandle *out);

/**
 * Creates a zero-filled float32 array of `shape[0..ndim]` on context (dev_type, dev_id).
 * Contexts: cpu (1), cpu_pinned (3), cpu_shared (5) with dev_id 0–63; gpu (2) is refused.
 * `delay_alloc` is accepted and ignored. The caller owns `*out` and frees it with
 * `MXNDArrayFree`.
 */
int MXNDArrayCreate(const mx_uint *shape, mx_uint ndim, int dev_type, int dev_id, int delay_alloc, NDArrayHandle *out);

/**
 * As `MXNDArrayCreate`, with a dtype code: 0 float32, 1 float64, 2 float16, 3 uint8,
 * 4 int32, 5 int8, 6 int64, 7 bool, 8 int16, 9 uint16, 10 uint32, 11 uint64, 12 bfloat16.
 */
int MXNDArrayCreateEx(const mx_uint *shape, mx_uint ndim, int dev_type, int dev_id, int _delay_alloc, int dtype, NDArrayHandle *out);

/**
 * As `MXNDArrayCreateEx`, with 64-bit dimensions.
 */
int MXNDArrayCreateEx64(const int64_t *shape, int ndim, int dev_type, int dev_id, int _delay_alloc, int dtype, NDArrayHandle *out);

/**
 * Copies `size` elements (not bytes) of the array's dtype from `data` into the array.
 * `size` must equal the array's element count.
 */
int MXNDArraySyncCopyFromCPU(NDArrayHandle handle, const void *data, size_t size);

/**
 * Copies the array's `size` elements (not bytes) into `data`. `size` must equal the
 * element count.
 */
int MXNDArraySyncCopyToCPU(NDArrayHandle handle, void *data, size_t size);

/**
 * Copies the dense array `handle_src` into `handle_dst`: with `i == -1` into its data (a
 * dense destination: the whole array, same shape; a sparse one: its stored values, whose
 * row count may change), with `i >= 0` into aux array `i` of a sparse destination (a 1-D
 * array of ids). The dtype converts.
 */
int MXNDArraySyncCopyFromNDArray(NDArrayHandle handle_dst, NDArrayHandle handle_src, int i);

/**
 * Waits for pending writes to the array. mxkv finishes all work before a call returns,
 * so this only checks the handle.
 */
int MXNDArrayWaitToRead(NDArrayHandle handle);

/**
 * Waits for pending reads and writes of the array; as `MXNDArrayWaitToRead`.
 */
int MXNDArrayWaitToWrite(NDArrayHandle handle);

/**
 * Waits for all pending work; mxkv has none outstanding, so this returns 0.
 */
int MXNDArrayWaitAll(void);

/**
 * Frees a handle; NULL is accepted and does nothing. The memory lives on while views,
 * stores or other handles use it. Freeing a handle twice is an error, not a crash.
 */
int MXNDArrayFree(NDArrayHandle handle);

/**
 * The shape as uint32 dimensions (deprecated in MXNet). `*out_pdata` points to a
 * per-thread buffer, valid until the next shape call on this thread. A none array has
 * `*out_dim == 0`.
 */
int MXNDArrayGetShape(NDArrayHandle handle, mx_uint *out_dim, const mx_uint **out_pdata);

/**
 * The shape as int dimensions; see `MXNDArrayGetShape`.
 */
int MXNDArrayGetShapeEx(NDArrayHandle handle, int *out_dim, const int **out_pdata);

/**
 * The shape as int64 dimensions; see `MXNDArrayGetShape`.
 */
int MXNDArrayGetShapeEx64(NDArrayHandle handle, int *out_dim, const int64_t **out_pdata);

/**
 * The dtype code (see `MXNDArrayCreateEx`); -1 for a none array.
 */
int MXNDArrayGetDType(NDArrayHandle handle, int *out_dtype);

/**
 * The context: dev_type (1 cpu, 3 cpu_pinned, 5 cpu_shared) and dev_id; (0, 0) for a
 * none array. Values held by a store report cpu_pinned(0), as in MXNet.
 */
int MXNDArrayGetContext(NDArrayHandle handle, int *out_dev_type, int *out_dev_id);

/**
 * The address of the array's first element (of a sparse array: of its stored values; NULL
 * for a none array). Callers may read and write through it; the memory stays valid while
 * any handle or store refers to it.
 */
int MXNDArrayGetData(NDArrayHandle handle, void **out_pdata);

/**
 * The storage type: 0 dense, 1 row_sparse, 2 csr; -1 for a none array.
 */
int MXNDArrayGetStorageType(NDArrayHandle handle, int *out_storage_type);

/**
 * Saves `num_args` arrays to `fname` in MXNet's `.params` format, with names when `keys`
 * is not NULL.
 */
int MXNDArraySave(const char *fname, mx_uint num_args, NDArrayHandle *args, const char **keys);

/**
 * Loads a `.params` file. `*out_arr` (new handles the caller owns and frees) and
 * `*out_names` point to per-thread buffers valid until the next load on this thread;
 * `*out_name_size` is 0 when the file has no names.
 */
int MXNDArrayLoad(const char *fname, mx_uint *out_size, NDArrayHandle **out_arr, mx_uint *out_name_size, const char ***out_names);

/**
 * Serialises one array; `*out_buf` points to a per-thread buffer of `*out_size` bytes,
 * valid until the next call on this thread.
 */
int MXNDArraySaveRawBytes(NDArrayHandle handle, size_t *out_size, const char **out_buf);

/**
 * Creates an array from the bytes of `MXNDArraySaveRawBytes`.
 */
int MXNDArrayLoadFromRawBytes(const void *buf, size_t size, NDArrayHandle *out);

/**
 * Creates a row_sparse (`storage_type` 1) or csr (2) array of `shape[0..ndim]` and
 * `dtype` on (dev_type, dev_id). `num_aux` aux arrays (row_sparse: 1, the row ids; csr:
 * 2, indptr and column ids) have integer dtypes `aux_type[i]` and 1-D shapes, given as
 * `aux_ndims[i]` dimensions each, one after another in `aux_shape`. A row_sparse array
 * with k row ids stores rows 0..k-1, all zero; its data has shape (k, shape[1..]). A csr
 * matrix's data has the length of its column ids. `delay_alloc` is accepted; the blobs
 * are allocated at once. The caller frees `*out` with `MXNDArrayFree`.
 */
int MXNDArrayCreateSparseEx(int storage_type, const mx_uint *shape, mx_uint ndim, int dev_type, int dev_id, int _delay_alloc, int dtype, mx_uint num_aux, int *aux_type, mx_uint *aux_ndims, const mx_uint *aux_shape, NDArrayHandle *out);

/**
 * The dtype code of aux array `i` of a sparse array.
 */
int MXNDArrayGetAuxType(NDArrayHandle handle, mx_uint i, int *out_type);

/**
 * A new dense array holding a copy of aux array `i` of a sparse array (row_sparse: the
 * row ids; csr: 0 indptr, 1 column ids).
 */
int MXNDArrayGetAuxNDArray(NDArrayHandle handle, mx_uint i, NDArrayHandle *out);

/**
 * A new dense array holding a copy of the stored values of a sparse array (of a dense
 * array: a copy of it).
 */
int MXNDArrayGetDataNDArray(NDArrayHandle handle, NDArrayHandle *out);

/**
 * Checks that a sparse array's blobs form a valid array, with MXNet's messages: the
 * shapes of the blobs always; with `full_check` also the ids (row_sparse: ascending,
 * unique, below the row count; csr: indptr from 0, non-decreasing, ending at the number of
 * values, column ids ascending per row and below the column count). Dense arrays pass.
 */
int MXNDArraySyncCheckFormat(NDArrayHandle handle, bool full_check);

/**
 * A view of the same memory with another shape: `dims` may hold one -1 (inferred) and 0s
 * (copy the matching dimension). The element count must not change.
 */
int MXNDArrayReshape(NDArrayHandle handle, int ndim, int *dims, NDArrayHandle *out);

/**
 * As `MXNDArrayReshape`, with 64-bit dimensions; `reverse` matches 0s and -1 from the right.
 */
int MXNDArrayReshape64(NDArrayHandle handle, int ndim, dim_t *dims, bool reverse, NDArrayHandle *out);

/**
 * A view of rows `[slice_begin, slice_end)` along the first dimension.
 */
int MXNDArraySlice(NDArrayHandle handle, mx_uint slice_begin, mx_uint slice_end, NDArrayHandle *out);

/**
 * As `MXNDArraySlice`, with 64-bit indices (negative ones are errors).
 */
int MXNDArraySlice64(NDArrayHandle handle, int64_t slice_begin, int64_t slice_end, NDArrayHandle *out);

/**
 * A view of row `idx`, without the first dimension.
 */
int MXNDArrayAt(NDArrayHandle handle, mx_uint idx, NDArrayHandle *out);

/**
 * As `MXNDArrayAt`, with a 64-bit index.
 */
int MXNDArrayAt64(NDArrayHandle handle, int64_t idx, NDArrayHandle *out);

/**
 * mxkv extension: runs MXNet's update operator `op` in place. `arrays` are the operator's
 * inputs in MXNet's order — e.g. (weight, grad, mom) for `sgd_mom_update`, (weight, grad,
 * mom, weight32) for `mp_sgd_mom_update` — and the result goes into the weight,
 * `arrays[0]`, and the states (`lamb_update_phase1` and `mp_lamb_update_phase1` write
 * their result into one more array after their inputs). `keys`/`vals` are the operator's
 * parameters by MXNet's names, as strings (`"lr"`, `"0.1"`). Operators: MXNet's
 * `sgd_update`, `sgd_mom_update`, `mp_sgd_update`, `mp_sgd_mom_update`, `multi_sgd_update`,
 * `multi_sgd_mom_update`, `multi_mp_sgd_update`, `multi_mp_sgd_mom_update` (`num_weights`
 * weights, their arrays one weight after another, `lrs`/`wds` as tuples `(0.1,0.2)`),
 * `nag_mom_update`, `mp_nag_mom_update`, `adam_update`, `rmsprop_update`,
 * `rmspropalex_update`, `ftrl_update`, `ftml_update`, `signsgd_update`, `signum_update`,
 * `lamb_update_phase1`, `lamb_update_phase2`, `mp_lamb_update_phase1`,
 * `mp_lamb_update_phase2`, and the steps of MXNet's Python optimizers:
 * `mxkv_adagrad_update` (weight, grad, history; `lr`, `wd`, `epsilon`),
 * `mxkv_adadelta_update` (weight, grad, acc_g, acc_delta; `rho`, `epsilon`, `wd`),
 * `mxkv_adamax_update` (weight, grad, mean, var; `lr` already divided by `1 - beta1^t`,
 * `beta1`, `beta2`, `wd`), `mxkv_nadam_update` (weight, grad, mean, var; `lr`, `beta1`,
 * `beta2`, `epsilon`, `wd`, `t`, `momentum_t`, `momentum_t_1`, `m_schedule`,
 * `m_schedule_next`), `mxkv_test_update` (weight, grad), and the step of AI::MXNet's
 * Perl NAG, whose momentum is in gradient units: `mxkv_nag_update` (weight, grad, mom;
 * `lr`, `momentum`, `wd`); each also takes `rescale_grad` and `clip_gradient` (a
 * negative `clip_gradient` does not clip). Arrays are float32, float64 or float16
 * (multi-precision states float32), of one shape, each with its own memory. A bad name,
 * parameter or array fails with nothing changed. Arrays may be row_sparse: with a
 * row_sparse gradient, `sgd_update`, `sgd_mom_update` and `adam_update` update only the
 * rows it stores when `lazy_update` is true (the default) and every row otherwise;
 * `ftrl_update` with row_sparse weight and states and `mxkv_adagrad_update` (then
 * without `wd`) update only those rows; other operators treat rows not stored as zeros.
 * A row_sparse weight must store every row; a row_sparse state storing none is given all
 * rows, zero.
 */
int MXKVOptimizerUpdate(const char *op, mx_uint num_arrays, NDArrayHandle *arrays, mx_uint num_params, const char **keys, const char **vals);

/**
 * mxkv extension: installs MXNet's optimizer `name` (`sgd`, `nag`, `adam`, `rmsprop`,
 * `adagrad`, `adadelta`, `ftrl`, `signum`, `ftml`, `adamax`, `nadam`, `lamb`, `test`; any
 * case) as the store's updater, with its constructor arguments by name as strings
 * (`learning_rate`, `wd`, `rescale_grad`, `clip_gradient`, `multi_precision`,
 * `begin_num_update`, `momentum`, `beta1`, …). Each key's state lives in the store from
 * its first push, in MXNet's layout (float16 keys with `multi_precision=True` keep float32
 * master copies). Replaces any updater; an unknown name or argument fails with nothing
 * changed. A later push of a key that is not float32/float64/float16 fails; so does a push
 * whose keys' new states or scratch arrays cannot be allocated, before any key changes
 * (`out of memory`: no weight, state or update count moves).
 */
int MXKVStoreSetOptimizer(KVStoreHandle handle, const char *name, mx_uint num_params, const char **keys, const char **vals);

/**
 * mxkv extension: saves the states of the store's native optimizer to `fname` in MXNet's
 * `.params` format: per key `<key>:<state>` arrays in MXNet's order (e.g. `3:momentum`,
 * `3:weight32`) and `<key>:count` (int64, the key's update count), and `num_update`.
 */
int MXKVStoreSaveOptimizerStates(KVStoreHandle handle, const char *fname);

/**
 * mxkv extension: replaces the states of the store's native optimizer with those saved in
 * `fname` by `MXKVStoreSaveOptimizerStates`; a bad file changes nothing.
 */
int MXKVStoreLoadOptimizerStates(KVStoreHandle handle, const char *fname);

/**
 * mxkv extension: the names of the state arrays that the store's native optimizer keeps
 * per key, in MXNet's order (the `<state>` of the `<key>:<state>` arrays of
 * `MXKVStoreSaveOptimizerStates`), for a weight updated in place (`master` 0) or through a
 * float32 master copy (`master` 1: a float16 weight with `multi_precision`). The names stay
 * valid until this thread's next call of this function.
 */
int MXKVStoreGetOptimizerStateNames(KVStoreHandle handle, int master, mx_uint *out_size, const char *const **out_names);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MXKV_H */
