"""The KVStore (``mx.kv``), with MXNet 1.x's Python interface over libmxkv's C API.

Keys are ints or strs (one kind per store, fixed by its first call; mixing kinds inside one call
raises AssertionError as in MXNet, across calls the library's MXNetError). A key takes one NDArray,
or a list of them (one per device, summed on push, each filled on pull); a list of keys takes a list
of such values.

Updaters (``_set_updater``, ``set_optimizer``) run on the thread that calls push, with ``recv`` (the
pushed sum) and ``local`` (the stored value: writing into it changes the store). An exception raised
by an updater is re-raised by the push that ran it.
"""

import ctypes
import os
import pickle
import threading

from .base import (_LIB, MXNetError, check_call, c_array, c_handle_array, c_str, c_str_array,
                   integer_types, mx_uint, py_str, string_types)
from .ndarray import NDArray
from .sparse import _ndarray_cls
from . import optimizer as opt
from .kvstore_base import KVStoreBase, TestStore

__all__ = ["KVStore", "KVStoreBase", "TestStore", "create"]

_UPDATER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_STR_UPDATER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def _key_kind(key):
    if isinstance(key, string_types):
        return str
    if isinstance(key, integer_types) or hasattr(key, "__index__") and not isinstance(key, float):
        return int
    raise AssertionError("unexpected type for keys: " + str(type(key)))


def _flatten(keys, vals):
    """(keys, NDArrays) flattened pairwise: a key with a list of values repeats once per value."""
    if isinstance(keys, (tuple, list)):
        assert not isinstance(vals, NDArray), "a list of keys needs a list of values"
        assert len(keys) == len(vals), "the number of keys (%d) doesn't match the number of values (%d)" \
            % (len(keys), len(vals))
        flat_keys, flat_vals, kind = [], [], None
        for key, val in zip(keys, vals):
            sub_keys, sub_vals, sub_kind = _flatten(key, val)
            kind = sub_kind if kind is None else kind
            assert kind == sub_kind, "inconsistent types of keys detected."
            flat_keys += sub_keys
            flat_vals += sub_vals
        return flat_keys, flat_vals, kind
    kind = _key_kind(keys)
    if isinstance(vals, NDArray):
        return [keys], [vals], kind
    vals = list(vals)
    for val in vals:
        assert isinstance(val, NDArray), "values must be NDArrays, got " + str(type(val))
    return [keys] * len(vals), vals, kind


def _c_keys(keys, kind):
    if kind is str:
        return c_str_array(keys)
    return c_array(ctypes.c_int, [int(k) for k in keys])


def _ctype_key_value(keys, vals):
    """ctypes (keys, handles) for a call, and whether the keys are strings."""
    flat_keys, flat_vals, kind = _flatten(keys, vals)
    return _c_keys(flat_keys, kind), c_handle_array(flat_vals), kind is str, len(flat_keys)


