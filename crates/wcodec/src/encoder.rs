//! Source file → `.wcodec` file: tensors are encoded in batches (in parallel) and streamed to
//! disk in source order; the header goes last, once every offset is known (format.md §1).

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::batch::batch_ranges;
use crate::error::{Error, Result};
use crate::format::header::{Encoding, Header, PlaneEntry, SourceInfo, StreamEntry, TensorEntry};
use crate::format::preamble::Preamble;
use crate::format::{
    DEFAULT_CHUNK_SYMBOLS, MAX_CHUNK_SYMBOLS, MAX_HEADER_JSON_BYTES, MIN_CHUNK_SYMBOLS,
    PREAMBLE_BYTES, REGION_ALIGN, VERSION_FLAT, VERSION_TILES,
};
use crate::io::{check_output, map_file, AtomicFile};
use crate::progress::Progress;
use crate::source::safetensors::{self, SafetensorsFile, SourceTensor};
use crate::tensor::{encode_tensor, plane_offsets, EncodedTensor, TileStats};
use crate::tile::TileOptions;

/// Raw bytes of tensors encoded together: bounds encoder memory while keeping cores busy on
/// checkpoints made of many small tensors.
pub(crate) const ENCODE_BATCH_BYTES: u64 = 64 << 20;

/// Encoder settings.
#[derive(Clone, Debug)]
pub struct EncodeOptions {
    /// Symbols per chunk (power of two in [4096, 1048576]).
    pub chunk_symbols: u64,
    /// Replace an existing output.
    pub overwrite: bool,
    /// The tile toolset: tile size, predictors and transforms the mode search may use
    /// ([`TileOptions::disabled`] codes every plane flat and writes format version 1).
    pub tiles: TileOptions,
}

impl Default for EncodeOptions {
    /// Chunks of 262,144 symbols; tiles with the specification's defaults (16 × 16,
    /// predictors `left,top,avg,planar`, transforms `none,dct,adst`).
    fn default() -> Self {
        EncodeOptions {
            chunk_symbols: DEFAULT_CHUNK_SYMBOLS,
            overwrite: false,
            tiles: TileOptions::default(),
        }
    }
}

impl EncodeOptions {
    /// Checks the options: the chunk size and the tile size (predictor and transform names are
    /// checked when parsed, see [`crate::tile::Predictor`]).
    pub fn validate(&self) -> Result<()> {
        let c = self.chunk_symbols;
        if !(MIN_CHUNK_SYMBOLS..=MAX_CHUNK_SYMBOLS).contains(&c) || !c.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "chunk size {c} is not a power of two in [4096, 1048576]"
            )));
        }
        self.tiles.validate()
    }
}

/// What an encode did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct EncodeStats {
    /// Source files encoded.
    pub n_files: u64,
    /// Tensors encoded.
    pub n_tensors: u64,
    /// Bytes of the source files.
    pub original_bytes: u64,
    /// Bytes of the `.wcodec` files.
    pub encoded_bytes: u64,
    /// Order-0 plane bound: tensors at their plane entropy plus source headers raw.
    pub bound_bytes: u64,
    /// XXH3-64 of the source file (single-file encodes; 0 for directories).
    pub source_xxh3: u64,
    /// Tiles of every plane the encoder considered for tiling (0 with tiles disabled; planes
    /// under 4096 symbols are not considered).
    pub tiles_total: u64,
    /// Tiles stored with a predictor other than `none`.
    pub tiles_predicted: u64,
    /// Tensors with at least one tiled plane.
    pub tiled_tensors: u64,
    /// Bytes the tiled planes saved against coding them flat.
    pub tile_bytes_saved: u64,
}

impl EncodeStats {
    /// Adds another file's figures.
    pub fn add(&mut self, other: &EncodeStats) {
        self.n_files += other.n_files;
        self.n_tensors += other.n_tensors;
        self.original_bytes += other.original_bytes;
        self.encoded_bytes += other.encoded_bytes;
        self.bound_bytes += other.bound_bytes;
        self.tiles_total += other.tiles_total;
        self.tiles_predicted += other.tiles_predicted;
        self.tiled_tensors += other.tiled_tensors;
        self.tile_bytes_saved += other.tile_bytes_saved;
    }

