//! # wcodec-ffi
//!
//! The C ABI of wcodec, for C and C++ programs (a TensorRT refitter, an inference server): open
//! a `.wcodec` file, list its tensors, and decode any of them into a buffer the caller owns, in
//! host memory or, with the GPU decoder of `wcodec-cuda`, in CUDA device memory on the caller's
//! stream; and encode a checkpoint file or directory ([`encode`]). No codec logic lives here; this crate converts arguments, calls the core, and maps
//! errors to the status codes of [`status`], once.
//!
//! The header `include/wcodec.h` is generated from this file by cbindgen (`make header`) and
//! checked for drift by `tests/header.rs`. `docs/c-api.md` is the user's guide: building,
//! linking, the status table, lifetimes, threads and the CUDA call's stream semantics.
//!
//! Invariants every exported function keeps:
//! * its body runs inside the panic boundary of [`boundary`], so no unwind crosses into C;
//! * every pointer argument is checked for NULL before use, every string for UTF-8;
//! * nothing in a file can make it panic (the core validates sizes before use), and sizes given
//!   by the caller are checked against the file before any byte is written;
//! * a fallible call sets this thread's error message (empty on success).
//!
//! The functions are `unsafe extern "C"`: their contracts (pointers valid for the sizes given,
//! handles from `wcodec_open`) are the C caller's to keep, and each says so in a `# Safety`
//! section that cbindgen copies into the header.

// This crate is the unsafe boundary of the project: exporting unmangled symbols and reading
// caller pointers is its purpose. Every unsafe operation sits in its own block with a SAFETY
// comment (enforced by the two lints below).
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod boundary;
mod encode;
mod status;

use std::ffi::{c_char, c_void, CStr};
use std::path::Path;
use std::sync::OnceLock;

use wcodec::format::header::TensorEntry;
use wcodec::{buffer, Archive, Dtype};

use crate::boundary::{Failure, Outcome};
pub use crate::encode::*;
pub use crate::status::wcodec_status;

/// Dimensions held in `wcodec_tensor_info::shape`. Real checkpoints stay far below it (LLM
/// weights have 1 to 3 dimensions, MoE and convolution weights up to 5); a tensor with more is
/// still described in full through `wcodec_tensor_info::dims`, and flagged with
/// `WCODEC_STATUS_RANK_TOO_LARGE`.
pub const WCODEC_MAX_NDIM: usize = 8;

/// An open `.wcodec` file (opaque). Created by `wcodec_open`, released by `wcodec_close`.
///
/// Immutable once opened: one handle may be used by several threads at once (every call only
/// reads it); it must not be closed while another thread still uses it.
#[allow(non_camel_case_types)]
pub struct wcodec_file {
    archive: Archive,
    /// Each tensor's name followed by a NUL byte, so that `wcodec_tensor_info::name` can point
    /// into storage that lives as long as the handle.
    names: Vec<Box<[u8]>>,
}

// A handle is shared between C threads without any lock of ours; this fails to compile if the
// core's `Archive` ever stops being safe to share.
const _: () = {
    const fn assert_sync_send<T: Sync + Send>() {}
    assert_sync_send::<wcodec_file>();
};

/// What `wcodec_get_tensor_info` reports about one tensor. Pointers in it stay valid as long as
/// the file handle is open.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wcodec_tensor_info {
    /// The tensor's name, NUL-terminated, owned by the file handle (valid until
    /// `wcodec_close`). A name may itself contain NUL bytes (JSON allows them): `name_len` is
    /// its true length in bytes.
    pub name: *const c_char,
    /// Length of `name` in bytes, without the terminating NUL.
    pub name_len: usize,
    /// The dtype as safetensors spells it (`"BF16"`, `"F8_E4M3"`, `"I8"`, ...), a static
    /// NUL-terminated string.
    pub dtype: *const c_char,
    /// Number of dimensions (0 for a scalar).
    pub ndim: usize,
    /// The first `min(ndim, WCODEC_MAX_NDIM)` dimensions; the rest of the array is zero.
    pub shape: [u64; WCODEC_MAX_NDIM],
    /// All `ndim` dimensions, owned by the file handle (valid until `wcodec_close`), for any
    /// rank.
    pub dims: *const u64,
    /// Size of the decoded tensor in bytes: the exact `dst_bytes` the decode calls expect.
    pub nbytes: u64,
}

