//! The decoder's position in one rANS chunk ([`Cursor`]) and its scalar step: the state that the
//! scalar loop of [`super::decode`] and the vector loops of [`super::simd`] both advance.

use super::chunk_error::ChunkError;
use super::freq::DecodeTable;
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
    pub fn start(stored: &'a [u8], table: &'a DecodeTable) -> Result<Cursor<'a>, ChunkError> {
        if stored.len() < STATE_BYTES || !(stored.len() - STATE_BYTES).is_multiple_of(2) {
            return Err(ChunkError::BadSize);
        }
        let (states, words) = stored.split_at(STATE_BYTES);
        let mut x = [0u32; LANES];
        for (l, s) in states.chunks_exact(4).enumerate() {
            x[l] = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            if x[l] < RANS_L {
                return Err(ChunkError::BadState);
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
    pub fn finish(&self) -> Result<(), ChunkError> {
        if self.p != self.words.len() {
            return Err(if self.p > self.words.len() {
                ChunkError::EarlyEnd
            } else {
                ChunkError::Trailing
            });
        }
        if self.x.iter().any(|&v| v != RANS_L) {
            return Err(ChunkError::FinalState);
        }
        Ok(())
    }
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
