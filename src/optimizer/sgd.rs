//! SGD, SGD with momentum and NAG, plain and multi-precision: MXNet 1.9.1's
//! `sgd_update`, `sgd_mom_update`, `mp_sgd_update`, `mp_sgd_mom_update`, `nag_mom_update`,
//! `mp_nag_mom_update`, and the one-weight forms of `multi_sgd_update` /
//! `multi_mp_sgd_update` that MXNet's Python SGD uses for dense arrays (their arithmetic
//! differs from `sgd_update`'s by the order of the weight-decay term). Each expression keeps
//! MXNet's order of operations (`src/operator/optimizer_op-inl.h`).

use super::lanes;
use super::real::{clip, Real, Storage};

/// The parameters of the SGD family (`SGDParam`, `SGDMomParam`, `NAGMomParam`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub wd: f32,
    pub rescale_grad: f32,
    pub clip_gradient: f32,
    /// With a row_sparse gradient, update only the rows it stores (`sgd_update`,
    /// `sgd_mom_update`); see [`super::sparse`].
    pub lazy_update: bool,
}

/// The parameters cast to the element type, as the kernels receive them.
#[derive(Clone, Copy)]
struct Cast<T> {
    lr: T,
    momentum: T,
    wd: T,
    rescale: T,
    clip: T,
    clipping: bool,
}

impl Sgd {
    fn cast<T: Real>(&self) -> Cast<T> {
        Cast {
            lr: T::of_f32(self.lr),
            momentum: T::of_f32(self.momentum),
            wd: T::of_f32(self.wd),
            rescale: T::of_f32(self.rescale_grad),
            clip: T::of_f32(self.clip_gradient),
            clipping: self.clip_gradient >= 0.0,
        }
    }
}

impl<T: Real> Cast<T> {
    /// `lr * clip(rescale * g, clip)`, or `(lr * rescale) * g` without clipping (`CLIP`
    /// is `clipping`, fixed per loop so that the loop has no branch and vectorises).
    #[inline(always)]
    fn step<const CLIP: bool>(&self, g: T) -> T {
        if CLIP {
            self.lr * clip(self.rescale * g, self.clip)
        } else {
            self.lr * self.rescale * g
        }
    }

    /// `momentum*mom - lr*wd*w - step(g)`: the momentum of `SGDMomKernel` and
    /// `MultiSGDKernel`.
    #[inline(always)]
    fn momentum<const CLIP: bool>(&self, mom: T, w: T, g: T) -> T {
        self.momentum * mom - self.lr * self.wd * w - self.step::<CLIP>(g)
    }
}

/// Calls `$body::<…, true>` or `$body::<…, false>` as `$c.clipping` says: the clipping
/// test is made once per call, not per element.
macro_rules! by_clipping {
    ($c:expr, $body:ident::<$t:ty>($($arg:expr),*)) => {
        if $c.clipping {
            $body::<$t, true>($($arg),*)
        } else {
            $body::<$t, false>($($arg),*)
        }
    };
}

/// `sgd_update`: `w = (1 - lr*wd)*w - lr*clip(rescale*g)`.
pub fn sgd<T: Real>(w: &mut [T], g: &[T], p: &Sgd) {
    by_clipping!(p.cast::<T>(), sgd_loop::<T>(w, g, &p.cast::<T>()))
}

fn sgd_loop<T: Real, const CLIP: bool>(w: &mut [T], g: &[T], c: &Cast<T>) {
    let decay = T::one() - c.lr * c.wd;
    lanes::run((w, g), &|(w, g)| {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = decay * *w - c.step::<CLIP>(g);
        }
    });
}

/// The weight decay of `sgd_update`'s standard update with a row_sparse gradient, applied
/// to every row before the stored rows are updated without it: `w *= 1 - lr*wd`, the
/// factor computed in float32.
pub fn decay<T: Real>(w: &mut [T], p: &Sgd) {
    let factor = T::of_f32(1.0 - p.lr * p.wd);
    lanes::run(w, &|w: &mut [T]| {
        for w in w {
            *w = *w * factor;
        }
    });
}

/// `sgd_mom_update` (and `multi_sgd_mom_update` of one weight).
pub fn sgd_mom<T: Real>(w: &mut [T], g: &[T], mom: &mut [T], p: &Sgd) {
    by_clipping!(p.cast::<T>(), sgd_mom_loop::<T>(w, g, mom, &p.cast::<T>()))
}

fn sgd_mom_loop<T: Real, const CLIP: bool>(w: &mut [T], g: &[T], mom: &mut [T], c: &Cast<T>) {
    lanes::run((w, g, mom), &|(w, g, mom)| {
        for ((w, &g), m) in w.iter_mut().zip(g).zip(mom) {
            *m = c.momentum::<CLIP>(*m, *w, g);
            *w = *w + *m;
        }
    });
}

