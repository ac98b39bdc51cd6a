"""Helpers for tests, with the names and arguments of MXNet 1.x's ``mx.test_utils``.

MXNet's own test files (``from mxnet.test_utils import *``) find here what their KVStore and
optimizer tests use: contexts and tolerances, random shapes and arrays, comparisons of arrays and
of optimizers, and ``environment``. Like MXNet's module it has no ``__all__``, so a star import
also brings ``np``, ``mx`` and ``array``.
"""

import contextlib
import numbers
import os

import numpy as np
import numpy.testing as npt

import mxkv as mx
from .context import Context, current_context
from .ndarray import NDArray, array  # noqa: F401  (part of the star import, as in MXNet)
from . import sparse


def default_context():
    """The context tests run on: the current one (``cpu(0)`` unless set)."""
    return current_context()


def set_default_context(ctx):
    """Make ``ctx`` the default context of this thread."""
    Context._default.value = ctx


def default_dtype():
    """The dtype of test data."""
    return np.float32


_RTOLS = {np.float16: 1e-2, np.float32: 1e-4, np.float64: 1e-5}
_ATOLS = {np.float16: 1e-1, np.float32: 1e-3, np.float64: 1e-20}


def default_rtols():
    """Relative tolerance per dtype (0 for integers and bool)."""
    return _tolerances(_RTOLS)


def default_atols():
    """Absolute tolerance per dtype (0 for integers and bool)."""
    return _tolerances(_ATOLS)


def _tolerances(floats):
    table = {np.dtype(t): 0 for t in (np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64,
                                      np.uint64)}
    table.update({np.dtype(t): tol for t, tol in floats.items()})
    return table


def get_tolerance(dat, tol, default_tol):
    """``tol`` when it is a number, else its entry (or the default) for ``dat``'s dtype."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = np.dtype(np.asarray(dat).dtype if not hasattr(dat, "dtype") else dat.dtype)
    tol = {} if tol is None else tol
    return tol.get(dtype, default_tol.get(dtype, 0))


def get_tols(x, y, rtol, atol):
    """The (rtol, atol) for comparing ``x`` and ``y``: the larger of the two dtypes' defaults."""
    rtol = max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols()))
    atol = max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols()))
    return rtol, atol


def get_atol(atol=None, dtype=np.dtype(np.float64)):
    """``atol``, or the default absolute tolerance of ``dtype``."""
    return default_atols()[np.dtype(dtype)] if atol is None else atol


def get_rtol(rtol=None, dtype=np.dtype(np.float64)):
    """``rtol``, or the default relative tolerance of ``dtype``."""
    return default_rtols()[np.dtype(dtype)] if rtol is None else rtol


def random_arrays(*shapes):
    """numpy arrays of standard-normal float32 values, one per shape (a float for shape ())."""
    arrays = [np.array(np.random.randn(), dtype=default_dtype()) if not s
              else np.random.randn(*s).astype(default_dtype()) for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """An NDArray of ``shape`` with random standard-normal values; a sparse ``stype`` gives
    ``rand_sparse_ndarray``'s array."""
    if stype != "default":
        return rand_sparse_ndarray(shape, stype, density=density, dtype=dtype, ctx=ctx)[0]
    ctx = ctx if ctx else default_context()
    return array(random_arrays(shape), dtype=dtype, ctx=ctx)


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, ctx=None, **kwargs):
    """A random row_sparse array (each row stored with probability ``density``, random by
    default) or csr matrix (each value), uniform in [0, 1), and its blobs as numpy arrays:
    ``(arr, (data, indices))`` for row_sparse, ``(arr, (data, indices, indptr))`` for csr."""
    density = np.random.rand() if density is None else density
    dtype = default_dtype() if dtype is None else dtype
    dense = np.random.uniform(size=shape).astype(dtype)
    if stype == "row_sparse":
        dense[np.random.rand(shape[0]) >= density] = 0
    elif stype == "csr":
        dense[np.random.rand(*shape) >= density] = 0
    else:
        raise ValueError("unknown storage type %r" % (stype,))
    arr = sparse.array(dense, ctx=ctx if ctx else default_context(), dtype=dtype, stype=stype)
    if stype == "row_sparse":
        return arr, (arr.data.asnumpy(), arr.indices.asnumpy())
    return arr, (arr.data.asnumpy(), arr.indices.asnumpy(), arr.indptr.asnumpy())


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    """A random 2-d shape, each dimension at most ``dim0``/``dim1``."""
    low = 0 if allow_zero_size else 1
    return np.random.randint(low, dim0 + 1), np.random.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    """A random 3-d shape."""
    low = 0 if allow_zero_size else 1
    return (np.random.randint(low, dim0 + 1), np.random.randint(low, dim1 + 1),
            np.random.randint(low, dim2 + 1))


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """A random shape of ``num_dim`` dimensions, each at most ``dim``."""
    low = 0 if allow_zero_size else 1
    return tuple(np.random.randint(low, dim + 1, size=num_dim))


def _numpy(data):
    return data.asnumpy() if isinstance(data, NDArray) else data


