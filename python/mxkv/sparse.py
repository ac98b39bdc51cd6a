"""Sparse NDArrays (``mx.nd.sparse``): row_sparse and csr arrays on mxkv's C API.

A row_sparse array of shape (R, ...) stores k of its R rows: ``data`` (k, ...) and ``indices``
(k row ids, int64, ascending). A csr matrix stores ``data``, ``indices`` (column ids) and
``indptr``. The library keeps the blobs and checks their format (``MXNDArraySyncCheckFormat``,
and every store call that takes a sparse array); this module builds the blobs from numpy data
and reads them back. Arithmetic works on the dense values: a row_sparse result keeps the rows
of its operands, as MXNet's ``elemwise_add`` and scalar operators do.
"""

import ctypes

import numpy as np

from .base import _LIB, check_call, c_array, mx_uint
from .context import Context, current_context
from .ndarray import NDArray, _dtype_code, _new_alloc_handle, _storage_np_type, numeric_types
from .ndarray import array as _dense_array

__all__ = ["BaseSparseNDArray", "RowSparseNDArray", "CSRNDArray", "row_sparse_array",
           "csr_matrix", "zeros", "empty", "array"]

_STORAGE_CODE = {"default": 0, "row_sparse": 1, "csr": 2}
_INT64 = 6


def _context(ctx):
    return current_context() if ctx is None else Context(ctx)


def _new_sparse_handle(stype, shape, ctx, dtype_code, aux_lengths):
    """A new sparse handle (``MXNDArrayCreateSparseEx``) with int64 aux arrays of these lengths."""
    shape = tuple(int(d) for d in shape)
    count = len(aux_lengths)
    handle = ctypes.c_void_p()
    check_call(_LIB.MXNDArrayCreateSparseEx(
        _STORAGE_CODE[stype], c_array(mx_uint, shape), mx_uint(len(shape)), ctx.device_typeid,
        ctx.device_id, 0, dtype_code, mx_uint(count), c_array(ctypes.c_int, [_INT64] * count),
        c_array(mx_uint, [1] * count), c_array(mx_uint, aux_lengths), ctypes.byref(handle)))
    return handle


def _dense(values, ctx, dtype_code):
    """A dense NDArray holding numpy ``values`` (for a blob copy)."""
    values = np.ascontiguousarray(values, dtype=_storage_np_type(dtype_code))
    out = NDArray(_new_alloc_handle(values.shape, ctx, dtype_code))
    if values.size:
        out._sync_copyfrom(values)
    return out


def _set_blob(array, values, index, dtype_code):
    """Copy numpy ``values`` into ``array``'s data (index -1) or aux ``index`` blob."""
    blob = _dense(values, Context("cpu", 0), dtype_code)
    check_call(_LIB.MXNDArraySyncCopyFromNDArray(array.handle, blob.handle, ctypes.c_int(index)))


def _ndarray_cls(handle, writable=True):
    """The NDArray class for ``handle``'s storage type."""
    code = ctypes.c_int()
    check_call(_LIB.MXNDArrayGetStorageType(handle, ctypes.byref(code)))
    cls = {1: RowSparseNDArray, 2: CSRNDArray}.get(code.value, NDArray)
    return cls(handle, writable)


