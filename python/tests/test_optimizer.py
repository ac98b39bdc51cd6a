"""kv.set_optimizer with SGD: values against a numpy reference of MXNet's sgd(_mom)_update, and
save/load_optimizer_states."""

import pickle

import numpy as np
import pytest

import mxkv as mx


def sgd_reference(weight, grads, learning_rate, momentum=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=None):
    w = weight.astype(np.float64)
    mom = np.zeros_like(w)
    for g in grads:
        g = rescale_grad * g.astype(np.float64)
        if clip_gradient is not None:
            g = np.clip(g, -clip_gradient, clip_gradient)
        if momentum == 0.0:
            w = w - learning_rate * (g + wd * w)
        else:
            mom = momentum * mom - learning_rate * wd * w - learning_rate * g
            w = w + mom
    return w


def run_store(optimizer, weight, grads, key=0, devices=1):
    kv = mx.kv.create("local")
    kv.init(key, mx.nd.array(weight))
    kv.set_optimizer(optimizer)
    for g in grads:
        # the gradient split over several devices sums to g
        parts = [mx.nd.array(g / devices, ctx=mx.cpu(i)) for i in range(devices)]
        kv.push(key, parts)
    out = mx.nd.zeros(weight.shape)
    kv.pull(key, out=out)
    return kv, out.asnumpy()


@pytest.fixture
def data():
    rng = np.random.RandomState(7)
    weight = rng.uniform(-1, 1, size=(5, 4)).astype(np.float32)
    grads = [rng.uniform(-3, 3, size=(5, 4)).astype(np.float32) for _ in range(6)]
    return weight, grads


def test_plain_sgd(data):
    weight, grads = data
    _, got = run_store(mx.optimizer.SGD(learning_rate=0.1), weight, grads)
    np.testing.assert_allclose(got, sgd_reference(weight, grads, 0.1), rtol=1e-5, atol=1e-6)


def test_sgd_momentum_wd_rescale_clip_from_create(data):
    weight, grads = data
    params = dict(learning_rate=0.05, momentum=0.9, wd=0.01, rescale_grad=0.5, clip_gradient=1.0)
    opt = mx.optimizer.create("sgd", **params)
    assert isinstance(opt, mx.optimizer.SGD) and opt.momentum == 0.9
    _, got = run_store(opt, weight, grads, devices=4)
    np.testing.assert_allclose(got, sgd_reference(weight, grads, **params), rtol=1e-5, atol=1e-6)


def test_sgd_with_string_keys(data):
    weight, grads = data
    _, got = run_store(mx.optimizer.SGD(learning_rate=0.2, momentum=0.5), weight, grads, key="fc1_weight")
    np.testing.assert_allclose(got, sgd_reference(weight, grads, 0.2, momentum=0.5), rtol=1e-5, atol=1e-6)


def test_create_by_name_and_registry():
    assert isinstance(mx.optimizer.create("SGD"), mx.optimizer.SGD)
    assert mx.optimizer.create("sgd").learning_rate == 0.01
    with pytest.raises(ValueError, match="Cannot find optimizer"):
        mx.optimizer.create("nosuch")
    with pytest.raises(TypeError, match="unexpected optimizer arguments"):
        mx.optimizer.SGD(learning_rat=0.1)


def test_multipliers_by_name():
    opt = mx.optimizer.SGD(learning_rate=1.0, wd=0.1, param_idx2name={0: "fc_weight", 1: "fc_bias"})
    opt.set_lr_mult({"fc_weight": 0.5})
    assert opt._get_lr(0) == 0.5 and opt._get_lr(1) == 1.0
    assert opt._get_wd(0) == pytest.approx(0.1) and opt._get_wd(1) == 0.0


def test_test_optimizer():
    kv = mx.kv.create()
    kv.init("3", mx.nd.ones((2, 3)))
    kv.set_optimizer(mx.optimizer.create("test", rescale_grad=2))
    for _ in range(3):
        kv.push("3", [mx.nd.ones((2, 3)) * (r + 1) for r in range(2)])
    out = mx.nd.zeros((2, 3))
    kv.pull("3", out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 3), 1 + 3 * 2 * 3))


