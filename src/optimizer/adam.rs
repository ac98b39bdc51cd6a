//! Adam and LAMB: MXNet 1.9.1's `adam_update`, `lamb_update_phase1/2` and
//! `mp_lamb_update_phase1/2`, in the order of operations of their kernels.

use super::lanes;
use super::real::{clip, maximum, minimum, Real, Storage};

/// `AdamParam`. The bias correction is the caller's: MXNet's Python Adam folds it into `lr`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_gradient: f32,
    /// With a row_sparse gradient, update only the rows it stores; see [`super::sparse`].
    pub lazy_update: bool,
}

/// Which of MXNet's Adam kernels: they differ in how the variance term is rounded.
#[derive(Clone, Copy)]
enum Form {
    /// `AdamUpdateKernel` (dense) and the lazy row kernel without clipping:
    /// `(1 - beta2) * g * g`.
    Product,
    /// The standard row kernel, and the lazy one when clipping: `(1 - beta2) * square(g)`.
    Square,
}

/// The parameters cast to the element type.
struct Cast<T> {
    lr: T,
    wd: T,
    rescale: T,
    clip_to: T,
    beta1: T,
    beta2: T,
    keep1: T,
    keep2: T,
    eps: T,
}

impl Adam {
    fn cast<T: Real>(&self) -> Cast<T> {
        let (beta1, beta2) = (T::of_f32(self.beta1), T::of_f32(self.beta2));
        Cast {
            lr: T::of_f32(self.lr),
            wd: T::of_f32(self.wd),
            rescale: T::of_f32(self.rescale_grad),
            clip_to: T::of_f32(self.clip_gradient),
            beta1,
            beta2,
            keep1: T::one() - beta1,
            keep2: T::one() - beta2,
            eps: T::of_f32(self.epsilon),
        }
    }
}

impl<T: Real> Cast<T> {
    /// One element's step from its rescaled gradient (with weight decay); `CLIP` and
    /// `SQUARE` are fixed per loop so that the loop has no branch.
    #[inline(always)]
    fn step<const CLIP: bool, const SQUARE: bool>(&self, w: &mut T, grad: T, m: &mut T, v: &mut T) {
        let grad = if CLIP { clip(grad, self.clip_to) } else { grad };
        *m = self.beta1 * *m + self.keep1 * grad;
        *v = if SQUARE {
            self.beta2 * *v + self.keep2 * (grad * grad)
        } else {
            self.beta2 * *v + self.keep2 * grad * grad
        };
        *w = *w - self.lr * *m / ((*v).sqrt() + self.eps);
    }
}

/// `adam_update`.
pub fn adam<T: Real>(w: &mut [T], g: &[T], mean: &mut [T], var: &mut [T], p: &Adam) {
    adam_rows(w, Some(g), mean, var, p, Form::Product)
}

/// `adam_update`'s lazy row kernel (`AdamDnsRspDnsKernel`) on one stored row.
pub fn adam_lazy_row<T: Real>(w: &mut [T], g: &[T], mean: &mut [T], var: &mut [T], p: &Adam) {
    let form = if p.clip_gradient >= 0.0 {
        Form::Square
    } else {
        Form::Product
    };
    adam_rows(w, Some(g), mean, var, p, form)
}

/// `adam_update`'s standard row kernel (`AdamStdDnsRspDnsKernel`) on one row: `g` is the
/// row's gradient, or `None` for a row the gradient does not store (only weight decay).
pub fn adam_standard_row<T: Real>(
    w: &mut [T],
    g: Option<&[T]>,
    mean: &mut [T],
    var: &mut [T],
    p: &Adam,
) {
    adam_rows(w, g, mean, var, p, Form::Square)
}

fn adam_rows<T: Real>(
    w: &mut [T],
    g: Option<&[T]>,
    mean: &mut [T],
    var: &mut [T],
    p: &Adam,
    form: Form,
) {
    // The clipping test and the form are chosen once per call.
    match (p.clip_gradient >= 0.0, form) {
        (true, Form::Square) => adam_loop::<T, true, true>(w, g, mean, var, p),
        (true, Form::Product) => adam_loop::<T, true, false>(w, g, mean, var, p),
        (false, Form::Square) => adam_loop::<T, false, true>(w, g, mean, var, p),
        (false, Form::Product) => adam_loop::<T, false, false>(w, g, mean, var, p),
    }
}

fn adam_loop<T: Real, const CLIP: bool, const SQUARE: bool>(
    w: &mut [T],
    g: Option<&[T]>,
    mean: &mut [T],
    var: &mut [T],
    p: &Adam,
) {
    let c = p.cast::<T>();
    match g {
        Some(g) => lanes::run((w, g, mean, var), &|(w, g, mean, var)| {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(mean).zip(var) {
                let grad = g * c.rescale + *w * c.wd;
                c.step::<CLIP, SQUARE>(w, grad, m, v);
            }
        }),
        None => lanes::run((w, mean, var), &|(w, mean, var)| {
            for ((w, m), v) in w.iter_mut().zip(mean).zip(var) {
                let grad = *w * c.wd;
                c.step::<CLIP, SQUARE>(w, grad, m, v);
            }
        }),
    }
}

/// `LambUpdatePhaseOneParam`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambPhase1 {
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub t: i64,
    pub bias_correction: bool,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_gradient: f32,
}

/// `LambUpdatePhaseTwoParam`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambPhase2 {
    pub lr: f32,
    pub lower_bound: f32,
    pub upper_bound: f32,
    /// Multi-precision: write the new weight into the float32 master copy too, as MXNet's
    /// aggregated `multi_mp_lamb_update` (a store's LAMB) does and its
    /// `mp_lamb_update_phase2` operator does not.
    pub update_master: bool,
}

