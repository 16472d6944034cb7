//! `wcodec._wcodec`: the native module of the Python package.
//!
//! Thin shims only: convert arguments, release the GIL, map errors once (`errors.rs`). The
//! public API, its documentation and everything torch-specific live in `python/wcodec/`.

// PyO3 extracts arguments as owned values (`PathBuf`, `Vec`); borrowing them is not an option.
#![allow(clippy::needless_pass_by_value)]

mod codec;
mod cuda;
mod errors;
mod memory;
mod reader;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _wcodec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<reader::Reader>()?;
    m.add_function(wrap_pyfunction!(codec::encode, m)?)?;
    m.add_function(wrap_pyfunction!(codec::encode_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(codec::decode, m)?)?;
    m.add_function(wrap_pyfunction!(codec::verify, m)?)?;
    m.add_function(wrap_pyfunction!(codec::run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::cuda_device_count, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::cuda_decoder_error, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::set_nvrtc_path, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::set_cuda_params, m)?)?;
    Ok(())
}
