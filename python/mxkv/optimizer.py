"""Optimizers for ``kv.set_optimizer`` and ``get_updater`` (``mx.optimizer``): MXNet 1.9.1's
``SGD``, ``NAG``, ``Adam``, ``RMSProp``, ``AdaGrad``, ``AdaDelta``, ``Ftrl``, ``Signum``, ``FTML``,
``Adamax``, ``Nadam``, ``LAMB``, ``SGLD`` and ``Test``, with their constructor arguments, state
layouts (multi-precision SGD keeps ``(momentum, weight32)``, the others ``(weight32, state)``)
and ``Optimizer``/``Updater`` interface with its state pickling (``save/load_optimizer_states``).

Every update runs in libmxkv, through ``MXKVOptimizerUpdate``: MXNet's update operators
(``sgd_mom_update``, ``adam_update``, …) with the parameters MXNet's Python optimizers give them,
and mxkv's ``mxkv_*_update`` operators for the optimizers that MXNet composes in Python.
"""

import ctypes
import os
import pickle
import tempfile
import warnings
import weakref

import numpy as np

import math

from .base import _LIB, MXNetError, check_call, c_handle_array, c_str, c_str_array, py_str
from .ndarray import NDArray, array, zeros

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "RMSProp", "AdaGrad", "AdaDelta", "Ftrl", "Signum",
           "FTML", "Adamax", "Nadam", "LAMB", "SGLD", "Test", "Updater", "create", "get_updater",
           "register"]


def _update(op, arrays, **params):
    """Runs libmxkv's update operator ``op`` in place on ``arrays`` (MXNet's input order) with
    ``params`` passed as MXNet passes them: the ``str`` of each value."""
    keys = list(params)
    check_call(_LIB.MXKVOptimizerUpdate(c_str(op), len(arrays), c_handle_array(arrays), len(keys),
                                        c_str_array(keys), c_str_array([str(params[k]) for k in keys])))


