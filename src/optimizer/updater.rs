//! A store's native optimizer: MXNet 1.9.1's Python optimizer classes (`SGD`, `NAG`,
//! `Adam`, `RMSProp`, `AdaGrad`, `AdaDelta`, `Ftrl`, `Signum`, `FTML`, `Adamax`, `Nadam`,
//! `LAMB`, `Test`) with their constructor arguments, applied per key as MXNet's `Updater`
//! does: per-key state created on a key's first update (float32 master copies for float16
//! weights with `multi_precision`), per-key update counts, and the update operators called
//! with the parameters the Python classes compute. States save to and load from MXNet's
//! `.params` format as named arrays (`<key>:<state>`, `<key>:count`).

use std::collections::BTreeMap;

use parking_lot::Mutex;

use super::class::{Class, BASE_ARGS};
use super::composed::NadamSchedule;
use super::params::Params;
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray, Storage};

/// One key's state: its arrays in MXNet's order, and its update count.
pub(super) struct KeyState {
    pub(super) arrays: Vec<(&'static str, NDArray)>,
    pub(super) count: i64,
}

#[derive(Default)]
pub(super) struct Progress {
    pub(super) keys: BTreeMap<i32, KeyState>,
    pub(super) num_update: i64,
    pub(super) nadam: Option<NadamSchedule>,
}

/// A configured optimizer with the state of every key it has updated.
pub struct Optimizer {
    pub(super) name: &'static str,
    pub(super) class: Class,
    pub(super) lr: f64,
    pub(super) wd: f64,
    pub(super) rescale_grad: f64,
    pub(super) clip_gradient: Option<f64>,
    pub(super) multi_precision: bool,
    pub(super) begin_num_update: i64,
    pub(super) progress: Mutex<Progress>,
}

impl Optimizer {
    /// MXNet's `mx.optimizer.create(name, **kwargs)`, with the arguments as strings.
    pub fn create(name: &str, pairs: &[(&str, &str)]) -> Result<Optimizer> {
        let (name, own, default_lr) = Class::lookup(name)?;
        let known: Vec<&str> = BASE_ARGS.iter().chain(own).copied().collect();
        let p = Params::new(name, pairs, &known)?;
        let f = |n: &str, d: f64| p.f64(n, Some(d));
        let class = Class::parse(name, &p)?;
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

    /// True when `weight`'s updates run on a float32 master copy.
    fn uses_master_copy(&self, weight: &NDArray) -> bool {
        self.multi_precision && weight.dtype() == DType::F16
    }

    /// The names of a key's state arrays, in order, for a weight updated in place or
    /// (`master`) through a float32 master copy.
    pub fn state_names(&self, master: bool) -> Vec<&'static str> {
        self.class
            .state_layout(master)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    fn create_state(&self, weight: &NDArray) -> Result<KeyState> {
        let master = self.uses_master_copy(weight);
        let mut arrays = Vec::new();
        // As MXNet's `create_state`: a row_sparse weight's states are row_sparse (SGD's and
        // Adam's with `lazy_update` only), so that its sparse updates are lazy.
        let storage = if weight.storage() == Storage::RowSparse && self.class.lazy_update() {
            Storage::RowSparse
        } else {
            Storage::Dense
        };
        for (name, float32) in self.class.state_layout(master) {
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
        let layout = self.class.state_layout(self.uses_master_copy(weight));
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
