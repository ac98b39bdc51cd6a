"""Loading libmxkv, declaring its C functions, and turning its errors into exceptions.

The library is looked up in this order:
1. the file named by the environment variable ``MXKV_LIBRARY``;
2. ``libmxkv.so`` inside this package, where building the package puts it (``pip install ./python``,
   a wheel);
3. ``target/release/libmxkv.so`` of the source tree this package sits in;
4. the system (``ctypes.util.find_library('mxkv')``, then ``libmxkv.so.0`` by name).
"""

import ctypes
import ctypes.util
import os

__all__ = ["MXNetError", "NotInScopeError", "OperatorNotInScopeError", "check_call", "mx_uint",
           "NDArrayHandle", "KVStoreHandle", "py_str", "c_str", "string_types", "integer_types",
           "library_path", "last_error_message"]

mx_uint = ctypes.c_uint32
dim_t = ctypes.c_int64
NDArrayHandle = ctypes.c_void_p
KVStoreHandle = ctypes.c_void_p

string_types = (str,)
integer_types = (int,)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class MXNetError(RuntimeError):
    """An error reported by the library (the text of ``MXGetLastError``)."""


class NotInScopeError(MXNetError, NotImplementedError):
    """A part of MXNet that mxkv does not provide (symbols, autograd, Gluon, Module, ...)."""


class OperatorNotInScopeError(NotInScopeError, AttributeError):
    """An ``mx.nd`` operator that mxkv does not provide; also an AttributeError, so ``hasattr``
    and ``getattr`` with a default treat it as absent."""


SCOPE = ("mxkv provides MXNet's KVStore with NDArrays as data carriers (nd, kv, optimizer, "
         "lr_scheduler, random, test_utils, context); symbols, autograd, Gluon, Module, data "
         "iterators and the operator library are outside its scope")


class _TypedErrors:
    """``MXNetError`` subclasses that also derive from a builtin exception, chosen by the word
    before the first colon of the message (reference §1.2: the class-name convention)."""

    def __init__(self):
        self.classes = {"MXNetError": MXNetError}
        for builtin in (ValueError, TypeError, IndexError, AttributeError, NotImplementedError):
            self.classes[builtin.__name__] = type(builtin.__name__, (MXNetError, builtin), {})

    def lookup(self, name):
        return self.classes.get(name, MXNetError)


_ERRORS = _TypedErrors()


def py_str(x):
    """bytes from C as str."""
    return x.decode("utf-8") if isinstance(x, bytes) else x


def c_str(s):
    """str as C ``const char*`` argument."""
    return ctypes.c_char_p(s.encode("utf-8"))


def _library_candidates(env=None, package_dir=_PACKAGE_DIR):
    """Paths (or sonames) to try, in order; see the module docstring."""
    env = os.environ if env is None else env
    candidates = []
    explicit = env.get("MXKV_LIBRARY")
    if explicit:
        candidates.append(explicit)
    candidates.append(os.path.join(package_dir, "libmxkv.so"))
    repo_root = os.path.dirname(os.path.dirname(package_dir))
    candidates.append(os.path.join(repo_root, "target", "release", "libmxkv.so"))
    found = ctypes.util.find_library("mxkv")
    if found:
        candidates.append(found)
    candidates.append("libmxkv.so.0")
    return candidates


def _load_lib():
    explicit = os.environ.get("MXKV_LIBRARY")
    if explicit and not os.path.exists(explicit):
        raise OSError("MXKV_LIBRARY=%s: no such file" % explicit)
    errors = []
    for candidate in _library_candidates():
        if os.path.sep in candidate and not os.path.exists(candidate):
            continue
        try:
            lib = ctypes.CDLL(candidate, ctypes.RTLD_LOCAL)
        except OSError as err:
            errors.append("%s: %s" % (candidate, err))
            continue
        lib.MXGetLastError.restype = ctypes.c_char_p
        lib.MXGetLastError.argtypes = []
        _declare(lib)
        return lib, candidate
    raise OSError("cannot find libmxkv: set MXKV_LIBRARY to the path of libmxkv.so, build it "
                  "with `cargo build --release`, or install it with `make install`"
                  + ("".join("\n  " + e for e in errors)))


_p = ctypes.POINTER
_vp = ctypes.c_void_p
_i = ctypes.c_int
_u = mx_uint
_cp = ctypes.c_char_p

