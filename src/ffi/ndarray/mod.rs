//! `MXNDArray*`: arrays (reference §2.2, spec tiers 1 and 2). This file holds the
//! registry of array handles, creation, copies and Free; `info.rs` the getters,
//! `view.rs` Reshape/Slice/At, `io.rs` the `.params` functions and `sparse.rs` the
//! row_sparse and csr functions.

mod info;
mod io;
mod sparse;
mod view;

use std::ffi::{c_int, c_void};

use smallvec::SmallVec;

use super::handles::{Guard, HandleKind, HandleMap};
use super::{boundary, count, mx_uint, non_negative, out_arg, slice_arg, NDArrayHandle};
use crate::error::{Error, Result};
use crate::ndarray::{Context, DType, Device, NDArray, Shape};

static NDARRAYS: HandleMap<NDArray> = HandleMap::new(HandleKind::NDArray);

/// The array behind a handle.
pub(crate) fn array(handle: NDArrayHandle) -> Result<NDArray> {
    NDARRAYS.get(handle)
}

/// The arrays behind `n` handles, looked up under the caller's pin
/// ([`pin`](super::handles::pin)).
///
/// # Safety
/// A non-NULL `handles` must point to `n` handles.
pub(crate) unsafe fn arrays(
    handles: *const NDArrayHandle,
    n: usize,
    what: &str,
    pinned: &Guard,
) -> Result<SmallVec<[NDArray; 2]>> {
    NDARRAYS.get_each(slice_arg(handles, n, what)?, pinned)
}

/// Registers `a` and returns its new handle, which the caller owns.
pub(crate) fn new_handle(a: NDArray) -> NDArrayHandle {
    NDARRAYS.insert(a)
}

/// The body of the three Create functions.
///
/// # Safety
/// A non-NULL `out` must be valid for writes.
unsafe fn create(
    shape: Shape,
    dev_type: c_int,
    dev_id: c_int,
    dtype: c_int,
    out: *mut NDArrayHandle,
) -> Result<()> {
    // Every argument is checked before anything is allocated.
    let out = out_arg(out, "out")?;
    let ctx = Context::new(Device::from_code(dev_type)?, dev_id)?;
    let dtype = DType::from_code(dtype)?;
    *out = new_handle(NDArray::new(shape, dtype, ctx)?);
    Ok(())
}

/// Creates an empty ("none") array handle: no shape, no memory, dtype -1.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayCreateNone(out: *mut NDArrayHandle) -> c_int {
    boundary(|| {
        *out_arg(out, "out")? = new_handle(NDArray::none());
        Ok(())
    })
}

/// Creates a zero-filled float32 array of `shape[0..ndim]` on context (dev_type, dev_id).
/// Contexts: cpu (1), cpu_pinned (3), cpu_shared (5) with dev_id 0–63; gpu (2) is refused.
/// `delay_alloc` is accepted and ignored. The caller owns `*out` and frees it with
/// `MXNDArrayFree`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayCreate(
    shape: *const mx_uint,
    ndim: mx_uint,
    dev_type: c_int,
    dev_id: c_int,
    delay_alloc: c_int,
    out: *mut NDArrayHandle,
) -> c_int {
    MXNDArrayCreateEx(
        shape,
        ndim,
        dev_type,
        dev_id,
        delay_alloc,
        DType::F32.code(),
        out,
    )
}

/// As `MXNDArrayCreate`, with a dtype code: 0 float32, 1 float64, 2 float16, 3 uint8,
/// 4 int32, 5 int8, 6 int64, 7 bool, 8 int16, 9 uint16, 10 uint32, 11 uint64, 12 bfloat16.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayCreateEx(
    shape: *const mx_uint,
    ndim: mx_uint,
    dev_type: c_int,
    dev_id: c_int,
    _delay_alloc: c_int,
    dtype: c_int,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| {
        let dims = slice_arg(shape, count(ndim), "shape")?;
        create(
            Shape(dims.iter().map(|&d| d as i64).collect()),
            dev_type,
            dev_id,
            dtype,
            out,
        )
    })
}

