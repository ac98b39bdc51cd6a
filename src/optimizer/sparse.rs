//! Row_sparse arrays in an update: MXNet 1.9.1's sparse paths of the update operators
//! (their `FComputeEx`, `src/operator/optimizer_op-inl.h`, `optimizer_op.cc`).
//!
//! With a row_sparse gradient, `sgd_update`, `sgd_mom_update` and `adam_update` update
//! only the rows the gradient stores when `lazy_update` is set (the lazy update), and every
//! row otherwise, a row not stored having a zero gradient (the standard update); so does
//! `ftrl_update` lazily when weight and states are all row_sparse, and AdaGrad
//! (`_sparse_adagrad_update`, which refuses weight decay). MXNet's dispatch by storage
//! types is kept (e.g. a row_sparse weight with dense states takes the standard update);
//! every other operator or combination runs the dense kernel on the gradient made dense,
//! as MXNet's storage fallback does.
//!
//! A row_sparse weight must store every row (MXNet's `CheckAllRowsPresent`); a row_sparse
//! state that does not, as a new `zeros(stype='row_sparse')`, is given all its rows first
//! (MXNet fills an uninitialised state with zeros), its values kept.

use super::access::write_all;
use super::adam;
use super::composed;
use super::ftrl;
use super::ops::{typed, Rule};
use super::real::{Half, Real};
use super::sgd::{self, Sgd};
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray, Storage};

/// Which kernel a sparse update runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    /// The rows the gradient stores.
    Lazy,
    /// Every row; the rows the gradient does not store with a zero gradient.
    Standard,
    /// The dense kernel on the gradient made dense.
    Dense,
}

fn lazy_or_standard(lazy: bool) -> Path {
    if lazy {
        Path::Lazy
    } else {
        Path::Standard
    }
}

/// MXNet's dispatch for a row_sparse gradient, by the weight's and the states' storage.
fn path(rule: &Rule, weight_sparse: bool, states_sparse: &[bool]) -> Result<Path> {
    let same = states_sparse.iter().all(|&s| s == weight_sparse);
    let dense_states = states_sparse.iter().all(|&s| !s);
    Ok(match rule {
        Rule::Sgd(p) => lazy_or_standard(p.lazy_update),
        Rule::SgdMom(p) if same => lazy_or_standard(p.lazy_update),
        Rule::Adam(p) if same => lazy_or_standard(p.lazy_update),
        Rule::SgdMom(_) | Rule::Adam(_) if weight_sparse && dense_states => Path::Standard,
        Rule::Ftrl(_) if weight_sparse && same => Path::Lazy,
        Rule::AdaGrad(p) if p.wd != 0.0 => {
            return Err(Error::invalid(format!(
                "{}: a row_sparse gradient is applied by MXNet's sparse adagrad_update, which does not support wd (wd={})",
                rule.name(),
                p.wd
            )))
        }
        Rule::AdaGrad(_) => Path::Lazy,
        _ => Path::Dense,
    })
}

/// The number of rows a row_sparse array stores.
fn stored_rows(a: &NDArray) -> Result<usize> {
    a.with_rows(|rows| rows.ids.len())
}

/// The dense array holding `a`'s values: `a` itself, or the data of a row_sparse array that
/// stores (or is first given) every row.
fn dense_view(a: &NDArray) -> Result<NDArray> {
    if !a.is_sparse() {
        return Ok(a.clone());
    }
    let nrows = a.shape().0[0];
    if stored_rows(a)? != nrows as usize {
        let mut all = ids_buffer(nrows as usize)?;
        all.extend(0..nrows);
        a.retain_into(&all, a)?;
    }
    Ok(a.parts().expect("a row_sparse array has blobs").data)
}

/// Room for `n` row ids (as many as the arrays have rows: out of memory is an error).
fn ids_buffer(n: usize) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    ids.try_reserve_exact(n)
        .map_err(|_| Error::OutOfMemory(n * size_of::<i64>()))?;
    Ok(ids)
}

/// Applies `rule` to `arrays` (checked by the caller: count, dtypes, shapes) of which at
/// least one is sparse.
pub(super) fn apply(rule: &Rule, arrays: &[&NDArray], dtype: DType) -> Result<()> {
    let names = rule.array_names();
    for (a, name) in arrays.iter().zip(names) {
        if !matches!(a.storage(), Storage::Dense | Storage::RowSparse) {
            return Err(Error::invalid(format!(
                "{}: {name} is a {} array; update operators take dense and row_sparse arrays",
                rule.name(),
                a.storage().name()
            )));
        }
    }
    let (weight, grad, states) = (arrays[0], arrays[1], &arrays[2..]);
    let grad_sparse = grad.is_sparse() && matches!(rule.array_names().get(1), Some(&"grad"));
    let path = if grad_sparse {
        let states_sparse: Vec<bool> = states.iter().map(|s| s.is_sparse()).collect();
        path(rule, weight.is_sparse(), &states_sparse)?
    } else {
        Path::Dense
    };
    let nrows = weight.shape().0.first().copied().unwrap_or(0);
    if path != Path::Dense && weight.is_sparse() && stored_rows(weight)? != nrows as usize {
        return Err(Error::invalid(format!(
            "{}: a row_sparse weight must store every row: it stores {} of its {nrows} rows",
            rule.name(),
            stored_rows(weight)?
        )));
    }
    if path == Path::Dense {
        let mut dense = Vec::with_capacity(arrays.len());
        for (i, a) in arrays.iter().enumerate() {
            dense.push(if i == 1 && grad.is_sparse() {
                grad.copy_as(Storage::Dense, grad.dtype(), grad.context())?
            } else {
                dense_view(a)?
            });
        }
        return rule.run_dense(&dense.iter().collect::<Vec<_>>(), dtype);
    }
    let ids = grad.with_rows(|rows| {
        ids_buffer(rows.ids.len()).map(|mut ids| {
            ids.extend_from_slice(rows.ids);
            ids
        })
    })??;
    crate::ndarray::rows::check_ids(&ids, nrows)?;
    let grad_data = grad.parts().expect("a row_sparse array has blobs").data;
    let mut views = vec![dense_view(weight)?, grad_data];
    for s in states {
        views.push(dense_view(s)?);
    }
    let row_len = weight.shape().0[1..].iter().product::<i64>() as usize;
    let rows = Rows {
        ids: &ids,
        nrows: nrows as usize,
        len: row_len,
    };
    write_all(
        &views.iter().collect::<Vec<_>>(),
        names,
        |bytes| match dtype {
            DType::F32 => run::<f32>(rule, path, &rows, bytes),
            DType::F64 => run::<f64>(rule, path, &rows, bytes),
            _ => run::<Half>(rule, path, &rows, bytes),
        },
    )
}

