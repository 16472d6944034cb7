//! The encoder's per-plane tables ([`EncodeTable`]): what the scalar loop of [`super::encode`]
//! and the vector loop of [`super::simd`] both read.

use super::freq::FreqTable;
use super::{PROB_BITS, PROB_SCALE, RANS_L};

/// Per-symbol encoder constants.
#[derive(Clone, Copy, Default)]
pub(super) struct EncSym {
    /// `x ≥ x_max` means the state must shed a word before encoding this symbol.
    pub(super) x_max: u32,
    /// `cum`, added to every state encoding this symbol.
    pub(super) bias: u32,
    /// `PROB_SCALE − freq`.
    pub(super) cmpl_freq: u32,
    /// All ones when `freq == 1` (the quotient is `x` itself and `rcp` cannot represent 2^64).
    pub(super) q_is_x: u32,
    /// `ceil(2^64 / freq)`: `q = (x · rcp) >> 64` is exact for every `x < 2^32` because the
    /// rounding error `x · (rcp − 2^64/f) / 2^64 < 2^-32` is below the `1/f ≥ 2^-12` gap to the
    /// next integer.
    pub(super) rcp: u64,
}

/// Encoder tables derived once per plane.
pub struct EncodeTable {
    pub(super) syms: [EncSym; 256],
    /// Per symbol `cum | (PROB_SCALE − freq) << 16`, for the vector path.
    pub(crate) packed: [u32; 256],
    /// Per symbol `1 / freq` (0 when absent), for the vector path's division.
    pub(crate) inv_freq: [f64; 256],
}

impl EncodeTable {
    /// Builds the per-symbol constants of `table`.
    pub fn new(table: &FreqTable) -> EncodeTable {
        let mut syms = [EncSym::default(); 256];
        let mut packed = [0u32; 256];
        let mut inv_freq = [0f64; 256];
        for (s, e) in syms.iter_mut().enumerate() {
            let freq = table.freq(s as u8);
            if freq == 0 {
                continue;
            }
            packed[s] = table.cum(s as u8) | (PROB_SCALE - freq) << 16;
            inv_freq[s] = 1.0 / f64::from(freq);
            // ((L >> PROB_BITS) << 16) * freq, saturating for the single-symbol table (4096).
            let x_max = ((u64::from(RANS_L) >> PROB_BITS) << 16) * u64::from(freq);
            *e = EncSym {
                x_max: x_max.min(u64::from(u32::MAX)) as u32,
                bias: table.cum(s as u8),
                cmpl_freq: PROB_SCALE - freq,
                q_is_x: if freq == 1 { u32::MAX } else { 0 },
                rcp: if freq == 1 {
                    0
                } else {
                    (u128::from(u64::MAX) / u128::from(freq) + 1) as u64
                },
            };
        }
        EncodeTable {
            syms,
            packed,
            inv_freq,
        }
    }
}
