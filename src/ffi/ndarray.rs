//! `MXNDArray*`: dense arrays (reference §2.2, spec tier 1).

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use super::handles::NDARRAYS;
use super::{
    boundary, count, dim_t, mx_uint, out_arg, slice_arg, str_arg, str_list, NDArrayHandle,
};
use crate::error::{Error, Result};
use crate::ndarray::{io, Context, DType, NDArray, Shape};

/// The array behind a handle.
pub(crate) fn array(handle: NDArrayHandle) -> Result<Arc<NDArray>> {
    NDARRAYS.get(handle)
}

/// A new handle for `a`, written to `out`.
fn give(a: NDArray, out: &mut NDArrayHandle) {
    *out = NDARRAYS.insert(Arc::new(a));
}

/// Per-thread buffers behind the pointers that the shape, load and raw-bytes calls return
/// (valid until the next such call on the same thread, as in MXNet).
#[derive(Default)]
struct ThreadBuffers {
    shape_u32: Vec<u32>,
    shape_i32: Vec<i32>,
    shape_i64: Vec<i64>,
    raw_bytes: Vec<u8>,
    loaded: Vec<NDArrayHandle>,
    names: Vec<CString>,
    name_ptrs: Vec<*const c_char>,
}

thread_local! {
    static BUFFERS: RefCell<ThreadBuffers> = RefCell::new(ThreadBuffers::default());
}

fn create(
    shape: Shape,
    dev_type: c_int,
    dev_id: c_int,
    dtype: c_int,
    out: *mut NDArrayHandle,
) -> Result<()> {
    // Every argument is checked before anything is allocated.
    let out = unsafe { out_arg(out, "out")? };
    let ctx = Context::new(dev_type, dev_id)?;
    let dtype = DType::from_code(dtype)?;
    give(NDArray::new(shape, dtype, ctx)?, out);
    Ok(())
}

