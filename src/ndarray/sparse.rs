//! Sparse arrays (reference §2.1): row_sparse and csr. A sparse array has its full shape
//! and dtype, and blobs: the stored values (`data`) and the aux arrays (row_sparse: the
//! row ids; csr: indptr and column ids). The blobs are dense arrays, replaced whole when a
//! copy changes how many rows or values are stored; clones of a sparse array share them,
//! as MXNet's handle copies share a chunk, so an updater's `local` is the stored value.
//!
//! The store works on row_sparse values with the kernels of [`super::rows`]; csr arrays can
//! be made, filled, checked, saved and loaded, and nothing more.

use std::sync::Arc;

use parking_lot::RwLock;

use super::array::View;
use super::kernels::{sum_into, Elems, SumOrder};
use super::rows::{self, Rows};
use super::{Context, DType, NDArray, Shape, Storage};
use crate::error::{Error, Result};

/// The blobs of a sparse array, behind one lock.
#[derive(Debug)]
pub(super) struct Blobs {
    stype: Storage,
    parts: RwLock<Parts>,
}

/// The stored values and the aux arrays.
#[derive(Debug, Clone)]
pub struct Parts {
    pub data: NDArray,
    pub aux: Vec<NDArray>,
}

fn is_integer(dtype: DType) -> bool {
    !matches!(
        dtype,
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 | DType::Bool
    )
}

/// A dense 1-D array of `ids` in `dtype`.
fn id_array(ids: &[i64], dtype: DType, ctx: Context) -> Result<NDArray> {
    let a = NDArray::new(Shape(vec![ids.len() as i64]), dtype, ctx)?;
    a.write(|dst| {
        if !ids.is_empty() {
            sum_into(
                dst,
                dtype,
                &[Elems {
                    bytes: bytemuck::cast_slice(ids),
                    dtype: DType::I64,
                }],
                SumOrder::Sequential,
            )
        }
    })?;
    Ok(a)
}

impl NDArray {
    /// `MXNDArrayCreateSparseEx`: a sparse array with aux arrays of the given dtypes and
    /// lengths, all zero. A row_sparse array of k rows stores rows 0..k-1 (a valid array from
    /// the start); its data has shape (k, shape[1..]); a csr matrix's data has the length of
    /// its column ids.
    pub fn new_sparse(
        stype: Storage,
        shape: Shape,
        dtype: DType,
        ctx: Context,
        aux: &[(DType, i64)],
    ) -> Result<NDArray> {
        let size = shape.size()?;
        let rows = *shape
            .0
            .first()
            .ok_or_else(|| Error::invalid("a sparse array needs at least one dimension"))?;
        if stype == Storage::Dense {
            return Err(Error::invalid(
                "storage type 0 is dense: use MXNDArrayCreateEx",
            ));
        }
        if aux.len() != stype.num_aux() {
            return Err(Error::invalid(format!(
                "{} arrays have {} aux array{}, {} were given",
                stype.name(),
                stype.num_aux(),
                if stype.num_aux() == 1 { "" } else { "s" },
                aux.len()
            )));
        }
        if let Some((t, _)) = aux.iter().find(|(t, _)| !is_integer(*t)) {
            return Err(Error::invalid(format!(
                "aux type {}: indices must have an integer type",
                t.name()
            )));
        }
        let data_shape = if stype == Storage::RowSparse {
            let k = aux[0].1;
            if !(0..=rows).contains(&k) {
                return Err(Error::invalid(format!(
                    "a row_sparse array of shape {shape} cannot store {k} rows"
                )));
            }
            let mut dims = shape.0.clone();
            dims[0] = k;
            Shape(dims)
        } else {
            if shape.ndim() != 2 || aux[0].1 != rows + 1 || aux[1].1 < 0 {
                return Err(Error::invalid(format!(
                    "a csr matrix of shape {shape} needs 2 dimensions, an indptr of {} entries and a non-negative count of column ids (got indptr {}, indices {})",
                    rows + 1,
                    aux[0].1,
                    aux[1].1
                )));
            }
            Shape(vec![aux[1].1])
        };
        let data = NDArray::new(data_shape, dtype, ctx)?;
        let aux = if stype == Storage::RowSparse {
            let ids: Vec<i64> = (0..aux[0].1).collect();
            vec![id_array(&ids, aux[0].0, ctx)?]
        } else {
            aux.iter()
                .map(|&(t, n)| NDArray::new(Shape(vec![n]), t, ctx))
                .collect::<Result<_>>()?
        };
        Ok(NDArray::sparse_of(
            stype,
            shape,
            size,
            ctx,
            Parts { data, aux },
        ))
    }

