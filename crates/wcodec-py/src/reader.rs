//! `Reader`: an open `.wcodec` file, shared by every Python thread that decodes from it.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wcodec::Archive;

use crate::errors::PyResult;
use crate::memory::{caller_buffers, CallerBuffer};

/// An open `.wcodec` file (memory-mapped). Private API: `wcodec.open` wraps it.
///
/// Immutable once opened, so one `Reader` may serve many threads at once; every decode releases
/// the GIL.
#[pyclass(frozen, module = "wcodec._wcodec")]
pub(crate) struct Reader {
    archive: Archive,
}

/// Bytes of one packed job: three little-endian `u64`.
const JOB_BYTES: usize = 24;

/// A packed address or size as a host `usize` (an error, not a truncation, on 32-bit hosts).
fn host_word(v: u64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| {
        PyValueError::new_err(format!("job {what} {v:#x} does not fit this host")).into()
    })
}

impl Reader {
    /// The jobs of a batch as the Python layer packs them (`array('Q')` of `(index, address,
    /// nbytes)` triples, little-endian): one buffer for the whole batch instead of one Python
    /// object per tensor. Every index is checked against the file.
    fn unpack_jobs(&self, jobs: &[u8]) -> PyResult<Vec<(u64, u64, u64)>> {
        if !jobs.len().is_multiple_of(JOB_BYTES) {
            return Err(PyValueError::new_err(format!(
                "packed jobs must be a multiple of {JOB_BYTES} bytes (u64 index, address, \
                 nbytes), not {}",
                jobs.len()
            ))
            .into());
        }
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        jobs.chunks_exact(JOB_BYTES)
            .map(|j| {
                let index = word(&j[..8]);
                self.check_index(usize::try_from(index).unwrap_or(usize::MAX))?;
                Ok((index, word(&j[8..16]), word(&j[16..])))
            })
            .collect()
    }

    fn check_index(&self, index: usize) -> PyResult<()> {
        let n = self.archive.tensors().len();
        if index >= n {
            return Err(PyValueError::new_err(format!(
                "tensor index {index} out of range (the file has {n})"
            ))
            .into());
        }
        Ok(())
    }
}

