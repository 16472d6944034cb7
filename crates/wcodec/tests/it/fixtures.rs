//! The generator of `testdata/`: golden source files (made deterministically from seeded
//! generators) with their `.wcodec` encodings, and crafted invalid files for `corrupt.rs`.
//!
//! Regenerate (a deliberate act; review the diff):
//! `WCODEC_BLESS=1 cargo test -p wcodec --test it -- --ignored bless_golden`

use std::path::PathBuf;

use wcodec::format::header::Encoding;
use wcodec::plane_coding::Coder;
use wcodec::rans::{naive, ChunkError};
use wcodec::source::safetensors::build;
use wcodec::{Dtype, EncodeOptions, Predictor, TileOptions, Transform};

use crate::common::{
    elements_for_symbols, encode_with, f32_to_f16_bits, flat_options, get_u32, lcg, pack_json,
    pack_stored, peaked, put_u32, sinusoid_i8, smooth_field, weight_like, Parts, RansLayout,
};

/// `testdata/` at the repository root.
pub(crate) fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// One golden file pair.
pub(crate) struct Golden {
    /// File stem: `<name>.safetensors` and `<name>.wcodec`.
    pub(crate) name: &'static str,
    /// Encoder options used.
    pub(crate) options: EncodeOptions,
    /// What the file is there to cover.
    pub(crate) covers: &'static str,
    /// The source file.
    pub(crate) source: Vec<u8>,
}

impl Golden {
    /// The encoding of the source with the case's options.
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode_with(&self.source, &self.options)
    }

    /// The tile options in the words of the golden README (`off`, or size and lists).
    pub(crate) fn tiles_text(&self) -> String {
        let t = &self.options.tiles;
        if !t.enabled() {
            return "off".into();
        }
        let names = |v: Vec<String>| v.join(",");
        format!(
            "{} / {} / {}",
            t.tile_size,
            names(t.predictors.iter().map(ToString::to_string).collect()),
            names(t.transforms.iter().map(ToString::to_string).collect())
        )
    }
}

type Owned = (String, Dtype, Vec<u64>, Vec<u8>);

fn st(tensors: &[Owned], meta: Option<&[(&str, &str)]>) -> Vec<u8> {
    let refs: Vec<(&str, Dtype, &[u64], &[u8])> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
        .collect();
    build(&refs, meta)
}

/// Low-entropy bytes for 1-byte dtypes (about 1.8 bits per symbol).
fn narrow(n: usize, seed: u64) -> Vec<u8> {
    peaked(n, seed, 2)
}

/// Symbols per plane of every tensor of `all_dtypes`.
const SYMBOLS: u64 = 384;

