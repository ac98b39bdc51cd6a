//! Views: Reshape, Slice and At give new handles to arrays that share memory.

use std::ffi::c_int;

use super::{array, new_handle};
use crate::error::Result;
use crate::ffi::{boundary, dim_t, mx_uint, non_negative, out_arg, slice_arg, NDArrayHandle};
use crate::ndarray::NDArray;

/// The body of the view functions: a new handle for `make(array)` in `*out`.
///
/// # Safety
/// A non-NULL `out` must be valid for writes.
unsafe fn new_view(
    handle: NDArrayHandle,
    out: *mut NDArrayHandle,
    make: impl FnOnce(&NDArray) -> Result<NDArray>,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let out = out_arg(out, "out")?;
        *out = new_handle(make(&a)?);
        Ok(())
    })
}

/// A view of the same memory with another shape: `dims` may hold one -1 (inferred) and 0s
/// (copy the matching dimension). The element count must not change.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayReshape(
    handle: NDArrayHandle,
    ndim: c_int,
    dims: *mut c_int,
    out: *mut NDArrayHandle,
) -> c_int {
    new_view(handle, out, |a| {
        let dims = slice_arg(dims, non_negative(ndim.into(), "ndim")?, "dims")?;
        let dims: Vec<i64> = dims.iter().map(|&d| d.into()).collect();
        a.reshape(&dims, false)
    })
}

/// As `MXNDArrayReshape`, with 64-bit dimensions; `reverse` matches 0s and -1 from the right.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayReshape64(
    handle: NDArrayHandle,
    ndim: c_int,
    dims: *mut dim_t,
    reverse: bool,
    out: *mut NDArrayHandle,
) -> c_int {
    new_view(handle, out, |a| {
        let dims = slice_arg(dims, non_negative(ndim.into(), "ndim")?, "dims")?;
        a.reshape(dims, reverse)
    })
}

/// A view of rows `[slice_begin, slice_end)` along the first dimension.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySlice(
    handle: NDArrayHandle,
    slice_begin: mx_uint,
    slice_end: mx_uint,
    out: *mut NDArrayHandle,
) -> c_int {
    MXNDArraySlice64(handle, slice_begin.into(), slice_end.into(), out)
}

/// As `MXNDArraySlice`, with 64-bit indices (negative ones are errors).
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySlice64(
    handle: NDArrayHandle,
    slice_begin: i64,
    slice_end: i64,
    out: *mut NDArrayHandle,
) -> c_int {
    new_view(handle, out, |a| {
        let begin = non_negative(slice_begin, "slice begin")?;
        a.slice(begin, non_negative(slice_end, "slice end")?)
    })
}

/// A view of row `idx`, without the first dimension.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayAt(
    handle: NDArrayHandle,
    idx: mx_uint,
    out: *mut NDArrayHandle,
) -> c_int {
    MXNDArrayAt64(handle, idx.into(), out)
}

/// As `MXNDArrayAt`, with a 64-bit index.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayAt64(
    handle: NDArrayHandle,
    idx: i64,
    out: *mut NDArrayHandle,
) -> c_int {
    new_view(handle, out, |a| a.at(non_negative(idx, "index")?))
}
