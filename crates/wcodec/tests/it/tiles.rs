//! The tile toolset (format.md §6): every predictor and transform is exactly invertible, the
//! fast reconstruction equals the spec-literal oracle (`tile::naive`), the encoder's residuals
//! are what the spec says for the modes it chose, and tiles pay where they should and never
//! cost bytes where they do not.

use proptest::prelude::*;
use wcodec::format::header::Encoding;
use wcodec::rans::freq::histogram;
use wcodec::source::safetensors::build;
use wcodec::tile::codec::reconstruct_at;
use wcodec::tile::search::{search, Effort};
use wcodec::tile::simd::Level;
use wcodec::tile::{naive, Grid, Mode, TileOptions, MAX_TILE_SIZE, MIN_TILE_SIZE, N_MODES};
use wcodec::{Archive, Dtype, EncodeOptions, Error};

use crate::common::{
    decode_all, encode_with, flat_options, lcg, options, peaked, sinusoid_i8, smooth_field,
    try_encode_with, weight_like,
};
use crate::fixtures::{tile_pattern, Pattern};

const BIASES: [u8; 2] = [0, 0x80];

/// Rebuilds a plane with the fast path (at every vector level the CPU has) and checks it against
/// the oracle and `want`.
fn check_reconstruction(
    grid: &Grid,
    bias: u8,
    residuals: &[u8],
    modes: &[u8],
    want: Option<&[u8]>,
) {
    let slow = naive::reconstruct(grid, bias, residuals, modes).expect("valid planes");
    for level in Level::supported() {
        let mut fast = vec![0xA5u8; residuals.len()];
        reconstruct_at(level, grid, bias, residuals, modes, &mut fast).expect("valid planes");
        assert!(
            fast == slow,
            "fast ({level:?}) != oracle for {grid:?} bias {bias:#x} modes {modes:?}"
        );
    }
    if let Some(want) = want {
        assert!(
            slow == want,
            "reconstruction != original for {grid:?} modes {modes:?}"
        );
    }
}

/// Any residual plane with any valid mode plane is a valid tiled plane: the fast reconstruction
/// must equal the oracle's, for every tile size, partial edge tiles included.
#[test]
fn fast_reconstruction_matches_the_oracle() {
    for tile in MIN_TILE_SIZE..=MAX_TILE_SIZE {
        let t = u64::from(tile);
        for (rows, cols) in [(t, t), (2 * t + 3, t + 1), (1, 3 * t - 1), (t - 1, 5)] {
            let grid = Grid {
                rows,
                cols,
                tile: t,
            };
            let n = (rows * cols) as usize;
            let seed = u64::from(tile) * 31 + rows;
            let residuals = lcg(n, seed);
            let modes: Vec<u8> = lcg(grid.n_tiles() as usize, seed + 1)
                .iter()
                .map(|&b| b % N_MODES as u8)
                .collect();
            for bias in BIASES {
                check_reconstruction(&grid, bias, &residuals, &modes, None);
            }
        }
    }
}

/// Tiles a plane with one mode everywhere (the oracle's forward direction) and checks that both
/// reconstructions give it back.
fn round_trip_with_mode(grid: &Grid, bias: u8, plane: &[u8], mode: Mode) {
    let modes = vec![mode.id(); grid.n_tiles() as usize];
    let residuals = naive::residuals(grid, bias, plane, &modes);
    check_reconstruction(grid, bias, &residuals, &modes, Some(plane));
}