@pytest.mark.parametrize("dump_optimizer", [False, True])
def test_save_and_load_optimizer_states(tmp_path, data, dump_optimizer):
    weight, grads = data
    params = dict(learning_rate=0.1, momentum=0.9, wd=0.001)
    reference = sgd_reference(weight, grads, **params)

    kv, _ = run_store(mx.optimizer.SGD(**params), weight, grads[:3])
    middle = mx.nd.zeros(weight.shape)
    kv.pull(0, out=middle)
    path = str(tmp_path / "states")
    kv.save_optimizer_states(path, dump_optimizer=dump_optimizer)

    resumed = mx.kv.create("local")
    resumed.init(0, middle)
    resumed.set_optimizer(mx.optimizer.SGD(learning_rate=0.5 if dump_optimizer else 0.1, momentum=0.9, wd=0.001))
    resumed.load_optimizer_states(path)
    for g in grads[3:]:
        resumed.push(0, mx.nd.array(g))
    out = mx.nd.zeros(weight.shape)
    resumed.pull(0, out=out)
    np.testing.assert_allclose(out.asnumpy(), reference, rtol=1e-5, atol=1e-6)


def test_optimizer_states_need_an_updater(tmp_path):
    kv = mx.kv.create()
    with pytest.raises(AssertionError, match="Cannot save states"):
        kv.save_optimizer_states(str(tmp_path / "x"))


def test_multi_precision_float16(data):
    weight, grads = data
    kv = mx.kv.create()
    kv.init(0, mx.nd.array(weight, dtype="float16"))
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.01, momentum=0.9, multi_precision=True))
    for g in grads:
        kv.push(0, mx.nd.array(g, dtype="float16"))
    out = mx.nd.zeros(weight.shape, dtype="float16")
    kv.pull(0, out=out)
    expected = sgd_reference(weight.astype(np.float16).astype(np.float32),
                             [g.astype(np.float16) for g in grads], 0.01, momentum=0.9)
    np.testing.assert_allclose(out.asnumpy().astype(np.float32), expected, rtol=2e-3, atol=2e-3)


FIXTURES = __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "c-tests",
                                      "fixtures", "optimizer")


def store_cases():
    with open(__import__("os").path.join(FIXTURES, "store_cases.txt")) as f:
        for line in f:
            case, name, *args = line.split()
            kwargs = {}
            for a in args:
                k, v = a.split("=")
                kwargs[k] = {"True": True, "False": False}.get(v, None)
                if kwargs[k] is None:
                    kwargs[k] = float(v)
            yield case, name, kwargs


@pytest.mark.parametrize("case,name,kwargs", list(store_cases()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_optimizer_gives_mxnets_results(case, name, kwargs):
    """MXNet 1.9.1's local store with set_optimizer, three pushes of one key
    (c-tests/fixtures/optimizer/make_store_fixtures.py): the same final weight, bitwise, except
    LAMB (MXNet's store runs its aggregated multi_lamb_update): within 1e-6 relative."""
    arrays = mx.nd.load(__import__("os").path.join(FIXTURES, case + ".params"))
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.create(name, **kwargs))
    kv.init(3, arrays["init"])
    for step in range(3):
        kv.push(3, arrays["grad%d" % step])
    final = arrays["final"]
    out = mx.nd.zeros(final.shape, dtype=final.dtype)
    kv.pull(3, out=out)
    if name == "lamb":
        np.testing.assert_allclose(out.asnumpy(), final.asnumpy(), rtol=2e-3 if final.dtype == np.float16 else 1e-6)
    else:
        assert out.asnumpy().tobytes() == final.asnumpy().tobytes()


def test_unknown_optimizer_and_operator_errors():
    with pytest.raises(ValueError, match="Cannot find optimizer adamw"):
        mx.optimizer.create("adamw")
    w, g = mx.nd.ones((3,)), mx.nd.ones((3,))
    with pytest.raises(mx.MXNetError, match="sgd_mom_update takes 3 arrays"):
        mx.optimizer._update("sgd_mom_update", [w, g], lr=0.1)
    assert (w.asnumpy() == 1).all()


def test_lr_schedulers():
    from mxkv import lr_scheduler
    f = lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0)
    assert [f(n) for n in (1, 2, 3, 5)] == [1.0, 1.0, 0.5, 0.25]
    m = lr_scheduler.MultiFactorScheduler(step=[2, 4], factor=0.1, base_lr=1.0)
    assert [m(n) for n in (2, 3, 5)] == pytest.approx([1.0, 0.1, 0.01])
    p = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, warmup_steps=2, warmup_begin_lr=0.5)
    assert p(1) == 0.75 and p(2) == 1.0 and p(6) == pytest.approx(0.25) and p(10) == 0.0
    c = lr_scheduler.CosineScheduler(max_update=4, base_lr=2.0, final_lr=0.0)
    assert c(2) == pytest.approx(1.0) and c(4) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="Base lr has to be higher than warmup_begin_lr"):
        lr_scheduler.FactorScheduler(step=1, base_lr=0.1, warmup_begin_lr=0.2)


