//! Whole-file operations: encode, decode (rebuild the original files), verify.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use wcodec::{DecodeOptions, EncodeOptions, NoProgress, Predictor, TileOptions, Transform};

use crate::errors::PyResult;

/// Runs `f` on a pool of `threads` workers, or on the global pool when `None`.
fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> wcodec::Result<T> + Send,
) -> PyResult<T> {
    match threads {
        None => Ok(f()?),
        Some(0) => Err(PyValueError::new_err("threads must be at least 1").into()),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyValueError::new_err(format!("cannot start {n} threads: {e}")))?;
            Ok(pool.install(f)?)
        }
    }
}

/// Encoder options from the Python arguments (names checked by the core's parsers).
fn options(
    overwrite: bool,
    chunk_symbols: Option<u64>,
    tile_size: u32,
    predictors: Option<&[String]>,
    transforms: Option<&[String]>,
    tile_decode_cost: Option<u32>,
) -> PyResult<EncodeOptions> {
    let defaults = TileOptions::default();
    let tiles = TileOptions {
        tile_size,
        predictors: match predictors {
            None => defaults.predictors,
            Some(names) => names
                .iter()
                .map(|p| p.parse::<Predictor>())
                .collect::<wcodec::Result<_>>()?,
        },
        transforms: match transforms {
            None => defaults.transforms,
            Some(names) => names
                .iter()
                .map(|t| t.parse::<Transform>())
                .collect::<wcodec::Result<_>>()?,
        },
        decode_cost: tile_decode_cost.unwrap_or(defaults.decode_cost),
    };
    let mut options = EncodeOptions {
        overwrite,
        tiles,
        ..EncodeOptions::default()
    };
    if let Some(c) = chunk_symbols {
        options.chunk_symbols = c;
    }
    options.validate()?;
    Ok(options)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stats serialize")
}

/// Runs `f` with the GIL released, on `threads` worker threads ([`with_threads`]), and returns
/// its summary as JSON: the shape of every file-level call of this module.
fn detached_json<T: serde::Serialize + Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce() -> wcodec::Result<T> + Send,
) -> PyResult<String> {
    let stats = py.detach(|| with_threads(threads, f))?;
    Ok(to_json(&stats))
}

/// Encodes a safetensors file or a model directory; returns the summary as JSON.
#[pyfunction]
#[pyo3(signature = (
    input, output, *, threads=None, overwrite=false, chunk_symbols=None, tile_size=16,
    predictors=None, transforms=None, tile_decode_cost=None,
))]
#[allow(clippy::too_many_arguments)] // keyword arguments of one Python call
pub(crate) fn encode(
    py: Python<'_>,
    input: PathBuf,
    output: PathBuf,
    threads: Option<usize>,
    overwrite: bool,
    chunk_symbols: Option<u64>,
    tile_size: u32,
    predictors: Option<Vec<String>>,
    transforms: Option<Vec<String>>,
    tile_decode_cost: Option<u32>,
) -> PyResult<String> {
    let options = options(
        overwrite,
        chunk_symbols,
        tile_size,
        predictors.as_deref(),
        transforms.as_deref(),
        tile_decode_cost,
    )?;
    detached_json(py, threads, || {
        wcodec::encode_path(&input, &output, &options, &NoProgress)
    })
}

/// Encodes a safetensors file image held in memory into `output`; returns the summary as JSON.
#[pyfunction]
#[pyo3(signature = (
    data, output, *, file_name="model.safetensors", threads=None, overwrite=false, tile_size=16,
    predictors=None, transforms=None, tile_decode_cost=None,
))]
#[allow(clippy::too_many_arguments)] // keyword arguments of one Python call
pub(crate) fn encode_bytes(
    py: Python<'_>,
    data: &[u8],
    output: PathBuf,
    file_name: &str,
    threads: Option<usize>,
    overwrite: bool,
    tile_size: u32,
    predictors: Option<Vec<String>>,
    transforms: Option<Vec<String>>,
    tile_decode_cost: Option<u32>,
) -> PyResult<String> {
    let options = options(
        overwrite,
        None,
        tile_size,
        predictors.as_deref(),
        transforms.as_deref(),
        tile_decode_cost,
    )?;
    detached_json(py, threads, || {
        if output.exists() && !options.overwrite {
            return Err(wcodec::Error::InvalidInput(format!(
                "output `{}` already exists (pass overwrite=True to replace it)",
                output.display()
            )));
        }
        let mut out = wcodec::io::AtomicFile::create(&output)?;
        let stats = wcodec::encode_bytes(data, file_name, &options, out.writer(), &NoProgress)?;
        out.commit()?;
        Ok(stats)
    })
}

/// Rebuilds the original file(s) of a `.wcodec` file or encoded directory; returns JSON stats.
#[pyfunction]
#[pyo3(signature = (input, output, *, threads=None, overwrite=false))]
pub(crate) fn decode(
    py: Python<'_>,
    input: PathBuf,
    output: PathBuf,
    threads: Option<usize>,
    overwrite: bool,
) -> PyResult<String> {
    let options = DecodeOptions { overwrite };
    detached_json(py, threads, || {
        wcodec::decode_path(&input, &output, &options, &NoProgress)
    })
}

/// Compares an original checkpoint (file or directory) with a decoded one; returns JSON.
#[pyfunction]
pub(crate) fn verify(py: Python<'_>, original: PathBuf, decoded: PathBuf) -> PyResult<String> {
    let report = py.detach(|| wcodec::verify(&original, &decoded))?;
    Ok(to_json(&report))
}

/// Runs a command-line tool (`wcodec`, `wcodec-encode`, `wcodec-decode`, `wcodec-verify`) with
/// `argv` (program name first); returns its exit code. The console scripts of the Python package
/// call this, so they behave exactly as the Rust binaries.
#[pyfunction]
pub(crate) fn run_cli(py: Python<'_>, tool: &str, argv: Vec<String>) -> PyResult<i32> {
    let run: fn(Vec<String>) -> i32 = match tool {
        "wcodec" => wcodec_cli::run,
        "wcodec-encode" => wcodec_cli::run_encode,
        "wcodec-decode" => wcodec_cli::run_decode,
        "wcodec-verify" => wcodec_cli::run_verify,
        other => return Err(PyValueError::new_err(format!("unknown tool `{other}`")).into()),
    };
    Ok(py.detach(|| run(argv)))
}