/// One tensor of a batch decode (`wcodec_decode_tensors`, `wcodec_decode_tensors_cuda`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wcodec_decode_job {
    /// Index of the tensor (`wcodec_find_tensor` maps a name to it).
    pub index: usize,
    /// Destination: host memory for `wcodec_decode_tensors`, CUDA device memory for
    /// `wcodec_decode_tensors_cuda`. May be NULL only for a tensor of 0 bytes.
    pub dst: *mut c_void,
    /// Size of the destination in bytes; must equal the tensor's `nbytes`.
    pub dst_bytes: usize,
}

impl wcodec_file {
    fn entry(&self, index: usize) -> Outcome<&TensorEntry> {
        let tensors = self.archive.tensors();
        tensors.get(index).ok_or_else(|| {
            Failure::new(
                wcodec_status::IndexOutOfRange,
                format!(
                    "tensor index {index} out of range (the file has {} tensors)",
                    tensors.len()
                ),
            )
        })
    }
}

/// The static NUL-terminated wire name of a dtype.
fn dtype_name(d: Dtype) -> *const c_char {
    static NAMES: OnceLock<Vec<std::ffi::CString>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        Dtype::ALL
            .iter()
            .map(|d| std::ffi::CString::new(d.name()).unwrap_or_default())
            .collect()
    });
    Dtype::ALL
        .iter()
        .position(|&x| x == d)
        .and_then(|i| names.get(i))
        .map_or(c"?".as_ptr(), |c| c.as_ptr())
}

pub(crate) fn null(what: &str) -> Failure {
    Failure::new(
        wcodec_status::NullArgument,
        format!("`{what}` must not be NULL"),
    )
}

/// Borrows the handle behind `f`.
///
/// # Safety
/// `f` is NULL or a handle from `wcodec_open` not yet closed.
unsafe fn file<'a>(f: *const wcodec_file) -> Outcome<&'a wcodec_file> {
    // SAFETY: by the caller's contract a non-NULL `f` points to a live handle, which nothing
    // mutates (every function takes it shared, `wcodec_close` must not race with them).
    unsafe { f.as_ref() }.ok_or_else(|| null("f"))
}

/// Reads a C string argument as UTF-8.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string alive for the call.
pub(crate) unsafe fn text<'a>(s: *const c_char, what: &str) -> Outcome<&'a str> {
    if s.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(s) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            wcodec_status::InvalidUtf8,
            format!(
                "`{what}` is not valid UTF-8 ({e}): {}",
                String::from_utf8_lossy(bytes)
            ),
        )
    })
}

/// The tensor called `name` (a C string).
///
/// # Safety
/// As [`text`].
unsafe fn find(f: &wcodec_file, name: *const c_char) -> Outcome<usize> {
    // SAFETY: forwarded contract.
    let name = unsafe { text(name, "name") }?;
    Ok(f.archive.find(name)?)
}

/// A refused job keeps the status a C caller expects of it: `INDEX_OUT_OF_RANGE` for a bad
/// index, `NULL_ARGUMENT` for a NULL destination, `UNSUPPORTED_FORMAT` for a tensor longer than
/// `isize::MAX` bytes, `INVALID_ARGUMENT` for overlapping or wrapping ranges, the buffer-size
/// statuses for a wrong size.
impl From<wcodec::buffer::JobError> for Failure {
    fn from(e: wcodec::buffer::JobError) -> Failure {
        use wcodec::buffer::{BufferError, JobError};
        match e {
            JobError::NoTensor { .. } => {
                Failure::new(wcodec_status::IndexOutOfRange, e.to_string())
            }
            JobError::Size { .. } => wcodec::Error::from(e).into(),
            JobError::Buffer(BufferError::Null { job }) => null(&format!("jobs[{job}].dst")),
            // The size matched the tensor: the tensor itself is too large for a slice here.
            JobError::Buffer(BufferError::OutOfRange { span, .. })
                if isize::try_from(span.len).is_err() =>
            {
                Failure::new(
                    wcodec_status::UnsupportedFormat,
                    format!(
                        "{e}: a tensor of {} bytes is too large for this platform",
                        span.len
                    ),
                )
            }
            JobError::Buffer(
                b @ (BufferError::Overlap { .. } | BufferError::OutOfRange { .. }),
            ) => Failure::new(wcodec_status::InvalidArgument, b.to_string()),
        }
    }
}

