//! Shared fixtures: deterministic data generators, encode/decode helpers, and a re-packer that
//! rebuilds a valid preamble and header checksum around a modified header (so crafted files test
//! the check they aim at, not the checksum in front of it).

use std::io::Cursor;

use wcodec::decoder::write_checked;
use wcodec::format::header::Header;
use wcodec::format::preamble::Preamble;
use wcodec::format::PREAMBLE_BYTES;
use wcodec::{encode_bytes, Archive, Dtype, EncodeOptions, NoProgress, Result, TileOptions};

/// The unit tests' generator (one copy for every test of the workspace).
#[path = "../../src/test_rng.rs"]
mod test_rng;
pub(crate) use test_rng::lcg;

/// Bytes shaped like int8 weights: a peaked, roughly Gaussian distribution around 0
/// (Irwin–Hall sum of four uniforms in `[0, 2·spread)`).
pub(crate) fn peaked(n: usize, seed: u64, spread: u8) -> Vec<u8> {
    let spread = i32::from(spread.max(1));
    let r = lcg(n * 4, seed);
    r.chunks_exact(4)
        .map(|c| {
            let sum: i32 = c.iter().map(|&b| i32::from(b) % (2 * spread)).sum();
            (sum / 4 - spread) as i8 as u8
        })
        .collect()
}

/// Gaussian-like `f32` weights (sum of four uniforms, scaled to a standard deviation near
/// `scale`): real float values, so their exponent bytes have the skew of trained weights.
pub(crate) fn weights_f32(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let r = lcg(n * 8, seed);
    r.chunks_exact(8)
        .map(|c| {
            let u = |i: usize| f32::from(u16::from_le_bytes([c[2 * i], c[2 * i + 1]])) / 65536.0;
            (u(0) + u(1) + u(2) + u(3) - 2.0) * 1.73 * scale
        })
        .collect()
}

/// `f32` → IEEE binary16 bits (round toward zero; subnormals flushed): enough for test data.
pub(crate) fn f32_to_f16_bits(v: f32) -> u16 {
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xFF) as i32 - 127 + 15;
    let man = ((b >> 13) & 0x3FF) as u16;
    if exp <= 0 {
        sign
    } else if exp >= 31 {
        sign | 0x7C00
    } else {
        sign | ((exp as u16) << 10) | man
    }
}

/// `n` elements of `dtype` made from real float values where the dtype is a float (BF16, F16,
/// F32, F64, C64), small integers for the integer dtypes, peaked bytes for the byte dtypes.
pub(crate) fn weight_like(dtype: Dtype, n: u64, seed: u64) -> Vec<u8> {
    let n_bytes = dtype.bytes_for(n).expect("small") as usize;
    let n = n as usize;
    let w = |k: usize| weights_f32(k, seed, 0.02);
    match dtype {
        Dtype::F32 => w(n).iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::C64 => w(2 * n).iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F64 => w(n)
            .iter()
            .flat_map(|&v| f64::from(v).to_le_bytes())
            .collect(),
        Dtype::BF16 => w(n)
            .iter()
            .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
            .collect(),
        Dtype::F16 => w(n)
            .iter()
            .flat_map(|&v| f32_to_f16_bits(v).to_le_bytes())
            .collect(),
        Dtype::I16 | Dtype::U16 | Dtype::I32 | Dtype::U32 | Dtype::I64 | Dtype::U64 => {
            let width = n_bytes / n.max(1);
            peaked(n, seed, 24)
                .iter()
                .flat_map(|&b| (i64::from(b as i8)).to_le_bytes()[..width].to_vec())
                .collect()
        }
        _ => peaked(n_bytes, seed, 24),
    }
}

/// Element count whose packed size is exactly `symbols` bytes per plane (`symbols` words of a
/// multi-byte dtype; `symbols` packed bytes of a sub-byte dtype).
pub(crate) fn elements_for_symbols(dtype: Dtype, symbols: u64) -> u64 {
    if dtype.bits() < 8 {
        symbols * 8 / dtype.bits()
    } else if dtype == Dtype::C64 {
        symbols / 2 // C64 has 4-byte planes: 2 words per element
    } else {
        symbols
    }
}

/// Options with a given chunk size (tiles at their defaults).
pub(crate) fn options(chunk_symbols: u64) -> EncodeOptions {
    EncodeOptions {
        chunk_symbols,
        ..EncodeOptions::default()
    }
}

/// Options with a given chunk size and tiles disabled (format version 1 output).
pub(crate) fn flat_options(chunk_symbols: u64) -> EncodeOptions {
    EncodeOptions {
        chunk_symbols,
        tiles: TileOptions::disabled(),
        ..EncodeOptions::default()
    }
}

/// Encodes a safetensors image in memory.
pub(crate) fn try_encode(source: &[u8], chunk_symbols: u64) -> Result<Vec<u8>> {
    try_encode_with(source, &options(chunk_symbols))
}

/// Encodes a safetensors image in memory with the given options.
pub(crate) fn try_encode_with(source: &[u8], options: &EncodeOptions) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    encode_bytes(source, "model.safetensors", options, &mut out, &NoProgress)?;
    Ok(out.into_inner())
}

/// Encodes a safetensors image in memory; panics on error.
pub(crate) fn encode(source: &[u8], chunk_symbols: u64) -> Vec<u8> {
    try_encode(source, chunk_symbols).expect("encodes")
}

/// Encodes with the given options; panics on error.
pub(crate) fn encode_with(source: &[u8], options: &EncodeOptions) -> Vec<u8> {
    try_encode_with(source, options).expect("encodes")
}