def _as_list(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


class Optimizer:
    """Base class: learning rate (or scheduler), weight decay, per-parameter multipliers, and
    per-index update counts."""

    opt_registry = {}

    def __init__(self, rescale_grad=1.0, param_idx2name=None, wd=0.0, clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, begin_num_update=0, multi_precision=False,
                 **kwargs):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if learning_rate is None and lr_scheduler is None:
            learning_rate = 0.01
        if lr_scheduler is not None and learning_rate is not None:
            lr_scheduler.base_lr = learning_rate
        self.lr = learning_rate
        self.wd = wd
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._index_update_count = {}
        if param_idx2name is None:
            param_idx2name = {}
        assert isinstance(param_idx2name, dict), "param_idx2name should be a dict of param indexes to names."
        self.idx2name = param_idx2name.copy()
        self.lr_mult = {}
        self.wd_mult = {}
        self.set_lr_mult({})
        self.set_wd_mult({})
        if kwargs:
            raise TypeError("unexpected optimizer arguments: " + ", ".join(sorted(kwargs)))

    @staticmethod
    def register(klass):
        """Class decorator: make ``klass`` available to ``create`` under its lower-cased name."""
        assert isinstance(klass, type)
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            warnings.warn("WARNING: New optimizer %s.%s is overriding existing optimizer %s.%s"
                          % (klass.__module__, klass.__name__, Optimizer.opt_registry[name].__module__,
                             Optimizer.opt_registry[name].__name__))
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """An optimizer by registered name, e.g. ``create_optimizer('sgd', learning_rate=0.1)``."""
        if name.lower() in Optimizer.opt_registry:
            return Optimizer.opt_registry[name.lower()](**kwargs)
        raise ValueError("Cannot find optimizer %s" % name)

    @property
    def learning_rate(self):
        """The current learning rate (from the scheduler when there is one)."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        """Set a new learning rate (not possible with a scheduler)."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note that "
                              "set_learning_rate can mutate the value of the learning rate of the optimizer "
                              "only when the LRScheduler of the optimizer is undefined.")
        self.lr = lr

    def __setattr__(self, name, value):
        if name in ("lr_mult", "wd_mult") and value:
            self._refuse_if_native(name)
        super().__setattr__(name, value)
        # A store running this optimizer natively was given its arguments: it takes a new
        # value (the optimizer installed again, its states and update counts kept).
        if self.__dict__.get("_native_updaters") and name in _native_attributes(self):
            for updater in list(self._native_updaters):
                updater.follow()

    def __getstate__(self):
        # The stores running it natively stay with this process (a pickle is a copy).
        state = dict(self.__dict__)
        state.pop("_native_updaters", None)
        return state

    def __setstate__(self, state):
        # An image that keeps the scheduler as a plain attribute (MXNet's) gives it here too.
        state = dict(state)
        if "lr_scheduler" in state:
            state["_lr_scheduler"] = state.pop("lr_scheduler")
        self.__dict__.update(state)

    def _refuse_if_native(self, what, which="per-parameter multipliers"):
        if getattr(self, "_native_updaters", ()):
            raise MXNetError("%s: this optimizer runs natively in a store, which has no "
                             "%s; set them before set_optimizer (the store then runs it "
                             "through a Python updater)" % (what, which))

    @property
    def lr_scheduler(self):
        """The learning-rate scheduler, or None."""
        return self.__dict__.get("_lr_scheduler")

    @lr_scheduler.setter
    def lr_scheduler(self, scheduler):
        self._refuse_if_native("lr_scheduler", "learning-rate scheduler")
        self._lr_scheduler = scheduler

    def set_lr_mult(self, args_lr_mult):
        """Learning-rate multipliers by parameter index or name."""
        self._refuse_if_native("set_lr_mult")
        self.lr_mult = {}
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Weight-decay multipliers; named parameters other than ``*_weight``/``*_gamma`` get 0."""
        self._refuse_if_native("set_wd_mult")
        self.wd_mult = {}
        for name in self.idx2name.values():
            if not (name.endswith("_weight") or name.endswith("_gamma")):
                self.wd_mult[name] = 0.0
        self.wd_mult.update(args_wd_mult)

    def _update_count(self, index):
        count = self._index_update_count.get(index, self.begin_num_update) + 1
        self._index_update_count[index] = count
        self.num_update = max(count, self.num_update)

    def _multiplier(self, table, index):
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lr(self, index):
        return self.learning_rate * self._multiplier(self.lr_mult, index)

    def _get_wd(self, index):
        return self.wd * self._multiplier(self.wd_mult, index)

    def create_state(self, index, weight):
        """The auxiliary state of one parameter (None when the optimizer has none)."""
        return None

    def create_state_multi_precision(self, index, weight):
        """As ``create_state``; with ``multi_precision`` a float16 weight also gets a float32 copy."""
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy or slow "
                          "convergence. Consider using multi_precision=True option of the optimizer")
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update ``weight`` in place from ``grad``."""
        raise NotImplementedError()

    def update_multi_precision(self, index, weight, grad, state):
        """As ``update``, through the float32 master copy for float16 weights."""
        if self.multi_precision and weight.dtype == np.float16:
            master, inner_state = state
            self.update(index, master, grad.astype(np.float32), inner_state)
            master.copyto(weight)
        else:
            self.update(index, weight, grad, state)


register = Optimizer.register
create = Optimizer.create_optimizer


def _clip_kwargs(opt, name="clip_gradient"):
    """MXNet's operators clip only for a truthy ``clip_gradient`` (``if self.clip_gradient:``)."""
    return {name: opt.clip_gradient} if opt.clip_gradient else {}


def _composed_grad(opt):
    """The gradient arguments of the ``mxkv_*`` operators (clipping when not None, as the Python
    optimizers of MXNet compose it)."""
    return {"rescale_grad": opt.rescale_grad,
            "clip_gradient": -1.0 if opt.clip_gradient is None else opt.clip_gradient}


