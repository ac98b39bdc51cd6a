"""Random NDArrays: ``mx.random.seed``, ``uniform``, ``normal``, ``randn``, ``randint``.

One generator (numpy's) serves every context, so ``seed(s)`` makes the following draws
repeat exactly, as MXNet's ``mx.random.seed`` does on one device. The streams are not MXNet's own
(the numbers differ from MXNet's for the same seed); tests compare two draws of mxkv.
"""

import numbers
import threading

import numpy as np

from .context import Context, current_context
from .ndarray import NDArray, array

__all__ = ["seed", "uniform", "normal", "randn", "randint"]


class _Generator:
    """The process-wide generator behind every draw, guarded for use from several threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state = np.random.RandomState()

    def draw(self, sample):
        with self.lock:
            return sample(self.state)


_GENERATOR = _Generator()


def seed(seed_state, ctx="all"):
    """Seed the generator: the draws after ``seed(s)`` are the same each time.

    ``ctx`` is accepted as in MXNet; mxkv has one generator for every context."""
    if not isinstance(seed_state, numbers.Integral):
        raise ValueError("seed_state must be an int, not %s" % type(seed_state).__name__)
    if ctx != "all" and not isinstance(ctx, Context):
        raise ValueError("ctx must be 'all' or a Context, not %r" % (ctx,))
    with _GENERATOR.lock:
        _GENERATOR.state.seed(int(seed_state) % 2**32)


def _shape(shape):
    if shape is None:
        return (1,)
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(dim) for dim in shape)


def _param(value):
    """A distribution parameter: a number, or the values of an NDArray (one draw per element)."""
    return value._values() if isinstance(value, NDArray) else value


def _sample(sample, params, shape, dtype, ctx, out):
    """Draws of ``shape`` (after the parameters' own shape, for NDArray parameters), as an NDArray
    of ``dtype`` on ``ctx``, or written into ``out``."""
    arrays = [p for p in params if isinstance(p, NDArray)]
    if arrays:
        shape = arrays[0].shape + (() if shape is None else _shape(shape))
        ctx = arrays[0].context if ctx is None else ctx
        dtype = arrays[0].dtype if dtype is None else dtype
        values = [_param(p) for p in params]
        values = [np.reshape(v, np.shape(v) + (1,) * (len(shape) - np.ndim(v))) for v in values]
    else:
        values = params
        shape = _shape(out.shape if out is not None and shape is None else shape)
    drawn = _GENERATOR.draw(lambda state: sample(state, *values, size=shape))
    if out is not None:
        out[:] = drawn
        return out
    ctx = current_context() if ctx is None else Context(ctx)
    return array(drawn, ctx=ctx, dtype=np.float32 if dtype is None else dtype)


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Draws from the uniform distribution on ``[low, high)`` (float32 unless ``dtype``)."""
    return _sample(lambda state, lo, hi, size: state.uniform(lo, hi, size), (low, high),
                   shape, dtype, ctx, out)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Draws from the normal distribution of mean ``loc`` and standard deviation ``scale``."""
    return _sample(lambda state, mu, sigma, size: state.normal(mu, sigma, size), (loc, scale),
                   shape, dtype, ctx, out)


def randn(*shape, loc=0, scale=1, dtype=None, ctx=None, out=None, **kwargs):
    """Normal draws of the shape given as positional arguments."""
    return normal(loc, scale, shape or None, dtype, ctx, out)


def randint(low, high, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from ``[low, high)`` (int32 unless ``dtype``)."""
    return _sample(lambda state, lo, hi, size: state.randint(lo, hi, size), (low, high),
                   shape, np.int32 if dtype is None else dtype, ctx, out)