/// The core's checks of one call's jobs ([`wcodec::buffer::check_jobs`]: index, size, NULL,
/// no two destinations overlapping), before anything is written.
fn check_jobs(f: &wcodec_file, jobs: &[wcodec_decode_job]) -> Outcome {
    let core_jobs: Vec<buffer::Job> = jobs
        .iter()
        .map(|j| buffer::Job {
            tensor: j.index,
            dst: buffer::Span {
                address: j.dst as u64,
                len: j.dst_bytes as u64,
            },
        })
        .collect();
    buffer::check_jobs(f.archive.tensors(), &core_jobs)?;
    Ok(())
}

/// Decodes host jobs, after the core's checks of [`check_jobs`].
///
/// # Safety
/// Each non-NULL `dst` is valid for writes of `dst_bytes` bytes and not accessed by anyone else
/// during the call.
unsafe fn decode_host(f: &wcodec_file, jobs: &[wcodec_decode_job]) -> Outcome {
    // Two jobs writing the same bytes would be two `&mut` to one memory: refused here.
    check_jobs(f, jobs)?;
    let work = jobs
        .iter()
        .map(|j| {
            let out: &mut [u8] = if j.dst_bytes == 0 {
                &mut []
            } else {
                // SAFETY: `dst` is non-NULL (checked), valid for writes of `dst_bytes` bytes and
                // not accessed by anyone else during the call (the caller's contract), and no
                // two jobs' ranges overlap (checked), so each slice is the only reference to
                // its bytes; `dst_bytes` ≤ isize::MAX and the range does not wrap (checked). The
                // decoder writes every byte before reading any, so uninitialised caller memory is
                // never read.
                unsafe { std::slice::from_raw_parts_mut(j.dst.cast::<u8>(), j.dst_bytes) }
            };
            (j.index, out)
        })
        .collect();
    f.archive.decode_many_into(work)?;
    Ok(())
}

/// Decodes device jobs with the GPU decoder of the device that owns the first destination.
fn decode_device(f: &wcodec_file, jobs: &[wcodec_decode_job], stream: *mut c_void) -> Outcome {
    // The GPU decoder applies the same checks; here they also give the C statuses
    // (`INDEX_OUT_OF_RANGE`, `NULL_ARGUMENT`) before any GPU is touched.
    check_jobs(f, jobs)?;
    let mut device_jobs = Vec::with_capacity(jobs.len());
    for j in jobs {
        if j.dst_bytes == 0 {
            // Nothing goes to the device, but the recorded checksum is still checked, so an
            // empty tensor is verified the same on every machine.
            f.archive.decode_into(j.index, &mut [])?;
            continue;
        }
        device_jobs.push(wcodec_cuda::DeviceJob {
            tensor: j.index,
            dst: j.dst as u64,
            dst_bytes: j.dst_bytes as u64,
        });
    }
    let Some(first) = device_jobs.first() else {
        return Ok(());
    };
    let ordinal = wcodec_cuda::device_of_pointer(first.dst)?;
    // Everything that stops the decoder from being created is "no usable GPU decoder here"
    // (missing NVRTC, a too-old GPU), except a failing driver call, which is reported as such.
    let decoder = wcodec_cuda::CudaDecoder::for_device(ordinal).map_err(|e| match e {
        wcodec_cuda::Error::Cuda { .. } => Failure::from(e),
        other => Failure::new(wcodec_status::CudaUnavailable, other.to_string()),
    })?;
    decoder.decode_tensors(&f.archive, &device_jobs, stream as u64)?;
    Ok(())
}

/// The library version (`"0.1.0"`), a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn wcodec_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A static NUL-terminated description of a status: its name, a colon, and a short explanation
/// (`"WCODEC_STATUS_CORRUPT: the file is corrupt"`). Never NULL; a value that is no status of
/// this build gets a generic text.
///
/// Takes the value as `uint32_t` rather than `wcodec_status` so that any integer, even one from
/// a newer header, is a defined input; a `wcodec_status` converts implicitly in C and C++.
#[no_mangle]
pub extern "C" fn wcodec_status_str(status: u32) -> *const c_char {
    boundary::value(status::unknown_text_ptr(), || {
        wcodec_status::from_raw(status).map_or(status::unknown_text_ptr(), |s| s.text().as_ptr())
    })
}

