//! Fast interleaved rANS encoder (format.md §5.5). Must produce the same bytes as
//! [`super::naive::encode_chunk`].
//!
//! The division `x / freq` of the textbook step is replaced by a multiply-high with a
//! precomputed reciprocal, and `x' = (q << 12) + (x − q·f) + cum` is folded into
//! `x' = x + cum + q·(4096 − f)` (ryg_rans' formulation): no divide on the hot path.

use super::encode_table::EncSym;
pub use super::encode_table::EncodeTable;
use super::simd::{self, Level};
use super::{LANES, RANS_L};

/// Appends the rANS form of `symbols` (states, then words in decode order) to `out`.
///
/// Every symbol must be present in the table (the caller builds the table from the same data).
pub fn encode_chunk(symbols: &[u8], table: &EncodeTable, out: &mut Vec<u8>) {
    encode_chunk_at(simd::detected(), symbols, table, out);
}

/// [`encode_chunk`] with a chosen vector level (tests run every level the CPU has).
pub fn encode_chunk_at(level: Level, symbols: &[u8], table: &EncodeTable, out: &mut Vec<u8>) {
    // At most one word per symbol. Words are produced last-to-first and reversed at the end.
    // Every step stores its candidate word and advances the cursor only when it really emits:
    // whether a state overflows is a coin flip on weight data, so a branch would mispredict.
    WORDS.with_borrow_mut(|words| {
        if words.len() < symbols.len() {
            words.resize(symbols.len(), 0);
        }
        encode_into(level, symbols, table, &mut words[..symbols.len()], out);
    });
}

thread_local! {
    /// Per-thread word buffer, reused across chunks: zeroing a fresh one per chunk cost as much
    /// as a third of the encoder's time.
    static WORDS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn encode_into(
    level: Level,
    symbols: &[u8],
    table: &EncodeTable,
    words: &mut [u16],
    out: &mut Vec<u8>,
) {
    let mut x = [RANS_L; LANES];
    // Words are written backwards from the end, so they end up in decode order in
    // `words[pos..]`: steps last to first, and within a step lane 31 first, each word placed
    // before the previous one.
    let mut pos = words.len();
    let full = symbols.len() / LANES * LANES;
    let (body, tail) = symbols.split_at(full);
    for (i, &s) in tail.iter().enumerate().rev() {
        step(&mut x[i], &table.syms[s as usize], words, &mut pos);
    }
    if level == Level::Avx512 {
        simd::encode_steps(&mut x, table, body, words, &mut pos);
    } else if level == Level::Avx2 {
        simd::encode_steps_avx2_checked(&mut x, table, body, words, &mut pos);
    } else {
        for group in body.chunks_exact(LANES).rev() {
            let group: &[u8; LANES] = group.try_into().expect("LANES symbols");
            for l in (0..LANES).rev() {
                step(&mut x[l], &table.syms[group[l] as usize], words, &mut pos);
            }
        }
    }
    let words = &words[pos..];
    out.reserve(LANES * 4 + words.len() * 2);
    for state in x {
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.extend(words.iter().flat_map(|w| w.to_le_bytes()));
}

#[inline(always)]
fn step(x: &mut u32, e: &EncSym, words: &mut [u16], pos: &mut usize) {
    let v = *x;
    let emit = v >= e.x_max;
    // Fewer words than symbols have been emitted so far, so pos >= 1 here. The candidate word
    // is always stored and kept only if the cursor moves; otherwise the next one overwrites it.
    words[*pos - 1] = v as u16;
    *pos -= usize::from(emit);
    let v = v >> (16 * u32::from(emit));
    let q = ((u128::from(v) * u128::from(e.rcp)) >> 64) as u32 | (v & e.q_is_x);
    *x = v + e.bias + q * e.cmpl_freq;
}
