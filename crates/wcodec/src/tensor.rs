//! One tensor ↔ its stored region: plane split, per-plane coding, chunk-parallel decoding and
//! the checksum check (format.md §4–5).

use rayon::prelude::*;

use crate::buffer;
use crate::byte_planes;
use crate::dtype::{Dtype, PlaneSplit};
use crate::error::{Error, Result};
use crate::format::header::{Encoding, TensorEntry};
use crate::format::REGION_ALIGN;
use crate::plane_coding::{
    encode_plane, encode_plane_with, plane_histogram, Coder, EncodedPlane, PlaneView, StoredBytes,
};
use crate::rans::decode::decode_pair;
use crate::rans::ChunkError;
use crate::tile::codec::{check_modes, mode_counts, predicted_tiles, reconstruct_into};
use crate::tile::search::{search, Effort};
use crate::tile::{plane_bias, Grid, Mode, TileOptions, N_MODES};

/// A tensor as the encoder produced it, before it is placed in a file.
pub struct EncodedTensor {
    /// Raw or planes.
    pub encoding: Encoding,
    /// For `Planes`: each plane, in plane order.
    pub planes: Vec<PlaneOut>,
    /// Tile side when some plane is tiled.
    pub tile_size: Option<u32>,
    /// Order-0 bound of the tensor's planes (coded flat), in bytes.
    pub order0_bytes: f64,
    /// XXH3-64 of the tensor bytes.
    pub xxh3: u64,
    /// What the tile search did.
    pub tiles: TileStats,
}

/// The tile figures of one tensor (or, summed, of a file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileStats {
    /// Tiles of every plane the encoder considered for tiling.
    pub total: u64,
    /// Tiles of tiled planes coded with a predictor other than `none`.
    pub predicted: u64,
    /// Planes stored tiled.
    pub tiled_planes: u64,
    /// Bytes the tiled planes saved against their flat coding.
    pub bytes_saved: u64,
}

/// One plane as the encoder produced it.
pub struct PlaneOut {
    /// The coder of the plane's symbols (for a tiled plane: of its residuals).
    pub coder: Coder,
    /// Stored bytes. Empty for a raw plane of a 1-byte dtype: the tensor is then stored raw.
    pub stored: StoredBytes,
    /// The mode plane, when the plane is tiled.
    pub tiled: Option<TiledOut>,
}

/// The extra stream of a tiled plane.
pub struct TiledOut {
    /// Coder of the mode plane.
    pub coder: Coder,
    /// Its stored bytes.
    pub stored: StoredBytes,
    /// The plane's size coded flat (informative, `flat_bytes` in the header).
    pub flat_bytes: u64,
}

impl EncodedTensor {
    /// Size of the region once written, streams aligned to [`REGION_ALIGN`] within it.
    pub fn region_bytes(&self, raw_bytes: u64) -> u64 {
        match self.encoding {
            Encoding::Raw => raw_bytes,
            Encoding::Planes => plane_offsets(&self.planes).1,
        }
    }
}

/// Offsets, relative to the region start, of each plane's mode plane (if tiled) and of the
/// plane, each aligned to [`REGION_ALIGN`]; and the region size.
pub fn plane_offsets(planes: &[PlaneOut]) -> (Vec<(Option<u64>, u64)>, u64) {
    let mut pos = 0u64;
    let mut offsets = Vec::with_capacity(planes.len());
    for p in planes {
        let modes = p.tiled.as_ref().map(|t| {
            let at = pos.next_multiple_of(REGION_ALIGN);
            pos = at + t.stored.len() as u64;
            at
        });
        pos = pos.next_multiple_of(REGION_ALIGN);
        offsets.push((modes, pos));
        pos += p.stored.len() as u64;
    }
    (offsets, pos)
}

/// Planes smaller than this are never tiled: their mode plane and second frequency table
/// would cost about what prediction could save, and skipping them keeps small tensors fast.
pub const MIN_TILED_SYMBOLS: u64 = 4096;

