"""NDArray: creation, every dtype through numpy and through a store, views, arithmetic, save/load."""

import pickle

import numpy as np
import pytest

import mxkv as mx

# (dtype, MXNet code, sample data covering the type's range)
DTYPES = [
    ("float32", 0, np.array([-1.5, 0.0, 2.25, 3.4e38, -1e-38, 7.0], dtype=np.float32)),
    ("float64", 1, np.array([-1.5, 0.0, 2.25, 1.7e308, 1e-300, 1 / 3], dtype=np.float64)),
    ("float16", 2, np.array([-1.5, 0.0, 2.25, 65504.0, 6.1e-5, 0.099975586], dtype=np.float16)),
    ("uint8", 3, np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8)),
    ("int32", 4, np.array([-2**31, -1, 0, 1, 2**31 - 1, 12345], dtype=np.int32)),
    ("int8", 5, np.array([-128, -1, 0, 1, 127, 42], dtype=np.int8)),
    ("int64", 6, np.array([-2**63, -1, 0, 1, 2**63 - 1, 2**40 + 3], dtype=np.int64)),
    ("bool", 7, np.array([True, False, True, True, False, False])),
    ("int16", 8, np.array([-2**15, -1, 0, 1, 2**15 - 1, 300], dtype=np.int16)),
    ("uint16", 9, np.array([0, 1, 255, 256, 65534, 65535], dtype=np.uint16)),
    ("uint32", 10, np.array([0, 1, 2**16, 2**31, 2**32 - 2, 2**32 - 1], dtype=np.uint32)),
    ("uint64", 11, np.array([0, 1, 2**32, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64)),
]
NUMPY_DTYPES = [d[0] for d in DTYPES]


def _code(arr):
    return arr._dtype_code


@pytest.mark.parametrize("name, code, data", DTYPES, ids=NUMPY_DTYPES)
def test_numpy_round_trip_every_dtype(name, code, data):
    data = data.reshape(2, 3)
    arr = mx.nd.array(data, dtype=name)
    assert _code(arr) == code
    assert arr.dtype == np.dtype(name).type
    assert arr.shape == (2, 3)
    back = arr.asnumpy()
    assert back.dtype == np.dtype(name)
    np.testing.assert_array_equal(back, data)
    # the same bytes through MXNet's raw-bytes format and pickle
    again = pickle.loads(pickle.dumps(arr))
    assert _code(again) == code
    np.testing.assert_array_equal(again.asnumpy(), data)


@pytest.mark.parametrize("name, code, data", DTYPES, ids=NUMPY_DTYPES)
def test_store_round_trip_every_dtype(name, code, data):
    kv = mx.kv.create("local")
    kv.init("k", mx.nd.array(data, dtype=name))
    out = mx.nd.zeros(data.shape, dtype=name)
    kv.pull("k", out=out)
    np.testing.assert_array_equal(out.asnumpy(), data)
    kv.push("k", [mx.nd.array(data[::-1], dtype=name)])
    kv.pull("k", out=out)
    np.testing.assert_array_equal(out.asnumpy(), data[::-1])


@pytest.mark.parametrize("name", ["float64", "float16", "int32", "uint8", "int64", "bfloat16"])
def test_store_converts_dtypes_on_push_and_pull(name):
    """A float32 key takes pushes of other dtypes and fills outputs of other dtypes (spec §4.4)."""
    kv = mx.kv.create("local")
    kv.init(0, mx.nd.zeros(4))
    kv.push(0, mx.nd.array([1, 2, 3, 4], dtype=name))
    out32 = mx.nd.zeros(4)
    kv.pull(0, out=out32)
    np.testing.assert_array_equal(out32.asnumpy(), [1, 2, 3, 4])
    out = mx.nd.zeros(4, dtype=name)
    kv.pull(0, out=out)
    expected = mx.nd.array([1, 2, 3, 4], dtype=name).asnumpy()
    np.testing.assert_array_equal(out.asnumpy(), expected)


def test_bfloat16_raw_bits_and_values():
    bits = np.array([0x3F80, 0xC000, 0x4049, 0x0000, 0x7F80, 0xFF80], dtype=np.uint16)
    arr = mx.nd.array(bits, dtype="bfloat16")
    assert _code(arr) == 12
    assert arr.dtype == mx.nd.bfloat16
    np.testing.assert_array_equal(arr.asnumpy(), bits)
    # float values round to nearest even bfloat16
    vals = mx.nd.array(np.array([1.0, 2.5, -3.0, 3.140625, 1.00390625], dtype=np.float32), dtype="bfloat16")
    np.testing.assert_array_equal(vals.asnumpy(), [0x3F80, 0x4020, 0xC040, 0x4049, 0x3F80])
    doubled = vals * 2
    np.testing.assert_array_equal(doubled.asnumpy(), [0x4000, 0x40A0, 0xC0C0, 0x40C9, 0x4000])
    np.testing.assert_array_equal(vals.astype("float32").asnumpy(), [1.0, 2.5, -3.0, 3.140625, 1.0])
    kv = mx.kv.create()
    kv.init(1, vals)
    out = mx.nd.zeros(5, dtype=mx.nd.bfloat16)
    kv.pull(1, out=out)
    np.testing.assert_array_equal(out.asnumpy(), vals.asnumpy())


