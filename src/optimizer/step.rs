//! One step of the store's native optimizer: the update operator, and its parameters,
//! that MXNet's Python optimizer class calls for a key at its step `t`.

use super::adam::{self, Adam, LambPhase1, LambPhase2};
use super::class::Class;
use super::composed::{AdaDelta, AdaGrad, Adamax, Grad, Nadam, NadamSchedule};
use super::ftrl::{Ftml, Ftrl};
use super::ops::Rule;
use super::real::{Half, Real};
use super::reserve::Scratch;
use super::rmsprop::RmsProp;
use super::sgd::Sgd;
use super::signum::Signum;
use super::updater::Optimizer;
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray};

/// A Python float as MXNet's operators receive it: its `str`, parsed as a float32.
///
/// The shortest decimal that reads back as `v` lies within half a float64 step of `v`, so
/// it rounds to the same float32 as `v` itself unless `v` lies that close to a midpoint
/// between two float32s; only then is the decimal written out and read (the slow way).
pub(super) fn param(v: f64) -> f32 {
    let f = v as f32;
    if f.abs() < f32::MAX && !near_float32_midpoint(v, f) {
        return f;
    }
    format!("{v}").parse().unwrap_or(f)
}

/// Whether `v`, which rounds to the float32 `f`, lies within a float64 step of either
/// midpoint between `f` and its neighbours (all exact in float64).
fn near_float32_midpoint(v: f64, f: f32) -> bool {
    let step = v.abs() * f64::EPSILON;
    neighbours(f).into_iter().any(|n| {
        let midpoint = (f64::from(f) + f64::from(n)) / 2.0;
        (v - midpoint).abs() <= step.max(f64::MIN_POSITIVE)
    })
}

/// The float32s either side of a finite `f` (`f32::next_down`/`next_up`, which Rust 1.80
/// lacks).
fn neighbours(f: f32) -> [f32; 2] {
    if f == 0.0 {
        let tiny = f32::from_bits(1);
        return [-tiny, tiny];
    }
    let bits = f.to_bits();
    [f32::from_bits(bits - 1), f32::from_bits(bits + 1)]
}

/// `momentum` as SGD's and Signum's operators take it: only a positive value is passed.
fn op_momentum(momentum: f64) -> f32 {
    if momentum > 0.0 {
        param(momentum)
    } else {
        0.0
    }
}

/// `clip_gradient` as the operators take it: only a truthy value clips (`if clip:`).
fn op_clip(clip: Option<f64>) -> f32 {
    clip.filter(|&c| c != 0.0).map_or(-1.0, param)
}