/// A tiled plane must save at least this much of its flat size (1/64) to be stored tiled:
/// decoding a tiled plane costs an extra pass, worth it only for a real gain.
pub const MIN_TILE_GAIN: (u64, u64) = (1, 64);

/// Encodes one tensor's bytes. Falls back to `Raw` whenever the planes would not be smaller.
pub fn encode_tensor(
    data: &[u8],
    dtype: Dtype,
    shape: &[u64],
    chunk_symbols: usize,
    tiles: &TileOptions,
) -> EncodedTensor {
    let xxh3 = crate::checksum::tensor_checksum(data);
    let layout = dtype.plane_layout();
    let width = layout.n_planes();
    // A raw tensor keeps only the count of tiles considered.
    let raw = |order0_bytes, considered| EncodedTensor {
        encoding: Encoding::Raw,
        planes: Vec::new(),
        tile_size: None,
        order0_bytes,
        xxh3,
        tiles: TileStats {
            total: considered,
            ..TileStats::default()
        },
    };
    if data.is_empty() || !data.len().is_multiple_of(width) {
        return raw(0.0, 0);
    }
    let split: Vec<Vec<u8>> = if width == 1 {
        Vec::new()
    } else {
        split_planes(layout, data, chunk_symbols)
    };
    let modes = if tiles.enabled() {
        tiles.modes()
    } else {
        Vec::new()
    };
    let mut stats = TileStats::default();
    let mut order0 = 0.0;
    let mut planes = Vec::with_capacity(width);
    let mut owned = split.into_iter();
    for p in 0..width {
        let own = owned.next();
        let plane: &[u8] = own.as_deref().unwrap_or(data);
        let hist = plane_histogram(plane, chunk_symbols);
        let flat = encode_plane_with(plane, chunk_symbols, &hist);
        order0 += flat.order0_bytes;
        let n = plane.len() as u64;
        let flat_bytes = match flat.coder {
            Coder::Raw => n,
            Coder::Rans => flat.stored.len() as u64,
        };
        let tiled = if modes.is_empty() || n < MIN_TILED_SYMBOLS {
            None
        } else {
            let grid = Grid::new(shape, n, u64::from(tiles.tile_size));
            stats.total += grid.n_tiles();
            let min_gain = tile_min_gain(flat_bytes, n, tiles.decode_cost);
            tile_plane(
                plane,
                &grid,
                plane_bias(dtype, p),
                &modes,
                &hist,
                chunk_symbols,
                flat_bytes,
                min_gain,
            )
        };
        planes.push(match tiled {
            Some((out, counts)) => {
                stats.tiled_planes += 1;
                stats.predicted += predicted_tiles(&counts);
                let t = out.tiled.as_ref().expect("tiled");
                stats.bytes_saved += flat_bytes
                    - (t.stored.len() as u64).next_multiple_of(REGION_ALIGN)
                    - out.stored.len() as u64;
                out
            }
            None => PlaneOut {
                coder: flat.coder,
                stored: match flat.coder {
                    Coder::Rans => flat.stored,
                    Coder::Raw => own.map(StoredBytes::from).unwrap_or_default(),
                },
                tiled: None,
            },
        });
    }
    if planes
        .iter()
        .all(|p| p.coder == Coder::Raw && p.tiled.is_none())
    {
        return raw(order0, stats.total);
    }
    let t = EncodedTensor {
        encoding: Encoding::Planes,
        tile_size: (stats.tiled_planes > 0).then_some(tiles.tile_size),
        planes,
        order0_bytes: order0,
        xxh3,
        tiles: stats,
    };
    if t.region_bytes(data.len() as u64) >= data.len() as u64 {
        // Only possible without tiled planes (a tiled plane is smaller than its flat form).
        return raw(order0, stats.total);
    }
    t
}