/// The golden cases, in a fixed order.
pub(crate) fn golden_cases() -> Vec<Golden> {
    let mut v = Vec::new();

    // Every dtype, SYMBOLS symbols per plane: 1-byte dtypes as one rANS plane, multi-byte dtypes
    // as a rANS top plane over raw low planes.
    let all: Vec<Owned> = Dtype::ALL
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            let n = elements_for_symbols(d, SYMBOLS);
            let bytes = match d {
                // Weights as F16 put 3 mantissa bits in the top plane: too random for a plane of
                // this size, so F16 gets small integers.
                Dtype::F16 => narrow(n as usize, k as u64)
                    .iter()
                    .flat_map(|&b| f32_to_f16_bits(f32::from(b as i8)).to_le_bytes())
                    .collect(),
                _ if d.plane_layout().n_planes() == 1 => {
                    narrow(d.bytes_for(n).unwrap() as usize, k as u64)
                }
                _ => weight_like(d, n, k as u64),
            };
            (format!("w.{}", d.name().to_lowercase()), d, vec![n], bytes)
        })
        .collect();
    v.push(Golden {
        name: "all_dtypes",
        options: flat_options(65_536),
        covers: "every dtype (planes encoding), __metadata__",
        source: st(&all, Some(&[("format", "pt")])),
    });

    v.push(Golden {
        name: "raw_tensors",
        options: flat_options(65_536),
        covers: "incompressible tensors stored raw; no __metadata__",
        source: st(
            &[
                ("bytes".into(), Dtype::U8, vec![300], lcg(300, 1)),
                ("floats".into(), Dtype::F32, vec![10, 10], lcg(400, 2)),
                ("longs".into(), Dtype::I64, vec![3, 7], lcg(168, 3)),
            ],
            None,
        ),
    });

    v.push(Golden {
        name: "float_planes",
        options: flat_options(65_536),
        covers: "F32/BF16/F16 weights: a rANS exponent plane over raw mantissa planes",
        source: st(
            &[
                (
                    "layer.0.weight".into(),
                    Dtype::F32,
                    vec![16, 64],
                    weight_like(Dtype::F32, 1024, 11),
                ),
                (
                    "layer.1.weight".into(),
                    Dtype::BF16,
                    vec![2048],
                    weight_like(Dtype::BF16, 2048, 12),
                ),
                (
                    "layer.2.weight".into(),
                    Dtype::F16,
                    vec![32, 32],
                    weight_like(Dtype::F16, 1024, 13),
                ),
            ],
            Some(&[("format", "pt"), ("source", "wcodec test fixtures")]),
        ),
    });

    let mut mixed = narrow(4096, 21);
    mixed.extend(lcg(4096, 22));
    mixed.extend(narrow(1001, 23));
    v.push(Golden {
        name: "chunks_4096",
        options: flat_options(4096),
        covers: "chunk_symbols 4096: several chunks, a raw chunk inside a rANS plane, a 1-symbol last chunk, a tensor of exactly one chunk",
        source: st(
            &[
                ("mixed".into(), Dtype::I8, vec![9193], mixed),
                ("bf16".into(), Dtype::BF16, vec![4097], weight_like(Dtype::BF16, 4097, 24)),
                ("one_chunk".into(), Dtype::U8, vec![64, 64], narrow(4096, 25)),
            ],
            Some(&[("format", "pt")]),
        ),
    });

    let mut empty: Vec<Owned> = Vec::new();
    for (k, d) in [
        Dtype::F32,
        Dtype::BF16,
        Dtype::I64,
        Dtype::Bool,
        Dtype::F4,
        Dtype::F8E4M3,
    ]
    .into_iter()
    .enumerate()
    {
        empty.push((
            format!("empty.{}", d.name().to_lowercase()),
            d,
            vec![0],
            Vec::new(),
        ));
        empty.push((
            format!("empty2d.{}", d.name().to_lowercase()),
            d,
            vec![4, 0],
            Vec::new(),
        ));
        empty.push((
            format!("scalar.{}", d.name().to_lowercase()),
            d,
            vec![],
            lcg(d.bytes_for(1).unwrap() as usize, 30 + k as u64),
        ));
    }
    v.push(Golden {
        name: "empty_and_scalars",
        options: flat_options(65_536),
        covers: "zero-size tensors and 0-rank scalars; __metadata__ with several keys",
        source: st(
            &empty,
            Some(&[("format", "pt"), ("ünïcode", "✓"), ("empty", "")]),
        ),
    });

    // Format version 2: tiled planes.
    let i8s =
        |v: Vec<i32>| -> Vec<u8> { v.iter().map(|&x| x.clamp(-128, 127) as i8 as u8).collect() };
    let i16s = |v: Vec<i32>| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| ((x * 40) as i16).to_le_bytes())
            .collect()
    };
    v.push(Golden {
        name: "tiles_modes",
        // Written before tiles were charged their decode cost: without the charge (the default
        // toolset otherwise), so the committed file stays what this encoder writes.
        options: EncodeOptions {
            chunk_symbols: 4096,
            tiles: TileOptions {
                decode_cost: 0,
                ..TileOptions::default()
            },
            ..EncodeOptions::default()
        },
        covers: "tiles at the default options: every predictor and transform chosen somewhere, partial edge tiles, a 1-D tensor (1 × 16 tiles), a two-plane I16 tensor, raw mode planes, a flat tensor beside tiled ones",
        source: st(
            &[
                ("row_walks".into(), Dtype::I8, vec![64, 64], tile_pattern(Pattern::RowWalks, 64, 64, 1)),
                ("col_walks".into(), Dtype::I8, vec![64, 64], tile_pattern(Pattern::ColWalks, 64, 64, 2)),
                ("noisy".into(), Dtype::I8, vec![64, 64], tile_pattern(Pattern::Noisy, 64, 64, 3)),
                ("product".into(), Dtype::I8, vec![64, 64], tile_pattern(Pattern::Product, 64, 64, 4)),
                ("oscillating".into(), Dtype::I8, vec![64, 64], tile_pattern(Pattern::Oscillating, 64, 64, 5)),
                ("pe".into(), Dtype::I8, vec![64, 72], sinusoid_i8(64, 72)),
                ("wave".into(), Dtype::I8, vec![4096], i8s(smooth_field(1, 4096, 6, 0))),
                ("smooth16".into(), Dtype::I16, vec![40, 120], i16s(smooth_field(40, 120, 7, 0))),
                ("noise".into(), Dtype::I8, vec![64, 64], peaked(4096, 8, 12)),
            ],
            Some(&[("format", "pt")]),
        ),
    });
    v.push(Golden {
        name: "tiles_8",
        options: EncodeOptions {
            chunk_symbols: 4096,
            tiles: TileOptions {
                tile_size: 8,
                predictors: vec![Predictor::Left, Predictor::Top],
                transforms: vec![Transform::Dct],
                decode_cost: 0,
            },
            ..EncodeOptions::default()
        },
        covers: "8 × 8 tiles and a subset of the modes (`left,top`; `dct`); a rANS-coded mode plane (384 tiles)",
        source: st(
            &[("field".into(), Dtype::I8, vec![192, 128], i8s(smooth_field(192, 128, 9, 1)))],
            None,
        ),
    });
    v
}