/// Adversarial tiles (all 0, all 255, alternating extremes, one outlier, random) for every tile
/// size, whole and partial, under every mode and both biases.
#[test]
fn every_mode_inverts_on_adversarial_tiles() {
    for tile in MIN_TILE_SIZE..=MAX_TILE_SIZE {
        let t = u64::from(tile);
        for (rows, cols) in [(t, t), (t, t - 1), (1, t), (t - 3, 3)] {
            let grid = Grid {
                rows,
                cols,
                tile: t,
            };
            let n = (rows * cols) as usize;
            let contents: [Vec<u8>; 6] = [
                vec![0; n],
                vec![255; n],
                (0..n)
                    .map(|k| {
                        if (k / cols as usize + k).is_multiple_of(2) {
                            0
                        } else {
                            255
                        }
                    })
                    .collect(),
                (0..n)
                    .map(|k| if k % 2 == 0 { 0x80 } else { 0x7F })
                    .collect(),
                (0..n).map(|k| if k == n / 2 { 255 } else { 0 }).collect(),
                lcg(n, t * 7 + rows),
            ];
            for plane in &contents {
                for id in 0..N_MODES as u8 {
                    for bias in BIASES {
                        round_trip_with_mode(&grid, bias, plane, Mode::from_id(id).unwrap());
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Random planes, grids, biases and per-tile modes: residuals then reconstruction is the
    /// identity, and the fast path agrees with the oracle.
    #[test]
    fn tiles_round_trip(
        tile in MIN_TILE_SIZE..=MAX_TILE_SIZE,
        rows in 1u64..80,
        cols in 1u64..80,
        bias in prop::sample::select(BIASES.to_vec()),
        seed in any::<u64>(),
        peak in 0u8..3,
    ) {
        let grid = Grid { rows, cols, tile: u64::from(tile) };
        let n = (rows * cols) as usize;
        let plane = match peak {
            0 => lcg(n, seed),
            1 => peaked(n, seed, 3),
            _ => smooth_field(rows as usize, cols as usize, seed, 2)
                .iter()
                .map(|&v| v as i8 as u8)
                .collect(),
        };
        let modes: Vec<u8> = lcg(grid.n_tiles() as usize, seed ^ 1)
            .iter()
            .map(|&b| b % N_MODES as u8)
            .collect();
        let residuals = naive::residuals(&grid, bias, &plane, &modes);
        check_reconstruction(&grid, bias, &residuals, &modes, Some(&plane));
    }
}

/// The search's residual plane is exactly the spec's residuals for the modes it chose, and
/// decodes back to the plane.
#[test]
fn encoder_residuals_follow_the_spec() {
    let patterns = [
        Pattern::RowWalks,
        Pattern::ColWalks,
        Pattern::Noisy,
        Pattern::Product,
        Pattern::Oscillating,
    ];
    let mut used = [0u64; N_MODES];
    for (k, &p) in patterns.iter().enumerate() {
        for (rows, cols, tile) in [(64, 64, 16), (70, 45, 16), (64, 64, 8), (33, 100, 32)] {
            let plane = tile_pattern(p, rows, cols, k as u64);
            let grid = Grid {
                rows: rows as u64,
                cols: cols as u64,
                tile,
            };
            for bias in BIASES {
                let modes = TileOptions::default().modes();
                let Some(t) = search(
                    &plane,
                    &grid,
                    bias,
                    &modes,
                    &histogram(&plane),
                    Effort::Full,
                ) else {
                    continue;
                };
                assert_eq!(t.residuals, naive::residuals(&grid, bias, &plane, &t.modes));
                check_reconstruction(&grid, bias, &t.residuals, &t.modes, Some(&plane));
                for (u, c) in used.iter_mut().zip(t.counts) {
                    *u += c;
                }
            }
        }
    }
    // Not every mode must win somewhere, but the searches above must use many.
    assert!(
        used.iter().filter(|&&n| n > 0).count() >= 8,
        "modes used: {used:?}"
    );
}

fn single(name: &str, dtype: Dtype, shape: &[u64], bytes: &[u8]) -> Vec<u8> {
    build(&[(name, dtype, shape, bytes)], None)
}

/// The acceptance test: a sinusoidal position-embedding table quantised to int8 per row
/// comes out at least 20% smaller with tiles than flat.
#[test]
fn smooth_tensor_is_at_least_20_percent_smaller() {
    let source = single("pos", Dtype::I8, &[512, 384], &sinusoid_i8(512, 384));
    let tiled = encode_with(&source, &options(1 << 18));
    let flat = encode_with(&source, &flat_options(1 << 18));
    assert!(
        tiled.len() * 5 <= flat.len() * 4,
        "tiled {} vs flat {} bytes",
        tiled.len(),
        flat.len()
    );
    assert_eq!(decode_all(tiled.clone()).unwrap(), source);
    let a = Archive::from_bytes(tiled).unwrap();
    assert_eq!(a.header().version, 2);
    let counts = a.tile_modes(0).unwrap()[0].expect("tiled");
    // Nearly every tile uses a predictor.
    assert!(
        counts[Mode::FLAT.id() as usize] * 20 < counts.iter().sum::<u64>(),
        "{counts:?}"
    );
}

/// Tiles never make a file larger: on data without structure nothing is tiled and the file is
/// byte for byte the tiles-off file (format version 1); elsewhere it is no larger.
#[test]
fn tiles_never_grow_a_file() {
    let cases: Vec<Vec<u8>> = vec![
        single("u", Dtype::U8, &[256, 256], &lcg(65536, 1)),
        single("p", Dtype::I8, &[300, 200], &peaked(60000, 2, 20)),
        single(
            "b",
            Dtype::BF16,
            &[128, 256],
            &weight_like(Dtype::BF16, 32768, 3),
        ),
        single(
            "f",
            Dtype::F32,
            &[64, 256],
            &weight_like(Dtype::F32, 16384, 4),
        ),
        single(
            "i",
            Dtype::I32,
            &[128, 128],
            &weight_like(Dtype::I32, 16384, 5),
        ),
        single("s", Dtype::I8, &[128, 96], &sinusoid_i8(128, 96)),
    ];
    for source in cases {
        let tiled = encode_with(&source, &options(4096));
        let flat = encode_with(&source, &flat_options(4096));
        let a = Archive::from_bytes(tiled.clone()).unwrap();
        if a.tensors().iter().all(|t| t.tile_size.is_none()) {
            assert!(
                tiled == flat,
                "untiled file differs from the tiles-off file"
            );
            assert_eq!(a.header().version, 1);
        } else {
            assert!(
                tiled.len() < flat.len(),
                "{} >= {}",
                tiled.len(),
                flat.len()
            );
        }
        assert_eq!(decode_all(tiled).unwrap(), source);
    }
}

/// Smooth tensors of several dtypes and planes: tiled where it pays, always lossless.
#[test]
fn smooth_multi_plane_tensors_round_trip() {
    let field = smooth_field(96, 160, 11, 1);
    let i16s: Vec<u8> = field
        .iter()
        .flat_map(|&v| ((v * 97) as i16).to_le_bytes())
        .collect();
    let i32s: Vec<u8> = field
        .iter()
        .flat_map(|&v| (v * 40_000).to_le_bytes())
        .collect();
    let u16s: Vec<u8> = field
        .iter()
        .flat_map(|&v| ((v + 200) as u16 * 50).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = field
        .iter()
        .flat_map(|&v| (((v as f32 / 50.0).to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let source = build(
        &[
            ("i16", Dtype::I16, &[96, 160], &i16s),
            ("i32", Dtype::I32, &[96, 160], &i32s),
            ("u16", Dtype::U16, &[96, 160], &u16s),
            ("bf16", Dtype::BF16, &[96, 160], &bf16),
        ],
        None,
    );
    for tile_size in [4, 16, 64] {
        let opts = EncodeOptions {
            chunk_symbols: 4096,
            tiles: TileOptions {
                tile_size,
                ..TileOptions::default()
            },
            ..EncodeOptions::default()
        };
        let tiled = encode_with(&source, &opts);
        assert!(tiled.len() <= encode_with(&source, &flat_options(4096)).len());
        let a = Archive::from_bytes(tiled.clone()).unwrap();
        assert!(
            a.tensors().iter().any(|t| t.tile_size.is_some()),
            "tile {tile_size}: nothing tiled"
        );
        assert_eq!(decode_all(tiled).unwrap(), source);
    }
}

/// Tile options are checked before anything is read.
#[test]
fn bad_tile_options_are_invalid_input() {
    let source = single("s", Dtype::I8, &[64, 64], &sinusoid_i8(64, 64));
    for size in [1, 3, 65, 1024] {
        let opts = EncodeOptions {
            tiles: TileOptions {
                tile_size: size,
                ..TileOptions::default()
            },
            ..EncodeOptions::default()
        };
        match try_encode_with(&source, &opts) {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains(&format!("tile size {size} ")), "{m}");
            }
            other => panic!("tile size {size}: {other:?}"),
        }
    }
    // Only `none` allowed: nothing to search, the file is version 1.
    let opts = EncodeOptions {
        tiles: TileOptions {
            tile_size: 16,
            predictors: vec![wcodec::Predictor::None],
            transforms: vec![wcodec::Transform::None],
            decode_cost: 0,
        },
        ..EncodeOptions::default()
    };
    let a = Archive::from_bytes(encode_with(&source, &opts)).unwrap();
    assert_eq!(a.header().version, 1);
}

/// The public test set (`bench/data`, built by `make bench`; skipped when absent): real weights
/// come out no larger with tiles than without.
#[test]
fn public_test_files_are_no_larger_with_tiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/data");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: no {}", dir.display());
        return;
    };
    let mut seen = 0;
    let mut names: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
    {
        let source = std::fs::read(path).unwrap();
        let tiled = encode_with(&source, &EncodeOptions::default());
        let flat = encode_with(
            &source,
            &flat_options(wcodec::format::DEFAULT_CHUNK_SYMBOLS),
        );
        assert!(
            tiled.len() <= flat.len(),
            "{}: {} > {}",
            path.display(),
            tiled.len(),
            flat.len()
        );
        let a = Archive::from_bytes(tiled.clone()).unwrap();
        for t in a
            .tensors()
            .iter()
            .filter(|t| t.encoding == Encoding::Planes)
        {
            assert!(t.stored_bytes <= t.raw_bytes);
        }
        assert!(decode_all(tiled).unwrap() == source, "{}", path.display());
        eprintln!(
            "{}: {} tiled vs {} flat",
            path.display(),
            a.file_bytes(),
            flat.len()
        );
        seen += 1;
    }
    eprintln!("{seen} public test files checked");
}

/// Bytes tiles saved on the one tensor of `file` (0 when it is stored flat), from the header's
/// `flat_bytes` against the tiled streams.
fn tile_saving(file: &[u8]) -> Option<u64> {
    let a = Archive::from_bytes(file.to_vec()).unwrap();
    let t = &a.tensors()[0];
    t.tile_size?;
    let p = &t.planes[0];
    let modes = p.modes.as_ref().expect("tiled plane");
    Some(p.flat_bytes.expect("flat_bytes") - p.bytes - modes.bytes)
}

fn with_decode_cost(decode_cost: u32) -> EncodeOptions {
    EncodeOptions {
        tiles: TileOptions {
            decode_cost,
            ..TileOptions::default()
        },
        ..EncodeOptions::default()
    }
}

/// A 256 × 256 I8 smooth field under uniform noise of ±`noise`: the more noise, the less tiles
/// save.
fn noisy_field(noise: i32) -> Vec<u8> {
    let v: Vec<u8> = smooth_field(256, 256, 41, noise)
        .iter()
        .map(|&x| x.clamp(-128, 127) as i8 as u8)
        .collect();
    single("w", Dtype::I8, &[256, 256], &v)
}

/// Tiles are charged their decode cost: by default a tensor where they save a little (here
/// ~5.7% of its bytes, ~8% of its flat size) stays flat, one where they save much is still
/// tiled, and `decode_cost: 0` restores the size-only decision.
#[test]
fn tiles_that_save_little_stay_flat_by_default() {
    let n = 256 * 256;
    let weak = noisy_field(48);
    let saving = tile_saving(&encode_with(&weak, &with_decode_cost(0))).expect("tiled at cost 0");
    assert!(
        saving * 100 < u64::from(wcodec::tile::DEFAULT_TILE_DECODE_COST) * n && saving * 50 > n,
        "the case no longer saves between 2% and the default charge: {saving} of {n}"
    );
    let by_default = encode_with(&weak, &EncodeOptions::default());
    assert_eq!(
        tile_saving(&by_default),
        None,
        "tiled despite its decode cost"
    );
    assert_eq!(decode_all(by_default).unwrap(), weak);

    let strong = noisy_field(0);
    let saving = tile_saving(&encode_with(&strong, &EncodeOptions::default()))
        .expect("a smooth field is tiled by default");
    assert!(saving * 100 >= u64::from(wcodec::tile::DEFAULT_TILE_DECODE_COST) * n);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The charge is exactly a threshold on the saving: with any `decode_cost`, a plane is
    /// tiled if and only if the tiles (found by the same search) save at least that percentage
    /// of its bytes, and what it saves then is what it saves without the charge.
    #[test]
    fn decode_cost_is_a_threshold_on_the_saving(noise in 0i32..56, cost in 0u32..=30) {
        let source = noisy_field(noise);
        let n = 256 * 256u64;
        let free = tile_saving(&encode_with(&source, &with_decode_cost(0)));
        let charged = tile_saving(&encode_with(&source, &with_decode_cost(cost)));
        match free {
            Some(s) if s * 100 >= u64::from(cost) * n => prop_assert_eq!(charged, Some(s)),
            _ => prop_assert_eq!(charged, None),
        }
    }
}
