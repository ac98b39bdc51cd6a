"""mx.nd's element-wise math, reductions, joins and arange, as functions and as NDArray methods."""

import numpy as np
import pytest

import mxkv as mx
from mxkv import ndarray_math

DATA = np.array([[0.25, -1.5, 2.0], [4.0, -0.0, 9.0]], dtype=np.float32)

UNARY = sorted(ndarray_math._UNARY)


@pytest.mark.parametrize("name", UNARY)
def test_unary_function_and_method_match_numpy(name):
    x = mx.nd.array(DATA)
    with np.errstate(all="ignore"):
        expected = ndarray_math._UNARY[name](DATA.astype(np.float64)).astype(np.float32)
        got = getattr(mx.nd, name)(x).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    assert got.dtype == np.float32
    if hasattr(x, name):
        np.testing.assert_allclose(getattr(x, name)().asnumpy(), expected, rtol=1e-6, equal_nan=True)


def test_named_unary_values():
    x = mx.nd.array([[4, -9], [0.25, 1]])
    assert mx.nd.sqrt(mx.nd.abs(x)).asnumpy().tolist() == [[2, 3], [0.5, 1]]
    assert mx.nd.square(x).asnumpy().tolist() == [[16, 81], [0.0625, 1]]
    assert mx.nd.sign(x).asnumpy().tolist() == [[1, -1], [1, 1]]
    assert x.abs().asnumpy().tolist() == [[4, 9], [0.25, 1]]
    assert mx.nd.negative(x).asnumpy().tolist() == [[-4, 9], [-0.25, -1]]


def test_unary_into_out_and_views():
    x = mx.nd.array([[1, 4], [9, 16]])
    out = mx.nd.zeros((2, 2))
    assert mx.nd.sqrt(x, out=out) is out
    assert out.asnumpy().tolist() == [[1, 2], [3, 4]]
    # out= a view: writes into the array it views, as test_optimizer's reference Adam does.
    mx.nd.square(x[1], out=x[1])
    assert x.asnumpy().tolist() == [[1, 4], [81, 256]]
    with pytest.raises(mx.MXNetError, match="shape"):
        mx.nd.sqrt(x, out=mx.nd.zeros((3,)))
    with pytest.raises(TypeError, match="NDArray"):
        mx.nd.sqrt([1, 2])


def test_clip_function_method_and_out():
    x = mx.nd.array([-3, -0.5, 0.5, 3])
    assert mx.nd.clip(x, -1, 1).asnumpy().tolist() == [-1, -0.5, 0.5, 1]
    assert x.clip(0, 2).asnumpy().tolist() == [0, 0, 0.5, 2]
    mx.nd.clip(x, -1, 1, out=x)
    assert x.asnumpy().tolist() == [-1, -0.5, 0.5, 1]
    with pytest.raises(ValueError, match="a_min and a_max"):
        mx.nd.clip(x, None, 1)


def test_binary_functions_broadcast_and_keep_dtype():
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    row = mx.nd.array([3, 3, 3])
    assert mx.nd.maximum(a, 3).asnumpy().tolist() == [[3, 3, 3], [4, 5, 6]]
    assert mx.nd.minimum(a, row).asnumpy().tolist() == [[1, 2, 3], [3, 3, 3]]
    assert mx.nd.maximum(2, a).asnumpy().tolist() == [[2, 2, 3], [4, 5, 6]]
    assert mx.nd.power(a, 2).asnumpy().tolist() == [[1, 4, 9], [16, 25, 36]]
    assert mx.nd.power(2, a).asnumpy().tolist() == [[2, 4, 8], [16, 32, 64]]
    assert mx.nd.broadcast_add(a, mx.nd.array([[10], [20]])).asnumpy().tolist() == \
        [[11, 12, 13], [24, 25, 26]]
    assert mx.nd.broadcast_mul(a, row).asnumpy().tolist() == [[3, 6, 9], [12, 15, 18]]
    assert mx.nd.modulo(a, 4).asnumpy().tolist() == [[1, 2, 3], [0, 1, 2]]
    assert mx.nd.equal(a, row).asnumpy().tolist() == [[0, 0, 1], [0, 0, 0]]
    assert mx.nd.greater(a, 3).asnumpy().tolist() == [[0, 0, 0], [1, 1, 1]]
    assert mx.nd.lesser_equal(a, 2).asnumpy().tolist() == [[1, 1, 0], [0, 0, 0]]
    ints = mx.nd.array([7, 8], dtype="int32")
    assert mx.nd.maximum(ints, 7.9).dtype == np.int32
    with pytest.raises(mx.MXNetError, match="shape mismatch"):
        mx.nd.add(a, mx.nd.array([1, 2]))
    with pytest.raises(TypeError, match="operands must be NDArrays or numbers"):
        mx.nd.maximum("a", a.asnumpy().tolist())


