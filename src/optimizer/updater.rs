//! A store's native optimizer: MXNet 1.9.1's Python optimizer classes (`SGD`, `NAG`,
//! `Adam`, `RMSProp`, `AdaGrad`, `AdaDelta`, `Ftrl`, `Signum`, `FTML`, `Adamax`, `Nadam`,
//! `LAMB`, `Test`) with their constructor arguments, applied per key as MXNet's `Updater`
//! does: per-key state created on a key's first update (float32 master copies for float16
//! weights with `multi_precision`), per-key update counts, and the update operators called
//! with the parameters the Python classes compute. States save to and load from MXNet's
//! `.params` format as named arrays (`<key>:<state>`, `<key>:count`).

use std::collections::BTreeMap;

use parking_lot::Mutex;

use super::adam::{self, Adam, LambPhase1, LambPhase2};
use super::composed::{AdaDelta, AdaGrad, Adamax, Grad, Nadam, NadamSchedule};
use super::ftrl::{Ftml, Ftrl};
use super::ops::Rule;
use super::params::Params;
use super::real::Half;
use super::rmsprop::RmsProp;
use super::sgd::Sgd;
use super::signum::Signum;
use crate::error::{escaped, Error, Result};
use crate::ndarray::{Context, DType, NDArray, Shape, Storage};

