"""mx.test_utils: tolerances, comparisons, random shapes and arrays, compare_optimizer, environment."""

import os

import numpy as np
import pytest

import mxkv as mx
from mxkv import test_utils as tu


def test_default_context_and_tolerances():
    assert tu.default_context() == mx.cpu(0)
    with mx.cpu(3):
        assert tu.default_context() == mx.cpu(3)
    assert tu.default_rtols()[np.dtype(np.float16)] == 1e-2
    assert tu.default_atols()[np.dtype(np.float32)] == 1e-3
    assert tu.default_rtols()[np.dtype(np.int32)] == 0
    assert tu.get_tols(np.zeros(1, np.float16), np.zeros(1, np.float64), None, None) == (1e-2, 1e-1)
    assert tu.get_tols(np.zeros(1), np.zeros(1), 0.5, {np.dtype(np.float64): 2}) == (0.5, 2)
    assert tu.get_rtol() == 1e-5 and tu.get_atol(0.25) == 0.25


def test_set_default_context_is_per_thread_default():
    try:
        tu.set_default_context(mx.cpu(5))
        assert tu.default_context() == mx.cpu(5)
        assert mx.nd.zeros((1,)).context == mx.cpu(5)
    finally:
        tu.set_default_context(None)
    assert tu.default_context() == mx.cpu(0)


def test_same_and_almost_equal():
    a = mx.nd.array([1.0, 2.0])
    assert tu.same(a, np.array([1.0, 2.0], dtype=np.float32))
    assert not tu.same(a, np.array([1.0, 2.5]))
    assert tu.almost_equal(a.asnumpy(), np.array([1.0, 2.0 + 1e-7]))
    assert not tu.almost_equal(a.asnumpy(), np.array([1.0, 2.1]))
    assert tu.almost_equal(np.ones((2, 2)), np.ones(2))
    assert not tu.almost_equal(np.ones((2, 2)), np.ones(2), use_broadcast=False)


def test_assert_almost_equal_passes_and_names_the_worst_element():
    tu.assert_almost_equal(mx.nd.array([1.0, 2.0]), mx.nd.array([1.0, 2.00001]))
    tu.assert_almost_equal(np.array([True]), np.array([True]))
    with pytest.raises(AssertionError, match=r"Location of maximum error: \(1,\), a=2.0+, b=3.0+"):
        tu.assert_almost_equal(mx.nd.array([1.0, 2.0]), np.array([1.0, 3.0]))
    with pytest.raises(AssertionError, match="are not equal"):
        tu.assert_almost_equal(np.ones(2), np.ones((1, 2)), use_broadcast=False)
    tu.assert_allclose(np.array([1.0]), np.array([1.0]))
    with pytest.raises(AssertionError):
        tu.assert_allclose(np.array([1.0]), np.array([1.0 + 1e-6]))


def test_assert_exception():
    tu.assert_exception(int, ValueError, "x")
    with pytest.raises(AssertionError, match="ValueError was not raised"):
        tu.assert_exception(int, ValueError, "1")


def test_random_shapes_and_arrays():
    np.random.seed(0)
    for _ in range(20):
        d0, d1 = tu.rand_shape_2d(3, 4)
        assert 1 <= d0 <= 3 and 1 <= d1 <= 4
        assert all(1 <= d <= 5 for d in tu.rand_shape_3d(5, 5, 5))
        shape = tu.rand_shape_nd(4, 2)
        assert len(shape) == 4 and all(1 <= d <= 2 for d in shape)
    assert 0 in {d for _ in range(50) for d in tu.rand_shape_2d(1, 1, allow_zero_size=True)}
    arr = tu.rand_ndarray((3, 2), dtype="float64", ctx=mx.cpu(1))
    assert arr.shape == (3, 2) and arr.dtype == np.float64 and arr.context == mx.cpu(1)
    assert np.abs(arr.asnumpy()).sum() > 0
    assert tu.rand_ndarray((2, 2), "csr").stype == "csr"
    with pytest.raises(ValueError, match="unknown storage type 'dense'"):
        tu.rand_ndarray((2, 2), "dense")


def test_compare_ndarray_tuple():
    a = (mx.nd.ones((2,)), (mx.nd.zeros((1,)), None))
    tu.compare_ndarray_tuple(a, (mx.nd.ones((2,)), (mx.nd.zeros((1,)), None)))
    tu.compare_ndarray_tuple(None, a)
    with pytest.raises(AssertionError):
        tu.compare_ndarray_tuple(a, (mx.nd.ones((2,)) * 2, (mx.nd.zeros((1,)), None)))


class _ScaledSGD:
    """An optimizer-like object: w -= scale * g, state = last gradient."""

    def __init__(self, scale):
        self.scale = scale

    def create_state_multi_precision(self, index, weight):
        return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, list):
            for i, w, g, s in zip(index, weight, grad, state):
                self.update_multi_precision(i, w, g, s)
            return
        state[:] = grad
        weight[:] -= self.scale * grad


def test_compare_optimizer_agrees_and_disagrees():
    tu.compare_optimizer(_ScaledSGD(0.1), _ScaledSGD(0.1), (3, 4), np.float32)
    tu.compare_optimizer(_ScaledSGD(0.1), _ScaledSGD(0.1), [(2,), (3, 1)], np.float32, ntensors=2)
    with pytest.raises(AssertionError):
        tu.compare_optimizer(_ScaledSGD(0.1), _ScaledSGD(0.5), (3, 4), np.float32)


def test_environment_sets_and_restores():
    os.environ.pop("MXKV_TEST_A", None)
    os.environ["MXKV_TEST_B"] = "old"
    with tu.environment({"MXKV_TEST_A": "1", "MXKV_TEST_B": None}):
        assert os.environ["MXKV_TEST_A"] == "1" and "MXKV_TEST_B" not in os.environ
    assert "MXKV_TEST_A" not in os.environ and os.environ["MXKV_TEST_B"] == "old"
    with tu.environment("MXKV_TEST_B", "new"):
        assert os.environ["MXKV_TEST_B"] == "new"
    assert os.environ.pop("MXKV_TEST_B") == "old"
    with pytest.raises(ValueError, match="a dict, or a name and a value"):
        with tu.environment("A"):
            pass


def test_star_import_brings_mxnet_names():
    names = {}
    exec("from mxkv.test_utils import *", names)  # pylint: disable=exec-used
    for name in ("np", "mx", "array", "default_context", "compare_optimizer", "assert_almost_equal",
                 "almost_equal", "rand_ndarray", "same", "rand_shape_2d"):
        assert name in names, name
