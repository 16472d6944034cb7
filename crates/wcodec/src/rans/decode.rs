//! Fast interleaved rANS decoder (format.md §5.4). Must accept exactly what
//! [`super::naive::decode_chunk`] accepts and produce the same symbols.

use super::freq::DecodeTable;
use super::{LANES, PROB_BITS, RANS_L, STATE_BYTES};

const SLOT_MASK: u32 = (1 << PROB_BITS) - 1;

/// Decodes a rANS chunk (`stored` = states ‖ words) into `out` (`out.len()` symbols).
///
/// Branch-free renormalisation: whether a lane needs a word is data-dependent and close to a
/// coin flip on weight data, so a branch would mispredict constantly. Reads past the end yield 0
/// and are caught by the final word-count check, which keeps the hot loop free of error paths.
pub fn decode_chunk(stored: &[u8], table: &DecodeTable, out: &mut [u8]) -> Result<(), &'static str> {
    if stored.len() < STATE_BYTES || (stored.len() - STATE_BYTES) % 2 != 0 {
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
    let slots = &*table.slots;
    let mut p = 0usize;
    let mut full = out.chunks_exact_mut(LANES);
    for group in &mut full {
        for l in 0..LANES {
            group[l] = step(&mut x[l], slots, words, &mut p);
        }
    }
    for (l, o) in full.into_remainder().iter_mut().enumerate() {
        *o = step(&mut x[l], slots, words, &mut p);
    }
    if p != words.len() {
        return Err(if p > words.len() {
            "rANS stream ends early"
        } else {
            "rANS stream has trailing words"
        });
    }
    if x.iter().any(|&v| v != RANS_L) {
        return Err("rANS lane did not end in its initial state");
    }
    Ok(())
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
