"""Several Python threads using the library at once: one shared store, stores per thread, errors."""

import threading

import numpy as np

import mxkv as mx

THREADS = 4


def run_threads(target):
    failures = []

    def guarded(index):
        try:
            target(index)
        except BaseException as err:  # reported by the main thread below
            failures.append((index, err))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_shared_store_own_keys_with_updater():
    kv = mx.kv.create("local")
    kv.init(list(range(THREADS)), [mx.nd.zeros((8, 8))] * THREADS)
    kv._set_updater(lambda key, recv, local: local.__iadd__(recv))
    pushes = 100

    def work(index):
        grad = mx.nd.ones((8, 8)) * (index + 1)
        out = mx.nd.zeros((8, 8))
        for step in range(pushes):
            kv.push(index, grad)
            kv.pull(index, out=out)
            assert out.asnumpy()[0, 0] == (step + 1) * (index + 1)

    run_threads(work)
    for index in range(THREADS):
        out = mx.nd.zeros((8, 8))
        kv.pull(index, out=out)
        np.testing.assert_array_equal(out.asnumpy(), np.full((8, 8), pushes * (index + 1)))


def test_shared_key_updates_are_not_lost():
    kv = mx.kv.create("local")
    kv.init("w", mx.nd.zeros(64))
    kv._set_updater(lambda key, recv, local: local.__iadd__(recv))
    pushes = 50

    def work(index):
        grad = mx.nd.ones(64, ctx=mx.cpu(index))
        for _ in range(pushes):
            kv.push("w", grad)

    run_threads(work)
    out = mx.nd.zeros(64)
    kv.pull("w", out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.full(64, THREADS * pushes))


def test_store_per_thread_and_errors_per_thread():
    def work(index):
        kv = mx.kv.create("local")
        kv.init(index, mx.nd.array(np.arange(10) * index))
        kv.push(index, [mx.nd.ones(10), mx.nd.ones(10) * index])
        out = mx.nd.zeros(10)
        kv.pull(index, out=out)
        np.testing.assert_array_equal(out.asnumpy(), np.full(10, 1 + index))
        for _ in range(20):
            try:
                kv.init(index, mx.nd.zeros(10))
            except mx.MXNetError as err:
                assert "duplicate init of key %d" % index in str(err)
            else:
                raise AssertionError("duplicate init was accepted")

    run_threads(work)


def test_updater_may_call_back_into_the_store():
    """Updaters run outside the store's locks: reading other keys (and its own) inside one works."""
    kv = mx.kv.create("local")
    kv.init([1, 2], [mx.nd.ones(3), mx.nd.ones(3) * 10])
    seen = []

    def update(key, recv, local):
        other = mx.nd.zeros(3)
        kv.pull(2 if key == 1 else 1, out=other)
        own = mx.nd.zeros(3)
        kv.pull(key, out=own)
        seen.append((key, other.asnumpy()[0], own.asnumpy()[0]))
        local += recv + other

    kv._set_updater(update)
    worker = threading.Thread(target=lambda: kv.push(1, mx.nd.ones(3)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "push with a re-entrant updater did not return (deadlock)"
    assert seen == [(1, 10.0, 1.0)]
    out = mx.nd.zeros(3)
    kv.pull(1, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [12, 12, 12])
