"""Element-wise math, reductions and joins on NDArrays: ``mx.nd.sqrt``, ``mx.nd.clip``,
``mx.nd.maximum``, ``mx.nd.norm``, ``mx.nd.concat`` ... with MXNet 1.x's signatures.

Everything runs in numpy over the arrays' memory (bfloat16 in float32). Results keep the dtype
and context of the first NDArray operand, as MXNet's operators do, and go into ``out=`` when it
is given. Binary functions broadcast as numpy does (MXNet's ``broadcast_*`` operators); with two
plain numbers they give a plain number, as ``mx.nd.power(0.9, 3)`` does in MXNet.
"""

import numbers
import operator

import numpy as np

from .base import MXNetError
from .context import Context, current_context
from .ndarray import NDArray, array, empty, numeric_types

__all__ = [
    "sqrt", "rsqrt", "cbrt", "square", "abs", "sign", "negative", "reciprocal", "exp", "expm1",
    "log", "log1p", "log2", "log10", "floor", "ceil", "round", "rint", "fix", "trunc",
    "sin", "cos", "tan", "tanh", "sigmoid", "relu",
    "add", "subtract", "multiply", "divide", "true_divide", "modulo", "power", "maximum", "minimum",
    "equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal",
    "broadcast_add", "broadcast_sub", "broadcast_minus", "broadcast_mul", "broadcast_div",
    "broadcast_mod", "broadcast_power", "broadcast_maximum", "broadcast_minimum",
    "broadcast_equal", "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal",
    "broadcast_lesser", "broadcast_lesser_equal",
    "clip", "norm", "sum", "mean", "max", "min", "prod", "concat", "stack", "arange",
]


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


def _relu(values):
    return np.maximum(values, 0)


# name -> numpy function of the values
_UNARY = {
    "sqrt": np.sqrt, "rsqrt": lambda v: 1.0 / np.sqrt(v), "cbrt": np.cbrt, "square": np.square,
    "abs": np.abs, "sign": np.sign, "negative": np.negative, "reciprocal": np.reciprocal,
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "log2": np.log2,
    "log10": np.log10, "floor": np.floor, "ceil": np.ceil, "round": np.round, "rint": np.rint,
    "fix": np.fix, "trunc": np.trunc, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "tanh": np.tanh, "sigmoid": _sigmoid, "relu": _relu,
}


def _make_unary(name, func):
    def unary(data, out=None, name=None, **kwargs):
        _check_ndarray(data, unary.__name__)
        return data._unary(func, out)
    unary.__name__ = name
    unary.__doc__ = "Element-wise %s of ``data`` (into ``out`` when given)." % name
    return unary


def _check_ndarray(data, what):
    if not isinstance(data, NDArray):
        raise TypeError("%s: data must be an NDArray, not %s" % (what, type(data).__name__))


def _make_binary(name, func):
    def binary(lhs, rhs, out=None, **kwargs):
        if isinstance(lhs, NDArray):
            result = lhs._binary(rhs, func, out=out)
        elif isinstance(rhs, NDArray):
            result = rhs._binary(lhs, func, reflected=True, out=out)
        elif isinstance(lhs, numeric_types) and isinstance(rhs, numeric_types):
            return func(lhs, rhs)
        else:
            result = NotImplemented
        if result is NotImplemented:
            raise TypeError("%s: operands must be NDArrays or numbers, not %s and %s"
                            % (name, type(lhs).__name__, type(rhs).__name__))
        return result
    binary.__name__ = name
    binary.__doc__ = "Element-wise %s of ``lhs`` and ``rhs``, broadcast as in numpy." % name
    return binary


# name -> numpy function of two operands; comparisons give 0/1 in the operand's dtype.
_BINARY = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "modulo": operator.mod, "power": operator.pow,
    "maximum": np.maximum, "minimum": np.minimum,
    "equal": operator.eq, "not_equal": operator.ne, "greater": operator.gt,
    "greater_equal": operator.ge, "lesser": operator.lt, "lesser_equal": operator.le,
}

# MXNet's names for the broadcasting forms of the same operators.
_BROADCAST_ALIASES = {
    "broadcast_add": "add", "broadcast_sub": "subtract", "broadcast_minus": "subtract",
    "broadcast_mul": "multiply", "broadcast_div": "divide", "broadcast_mod": "modulo",
    "broadcast_power": "power", "broadcast_maximum": "maximum", "broadcast_minimum": "minimum",
    "broadcast_equal": "equal", "broadcast_not_equal": "not_equal", "broadcast_greater": "greater",
    "broadcast_greater_equal": "greater_equal", "broadcast_lesser": "lesser",
    "broadcast_lesser_equal": "lesser_equal", "true_divide": "divide",
}


