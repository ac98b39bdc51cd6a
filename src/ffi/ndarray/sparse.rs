//! `MXNDArray*` of sparse arrays (reference §2.2, spec tier 2): creation, aux and data
//! access, format checks. Copies into their blobs are `MXNDArraySyncCopyFromNDArray`'s.

use std::ffi::c_int;

use super::super::{boundary, count, mx_uint, out_arg, slice_arg, NDArrayHandle};
use super::{array, new_handle};
use crate::error::{Error, Result};
use crate::ndarray::{Context, DType, Device, NDArray, Shape, Storage};

/// Creates a row_sparse (`storage_type` 1) or csr (2) array of `shape[0..ndim]` and
/// `dtype` on (dev_type, dev_id). `num_aux` aux arrays (row_sparse: 1, the row ids; csr:
/// 2, indptr and column ids) have integer dtypes `aux_type[i]` and 1-D shapes, given as
/// `aux_ndims[i]` dimensions each, one after another in `aux_shape`. A row_sparse array
/// with k row ids stores rows 0..k-1, all zero; its data has shape (k, shape[1..]). A csr
/// matrix's data has the length of its column ids. `delay_alloc` is accepted; the blobs
/// are allocated at once. The caller frees `*out` with `MXNDArrayFree`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn MXNDArrayCreateSparseEx(
    storage_type: c_int,
    shape: *const mx_uint,
    ndim: mx_uint,
    dev_type: c_int,
    dev_id: c_int,
    _delay_alloc: c_int,
    dtype: c_int,
    num_aux: mx_uint,
    aux_type: *mut c_int,
    aux_ndims: *mut mx_uint,
    aux_shape: *const mx_uint,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| {
        let out = out_arg(out, "out")?;
        let stype = Storage::from_code(storage_type)?;
        let dims = slice_arg(shape, count(ndim), "shape")?;
        let types = slice_arg(aux_type, count(num_aux), "aux_type")?;
        let ndims = slice_arg(aux_ndims, count(num_aux), "aux_ndims")?;
        let total: usize = ndims.iter().map(|&n| count(n)).sum();
        let aux_dims = slice_arg(aux_shape, total, "aux_shape")?;
        let mut aux = Vec::with_capacity(types.len());
        // Aux arrays are 1-D, so aux array i's length is entry i of `aux_shape`.
        for (i, (&t, &n)) in types.iter().zip(ndims).enumerate() {
            if n != 1 {
                return Err(Error::invalid(format!(
                    "aux array {i} has {n} dimensions: aux arrays are 1-D"
                )));
            }
            aux.push((DType::from_code(t)?, aux_dims[i] as i64));
        }
        let a = NDArray::new_sparse(
            stype,
            Shape(dims.iter().map(|&d| d as i64).collect()),
            DType::from_code(dtype)?,
            Context::new(Device::from_code(dev_type)?, dev_id)?,
            &aux,
        )?;
        *out = new_handle(a);
        Ok(())
    })
}

/// The dtype code of aux array `i` of a sparse array.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetAuxType(
    handle: NDArrayHandle,
    i: mx_uint,
    out_type: *mut c_int,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let out = out_arg(out_type, "out_type")?;
        *out = a.aux_dtype(count(i))?.code();
        Ok(())
    })
}

fn give_copy(copy: Result<NDArray>, out: *mut NDArrayHandle) -> Result<()> {
    let out = unsafe { out_arg(out, "out")? };
    *out = new_handle(copy?);
    Ok(())
}

/// A new dense array holding a copy of aux array `i` of a sparse array (row_sparse: the
/// row ids; csr: 0 indptr, 1 column ids).
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetAuxNDArray(
    handle: NDArrayHandle,
    i: mx_uint,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| give_copy(array(handle)?.aux_copy(count(i)), out))
}

/// A new dense array holding a copy of the stored values of a sparse array (of a dense
/// array: a copy of it).
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetDataNDArray(
    handle: NDArrayHandle,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| give_copy(array(handle)?.data_copy(), out))
}

/// Checks that a sparse array's blobs form a valid array, with MXNet's messages: the
/// shapes of the blobs always; with `full_check` also the ids (row_sparse: ascending,
/// unique, below the row count; csr: indptr from 0, non-decreasing, ending at the number of
/// values, column ids ascending per row and below the column count). Dense arrays pass.
#[no_mangle]
pub extern "C" fn MXNDArraySyncCheckFormat(handle: NDArrayHandle, full_check: bool) -> c_int {
    boundary(|| array(handle)?.check_format(full_check))
}
