"""MXNet 1.9.1's dense KVStore tests (reference §7.2: tests/python/unittest/test_kvstore.py and
test_kvstore_custom.py), with the same inputs and expected values, run through `import mxkv as mx`."""

import numpy as np
import pytest

import mxkv as mx

shape = (4, 4)
keys = [5, 7, 11]
str_keys = ["b", "c", "d"]


def init_kv():
    kv = mx.kv.create()
    kv.init(3, mx.nd.zeros(shape=shape))
    kv.init(keys, [mx.nd.zeros(shape=shape)] * len(keys))
    return kv


def init_kv_with_str():
    kv = mx.kv.create()
    kv.init("a", mx.nd.zeros(shape))
    kv.init(str_keys, [mx.nd.zeros(shape=shape)] * len(keys))
    return kv


def check_diff_to_scalar(A, x):
    """A == x exactly."""
    assert np.sum(np.abs((A - x).asnumpy())) == 0
    np.testing.assert_array_equal(A.asnumpy(), np.full(A.shape, x, dtype=np.float32))


@pytest.mark.parametrize("make_kv, key", [(init_kv, 3), (init_kv_with_str, "a")])
def test_single_kv_pair(make_kv, key):
    kv = make_kv()
    kv.push(key, mx.nd.ones(shape))
    val = mx.nd.empty(shape)
    kv.pull(key, out=val)
    check_diff_to_scalar(val, 1)


@pytest.mark.parametrize("key", [3, "a"])
def test_init(key):
    kv = mx.kv.create()
    kv.init(key, mx.nd.ones(shape) * 4)
    a = mx.nd.zeros(shape)
    kv.pull(key, out=a)
    check_diff_to_scalar(a, 4)


@pytest.mark.parametrize("kv_type", ["device", "local"])
def test_pull(kv_type):
    kv = mx.kv.create(kv_type)
    a = mx.nd.ones(shape)
    b = mx.nd.zeros(shape)
    kv.init("1", mx.nd.zeros(shape))
    kv.push("1", [a, a, a, a])
    kv.pull("1", b)
    check_diff_to_scalar(b, 4)
    kv.init("2", mx.nd.zeros(shape))
    kv.pull("2", b)
    check_diff_to_scalar(b, 0)


@pytest.mark.parametrize("make_kv, key_list", [(init_kv, keys), (init_kv_with_str, str_keys)])
def test_list_kv_pair(make_kv, key_list):
    kv = make_kv()
    kv.push(key_list, [mx.nd.ones(shape) * 4] * len(key_list))
    val = [mx.nd.empty(shape)] * len(key_list)
    kv.pull(key_list, out=val)
    for v in val:
        check_diff_to_scalar(v, 4)


@pytest.mark.parametrize("make_kv, key, key_list", [(init_kv, 3, keys), (init_kv_with_str, "a", str_keys)])
def test_aggregator(make_kv, key, key_list):
    kv = make_kv()
    num_devs = 4
    devs = [mx.Context("cpu", i) for i in range(num_devs)]
    vals = [mx.nd.ones(shape, d) for d in devs]
    kv.push(key, vals)
    kv.pull(key, out=vals)
    for v in vals:
        check_diff_to_scalar(v, num_devs)
    assert [v.context for v in vals] == devs

    vals = [[mx.nd.ones(shape, d) * 2.0 for d in devs]] * len(key_list)
    kv.push(key_list, vals)
    kv.pull(key_list, out=vals)
    for vv in vals:
        for v in vv:
            check_diff_to_scalar(v, num_devs * 2.0)


def updater(key, recv, local):
    assert isinstance(key, int)
    local += recv


def str_updater(key, recv, local):
    if isinstance(key, bytes):
        key = mx.base.py_str(key)
    assert isinstance(key, str)
    local += recv


@pytest.mark.parametrize("make_kv, key, key_list, func",
                         [(init_kv, 3, keys, updater), (init_kv_with_str, "a", str_keys, str_updater)])
def test_updater(make_kv, key, key_list, func):
    kv = make_kv()
    kv._set_updater(func)
    num_devs = 4
    devs = [mx.Context("cpu", i) for i in range(num_devs)]
    vals = [mx.nd.ones(shape, d) for d in devs]
    kv.push(key, vals)
    kv.pull(key, out=vals)
    for v in vals:
        check_diff_to_scalar(v, num_devs)

    vals = [[mx.nd.ones(shape, d) for d in devs]] * len(key_list)
    num_push = 4
    for _ in range(num_push):
        kv.push(key_list, vals)
    kv.pull(key_list, out=vals)
    for vv in vals:
        for v in vv:
            check_diff_to_scalar(v, num_devs * num_push)


