"""2-bit gradient compression through kv.set_gradient_compression: what MXNet 1.9.1 gives back."""

import numpy as np
import pytest

import mxkv as mx
from mxkv.base import _LIB, c_str_array, mx_uint


def pulled(kv, key, shape):
    out = mx.nd.zeros(shape)
    kv.pull(key, out=out)
    return out.asnumpy()


def compressing(kind="device", threshold=0.5):
    kv = mx.kv.create(kind)
    kv.set_gradient_compression({"type": "2bit", "threshold": threshold})
    return kv


def test_a_steady_gradient_below_the_threshold_arrives_in_turns():
    kv = compressing()
    kv.init(3, mx.nd.zeros((2, 3)))
    seen = []
    for _ in range(5):
        kv.push(3, mx.nd.full((2, 3), 0.3))
        seen.append(pulled(kv, 3, (2, 3)))
    # MXNet 1.9.1: 0, 0.5, 0, 0.5, 0.5
    assert [float(a[0, 0]) for a in seen] == [0.0, 0.5, 0.0, 0.5, 0.5]
    assert all((a == a[0, 0]).all() for a in seen)


def test_each_device_keeps_its_own_residual():
    kv = compressing()
    kv.init("w", mx.nd.zeros(4))
    grads = [mx.nd.array([0.3, -0.3, 0.6, -1.2], ctx=mx.cpu(0)),
             mx.nd.array([0.2, 0.4, -0.6, 2.0], ctx=mx.cpu(1))]
    got = []
    for _ in range(4):
        kv.push("w", grads)
        got.append(pulled(kv, "w", 4).tolist())
    assert got == [[0, 0, 0, 0], [0.5, 0, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0, 0, 0]]


def test_the_optimizer_sees_the_compressed_sum():
    kv = compressing(threshold=0.25)
    kv.init(0, mx.nd.zeros(3))
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=1.0))
    kv.push(0, [mx.nd.array([0.3, -0.3, 0.1])] * 2)  # each device sends 0.25, -0.25, 0
    np.testing.assert_array_equal(pulled(kv, 0, 3), np.array([-0.5, 0.5, 0.0], dtype=np.float32))


def test_local_stores_refuse_and_a_local_store_set_through_the_c_api_sums_exactly():
    with pytest.raises(Exception, match="Gradient compression is not supported for this type of kvstore"):
        mx.kv.create("local").set_gradient_compression({"type": "2bit"})
    kv = mx.kv.create("local")
    names, values = ["type", "threshold"], ["2bit", "0.5"]
    assert _LIB.MXKVStoreSetGradientCompression(kv.handle, mx_uint(2), c_str_array(names),
                                                c_str_array(values)) == 0
    kv.init(1, mx.nd.zeros(2))
    kv.push(1, mx.nd.full(2, 0.3))
    np.testing.assert_array_equal(pulled(kv, 1, 2), np.full(2, 0.3, dtype=np.float32))


@pytest.mark.parametrize("params, message", [
    ({"threshold": 0.5}, "Required parameter type of string is not presented"),
    ({"type": "1bit"}, "Unknown type for gradient compression 1bit"),
    ({"type": "2bit", "threshold": 0}, r"Check failed: params.threshold > 0 \(0 vs. 0\)"),
    ({"type": "2bit", "threshold": -2.5}, r"\(-2.5 vs. 0\) : threshold must be greater than 0"),
    ({"type": "2bit", "threshold": "x"}, "expect float but value='x'"),
    ({"type": "2bit", "threshold": 1e40}, "Out of range value for threshold"),
])
def test_bad_settings_raise_mxnets_messages_and_change_nothing(params, message):
    kv = compressing()
    kv.init(1, mx.nd.zeros(2))
    with pytest.raises(mx.MXNetError, match=message):
        kv.set_gradient_compression(params)
    # The threshold in force is still 0.5.
    kv.push(1, mx.nd.full(2, 0.3))
    kv.push(1, mx.nd.full(2, 0.3))
    np.testing.assert_array_equal(pulled(kv, 1, 2), np.full(2, 0.5, dtype=np.float32))


def test_only_float32_keys_can_be_compressed():
    kv = compressing()
    kv.init(2, mx.nd.zeros(2, dtype="float16"))
    with pytest.raises(mx.MXNetError, match="only supported for float32"):
        kv.push(2, mx.nd.ones(2, dtype="float16"))
    np.testing.assert_array_equal(pulled(kv, 2, 2), np.zeros(2, dtype=np.float32))