    fn sparse_of(stype: Storage, shape: Shape, size: usize, ctx: Context, parts: Parts) -> NDArray {
        NDArray::of(View {
            chunk: None,
            offset: 0,
            shape,
            size,
            dtype: parts.data.dtype(),
            ctx,
            sparse: Some(Arc::new(Blobs {
                stype,
                parts: RwLock::new(parts),
            })),
        })
    }

    /// A sparse array from its blobs (what a file holds), their shapes checked.
    pub(super) fn from_parts(
        stype: Storage,
        shape: Shape,
        ctx: Context,
        parts: Parts,
    ) -> Result<NDArray> {
        let size = shape.size()?;
        let a = NDArray::sparse_of(stype, shape, size, ctx, parts);
        a.check_format(false)?;
        Ok(a)
    }

    pub fn is_sparse(&self) -> bool {
        self.0.sparse.is_some()
    }

    pub(super) fn sparse_storage(&self) -> Option<Storage> {
        self.0.sparse.as_ref().map(|s| s.stype)
    }

    /// The blobs of a sparse array (arrays that share them).
    pub fn parts(&self) -> Option<Parts> {
        self.0.sparse.as_ref().map(|s| s.parts.read().clone())
    }

    fn sparse_parts(&self, what: &str) -> Result<Parts> {
        self.parts().ok_or_else(|| {
            Error::invalid(format!(
                "{what}: dense arrays have no aux arrays (their data is the array itself)"
            ))
        })
    }

    fn aux(&self, i: usize) -> Result<NDArray> {
        let parts = self.sparse_parts(&format!("aux index {i}"))?;
        let n = parts.aux.len();
        parts.aux.into_iter().nth(i).ok_or_else(|| {
            Error::invalid(format!(
                "aux index {i} is out of range: a {} array has {n} aux array{}",
                self.storage().name(),
                if n == 1 { "" } else { "s" }
            ))
        })
    }

    /// `MXNDArrayGetAuxType`.
    pub fn aux_dtype(&self, i: usize) -> Result<DType> {
        Ok(self.aux(i)?.dtype())
    }

    /// `MXNDArrayGetAuxNDArray`: a dense copy of aux array `i`.
    pub fn aux_copy(&self, i: usize) -> Result<NDArray> {
        let aux = self.aux(i)?;
        aux.deep_copy(aux.context())
    }

    /// `MXNDArrayGetDataNDArray`: a dense copy of the stored values (of a dense array: of
    /// the array).
    pub fn data_copy(&self) -> Result<NDArray> {
        let data = match self.parts() {
            Some(p) => p.data,
            None => self.clone(),
        };
        data.deep_copy(self.context())
    }

    /// The stored values, for a copy from or to C memory of `count` elements, which must be
    /// all of them (MXNet copies the data blob of a sparse array).
    pub(super) fn sparse_data_for_copy(&self, count: usize) -> Result<Option<NDArray>> {
        let Some(parts) = self.parts() else {
            return Ok(None);
        };
        if parts.data.size() != count {
            return Err(Error::invalid(format!(
                "copying size mismatch: the {} array stores {} of {count} elements; read and write its values with MXNDArrayGetDataNDArray and MXNDArraySyncCopyFromNDArray",
                self.storage().name(),
                parts.data.size()
            )));
        }
        Ok(Some(parts.data))
    }

