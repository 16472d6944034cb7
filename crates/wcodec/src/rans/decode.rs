//! Fast interleaved rANS decoder (format.md §5.4). Must accept exactly what
//! [`super::naive::decode_chunk`] accepts and produce the same symbols.
//!
//! A chunk's lanes form four dependency chains per 32-symbol step (gather → multiply → refill),
//! whose latency, not throughput, bounds a single chunk. [`decode_pair`] therefore decodes two
//! chunks of a plane in one loop, doubling the independent work in flight.

use super::chunk_error::ChunkError;
pub use super::cursor::Cursor;
use super::freq::DecodeTable;
use super::simd::{self, Level};
use super::LANES;

/// Decodes a rANS chunk (`stored` = states ‖ words) into `out` (`out.len()` symbols).
pub fn decode_chunk(stored: &[u8], table: &DecodeTable, out: &mut [u8]) -> Result<(), ChunkError> {
    decode_chunk_at(simd::detected(), stored, table, out)
}

/// [`decode_chunk`] with a chosen vector level (tests run every level the CPU has).
pub fn decode_chunk_at(
    level: Level,
    stored: &[u8],
    table: &DecodeTable,
    out: &mut [u8],
) -> Result<(), ChunkError> {
    let mut c = Cursor::start(stored, table)?;
    let whole = out.len() / LANES * LANES;
    let done = simd::decode_steps(level, &mut [&mut c], &mut [&mut out[..whole]]);
    c.decode_scalar(&mut out[done..]);
    c.finish()
}

/// One chunk to decode: its stored bytes, its plane's table and where its symbols go.
pub type ChunkJob<'a, 'o> = (&'a [u8], &'a DecodeTable, &'o mut [u8]);

/// Decodes two chunks together (see the module docs), from the same plane or not; each result
/// is what [`decode_chunk`] would return for that chunk alone.
pub fn decode_pair(
    a: ChunkJob<'_, '_>,
    b: ChunkJob<'_, '_>,
) -> (Result<(), ChunkError>, Result<(), ChunkError>) {
    decode_pair_at(simd::detected(), a, b)
}

/// [`decode_pair`] with a chosen vector level.
pub fn decode_pair_at(
    level: Level,
    a: ChunkJob<'_, '_>,
    b: ChunkJob<'_, '_>,
) -> (Result<(), ChunkError>, Result<(), ChunkError>) {
    let (Ok(mut ca), Ok(mut cb)) = (Cursor::start(a.0, a.1), Cursor::start(b.0, b.1)) else {
        return (
            decode_chunk_at(level, a.0, a.1, a.2),
            decode_chunk_at(level, b.0, b.1, b.2),
        );
    };
    let (oa, ob) = (a.2, b.2);
    let steps = oa.len().min(ob.len()) / LANES * LANES;
    let done = simd::decode_steps(
        level,
        &mut [&mut ca, &mut cb],
        &mut [&mut oa[..steps], &mut ob[..steps]],
    );
    let (wa, wb) = (oa.len() / LANES * LANES, ob.len() / LANES * LANES);
    let da = done + simd::decode_steps(level, &mut [&mut ca], &mut [&mut oa[done..wa]]);
    let db = done + simd::decode_steps(level, &mut [&mut cb], &mut [&mut ob[done..wb]]);
    ca.decode_scalar(&mut oa[da..]);
    cb.decode_scalar(&mut ob[db..]);
    (ca.finish(), cb.finish())
}