@pytest.mark.parametrize("lazy_update", [True, False])
def test_row_sparse_gradients_lazy_and_standard(lazy_update):
    """SGD with momentum and Adam on a row_sparse weight and gradient: the lazy update changes
    only the rows the gradient stores and keeps row_sparse states; the standard one changes
    every row (weight decay) and keeps dense states."""
    rows = np.arange(12, dtype=np.float32).reshape(4, 3) / 10 + 1
    grad = mx.nd.sparse.row_sparse_array((np.ones((2, 3), np.float32), [1, 3]), shape=(4, 3))
    sgd = mx.optimizer.SGD(learning_rate=0.5, momentum=0.9, wd=0.1, lazy_update=lazy_update)
    adam = mx.optimizer.Adam(learning_rate=0.5, wd=0.1, lazy_update=lazy_update)
    for opt in [sgd, adam]:
        weight = mx.nd.array(rows).tostype("row_sparse")
        state = opt.create_state_multi_precision(0, weight)
        first = state[0] if isinstance(state, tuple) else state
        assert first.stype == ("row_sparse" if lazy_update else "default")
        opt.update_multi_precision(0, weight, grad, state)
        after = weight.asnumpy()
        assert weight.stype == "row_sparse"
        assert np.all(after[[1, 3]] < rows[[1, 3]])
        if lazy_update:
            np.testing.assert_array_equal(after[[0, 2]], rows[[0, 2]])
        elif opt is sgd:
            # momentum = -lr*wd*w, then w += momentum
            np.testing.assert_allclose(after[[0, 2]], rows[[0, 2]] * 0.95, rtol=1e-6)
        else:
            assert np.all(after[[0, 2]] < rows[[0, 2]])


def test_row_sparse_weight_must_store_every_row():
    weight = mx.nd.sparse.row_sparse_array((np.ones((1, 2), np.float32), [0]), shape=(2, 2))
    grad = mx.nd.sparse.row_sparse_array((np.ones((1, 2), np.float32), [1]), shape=(2, 2))
    with pytest.raises(mx.base.MXNetError, match="must store every row: it stores 1 of its 2 rows"):
        mx.optimizer.SGD(learning_rate=0.1).update(0, weight, grad, None)
    np.testing.assert_array_equal(weight.asnumpy(), [[1, 1], [0, 0]])


