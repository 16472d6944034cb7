//! Arbitrary bytes as the tensors of a safetensors file (a few dtypes, shapes, chunk sizes and
//! tile options chosen by the first bytes): encode, then decode must give back every tensor and
//! the file.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use wcodec::source::safetensors::build;
use wcodec::{
    encode_bytes, Archive, Dtype, EncodeOptions, NoProgress, Predictor, TileOptions, Transform,
};

const DTYPES: &[Dtype] = &[
    Dtype::U8,
    Dtype::I8,
    Dtype::BF16,
    Dtype::F16,
    Dtype::F32,
    Dtype::F64,
    Dtype::C64,
    Dtype::I64,
    Dtype::F4,
    Dtype::F6E2M3,
];

/// Element count whose packed size is exactly `bytes` (rounded down to whole elements).
fn elements(d: Dtype, bytes: usize) -> u64 {
    let bits = d.bits() as usize;
    if bits < 8 {
        (bytes * 8 / bits) as u64
    } else {
        (bytes / (bits / 8)) as u64
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let n_tensors = 1 + usize::from(control & 3).min(2);
    let chunk_symbols = if control & 4 == 0 { 4096 } else { 65_536 };
    // Stretch small inputs with a repetition count so multi-chunk planes are reachable.
    let repeat = 1 + usize::from(control >> 3) * 64;
    // Capped at 1 MiB: coverage instrumentation makes the coder ~100× slower under the fuzzer.
    let body: Vec<u8> = rest
        .iter()
        .copied()
        .cycle()
        .take((rest.len() * repeat).min(1 << 20))
        .collect();
    let part = body.len() / n_tensors;
    let mut owned = Vec::new();
    for k in 0..n_tensors {
        let d = DTYPES[usize::from(rest.get(k).copied().unwrap_or(0)) % DTYPES.len()];
        let slice = &body[k * part..(k + 1) * part];
        let n = elements(d, slice.len());
        let len = d.bytes_for(n).unwrap() as usize;
        // Two dimensions when a row count from the input divides the elements (tile grids).
        let rows = u64::from(rest.get(4 + k).copied().unwrap_or(1)).max(1);
        let shape = if n % rows == 0 && d.bits() >= 8 {
            vec![rows, n / rows]
        } else {
            vec![n]
        };
        owned.push((format!("t{k}"), d, shape, slice[..len].to_vec()));
    }
    let refs: Vec<(&str, Dtype, &[u64], &[u8])> = owned
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
        .collect();
    let source = build(&refs, None);
    let mut out = Cursor::new(Vec::new());
    // Tile options from the fourth byte: a size in [4, 64] and subsets of the modes, or off.
    let t = rest.get(3).copied().unwrap_or(0);
    let tiles = if t == 255 {
        TileOptions::disabled()
    } else {
        TileOptions {
            tile_size: 4 + u32::from(t % 61),
            predictors: Predictor::ALL
                .into_iter()
                .filter(|p| t & (1 << p.index()) == 0)
                .collect(),
            transforms: Transform::ALL
                .into_iter()
                .filter(|x| (t >> 5) & (1 << x.index()) == 0)
                .collect(),
            // No decode-cost charge: tile whatever saves bytes, so tiled planes get fuzzed.
            decode_cost: 0,
        }
    };
    let options = EncodeOptions {
        chunk_symbols,
        tiles,
        ..EncodeOptions::default()
    };
    encode_bytes(&source, "f.safetensors", &options, &mut out, &NoProgress)
        .expect("a valid source encodes");
    let encoded = out.into_inner();
    let archive = Archive::from_bytes(encoded).expect("encoder output opens");
    for (i, (name, _, _, bytes)) in owned.iter().enumerate() {
        assert_eq!(archive.find(name).unwrap(), i);
        assert!(
            archive.tensors()[i].stored_bytes <= bytes.len() as u64,
            "a tensor grew"
        );
        assert!(
            archive.decode(i).expect("decodes") == *bytes,
            "tensor {name} differs"
        );
    }
    let mut rebuilt = Vec::new();
    wcodec::decoder::write_checked(&archive, &mut rebuilt, &NoProgress).expect("rebuilds");
    assert!(rebuilt == source, "rebuilt file differs");
});
