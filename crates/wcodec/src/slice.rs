//! Partial decoding: a byte range of one tensor, decoding only what covers it.
//!
//! Chunk `k` of every plane holds the same run of elements (format.md §5), so the bytes
//! `[start, end)` of a tensor need only the chunks that cover its elements, in every plane. A
//! tiled plane (format.md §6) is rebuilt a row of tiles at a time: each row of tiles is one
//! contiguous run of both the residual plane and the rebuilt plane, and its tiles are a
//! contiguous run of the mode plane, so the rows of tiles that cover the range are decoded (their
//! residual and mode chunks) and rebuilt on their own. A range of a tensor's leading dimension
//! (what a tensor-parallel loader asks for) is a byte range, and costs about its share of a full
//! decode plus at most one chunk (or one row of tiles) at each end.
//!
//! What it cannot do: check the tensor's XXH3 checksum, which covers the whole tensor. A partial
//! decode checks everything it reads (the region's padding, every frequency and chunk table, each
//! decoded rANS chunk's final state, every mode id) but a flipped bit in a chunk stored raw is
//! found only by a full decode (`get_tensor`, `wcodec verify`). A tiled plane of a tensor viewed
//! as a single row (1-D tensors, see [`crate::tile::Grid::new`]) is one row of tiles: it is
//! decoded whole.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::byte_planes;
use crate::error::{Error, Result};
use crate::format::header::{Encoding, TensorEntry};
use crate::plane_coding::PlaneView;
use crate::tensor::stream_views;
use crate::tile::codec::reconstruct_into;
use crate::tile::{plane_bias, Grid};

/// What a partial decode did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeStats {
    /// Chunks decoded (or copied, for chunks stored raw), summed over every stream of the
    /// tensor: planes, residual planes and mode planes. A tensor stored raw has none.
    pub chunks: u64,
}

/// The number of chunks of every stream of `entry` (what [`decode_range_into`] reports for
/// the whole tensor): the baseline a partial decode is compared with.
pub fn tensor_chunks(entry: &TensorEntry) -> u64 {
    let Some(c) = entry.chunk_symbols.filter(|&c| c > 0) else {
        return 0;
    };
    if entry.encoding == Encoding::Raw {
        return 0;
    }
    let n_tiles = entry.tile_grid().map_or(0, |g| g.n_tiles());
    entry
        .planes
        .iter()
        .map(|p| {
            entry.plane_symbols().div_ceil(c) + p.modes.as_ref().map_or(0, |_| n_tiles.div_ceil(c))
        })
        .sum()
}

/// Decodes bytes `[start, start + out.len())` of tensor `entry` of `file` into `out`, reading
/// and decoding only the chunks (and rows of tiles) that cover them. The result is exactly those
/// bytes of the decoded tensor; see the module notes for what is verified.
pub fn decode_range_into(
    entry: &TensorEntry,
    file: &[u8],
    start: u64,
    out: &mut [u8],
) -> Result<RangeStats> {
    let end = start
        .checked_add(out.len() as u64)
        .filter(|&e| e <= entry.raw_bytes)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "byte range {start}..{start}+{} is outside tensor `{}` ({} bytes)",
                out.len(),
                entry.name,
                entry.raw_bytes
            ))
        })?;
    if out.is_empty() {
        return Ok(RangeStats::default());
    }
    if entry.encoding == Encoding::Raw {
        let bytes = entry
            .offset
            .checked_add(end)
            .filter(|&e| e <= entry.offset + entry.raw_bytes)
            .and_then(|e| file.get((entry.offset + start) as usize..e as usize))
            .ok_or_else(|| Error::tensor(&entry.name, "region runs past the file"))?;
        out.copy_from_slice(bytes);
        return Ok(RangeStats::default());
    }
    let (views, modes) = stream_views(entry, file)?;
    let c = entry.chunk_symbols.unwrap_or_default();
    let layout = entry.dtype.plane_layout();
    let width = layout.n_planes() as u64;
    let (s0, s1) = (start / width, end.div_ceil(width));
    let aligned = start == s0 * width && end == s1 * width;
    let grid = entry.tile_grid();
    let n = entry.plane_symbols();
    // Each plane's symbols [s0, s1): decoded straight into `out` for an aligned single-plane
    // range, borrowed from the file for a raw plane, else into a buffer of their own.
    let plane_into = |p: usize, dst: &mut [u8]| -> Result<u64> {
        match (&modes[p], grid) {
            (Some(mv), Some(grid)) => tiled_into(entry, p, &views[p], mv, &grid, c, s0, dst),
            (Some(_), None) => Err("tiled plane without a tile size".into()),
            (None, _) => symbols_into(&views[p], c, n, s0, dst),
        }
        .map_err(|e| Error::tensor(&entry.name, format!("plane {p}: {e}")))
    };
    if width > 1 && modes.iter().all(Option::is_none) {
        return flat_words(layout, &views, c, n, start, out)
            .map(|chunks| RangeStats { chunks })
            .map_err(|e| Error::tensor(&entry.name, e));
    }
    if width == 1 && aligned {
        return Ok(RangeStats {
            chunks: plane_into(0, out)?,
        });
    }
    let mut chunks = 0;
    let mut parts: Vec<Cow<'_, [u8]>> = Vec::with_capacity(views.len());
    for (p, view) in views.iter().enumerate() {
        if let (PlaneView::Raw(bytes), None) = (view, &modes[p]) {
            parts.push(Cow::Borrowed(&bytes[s0 as usize..s1 as usize]));
            continue;
        }
        let mut buf = vec![0u8; (s1 - s0) as usize];
        chunks += plane_into(p, &mut buf)?;
        parts.push(Cow::Owned(buf));
    }
    let skip = (start - s0 * width) as usize;
    if width == 1 {
        out.copy_from_slice(&parts[0][skip..skip + out.len()]);
    } else if aligned {
        join_parallel(layout, &parts, out);
    } else {
        let mut words = vec![0u8; ((s1 - s0) * width) as usize];
        join_parallel(layout, &parts, &mut words);
        out.copy_from_slice(&words[skip..skip + out.len()]);
    }
    Ok(RangeStats { chunks })
}

