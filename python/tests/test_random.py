"""mx.random: seeding repeats draws; uniform/normal/randn/randint give the asked shapes, dtypes
and ranges."""

import numpy as np
import pytest

import mxkv as mx


def test_seed_repeats_the_draws():
    mx.random.seed(7)
    first = [mx.random.uniform(shape=(3, 4)).asnumpy(), mx.random.normal(shape=5).asnumpy()]
    mx.random.seed(7)
    second = [mx.random.uniform(shape=(3, 4)).asnumpy(), mx.random.normal(shape=5).asnumpy()]
    for a, b in zip(first, second):
        assert np.array_equal(a, b)
    mx.random.seed(8)
    assert not np.array_equal(mx.random.uniform(shape=(3, 4)).asnumpy(), first[0])


def test_uniform_range_shape_dtype_context():
    mx.random.seed(1)
    x = mx.random.uniform(-2, 3, shape=(200,), dtype="float64", ctx=mx.cpu(1))
    values = x.asnumpy()
    assert x.shape == (200,) and x.dtype == np.float64 and x.context == mx.cpu(1)
    assert values.min() >= -2 and values.max() < 3 and values.std() > 1
    assert mx.random.uniform().shape == (1,)
    assert mx.random.uniform(shape=(2, 2), dtype=np.float16).dtype == np.float16


def test_normal_moments_and_out():
    mx.random.seed(2)
    values = mx.random.normal(10, 0.5, shape=(20000,)).asnumpy()
    assert abs(values.mean() - 10) < 0.02 and abs(values.std() - 0.5) < 0.02
    out = mx.nd.zeros((2, 3))
    assert mx.random.normal(0, 1, out=out) is out
    assert np.count_nonzero(out.asnumpy()) == 6
    assert mx.random.randn(2, 3).shape == (2, 3)


def test_ndarray_parameters_draw_per_element():
    mx.random.seed(3)
    low = mx.nd.array([0, 100])
    high = mx.nd.array([1, 101])
    x = mx.random.uniform(low, high, shape=4)
    assert x.shape == (2, 4)
    values = x.asnumpy()
    assert ((values[0] >= 0) & (values[0] < 1)).all() and ((values[1] >= 100) & (values[1] < 101)).all()


def test_randint():
    mx.random.seed(4)
    x = mx.random.randint(5, 8, shape=(100,))
    assert x.dtype == np.int32 and set(x.asnumpy().tolist()) == {5, 6, 7}


def test_bad_seed():
    with pytest.raises(ValueError, match="seed_state must be an int"):
        mx.random.seed("x")
    with pytest.raises(ValueError, match="ctx must be 'all' or a Context"):
        mx.random.seed(1, ctx="gpu")


def test_nd_random_is_mx_random():
    assert mx.nd.random is mx.random
    mx.nd.random.seed(5)
    a = mx.nd.random.uniform(shape=(3,)).asnumpy()
    mx.random.seed(5)
    assert np.array_equal(a, mx.random.uniform(shape=(3,)).asnumpy())