/// An optimizer class and its own constructor arguments.
#[derive(Debug, Clone, PartialEq)]
enum Class {
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
const BASE_ARGS: &[&str] = &[
    "learning_rate",
    "wd",
    "rescale_grad",
    "clip_gradient",
    "multi_precision",
    "begin_num_update",
];

/// One key's state: its arrays in MXNet's order, and its update count.
struct KeyState {
    arrays: Vec<(&'static str, NDArray)>,
    count: i64,
}

#[derive(Default)]
struct Progress {
    keys: BTreeMap<i32, KeyState>,
    num_update: i64,
    nadam: Option<NadamSchedule>,
}

/// A configured optimizer with the state of every key it has updated.
pub struct Optimizer {
    name: &'static str,
    class: Class,
    lr: f64,
    wd: f64,
    rescale_grad: f64,
    clip_gradient: Option<f64>,
    multi_precision: bool,
    begin_num_update: i64,
    progress: Mutex<Progress>,
}

/// A Python float as MXNet's operators receive it: its `str`, parsed as a float32.
fn param(v: f64) -> f32 {
    format!("{v}").parse().unwrap_or(v as f32)
}

/// `clip_gradient` as the operators take it: only a truthy value clips (`if clip:`).
fn op_clip(clip: Option<f64>) -> f32 {
    clip.filter(|&c| c != 0.0).map_or(-1.0, param)
}

impl Optimizer {
    /// MXNet's `mx.optimizer.create(name, **kwargs)`, with the arguments as strings.
    pub fn create(name: &str, pairs: &[(&str, &str)]) -> Result<Optimizer> {
        let lower = name.to_ascii_lowercase();
        let (name, own, default_lr): (&'static str, &[&str], f64) = match lower.as_str() {
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
        };
        let known: Vec<&str> = BASE_ARGS.iter().chain(own).copied().collect();
        let p = Params::new(name, pairs, &known)?;
        let f = |n: &str, d: f64| p.f64(n, Some(d));
        let class = match name {
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
        };
        let begin_num_update = p.int("begin_num_update", Some(0))?;
        Ok(Optimizer {
            name,
            lr: f("learning_rate", default_lr)?,
            wd: f("wd", 0.0)?,
            rescale_grad: f("rescale_grad", 1.0)?,
            clip_gradient: p.opt_f64("clip_gradient")?,
            multi_precision: p.bool("multi_precision", false)?,
            begin_num_update,
            progress: Mutex::new(Progress {
                num_update: begin_num_update,
                nadam: matches!(class, Class::Nadam { .. })
                    .then_some(NadamSchedule { m_schedule: 1.0 }),
                ..Progress::default()
            }),
            class,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The largest update count of any key (MXNet's `num_update`).
    pub fn num_update(&self) -> i64 {
        self.progress.lock().num_update
    }

    /// `lazy_update` of SGD and Adam (true for the others: their sparse updates are lazy).
    fn lazy_update(&self) -> bool {
        match self.class {
            Class::Sgd { lazy_update, .. } | Class::Adam { lazy_update, .. } => lazy_update,
            _ => true,
        }
    }

    /// True when `weight`'s updates run on a float32 master copy.
    fn uses_master_copy(&self, weight: &NDArray) -> bool {
        self.multi_precision && weight.dtype() == DType::F16
    }

    /// The names of a key's state arrays, in MXNet's order (`create_state_multi_precision`),
    /// and whether each is float32 (else the weight's dtype).
    fn state_layout(&self, master: bool) -> Vec<(&'static str, bool)> {
        let inner: Vec<&'static str> = match &self.class {
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
        let sgd_like = matches!(self.class, Class::Sgd { .. } | Class::Nag { .. });
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

    /// The names of a key's state arrays, in order, for a weight updated in place or
    /// (`master`) through a float32 master copy.
    pub fn state_names(&self, master: bool) -> Vec<&'static str> {
        self.state_layout(master).into_iter().map(|(n, _)| n).collect()
    }

    fn create_state(&self, weight: &NDArray) -> Result<KeyState> {
        let master = self.uses_master_copy(weight);
        let mut arrays = Vec::new();
        // As MXNet's `create_state`: a row_sparse weight's states are row_sparse (SGD's and
        // Adam's with `lazy_update` only), so that its sparse updates are lazy.
        let storage = if weight.storage() == Storage::RowSparse && self.lazy_update() {
            Storage::RowSparse
        } else {
            Storage::Dense
        };
        for (name, float32) in self.state_layout(master) {
            let dtype = if float32 { DType::F32 } else { weight.dtype() };
            let a = if name == "weight32" || name == "weight_copy" {
                weight.copy_as(weight.storage(), dtype, weight.context())?
            } else if storage == Storage::RowSparse {
                NDArray::new_sparse(
                    storage,
                    weight.shape().clone(),
                    dtype,
                    weight.context(),
                    &[(DType::I64, 0)],
                )?
            } else {
                NDArray::new(weight.shape().clone(), dtype, weight.context())?
            };
            arrays.push((name, a));
        }
        Ok(KeyState {
            arrays,
            count: self.begin_num_update,
        })
    }

    /// Applies the gradient `grad` of key `key` to `weight`, as MXNet's `Updater` does.
    /// Whether key `key` with weight `weight` can be updated: its dtype, and its state
    /// when it has one (states loaded from a file may not fit).
    pub fn check(&self, key: i32, weight: &NDArray) -> Result<()> {
        if ![DType::F32, DType::F64, DType::F16].contains(&weight.dtype()) {
            return Err(Error::invalid(format!(
                "optimizer {}: key {key} has dtype {}; optimizers update float32, float64 and float16 arrays",
                self.name,
                weight.dtype().name()
            )));
        }
        let progress = self.progress.lock();
        let Some(state) = progress.keys.get(&key) else {
            return Ok(());
        };
        let layout = self.state_layout(self.uses_master_copy(weight));
        let fits = state.arrays.len() == layout.len()
            && state
                .arrays
                .iter()
                .zip(&layout)
                .all(|((n, a), (want, f32))| {
                    n == want
                        && a.shape() == weight.shape()
                        && a.dtype() == if *f32 { DType::F32 } else { weight.dtype() }
                });
        if !fits {
            return Err(Error::invalid(format!(
                "optimizer {}: the state of key {key} does not fit its weight of shape {} and dtype {}",
                self.name,
                weight.shape(),
                weight.dtype().name()
            )));
        }
        Ok(())
    }

    pub fn update(&self, key: i32, grad: &NDArray, weight: &NDArray) -> Result<()> {
        self.check(key, weight)?;
        weight.check_same_shape(grad)?;
        let mut progress = self.progress.lock();
        if let std::collections::btree_map::Entry::Vacant(e) = progress.keys.entry(key) {
            e.insert(self.create_state(weight)?);
        }
        let master = self.uses_master_copy(weight);
        // `_update_count`
        let Progress {
            keys,
            num_update,
            nadam,
        } = &mut *progress;
        let state = keys.get_mut(&key).expect("state was created above");
        state.count += 1;
        *num_update = (*num_update).max(state.count);
        let t = state.count;
        let states: Vec<NDArray> = state.arrays.iter().map(|(_, a)| a.clone()).collect();

        let sgd_like = matches!(
            self.class,
            Class::Sgd { .. } | Class::Nag { .. } | Class::Lamb { .. }
        );
        if master && !sgd_like {
            // Base class multi-precision: update the float32 copy with a float32 gradient,
            // then cast it into the weight.
            let grad32 = grad.copy_as(grad.storage(), DType::F32, grad.context())?;
            self.step(&states[0], &grad32, &states[1..], false, t, nadam)?;
            return weight.assign_value(&states[0]);
        }
        self.step(weight, grad, &states, master, t, nadam)
    }

    /// One update of `weight` by `grad` with `states` (MXNet's order) at step `t`; `mp`
    /// when the states hold a float32 master copy (SGD, NAG and LAMB only).
    fn step(
        &self,
        weight: &NDArray,
        grad: &NDArray,
        states: &[NDArray],
        mp: bool,
        t: i64,
        nadam: &mut Option<NadamSchedule>,
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
                    momentum: if *momentum > 0.0 {
                        param(*momentum)
                    } else {
                        0.0
                    },
                    wd: param(wd),
                    rescale_grad: param(rescale),
                    clip_gradient: clip,
                    lazy_update: self.lazy_update(),
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
                    lazy_update: self.lazy_update(),
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
                    momentum: if *momentum > 0.0 {
                        param(*momentum)
                    } else {
                        0.0
                    },
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
                return self.lamb_step(
                    weight,
                    grad,
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

    /// LAMB: phase one gives the direction `g`; phase two scales the step by the trust
    /// ratio of the norms of the weight (its float32 copy) and of `g`.
    fn lamb_step(
        &self,
        weight: &NDArray,
        grad: &NDArray,
        states: &[NDArray],
        master: bool,
        p1: LambPhase1,
        p2: LambPhase2,
    ) -> Result<()> {
        let g_dtype = if master { DType::F32 } else { weight.dtype() };
        let g = NDArray::new(weight.shape().clone(), g_dtype, weight.context())?;
        let scalar = || NDArray::new(Shape(vec![1]), g_dtype, Context::cpu(0));
        let (r1, r2) = (scalar()?, scalar()?);
        if master {
            let (w32, mean, var) = (&states[0], &states[1], &states[2]);
            Rule::MpLambPhase1(p1).apply(&[weight, grad, mean, var, w32, &g])?;
            store_norm(&r1, w32)?;
            store_norm(&r2, &g)?;
            Rule::MpLambPhase2(p2).apply(&[weight, &g, &r1, &r2, w32])
        } else {
            Rule::LambPhase1(p1).apply(&[weight, grad, &states[0], &states[1], &g])?;
            store_norm(&r1, weight)?;
            store_norm(&r2, &g)?;
            Rule::LambPhase2(p2).apply(&[weight, &g, &r1, &r2])
        }
    }

    /// Every key's state as named arrays (`<key>:<state>`, `<key>:count`), and
    /// `num_update` (and Nadam's `m_schedule`), for a `.params` file.
    pub fn states(&self) -> Result<(Vec<NDArray>, Vec<String>)> {
        let progress = self.progress.lock();
        let mut arrays = Vec::new();
        let mut names = Vec::new();
        for (key, state) in &progress.keys {
            for (name, a) in &state.arrays {
                arrays.push(a.deep_copy(a.context())?);
                names.push(format!("{key}:{name}"));
            }
            arrays.push(int64(state.count)?);
            names.push(format!("{key}:count"));
        }
        arrays.push(int64(progress.num_update)?);
        names.push("num_update".to_string());
        if let Some(s) = progress.nadam {
            let a = NDArray::new(Shape(vec![1]), DType::F64, Context::cpu(0))?;
            a.copy_from_bytes(bytemuck::bytes_of(&s.m_schedule), 1)?;
            arrays.push(a);
            names.push("m_schedule".to_string());
        }
        Ok((arrays, names))
    }

    /// Replaces every key's state with `arrays` named as [`Optimizer::states`] names
    /// them; on an error nothing changes.
    pub fn set_states(&self, arrays: &[NDArray], names: &[impl AsRef<[u8]>]) -> Result<()> {
        if arrays.len() != names.len() {
            return Err(Error::Format(
                "optimizer states must be named arrays (<key>:<state>, <key>:count, num_update)"
                    .into(),
            ));
        }
        let mut loaded = Progress {
            nadam: matches!(self.class, Class::Nadam { .. })
                .then_some(NadamSchedule { m_schedule: 1.0 }),
            ..Progress::default()
        };
        let mut num_update = None;
        for (a, name) in arrays.iter().zip(names) {
            // A name that is not UTF-8 is no state's name; escaped, it fails as one.
            let name = escaped(name.as_ref());
            let bad = |why: &str| Error::Format(format!("optimizer state '{name}': {why}"));
            match name.split_once(':') {
                None if name == "num_update" => {
                    num_update = Some(read_int64(a).ok_or_else(|| bad("not one int64"))?)
                }
                None if name == "m_schedule" && loaded.nadam.is_some() => {
                    let v = (a.dtype() == DType::F64 && a.size() == 1)
                        .then(|| a.to_bytes().ok())
                        .flatten()
                        .ok_or_else(|| bad("not one float64"))?;
                    loaded.nadam = Some(NadamSchedule {
                        m_schedule: bytemuck::pod_read_unaligned(&v),
                    });
                }
                None => return Err(bad("unknown name")),
                Some((key, state)) => {
                    let key: i32 = key.parse().map_err(|_| bad("the key is not an int"))?;
                    let entry = loaded.keys.entry(key).or_insert(KeyState {
                        arrays: Vec::new(),
                        count: self.begin_num_update,
                    });
                    if state == "count" {
                        entry.count = read_int64(a).ok_or_else(|| bad("not one int64"))?;
                        continue;
                    }
                    let known = self
                        .state_layout(false)
                        .into_iter()
                        .chain(self.state_layout(true));
                    let Some((state, _)) = known.into_iter().find(|(n, _)| *n == state) else {
                        return Err(bad(&format!("{} keeps no state of that name", self.name)));
                    };
                    entry.arrays.push((state, a.deep_copy(a.context())?));
                }
            }
        }
        loaded.num_update = num_update.unwrap_or(self.begin_num_update);
        *self.progress.lock() = loaded;
        Ok(())
    }
}

fn int64(v: i64) -> Result<NDArray> {
    let a = NDArray::new(Shape(vec![1]), DType::I64, Context::cpu(0))?;
    a.copy_from_bytes(bytemuck::bytes_of(&v), 1)?;
    Ok(a)
}

fn read_int64(a: &NDArray) -> Option<i64> {
    (a.dtype() == DType::I64 && a.size() == 1)
        .then(|| a.to_bytes().ok())
        .flatten()
        .map(|b| bytemuck::pod_read_unaligned(&b))
}

/// Writes the L2 norm of `x` into the one-element `out` (of `x`'s dtype).
fn store_norm(out: &NDArray, x: &NDArray) -> Result<()> {
    let bytes = x.to_bytes()?;
    let n: Vec<u8> = match x.dtype() {
        DType::F32 => bytemuck::bytes_of(&adam::norm::<f32>(bytemuck::cast_slice(&bytes))).to_vec(),
        DType::F64 => bytemuck::bytes_of(&adam::norm::<f64>(bytemuck::cast_slice(&bytes))).to_vec(),
        _ => bytemuck::bytes_of(&adam::norm::<Half>(bytemuck::cast_slice(&bytes))).to_vec(),
    };
    out.copy_from_bytes(&n, 1)
}

/// An optimizer installed as a store's updater (it stays reachable through the `Arc`, for
/// saving and loading its states).
pub struct StoreOptimizer(pub std::sync::Arc<Optimizer>);

impl crate::kvstore::Updater for StoreOptimizer {
    fn check(&self, key: crate::kvstore::UpdateKey<'_>, stored: &NDArray) -> Result<()> {
        self.0.check(key.int(), stored)
    }

    fn update(
        &self,
        key: crate::kvstore::UpdateKey<'_>,
        recv: NDArray,
        local: NDArray,
    ) -> Result<()> {
        self.0.update(key.int(), &recv, &local)
    }
}
