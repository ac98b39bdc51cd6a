"""The server side of distributed stores (``mx.kvstore_server``).

A process that the library reports as a server (not a worker) runs ``KVStoreServer`` as soon as
the package is imported and exits when the servers are stopped, so one script serves every role,
as with MXNet. The controller receives the optimizer a worker sent with ``set_optimizer``.
"""

import ctypes
import pickle
import sys

from .base import _LIB, check_call
from .kvstore import create

__all__ = ["KVStoreServer"]

_CONTROLLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class KVStoreServer:
    """Runs the server loop of a distributed KVStore (``MXKVStoreRunServer``)."""

    def __init__(self, kvstore):
        self.kvstore = kvstore
        self.handle = kvstore.handle
        self.init_logging = False

    def _controller(self):
        def server_controller(cmd_id, cmd_body, _):
            if cmd_id == 0:
                self.kvstore.set_optimizer(pickle.loads(cmd_body))
            else:
                print("server %d, unknown command (%d, %s)" % (self.kvstore.rank, cmd_id, cmd_body))
        return server_controller

    def run(self):
        """Serve until a worker stops the servers."""
        controller = _CONTROLLER(self._controller())
        check_call(_LIB.MXKVStoreRunServer(self.handle, ctypes.cast(controller, ctypes.c_void_p), None))


def _init_kvstore_server_module():
    """Serve and exit if this process is a server or scheduler of a distributed job."""
    is_worker = ctypes.c_int()
    check_call(_LIB.MXKVStoreIsWorkerNode(ctypes.byref(is_worker)))
    if is_worker.value == 0:
        server = KVStoreServer(create("dist"))
        server.run()
        sys.exit()


_init_kvstore_server_module()
