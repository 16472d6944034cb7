//! Quick speed probe: `cargo run --release -p wcodec --example speed [FILE]`.
//! Encodes and decodes a safetensors file (or synthetic int8 weights) in memory and prints MB/s
//! measured on process CPU time (robust on a shared, busy machine; run with
//! RAYON_NUM_THREADS=1 for single-thread figures). `WCODEC_TILES=0` encodes without tiles.
#![allow(clippy::print_stdout, missing_docs)]

#[path = "common/cpu_time.rs"]
mod cpu_time;

use std::io::Cursor;

use cpu_time::cpu_seconds;
use wcodec::source::safetensors::build;
use wcodec::{encode_bytes, Archive, Dtype, EncodeOptions, NoProgress};

fn synthetic() -> Vec<u8> {
    let mut x = 1u64;
    let n = 24 << 20;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            let mut s = 0i32;
            for _ in 0..4 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s += ((x >> 33) & 0xFF) as i32;
            }
            ((s / 4 - 128) * 2).clamp(-127, 127) as i8 as u8
        })
        .collect();
    build(&[("w", Dtype::I8, &[(n / 1024) as u64, 1024], &data)], None)
}

fn per_rep(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = cpu_seconds();
    for _ in 0..reps {
        f();
    }
    (cpu_seconds() - t) / reps as f64
}

fn main() {
    let src = match std::env::args().nth(1) {
        Some(p) => std::fs::read(p).expect("read input"),
        None => synthetic(),
    };
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let mb = src.len() as f64 / 1e6;
    let options = EncodeOptions {
        tiles: if std::env::var("WCODEC_TILES").is_ok_and(|v| v == "0") {
            wcodec::TileOptions::disabled()
        } else {
            wcodec::TileOptions::default()
        },
        ..EncodeOptions::default()
    };
    let mut encoded = Vec::new();
    let enc = per_rep(reps.div_ceil(4), || {
        let mut out = Cursor::new(Vec::new());
        encode_bytes(&src, "x.safetensors", &options, &mut out, &NoProgress).unwrap();
        encoded = out.into_inner();
    });
    let archive = Archive::from_bytes(encoded.clone()).unwrap();
    let dec = per_rep(reps, || {
        archive
            .write_source(&mut std::io::sink(), &NoProgress)
            .unwrap();
    });
    let mut bufs: Vec<Vec<u8>> = archive
        .tensors()
        .iter()
        .map(|t| vec![0u8; t.raw_bytes as usize])
        .collect();
    let into = per_rep(reps, || {
        for (i, b) in bufs.iter_mut().enumerate() {
            archive.decode_into(i, b).unwrap();
        }
    });
    println!(
        "{:.2} MB -> {:.2}% | CPU-time MB/s: encode {:.0}, decode {:.0}, decode_into {:.0}",
        mb,
        100.0 * encoded.len() as f64 / src.len() as f64,
        mb / enc,
        mb / dec,
        mb / into
    );
}
