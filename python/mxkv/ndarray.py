"""Dense NDArrays on mxkv's C API, with MXNet 1.x's Python interface (``mx.nd``).

Data lives in the library; numpy works on views of it (``MXNDArrayGetData``), so element-wise
arithmetic, ``asnumpy`` and assignment cost no more than numpy's own work, and in-place operators
(``+=``, ``[:] =``) write into the array itself: inside a KVStore updater, ``local += recv`` changes
the stored value. Indexing with an int (``At``) or a step-1 slice (``Slice``) on the first axis gives
views that share memory, as in MXNet; other indexing copies.

dtypes are MXNet's codes 0-12. numpy has no bfloat16: a bfloat16 array's ``asnumpy()`` gives the raw
bits as uint16, its arithmetic runs in float32, and numpy data written into it is taken as raw bits
when its dtype is uint16 and as values otherwise. ``NDArray.dtype`` for it is ``mx.nd.bfloat16``.
"""

import ctypes
import numbers
import operator
import warnings

import numpy as np

from .base import (_LIB, SCOPE, MXNetError, OperatorNotInScopeError, check_call, c_array, c_handle_array,
                   c_str_array, mx_uint, py_str)
from .context import Context, current_context

__all__ = ["NDArray", "empty", "zeros", "ones", "full", "array", "zeros_like", "ones_like", "waitall",
           "save", "load", "bfloat16"]

# MXNet 1.x's stand-in for a numpy bfloat16 type.
bfloat16 = np.dtype([("bfloat16", np.uint16)])

_DTYPE_NP_TO_MX = {
    np.float32: 0, np.float64: 1, np.float16: 2, np.uint8: 3, np.int32: 4, np.int8: 5, np.int64: 6,
    np.bool_: 7, np.int16: 8, np.uint16: 9, np.uint32: 10, np.uint64: 11,
}
_DTYPE_MX_TO_NP = {code: t for t, code in _DTYPE_NP_TO_MX.items()}
_BF16 = 12
_STORAGE_TYPE_STR = {-1: "undefined", 0: "default", 1: "row_sparse", 2: "csr"}

numeric_types = (numbers.Number, np.generic)
integer_types = (numbers.Integral, np.integer)


def _dtype_code(dtype):
    """MXNet's dtype code for a numpy dtype, type, name, or ``bfloat16``."""
    if dtype is None:
        return 0
    if isinstance(dtype, str) and dtype == "bfloat16":
        return _BF16
    if isinstance(dtype, np.dtype) and dtype == bfloat16:
        return _BF16
    try:
        np_type = np.dtype(dtype).type
    except TypeError as err:
        raise TypeError("unsupported dtype %r" % (dtype,)) from err
    if np_type not in _DTYPE_NP_TO_MX:
        raise TypeError("unsupported dtype %r (mxkv has float32/64/16, bfloat16, uint8/16/32/64, "
                        "int8/16/32/64 and bool)" % (dtype,))
    return _DTYPE_NP_TO_MX[np_type]


def _storage_np_type(code):
    """The numpy type that holds the raw elements of dtype ``code``."""
    return np.uint16 if code == _BF16 else _DTYPE_MX_TO_NP[code]


