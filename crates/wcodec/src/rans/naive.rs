//! The spec-literal oracle for the rANS chunk coder: format.md §5.4 and §5.5 written out one
//! symbol at a time, with a linear symbol search and no lookup tables. Slow on purpose; the fast
//! paths are tested against it.

use super::chunk_error::ChunkError;
use super::freq::FreqTable;
use super::{LANES, PROB_BITS, PROB_SCALE, RANS_L, STATE_BYTES};

/// Encodes `symbols` (every one present in `table`) to states ‖ words.
pub fn encode_chunk(symbols: &[u8], table: &FreqTable) -> Vec<u8> {
    let mut x = vec![u64::from(RANS_L); LANES];
    let mut emitted: Vec<u16> = Vec::new();
    for i in (0..symbols.len()).rev() {
        let l = i % LANES;
        let s = symbols[i];
        let f = u64::from(table.freq(s));
        assert!(f > 0, "symbol {s} is not in the table");
        if x[l] >= f << 20 {
            emitted.push((x[l] & 0xFFFF) as u16);
            x[l] >>= 16;
        }
        x[l] = ((x[l] / f) << PROB_BITS) + (x[l] % f) + u64::from(table.cum(s));
    }
    let mut out = Vec::new();
    for state in &x {
        out.extend_from_slice(&(*state as u32).to_le_bytes());
    }
    for w in emitted.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Decodes `m` symbols from states ‖ words, or says why the stream is invalid.
pub fn decode_chunk(stored: &[u8], table: &FreqTable, m: usize) -> Result<Vec<u8>, ChunkError> {
    if stored.len() < STATE_BYTES || !(stored.len() - STATE_BYTES).is_multiple_of(2) {
        return Err(ChunkError::BadSize);
    }
    let words: Vec<u64> = stored[STATE_BYTES..]
        .chunks_exact(2)
        .map(|w| u64::from(u16::from_le_bytes([w[0], w[1]])))
        .collect();
    let mut x: Vec<u64> = stored[..STATE_BYTES]
        .chunks_exact(4)
        .map(|s| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])))
        .collect();
    if x.iter().any(|&v| v < u64::from(RANS_L)) {
        return Err(ChunkError::BadState);
    }
    let mut out = Vec::with_capacity(m);
    let mut p = 0;
    for i in 0..m {
        let l = i % LANES;
        let slot = x[l] % u64::from(PROB_SCALE);
        let s = (0..=255u8)
            .find(|&s| {
                let c = u64::from(table.cum(s));
                table.freq(s) > 0 && c <= slot && slot < c + u64::from(table.freq(s))
            })
            .expect("a full table covers every slot");
        out.push(s);
        x[l] = u64::from(table.freq(s)) * (x[l] >> PROB_BITS) + slot - u64::from(table.cum(s));
        if x[l] < u64::from(RANS_L) {
            if p >= words.len() {
                return Err(ChunkError::EarlyEnd);
            }
            x[l] = (x[l] << 16) | words[p];
            p += 1;
        }
    }
    if p != words.len() {
        return Err(ChunkError::Trailing);
    }
    if x.iter().any(|&v| v != u64::from(RANS_L)) {
        return Err(ChunkError::FinalState);
    }
    Ok(out)
}