/// The detailed message of the last call on this thread that returned a `wcodec_status`: the
/// evidence behind the status (the path and OS error, the tensor and the checksums found and
/// expected, the CUDA driver's error name, ...). Empty (`""`) after a successful call. Never
/// NULL.
///
/// The string is owned by the library and stays valid until the next `wcodec_*` call on the
/// same thread that returns a status; copy it to keep it. Each thread has its own message.
#[no_mangle]
pub extern "C" fn wcodec_last_error_message() -> *const c_char {
    boundary::value(c"".as_ptr(), boundary::last_error_ptr)
}

/// Opens and validates a `.wcodec` file (memory-mapped; tensor data is checked when decoded).
///
/// On success `*out` is a new handle, to be released with `wcodec_close`; on failure `*out` is
/// set to NULL (when `out` is not NULL). Statuses: `FILE_NOT_FOUND`, `IO`, `NOT_WCODEC`,
/// `CORRUPT`, `UNSUPPORTED_VERSION`, `UNSUPPORTED_FORMAT`, `NULL_ARGUMENT`, `INVALID_UTF8`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated UTF-8 string; `out` is NULL or valid for writing one
/// pointer. The file must not be truncated or rewritten while the handle is open (it is
/// memory-mapped; a rewrite is caught by the checksums, a truncation may raise SIGBUS).
#[no_mangle]
pub unsafe extern "C" fn wcodec_open(
    path: *const c_char,
    out: *mut *mut wcodec_file,
) -> wcodec_status {
    boundary::status("wcodec_open", || {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: `out` is non-NULL and valid for one pointer write (the caller's contract).
        // Cleared first so a failure never leaves a stale handle in the caller's variable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's contract on `path`.
        let path = unsafe { text(path, "path") }?;
        let archive = Archive::open(Path::new(path))?;
        let names = archive
            .tensors()
            .iter()
            .map(|t| {
                let mut bytes = Vec::with_capacity(t.name.len() + 1);
                bytes.extend_from_slice(t.name.as_bytes());
                bytes.push(0);
                bytes.into_boxed_slice()
            })
            .collect();
        let handle = Box::into_raw(Box::new(wcodec_file { archive, names }));
        // SAFETY: as above.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Releases a handle and everything it owns (names, shapes). NULL is ignored.
///
/// # Safety
/// `f` is NULL or a handle from `wcodec_open` not closed before; no other thread may be using
/// it, and no pointer obtained from it may be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn wcodec_close(f: *mut wcodec_file) {
    boundary::value((), || {
        if !f.is_null() {
            // SAFETY: `f` came from `Box::into_raw` in `wcodec_open` and is released once (the
            // caller's contract).
            drop(unsafe { Box::from_raw(f) });
        }
    });
}

/// Number of tensors in the file (0 for a NULL handle).
///
/// # Safety
/// `f` is NULL or an open handle.
#[no_mangle]
pub unsafe extern "C" fn wcodec_tensor_count(f: *const wcodec_file) -> usize {
    boundary::value(0, || {
        // SAFETY: the caller's contract on `f`.
        unsafe { file(f) }.map_or(0, |f| f.archive.tensors().len())
    })
}

/// Describes tensor `index` (0 ≤ index < `wcodec_tensor_count(f)`, in the file's data order).
///
/// Statuses: `OK`; `INDEX_OUT_OF_RANGE`; `NULL_ARGUMENT`; `RANK_TOO_LARGE` when the tensor has
/// more than `WCODEC_MAX_NDIM` dimensions, in which case `*out` is still filled (`ndim` is the
/// true rank, `shape` holds the first `WCODEC_MAX_NDIM` dimensions and `dims` all of them).
///
/// # Safety
/// `f` is NULL or an open handle; `out` is NULL or valid for writing one `wcodec_tensor_info`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_get_tensor_info(
    f: *const wcodec_file,
    index: usize,
    out: *mut wcodec_tensor_info,
) -> wcodec_status {
    boundary::status("wcodec_get_tensor_info", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let entry = f.entry(index)?;
        let mut shape = [0u64; WCODEC_MAX_NDIM];
        let kept = entry.shape.len().min(WCODEC_MAX_NDIM);
        shape[..kept].copy_from_slice(&entry.shape[..kept]);
        let info = wcodec_tensor_info {
            name: f.names[index].as_ptr().cast(),
            name_len: entry.name.len(),
            dtype: dtype_name(entry.dtype),
            ndim: entry.shape.len(),
            shape,
            dims: entry.shape.as_ptr(),
            nbytes: entry.raw_bytes,
        };
        // SAFETY: `out` is non-NULL and valid for one write (the caller's contract).
        unsafe { out.write(info) };
        if entry.shape.len() > WCODEC_MAX_NDIM {
            return Err(Failure::new(
                wcodec_status::RankTooLarge,
                format!(
                    "tensor `{}` has {} dimensions, more than WCODEC_MAX_NDIM ({WCODEC_MAX_NDIM}); \
                     all of them are behind `dims`",
                    entry.name,
                    entry.shape.len()
                ),
            ));
        }
        Ok(())
    })
}

/// Finds the tensor called `name`; on success `*index` is its index.
///
/// Statuses: `OK`, `TENSOR_NOT_FOUND`, `NULL_ARGUMENT`, `INVALID_UTF8`.
///
/// # Safety
/// `f` is NULL or an open handle; `name` is NULL or a NUL-terminated string; `index` is NULL or
/// valid for writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_find_tensor(
    f: *const wcodec_file,
    name: *const c_char,
    index: *mut usize,
) -> wcodec_status {
    boundary::status("wcodec_find_tensor", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        if index.is_null() {
            return Err(null("index"));
        }
        // SAFETY: the caller's contract on `name`.
        let i = unsafe { find(f, name) }?;
        // SAFETY: non-NULL and valid for one write (the caller's contract).
        unsafe { index.write(i) };
        Ok(())
    })
}

