//! signSGD and Signum: MXNet 1.9.1's `signsgd_update` and `signum_update`.

use super::lanes;
use super::real::{clip, sign, Real};

/// `SignSGDParam` and `SignumParam` (`momentum` and `wd_lh` are Signum's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signum {
    pub lr: f32,
    pub momentum: f32,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_gradient: f32,
    pub wd_lh: f32,
}

/// `signsgd_update`: `w = (1 - lr*wd)*w - lr*sign(g)` (MXNet ignores `clip_gradient`).
pub fn signsgd<T: Real>(w: &mut [T], g: &[T], p: &Signum) {
    let lr = T::of_f32(p.lr);
    let decay = T::one() - lr * T::of_f32(p.wd);
    lanes::run((w, g), &|(w, g)| {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = decay * *w - lr * sign(g);
        }
    });
}

/// `signum_update`: momentum of the decayed gradient, then a step of `lr` along its sign.
pub fn signum<T: Real>(w: &mut [T], g: &[T], mom: &mut [T], p: &Signum) {
    let (lr, momentum, wd, rescale, clip_to) = (
        T::of_f32(p.lr),
        T::of_f32(p.momentum),
        T::of_f32(p.wd),
        T::of_f32(p.rescale_grad),
        T::of_f32(p.clip_gradient),
    );
    let clipping = p.clip_gradient >= 0.0;
    let keep = T::one() - momentum;
    let decay = T::one() - lr * T::of_f32(p.wd_lh);
    lanes::run((w, g, mom), &|(w, g, mom)| {
        for ((w, &g), m) in w.iter_mut().zip(g).zip(mom) {
            let step = if clipping {
                keep * clip(rescale * g, clip_to)
            } else {
                keep * rescale * g
            };
            *m = momentum * *m - keep * wd * *w - step;
            *w = decay * *w + lr * sign(*m);
        }
    });
}
