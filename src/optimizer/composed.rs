//! The optimizers that MXNet 1.9.1 composes in Python from NDArray operations — AdaGrad
//! (dense), AdaDelta, Adamax and Nadam (`python/mxnet/optimizer/optimizer.py`) — and
//! AI::MXNet's NAG, which Perl composes so (`AI/MXNet/Optimizer.pm`). Each
//! NDArray operation rounds to the element type, and Python's scalars (doubles, computed
//! in double: `1. - rho`, `lr / (1. - beta1**t)`, Nadam's schedule) are cast to it, so the
//! steps below follow the Python lines one operation at a time.

use super::lanes;
use super::real::{abs, clip, maximum, Real};

/// The rescaled, optionally clipped gradient: `clip(g * rescale_grad [+ wd * w])`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grad {
    pub rescale_grad: f64,
    /// Clipping is on when this is ≥ 0 (Python: `clip_gradient is not None`).
    pub clip_gradient: f64,
}

#[derive(Clone, Copy)]
struct GradCast<T> {
    rescale: T,
    clip_to: T,
    clipping: bool,
}

impl Grad {
    fn cast<T: Real>(&self) -> GradCast<T> {
        GradCast {
            rescale: T::of_f64(self.rescale_grad),
            clip_to: T::of_f64(self.clip_gradient),
            clipping: self.clip_gradient >= 0.0,
        }
    }
}

impl<T: Real> GradCast<T> {
    #[inline(always)]
    fn bound(&self, g: T) -> T {
        if self.clipping {
            clip(g, self.clip_to)
        } else {
            g
        }
    }
}

/// AdaGrad's parameters (`eps` is the constructor's `eps`, `float_stable_eps`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaGrad {
    pub lr: f64,
    pub wd: f64,
    pub eps: f64,
    pub grad: Grad,
}

/// AdaGrad, dense:
/// `grad = clip(grad * rescale_grad); history += square(grad);`
/// `div = grad / sqrt(history + eps); weight += (div + weight * wd) * -lr`.
pub fn adagrad<T: Real>(w: &mut [T], g: &[T], history: &mut [T], p: &AdaGrad) {
    let gc = p.grad.cast::<T>();
    let (wd, eps, neg_lr) = (T::of_f64(p.wd), T::of_f64(p.eps), T::of_f64(-p.lr));
    lanes::run((w, g, history), &|(w, g, h)| {
        for ((w, &g), h) in w.iter_mut().zip(g).zip(h) {
            let grad = gc.bound(g * gc.rescale);
            *h = *h + grad * grad;
            let div = grad / (*h + eps).sqrt();
            *w = *w + (div + *w * wd) * neg_lr;
        }
    });
}

/// AdaGrad with a row_sparse gradient, on one stored row: MXNet's
/// `_sparse_adagrad_update` (`AdagradDnsRspDnsKernel`, float32 parameters, no weight decay):
/// `grad = clip(grad * rescale_grad); history += grad * grad;`
/// `weight = weight - grad / sqrt(history + eps) * lr`.
pub fn sparse_adagrad_row<T: Real>(w: &mut [T], g: &[T], history: &mut [T], p: &AdaGrad) {
    let gc = Grad {
        rescale_grad: p.grad.rescale_grad as f32 as f64,
        clip_gradient: p.grad.clip_gradient as f32 as f64,
    }
    .cast::<T>();
    let (lr, eps) = (T::of_f32(p.lr as f32), T::of_f32(p.eps as f32));
    lanes::run((w, g, history), &|(w, g, h)| {
        for ((w, &g), h) in w.iter_mut().zip(g).zip(h) {
            let grad = gc.bound(g * gc.rescale);
            *h = *h + grad * grad;
            let div = grad / (*h + eps).sqrt();
            *w = *w - div * lr;
        }
    });
}

/// AdaDelta's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaDelta {
    pub rho: f64,
    pub epsilon: f64,
    pub wd: f64,
    pub grad: Grad,
}

/// AdaDelta: `acc_g = rho*acc_g + (1-rho)*grad*grad`,
/// `delta = sqrt(acc_delta + eps) / sqrt(acc_g + eps) * grad`,
/// `acc_delta = rho*acc_delta + (1-rho)*delta*delta`, `weight -= delta + wd*weight`.
pub fn adadelta<T: Real>(w: &mut [T], g: &[T], acc_g: &mut [T], acc_delta: &mut [T], p: &AdaDelta) {
    let gc = p.grad.cast::<T>();
    let (rho, keep, eps, wd) = (
        T::of_f64(p.rho),
        T::of_f64(1.0 - p.rho),
        T::of_f64(p.epsilon),
        T::of_f64(p.wd),
    );
    lanes::run((w, g, acc_g, acc_delta), &|(w, g, ag, ad)| {
        for (((w, &g), ag), ad) in w.iter_mut().zip(g).zip(ag).zip(ad) {
            let grad = gc.bound(g * gc.rescale);
            *ag = *ag * rho;
            *ag = *ag + keep * grad * grad;
            let delta = (*ad + eps).sqrt() / (*ag + eps).sqrt() * grad;
            *ad = *ad * rho;
            *ad = *ad + keep * delta * delta;
            *w = *w - (delta + *w * wd);
        }
    });
}

/// Adamax's parameters; `lr` is the step's `lr / (1 - beta1**t)`, formed by the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adamax {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub wd: f64,
    pub grad: Grad,
}