    /// `MXNDArraySyncCopyFromNDArray`: copies the dense `src` into this array's data
    /// (`blob == None`) or aux array `blob`. A dense array takes `src` whole (same shape).
    /// A sparse array's blob is replaced by a converted copy, which may change how many
    /// rows or values it stores; the trailing dimensions of row_sparse data must match.
    pub fn set_blob(&self, blob: Option<usize>, src: &NDArray) -> Result<()> {
        if src.is_sparse() {
            return Err(Error::invalid(format!(
                "the source is a {} array: copy from a dense array",
                src.storage().name()
            )));
        }
        if src.is_none() {
            return Err(Error::NoneArray("cannot copy from it"));
        }
        let Some(blobs) = &self.0.sparse else {
            if let Some(i) = blob {
                self.sparse_parts(&format!("aux index {i}"))?;
            }
            self.check_same_shape(src)?;
            if !self.same_memory(src) {
                self.assign_sum(&[src])?;
            }
            return Ok(());
        };
        let like = match blob {
            None => {
                let fits = match blobs.stype {
                    Storage::RowSparse => {
                        src.shape().ndim() == self.shape().ndim()
                            && src.shape().0[1..] == self.shape().0[1..]
                    }
                    _ => src.shape().ndim() == 1,
                };
                if !fits {
                    return Err(Error::invalid(format!(
                        "data of shape {} does not fit a {} array of shape {}",
                        src.shape(),
                        blobs.stype.name(),
                        self.shape()
                    )));
                }
                blobs.parts.read().data.clone()
            }
            Some(i) => {
                let aux = self.aux(i)?;
                if src.shape().ndim() != 1 {
                    return Err(Error::invalid(format!(
                        "aux arrays are 1-D; the source has shape {}",
                        src.shape()
                    )));
                }
                aux
            }
        };
        // Ids given as floats must be whole numbers.
        let copy = if blob.is_some() && !is_integer(src.dtype()) {
            id_array(&ids_of(src)?, like.dtype(), like.context())?
        } else {
            let copy = NDArray::new(src.shape().clone(), like.dtype(), like.context())?;
            if copy.size() > 0 {
                copy.assign_sum(&[src])?;
            }
            copy
        };
        let mut parts = blobs.parts.write();
        match blob {
            None => parts.data = copy,
            Some(i) => parts.aux[i] = copy,
        }
        Ok(())
    }

    /// `MXNDArraySyncCheckFormat` (MXNet's messages): the blobs' shapes always, the ids'
    /// order and range with `full`.
    pub fn check_format(&self, full: bool) -> Result<()> {
        let Some(parts) = self.parts() else {
            return Ok(());
        };
        let shape = &self.shape().0;
        match self.storage() {
            Storage::RowSparse => {
                let ids = &parts.aux[0];
                let data = parts.data.shape();
                if ids.shape().ndim() != 1
                    || data.ndim() != shape.len()
                    || data.0[1..] != shape[1..]
                    || data.0[0] != ids.shape().0[0]
                {
                    return Err(Error::SparseFormat(format!(
                        "Shape mismatch of this row_sparse NDArray: data {} and {} row ids for shape {}",
                        data,
                        ids.shape().0.first().copied().unwrap_or(0),
                        self.shape()
                    )));
                }
                if full {
                    let ids = ids_of(ids)?;
                    rows::check_ids(&ids, shape[0])?;
                }
            }
            Storage::Csr => {
                let (indptr, cols) = (&parts.aux[0], &parts.aux[1]);
                if indptr.size() as i64 != shape[0] + 1 || cols.size() != parts.data.size() {
                    return Err(Error::SparseFormat(format!(
                        "Shape mismatch of this csr NDArray: indptr of {} entries, {} column ids and {} values for shape {}",
                        indptr.size(),
                        cols.size(),
                        parts.data.size(),
                        self.shape()
                    )));
                }
                if full {
                    check_csr(&ids_of(indptr)?, &ids_of(cols)?, shape[1])?;
                }
            }
            Storage::Dense => {}
        }
        Ok(())
    }