/// Bytes `[start, start + out.len())` of a multi-plane tensor without tiles: for each chunk
/// covering them (in parallel), chunk `k` of every plane decoded into a small scratch buffer
/// (raw planes read in place) and joined straight into its words of `out`, as the full decode
/// does; only a chunk cut by the range's ends goes through a second buffer. Returns the chunks
/// decoded.
fn flat_words(
    layout: crate::dtype::PlaneSplit,
    views: &[PlaneView<'_>],
    c: u64,
    n: u64,
    start: u64,
    out: &mut [u8],
) -> Result<u64, String> {
    let width = layout.n_planes() as u64;
    let end = start + out.len() as u64;
    let (s0, s1) = (start / width, end.div_ceil(width));
    let (k0, k1) = (s0 / c, s1.div_ceil(c));
    let mut pieces: Vec<(u64, &mut [u8])> = Vec::with_capacity((k1 - k0) as usize);
    let mut rest = out;
    for k in k0..k1 {
        let words = (k * c * width, (k * c + c.min(n - k * c)) * width);
        let len = end.min(words.1) - start.max(words.0);
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
        rest = tail;
        pieces.push((k, piece));
    }
    let coded = views
        .iter()
        .filter(|v| !matches!(v, PlaneView::Raw(_)))
        .count() as u64;
    pieces.into_par_iter().try_for_each_init(
        || (Vec::new(), Vec::new()),
        |(scratch, words): &mut (Vec<u8>, Vec<u8>), (k, piece)| -> Result<(), String> {
            let first = k * c;
            let m = c.min(n - first) as usize;
            let w = width as usize;
            scratch.resize(m * w, 0);
            let mut refs: Vec<&[u8]> = Vec::with_capacity(w);
            for (p, (view, part)) in views.iter().zip(scratch.chunks_mut(m)).enumerate() {
                match view {
                    PlaneView::Raw(bytes) => refs.push(&bytes[first as usize..first as usize + m]),
                    PlaneView::Rans { .. } => {
                        view.decode_chunk(k as usize, c as usize, part)
                            .map_err(|e| format!("plane {p}: {e}"))?;
                        refs.push(part);
                    }
                }
            }
            let at = first * width;
            if at >= start && at + (m * w) as u64 <= end {
                byte_planes::join(layout, &refs, piece);
            } else {
                words.resize(m * w, 0);
                byte_planes::join(layout, &refs, words);
                let skip = (start.max(at) - at) as usize;
                piece.copy_from_slice(&words[skip..skip + piece.len()]);
            }
            Ok(())
        },
    )?;
    Ok((k1 - k0) * coded)
}

/// Symbols joined into words per block of this many symbols, blocks in parallel.
const JOIN_BLOCK: usize = 1 << 16;

fn join_parallel(layout: crate::dtype::PlaneSplit, parts: &[Cow<'_, [u8]>], out: &mut [u8]) {
    let width = layout.n_planes();
    out.par_chunks_mut(JOIN_BLOCK * width)
        .enumerate()
        .for_each(|(b, o)| {
            let at = b * JOIN_BLOCK;
            let n = o.len() / width;
            let refs: Vec<&[u8]> = parts.iter().map(|p| &p[at..at + n]).collect();
            byte_planes::join(layout, &refs, o);
        });
}

/// One chunk's share of a range: chunk `k` (of `m` symbols), of which `dst` receives the
/// symbols from `skip` on; or two whole consecutive chunks decoded as a pair.
enum Job<'o> {
    Part {
        k: usize,
        m: usize,
        skip: usize,
        dst: &'o mut [u8],
    },
    Pair {
        k: usize,
        a: &'o mut [u8],
        b: &'o mut [u8],
    },
}

/// Decodes symbols `[s0, s0 + dst.len())` of a flat stream of `n` symbols into `dst`: the
/// chunks that cover them, in parallel, whole chunks straight into `dst` (two at a time, which
/// decodes faster) and the partial chunks at either end through a scratch buffer. Returns the
/// number of chunks decoded (or copied, for a raw stream: none).
fn symbols_into(
    view: &PlaneView<'_>,
    c: u64,
    n: u64,
    s0: u64,
    dst: &mut [u8],
) -> Result<u64, String> {
    let s1 = s0 + dst.len() as u64;
    if let PlaneView::Raw(bytes) = view {
        dst.copy_from_slice(&bytes[s0 as usize..s1 as usize]);
        return Ok(0);
    }
    if dst.is_empty() {
        return Ok(0);
    }
    let (k0, k1) = (s0 / c, s1.div_ceil(c));
    let mut jobs: Vec<Job<'_>> = Vec::with_capacity((k1 - k0) as usize);
    let mut rest = dst;
    let mut pending: Option<(usize, &mut [u8])> = None;
    for k in k0..k1 {
        let (first, m) = (k * c, c.min(n - k * c));
        let (lo, hi) = (s0.max(first), s1.min(first + m));
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut((hi - lo) as usize);
        rest = tail;
        let k = k as usize;
        if lo == first && hi == first + m {
            match pending.take() {
                Some((ka, a)) => jobs.push(Job::Pair { k: ka, a, b: piece }),
                None => pending = Some((k, piece)),
            }
            continue;
        }
        if let Some((ka, a)) = pending.take() {
            jobs.push(Job::Part {
                k: ka,
                m: a.len(),
                skip: 0,
                dst: a,
            });
        }
        jobs.push(Job::Part {
            k,
            m: m as usize,
            skip: (lo - first) as usize,
            dst: piece,
        });
    }
    if let Some((k, a)) = pending {
        jobs.push(Job::Part {
            k,
            m: a.len(),
            skip: 0,
            dst: a,
        });
    }
    let c = c as usize;
    jobs.into_par_iter().try_for_each(|job| match job {
        Job::Pair { k, a, b } => view.decode_chunk_pair(k, c, a, b),
        Job::Part { k, m, skip, dst } if skip == 0 && dst.len() == m => {
            view.decode_chunk(k, c, dst)
        }
        Job::Part { k, m, skip, dst } => {
            let mut chunk = vec![0u8; m];
            view.decode_chunk(k, c, &mut chunk)?;
            dst.copy_from_slice(&chunk[skip..skip + dst.len()]);
            Ok(())
        }
    })?;
    Ok(k1 - k0)
}

/// Symbols `[s0, s0 + dst.len())` of tiled plane `p` into `dst`: the rows of tiles covering
/// them rebuilt from their residual and mode chunks.
#[allow(clippy::too_many_arguments)]
fn tiled_into(
    entry: &TensorEntry,
    p: usize,
    residuals: &PlaneView<'_>,
    modes: &PlaneView<'_>,
    grid: &Grid,
    c: u64,
    s0: u64,
    dst: &mut [u8],
) -> Result<u64, String> {
    let s1 = s0 + dst.len() as u64;
    let (cols, t) = (grid.cols, grid.tile);
    if cols == 0 || dst.is_empty() {
        return Ok(0);
    }
    let (b0, b1) = ((s0 / cols) / t, s1.div_ceil(cols).div_ceil(t));
    let (r0, r1) = (b0 * t, (b1 * t).min(grid.rows));
    let sub = Grid {
        rows: r1 - r0,
        cols,
        tile: t,
    };
    let band = (sub.rows * cols) as usize;
    let mut res = vec![0u8; band];
    let kr = symbols_into(residuals, c, entry.plane_symbols(), r0 * cols, &mut res)?;
    let tc = grid.tile_cols();
    let mut ids = vec![0u8; ((b1 - b0) * tc) as usize];
    let km = symbols_into(modes, c, grid.n_tiles(), b0 * tc, &mut ids)
        .map_err(|e| format!("mode plane: {e}"))?;
    let mut rebuilt = vec![0u8; band];
    reconstruct_into(&sub, plane_bias(entry.dtype, p), &res, &ids, &mut rebuilt)?;
    let skip = (s0 - r0 * cols) as usize;
    dst.copy_from_slice(&rebuilt[skip..skip + dst.len()]);
    Ok(kr + km)
}
