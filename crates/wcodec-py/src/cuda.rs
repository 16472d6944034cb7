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
/// compiles or loads the cached kernels: the first call on a device takes a moment). The Python
/// layer asks this once per device before its first GPU load, so a decoder that runs starts
/// allocating its pinned staging in the background here ([`CudaDecoder::prewarm`]).
#[pyfunction]
pub(crate) fn cuda_decoder_error(py: Python<'_>, ordinal: usize) -> Option<String> {
    py.detach(|| match decoder(ordinal) {
        Ok(dec) => {
            dec.prewarm();
            None
        }
        Err(e) => Some(e.to_string()),
    })
}

/// Where NVRTC is (the library or its directory); must precede the first decoder.
#[pyfunction]
pub(crate) fn set_nvrtc_path(path: PathBuf) -> PyResult<()> {
    Ok(wcodec_cuda::set_nvrtc_path(path)?)
}

/// The GPU decoder's tunables as `{name: (default, low, high)}`: the one definition of their
/// ranges and defaults (`wcodec-cuda`), which the Python API reads.
#[pyfunction]
pub(crate) fn cuda_param_ranges() -> Vec<(&'static str, u32, u32, u32)> {
    use wcodec_cuda::{CHUNKS_PER_BLOCK, STAGING_MIB, STREAMS};
    let d = DecodeParams::default();
    vec![
        (
            "chunks_per_block",
            d.chunks_per_block,
            *CHUNKS_PER_BLOCK.start(),
            *CHUNKS_PER_BLOCK.end(),
        ),
        ("streams", d.streams, *STREAMS.start(), *STREAMS.end()),
        (
            "staging_mib",
            (d.staging_bytes >> 20) as u32,
            *STAGING_MIB.start(),
            *STAGING_MIB.end(),
        ),
    ]
}

/// Sets the GPU decoder parameters of the process (validated by `wcodec-cuda`).
#[pyfunction]
pub(crate) fn set_cuda_params(
    chunks_per_block: u32,
    streams: u32,
    staging_mib: u32,
) -> PyResult<()> {
    let params = DecodeParams {
        chunks_per_block,
        streams,
        staging_bytes: u64::from(staging_mib) << 20,
        ..DecodeParams::default()
    };
    params
        .validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    *PARAMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(params);
    Ok(())
}

/// What the staging pool of device `ordinal`'s decoder holds and has allocated, as a dict-like
/// list of pairs (`None` when that decoder was never created).
#[pyfunction]
pub(crate) fn cuda_staging_stats(ordinal: usize) -> Option<Vec<(&'static str, u64)>> {
    let dec = CudaDecoder::existing(ordinal)?;
    let s = dec.staging_stats();
    Some(vec![
        ("slots", s.slots as u64),
        ("pinned_bytes", s.pinned_bytes),
        ("device_bytes", s.device_bytes),
        ("allocations", s.allocations),
        ("leases", s.leases),
    ])
}

/// Frees the staging memory every GPU decoder of the process keeps between loads, and the CPU
/// loader's host buffers; returns the number of GPU staging slots freed.
#[pyfunction]
pub(crate) fn release_staging(py: Python<'_>) -> PyResult<usize> {
    py.detach(|| {
        wcodec::load::release_host_buffers();
        let mut n = 0;
        for dec in CudaDecoder::all_existing() {
            n += dec.release_staging()?;
        }
        Ok::<_, wcodec_cuda::Error>(n)
    })
    .map_err(Into::into)
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
