"""Device contexts: ``mx.cpu(i)``, ``mx.cpu_pinned(i)``, ``mx.gpu(i)`` and ``with ctx:`` scopes.

mxkv runs on the CPU: ``cpu``, ``cpu_pinned`` and ``cpu_shared`` with any id 0-63 are separate
"devices" for a KVStore (values pushed from several of them are summed). A ``gpu`` context is
accepted here as in MXNet, and the library refuses arrays created on it.
"""

import threading

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus"]


class Context:
    """A device (type and id), usable as ``with Context('cpu', 1): ...``."""

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {name: code for code, name in devtype2str.items()}
    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
        else:
            if device_type not in Context.devstr2type:
                raise ValueError("unknown device type %r (expected one of %s)"
                                 % (device_type, ", ".join(sorted(Context.devstr2type))))
            self.device_typeid = Context.devstr2type[device_type]
            self.device_id = int(device_id)
        self._old_ctx = None

    @property
    def device_type(self):
        """'cpu', 'gpu', 'cpu_pinned' or 'cpu_shared'."""
        return Context.devtype2str[self.device_typeid]

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_typeid == other.device_typeid
                and self.device_id == other.device_id)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "%s(%d)" % (self.device_type, self.device_id)

    __str__ = __repr__

    def __enter__(self):
        self._old_ctx = current_context()
        Context._default.value = self
        return self

    def __exit__(self, *exc):
        Context._default.value = self._old_ctx


def current_context():
    """The context of the innermost ``with ctx:`` on this thread (default ``cpu(0)``)."""
    ctx = getattr(Context._default, "value", None)
    return ctx if ctx is not None else Context("cpu", 0)


def cpu(device_id=0):
    """A CPU context; different ids are different devices for a KVStore."""
    return Context("cpu", device_id)


def cpu_pinned(device_id=0):
    """A pinned-memory CPU context (ordinary memory in mxkv, reported as dev_type 3)."""
    return Context("cpu_pinned", device_id)


def gpu(device_id=0):
    """A GPU context; mxkv has no GPU support, so arrays created on it raise MXNetError."""
    return Context("gpu", device_id)


def num_gpus():
    """The number of GPUs mxkv can use: 0."""
    return 0
