//! Key arguments: MXNet has an int-key and a string-key twin of most store functions
//! (`MXKVStorePush` / `MXKVStorePushEx`, …). [`KeyArg`] reads either kind of C key list,
//! so each twin pair of the skin is one generic body.

use std::ffi::{c_char, c_int};

use super::{bytes_list, slice_arg};
use crate::error::Result;
use crate::kvstore::Keys;

/// The keys of one call, read from C: borrowed ints, or the strings' bytes.
pub(crate) enum KeyList<'a> {
    Int(&'a [i32]),
    Str(Vec<&'a [u8]>),
}

impl KeyList<'_> {
    pub(crate) fn keys(&self) -> Keys<'_> {
        match self {
            KeyList::Int(k) => Keys::Int(k),
            KeyList::Str(k) => Keys::Str(k),
        }
    }
}

/// A C list of keys: `const int*` or `const char**`.
pub(crate) trait KeyArg: Copy {
    /// The `n` keys, each checked (a NULL list with `n > 0`, a NULL string are errors
    /// naming `what`). A string key is its bytes, UTF-8 or not, as in MXNet.
    ///
    /// # Safety
    /// A non-NULL list must hold `n` entries; each non-NULL string must be NUL-terminated;
    /// all must outlive the result.
    unsafe fn key_list<'a>(self, n: usize, what: &str) -> Result<KeyList<'a>>;
}

impl KeyArg for *const c_int {
    unsafe fn key_list<'a>(self, n: usize, what: &str) -> Result<KeyList<'a>> {
        Ok(KeyList::Int(slice_arg(self, n, what)?))
    }
}

impl KeyArg for *const *const c_char {
    unsafe fn key_list<'a>(self, n: usize, what: &str) -> Result<KeyList<'a>> {
        Ok(KeyList::Str(bytes_list(self, n, what)?))
    }
}

impl KeyArg for *mut *const c_char {
    unsafe fn key_list<'a>(self, n: usize, what: &str) -> Result<KeyList<'a>> {
        KeyArg::key_list(self.cast_const(), n, what)
    }
}