def _bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _f32_to_bf16_bits(values):
    """Round float32 values to bfloat16 (nearest, ties to even), as raw uint16 bits."""
    f32 = np.ascontiguousarray(values, dtype=np.float32)
    u32 = f32.view(np.uint32)
    bits = ((u32 + np.uint32(0x7FFF) + ((u32 >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    nan = np.isnan(f32)
    if nan.any():
        bits[nan] = ((u32[nan] >> 16) | np.uint32(0x40)).astype(np.uint16)
    return bits


def _normalize_shape(shape):
    if isinstance(shape, integer_types):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _new_alloc_handle(shape, ctx, dtype_code):
    """A new dense array handle (``MXNDArrayCreateEx64``, allocated at once)."""
    shape = _normalize_shape(shape)
    handle = ctypes.c_void_p()
    check_call(_LIB.MXNDArrayCreateEx64(c_array(ctypes.c_int64, shape), len(shape), ctx.device_typeid,
                                        ctx.device_id, 0, dtype_code, ctypes.byref(handle)))
    return handle


class NDArray:
    """A dense array owned by libmxkv; the handle is freed when the object goes away."""

    __slots__ = ("handle", "writable", "__weakref__")
    # numpy operators defer to NDArray's (so `np.float32(2) * nd` gives an NDArray).
    __array_ufunc__ = None
    __array_priority__ = 1000.0

    def __init__(self, handle, writable=True):
        if handle is not None and not isinstance(handle, ctypes.c_void_p):
            handle = ctypes.c_void_p(handle)
        self.handle = handle
        self.writable = writable

    def __del__(self):
        handle = getattr(self, "handle", None)
        if handle is not None and _LIB is not None:
            _LIB.MXNDArrayFree(handle)

    # -- pickling (MXNDArraySaveRawBytes / LoadFromRawBytes, MXNet's binary format) --
    def __getstate__(self):
        size = ctypes.c_size_t()
        buf = ctypes.c_void_p()
        check_call(_LIB.MXNDArraySaveRawBytes(self.handle, ctypes.byref(size), ctypes.byref(buf)))
        return {"handle": ctypes.string_at(buf, size.value), "writable": self.writable}

    def __setstate__(self, state):
        raw = state["handle"]
        handle = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayLoadFromRawBytes(raw, len(raw), ctypes.byref(handle)))
        self.handle = handle
        self.writable = state.get("writable", True)

    # -- properties --
    @property
    def shape(self):
        """Tuple of the dimensions."""
        ndim = ctypes.c_int()
        dims = ctypes.POINTER(ctypes.c_int64)()
        check_call(_LIB.MXNDArrayGetShapeEx64(self.handle, ctypes.byref(ndim), ctypes.byref(dims)))
        if ndim.value < 0:
            return None
        return tuple(dims[:ndim.value])

    @property
    def size(self):
        """Number of elements."""
        size = 1
        for dim in self.shape:
            size *= dim
        return size

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self.shape)

    @property
    def _dtype_code(self):
        code = ctypes.c_int()
        check_call(_LIB.MXNDArrayGetDType(self.handle, ctypes.byref(code)))
        return code.value

    @property
    def dtype(self):
        """The numpy type of the elements (``np.float32``, ...; ``mx.nd.bfloat16`` for bfloat16)."""
        code = self._dtype_code
        return bfloat16 if code == _BF16 else _DTYPE_MX_TO_NP[code]

    @property
    def context(self):
        """The device context the array lives on."""
        dev_type = ctypes.c_int()
        dev_id = ctypes.c_int()
        check_call(_LIB.MXNDArrayGetContext(self.handle, ctypes.byref(dev_type), ctypes.byref(dev_id)))
        ctx = Context("cpu", dev_id.value)
        ctx.device_typeid = dev_type.value
        return ctx

    ctx = context

    @property
    def stype(self):
        """Storage type: 'default' (dense)."""
        code = ctypes.c_int()
        check_call(_LIB.MXNDArrayGetStorageType(self.handle, ctypes.byref(code)))
        return _STORAGE_TYPE_STR.get(code.value, str(code.value))

    # -- raw memory --
    def _raw_view(self, write=False):
        """A numpy array on this array's memory (raw storage type: uint16 for bfloat16)."""
        check_call(_LIB.MXNDArrayWaitToWrite(self.handle) if write else _LIB.MXNDArrayWaitToRead(self.handle))
        shape = self.shape
        np_type = np.dtype(_storage_np_type(self._dtype_code))
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return np.empty(shape, dtype=np_type)
        ptr = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayGetData(self.handle, ctypes.byref(ptr)))
        if not ptr.value:
            raise MXNetError("MXNDArrayGetData returned no data for an array of shape %s" % (shape,))
        buf = (ctypes.c_char * (count * np_type.itemsize)).from_address(ptr.value)
        buf.owner = self  # the view keeps the NDArray (and so its memory) alive
        return np.frombuffer(buf, dtype=np_type).reshape(shape)

    def _values(self):
        """The elements as numpy values: a view, or a float32 copy for bfloat16."""
        raw = self._raw_view()
        return _bf16_bits_to_f32(raw) if self._dtype_code == _BF16 else raw

    def _storage_values(self, value):
        """``value`` (scalar, numpy data or NDArray) converted for assignment into the raw view."""
        code = self._dtype_code
        if isinstance(value, NDArray):
            if value._dtype_code == code:
                return value._raw_view()
            value = value._values()
        elif isinstance(value, numeric_types):
            value = np.asarray(value)
        else:
            value = np.asarray(value)
            if code == _BF16 and value.dtype == np.uint16:
                return value
        if code == _BF16:
            return _f32_to_bf16_bits(value)
        if value.dtype == np.bool_ or value.dtype.kind in "biufc":
            return value.astype(_storage_np_type(code), copy=False) if value.ndim == 0 else value
        raise TypeError("cannot assign %s data to an NDArray" % value.dtype)

    def _check_writable(self):
        if not self.writable:
            raise ValueError("trying to write to a readonly NDArray")

    def _assign(self, key, value):
        self._check_writable()
        source = self._storage_values(value)
        view = self._raw_view(write=True)
        try:
            view[key] = source
        except ValueError as err:
            raise MXNetError("cannot assign data of shape %s to an NDArray region of shape %s: %s"
                             % (np.shape(source), np.shape(view[key]), err)) from err

    def _sync_copyfrom(self, source):
        """Copy numpy data of exactly this shape in with ``MXNDArraySyncCopyFromCPU``."""
        source = self._storage_values(source)
        source = np.ascontiguousarray(source, dtype=_storage_np_type(self._dtype_code))
        if source.shape != self.shape:
            raise ValueError("Shape inconsistent: expected %s vs got %s" % (self.shape, source.shape))
        check_call(_LIB.MXNDArraySyncCopyFromCPU(self.handle, source.ctypes.data_as(ctypes.c_void_p),
                                                 ctypes.c_size_t(source.size)))

    # -- conversion --
    def asnumpy(self):
        """A numpy copy of the data (``MXNDArraySyncCopyToCPU``); raw uint16 bits for bfloat16."""
        data = np.empty(self.shape, dtype=_storage_np_type(self._dtype_code))
        check_call(_LIB.MXNDArraySyncCopyToCPU(self.handle, data.ctypes.data_as(ctypes.c_void_p),
                                               ctypes.c_size_t(data.size)))
        return data

    def __array__(self, dtype=None, copy=None):
        data = self.asnumpy()
        return data if dtype is None else data.astype(dtype)

    def asscalar(self):
        """The value of a one-element array."""
        if self.size != 1:
            raise ValueError("The current array is not a scalar")
        return self._values().reshape(-1)[0]

    def astype(self, dtype, copy=True):
        """A copy converted to ``dtype`` (``self`` if ``copy=False`` and the dtype is the same)."""
        code = _dtype_code(dtype)
        if not copy and code == self._dtype_code:
            return self
        out = NDArray(_new_alloc_handle(self.shape, self.context, code))
        out._assign(Ellipsis, self)
        return out

    def copyto(self, other):
        """Copy into ``other`` (an NDArray of the same shape, or a Context for a new array)."""
        if isinstance(other, NDArray):
            if other.handle.value == self.handle.value:
                warnings.warn("You are attempting to copy an array to itself", RuntimeWarning)
                return other
            if other.shape != self.shape:
                raise MXNetError("operands shape mismatch from.shape = %s to.shape=%s"
                                 % (list(self.shape), list(other.shape)))
            other._assign(Ellipsis, self)
            return other
        if isinstance(other, Context):
            out = NDArray(_new_alloc_handle(self.shape, other, self._dtype_code))
            out._assign(Ellipsis, self)
            return out
        raise TypeError("copyto does not support type " + str(type(other)))

    def copy(self):
        """A deep copy on the same context."""
        return self.copyto(self.context)

    def as_in_context(self, context):
        """``self`` if it is on ``context``, else a copy there."""
        return self if self.context == context else self.copyto(context)

    def tostype(self, stype):
        """A copy with storage type ``stype``: 'default', 'row_sparse' (the non-zero rows) or
        'csr' (the non-zero values)."""
        if stype == "default":
            return self.copy()
        return sparse.array(self, ctx=self.context, dtype=self.dtype, stype=stype)

    def reshape(self, *shape, **kwargs):
        """A view with a new shape (``MXNDArrayReshape64``: 0 copies a dim, one -1 is inferred)."""
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        elif not shape:
            shape = kwargs.get("shape")
        shape = _normalize_shape(shape)
        reverse = bool(kwargs.get("reverse", False))
        handle = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayReshape64(self.handle, len(shape), c_array(ctypes.c_int64, shape),
                                           reverse, ctypes.byref(handle)))
        return NDArray(handle, self.writable)

    def wait_to_read(self):
        """Block until pending writes to the array are done."""
        check_call(_LIB.MXNDArrayWaitToRead(self.handle))

    # -- indexing --
    def _at(self, index):
        length = self.shape[0] if self.shape else 0
        index = int(index)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError("index %d is out of bounds for axis 0 with size %d" % (index, length))
        handle = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayAt64(self.handle, index, ctypes.byref(handle)))
        return NDArray(handle, self.writable)

    def _slice(self, begin, end):
        handle = ctypes.c_void_p()
        check_call(_LIB.MXNDArraySlice64(self.handle, begin, end, ctypes.byref(handle)))
        return NDArray(handle, self.writable)

    @staticmethod
    def _is_int(key):
        return isinstance(key, integer_types) and not isinstance(key, (bool, np.bool_))

    def _view_of(self, key):
        """The shared-memory view for ``key``, or None when ``key`` needs a copy."""
        if self._is_int(key):
            return self._at(key)
        if isinstance(key, slice) and key.step in (None, 1) and self.shape:
            begin, end, _ = key.indices(self.shape[0])
            return self._slice(begin, end if end > begin else begin)
        if isinstance(key, tuple):
            view = self
            for position, part in enumerate(key):
                if self._is_int(part):
                    view = view._at(part)
                    continue
                rest = key[position:]
                if len(rest) == 1 and isinstance(part, slice):
                    return view._view_of(part)
                return None
            return view
        return None

    @staticmethod
    def _numpy_key(key):
        if isinstance(key, NDArray):
            return key.asnumpy().astype(np.int64)
        if isinstance(key, tuple):
            return tuple(NDArray._numpy_key(k) for k in key)
        return key

    def __getitem__(self, key):
        view = self._view_of(key)
        if view is not None:
            return view
        selected = self._raw_view()[self._numpy_key(key)]
        if selected.ndim == 0:
            selected = selected.reshape(1)
        out = NDArray(_new_alloc_handle(selected.shape, self.context, self._dtype_code))
        out._raw_view(write=True)[...] = selected
        return out

    def __setitem__(self, key, value):
        self._check_writable()
        whole = isinstance(key, slice) and key == slice(None) or key is Ellipsis
        if whole and isinstance(value, np.ndarray) and value.shape == self.shape:
            self._sync_copyfrom(value)
            return
        self._assign(Ellipsis if whole else self._numpy_key(key), value)

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        for index in range(len(self)):
            yield self._at(index)

    def __bool__(self):
        size = self.size
        if size == 0:
            return False
        if size == 1:
            return bool(self.asscalar())
        raise ValueError("The truth value of an NDArray with multiple elements is ambiguous.")

    def __repr__(self):
        shape = "x".join(str(d) for d in self.shape)
        return "\n%s\n<%s %s @%s>" % (str(self._values()), self.__class__.__name__, shape, self.context)

    # -- arithmetic --
    def _operand(self, other):
        """``other`` as numpy values compatible with this array, or None when unsupported."""
        if isinstance(other, NDArray):
            if other._dtype_code != self._dtype_code:
                raise MXNetError("dtype mismatch: %s vs %s (use astype to convert)"
                                 % (np.dtype(self.dtype), np.dtype(other.dtype)))
            return other._values()
        if isinstance(other, numeric_types):
            if self._dtype_code == _BF16:
                return np.float32(other)
            return np.asarray(other).astype(_storage_np_type(self._dtype_code))
        if isinstance(other, np.ndarray):
            return other
        return None

    def _binary(self, other, func, reflected=False, out=None):
        """``func(self, other)`` (``func(other, self)`` when reflected) element-wise with numpy's
        broadcasting, into ``out`` or a new array of this array's dtype and context."""
        operand = self._operand(other)
        if operand is None:
            return NotImplemented
        values = self._values()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            try:
                result = func(operand, values) if reflected else func(values, operand)
            except ValueError as err:
                raise MXNetError("operands shape mismatch: %s and %s" % (values.shape, np.shape(operand))) from err
        return self._result(result, out)

    def _unary(self, func, out=None):
        """``func`` of the values, into ``out`` or a new array of this array's dtype and context."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._result(func(self._values()), out)

    def _result(self, values, out=None):
        shape = np.shape(values) or (1,)
        if out is None:
            out = NDArray(_new_alloc_handle(shape, self.context, self._dtype_code))
        elif not isinstance(out, NDArray):
            raise TypeError("out must be an NDArray, not %s" % type(out).__name__)
        elif out.shape != shape:
            raise MXNetError("operands shape mismatch: the result has shape %s, out has shape %s"
                             % (shape, out.shape))
        out._assign(Ellipsis, values)
        return out

    def _inplace(self, other, func):
        self._check_writable()
        operand = self._operand(other)
        if operand is None:
            return NotImplemented
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self._dtype_code == _BF16:
                result = func(self._values(), operand)
                if np.shape(result) != self.shape:
                    raise MXNetError("operands shape mismatch: %s and %s" % (self.shape, np.shape(operand)))
                self._assign(Ellipsis, result)
                return self
            view = self._raw_view(write=True)
            try:
                view[...] = func(view, operand)
            except ValueError as err:
                raise MXNetError("operands shape mismatch: %s and %s" % (self.shape, np.shape(operand))) from err
        return self

    def __add__(self, other):
        return self._binary(other, operator.add)

    def __radd__(self, other):
        return self._binary(other, operator.add, reflected=True)

    def __iadd__(self, other):
        return self._inplace(other, operator.add)

    def __sub__(self, other):
        return self._binary(other, operator.sub)

    def __rsub__(self, other):
        return self._binary(other, operator.sub, reflected=True)

    def __isub__(self, other):
        return self._inplace(other, operator.sub)

    def __mul__(self, other):
        return self._binary(other, operator.mul)

    def __rmul__(self, other):
        return self._binary(other, operator.mul, reflected=True)

    def __imul__(self, other):
        return self._inplace(other, operator.mul)

    def __truediv__(self, other):
        return self._binary(other, operator.truediv)

    def __rtruediv__(self, other):
        return self._binary(other, operator.truediv, reflected=True)

    def __itruediv__(self, other):
        return self._inplace(other, operator.truediv)

    def __mod__(self, other):
        return self._binary(other, operator.mod)

    def __rmod__(self, other):
        return self._binary(other, operator.mod, reflected=True)

    def __imod__(self, other):
        return self._inplace(other, operator.mod)

    def __pow__(self, other):
        return self._binary(other, operator.pow)

    def __rpow__(self, other):
        return self._binary(other, operator.pow, reflected=True)

    def __ipow__(self, other):
        return self._inplace(other, operator.pow)

    def __neg__(self):
        return self._binary(-1, operator.mul)

    def __pos__(self):
        return self

    def __abs__(self):
        return self._binary(0, lambda values, _: np.abs(values))

    # Comparisons give 0/1 in the array's dtype, as MXNet's.
    def __eq__(self, other):
        return self._binary(other, operator.eq)

    def __ne__(self, other):
        return self._binary(other, operator.ne)

    def __lt__(self, other):
        return self._binary(other, operator.lt)

    def __le__(self, other):
        return self._binary(other, operator.le)

    def __gt__(self, other):
        return self._binary(other, operator.gt)

    def __ge__(self, other):
        return self._binary(other, operator.ge)

    __hash__ = object.__hash__


def _context(ctx):
    return current_context() if ctx is None else Context(ctx)


def empty(shape, ctx=None, dtype=None, stype=None):
    """A new array whose contents are unspecified (a sparse ``stype`` stores nothing)."""
    if stype not in (None, "default"):
        return sparse.empty(stype, shape, ctx, dtype)
    return NDArray(_new_alloc_handle(shape, _context(ctx), _dtype_code(dtype)))


def full(shape, val, ctx=None, dtype=None, stype=None):
    """A new array filled with ``val``."""
    out = empty(shape, ctx, dtype, stype)
    out._assign(Ellipsis, val)
    return out


def zeros(shape, ctx=None, dtype=None, stype=None, **kwargs):
    """A new array of zeros."""
    return full(shape, 0, ctx, dtype, stype)


def ones(shape, ctx=None, dtype=None, stype=None, **kwargs):
    """A new array of ones."""
    return full(shape, 1, ctx, dtype, stype)


def zeros_like(data):
    """Zeros of ``data``'s shape, dtype and context."""
    return zeros(data.shape, data.context, data.dtype)


