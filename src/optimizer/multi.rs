//! MXNet 1.9.1's aggregated SGD operators — `multi_sgd_update`, `multi_sgd_mom_update`,
//! `multi_mp_sgd_update`, `multi_mp_sgd_mom_update` — which update `num_weights` weights in
//! one call, each with its own learning rate and weight decay (`lrs`, `wds`), the arrays
//! given weight after weight: (weight, grad[, mom][, weight32]) each. Each weight gets the
//! one-weight kernel's arithmetic (`MultiSGDKernel`); MXNet's Python SGD uses these
//! operators for dense arrays, `aggregate_num` weights at a time.

use super::ops::Rule;
use super::params::Params;
use super::sgd::Sgd;
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray};

/// The parameters the aggregated operators take.
pub const PARAMS: &[&str] = &[
    "lrs",
    "wds",
    "momentum",
    "rescale_grad",
    "clip_gradient",
    "num_weights",
];

/// The rule of each weight of the aggregated operator `op`.
pub fn parse(op: &str, p: &Params) -> Result<Vec<Rule>> {
    let num = p.int("num_weights", Some(1))?;
    if num < 1 {
        return Err(Error::invalid(format!(
            "{op}: num_weights must be at least 1, got {num}"
        )));
    }
    let (lrs, wds) = (floats(op, p, "lrs")?, floats(op, p, "wds")?);
    if lrs.len() as i64 != num || wds.len() as i64 != num {
        return Err(Error::invalid(format!(
            "{op}: lrs and wds must hold num_weights={num} values each, got {} and {}",
            lrs.len(),
            wds.len()
        )));
    }
    let momentum = op.ends_with("_mom_update");
    let master = op.starts_with("multi_mp_");
    let momentum_value = if momentum {
        p.f32("momentum", Some(0.0))?
    } else {
        0.0
    };
    let (rescale_grad, clip_gradient) = (
        p.f32("rescale_grad", Some(1.0))?,
        p.f32("clip_gradient", Some(-1.0))?,
    );
    Ok(lrs
        .into_iter()
        .zip(wds)
        .map(|(lr, wd)| {
            let sgd = Sgd {
                lr,
                momentum: momentum_value,
                wd,
                rescale_grad,
                clip_gradient,
                lazy_update: false,
            };
            match (master, momentum) {
                (false, false) => Rule::MultiSgd(sgd),
                (false, true) => Rule::SgdMom(sgd),
                (true, false) => Rule::MultiMpSgd(sgd),
                (true, true) => Rule::MpSgdMom(sgd),
            }
        })
        .collect())
}

/// A tuple of floats as Python writes one (`(0.1, 0.2)`, `[0.1, 0.2]`, `0.1`).
fn floats(op: &str, p: &Params, name: &str) -> Result<Vec<f32>> {
    let text = p.text_of(name).ok_or_else(|| {
        Error::invalid(format!(
            "Required parameter {name} of tuple of <float> is not presented, in operator {op}"
        ))
    })?;
    text.trim_start_matches(['(', '['])
        .trim_end_matches([')', ']'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|v| {
            v.parse().map_err(|_| {
                Error::invalid(format!(
                    "Invalid Parameter format for {name} expect tuple of <float> but value='{text}', in operator {op}"
                ))
            })
        })
        .collect()
}

/// Applies each weight's rule to its arrays; every weight's arrays are checked before any
/// changes.
pub fn apply(op: &str, rules: &[Rule], arrays: &[&NDArray]) -> Result<()> {
    let names = rules[0].array_names();
    let per = names.len();
    if arrays.len() != per * rules.len() {
        return Err(Error::invalid(format!(
            "{op} takes {per} arrays per weight ({}), {} for num_weights={}; got {}",
            names.join(", "),
            per * rules.len(),
            rules.len(),
            arrays.len()
        )));
    }
    let groups: Vec<&[&NDArray]> = arrays.chunks(per).collect();
    for (i, (rule, group)) in rules.iter().zip(&groups).enumerate() {
        rule.check(group)
            .map_err(|e| Error::invalid(format!("{op}, weight {i}: {e}")))?;
    }
    rules.iter().zip(groups).try_for_each(|(rule, group)| {
        match (rule, group[0].dtype()) {
            // MXNet's aggregated multi-precision kernels keep no master copy for float32
            // weights: the weight is updated in place and weight32 is left as it is.
            (Rule::MultiMpSgd(p), DType::F32) => Rule::MultiSgd(*p).apply(&group[..per - 1]),
            (Rule::MpSgdMom(p), DType::F32) => Rule::SgdMom(*p).apply(&group[..per - 1]),
            _ => rule.apply(group),
        }
    })
}