@pytest.mark.parametrize("alias, name", sorted(ndarray_math._BROADCAST_ALIASES.items()))
def test_broadcast_names_are_the_same_functions(alias, name):
    assert getattr(mx.nd, alias) is getattr(mx.nd, name)
    a = mx.nd.array([[1, 2], [3, 4]])
    b = mx.nd.array([2, 1])
    got = getattr(mx.nd, alias)(a, b).asnumpy()
    reference = ndarray_math._BINARY[name](a.asnumpy(), b.asnumpy())
    np.testing.assert_allclose(got, reference)


def test_binary_of_two_numbers_is_a_number():
    assert mx.nd.power(0.9, 2) == pytest.approx(0.81)
    assert mx.nd.maximum(2, 5) == 5
    assert not isinstance(mx.nd.power(0.5, 3), mx.nd.NDArray)


def test_reductions_and_norm():
    x = mx.nd.array([[3, -4], [1, 2]])
    assert x.norm().shape == (1,)
    assert x.norm().asscalar() == pytest.approx(np.sqrt(30))
    assert mx.nd.norm(x, ord=1).asscalar() == 10
    assert mx.nd.norm(x, axis=1).asnumpy() == pytest.approx([5, np.sqrt(5)])
    assert mx.nd.norm(x, axis=0, keepdims=True).shape == (1, 2)
    assert x.sum().asnumpy().tolist() == [2]
    assert mx.nd.sum(x, axis=0).asnumpy().tolist() == [4, -2]
    assert mx.nd.sum(x, axis=1, exclude=True).asnumpy().tolist() == [4, -2]
    assert x.mean().asscalar() == 0.5
    assert x.max().asscalar() == 3 and x.min().asscalar() == -4
    assert mx.nd.prod(x, axis=-1).asnumpy().tolist() == [-12, 2]
    with pytest.raises(ValueError, match="ord"):
        x.norm(ord=3)
    with pytest.raises(mx.MXNetError, match="axis 2 is out of range"):
        x.sum(axis=2)


def test_concat_stack_arange():
    a = mx.nd.array([[1, 2]])
    b = mx.nd.array([[3, 4]])
    assert mx.nd.concat(a, b, dim=0).asnumpy().tolist() == [[1, 2], [3, 4]]
    assert mx.nd.concat(a, b).asnumpy().tolist() == [[1, 2, 3, 4]]
    assert mx.nd.stack(a, b).shape == (2, 1, 2)
    assert mx.nd.stack(a, b, axis=2).asnumpy().tolist() == [[[1, 3], [2, 4]]]
    with pytest.raises(mx.MXNetError, match="concat"):
        mx.nd.concat(a, mx.nd.array([[1, 2, 3]]), dim=0)
    with pytest.raises(mx.MXNetError, match="one dtype"):
        mx.nd.stack(a, b.astype("float64"))
    with pytest.raises(ValueError, match="at least one"):
        mx.nd.concat()
    assert mx.nd.arange(4).asnumpy().tolist() == [0, 1, 2, 3]
    assert mx.nd.arange(1, 2, 0.25).asnumpy().tolist() == [1, 1.25, 1.5, 1.75]
    assert mx.nd.arange(0, 3, repeat=2).asnumpy().tolist() == [0, 0, 1, 1, 2, 2]
    ints = mx.nd.arange(3, dtype="int64", ctx=mx.cpu(2))
    assert ints.dtype == np.int64 and ints.context == mx.cpu(2)
    with pytest.raises(ValueError, match="step"):
        mx.nd.arange(0, 3, 0)


def test_bfloat16_math_rounds_back_to_bfloat16():
    x = mx.nd.array([1, 4, 9], dtype="bfloat16")
    root = mx.nd.sqrt(x)
    assert root.dtype == mx.nd.bfloat16
    assert root.astype("float32").asnumpy().tolist() == [1, 2, 3]