/// The gradient's rows: its ids (ascending), the weight's row count and row length.
struct Rows<'a> {
    ids: &'a [i64],
    nrows: usize,
    len: usize,
}

impl Rows<'_> {
    /// Runs `f(row, stored)` for each row the gradient stores, `stored` being its place
    /// among the gradient's rows.
    fn each_stored(&self, mut f: impl FnMut(usize, usize)) {
        for (i, &r) in self.ids.iter().enumerate() {
            f(r as usize, i);
        }
    }

    /// Runs `f(row, stored)` for every row, `stored` as above or `None`.
    fn each(&self, mut f: impl FnMut(usize, Option<usize>)) {
        let mut next = 0;
        for r in 0..self.nrows {
            let stored = (self.ids.get(next) == Some(&(r as i64))).then(|| {
                next += 1;
                next - 1
            });
            f(r, stored);
        }
    }
}

/// Row `r` of a slice of rows of `len` elements.
fn row<T>(s: &mut [T], r: usize, len: usize) -> &mut [T] {
    &mut s[r * len..(r + 1) * len]
}

/// The row kernels, on `[weight, grad data, states…]` of element type `T`.
fn run<T: Real>(rule: &Rule, path: Path, rows: &Rows<'_>, b: &mut [&mut [u8]]) {
    let n = rows.len;
    match (rule, path, b) {
        (Rule::Sgd(p), Path::Lazy, [w, g]) => {
            let (w, g) = (typed::<T>(w), typed::<T>(g));
            rows.each_stored(|r, i| sgd::sgd(row(w, r, n), row(g, i, n), p));
        }
        (Rule::Sgd(p), Path::Standard, [w, g]) => {
            let (w, g) = (typed::<T>(w), typed::<T>(g));
            sgd::decay(w, p);
            let p = Sgd { wd: 0.0, ..*p };
            rows.each_stored(|r, i| sgd::sgd(row(w, r, n), row(g, i, n), &p));
        }
        (Rule::SgdMom(p), Path::Lazy, [w, g, mom]) => {
            let (w, g, mom) = (typed::<T>(w), typed::<T>(g), typed::<T>(mom));
            rows.each_stored(|r, i| sgd::sgd_mom(row(w, r, n), row(g, i, n), row(mom, r, n), p));
        }
        (Rule::SgdMom(p), Path::Standard, [w, g, mom]) => {
            let (w, g, mom) = (typed::<T>(w), typed::<T>(g), typed::<T>(mom));
            let mut zeros = vec![T::zero(); n];
            rows.each(|r, i| {
                let g = match i {
                    Some(i) => row(g, i, n),
                    None => &mut zeros[..],
                };
                sgd::sgd_mom(row(w, r, n), g, row(mom, r, n), p)
            });
        }
        (Rule::Adam(p), Path::Lazy, [w, g, mean, var]) => {
            let (w, g) = (typed::<T>(w), typed::<T>(g));
            let (mean, var) = (typed::<T>(mean), typed::<T>(var));
            rows.each_stored(|r, i| {
                adam::adam_lazy_row(
                    row(w, r, n),
                    row(g, i, n),
                    row(mean, r, n),
                    row(var, r, n),
                    p,
                )
            });
        }
        (Rule::Adam(p), Path::Standard, [w, g, mean, var]) => {
            let (w, g) = (typed::<T>(w), typed::<T>(g));
            let (mean, var) = (typed::<T>(mean), typed::<T>(var));
            rows.each(|r, i| {
                let g = i.map(|i| &*row(g, i, n));
                adam::adam_standard_row(row(w, r, n), g, row(mean, r, n), row(var, r, n), p)
            });
        }
        (Rule::Ftrl(p), Path::Lazy, [w, g, z, nn]) => {
            let (w, g, z, nn) = (typed::<T>(w), typed::<T>(g), typed::<T>(z), typed::<T>(nn));
            rows.each_stored(|r, i| {
                ftrl::ftrl(row(w, r, n), row(g, i, n), row(z, r, n), row(nn, r, n), p)
            });
        }
        (Rule::AdaGrad(p), Path::Lazy, [w, g, h]) => {
            let (w, g, h) = (typed::<T>(w), typed::<T>(g), typed::<T>(h));
            rows.each_stored(|r, i| {
                composed::sparse_adagrad_row(row(w, r, n), row(g, i, n), row(h, r, n), p)
            });
        }
        (rule, path, _) => unreachable!("{} has no {path:?} row kernel", rule.name()),
    }
}
