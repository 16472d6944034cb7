//! Histograms, frequency normalisation to `PROB_SCALE`, table serialisation (format.md §5.3)
//! and the decode lookup table.

use super::{PROB_BITS, PROB_SCALE};

/// Byte histogram of `data`. Four sub-histograms break the store-to-load dependency on runs of
/// equal bytes, which otherwise halves throughput on peaked data.
pub fn histogram(data: &[u8]) -> [u64; 256] {
    let mut h = [[0u32; 256]; 4];
    // u32 counters are safe for blocks below 2^32 bytes; fold every 1 GiB.
    let mut total = [0u64; 256];
    for block in data.chunks(1 << 30) {
        let mut quads = block.chunks_exact(4);
        for q in &mut quads {
            h[0][q[0] as usize] += 1;
            h[1][q[1] as usize] += 1;
            h[2][q[2] as usize] += 1;
            h[3][q[3] as usize] += 1;
        }
        for &b in quads.remainder() {
            h[0][b as usize] += 1;
        }
        for s in 0..256 {
            total[s] +=
                u64::from(h[0][s]) + u64::from(h[1][s]) + u64::from(h[2][s]) + u64::from(h[3][s]);
        }
        h = [[0u32; 256]; 4];
    }
    total
}

/// Order-0 entropy of a histogram, in bytes (the bound every coder here is measured against).
pub fn order0_bytes(hist: &[u64; 256]) -> f64 {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let n_f = n as f64;
    let bits: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = c as f64;
            c * (n_f / c).log2()
        })
        .sum();
    bits / 8.0
}

/// A normalised frequency table: present symbols have `freq ≥ 1`, frequencies sum to
/// `PROB_SCALE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreqTable {
    freq: [u16; 256],
    cum: [u16; 257],
}

impl FreqTable {
    /// Normalises a histogram. `None` when the histogram is empty.
    ///
    /// Integer-only, so the result (and therefore the encoded bytes) is the same on every
    /// platform: start from rounded proportional shares (at least 1 for a present symbol), then
    /// move the remaining difference one unit at a time where it costs least, judged by the
    /// marginal code length `count / freq` compared by cross-multiplication.
    pub fn from_histogram(hist: &[u64; 256]) -> Option<FreqTable> {
        let total: u64 = hist.iter().sum();
        if total == 0 {
            return None;
        }
        let scale = u64::from(PROB_SCALE);
        let mut freq = [0u32; 256];
        for s in 0..256 {
            if hist[s] > 0 {
                let share = (u128::from(hist[s]) * u128::from(scale) + u128::from(total / 2))
                    / u128::from(total);
                freq[s] = (share as u32).max(1);
            }
        }
        let mut sum: i64 = freq.iter().map(|&f| i64::from(f)).sum();
        let target = i64::from(PROB_SCALE);
        while sum < target {
            // Give a unit to the symbol with the largest count/freq (largest gain per unit).
            let best = (0..256)
                .filter(|&s| freq[s] > 0)
                .max_by(|&a, &b| {
                    (u128::from(hist[a]) * u128::from(freq[b]))
                        .cmp(&(u128::from(hist[b]) * u128::from(freq[a])))
                        .then(b.cmp(&a))
                })
                .expect("a present symbol exists");
            freq[best] += 1;
            sum += 1;
        }
        while sum > target {
            // Take a unit from the symbol with the smallest count/(freq-1) (smallest loss).
            let best = (0..256)
                .filter(|&s| freq[s] > 1)
                .min_by(|&a, &b| {
                    (u128::from(hist[a]) * u128::from(freq[b] - 1))
                        .cmp(&(u128::from(hist[b]) * u128::from(freq[a] - 1)))
                        .then(a.cmp(&b))
                })
                .expect("sum > scale implies a symbol with freq > 1");
            freq[best] -= 1;
            sum -= 1;
        }
        let mut table = FreqTable {
            freq: [0; 256],
            cum: [0; 257],
        };
        for s in 0..256 {
            table.freq[s] = freq[s] as u16;
        }
        table.fill_cum();
        Some(table)
    }

    fn fill_cum(&mut self) {
        let mut acc = 0u16;
        for s in 0..256 {
            self.cum[s] = acc;
            acc = acc.wrapping_add(self.freq[s]);
        }
        self.cum[256] = acc;
    }

    /// Frequency of symbol `s` (0 when absent).
    pub fn freq(&self, s: u8) -> u32 {
        u32::from(self.freq[s as usize])
    }

    /// Cumulative frequency below symbol `s`.
    pub fn cum(&self, s: u8) -> u32 {
        u32::from(self.cum[s as usize])
    }

    /// Number of present symbols.
    pub fn n_present(&self) -> usize {
        self.freq.iter().filter(|&&f| f > 0).count()
    }

    /// Exact coded size in bits of data with histogram `hist` under this table (state and
    /// table overhead excluded). Every symbol of `hist` must be present in the table.
    pub fn cost_bits(&self, hist: &[u64; 256]) -> f64 {
        (0..256)
            .filter(|&s| hist[s] > 0)
            .map(|s| hist[s] as f64 * (f64::from(PROB_BITS) - f64::from(self.freq[s]).log2()))
            .sum()
    }