/// Synthetic tensors that each favour one kind of tile mode (golden files and tests).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pattern {
    /// Rows are random walks, unrelated to each other: `left`.
    RowWalks,
    /// Columns are random walks: `top`.
    ColWalks,
    /// A smooth field plus noise: `avg` (two noisy neighbours beat one).
    Noisy,
    /// A product of slow sinusoids: `planar`.
    Product,
    /// Fast oscillations: the DCT and ADST.
    Oscillating,
}

/// `rows × cols` int8 values of `pattern`.
pub(crate) fn tile_pattern(pattern: Pattern, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let rnd = lcg(rows * cols * 2, seed);
    let mut out = vec![0u8; rows * cols];
    match pattern {
        Pattern::RowWalks => {
            for i in 0..rows {
                let mut v = i32::from(rnd[i]);
                for j in 0..cols {
                    v += i32::from(rnd[rows * cols + i * cols + j] % 5) - 2;
                    out[i * cols + j] = v as u8;
                }
            }
        }
        Pattern::ColWalks => {
            for j in 0..cols {
                let mut v = i32::from(rnd[j]);
                for i in 0..rows {
                    v += i32::from(rnd[rows * cols + j * rows + i] % 5) - 2;
                    out[i * cols + j] = v as u8;
                }
            }
        }
        _ => {
            for (k, o) in out.iter_mut().enumerate() {
                let (i, j) = ((k / cols) as f64, (k % cols) as f64);
                let v = match pattern {
                    Pattern::Noisy => {
                        30.0 * (i / 11.0).sin() + 30.0 * (j / 13.0).cos() + f64::from(rnd[k] % 9)
                            - 4.0
                    }
                    Pattern::Product => 60.0 * (i / 20.0).sin() * (j / 17.0).cos(),
                    _ => {
                        50.0 * ((i * 0.9).cos() * (j * 0.2).cos())
                            + 40.0 * (i * 1.3 + j * 0.1).sin()
                    }
                };
                *o = v.round() as i8 as u8;
            }
        }
    }
    out
}

