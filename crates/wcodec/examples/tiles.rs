//! Tile toolset figures for docs/benchmarks.md:
//! `cargo run --release -p wcodec --example tiles -- FILE.safetensors...`
//!
//! Per file, on one thread, timed on process CPU time (robust on a busy machine):
//!
//! * **full search**: every plane of 4,096+ symbols through the complete mode search (no
//!   early-out, every tile, all 15 modes), then its residual and mode planes entropy-coded, as
//!   the encoder does for a plane it tiles. Reported: the share of tiles per predictor and per
//!   transform, and MB/s of the search alone and of search + entropy coding (MB = 10^6 plane
//!   bytes searched);
//! * **forced**: the bytes tiles would save if every plane went through the full search (kept
//!   tiled where that beats flat by the encoder's margin);
//! * **default encoder**: `encode_bytes` with the default options (early-out) against tiles
//!   off: bytes saved and encode MB/s of both.
//!
//! The argument `sinusoid` stands for a synthetic smooth file: a 512 × 384 sinusoidal
//! position-embedding table quantised to int8 per row (the tests' acceptance tensor).
#![allow(clippy::print_stdout, missing_docs)]

#[path = "common/cpu_time.rs"]
mod cpu_time;

use std::io::Cursor;

use cpu_time::cpu_seconds;
use wcodec::plane_coding::{encode_plane, encode_plane_with, plane_histogram, Coder};
use wcodec::source::safetensors;
use wcodec::tensor::{MIN_TILED_SYMBOLS, MIN_TILE_GAIN};
use wcodec::tile::search::{search, Effort};
use wcodec::tile::{plane_bias, Grid, Mode, Predictor, TileOptions, Transform, N_MODES};
use wcodec::{encode_bytes, EncodeOptions, NoProgress};

/// CPU seconds per run of `f`, repeated until at least a second has been measured.
fn timed(mut f: impl FnMut()) -> f64 {
    let start = cpu_seconds();
    let mut runs = 0;
    loop {
        f();
        runs += 1;
        let spent = cpu_seconds() - start;
        if spent >= 1.0 {
            return spent / f64::from(runs);
        }
    }
}

fn stored(coder: Coder, len: usize, n: usize) -> u64 {
    match coder {
        Coder::Raw => n as u64,
        Coder::Rans => len as u64,
    }
}

struct Plane {
    bytes: Vec<u8>,
    grid: Grid,
    bias: u8,
}

fn planes_of(source: &[u8]) -> Vec<Plane> {
    let st = safetensors::parse(source).expect("a safetensors file");
    let mut out = Vec::new();
    for t in &st.tensors {
        let data = &st.data[t.begin as usize..t.end as usize];
        let layout = t.dtype.plane_layout();
        let width = layout.n_planes();
        if data.is_empty() || !data.len().is_multiple_of(width) {
            continue;
        }
        let n = data.len() / width;
        let mut planes = vec![vec![0u8; n]; width];
        {
            let mut refs: Vec<&mut [u8]> = planes.iter_mut().map(Vec::as_mut_slice).collect();
            wcodec::byte_planes::split(layout, data, &mut refs);
        }
        for (p, bytes) in planes.into_iter().enumerate() {
            if (n as u64) < MIN_TILED_SYMBOLS {
                continue;
            }
            out.push(Plane {
                grid: Grid::new(&t.shape, n as u64, 16),
                bias: plane_bias(t.dtype, p),
                bytes,
            });
        }
    }
    out
}

fn encode_size(source: &[u8], tiles: TileOptions) -> (u64, wcodec::EncodeStats) {
    let options = EncodeOptions {
        tiles,
        ..EncodeOptions::default()
    };
    let mut out = Cursor::new(Vec::new());
    let stats = encode_bytes(source, "x.safetensors", &options, &mut out, &NoProgress).unwrap();
    (out.into_inner().len() as u64, stats)
}