    /// Share of the considered tiles that used prediction, in percent (0 when none were).
    pub fn predicted_pct(&self) -> f64 {
        if self.tiles_total == 0 {
            0.0
        } else {
            100.0 * self.tiles_predicted as f64 / self.tiles_total as f64
        }
    }
}

/// Encodes the safetensors file `input` into the `.wcodec` file `output`, atomically.
pub fn encode_file(
    input: &Path,
    output: &Path,
    options: &EncodeOptions,
    progress: &dyn Progress,
) -> Result<EncodeStats> {
    options.validate()?;
    check_output(input, output, options.overwrite)?;
    let bytes = map_file(input)?;
    let file_name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = AtomicFile::create(output)?;
    let tmp = out.tmp_path().to_path_buf();
    let stats =
        encode_bytes(&bytes, &file_name, options, out.writer(), progress).map_err(|e| match e {
            Error::Io { op, cause, .. } => Error::io(op, &tmp, cause),
            other => other,
        })?;
    out.commit()?;
    Ok(stats)
}

/// Encodes a safetensors file image into `w` (positioned at its start).
pub fn encode_bytes<W: Write + Seek>(
    source: &[u8],
    file_name: &str,
    options: &EncodeOptions,
    w: &mut W,
    progress: &dyn Progress,
) -> Result<EncodeStats> {
    options.validate()?;
    let st = safetensors::parse(source)?;
    // The whole-file checksum is one sequential pass: run it beside the encoding, not after.
    let mut file_xxh3 = 0;
    let mut encoded = Ok((Vec::new(), 0, 0.0, TileStats::default()));
    rayon::in_place_scope(|s| {
        s.spawn(|_| file_xxh3 = xxhash_rust::xxh3::xxh3_64(source));
        encoded = encode_tensors(&st, file_name, options, w, progress);
    });
    let (entries, pos, bound, tiles) = encoded?;
    let io_err = |e| Error::io("write", file_name, e);
    // Version 2 only when needed, so files without tiles stay readable by version-1 readers.
    let version = if tiles.tiled_planes > 0 {
        VERSION_TILES
    } else {
        VERSION_FLAT
    };
    let header = Header {
        version,
        encoder: concat!("wcodec ", env!("CARGO_PKG_VERSION")).to_owned(),
        source: SourceInfo {
            format: "safetensors".into(),
            file_name: file_name.to_owned(),
            file_xxh3,
            header: st.header.to_owned(),
        },
        tensors: entries,
    };
    let (stored, json_bytes) = header.pack();
    if json_bytes > MAX_HEADER_JSON_BYTES {
        return Err(Error::InvalidInput(format!(
            "the header would be {json_bytes} bytes, over the format's {MAX_HEADER_JSON_BYTES}-byte limit (split the checkpoint into shards)"
        )));
    }
    w.write_all(&stored).map_err(io_err)?;
    let preamble = Preamble {
        version,
        header_offset: pos,
        header_stored_bytes: stored.len() as u64,
        header_json_bytes: json_bytes,
        header_xxh3: xxhash_rust::xxh3::xxh3_64(&stored),
        file_bytes: pos + stored.len() as u64,
    };
    w.seek(SeekFrom::Start(0)).map_err(io_err)?;
    w.write_all(&preamble.to_bytes()).map_err(io_err)?;
    w.seek(SeekFrom::Start(preamble.file_bytes))
        .map_err(io_err)?;
    w.flush().map_err(io_err)?;
    Ok(EncodeStats {
        n_files: 1,
        n_tensors: header.tensors.len() as u64,
        original_bytes: source.len() as u64,
        encoded_bytes: preamble.file_bytes,
        bound_bytes: bound.ceil() as u64,
        source_xxh3: header.source.file_xxh3,
        tiles_total: tiles.total,
        tiles_predicted: tiles.predicted,
        tiled_tensors: header
            .tensors
            .iter()
            .filter(|t| t.tile_size.is_some())
            .count() as u64,
        tile_bytes_saved: tiles.bytes_saved,
    })
}

