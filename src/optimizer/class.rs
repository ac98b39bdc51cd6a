//! MXNet 1.9.1's Python optimizer classes as the store's native optimizer knows them: their
//! registry names, their own constructor arguments with defaults, and the state arrays
//! each keeps per key.

use super::params::Params;
use crate::error::{Error, Result};

/// An optimizer class and its own constructor arguments.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Class {
    Sgd {
        momentum: f64,
        lazy_update: bool,
    },
    Nag {
        momentum: f64,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        epsilon: f64,
        lazy_update: bool,
    },
    RmsProp {
        gamma1: f64,
        gamma2: f64,
        epsilon: f64,
        centered: bool,
        clip_weights: Option<f64>,
    },
    AdaGrad {
        eps: f64,
    },
    AdaDelta {
        rho: f64,
        epsilon: f64,
    },
    Ftrl {
        lamda1: f64,
        beta: f64,
    },
    Signum {
        momentum: f64,
        wd_lh: f64,
    },
    Ftml {
        beta1: f64,
        beta2: f64,
        epsilon: f64,
    },
    Adamax {
        beta1: f64,
        beta2: f64,
    },
    Nadam {
        beta1: f64,
        beta2: f64,
        epsilon: f64,
        schedule_decay: f64,
    },
    Lamb {
        beta1: f64,
        beta2: f64,
        epsilon: f64,
        lower_bound: Option<f64>,
        upper_bound: Option<f64>,
        bias_correction: bool,
    },
    Test,
}

/// The names `create` knows (MXNet's registry names: class names in lower case).
pub const OPTIMIZERS: &[&str] = &[
    "sgd", "nag", "adam", "rmsprop", "adagrad", "adadelta", "ftrl", "signum", "ftml", "adamax",
    "nadam", "lamb", "test",
];

/// The arguments of `Optimizer.__init__`, shared by every class.
pub(super) const BASE_ARGS: &[&str] = &[
    "learning_rate",
    "wd",
    "rescale_grad",
    "clip_gradient",
    "multi_precision",
    "begin_num_update",
];

