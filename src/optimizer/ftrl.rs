//! FTRL and FTML: MXNet 1.9.1's `ftrl_update` and `ftml_update`, in the order of
//! operations of their kernels.

use super::lanes;
use super::real::{abs, clip, sign, Real};

/// `FtrlParam`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ftrl {
    pub lr: f32,
    pub lamda1: f32,
    pub beta: f32,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_gradient: f32,
}

/// `ftrl_update`: states `z` and `n`.
pub fn ftrl<T: Real>(w: &mut [T], g: &[T], z: &mut [T], n: &mut [T], p: &Ftrl) {
    let (lr, lamda1, beta, wd, rescale, clip_to) = (
        T::of_f32(p.lr),
        T::of_f32(p.lamda1),
        T::of_f32(p.beta),
        T::of_f32(p.wd),
        T::of_f32(p.rescale_grad),
        T::of_f32(p.clip_gradient),
    );
    let clipping = p.clip_gradient >= 0.0;
    lanes::run((w, g, z, n), &|(w, g, z, n)| {
        for (((w, &g), z), n) in w.iter_mut().zip(g).zip(z).zip(n) {
            let mut grad = g * rescale;
            if clipping {
                grad = clip(grad, clip_to);
            }
            *z = *z + (grad - ((*n + grad * grad).sqrt() - (*n).sqrt()) * *w / lr);
            *n = *n + grad * grad;
            let active = if abs(*z) > lamda1 {
                T::one()
            } else {
                T::zero()
            };
            *w = (sign(*z) * lamda1 - *z) / ((beta + (*n).sqrt()) / lr + wd) * active;
        }
    });
}

/// `FTMLParam` (`epsilon` is a double there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ftml {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f64,
    pub t: i64,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_grad: f32,
}

/// `ftml_update`: states `d`, `v`, `z`.
pub fn ftml<T: Real>(w: &mut [T], g: &[T], d: &mut [T], v: &mut [T], z: &mut [T], p: &Ftml) {
    let (lr, beta1, beta2, eps, t) = (
        T::of_f32(p.lr),
        T::of_f32(p.beta1),
        T::of_f32(p.beta2),
        T::of_f64(p.epsilon),
        T::of_f64(p.t as f64),
    );
    let (wd, rescale, clip_to) = (
        T::of_f32(p.wd),
        T::of_f32(p.rescale_grad),
        T::of_f32(p.clip_grad),
    );
    let clipping = p.clip_grad >= 0.0;
    let (bias1, bias2) = (T::one() - beta1.powf(t), T::one() - beta2.powf(t));
    let (keep1, keep2) = (T::one() - beta1, T::one() - beta2);
    lanes::run((w, g, d, v, z), &|(w, g, d, v, z)| {
        for ((((w, &g), d), v), z) in w.iter_mut().zip(g).zip(d).zip(v).zip(z) {
            let mut grad = rescale * g + wd * *w;
            if clipping {
                grad = clip(grad, clip_to);
            }
            *v = beta2 * *v + keep2 * (grad * grad);
            let d_t = bias1 / lr * ((*v / bias2).sqrt() + eps);
            *z = beta1 * *z + keep1 * grad - (d_t - beta1 * *d) * *w;
            *d = d_t;
            *w = -*z / d_t;
        }
    });
}
