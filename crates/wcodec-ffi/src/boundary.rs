//! The panic boundary and the per-thread error message.
//!
//! Unwinding out of an `extern "C"` function aborts the process, which a C++ host (a TensorRT
//! refitter, a server) must never see because of a bug of ours. So every exported function runs
//! its body through [`status`] or [`value`], which catch a panic and turn it into
//! `WCODEC_STATUS_PANIC` (or the function's neutral value), with the panic's message kept.
//!
//! A status code says what kind of failure happened; the error that caused it carries the
//! evidence (which tensor, the checksum found and expected, the driver's error name). That text
//! is stored per thread, so threads sharing a file handle do not see each other's messages, and
//! read back with `wcodec_last_error_message()`.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::status::{of_core, of_cuda, wcodec_status};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// A failed call: its status and the message `wcodec_last_error_message()` will return.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: wcodec_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: wcodec_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<wcodec::Error> for Failure {
    fn from(e: wcodec::Error) -> Failure {
        Failure::new(of_core(&e), e.to_string())
    }
}

impl From<wcodec_cuda::Error> for Failure {
    fn from(e: wcodec_cuda::Error) -> Failure {
        Failure::new(of_cuda(&e), e.to_string())
    }
}

pub(crate) type Outcome<T = ()> = Result<T, Failure>;

fn set_last_error(message: &str) {
    LAST_ERROR.with(|m| {
        let mut m = m.borrow_mut();
        if message.is_empty() && m.as_bytes().is_empty() {
            return;
        }
        // Tensor names may hold NUL bytes (JSON allows `\u0000`); shown escaped, the message
        // stays one C string instead of being cut at the first one.
        let text = message.replace('\0', "\\0");
        *m = CString::new(text).unwrap_or_default();
    });
}

/// The message of the last call on this thread that returned a status (empty after a success).
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not text)")
}

/// Runs the body of a status-returning function: its error becomes the status and this thread's
/// message, a panic becomes `WCODEC_STATUS_PANIC`.
pub(crate) fn status(function: &'static str, body: impl FnOnce() -> Outcome) -> wcodec_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error("");
            wcodec_status::Ok
        }
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(payload) => {
            set_last_error(&format!(
                "{function}: internal error (panic: {}); please report it",
                panic_text(&*payload)
            ));
            wcodec_status::Panic
        }
    }
}

/// Runs the body of a function that returns a plain value (a count, a string): a panic gives
/// `fallback`. Such functions leave this thread's message alone.
pub(crate) fn value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: the pointer is this thread's message, alive until the next call that sets it.
        #[allow(unsafe_code)]
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_with_its_message() {
        let s = status("wcodec_test", || panic!("boom {}", 7));
        assert_eq!(s, wcodec_status::Panic);
        assert!(last().contains("wcodec_test: internal error (panic: boom 7)"));
        assert_eq!(value(5usize, || panic!("again")), 5);
    }

    #[test]
    fn success_clears_the_message_and_nul_is_escaped() {
        let s = status("f", || {
            Err(Failure::new(
                wcodec_status::TensorNotFound,
                "no tensor named `a\0b`",
            ))
        });
        assert_eq!(s, wcodec_status::TensorNotFound);
        assert_eq!(last(), "no tensor named `a\\0b`");
        assert_eq!(status("f", || Ok(())), wcodec_status::Ok);
        assert_eq!(last(), "");
    }

    #[test]
    fn messages_are_per_thread() {
        let _ = status("f", || Err(Failure::new(wcodec_status::Io, "mine")));
        std::thread::spawn(|| {
            assert_eq!(last(), "");
            let _ = status("f", || Err(Failure::new(wcodec_status::Io, "theirs")));
        })
        .join()
        .unwrap();
        assert_eq!(last(), "mine");
    }
}
