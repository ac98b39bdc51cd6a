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
use super::reserve::{Reservations, Scratch};
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray};

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
    /// Memory reserved for the updates of pushes under way.
    pub(super) reserved: Reservations,
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
            reserved: Reservations::default(),
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
    pub(super) fn uses_master_copy(&self, weight: &NDArray) -> bool {
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

    /// Whether key `key` with weight `weight` can be updated (its dtype, and its state when
    /// it has one: states loaded from a file may not fit), with the memory its update needs
    /// reserved: a store checks every key of a push before it changes any.
    pub fn check(&self, key: i32, weight: &NDArray) -> Result<()> {
        let has_state = self.check_state(key, weight)?;
        if self.needs_reserving(weight, has_state) {
            self.reserved
                .reserve(key, || self.reserve(weight, has_state))?;
        }
        Ok(())
    }

    /// Checks `weight`'s dtype and, when key `key` has a state, that it fits `weight`;
    /// tells whether it has one.
    fn check_state(&self, key: i32, weight: &NDArray) -> Result<bool> {
        if ![DType::F32, DType::F64, DType::F16].contains(&weight.dtype()) {
            return Err(Error::invalid(format!(
                "optimizer {}: key {key} has dtype {}; optimizers update float32, float64 and float16 arrays",
                self.name,
                weight.dtype().name()
            )));
        }
        let progress = self.progress.lock();
        let Some(state) = progress.keys.get(&key) else {
            return Ok(false);
        };
        if !self.fits(&state.arrays, weight) {
            return Err(Error::invalid(format!(
                "optimizer {}: the state of key {key} does not fit its weight of shape {} and dtype {}",
                self.name,
                weight.shape(),
                weight.dtype().name()
            )));
        }
        Ok(true)
    }

    /// Whether `arrays` are a state of `weight`: the layout's names, shape and dtypes.
    pub(super) fn fits(&self, arrays: &[(&'static str, NDArray)], weight: &NDArray) -> bool {
        let layout = self.class.state_layout(self.uses_master_copy(weight));
        arrays.len() == layout.len()
            && arrays.iter().zip(&layout).all(|((n, a), (want, f32))| {
                n == want
                    && a.shape() == weight.shape()
                    && a.dtype() == if *f32 { DType::F32 } else { weight.dtype() }
            })
    }

    /// Applies the gradient `grad` of key `key` to `weight`, as MXNet's `Updater` does, in
    /// memory reserved by [`Optimizer::check`] (or now, when it was not called). A key's
    /// new state and its update count change only when the update succeeds.
    pub fn update(&self, key: i32, grad: &NDArray, weight: &NDArray) -> Result<()> {
        self.check_state(key, weight)?;
        weight.check_same_shape(grad)?;
        let master = self.uses_master_copy(weight);
        let mut progress = self.progress.lock();
        let Progress {
            keys,
            num_update,
            nadam,
        } = &mut *progress;
        let has_state = keys.contains_key(&key);
        let reserved = match self.reserved.take(key) {
            Some(r) if self.still_fits(&r, weight) => r,
            _ => self.reserve(weight, has_state)?,
        };
        // A key's first state goes into `keys` only when its first step succeeded.
        let (states, fresh, count): (Vec<NDArray>, _, _) = match keys.get(&key) {
            Some(state) => (
                state.arrays.iter().map(|(_, a)| a.clone()).collect(),
                None,
                state.count,
            ),
            None => {
                let fresh = match reserved.state {
                    Some(fresh) => fresh,
                    None => self.new_state(weight)?,
                };
                self.first_use(&fresh, weight)?;
                let states = fresh.iter().map(|(_, a)| a.clone()).collect();
                (states, Some(fresh), self.begin_num_update)
            }
        };
        // `_update_count`, kept once the step succeeded.
        let t = count + 1;
        let mut schedule = *nadam;
        let sgd_like = matches!(
            self.class,
            Class::Sgd { .. } | Class::Nag { .. } | Class::Lamb { .. }
        );
        if master && !sgd_like {
            // Base class multi-precision: update the float32 copy with a float32 gradient,
            // then cast it into the weight.
            let grad32 = match &reserved.scratch {
                Scratch::Grad32(g) if !grad.is_sparse() => {
                    g.assign_value(grad)?;
                    g.clone()
                }
                _ => grad.copy_as(grad.storage(), DType::F32, grad.context())?,
            };
            self.step(
                &states[0],
                &grad32,
                &states[1..],
                false,
                t,
                &mut schedule,
                &reserved.scratch,
            )?;
            weight.assign_value(&states[0])?;
        } else {
            self.step(
                weight,
                grad,
                &states,
                master,
                t,
                &mut schedule,
                &reserved.scratch,
            )?;
        }
        match fresh {
            Some(arrays) => {
                keys.insert(key, KeyState { arrays, count: t });
            }
            None => {
                if let Some(state) = keys.get_mut(&key) {
                    state.count = t;
                }
            }
        }
        *num_update = (*num_update).max(t);
        *nadam = schedule;
        Ok(())
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