/// The sinusoidal table of the tests (`sinusoid_i8` in tests/it/common.rs) as a file.
fn sinusoid() -> Vec<u8> {
    let (rows, cols) = (512usize, 384usize);
    let mut w = Vec::with_capacity(rows * cols);
    for pos in 0..rows {
        let row: Vec<f64> = (0..cols)
            .map(|i| {
                let a = pos as f64 / 10000f64.powf((2 * (i / 2)) as f64 / cols as f64);
                if i % 2 == 0 {
                    a.sin()
                } else {
                    a.cos()
                }
            })
            .collect();
        let max = row.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
        w.extend(row.iter().map(|v| (v / max * 127.0).round() as i8 as u8));
    }
    safetensors::build(&[("pos", wcodec::Dtype::I8, &[512, 384], &w)], None)
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let modes = TileOptions::default().modes();
    println!(
        "| file | tiles searched | predictor share none / left / top / avg / planar | transform share none / dct / adst | full search MB/s/thread (search alone / flat + search + entropy coding) | forced: bytes saved | default encoder: bytes saved, tiled tensors | default encode MB/s (tiles / off) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for path in files {
        let (source, name) = if path == "sinusoid" {
            (sinusoid(), "sinusoid 512×384 int8 (synthetic)".to_owned())
        } else {
            let name = std::path::Path::new(&path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (std::fs::read(&path).unwrap(), name)
        };
        let planes = planes_of(&source);
        let plane_mb = planes.iter().map(|p| p.bytes.len()).sum::<usize>() as f64 / 1e6;
        pool.install(|| {
            let hists: Vec<[u64; 256]> = planes
                .iter()
                .map(|p| plane_histogram(&p.bytes, 1 << 18))
                .collect();
            // Full search alone.
            let search_s = timed(|| {
                for (p, h) in planes.iter().zip(&hists) {
                    std::hint::black_box(search(&p.bytes, &p.grid, p.bias, &modes, h, Effort::Full));
                }
            });
            // Full search + entropy coding of residuals and modes, and what it saves.
            let mut counts = [0u64; N_MODES];
            let mut saved = 0u64;
            let coded_s = timed(|| {
                counts = [0; N_MODES];
                saved = 0;
                for (p, h) in planes.iter().zip(&hists) {
                    let n = p.bytes.len();
                    let flat = encode_plane_with(&p.bytes, 1 << 18, h);
                    let flat_bytes = stored(flat.coder, flat.stored.len(), n);
                    // With the full search, `None` means every tile chose `none`/`none`.
                    let Some(t) = search(&p.bytes, &p.grid, p.bias, &modes, h, Effort::Full) else {
                        counts[Mode::FLAT.id() as usize] += p.grid.n_tiles();
                        continue;
                    };
                    let res = encode_plane(&t.residuals, 1 << 18);
                    let md = encode_plane(&t.modes, 1 << 18);
                    let tiled = stored(md.coder, md.stored.len(), t.modes.len()).next_multiple_of(64)
                        + stored(res.coder, res.stored.len(), n);
                    let margin = (flat_bytes * MIN_TILE_GAIN.0 / MIN_TILE_GAIN.1).max(64);
                    if tiled + margin <= flat_bytes {
                        saved += flat_bytes - tiled;
                    }
                    for (c, k) in counts.iter_mut().zip(t.counts) {
                        *c += k;
                    }
                }
            });
            let total: u64 = counts.iter().sum();
            let share = |keep: &dyn Fn(Mode) -> bool| {
                let k: u64 = (0..N_MODES)
                    .filter(|&id| keep(Mode::from_id(id as u8).unwrap()))
                    .map(|id| counts[id])
                    .sum();
                100.0 * k as f64 / total.max(1) as f64
            };
            let preds: Vec<String> = Predictor::ALL
                .iter()
                .map(|&p| format!("{:.1}", share(&|m| m.predictor == p)))
                .collect();
            let kinds: Vec<String> = Transform::ALL
                .iter()
                .map(|&t| format!("{:.1}", share(&|m| m.transform == t)))
                .collect();
            // The default encoder against tiles off.
            let ((tiled_size, stats), (flat_size, _)) = (
                encode_size(&source, TileOptions::default()),
                encode_size(&source, TileOptions::disabled()),
            );
            let mb = source.len() as f64 / 1e6;
            let enc_tiles = timed(|| {
                encode_size(&source, TileOptions::default());
            });
            let enc_flat = timed(|| {
                encode_size(&source, TileOptions::disabled());
            });
            println!(
                "| {name} | {total} | {} | {} | {:.1} / {:.1} | {} B ({:.2}%) | {} B ({:.2}%), {} | {:.0} / {:.0} |",
                preds.join(" / "),
                kinds.join(" / "),
                plane_mb / search_s,
                plane_mb / coded_s,
                saved,
                100.0 * saved as f64 / source.len() as f64,
                flat_size - tiled_size,
                100.0 * (flat_size - tiled_size) as f64 / source.len() as f64,
                stats.tiled_tensors,
                mb / enc_tiles,
                mb / enc_flat,
            );
        });
    }
}