def ones_like(data):
    """Ones of ``data``'s shape, dtype and context."""
    return ones(data.shape, data.context, data.dtype)


def array(source_array, ctx=None, dtype=None):
    """A new array holding a copy of ``source_array`` (NDArray, numpy array or nested sequence).

    As in MXNet 1.x, the dtype defaults to the source's for an NDArray and to float32 otherwise.
    Contiguous numpy data of the target dtype is copied once, straight from its buffer."""
    if isinstance(source_array, NDArray):
        code = source_array._dtype_code if dtype is None else _dtype_code(dtype)
        out = NDArray(_new_alloc_handle(source_array.shape, _context(ctx), code))
        out._assign(Ellipsis, source_array)
        return out
    code = _dtype_code(dtype)
    if not isinstance(source_array, np.ndarray):
        try:
            source_array = np.array(source_array, dtype=None if code == _BF16 else _storage_np_type(code))
        except (TypeError, ValueError) as err:
            raise TypeError("source_array must be array like object") from err
    if source_array.ndim == 0:
        source_array = source_array.reshape(1)
    out = NDArray(_new_alloc_handle(source_array.shape, _context(ctx), code))
    out._sync_copyfrom(source_array)
    return out


def waitall():
    """Wait for all pending work (``MXNDArrayWaitAll``)."""
    check_call(_LIB.MXNDArrayWaitAll())


