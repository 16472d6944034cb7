//! Where a tensor's stored bytes lie in its file, chunk by chunk (format.md §5): what a decoder
//! that does not run this crate's CPU code (the GPU decoder in `wcodec-cuda`) needs in order to
//! upload the bytes and launch its kernels.
//!
//! The layout is produced by the same validating parser as the CPU decoder
//! ([`crate::plane::PlaneView::parse`]), so every offset and size in it has been checked against
//! the file: padding is zero, chunk sizes obey the format's rules, and every span lies inside its
//! plane, its tensor region and the file. What it does *not* check is the content of rANS
//! chunks (states and words); a decoder checks those while decoding (format.md §5.4).

use crate::error::{Error, Result};
use crate::format::header::{Encoding, TensorEntry};
use crate::plane::PlaneView;
use crate::rans::freq::DecodeTable;
use crate::tensor::plane_views;

/// How a tensor is stored, with absolute file offsets.
pub enum TensorStorage {
    /// The region holds the tensor's `raw_bytes` verbatim, from `offset`.
    Raw {
        /// Absolute file offset of the tensor bytes.
        offset: u64,
    },
    /// Symbol planes (format.md §5).
    Planes(PlanesLayout),
}

/// The planes of a `"planes"` tensor.
pub struct PlanesLayout {
    /// Symbols per plane (the tensor's word count).
    pub n_symbols: u64,
    /// Symbols per chunk; chunk `k` of every plane covers symbols
    /// `[k · chunk_symbols, min((k + 1) · chunk_symbols, n_symbols))`.
    pub chunk_symbols: u64,
    /// The planes in plane order (plane 0 is the most significant byte).
    pub planes: Vec<PlaneLayout>,
}

/// One stored plane.
pub enum PlaneLayout {
    /// The plane's `n_symbols` bytes verbatim, from `offset`.
    Raw {
        /// Absolute file offset of the plane.
        offset: u64,
    },
    /// A rANS plane: its decode table and one span per chunk.
    Rans {
        /// The plane's decode table (the same packed 4096 entries the CPU decoder uses).
        table: DecodeTable,
        /// Chunk `k`'s stored bytes. A span as long as the chunk's symbol count is a raw chunk
        /// (its bytes verbatim); a shorter one is an interleaved rANS stream (32 × u32 states,
        /// then 16-bit words).
        chunks: Vec<ChunkSpan>,
    },
}

/// Where one chunk's stored bytes lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    /// Absolute file offset (a multiple of 4).
    pub offset: u64,
    /// Stored bytes (without padding).
    pub bytes: u64,
}

/// Validates tensor `entry` of the file image `file` and returns where its bytes lie.
pub fn tensor_storage(entry: &TensorEntry, file: &[u8]) -> Result<TensorStorage> {
    match entry.encoding {
        Encoding::Raw => {
            entry
                .offset
                .checked_add(entry.raw_bytes)
                .filter(|&end| end <= file.len() as u64)
                .ok_or_else(|| Error::tensor(&entry.name, "region runs past the file"))?;
            Ok(TensorStorage::Raw {
                offset: entry.offset,
            })
        }
        Encoding::Planes => {
            let views = plane_views(entry, file)?;
            let base = file.as_ptr() as usize;
            let offset_of = |s: &[u8]| (s.as_ptr() as usize - base) as u64;
            let planes = views
                .into_iter()
                .map(|view| match view {
                    PlaneView::Raw(bytes) => PlaneLayout::Raw {
                        offset: offset_of(bytes),
                    },
                    PlaneView::Rans { table, chunks } => PlaneLayout::Rans {
                        table,
                        chunks: chunks
                            .iter()
                            .map(|c| ChunkSpan {
                                offset: offset_of(c),
                                bytes: c.len() as u64,
                            })
                            .collect(),
                    },
                })
                .collect();
            Ok(TensorStorage::Planes(PlanesLayout {
                n_symbols: entry.plane_symbols(),
                chunk_symbols: entry.chunk_symbols.unwrap_or_default(),
                planes,
            }))
        }
    }
}
