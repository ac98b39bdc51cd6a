"""mxkv: MXNet's KVStore for Python, on libmxkv.

``import mxkv as mx`` runs MXNet-style KVStore code unchanged::

    import mxkv as mx
    kv = mx.kv.create('local')
    kv.init(3, mx.nd.ones((2, 3)))
    kv.push(3, [mx.nd.ones((2, 3), ctx=mx.cpu(i)) for i in range(4)])
    out = mx.nd.zeros((2, 3))
    kv.pull(3, out=out)          # out is all 4

Modules: ``nd`` (``ndarray``), ``kv`` (``kvstore``), ``optimizer``, ``context``, ``base``.
"""

from . import base
from .base import MXNetError
from . import context
from .context import Context, cpu, cpu_pinned, gpu, current_context
from . import ndarray
from . import ndarray as nd
from . import optimizer
from . import kvstore
from . import kvstore as kv
from . import kvstore_server

__version__ = "0.1.0"

__all__ = ["MXNetError", "Context", "cpu", "cpu_pinned", "gpu", "current_context", "nd", "ndarray",
           "kv", "kvstore", "kvstore_server", "optimizer", "context", "base"]