class KVStore(KVStoreBase):
    """A key-value store for parameter synchronisation (``mx.kv.create(name)``), in the library."""

    def __init__(self, handle):
        self.handle = handle
        self._updater = None
        self._updater_funcs = None
        self._callback_state = threading.local()

    def __del__(self):
        handle = getattr(self, "handle", None)
        if handle is not None and _LIB is not None:
            _LIB.MXKVStoreFree(handle)

    # -- calls into the store --
    def _call(self, func, *args):
        """Run a C call that may run updaters; re-raise an updater's exception afterwards."""
        state = self._callback_state
        state.error = None
        try:
            check_call(func(*args))
        finally:
            error, state.error = getattr(state, "error", None), None
        if error is not None:
            raise error

    def init(self, key, value):
        """Initialise key(s) with value(s) (deep copies); each key only once."""
        ckeys, cvals, use_str, num = _ctype_key_value(key, value)
        func = _LIB.MXKVStoreInitEx if use_str else _LIB.MXKVStoreInit
        check_call(func(self.handle, mx_uint(num), ckeys, cvals))

    def push(self, key, value, priority=0):
        """Push value(s): the values of one key are summed, then assigned or passed to the updater."""
        ckeys, cvals, use_str, num = _ctype_key_value(key, value)
        func = _LIB.MXKVStorePushEx if use_str else _LIB.MXKVStorePush
        self._call(func, self.handle, mx_uint(num), ckeys, cvals, ctypes.c_int(priority))

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy the stored value(s) into ``out`` (an NDArray, a list per key, or a list of lists)."""
        assert out is not None, "pull needs out="
        ckeys, cvals, use_str, num = _ctype_key_value(key, out)
        func = _LIB.MXKVStorePullWithSparseEx if use_str else _LIB.MXKVStorePullWithSparse
        check_call(func(self.handle, mx_uint(num), ckeys, cvals, ctypes.c_int(priority),
                        ctypes.c_bool(ignore_sparse)))

    def pushpull(self, key, value, out=None, priority=0):
        """Push then pull; without ``out`` the pushed arrays receive the result."""
        ckeys, cvals, use_str, num = _ctype_key_value(key, value)
        if out is None:
            cokeys, couts, onum = ckeys, cvals, num
        else:
            cokeys, couts, _, onum = _ctype_key_value(key, out)
        func = _LIB.MXKVStorePushPullEx if use_str else _LIB.MXKVStorePushPull
        self._call(func, self.handle, mx_uint(num), ckeys, mx_uint(onum), cokeys, cvals, couts,
                   ctypes.c_int(priority))

    def broadcast(self, key, value, out, priority=0):
        """Initialise key(s) with value(s), then pull into ``out``."""
        cvkeys, cvals, use_str, num = _ctype_key_value(key, value)
        cokeys, couts, _, onum = _ctype_key_value(key, out)
        func = _LIB.MXKVStoreBroadcastEx if use_str else _LIB.MXKVStoreBroadcast
        check_call(func(self.handle, mx_uint(num), cvkeys, mx_uint(onum), cokeys, cvals, couts,
                        ctypes.c_int(priority)))

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Pull selected rows into row_sparse outputs (the library checks the storage types)."""
        assert out is not None, "row_sparse_pull needs out="
        assert row_ids is not None, "row_sparse_pull needs row_ids="
        if isinstance(row_ids, NDArray):
            row_ids = [row_ids]
        single_rowid = len(row_ids) == 1
        first_out = out
        if single_rowid and isinstance(out, list) and len(out) > 1:
            first_out = [out[0]]
        ckeys, cvals, use_str, num = _ctype_key_value(key, first_out)
        _, crow_ids, _, rnum = _ctype_key_value(key, row_ids)
        assert num == rnum, "the number of row_ids doesn't match the number of values"
        func = getattr(_LIB, "MXKVStorePullRowSparseEx" if use_str else "MXKVStorePullRowSparse", None)
        if func is None:
            raise NotImplementedError("this libmxkv has no row_sparse support")
        check_call(func(self.handle, mx_uint(num), ckeys, cvals, crow_ids, ctypes.c_int(priority)))
        if first_out is not out:
            for target in out[1:]:
                out[0].copyto(target)

    def set_gradient_compression(self, compression_params):
        """Set 2-bit gradient compression (only for 'device' and 'dist' stores, as in MXNet)."""
        if "device" not in self.type and "dist" not in self.type:
            raise Exception("Gradient compression is not supported for this type of kvstore")
        names = list(compression_params.keys())
        values = [str(compression_params[name]) for name in names]
        check_call(_LIB.MXKVStoreSetGradientCompression(self.handle, mx_uint(len(names)),
                                                        c_str_array(names), c_str_array(values)))

    def set_optimizer(self, optimizer):
        """Run ``optimizer`` on every push: on the servers for a dist worker, else in the store
        here (local stores, and dist stores without servers, DMLC_NUM_SERVER=0, whose
        workers each apply it to the allreduced sum). MXNet's optimizers run natively in the
        library (``opt.native_arguments``); others, and those with a learning-rate scheduler
        or per-parameter multipliers, as a Python updater."""
        is_worker = ctypes.c_int()
        check_call(_LIB.MXKVStoreIsWorkerNode(ctypes.byref(is_worker)))
        serverless = os.environ.get("DMLC_NUM_SERVER") == "0"
        if "dist" in self.type and is_worker.value and not serverless:
            body = py_str(pickle.dumps(optimizer, 0))
            self._send_command_to_servers(0, body)
            if getattr(optimizer, "multi_precision", False):
                self._send_command_to_servers(1, "")
        elif opt.native_arguments(optimizer) is not None:
            # The optimizer runs in the library, its states in the store.
            self._set_updater(None)
            self._updater = opt.NativeUpdater(self.handle, optimizer)
        else:
            self._set_updater(opt.get_updater(optimizer))

    def is_capable(self, capability):
        """Whether the store can run an optimizer ('optimizer')."""
        if capability.lower() == "optimizer":
            return True
        raise MXNetError("Unknown capability: " + capability)

    @property
    def type(self):
        """The store's type name, lower-cased ('local', 'dist_sync', ...)."""
        name = ctypes.c_char_p()
        check_call(_LIB.MXKVStoreGetType(self.handle, ctypes.byref(name)))
        return py_str(name.value)

    @property
    def rank(self):
        """This worker's rank (0 for local stores)."""
        rank = ctypes.c_int()
        check_call(_LIB.MXKVStoreGetRank(self.handle, ctypes.byref(rank)))
        return rank.value

    @property
    def num_workers(self):
        """The number of workers (1 for local stores)."""
        size = ctypes.c_int()
        check_call(_LIB.MXKVStoreGetGroupSize(self.handle, ctypes.byref(size)))
        return size.value

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the optimizer states (and the optimizer itself with ``dump_optimizer``) to a file."""
        assert self._updater is not None, "Cannot save states for distributed training"
        with open(fname, "wb") as fout:
            fout.write(self._updater.get_states(dump_optimizer))

    def load_optimizer_states(self, fname):
        """Read optimizer states written by ``save_optimizer_states``."""
        assert self._updater is not None, "Cannot load states for distributed training"
        with open(fname, "rb") as fin:
            self._updater.set_states(fin.read())

    def _set_updater(self, updater):
        """Call ``updater(key, recv, local)`` on every push (``MXKVStoreSetUpdaterEx``).

        Int keys arrive as int, str keys as bytes (as in MXNet). ``recv`` and ``local`` own the
        handles the library passes and free them when they go away. ``None`` removes the updater."""
        self._updater = updater
        if updater is None:
            check_call(_LIB.MXKVStoreSetUpdaterEx(self.handle, None, None, None))
            self._updater_funcs = None
            return
        state = self._callback_state

        def trampoline(key, recv_handle, local_handle, _):
            recv = _ndarray_cls(ctypes.c_void_p(recv_handle))
            local = _ndarray_cls(ctypes.c_void_p(local_handle))
            if getattr(state, "error", None) is not None:
                return  # an earlier key of this push failed: leave the rest as they are
            try:
                updater(key, recv, local)
            except BaseException as err:  # re-raised by the push, not lost in ctypes
                state.error = err

        funcs = (_UPDATER(trampoline), _STR_UPDATER(trampoline))
        check_call(_LIB.MXKVStoreSetUpdaterEx(self.handle, ctypes.cast(funcs[0], ctypes.c_void_p),
                                              ctypes.cast(funcs[1], ctypes.c_void_p), None))
        self._updater_funcs = funcs  # the C side keeps raw pointers: keep the thunks alive

    def _barrier(self):
        """Wait for all workers (a no-op for local stores)."""
        check_call(_LIB.MXKVStoreBarrier(self.handle))

    def _send_command_to_servers(self, head, body):
        """Send a command to the servers (a no-op for local stores)."""
        check_call(_LIB.MXKVStoreSendCommmandToServers(self.handle, ctypes.c_int(head), c_str(body)))


def create(name="local"):
    """Create a KVStore: a class registered with ``KVStoreBase.register`` under that name, else
    the library's 'local' (and any other name without 'dist'/'nccl') or 'dist_*'."""
    registered = KVStoreBase.lookup(name)
    if registered is not None:
        return registered()
    handle = ctypes.c_void_p()
    check_call(_LIB.MXKVStoreCreate(name.encode("utf-8"), ctypes.byref(handle)))
    return KVStore(handle)
