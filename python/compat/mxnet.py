"""``import mxnet`` as mxkv: put this folder on PYTHONPATH to run code written for MXNet 1.x.

``mxnet`` is the ``mxkv`` module itself, and ``mxnet.X.Y`` is ``mxkv.X.Y`` (``import
mxnet.lr_scheduler``, ``from mxnet.test_utils import *``, ``mxnet.ndarray.sparse`` ...), so
classes and state are shared, not copied.
"""

import importlib
import importlib.abc
import importlib.util
import sys

import mxkv


class _MxkvAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``mxnet.<path>`` as ``mxkv.<path>``: a submodule, or a module attribute (such as
    ``mxkv.nd.sparse``) when that is where mxkv keeps it."""

    PREFIX = "mxnet."

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(self.PREFIX):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        target = mxkv
        parts = spec.name[len(self.PREFIX):].split(".")
        for depth, part in enumerate(parts):
            if isinstance(getattr(target, part, None), type(mxkv)):
                target = getattr(target, part)
            else:
                target = importlib.import_module("mxkv." + ".".join(parts[:depth + 1]))
        if not hasattr(target, "__path__"):
            # Python imports `mxnet.ndarray.sparse` only below a package: mxkv's flat modules
            # (mxkv.ndarray) get an empty search path, and this finder then resolves the rest.
            target.__path__ = []
        return target

    def exec_module(self, module):
        """The mxkv module is already initialised."""


if not any(isinstance(finder, _MxkvAlias) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MxkvAlias())
sys.modules[__name__] = mxkv
