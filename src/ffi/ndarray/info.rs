//! What an array is: its shape, dtype, context, data address and storage type.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::thread::LocalKey;

use super::array;
use crate::error::{Error, Result};
use crate::ffi::{boundary, mx_uint, out_arg, with_thread_buffer, NDArrayHandle};

thread_local! {
    // The buffers behind the pointers the shape calls return: per thread, valid until the
    // next shape call of the same width on this thread, as in MXNet.
    static SHAPE_U32: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    static SHAPE_I32: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
    static SHAPE_I64: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

/// The body of the three shape getters: the dimensions converted to `D` (named
/// `dim_type` in the error when one does not fit) in `buffer`.
///
/// # Safety
/// Non-NULL `out_dim` and `out_pdata` must be valid for writes.
unsafe fn get_shape<N: TryFrom<usize>, D: TryFrom<i64>>(
    handle: NDArrayHandle,
    out_dim: *mut N,
    out_pdata: *mut *const D,
    buffer: &'static LocalKey<RefCell<Vec<D>>>,
    dim_type: &str,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let (out_dim, out_pdata) = (
            out_arg(out_dim, "out_dim")?,
            out_arg(out_pdata, "out_pdata")?,
        );
        let too_wide = |what: String| {
            Error::invalid(format!(
                "{what} does not fit in {dim_type}: use MXNDArrayGetShapeEx64"
            ))
        };
        let dims = a
            .shape()
            .0
            .iter()
            .map(|&d| D::try_from(d).map_err(|_| too_wide(format!("dimension {d}"))))
            .collect::<Result<Vec<D>>>()?;
        *out_dim = N::try_from(dims.len()).map_err(|_| too_wide("ndim".into()))?;
        with_thread_buffer(buffer, |b| {
            *b = dims;
            *out_pdata = b.as_ptr();
        })
    })
}

/// The shape as uint32 dimensions (deprecated in MXNet). `*out_pdata` points to a
/// per-thread buffer, valid until the next shape call on this thread. A none array has
/// `*out_dim == 0`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetShape(
    handle: NDArrayHandle,
    out_dim: *mut mx_uint,
    out_pdata: *mut *const mx_uint,
) -> c_int {
    get_shape(handle, out_dim, out_pdata, &SHAPE_U32, "uint32")
}

/// The shape as int dimensions; see `MXNDArrayGetShape`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetShapeEx(
    handle: NDArrayHandle,
    out_dim: *mut c_int,
    out_pdata: *mut *const c_int,
) -> c_int {
    get_shape(handle, out_dim, out_pdata, &SHAPE_I32, "int")
}

/// The shape as int64 dimensions; see `MXNDArrayGetShape`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetShapeEx64(
    handle: NDArrayHandle,
    out_dim: *mut c_int,
    out_pdata: *mut *const i64,
) -> c_int {
    get_shape(handle, out_dim, out_pdata, &SHAPE_I64, "int64")
}

/// Writes `value(array)` to `*out`.
///
/// # Safety
/// A non-NULL `out` must be valid for writes.
unsafe fn get<T>(
    handle: NDArrayHandle,
    out: *mut T,
    what: &str,
    value: impl FnOnce(&crate::ndarray::NDArray) -> T,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        *out_arg(out, what)? = value(&a);
        Ok(())
    })
}

/// The dtype code (see `MXNDArrayCreateEx`); -1 for a none array.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetDType(handle: NDArrayHandle, out_dtype: *mut c_int) -> c_int {
    get(handle, out_dtype, "out_dtype", |a| {
        if a.is_none() {
            -1
        } else {
            a.dtype().code()
        }
    })
}

/// The context: dev_type (1 cpu, 3 cpu_pinned, 5 cpu_shared) and dev_id; (0, 0) for a
/// none array. Values held by a store report cpu_pinned(0), as in MXNet.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetContext(
    handle: NDArrayHandle,
    out_dev_type: *mut c_int,
    out_dev_id: *mut c_int,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let (dev_type, dev_id) = (
            out_arg(out_dev_type, "out_dev_type")?,
            out_arg(out_dev_id, "out_dev_id")?,
        );
        let ctx = a.context();
        (*dev_type, *dev_id) = if a.is_none() {
            (0, 0)
        } else {
            (ctx.device.code(), ctx.dev_id)
        };
        Ok(())
    })
}

/// The address of the array's first element (of a sparse array: of its stored values; NULL
/// for a none array). Callers may read and write through it; the memory stays valid while
/// any handle or store refers to it.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetData(
    handle: NDArrayHandle,
    out_pdata: *mut *mut c_void,
) -> c_int {
    get(handle, out_pdata, "out_pdata", |a| {
        a.data_addr().unwrap_or(0) as *mut c_void
    })
}

/// The storage type: 0 dense, 1 row_sparse, 2 csr; -1 for a none array.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetStorageType(
    handle: NDArrayHandle,
    out_storage_type: *mut c_int,
) -> c_int {
    get(handle, out_storage_type, "out_storage_type", |a| {
        if a.is_none() {
            -1
        } else {
            a.storage().code()
        }
    })
}
