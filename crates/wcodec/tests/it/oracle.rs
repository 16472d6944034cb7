//! The fast rANS coder against the spec-literal oracle (`rans::naive`): the fast encoder writes
//! exactly the oracle's bytes, and the fast decoder accepts exactly what the oracle accepts —
//! the same symbols on every valid stream, an error (the same one) on every invalid stream.

use proptest::prelude::*;
use wcodec::rans::freq::FreqTable;
use wcodec::rans::simd::Level;
use wcodec::rans::{decode, encode, naive, RANS_L, STATE_BYTES};

use crate::common::lcg;

/// A table from explicit frequencies (each ≥ 1, summing to 4096), through the wire format, so
/// tables the normaliser would never produce are covered too.
fn table_from_freqs(freqs: &[(u8, u16)]) -> FreqTable {
    let mut present = [0u8; 32];
    let mut sorted = freqs.to_vec();
    sorted.sort_unstable();
    for &(s, _) in &sorted {
        present[s as usize / 8] |= 1 << (s % 8);
    }
    let mut bytes = present.to_vec();
    for &(_, f) in &sorted {
        let v = f - 1;
        if v < 0x80 {
            bytes.push(v as u8);
        } else {
            bytes.extend_from_slice(&(0x8000 | v).to_be_bytes());
        }
    }
    let (t, used) = FreqTable::read(&bytes).expect("a valid table");
    assert_eq!(used, bytes.len());
    t
}

/// Present symbols of a table.
fn present(t: &FreqTable) -> Vec<u8> {
    (0..=255u8).filter(|&s| t.freq(s) > 0).collect()
}

/// Tables of every kind: one symbol (freq 4096), two extreme symbols, all 256 uniform, one
/// dominant symbol with 255 singletons, skewed, and normalised histograms.
fn fixed_tables() -> Vec<FreqTable> {
    let mut v = vec![
        table_from_freqs(&[(0, 4096)]),
        table_from_freqs(&[(255, 4096)]),
        table_from_freqs(&[(0, 4095), (255, 1)]),
        table_from_freqs(&[(17, 1), (18, 4095)]),
        table_from_freqs(&[(1, 2048), (2, 2048)]),
        table_from_freqs(&(0..=255u8).map(|s| (s, 16)).collect::<Vec<_>>()),
        table_from_freqs(
            &(0..=255u8)
                .map(|s| (s, if s == 128 { 4096 - 255 } else { 1 }))
                .collect::<Vec<_>>(),
        ),
        table_from_freqs(&[(3, 1), (4, 1), (5, 4094)]),
        table_from_freqs(&[(0, 128), (1, 129), (2, 3839)]), // one- and two-byte entries
    ];
    for seed in 0..4 {
        let mut hist = [0u64; 256];
        for (s, b) in lcg(256, seed).iter().enumerate() {
            hist[s] = if b % 3 == 0 { 0 } else { u64::from(*b).pow(3) };
        }
        v.push(FreqTable::from_histogram(&hist).unwrap());
    }
    v
}

/// `m` symbols drawn from the table's present symbols: uniformly, or mostly the first one.
fn symbols_for(t: &FreqTable, m: usize, seed: u64, skewed: bool) -> Vec<u8> {
    let p = present(t);
    lcg(m, seed)
        .iter()
        .map(|&r| {
            if skewed && r < 200 {
                p[0]
            } else {
                p[r as usize % p.len()]
            }
        })
        .collect()
}

/// Runs all three coders on `symbols` and checks they agree; returns the stream.
fn check_valid(t: &FreqTable, symbols: &[u8]) -> Vec<u8> {
    let want = naive::encode_chunk(symbols, t);
    for level in Level::supported() {
        let mut got = Vec::new();
        encode::encode_chunk_at(level, symbols, &encode::EncodeTable::new(t), &mut got);
        assert_eq!(
            got,
            want,
            "{level:?}: fast encoder differs from the oracle ({} symbols)",
            symbols.len()
        );
    }
    assert_eq!(
        naive::decode_chunk(&want, t, symbols.len()).as_deref(),
        Ok(symbols)
    );
    for level in Level::supported() {
        let mut out = vec![0u8; symbols.len()];
        decode::decode_chunk_at(level, &want, &t.decode_table(), &mut out)
            .expect("fast decoder accepts a valid stream");
        assert_eq!(out, symbols, "{level:?}");
    }
    want
}

