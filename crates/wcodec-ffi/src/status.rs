//! The status codes of the C ABI and the one mapping from the library errors to them.
//!
//! The numeric values are part of the ABI: a program compiled against one version of the header
//! compares them as integers, so a value is never changed or reused. New codes get new numbers
//! inside their group (0 success; 1xx the caller's arguments and requests; 2xx the file; 3xx the
//! GPU; 9xx this library), and a caller must treat an unknown non-zero value as a failure.

use std::ffi::c_char;

/// The result of every fallible call. `WCODEC_STATUS_OK` (0) is success; every other value is a
/// failure, and `wcodec_last_error_message()` then describes it (which tensor, what was found,
/// what was expected).
///
/// The values are ABI: they never change and are never reused. Treat an unknown non-zero value
/// as a generic failure.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wcodec_status {
    /// Success.
    Ok = 0,
    /// A pointer argument that must not be NULL was NULL.
    NullArgument = 100,
    /// A string argument (path or tensor name) is not valid UTF-8.
    InvalidUtf8 = 101,
    /// An argument is unusable: overlapping destination buffers, a device pointer that is not
    /// CUDA device memory or is misaligned for the dtype, a destination past its allocation, ...
    InvalidArgument = 102,
    /// A tensor index is not below `wcodec_tensor_count()`.
    IndexOutOfRange = 103,
    /// No tensor has this name.
    TensorNotFound = 104,
    /// The destination buffer is smaller than the tensor (`dst_bytes < nbytes`); nothing was
    /// written.
    BufferTooSmall = 105,
    /// The destination buffer is larger than the tensor (`dst_bytes > nbytes`). Sizes must match
    /// exactly, so that a buffer meant for another tensor is caught; nothing was written.
    BufferSizeMismatch = 106,
    /// The tensor has more dimensions than `WCODEC_MAX_NDIM`: the info was filled, with the first
    /// `WCODEC_MAX_NDIM` dimensions in `shape` and all of them behind `dims`.
    RankTooLarge = 107,
    /// The caller's progress callback asked to stop (returned non-zero); the operation removed
    /// everything it had written, and the output path is as it was before the call.
    Cancelled = 108,
    /// The file does not exist.
    FileNotFound = 200,
    /// Another operating-system error while opening or reading the file (permissions, a
    /// directory, ...).
    Io = 201,
    /// The file is not a `.wcodec` file (wrong magic bytes).
    NotWcodec = 202,
    /// The file is damaged: truncated, inconsistent header or tensor table, invalid coded data.
    Corrupt = 203,
    /// A tensor decoded to bytes whose checksum differs from the recorded one (the file is
    /// damaged); the destination holds partial data.
    ChecksumMismatch = 204,
    /// The file's format version is not one this build reads (a newer writer).
    UnsupportedVersion = 205,
    /// The file is valid but uses something this build cannot handle (an unknown dtype or
    /// source format, a tensor too large for this platform).
    UnsupportedFormat = 206,
    /// The decoder asked for cannot decode this tensor although the file is valid: a feature
    /// the GPU decoder lacks. Every feature of format versions 1 and 2 (tiled planes included)
    /// is decoded on the GPU; the code is kept for later format versions. The CPU decoder
    /// (`wcodec_decode_tensor`) reads any tensor the library accepts.
    UnsupportedByDecoder = 207,
    /// The GPU decoder cannot run here: no CUDA driver or device, NVRTC not found (set
    /// `WCODEC_NVRTC_PATH` or call `wcodec_cuda_set_nvrtc_path`), or a GPU older than compute
    /// capability 8.0.
    CudaUnavailable = 300,
    /// A CUDA driver call failed.
    CudaError = 301,
    /// A bug in wcodec: a Rust panic was caught at the ABI boundary.
    Panic = 900,
    /// An error this build does not classify more precisely; see the message.
    Internal = 901,
}