impl Optimizer {
    /// One update of `weight` by `grad` with `states` (MXNet's order) at step `t`; `mp`
    /// when the states hold a float32 master copy (SGD, NAG and LAMB only).
    pub(super) fn step(
        &self,
        weight: &NDArray,
        grad: &NDArray,
        states: &[NDArray],
        mp: bool,
        t: i64,
        nadam: &mut Option<NadamSchedule>,
        scratch: &Scratch,
    ) -> Result<()> {
        let (lr, wd, rescale) = (self.lr, self.wd, self.rescale_grad);
        let clip = op_clip(self.clip_gradient);
        let composed_grad = Grad {
            rescale_grad: rescale,
            clip_gradient: self.clip_gradient.unwrap_or(-1.0),
        };
        let mut arrays: Vec<&NDArray> = vec![weight, grad];
        arrays.extend(states);
        let rule = match &self.class {
            Class::Sgd { momentum, .. } | Class::Nag { momentum } => {
                let nag = matches!(self.class, Class::Nag { .. });
                // MXNet's SGD aggregates (`multi_*`) dense arrays only.
                let aggregate = !weight.is_sparse() && !grad.is_sparse();
                let p = Sgd {
                    lr: param(lr),
                    momentum: op_momentum(*momentum),
                    wd: param(wd),
                    rescale_grad: param(rescale),
                    clip_gradient: clip,
                    lazy_update: self.class.lazy_update(),
                };
                match (nag, *momentum != 0.0, mp) {
                    (false, true, false) => Rule::SgdMom(p),
                    (false, false, false) if aggregate => Rule::MultiSgd(p),
                    (false, false, false) => Rule::Sgd(p),
                    (false, true, true) => Rule::MpSgdMom(p),
                    (false, false, true) => Rule::MultiMpSgd(p),
                    (true, true, false) => Rule::NagMom(p),
                    (true, false, false) => Rule::Sgd(p),
                    (true, true, true) => Rule::MpNagMom(p),
                    (true, false, true) => Rule::MpSgd(p),
                }
            }
            Class::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                let (coef1, coef2) = (1.0 - beta1.powf(t as f64), 1.0 - beta2.powf(t as f64));
                Rule::Adam(Adam {
                    lr: param(lr * (coef2.sqrt() / coef1)),
                    beta1: param(*beta1),
                    beta2: param(*beta2),
                    epsilon: param(*epsilon),
                    wd: param(wd),
                    rescale_grad: param(rescale),
                    clip_gradient: clip,
                    lazy_update: self.class.lazy_update(),
                })
            }
            Class::RmsProp {
                gamma1,
                gamma2,
                epsilon,
                centered,
                clip_weights,
            } => {
                let p = RmsProp {
                    lr: param(lr),
                    gamma1: param(*gamma1),
                    gamma2: param(*gamma2),
                    epsilon: param(*epsilon),
                    wd: param(wd),
                    rescale_grad: param(rescale),
                    clip_gradient: clip,
                    clip_weights: op_clip(*clip_weights),
                };
                if *centered {
                    Rule::RmsPropAlex(p)
                } else {
                    Rule::RmsProp(p)
                }
            }
            Class::AdaGrad { eps } => Rule::AdaGrad(AdaGrad {
                lr,
                wd,
                eps: *eps,
                grad: composed_grad,
            }),
            Class::AdaDelta { rho, epsilon } => Rule::AdaDelta(AdaDelta {
                rho: *rho,
                epsilon: *epsilon,
                wd,
                grad: composed_grad,
            }),
            Class::Ftrl { lamda1, beta } => Rule::Ftrl(Ftrl {
                lr: param(lr),
                lamda1: param(*lamda1),
                beta: param(*beta),
                wd: param(wd),
                rescale_grad: param(rescale),
                clip_gradient: clip,
            }),
            Class::Signum { momentum, wd_lh } => {
                let p = Signum {
                    lr: param(lr),
                    momentum: op_momentum(*momentum),
                    wd: param(wd),
                    rescale_grad: param(rescale),
                    clip_gradient: clip,
                    wd_lh: if *wd_lh != 0.0 { param(*wd_lh) } else { 0.0 },
                };
                if states.is_empty() {
                    Rule::SignSgd(p)
                } else {
                    Rule::Signum(p)
                }
            }
            Class::Ftml {
                beta1,
                beta2,
                epsilon,
            } => Rule::Ftml(Ftml {
                lr: param(lr),
                beta1: param(*beta1),
                beta2: param(*beta2),
                epsilon: format!("{epsilon}").parse().unwrap_or(*epsilon),
                t,
                wd: param(wd),
                rescale_grad: param(rescale),
                clip_grad: clip,
            }),
            Class::Adamax { beta1, beta2 } => Rule::Adamax(Adamax {
                lr: lr / (1.0 - beta1.powf(t as f64)),
                beta1: *beta1,
                beta2: *beta2,
                wd,
                grad: composed_grad,
            }),
            Class::Nadam {
                beta1,
                beta2,
                epsilon,
                schedule_decay,
            } => {
                let schedule = nadam.get_or_insert(NadamSchedule { m_schedule: 1.0 });
                let (momentum_t, momentum_t_1, m_schedule, m_schedule_next) =
                    schedule.advance(*beta1, *schedule_decay, t);
                Rule::Nadam(Nadam {
                    lr,
                    beta1: *beta1,
                    beta2: *beta2,
                    epsilon: *epsilon,
                    wd,
                    t,
                    momentum_t,
                    momentum_t_1,
                    m_schedule,
                    m_schedule_next,
                    grad: composed_grad,
                })
            }
            Class::Lamb {
                beta1,
                beta2,
                epsilon,
                lower_bound,
                upper_bound,
                bias_correction,
            } => {
                let Scratch::Lamb { g, r1, r2 } = scratch else {
                    return Err(Error::invalid(
                        "LAMB needs its scratch arrays reserved before its step",
                    ));
                };
                return lamb_step(
                    [weight, grad, g, r1, r2],
                    states,
                    mp,
                    LambPhase1 {
                        beta1: param(*beta1),
                        beta2: param(*beta2),
                        epsilon: param(*epsilon),
                        t,
                        bias_correction: *bias_correction,
                        wd: param(wd),
                        rescale_grad: param(rescale),
                        clip_gradient: clip,
                    },
                    LambPhase2 {
                        lr: param(lr),
                        lower_bound: op_clip(*lower_bound),
                        upper_bound: op_clip(*upper_bound),
                        update_master: true,
                    },
                );
            }
            Class::Test => {
                Rule::Test(rescale).apply(&[weight, grad])?;
                return states[0].assign_sum(&[weight]);
            }
        };
        rule.apply(&arrays)
    }
}