/// The fast decoder gives the oracle's answer on any stream: the same symbols, or the same
/// error.
fn check_agree(t: &FreqTable, stream: &[u8], m: usize) {
    let want = naive::decode_chunk(stream, t, m);
    let table = t.decode_table();
    for level in Level::supported() {
        let mut out = vec![0u8; m];
        let got = decode::decode_chunk_at(level, stream, &table, &mut out).map(|()| out);
        assert_eq!(
            got,
            want,
            "{level:?}: fast and naive decoders disagree (stream of {} bytes, {m} symbols)",
            stream.len()
        );
        // Decoded as a pair (with itself, and with a shorter valid chunk), each side must still
        // give the oracle's answer.
        let (mut a, mut b) = (vec![0u8; m], vec![0u8; m]);
        let (ra, rb) =
            decode::decode_pair_at(level, (stream, &table, &mut a), (stream, &table, &mut b));
        assert_eq!(ra.map(|()| a), want, "{level:?}: pair, first");
        assert_eq!(rb.map(|()| b), want, "{level:?}: pair, second");
    }
}

/// Single-bit flips, truncations and extensions of a valid stream, and random streams.
fn check_mutations(t: &FreqTable, stream: &[u8], m: usize, seed: u64) {
    let r = lcg(64, seed);
    for k in 0..8 {
        let mut s = stream.to_vec();
        let pos = (usize::from(r[k]) << 8 | usize::from(r[k + 8])) % s.len();
        s[pos] ^= 1 << (r[k + 16] % 8);
        check_agree(t, &s, m);
    }
    for cut in [1, 2, 3, 4, stream.len() / 2, stream.len() - STATE_BYTES] {
        if cut <= stream.len() {
            check_agree(t, &stream[..stream.len() - cut], m);
        }
    }
    for extra in [&[0u8, 0][..], &[0x34, 0x12], &[1], &r[..6]] {
        let mut s = stream.to_vec();
        s.extend_from_slice(extra);
        check_agree(t, &s, m);
    }
    // Wrong symbol count for the stream.
    check_agree(t, stream, m + 1);
    if m > 0 {
        check_agree(t, stream, m - 1);
    }
    // A lane state forced below, at and above the lower bound.
    for (lane, v) in [
        (0usize, RANS_L - 1),
        (31, RANS_L),
        (7, u32::MAX),
        (m % 32, 0),
    ] {
        let mut s = stream.to_vec();
        s[lane * 4..lane * 4 + 4].copy_from_slice(&v.to_le_bytes());
        check_agree(t, &s, m);
    }
    // Random words after valid states, and wholly random streams.
    let mut s = stream[..STATE_BYTES].to_vec();
    s.extend_from_slice(&lcg((stream.len() - STATE_BYTES) & !1, seed + 1));
    check_agree(t, &s, m);
    let mut s = lcg(STATE_BYTES + 2 * (m / 3), seed + 2);
    for lane in 0..32 {
        s[lane * 4 + 3] |= 1; // every state ≥ 2^24 ≥ L, so decoding runs to the end
    }
    check_agree(t, &s, m);
}

/// Every chunk length 0..=200 with every fixed table: valid streams agree, mutated ones too.
#[test]
fn all_short_lengths_all_tables() {
    for (ti, t) in fixed_tables().iter().enumerate() {
        for m in 0..=200usize {
            for skewed in [false, true] {
                let symbols = symbols_for(t, m, (ti * 1000 + m) as u64, skewed);
                let stream = check_valid(t, &symbols);
                check_mutations(t, &stream, m, (ti * 7919 + m) as u64);
            }
        }
    }
}