def save(fname, data):
    """Save an NDArray, a list of them or a dict str -> NDArray in MXNet's ``.params`` format."""
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        names = list(data.keys())
        if not all(isinstance(name, str) for name in names):
            raise TypeError("save only accepts dict str->NDArray or list of NDArray")
        arrays = [data[name] for name in names]
        c_names = c_str_array(names)
    elif isinstance(data, (list, tuple)):
        arrays = list(data)
        c_names = None
    else:
        raise TypeError("save only accepts dict str->NDArray or list of NDArray")
    if not all(isinstance(a, NDArray) for a in arrays):
        raise TypeError("save only accepts dict str->NDArray or list of NDArray")
    check_call(_LIB.MXNDArraySave(fname.encode("utf-8"), mx_uint(len(arrays)), c_handle_array(arrays), c_names))


def load(fname):
    """Load a ``.params`` file: a list of NDArrays, or a dict when the file has names."""
    count = mx_uint()
    name_count = mx_uint()
    handles = ctypes.POINTER(ctypes.c_void_p)()
    names = ctypes.POINTER(ctypes.c_char_p)()
    check_call(_LIB.MXNDArrayLoad(fname.encode("utf-8"), ctypes.byref(count), ctypes.byref(handles),
                                  ctypes.byref(name_count), ctypes.byref(names)))
    arrays = [sparse._ndarray_cls(ctypes.c_void_p(handles[i])) for i in range(count.value)]
    if name_count.value == 0:
        return arrays
    return {py_str(names[i]): arrays[i] for i in range(name_count.value)}


