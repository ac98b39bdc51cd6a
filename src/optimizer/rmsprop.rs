//! RMSProp: MXNet 1.9.1's `rmsprop_update` (Tieleman & Hinton) and `rmspropalex_update`
//! (Graves, centered), in the order of operations of their kernels.

use super::lanes;
use super::real::{clip, Real};

/// `RMSPropParam` and `RMSPropAlexParam` (`gamma2` is used by the centered form only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsProp {
    pub lr: f32,
    pub gamma1: f32,
    pub gamma2: f32,
    pub epsilon: f32,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_gradient: f32,
    pub clip_weights: f32,
}

struct Cast<T> {
    lr: T,
    gamma1: T,
    gamma2: T,
    keep: T,
    eps: T,
    wd: T,
    rescale: T,
    clip_gradient: Option<T>,
    clip_weights: Option<T>,
}

impl RmsProp {
    fn cast<T: Real>(&self) -> Cast<T> {
        let bound = |b: f32| (b >= 0.0).then(|| T::of_f32(b));
        let gamma1 = T::of_f32(self.gamma1);
        Cast {
            lr: T::of_f32(self.lr),
            gamma1,
            gamma2: T::of_f32(self.gamma2),
            keep: T::one() - gamma1,
            eps: T::of_f32(self.epsilon),
            wd: T::of_f32(self.wd),
            rescale: T::of_f32(self.rescale_grad),
            clip_gradient: bound(self.clip_gradient),
            clip_weights: bound(self.clip_weights),
        }
    }
}

impl<T: Real> Cast<T> {
    #[inline(always)]
    fn grad(&self, g: T, w: T) -> T {
        let grad = self.rescale * g + self.wd * w;
        match self.clip_gradient {
            Some(b) => clip(grad, b),
            None => grad,
        }
    }

    #[inline(always)]
    fn bound_weight(&self, w: T) -> T {
        match self.clip_weights {
            Some(b) => clip(w, b),
            None => w,
        }
    }
}

/// `rmsprop_update`.
pub fn rmsprop<T: Real>(w: &mut [T], g: &[T], n: &mut [T], p: &RmsProp) {
    let c = p.cast::<T>();
    lanes::run((w, g, n), &|(w, g, n)| {
        for ((w, &g), n) in w.iter_mut().zip(g).zip(n) {
            let grad = c.grad(g, *w);
            *n = c.keep * (grad * grad) + c.gamma1 * *n;
            *w = c.bound_weight(*w - c.lr * (grad / (*n + c.eps).sqrt()));
        }
    });
}

/// `rmspropalex_update`: states `n`, `g` (mean gradient) and `delta`.
pub fn rmspropalex<T: Real>(
    w: &mut [T],
    g: &[T],
    n: &mut [T],
    mean: &mut [T],
    delta: &mut [T],
    p: &RmsProp,
) {
    let c = p.cast::<T>();
    lanes::run((w, g, n, mean, delta), &|(w, g, n, mean, delta)| {
        for ((((w, &g), n), m), d) in w.iter_mut().zip(g).zip(n).zip(mean).zip(delta) {
            let grad = c.grad(g, *w);
            *n = c.keep * grad * grad + c.gamma1 * *n;
            *m = c.keep * grad + c.gamma1 * *m;
            *d = c.gamma2 * *d - c.lr * grad / (*n - *m * *m + c.eps).sqrt();
            *w = c.bound_weight(*w + *d);
        }
    });
}
