//! Fast interleaved rANS encoder (format.md §5.5). Must produce the same bytes as
//! [`super::naive::encode_chunk`].

use super::freq::FreqTable;
use super::{LANES, PROB_BITS, RANS_L};

/// Per-symbol encoder constants, packed so one load serves a step.
#[derive(Clone, Copy, Default)]
struct EncSym {
    freq: u32,
    cum: u32,
    /// `x ≥ x_max` means the state must shed a word before encoding this symbol.
    x_max: u32,
}

/// Encoder tables derived once per plane.
pub struct EncodeTable {
    syms: [EncSym; 256],
}

impl EncodeTable {
    /// Builds the per-symbol constants of `table`.
    pub fn new(table: &FreqTable) -> EncodeTable {
        let mut syms = [EncSym::default(); 256];
        for (s, e) in syms.iter_mut().enumerate() {
            let freq = table.freq(s as u8);
            // ((L >> PROB_BITS) << 16) * freq, saturating for the single-symbol table (4096).
            let x_max = ((u64::from(RANS_L) >> PROB_BITS) << 16) * u64::from(freq);
            *e = EncSym {
                freq,
                cum: table.cum(s as u8),
                x_max: x_max.min(u64::from(u32::MAX)) as u32,
            };
        }
        EncodeTable { syms }
    }
}

/// Appends the rANS form of `symbols` (states, then words in decode order) to `out`.
///
/// Every symbol must be present in the table (the caller builds the table from the same data).
pub fn encode_chunk(symbols: &[u8], table: &EncodeTable, out: &mut Vec<u8>) {
    let mut x = [RANS_L; LANES];
    // Words are produced last-to-first; collect them and reverse once.
    let mut words: Vec<u16> = Vec::with_capacity(symbols.len() / 2 + 16);
    let full = symbols.len() / LANES * LANES;
    let (body, tail) = symbols.split_at(full);
    for (i, &s) in tail.iter().enumerate().rev() {
        step(&mut x[i], table.syms[s as usize], &mut words);
    }
    for group in body.chunks_exact(LANES).rev() {
        for l in (0..LANES).rev() {
            step(&mut x[l], table.syms[group[l] as usize], &mut words);
        }
    }
    out.reserve(LANES * 4 + words.len() * 2);
    for state in x {
        out.extend_from_slice(&state.to_le_bytes());
    }
    for w in words.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

#[inline(always)]
fn step(x: &mut u32, e: EncSym, words: &mut Vec<u16>) {
    debug_assert!(e.freq > 0, "symbol missing from the table");
    let mut v = *x;
    if v >= e.x_max {
        words.push(v as u16);
        v >>= 16;
    }
    *x = ((v / e.freq) << PROB_BITS) + (v % e.freq) + e.cum;
}
