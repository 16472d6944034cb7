//! The one mapping from `wcodec::Error` to Python exceptions.
//!
//! The exception classes are defined in Python (`wcodec/errors.py`) so that they can also derive
//! from the built-in class a Python user would catch (`KeyError` for a missing tensor,
//! `FileNotFoundError` for a missing file); this module only imports them.

use std::path::Path;

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

pyo3::import_exception!(wcodec.errors, WcodecError);
pyo3::import_exception!(wcodec.errors, CorruptFileError);
pyo3::import_exception!(wcodec.errors, UnsupportedVersionError);
pyo3::import_exception!(wcodec.errors, UnsupportedFormatError);
pyo3::import_exception!(wcodec.errors, TensorNotFoundError);
pyo3::import_exception!(wcodec.errors, WcodecIOError);
pyo3::import_exception!(wcodec.errors, WcodecFileNotFoundError);
pyo3::import_exception!(wcodec.errors, CudaUnavailableError);
pyo3::import_exception!(wcodec.errors, CudaError);

/// An error on its way to Python, from the core or from Python itself: lets every
/// `#[pyfunction]` use `?` on both.
pub(crate) enum PyWcodecError {
    /// A core error, mapped by the table below.
    Core(wcodec::Error),
    /// A GPU decoder error.
    Cuda(wcodec_cuda::Error),
    /// Already a Python exception (argument checks, conversions).
    Py(PyErr),
}

impl From<wcodec_cuda::Error> for PyWcodecError {
    fn from(e: wcodec_cuda::Error) -> Self {
        PyWcodecError::Cuda(e)
    }
}

impl From<wcodec::Error> for PyWcodecError {
    fn from(e: wcodec::Error) -> Self {
        PyWcodecError::Core(e)
    }
}

impl From<PyErr> for PyWcodecError {
    fn from(e: PyErr) -> Self {
        PyWcodecError::Py(e)
    }
}

impl From<PyWcodecError> for PyErr {
    fn from(e: PyWcodecError) -> PyErr {
        match e {
            PyWcodecError::Core(e) => core_to_py(&e),
            PyWcodecError::Cuda(e) => cuda_in_file(e, None).into(),
            PyWcodecError::Py(e) => e,
        }
    }
}

/// Missing pieces (driver, NVRTC, a kernel that does not build for this GPU) mean the GPU decoder
/// cannot run here, which `fallback="cpu"` handles; corrupt data is a corrupt file whatever
/// decoder found it (named, with what to do, as the CPU decoder's errors are); the rest is a
/// CUDA failure. `path` is the file being decoded.
pub(crate) fn cuda_in_file(e: wcodec_cuda::Error, path: Option<&Path>) -> PyWcodecError {
    use wcodec_cuda::Error as E;
    let msg = e.to_string();
    PyWcodecError::Py(match e {
        // A feature the GPU decoder lacks: the CPU decoder reads it.
        E::Format(core) if matches!(core.root(), wcodec::Error::Unsupported(_)) => {
            CudaUnavailableError::new_err(msg)
        }
        E::Format(core) => core_to_py(&match path {
            Some(p) => core.in_file(p),
            None => core,
        }),
        E::DriverMissing(_) | E::NvrtcMissing(_) | E::Compile { .. } => {
            CudaUnavailableError::new_err(msg)
        }
        E::CorruptChunk { .. } | E::CorruptTile { .. } | E::Checksum { .. } => {
            CorruptFileError::new_err(match path {
                Some(p) => format!(
                    "`{}` is damaged ({msg}); download it again, or encode the original \
                     checkpoint again with wcodec-encode",
                    p.display()
                ),
                None => msg,
            })
        }
        E::InvalidArgument(_) => PyValueError::new_err(msg),
        _ => CudaError::new_err(msg),
    })
}

fn core_to_py(e: &wcodec::Error) -> PyErr {
    {
        use wcodec::Error as E;
        // The message is the whole error (with the file's path and what to do); the class is
        // chosen by what is wrong underneath.
        let msg = e.to_string();
        match e.root() {
            E::Io { op, cause, path } => {
                // OSError(errno, strerror, filename) prints "[Errno 2] open: No such file or
                // directory: 'path'" and sets `.errno` and `.filename` as Python code expects.
                let errno = cause.raw_os_error().unwrap_or(0);
                let text = cause.to_string();
                let text = text.split(" (os error").next().unwrap_or(&text);
                let args = (
                    errno,
                    format!("{op}: {text}"),
                    path.to_string_lossy().into_owned(),
                );
                if cause.kind() == std::io::ErrorKind::NotFound {
                    WcodecFileNotFoundError::new_err(args)
                } else {
                    WcodecIOError::new_err(args)
                }
            }
            E::NotWcodec { .. }
            | E::Truncated { .. }
            | E::Corrupt(_)
            | E::CorruptTensor { .. }
            | E::Checksum { .. } => CorruptFileError::new_err(msg),
            E::UnsupportedVersion { .. } => UnsupportedVersionError::new_err(msg),
            E::InvalidSource { .. } | E::UnsupportedDtype(_) | E::Unsupported(_) => {
                UnsupportedFormatError::new_err(msg)
            }
            E::TensorNotFound(_) => TensorNotFoundError::new_err(msg),
            E::BufferSize { .. } | E::InvalidInput(_) => PyValueError::new_err(msg),
            _ => WcodecError::new_err(msg),
        }
    }
}

/// Result of a shim.
pub(crate) type PyResult<T> = std::result::Result<T, PyWcodecError>;
