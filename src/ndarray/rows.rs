//! The row kernels of row_sparse values: a row_sparse array of shape (R, …) stores k rows,
//! their ids (ascending, unique, < R) and their data, row after row. Every kernel here
//! costs in proportion to the rows it touches, never to R (spec §5).

use super::dtype::{with_dtype, DType, Element};
use super::kernels::{sum_into, Elems, SumOrder};
use crate::error::{Error, Result};

/// The stored rows of a row_sparse value: `ids[i]` is the row held by `data`'s i-th run of
/// `row_len` elements.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub ids: &'a [i64],
    pub data: Elems<'a>,
    pub row_len: usize,
}

impl<'a> Rows<'a> {
    fn row(&self, i: usize) -> Elems<'a> {
        let bytes = self.row_len * self.data.dtype.size();
        Elems {
            bytes: &self.data.bytes[i * bytes..(i + 1) * bytes],
            dtype: self.data.dtype,
        }
    }

    /// Position of row `id` among the stored rows. A value storing every row (ids 0..R)
    /// needs no search.
    fn find(&self, id: i64, nrows: i64) -> Option<usize> {
        if self.ids.len() as i64 == nrows {
            return Some(id as usize);
        }
        self.ids.binary_search(&id).ok()
    }
}

/// Checks the ids of a row_sparse array of `nrows` rows (MXNet's full format check).
pub fn check_ids(ids: &[i64], nrows: i64) -> Result<()> {
    let mut previous = -1;
    for &id in ids {
        if id <= previous || id >= nrows {
            return Err(Error::SparseFormat(format!(
                "Indices of row_sparse NDArray should be non-negative, less than the size of first dimension and in ascending order: row id {id} after {previous}, {nrows} rows"
            )));
        }
        previous = id;
    }
    Ok(())
}

fn out_of_range(id: i64, nrows: i64) -> Error {
    Error::invalid(format!("row id {id} is out of range for {nrows} rows"))
}

/// The elements of an array of any dtype as row ids: whole numbers in `0..nrows`.
pub fn to_ids(elems: Elems<'_>, nrows: i64) -> Result<Vec<i64>> {
    if elems.dtype == DType::I64 {
        let ids: &[i64] = bytemuck::cast_slice(elems.bytes);
        return match ids.iter().find(|&&id| !(0..nrows).contains(&id)) {
            Some(&id) => Err(out_of_range(id, nrows)),
            None => Ok(ids.to_vec()),
        };
    }
    with_dtype!(elems.dtype, T => {
        let values: &[T] = bytemuck::cast_slice(elems.bytes);
        values
            .iter()
            .map(|&v| {
                let x = v.to_f64();
                let id = x as i64;
                if id as f64 != x {
                    return Err(Error::invalid(format!("row id {x} is not a whole number")));
                }
                if !(0..nrows).contains(&id) {
                    return Err(out_of_range(id, nrows));
                }
                Ok(id)
            })
            .collect()
    })
}

