//! Test bodies shared by the GPU tests (`gpu.rs`) and the warp-emulation tests (`emu.rs`): the
//! same files, the same comparisons with the CPU decoder, whatever runs the kernels.

#![allow(dead_code)]

use std::io::Cursor;
use std::path::PathBuf;

use wcodec::source::safetensors;
use wcodec::{encode_bytes, Archive, Dtype, EncodeOptions, NoProgress};
use wcodec_cuda::DecodeParams;

/// The core's test generator (one copy for every test of the workspace).
#[path = "../../../wcodec/src/test_rng.rs"]
mod test_rng;
pub(crate) use test_rng::lcg;

/// Something that runs the GPU decode of every tensor of an archive.
pub(crate) trait Backend {
    /// Decodes every tensor; returns the decode result and each tensor's bytes as written (the
    /// contents of its destination, whatever the result).
    fn decode_all(
        &self,
        archive: &Archive,
        params: &DecodeParams,
    ) -> (wcodec_cuda::Result<()>, Vec<Vec<u8>>);
}

/// The committed golden files.
pub(crate) fn golden_files() -> Vec<(String, Vec<u8>)> {
    // WCODEC_GOLDEN_DIR: where the golden files are when the test binary runs away from its
    // source tree (a GPU machine that got the binary only).
    let dir = std::env::var_os("WCODEC_GOLDEN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden"),
        PathBuf::from,
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/golden")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wcodec"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// Gaussian-like f32 weights (sum of four uniforms).
pub(crate) fn weights(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    lcg(n * 8, seed)
        .chunks_exact(8)
        .map(|c| {
            let u = |i: usize| f32::from(u16::from_le_bytes([c[2 * i], c[2 * i + 1]])) / 65536.0;
            (u(0) + u(1) + u(2) + u(3) - 2.0) * 1.73 * scale
        })
        .collect()
}

/// Peaked int8-like bytes.
pub(crate) fn peaked(n: usize, seed: u64, spread: i32) -> Vec<u8> {
    lcg(n * 4, seed)
        .chunks_exact(4)
        .map(|c| {
            let s: i32 = c.iter().map(|&b| i32::from(b) % (2 * spread)).sum();
            (s / 4 - spread) as i8 as u8
        })
        .collect()
}

/// `n` elements of `dtype`, weight-like where it is a float.
pub(crate) fn tensor_bytes(dtype: Dtype, n: usize, seed: u64) -> Vec<u8> {
    let w = |k| weights(k, seed, 0.02);
    match dtype {
        Dtype::F32 => w(n).iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F64 => w(n)
            .iter()
            .flat_map(|&v| f64::from(v).to_le_bytes())
            .collect(),
        Dtype::BF16 => w(n)
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect(),
        Dtype::F16 | Dtype::I16 | Dtype::U16 => peaked(n * 2, seed, 3),
        Dtype::I32 | Dtype::U32 => peaked(n, seed, 20)
            .iter()
            .flat_map(|&b| i32::from(b as i8).to_le_bytes())
            .collect(),
        Dtype::I64 | Dtype::U64 => peaked(n, seed, 20)
            .iter()
            .flat_map(|&b| i64::from(b as i8).to_le_bytes())
            .collect(),
        _ => peaked(n, seed, 24),
    }
}

/// The tensors of one test file: name, dtype, shape, bytes.
type Data = Vec<(String, Dtype, Vec<u64>, Vec<u8>)>;

/// Builds a safetensors file of `data` and encodes it with `options`.
fn encode_data(data: &Data, options: &EncodeOptions) -> Vec<u8> {
    let refs: Vec<(&str, Dtype, &[u64], &[u8])> = data
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
        .collect();
    let source = safetensors::build(&refs, None);
    let mut out = Cursor::new(Vec::new());
    encode_bytes(&source, "model.safetensors", options, &mut out, &NoProgress).expect("encodes");
    out.into_inner()
}

/// Encodes `(name, dtype, elements, seed)` tensors with `chunk_symbols`.
pub(crate) fn encode(tensors: &[(&str, Dtype, usize, u64)], chunk_symbols: u64) -> Vec<u8> {
    let data: Data = tensors
        .iter()
        .map(|&(name, dtype, n, seed)| {
            // `noise*` tensors are uniform bytes: incompressible, stored raw.
            let bytes = if name.starts_with("noise") {
                lcg(n * dtype.plane_layout().n_planes(), seed)
            } else {
                tensor_bytes(dtype, n, seed)
            };
            (name.to_owned(), dtype, vec![n as u64], bytes)
        })
        .collect();
    encode_data(
        &data,
        &EncodeOptions {
            chunk_symbols,
            ..EncodeOptions::default()
        },
    )
}

/// Compares a backend's output with the CPU decoder, tensor by tensor.
pub(crate) fn assert_matches_cpu(
    label: &str,
    archive: &Archive,
    result: &wcodec_cuda::Result<()>,
    got: &[Vec<u8>],
) {
    if let Err(e) = result {
        panic!("{label}: GPU decode failed: {e}");
    }
    for (i, t) in archive.tensors().iter().enumerate() {
        let cpu = archive
            .decode(i)
            .unwrap_or_else(|e| panic!("{label}: CPU decode failed: {e}"));
        assert!(
            got[i] == cpu,
            "{label}: tensor `{}` ({}, {} bytes, {:?}) differs from the CPU decoder (first difference at byte {:?})",
            t.name,
            t.dtype,
            t.raw_bytes,
            t.encoding,
            got[i].iter().zip(&cpu).position(|(a, b)| a != b)
        );
    }
}

/// Every golden file decodes to the CPU decoder's bytes, the version-2 files with tiled planes
/// (every predictor and transform) included.
pub(crate) fn golden(b: &dyn Backend, params: &DecodeParams) {
    let mut tiled = 0;
    for (name, bytes) in golden_files() {
        let archive = Archive::from_bytes(bytes).expect("golden file opens");
        let (result, got) = b.decode_all(&archive, params);
        tiled += usize::from(
            archive
                .tensors()
                .iter()
                .any(wcodec::format::header::TensorEntry::is_tiled),
        );
        assert_matches_cpu(&name, &archive, &result, &got);
    }
    assert!(tiled > 0, "the golden corpus has version-2 tiled files");
}

/// Smooth 2-D tensors (a slow sinusoid plus a little noise) that the encoder codes with tiles.
fn smooth_bytes(dtype: Dtype, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let noise = lcg(rows * cols, seed);
    let v = |k: usize| {
        let (i, j) = ((k / cols) as f64, (k % cols) as f64);
        (i * 0.11 + j * 0.07 + seed as f64).sin() * 0.9 + f64::from(noise[k] % 3) * 0.004
    };
    let n = rows * cols;
    match dtype {
        Dtype::I8 => (0..n).map(|k| (v(k) * 100.0).round() as i8 as u8).collect(),
        Dtype::U8 => (0..n)
            .map(|k| (128.0 + v(k) * 100.0).round() as u8)
            .collect(),
        Dtype::I16 => (0..n)
            .flat_map(|k| ((v(k) * 20000.0).round() as i16).to_le_bytes())
            .collect(),
        Dtype::BF16 => (0..n)
            .flat_map(|k| (((v(k) as f32).to_bits() >> 16) as u16).to_le_bytes())
            .collect(),
        Dtype::F32 => (0..n).flat_map(|k| (v(k) as f32).to_le_bytes()).collect(),
        other => panic!("no smooth generator for {other}"),
    }
}

/// Encodes smooth `(name, dtype, rows, cols, seed)` tensors with tiles of side `tile`.
pub(crate) fn encode_tiled(
    tensors: &[(&str, Dtype, usize, usize, u64)],
    chunk_symbols: u64,
    tile: u32,
) -> Vec<u8> {
    let data: Data = tensors
        .iter()
        .map(|&(name, dtype, r, c, seed)| {
            let bytes = smooth_bytes(dtype, r, c, seed);
            (name.to_owned(), dtype, vec![r as u64, c as u64], bytes)
        })
        .collect();
    encode_data(
        &data,
        &EncodeOptions {
            chunk_symbols,
            // No decode-cost charge: every tiling that saves bytes is kept, so that every plane
            // count gets tiled and the GPU's tile rebuild is exercised.
            tiles: wcodec::TileOptions {
                tile_size: tile,
                decode_cost: 0,
                ..wcodec::TileOptions::default()
            },
            ..EncodeOptions::default()
        },
    )
}

/// Tiled tensors of every plane count, several tile sizes (edge tiles included: the shapes are
/// not multiples of the tile), decoded next to flat ones: the rebuilt bytes equal the CPU's.
pub(crate) fn tiled_round_trips(b: &dyn Backend, params: &DecodeParams, scale: usize) {
    for &tile in &[4u32, 13, 16, 64] {
        let file = encode_tiled(
            &[
                ("int8", Dtype::I8, 67 * scale, 129, 1),
                ("uint8", Dtype::U8, 40, 101 * scale, 2),
                ("bf16", Dtype::BF16, 45 * scale, 100, 3),
                ("i16", Dtype::I16, 33, 130 * scale, 4),
                ("f32", Dtype::F32, 50 * scale, 83, 5),
            ],
            4096,
            tile,
        );
        let archive = Archive::from_bytes(file).expect("opens");
        let tiled = archive.tensors().iter().filter(|t| t.is_tiled()).count();
        assert!(tiled >= 3, "tile {tile}: only {tiled} tensors were tiled");
        let (result, got) = b.decode_all(&archive, params);
        assert_matches_cpu(&format!("tiled, tile {tile}"), &archive, &result, &got);
    }
}

/// A tiled int8 tensor whose mode plane is stored raw (64 tiles: too few for rANS); returns the
/// file and the absolute offset of its mode ids.
pub(crate) fn raw_mode_plane_file() -> (Vec<u8>, u64) {
    let file = encode_tiled(&[("smooth", Dtype::I8, 64, 64, 7)], 4096, 8);
    let archive = Archive::from_bytes(file.clone()).expect("opens");
    let t = &archive.tensors()[0];
    let modes = t.planes[0].modes.as_ref().expect("the plane is tiled");
    assert_eq!(modes.bytes, 64, "64 tiles, mode ids stored raw");
    (file, modes.offset)
}

/// Synthetic round trips: every dtype class, several chunk sizes, partial last chunks.
pub(crate) fn round_trips(b: &dyn Backend, params: &DecodeParams, scale: usize) {
    for &chunk in &[4096u64, 16384] {
        let n = |k: usize| k * scale;
        let file = encode(
            &[
                ("int8", Dtype::I8, n(3 * 4096 + 17), 1),
                ("bf16", Dtype::BF16, n(2 * 4096 + 5), 2),
                ("f32", Dtype::F32, n(4096 + 3), 3),
                ("f16", Dtype::F16, n(4096 + 1), 4),
                ("i64", Dtype::I64, 700, 5),
                ("tiny", Dtype::U8, 3, 6),
                ("fp8", Dtype::F8E4M3, n(5000), 7),
                ("f64", Dtype::F64, 1500, 8),
                ("noise", Dtype::U8, 5000, 9),
                ("noise_bf16", Dtype::BF16, 3000, 10),
            ],
            chunk,
        );
        let archive = Archive::from_bytes(file).expect("opens");
        let (result, got) = b.decode_all(&archive, params);
        assert_matches_cpu(
            &format!("round trip, chunk {chunk}"),
            &archive,
            &result,
            &got,
        );
    }
}

/// Single-bit flips across the payload: the backend fails exactly when the CPU decoder fails,
/// and never crashes (a crash aborts the test process or the emulator).
pub(crate) fn corrupt_sweep(
    b: &dyn Backend,
    params: &DecodeParams,
    file: &[u8],
    flips: usize,
) -> (usize, usize) {
    let original = Archive::from_bytes(file.to_vec()).expect("opens");
    let payload_end = original
        .tensors()
        .iter()
        .map(|t| t.offset + t.stored_bytes)
        .max()
        .unwrap_or(64);
    let (mut tried, mut rejected) = (0, 0);
    let mut kinds = std::collections::BTreeMap::new();
    for i in 0..flips {
        let pos = 64 + (i as u64 * 7919) % (payload_end - 64);
        let mut bad = file.to_vec();
        bad[pos as usize] ^= 1 << (i % 8);
        let Ok(archive) = Archive::from_bytes(bad) else {
            continue;
        };
        tried += 1;
        let cpu_fails = (0..archive.tensors().len()).any(|t| archive.decode(t).is_err());
        let (result, _) = b.decode_all(&archive, params);
        assert_eq!(
            result.is_err(),
            cpu_fails,
            "flip of bit {} at byte {pos}: CPU {} but GPU {:?}",
            i % 8,
            if cpu_fails { "fails" } else { "succeeds" },
            result
        );
        rejected += usize::from(cpu_fails);
        if let Err(e) = &result {
            let kind = match e {
                wcodec_cuda::Error::CorruptChunk { .. } => "chunk status",
                wcodec_cuda::Error::CorruptTile { .. } => "tile mode",
                wcodec_cuda::Error::Checksum { .. } => "checksum",
                wcodec_cuda::Error::Format(_) => "layout (before any launch)",
                _ => "other",
            };
            *kinds.entry(kind).or_insert(0usize) += 1;
        }
    }
    eprintln!("corrupt sweep: {tried} variants opened, rejections by kind: {kinds:?}");
    (tried, rejected)
}

/// A file for the corruption sweeps: rANS planes, raw planes, raw chunks, a raw tensor.
pub(crate) fn corrupt_sweep_file() -> Vec<u8> {
    encode(
        &[
            ("int8", Dtype::I8, 2 * 4096 + 100, 11),
            ("bf16", Dtype::BF16, 4096 + 30, 12),
            ("noise", Dtype::U8, 300, 13),
        ],
        4096,
    )
}

/// Many small tensors of every kind (rANS, raw planes, raw tensors) in a file on disk, opened
/// from its path so the decoder reads it with positional reads, in windows of 1 MiB: every
/// window holds many tensors, and the output equals the CPU decoder's.
pub(crate) fn many_tensors_from_a_file(b: &dyn Backend, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let noise: Vec<String> = (0..n).map(|i| format!("noise{i}")).collect();
    let mut spec = Vec::new();
    for i in 0..n {
        let (name, dtype, elems) = match i % 4 {
            0 => (names[i].as_str(), Dtype::I8, 3000 + 37 * i),
            1 => (names[i].as_str(), Dtype::BF16, 2000 + 11 * i),
            2 => (noise[i].as_str(), Dtype::U8, 700 + i),
            _ => (names[i].as_str(), Dtype::F32, 500 + 3 * i),
        };
        spec.push((name, dtype, elems, i as u64));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("many.wcodec");
    std::fs::write(&path, encode(&spec, 4096)).expect("write");
    let archive = Archive::open(&path).expect("opens");
    let params = DecodeParams {
        staging_bytes: 1 << 20,
        ..DecodeParams::default()
    };
    let (result, got) = b.decode_all(&archive, &params);
    assert_matches_cpu("many tensors from a file", &archive, &result, &got);
}

/// A file cut short after it was opened: the positional reads meet its end and the error names
/// a tensor (the GPU never sees the missing bytes).
pub(crate) fn a_file_cut_after_opening_names_a_tensor(b: &dyn Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.wcodec");
    let file = corrupt_sweep_file();
    std::fs::write(&path, &file).expect("write");
    let archive = Archive::open_unmapped(&path).expect("opens");
    let last = archive.tensors().last().expect("tensors").clone();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(last.offset + last.stored_bytes / 2))
        .expect("truncate");
    let (result, _) = b.decode_all(&archive, &DecodeParams::default());
    match result {
        Err(wcodec_cuda::Error::Format(wcodec::Error::CorruptTensor { tensor, detail })) => {
            assert!(archive.find(&tensor).is_ok(), "{tensor}");
            assert!(detail.contains("truncated"), "{detail}");
        }
        other => panic!("expected a corrupt-tensor error, got {other:?}"),
    }
}
