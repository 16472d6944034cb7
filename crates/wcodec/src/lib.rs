//! # wcodec
//!
//! A lossless codec for neural-network checkpoints: safetensors files (and model directories)
//! become `.wcodec` files whose tensors decode bit-exactly, one at a time or all at once.
//!
//! * [`encode_path`] / [`decode_path`] turn a file or model directory into its encoded form and
//!   back (the rebuilt files are byte-identical to the originals);
//! * [`Archive`] opens a `.wcodec` file for random access ([`Archive::decode_into`] writes one
//!   tensor into a caller's buffer);
//! * [`verify()`] compares an original checkpoint with a decoded one.
//!
//! The format is specified in `docs/format.md`; this crate is its reference implementation.
//! The API is the facade below: the re-exported items, [`format`](mod@format) (the header types that
//! [`Archive::tensors`] returns), [`layout`] (where each chunk lies, for decoders outside this
//! crate such as the GPU one) and [`tile`] (tile options and geometry). Every other module is an
//! internal: private, or `#[doc(hidden)] pub` where a sibling crate of this workspace (the GPU
//! decoder, the C ABI, the CLI, the Python bindings) or this crate's tests, fuzz targets and
//! examples need it, as its declaration says; those carry no stability promise.
//! `ARCHITECTURE.md` at the repository root maps the modules.
//!
//! Tiles are on by default ([`EncodeOptions::tiles`], [`TileOptions`]); a file in which no
//! plane gains from them is written exactly as without them.
#![deny(unsafe_code)]
#![warn(missing_docs)]

// The public API.
pub mod format;
pub mod layout;
pub mod tile;

mod archive;
mod encoder;
mod error;
mod progress;
mod verify;

// Internals that sibling crates need (they are one product, versioned together); hidden from
// the documentation and outside any stability promise.
// Batching by byte budget: `wcodec-cuda` groups tiled tensors' scratch by the same rule.
#[doc(hidden)]
pub mod batch;
// Caller-buffer rules: the C ABI (`wcodec-ffi`), the GPU decoder (`wcodec-cuda`) and the Python
// shims (`wcodec-py`) check destinations with them, so every decoder refuses the same ones.
#[doc(hidden)]
pub mod buffer;
// Byte planes: the `gap` and `tiles` examples (development measurements) split tensors.
#[doc(hidden)]
pub mod byte_planes;
// Blocked checksums: `wcodec-cuda`'s kernels hash with the same block size.
#[doc(hidden)]
pub mod checksum;
// File-level decode: integration tests and fuzz targets write through `write_checked`.
#[doc(hidden)]
pub mod decoder;
// Model directories: the CLI (`wcodec-cli`) lists and recognises their files.
#[doc(hidden)]
pub mod dir;
// Dtypes and how they split: the CLI and `wcodec-cuda` (float planes) read the split.
#[doc(hidden)]
pub mod dtype;
// Atomic output files: the Python bindings write encoded files through them.
#[doc(hidden)]
pub mod io;
// Windowed reads of large files: `wcodec-cuda` and the Python bindings load through them.
#[doc(hidden)]
pub mod load;
// Plane coders: the CLI's `inspect` names them; the `gap` example measures them.
#[doc(hidden)]
pub mod plane_coding;
// The rANS coder: `wcodec-cuda` passes its constants to the kernels and reports its
// [`rans::ChunkError`]s; integration tests compare it with the oracle coder.
#[doc(hidden)]
pub mod rans;
// Partial decodes: the Python bindings' slices.
#[doc(hidden)]
pub mod slice;
// Safetensors sources: tests of every crate build their fixture files with it.
#[doc(hidden)]
pub mod source;
// Tensor coding: the `tiles` example reads the tile thresholds.
#[doc(hidden)]
pub mod tensor;
#[cfg(test)]
mod test_rng;

pub use archive::Archive;
pub use decoder::{decode_file, DecodeOptions, DecodeStats};
pub use dir::{decode_path, encode_path};
pub use dtype::Dtype;
pub use encoder::{encode_bytes, encode_file, EncodeOptions, EncodeStats};
pub use error::{Error, Result};
pub use progress::{NoProgress, Progress};
pub use tile::{Predictor, TileOptions, Transform};
pub use verify::{verify, Mismatch, VerifyReport};