/// The phase-one arithmetic in `T` (the element type, or float32 for the multi-precision
/// form), given the rescaled gradient and the weight.
struct Phase1<T> {
    beta1: T,
    beta2: T,
    keep1: T,
    keep2: T,
    beta1_t: T,
    beta2_t: T,
    eps: T,
    wd: T,
    clip_to: T,
    clipping: bool,
    bias_correction: bool,
}

impl LambPhase1 {
    fn cast<T: Real>(&self) -> Phase1<T> {
        // `std::pow(float, int)` computes in double.
        let pow = |b: f32| T::of_f64((b as f64).powf(self.t as f64));
        let (beta1, beta2) = (T::of_f32(self.beta1), T::of_f32(self.beta2));
        Phase1 {
            beta1,
            beta2,
            keep1: T::one() - beta1,
            keep2: T::one() - beta2,
            beta1_t: pow(self.beta1),
            beta2_t: pow(self.beta2),
            eps: T::of_f32(self.epsilon),
            wd: T::of_f32(self.wd),
            clip_to: T::of_f32(self.clip_gradient),
            clipping: self.clip_gradient >= 0.0,
            bias_correction: self.bias_correction,
        }
    }
}

impl<T: Real> Phase1<T> {
    #[inline(always)]
    fn step(&self, grad: T, w: T, m: &mut T, v: &mut T) -> T {
        let grad = if self.clipping {
            clip(grad, self.clip_to)
        } else {
            grad
        };
        *m = self.beta1 * *m + self.keep1 * grad;
        *v = self.beta2 * *v + self.keep2 * grad * grad;
        if self.bias_correction {
            let mean_hat = m.div_one_minus_f64(self.beta1_t);
            let var_hat = *v / (T::one() - self.beta2_t);
            mean_hat / (var_hat.sqrt() + self.eps) + self.wd * w
        } else {
            *m / ((*v).sqrt() + self.eps) + self.wd * w
        }
    }
}

/// `lamb_update_phase1`: writes the direction `g_out`.
pub fn lamb_phase1<T: Real>(
    w: &[T],
    g: &[T],
    mean: &mut [T],
    var: &mut [T],
    g_out: &mut [T],
    p: &LambPhase1,
) {
    let c = p.cast::<T>();
    let rescale = T::of_f32(p.rescale_grad);
    lanes::run((w, g, mean, var, g_out), &|(w, g, mean, var, out)| {
        for ((((&w, &g), m), v), out) in w.iter().zip(g).zip(mean).zip(var).zip(out) {
            *out = c.step(g * rescale, w, m, v);
        }
    });
}

/// `mp_lamb_update_phase1`: float32 state and direction; the rescaled gradient is formed
/// in the weight's precision first (`half_t * float` is a `half_t` in mshadow).
pub fn mp_lamb_phase1<S: Storage>(
    g: &[S],
    mean: &mut [f32],
    var: &mut [f32],
    w32: &[f32],
    g_out: &mut [f32],
    p: &LambPhase1,
) {
    let c = p.cast::<f32>();
    lanes::run((g, mean, var, w32, g_out), &|(g, mean, var, w32, out)| {
        for ((((&g, m), v), &w), out) in g.iter().zip(mean).zip(var).zip(w32).zip(out) {
            let grad = S::narrow(g.widen() * p.rescale_grad).widen();
            *out = c.step(grad, w, m, v);
        }
    });
}

/// The trust ratio applied to `lr` (phase two): `lr * r1 / r2`, with `r1` bounded, or
/// `lr` when either norm is zero.
fn trust_lr<T: Real>(lr: T, r1: T, r2: T, lower: T, upper: T) -> T {
    let mut r1 = r1;
    if lower >= T::zero() {
        r1 = maximum(r1, lower);
    }
    if upper >= T::zero() {
        r1 = minimum(r1, upper);
    }
    if r1 == T::zero() || r2 == T::zero() {
        lr * T::one()
    } else {
        lr * r1 / r2
    }
}

/// `lamb_update_phase2`: `w -= lr * trust * g`, with `r1 = ‖w‖`, `r2 = ‖g‖` given.
pub fn lamb_phase2<T: Real>(w: &mut [T], g: &[T], r1: T, r2: T, p: &LambPhase2) {
    let lr = trust_lr(
        T::of_f32(p.lr),
        r1,
        r2,
        T::of_f32(p.lower_bound),
        T::of_f32(p.upper_bound),
    );
    lanes::run((w, g), &|(w, g)| {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = *w - lr * g;
        }
    });
}

/// `mp_lamb_update_phase2`: the new weight is `w32 - lr * g`, written into `w32` too when
/// `update_master` is set.
pub fn mp_lamb_phase2<S: Storage>(
    w: &mut [S],
    g: &[f32],
    r1: f32,
    r2: f32,
    w32: &mut [f32],
    p: &LambPhase2,
) {
    let lr = trust_lr(p.lr, r1, r2, p.lower_bound, p.upper_bound);
    lanes::run((w, g, w32), &|(w, g, w32)| {
        for ((w, &g), w32) in w.iter_mut().zip(g).zip(w32) {
            let new = *w32 - lr * g;
            if p.update_master {
                *w32 = new;
            }
            *w = S::narrow(new);
        }
    });
}

/// The L2 norm that LAMB's trust ratio uses (`NDArray.norm()`), accumulated in float64.
pub fn norm<T: Real>(x: &[T]) -> T {
    T::of_f64(
        x.iter()
            .map(|v| v.to_f64() * v.to_f64())
            .sum::<f64>()
            .sqrt(),
    )
}