    /// Runs `f` on the stored rows of a row_sparse array (shapes checked, not the ids' order:
    /// values enter the store checked in full). Locks are held while `f` runs.
    pub fn with_rows<R>(&self, f: impl FnOnce(Rows<'_>) -> R) -> Result<R> {
        if self.storage() != Storage::RowSparse {
            return Err(Error::invalid(format!(
                "a {} array where a row_sparse one is needed",
                self.storage().name()
            )));
        }
        self.check_format(false)?;
        let parts = self.parts().expect("a row_sparse array has blobs");
        let row_len = self.shape().0[1..].iter().product::<i64>() as usize;
        let ids = &parts.aux[0];
        let converted = (ids.dtype() != DType::I64)
            .then(|| ids_of(ids))
            .transpose()?;
        ids.read(|id_bytes| {
            parts.data.read(|data| {
                f(Rows {
                    ids: match &converted {
                        Some(v) => v,
                        None => bytemuck::cast_slice(id_bytes),
                    },
                    data: Elems {
                        bytes: data,
                        dtype: parts.data.dtype(),
                    },
                    row_len,
                })
            })
        })?
    }

    /// Replaces a row_sparse array's rows with `ids`, `fill` writing their data (given the
    /// bytes of `ids.len()` rows in this array's dtype, to be written whole). The current
    /// blobs are written in place when nothing else holds them, their sizes fit and they are
    /// not `source`'s (whose locks the caller may hold); new ones are made otherwise.
    fn fill_rows(&self, ids: &[i64], source: &NDArray, fill: impl FnOnce(&mut [u8])) -> Result<()> {
        let Some(blobs) = self
            .0
            .sparse
            .as_ref()
            .filter(|b| b.stype == Storage::RowSparse)
        else {
            return Err(Error::invalid(format!(
                "a {} array where a row_sparse one is needed",
                self.storage().name()
            )));
        };
        let (data, id_blob) = {
            let parts = blobs.parts.read();
            let reuse = |a: &NDArray, rows: usize| {
                (!self.shares_blobs(source) && a.shape().0[0] as usize == rows && a.is_sole_view())
                    .then(|| a.clone())
            };
            let data = match reuse(&parts.data, ids.len()) {
                Some(d) => d,
                None => {
                    let mut dims = self.shape().0.clone();
                    dims[0] = ids.len() as i64;
                    NDArray::new(Shape(dims), self.dtype(), self.context())?
                }
            };
            let current = &parts.aux[0];
            let id_blob = match reuse(current, ids.len()) {
                Some(i) => i,
                None => NDArray::new(
                    Shape(vec![ids.len() as i64]),
                    current.dtype(),
                    current.context(),
                )?,
            };
            (data, id_blob)
        };
        data.write(fill)?;
        id_blob.write(|dst| {
            if !ids.is_empty() {
                let ids = Elems {
                    bytes: bytemuck::cast_slice(ids),
                    dtype: DType::I64,
                };
                sum_into(dst, id_blob.dtype(), &[ids], SumOrder::Sequential)
            }
        })?;
        let mut parts = blobs.parts.write();
        parts.data = data;
        parts.aux[0] = id_blob;
        Ok(())
    }

    /// True when both are sparse arrays with the same blobs (clones of one array).
    fn shares_blobs(&self, other: &NDArray) -> bool {
        matches!((&self.0.sparse, &other.0.sparse), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }

    /// Copies the values of `src` into this array, in this array's storage type and dtype
    /// (a pull, or a push without updater): dense from dense or row_sparse (rows not stored
    /// are zero), row_sparse from row_sparse (the same rows) or dense (its non-zero rows).
    pub fn assign_value(&self, src: &NDArray) -> Result<()> {
        self.check_same_shape(src)?;
        match (self.storage(), src.storage()) {
            (Storage::Dense, Storage::Dense) => {
                if !self.same_memory(src) {
                    self.assign_sum(&[src])?;
                }
                Ok(())
            }
            (Storage::Dense, Storage::RowSparse) => src.with_rows(|rows| {
                self.write(|dense| {
                    dense.fill(0);
                    rows::scatter(dense, self.dtype(), rows)
                })
            })?,
            (Storage::RowSparse, Storage::RowSparse) => {
                if self.shares_blobs(src) {
                    return Ok(());
                }
                src.with_rows(|rows| {
                    self.fill_rows(rows.ids, src, |dst| {
                        if !dst.is_empty() {
                            sum_into(dst, self.dtype(), &[rows.data], SumOrder::Sequential)
                        }
                    })
                })?
            }
            (Storage::RowSparse, Storage::Dense) => {
                let row_len = self.shape().0[1..].iter().product::<i64>() as usize;
                src.read(|dense| {
                    let all = Elems {
                        bytes: dense,
                        dtype: src.dtype(),
                    };
                    let ids = rows::nonzero_rows(all, row_len);
                    self.fill_rows(&ids, src, |dst| {
                        rows::take(all, row_len, &ids, dst, self.dtype())
                    })
                })?
            }
            (dst, src) => Err(Error::invalid(format!(
                "cannot copy a {} array into a {} array: mxkv copies dense and row_sparse values",
                src.name(),
                dst.name()
            ))),
        }
    }

    /// A copy of this array's values in `storage`, `dtype` and `ctx` (dense or row_sparse).
    pub fn copy_as(&self, storage: Storage, dtype: DType, ctx: Context) -> Result<NDArray> {
        let copy = match storage {
            Storage::Dense => NDArray::new(self.shape().clone(), dtype, ctx)?,
            _ => NDArray::new_sparse(storage, self.shape().clone(), dtype, ctx, &self.empty_aux())?,
        };
        copy.assign_value(self)?;
        Ok(copy)
    }

    /// Aux arrays of this array's dtypes and no entries (csr: an indptr of zeros).
    fn empty_aux(&self) -> Vec<(DType, i64)> {
        match self.parts() {
            Some(p) if self.storage() == Storage::Csr => {
                vec![
                    (p.aux[0].dtype(), self.shape().0[0] + 1),
                    (p.aux[1].dtype(), 0),
                ]
            }
            Some(p) => vec![(p.aux[0].dtype(), 0)],
            None => vec![(DType::I64, 0)],
        }
    }

    /// Makes this row_sparse array hold the rows `ids` (ascending, unique, in range) with
    /// the values `rows` (one row after another, any dtype): how rows that came over the
    /// wire fill an array.
    pub fn assign_rows(&self, ids: &[i64], rows: Elems<'_>) -> Result<()> {
        rows::check_ids(ids, self.shape().0.first().copied().unwrap_or(0))?;
        let row_len = self.shape().0[1..].iter().product::<i64>() as usize;
        if rows.bytes.len() != ids.len() * row_len * rows.dtype.size() {
            return Err(Error::invalid(format!(
                "{} bytes of {} are not {} rows of {row_len} values",
                rows.bytes.len(),
                rows.dtype.name(),
                ids.len()
            )));
        }
        self.fill_rows(ids, self, |dst| {
            if !dst.is_empty() {
                sum_into(dst, self.dtype(), &[rows], SumOrder::Sequential)
            }
        })
    }

    /// `out` (row_sparse) = the rows `ids` (ascending, unique, in range) of this row_sparse
    /// array, zeros for rows it does not store (row_sparse_pull, reference §3.6).
    pub fn retain_into(&self, ids: &[i64], out: &NDArray) -> Result<()> {
        let nrows = self.shape().0[0];
        self.with_rows(|rows| {
            out.fill_rows(ids, self, |dst| {
                rows::gather(ids, dst, out.dtype(), rows, nrows)
            })
        })?
    }

    /// The sum of `sources` as a new value shaped like `like`: row_sparse (the union of the
    /// rows) when every source is row_sparse, dense otherwise (reference §3.4).
    pub fn sum_of(like: &NDArray, sources: &[&NDArray]) -> Result<NDArray> {
        let dense: Vec<&NDArray> = sources.iter().copied().filter(|s| !s.is_sparse()).collect();
        let sparse: Vec<&NDArray> = sources.iter().copied().filter(|s| s.is_sparse()).collect();
        if dense.is_empty() {
            return sum_row_sparse(like, &sparse);
        }
        let out = NDArray::new(like.shape().clone(), like.dtype(), like.context())?;
        out.assign_sum(&dense)?;
        for s in sparse {
            s.with_rows(|rows| out.write(|d| rows::add_into_dense(d, out.dtype(), rows)))??;
        }
        Ok(out)
    }
}

fn sum_row_sparse(like: &NDArray, sources: &[&NDArray]) -> Result<NDArray> {
    let out = NDArray::new_sparse(
        Storage::RowSparse,
        like.shape().clone(),
        like.dtype(),
        like.context(),
        &[(DType::I64, 0)],
    )?;
    if let [only] = sources {
        out.assign_value(only)?;
        return Ok(out);
    }
    // Each source's rows are copied out under its own locks, so that no two arrays' locks
    // are held at once.
    let mut all_ids: Vec<Vec<i64>> = Vec::with_capacity(sources.len());
    let mut all_data: Vec<Vec<u8>> = Vec::with_capacity(sources.len());
    let mut row_len = 0;
    for s in sources {
        s.with_rows(|rows| {
            row_len = rows.row_len;
            all_ids.push(rows.ids.to_vec());
            all_data.push(rows.data.bytes.to_vec());
        })?;
    }
    let views: Vec<Rows<'_>> = sources
        .iter()
        .zip(all_ids.iter().zip(&all_data))
        .map(|(s, (ids, data))| Rows {
            ids,
            data: Elems {
                bytes: data,
                dtype: s.dtype(),
            },
            row_len,
        })
        .collect();
    let union = rows::union_ids(&views);
    out.fill_rows(&union, like, |dst| {
        rows::sum_rows(&union, dst, like.dtype(), &views)
    })?;
    Ok(out)
}

/// Ids of any integer (or whole-valued) dtype as i64, without a range check.
fn ids_of(a: &NDArray) -> Result<Vec<i64>> {
    a.read(|b| {
        rows::to_ids(
            Elems {
                bytes: b,
                dtype: a.dtype(),
            },
            i64::MAX,
        )
    })?
    .map_err(|e| Error::SparseFormat(format!("bad aux values: {e}")))
}

/// MXNet's csr checks: indptr starts at 0, never goes down and ends at the number of
/// values; column ids ascend within a row and stay below the column count.
fn check_csr(indptr: &[i64], cols: &[i64], ncols: i64) -> Result<()> {
    let ok_ptr = indptr.first() == Some(&0)
        && indptr.windows(2).all(|w| w[0] <= w[1])
        && indptr.last() == Some(&(cols.len() as i64));
    if !ok_ptr {
        return Err(Error::SparseFormat("IndPtr of csr NDArray should be non-negative, in non-decreasing order, start with 0, and end with value equal with size of indices.".into()));
    }
    for w in indptr.windows(2) {
        let row = &cols[w[0] as usize..w[1] as usize];
        let sorted = row.windows(2).all(|p| p[0] < p[1]);
        if !sorted || row.iter().any(|&c| !(0..ncols).contains(&c)) {
            return Err(Error::SparseFormat("Indices of csr NDArray should be non-negative, in ascending order per row  and less than the number of columns.".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: i64 = 2;

    fn dense(rows: i64, values: &[f32]) -> NDArray {
        let a = NDArray::new(Shape(vec![rows, COLS]), DType::F32, Context::cpu(0)).unwrap();
        a.copy_from_bytes(bytemuck::cast_slice(values), values.len())
            .unwrap();
        a
    }

    fn row_sparse(rows: i64, ids: &[i64], values: &[f32]) -> NDArray {
        let a = NDArray::new_sparse(
            Storage::RowSparse,
            Shape(vec![rows, COLS]),
            DType::F32,
            Context::cpu(0),
            &[(DType::I64, 0)],
        )
        .unwrap();
        let data = dense(ids.len() as i64, values);
        a.set_blob(None, &data).unwrap();
        a.set_blob(
            Some(0),
            &id_array(ids, DType::I64, Context::cpu(0)).unwrap(),
        )
        .unwrap();
        a
    }

    fn dense_values(a: &NDArray) -> Vec<f32> {
        let out = NDArray::new(a.shape().clone(), DType::F32, Context::cpu(0)).unwrap();
        out.assign_value(a).unwrap();
        bytemuck::cast_slice(&out.to_bytes().unwrap()).to_vec()
    }

    fn ids(a: &NDArray) -> Vec<i64> {
        a.with_rows(|r| r.ids.to_vec()).unwrap()
    }

    #[test]
    fn sums_keep_the_union_of_rows_or_become_dense() {
        let a = row_sparse(4, &[1, 3], &[1., 1., 3., 3.]);
        let b = row_sparse(4, &[0, 1], &[5., 5., 7., 7.]);
        let sum = NDArray::sum_of(&a, &[&a, &b]).unwrap();
        assert_eq!(sum.storage(), Storage::RowSparse);
        assert_eq!(ids(&sum), vec![0, 1, 3]);
        assert_eq!(dense_values(&sum), vec![5., 5., 8., 8., 0., 0., 3., 3.]);
        let d = dense(4, &[1.; 8]);
        let mixed = NDArray::sum_of(&d, &[&a, &d]).unwrap();
        assert_eq!(mixed.storage(), Storage::Dense);
        assert_eq!(dense_values(&mixed), vec![1., 1., 2., 2., 1., 1., 4., 4.]);
    }

    #[test]
    fn values_copy_between_storage_types() {
        let d = dense(3, &[0., 0., 2., 0., 0., 0.]);
        let r = row_sparse(3, &[0], &[9., 9.]);
        r.assign_value(&d).unwrap();
        assert_eq!(ids(&r), vec![1]);
        assert_eq!(dense_values(&r), vec![0., 0., 2., 0., 0., 0.]);
        let r2 = row_sparse(3, &[2], &[4., 4.]);
        r.assign_value(&r2).unwrap();
        assert_eq!(ids(&r), vec![2]);
        let csr = NDArray::new_sparse(
            Storage::Csr,
            Shape(vec![3, 2]),
            DType::F32,
            Context::cpu(0),
            &[(DType::I64, 4), (DType::I64, 0)],
        )
        .unwrap();
        assert!(d.assign_value(&csr).is_err());
    }

    #[test]
    fn retain_gives_zero_rows_for_rows_not_stored() {
        let a = row_sparse(5, &[1, 3], &[1., 1., 3., 3.]);
        let out = row_sparse(5, &[], &[]);
        a.retain_into(&[0, 3], &out).unwrap();
        assert_eq!(ids(&out), vec![0, 3]);
        assert_eq!(
            dense_values(&out),
            vec![0., 0., 0., 0., 0., 0., 3., 3., 0., 0.]
        );
    }

    #[test]
    fn clones_share_the_blobs() {
        let a = row_sparse(4, &[1], &[1., 1.]);
        let local = a.clone();
        local
            .assign_value(&row_sparse(4, &[2, 3], &[2., 2., 3., 3.]))
            .unwrap();
        assert_eq!(ids(&a), vec![2, 3]);
    }
}