/// Lengths around lane and chunk boundaries and large chunks.
#[test]
fn long_chunks_agree() {
    for (ti, t) in fixed_tables().iter().enumerate() {
        for m in [255, 256, 257, 4095, 4096, 4097, 65_536, 100_001] {
            let symbols = symbols_for(t, m, (ti + m) as u64, ti % 2 == 0);
            let stream = check_valid(t, &symbols);
            if m <= 4097 {
                check_mutations(t, &stream, m, ti as u64);
            } else {
                // The oracle is slow on long chunks: a few mutations only.
                let mut s = stream.clone();
                let last = s.len() - 1;
                s[last] ^= 0x08;
                check_agree(t, &s, m);
                check_agree(t, &stream[..stream.len() - 2], m);
                s = stream.clone();
                let mid = s.len() / 2;
                s[mid] ^= 0x01;
                check_agree(t, &s, m);
            }
        }
    }
}

/// A stream whose symbols are not what the table was built for still round-trips (the coder
/// is exact whatever the distribution), and the degenerate one-symbol table needs no words.
#[test]
fn mismatched_distributions_and_single_symbol_tables() {
    let t = table_from_freqs(&[(9, 1), (10, 4095)]);
    let all_rare = vec![9u8; 5000];
    check_valid(&t, &all_rare);
    let one = table_from_freqs(&[(42, 4096)]);
    let stream = check_valid(&one, &[42; 10_000]);
    assert_eq!(
        stream.len(),
        STATE_BYTES,
        "a one-symbol table codes to the bare states"
    );
    assert!(stream
        .chunks_exact(4)
        .all(|s| u32::from_le_bytes(s.try_into().unwrap()) == RANS_L));
}

/// Frequencies summing to 4096 over a random subset of symbols.
fn any_table() -> impl Strategy<Value = FreqTable> {
    prop::collection::btree_set(any::<u8>(), 1..=256)
        .prop_flat_map(|set| {
            let k = set.len();
            (Just(set), prop::collection::vec(1u32..1000, k))
        })
        .prop_map(|(set, weights)| {
            // Largest-remainder split of 4096 - k spare units by weight, one unit each first.
            let k = set.len() as u32;
            let total: u32 = weights.iter().sum();
            let spare = 4096 - k;
            let mut f: Vec<u32> = weights.iter().map(|w| 1 + spare * w / total).collect();
            let mut left = 4096 - f.iter().sum::<u32>();
            let mut i = 0;
            while left > 0 {
                let k = f.len();
                f[i % k] += 1;
                left -= 1;
                i += 1;
            }
            let freqs: Vec<(u8, u16)> =
                set.into_iter().zip(f).map(|(s, f)| (s, f as u16)).collect();
            table_from_freqs(&freqs)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random tables × random symbol strings of any length up to a few chunks.
    #[test]
    fn fast_coder_matches_oracle(t in any_table(), m in prop_oneof![3 => 0usize..=200, 1 => 0usize..20_000], seed in any::<u64>(), skewed in any::<bool>()) {
        let symbols = symbols_for(&t, m, seed, skewed);
        let stream = check_valid(&t, &symbols);
        check_mutations(&t, &stream, m, seed);
    }

    /// Arbitrary bytes as a stream: both decoders reject it the same way (or, rarely, both
    /// accept it with the same symbols).
    #[test]
    fn random_streams_agree(t in any_table(), stream in prop::collection::vec(any::<u8>(), 0..600), m in 0usize..400) {
        check_agree(&t, &stream, m);
    }

    /// Valid states then random words: decoding runs deep before failing.
    #[test]
    fn random_words_agree(t in any_table(), states in prop::collection::vec(RANS_L..=u32::MAX, 32), words in prop::collection::vec(any::<u16>(), 0..300), m in 0usize..600) {
        let mut stream: Vec<u8> = states.iter().flat_map(|s| s.to_le_bytes()).collect();
        stream.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        check_agree(&t, &stream, m);
    }
}