impl wcodec_status {
    /// Every status, for tests and for `wcodec_status_str`.
    pub const ALL: &'static [wcodec_status] = &[
        wcodec_status::Ok,
        wcodec_status::NullArgument,
        wcodec_status::InvalidUtf8,
        wcodec_status::InvalidArgument,
        wcodec_status::IndexOutOfRange,
        wcodec_status::TensorNotFound,
        wcodec_status::BufferTooSmall,
        wcodec_status::BufferSizeMismatch,
        wcodec_status::RankTooLarge,
        wcodec_status::Cancelled,
        wcodec_status::FileNotFound,
        wcodec_status::Io,
        wcodec_status::NotWcodec,
        wcodec_status::Corrupt,
        wcodec_status::ChecksumMismatch,
        wcodec_status::UnsupportedVersion,
        wcodec_status::UnsupportedFormat,
        wcodec_status::UnsupportedByDecoder,
        wcodec_status::CudaUnavailable,
        wcodec_status::CudaError,
        wcodec_status::Panic,
        wcodec_status::Internal,
    ];

    /// A static, NUL-terminated description: the status's name, then a short explanation.
    pub fn text(self) -> &'static std::ffi::CStr {
        match self {
            wcodec_status::Ok => c"WCODEC_STATUS_OK: success",
            wcodec_status::NullArgument => {
                c"WCODEC_STATUS_NULL_ARGUMENT: a required pointer argument was NULL"
            }
            wcodec_status::InvalidUtf8 => {
                c"WCODEC_STATUS_INVALID_UTF8: a string argument is not valid UTF-8"
            }
            wcodec_status::InvalidArgument => {
                c"WCODEC_STATUS_INVALID_ARGUMENT: an argument is unusable"
            }
            wcodec_status::IndexOutOfRange => {
                c"WCODEC_STATUS_INDEX_OUT_OF_RANGE: tensor index out of range"
            }
            wcodec_status::TensorNotFound => {
                c"WCODEC_STATUS_TENSOR_NOT_FOUND: no tensor of that name"
            }
            wcodec_status::BufferTooSmall => {
                c"WCODEC_STATUS_BUFFER_TOO_SMALL: the destination is smaller than the tensor"
            }
            wcodec_status::BufferSizeMismatch => {
                c"WCODEC_STATUS_BUFFER_SIZE_MISMATCH: the destination is larger than the tensor"
            }
            wcodec_status::RankTooLarge => {
                c"WCODEC_STATUS_RANK_TOO_LARGE: the tensor has more than WCODEC_MAX_NDIM dimensions"
            }
            wcodec_status::Cancelled => {
                c"WCODEC_STATUS_CANCELLED: stopped by the progress callback; no output was left"
            }
            wcodec_status::FileNotFound => c"WCODEC_STATUS_FILE_NOT_FOUND: no such file",
            wcodec_status::Io => c"WCODEC_STATUS_IO: I/O error",
            wcodec_status::NotWcodec => c"WCODEC_STATUS_NOT_WCODEC: not a .wcodec file",
            wcodec_status::Corrupt => c"WCODEC_STATUS_CORRUPT: the file is corrupt",
            wcodec_status::ChecksumMismatch => {
                c"WCODEC_STATUS_CHECKSUM_MISMATCH: a decoded tensor failed its checksum"
            }
            wcodec_status::UnsupportedVersion => {
                c"WCODEC_STATUS_UNSUPPORTED_VERSION: format version not supported by this build"
            }
            wcodec_status::UnsupportedFormat => {
                c"WCODEC_STATUS_UNSUPPORTED_FORMAT: the file uses something this build cannot handle"
            }
            wcodec_status::UnsupportedByDecoder => {
                c"WCODEC_STATUS_UNSUPPORTED_BY_DECODER: this decoder cannot decode the tensor (the CPU decoder can)"
            }
            wcodec_status::CudaUnavailable => {
                c"WCODEC_STATUS_CUDA_UNAVAILABLE: the GPU decoder cannot run on this machine"
            }
            wcodec_status::CudaError => c"WCODEC_STATUS_CUDA_ERROR: a CUDA call failed",
            wcodec_status::Panic => c"WCODEC_STATUS_PANIC: internal error (a panic was caught)",
            wcodec_status::Internal => c"WCODEC_STATUS_INTERNAL: unclassified error",
        }
    }

    /// The status of a raw value, if it is one.
    pub fn from_raw(raw: u32) -> Option<wcodec_status> {
        wcodec_status::ALL
            .iter()
            .copied()
            .find(|s| *s as u32 == raw)
    }
}