    /// Serialises the table (format.md §5.3), without the trailing alignment padding.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut present = [0u8; 32];
        for s in 0..256 {
            if self.freq[s] > 0 {
                present[s / 8] |= 1 << (s % 8);
            }
        }
        out.extend_from_slice(&present);
        for s in 0..256 {
            let f = self.freq[s];
            if f > 0 {
                let v = f - 1;
                if v < 0x80 {
                    out.push(v as u8);
                } else {
                    out.extend_from_slice(&(0x8000 | v).to_be_bytes());
                }
            }
        }
    }

    /// Parses a table from the head of `bytes`; returns it with the number of bytes consumed.
    pub fn read(bytes: &[u8]) -> Result<(FreqTable, usize), &'static str> {
        let present = bytes.get(..32).ok_or("frequency table truncated")?;
        let mut pos = 32;
        let mut table = FreqTable {
            freq: [0; 256],
            cum: [0; 257],
        };
        let mut sum = 0u32;
        for s in 0..256 {
            if present[s / 8] & (1 << (s % 8)) == 0 {
                continue;
            }
            let b0 = *bytes.get(pos).ok_or("frequency table truncated")?;
            let v = if b0 < 0x80 {
                pos += 1;
                u16::from(b0)
            } else {
                let b1 = *bytes.get(pos + 1).ok_or("frequency table truncated")?;
                pos += 2;
                let v = u16::from_be_bytes([b0 & 0x7F, b1]);
                // One encoding per table: a value that fits one byte must use it.
                if v < 0x80 {
                    return Err("frequency entry not in its one-byte form");
                }
                v
            };
            let f = u32::from(v) + 1;
            sum += f;
            if sum > PROB_SCALE {
                return Err("frequencies exceed 4096");
            }
            table.freq[s] = f as u16;
        }
        if sum != PROB_SCALE {
            return Err("frequencies do not sum to 4096");
        }
        table.fill_cum();
        Ok((table, pos))
    }

    /// The decode lookup table: one packed u32 per slot (see [`DecodeTable`]).
    pub fn decode_table(&self) -> DecodeTable {
        let mut slots = Box::new([0u32; PROB_SCALE as usize]);
        for s in 0..256usize {
            let f = u32::from(self.freq[s]);
            let c = u32::from(self.cum[s]);
            for j in 0..f {
                // [31:20] slot − cum   [19:8] freq − 1   [7:0] symbol
                slots[(c + j) as usize] = (j << 20) | ((f - 1) << 8) | s as u32;
            }
        }
        DecodeTable { slots }
    }
}

/// Slot → packed `(slot − cum) << 20 | (freq − 1) << 8 | symbol`, so one load gives everything a
/// decode step needs.
pub struct DecodeTable {
    /// The 4096 packed entries.
    pub slots: Box<[u32; PROB_SCALE as usize]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_tables_sum_to_scale_and_keep_every_symbol() {
        let mut hist = [0u64; 256];
        hist[0] = 1_000_000_000;
        for s in 1..256 {
            hist[s] = 1;
        }
        let t = FreqTable::from_histogram(&hist).unwrap();
        assert_eq!((0..=255u8).map(|s| t.freq(s)).sum::<u32>(), PROB_SCALE);
        assert!((1..=255u8).all(|s| t.freq(s) == 1));
        let mut one = [0u64; 256];
        one[7] = 3;
        let t = FreqTable::from_histogram(&one).unwrap();
        assert_eq!(t.freq(7), PROB_SCALE);
        assert!(FreqTable::from_histogram(&[0; 256]).is_none());
    }

    #[test]
    fn table_serialisation_round_trips() {
        let mut hist = [0u64; 256];
        for s in 0..256 {
            hist[s] = (s as u64 * 7919) % 1000;
        }
        let t = FreqTable::from_histogram(&hist).unwrap();
        let mut bytes = Vec::new();
        t.write(&mut bytes);
        let (back, used) = FreqTable::read(&bytes).unwrap();
        assert_eq!(back, t);
        assert_eq!(used, bytes.len());
        assert!(FreqTable::read(&bytes[..bytes.len() - 1]).is_err());
        bytes[0] ^= 1; // toggles presence of symbol 0
        assert!(FreqTable::read(&bytes).is_err());
        // f − 1 = 5 written in the two-byte form is rejected.
        let mut two = [0u64; 256];
        two[3] = 1;
        two[9] = 1000;
        let t = FreqTable::from_histogram(&two).unwrap();
        let mut b = Vec::new();
        t.write(&mut b);
        let first = b[32];
        assert!(first < 0x80);
        let mut long = b[..32].to_vec();
        long.extend_from_slice(&[0x80, first]);
        long.extend_from_slice(&b[33..]);
        assert_eq!(
            FreqTable::read(&long),
            Err("frequency entry not in its one-byte form")
        );
    }

    #[test]
    fn histogram_counts_everything() {
        let data: Vec<u8> = (0..10_007u32).map(|i| (i * 31 % 251) as u8).collect();
        let h = histogram(&data);
        assert_eq!(h.iter().sum::<u64>(), data.len() as u64);
        assert_eq!(
            h[0],
            (0..data.len()).filter(|&i| data[i] == 0).count() as u64
        );
        assert!((order0_bytes(&h) - data.len() as f64 * (251f64).log2() / 8.0).abs() < 20.0);
    }
}