def _zeros_like(weight, dtype=None, stype=None):
    """Zeros shaped like ``weight``, of its dtype unless given, dense unless ``stype`` is given."""
    return zeros(weight.shape, weight.context, dtype=weight.dtype if dtype is None else dtype,
                 stype=stype)


@register
class SGD(Optimizer):
    """Stochastic gradient descent with momentum and weight decay (MXNet's ``sgd``), through
    MXNet's ``multi_*sgd*_update`` operators as its Python SGD uses for dense arrays."""

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = int(os.getenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", "4"))

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            return (self.create_state(index, master), master)
        return super().create_state_multi_precision(index, weight)

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return None
        return _zeros_like(weight, stype=weight.stype if self.lazy_update else "default")

    def _update_impl(self, indices, weights, grads, states, multi_precision=False):
        if not isinstance(indices, (tuple, list)):
            states = [states]
        indices, weights, grads = _as_list(indices), _as_list(weights), _as_list(grads)
        for index in indices:
            self._update_count(index)
        kwargs = {"rescale_grad": self.rescale_grad, **_clip_kwargs(self)}
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        op = ("mp_" if multi_precision else "") + ("sgd_mom_update" if self.momentum > 0 else "sgd_update")
        lrs = [self._get_lr(index) for index in indices]
        wds = [self._get_wd(index) for index in indices]

        def arrays(weight, grad, state):
            if not multi_precision:
                return [weight, grad] + ([] if state is None else [state])
            mom, master = state
            return [weight, grad] + ([] if mom is None else [mom]) + [master]

        # Dense arrays: all weights in one call of the aggregated operator; row_sparse ones
        # one by one, with lazy_update (multi-precision has no sparse kernel).
        if all(w.stype == "default" and g.stype == "default" for w, g in zip(weights, grads)):
            flat = [a for w, g, s in zip(weights, grads, states) for a in arrays(w, g, s)]
            _update("multi_" + op, flat, num_weights=len(weights), lrs=tuple(lrs), wds=tuple(wds),
                    **kwargs)
            return
        if not multi_precision:
            kwargs["lazy_update"] = self.lazy_update
        for weight, grad, state, lr, wd in zip(weights, grads, states, lrs, wds):
            _update(op, arrays(weight, grad, state), lr=lr, wd=wd, **kwargs)

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state)

    def update_multi_precision(self, index, weight, grad, state):
        first = weight[0] if isinstance(weight, (tuple, list)) else weight
        self._update_impl(index, weight, grad, state,
                          multi_precision=self.multi_precision and first.dtype == np.float16)


@register
class NAG(SGD):
    """Nesterov accelerated gradient (MXNet's ``nag``): ``nag_mom_update``."""

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(momentum=momentum, **kwargs)
        self.aggregate_num = 0

    def _update_impl(self, indices, weights, grads, states, multi_precision=False):
        index, weight, grad, state = indices, weights, grads, states
        self._update_count(index)
        kwargs = {"rescale_grad": self.rescale_grad, "lr": self._get_lr(index),
                  "wd": self._get_wd(index), **_clip_kwargs(self)}
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        if multi_precision:
            mom, master = state
            if mom is not None:
                _update("mp_nag_mom_update", [weight, grad, mom, master], **kwargs)
            else:
                _update("mp_sgd_update", [weight, grad, master], **kwargs)
        elif state is not None:
            _update("nag_mom_update", [weight, grad, state], **kwargs)
        else:
            _update("sgd_update", [weight, grad], **kwargs)

    def update_multi_precision(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state,
                          multi_precision=self.multi_precision and weight.dtype == np.float16
                          and isinstance(state, (tuple, list)))