/// What `wcodec_status_str` returns for a value that is no status of this build.
pub(crate) const UNKNOWN_TEXT: &std::ffi::CStr =
    c"unknown wcodec_status (from a newer header?): treat as a failure";

pub(crate) fn unknown_text_ptr() -> *const c_char {
    UNKNOWN_TEXT.as_ptr()
}

/// The mapping of a core error (the CPU decoder, the file parser).
pub(crate) fn of_core(e: &wcodec::Error) -> wcodec_status {
    use wcodec::Error as E;
    // A file's path around an error changes its message, not its status.
    match e.root() {
        E::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => {
            wcodec_status::FileNotFound
        }
        E::Io { .. } => wcodec_status::Io,
        E::NotWcodec { .. } => wcodec_status::NotWcodec,
        E::Truncated { .. } | E::Corrupt(_) | E::CorruptTensor { .. } => wcodec_status::Corrupt,
        E::Checksum { .. } => wcodec_status::ChecksumMismatch,
        E::UnsupportedVersion { .. } => wcodec_status::UnsupportedVersion,
        E::InvalidSource { .. } | E::UnsupportedDtype(_) => wcodec_status::UnsupportedFormat,
        E::Unsupported(_) => wcodec_status::UnsupportedByDecoder,
        E::TensorNotFound(_) => wcodec_status::TensorNotFound,
        E::BufferSize {
            expected, found, ..
        } => {
            if found < expected {
                wcodec_status::BufferTooSmall
            } else {
                wcodec_status::BufferSizeMismatch
            }
        }
        E::InvalidInput(_) => wcodec_status::InvalidArgument,
        E::Cancelled => wcodec_status::Cancelled,
        _ => wcodec_status::Internal,
    }
}