/// Writes every tensor region after the preamble placeholder; returns the tensor entries, the
/// payload end, the order-0 bound and the tile figures.
fn encode_tensors<W: Write + Seek>(
    st: &SafetensorsFile<'_>,
    file_name: &str,
    options: &EncodeOptions,
    w: &mut W,
    progress: &dyn Progress,
) -> Result<(Vec<TensorEntry>, u64, f64, TileStats)> {
    let c = options.chunk_symbols as usize;
    let io_err = |e| Error::io("write", file_name, e);
    progress.start(st.data.len() as u64);
    check_cancelled(progress)?;
    w.write_all(&[0u8; PREAMBLE_BYTES as usize])
        .map_err(io_err)?;
    let mut pos = PREAMBLE_BYTES;
    let mut entries = Vec::with_capacity(st.tensors.len());
    let mut bound = 8.0 + st.header.len() as f64;
    let mut tiles = TileStats::default();
    for batch in batch_ranges(
        st.tensors.iter().map(|t| t.end - t.begin),
        ENCODE_BATCH_BYTES,
    ) {
        let encoded: Vec<EncodedTensor> = st.tensors[batch.clone()]
            .par_iter()
            .map(|t| {
                let data = &st.data[t.begin as usize..t.end as usize];
                encode_tensor(data, t.dtype, &t.shape, c, &options.tiles)
            })
            .collect();
        for (t, e) in st.tensors[batch].iter().zip(encoded) {
            let offset = pos.next_multiple_of(REGION_ALIGN);
            write_zeros(w, offset - pos).map_err(io_err)?;
            let raw = &st.data[t.begin as usize..t.end as usize];
            let entry = write_region(w, t, &e, raw, offset, c as u64).map_err(io_err)?;
            pos = offset + entry.stored_bytes;
            bound += e.order0_bytes;
            tiles.total += e.tiles.total;
            if e.encoding == Encoding::Planes {
                tiles.predicted += e.tiles.predicted;
                tiles.tiled_planes += e.tiles.tiled_planes;
                tiles.bytes_saved += e.tiles.bytes_saved;
            }
            progress.advance(entry.raw_bytes);
            check_cancelled(progress)?;
            entries.push(entry);
        }
    }
    Ok((entries, pos, bound, tiles))
}

/// [`Error::Cancelled`] when the caller asked to stop.
pub(crate) fn check_cancelled(progress: &dyn Progress) -> Result<()> {
    if progress.cancelled() {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

fn write_region<W: Write>(
    w: &mut W,
    t: &SourceTensor,
    e: &EncodedTensor,
    raw: &[u8],
    offset: u64,
    chunk_symbols: u64,
) -> std::io::Result<TensorEntry> {
    let mut entry = TensorEntry {
        name: t.name.clone(),
        dtype: t.dtype,
        shape: t.shape.clone(),
        raw_bytes: raw.len() as u64,
        xxh3: e.xxh3,
        offset,
        stored_bytes: 0,
        encoding: e.encoding,
        chunk_symbols: None,
        planes: Vec::new(),
        tile_size: None,
        order0_bytes: e.order0_bytes.ceil() as u64,
    };
    match e.encoding {
        Encoding::Raw => {
            w.write_all(raw)?;
            entry.stored_bytes = raw.len() as u64;
        }
        Encoding::Planes => {
            let (offsets, total) = plane_offsets(&e.planes);
            let mut written = 0u64;
            for (p, (modes_at, rel)) in e.planes.iter().zip(offsets) {
                let modes = match (&p.tiled, modes_at) {
                    (Some(t), Some(at)) => {
                        write_zeros(w, at - written)?;
                        t.stored.write_to(w)?;
                        written = at + t.stored.len() as u64;
                        Some(StreamEntry {
                            coder: t.coder,
                            offset: offset + at,
                            bytes: t.stored.len() as u64,
                        })
                    }
                    _ => None,
                };
                write_zeros(w, rel - written)?;
                p.stored.write_to(w)?;
                written = rel + p.stored.len() as u64;
                entry.planes.push(PlaneEntry {
                    coder: p.coder,
                    offset: offset + rel,
                    bytes: p.stored.len() as u64,
                    modes,
                    flat_bytes: p.tiled.as_ref().map(|t| t.flat_bytes),
                });
            }
            entry.stored_bytes = total;
            entry.chunk_symbols = Some(chunk_symbols);
            entry.tile_size = e.tile_size;
        }
    }
    Ok(entry)
}

fn write_zeros<W: Write>(w: &mut W, n: u64) -> std::io::Result<()> {
    const ZEROS: [u8; 64] = [0; 64];
    let mut left = n;
    while left > 0 {
        let k = left.min(64) as usize;
        w.write_all(&ZEROS[..k])?;
        left -= k as u64;
    }
    Ok(())
}
