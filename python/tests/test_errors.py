"""Errors: the library's messages as MXNetError, frontend assertions, and failed calls changing nothing."""

import numpy as np
import pytest

import mxkv as mx
import mxkv.base


def test_error_class_is_shared():
    assert mx.base.MXNetError is mx.MXNetError
    assert issubclass(mx.MXNetError, RuntimeError)


def test_duplicate_init_message():
    kv = mx.kv.create()
    kv.init(3, mx.nd.zeros(2))
    with pytest.raises(mx.base.MXNetError) as info:
        kv.init(3, mx.nd.zeros(2))
    text = str(info.value)
    assert "duplicate init of key 3" in text
    assert not text.startswith("MXNetError:")  # the class name is the exception's type
    assert mx.base.last_error_message().startswith("MXNetError: ")


def test_duplicate_string_key_and_unknown_string_key():
    kv = mx.kv.create()
    kv.init("w", mx.nd.zeros(2))
    with pytest.raises(mx.MXNetError, match="duplicate init of key w"):
        kv.init("w", mx.nd.zeros(2))
    with pytest.raises(mx.MXNetError, match="key zz doesn't exist. Did you init?"):
        kv.push("zz", mx.nd.zeros(2))


def test_pull_of_uninitialised_key():
    kv = mx.kv.create()
    kv.init(1, mx.nd.zeros(2))
    with pytest.raises(mx.MXNetError, match="key 9 has not been inited"):
        kv.pull(9, out=mx.nd.zeros(2))


def test_shape_mismatch_on_push_and_pull():
    kv = mx.kv.create()
    kv.init(1, mx.nd.zeros((2, 3)))
    with pytest.raises(mx.MXNetError, match="operands shape mismatch"):
        kv.push(1, mx.nd.zeros((3, 3)))
    with pytest.raises(mx.MXNetError, match="operands shape mismatch"):
        kv.pull(1, out=mx.nd.zeros((3, 2)))


def test_mixing_key_types_in_one_call_is_an_assertion():
    kv = mx.kv.create()
    with pytest.raises(AssertionError, match="inconsistent types of keys detected"):
        kv.init([1, "a"], [mx.nd.zeros(2)] * 2)
    with pytest.raises(AssertionError):
        kv.push([1, 2], mx.nd.zeros(2))
    with pytest.raises(AssertionError):
        kv.pull(1)
    with pytest.raises(AssertionError):
        kv.push(1.5, mx.nd.zeros(2))
    # nothing was registered: the store still takes either kind
    kv.init("a", mx.nd.zeros(2))


def test_failed_call_changes_nothing():
    kv = mx.kv.create()
    with pytest.raises(mx.MXNetError, match="duplicate init of key 1"):
        kv.init([1, 2, 1], [mx.nd.ones(2)] * 3)
    kv.init([1, 2], [mx.nd.ones(2) * 5] * 2)
    kv.push([1, 2], [mx.nd.ones(2) * 7] * 2)
    with pytest.raises(mx.MXNetError):
        kv.push([1, 99, 2], [mx.nd.ones(2)] * 3)
    outs = [mx.nd.zeros(2), mx.nd.zeros(2)]
    kv.pull([1, 2], out=outs)
    assert [o.asnumpy().tolist() for o in outs] == [[7, 7], [7, 7]]
    kv.init(99, mx.nd.zeros(2))  # a failed push did not register 99


def test_create_errors():
    with pytest.raises(TypeError, match="name must be a string"):
        mx.kv.create(3)
    with pytest.raises(mx.MXNetError, match="compile with USE_NCCL=1 to use nccl"):
        mx.kv.create("nccl")


def test_gpu_context_is_refused():
    with pytest.raises(mx.MXNetError):
        mx.nd.zeros((2, 2), ctx=mx.gpu(0))


def test_bad_dtype_and_shapes():
    with pytest.raises(TypeError):
        mx.nd.zeros(2, dtype=np.complex64)
    a = mx.nd.zeros((2, 2))
    with pytest.raises(ValueError, match="Shape inconsistent"):
        a._sync_copyfrom(np.zeros(3, dtype=np.float32))
    with pytest.raises(mx.MXNetError, match="shape mismatch"):
        a += mx.nd.zeros((3, 3))
    with pytest.raises(mx.MXNetError, match="dtype mismatch"):
        a + mx.nd.zeros((2, 2), dtype="int32")
    with pytest.raises(mx.MXNetError):
        mx.nd.zeros((2, 2)).reshape((5, -1))


def test_updater_exception_is_raised_by_push():
    kv = mx.kv.create()
    kv.init([1, 2], [mx.nd.zeros(2)] * 2)
    calls = []

    def failing(key, recv, local):
        calls.append(key)
        raise ValueError("bad update for %d" % key)

    kv._set_updater(failing)
    with pytest.raises(ValueError, match="bad update for 1"):
        kv.push([1, 2], [mx.nd.ones(2)] * 2)
    assert calls == [1]
    kv._set_updater(lambda key, recv, local: local.__iadd__(recv))
    kv.push(2, mx.nd.ones(2))
    out = mx.nd.zeros(2)
    kv.pull(2, out=out)
    assert out.asnumpy().tolist() == [1, 1]


def test_error_text_parsing():
    err = mxkv.base._error_from_message("MXNetError: something broke\nStack trace:\n  File \"x\", line 1\n")
    assert type(err) is mx.MXNetError
    assert str(err).startswith("something broke")
    typed = mxkv.base._error_from_message("ValueError: wrong value")
    assert isinstance(typed, ValueError) and isinstance(typed, mx.MXNetError)
    assert str(typed) == "wrong value"
    plain = mxkv.base._error_from_message("no class name here")
    assert type(plain) is mx.MXNetError and str(plain) == "no class name here"


def test_gradient_compression_only_for_device_and_dist():
    with pytest.raises(Exception, match="not supported for this type of kvstore"):
        mx.kv.create("local").set_gradient_compression({"type": "2bit"})
    kv = mx.kv.create("device")
    kv.set_gradient_compression({"type": "2bit", "threshold": 0.5})
    with pytest.raises(mx.MXNetError, match="threshold must be greater than 0"):
        kv.set_gradient_compression({"type": "2bit", "threshold": 0})