class BaseSparseNDArray(NDArray):
    """What row_sparse and csr arrays share: blob access and dense values."""

    __slots__ = ()

    def _aux_type(self, i):
        code = ctypes.c_int()
        check_call(_LIB.MXNDArrayGetAuxType(self.handle, mx_uint(i), ctypes.byref(code)))
        return code.value

    def _aux_data(self, i):
        """A dense copy of aux blob ``i``."""
        handle = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayGetAuxNDArray(self.handle, mx_uint(i), ctypes.byref(handle)))
        return NDArray(handle)

    @property
    def data(self):
        """A dense copy of the stored values."""
        handle = ctypes.c_void_p()
        check_call(_LIB.MXNDArrayGetDataNDArray(self.handle, ctypes.byref(handle)))
        return NDArray(handle)

    def check_format(self, full_check=True):
        """Raise MXNetError unless the blobs form a valid array (``MXNDArraySyncCheckFormat``)."""
        check_call(_LIB.MXNDArraySyncCheckFormat(self.handle, ctypes.c_bool(full_check)))

    def _values(self):
        return self.asnumpy()

    def _raw_view(self, write=False):
        raise TypeError("a %s array has no dense memory: use .data, or tostype('default')"
                        % self.stype)

    def __array__(self, dtype=None, copy=None):
        data = self.asnumpy()
        return data if dtype is None else data.astype(dtype)

    def tostype(self, stype):
        """A copy with storage type ``stype``."""
        if stype == self.stype:
            return self.copy()
        return array(self.asnumpy(), ctx=self.context, dtype=self.dtype, stype=stype)

    def copy(self):
        return self.copyto(self.context)

    def astype(self, dtype, copy=True):
        if not copy and _dtype_code(dtype) == self._dtype_code:
            return self
        return array(self.asnumpy(), ctx=self.context, dtype=dtype, stype=self.stype)

    def __repr__(self):
        shape = "x".join(str(d) for d in self.shape)
        return "\n<%s %s @%s>" % (self.__class__.__name__, shape, self.context)

    def __getitem__(self, key):
        raise TypeError("indexing a %s array is not supported: use tostype('default')" % self.stype)

    def _assign(self, key, value):
        """``self[key] = value`` for the whole array (what copies into a sparse array use)."""
        self._check_writable()
        whole = isinstance(key, slice) and key == slice(None) or key is Ellipsis
        if not whole:
            raise TypeError("only a[:] = value is supported for a %s array" % self.stype)
        values = value.asnumpy() if isinstance(value, NDArray) else np.asarray(value)
        self._assign_dense(np.broadcast_to(values, self.shape))

    __setitem__ = _assign

    def _binary(self, other, func, reflected=False, out=None):
        if isinstance(other, NDArray) and other.stype != "default":
            other = other.asnumpy()
        result = NDArray._binary(self.tostype("default"), other, func, reflected)
        if out is not None:
            out._assign(Ellipsis, result)
            return out
        if result is NotImplemented or not isinstance(other, numeric_types):
            return result
        # A scalar operator keeps the sparse layout (MXNet's _mul_scalar and friends).
        return result.tostype(self.stype)

    def _inplace(self, other, func):
        self._check_writable()
        operand = other.asnumpy() if isinstance(other, NDArray) else other
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = func(self.asnumpy(), operand)
        keep = other if isinstance(other, BaseSparseNDArray) else None
        self._assign_dense(np.asarray(result), keep)
        return self


class RowSparseNDArray(BaseSparseNDArray):
    """A row_sparse array: ``data`` (k, ...) holds rows ``indices`` of the full shape."""

    __slots__ = ()

    @property
    def indices(self):
        """A dense copy of the stored row ids (int64)."""
        return self._aux_data(0)

    def asnumpy(self):
        dense = np.zeros(self.shape, dtype=_storage_np_type(self._dtype_code))
        ids = self.indices.asnumpy()
        if ids.size:
            dense[ids] = self.data.asnumpy()
        return dense

    def _assign_dense(self, values, keep=None):
        """Store ``values`` (dense numpy): the rows that are non-zero, plus this array's rows
        and ``keep``'s rows (the union a sparse sum keeps)."""
        rows = _nonzero_rows(values)
        rows = np.union1d(rows, self.indices.asnumpy())
        if keep is not None and keep.stype == "row_sparse":
            rows = np.union1d(rows, keep.indices.asnumpy())
        self._set_rows(values[rows.astype(np.int64)], rows)

    def _set_rows(self, data, rows):
        _set_blob(self, data, -1, self._dtype_code)
        _set_blob(self, np.asarray(rows, dtype=np.int64), 0, _INT64)

    def copyto(self, other):
        """Copy into ``other`` (an NDArray of the same shape, or a Context for a new array)."""
        if isinstance(other, Context):
            out = RowSparseNDArray(_new_sparse_handle("row_sparse", self.shape, other,
                                                      self._dtype_code, [0]))
            out._set_rows(self.data.asnumpy(), self.indices.asnumpy())
            return out
        if isinstance(other, RowSparseNDArray):
            if other.handle.value != self.handle.value:
                other._set_rows(self.data.asnumpy(), self.indices.asnumpy())
            return other
        if isinstance(other, NDArray):
            other[:] = self.asnumpy()
            return other
        raise TypeError("copyto does not support type " + str(type(other)))

    def retain(self, indices):
        """A row_sparse array with only the rows of ``indices`` that this one stores."""
        ids = indices.asnumpy() if isinstance(indices, NDArray) else np.asarray(indices)
        mine = self.indices.asnumpy()
        keep = np.isin(mine, ids.astype(np.int64))
        out = RowSparseNDArray(_new_sparse_handle("row_sparse", self.shape, self.context,
                                                  self._dtype_code, [0]))
        out._set_rows(self.data.asnumpy()[keep], mine[keep])
        return out