/// Bytes a tiled plane of `n` symbols must save against its flat size `flat_bytes`: the larger
/// of [`MIN_TILE_GAIN`] of the flat size (one region alignment at least) and `decode_cost` percent
/// of the plane's original bytes, the size charged for its slower decode
/// ([`TileOptions::decode_cost`]).
fn tile_min_gain(flat_bytes: u64, n: u64, decode_cost: u32) -> u64 {
    let size_gain = (flat_bytes * MIN_TILE_GAIN.0 / MIN_TILE_GAIN.1).max(REGION_ALIGN);
    size_gain.max((n * u64::from(decode_cost)).div_ceil(100))
}

/// Tries tiles on one plane: the search, then both the residual plane and the mode plane
/// entropy-coded; kept only when the result beats `flat_bytes` by `min_gain`.
#[allow(clippy::too_many_arguments)] // one plane's inputs, all of them needed
fn tile_plane(
    plane: &[u8],
    grid: &Grid,
    bias: u8,
    modes: &[Mode],
    hist: &[u64; 256],
    chunk_symbols: usize,
    flat_bytes: u64,
    min_gain: u64,
) -> Option<(PlaneOut, [u64; N_MODES])> {
    let t = search(plane, grid, bias, modes, hist, Effort::EarlyOut)?;
    let res = encode_plane(&t.residuals, chunk_symbols);
    let md = encode_plane(&t.modes, chunk_symbols);
    let stored = |e: EncodedPlane, own: Vec<u8>| match e.coder {
        Coder::Rans => e.stored,
        Coder::Raw => StoredBytes::from(own),
    };
    let (res_coder, md_coder) = (res.coder, md.coder);
    let res = stored(res, t.residuals);
    let md = stored(md, t.modes);
    let tiled_bytes = (md.len() as u64).next_multiple_of(REGION_ALIGN) + res.len() as u64;
    (tiled_bytes + min_gain <= flat_bytes).then_some((
        PlaneOut {
            coder: res_coder,
            stored: res,
            tiled: Some(TiledOut {
                coder: md_coder,
                stored: md,
                flat_bytes,
            }),
        },
        t.counts,
    ))
}

/// Splits into planes in parallel, one chunk-sized element range per task.
fn split_planes(layout: PlaneSplit, data: &[u8], chunk_symbols: usize) -> Vec<Vec<u8>> {
    let width = layout.n_planes();
    let n = data.len() / width;
    let mut planes = vec![vec![0u8; n]; width];
    let mut rows: Vec<Vec<&mut [u8]>> = (0..n.div_ceil(chunk_symbols))
        .map(|_| Vec::with_capacity(width))
        .collect();
    for plane in &mut planes {
        for (k, part) in plane.chunks_mut(chunk_symbols).enumerate() {
            rows[k].push(part);
        }
    }
    rows.into_par_iter()
        .zip(data.par_chunks(chunk_symbols * width))
        .for_each(|(mut parts, src)| byte_planes::split(layout, src, &mut parts));
    planes
}

/// Decodes the tensor `entry` of the file `file` into `out` and verifies its checksum.
pub fn decode_tensor_into(entry: &TensorEntry, file: &[u8], out: &mut [u8]) -> Result<()> {
    buffer::check_size(entry, out.len() as u64)?;
    match entry.encoding {
        Encoding::Raw => out.copy_from_slice(region(entry, file, entry.offset, entry.raw_bytes)?),
        Encoding::Planes => {
            let (views, modes) = stream_views(entry, file)?;
            let c = entry.chunk_symbols.unwrap_or_default() as usize;
            if entry.is_tiled() {
                decode_tiled(entry, &views, &modes, c, out)
            } else {
                decode_planes(entry.dtype.plane_layout(), &views, c, out)
            }
            .map_err(|e| Error::tensor(&entry.name, e))?;
        }
    }
    verify_checksum(entry, out)
}