def test_creation_functions_and_contexts():
    z = mx.nd.zeros((2, 3), ctx=mx.cpu(3), dtype="int64")
    assert z.shape == (2, 3) and z.dtype == np.int64 and z.context == mx.cpu(3)
    np.testing.assert_array_equal(z.asnumpy(), np.zeros((2, 3)))
    o = mx.nd.ones(5, dtype=np.float16)
    np.testing.assert_array_equal(o.asnumpy(), np.ones(5, dtype=np.float16))
    assert mx.nd.empty((4, 1)).shape == (4, 1)
    f = mx.nd.full((2, 2), 7.5, ctx=mx.cpu_pinned(1))
    assert f.context == mx.cpu_pinned(1) and f.context.device_typeid == 3
    np.testing.assert_array_equal(f.asnumpy(), np.full((2, 2), 7.5))
    with mx.Context("cpu", 5):
        assert mx.nd.zeros(1).context == mx.cpu(5)
    assert mx.nd.zeros(1).context == mx.cpu(0)
    assert mx.nd.array([1, 2, 3]).dtype == np.float32  # MXNet 1.x default for non-NDArray sources
    assert mx.nd.array(mx.nd.zeros(2, dtype="int8")).dtype == np.int8
    assert mx.nd.array(5).shape == (1,)
    assert mx.nd.zeros_like(z).dtype == np.int64 and mx.nd.ones_like(z).context == mx.cpu(3)
    assert z.size == 6 and z.ndim == 2 and len(z) == 2 and z.stype == "default"
    assert repr(mx.cpu(2)) == "cpu(2)"


def test_numpy_source_is_copied_from_its_buffer_and_independent():
    src = np.arange(12, dtype=np.float32).reshape(3, 4)
    arr = mx.nd.array(src)
    src[:] = -1
    np.testing.assert_array_equal(arr.asnumpy(), np.arange(12).reshape(3, 4))
    back = arr.asnumpy()
    back[:] = 5
    np.testing.assert_array_equal(arr.asnumpy(), np.arange(12).reshape(3, 4))
    # non-contiguous input is accepted too
    arr2 = mx.nd.array(np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2])
    np.testing.assert_array_equal(arr2.asnumpy(), np.arange(24).reshape(4, 6)[:, ::2])


def test_indexing_views_share_memory():
    a = mx.nd.array(np.arange(12).reshape(3, 4))
    row = a[1]
    assert row.shape == (4,)
    np.testing.assert_array_equal(row.asnumpy(), [4, 5, 6, 7])
    row += 100
    np.testing.assert_array_equal(a.asnumpy()[1], [104, 105, 106, 107])
    rows = a[1:3]
    assert rows.shape == (2, 4)
    rows[:] = 0
    np.testing.assert_array_equal(a.asnumpy(), [[0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0]])
    a[-1] = 9
    np.testing.assert_array_equal(a.asnumpy()[2], [9, 9, 9, 9])
    a[0, 2] = -2
    assert a.asnumpy()[0, 2] == -2
    np.testing.assert_array_equal(a[0, 1:3].asnumpy(), [1, -2])
    # other indexing copies
    col = a[:, 1]
    np.testing.assert_array_equal(col.asnumpy(), [1, 0, 9])
    col[:] = 55
    np.testing.assert_array_equal(a.asnumpy()[:, 1], [1, 0, 9])
    a[:, 3] = mx.nd.array([7, 8, 9])
    np.testing.assert_array_equal(a.asnumpy()[:, 3], [7, 8, 9])
    with pytest.raises(IndexError):
        a[3]
    assert [r.asnumpy().tolist() for r in a][0] == [0, 1, -2, 7]


def test_reshape_is_a_view():
    a = mx.nd.zeros((2, 6))
    b = a.reshape((3, -1))
    assert b.shape == (3, 4)
    b[:] = 1
    np.testing.assert_array_equal(a.asnumpy(), np.ones((2, 6)))
    assert a.reshape(4, 3).shape == (4, 3)
    assert a.reshape((0, 3, 2)).shape == (2, 3, 2)