/// Decodes the tensor called `name` into host memory `dst`, which must be exactly the tensor's
/// `nbytes` long, and checks its checksum. The bytes are written straight into `dst` (no
/// intermediate copy); chunks are decoded in parallel on the library's thread pool.
///
/// Statuses: `OK`; `TENSOR_NOT_FOUND`; `BUFFER_TOO_SMALL` / `BUFFER_SIZE_MISMATCH` (nothing
/// written); `CORRUPT` / `CHECKSUM_MISMATCH` (the file is damaged: `dst` holds partial data);
/// `NULL_ARGUMENT` (`dst` may be NULL only for a tensor of 0 bytes); `INVALID_UTF8`.
///
/// # Safety
/// `f` is NULL or an open handle; `name` is NULL or a NUL-terminated string; `dst` is NULL or
/// valid for writes of `dst_bytes` bytes, and not read or written by anyone else during the call.
#[no_mangle]
pub unsafe extern "C" fn wcodec_decode_tensor(
    f: *const wcodec_file,
    name: *const c_char,
    dst: *mut c_void,
    dst_bytes: usize,
) -> wcodec_status {
    boundary::status("wcodec_decode_tensor", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        // SAFETY: the caller's contract on `name`.
        let index = unsafe { find(f, name) }?;
        let job = wcodec_decode_job {
            index,
            dst,
            dst_bytes,
        };
        // SAFETY: the caller's contract on `dst`.
        unsafe { decode_host(f, &[job]) }
    })
}

/// `wcodec_decode_tensor` for the tensor at `index`. Statuses as there, with
/// `INDEX_OUT_OF_RANGE` for a bad index.
///
/// # Safety
/// As `wcodec_decode_tensor`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_decode_tensor_by_index(
    f: *const wcodec_file,
    index: usize,
    dst: *mut c_void,
    dst_bytes: usize,
) -> wcodec_status {
    boundary::status("wcodec_decode_tensor_by_index", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        let job = wcodec_decode_job {
            index,
            dst,
            dst_bytes,
        };
        // SAFETY: the caller's contract on `dst`.
        unsafe { decode_host(f, &[job]) }
    })
}