/// Decodes several tensors of one file, with the same results as [`decode_tensor_into`] on
/// each. The chunks of every single-plane tensor (INT8, FP8, packed INT4…) form one pool and are
/// decoded two at a time whatever tensor they belong to, so checkpoints made of one-chunk
/// tensors still get the two-chunk speed (see [`crate::rans::decode`]).
pub fn decode_tensors_into(file: &[u8], jobs: Vec<(&TensorEntry, &mut [u8])>) -> Result<()> {
    let mut pooled = Vec::new();
    let mut others = Vec::new();
    for (entry, out) in jobs {
        buffer::check_size(entry, out.len() as u64)?;
        if entry.encoding == Encoding::Planes && entry.planes.len() == 1 && !entry.is_tiled() {
            pooled.push((entry, out));
        } else {
            others.push((entry, out));
        }
    }
    others
        .into_par_iter()
        .try_for_each(|(entry, out)| decode_tensor_into(entry, file, out))?;
    let (entries, outs): (Vec<_>, Vec<_>) = pooled.into_iter().unzip();
    let views = entries
        .par_iter()
        .map(|e| Ok(stream_views(e, file)?.0.remove(0)))
        .collect::<Result<Vec<PlaneView<'_>>>>()?;
    let mut chunks = Vec::new();
    let mut outs = outs;
    for (t, out) in outs.iter_mut().enumerate() {
        let c = entries[t].chunk_symbols.unwrap_or_default() as usize;
        chunks.extend(out.chunks_mut(c).enumerate().map(|(k, o)| (t, k, o)));
    }
    let mut pairs = Vec::with_capacity(chunks.len().div_ceil(2));
    let mut it = chunks.into_iter();
    while let Some(a) = it.next() {
        pairs.push((a, it.next()));
    }
    let fail = |t: usize, k: usize, e: ChunkError| {
        Error::tensor(&entries[t].name, format!("chunk {k}: {e}"))
    };
    pairs.into_par_iter().try_for_each(|((ta, ka, oa), b)| {
        let c = |t: usize| entries[t].chunk_symbols.unwrap_or_default() as usize;
        let single = |t: usize, k: usize, o: &mut [u8]| {
            views[t]
                .decode_chunk(k, c(t), o)
                .map_err(|e| Error::tensor(&entries[t].name, e))
        };
        let Some((tb, kb, ob)) = b else {
            return single(ta, ka, oa);
        };
        if let (Some(ja), Some(jb)) = (
            views[ta].rans_chunk(ka, oa.len()),
            views[tb].rans_chunk(kb, ob.len()),
        ) {
            let (ra, rb) = decode_pair((ja.0, ja.1, oa), (jb.0, jb.1, ob));
            ra.map_err(|e| fail(ta, ka, e))?;
            rb.map_err(|e| fail(tb, kb, e))
        } else {
            single(ta, ka, oa)?;
            single(tb, kb, ob)
        }
    })?;
    entries
        .par_iter()
        .zip(outs.par_iter())
        .try_for_each(|(e, out)| verify_checksum(e, out))
}

fn region<'f>(entry: &TensorEntry, file: &'f [u8], offset: u64, len: u64) -> Result<&'f [u8]> {
    offset
        .checked_add(len)
        .and_then(|end| file.get(offset as usize..end as usize))
        .ok_or_else(|| Error::tensor(&entry.name, "region runs past the file"))
}

/// A tensor's parsed streams: its planes, and the mode plane of each tiled plane.
pub(crate) type Streams<'f> = (Vec<PlaneView<'f>>, Vec<Option<PlaneView<'f>>>);