def test_get_type():
    kvtype = "local_allreduce_cpu"
    kv = mx.kv.create(kvtype)
    assert kv.type == kvtype
    assert mx.kv.create("LOCAL_Update_CPU").type == "local_update_cpu"


def test_rank_and_workers():
    kv = mx.kv.create("local")
    assert kv.rank == 0
    assert kv.num_workers == 1
    kv._barrier()
    kv._send_command_to_servers(0, "ignored by local stores")
    assert kv.is_capable("optimizer")


@pytest.mark.parametrize("make_kv, wrong_key", [(init_kv, "a"), (init_kv_with_str, 3)])
def test_invalid_pull_mixed_key_types(make_kv, wrong_key):
    kv = make_kv()
    with pytest.raises(mx.base.MXNetError, match="Mixed key types are not allowed"):
        kv.init(wrong_key, mx.nd.ones(shape))
    with pytest.raises(mx.base.MXNetError, match="Mixed key types are not allowed"):
        kv.push(wrong_key, mx.nd.ones(shape))
    with pytest.raises(mx.base.MXNetError, match="Mixed key types are not allowed"):
        kv.pull(wrong_key, out=mx.nd.ones(shape))


# test_kvstore_custom.py, for the native store ('device' there; any local name here)
@pytest.mark.parametrize("key", [3, "a"])
def test_broadcast_single_kv_pair(key):
    kv = mx.kv.create("device")
    out = mx.nd.empty(shape)
    kv.broadcast(key, mx.nd.ones(shape), out)
    check_diff_to_scalar(out, 1)
    outs = [mx.nd.empty(shape)] * 3
    kv.broadcast(key + key, mx.nd.ones(shape), outs)
    for o in outs:
        check_diff_to_scalar(o, 1)


@pytest.mark.parametrize("key_list, key_list2", [([5, 7, 11], [10, 14, 22]), (["b", "c", "d"], ["bb", "cc", "dd"])])
def test_broadcast_list_kv_pair(key_list, key_list2):
    kv = mx.kv.create("device")
    outs = [mx.nd.empty(shape) for _ in key_list]
    kv.broadcast(key_list, [mx.nd.ones(shape)] * len(key_list), outs)
    for o in outs:
        check_diff_to_scalar(o, 1)
    outs = [[mx.nd.empty(shape) for _ in range(2)] for _ in key_list2]
    kv.broadcast(key_list2, [mx.nd.ones(shape)] * len(key_list2), outs)
    for oo in outs:
        for o in oo:
            check_diff_to_scalar(o, 1)


@pytest.mark.parametrize("key", [3, "a"])
def test_pushpull_single_kv_pair(key):
    kv = mx.kv.create("device")
    kv.broadcast(key, mx.nd.zeros(shape), mx.nd.empty(shape))
    num_devs = 4
    vals = [mx.nd.ones(shape, mx.cpu(i)) for i in range(num_devs)]
    outs = [mx.nd.empty(shape, mx.cpu(i)) for i in range(num_devs)]
    kv.pushpull(key, vals, out=outs)
    for o in outs:
        check_diff_to_scalar(o, num_devs)
    kv.pushpull(key, vals)
    for v in vals:
        check_diff_to_scalar(v, num_devs)


@pytest.mark.parametrize("key_list", [[5, 7, 11], ["b", "c", "d"]])
def test_pushpull_list_kv_pair(key_list):
    kv = mx.kv.create("device")
    kv.broadcast(key_list, [mx.nd.zeros(shape)] * len(key_list), [mx.nd.empty(shape) for _ in key_list])
    num_devs = 4
    vals = [[mx.nd.ones(shape, mx.cpu(i)) * 2 for i in range(num_devs)]] * len(key_list)
    outs = [[mx.nd.empty(shape, mx.cpu(i)) for i in range(num_devs)] for _ in key_list]
    kv.pushpull(key_list, vals, out=outs)
    for oo in outs:
        for o in oo:
            check_diff_to_scalar(o, num_devs * 2)
    kv.pushpull(key_list, vals)
    for vv in vals:
        for v in vv:
            check_diff_to_scalar(v, num_devs * 2)