/// Adamax: `grad = clip(grad*rescale_grad + wd*weight)`, `m = beta1*m + (1-beta1)*grad`,
/// `u = maximum(beta2*u, abs(grad))`, `weight -= lr*m/u`.
pub fn adamax<T: Real>(w: &mut [T], g: &[T], m: &mut [T], u: &mut [T], p: &Adamax) {
    let gc = p.grad.cast::<T>();
    let (lr, beta1, keep1, beta2, wd) = (
        T::of_f64(p.lr),
        T::of_f64(p.beta1),
        T::of_f64(1.0 - p.beta1),
        T::of_f64(p.beta2),
        T::of_f64(p.wd),
    );
    lanes::run((w, g, m, u), &|(w, g, m, u)| {
        for (((w, &g), m), u) in w.iter_mut().zip(g).zip(m).zip(u) {
            let grad = gc.bound(g * gc.rescale + *w * wd);
            *m = *m * beta1;
            *m = *m + keep1 * grad;
            *u = maximum(*u * beta2, abs(grad));
            *w = *w - *m * lr / *u;
        }
    });
}

/// Nadam's parameters for one step: the scalars that MXNet's Python Nadam computes from
/// `t` and its running `m_schedule` (see [`NadamSchedule`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nadam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub wd: f64,
    pub t: i64,
    pub momentum_t: f64,
    pub momentum_t_1: f64,
    pub m_schedule: f64,
    pub m_schedule_next: f64,
    pub grad: Grad,
}

/// Nadam's warming momentum schedule, as the Python optimizer keeps it: one running
/// product over every update of every key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NadamSchedule {
    pub m_schedule: f64,
}

impl NadamSchedule {
    /// Advances the schedule for an update at step `t`; gives
    /// `(momentum_t, momentum_t_1, m_schedule, m_schedule_next)`.
    pub fn advance(&mut self, beta1: f64, schedule_decay: f64, t: i64) -> (f64, f64, f64, f64) {
        let momentum_t = beta1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * schedule_decay));
        let momentum_t_1 = beta1 * (1.0 - 0.5 * 0.96f64.powf((t + 1) as f64 * schedule_decay));
        self.m_schedule *= momentum_t;
        let next = self.m_schedule * momentum_t_1;
        (momentum_t, momentum_t_1, self.m_schedule, next)
    }
}

/// Nadam: Adam with Nesterov momentum.
pub fn nadam<T: Real>(w: &mut [T], g: &[T], m: &mut [T], v: &mut [T], p: &Nadam) {
    let gc = p.grad.cast::<T>();
    let (lr, eps, wd) = (T::of_f64(p.lr), T::of_f64(p.epsilon), T::of_f64(p.wd));
    let (beta1, keep1, beta2, keep2) = (
        T::of_f64(p.beta1),
        T::of_f64(1.0 - p.beta1),
        T::of_f64(p.beta2),
        T::of_f64(1.0 - p.beta2),
    );
    let (sched, sched_next, bias2) = (
        T::of_f64(1.0 - p.m_schedule),
        T::of_f64(1.0 - p.m_schedule_next),
        T::of_f64(1.0 - p.beta2.powf(p.t as f64)),
    );
    let (mom_keep, mom_next) = (T::of_f64(1.0 - p.momentum_t), T::of_f64(p.momentum_t_1));
    lanes::run((w, g, m, v), &|(w, g, m, v)| {
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
            let grad = gc.bound(g * gc.rescale + *w * wd);
            *m = *m * beta1;
            *m = *m + keep1 * grad;
            *v = *v * beta2;
            *v = *v + keep2 * grad * grad;
            let grad_prime = grad / sched;
            let m_prime = *m / sched_next;
            let v_prime = *v / bias2;
            let m_bar = mom_keep * grad_prime + mom_next * m_prime;
            *w = *w - lr * m_bar / (v_prime.sqrt() + eps);
        }
    });
}

/// AI::MXNet's NAG with momentum (Perl): its momentum is in gradient units, where MXNet's
/// `nag_mom_update` keeps it scaled by `-lr`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nag {
    pub lr: f64,
    pub momentum: f64,
    pub wd: f64,
    pub grad: Grad,
}

/// `grad *= rescale_grad; grad = clip(grad)` (when `clip_gradient` is given);
/// `mom *= momentum; grad += wd * weight; mom += grad; grad += momentum * mom;`
/// `weight += -lr * grad`.
pub fn nag<T: Real>(w: &mut [T], g: &[T], mom: &mut [T], p: &Nag) {
    let gc = p.grad.cast::<T>();
    let (momentum, wd, neg_lr) = (T::of_f64(p.momentum), T::of_f64(p.wd), T::of_f64(-p.lr));
    lanes::run((w, g, mom), &|(w, g, mom)| {
        for ((w, &g), mom) in w.iter_mut().zip(g).zip(mom) {
            let mut grad = gc.bound(g * gc.rescale);
            *mom = *mom * momentum;
            grad = grad + *w * wd;
            *mom = *mom + grad;
            grad = grad + *mom * momentum;
            *w = *w + grad * neg_lr;
        }
    });
}

/// MXNet's `Test` optimizer (used by its distributed tests): `weight += grad * rescale_grad`.
pub fn test<T: Real>(w: &mut [T], g: &[T], rescale_grad: f64) {
    let rescale = T::of_f64(rescale_grad);
    lanes::run((w, g), &|(w, g)| {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = *w + g * rescale;
        }
    });
}