/// A sinusoidal position-embedding table (`sin`/`cos` of `pos / 10000^(2i/d)`, as in the
/// Transformer paper), quantised to int8 per row (absmax scaling): a smooth tensor.
pub(crate) fn sinusoid_i8(rows: usize, cols: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * cols);
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
        out.extend(row.iter().map(|v| (v / max * 127.0).round() as i8 as u8));
    }
    out
}

/// A smooth 2-D field `a·sin(i/p) + b·cos(j/q) + c·sin((i+j)/r)` plus uniform noise of
/// `±noise`, as integers (callers pick the width).
pub(crate) fn smooth_field(rows: usize, cols: usize, seed: u64, noise: i32) -> Vec<i32> {
    let r = lcg(rows * cols, seed);
    (0..rows * cols)
        .map(|k| {
            let (i, j) = ((k / cols) as f64, (k % cols) as f64);
            let s = 40.0 * (i / 9.0).sin() + 30.0 * (j / 7.0).cos() + 20.0 * ((i + j) / 13.0).sin();
            let n = if noise > 0 {
                i32::from(r[k]) % (2 * noise + 1) - noise
            } else {
                0
            };
            s.round() as i32 + n
        })
        .collect()
}

/// Opens an image, decodes every tensor, rebuilds the source and checks its recorded checksum.
pub(crate) fn decode_all(file: Vec<u8>) -> Result<Vec<u8>> {
    let archive = Archive::from_bytes(file)?;
    for i in 0..archive.tensors().len() {
        archive.decode(i)?;
    }
    let mut out = Vec::new();
    write_checked(&archive, &mut out, &NoProgress)?;
    Ok(out)
}

/// A `.wcodec` image taken apart: everything before the header (preamble included), and the
/// parsed header.
pub(crate) struct Parts {
    /// Bytes `[0, header_offset)`; the preamble is rewritten by [`Parts::pack`].
    pub(crate) payload: Vec<u8>,
    /// The header.
    pub(crate) header: Header,
    /// The preamble's version, written back by [`Parts::pack`] (edits to the header's own
    /// version field do not change it).
    pub(crate) version: u32,
}

impl Parts {
    /// Splits a valid image.
    pub(crate) fn of(file: &[u8]) -> Parts {
        let p = Preamble::parse(file).expect("valid preamble");
        let header = Header::unpack(&file[p.header_offset as usize..], &p).expect("valid header");
        Parts {
            payload: file[..p.header_offset as usize].to_vec(),
            header,
            version: p.version,
        }
    }

    /// Re-packs with a fresh header and preamble (checksums valid).
    pub(crate) fn pack(&self) -> Vec<u8> {
        let (stored, json_bytes) = self.header.pack();
        pack_with(&self.payload, &stored, |p| {
            p.header_json_bytes = json_bytes;
            p.version = self.version;
        })
    }
}

/// Appends `stored` as the header of `payload` under a preamble with valid checksums.
pub(crate) fn pack_stored(payload: &[u8], stored: &[u8], json_bytes: u64) -> Vec<u8> {
    pack_with(payload, stored, |p| p.header_json_bytes = json_bytes)
}

/// Like [`pack_stored`] with the preamble fields edited by `edit` before serialisation.
pub(crate) fn pack_with(
    payload: &[u8],
    stored: &[u8],
    edit: impl FnOnce(&mut Preamble),
) -> Vec<u8> {
    assert!(payload.len() as u64 >= PREAMBLE_BYTES);
    let mut p = Preamble {
        version: 1,
        header_offset: payload.len() as u64,
        header_stored_bytes: stored.len() as u64,
        header_json_bytes: 0,
        header_xxh3: xxhash_rust::xxh3::xxh3_64(stored),
        file_bytes: (payload.len() + stored.len()) as u64,
    };
    edit(&mut p);
    let mut out = payload.to_vec();
    out[..64].copy_from_slice(&p.to_bytes());
    out.extend_from_slice(stored);
    out
}

/// Packs arbitrary header JSON text (deflated like the encoder does).
pub(crate) fn pack_json(payload: &[u8], json: &[u8]) -> Vec<u8> {
    let stored = miniz_oxide::deflate::compress_to_vec(json, 9);
    pack_stored(payload, &stored, json.len() as u64)
}

/// Rewrites a little-endian u32 at `pos`.
pub(crate) fn put_u32(bytes: &mut [u8], pos: usize, v: u32) {
    bytes[pos..pos + 4].copy_from_slice(&v.to_le_bytes());
}

/// Reads a little-endian u32 at `pos`.
pub(crate) fn get_u32(bytes: &[u8], pos: usize) -> u32 {
    u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"))
}

/// Where things are inside a stored rANS plane (offsets relative to the plane start).
#[derive(Debug)]
pub(crate) struct RansLayout {
    /// Start of the `u32 chunk_bytes[]` table.
    pub(crate) sizes_at: usize,
    /// `(start, stored size, symbols)` of each chunk.
    pub(crate) chunks: Vec<(usize, usize, usize)>,
}

impl RansLayout {
    /// Parses the layout of a valid rANS plane of `n` symbols in chunks of `c`.
    pub(crate) fn of(plane: &[u8], n: usize, c: usize) -> RansLayout {
        let (_, table_bytes) = wcodec::rans::freq::FreqTable::read(plane).expect("valid table");
        let sizes_at = table_bytes.next_multiple_of(4);
        let n_chunks = n.div_ceil(c);
        let mut pos = sizes_at + 4 * n_chunks;
        let mut chunks = Vec::new();
        for k in 0..n_chunks {
            let size = get_u32(plane, sizes_at + 4 * k) as usize;
            if k > 0 {
                pos = pos.next_multiple_of(4);
            }
            chunks.push((pos, size, c.min(n - k * c)));
            pos += size;
        }
        assert_eq!(pos, plane.len());
        RansLayout { sizes_at, chunks }
    }
}
