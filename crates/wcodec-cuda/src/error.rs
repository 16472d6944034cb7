//! The error type of the GPU decoder.
//!
//! Variants say what the caller can do: install or point at a library (`DriverMissing`,
//! `NvrtcMissing`), report a bug or an unsupported GPU (`Compile`), reject the file (`Corrupt…`,
//! `Checksum`, `Format`), or fix the call (`InvalidArgument`; a destination of the wrong size is
//! the core's `Format(wcodec::Error::BufferSize)`, the rule every decoder shares). Messages are
//! lowercase with no trailing period.

use wcodec::rans::ChunkError;

/// Everything the GPU decoder can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CUDA driver library (`libcuda.so`) cannot be loaded, or lacks a function this crate
    /// needs (a driver older than the CUDA 12 series).
    #[error("CUDA driver not available: {0}")]
    DriverMissing(String),
    /// NVRTC (`libnvrtc.so.13`) cannot be loaded.
    #[error(
        "NVRTC not available: {0} (install the `nvidia-cuda-nvrtc` pip package, or torch with CUDA 13, \
         and set WCODEC_NVRTC_PATH to its lib directory or add it to LD_LIBRARY_PATH)"
    )]
    NvrtcMissing(String),
    /// A CUDA driver call failed.
    #[error("CUDA error in `{call}`: {name} ({code}): {message}")]
    Cuda {
        /// The driver function.
        call: &'static str,
        /// The `CUresult` value.
        code: u32,
        /// Its name (`CUDA_ERROR_…`).
        name: String,
        /// Its description.
        message: String,
    },
    /// NVRTC failed to compile the kernels.
    #[error("NVRTC could not compile `{kernel}` for {arch}\noptions: {options}\n{log}")]
    Compile {
        /// The kernel source unit.
        kernel: &'static str,
        /// The target (`sm_90`).
        arch: String,
        /// The options passed, space-separated.
        options: String,
        /// The compiler log.
        log: String,
    },
    /// A rANS chunk failed a check of format.md §5.4 while decoding on the GPU.
    #[error(
        "corrupt tensor `{tensor}`: chunk {chunk} of plane {plane}: {}{error}",
        if *.mode_plane { "mode plane: " } else { "" }
    )]
    CorruptChunk {
        /// Tensor name.
        tensor: String,
        /// Chunk index within the tensor.
        chunk: u64,
        /// Plane index (0 = most significant byte).
        plane: u32,
        /// The chunk belongs to the mode plane of a tiled plane (format.md §6.2).
        mode_plane: bool,
        /// The rule it breaks, as the CPU decoder names it.
        error: ChunkError,
    },
    /// A tile of a tiled plane has a mode id of 15 or more (format.md §6.2).
    #[error("corrupt tensor `{tensor}`: plane {plane}: tile {tile} has a mode id >= 15")]
    CorruptTile {
        /// Tensor name.
        tensor: String,
        /// Plane index.
        plane: u32,
        /// The lowest tile with a bad mode id.
        tile: u64,
    },
    /// A decoded tensor's checksum differs from the one recorded in the file.
    #[error(
        "checksum mismatch in tensor `{tensor}` (got {computed:016x}, expected {expected:016x})"
    )]
    Checksum {
        /// Tensor name.
        tensor: String,
        /// XXH3 of the bytes the GPU produced.
        computed: u64,
        /// XXH3 recorded at encode time.
        expected: u64,
    },
    /// Refused by the core before anything ran on the GPU: an invalid file (header, layout),
    /// or jobs that break the core's caller-buffer rules (`wcodec::buffer`: a destination of
    /// the wrong size is [`wcodec::Error::BufferSize`], overlapping ones
    /// [`wcodec::Error::InvalidInput`]).
    #[error(transparent)]
    Format(#[from] wcodec::Error),
    /// A bug in this crate (a chunk the kernels never reached, an inconsistent plan).
    #[error("internal error: {0}")]
    Internal(String),
    /// The caller passed something unusable (a pointer on another device, a misaligned
    /// destination, a bad parameter, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a caller can do about an [`Error`], one value per variant group. Unlike [`Error`] this
/// enum is exhaustive, so a binding that maps every kind (the C ABI's status codes) stops
/// compiling when a kind is added, instead of sending it through a wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The GPU decoder cannot run here: no driver, no NVRTC, kernels that do not build for
    /// this GPU (`DriverMissing`, `NvrtcMissing`, `Compile`).
    Unavailable,
    /// A CUDA driver call failed (`Cuda`).
    Driver,
    /// The file's coded data is invalid, found on the GPU (`CorruptChunk`, `CorruptTile`).
    Corrupt,
    /// A decoded tensor failed its recorded checksum (`Checksum`).
    Checksum,
    /// The core rejected the file or the jobs before the GPU ran (`Format`): see the core
    /// error.
    Format,
    /// The caller passed something unusable (`InvalidArgument`).
    InvalidArgument,
    /// A bug in this crate (`Internal`).
    Internal,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        // No wildcard: a new variant must be given its kind here.
        match self {
            Error::DriverMissing(_) | Error::NvrtcMissing(_) | Error::Compile { .. } => {
                ErrorKind::Unavailable
            }
            Error::Cuda { .. } => ErrorKind::Driver,
            Error::CorruptChunk { .. } | Error::CorruptTile { .. } => ErrorKind::Corrupt,
            Error::Checksum { .. } => ErrorKind::Checksum,
            Error::Format(_) => ErrorKind::Format,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<wcodec::buffer::JobError> for Error {
    fn from(e: wcodec::buffer::JobError) -> Error {
        Error::Format(e.into())
    }
}
