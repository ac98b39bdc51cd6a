"""`import mxnet` resolving to mxkv (python/compat), mxkv's scope, and the KVStoreBase registry."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import mxkv as mx

COMPAT = pathlib.Path(__file__).resolve().parents[1] / "compat"


def _run_as_mxnet(code):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(COMPAT)] + sys.path))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False)


def test_import_mxnet_is_mxkv_with_its_submodules():
    result = _run_as_mxnet(
        "import mxnet as mx, mxkv\n"
        "import mxnet.ndarray, mxnet.kvstore\n"
        "from mxnet import nd, kv, optimizer, test_utils, random\n"
        "from mxnet.test_utils import *\n"
        "from mxnet.base import MXNetError, py_str\n"
        "assert mx is mxkv and nd is mxkv.nd and kv is mxkv.kv\n"
        "assert mxnet.ndarray is mxkv.ndarray and mxnet.kvstore is mxkv.kvstore\n"
        "assert default_context() == mx.cpu() and compare_optimizer is mxkv.test_utils.compare_optimizer\n"
        "print(mx.nd.ones((2,)).asnumpy().sum())\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0"


def test_mxnet_attribute_submodule_resolves_through_attributes():
    # mxnet.ndarray.<x> for a module that mxkv keeps as an attribute of nd (as mx.nd.sparse will be).
    result = _run_as_mxnet("import types, mxkv\n"
                           "mxkv.nd.extra = types.ModuleType('mxkv.extra')\n"
                           "import mxnet.ndarray.extra as m\n"
                           "from mxnet.ndarray import extra\n"
                           "assert m is mxkv.nd.extra and extra is m\nprint('ok')\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    result = _run_as_mxnet("import mxnet.no_such_module\n")
    assert result.returncode != 0 and "No module named 'mxkv.no_such_module'" in result.stderr


@pytest.mark.parametrize("name", ["sym", "symbol", "gluon", "autograd", "mod", "io", "init", "metric"])
def test_out_of_scope_attributes_name_mxkvs_scope(name):
    with pytest.raises(mx.NotInScopeError, match="mx.%s is not part of mxkv.*outside its scope" % name):
        getattr(mx, name)
    with pytest.raises(NotImplementedError):
        getattr(mx, name)


def test_from_mxnet_import_out_of_scope_gives_the_scope_message():
    result = _run_as_mxnet("from mxnet import gluon\n")
    assert result.returncode != 0
    assert "NotInScopeError: mx.gluon is not part of mxkv" in result.stderr


def test_out_of_scope_operators_of_nd_name_mxkvs_scope():
    with pytest.raises(mx.base.OperatorNotInScopeError, match="mx.nd.dot is not part of mxkv.*operator library"):
        mx.nd.dot  # pylint: disable=pointless-statement
    with pytest.raises(mx.NotInScopeError):
        mx.nd.FullyConnected  # pylint: disable=pointless-statement
    assert not hasattr(mx.nd, "softmax")
    assert getattr(mx.nd, "softmax", None) is None
    with pytest.raises(AttributeError, match="no attribute '_private'"):
        mx.nd._private  # pylint: disable=pointless-statement


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        mx.frobnicate  # pylint: disable=pointless-statement
    assert not hasattr(mx, "frobnicate")


def test_teststore_is_registered_and_sums_in_python():
    kv = mx.kv.create("TestStore")
    assert isinstance(kv, mx.kv.TestStore) and isinstance(kv, mx.kv.KVStoreBase)
    assert kv.type == "teststore" and kv.rank == 0 and kv.num_workers == 1
    assert type(kv).is_capable("optimizer") is False
    with pytest.raises(ValueError, match="Unknown capability: compression"):
        kv.is_capable("compression")
    out = [mx.nd.zeros((2,)), mx.nd.zeros((2,))]
    kv.broadcast(3, mx.nd.array([1, 2]), out=out)
    assert [o.asnumpy().tolist() for o in out] == [[1, 2], [1, 2]]
    values = [mx.nd.ones((2,), ctx=mx.cpu(i)) for i in range(3)]
    kv.pushpull(3, values, out=out)
    assert [o.asnumpy().tolist() for o in out] == [[3, 3], [3, 3]]
    kv.pushpull(3, values)
    assert [v.asnumpy().tolist() for v in values] == [[3, 3]] * 3
    for method, args in ((kv.set_optimizer, (None,)), (kv.save_optimizer_states, ("f",)),
                         (kv.load_optimizer_states, ("f",))):
        with pytest.raises(NotImplementedError):
            method(*args)


def test_register_a_custom_store():
    @mx.kv.KVStoreBase.register
    class MyCountingStore(mx.kv.KVStoreBase):  # pylint: disable=unused-variable
        calls = []

        def broadcast(self, key, value, out, priority=0):
            self.calls.append(key)

    kv = mx.kv.create("mycountingstore")
    kv.broadcast("w", mx.nd.ones((1,)), out=mx.nd.zeros((1,)))
    assert kv.calls == ["w"]
    with pytest.warns(UserWarning, match="overriding existing kvstore"):
        mx.kv.KVStoreBase.register(type("MyCountingStore", (mx.kv.KVStoreBase,), {}))
    with pytest.raises(TypeError, match="subclass of KVStoreBase"):
        mx.kv.KVStoreBase.register(dict)
    del mx.kv.KVStoreBase.kv_registry["mycountingstore"]
    # the library's stores are still created for other names, and are KVStoreBase too
    local = mx.kv.create("local")
    assert isinstance(local, mx.kv.KVStoreBase) and local.type == "local"
    with pytest.raises(TypeError, match="name must be a string"):
        mx.kv.create(3)


def test_num_gpus_is_zero():
    assert mx.context.num_gpus() == 0
    assert np.asarray(mx.nd.ones((1,))).tolist() == [1]