/// Sorted unique ids (what row_sparse_pull gives its output, reference §3.6).
pub fn unique(mut ids: Vec<i64>) -> Vec<i64> {
    if ids.windows(2).all(|w| w[0] < w[1]) {
        return ids;
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The union of several values' ids, ascending.
pub fn union_ids(sources: &[Rows<'_>]) -> Vec<i64> {
    match sources {
        [only] => only.ids.to_vec(),
        _ => unique(sources.iter().flat_map(|s| s.ids.iter().copied()).collect()),
    }
}

/// `dst` (one row per id of `union`) = the sum of the sources' rows; every id of `union`
/// is stored by at least one source.
pub fn sum_rows(union: &[i64], dst: &mut [u8], dtype: DType, sources: &[Rows<'_>]) {
    let row_len = sources.first().map_or(0, |s| s.row_len);
    let row_bytes = row_len * dtype.size();
    if row_bytes == 0 {
        return;
    }
    let mut next = vec![0usize; sources.len()];
    let mut parts: Vec<Elems<'_>> = Vec::with_capacity(sources.len());
    for (&id, out) in union.iter().zip(dst.chunks_exact_mut(row_bytes)) {
        parts.clear();
        for (s, at) in sources.iter().zip(next.iter_mut()) {
            if s.ids.get(*at) == Some(&id) {
                parts.push(s.row(*at));
                *at += 1;
            }
        }
        sum_into(out, dtype, &parts, SumOrder::Sequential);
    }
}

/// `dense` (R rows of `src.row_len`) += the rows of `src`.
pub fn add_into_dense(dense: &mut [u8], dtype: DType, src: Rows<'_>) {
    let row_bytes = src.row_len * dtype.size();
    for (i, &id) in src.ids.iter().enumerate() {
        let at = id as usize * row_bytes;
        let out = &mut dense[at..at + row_bytes];
        let before = out.to_vec();
        sum_into(
            out,
            dtype,
            &[
                Elems {
                    bytes: &before,
                    dtype,
                },
                src.row(i),
            ],
            SumOrder::Sequential,
        );
    }
}

/// `dense` (R rows, zero-filled by the caller) gets the rows of `src` (dtypes convert).
pub fn scatter(dense: &mut [u8], dtype: DType, src: Rows<'_>) {
    let row_bytes = src.row_len * dtype.size();
    for (i, &id) in src.ids.iter().enumerate() {
        let at = id as usize * row_bytes;
        if src.data.dtype == dtype {
            dense[at..at + row_bytes].copy_from_slice(src.row(i).bytes);
            continue;
        }
        sum_into(
            &mut dense[at..at + row_bytes],
            dtype,
            &[src.row(i)],
            SumOrder::Sequential,
        );
    }
}

/// `dst` (one row per id of `want`) = those rows of `src`, zeros where `src` stores none
/// (`src` holds `nrows` rows in all).
pub fn gather(want: &[i64], dst: &mut [u8], dtype: DType, src: Rows<'_>, nrows: i64) {
    let row_bytes = src.row_len * dtype.size();
    if row_bytes == 0 {
        return;
    }
    for (&id, out) in want.iter().zip(dst.chunks_exact_mut(row_bytes)) {
        match src.find(id, nrows) {
            Some(i) if src.data.dtype == dtype => out.copy_from_slice(src.row(i).bytes),
            Some(i) => sum_into(out, dtype, &[src.row(i)], SumOrder::Sequential),
            None => out.fill(0),
        }
    }
}

/// `dst` (one row per id of `ids`) = those rows of `dense` (rows of `row_len` elements).
pub fn take(dense: Elems<'_>, row_len: usize, ids: &[i64], dst: &mut [u8], dtype: DType) {
    let all = Rows {
        ids: &[],
        data: dense,
        row_len,
    };
    let out_bytes = row_len * dtype.size();
    if out_bytes == 0 {
        return;
    }
    for (&id, out) in ids.iter().zip(dst.chunks_exact_mut(out_bytes)) {
        sum_into(out, dtype, &[all.row(id as usize)], SumOrder::Sequential);
    }
}

/// The ids of the rows of `dense` (rows of `row_len` elements) that hold a non-zero value:
/// the rows a dense value keeps as row_sparse.
pub fn nonzero_rows(dense: Elems<'_>, row_len: usize) -> Vec<i64> {
    if row_len == 0 {
        return Vec::new();
    }
    with_dtype!(dense.dtype, T => {
        let values: &[T] = bytemuck::cast_slice(dense.bytes);
        values
            .chunks_exact(row_len)
            .enumerate()
            .filter(|(_, row)| row.iter().any(|v| v.to_f64() != 0.0))
            .map(|(i, _)| i as i64)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows<'a>(ids: &'a [i64], data: &'a [f32]) -> Rows<'a> {
        Rows {
            ids,
            data: Elems {
                bytes: bytemuck::cast_slice(data),
                dtype: DType::F32,
            },
            row_len: 2,
        }
    }

    #[test]
    fn sum_keeps_the_union_of_rows() {
        let a = rows(&[1, 3], &[1., 1., 3., 3.]);
        let b = rows(&[0, 3], &[5., 5., 7., 7.]);
        let union = union_ids(&[a, b]);
        assert_eq!(union, vec![0, 1, 3]);
        let mut out = vec![0f32; 6];
        sum_rows(
            &union,
            bytemuck::cast_slice_mut(&mut out),
            DType::F32,
            &[a, b],
        );
        assert_eq!(out, vec![5., 5., 1., 1., 10., 10.]);
    }

    #[test]
    fn gather_gives_zeros_for_rows_not_stored() {
        let a = rows(&[1, 3], &[1., 1., 3., 3.]);
        let mut out = vec![9f64; 6];
        gather(
            &[0, 1, 3],
            bytemuck::cast_slice_mut(&mut out),
            DType::F64,
            a,
            4,
        );
        assert_eq!(out, vec![0., 0., 1., 1., 3., 3.]);
        let full = rows(&[0, 1], &[4., 4., 6., 6.]);
        let mut out = vec![0f32; 2];
        gather(
            &[1],
            bytemuck::cast_slice_mut(&mut out),
            DType::F32,
            full,
            2,
        );
        assert_eq!(out, vec![6., 6.]);
    }

    #[test]
    fn scatter_and_add_into_dense() {
        let a = rows(&[2], &[1.5, 2.5]);
        let mut dense = vec![1f32; 6];
        add_into_dense(bytemuck::cast_slice_mut(&mut dense), DType::F32, a);
        assert_eq!(dense, vec![1., 1., 1., 1., 2.5, 3.5]);
        let mut zeros = vec![0f32; 6];
        scatter(bytemuck::cast_slice_mut(&mut zeros), DType::F32, a);
        assert_eq!(zeros, vec![0., 0., 0., 0., 1.5, 2.5]);
        let nz = nonzero_rows(
            Elems {
                bytes: bytemuck::cast_slice(&zeros),
                dtype: DType::F32,
            },
            2,
        );
        assert_eq!(nz, vec![2]);
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_ids(&[0, 2, 3], 4).is_ok());
        assert!(check_ids(&[], 0).is_ok());
        for bad in [&[2, 1][..], &[1, 1], &[0, 4], &[-1]] {
            let err = check_ids(bad, 4).unwrap_err().to_string();
            assert!(err.contains("ascending order"), "{err}");
        }
        let f = [2.0f32, 0.0, 2.0];
        let ids = to_ids(
            Elems {
                bytes: bytemuck::cast_slice(&f),
                dtype: DType::F32,
            },
            4,
        )
        .unwrap();
        assert_eq!(unique(ids), vec![0, 2]);
        let bad = [0.5f32];
        let e = to_ids(
            Elems {
                bytes: bytemuck::cast_slice(&bad),
                dtype: DType::F32,
            },
            4,
        );
        assert!(e.unwrap_err().to_string().contains("0.5"));
        let big = [4i64];
        let e = to_ids(
            Elems {
                bytes: bytemuck::cast_slice(&big),
                dtype: DType::I64,
            },
            4,
        );
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("row id 4 is out of range"));
    }
}