_FUNCTIONS = {}
_FUNCTIONS.update({name: _make_unary(name, func) for name, func in _UNARY.items()})
_FUNCTIONS.update({name: _make_binary(name, func) for name, func in _BINARY.items()})
_FUNCTIONS.update({alias: _FUNCTIONS[name] for alias, name in _BROADCAST_ALIASES.items()})
globals().update(_FUNCTIONS)


def clip(data, a_min, a_max, out=None, **kwargs):
    """``data`` with every element limited to ``[a_min, a_max]``."""
    _check_ndarray(data, "clip")
    if a_min is None or a_max is None:
        raise ValueError("clip: a_min and a_max must both be given")
    return data._unary(lambda values: np.clip(values, a_min, a_max), out)


def _axes(axis, exclude, ndim):
    if axis is None or axis == ():
        axes = tuple(range(ndim))
    else:
        axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
        axes = tuple(a + ndim if a < 0 else a for a in axes)
        for a in axes:
            if not 0 <= a < ndim:
                raise MXNetError("axis %d is out of range for an array of %d dimensions" % (a, ndim))
    if exclude:
        axes = tuple(a for a in range(ndim) if a not in axes)
    return axes


def _make_reduction(name, func):
    def reduction(data, axis=None, keepdims=False, exclude=False, out=None, **kwargs):
        _check_ndarray(data, name)
        axes = _axes(axis, exclude, data.ndim)
        return data._unary(lambda values: func(values, axis=axes, keepdims=keepdims), out)
    reduction.__name__ = name
    reduction.__doc__ = ("The %s over ``axis`` (all axes by default: a one-element array, as in "
                         "MXNet 1.x)." % name)
    return reduction


sum = _make_reduction("sum", np.sum)  # pylint: disable=redefined-builtin
mean = _make_reduction("mean", np.mean)
max = _make_reduction("max", np.max)  # pylint: disable=redefined-builtin
min = _make_reduction("min", np.min)  # pylint: disable=redefined-builtin
prod = _make_reduction("prod", np.prod)


def norm(data, ord=2, axis=None, keepdims=False, out=None, **kwargs):  # pylint: disable=redefined-builtin
    """The L2 (``ord=2``) or L1 (``ord=1``) norm over ``axis`` (all elements by default)."""
    _check_ndarray(data, "norm")
    if ord not in (1, 2):
        raise ValueError("norm: ord must be 1 or 2, not %r" % (ord,))
    axes = _axes(axis, False, data.ndim)

    def compute(values):
        wide = values.astype(np.float64)
        if ord == 1:
            return np.sum(np.abs(wide), axis=axes, keepdims=keepdims)
        return np.sqrt(np.sum(wide * wide, axis=axes, keepdims=keepdims))
    return data._unary(compute, out)


def _joined(arrays, what, join, out):
    """``join`` (a numpy function of the list of values) of NDArrays of one dtype."""
    if not arrays:
        raise ValueError("%s needs at least one NDArray" % what)
    for arr in arrays:
        _check_ndarray(arr, what)
    first = arrays[0]
    for arr in arrays[1:]:
        if arr.dtype != first.dtype:
            raise MXNetError("%s: all arrays must have one dtype (%s and %s)"
                             % (what, np.dtype(first.dtype), np.dtype(arr.dtype)))
    try:
        result = join([arr._values() for arr in arrays])
    except ValueError as err:
        raise MXNetError("%s: %s" % (what, err)) from err
    return first._result(result, out)


def concat(*data, dim=1, out=None, **kwargs):
    """The arrays joined along the existing axis ``dim``."""
    return _joined(data, "concat", lambda values: np.concatenate(values, axis=dim), out)


def stack(*data, axis=0, out=None, **kwargs):
    """The arrays (all of one shape) stacked along a new axis ``axis``."""
    return _joined(data, "stack", lambda values: np.stack(values, axis=axis), out)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=np.float32):
    """Evenly spaced values in ``[start, stop)`` (``[0, start)`` without ``stop``), each
    repeated ``repeat`` times."""
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if int(repeat) < 1:
        raise ValueError("arange: repeat must be at least 1")
    values = np.arange(start, stop, step, dtype=np.float64) if stop is not None \
        else np.arange(0, start, step, dtype=np.float64)
    values = np.repeat(values, int(repeat))
    ctx = current_context() if ctx is None else Context(ctx)
    if values.size == 0:
        return empty((0,), ctx=ctx, dtype=dtype)
    return array(values, ctx=ctx, dtype=dtype)
