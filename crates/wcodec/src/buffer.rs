//! Caller buffers: the one set of rules every decoder applies to memory a caller hands it, before
//! writing a byte.
//!
//! Decoders write into destinations they did not allocate: slices here, a torch tensor's
//! `data_ptr()` in the Python shims, a C caller's pointer in the C ABI, a CUDA device address in
//! the GPU decoder. Whatever the address space, a destination is refused when
//!
//! 1. its size is not the tensor's ([`check_size`], [`Error::BufferSize`]);
//! 2. it is not empty and its address is 0, or its end wraps around the address space, or it is
//!    longer than a slice may be (`isize::MAX` bytes) ([`check_spans`]);
//! 3. it overlaps another non-empty destination of the same call ([`check_spans`]): two writers
//!    of the same bytes would be two mutable references to one memory on the host, and a data
//!    race on the device.
//!
//! Empty destinations (zero-byte tensors) are never dereferenced, so any address is fine for
//! them.
//!
//! [`check_jobs`] applies all three rules to the jobs of one call (each a tensor index and a
//! destination): the C ABI and the GPU decoder call it, so a destination refused by one is
//! refused by every other.

use std::fmt;

use crate::format::header::TensorEntry;
use crate::{Error, Result};

/// One destination of a decode call, in the caller's address space (host or device).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub address: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Why a set of destinations is refused; `job` is the destination's position in the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// A non-empty destination at address 0.
    Null {
        /// Position of the destination.
        job: usize,
    },
    /// A destination that runs past the end of the address space, or longer than `isize::MAX`.
    OutOfRange {
        /// Position of the destination.
        job: usize,
        /// The destination.
        span: Span,
    },
    /// Two destinations that share bytes.
    Overlap {
        /// Position of the destination that starts first.
        first: usize,
        /// Position of the other.
        second: usize,
        /// The first destination.
        a: Span,
        /// Where the second starts.
        b_address: u64,
    },
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BufferError::Null { job } => write!(f, "destination of job {job} is NULL"),
            BufferError::OutOfRange { job, span } => write!(
                f,
                "destination of job {job} ({} bytes at {:#x}) is outside the address space",
                span.len, span.address
            ),
            BufferError::Overlap {
                first,
                second,
                a,
                b_address,
            } => write!(
                f,
                "destinations of jobs {first} and {second} overlap ({:#x}+{} and {b_address:#x})",
                a.address, a.len
            ),
        }
    }
}

impl std::error::Error for BufferError {}

impl From<BufferError> for Error {
    fn from(e: BufferError) -> Error {
        Error::InvalidInput(e.to_string())
    }
}

/// One job of a decode call: the tensor at index `tensor` of the file goes to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Index of the tensor in the file's tensor list.
    pub tensor: usize,
    /// Where its bytes go.
    pub dst: Span,
}

/// Why the jobs of one call are refused ([`check_jobs`]); `job` is a position in the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobError {
    /// The tensor index is not one of the file's `count` tensors.
    NoTensor {
        /// Position of the job.
        job: usize,
        /// The index asked for.
        index: usize,
        /// Tensors in the file.
        count: usize,
    },
    /// The destination does not have the tensor's size (rule 1).
    Size {
        /// Position of the job.
        job: usize,
        /// Tensor name.
        tensor: String,
        /// Bytes needed.
        expected: u64,
        /// Bytes provided.
        found: u64,
    },
    /// A destination breaks rule 2 or 3.
    Buffer(BufferError),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::NoTensor { index, count, .. } => write!(
                f,
                "tensor index {index} out of range (the file has {count} tensors)"
            ),
            JobError::Size { .. } => Error::from(self.clone()).fmt(f),
            JobError::Buffer(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JobError {}

impl From<JobError> for Error {
    fn from(e: JobError) -> Error {
        match e {
            // The core names tensors; an index that names none is a tensor not found.
            JobError::NoTensor { index, .. } => Error::TensorNotFound(format!("#{index}")),
            JobError::Size {
                tensor,
                expected,
                found,
                ..
            } => Error::BufferSize {
                tensor,
                expected,
                found,
            },
            JobError::Buffer(b) => b.into(),
        }
    }
}

/// Checks the jobs of one call against the file's `tensors` and each other, by the three rules of
/// the module docs, before anything is written; returns each job's tensor. Rule 1 is checked job
/// by job, then rules 2 and 3 over all destinations.
pub fn check_jobs<'a>(
    tensors: &'a [TensorEntry],
    jobs: &[Job],
) -> std::result::Result<Vec<&'a TensorEntry>, JobError> {
    let mut entries = Vec::with_capacity(jobs.len());
    for (job, j) in jobs.iter().enumerate() {
        let entry = tensors.get(j.tensor).ok_or(JobError::NoTensor {
            job,
            index: j.tensor,
            count: tensors.len(),
        })?;
        if j.dst.len != entry.raw_bytes {
            return Err(JobError::Size {
                job,
                tensor: entry.name.clone(),
                expected: entry.raw_bytes,
                found: j.dst.len,
            });
        }
        entries.push(entry);
    }
    let spans: Vec<Span> = jobs.iter().map(|j| j.dst).collect();
    check_spans(&spans).map_err(JobError::Buffer)?;
    Ok(entries)
}

