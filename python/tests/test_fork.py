"""A process forked after the library has used its thread pool (large sums start it) keeps
working in the child and in the parent: multiprocessing's fork start method, data loaders."""

import os
import signal

import numpy as np

import mxkv as mx

# 1e6 float32 per array: a 2-way push touches 12 MB, enough to split the sum over the pool.
N = 1_000_000


def big_push_pull(kv, key, value):
    kv.push(key, [mx.nd.full((N,), value), mx.nd.full((N,), value)])
    out = mx.nd.zeros((N,))
    kv.pull(key, out=out)
    return out.asnumpy()


def run_in_child(body, seconds=60):
    """Runs body() in a forked child; True when it returned True within `seconds`."""
    pid = os.fork()
    if pid == 0:
        signal.alarm(seconds)  # a hang ends the child instead of the test run
        ok = False
        try:
            ok = bool(body())
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_child_and_parent_use_the_store_after_a_fork():
    kv = mx.kv.create("local")
    kv.init(3, mx.nd.zeros((N,)))
    assert np.array_equal(big_push_pull(kv, 3, 1.0), np.full(N, 2.0, np.float32))

    def child_uses_the_inherited_store():
        return np.array_equal(big_push_pull(kv, 3, 4.0), np.full(N, 8.0, np.float32))

    def child_makes_its_own_store():
        own = mx.kv.create("local")
        own.init("w", mx.nd.zeros((N,)))
        return np.array_equal(big_push_pull(own, "w", 0.5), np.ones(N, np.float32))

    assert run_in_child(child_uses_the_inherited_store)
    assert run_in_child(child_makes_its_own_store)
    # The child's pushes went to its own copy of the store; the parent's is as it was.
    out = mx.nd.zeros((N,))
    kv.pull(3, out=out)
    assert np.array_equal(out.asnumpy(), np.full(N, 2.0, np.float32))
    assert np.array_equal(big_push_pull(kv, 3, 3.0), np.full(N, 6.0, np.float32))