/// The mapping of a GPU decoder error. Missing pieces (driver, NVRTC, a kernel that does not
/// build for this GPU) mean the GPU path cannot run here, which a caller handles by decoding on
/// the CPU; damaged data is a damaged file whichever decoder found it.
pub(crate) fn of_cuda(e: &wcodec_cuda::Error) -> wcodec_status {
    use wcodec_cuda::ErrorKind as K;
    // Through the exhaustive `ErrorKind`, not the (non-exhaustive) error itself: a wildcard
    // over another crate's enum once sent GPU-found tile corruption to `CUDA_ERROR`.
    match e.kind() {
        K::Format => match e {
            wcodec_cuda::Error::Format(core) => of_core(core),
            _ => wcodec_status::Internal,
        },
        K::Unavailable => wcodec_status::CudaUnavailable,
        K::Driver => wcodec_status::CudaError,
        K::Corrupt => wcodec_status::Corrupt,
        K::Checksum => wcodec_status::ChecksumMismatch,
        K::InvalidArgument => wcodec_status::InvalidArgument,
        K::Internal => wcodec_status::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_pinned() {
        // The ABI: these numbers are in compiled C programs. Never edit this table, only add.
        let pinned = [
            (wcodec_status::Ok, 0),
            (wcodec_status::NullArgument, 100),
            (wcodec_status::InvalidUtf8, 101),
            (wcodec_status::InvalidArgument, 102),
            (wcodec_status::IndexOutOfRange, 103),
            (wcodec_status::TensorNotFound, 104),
            (wcodec_status::BufferTooSmall, 105),
            (wcodec_status::BufferSizeMismatch, 106),
            (wcodec_status::RankTooLarge, 107),
            (wcodec_status::Cancelled, 108),
            (wcodec_status::FileNotFound, 200),
            (wcodec_status::Io, 201),
            (wcodec_status::NotWcodec, 202),
            (wcodec_status::Corrupt, 203),
            (wcodec_status::ChecksumMismatch, 204),
            (wcodec_status::UnsupportedVersion, 205),
            (wcodec_status::UnsupportedFormat, 206),
            (wcodec_status::UnsupportedByDecoder, 207),
            (wcodec_status::CudaUnavailable, 300),
            (wcodec_status::CudaError, 301),
            (wcodec_status::Panic, 900),
            (wcodec_status::Internal, 901),
        ];
        assert_eq!(pinned.len(), wcodec_status::ALL.len());
        for (s, v) in pinned {
            assert_eq!(s as u32, v, "{s:?}");
            assert_eq!(wcodec_status::from_raw(v), Some(s));
        }
    }

    #[test]
    fn every_text_starts_with_its_name() {
        for &s in wcodec_status::ALL {
            let text = s.text().to_str().unwrap();
            let name = format!("{s:?}");
            // `BufferTooSmall` -> `BUFFER_TOO_SMALL`
            let mut screaming = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    screaming.push('_');
                }
                screaming.push(c.to_ascii_uppercase());
            }
            assert!(
                text.starts_with(&format!("WCODEC_STATUS_{screaming}: ")),
                "{text}"
            );
        }
    }

    #[test]
    fn buffer_size_errors_split_by_direction() {
        let e = |expected, found| wcodec::Error::BufferSize {
            tensor: "t".into(),
            expected,
            found,
        };
        assert_eq!(of_core(&e(8, 4)), wcodec_status::BufferTooSmall);
        assert_eq!(of_core(&e(8, 9)), wcodec_status::BufferSizeMismatch);
        let not_found = wcodec::Error::Io {
            op: "open",
            path: "x".into(),
            cause: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(of_core(&not_found), wcodec_status::FileNotFound);
        assert_eq!(
            of_cuda(&wcodec_cuda::Error::DriverMissing("no".into())),
            wcodec_status::CudaUnavailable
        );
        assert_eq!(
            of_cuda(&wcodec_cuda::Error::Format(wcodec::Error::Unsupported(
                "tiles".into()
            ))),
            wcodec_status::UnsupportedByDecoder
        );
        assert_eq!(of_core(&wcodec::Error::Cancelled), wcodec_status::Cancelled);
    }

    #[test]
    fn gpu_errors_map_to_the_documented_statuses() {
        use wcodec_cuda::Error as E;
        // docs/c-api.md: damaged data is CORRUPT whichever decoder found it (this one was
        // CUDA_ERROR through a wildcard before `ErrorKind`).
        let tile = E::CorruptTile {
            tensor: "t".into(),
            plane: 0,
            tile: 3,
        };
        assert_eq!(of_cuda(&tile), wcodec_status::Corrupt);
        let chunk = E::CorruptChunk {
            tensor: "t".into(),
            chunk: 1,
            plane: 0,
            mode_plane: false,
            error: wcodec::rans::ChunkError::FinalState,
        };
        assert_eq!(of_cuda(&chunk), wcodec_status::Corrupt);
        let checksum = E::Checksum {
            tensor: "t".into(),
            computed: 1,
            expected: 2,
        };
        assert_eq!(of_cuda(&checksum), wcodec_status::ChecksumMismatch);
        let driver = E::Cuda {
            call: "cuMemcpy",
            code: 700,
            name: "CUDA_ERROR_ILLEGAL_ADDRESS".into(),
            message: "illegal address".into(),
        };
        assert_eq!(of_cuda(&driver), wcodec_status::CudaError);
        // A wrong size is the core's error (one rule for every decoder), with the core's
        // statuses.
        let size = |expected, found| {
            E::Format(wcodec::Error::BufferSize {
                tensor: "t".into(),
                expected,
                found,
            })
        };
        assert_eq!(of_cuda(&size(8, 4)), wcodec_status::BufferTooSmall);
        assert_eq!(of_cuda(&size(8, 9)), wcodec_status::BufferSizeMismatch);
        assert_eq!(
            of_cuda(&E::NvrtcMissing("x".into())),
            wcodec_status::CudaUnavailable
        );
        assert_eq!(
            of_cuda(&E::InvalidArgument("x".into())),
            wcodec_status::InvalidArgument
        );
        assert_eq!(of_cuda(&E::Internal("x".into())), wcodec_status::Internal);
    }
}