/// The valid file every crafted reject file is derived from: a raw tensor `r`, a two-chunk
/// rANS tensor `a` (chunk 0 rANS with 2 bytes of padding after it, chunk 1 raw) and a
/// one-chunk rANS tensor `z` that ends the payload. The encoder string is pinned so the files
/// do not change with the crate version.
pub(crate) fn reject_base() -> Vec<u8> {
    for seed in 0.. {
        let mut a = peaked(4096, seed, 1);
        a.extend(narrow(100, seed));
        let source = st(
            &[
                ("r".into(), Dtype::U8, vec![16], lcg(16, seed)),
                ("a".into(), Dtype::I8, vec![4196], a),
                ("z".into(), Dtype::I8, vec![512], narrow(512, seed + 1)),
            ],
            None,
        );
        let mut parts = Parts::of(&encode_with(&source, &flat_options(4096)));
        parts.header.encoder = "wcodec (test fixture)".into();
        let file = parts.pack();
        let l = layout(&file, &parts, 1);
        if l.chunks[0].1 % 4 == 2 && l.chunks[1].1 == 100 {
            return file;
        }
    }
    unreachable!()
}

/// Layout of plane 0 of tensor `t` (absolute offsets in the file).
fn layout(file: &[u8], parts: &Parts, t: usize) -> RansLayout {
    let e = &parts.header.tensors[t];
    assert_eq!(e.encoding, Encoding::Planes);
    let p = &e.planes[0];
    assert_eq!(p.coder, Coder::Rans);
    let mut l = RansLayout::of(
        &file[p.offset as usize..(p.offset + p.bytes) as usize],
        e.plane_symbols() as usize,
        e.chunk_symbols.unwrap() as usize,
    );
    l.sizes_at += p.offset as usize;
    for c in &mut l.chunks {
        c.0 += p.offset as usize;
    }
    l
}

/// Offset (in a serialised frequency table) of the first one-byte entry with `0 < f − 1 < 127`.
fn one_byte_entry(table: &[u8]) -> usize {
    let mut pos = 32;
    for s in 0..256 {
        if table[s / 8] & (1 << (s % 8)) == 0 {
            continue;
        }
        if table[pos] < 0x80 {
            if table[pos] > 0 && table[pos] < 0x7F {
                return pos;
            }
            pos += 1;
        } else {
            pos += 2;
        }
    }
    panic!("no one-byte frequency entry to edit")
}

/// Fixes the preamble checksum after editing preamble bytes.
fn reseal_preamble(file: &mut [u8]) {
    let sum = xxhash_rust::xxh3::xxh3_64(&file[..56]);
    file[56..64].copy_from_slice(&sum.to_le_bytes());
}

/// Header JSON text of a base file, for edits that the typed header cannot express.
fn header_json(parts: &Parts) -> String {
    serde_json::to_string(&parts.header).unwrap()
}

/// Tensors of the reject base file, by index.
const R: usize = 0;
const A: usize = 1;
const Z: usize = 2;

type Case = (&'static str, &'static str, Vec<u8>);

/// Adds a copy of `base` edited in place by `f`.
fn edit(
    v: &mut Vec<Case>,
    base: &[u8],
    name: &'static str,
    how: &'static str,
    f: &dyn Fn(&mut Vec<u8>),
) {
    let mut b = base.to_vec();
    f(&mut b);
    v.push((name, how, b));
}