/// Decodes several tensors into host memory in one parallel pass (the fast way to load many
/// small tensors). Every job is checked (index, size, NULL, no two destinations overlapping)
/// before anything is written. `jobs` may be NULL when `n_jobs` is 0.
///
/// Statuses: as `wcodec_decode_tensor`, plus `INDEX_OUT_OF_RANGE` and `INVALID_ARGUMENT`
/// (overlapping destinations). On a decode failure the message names the tensor; other
/// destinations may hold partial data.
///
/// # Safety
/// `f` is NULL or an open handle; `jobs` is NULL or points to `n_jobs` readable jobs; each job's
/// `dst` is NULL or valid for writes of its `dst_bytes` bytes, and not accessed by anyone else
/// during the call.
#[no_mangle]
pub unsafe extern "C" fn wcodec_decode_tensors(
    f: *const wcodec_file,
    jobs: *const wcodec_decode_job,
    n_jobs: usize,
) -> wcodec_status {
    boundary::status("wcodec_decode_tensors", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        // SAFETY: the caller's contract on `jobs`.
        let jobs = unsafe { job_slice(jobs, n_jobs) }?;
        // SAFETY: the caller's contract on the destinations.
        unsafe { decode_host(f, jobs) }
    })
}

/// Reads the caller's job array.
///
/// # Safety
/// `jobs` is NULL or points to `n` readable jobs that stay unchanged during the call.
unsafe fn job_slice<'a>(
    jobs: *const wcodec_decode_job,
    n: usize,
) -> Outcome<&'a [wcodec_decode_job]> {
    if n == 0 {
        return Ok(&[]);
    }
    if jobs.is_null() {
        return Err(null("jobs"));
    }
    // SAFETY: non-NULL and pointing to `n` jobs (the caller's contract); `wcodec_decode_job` is
    // plain data, valid for any bit pattern of its fields.
    Ok(unsafe { std::slice::from_raw_parts(jobs, n) })
}

/// Decodes the tensor called `name` on the GPU into CUDA device memory `dst_dev` (exactly the
/// tensor's `nbytes` long, on any device: the decoder of the device that owns the pointer is
/// used), with the checksum verified on the GPU.
///
/// Stream semantics: the work is ordered after everything already queued on `cuda_stream` (a
/// `CUstream` / `cudaStream_t`; NULL is the legacy default stream). The call is synchronous: it
/// returns once the tensor is decoded and verified, with no work of the call left on any
/// stream, so the data may be used from any stream (for example passed to
/// `IRefitter::setNamedWeights` with `TensorLocation::kDEVICE`). The caller's current CUDA
/// context is left as it was; the decoder uses the device's primary context (the one the CUDA
/// runtime uses).
///
/// The first call on a device loads the kernels (compiled by NVRTC, then cached on disk under
/// `~/.cache/wcodec/kernels`): NVRTC must be found (`WCODEC_NVRTC_PATH`, or
/// `wcodec_cuda_set_nvrtc_path`, or the library search path).
///
/// Statuses: as `wcodec_decode_tensor`, plus `CUDA_UNAVAILABLE` (no driver, no device, no NVRTC,
/// a GPU older than compute capability 8.0), `UNSUPPORTED_BY_DECODER` (a feature the GPU decoder
/// lacks; none in format versions 1 and 2: decode it with `wcodec_decode_tensor` and copy it), `INVALID_ARGUMENT` (`dst_dev` is not device memory, is
/// misaligned for the dtype's words, or runs past its allocation), `CUDA_ERROR`. A tensor of 0
/// bytes is only checked on the host and needs no GPU.
///
/// # Safety
/// `f` is NULL or an open handle; `name` is NULL or a NUL-terminated string; `dst_dev` is NULL
/// or device memory of at least `dst_bytes` bytes that no other work touches during the call;
/// `cuda_stream` is NULL or a live stream of the device that owns `dst_dev`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_decode_tensor_cuda(
    f: *const wcodec_file,
    name: *const c_char,
    dst_dev: *mut c_void,
    dst_bytes: usize,
    cuda_stream: *mut c_void,
) -> wcodec_status {
    boundary::status("wcodec_decode_tensor_cuda", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        // SAFETY: the caller's contract on `name`.
        let index = unsafe { find(f, name) }?;
        let job = wcodec_decode_job {
            index,
            dst: dst_dev,
            dst_bytes,
        };
        decode_device(f, &[job], cuda_stream)
    })
}