#[pymethods]
impl Reader {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let archive = py.detach(|| Archive::open(&path))?;
        Ok(Reader { archive })
    }

    /// The path the file was opened from.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.archive.path().map(PathBuf::from)
    }

    /// XXH3-64 of the stored header: identifies the file's content (it covers every tensor's
    /// checksum) without reading the payload.
    #[getter]
    fn header_xxh3(&self) -> u64 {
        self.archive.header_xxh3()
    }

    /// Size of the `.wcodec` file.
    #[getter]
    fn file_bytes(&self) -> u64 {
        self.archive.file_bytes()
    }

    /// Size of the rebuilt source file.
    #[getter]
    fn source_bytes(&self) -> u64 {
        self.archive.source_bytes()
    }

    /// The source format (`safetensors`).
    #[getter]
    fn source_format(&self) -> &str {
        &self.archive.header().source.format
    }

    /// The source file's name.
    #[getter]
    fn source_file_name(&self) -> &str {
        &self.archive.header().source.file_name
    }

    /// The source header (the safetensors JSON), verbatim.
    #[getter]
    fn source_header(&self) -> &str {
        &self.archive.header().source.header
    }

    /// Format version of the file.
    #[getter]
    fn version(&self) -> u32 {
        self.archive.header().version
    }

    /// `(name, dtype, shape, nbytes)` of every tensor, in payload order; dtype as safetensors
    /// spells it.
    fn tensors(&self) -> Vec<(String, &'static str, Vec<u64>, u64)> {
        self.archive
            .tensors()
            .iter()
            .map(|t| (t.name.clone(), t.dtype.name(), t.shape.clone(), t.raw_bytes))
            .collect()
    }

    /// The tensor table as columns, in payload order: `(names, dtypes, shapes, nbytes)`, the
    /// columnar form of `tensors()` that the Python layer keeps (no tuple per tensor).
    #[allow(clippy::type_complexity)]
    fn table(&self) -> (Vec<String>, Vec<&'static str>, Vec<Vec<u64>>, Vec<u64>) {
        let ts = self.archive.tensors();
        (
            ts.iter().map(|t| t.name.clone()).collect(),
            ts.iter().map(|t| t.dtype.name()).collect(),
            ts.iter().map(|t| t.shape.clone()).collect(),
            ts.iter().map(|t| t.raw_bytes).collect(),
        )
    }

    /// Index of the tensor called `name` (raises `TensorNotFoundError`).
    fn find(&self, name: &str) -> PyResult<usize> {
        Ok(self.archive.find(name)?)
    }

    /// Decodes tensor `index` into a new `bytes` object.
    fn decode_bytes<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.detach(|| self.archive.decode(index))?;
        Ok(PyBytes::new(py, &out))
    }

    /// Decodes tensors into caller memory: `jobs` packs one `(index, address, nbytes)` triple
    /// of little-endian `u64` per tensor (see [`unpack_jobs`]), each address the start of a
    /// writable, contiguous host buffer of `nbytes` bytes that no other job shares and that
    /// stays alive during the call (the Python layer passes the `data_ptr()` of tensors it
    /// holds). All jobs are decoded in one parallel pass with the GIL released.
    fn decode_into(&self, py: Python<'_>, jobs: &[u8]) -> PyResult<()> {
        let jobs = self.unpack_jobs(jobs)?;
        let mut buffers = Vec::with_capacity(jobs.len());
        for &(_, address, nbytes) in &jobs {
            buffers.push(CallerBuffer {
                address: host_word(address, "address")?,
                nbytes: host_word(nbytes, "nbytes")?,
            });
        }
        py.detach(|| {
            // SAFETY: the Python layer (`wcodec/_reader.py`, `_load_into.py`) passes the
            // `data_ptr()` of contiguous CPU tensors of exactly `nbytes` bytes that it hands to
            // no one else and keeps referenced until this call returns.
            #[allow(unsafe_code)]
            let slices = unsafe { caller_buffers(&buffers)? };
            let work = jobs.iter().map(|j| j.0 as usize).zip(slices).collect();
            self.archive.decode_many_into(work)?;
            Ok(())
        })
    }

    /// Decodes bytes `[start, start + nbytes)` of tensor `index` into caller memory at
    /// `address` (same contract as `decode_into`), decoding only the chunks (and rows of tiles)
    /// that cover them; the whole-tensor checksum is not checked (see `wcodec::slice`). Returns
    /// the number of chunks decoded.
    fn decode_range_into(
        &self,
        py: Python<'_>,
        index: usize,
        start: u64,
        address: usize,
        nbytes: usize,
    ) -> PyResult<u64> {
        self.check_index(index)?;
        py.detach(|| {
            // SAFETY: as in `decode_into`: `address` is the `data_ptr()` of a contiguous CPU
            // tensor of exactly `nbytes` bytes that the Python layer has just allocated and
            // keeps referenced until this call returns.
            #[allow(unsafe_code)]
            let mut out = unsafe { caller_buffers(&[CallerBuffer { address, nbytes }])? };
            Ok(self.archive.decode_range_into(index, start, out[0])?.chunks)
        })
    }

    /// Chunks of every stream of tensor `index`: what a full decode decodes, to compare with
    /// what `decode_range_into` reports.
    fn tensor_chunks(&self, index: usize) -> PyResult<u64> {
        self.check_index(index)?;
        Ok(wcodec::slice::tensor_chunks(&self.archive.tensors()[index]))
    }

    /// Decodes tensors on the GPU into device memory: `jobs` packs `(index, device address,
    /// nbytes)` triples as `decode_into` does, on CUDA device `device` (torch tensors'
    /// `data_ptr()`), ordered after the work queued on `stream` (a raw `CUstream`, torch's
    /// `cuda_stream`). Returns once the data is decoded and verified. The destinations are
    /// checked by the driver (device, size, alignment, allocation range) before anything runs.
    fn decode_into_cuda(
        &self,
        py: Python<'_>,
        jobs: &[u8],
        device: usize,
        stream: u64,
    ) -> PyResult<()> {
        let jobs: Vec<wcodec_cuda::DeviceJob> = self
            .unpack_jobs(jobs)?
            .into_iter()
            .map(|(tensor, dst, dst_bytes)| wcodec_cuda::DeviceJob {
                tensor: tensor as usize,
                dst,
                dst_bytes,
            })
            .collect();
        py.detach(|| {
            let dec = crate::cuda::decoder(device)?;
            dec.decode_tensors(&self.archive, &jobs, stream)
                .map_err(|e| crate::errors::cuda_in_file(e, self.archive.path()))?;
            Ok(())
        })
    }

    /// Rebuilds the source file at `output` (atomically; never over the input).
    #[pyo3(signature = (output, overwrite=false))]
    fn write_source(&self, py: Python<'_>, output: PathBuf, overwrite: bool) -> PyResult<u64> {
        let input = self.archive.path().map(PathBuf::from).unwrap_or_default();
        Ok(py.detach(|| -> wcodec::Result<u64> {
            wcodec::io::check_output(&input, &output, overwrite)?;
            let mut out = wcodec::io::AtomicFile::create(&output)?;
            let n = self
                .archive
                .write_source(out.writer(), &wcodec::NoProgress)?;
            out.commit()?;
            Ok(n)
        })?)
    }

    fn __repr__(&self) -> String {
        format!(
            "Reader('{}', {} tensors)",
            self.archive
                .path()
                .unwrap_or_else(|| std::path::Path::new("<memory>"))
                .display(),
            self.archive.tensors().len()
        )
    }
}