def test_arithmetic_with_arrays_and_scalars():
    a = mx.nd.array([[1, 2], [3, 4]])
    b = mx.nd.array([[10, 20], [30, 40]])
    np.testing.assert_array_equal((a + b).asnumpy(), [[11, 22], [33, 44]])
    np.testing.assert_array_equal((b - a).asnumpy(), [[9, 18], [27, 36]])
    np.testing.assert_array_equal((a * b).asnumpy(), [[10, 40], [90, 160]])
    np.testing.assert_array_equal((b / a).asnumpy(), [[10, 10], [10, 10]])
    np.testing.assert_array_equal((a + 1).asnumpy(), [[2, 3], [4, 5]])
    np.testing.assert_array_equal((1 - a).asnumpy(), [[0, -1], [-2, -3]])
    np.testing.assert_array_equal((2 * a).asnumpy(), [[2, 4], [6, 8]])
    np.testing.assert_array_equal((12 / a).asnumpy(), [[12, 6], [4, 3]])
    np.testing.assert_array_equal((a ** 2).asnumpy(), [[1, 4], [9, 16]])
    np.testing.assert_array_equal((a % 3).asnumpy(), [[1, 2], [0, 1]])
    np.testing.assert_array_equal((-a).asnumpy(), [[-1, -2], [-3, -4]])
    np.testing.assert_array_equal(abs(-a).asnumpy(), [[1, 2], [3, 4]])
    np.testing.assert_array_equal((a == 2).asnumpy(), [[0, 1], [0, 0]])
    np.testing.assert_array_equal((a > 2).asnumpy(), [[0, 0], [1, 1]])
    np.testing.assert_array_equal((a <= mx.nd.array([[1, 1], [4, 4]])).asnumpy(), [[1, 0], [1, 1]])
    np.testing.assert_array_equal((np.float32(3) * a).asnumpy(), [[3, 6], [9, 12]])
    c = a * 2
    assert isinstance(c, mx.nd.NDArray) and c.dtype == np.float32 and c.context == a.context
    ints = mx.nd.array([7, 9], dtype="int32")
    assert (ints / 2).dtype == np.int32
    np.testing.assert_array_equal((ints / 2).asnumpy(), [3, 4])


def test_in_place_operators_write_into_the_array():
    a = mx.nd.ones((2, 2))
    view = a[0]
    a += 1
    a *= mx.nd.array([[1, 2], [3, 4]])
    a -= 0.5
    a /= 0.5
    np.testing.assert_array_equal(a.asnumpy(), [[3, 7], [11, 15]])
    np.testing.assert_array_equal(view.asnumpy(), [3, 7])
    a[:] = 0
    assert a.asnumpy().sum() == 0
    a[:] = np.arange(4, dtype=np.float64).reshape(2, 2)
    np.testing.assert_array_equal(a.asnumpy(), [[0, 1], [2, 3]])
    a[1:] = mx.nd.array([[8, 9]])
    np.testing.assert_array_equal(a.asnumpy(), [[0, 1], [8, 9]])


def test_copyto_copy_astype_as_in_context():
    a = mx.nd.array([1.5, 2.5, 3.5])
    b = mx.nd.zeros(3, ctx=mx.cpu(1), dtype="float64")
    assert a.copyto(b) is b
    np.testing.assert_array_equal(b.asnumpy(), [1.5, 2.5, 3.5])
    c = a.copyto(mx.cpu(2))
    assert c.context == mx.cpu(2)
    c += 1
    np.testing.assert_array_equal(a.asnumpy(), [1.5, 2.5, 3.5])
    d = a.copy()
    d[:] = 0
    assert a.asnumpy()[0] == 1.5
    e = a.astype("int32")
    assert e.dtype == np.int32
    np.testing.assert_array_equal(e.asnumpy(), [1, 2, 3])
    assert a.astype("float32", copy=False) is a
    assert a.as_in_context(mx.cpu(0)) is a
    assert a.as_in_context(mx.cpu(7)).context == mx.cpu(7)
    with pytest.raises(mx.MXNetError, match="shape mismatch"):
        a.copyto(mx.nd.zeros(4))


def test_scalar_bool_and_repr():
    one = mx.nd.array([4.0])
    assert one.asscalar() == 4.0
    assert bool(one) and not bool(mx.nd.zeros(1))
    with pytest.raises(ValueError):
        bool(mx.nd.zeros(2))
    assert "<NDArray 2x3 @cpu(0)>" in repr(mx.nd.zeros((2, 3)))


def test_save_and_load_list_and_dict(tmp_path):
    arrays = {"w": mx.nd.array([[1, 2], [3, 4]]), "b": mx.nd.array([5, 6, 7], dtype="int64"),
              "h": mx.nd.array([0.5, -2], dtype="float16")}
    path = str(tmp_path / "p.params")
    mx.nd.save(path, arrays)
    loaded = mx.nd.load(path)
    assert sorted(loaded) == ["b", "h", "w"]
    for name, arr in arrays.items():
        assert loaded[name].dtype == arr.dtype
        np.testing.assert_array_equal(loaded[name].asnumpy(), arr.asnumpy())
    mx.nd.save(path, [arrays["w"], arrays["b"]])
    as_list = mx.nd.load(path)
    assert isinstance(as_list, list) and len(as_list) == 2
    np.testing.assert_array_equal(as_list[1].asnumpy(), [5, 6, 7])
    with pytest.raises(TypeError):
        mx.nd.save(path, {"x": np.zeros(2)})


def test_waitall_and_wait_to_read():
    a = mx.nd.ones(3)
    a.wait_to_read()
    mx.nd.waitall()
    assert a.asnumpy().sum() == 3