/// `wcodec_decode_tensor_cuda` for the tensor at `index`.
///
/// # Safety
/// As `wcodec_decode_tensor_cuda`.
#[no_mangle]
pub unsafe extern "C" fn wcodec_decode_tensor_cuda_by_index(
    f: *const wcodec_file,
    index: usize,
    dst_dev: *mut c_void,
    dst_bytes: usize,
    cuda_stream: *mut c_void,
) -> wcodec_status {
    boundary::status("wcodec_decode_tensor_cuda_by_index", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        let job = wcodec_decode_job {
            index,
            dst: dst_dev,
            dst_bytes,
        };
        decode_device(f, &[job], cuda_stream)
    })
}

/// Decodes several tensors on the GPU in one pipelined pass (compressed data uploaded in
/// batches, one kernel launch over the chunks of many tensors): the fast way to load a whole
/// checkpoint. Every destination must be device memory of one device (the one that owns the
/// first non-empty destination). Stream semantics and statuses as `wcodec_decode_tensor_cuda`.
///
/// # Safety
/// As `wcodec_decode_tensor_cuda`, for every job; `jobs` is NULL or points to `n_jobs` readable
/// jobs.
#[no_mangle]
pub unsafe extern "C" fn wcodec_decode_tensors_cuda(
    f: *const wcodec_file,
    jobs: *const wcodec_decode_job,
    n_jobs: usize,
    cuda_stream: *mut c_void,
) -> wcodec_status {
    boundary::status("wcodec_decode_tensors_cuda", || {
        // SAFETY: the caller's contract on `f`.
        let f = unsafe { file(f) }?;
        // SAFETY: the caller's contract on `jobs`.
        let jobs = unsafe { job_slice(jobs, n_jobs) }?;
        decode_device(f, jobs, cuda_stream)
    })
}

/// Number of CUDA devices the driver reports; 0 without a driver or device. Never fails.
#[no_mangle]
pub extern "C" fn wcodec_cuda_device_count() -> usize {
    boundary::value(0, wcodec_cuda::device_count)
}

/// Names the NVRTC library file, or the directory holding it, for the GPU decoder. Must be
/// called before the first GPU decode of the process; otherwise `WCODEC_NVRTC_PATH` and then
/// the library search path are tried.
///
/// Statuses: `OK`, `NULL_ARGUMENT`, `INVALID_UTF8`, `INVALID_ARGUMENT` (called too late).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wcodec_cuda_set_nvrtc_path(path: *const c_char) -> wcodec_status {
    boundary::status("wcodec_cuda_set_nvrtc_path", || {
        // SAFETY: the caller's contract on `path`.
        let path = unsafe { text(path, "path") }?;
        wcodec_cuda::set_nvrtc_path(path)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wcodec::buffer::{BufferError, JobError, Span};

    #[test]
    fn refused_jobs_keep_their_documented_statuses() {
        let status = |e: JobError| Failure::from(e).status;
        assert_eq!(
            status(JobError::NoTensor {
                job: 0,
                index: 3,
                count: 3
            }),
            wcodec_status::IndexOutOfRange
        );
        let size = |expected, found| JobError::Size {
            job: 0,
            tensor: "t".into(),
            expected,
            found,
        };
        assert_eq!(status(size(8, 4)), wcodec_status::BufferTooSmall);
        assert_eq!(status(size(8, 9)), wcodec_status::BufferSizeMismatch);
        assert_eq!(
            status(JobError::Buffer(BufferError::Null { job: 1 })),
            wcodec_status::NullArgument
        );
        let span = |address, len| Span { address, len };
        assert_eq!(
            status(JobError::Buffer(BufferError::Overlap {
                first: 0,
                second: 1,
                a: span(0x1000, 16),
                b_address: 0x1008
            })),
            wcodec_status::InvalidArgument
        );
        let wraps = span(u64::MAX - 3, 8);
        assert_eq!(
            status(JobError::Buffer(BufferError::OutOfRange {
                job: 0,
                span: wraps
            })),
            wcodec_status::InvalidArgument
        );
        // docs/c-api.md: a tensor over isize::MAX bytes is UNSUPPORTED_FORMAT.
        let huge = span(0x1000, 1 << 63);
        assert_eq!(
            status(JobError::Buffer(BufferError::OutOfRange {
                job: 0,
                span: huge
            })),
            wcodec_status::UnsupportedFormat
        );
    }
}
