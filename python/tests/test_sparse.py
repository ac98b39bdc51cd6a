"""row_sparse and csr arrays (mx.nd.sparse) and row_sparse values in a store: the behaviours of
MXNet 1.9.1's sparse KVStore tests (reference §3.4-3.6, §7.2), in mxkv's own tests."""

import numpy as np
import pytest

import mxkv as mx
from mxkv.test_utils import rand_ndarray

shape = (4, 2)


def rsp(rows, value):
    dense = np.zeros(shape, dtype=np.float32)
    dense[list(rows)] = value
    return mx.nd.array(dense).tostype("row_sparse")


def test_row_sparse_arrays_hold_rows_and_ids():
    a = mx.nd.sparse.row_sparse_array((np.array([[1, 2], [3, 4]], dtype=np.float32), [0, 3]),
                                      shape=shape)
    assert isinstance(a, mx.nd.sparse.RowSparseNDArray)
    assert a.stype == "row_sparse" and a.shape == shape and a.dtype == np.float32
    np.testing.assert_array_equal(a.indices.asnumpy(), [0, 3])
    np.testing.assert_array_equal(a.data.asnumpy(), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(a.asnumpy(), [[1, 2], [0, 0], [0, 0], [3, 4]])
    z = mx.nd.zeros(shape, stype="row_sparse")
    assert z.indices.shape == (0,) and z.asnumpy().sum() == 0
    np.testing.assert_array_equal(a.tostype("default").asnumpy(), a.asnumpy())


def test_tostype_keeps_the_non_zero_rows():
    d = mx.nd.array([[0, 0], [1, 0], [0, 0], [0, 2]])
    r = d.tostype("row_sparse")
    np.testing.assert_array_equal(r.indices.asnumpy(), [1, 3])
    c = d.tostype("csr")
    np.testing.assert_array_equal(c.indptr.asnumpy(), [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(c.indices.asnumpy(), [0, 1])
    np.testing.assert_array_equal(c.asnumpy(), d.asnumpy())


def test_unsorted_ids_are_refused():
    with pytest.raises(mx.MXNetError, match="ascending order"):
        mx.nd.sparse.row_sparse_array((np.ones((2, 2)), [3, 1]), shape=shape)


def test_arithmetic_and_copies():
    a = rsp([1], 2)
    b = a * 3
    assert b.stype == "row_sparse"
    np.testing.assert_array_equal(b.asnumpy()[1], [6, 6])
    a += rsp([3], 1)
    np.testing.assert_array_equal(a.indices.asnumpy(), [1, 3])
    dense = mx.nd.ones(shape)
    dense += a
    np.testing.assert_array_equal(dense.asnumpy(), [[1, 1], [3, 3], [1, 1], [2, 2]])
    out = mx.nd.zeros(shape, stype="row_sparse")
    a.copyto(out)
    np.testing.assert_array_equal(out.asnumpy(), a.asnumpy())
    moved = a.copyto(mx.cpu(3))
    assert moved.context == mx.cpu(3) and moved.stype == "row_sparse"


def test_save_and_load_keep_the_storage_type(tmp_path):
    path = str(tmp_path / "sparse.params")
    a = rsp([0, 2], 5)
    c = mx.nd.array([[0, 1], [2, 0], [0, 0], [0, 0]]).tostype("csr")
    mx.nd.save(path, {"a": a, "c": c})
    back = mx.nd.load(path)
    assert back["a"].stype == "row_sparse" and back["c"].stype == "csr"
    np.testing.assert_array_equal(back["a"].asnumpy(), a.asnumpy())
    np.testing.assert_array_equal(back["c"].asnumpy(), c.asnumpy())


def test_push_of_row_sparse_values_sums_their_rows():
    kv = mx.kv.create()
    kv.init(3, mx.nd.zeros(shape))
    kv.push(3, [rsp([1], 2), rsp([3], 5), rsp([1], 1)])
    out = mx.nd.empty(shape)
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [[0, 0], [3, 3], [0, 0], [5, 5]])
    # The stored value is row_sparse now: pull skips row_sparse outputs unless asked.
    target = rsp([0], 7)
    kv.pull(3, out=target)
    np.testing.assert_array_equal(target.indices.asnumpy(), [0])
    kv.pull(3, out=target, ignore_sparse=False)
    np.testing.assert_array_equal(target.indices.asnumpy(), [1, 3])


def test_row_sparse_pull_gives_the_rows_asked_for():
    kv = mx.kv.create()
    kv.init("e", mx.nd.ones(shape).tostype("row_sparse"))
    out = mx.nd.zeros(shape, stype="row_sparse")
    kv.row_sparse_pull("e", out=out, row_ids=mx.nd.array([[3, 1], [3, 3]]))
    np.testing.assert_array_equal(out.indices.asnumpy(), [1, 3])
    np.testing.assert_array_equal(out.asnumpy(), [[0, 0], [1, 1], [0, 0], [1, 1]])
    # One id list for several outputs.
    outs = [mx.nd.zeros(shape, stype="row_sparse") for _ in range(3)]
    kv.row_sparse_pull("e", out=outs, row_ids=mx.nd.array([2]))
    for o in outs:
        np.testing.assert_array_equal(o.indices.asnumpy(), [2])
    with pytest.raises(mx.MXNetError, match="Expected row_sparse storage type"):
        kv.row_sparse_pull("e", out=mx.nd.zeros(shape), row_ids=mx.nd.array([1]))
    with pytest.raises(mx.MXNetError, match="out of range"):
        kv.row_sparse_pull("e", out=out, row_ids=mx.nd.array([4]))


def test_updater_sees_row_sparse_recv():
    seen = []

    def updater(key, recv, local):
        seen.append((recv.stype, recv.indices.asnumpy().tolist()))
        local += recv

    kv = mx.kv.create()
    kv.init(5, mx.nd.ones(shape))
    kv._set_updater(updater)
    kv.push(5, [rsp([2], 1), rsp([0], 2)])
    assert seen == [("row_sparse", [0, 2])]
    out = mx.nd.empty(shape)
    kv.pull(5, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [[3, 3], [1, 1], [2, 2], [1, 1]])


def test_random_row_sparse_arrays():
    a = rand_ndarray((6, 3), "row_sparse", density=0.5)
    assert a.stype == "row_sparse"
    ids = a.indices.asnumpy()
    dense = a.asnumpy()
    assert all(dense[i].any() for i in ids)
    assert not any(dense[i].any() for i in set(range(6)) - set(ids.tolist()))
