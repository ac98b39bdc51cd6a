//! Parsing an update operator: MXNet 1.9.1's operator names with their parameter names,
//! defaults and types, checked with dmlc's messages, into a [`Rule`].

use super::adam::{Adam, LambPhase1, LambPhase2};
use super::composed::{AdaDelta, AdaGrad, Adamax, Grad, Nadam, Nag};
use super::ftrl::{Ftml, Ftrl};
use super::multi;
use super::ops::{Rule, OPERATORS};
use super::params::Params;
use super::rmsprop::RmsProp;
use super::sgd::Sgd;
use super::signum::Signum;
use crate::error::{Error, Result};

const SGD_PARAMS: &[&str] = &["lr", "wd", "rescale_grad", "clip_gradient", "lazy_update"];
const SGD_MOM_PARAMS: &[&str] = &[
    "lr",
    "momentum",
    "wd",
    "rescale_grad",
    "clip_gradient",
    "lazy_update",
];
const GRAD_PARAMS: [&str; 2] = ["rescale_grad", "clip_gradient"];

fn sgd_params(p: &Params, momentum: bool) -> Result<Sgd> {
    Ok(Sgd {
        lr: p.f32("lr", None)?,
        momentum: if momentum {
            p.f32("momentum", Some(0.0))?
        } else {
            0.0
        },
        wd: p.f32("wd", Some(0.0))?,
        rescale_grad: p.f32("rescale_grad", Some(1.0))?,
        clip_gradient: p.f32("clip_gradient", Some(-1.0))?,
        lazy_update: p.bool("lazy_update", true)?,
    })
}

fn grad_params(p: &Params) -> Result<Grad> {
    Ok(Grad {
        rescale_grad: p.f64("rescale_grad", Some(1.0))?,
        clip_gradient: p.f64("clip_gradient", Some(-1.0))?,
    })
}