def test_set_optimizer_runs_natively_and_states_interoperate(tmp_path, data):
    """MXNet's optimizers run in the library (NativeUpdater); a scheduler keeps the Python
    updater. States saved by either load into the other (MXNet's layout: SGD with momentum and
    multi_precision keeps (momentum, weight32)); values match the Python updater's."""
    weight, grads = data
    params = dict(learning_rate=0.1, momentum=0.9, wd=0.001, multi_precision=True)
    native = mx.kv.create("local")
    native.init(0, mx.nd.array(weight, dtype=np.float16))
    native.set_optimizer(mx.optimizer.SGD(**params))
    assert isinstance(native._updater, mx.optimizer.NativeUpdater)
    python = mx.kv.create("local")
    python.init(0, mx.nd.array(weight, dtype=np.float16))
    python._set_updater(mx.optimizer.get_updater(mx.optimizer.SGD(**params)))
    for kv in (native, python):
        for g in grads[:2]:
            kv.push(0, mx.nd.array(g, dtype=np.float16))
    states = pickle.loads(native._updater.get_states())
    mom, master = states[0]
    assert (mom.dtype, master.dtype) == (np.float32, np.float32)
    python_states = pickle.loads(python._updater.get_states())
    np.testing.assert_array_equal(mom.asnumpy(), python_states[0][0].asnumpy())
    np.testing.assert_array_equal(master.asnumpy(), python_states[0][1].asnumpy())

    # Native states into a Python updater, Python states into a native one: the next steps
    # agree.
    native_file, python_file = str(tmp_path / "native"), str(tmp_path / "python")
    native.save_optimizer_states(native_file, dump_optimizer=True)
    python.save_optimizer_states(python_file, dump_optimizer=True)
    native.load_optimizer_states(python_file)
    python.load_optimizer_states(native_file)
    for kv in (native, python):
        kv.push(0, mx.nd.array(grads[2], dtype=np.float16))
    outs = [mx.nd.zeros(weight.shape, dtype=np.float16) for _ in range(2)]
    native.pull(0, out=outs[0])
    python.pull(0, out=outs[1])
    np.testing.assert_array_equal(outs[0].asnumpy(), outs[1].asnumpy())

    scheduled = mx.kv.create("local")
    scheduled.set_optimizer(mx.optimizer.SGD(lr_scheduler=mx.lr_scheduler.FactorScheduler(2)))
    assert isinstance(scheduled._updater, mx.optimizer.Updater)


def test_aggregated_sgd_updates_several_weights_in_one_call():
    """multi_sgd_mom_update of three weights of different shapes, each with its own lr and
    wd, equals three sgd_mom_update calls; bad groups change nothing."""
    rng = np.random.RandomState(3)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    ws = [mx.nd.array(rng.normal(size=s)) for s in shapes]
    gs = [mx.nd.array(rng.normal(size=s)) for s in shapes]
    moms = [mx.nd.array(rng.normal(size=s)) for s in shapes]
    singles = [(w.copy(), m.copy()) for w, m in zip(ws, moms)]
    lrs, wds = (0.1, 0.2, 0.3), (0.01, 0.0, 0.02)
    flat = [a for w, g, m in zip(ws, gs, moms) for a in (w, g, m)]
    mx.optimizer._update("multi_sgd_mom_update", flat, num_weights=3, lrs=lrs, wds=wds,
                         momentum=0.9, rescale_grad=0.5)
    for (w, m), g, lr, wd, got_w, got_m in zip(singles, gs, lrs, wds, ws, moms):
        mx.optimizer._update("sgd_mom_update", [w, g, m], lr=lr, wd=wd, momentum=0.9,
                             rescale_grad=0.5)
        np.testing.assert_array_equal(got_w.asnumpy(), w.asnumpy())
        np.testing.assert_array_equal(got_m.asnumpy(), m.asnumpy())
    before = [w.asnumpy() for w in ws]
    with pytest.raises(mx.base.MXNetError,
                       match=r"multi_sgd_mom_update, weight 2: sgd_mom_update: mom has shape \[3\]"):
        mx.optimizer._update("multi_sgd_mom_update", flat[:-1] + [mx.nd.zeros((3,))],
                             num_weights=3, lrs=lrs, wds=wds, momentum=0.9)
    with pytest.raises(mx.base.MXNetError, match="num_weights=3 values each, got 2 and 3"):
        mx.optimizer._update("multi_sgd_mom_update", flat, num_weights=3, lrs=lrs[:2], wds=wds)
    for w, b in zip(ws, before):
        np.testing.assert_array_equal(w.asnumpy(), b)
    # Python's SGD hands the Updater's weights over aggregate_num at a time.
    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9)
    assert opt.aggregate_num == 4
    updater = mx.optimizer.get_updater(opt)
    updater(list(range(3)), gs, ws)
    assert opt.num_update == 1 and sorted(updater.states) == [0, 1, 2]


