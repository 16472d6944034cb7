//! The one error type of the core library.
//!
//! Variants say what went wrong in terms a caller can act on; fields carry the evidence (what was
//! found, what was expected, which tensor). Messages are lowercase with no trailing period.

use std::path::PathBuf;

/// Everything that can go wrong while reading, writing, encoding or decoding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with the path it concerned.
    // The cause is part of the message and deliberately not a `source()`: chains printed with
    // `{:#}` would otherwise repeat it.
    #[error("{op} `{path}`: {cause}")]
    Io {
        /// What was being done (`open`, `read`, `write`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// The file does not start with the `.wcodec` magic bytes.
    #[error("not a wcodec file (magic bytes {found})")]
    NotWcodec {
        /// The first bytes found, in hex.
        found: String,
    },
    /// The file is shorter than its preamble says.
    #[error("file is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// Size recorded in the preamble.
        expected: u64,
        /// Actual size.
        found: u64,
    },
    /// The format version is not one this build can read.
    #[error(
        "format version {found} is not supported (this build reads versions up to {supported})"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// The container is structurally invalid (outside any single tensor).
    #[error("corrupt file: {0}")]
    Corrupt(String),
    /// A tensor's stored data is invalid.
    #[error("corrupt tensor `{tensor}`: {detail}")]
    CorruptTensor {
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        detail: String,
    },
    /// A tensor decoded to bytes whose checksum differs from the recorded one.
    #[error(
        "checksum mismatch in tensor `{tensor}` (got {computed:016x}, expected {expected:016x})"
    )]
    Checksum {
        /// Tensor name.
        tensor: String,
        /// Checksum of the decoded bytes.
        computed: u64,
        /// Checksum recorded at encode time.
        expected: u64,
    },
    /// The input is not a valid source checkpoint (e.g. a malformed safetensors file).
    #[error("invalid {format} file: {detail}")]
    InvalidSource {
        /// The source format (`safetensors`, …).
        format: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A dtype name this build does not know.
    #[error("unsupported dtype `{0}`")]
    UnsupportedDtype(String),
    /// No tensor of that name.
    #[error("no tensor named `{0}`")]
    TensorNotFound(String),
    /// A caller-provided buffer has the wrong size.
    #[error("buffer for tensor `{tensor}` holds {found} bytes, the tensor needs {expected}")]
    BufferSize {
        /// Tensor name.
        tensor: String,
        /// Bytes needed.
        expected: u64,
        /// Bytes provided.
        found: u64,
    },
    /// A valid file uses a feature this particular decoder does not implement (e.g. tiled planes
    /// in a decoder outside this crate); another decoder (the CPU one) can read it.
    #[error("unsupported by this decoder: {0}")]
    Unsupported(String),
    /// The caller asked for something impossible (bad option, output equals input, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias of the core library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            cause: source,
        }
    }

    pub(crate) fn corrupt(detail: impl Into<String>) -> Self {
        Error::Corrupt(detail.into())
    }

    pub(crate) fn tensor(tensor: &str, detail: impl Into<String>) -> Self {
        Error::CorruptTensor {
            tensor: tensor.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn source(format: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidSource {
            format,
            detail: detail.into(),
        }
    }
}