impl Class {
    /// The class named `name` (any case): its registry name, its own constructor
    /// arguments, and its default learning rate.
    pub(super) fn lookup(name: &str) -> Result<(&'static str, &'static [&'static str], f64)> {
        let lower = name.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "sgd" => ("sgd", &["momentum", "lazy_update"], 0.01),
            "nag" => ("nag", &["momentum"], 0.01),
            "adam" => ("adam", &["beta1", "beta2", "epsilon", "lazy_update"], 0.001),
            "rmsprop" => (
                "rmsprop",
                &["gamma1", "gamma2", "epsilon", "centered", "clip_weights"],
                0.001,
            ),
            "adagrad" => ("adagrad", &["eps"], 0.01),
            "adadelta" => ("adadelta", &["rho", "epsilon"], 0.01),
            "ftrl" => ("ftrl", &["lamda1", "beta"], 0.1),
            "signum" => ("signum", &["momentum", "wd_lh"], 0.01),
            "ftml" => ("ftml", &["beta1", "beta2", "epsilon"], 0.01),
            "adamax" => ("adamax", &["beta1", "beta2"], 0.002),
            "nadam" => (
                "nadam",
                &["beta1", "beta2", "epsilon", "schedule_decay"],
                0.001,
            ),
            "lamb" => (
                "lamb",
                &[
                    "beta1",
                    "beta2",
                    "epsilon",
                    "lower_bound",
                    "upper_bound",
                    "bias_correction",
                ],
                0.001,
            ),
            "test" => ("test", &[], 0.01),
            _ => {
                return Err(Error::invalid(format!(
                    "Cannot find optimizer {name} (known: {})",
                    OPTIMIZERS.join(", ")
                )))
            }
        })
    }

    /// The class `name` (a registry name) with its own arguments from `p`.
    pub(super) fn parse(name: &str, p: &Params) -> Result<Class> {
        let f = |n: &str, d: f64| p.f64(n, Some(d));
        Ok(match name {
            "sgd" => Class::Sgd {
                momentum: f("momentum", 0.0)?,
                lazy_update: p.bool("lazy_update", true)?,
            },
            "nag" => Class::Nag {
                momentum: f("momentum", 0.0)?,
            },
            "adam" => Class::Adam {
                beta1: f("beta1", 0.9)?,
                beta2: f("beta2", 0.999)?,
                epsilon: f("epsilon", 1e-8)?,
                lazy_update: p.bool("lazy_update", true)?,
            },
            "rmsprop" => Class::RmsProp {
                gamma1: f("gamma1", 0.9)?,
                gamma2: f("gamma2", 0.9)?,
                epsilon: f("epsilon", 1e-8)?,
                centered: p.bool("centered", false)?,
                clip_weights: p.opt_f64("clip_weights")?,
            },
            "adagrad" => Class::AdaGrad {
                eps: f("eps", 1e-7)?,
            },
            "adadelta" => Class::AdaDelta {
                rho: f("rho", 0.9)?,
                epsilon: f("epsilon", 1e-5)?,
            },
            "ftrl" => Class::Ftrl {
                lamda1: f("lamda1", 0.01)?,
                beta: f("beta", 1.0)?,
            },
            "signum" => Class::Signum {
                momentum: f("momentum", 0.9)?,
                wd_lh: f("wd_lh", 0.0)?,
            },
            "ftml" => Class::Ftml {
                beta1: f("beta1", 0.6)?,
                beta2: f("beta2", 0.999)?,
                epsilon: f("epsilon", 1e-8)?,
            },
            "adamax" => Class::Adamax {
                beta1: f("beta1", 0.9)?,
                beta2: f("beta2", 0.999)?,
            },
            "nadam" => Class::Nadam {
                beta1: f("beta1", 0.9)?,
                beta2: f("beta2", 0.999)?,
                epsilon: f("epsilon", 1e-8)?,
                schedule_decay: f("schedule_decay", 0.004)?,
            },
            "lamb" => Class::Lamb {
                beta1: f("beta1", 0.9)?,
                beta2: f("beta2", 0.999)?,
                epsilon: f("epsilon", 1e-6)?,
                lower_bound: p.opt_f64("lower_bound")?,
                upper_bound: p.opt_f64("upper_bound")?,
                bias_correction: p.bool("bias_correction", true)?,
            },
            _ => Class::Test,
        })
    }

    /// `lazy_update` of SGD and Adam (true for the others: their sparse updates are lazy).
    pub(super) fn lazy_update(&self) -> bool {
        match self {
            Class::Sgd { lazy_update, .. } | Class::Adam { lazy_update, .. } => *lazy_update,
            _ => true,
        }
    }

    /// The names of a key's state arrays, in MXNet's order (`create_state_multi_precision`),
    /// and whether each is float32 (else the weight's dtype).
    pub(super) fn state_layout(&self, master: bool) -> Vec<(&'static str, bool)> {
        let inner: Vec<&'static str> = match self {
            Class::Sgd { momentum, .. }
            | Class::Nag { momentum }
            | Class::Signum { momentum, .. } => {
                if *momentum != 0.0 {
                    vec!["momentum"]
                } else {
                    vec![]
                }
            }
            Class::Adam { .. }
            | Class::Adamax { .. }
            | Class::Nadam { .. }
            | Class::Lamb { .. } => {
                vec!["mean", "var"]
            }
            Class::RmsProp { centered: true, .. } => vec!["n", "g", "delta"],
            Class::RmsProp { .. } => vec!["n"],
            Class::AdaGrad { .. } => vec!["history"],
            Class::AdaDelta { .. } => vec!["acc_g", "acc_delta"],
            Class::Ftrl { .. } => vec!["z", "n"],
            Class::Ftml { .. } => vec!["d", "v", "z"],
            Class::Test => vec!["weight_copy"],
        };
        let sgd_like = matches!(self, Class::Sgd { .. } | Class::Nag { .. });
        match (master, sgd_like) {
            (false, _) => inner.into_iter().map(|n| (n, false)).collect(),
            // SGD and NAG keep (momentum, weight32); the others (weight32, state…).
            (true, true) => inner
                .into_iter()
                .map(|n| (n, true))
                .chain([("weight32", true)])
                .collect(),
            (true, false) => [("weight32", true)]
                .into_iter()
                .chain(inner.into_iter().map(|n| (n, true)))
                .collect(),
        }
    }
}