/// Checks a planes region's padding and parses its planes and mode planes.
pub(crate) fn stream_views<'f>(entry: &TensorEntry, file: &'f [u8]) -> Result<Streams<'f>> {
    let mut pos = entry.offset;
    let streams = entry.planes.iter().flat_map(|p| {
        p.modes
            .as_ref()
            .map(|m| (m.offset, m.bytes))
            .into_iter()
            .chain([(p.offset, p.bytes)])
    });
    for (offset, bytes) in streams {
        check_zero(
            region(entry, file, pos, offset - pos)?,
            &entry.name,
            "before a plane",
        )?;
        pos = offset + bytes;
    }
    let end = entry.offset + entry.stored_bytes;
    check_zero(
        region(entry, file, pos, end - pos)?,
        &entry.name,
        "after the last plane",
    )?;
    let c = entry
        .chunk_symbols
        .ok_or_else(|| Error::tensor(&entry.name, "missing chunk_symbols"))?;
    let n = entry.plane_symbols();
    let n_tiles = entry.tile_grid().map_or(0, |g| g.n_tiles());
    let parse = |coder, offset, bytes, n, what: &str| {
        PlaneView::parse(coder, region(entry, file, offset, bytes)?, n, c)
            .map_err(|e| Error::tensor(&entry.name, format!("{what}{e}")))
    };
    let mut planes = Vec::with_capacity(entry.planes.len());
    let mut modes = Vec::with_capacity(entry.planes.len());
    for (k, p) in entry.planes.iter().enumerate() {
        planes.push(parse(p.coder, p.offset, p.bytes, n, "")?);
        modes.push(match &p.modes {
            Some(m) => Some(parse(
                m.coder,
                m.offset,
                m.bytes,
                n_tiles,
                &format!("mode plane {k}: "),
            )?),
            None => None,
        });
    }
    Ok((planes, modes))
}

