//! The C skin: every exported `MX*` function, and everything that touches raw pointers.
//!
//! Each exported function checks and converts its arguments with the helpers below,
//! calls the safe body, and returns 0, or -1 with the message in `MXGetLastError`
//! (reference §1.2). [`boundary`] is the one place where a panic is caught.
//!
//! # Safety
//!
//! The contract of every exported function is MXNet's: a pointer argument is NULL or
//! points to as many valid elements as its count says, and strings are NUL-terminated.
//! NULL pointers and bad handles are reported as errors; other invalid pointers cannot
//! be detected in C and are undefined behaviour, as in MXNet.
#![allow(clippy::missing_safety_doc)]

pub mod cache;
pub mod error;
pub mod handles;
pub mod keys;
pub mod kvstore;
#[cfg(feature = "dist")]
pub mod mpi;
pub mod ndarray;
pub mod optimizer;
#[cfg(feature = "dist")]
pub mod shared_memory;

use std::ffi::{c_char, c_int, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{escaped, Error, Result};

/// `mx_uint` of MXNet's `c_api.h`.
#[allow(non_camel_case_types)]
pub type mx_uint = u32;
/// `mx_float` of MXNet's `c_api.h`.
#[allow(non_camel_case_types)]
pub type mx_float = f32;
/// `dim_t` of MXNet's `c_api.h`: a 64-bit dimension.
#[allow(non_camel_case_types)]
pub type dim_t = i64;
/// An opaque NDArray handle.
pub type NDArrayHandle = *mut c_void;
/// An opaque KVStore handle.
pub type KVStoreHandle = *mut c_void;

/// mxkv's own major version; `MXKVGetVersion` gives major*10000 + minor*100 + patch.
pub const MXKV_VERSION_MAJOR: c_int = 0;
/// mxkv's own minor version.
pub const MXKV_VERSION_MINOR: c_int = 1;
/// mxkv's own patch version.
pub const MXKV_VERSION_PATCH: c_int = 0;
/// The MXNet API level implemented, as `MXGetVersion` reports it (1.9.1).
pub const MXKV_MXNET_VERSION: c_int = 10901;

pub use error::boundary;

/// A slice from a C array of `n` items; NULL is accepted only when `n` is 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `n` readable items that outlive the returned slice.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but {n} entries were announced"
        )));
    }
    Ok(std::slice::from_raw_parts(ptr, n))
}

/// An output parameter, which must not be NULL.
///
/// # Safety
/// A non-NULL `ptr` must be valid for writes of a `T`.
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    ptr.as_mut()
        .ok_or_else(|| Error::invalid(format!("output pointer {what} is NULL")))
}

/// A NUL-terminated string argument, as its bytes (MXNet takes C strings as bytes: a key or
/// a file name need not be UTF-8).
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string that outlives the result.
pub(crate) unsafe fn bytes_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    Ok(CStr::from_ptr(ptr).to_bytes())
}

/// A NUL-terminated UTF-8 string argument (a name that mxkv reads as text).
///
/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    let bytes = bytes_arg(ptr, what)?;
    std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid(format!("{what} \"{}\" is not valid UTF-8", escaped(bytes))))
}

/// A file name argument: its bytes, as the operating system takes them.
///
/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn path_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a Path> {
    Ok(Path::new(OsStr::from_bytes(bytes_arg(ptr, what)?)))
}

/// An array of `n` strings, each read by `read`.
///
/// # Safety
/// As [`slice_arg`] for the array, and `read`'s contract for each entry.
unsafe fn list<T>(
    ptr: *const *const c_char,
    n: usize,
    what: &str,
    read: unsafe fn(*const c_char, &str) -> Result<T>,
) -> Result<Vec<T>> {
    slice_arg(ptr, n, what)?
        .iter()
        .enumerate()
        .map(|(i, &s)| read(s, &format!("{what}[{i}]")))
        .collect()
}

/// An array of `n` UTF-8 strings.
///
/// # Safety
/// As [`slice_arg`] and [`str_arg`] for each entry.
pub(crate) unsafe fn str_list<'a>(
    ptr: *const *const c_char,
    n: usize,
    what: &str,
) -> Result<Vec<&'a str>> {
    list(ptr, n, what, str_arg)
}

/// An array of `n` strings, as bytes.
///
/// # Safety
/// As [`slice_arg`] and [`bytes_arg`] for each entry.
pub(crate) unsafe fn bytes_list<'a>(
    ptr: *const *const c_char,
    n: usize,
    what: &str,
) -> Result<Vec<&'a [u8]>> {
    list(ptr, n, what, bytes_arg)
}

/// Runs `f` on one of the skin's per-thread result buffers. While the thread's locals are
/// being destroyed (a call from a `pthread_key` destructor) the buffer is gone: the call
/// fails instead of aborting the process.
pub(crate) fn with_thread_buffer<T, R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> Result<R> {
    key.try_with(|b| f(&mut b.borrow_mut())).map_err(|_| {
        Error::invalid("the calling thread is exiting: its per-thread result buffers are gone")
    })
}

/// A count or index from C that must not be negative.
pub(crate) fn non_negative(value: i64, what: &str) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::invalid(format!("{what} {value} is negative")))
}

/// Unsigned 32-bit count to usize (always lossless on the platforms mxkv supports).
pub(crate) fn count(n: mx_uint) -> usize {
    n as usize
}

/// Version of mxkv itself: `*out = major*10000 + minor*100 + patch`.
#[no_mangle]
pub unsafe extern "C" fn MXKVGetVersion(out: *mut c_int) -> c_int {
    boundary(|| {
        *out_arg(out, "out")? =
            MXKV_VERSION_MAJOR * 10000 + MXKV_VERSION_MINOR * 100 + MXKV_VERSION_PATCH;
        Ok(())
    })
}

/// The MXNet API level mxkv implements: `*out = 10901` (MXNet 1.9.1).
#[no_mangle]
pub unsafe extern "C" fn MXGetVersion(out: *mut c_int) -> c_int {
    boundary(|| {
        *out_arg(out, "out")? = MXKV_MXNET_VERSION;
        Ok(())
    })
}

/// Called by frontends at exit. mxkv's local work is always finished when a call returns,
/// so there is nothing left to wait for; returns 0.
#[no_mangle]
pub extern "C" fn MXNotifyShutdown() -> c_int {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_version_macros_match_the_manifest() {
        assert_eq!(
            MXKV_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            MXKV_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            MXKV_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        let mut v = 0;
        assert_eq!(unsafe { MXKVGetVersion(&mut v) }, 0);
        assert_eq!(
            v,
            MXKV_VERSION_MAJOR * 10000 + MXKV_VERSION_MINOR * 100 + MXKV_VERSION_PATCH
        );
    }
}
