//! The `.params` functions: Save and Load of named arrays, and one array to and from raw
//! bytes, in MXNet's binary format.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CString};

use super::{array, new_handle};
use crate::error::{Error, Result};
use crate::ffi::{
    boundary, bytes_list, count, mx_uint, out_arg, path_arg, slice_arg, with_thread_buffer,
    NDArrayHandle,
};
use crate::ndarray::io;

/// What the last Load on a thread returned: the pointers handed out stay valid until the
/// next Load on the same thread, as in MXNet.
#[derive(Default)]
struct Loaded {
    handles: Vec<NDArrayHandle>,
    names: Vec<CString>,
    name_ptrs: Vec<*const c_char>,
}

thread_local! {
    static LOADED: RefCell<Loaded> = RefCell::new(Loaded::default());
    /// The bytes of the last SaveRawBytes on this thread.
    static RAW_BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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
        let fname = path_arg(fname, "fname")?;
        let arrays = slice_arg(args, count(num_args), "args")?
            .iter()
            .map(|&h| array(h))
            .collect::<Result<Vec<_>>>()?;
        let names = if keys.is_null() {
            Vec::new()
        } else {
            bytes_list(keys, count(num_args), "keys")?
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
        let fname = path_arg(fname, "fname")?;
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
        with_thread_buffer(&LOADED, |b| {
            b.handles = arrays.into_iter().map(new_handle).collect();
            b.name_ptrs = names.iter().map(|n| n.as_ptr()).collect();
            b.names = names;
            *out_size = b.handles.len() as mx_uint;
            *out_arr = b.handles.as_mut_ptr();
            *out_name_size = b.names.len() as mx_uint;
            *out_names = b.name_ptrs.as_mut_ptr();
        })
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
        with_thread_buffer(&RAW_BYTES, |b| {
            *b = bytes;
            *out_size = b.len();
            *out_buf = b.as_ptr() as *const c_char;
        })
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
        *out = new_handle(io::load_array(bytes)?);
        Ok(())
    })
}
