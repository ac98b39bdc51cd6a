//! The update operators, as MXNet 1.9.1 registers them (`sgd_mom_update`, `adam_update`,
//! …), plus `mxkv_*` operators for the optimizers that MXNet composes in Python (AdaGrad,
//! AdaDelta, Adamax, Nadam) and AI::MXNet in Perl (NAG): [`Rule`] names an operator with
//! its parameters ([`Rule::parse`], in [`super::parse`]) and the arrays it takes;
//! [`Rule::apply`] checks the arrays, then updates them in place.

use super::access::write_all;
use super::adam::{self, Adam, LambPhase1, LambPhase2};
use super::composed::{self, AdaDelta, AdaGrad, Adamax, Nadam, Nag};
use super::ftrl::{self, Ftml, Ftrl};
use super::multi;
use super::real::{Half, Real, Storage};
use super::rmsprop::{self, RmsProp};
use super::sgd::{self, Sgd};
use super::signum::{self, Signum};
use super::sparse;
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray};

/// An update operator with its parsed parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Sgd(Sgd),
    SgdMom(Sgd),
    MpSgd(Sgd),
    MpSgdMom(Sgd),
    MultiSgd(Sgd),
    MultiMpSgd(Sgd),
    NagMom(Sgd),
    MpNagMom(Sgd),
    Adam(Adam),
    RmsProp(RmsProp),
    RmsPropAlex(RmsProp),
    Ftrl(Ftrl),
    Ftml(Ftml),
    SignSgd(Signum),
    Signum(Signum),
    LambPhase1(LambPhase1),
    LambPhase2(LambPhase2),
    MpLambPhase1(LambPhase1),
    MpLambPhase2(LambPhase2),
    AdaGrad(AdaGrad),
    AdaDelta(AdaDelta),
    Adamax(Adamax),
    Nadam(Nadam),
    Nag(Nag),
    /// An aggregated operator (`multi_*sgd*_update`): one rule per weight.
    Multi {
        op: &'static str,
        rules: Vec<Rule>,
    },
    /// MXNet's `Test` optimizer: `weight += grad * rescale_grad`.
    Test(f64),
}

/// The names of every operator [`Rule::parse`] knows.
pub const OPERATORS: &[&str] = &[
    "sgd_update",
    "sgd_mom_update",
    "mp_sgd_update",
    "mp_sgd_mom_update",
    "multi_sgd_update",
    "multi_sgd_mom_update",
    "multi_mp_sgd_update",
    "multi_mp_sgd_mom_update",
    "nag_mom_update",
    "mp_nag_mom_update",
    "adam_update",
    "rmsprop_update",
    "rmspropalex_update",
    "ftrl_update",
    "ftml_update",
    "signsgd_update",
    "signum_update",
    "lamb_update_phase1",
    "lamb_update_phase2",
    "mp_lamb_update_phase1",
    "mp_lamb_update_phase2",
    "mxkv_adagrad_update",
    "mxkv_adadelta_update",
    "mxkv_adamax_update",
    "mxkv_nadam_update",
    "mxkv_nag_update",
    "mxkv_test_update",
];

/// What an operator takes: its arrays by name, and from which one on they are float32
/// (a multi-precision operator's float32 states), the rest sharing the weight's dtype.
struct Signature {
    arrays: &'static [&'static str],
    float32_from: usize,
}

const fn sig(arrays: &'static [&'static str]) -> Signature {
    Signature {
        arrays,
        float32_from: arrays.len(),
    }
}

const fn mp(arrays: &'static [&'static str], float32_from: usize) -> Signature {
    Signature {
        arrays,
        float32_from,
    }
}