/// Checks that a destination of `len` bytes fits the tensor `entry` exactly.
pub fn check_size(entry: &TensorEntry, len: u64) -> Result<()> {
    if len != entry.raw_bytes {
        return Err(Error::BufferSize {
            tensor: entry.name.clone(),
            expected: entry.raw_bytes,
            found: len,
        });
    }
    Ok(())
}

/// Checks rules 2 and 3 of the module docs over every destination of one call.
pub fn check_spans(spans: &[Span]) -> std::result::Result<(), BufferError> {
    let mut sorted = Vec::with_capacity(spans.len());
    for (job, &span) in spans.iter().enumerate() {
        if span.len == 0 {
            continue;
        }
        if span.address == 0 {
            return Err(BufferError::Null { job });
        }
        let fits_slice = i64::try_from(span.len).is_ok_and(|n| isize::try_from(n).is_ok());
        if span.address.checked_add(span.len).is_none() || !fits_slice {
            return Err(BufferError::OutOfRange { job, span });
        }
        sorted.push((span.address, span.len, job));
    }
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        let ((a, a_len, first), (b, _, second)) = (w[0], w[1]);
        if a + a_len > b {
            return Err(BufferError::Overlap {
                first,
                second,
                a: Span {
                    address: a,
                    len: a_len,
                },
                b_address: b,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_jobs, check_spans, BufferError, Job, JobError, Span};
    use crate::format::header::{Encoding, TensorEntry};
    use crate::{Dtype, Error};

    fn span(address: u64, len: u64) -> Span {
        Span { address, len }
    }

    #[test]
    fn disjoint_and_empty_destinations_pass() {
        // Touching ends are fine; empty ones may sit anywhere, even at 0 or inside another.
        let spans = [
            span(0x1000, 16),
            span(0x1010, 16),
            span(0, 0),
            span(0x1008, 0),
        ];
        assert_eq!(check_spans(&spans), Ok(()));
        assert_eq!(check_spans(&[]), Ok(()));
    }

    #[test]
    fn overlap_names_both_jobs_in_call_order() {
        let spans = [span(0x2000, 8), span(0x1000, 0x1001)];
        let err = check_spans(&spans).unwrap_err();
        assert_eq!(
            err,
            BufferError::Overlap {
                first: 1,
                second: 0,
                a: span(0x1000, 0x1001),
                b_address: 0x2000
            }
        );
        assert_eq!(
            err.to_string(),
            "destinations of jobs 1 and 0 overlap (0x1000+4097 and 0x2000)"
        );
    }

    #[test]
    fn null_and_wrapping_destinations_are_refused() {
        assert_eq!(
            check_spans(&[span(0x10, 1), span(0, 4)]),
            Err(BufferError::Null { job: 1 })
        );
        let wraps = span(u64::MAX - 3, 8);
        assert_eq!(
            check_spans(&[wraps]),
            Err(BufferError::OutOfRange {
                job: 0,
                span: wraps
            })
        );
        let huge = span(0x1000, 1 << 63);
        assert_eq!(
            check_spans(&[huge]),
            Err(BufferError::OutOfRange { job: 0, span: huge })
        );
    }

    fn entry(name: &str, raw_bytes: u64) -> TensorEntry {
        TensorEntry {
            name: name.to_owned(),
            dtype: Dtype::U8,
            shape: vec![raw_bytes],
            raw_bytes,
            xxh3: 0,
            offset: 0,
            stored_bytes: raw_bytes,
            encoding: Encoding::Raw,
            chunk_symbols: None,
            planes: Vec::new(),
            tile_size: None,
            order0_bytes: 0,
        }
    }

    fn job(tensor: usize, address: u64, len: u64) -> Job {
        Job {
            tensor,
            dst: span(address, len),
        }
    }

    #[test]
    fn jobs_are_checked_for_index_size_null_and_overlap() {
        let tensors = [entry("a", 16), entry("b", 8), entry("empty", 0)];
        let ok = check_jobs(
            &tensors,
            &[job(1, 0x100, 8), job(0, 0x108, 16), job(2, 0, 0)],
        );
        let names: Vec<&str> = ok.unwrap().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "empty"]);

        let no_tensor = check_jobs(&tensors, &[job(0, 0x100, 16), job(3, 0x200, 8)]).unwrap_err();
        assert_eq!(
            no_tensor,
            (JobError::NoTensor {
                job: 1,
                index: 3,
                count: 3
            })
        );
        assert_eq!(
            no_tensor.to_string(),
            "tensor index 3 out of range (the file has 3 tensors)"
        );

        let size = check_jobs(&tensors, &[job(0, 0x100, 15)]).unwrap_err();
        assert_eq!(
            size.to_string(),
            "buffer for tensor `a` holds 15 bytes, the tensor needs 16"
        );
        assert!(matches!(
            Error::from(size),
            Error::BufferSize {
                expected: 16,
                found: 15,
                ..
            }
        ));

        assert_eq!(
            check_jobs(&tensors, &[job(1, 0, 8)]).unwrap_err(),
            JobError::Buffer(BufferError::Null { job: 0 })
        );
        let overlap = check_jobs(&tensors, &[job(0, 0x100, 16), job(1, 0x10f, 8)]);
        assert!(
            matches!(
                overlap,
                Err(JobError::Buffer(BufferError::Overlap {
                    first: 0,
                    second: 1,
                    ..
                }))
            ),
            "{overlap:?}"
        );
    }
}