def native_follows_like_an_updater(data, make, change):
    """Runs one optimizer natively in a store and another through a Python updater in a second
    store, both ``change``d after the first push; checks the weights agree bit for bit. Gives
    the native optimizer and its store (which runs it only while it lives)."""
    weight, grads = data
    native, python = mx.kv.create("local"), mx.kv.create("local")
    opt_native, opt_python = make(), make()
    for kv in (native, python):
        kv.init(0, mx.nd.array(weight))
    native.set_optimizer(opt_native)
    assert isinstance(native._updater, mx.optimizer.NativeUpdater)
    python._set_updater(mx.optimizer.get_updater(opt_python))
    for i, g in enumerate(grads[:3]):
        if i == 1:
            change(opt_native)
            change(opt_python)
        for kv in (native, python):
            kv.push(0, mx.nd.array(g))
    out_native, out_python = mx.nd.zeros(weight.shape), mx.nd.zeros(weight.shape)
    native.pull(0, out=out_native)
    python.pull(0, out=out_python)
    np.testing.assert_array_equal(out_native.asnumpy(), out_python.asnumpy())
    return opt_native, native


def test_a_native_optimizer_follows_set_learning_rate_and_refuses_multipliers(data):
    """set_learning_rate after set_optimizer reaches the store's native optimizer, keeping its
    states (the same steps as a Python updater given the same changes); multipliers, which a
    native optimizer cannot carry, are refused with a message rather than ignored."""
    opt_native, _store = native_follows_like_an_updater(
        data, lambda: mx.optimizer.SGD(learning_rate=0.1, momentum=0.9),
        lambda opt: opt.set_learning_rate(0.01))
    with pytest.raises(mx.base.MXNetError, match="set_lr_mult: this optimizer runs natively"):
        opt_native.set_lr_mult({0: 0.5})
    with pytest.raises(mx.base.MXNetError, match="set_wd_mult: this optimizer runs natively"):
        opt_native.set_wd_mult({0: 0.5})
    with pytest.raises(mx.base.MXNetError, match="lr_mult: this optimizer runs natively"):
        opt_native.lr_mult = {0: 0.5}
    with pytest.raises(mx.base.MXNetError, match="wd_mult: this optimizer runs natively"):
        opt_native.wd_mult = {0: 0.5}
    assert opt_native.lr_mult == {} and opt_native.wd_mult == {}


def test_a_native_optimizer_refuses_a_later_scheduler_and_forgets_stores_that_dropped_it():
    """A scheduler given after set_optimizer is refused as multipliers are (the native optimizer
    cannot carry it); a store given another updater, or freed, no longer follows the optimizer's
    learning rate, and set_learning_rate still works for the stores that run it."""
    opt = mx.optimizer.SGD(learning_rate=1.0)
    kept, switched, freed = (mx.kv.create("local") for _ in range(3))
    for kv in (kept, switched, freed):
        kv.init(0, mx.nd.zeros((3,)))
        kv.set_optimizer(opt)
    with pytest.raises(mx.base.MXNetError, match="lr_scheduler: this optimizer runs natively"):
        opt.lr_scheduler = mx.lr_scheduler.FactorScheduler(step=1)
    assert opt.lr_scheduler is None

    def add(key, recv, local):
        local[:] = local + recv

    switched._set_updater(add)
    del freed
    opt.set_learning_rate(2.0)
    for kv, want in ((kept, -2.0), (switched, 1.0)):
        kv.push(0, mx.nd.ones((3,)))
        out = mx.nd.zeros((3,))
        kv.pull(0, out=out)
        np.testing.assert_array_equal(out.asnumpy(), np.full(3, want, np.float32))
    copy = pickle.loads(pickle.dumps(opt))
    assert copy.lr == 2.0 and copy.lr_scheduler is None
    copy.lr_scheduler = mx.lr_scheduler.FactorScheduler(step=1)  # a copy runs nowhere


@pytest.mark.parametrize("make, own, value", [
    (lambda: mx.optimizer.SGD(learning_rate=0.1, momentum=0.9), "momentum", 0.5),
    # Adam's bias correction reads the update count: a count lost in the new install shows.
    (lambda: mx.optimizer.Adam(learning_rate=0.1, wd=0.01), "beta1", 0.8),
])
def test_a_native_optimizer_follows_its_arguments(data, make, own, value):
    """A new value of an argument the store's native optimizer was given (wd, rescale_grad,
    clip_gradient, an argument of the class's own) reaches the store, as set_learning_rate
    does: the same steps as a Python updater given the same changes."""
    def change(opt):
        opt.wd, opt.rescale_grad, opt.clip_gradient = 0.05, 0.5, 1.0
        setattr(opt, own, value)

    native_follows_like_an_updater(data, make, change)
