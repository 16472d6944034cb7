//! Partial decodes (`wcodec::slice`): every byte range equals the same range of the full decode
//! (the naive reference), for every dtype, flat and tiled; only the chunks covering the range
//! are decoded; corrupt chunks in the range are errors.

use proptest::prelude::*;
use wcodec::layout::{StoredPlane, TensorStorage};
use wcodec::slice::tensor_chunks;
use wcodec::source::safetensors::build;
use wcodec::{Archive, Dtype, EncodeOptions, Error, TileOptions};

use crate::common::{encode_with, flat_options, lcg, options, smooth_field, weight_like};

/// The naive reference: decode everything, then cut.
fn check_range(a: &Archive, index: usize, start: u64, len: u64) -> u64 {
    let full = a.decode(index).unwrap();
    let mut out = vec![0xA5u8; len as usize];
    let stats = a.decode_range_into(index, start, &mut out).unwrap();
    let name = &a.tensors()[index].name;
    assert!(
        out == full[start as usize..(start + len) as usize],
        "`{name}` bytes {start}..+{len} differ from the full decode"
    );
    stats.chunks
}

/// Leading-dimension slices (as tensor-parallel loaders take them), odd byte ranges, the
/// whole tensor and empty ranges.
fn check_ranges(a: &Archive, index: usize) {
    let t = &a.tensors()[index];
    let n = t.raw_bytes;
    let rows = t.shape.first().copied().unwrap_or(1).max(1);
    let row = n / rows;
    for parts in [2, 3, 8] {
        for r in 0..parts {
            let (r0, r1) = (rows * r / parts, rows * (r + 1) / parts);
            check_range(a, index, r0 * row, (r1 - r0) * row);
        }
    }
    for (s, l) in [
        (0, n),
        (0, 0),
        (n, 0),
        (1, n - 2),
        (n / 3, n / 5 + 1),
        (n - 1, 1),
    ] {
        check_range(a, index, s, l);
    }
}

fn file_of(tensors: &[(&str, Dtype, &[u64], &[u8])], opts: &EncodeOptions) -> Archive {
    Archive::from_bytes(encode_with(&build(tensors, None), opts)).unwrap()
}

#[test]
fn every_dtype_flat_and_tiled_matches_the_full_decode() {
    for &dtype in Dtype::ALL {
        let shape = [64u64, 256];
        let bytes = weight_like(dtype, 64 * 256, 7);
        for opts in [options(4096), flat_options(4096)] {
            let a = file_of(&[("w", dtype, &shape, &bytes)], &opts);
            check_ranges(&a, 0);
        }
        // Incompressible: stored raw, or with raw planes.
        let noise = lcg(bytes.len(), 3);
        let a = file_of(&[("n", dtype, &shape, &noise)], &options(4096));
        check_ranges(&a, 0);
    }
}