/// Crafted invalid files: `(name, how it was made, bytes)`.
pub(crate) fn reject_cases() -> Vec<Case> {
    let base = reject_base();
    let parts = || Parts::of(&base);
    let p0 = parts();
    let la = layout(&base, &p0, A);
    let lz = layout(&base, &p0, Z);
    let stored = &base[p0.payload.len()..];
    let json_len = header_json(&p0).len() as u64;
    let mut v: Vec<Case> = Vec::new();
    let with_header = |f: &dyn Fn(&mut Parts)| {
        let mut p = parts();
        f(&mut p);
        p.pack()
    };

    // Preamble.
    edit(
        &mut v,
        &base,
        "bad_magic",
        "first magic byte changed",
        &|b| b[0] = b'W',
    );
    edit(
        &mut v,
        &base,
        "version_3",
        "preamble version 3 (checksum fixed)",
        &|b| {
            put_u32(b, 8, 3);
            reseal_preamble(b);
        },
    );
    edit(
        &mut v,
        &base,
        "version_0",
        "preamble version 0 (checksum fixed)",
        &|b| {
            put_u32(b, 8, 0);
            reseal_preamble(b);
        },
    );
    edit(
        &mut v,
        &base,
        "nonzero_flags",
        "flags = 1 (checksum fixed)",
        &|b| {
            put_u32(b, 12, 1);
            reseal_preamble(b);
        },
    );
    edit(
        &mut v,
        &base,
        "preamble_checksum",
        "one bit of the preamble checksum flipped",
        &|b| b[60] ^= 0x10,
    );
    edit(&mut v, &base, "truncated", "last 10 bytes cut off", &|b| {
        b.truncate(b.len() - 10);
    });
    edit(
        &mut v,
        &base,
        "truncated_preamble",
        "only the first 40 bytes",
        &|b| b.truncate(40),
    );
    edit(
        &mut v,
        &base,
        "trailing_bytes",
        "3 zero bytes appended",
        &|b| b.extend_from_slice(&[0, 0, 0]),
    );
    edit(
        &mut v,
        &base,
        "header_offset_in_preamble",
        "header_offset 32 (and stored size to match the file)",
        &|b| {
            let size = b.len() as u64;
            b[16..24].copy_from_slice(&32u64.to_le_bytes());
            b[24..32].copy_from_slice(&(size - 32).to_le_bytes());
            reseal_preamble(b);
        },
    );

    // Header container.
    edit(
        &mut v,
        &base,
        "header_checksum",
        "last header byte changed (preamble intact)",
        &|b| *b.last_mut().unwrap() ^= 0x01,
    );
    v.push((
        "header_not_deflate",
        "header bytes are not a DEFLATE stream (checksums valid)",
        pack_stored(&p0.payload, &[0xFF; 40], 100),
    ));
    v.push((
        "header_size_mismatch",
        "header_json_bytes 5 more than the JSON",
        pack_stored(&p0.payload, stored, json_len + 5),
    ));
    v.push((
        "header_over_cap",
        "header_json_bytes = 100,000,001",
        pack_stored(&p0.payload, stored, 100_000_001),
    ));
    v.push((
        "header_not_json",
        "header inflates to text that is not JSON",
        pack_json(&p0.payload, b"not json"),
    ));
    v.push((
        "header_unknown_dtype",
        "dtype `Q4` in the tensor table",
        pack_json(
            &p0.payload,
            header_json(&p0)
                .replacen("\"dtype\":\"I8\"", "\"dtype\":\"Q4\"", 1)
                .as_bytes(),
        ),
    ));
    v.push((
        "header_version_mismatch",
        "header says version 2, preamble 1",
        with_header(&|p| p.header.version = 2),
    ));

    // Tensor table (format.md §3.2).
    v.push((
        "duplicate_name",
        "tensor `z` renamed `a`",
        with_header(&|p| p.header.tensors[Z].name = "a".into()),
    ));
    v.push((
        "raw_bytes_vs_shape",
        "shape of `r` [17] for 16 raw bytes",
        with_header(&|p| p.header.tensors[R].shape = vec![17]),
    ));
    v.push((
        "shape_overflow",
        "shape of `r` overflows u64",
        with_header(&|p| p.header.tensors[R].shape = vec![1 << 32, 1 << 32, 2]),
    ));
    v.push((
        "misaligned_region",
        "region of `a` moved 4 bytes (with its plane)",
        with_header(&|p| {
            p.header.tensors[A].offset += 4;
            p.header.tensors[A].planes[0].offset += 4;
        }),
    ));
    v.push((
        "overlapping_regions",
        "region of `z` starts at that of `a`",
        with_header(&|p| {
            let off = p.header.tensors[A].offset;
            p.header.tensors[Z].offset = off;
            p.header.tensors[Z].planes[0].offset = off;
        }),
    ));
    v.push((
        "region_past_payload",
        "region of `z` 1000 bytes longer",
        with_header(&|p| p.header.tensors[Z].stored_bytes += 1000),
    ));
    v.push((
        "raw_region_size",
        "raw `r` with stored_bytes 15",
        with_header(&|p| p.header.tensors[R].stored_bytes = 15),
    ));
    v.push((
        "plane_outside_region",
        "plane of `a` 4 bytes longer than its region",
        with_header(&|p| p.header.tensors[A].planes[0].bytes += 4),
    ));
    v.push((
        "bad_chunk_symbols",
        "chunk_symbols 5000 for `a`",
        with_header(&|p| p.header.tensors[A].chunk_symbols = Some(5000)),
    ));
    v.push((
        "missing_chunk_symbols",
        "no chunk_symbols for planes tensor `a`",
        with_header(&|p| p.header.tensors[A].chunk_symbols = None),
    ));
    v.push((
        "plane_count",
        "two planes for I8 tensor `a`",
        with_header(&|p| {
            let pl = p.header.tensors[A].planes[0].clone();
            p.header.tensors[A].planes.push(pl);
        }),
    ));
    v.push((
        "plane_too_small",
        "rANS plane of `a` claims 100 bytes for 2 chunks",
        with_header(&|p| p.header.tensors[A].planes[0].bytes = 100),
    ));
    v.push((
        "raw_plane_size",
        "plane of `a` marked raw with its rANS size",
        with_header(&|p| p.header.tensors[A].planes[0].coder = Coder::Raw),
    ));

    // Source header (format.md §3.1).
    v.push((
        "source_dtype_mismatch",
        "embedded source header says U8 for `a`",
        with_header(&|p| {
            p.header.source.header =
                p.header
                    .source
                    .header
                    .replacen("\"dtype\":\"I8\"", "\"dtype\":\"U8\"", 1);
        }),
    ));
    v.push((
        "source_extra_tensor",
        "embedded source header lists an extra empty tensor",
        with_header(&|p| {
            p.header.source.header = p.header.source.header.replacen(
                '{',
                "{\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,16]},",
                1,
            );
        }),
    ));
    v.push((
        "source_not_json",
        "embedded source header is not JSON",
        with_header(&|p| p.header.source.header = "{oops".into()),
    ));
    v.push((
        "source_unknown_format",
        "source format `gguf` (tensors decode, rebuild refused)",
        with_header(&|p| p.header.source.format = "gguf".into()),
    ));

    // Payload: frequency tables and chunk tables (not covered by any container checksum).
    let table_at = one_byte_entry(&base[p0.header.tensors[A].planes[0].offset as usize..])
        + p0.header.tensors[A].planes[0].offset as usize;
    edit(
        &mut v,
        &base,
        "freq_sum_low",
        "first frequency of `a` one less (sum 4095)",
        &|b| b[table_at] -= 1,
    );
    edit(
        &mut v,
        &base,
        "freq_sum_high",
        "first frequency of `a` one more (sum 4097)",
        &|b| b[table_at] += 1,
    );
    let size0 = get_u32(&base, la.sizes_at);
    edit(
        &mut v,
        &base,
        "chunk_size_odd",
        "size of chunk 0 of `a` made odd",
        &|b| put_u32(b, la.sizes_at, size0 + 1),
    );
    edit(
        &mut v,
        &base,
        "chunk_size_not_smaller",
        "size of chunk 0 of `a` = 4097 for 4096 symbols",
        &|b| put_u32(b, la.sizes_at, 4097),
    );
    let pad_at = la.chunks[0].0 + la.chunks[0].1;
    assert_eq!(base[pad_at..pad_at + 2], [0, 0]);
    // (The two bytes that become chunk 0's padding are zeroed, so the intended check fires.)
    edit(
        &mut v,
        &base,
        "chunk_past_plane",
        "chunk 0 of `a` 4 bytes longer: chunk 1 runs past the plane",
        &|b| {
            put_u32(b, la.sizes_at, size0 + 4);
            b[pad_at + 4..pad_at + 6].fill(0);
        },
    );
    edit(
        &mut v,
        &base,
        "plane_trailing_bytes",
        "chunk 0 of `a` 4 bytes shorter: 4 bytes left at the end",
        &|b| {
            put_u32(b, la.sizes_at, size0 - 4);
            b[pad_at - 4..pad_at - 2].fill(0);
        },
    );
    edit(
        &mut v,
        &base,
        "chunk_padding",
        "padding byte before chunk 1 of `a` set to 1",
        &|b| b[pad_at + 1] = 1,
    );

    // Payload: rANS streams.
    let z0 = lz.chunks[0].0;
    edit(
        &mut v,
        &base,
        "rans_state_low",
        "lane 5 state of `z` = 0xFFFF (below L)",
        &|b| put_u32(b, z0 + 20, 0xFFFF),
    );
    v.push((
        "rans_ends_early",
        "last word of `z` removed (chunk, plane and region 2 bytes shorter)",
        {
            let mut p = parts();
            p.payload.truncate(p.payload.len() - 2);
            put_u32(&mut p.payload, lz.sizes_at, lz.chunks[0].1 as u32 - 2);
            p.header.tensors[Z].stored_bytes -= 2;
            p.header.tensors[Z].planes[0].bytes -= 2;
            p.pack()
        },
    ));
    v.push((
        "rans_trailing_words",
        "a zero word appended to `z` (chunk, plane and region 2 bytes longer)",
        {
            let mut p = parts();
            p.payload.extend_from_slice(&[0, 0]);
            put_u32(&mut p.payload, lz.sizes_at, lz.chunks[0].1 as u32 + 2);
            p.header.tensors[Z].stored_bytes += 2;
            p.header.tensors[Z].planes[0].bytes += 2;
            p.pack()
        },
    ));
    // A lane state changed so that every word is consumed but the lane ends off L: found by
    // searching with the oracle decoder.
    let (table, _) = wcodec::rans::freq::FreqTable::read(
        &base[p0.header.tensors[Z].planes[0].offset as usize..],
    )
    .unwrap();
    let chunk = &base[z0..z0 + lz.chunks[0].1];
    let bad_state = (0..32usize)
        .flat_map(|lane| (1..=64u32).map(move |d| (lane, d)))
        .find_map(|(lane, d)| {
            let mut c = chunk.to_vec();
            let s = get_u32(&c, lane * 4);
            put_u32(&mut c, lane * 4, s.wrapping_add(d).max(1 << 16));
            (naive::decode_chunk(&c, &table, 512) == Err(ChunkError::FinalState)).then_some(c)
        })
        .expect("a state edit that only breaks the final state");
    edit(
        &mut v,
        &base,
        "rans_final_state",
        "one lane state of `z` changed: all words used, lane ends off L",
        &|b| b[z0..z0 + chunk.len()].copy_from_slice(&bad_state),
    );

    // Tensor checksums.
    let r_at = p0.header.tensors[R].offset as usize;
    edit(
        &mut v,
        &base,
        "checksum_raw_tensor",
        "a byte of raw tensor `r` changed",
        &|b| b[r_at + 3] ^= 0x40,
    );
    let raw_chunk_at = la.chunks[1].0;
    edit(
        &mut v,
        &base,
        "checksum_raw_chunk",
        "a byte of raw chunk 1 of `a` changed",
        &|b| b[raw_chunk_at + 7] ^= 0x01,
    );
    v.push((
        "checksum_recorded",
        "recorded xxh3 of `z` changed",
        with_header(&|p| p.header.tensors[Z].xxh3 ^= 1 << 40),
    ));
    tile_reject_cases(&mut v);
    v
}

