//! row_sparse values in the store (reference §3.4–3.6): which arrays a store takes, how the
//! arrays pushed for one key merge when one of them (or the stored value) is row_sparse,
//! and which rows a row_sparse pull asks for. A store holds dense and row_sparse values;
//! csr arrays are refused.

use crate::error::{Error, Result};
use crate::ndarray::rows;
use crate::ndarray::{NDArray, Storage};

/// Checks an array given to init or push: dense, or a row_sparse array whose ids are
/// ascending, unique and in range (MXNet's full format check).
pub fn check_value(value: &NDArray, call: &str) -> Result<()> {
    match value.storage() {
        Storage::Dense => Ok(()),
        Storage::RowSparse => value.check_format(true),
        Storage::Csr => Err(Error::invalid(format!(
            "Unexpected storage type detected during kvstore {call}: 2 (csr): a store holds dense and row_sparse values"
        ))),
    }
}

pub fn check_values(values: &[NDArray]) -> Result<()> {
    values.iter().try_for_each(|v| check_value(v, "push"))
}

/// Checks a pull's outputs: a csr output is refused unless `ignore_sparse` skips it.
pub fn check_outs(outs: &[NDArray], ignore_sparse: bool) -> Result<()> {
    match outs.iter().find(|o| o.storage() == Storage::Csr) {
        Some(_) if !ignore_sparse => Err(Error::invalid(
            "cannot pull into a csr array: a store holds dense and row_sparse values",
        )),
        _ => Ok(()),
    }
}

/// Whether a push of `sources` to a key storing `stored` takes the sparse path.
pub fn involved(stored: &NDArray, sources: &[&NDArray]) -> bool {
    stored.is_sparse() || sources.iter().any(|s| s.is_sparse())
}

/// The merged value of one key's pushed arrays: the one pushed row_sparse array itself when
/// it has the key's dtype (no copy, as for a dense one), else their sum — row_sparse with
/// the union of the rows when every array is row_sparse, dense otherwise.
pub fn merge(stored: &NDArray, sources: &[&NDArray]) -> Result<NDArray> {
    match sources {
        [only] if only.is_sparse() && only.dtype() == stored.dtype() => Ok((*only).clone()),
        _ => NDArray::sum_of(stored, sources),
    }
}

fn storage_code(a: &NDArray) -> i32 {
    a.storage() as i32
}

/// Checks one pair of a row_sparse pull and gives the rows it asks for: sorted, unique ids
/// of any dtype and shape, each a whole number below the row count.
pub fn rows_to_pull(stored: &NDArray, out: &NDArray, row_ids: &NDArray) -> Result<Vec<i64>> {
    if out.storage() != Storage::RowSparse {
        return Err(Error::invalid(format!(
            "Check failed: val_stype == kRowSparseStorage ({} vs. 1) : Expected row_sparse storage type for row_sparse_pull values, but detected storage type {}",
            storage_code(out),
            storage_code(out)
        )));
    }
    if row_ids.storage() != Storage::Dense || row_ids.is_none() {
        return Err(Error::invalid(format!(
            "Check failed: rowid_stype == kDefaultStorage ({} vs. 0) : Expected default storage type for row_sparse_pull rowids, but detected storage type {}",
            storage_code(row_ids),
            storage_code(row_ids)
        )));
    }
    if stored.storage() != Storage::RowSparse {
        return Err(Error::invalid(format!(
            "Check failed: local.storage_type() == kRowSparseStorage ({} vs. 1) : PullRowSparse expects row_sparse src NDArray",
            storage_code(stored)
        )));
    }
    stored.check_same_shape(out)?;
    let nrows = stored.shape().0[0];
    let ids = row_ids.read(|bytes| {
        rows::to_ids(
            crate::ndarray::kernels::Elems {
                bytes,
                dtype: row_ids.dtype(),
            },
            nrows,
        )
    })??;
    Ok(rows::unique(ids))
}