class CSRNDArray(BaseSparseNDArray):
    """A csr matrix: ``data`` and column ``indices`` of the stored values, row by row as
    ``indptr`` says."""

    __slots__ = ()

    @property
    def indptr(self):
        """A dense copy of the row pointers (int64)."""
        return self._aux_data(0)

    @property
    def indices(self):
        """A dense copy of the column ids (int64)."""
        return self._aux_data(1)

    def asnumpy(self):
        dense = np.zeros(self.shape, dtype=_storage_np_type(self._dtype_code))
        indptr = self.indptr.asnumpy()
        cols = self.indices.asnumpy()
        data = self.data.asnumpy()
        for row in range(self.shape[0]):
            span = slice(indptr[row], indptr[row + 1])
            dense[row, cols[span]] = data[span]
        return dense

    def _assign_dense(self, values, keep=None):
        _set_csr(self, values)

    def copyto(self, other):
        if isinstance(other, Context):
            return array(self.asnumpy(), ctx=other, dtype=self.dtype, stype="csr")
        if isinstance(other, NDArray):
            other[:] = self.asnumpy()
            return other
        raise TypeError("copyto does not support type " + str(type(other)))


def _nonzero_rows(values):
    flat = values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1)
    return np.flatnonzero(np.any(flat != 0, axis=1)).astype(np.int64)


def _set_csr(matrix, values):
    rows, cols = np.nonzero(values)
    indptr = np.zeros(values.shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    _set_blob(matrix, values[rows, cols], -1, matrix._dtype_code)
    _set_blob(matrix, np.cumsum(indptr), 0, _INT64)
    _set_blob(matrix, cols.astype(np.int64), 1, _INT64)


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):
    """An all-zero array of storage type ``stype`` (no stored rows or values)."""
    if stype == "default":
        return _dense_array(np.zeros(shape), ctx=ctx, dtype=dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    code = _dtype_code(dtype)
    ctx = _context(ctx)
    if stype == "row_sparse":
        return RowSparseNDArray(_new_sparse_handle(stype, shape, ctx, code, [0]))
    if stype == "csr":
        return CSRNDArray(_new_sparse_handle(stype, shape, ctx, code, [shape[0] + 1, 0]))
    raise ValueError("unknown storage type %r (known: default, row_sparse, csr)" % (stype,))


def empty(stype, shape, ctx=None, dtype=None):
    """A new array of storage type ``stype``; sparse arrays start with nothing stored."""
    return zeros(stype, shape, ctx, dtype)


def array(source_array, ctx=None, dtype=None, stype="row_sparse"):
    """A sparse array of ``stype`` holding the values of ``source_array`` (dense data)."""
    values = source_array.asnumpy() if isinstance(source_array, NDArray) else np.asarray(source_array)
    if dtype is None:
        dtype = source_array.dtype if isinstance(source_array, NDArray) else np.float32
    if stype == "default":
        return _dense_array(values, ctx=ctx, dtype=dtype)
    out = zeros(stype, values.shape, ctx, dtype)
    out._assign_dense(values)
    return out


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None):
    """A row_sparse array from ``(data, indices)`` and ``shape``, or from dense data."""
    if not isinstance(arg1, tuple) or len(arg1) != 2:
        return array(arg1, ctx=ctx, dtype=dtype, stype="row_sparse")
    data, indices = (a.asnumpy() if isinstance(a, NDArray) else np.asarray(a) for a in arg1)
    if dtype is None:
        dtype = arg1[0].dtype if isinstance(arg1[0], (NDArray, np.ndarray)) else np.float32
    if shape is None:
        shape = (int(indices.max()) + 1 if indices.size else 0,) + tuple(data.shape[1:])
    out = zeros("row_sparse", shape, ctx, dtype)
    out._set_rows(data, indices)
    out.check_format()
    return out


def csr_matrix(arg1, shape=None, ctx=None, dtype=None):
    """A csr matrix from ``(data, indices, indptr)`` and ``shape``, or from dense data."""
    if not isinstance(arg1, tuple) or len(arg1) != 3:
        return array(arg1, ctx=ctx, dtype=dtype, stype="csr")
    data, indices, indptr = (a.asnumpy() if isinstance(a, NDArray) else np.asarray(a) for a in arg1)
    if shape is None:
        shape = (len(indptr) - 1, int(indices.max()) + 1 if indices.size else 0)
    out = zeros("csr", shape, ctx, dtype if dtype is not None else np.float32)
    _set_blob(out, data, -1, out._dtype_code)
    _set_blob(out, indptr.astype(np.int64), 0, _INT64)
    _set_blob(out, indices.astype(np.int64), 1, _INT64)
    out.check_format()
    return out