/// LAMB: phase one gives the direction `g`; phase two scales the step by the trust ratio of
/// the norms (`r1`, `r2`) of the weight (its float32 copy) and of `g`.
fn lamb_step(
    [weight, grad, g, r1, r2]: [&NDArray; 5],
    states: &[NDArray],
    master: bool,
    p1: LambPhase1,
    p2: LambPhase2,
) -> Result<()> {
    if master {
        let (w32, mean, var) = (&states[0], &states[1], &states[2]);
        Rule::MpLambPhase1(p1).apply(&[weight, grad, mean, var, w32, g])?;
        store_norm(r1, w32)?;
        store_norm(r2, g)?;
        Rule::MpLambPhase2(p2).apply(&[weight, g, r1, r2, w32])
    } else {
        Rule::LambPhase1(p1).apply(&[weight, grad, &states[0], &states[1], g])?;
        store_norm(r1, weight)?;
        store_norm(r2, g)?;
        Rule::LambPhase2(p2).apply(&[weight, g, r1, r2])
    }
}

/// Writes the L2 norm of `x` into the one-element `out` (of `x`'s dtype).
fn store_norm(out: &NDArray, x: &NDArray) -> Result<()> {
    match x.dtype() {
        DType::F32 => write_norm::<f32>(out, x),
        DType::F64 => write_norm::<f64>(out, x),
        _ => write_norm::<Half>(out, x),
    }
}

fn write_norm<T: Real>(out: &NDArray, x: &NDArray) -> Result<()> {
    let norm = x.read(|b| adam::norm::<T>(bytemuck::cast_slice(b)))?;
    out.copy_from_bytes(bytemuck::bytes_of(&norm), 1)
}

#[cfg(test)]
mod tests {
    use super::neighbours;

    #[test]
    fn neighbours_are_the_adjacent_float32s() {
        let below_one = 1.0 - f32::EPSILON / 2.0;
        let above_one = 1.0 + f32::EPSILON;
        assert_eq!(neighbours(1.0), [below_one, above_one]);
        assert_eq!(neighbours(-1.0), [-below_one, -above_one]);
        assert_eq!(neighbours(0.0), [-f32::from_bits(1), f32::from_bits(1)]);
        assert_eq!(neighbours(f32::from_bits(1)), [0.0, f32::from_bits(2)]);
        for f in [0.1f32, -3.5e20, 1e-40] {
            let [a, b] = neighbours(f);
            assert!(a != f && b != f);
            assert_eq!(a.to_bits().abs_diff(f.to_bits()), 1);
            assert_eq!(b.to_bits().abs_diff(f.to_bits()), 1);
        }
    }
}
