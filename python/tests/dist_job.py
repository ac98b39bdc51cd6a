"""One program for every rank of a distributed job (run by test_dist.py under mpirun):
importing mxkv makes the server ranks serve and exit; the workers check dist_sync through
the Python package, as MXNet's own nightly test does."""

import os
import sys

import numpy as np

import mxkv as mx

shape = (2, 3)


def check(name, got, want):
    np.testing.assert_array_equal(got.asnumpy(), np.full(shape, want, dtype=np.float32), err_msg=name)


def main():
    kv = mx.kv.create("dist_sync")
    rank, workers = kv.rank, kv.num_workers
    assert kv.type == "dist_sync"
    assert 0 <= rank < workers

    # rank 0's init wins; one push of every worker is summed
    kv.init(3, mx.nd.ones(shape) * (10 + rank))
    out = mx.nd.zeros(shape)
    kv.pull(3, out=out)
    check("init", out, 10)
    kv.push(3, mx.nd.ones(shape) * (rank + 1))
    kv.pull(3, out=out)
    check("push", out, workers * (workers + 1) / 2)

    # several devices' arrays for one key are summed on the worker first
    kv.push(3, [mx.nd.ones(shape)] * 2)
    kv.pull(3, out=[out, mx.nd.zeros(shape)])
    check("devices", out, 2 * workers)

    # string keys, in a store of their own
    skv = mx.kv.create("dist_sync")
    skv.init(["w", "b"], [mx.nd.zeros(shape), mx.nd.ones(shape)])
    skv.push("w", mx.nd.ones(shape) * 3)
    skv.pull("w", out=out)
    check("str key", out, 3 * workers)

    # the optimizer travels to the servers (command 0) and runs there; without servers
    # every worker runs it on the allreduced sum
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, rescale_grad=1.0))
    kv._barrier()
    kv.init(5, mx.nd.ones(shape))
    kv.push(5, mx.nd.ones(shape))
    kv.pull(5, out=out)
    np.testing.assert_allclose(out.asnumpy(), np.full(shape, 1 - 0.1 * workers), rtol=1e-6)

    kv._barrier()
    print("worker %d of %d: ok" % (rank, workers))
    sys.stdout.flush()


main()