# Element-wise math, reductions and joins live in ndarray_math (it builds on NDArray above);
# ``mx.nd`` offers them as functions and NDArray as methods (``x.sqrt()`` is ``mx.nd.sqrt(x)``).
# As in MXNet, ``max``, ``min``, ``sum``, ``abs`` and ``round`` then shadow the builtins here.
from . import ndarray_math as _math  # noqa: E402  pylint: disable=wrong-import-position
from . import sparse  # noqa: E402  pylint: disable=wrong-import-position
from .ndarray_math import *  # noqa: E402,F401,F403  pylint: disable=wrong-import-position,wildcard-import

__all__ += _math.__all__

# mx.nd.random is mx.random, as in MXNet (mx.nd.random.uniform(...)).
from . import random  # noqa: E402  pylint: disable=wrong-import-position


for _name in ("sqrt", "rsqrt", "cbrt", "square", "abs", "sign", "reciprocal", "exp", "expm1", "log",
              "log1p", "log2", "log10", "floor", "ceil", "round", "rint", "fix", "trunc", "sin", "cos",
              "tan", "tanh", "sigmoid", "relu", "clip", "norm", "sum", "mean", "max", "min", "prod"):
    setattr(NDArray, _name, getattr(_math, _name))
del _name


def __getattr__(name):
    """``mx.nd.<operator>`` that mxkv does not provide names mxkv's scope."""
    if name.startswith("_"):
        raise AttributeError("module 'mxkv.ndarray' has no attribute %r" % name)
    raise OperatorNotInScopeError("mx.nd.%s is not part of mxkv: %s" % (name, SCOPE))
