//! The last-error slot and the panic boundary (reference §1.2): the message is per thread,
//! stays until the next failure on that thread, and its first line is `MXNetError: …`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, Result};

/// Capacity of the per-thread message buffer; longer messages are cut. The buffer is
/// never reallocated, so a pointer from `MXGetLastError` never dangles, even when read
/// before a later failure overwrites the text.
const MESSAGE_CAPACITY: usize = 4096;

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new({
        let mut buf = Vec::with_capacity(MESSAGE_CAPACITY);
        buf.push(0);
        buf
    });
}

pub(crate) fn set_last_error(e: &Error) {
    let text = format!("MXNetError: {e}");
    let mut end = text.len().min(MESSAGE_CAPACITY - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // During thread teardown the slot may be gone: the message is then lost, never a panic.
    let _ = LAST_ERROR.try_with(|slot| {
        let mut buf = slot.borrow_mut();
        buf.clear();
        buf.extend(
            text.as_bytes()[..end]
                .iter()
                .map(|&b| if b == 0 { b' ' } else { b }),
        );
        buf.push(0);
    });
}

/// Runs the body of an exported function: `Ok` gives 0; an error or a panic gives -1 with
/// the message stored for `MXGetLastError`. No panic ever unwinds into C.
pub fn boundary(body: impl FnOnce() -> Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            set_last_error(&e);
            -1
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            set_last_error(&Error::Panic(what));
            -1
        }
    }
}

/// The message of the last failed call on this thread ("" if none failed). The pointer
/// stays valid until the next failure on this thread; later successes do not clear it.
#[no_mangle]
pub extern "C" fn MXGetLastError() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr() as *const c_char)
        .unwrap_or(SLOT_GONE.as_ptr())
}

/// What `MXGetLastError` gives on a thread whose thread-local storage is being destroyed.
const SLOT_GONE: &std::ffi::CStr =
    c"MXNetError: this thread is exiting: its last-error message is no longer kept";

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(MXGetLastError()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_minus_one_and_a_message() {
        let rc = boundary(|| panic!("test-only trigger"));
        assert_eq!(rc, -1);
        assert!(
            last().starts_with("MXNetError: internal error"),
            "{}",
            last()
        );
        assert!(last().contains("test-only trigger"));
    }

    #[test]
    fn the_message_is_per_thread_and_survives_success() {
        assert_eq!(boundary(|| Err(Error::invalid("first"))), -1);
        assert_eq!(boundary(|| Ok(())), 0);
        assert_eq!(last(), "MXNetError: first");
        let other = std::thread::spawn(last).join().unwrap();
        assert_eq!(other, "");
    }

    #[test]
    fn the_message_pointer_stays_valid_and_long_messages_are_cut() {
        let before = MXGetLastError();
        assert_eq!(boundary(|| Err(Error::invalid("x".repeat(10_000)))), -1);
        assert_eq!(MXGetLastError(), before);
        assert_eq!(last().len(), MESSAGE_CAPACITY - 1);
    }
}
