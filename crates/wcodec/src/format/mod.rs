//! The `.wcodec` container (format.md §1–3): the fixed preamble and the DEFLATE-compressed JSON
//! header. Every number read from a file is checked before it is used.

pub mod header;
pub mod preamble;

/// `\x89WCD\r\n\x1a\n`: a non-ASCII first byte and CR/LF/^Z catch text-mode transfer damage.
pub const MAGIC: [u8; 8] = [0x89, b'W', b'C', b'D', b'\r', b'\n', 0x1A, b'\n'];
/// The newest format version this build reads and writes. Version 2 added tiled planes
/// (format.md §6); the encoder writes it only for files that use them.
pub const VERSION: u32 = 2;
/// The version of files whose planes are all flat: they stay readable by version-1 readers.
pub const VERSION_FLAT: u32 = 1;
/// The first version with tiled planes.
pub const VERSION_TILES: u32 = 2;
/// Size of the fixed preamble; also where the payload starts.
pub const PREAMBLE_BYTES: u64 = 64;
/// Cap on the inflated header, as safetensors caps its own header: bounds the allocation a
/// hostile file can cause before anything else is checked.
pub const MAX_HEADER_JSON_BYTES: u64 = 100_000_000;
/// Alignment of tensor regions: a cache line, and 16-byte vector loads on a GPU.
pub const REGION_ALIGN: u64 = 64;
/// Default symbols per chunk: 32 lanes × 2048 steps. A GPU decodes one chunk per warp, so a
/// ~20 MB tensor must split into a few hundred chunks to fill the card; 65,536-symbol chunks do
/// that, where 262,144 left most of an H200 idle (docs/benchmarks.md). The 128 bytes of lane
/// state and the 4-byte chunk-table entry per chunk cost 0.110–0.116% of the original size more
/// than 262,144-symbol chunks on the public test set; `--chunk-symbols 262144` gets them back
/// for files only ever decoded on CPUs.
pub const DEFAULT_CHUNK_SYMBOLS: u64 = 1 << 16;
/// Smallest and largest `chunk_symbols` a file may use.
pub const MIN_CHUNK_SYMBOLS: u64 = 1 << 12;
/// See [`MIN_CHUNK_SYMBOLS`].
pub const MAX_CHUNK_SYMBOLS: u64 = 1 << 20;
