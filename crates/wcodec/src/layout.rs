//! Where a tensor's stored bytes lie in its file, chunk by chunk (format.md §5): what a decoder
//! that does not run this crate's CPU code (the GPU decoder in `wcodec-cuda`) needs in order to
//! upload the bytes and launch its kernels.
//!
//! The layout is produced by the same validating parser as the CPU decoder
//! ([`crate::plane_coding::PlaneView::parse`]), so every offset and size in it has been checked against
//! the file: padding is zero, chunk sizes obey the format's rules, and every span lies inside its
//! plane, its tensor region and the file. What it does *not* check is the content of rANS
//! chunks (states and words), nor the mode ids of tiled planes; a decoder checks those while
//! decoding (format.md §5.4, §6.2).

use crate::error::{Error, Result};
use crate::format::header::{Encoding, TensorEntry};
use crate::plane_coding::PlaneView;
use crate::rans::freq::DecodeTable;
use crate::tensor::stream_views;
use crate::tile::{plane_bias, Grid};

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
    /// The planes in plane order (plane 0 is the most significant byte). For a tiled plane
    /// this is its residual plane (format.md §6.1).
    pub planes: Vec<StoredPlane>,
    /// Present when some plane is tiled (format version 2).
    pub tiles: Option<TilesLayout>,
}

/// How the tiled planes of a tensor are rebuilt (format.md §6.5).
pub struct TilesLayout {
    /// The 2-D view of every plane and its tile grid.
    pub grid: Grid,
    /// Per plane, in plane order: its mode plane (`grid.n_tiles()` symbols, chunked with the
    /// tensor's `chunk_symbols`) when the plane is tiled, `None` when it is flat.
    pub modes: Vec<Option<StoredPlane>>,
    /// Per plane: the byte XORed into values before prediction (format.md §6.3).
    pub bias: Vec<u8>,
}

/// One stored plane.
pub enum StoredPlane {
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
            let (views, modes) = stream_views(entry, file)?;
            let base = file.as_ptr() as usize;
            let layout_of = |view: PlaneView<'_>| match view {
                PlaneView::Raw(bytes) => StoredPlane::Raw {
                    offset: (bytes.as_ptr() as usize - base) as u64,
                },
                PlaneView::Rans { table, chunks } => StoredPlane::Rans {
                    table,
                    chunks: chunks
                        .iter()
                        .map(|c| ChunkSpan {
                            offset: (c.as_ptr() as usize - base) as u64,
                            bytes: c.len() as u64,
                        })
                        .collect(),
                },
            };
            let tiles = match entry.tile_grid() {
                Some(grid) if modes.iter().any(Option::is_some) => Some(TilesLayout {
                    grid,
                    bias: (0..modes.len())
                        .map(|p| plane_bias(entry.dtype, p))
                        .collect(),
                    modes: modes.into_iter().map(|m| m.map(layout_of)).collect(),
                }),
                _ => None,
            };
            Ok(TensorStorage::Planes(PlanesLayout {
                n_symbols: entry.plane_symbols(),
                chunk_symbols: entry.chunk_symbols.unwrap_or_default(),
                planes: views.into_iter().map(layout_of).collect(),
                tiles,
            }))
        }
    }
}
