//! The GPU decoder (`wcodec-cuda`) as the Python layer sees it: availability, parameters, and the
//! decode of tensors into device memory torch allocated.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use wcodec_cuda::{CudaDecoder, DecodeParams};

use crate::errors::PyResult;

/// Parameters for every decoder, set by `wcodec.set_decode_params` (the decoders are created
/// lazily, per device, so they pick these up at their next call).
static PARAMS: Mutex<Option<DecodeParams>> = Mutex::new(None);

pub(crate) fn wanted_params() -> DecodeParams {
    PARAMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

/// Number of CUDA devices the driver reports (0 without a driver).
#[pyfunction]
pub(crate) fn cuda_device_count() -> usize {
    wcodec_cuda::device_count()
}

/// Why the GPU decoder cannot run on device `ordinal`, or `None` when it can (loads the driver,
/// compiles or loads the cached kernels: the first call on a device takes a moment).
#[pyfunction]
pub(crate) fn cuda_decoder_error(py: Python<'_>, ordinal: usize) -> Option<String> {
    py.detach(|| {
        CudaDecoder::for_device(ordinal)
            .err()
            .map(|e| e.to_string())
    })
}

/// Where NVRTC is (the library or its directory); must precede the first decoder.
#[pyfunction]
pub(crate) fn set_nvrtc_path(path: PathBuf) -> PyResult<()> {
    Ok(wcodec_cuda::set_nvrtc_path(path)?)
}

/// Sets the GPU decoder parameters of the process.
#[pyfunction]
pub(crate) fn set_cuda_params(
    chunks_per_block: u32,
    streams: u32,
    use_tensor_cores: bool,
) -> PyResult<()> {
    if !(1..=8).contains(&chunks_per_block) || !(1..=16).contains(&streams) {
        return Err(PyValueError::new_err(format!(
            "tiles_per_block must be in [1, 8] and streams in [1, 16], not {chunks_per_block} and {streams}"
        ))
        .into());
    }
    let params = DecodeParams {
        chunks_per_block,
        streams,
        use_tensor_cores,
        ..DecodeParams::default()
    };
    *PARAMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(params);
    Ok(())
}

/// The decoder of device `ordinal`, with the process's parameters applied.
pub(crate) fn decoder(ordinal: usize) -> wcodec_cuda::Result<std::sync::Arc<CudaDecoder>> {
    let dec = CudaDecoder::for_device(ordinal)?;
    let wanted = wanted_params();
    if dec.params() != wanted {
        dec.set_params(wanted)?;
    }
    Ok(dec)
}