#[test]
fn tiled_tensors_of_every_tile_size_match_the_full_decode() {
    let field = smooth_field(200, 96, 5, 1);
    let i8s: Vec<u8> = field.iter().map(|&v| v as i8 as u8).collect();
    let i16s: Vec<u8> = field
        .iter()
        .flat_map(|&v| ((v * 97) as i16).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = field
        .iter()
        .flat_map(|&v| (((v as f32 / 50.0).to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let tensors: [(&str, Dtype, &[u64], &[u8]); 3] = [
        ("i8", Dtype::I8, &[200, 96], &i8s),
        ("i16", Dtype::I16, &[200, 96], &i16s),
        ("bf16", Dtype::BF16, &[200, 96], &bf16),
    ];
    for tile_size in [4, 16, 64] {
        let opts = EncodeOptions {
            chunk_symbols: 4096,
            tiles: TileOptions {
                tile_size,
                ..TileOptions::default()
            },
            ..EncodeOptions::default()
        };
        let a = file_of(&tensors, &opts);
        assert!(
            a.tensors()
                .iter()
                .any(wcodec::format::header::TensorEntry::is_tiled),
            "tile {tile_size}: nothing tiled"
        );
        for i in 0..a.tensors().len() {
            check_ranges(&a, i);
        }
    }
}

/// A rank's 1/8 of a tensor decodes 1/8 of its chunks (plus at most one at each end of each
/// stream), never all of them.
#[test]
fn a_leading_dimension_slice_decodes_only_its_chunks() {
    let flat = weight_like(Dtype::I8, 1024 * 1024, 1);
    let a = file_of(
        &[("w", Dtype::I8, &[1024, 1024], &flat)],
        &flat_options(4096),
    );
    let entry = &a.tensors()[0];
    assert_eq!(tensor_chunks(entry), 256);
    // Rows 128..256 are symbols 131072..262144: chunks 32..64 exactly.
    assert_eq!(check_range(&a, 0, 128 * 1024, 128 * 1024), 32);
    // One row straddling a chunk boundary needs the two chunks it touches.
    assert_eq!(check_range(&a, 0, 4096 - 10, 20), 2);
    assert_eq!(check_range(&a, 0, 0, entry.raw_bytes), 256);

    let bf16 = weight_like(Dtype::BF16, 512 * 1024, 2);
    let field = smooth_field(512, 512, 3, 1);
    let smooth: Vec<u8> = field.iter().map(|&v| v as i8 as u8).collect();
    let a = file_of(
        &[
            ("b", Dtype::BF16, &[512, 1024], &bf16),
            ("s", Dtype::I8, &[512, 512], &smooth),
        ],
        &options(4096),
    );
    assert!(a.tensors()[1].is_tiled(), "the smooth tensor is tiled");
    for (i, t) in a.tensors().iter().enumerate() {
        let total = tensor_chunks(t);
        let row = t.raw_bytes / 512;
        let part = check_range(&a, i, 64 * row, 64 * row);
        let streams =
            t.planes.len() as u64 + t.planes.iter().filter(|p| p.modes.is_some()).count() as u64;
        assert!(
            part > 0 && part <= total / 8 + 2 * streams,
            "`{}`: {part} chunks of {total} for 1/8 of the rows",
            t.name
        );
    }
}

/// Flips stored bytes of chunk `k` of plane 0 of tensor `index`; returns the symbols per chunk.
fn corrupt_chunk(file: &mut [u8], a: &Archive, index: usize, k: usize) -> u64 {
    let TensorStorage::Planes(layout) = a.tensor_storage(index).unwrap() else {
        panic!("stored raw");
    };
    let StoredPlane::Rans { chunks, .. } = &layout.planes[0] else {
        panic!("plane 0 stored raw");
    };
    let span = chunks[k];
    for b in &mut file[(span.offset + 8) as usize..(span.offset + span.bytes - 8) as usize] {
        *b ^= 0x5A;
    }
    layout.chunk_symbols
}

#[test]
fn corrupt_chunks_in_the_range_are_errors_and_others_are_not_read() {
    let source = build(
        &[(
            "w",
            Dtype::I8,
            &[256, 256],
            &weight_like(Dtype::I8, 65536, 4),
        )],
        None,
    );
    let mut file = encode_with(&source, &flat_options(4096));
    let a = Archive::from_bytes(file.clone()).unwrap();
    let c = corrupt_chunk(&mut file, &a, 0, 3);
    let a = Archive::from_bytes(file).unwrap();
    let mut out = vec![0u8; c as usize];
    let e = a.decode_range_into(0, 3 * c, &mut out).unwrap_err();
    assert!(matches!(e, Error::CorruptTensor { .. }), "{e}");
    assert!(e.to_string().contains("chunk 3"), "{e}");
    // Chunk 3 is not read for chunk 5, which decodes; the full decode finds the damage.
    a.decode_range_into(0, 5 * c, &mut out).unwrap();
    assert!(a.decode(0).is_err());
}

#[test]
fn ranges_outside_the_tensor_are_invalid_input() {
    let a = file_of(
        &[("w", Dtype::I8, &[64, 64], &weight_like(Dtype::I8, 4096, 1))],
        &options(4096),
    );
    let mut out = vec![0u8; 10];
    for start in [4090, u64::MAX - 3] {
        let e = a.decode_range_into(0, start, &mut out).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    }
    let e = a.decode_range_into(1, 0, &mut out).unwrap_err();
    assert!(matches!(e, Error::TensorNotFound(_)), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any dtype, shape, chunk size, tiles on or off, any byte range: the naive reference.
    #[test]
    fn any_range_matches_the_full_decode(
        dtype in prop::sample::select(Dtype::ALL.to_vec()),
        rows in 1u64..300,
        cols in prop::sample::select(vec![8u64, 24, 64, 130]),
        tiled in any::<bool>(),
        seed in any::<u64>(),
        at in (0.0f64..1.0, 0.0f64..1.0),
    ) {
        let bytes = weight_like(dtype, rows * cols, seed);
        let opts = if tiled { options(4096) } else { flat_options(4096) };
        let a = file_of(&[("w", dtype, &[rows, cols], &bytes)], &opts);
        let n = bytes.len() as u64;
        let start = ((n as f64) * at.0) as u64;
        let len = (((n - start) as f64) * at.1) as u64;
        check_range(&a, 0, start, len);
    }
}