/// The valid version-2 file the `tile_*` reject files derive from: tensor `t` I8[64, 64]
/// tiled in 16 × 16 tiles (a raw mode plane of 16 modes before its rANS residual plane), and a
/// flat tensor `f`.
pub(crate) fn tile_reject_base() -> Vec<u8> {
    let source = st(
        &[
            (
                "t".into(),
                Dtype::I8,
                vec![64, 64],
                tile_pattern(Pattern::Product, 64, 64, 4),
            ),
            ("f".into(), Dtype::I8, vec![512], narrow(512, 1)),
        ],
        None,
    );
    let options = EncodeOptions {
        chunk_symbols: 4096,
        ..EncodeOptions::default()
    };
    let mut parts = Parts::of(&encode_with(&source, &options));
    parts.header.encoder = "wcodec (test fixture)".into();
    let t = &parts.header.tensors[0];
    assert_eq!(t.tile_size, Some(16));
    let modes = t.planes[0].modes.as_ref().expect("`t` is tiled");
    assert_eq!((modes.coder, modes.bytes), (Coder::Raw, 16));
    assert!(parts.header.tensors[1].tile_size.is_none());
    parts.pack()
}

/// Crafted invalid tiled files (format.md §6).
fn tile_reject_cases(v: &mut Vec<Case>) {
    const T: usize = 0;
    let base = tile_reject_base();
    let parts = || Parts::of(&base);
    let with_header = |f: &dyn Fn(&mut Parts)| {
        let mut p = parts();
        f(&mut p);
        p.pack()
    };
    let modes_at = parts().header.tensors[T].planes[0]
        .modes
        .as_ref()
        .unwrap()
        .offset as usize;
    v.push((
        "tile_size_65",
        "tile_size 65 for `t`",
        with_header(&|p| p.header.tensors[T].tile_size = Some(65)),
    ));
    v.push((
        "tile_size_3",
        "tile_size 3 for `t`",
        with_header(&|p| p.header.tensors[T].tile_size = Some(3)),
    ));
    v.push((
        "tiles_in_version_1",
        "the tiled file labelled version 1 (header and preamble)",
        with_header(&|p| {
            p.header.version = 1;
            p.version = 1;
        }),
    ));
    v.push((
        "tile_size_without_tiles",
        "mode plane of `t` removed from the header, tile_size kept",
        with_header(&|p| p.header.tensors[T].planes[0].modes = None),
    ));
    v.push((
        "tiled_plane_without_tile_size",
        "tile_size of `t` removed, its mode plane kept",
        with_header(&|p| p.header.tensors[T].tile_size = None),
    ));
    v.push((
        "tile_mode_plane_short",
        "mode plane of `t` 15 bytes for 16 tiles (truncated)",
        with_header(&|p| p.header.tensors[T].planes[0].modes.as_mut().unwrap().bytes = 15),
    ));
    v.push((
        "tile_mode_plane_overlap",
        "mode plane of `t` moved onto its residual plane",
        with_header(&|p| {
            let at = p.header.tensors[T].planes[0].offset;
            p.header.tensors[T].planes[0].modes.as_mut().unwrap().offset = at;
        }),
    ));
    edit(
        v,
        &base,
        "tile_mode_15",
        "mode of tile 3 of `t` set to 15 (ids are 0–14)",
        &|b| b[modes_at + 3] = 15,
    );
    edit(
        v,
        &base,
        "tile_mode_255",
        "mode of tile 0 of `t` set to 255",
        &|b| b[modes_at] = 255,
    );
    let other = if base[modes_at + 5] == 0 { 3 } else { 0 };
    edit(
        v,
        &base,
        "tile_mode_changed",
        "mode of tile 5 of `t` changed to another valid mode",
        &|b| b[modes_at + 5] = other,
    );
}