/// A tensor with tiled planes: every plane decoded whole (chunks in parallel), tiled planes
/// rebuilt from their residuals and modes (rows of tiles in parallel), then the planes joined.
fn decode_tiled(
    entry: &TensorEntry,
    views: &[PlaneView<'_>],
    modes: &[Option<PlaneView<'_>>],
    c: usize,
    out: &mut [u8],
) -> Result<(), String> {
    let layout = entry.dtype.plane_layout();
    let width = layout.n_planes();
    let n = entry.plane_symbols() as usize;
    let grid = entry
        .tile_grid()
        .ok_or("tiled planes without a tile size")?;
    let one = |p: usize, view: &PlaneView<'_>, dst: &mut [u8]| -> Result<(), String> {
        match &modes[p] {
            None => decode_whole(view, c, dst),
            Some(mv) => {
                let mut residuals = vec![0u8; n];
                let mut ids = vec![0u8; grid.n_tiles() as usize];
                decode_whole(view, c, &mut residuals)?;
                decode_whole(mv, c, &mut ids).map_err(|e| format!("mode plane {p}: {e}"))?;
                reconstruct_into(&grid, plane_bias(entry.dtype, p), &residuals, &ids, dst)
            }
        }
    };
    if width == 1 {
        return one(0, &views[0], out);
    }
    let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(width);
    for (p, view) in views.iter().enumerate() {
        if let (PlaneView::Raw(_), None) = (view, &modes[p]) {
            bufs.push(Vec::new());
            continue;
        }
        let mut b = vec![0u8; n];
        one(p, view, &mut b)?;
        bufs.push(b);
    }
    let refs: Vec<&[u8]> = views
        .iter()
        .zip(&bufs)
        .map(|(view, b)| match view {
            PlaneView::Raw(plane) if b.is_empty() => *plane,
            _ => b.as_slice(),
        })
        .collect();
    out.par_chunks_mut(c * width)
        .enumerate()
        .for_each(|(k, o)| {
            let m = o.len() / width;
            let parts: Vec<&[u8]> = refs.iter().map(|r| &r[k * c..k * c + m]).collect();
            byte_planes::join(layout, &parts, o);
        });
    Ok(())
}

/// Per plane of a tensor: how many tiles use each mode id (`None` for a flat plane), from its
/// decoded mode plane. An invalid mode id is an error.
pub fn tile_mode_counts(entry: &TensorEntry, file: &[u8]) -> Result<Vec<Option<[u64; N_MODES]>>> {
    if entry.encoding == Encoding::Raw || !entry.is_tiled() {
        return Ok(vec![None; entry.planes.len()]);
    }
    let (_, modes) = stream_views(entry, file)?;
    let c = entry.chunk_symbols.unwrap_or_default() as usize;
    let n_tiles = entry.tile_grid().map_or(0, |g| g.n_tiles()) as usize;
    modes
        .iter()
        .enumerate()
        .map(|(p, view)| {
            let Some(view) = view else { return Ok(None) };
            let mut ids = vec![0u8; n_tiles];
            decode_whole(view, c, &mut ids)
                .and_then(|()| check_modes(&ids))
                .map_err(|e| Error::tensor(&entry.name, format!("mode plane {p}: {e}")))?;
            Ok(Some(mode_counts(&ids)))
        })
        .collect()
}

/// Decodes a whole plane (chunks in parallel, two at a time) into `out`.
fn decode_whole(view: &PlaneView<'_>, c: usize, out: &mut [u8]) -> Result<(), String> {
    out.par_chunks_mut(2 * c)
        .enumerate()
        .try_for_each(|(j, o)| decode_two(view, 2 * j, c, o))
}

fn verify_checksum(entry: &TensorEntry, out: &[u8]) -> Result<()> {
    let computed = crate::checksum::tensor_checksum(out);
    if computed != entry.xxh3 {
        return Err(Error::Checksum {
            tensor: entry.name.clone(),
            computed,
            expected: entry.xxh3,
        });
    }
    Ok(())
}

/// Chunk `k` of every plane covers the same elements, so each task decodes chunks `2j` and
/// `2j + 1` of all planes (a pair decodes faster than two singles) into a small scratch buffer
/// and joins them straight into `out`.
fn decode_planes(
    layout: PlaneSplit,
    views: &[PlaneView<'_>],
    c: usize,
    out: &mut [u8],
) -> Result<(), String> {
    let width = layout.n_planes();
    if width == 1 {
        return out
            .par_chunks_mut(2 * c)
            .enumerate()
            .try_for_each(|(j, o)| decode_two(&views[0], 2 * j, c, o));
    }
    out.par_chunks_mut(2 * c * width)
        .enumerate()
        .try_for_each_init(
            // Sized by the first task that uses it: a small tensor must not zero megabytes.
            Vec::new,
            |scratch: &mut Vec<u8>, (j, o)| {
                let m = o.len() / width;
                if scratch.len() < o.len() {
                    scratch.resize(o.len(), 0);
                }
                let mut parts: Vec<&mut [u8]> = scratch[..o.len()].chunks_mut(m).collect();
                // Raw planes (typically mantissas) are joined straight from the file.
                for (view, part) in views.iter().zip(parts.iter_mut()) {
                    if !matches!(view, PlaneView::Raw(_)) {
                        decode_two(view, 2 * j, c, part)?;
                    }
                }
                for (half, o) in o.chunks_mut(c * width).enumerate() {
                    let n = o.len() / width;
                    let start = (2 * j + half) * c;
                    let refs: Vec<&[u8]> = views
                        .iter()
                        .zip(&parts)
                        .map(|(view, p)| match view {
                            PlaneView::Raw(plane) => &plane[start..start + n],
                            PlaneView::Rans { .. } => &p[half * c..half * c + n],
                        })
                        .collect();
                    byte_planes::join(layout, &refs, o);
                }
                Ok(())
            },
        )
}

/// Decodes chunk `k` (and `k + 1` when `out` holds more than one chunk) of `view` into `out`.
fn decode_two(view: &PlaneView<'_>, k: usize, c: usize, out: &mut [u8]) -> Result<(), String> {
    if out.len() <= c {
        return view.decode_chunk(k, c, out);
    }
    let (a, b) = out.split_at_mut(c);
    view.decode_chunk_pair(k, c, a, b)
}

/// Padding must be zero: a flipped bit there is corruption too, even if it changes no output.
fn check_zero(bytes: &[u8], tensor: &str, what: &str) -> Result<()> {
    if bytes.iter().any(|&b| b != 0) {
        return Err(Error::tensor(tensor, format!("non-zero padding {what}")));
    }
    Ok(())
}