# Every function this package calls, with MXNet 1.9.1's C signature (reference §1.3, §2.2).
_SIGNATURES = {
    "MXGetVersion": [_p(_i)],
    "MXKVGetVersion": [_p(_i)],
    "MXNotifyShutdown": [],
    "MXKVStoreCreate": [_cp, _p(_vp)],
    "MXKVStoreFree": [_vp],
    "MXKVStoreSetGradientCompression": [_vp, _u, _p(_cp), _p(_cp)],
    "MXKVStoreInit": [_vp, _u, _p(_i), _p(_vp)],
    "MXKVStoreInitEx": [_vp, _u, _p(_cp), _p(_vp)],
    "MXKVStorePush": [_vp, _u, _p(_i), _p(_vp), _i],
    "MXKVStorePushEx": [_vp, _u, _p(_cp), _p(_vp), _i],
    "MXKVStorePullWithSparse": [_vp, _u, _p(_i), _p(_vp), _i, ctypes.c_bool],
    "MXKVStorePullWithSparseEx": [_vp, _u, _p(_cp), _p(_vp), _i, ctypes.c_bool],
    "MXKVStorePullRowSparse": [_vp, _u, _p(_i), _p(_vp), _p(_vp), _i],
    "MXKVStorePullRowSparseEx": [_vp, _u, _p(_cp), _p(_vp), _p(_vp), _i],
    "MXKVStoreBroadcast": [_vp, _u, _p(_i), _u, _p(_i), _p(_vp), _p(_vp), _i],
    "MXKVStoreBroadcastEx": [_vp, _u, _p(_cp), _u, _p(_cp), _p(_vp), _p(_vp), _i],
    "MXKVStorePushPull": [_vp, _u, _p(_i), _u, _p(_i), _p(_vp), _p(_vp), _i],
    "MXKVStorePushPullEx": [_vp, _u, _p(_cp), _u, _p(_cp), _p(_vp), _p(_vp), _i],
    "MXKVStoreSetUpdaterEx": [_vp, _vp, _vp, _vp],
    "MXKVStoreGetType": [_vp, _p(_cp)],
    "MXKVStoreGetRank": [_vp, _p(_i)],
    "MXKVStoreGetGroupSize": [_vp, _p(_i)],
    "MXKVStoreIsWorkerNode": [_p(_i)],
    "MXKVStoreIsServerNode": [_p(_i)],
    "MXKVStoreIsSchedulerNode": [_p(_i)],
    "MXKVStoreBarrier": [_vp],
    "MXKVStoreSetBarrierBeforeExit": [_vp, _i],
    "MXKVStoreRunServer": [_vp, _vp, _vp],
    "MXKVStoreSendCommmandToServers": [_vp, _i, _cp],
    "MXKVStoreGetNumDeadNode": [_vp, _i, _p(_i), _i],
    "MXNDArrayCreateNone": [_p(_vp)],
    "MXNDArrayCreateEx64": [_p(dim_t), _i, _i, _i, _i, _i, _p(_vp)],
    "MXNDArraySyncCopyFromCPU": [_vp, _vp, ctypes.c_size_t],
    "MXNDArraySyncCopyToCPU": [_vp, _vp, ctypes.c_size_t],
    "MXNDArrayWaitToRead": [_vp],
    "MXNDArrayWaitToWrite": [_vp],
    "MXNDArrayWaitAll": [],
    "MXNDArrayFree": [_vp],
    "MXNDArrayGetShapeEx64": [_vp, _p(_i), _p(_p(dim_t))],
    "MXNDArrayGetDType": [_vp, _p(_i)],
    "MXNDArrayGetContext": [_vp, _p(_i), _p(_i)],
    "MXNDArrayGetData": [_vp, _p(_vp)],
    "MXNDArrayGetStorageType": [_vp, _p(_i)],
    "MXNDArrayReshape64": [_vp, _i, _p(dim_t), ctypes.c_bool, _p(_vp)],
    "MXNDArraySlice64": [_vp, ctypes.c_int64, ctypes.c_int64, _p(_vp)],
    "MXNDArrayAt64": [_vp, ctypes.c_int64, _p(_vp)],
    "MXNDArrayCreateSparseEx": [_i, _p(_u), _u, _i, _i, _i, _i, _u, _p(_i), _p(_u), _p(_u), _p(_vp)],
    "MXNDArrayGetAuxType": [_vp, _u, _p(_i)],
    "MXNDArrayGetAuxNDArray": [_vp, _u, _p(_vp)],
    "MXNDArrayGetDataNDArray": [_vp, _p(_vp)],
    "MXNDArraySyncCopyFromNDArray": [_vp, _vp, _i],
    "MXNDArraySyncCheckFormat": [_vp, ctypes.c_bool],
    "MXNDArraySave": [_cp, _u, _p(_vp), _p(_cp)],
    "MXNDArrayLoad": [_cp, _p(_u), _p(_p(_vp)), _p(_u), _p(_p(_cp))],
    "MXNDArraySaveRawBytes": [_vp, _p(ctypes.c_size_t), _p(_vp)],
    "MXNDArrayLoadFromRawBytes": [_vp, ctypes.c_size_t, _p(_vp)],
}


def _declare(lib):
    for name, argtypes in _SIGNATURES.items():
        func = getattr(lib, name, None)
        if func is None:
            continue
        func.argtypes = argtypes
        func.restype = ctypes.c_int


_LIB, _LIB_PATH = _load_lib()


def last_error_message():
    """The calling thread's ``MXGetLastError`` text."""
    return py_str(_LIB.MXGetLastError() or b"")


def _error_from_message(text):
    """An exception for a library message: ``<ErrorType>: <message>`` on the first line."""
    first, _, rest = text.partition("\n")
    name, sep, message = first.partition(": ")
    if not sep or not name.isidentifier():
        return MXNetError(text.strip())
    body = message if not rest.strip() else message + "\n" + rest.rstrip()
    return _ERRORS.lookup(name)(body)


def check_call(ret):
    """Raise the library's error if a C call returned non-zero."""
    if ret != 0:
        raise _error_from_message(last_error_message())


def library_path():
    """The path (or soname) libmxkv was loaded from."""
    return _LIB_PATH


def c_array(ctype, values):
    """A ctypes array of ``ctype`` holding ``values``."""
    return (ctype * len(values))(*values)


def c_str_array(strings):
    """A ``const char**`` array of ``strings``."""
    return (ctypes.c_char_p * len(strings))(*[s.encode("utf-8") for s in strings])


def c_handle_array(objs):
    """A ``void**`` array of the handles of ``objs``."""
    return (ctypes.c_void_p * len(objs))(*[o.handle for o in objs])
