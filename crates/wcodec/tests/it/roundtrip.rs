//! Encode → decode round trips through the public API.

use std::io::Cursor;

use wcodec::source::safetensors::build;
use wcodec::{encode_bytes, Archive, Dtype, EncodeOptions, NoProgress};

fn lcg(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Bytes shaped like int8 weights: a peaked, roughly Gaussian distribution.
fn peaked(n: usize, seed: u64) -> Vec<u8> {
    let r = lcg(n * 4, seed);
    r.chunks_exact(4).map(|c| (c.iter().map(|&b| i32::from(b)).sum::<i32>() / 4 - 128) as i8 as u8).collect()
}

fn encode(file: &[u8]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    encode_bytes(file, "x.safetensors", &EncodeOptions::default(), &mut out, &NoProgress).unwrap();
    out.into_inner()
}

#[test]
fn rebuilds_the_source_byte_for_byte() {
    let a = peaked(300_000, 1);
    let b = lcg(4 * 1000, 2);
    let c: Vec<u8> = peaked(2 * 70_001, 3);
    let file = build(
        &[("a", Dtype::I8, &[300, 1000], &a), ("b", Dtype::F32, &[1000], &b), ("c", Dtype::BF16, &[70_001], &c), ("z", Dtype::U8, &[0], &[])],
        Some(&[("format", "pt")]),
    );
    let encoded = encode(&file);
    assert!(encoded.len() < file.len(), "{} >= {}", encoded.len(), file.len());
    let archive = Archive::from_bytes(encoded).unwrap();
    let mut rebuilt = Vec::new();
    archive.write_source(&mut rebuilt, &NoProgress).unwrap();
    assert_eq!(rebuilt, file);
    assert_eq!(archive.decode(archive.find("a").unwrap()).unwrap(), a);
}
