"""mxkv: MXNet's KVStore for Python, on libmxkv.

``import mxkv as mx`` runs MXNet-style KVStore code unchanged::

    import mxkv as mx
    kv = mx.kv.create('local')
    kv.init(3, mx.nd.ones((2, 3)))
    kv.push(3, [mx.nd.ones((2, 3), ctx=mx.cpu(i)) for i in range(4)])
    out = mx.nd.zeros((2, 3))
    kv.pull(3, out=out)          # out is all 4

Modules: ``nd`` (``ndarray``), ``kv`` (``kvstore``), ``optimizer``, ``random``, ``test_utils``,
``context``, ``base``. The rest of MXNet (symbols, autograd, Gluon, Module, the operator library,
data iterators) is outside mxkv's scope: ``mx.gluon`` and the like raise :class:`NotInScopeError`.
"""

from . import base
from .base import MXNetError, NotInScopeError
from . import context
from .context import Context, cpu, cpu_pinned, gpu, current_context
from . import ndarray
from . import ndarray as nd
from . import random
from . import optimizer
from . import lr_scheduler
from . import kvstore
from . import kvstore as kv
from . import test_utils
from . import kvstore_server

__version__ = "0.1.0"

__all__ = ["MXNetError", "NotInScopeError", "Context", "cpu", "cpu_pinned", "gpu", "current_context",
           "nd", "ndarray", "kv", "kvstore", "kvstore_server", "optimizer", "lr_scheduler", "random", "test_utils",
           "context", "base"]


# MXNet's top-level names for the parts outside mxkv's scope.
_OUT_OF_SCOPE = frozenset([
    "sym", "symbol", "gluon", "autograd", "mod", "module", "model", "io", "init", "initializer",
    "metric", "image", "img", "contrib", "np", "npx", "numpy", "numpy_extension", "operator", "op",
    "recordio", "rnn", "callback", "visualization", "viz", "executor", "profiler", "amp", "onnx",
    "rtc", "monitor", "attribute", "name", "engine", "library", "runtime", "util", "torch",
    "notebook", "executor_manager", "log", "dlpack", "registry",
])


def __getattr__(name):
    if name in _OUT_OF_SCOPE:
        raise NotInScopeError("mx.%s is not part of mxkv: %s" % (name, base.SCOPE))
    raise AttributeError("module 'mxkv' has no attribute %r" % name)