/// As `MXNDArrayCreateEx`, with 64-bit dimensions.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayCreateEx64(
    shape: *const i64,
    ndim: c_int,
    dev_type: c_int,
    dev_id: c_int,
    _delay_alloc: c_int,
    dtype: c_int,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| {
        let dims = slice_arg(shape, non_negative(ndim.into(), "ndim")?, "shape")?;
        create(Shape(dims.to_vec()), dev_type, dev_id, dtype, out)
    })
}

/// Copies `size` elements (not bytes) of the array's dtype from `data` into the array.
/// `size` must equal the array's element count.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySyncCopyFromCPU(
    handle: NDArrayHandle,
    data: *const c_void,
    size: usize,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        a.check_count(size)?;
        // A source inside the array's own memory (from MXNDArrayGetData of a view of it) is
        // copied as memmove does, and never seen through a slice that the write would alias.
        let from = data as usize;
        if let Some(span) = a.memory_span().filter(|s| s.contains(&from)) {
            return a.copy_within_memory(from - span.start, size);
        }
        let bytes = slice_arg(data as *const u8, a.nbytes(), "data")?;
        a.copy_from_bytes(bytes, size)
    })
}

/// Copies the array's `size` elements (not bytes) into `data`. `size` must equal the
/// element count.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySyncCopyToCPU(
    handle: NDArrayHandle,
    data: *mut c_void,
    size: usize,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        a.check_count(size)?;
        if a.nbytes() == 0 {
            return Ok(());
        }
        if data.is_null() {
            return Err(Error::invalid("data is NULL"));
        }
        let bytes = std::slice::from_raw_parts_mut(data as *mut u8, a.nbytes());
        a.copy_to_bytes(bytes, size)
    })
}

/// Copies the dense array `handle_src` into `handle_dst`: with `i == -1` into its data (a
/// dense destination: the whole array, same shape; a sparse one: its stored values, whose
/// row count may change), with `i >= 0` into aux array `i` of a sparse destination (a 1-D
/// array of ids). The dtype converts.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySyncCopyFromNDArray(
    handle_dst: NDArrayHandle,
    handle_src: NDArrayHandle,
    i: c_int,
) -> c_int {
    boundary(|| {
        let dst = array(handle_dst)?;
        let src = array(handle_src)?;
        let blob = match i {
            -1 => None,
            i => Some(usize::try_from(i).map_err(|_| {
                Error::invalid(format!(
                    "blob index {i}: use -1 for the data, 0.. for aux arrays"
                ))
            })?),
        };
        if dst.is_none() {
            return Err(Error::NoneArray("cannot copy into it"));
        }
        dst.set_blob(blob, &src)
    })
}

/// Waits for pending writes to the array. mxkv finishes all work before a call returns,
/// so this only checks the handle.
#[no_mangle]
pub extern "C" fn MXNDArrayWaitToRead(handle: NDArrayHandle) -> c_int {
    boundary(|| array(handle).map(drop))
}

/// Waits for pending reads and writes of the array; as `MXNDArrayWaitToRead`.
#[no_mangle]
pub extern "C" fn MXNDArrayWaitToWrite(handle: NDArrayHandle) -> c_int {
    boundary(|| array(handle).map(drop))
}

/// Waits for all pending work; mxkv has none outstanding, so this returns 0.
#[no_mangle]
pub extern "C" fn MXNDArrayWaitAll() -> c_int {
    0
}

/// Frees a handle; NULL is accepted and does nothing. The memory lives on while views,
/// stores or other handles use it. Freeing a handle twice is an error, not a crash.
#[no_mangle]
pub extern "C" fn MXNDArrayFree(handle: NDArrayHandle) -> c_int {
    boundary(|| NDARRAYS.free(handle))
}