def same(a, b):
    """Whether two arrays hold the same shape and values."""
    return np.array_equal(_numpy(a), _numpy(b))


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """Whether ``a`` and ``b`` agree within the tolerances (numpy's ``allclose``)."""
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and np.shape(a) != np.shape(b):
        return False
    return np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol), equal_nan=equal_nan)


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Raise AssertionError, naming the worst element, unless ``a`` and ``b`` agree within
    the tolerances (per dtype by default)."""
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and np.shape(a) != np.shape(b):
        raise AssertionError("%s.shape = %s and %s.shape = %s are not equal"
                             % (names[0], np.shape(a), names[1], np.shape(b)))
    if np.asarray(a).dtype == np.bool_ and np.asarray(b).dtype == np.bool_:
        np.testing.assert_equal(a, b)
        return
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    excess = np.where(np.equal(a, b), 0, np.abs(a - b)) / (atol + rtol * np.abs(b) + 1e-20)
    index = tuple(int(i) for i in np.unravel_index(np.argmax(excess), excess.shape))
    message = ("Error %f exceeds tolerance rtol=%e, atol=%e. Location of maximum error: %s, "
               "%s=%.8f, %s=%.8f" % (np.max(excess), rtol, atol, index, names[0], a[index],
                                      names[1], b[index]))
    raise AssertionError(npt.build_err_msg([a, b], err_msg=message, names=names))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    """``assert_almost_equal`` with numpy's ``assert_allclose`` defaults."""
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_exception(f, exception_type, *args, **kwargs):
    """Assert that ``f(*args, **kwargs)`` raises ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError("%s was not raised" % exception_type.__name__)


def compare_ndarray_tuple(t1, t2, rtol=None, atol=None):
    """Assert that two optimizer states (an NDArray, a tuple of them, or None) agree."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, tuple):
        for s1, s2 in zip(t1, t2):
            compare_ndarray_tuple(s1, s2, rtol, atol)
    else:
        assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def _random_pair(shape, stype, dtype, density):
    """The same random array twice: dense (for opt1) and of storage ``stype`` (for opt2)."""
    if stype == "default":
        second = mx.random.uniform(shape=shape, ctx=default_context(), dtype=dtype)
        return second.copyto(default_context()), second
    if stype in ("row_sparse", "csr"):
        second = rand_ndarray(shape, stype, density=density, dtype=dtype)
        return second.copyto(default_context()).tostype("default"), second
    raise ValueError("compare_optimizer: storage type %r not supported" % (stype,))


def compare_optimizer(opt1, opt2, shape, dtype, w_stype="default", g_stype="default",
                      rtol=1e-4, atol=1e-5, compare_states=True, ntensors=1):
    """Run one update of ``opt1`` and ``opt2`` on the same random weight and gradient and assert
    that states and weights agree. A list of shapes runs ``opt2`` once over ``ntensors``
    tensors (multi-tensor update) against ``opt1`` on each tensor."""
    if not isinstance(shape, list):
        assert ntensors == 1
        w1, w2 = _random_pair(shape, w_stype, dtype, 1)
        g1, g2 = _random_pair(shape, g_stype, dtype, None)
        state1 = opt1.create_state_multi_precision(0, w1)
        state2 = opt2.create_state_multi_precision(0, w2)
        if compare_states:
            compare_ndarray_tuple(state1, state2)
        opt1.update_multi_precision(0, w1, g1, state1)
        opt2.update_multi_precision(0, w2, g2, state2)
        if compare_states:
            compare_ndarray_tuple(state1, state2, rtol=rtol, atol=atol)
        assert_almost_equal(w1, w2, rtol=rtol, atol=atol)
        return
    w1 = tuple(mx.random.uniform(shape=s, ctx=default_context(), dtype=dtype) for s in shape)
    g1 = tuple(mx.random.uniform(shape=s, ctx=default_context(), dtype=dtype) for s in shape)
    w2 = tuple(w.copy() for w in w1)
    g2 = tuple(g.copy() for g in g1)
    state2 = [opt2.create_state_multi_precision(0, w2[i]) for i in range(ntensors)]
    opt2.update_multi_precision(list(range(ntensors)), w2, g2, state2)
    for i in range(ntensors):
        state1 = opt1.create_state_multi_precision(i, w1[i])
        opt1.update_multi_precision(i, w1[i], g1[i], state1)
        if compare_states:
            compare_ndarray_tuple(state1, state2[i], rtol, atol)
        compare_ndarray_tuple(w1[i], w2[i], rtol, atol)


@contextlib.contextmanager
def environment(*args):
    """``with environment('NAME', 'value'):`` or ``with environment({'NAME': 'value'}):`` sets
    environment variables for the block (None unsets one) and restores them afterwards."""
    if len(args) == 1 and isinstance(args[0], dict):
        settings = args[0]
    elif len(args) == 2:
        settings = {args[0]: args[1]}
    else:
        raise ValueError("environment takes a dict, or a name and a value")
    saved = {name: os.environ.get(name) for name in settings}

    def apply(values):
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    apply(settings)
    try:
        yield
    finally:
        mx.nd.waitall()
        apply(saved)