/// `multi_sgd_update` of one weight: the momentum form with a zero momentum.
pub fn multi_sgd<T: Real>(w: &mut [T], g: &[T], p: &Sgd) {
    by_clipping!(p.cast::<T>(), multi_sgd_loop::<T>(w, g, &p.cast::<T>()))
}

fn multi_sgd_loop<T: Real, const CLIP: bool>(w: &mut [T], g: &[T], c: &Cast<T>) {
    lanes::run((w, g), &|(w, g)| {
        for (w, &g) in w.iter_mut().zip(g) {
            *w = *w + c.momentum::<CLIP>(T::zero(), *w, g);
        }
    });
}

/// `mp_sgd_update`: float32 arithmetic on the master copy `w32`.
pub fn mp_sgd<S: Storage>(w: &mut [S], g: &[S], w32: &mut [f32], p: &Sgd) {
    by_clipping!(
        p.cast::<f32>(),
        mp_sgd_loop::<S>(w, g, w32, &p.cast::<f32>())
    )
}

fn mp_sgd_loop<S: Storage, const CLIP: bool>(w: &mut [S], g: &[S], w32: &mut [f32], c: &Cast<f32>) {
    let decay = 1.0 - c.lr * c.wd;
    lanes::run((w, g, w32), &|(w, g, w32)| {
        for ((w, &g), w32) in w.iter_mut().zip(g).zip(w32) {
            *w32 = decay * *w32 - c.step::<CLIP>(g.widen());
            *w = S::narrow(*w32);
        }
    });
}

/// `multi_mp_sgd_update` of one weight.
pub fn multi_mp_sgd<S: Storage>(w: &mut [S], g: &[S], w32: &mut [f32], p: &Sgd) {
    by_clipping!(
        p.cast::<f32>(),
        multi_mp_sgd_loop::<S>(w, g, w32, &p.cast::<f32>())
    )
}

fn multi_mp_sgd_loop<S: Storage, const CLIP: bool>(
    w: &mut [S],
    g: &[S],
    w32: &mut [f32],
    c: &Cast<f32>,
) {
    lanes::run((w, g, w32), &|(w, g, w32)| {
        for ((w, &g), w32) in w.iter_mut().zip(g).zip(w32) {
            *w32 = *w32 + c.momentum::<CLIP>(0.0, *w32, g.widen());
            *w = S::narrow(*w32);
        }
    });
}

/// `mp_sgd_mom_update` (and `multi_mp_sgd_mom_update` of one weight).
pub fn mp_sgd_mom<S: Storage>(w: &mut [S], g: &[S], mom: &mut [f32], w32: &mut [f32], p: &Sgd) {
    by_clipping!(
        p.cast::<f32>(),
        mp_sgd_mom_loop::<S>(w, g, mom, w32, &p.cast::<f32>())
    )
}

fn mp_sgd_mom_loop<S: Storage, const CLIP: bool>(
    w: &mut [S],
    g: &[S],
    mom: &mut [f32],
    w32: &mut [f32],
    c: &Cast<f32>,
) {
    lanes::run((w, g, mom, w32), &|(w, g, mom, w32)| {
        for (((w, &g), m), w32) in w.iter_mut().zip(g).zip(mom).zip(w32) {
            *m = c.momentum::<CLIP>(*m, *w32, g.widen());
            *w32 += *m;
            *w = S::narrow(*w32);
        }
    });
}

/// One NAG step on scalars (`NAGMomKernel`, `MP_NAGMomKernel`), in place: the weight is
/// written before the momentum's last term reads it, so that term's weight decay uses the
/// new weight, as MXNet's kernels do when `out` is the weight.
#[inline(always)]
fn nag_step<T: Real>(c: &Cast<T>, w: &mut T, g: T, mom: &mut T) {
    let grad = if c.clipping {
        clip(c.rescale * g, c.clip)
    } else {
        c.rescale * g
    };
    *mom = c.momentum * *mom;
    *w = *w - *mom + (c.momentum + T::one()) * (*mom - c.lr * (grad + c.wd * *w));
    *mom = *mom - c.lr * (grad + c.wd * *w);
}

/// `nag_mom_update`.
pub fn nag_mom<T: Real>(w: &mut [T], g: &[T], mom: &mut [T], p: &Sgd) {
    let c = p.cast::<T>();
    lanes::run((w, g, mom), &|(w, g, mom)| {
        for ((w, &g), m) in w.iter_mut().zip(g).zip(mom) {
            nag_step(&c, w, g, m);
        }
    });
}

/// `mp_nag_mom_update`.
pub fn mp_nag_mom<S: Storage>(w: &mut [S], g: &[S], mom: &mut [f32], w32: &mut [f32], p: &Sgd) {
    let c = p.cast::<f32>();
    lanes::run((w, g, mom, w32), &|(w, g, mom, w32)| {
        for (((w, &g), m), w32) in w.iter_mut().zip(g).zip(mom).zip(w32) {
            nag_step(&c, w32, g.widen(), m);
            *w = S::narrow(*w32);
        }
    });
}