/// Creates an empty ("none") array handle: no shape, no memory, dtype -1.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayCreateNone(out: *mut NDArrayHandle) -> c_int {
    boundary(|| {
        give(NDArray::none(), out_arg(out, "out")?);
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
        let ndim = usize::try_from(ndim)
            .map_err(|_| Error::invalid(format!("ndim {ndim} is negative")))?;
        let dims = slice_arg(shape, ndim, "shape")?;
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
        if size != a.size() {
            return Err(Error::CopySize {
                expected: a.size(),
                got: size,
            });
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
        if size != a.size() {
            return Err(Error::CopySize {
                expected: a.size(),
                got: size,
            });
        }
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

/// Copies the values of `handle_src` into `handle_dst` (same shape; the dtype converts).
/// `i` must be -1 (the data); dense arrays have no auxiliary arrays.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySyncCopyFromNDArray(
    handle_dst: NDArrayHandle,
    handle_src: NDArrayHandle,
    i: c_int,
) -> c_int {
    boundary(|| {
        let dst = array(handle_dst)?;
        let src = array(handle_src)?;
        if i != -1 {
            return Err(Error::invalid(format!(
                "aux index {i}: dense arrays have no auxiliary arrays (use -1 for the data)"
            )));
        }
        if dst.is_none() || src.is_none() {
            return Err(Error::NoneArray("cannot copy to or from it"));
        }
        dst.check_same_shape(&src)?;
        if !dst.same_memory(&src) {
            dst.assign_sum(&[&src])?;
        }
        Ok(())
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

/// Frees a handle. The memory lives on while views, stores or other handles use it.
/// Freeing a handle twice is an error, not a crash.
#[no_mangle]
pub extern "C" fn MXNDArrayFree(handle: NDArrayHandle) -> c_int {
    boundary(|| NDARRAYS.remove(handle).map(drop))
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
    boundary(|| {
        let a = array(handle)?;
        let (out_dim, out_pdata) = (
            out_arg(out_dim, "out_dim")?,
            out_arg(out_pdata, "out_pdata")?,
        );
        let dims = a
            .shape()
            .0
            .iter()
            .map(|&d| {
                u32::try_from(d).map_err(|_| {
                    Error::invalid(format!(
                        "dimension {d} does not fit in uint32: use MXNDArrayGetShapeEx64"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            b.shape_u32 = dims;
            *out_dim = b.shape_u32.len() as mx_uint;
            *out_pdata = b.shape_u32.as_ptr();
        });
        Ok(())
    })
}

/// The shape as int dimensions; see `MXNDArrayGetShape`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetShapeEx(
    handle: NDArrayHandle,
    out_dim: *mut c_int,
    out_pdata: *mut *const c_int,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let (out_dim, out_pdata) = (
            out_arg(out_dim, "out_dim")?,
            out_arg(out_pdata, "out_pdata")?,
        );
        let dims = a
            .shape()
            .0
            .iter()
            .map(|&d| {
                i32::try_from(d).map_err(|_| {
                    Error::invalid(format!(
                        "dimension {d} does not fit in int: use MXNDArrayGetShapeEx64"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            b.shape_i32 = dims;
            *out_dim = b.shape_i32.len() as c_int;
            *out_pdata = b.shape_i32.as_ptr();
        });
        Ok(())
    })
}

/// The shape as int64 dimensions; see `MXNDArrayGetShape`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetShapeEx64(
    handle: NDArrayHandle,
    out_dim: *mut c_int,
    out_pdata: *mut *const i64,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let (out_dim, out_pdata) = (
            out_arg(out_dim, "out_dim")?,
            out_arg(out_pdata, "out_pdata")?,
        );
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            b.shape_i64 = a.shape().0.clone();
            *out_dim = b.shape_i64.len() as c_int;
            *out_pdata = b.shape_i64.as_ptr();
        });
        Ok(())
    })
}

/// The dtype code (see `MXNDArrayCreateEx`); -1 for a none array.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetDType(handle: NDArrayHandle, out_dtype: *mut c_int) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        *out_arg(out_dtype, "out_dtype")? = if a.is_none() { -1 } else { a.dtype().code() };
        Ok(())
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
        let ctx = if a.is_none() {
            Context {
                dev_type: 0,
                dev_id: 0,
            }
        } else {
            a.context()
        };
        *dev_type = ctx.dev_type;
        *dev_id = ctx.dev_id;
        Ok(())
    })
}

/// The address of the array's first element (NULL for a none array). Callers may read and
/// write through it; the memory stays valid while any handle or store refers to it.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetData(
    handle: NDArrayHandle,
    out_pdata: *mut *mut c_void,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        *out_arg(out_pdata, "out_pdata")? = a.data_addr().unwrap_or(0) as *mut c_void;
        Ok(())
    })
}

/// The storage type: 0 dense (every array mxkv makes); -1 for a none array.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayGetStorageType(
    handle: NDArrayHandle,
    out_storage_type: *mut c_int,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        *out_arg(out_storage_type, "out_storage_type")? = if a.is_none() {
            -1
        } else {
            a.storage() as c_int
        };
        Ok(())
    })
}

fn give_view(view: Result<NDArray>, out: *mut NDArrayHandle) -> Result<()> {
    let out = unsafe { out_arg(out, "out")? };
    give(view?, out);
    Ok(())
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
    boundary(|| {
        let a = array(handle)?;
        let n = usize::try_from(ndim)
            .map_err(|_| Error::invalid(format!("ndim {ndim} is negative")))?;
        let dims: Vec<i64> = slice_arg(dims, n, "dims")?
            .iter()
            .map(|&d| d as i64)
            .collect();
        give_view(a.reshape(&dims, false), out)
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
    boundary(|| {
        let a = array(handle)?;
        let n = usize::try_from(ndim)
            .map_err(|_| Error::invalid(format!("ndim {ndim} is negative")))?;
        give_view(a.reshape(slice_arg(dims, n, "dims")?, reverse), out)
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
    MXNDArraySlice64(handle, slice_begin as i64, slice_end as i64, out)
}

/// As `MXNDArraySlice`, with 64-bit indices (negative ones are errors).
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySlice64(
    handle: NDArrayHandle,
    slice_begin: i64,
    slice_end: i64,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let bad = || {
            Error::invalid(format!(
                "slice [{slice_begin}, {slice_end}) has a negative index"
            ))
        };
        let begin = usize::try_from(slice_begin).map_err(|_| bad())?;
        let end = usize::try_from(slice_end).map_err(|_| bad())?;
        give_view(a.slice(begin, end), out)
    })
}

/// A view of row `idx`, without the first dimension.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayAt(
    handle: NDArrayHandle,
    idx: mx_uint,
    out: *mut NDArrayHandle,
) -> c_int {
    MXNDArrayAt64(handle, idx as i64, out)
}

/// As `MXNDArrayAt`, with a 64-bit index.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayAt64(
    handle: NDArrayHandle,
    idx: i64,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let idx =
            usize::try_from(idx).map_err(|_| Error::invalid(format!("index {idx} is negative")))?;
        give_view(a.at(idx), out)
    })
}

