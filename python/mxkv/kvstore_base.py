"""MXNet 1.9.1's interface for KVStores written in Python, and their registry.

A class registered with ``@mx.kv.KVStoreBase.register`` is created by ``mx.kv.create(name)`` for
its lower-cased class name, before the library's own store types are considered. ``teststore``
(:class:`TestStore`) is registered as in MXNet: a store without state that broadcasts and sums in
Python, for tests of code written against the interface.
"""

import warnings

from .base import string_types
from .ndarray import NDArray

__all__ = ["KVStoreBase", "TestStore"]


class KVStoreBase:
    """The operations every KVStore offers; subclasses implement them."""

    OPTIMIZER = "optimizer"
    kv_registry = {}

    def broadcast(self, key, value, out, priority=0):
        """Give ``out`` (one NDArray or a list) the value of ``value`` for ``key``."""
        raise NotImplementedError()

    def pushpull(self, key, value, out=None, priority=0):
        """Sum the values pushed for ``key`` and write the sum to ``out`` (or back to ``value``)."""
        raise NotImplementedError()

    def set_optimizer(self, optimizer):
        """Apply ``optimizer`` to every push."""
        raise NotImplementedError()

    def is_capable(self, capability):
        """Whether the store supports ``capability`` (``KVStoreBase.OPTIMIZER``)."""
        raise NotImplementedError()

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the optimizer states to ``fname``."""
        raise NotImplementedError()

    def load_optimizer_states(self, fname):
        """Read optimizer states from ``fname``."""
        raise NotImplementedError()

    @property
    def type(self):
        """The store's type name."""
        raise NotImplementedError()

    @property
    def rank(self):
        """This worker's rank."""
        raise NotImplementedError()

    @property
    def num_workers(self):
        """The number of workers."""
        raise NotImplementedError()

    @staticmethod
    def register(klass):
        """Class decorator: ``mx.kv.create(klass.__name__.lower())`` then makes a ``klass()``."""
        if not (isinstance(klass, type) and issubclass(klass, KVStoreBase)):
            raise TypeError("KVStoreBase.register takes a subclass of KVStoreBase, not %r" % (klass,))
        name = klass.__name__.lower()
        if name in KVStoreBase.kv_registry:
            previous = KVStoreBase.kv_registry[name]
            warnings.warn("New kvstore %s.%s is overriding existing kvstore %s.%s"
                          % (klass.__module__, klass.__name__, previous.__module__, previous.__name__))
        KVStoreBase.kv_registry[name] = klass
        return klass

    @staticmethod
    def lookup(name):
        """The registered class for ``name`` (any case), or None."""
        if not isinstance(name, string_types):
            raise TypeError("name must be a string")
        return KVStoreBase.kv_registry.get(name.lower())


def _as_list(arrays):
    return arrays if isinstance(arrays, list) else [arrays]


@KVStoreBase.register
class TestStore(KVStoreBase):
    """A store for tests: ``broadcast`` copies, ``pushpull`` sums the values given to it."""

    def broadcast(self, key, value, out, priority=0):
        for target in _as_list(out):
            target[:] = value

    def pushpull(self, key, value, out=None, priority=0):
        if isinstance(value, NDArray):
            total = value
        else:
            ctx = value[0].context
            total = value[0].as_in_context(ctx).copy()
            for other in value[1:]:
                total += other.as_in_context(ctx)
        targets = _as_list(value if out is None else out)
        for target in targets:
            target[:] = total

    @staticmethod
    def is_capable(capability):
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return False
        raise ValueError("Unknown capability: {}".format(capability))

    @property
    def type(self):
        return "teststore"

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1
