//! The one error type of the core library.
//!
//! Variants say what went wrong in terms a caller can act on; fields carry the evidence (what was
//! found, what was expected, which tensor). Messages are lowercase with no trailing period.

use std::path::{Path, PathBuf};

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
    /// The caller stopped the operation through its [`crate::Progress`] sink
    /// ([`crate::Progress::cancelled`]); no output was left behind.
    #[error("cancelled by the caller")]
    Cancelled,
    /// An error about one file's contents, with the file's path: the message names the file,
    /// says what is wrong in plain terms, then the codec's detail, then what to do about it.
    /// [`Error::root`] is the error underneath.
    // `error` is not named `source`, so that chains printed with `{:#}` do not repeat it.
    #[error("{}", in_file_message(path, error))]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: Box<Error>,
    },
}

/// Result alias of the core library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error underneath any file context: what callers match on to classify an error.
    #[must_use]
    pub fn root(&self) -> &Error {
        match self {
            Error::InFile { error, .. } => error.root(),
            other => other,
        }
    }

    /// The file this error is about, where it names one.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::InFile { path, .. } | Error::Io { path, .. } => Some(path),
            _ => None,
        }
    }

    /// This error, naming `path` when it is about the contents of that file (damaged, truncated,
    /// not a wcodec file, a newer version, …). Errors that name a path already, and the
    /// caller's own mistakes (a bad argument, an unknown tensor name), are returned unchanged.
    #[must_use]
    pub fn in_file(self, path: &Path) -> Error {
        match self {
            Error::NotWcodec { .. }
            | Error::Truncated { .. }
            | Error::UnsupportedVersion { .. }
            | Error::Corrupt(_)
            | Error::CorruptTensor { .. }
            | Error::Checksum { .. }
            | Error::InvalidSource { .. }
            | Error::UnsupportedDtype(_)
            | Error::Unsupported(_) => Error::InFile {
                path: path.to_path_buf(),
                error: Box::new(self),
            },
            other => other,
        }
    }

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

/// `` `path`: what is wrong (detail); what to do ``. The first words are for the person who has
/// to act (which file, damaged or just incomplete); the codec's own words follow in parentheses.
fn in_file_message(path: &Path, error: &Error) -> String {
    let path = path.display();
    let (what, todo) = match error {
        Error::NotWcodec { .. } => (
            "is not a .wcodec file",
            "pass a file written by wcodec-encode (plain .safetensors files load without wcodec)",
        ),
        Error::Truncated { .. } => (
            "is incomplete, cut short while downloading or copying",
            "download or copy it again",
        ),
        Error::UnsupportedVersion { .. } => (
            "was written by a newer wcodec than this one",
            "upgrade wcodec (`pip install -U wcodec`)",
        ),
        Error::Corrupt(_) | Error::CorruptTensor { .. } | Error::Checksum { .. } => (
            "is damaged",
            "download it again, or encode the original checkpoint again with wcodec-encode",
        ),
        Error::InvalidSource { .. } => (
            "is not a valid checkpoint file",
            "download the original file again",
        ),
        Error::UnsupportedDtype(_) => (
            "uses a dtype this build of wcodec cannot read",
            "upgrade wcodec (`pip install -U wcodec`)",
        ),
        Error::Unsupported(_) => (
            "uses a feature this decoder lacks",
            "decode it with the CPU decoder",
        ),
        other => return format!("`{path}`: {other}"),
    };
    format!("`{path}` {what} ({error}); {todo}")
}
