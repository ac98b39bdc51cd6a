"""Data-parallel updates through a KVStore, written exactly as for MXNet: `import mxkv as mx`.

Four "devices" each compute a gradient; the store sums them and runs SGD on the stored weight;
every device then pulls the new weight.
"""

import numpy as np

import mxkv as mx

shape = (2, 3)
devices = [mx.cpu(i) for i in range(4)]

kv = mx.kv.create("local")
kv.init("weight", mx.nd.ones(shape))

# A hand-written updater: the store passes the summed gradient and the stored weight.
def update(key, grad, weight):
    weight -= grad * 0.1

kv._set_updater(update)
grads = [mx.nd.ones(shape, ctx=dev) * (i + 1) for i, dev in enumerate(devices)]   # sum = 10
kv.push("weight", grads)
weights = [mx.nd.zeros(shape, ctx=dev) for dev in devices]
kv.pull("weight", out=weights)
print("after one push:", weights[0].asnumpy()[0])          # 1 - 0.1 * 10 = 0

# The same with MXNet's SGD optimizer running inside the store.
kv2 = mx.kv.create("local")
kv2.init([0, 1], [mx.nd.array(np.arange(6).reshape(shape)), mx.nd.zeros(shape)])
kv2.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.5, momentum=0.9))
for step in range(3):
    kv2.push([0, 1], [[g * 0.1 for g in grads]] * 2)        # gradient 1.0 on every element
out = [mx.nd.empty(shape), mx.nd.empty(shape)]
kv2.pull([0, 1], out=out)
print("after three SGD steps:", out[1].asnumpy()[0])        # -(0.5 + 0.95 + 1.355) = -2.805
print("store type %s, rank %d of %d" % (kv2.type, kv2.rank, kv2.num_workers))
