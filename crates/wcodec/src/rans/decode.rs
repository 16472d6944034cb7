//! Fast interleaved rANS decoder (format.md §5.4). Must accept exactly what
//! [`super::naive::decode_chunk`] accepts and produce the same symbols.
//!
//! A chunk's lanes form four dependency chains per 32-symbol step (gather → multiply → refill),
//! whose latency, not throughput, bounds a single chunk. [`decode_pair`] therefore decodes two
//! chunks of a plane in one loop, doubling the independent work in flight.

use super::freq::DecodeTable;
use super::simd::{self, Level};
use super::{LANES, PROB_BITS, RANS_L, STATE_BYTES};

const SLOT_MASK: u32 = (1 << PROB_BITS) - 1;

/// The decoder's position in one chunk: lane states and the shared word cursor (in bytes).
pub struct Cursor<'a> {
    /// Lane states.
    pub x: [u32; LANES],
    /// The chunk's words, as little-endian bytes.
    pub words: &'a [u8],
    /// Next word, as a byte offset into `words` (may run past the end on corrupt input).
    pub p: usize,
    /// The decode table of the chunk's plane.
    pub slots: &'a [u32; 4096],
}

impl<'a> Cursor<'a> {
    /// Reads and checks the lane states at the head of a stored chunk.
    pub fn start(stored: &'a [u8], table: &'a DecodeTable) -> Result<Cursor<'a>, &'static str> {
        if stored.len() < STATE_BYTES || !(stored.len() - STATE_BYTES).is_multiple_of(2) {
            return Err("rANS chunk has a bad size");
        }
        let (states, words) = stored.split_at(STATE_BYTES);
        let mut x = [0u32; LANES];
        for (l, s) in states.chunks_exact(4).enumerate() {
            x[l] = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            if x[l] < RANS_L {
                return Err("rANS lane state below the lower bound");
            }
        }
        Ok(Cursor {
            x,
            words,
            p: 0,
            slots: &table.slots,
        })
    }

    /// Decodes `out.len()` symbols with the scalar loop.
    ///
    /// Branch-free renormalisation: whether a lane needs a word is close to a coin flip on
    /// weight data, so a branch would mispredict constantly. Reads past the end yield 0 and are
    /// caught by [`Cursor::finish`], which keeps the hot loop free of error paths.
    pub fn decode_scalar(&mut self, out: &mut [u8]) {
        let slots = self.slots;
        let mut full = out.chunks_exact_mut(LANES);
        for group in &mut full {
            for l in 0..LANES {
                group[l] = step(&mut self.x[l], slots, self.words, &mut self.p);
            }
        }
        for (l, o) in full.into_remainder().iter_mut().enumerate() {
            *o = step(&mut self.x[l], slots, self.words, &mut self.p);
        }
    }

    /// The end-of-chunk checks of format.md §5.4.
    pub fn finish(&self) -> Result<(), &'static str> {
        if self.p != self.words.len() {
            return Err(if self.p > self.words.len() {
                "rANS stream ends early"
            } else {
                "rANS stream has trailing words"
            });
        }
        if self.x.iter().any(|&v| v != RANS_L) {
            return Err("rANS lane did not end in its initial state");
        }
        Ok(())
    }
}

/// Decodes a rANS chunk (`stored` = states ‖ words) into `out` (`out.len()` symbols).
pub fn decode_chunk(
    stored: &[u8],
    table: &DecodeTable,
    out: &mut [u8],
) -> Result<(), &'static str> {
    decode_chunk_at(simd::detected(), stored, table, out)
}

/// [`decode_chunk`] with a chosen vector level (tests run every level the CPU has).
pub fn decode_chunk_at(
    level: Level,
    stored: &[u8],
    table: &DecodeTable,
    out: &mut [u8],
) -> Result<(), &'static str> {
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
) -> (Result<(), &'static str>, Result<(), &'static str>) {
    decode_pair_at(simd::detected(), a, b)
}

/// [`decode_pair`] with a chosen vector level.
pub fn decode_pair_at(
    level: Level,
    a: ChunkJob<'_, '_>,
    b: ChunkJob<'_, '_>,
) -> (Result<(), &'static str>, Result<(), &'static str>) {
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

#[inline(always)]
fn step(x: &mut u32, slots: &[u32; 4096], words: &[u8], p: &mut usize) -> u8 {
    let e = slots[(*x & SLOT_MASK) as usize];
    let freq = ((e >> 8) & 0xFFF) + 1;
    let mut v = freq * (*x >> PROB_BITS) + (e >> 20);
    let need = v < RANS_L;
    let w = match words.get(*p..*p + 2) {
        Some(b) => u32::from(u16::from_le_bytes([b[0], b[1]])),
        None => 0,
    };
    v = if need { (v << 16) | w } else { v };
    *p += usize::from(need) * 2;
    *x = v;
    e as u8
}