@register
class Signum(Optimizer):
    """signSGD / Signum (MXNet's ``signum``): ``signum_update``, or ``signsgd_update`` without
    momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index, weight):
        return None if self.momentum == 0.0 else _zeros_like(weight, stype=weight.stype)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        kwargs = {"rescale_grad": self.rescale_grad, "lr": self._get_lr(index),
                  "wd": self._get_wd(index), **_clip_kwargs(self)}
        if self.momentum > 0:
            kwargs["momentum"] = self.momentum
        if self.wd_lh:
            kwargs["wd_lh"] = self.wd_lh
        if state is not None:
            _update("signum_update", [weight, grad, state], **kwargs)
        else:
            kwargs.pop("momentum", None)
            kwargs.pop("wd_lh", None)
            _update("signsgd_update", [weight, grad], **kwargs)


@register
class FTML(Optimizer):
    """Follow the Moving Leader (MXNet's ``ftml``): ``ftml_update``, states ``(d, v, z)``."""

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        _update("ftml_update", [weight, grad] + list(state), lr=self._get_lr(index),
                wd=self._get_wd(index), beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon,
                rescale_grad=self.rescale_grad, t=self._index_update_count[index],
                **_clip_kwargs(self, "clip_grad"))


@register
class LAMB(Optimizer):
    """LAMB (MXNet's ``lamb``): ``lamb_update_phase1``, the norms of the weight and of the
    direction, then ``lamb_update_phase2`` (the ``mp_`` forms with multi-precision)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6, lower_bound=None,
                 upper_bound=None, bias_correction=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.bias_correction = bias_correction
        self.aggregate_num = 45

    def create_state(self, index, weight):
        return (_zeros_like(weight, stype=weight.stype), _zeros_like(weight, stype=weight.stype))

    def _update_one(self, index, weight, grad, state, multi_precision):
        self._update_count(index)
        phase1 = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon,
                  "bias_correction": self.bias_correction, "rescale_grad": self.rescale_grad,
                  "t": self._index_update_count[index], "wd": self._get_wd(index),
                  **_clip_kwargs(self)}
        phase2 = {"lr": self._get_lr(index)}
        if self.lower_bound:
            phase2["lower_bound"] = self.lower_bound
        if self.upper_bound:
            phase2["upper_bound"] = self.upper_bound
        if multi_precision:
            master, (mean, var) = state
            g = _zeros_like(weight, np.float32)
            _update("mp_lamb_update_phase1", [weight, grad, mean, var, master, g], **phase1)
            r1, r2 = _norm(master), _norm(g)
            # The step goes into the float32 master copy, which then gives the weight, as in
            # the aggregated update that MXNet's store runs (its mp_lamb_update_phase2
            # operator would leave the master copy as it was).
            _update("lamb_update_phase2", [master, g, r1, r2], **phase2)
            master.copyto(weight)
        else:
            mean, var = state
            g = _zeros_like(weight)
            _update("lamb_update_phase1", [weight, grad, mean, var, g], **phase1)
            r1, r2 = _norm(weight), _norm(g)
            _update("lamb_update_phase2", [weight, g, r1, r2], **phase2)

    def update(self, index, weight, grad, state):
        self.update_multi_precision(index, weight, grad, state)

    def update_multi_precision(self, index, weight, grad, state):
        if not isinstance(index, (tuple, list)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        for i, w, g, s in zip(index, weight, grad, state):
            self._update_one(i, w, g, s, self.multi_precision and w.dtype == np.float16)


def _norm(x):
    """The L2 norm of ``x`` as a one-element array of its dtype (accumulated in float64)."""
    values = x.asnumpy().astype(np.float64)
    return array([math.sqrt(float(np.dot(values.ravel(), values.ravel())))], ctx=x.context, dtype=x.dtype)


@register
class Adam(Optimizer):
    """Adam (MXNet's ``adam``): the bias correction folded into the learning rate, then
    ``adam_update``; states ``(mean, var)``."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, lazy_update=True,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        stype = weight.stype if self.lazy_update else "default"
        return (_zeros_like(weight, stype=stype), _zeros_like(weight, stype=stype))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        t = self._index_update_count[index]
        coef1, coef2 = 1. - self.beta1 ** t, 1. - self.beta2 ** t
        lr = self._get_lr(index) * (math.sqrt(coef2) / coef1)
        mean, var = state
        _update("adam_update", [weight, grad, mean, var], lr=lr, wd=self._get_wd(index),
                beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon,
                rescale_grad=self.rescale_grad, lazy_update=self.lazy_update, **_clip_kwargs(self))


@register
class RMSProp(Optimizer):
    """RMSProp (MXNet's ``rmsprop``): ``rmsprop_update``, or ``rmspropalex_update`` when
    ``centered``; states ``(n,)`` or ``(n, g, delta)``."""

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8, centered=False,
                 clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered, self.clip_weights = centered, clip_weights

    def create_state(self, index, weight):
        n = 3 if self.centered else 1
        return tuple(_zeros_like(weight, stype=weight.stype) for _ in range(n))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        kwargs = {"lr": self._get_lr(index), "wd": self._get_wd(index), "gamma1": self.gamma1,
                  "epsilon": self.epsilon, "rescale_grad": self.rescale_grad, **_clip_kwargs(self)}
        if self.clip_weights:
            kwargs["clip_weights"] = self.clip_weights
        if self.centered:
            _update("rmspropalex_update", [weight, grad] + list(state), gamma2=self.gamma2, **kwargs)
        else:
            _update("rmsprop_update", [weight, grad, state[0]], **kwargs)


@register
class AdaGrad(Optimizer):
    """AdaGrad (MXNet's ``adagrad``, dense): ``mxkv_adagrad_update``; state ``history``."""

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return _zeros_like(weight, stype=weight.stype)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        _update("mxkv_adagrad_update", [weight, grad, state], lr=self._get_lr(index),
                wd=self._get_wd(index), epsilon=self.float_stable_eps, **_composed_grad(self))


@register
class AdaDelta(Optimizer):
    """AdaDelta (MXNet's ``adadelta``): ``mxkv_adadelta_update``; states ``(acc_g, acc_delta)``."""

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.epsilon = rho, epsilon

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        wd = self._get_wd(index)
        self._update_count(index)
        _update("mxkv_adadelta_update", [weight, grad] + list(state), rho=self.rho,
                epsilon=self.epsilon, wd=wd, **_composed_grad(self))


@register
class Ftrl(Optimizer):
    """FTRL-proximal (MXNet's ``ftrl``): ``ftrl_update``; states ``(z, n)``."""

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(**kwargs)
        self.lamda1, self.beta = lamda1, beta
        self.lr = learning_rate

    def create_state(self, index, weight):
        return (_zeros_like(weight, stype=weight.stype), _zeros_like(weight, stype=weight.stype))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        _update("ftrl_update", [weight, grad] + list(state), lr=self._get_lr(index),
                wd=self._get_wd(index), lamda1=self.lamda1, beta=self.beta,
                rescale_grad=self.rescale_grad, **_clip_kwargs(self))


@register
class Adamax(Optimizer):
    """AdaMax (MXNet's ``adamax``): ``mxkv_adamax_update``; states ``(mean, variance)``."""

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2 = beta1, beta2

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        t = self._index_update_count[index]
        _update("mxkv_adamax_update", [weight, grad] + list(state),
                lr=self._get_lr(index) / (1. - self.beta1 ** t), beta1=self.beta1, beta2=self.beta2,
                wd=self._get_wd(index), **_composed_grad(self))


@register
class Nadam(Optimizer):
    """Nadam (MXNet's ``nadam``): the warming momentum schedule kept here (one running product
    over all updates, as in MXNet), the step by ``mxkv_nadam_update``."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.

    def create_state(self, index, weight):
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index, weight, grad, state):
        self._update_count(index)
        t = self._index_update_count[index]
        momentum_t = self.beta1 * (1. - 0.5 * (pow(0.96, t * self.schedule_decay)))
        momentum_t_1 = self.beta1 * (1. - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * momentum_t
        _update("mxkv_nadam_update", [weight, grad] + list(state), lr=self._get_lr(index),
                beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon, wd=self._get_wd(index), t=t,
                momentum_t=momentum_t, momentum_t_1=momentum_t_1, m_schedule=self.m_schedule,
                m_schedule_next=self.m_schedule * momentum_t_1, **_composed_grad(self))


@register
class SGLD(Optimizer):
    """Stochastic gradient Langevin dynamics (MXNet's ``sgld``): a half step of SGD plus
    Gaussian noise of variance ``lr`` (``mx.random.normal``)."""

    def update(self, index, weight, grad, state):
        from . import random as _random
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        _update("sgd_update", [weight, grad], lr=lr / 2, wd=wd, rescale_grad=self.rescale_grad,
                **_clip_kwargs(self))
        weight[:] += _random.normal(0, math.sqrt(lr), shape=weight.shape, dtype=weight.dtype,
                                    ctx=weight.context)


@register
class Test(Optimizer):
    """``weight += rescale_grad * grad`` (the optimizer of MXNet's distributed tests)."""

    def create_state(self, index, weight):
        return _zeros_like(weight)

    def update(self, index, weight, grad, state):
        _update("mxkv_test_update", [weight, grad], rescale_grad=self.rescale_grad)
        state[:] = weight


class Updater:
    """Applies an optimizer as a KVStore updater: ``updater(index, grad, weight)``."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}

    def __call__(self, index, grad, weight):
        """Update ``weight`` (or a list of weights, with lists of indices and gradients)."""
        if isinstance(index, (tuple, list)):
            indices, grads, weights = list(index), list(grad), list(weight)
        else:
            indices, grads, weights = [index], [grad], [weight]
        indices = [py_str(i) if isinstance(i, bytes) else i for i in indices]
        for i, w in zip(indices, weights):
            if i not in self.states:
                self.states[i] = self.optimizer.create_state_multi_precision(i, w)
                self.states_synced[i] = True
            elif not self.states_synced[i]:
                self.states[i] = self.sync_state_context(self.states[i], w.context)
                self.states_synced[i] = True
        step = getattr(self.optimizer, "aggregate_num", 0)
        if step <= 0:
            for i, w, g in zip(indices, weights, grads):
                self.optimizer.update_multi_precision(i, w, g, self.states[i])
            return
        # As MXNet: the weights of one dtype together, aggregate_num at a time.
        by_dtype = {}
        for item in zip(indices, weights, grads):
            by_dtype.setdefault(np.dtype(item[1].dtype), []).append(item)
        for items in by_dtype.values():
            for start in range(0, len(items), step):
                ids, ws, gs = (list(x) for x in zip(*items[start:start + step]))
                self.optimizer.update_multi_precision(ids, ws, gs, [self.states[i] for i in ids])

    def sync_state_context(self, state, context):
        """``state`` (an NDArray, or nested tuples/lists of them) moved to ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Restore states from ``get_states``'s bytes (with the optimizer, if it was dumped)."""
        states = pickle.loads(states)
        if isinstance(states, tuple) and len(states) == 2:
            self.states, self.optimizer = states
        else:
            self.states = states
        self.states_synced = dict.fromkeys(self.states.keys(), False)

    def get_states(self, dump_optimizer=False):
        """The states as bytes (``pickle``), with the optimizer if ``dump_optimizer``."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer):
    """An ``Updater`` running ``optimizer``."""
    return Updater(optimizer)


# The constructor arguments of each optimizer that libmxkv runs natively, by attribute.
_NATIVE_ARGUMENTS = {
    "sgd": ("momentum", "lazy_update"),
    "nag": ("momentum",),
    "adam": ("beta1", "beta2", "epsilon", "lazy_update"),
    "rmsprop": ("gamma1", "gamma2", "epsilon", "centered", "clip_weights"),
    "adagrad": (("eps", "float_stable_eps"),),
    "adadelta": ("rho", "epsilon"),
    "ftrl": ("lamda1", "beta"),
    "signum": ("momentum", "wd_lh"),
    "ftml": ("beta1", "beta2", "epsilon"),
    "adamax": ("beta1", "beta2"),
    "nadam": ("beta1", "beta2", "epsilon", "schedule_decay"),
    "lamb": ("beta1", "beta2", "epsilon", "lower_bound", "upper_bound", "bias_correction"),
    "test": (),
}


def _native_attributes(optimizer):
    """The attributes that ``native_arguments`` gives a store's native optimizer."""
    own = _NATIVE_ARGUMENTS.get(type(optimizer).__name__.lower(), ())
    return {"lr", "wd", "rescale_grad", "clip_gradient"} | {
        arg[1] if isinstance(arg, tuple) else arg for arg in own}


def native_arguments(optimizer):
    """The name and constructor arguments (strings) with which libmxkv's native optimizer
    (``MXKVStoreSetOptimizer``) does what ``optimizer`` does, or None when it cannot: a class
    of its own, a learning-rate scheduler, or per-parameter multipliers."""
    name = type(optimizer).__name__.lower()
    if (name not in _NATIVE_ARGUMENTS or Optimizer.opt_registry.get(name) is not type(optimizer)
            or optimizer.lr_scheduler is not None or optimizer.lr_mult or optimizer.wd_mult):
        return None
    args = {"learning_rate": optimizer.lr, "wd": optimizer.wd,
            "rescale_grad": optimizer.rescale_grad, "clip_gradient": optimizer.clip_gradient,
            "multi_precision": optimizer.multi_precision,
            "begin_num_update": optimizer.begin_num_update}
    for arg in _NATIVE_ARGUMENTS[name]:
        arg, attr = arg if isinstance(arg, tuple) else (arg, arg)
        args[arg] = getattr(optimizer, attr)
    return name, {k: str(v) for k, v in args.items() if v is not None}


class NativeUpdater:
    """The updater of a store whose optimizer runs in libmxkv (``MXKVStoreSetOptimizer``): its
    states live in the store; ``get_states``/``set_states`` give and take them in the layout of
    ``Updater`` (per key the optimizer's ``create_state_multi_precision`` structure), so that
    states saved by either load into the other."""

    def __init__(self, handle, optimizer):
        self.handle = handle
        self._install(optimizer)

    def _install(self, optimizer):
        """Make ``optimizer`` the store's native optimizer (its states start empty)."""
        native = native_arguments(optimizer)
        if native is None:
            raise MXNetError("%s cannot run natively (a class of its own, a learning-rate "
                             "scheduler or per-parameter multipliers)" % type(optimizer).__name__)
        name, args = native
        keys = list(args)
        check_call(_LIB.MXKVStoreSetOptimizer(self.handle, c_str(name), len(keys),
                                              c_str_array(keys),
                                              c_str_array([args[k] for k in keys])))
        self.optimizer = optimizer
        # Held weakly: a store that drops this updater (another updater, or freed) no longer
        # follows the optimizer.
        if "_native_updaters" not in optimizer.__dict__:
            optimizer._native_updaters = weakref.WeakSet()
        optimizer._native_updaters.add(self)

    def follow(self):
        """Install the optimizer again after its learning rate changed, keeping its states and
        update counts (saved and loaded through a file)."""
        with tempfile.TemporaryDirectory() as folder:
            fname = os.path.join(folder, "states.params")
            check_call(_LIB.MXKVStoreSaveOptimizerStates(self.handle, c_str(fname)))
            self._install(self.optimizer)
            check_call(_LIB.MXKVStoreLoadOptimizerStates(self.handle, c_str(fname)))

    def _native_states(self):
        """The native states as saved (``<key>:<state>``, ``<key>:count``, ``num_update``)."""
        from .ndarray import load
        with tempfile.TemporaryDirectory() as folder:
            fname = os.path.join(folder, "states.params")
            check_call(_LIB.MXKVStoreSaveOptimizerStates(self.handle, c_str(fname)))
            return load(fname)

    def _state_names(self, master):
        size = ctypes.c_uint()
        names = ctypes.POINTER(ctypes.c_char_p)()
        check_call(_LIB.MXKVStoreGetOptimizerStateNames(self.handle, ctypes.c_int(master),
                                                        ctypes.byref(size), ctypes.byref(names)))
        return [py_str(names[i]) for i in range(size.value)]

    def get_states(self, dump_optimizer=False):
        """The states as ``Updater.get_states`` gives them (``pickle``)."""
        saved = self._native_states()
        arrays, counts = {}, {}
        for full, value in saved.items():
            key, _, state = full.partition(":")
            if state == "count":
                counts[int(key)] = int(value.asnumpy()[0])
            elif state:
                arrays.setdefault(int(key), []).append((state, value))
        states = {key: self._nested(key, arrays.get(key, [])) for key in counts}
        if not dump_optimizer:
            return pickle.dumps(states)
        self.optimizer._index_update_count = counts
        self.optimizer.num_update = int(saved["num_update"].asnumpy()[0])
        return pickle.dumps((states, self.optimizer))

    def _nested(self, key, arrays):
        """The state of ``key`` in the structure of ``create_state_multi_precision``, its
        arrays being the native ones in order."""
        master = any(state == "weight32" for state, _ in arrays)
        if arrays:
            like = arrays[-1][1] if master else arrays[0][1]
            weight = zeros(like.shape, like.context, dtype=np.float16 if master else like.dtype)
        else:
            weight = zeros((1,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            template = self.optimizer.create_state_multi_precision(key, weight)
        values = iter(value for _, value in arrays)

        def fill(node):
            if isinstance(node, NDArray):
                return next(values)
            if isinstance(node, (tuple, list)):
                return type(node)(fill(n) for n in node)
            return node
        return fill(template)

    def set_states(self, states):
        """Restore states given by ``get_states`` (or ``Updater.get_states``)."""
        from .ndarray import save
        states = pickle.loads(states)
        if isinstance(states, tuple) and len(states) == 2:
            states, optimizer = states
            counts = dict(optimizer._index_update_count)
            num_update = optimizer.num_update
            self._install(optimizer)
        else:
            saved = self._native_states()
            counts = {int(k.partition(":")[0]): int(v.asnumpy()[0])
                      for k, v in saved.items() if k.endswith(":count")}
            num_update = int(saved["num_update"].asnumpy()[0])
        named = {"num_update": array([num_update], dtype=np.int64)}
        for key, state in states.items():
            leaves = list(_leaves(state))
            names = self._state_names(1)
            if not (self.optimizer.multi_precision and len(leaves) == len(names)):
                names = self._state_names(0)
            if len(leaves) != len(names):
                raise MXNetError("optimizer state of key %s: %d arrays, %s keeps %s"
                                 % (key, len(leaves), type(self.optimizer).__name__, names))
            for name, leaf in zip(names, leaves):
                named["%s:%s" % (key, name)] = leaf
            named["%s:count" % key] = array([counts.get(key, self.optimizer.begin_num_update)],
                                            dtype=np.int64)
        with tempfile.TemporaryDirectory() as folder:
            fname = os.path.join(folder, "states.params")
            save(fname, named)
            check_call(_LIB.MXKVStoreLoadOptimizerStates(self.handle, c_str(fname)))


def _leaves(state):
    """The arrays of a nested state, in order."""
    if isinstance(state, NDArray):
        yield state
    elif isinstance(state, (tuple, list)):
        for s in state:
            yield from _leaves(s)
