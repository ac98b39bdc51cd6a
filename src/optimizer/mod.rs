//! MXNet 1.9.1's optimizers, natively: the update operators (`sgd_mom_update`,
//! `adam_update`, …) on float32, float64 and float16 arrays (float16 also with float32
//! master weights, `mp_*`), with MXNet's parameter names and its arithmetic, one operation
//! at a time in MXNet's order, so that float32 results are MXNet's bit for bit.
//!
//! [`ops`] names the operators and checks their arguments ([`parse`] reads their
//! parameters, [`multi`] the aggregated SGD operators, [`sparse`] row_sparse arrays); one
//! module per rule family holds the arithmetic on typed slices ([`real`] makes one generic
//! body serve every dtype); [`lanes`] splits large arrays over both cores. [`updater`] is a
//! store's optimizer — MXNet's Python optimizer classes ([`class`]), their steps ([`step`])
//! and their per-key states ([`states`]), reserved before a push changes any key
//! ([`reserve`]).

pub mod access;
pub mod adam;
pub mod class;
pub mod composed;
pub mod ftrl;
pub mod lanes;
pub mod multi;
pub mod ops;
pub mod params;
pub mod parse;
pub mod real;
mod reserve;
pub mod rmsprop;
pub mod sgd;
pub mod signum;
pub mod sparse;
pub mod states;
pub mod step;
pub mod updater;

pub use class::OPTIMIZERS;
pub use ops::{apply, Rule, OPERATORS};
pub use updater::{Optimizer, StoreOptimizer};

#[cfg(test)]
mod out_of_memory_tests;
#[cfg(test)]
mod tests;
