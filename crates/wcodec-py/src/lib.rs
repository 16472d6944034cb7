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
use wcodec::format::{DEFAULT_CHUNK_SYMBOLS, MAX_CHUNK_SYMBOLS, MIN_CHUNK_SYMBOLS};
use wcodec::tile::{DEFAULT_TILE_SIZE, MAX_TILE_SIZE, MIN_TILE_SIZE};
use wcodec::{Predictor, TileOptions, Transform};

/// The encoder's option names and ranges, so that the Python layer checks arguments by the
/// core's rules instead of a copy of them.
fn add_encoder_options(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let defaults = TileOptions::default();
    let names = |it: &mut dyn Iterator<Item = &'static str>| it.collect::<Vec<_>>();
    m.add(
        "PREDICTORS",
        names(&mut Predictor::ALL.iter().map(|p| p.name())),
    )?;
    m.add(
        "TRANSFORMS",
        names(&mut Transform::ALL.iter().map(|t| t.name())),
    )?;
    m.add(
        "DEFAULT_PREDICTORS",
        names(&mut defaults.predictors.iter().map(|p| p.name())),
    )?;
    m.add(
        "DEFAULT_TRANSFORMS",
        names(&mut defaults.transforms.iter().map(|t| t.name())),
    )?;
    m.add(
        "TILE_SIZES",
        (MIN_TILE_SIZE, MAX_TILE_SIZE, DEFAULT_TILE_SIZE),
    )?;
    m.add(
        "CHUNK_SYMBOLS",
        (MIN_CHUNK_SYMBOLS, MAX_CHUNK_SYMBOLS, DEFAULT_CHUNK_SYMBOLS),
    )?;
    Ok(())
}

/// The native module.
#[pymodule]
fn _wcodec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    add_encoder_options(m)?;
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
    m.add_function(wrap_pyfunction!(cuda::cuda_param_ranges, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::cuda_staging_stats, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::release_staging, m)?)?;
    Ok(())
}