def test_priority_does_not_change_results():
    kv = init_kv()
    kv.push(keys, [mx.nd.ones(shape) * 3] * 3, priority=-7)
    outs = [mx.nd.empty(shape) for _ in keys]
    kv.pull(keys, out=outs, priority=5, ignore_sparse=False)
    for o in outs:
        check_diff_to_scalar(o, 3)


def test_push_without_updater_stores_the_sum_of_distinct_values():
    kv = mx.kv.create()
    kv.init(1, mx.nd.ones((2, 3)) * 100)
    vals = [mx.nd.array(np.arange(6).reshape(2, 3) * (i + 1), ctx=mx.cpu(i)) for i in range(3)]
    kv.push(1, vals)
    out = mx.nd.empty((2, 3))
    kv.pull(1, out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.arange(6).reshape(2, 3) * 6)


def test_store_keeps_values_not_references():
    kv = mx.kv.create()
    kv.init(1, mx.nd.zeros(3))
    pushed = mx.nd.array([7, 7, 7])
    kv.push(1, pushed)
    pushed[:] = 9
    out = mx.nd.zeros(3)
    kv.pull(1, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [7, 7, 7])


def test_updater_order_keys_and_handles():
    """Updater runs once per distinct key, ascending; recv is the sum; local shares the stored memory."""
    kv = mx.kv.create()
    kv.init([1, 5, 9], [mx.nd.zeros(2)] * 3)
    seen = []

    def record(key, recv, local):
        seen.append((key, recv.asnumpy().tolist()))
        local[:] = recv * 10

    kv._set_updater(record)
    kv.push([9, 5, 1, 5], [mx.nd.ones(2) * v for v in (1, 2, 3, 4)])
    assert seen == [(1, [3.0, 3.0]), (5, [6.0, 6.0]), (9, [1.0, 1.0])]
    outs = [mx.nd.empty(2) for _ in range(3)]
    kv.pull([1, 5, 9], out=outs)
    assert [o.asnumpy().tolist() for o in outs] == [[30, 30], [60, 60], [10, 10]]


def test_str_updater_gets_bytes_keys():
    kv = mx.kv.create()
    kv.init(["x", "y"], [mx.nd.zeros(2)] * 2)
    seen = []
    kv._set_updater(lambda key, recv, local: seen.append(key))
    kv.push(["y", "x"], [mx.nd.ones(2)] * 2)
    assert sorted(seen) == [b"x", b"y"]


def test_updater_weight_plus_grad_times_two():
    kv = mx.kv.create()
    kv.init("w", mx.nd.ones((3, 2)))

    def update(key, grad, weight):
        weight += grad * 2

    kv._set_updater(update)
    kv.push("w", mx.nd.array([[1, 2], [3, 4], [5, 6]]))
    out = mx.nd.empty((3, 2))
    kv.pull("w", out=out)
    np.testing.assert_array_equal(out.asnumpy(), [[3, 5], [7, 9], [11, 13]])


def test_remove_updater_assigns_again():
    kv = mx.kv.create()
    kv.init(0, mx.nd.ones(2))
    kv._set_updater(lambda k, r, l: l.__iadd__(r))
    kv.push(0, mx.nd.ones(2))
    kv._set_updater(None)
    kv.push(0, mx.nd.ones(2) * 5)
    out = mx.nd.empty(2)
    kv.pull(0, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [5, 5])


def test_updater_handles_are_freed_and_views_stay_valid():
    """recv/local own their handles; keeping one past the push keeps its data readable."""
    kv = mx.kv.create()
    kv.init(4, mx.nd.zeros(3))
    kept = []

    def keep(key, recv, local):
        local += recv
        kept.append(local)

    kv._set_updater(keep)
    for _ in range(200):
        kv.push(4, mx.nd.ones(3))
    np.testing.assert_array_equal(kept[-1].asnumpy(), [200, 200, 200])
    del kept[:]
    out = mx.nd.empty(3)
    kv.pull(4, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [200, 200, 200])


def test_stored_values_independent_of_initialising_array():
    kv = mx.kv.create()
    src = mx.nd.ones(4)
    kv.init(2, src)
    src += 10
    out = mx.nd.zeros(4)
    kv.pull(2, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [1, 1, 1, 1])
