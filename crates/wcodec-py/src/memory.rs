//! Host buffers owned by Python (torch tensors) that the decoder writes into.
//!
//! The one place of this crate that turns addresses into slices. The Python layer allocates each
//! output with `torch.empty`, checks that it is contiguous and on the CPU, keeps it referenced
//! for the whole call, and passes `(data_ptr(), nbytes)`. What can be checked here is checked:
//! non-null, no overlap between jobs, no wrap-around.
#![allow(unsafe_code)]

use crate::errors::PyWcodecError;
use pyo3::exceptions::PyValueError;

/// One caller buffer: an address and a length.
pub(crate) struct CallerBuffer {
    pub(crate) address: usize,
    pub(crate) nbytes: usize,
}

/// Borrows every buffer mutably for `'a`, after checking they are non-null and disjoint.
///
/// # Safety
/// Each buffer must be live, writable host memory of `nbytes` bytes that nothing else reads or
/// writes during `'a`.
pub(crate) unsafe fn caller_buffers<'a>(
    buffers: &[CallerBuffer],
) -> Result<Vec<&'a mut [u8]>, PyWcodecError> {
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(buffers.len());
    for b in buffers {
        if b.nbytes == 0 {
            continue;
        }
        if b.address == 0 || b.address.checked_add(b.nbytes).is_none() {
            return Err(PyValueError::new_err(format!(
                "invalid buffer: address {:#x}, {} bytes",
                b.address, b.nbytes
            ))
            .into());
        }
        spans.push((b.address, b.address + b.nbytes));
    }
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(PyValueError::new_err("output buffers overlap").into());
    }
    Ok(buffers
        .iter()
        .map(|b| {
            if b.nbytes == 0 {
                return &mut [][..];
            }
            // SAFETY: live and writable for `'a` by the caller's contract; the spans were just
            // checked to be non-null and pairwise disjoint, so no two slices alias.
            unsafe { std::slice::from_raw_parts_mut(b.address as *mut u8, b.nbytes) }
        })
        .collect())
}