/// Saves `num_args` arrays to `fname` in MXNet's `.params` format, with names when `keys`
/// is not NULL.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySave(
    fname: *const c_char,
    num_args: mx_uint,
    args: *mut NDArrayHandle,
    keys: *mut *const c_char,
) -> c_int {
    boundary(|| {
        let fname = str_arg(fname, "fname")?;
        let arrays = slice_arg(args, count(num_args), "args")?
            .iter()
            .map(|&h| array(h).map(|a| (*a).clone()))
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = if keys.is_null() {
            Vec::new()
        } else {
            str_list(keys, count(num_args), "keys")?
                .into_iter()
                .map(String::from)
                .collect()
        };
        io::save_file(fname, &arrays, &names)
    })
}

/// Loads a `.params` file. `*out_arr` (new handles the caller owns and frees) and
/// `*out_names` point to per-thread buffers valid until the next load on this thread;
/// `*out_name_size` is 0 when the file has no names.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayLoad(
    fname: *const c_char,
    out_size: *mut mx_uint,
    out_arr: *mut *mut NDArrayHandle,
    out_name_size: *mut mx_uint,
    out_names: *mut *mut *const c_char,
) -> c_int {
    boundary(|| {
        let fname = str_arg(fname, "fname")?;
        let (out_size, out_arr) = (out_arg(out_size, "out_size")?, out_arg(out_arr, "out_arr")?);
        let (out_name_size, out_names) = (
            out_arg(out_name_size, "out_name_size")?,
            out_arg(out_names, "out_names")?,
        );
        let (arrays, names) = io::load_file(fname)?;
        let names = names
            .into_iter()
            .map(|n| {
                CString::new(n).map_err(|_| Error::Format("a name contains a NUL byte".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            b.loaded = arrays
                .into_iter()
                .map(|a| NDARRAYS.insert(Arc::new(a)))
                .collect();
            b.name_ptrs = names.iter().map(|n| n.as_ptr()).collect();
            b.names = names;
            *out_size = b.loaded.len() as mx_uint;
            *out_arr = b.loaded.as_mut_ptr();
            *out_name_size = b.names.len() as mx_uint;
            *out_names = b.name_ptrs.as_mut_ptr();
        });
        Ok(())
    })
}

/// Serialises one array; `*out_buf` points to a per-thread buffer of `*out_size` bytes,
/// valid until the next call on this thread.
#[no_mangle]
pub unsafe extern "C" fn MXNDArraySaveRawBytes(
    handle: NDArrayHandle,
    out_size: *mut usize,
    out_buf: *mut *const c_char,
) -> c_int {
    boundary(|| {
        let a = array(handle)?;
        let (out_size, out_buf) = (out_arg(out_size, "out_size")?, out_arg(out_buf, "out_buf")?);
        let bytes = io::save_array(&a)?;
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            b.raw_bytes = bytes;
            *out_size = b.raw_bytes.len();
            *out_buf = b.raw_bytes.as_ptr() as *const c_char;
        });
        Ok(())
    })
}

/// Creates an array from the bytes of `MXNDArraySaveRawBytes`.
#[no_mangle]
pub unsafe extern "C" fn MXNDArrayLoadFromRawBytes(
    buf: *const c_void,
    size: usize,
    out: *mut NDArrayHandle,
) -> c_int {
    boundary(|| {
        let out = out_arg(out, "out")?;
        let bytes = slice_arg(buf as *const u8, size, "buf")?;
        give(io::load_array(bytes)?, out);
        Ok(())
    })
}
