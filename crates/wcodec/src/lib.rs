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
//! Module map: [`format`] (container), [`source`] (safetensors), [`dtype`] and [`byte_planes`]
//! (symbols), [`tile`] (per-tile prediction and reversible transforms), [`rans`] (entropy
//! coder), [`plane_coding`] and [`tensor`] (chunked coding), [`encoder`], [`archive`] and [`decoder`]
//! (files), [`slice`] (partial decodes of a byte range), [`dir`] (model directories), [`layout`] (where each chunk lies, for decoders outside
//! this crate such as the GPU one).
//!
//! Tiles are on by default ([`EncodeOptions::tiles`], [`TileOptions`]); a file in which no
//! plane gains from them is written exactly as without them.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod batch;
pub mod buffer;
pub mod byte_planes;
pub mod checksum;
pub mod decoder;
pub mod dir;
pub mod dtype;
pub mod encoder;
pub mod error;
pub mod format;
pub mod io;
pub mod layout;
pub mod load;
pub mod plane_coding;
pub mod progress;
pub mod rans;
pub mod slice;
pub mod source;
pub mod tensor;
#[cfg(test)]
mod test_rng;
pub mod tile;
pub mod verify;

pub use archive::Archive;
pub use decoder::{decode_file, DecodeOptions, DecodeStats};
pub use dir::{decode_path, encode_path};
pub use dtype::Dtype;
pub use encoder::{encode_bytes, encode_file, EncodeOptions, EncodeStats};
pub use error::{Error, Result};
pub use progress::{NoProgress, Progress};
pub use tile::{Predictor, TileOptions, Transform};
pub use verify::{verify, VerifyReport};