impl Rule {
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Sgd(_) => "sgd_update",
            Rule::SgdMom(_) => "sgd_mom_update",
            Rule::MpSgd(_) => "mp_sgd_update",
            Rule::MpSgdMom(_) => "mp_sgd_mom_update",
            Rule::MultiSgd(_) => "multi_sgd_update",
            Rule::Multi { op, .. } => op,
            Rule::MultiMpSgd(_) => "multi_mp_sgd_update",
            Rule::NagMom(_) => "nag_mom_update",
            Rule::MpNagMom(_) => "mp_nag_mom_update",
            Rule::Adam(_) => "adam_update",
            Rule::RmsProp(_) => "rmsprop_update",
            Rule::RmsPropAlex(_) => "rmspropalex_update",
            Rule::Ftrl(_) => "ftrl_update",
            Rule::Ftml(_) => "ftml_update",
            Rule::SignSgd(_) => "signsgd_update",
            Rule::Signum(_) => "signum_update",
            Rule::LambPhase1(_) => "lamb_update_phase1",
            Rule::LambPhase2(_) => "lamb_update_phase2",
            Rule::MpLambPhase1(_) => "mp_lamb_update_phase1",
            Rule::MpLambPhase2(_) => "mp_lamb_update_phase2",
            Rule::AdaGrad(_) => "mxkv_adagrad_update",
            Rule::AdaDelta(_) => "mxkv_adadelta_update",
            Rule::Adamax(_) => "mxkv_adamax_update",
            Rule::Nadam(_) => "mxkv_nadam_update",
            Rule::Nag(_) => "mxkv_nag_update",
            Rule::Test(_) => "mxkv_test_update",
        }
    }

    fn signature(&self) -> Signature {
        match self {
            // One weight's arrays.
            Rule::Multi { rules, .. } => rules[0].signature(),
            Rule::Sgd(_) | Rule::MultiSgd(_) | Rule::SignSgd(_) | Rule::Test(_) => {
                sig(&["weight", "grad"])
            }
            Rule::SgdMom(_) | Rule::NagMom(_) | Rule::Signum(_) | Rule::Nag(_) => {
                sig(&["weight", "grad", "mom"])
            }
            Rule::MpSgd(_) | Rule::MultiMpSgd(_) => mp(&["weight", "grad", "weight32"], 2),
            Rule::MpSgdMom(_) | Rule::MpNagMom(_) => mp(&["weight", "grad", "mom", "weight32"], 2),
            Rule::Adam(_) => sig(&["weight", "grad", "mean", "var"]),
            Rule::RmsProp(_) => sig(&["weight", "grad", "n"]),
            Rule::RmsPropAlex(_) => sig(&["weight", "grad", "n", "g", "delta"]),
            Rule::Ftrl(_) => sig(&["weight", "grad", "z", "n"]),
            Rule::Ftml(_) => sig(&["weight", "grad", "d", "v", "z"]),
            Rule::LambPhase1(_) => sig(&["weight", "grad", "mean", "var", "out"]),
            Rule::LambPhase2(_) => sig(&["weight", "g", "r1", "r2"]),
            Rule::MpLambPhase1(_) => mp(&["weight", "grad", "mean", "var", "weight32", "out"], 2),
            Rule::MpLambPhase2(_) => mp(&["weight", "g", "r1", "r2", "weight32"], 1),
            Rule::AdaGrad(_) => sig(&["weight", "grad", "history"]),
            Rule::AdaDelta(_) => sig(&["weight", "grad", "acc_g", "acc_delta"]),
            Rule::Adamax(_) | Rule::Nadam(_) => sig(&["weight", "grad", "mean", "var"]),
        }
    }

    /// The names of the arrays the operator takes, in order.
    pub fn array_names(&self) -> &'static [&'static str] {
        self.signature().arrays
    }

    fn is_multi_precision(&self) -> bool {
        self.signature().float32_from < self.signature().arrays.len()
    }

    /// Checks the arrays (count, dtypes, shapes, distinct memory), then updates them in
    /// place; on an error nothing has changed. Arrays may be row_sparse ([`super::sparse`]).
    pub fn apply(&self, arrays: &[&NDArray]) -> Result<()> {
        if let Rule::Multi { op, rules } = self {
            return multi::apply(op, rules, arrays);
        }
        let dtype = self.check(arrays)?;
        if arrays.iter().any(|a| a.is_sparse()) {
            return sparse::apply(self, arrays, dtype);
        }
        self.run_dense(arrays, dtype)
    }

    /// Checks the count, dtypes and shapes of `arrays`; gives the weight's dtype.
    pub(super) fn check(&self, arrays: &[&NDArray]) -> Result<DType> {
        let op = self.name();
        let sig = self.signature();
        if arrays.len() != sig.arrays.len() {
            return Err(Error::invalid(format!(
                "{op} takes {} arrays ({}), got {}",
                sig.arrays.len(),
                sig.arrays.join(", "),
                arrays.len()
            )));
        }
        let weight = arrays[0];
        let dtype = weight.dtype();
        let allowed: &[DType] = if self.is_multi_precision() {
            &[DType::F16, DType::F32]
        } else {
            &[DType::F32, DType::F64, DType::F16]
        };
        if !allowed.contains(&dtype) {
            let names: Vec<&str> = allowed.iter().map(|d| d.name()).collect();
            return Err(Error::invalid(format!(
                "{op}: weight has dtype {}, supported: {}",
                dtype.name(),
                names.join(", ")
            )));
        }
        let scalar = |name: &str| {
            matches!(self, Rule::LambPhase2(_) | Rule::MpLambPhase2(_))
                && (name == "r1" || name == "r2")
        };
        for (i, (a, name)) in arrays.iter().zip(sig.arrays).enumerate() {
            let want = if i < sig.float32_from {
                dtype
            } else {
                DType::F32
            };
            if a.dtype() != want {
                return Err(Error::invalid(format!(
                    "{op}: {name} has dtype {}, expected {}",
                    a.dtype().name(),
                    want.name()
                )));
            }
            if scalar(name) {
                if a.size() != 1 {
                    return Err(Error::invalid(format!(
                        "{op}: {name} must hold one element (a norm), it has shape {}",
                        a.shape()
                    )));
                }
            } else if a.shape() != weight.shape() {
                return Err(Error::invalid(format!(
                    "{op}: {name} has shape {}, the weight {}",
                    a.shape(),
                    weight.shape()
                )));
            }
        }
        Ok(dtype)
    }

    /// Updates the dense `arrays` (checked) of the weight's `dtype` in place.
    pub(super) fn run_dense(&self, arrays: &[&NDArray], dtype: DType) -> Result<()> {
        write_all(arrays, self.array_names(), |bytes| match dtype {
            DType::F32 if self.is_multi_precision() => self.run_mp::<f32>(bytes),
            DType::F16 if self.is_multi_precision() => self.run_mp::<Half>(bytes),
            DType::F32 => self.run::<f32>(bytes),
            DType::F64 => self.run::<f64>(bytes),
            _ => self.run::<Half>(bytes),
        })
    }

    /// The operators whose arrays all share the weight's dtype.
    fn run<T: Real>(&self, b: &mut [&mut [u8]]) {
        fn m<T: Real>(b: &mut [u8]) -> &mut [T] {
            typed(b)
        }
        match (self, b) {
            (Rule::Sgd(p), [w, g]) => sgd::sgd(m::<T>(w), m(g), p),
            (Rule::MultiSgd(p), [w, g]) => sgd::multi_sgd(m::<T>(w), m(g), p),
            (Rule::SgdMom(p), [w, g, mom]) => sgd::sgd_mom(m::<T>(w), m(g), m(mom), p),
            (Rule::NagMom(p), [w, g, mom]) => sgd::nag_mom(m::<T>(w), m(g), m(mom), p),
            (Rule::SignSgd(p), [w, g]) => signum::signsgd(m::<T>(w), m(g), p),
            (Rule::Signum(p), [w, g, mom]) => signum::signum(m::<T>(w), m(g), m(mom), p),
            (Rule::Adam(p), [w, g, mean, var]) => adam::adam(m::<T>(w), m(g), m(mean), m(var), p),
            (Rule::RmsProp(p), [w, g, n]) => rmsprop::rmsprop(m::<T>(w), m(g), m(n), p),
            (Rule::RmsPropAlex(p), [w, g, n, mean, delta]) => {
                rmsprop::rmspropalex(m::<T>(w), m(g), m(n), m(mean), m(delta), p)
            }
            (Rule::Ftrl(p), [w, g, z, n]) => ftrl::ftrl(m::<T>(w), m(g), m(z), m(n), p),
            (Rule::Ftml(p), [w, g, d, v, z]) => ftrl::ftml(m::<T>(w), m(g), m(d), m(v), m(z), p),
            (Rule::LambPhase1(p), [w, g, mean, var, out]) => {
                adam::lamb_phase1(m::<T>(w), m(g), m(mean), m(var), m(out), p)
            }
            (Rule::LambPhase2(p), [w, g, r1, r2]) => {
                let (r1, r2) = (m::<T>(r1)[0], m::<T>(r2)[0]);
                adam::lamb_phase2(m::<T>(w), m(g), r1, r2, p)
            }
            (Rule::AdaGrad(p), [w, g, h]) => composed::adagrad(m::<T>(w), m(g), m(h), p),
            (Rule::AdaDelta(p), [w, g, ag, ad]) => {
                composed::adadelta(m::<T>(w), m(g), m(ag), m(ad), p)
            }
            (Rule::Adamax(p), [w, g, mean, u]) => {
                composed::adamax(m::<T>(w), m(g), m(mean), m(u), p)
            }
            (Rule::Nadam(p), [w, g, mean, var]) => {
                composed::nadam(m::<T>(w), m(g), m(mean), m(var), p)
            }
            (Rule::Nag(p), [w, g, mom]) => composed::nag(m::<T>(w), m(g), m(mom), p),
            (Rule::Test(rescale), [w, g]) => composed::test(m::<T>(w), m(g), *rescale),
            (rule, _) => unreachable!("{} is checked to be a same-dtype operator", rule.name()),
        }
    }

    /// The multi-precision operators: weight and gradient in `S`, states in float32.
    fn run_mp<S: Storage>(&self, b: &mut [&mut [u8]]) {
        fn m<T: bytemuck::Pod>(b: &mut [u8]) -> &mut [T] {
            typed(b)
        }
        match (self, b) {
            (Rule::MpSgd(p), [w, g, w32]) => sgd::mp_sgd(m::<S>(w), m(g), m(w32), p),
            (Rule::MultiMpSgd(p), [w, g, w32]) => sgd::multi_mp_sgd(m::<S>(w), m(g), m(w32), p),
            (Rule::MpSgdMom(p), [w, g, mom, w32]) => {
                sgd::mp_sgd_mom(m::<S>(w), m(g), m(mom), m(w32), p)
            }
            (Rule::MpNagMom(p), [w, g, mom, w32]) => {
                sgd::mp_nag_mom(m::<S>(w), m(g), m(mom), m(w32), p)
            }
            (Rule::MpLambPhase1(p), [_, g, mean, var, w32, out]) => {
                adam::mp_lamb_phase1(m::<S>(g), m(mean), m(var), m(w32), m(out), p)
            }
            (Rule::MpLambPhase2(p), [w, g, r1, r2, w32]) => {
                let (r1, r2) = (m::<f32>(r1)[0], m::<f32>(r2)[0]);
                adam::mp_lamb_phase2(m::<S>(w), m(g), r1, r2, m(w32), p)
            }
            (rule, _) => unreachable!(
                "{} is checked to be a multi-precision operator",
                rule.name()
            ),
        }
    }
}

/// The bytes of an array as its elements.
pub(super) fn typed<T: bytemuck::Pod>(b: &mut [u8]) -> &mut [T] {
    bytemuck::cast_slice_mut(b)
}

/// Runs the update operator `op` with MXNet-style string parameters on `arrays` (its
/// inputs in MXNet's order; the result goes into the weight, `arrays[0]`, except for the
/// LAMB phase one operators, which write the extra last array `out`).
pub fn apply(op: &str, arrays: &[&NDArray], params: &[(&str, &str)]) -> Result<()> {
    Rule::parse(op, params)?.apply(arrays)
}