fn with_grad(names: &[&'static str]) -> Vec<&'static str> {
    names.iter().copied().chain(GRAD_PARAMS).collect()
}

impl Rule {
    /// The operator `op` with its parameters; unknown names, missing required parameters
    /// and unreadable values are errors.
    pub fn parse(op: &str, pairs: &[(&str, &str)]) -> Result<Rule> {
        let p = |known: &[&str]| Params::new(op, pairs, known);
        Ok(match op {
            "sgd_update" => Rule::Sgd(sgd_params(&p(SGD_PARAMS)?, false)?),
            "sgd_mom_update" => Rule::SgdMom(sgd_params(&p(SGD_MOM_PARAMS)?, true)?),
            "mp_sgd_update" => Rule::MpSgd(sgd_params(&p(SGD_PARAMS)?, false)?),
            "mp_sgd_mom_update" => Rule::MpSgdMom(sgd_params(&p(SGD_MOM_PARAMS)?, true)?),
            "multi_sgd_update"
            | "multi_sgd_mom_update"
            | "multi_mp_sgd_update"
            | "multi_mp_sgd_mom_update" => Rule::Multi {
                op: OPERATORS
                    .iter()
                    .find(|&&name| name == op)
                    .expect("the aggregated operators are listed"),
                rules: multi::parse(op, &p(multi::PARAMS)?)?,
            },
            "nag_mom_update" => Rule::NagMom(sgd_params(&p(SGD_MOM_PARAMS)?, true)?),
            "mp_nag_mom_update" => Rule::MpNagMom(sgd_params(&p(SGD_MOM_PARAMS)?, true)?),
            "adam_update" => {
                let p = p(&[
                    "lr",
                    "beta1",
                    "beta2",
                    "epsilon",
                    "wd",
                    "rescale_grad",
                    "clip_gradient",
                    "lazy_update",
                ])?;
                Rule::Adam(Adam {
                    lr: p.f32("lr", None)?,
                    beta1: p.f32("beta1", Some(0.9))?,
                    beta2: p.f32("beta2", Some(0.999))?,
                    epsilon: p.f32("epsilon", Some(1e-8))?,
                    wd: p.f32("wd", Some(0.0))?,
                    rescale_grad: p.f32("rescale_grad", Some(1.0))?,
                    clip_gradient: p.f32("clip_gradient", Some(-1.0))?,
                    lazy_update: p.bool("lazy_update", true)?,
                })
            }
            "rmsprop_update" | "rmspropalex_update" => {
                let centered = op == "rmspropalex_update";
                let mut known = vec![
                    "lr",
                    "gamma1",
                    "epsilon",
                    "wd",
                    "rescale_grad",
                    "clip_gradient",
                    "clip_weights",
                ];
                if centered {
                    known.push("gamma2");
                }
                let p = p(&known)?;
                let r = RmsProp {
                    lr: p.f32("lr", None)?,
                    gamma1: p.f32("gamma1", Some(0.95))?,
                    gamma2: if centered {
                        p.f32("gamma2", Some(0.9))?
                    } else {
                        0.0
                    },
                    epsilon: p.f32("epsilon", Some(1e-8))?,
                    wd: p.f32("wd", Some(0.0))?,
                    rescale_grad: p.f32("rescale_grad", Some(1.0))?,
                    clip_gradient: p.f32("clip_gradient", Some(-1.0))?,
                    clip_weights: p.f32("clip_weights", Some(-1.0))?,
                };
                if centered {
                    Rule::RmsPropAlex(r)
                } else {
                    Rule::RmsProp(r)
                }
            }
            "ftrl_update" => {
                let p = p(&[
                    "lr",
                    "lamda1",
                    "beta",
                    "wd",
                    "rescale_grad",
                    "clip_gradient",
                ])?;
                Rule::Ftrl(Ftrl {
                    lr: p.f32("lr", None)?,
                    lamda1: p.f32("lamda1", Some(0.01))?,
                    beta: p.f32("beta", Some(1.0))?,
                    wd: p.f32("wd", Some(0.0))?,
                    rescale_grad: p.f32("rescale_grad", Some(1.0))?,
                    clip_gradient: p.f32("clip_gradient", Some(-1.0))?,
                })
            }
            "ftml_update" => {
                let p = p(&[
                    "lr",
                    "beta1",
                    "beta2",
                    "epsilon",
                    "t",
                    "wd",
                    "rescale_grad",
                    "clip_grad",
                ])?;
                Rule::Ftml(Ftml {
                    lr: p.f32("lr", None)?,
                    beta1: p.f32("beta1", Some(0.6))?,
                    beta2: p.f32("beta2", Some(0.999))?,
                    epsilon: p.f64("epsilon", Some(1e-8f32 as f64))?,
                    t: p.int("t", None)?,
                    wd: p.f32("wd", Some(0.0))?,
                    rescale_grad: p.f32("rescale_grad", Some(1.0))?,
                    clip_grad: p.f32("clip_grad", Some(-1.0))?,
                })
            }
            "signsgd_update" | "signum_update" => {
                let signum = op == "signum_update";
                let mut known = vec!["lr", "wd", "rescale_grad", "clip_gradient"];
                if signum {
                    known.extend(["momentum", "wd_lh"]);
                }
                let p = p(&known)?;
                let s = Signum {
                    lr: p.f32("lr", None)?,
                    momentum: if signum {
                        p.f32("momentum", Some(0.0))?
                    } else {
                        0.0
                    },
                    wd: p.f32("wd", Some(0.0))?,
                    rescale_grad: p.f32("rescale_grad", Some(1.0))?,
                    clip_gradient: p.f32("clip_gradient", Some(-1.0))?,
                    wd_lh: if signum {
                        p.f32("wd_lh", Some(0.0))?
                    } else {
                        0.0
                    },
                };
                if signum {
                    Rule::Signum(s)
                } else {
                    Rule::SignSgd(s)
                }
            }
            "lamb_update_phase1" | "mp_lamb_update_phase1" => {
                let p = p(&[
                    "beta1",
                    "beta2",
                    "epsilon",
                    "t",
                    "bias_correction",
                    "wd",
                    "rescale_grad",
                    "clip_gradient",
                ])?;
                let l = LambPhase1 {
                    beta1: p.f32("beta1", Some(0.9))?,
                    beta2: p.f32("beta2", Some(0.999))?,
                    epsilon: p.f32("epsilon", Some(1e-6))?,
                    t: p.int("t", None)?,
                    bias_correction: p.bool("bias_correction", true)?,
                    wd: p.f32("wd", None)?,
                    rescale_grad: p.f32("rescale_grad", Some(1.0))?,
                    clip_gradient: p.f32("clip_gradient", Some(-1.0))?,
                };
                if op == "lamb_update_phase1" {
                    Rule::LambPhase1(l)
                } else {
                    Rule::MpLambPhase1(l)
                }
            }
            "lamb_update_phase2" | "mp_lamb_update_phase2" => {
                let p = p(&["lr", "lower_bound", "upper_bound"])?;
                let l = LambPhase2 {
                    lr: p.f32("lr", None)?,
                    lower_bound: p.f32("lower_bound", Some(-1.0))?,
                    upper_bound: p.f32("upper_bound", Some(-1.0))?,
                    update_master: false,
                };
                if op == "lamb_update_phase2" {
                    Rule::LambPhase2(l)
                } else {
                    Rule::MpLambPhase2(l)
                }
            }
            "mxkv_adagrad_update" => {
                let p = p(&with_grad(&["lr", "wd", "epsilon"]))?;
                Rule::AdaGrad(AdaGrad {
                    lr: p.f64("lr", None)?,
                    wd: p.f64("wd", Some(0.0))?,
                    eps: p.f64("epsilon", Some(1e-7))?,
                    grad: grad_params(&p)?,
                })
            }
            "mxkv_adadelta_update" => {
                let p = p(&with_grad(&["rho", "epsilon", "wd"]))?;
                Rule::AdaDelta(AdaDelta {
                    rho: p.f64("rho", Some(0.9))?,
                    epsilon: p.f64("epsilon", Some(1e-5))?,
                    wd: p.f64("wd", Some(0.0))?,
                    grad: grad_params(&p)?,
                })
            }
            "mxkv_adamax_update" => {
                let p = p(&with_grad(&["lr", "beta1", "beta2", "wd"]))?;
                Rule::Adamax(Adamax {
                    lr: p.f64("lr", None)?,
                    beta1: p.f64("beta1", Some(0.9))?,
                    beta2: p.f64("beta2", Some(0.999))?,
                    wd: p.f64("wd", Some(0.0))?,
                    grad: grad_params(&p)?,
                })
            }
            "mxkv_nadam_update" => {
                let p = p(&with_grad(&[
                    "lr",
                    "beta1",
                    "beta2",
                    "epsilon",
                    "wd",
                    "t",
                    "momentum_t",
                    "momentum_t_1",
                    "m_schedule",
                    "m_schedule_next",
                ]))?;
                Rule::Nadam(Nadam {
                    lr: p.f64("lr", None)?,
                    beta1: p.f64("beta1", Some(0.9))?,
                    beta2: p.f64("beta2", Some(0.999))?,
                    epsilon: p.f64("epsilon", Some(1e-8))?,
                    wd: p.f64("wd", Some(0.0))?,
                    t: p.int("t", None)?,
                    momentum_t: p.f64("momentum_t", None)?,
                    momentum_t_1: p.f64("momentum_t_1", None)?,
                    m_schedule: p.f64("m_schedule", None)?,
                    m_schedule_next: p.f64("m_schedule_next", None)?,
                    grad: grad_params(&p)?,
                })
            }
            "mxkv_nag_update" => {
                let p = p(&with_grad(&["lr", "momentum", "wd"]))?;
                Rule::Nag(Nag {
                    lr: p.f64("lr", None)?,
                    momentum: p.f64("momentum", Some(0.0))?,
                    wd: p.f64("wd", Some(0.0))?,
                    grad: grad_params(&p)?,
                })
            }
            "mxkv_test_update" => Rule::Test(p(&["rescale_grad"])?.f64("rescale_grad", Some(1.0))?),
            _ => {
                return Err(Error::invalid(format!(
                    "unknown update operator '{op}' (known: {})",
                    OPERATORS.join(", ")
                )))
            }
        })
    }
}
