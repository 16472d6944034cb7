//! Interleaved rANS with static frequency tables: the entropy coder of format.md §5.
//!
//! # READ ME FIRST
//!
//! * **rANS encodes backwards.** The encoder walks a chunk from its last symbol to its first and
//!   emits 16-bit renormalisation words; reversed, they are in the order the decoder reads them.
//!   The decoder walks forwards and starts from the encoder's *final* states, which are stored at
//!   the head of the chunk (32 × u32).
//! * **32 interleaved lanes, one shared word stream.** Symbol `i` of a chunk belongs to lane
//!   `i mod 32`. At each step the lanes that need a word take consecutive words in lane order, so
//!   the lane interleaving needs no signalling: a GPU warp decodes a chunk with coalesced reads
//!   (a `ballot` + `popc` gives each lane its word) and a CPU decodes the same bytes with one
//!   read pointer.
//! * **State invariants.** `x ∈ [L, 2^32)` with `L = 2^16`; one decode step keeps
//!   `x ≥ 16`, so a single 16-bit word always restores `x ≥ L` (no loop, no branch chain).
//!   Encoders start every lane at exactly `L`, so a decoder that ends a chunk with any lane `≠ L`,
//!   or with words left over or missing, has proof of corruption.
//! * **12-bit probabilities** (`PROB_BITS`): the decode table is 4096 × u32 (16 KiB), small
//!   enough for L1 on a CPU and shared memory on a GPU; the loss against exact order-0 entropy
//!   is a fraction of a percent for byte alphabets.
//!
//! [`naive`] is the spec-literal oracle (linear symbol search, one symbol at a time); the fast
//! [`encode`] and [`decode`] paths must agree with it byte for byte.

pub mod chunk_error;
mod cursor;
pub mod decode;
pub mod encode;
mod encode_table;
pub mod freq;
pub mod naive;
pub mod simd;

/// Probability resolution in bits. 12 keeps the decode table at 16 KiB (L1 / GPU shared memory)
/// while costing well under 1% against exact entropy on 256-symbol alphabets.
pub const PROB_BITS: u32 = 12;
/// Sum of the frequencies of a table (`1 << PROB_BITS`).
pub const PROB_SCALE: u32 = 1 << PROB_BITS;
/// Lower bound of a lane's state; encoders start here and decoders must end here.
pub const RANS_L: u32 = 1 << 16;
/// Interleaved lanes per chunk: one per thread of a 32-wide GPU warp.
pub const LANES: usize = 32;
/// Bytes of lane state at the head of every rANS chunk.
pub const STATE_BYTES: usize = LANES * 4;

pub use chunk_error::ChunkError;
