//! Host buffers owned by Python (torch tensors) that the decoder writes into.
//!
//! The one place of this crate that turns addresses into slices. The Python layer allocates each
//! output with `torch.empty`, checks that it is contiguous and on the CPU, keeps it referenced
//! for the whole call, and passes `(data_ptr(), nbytes)`. What can be checked here is checked, by
//! the core's rules for caller buffers (`wcodec::buffer`): non-null, no wrap-around, no overlap
//! between jobs.
#![allow(unsafe_code)]

use crate::errors::PyWcodecError;
use wcodec::buffer::{check_spans, Span};

/// One caller buffer: an address and a length.
pub(crate) struct CallerBuffer {
    pub(crate) address: usize,
    pub(crate) nbytes: usize,
}

/// Borrows every buffer mutably for `'a`, after the core's checks ([`wcodec::buffer`]): non-null,
/// inside the address space, pairwise disjoint.
///
/// # Safety
/// Each buffer must be live, writable host memory of `nbytes` bytes that nothing else reads or
/// writes during `'a`.
pub(crate) unsafe fn caller_buffers<'a>(
    buffers: &[CallerBuffer],
) -> Result<Vec<&'a mut [u8]>, PyWcodecError> {
    let spans: Vec<Span> = buffers
        .iter()
        .map(|b| Span {
            address: b.address as u64,
            len: b.nbytes as u64,
        })
        .collect();
    check_spans(&spans).map_err(wcodec::Error::from)?;
    Ok(buffers
        .iter()
        .map(|b| {
            if b.nbytes == 0 {
                return &mut [][..];
            }
            // SAFETY: live and writable for `'a` by the caller's contract; `check_spans` found
            // every non-empty span non-null, within `isize::MAX` bytes and pairwise disjoint, so
            // no two slices alias.
            unsafe { std::slice::from_raw_parts_mut(b.address as *mut u8, b.nbytes) }
        })
        .collect())
}
