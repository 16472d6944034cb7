//! Whole tiled planes: the decoder's parallel reconstruction (format.md §6.5) and the tile
//! gather/scatter both directions share.
//!
//! A row of tiles is a contiguous run of both the residual plane and the rebuilt plane (rows
//! `ti·T .. ti·T + h` of the view), so rows of tiles are reconstructed in parallel with no
//! shared output; within a row of tiles, tiles are rebuilt left to right into a small buffer
//! and scattered into the plane's rows.

use rayon::prelude::*;

use super::simd::{self, Level};
use super::transform::{inverse_rows, permute_rows, program, segments, transpose_strided};
use super::{predict, Grid, Mode, Predictor, Transform, N_MODES};

/// Where a tile sits in its row of tiles: that band's width `cols`, the tile side, the tile's
/// column `tj` and its size `h × w`.
#[derive(Clone, Copy, Debug)]
pub struct Place {
    /// Columns of the plane's view.
    pub cols: usize,
    /// Tile side.
    pub tile: usize,
    /// Column of tiles.
    pub tj: usize,
    /// Rows of this tile.
    pub h: usize,
    /// Columns of this tile.
    pub w: usize,
}

impl Place {
    /// Offset of the tile's row `i` in its band.
    fn row(&self, i: usize) -> std::ops::Range<usize> {
        let at = i * self.cols + self.tj * self.tile;
        at..at + self.w
    }
}

/// Copies a tile of a band of rows into `y` (raster order, `h × w`), XORing `bias`.
#[inline(always)]
pub fn gather(band: &[u8], at: Place, bias: u8, y: &mut [u8]) {
    for (i, dst) in y[..at.h * at.w].chunks_exact_mut(at.w).enumerate() {
        for (d, &s) in dst.iter_mut().zip(&band[at.row(i)]) {
            *d = s ^ bias;
        }
    }
}

/// The inverse of [`gather`]: writes the tile `y` into its place in the band, XORing `bias`.
pub fn scatter(y: &[u8], band: &mut [u8], at: Place, bias: u8) {
    for (i, src) in y[..at.h * at.w].chunks_exact(at.w).enumerate() {
        for (d, &s) in band[at.row(i)].iter_mut().zip(src) {
            *d = s ^ bias;
        }
    }
}

/// Checks a mode plane: every symbol must be a mode id (< 15).
pub fn check_modes(modes: &[u8]) -> Result<(), String> {
    match modes.iter().position(|&m| usize::from(m) >= N_MODES) {
        Some(t) => Err(format!("tile {t} has invalid mode id {}", modes[t])),
        None => Ok(()),
    }
}

/// Rebuilds a tiled plane into `out` from its residual plane and its mode plane (checked here:
/// an invalid mode id is an error, never a panic). `bias` is 0x80 for signed planes.
pub fn reconstruct_into(
    grid: &Grid,
    bias: u8,
    residuals: &[u8],
    modes: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    reconstruct_at(simd::detected(), grid, bias, residuals, modes, out)
}

/// [`reconstruct_into`] with a chosen vector level (tests run every level the CPU has).
pub fn reconstruct_at(
    level: Level,
    grid: &Grid,
    bias: u8,
    residuals: &[u8],
    modes: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    let n = grid.rows * grid.cols;
    if residuals.len() as u64 != n || out.len() as u64 != n || modes.len() as u64 != grid.n_tiles()
    {
        return Err("tiled plane sizes do not match its grid".into());
    }
    check_modes(modes)?;
    if n == 0 {
        return Ok(());
    }
    let (cols, tile) = (grid.cols as usize, grid.tile as usize);
    let band = tile * cols;
    out.par_chunks_mut(band)
        .zip(residuals.par_chunks(band))
        .zip(modes.par_chunks(grid.tile_cols() as usize))
        .for_each_init(
            || Band::new(level, tile),
            |b, ((rows, res), modes)| b.rebuild(rows, res, modes, cols, bias),
        );
    Ok(())
}

/// Tiles rebuilt side by side: the inverse transforms of a row of tiles run on rows of several
/// tiles at once (as the encoder's search does), then each tile is predicted back.
struct Band {
    level: Level,
    tile: usize,
    /// The band's residuals, transformed tiles replaced by their inverse transform.
    work: Vec<u8>,
    /// Transposed blocks (rows = positions along the tile's width).
    wide_t: Vec<u8>,
    /// Blocks side by side (rows = positions along the tile's height).
    wide: Vec<u8>,
    perm: Vec<u8>,
    y: Vec<u8>,
}

/// Most tiles whose inverse transforms run together.
const BATCH: usize = 16;

impl Band {
    fn new(level: Level, tile: usize) -> Band {
        Band {
            level,
            tile,
            work: Vec::new(),
            wide_t: vec![0; BATCH * tile * tile],
            wide: vec![0; BATCH * tile * tile],
            perm: Vec::new(),
            y: vec![0; tile * tile],
        }
    }

    fn rebuild(&mut self, rows: &mut [u8], res: &[u8], modes: &[u8], cols: usize, bias: u8) {
        let (tile, h) = (self.tile, rows.len() / cols);
        let place = |tj: usize| Place {
            cols,
            tile,
            tj,
            h,
            w: tile.min(cols - tj * tile),
        };
        let mode = |tj: usize| Mode::from_id(modes[tj]).expect("checked by the caller");
        if modes
            .iter()
            .any(|&m| Mode::from_id(m).is_some_and(|m| m.transform != Transform::None))
        {
            self.work.clear();
            self.work.extend_from_slice(res);
            for kind in [Transform::Dct, Transform::Adst] {
                let mut batch: Vec<usize> = Vec::with_capacity(BATCH);
                for tj in 0..modes.len() {
                    if mode(tj).transform != kind {
                        continue;
                    }
                    if batch.first().is_some_and(|&f| place(f).w != place(tj).w)
                        || batch.len() == BATCH
                    {
                        self.inverse_batch(kind, &batch, h, place(batch[0]).w);
                        batch.clear();
                    }
                    batch.push(tj);
                }
                if let Some(&f) = batch.first() {
                    self.inverse_batch(kind, &batch, h, place(f).w);
                }
            }
        }
        let src = if self.work.is_empty() {
            res
        } else {
            &self.work[..]
        };
        for tj in 0..modes.len() {
            let at = place(tj);
            let (len, start) = (h * at.w, tj * tile * h);
            let run = &src[start..start + len];
            let m = mode(tj);
            if m.predictor == Predictor::None {
                // y = r + 128, symbol = y ^ bias.
                scatter_flat(run, rows, at, predict::MID ^ bias);
                continue;
            }
            predict::inverse(m.predictor, run, h, at.w, &mut self.y);
            scatter(&self.y, rows, at, bias);
        }
        self.work.clear();
    }

    /// Undoes the transform of the tiles `tjs` (all `h × w`) in `work`, in place.
    fn inverse_batch(&mut self, kind: Transform, tjs: &[usize], h: usize, w: usize) {
        let (tile, n) = (self.tile, tjs.len());
        let (sh, sw) = (n * h, n * w);
        // Rows first: row j of `wide_t` holds coefficient column j of every tile.
        for (b, &tj) in tjs.iter().enumerate() {
            let at = tj * tile * h;
            transpose_strided(&self.work[at..], w, h, w, &mut self.wide_t[b * h..], sh);
        }
        for (at, len) in segments(w) {
            if len > 1 {
                let prog = program(kind, len);
                permute_rows(
                    &prog.perm,
                    &mut self.wide_t,
                    sh,
                    sh,
                    at,
                    true,
                    &mut self.perm,
                );
                inverse_rows(self.level, prog, &mut self.wide_t, sh, sh, at);
            }
        }
        // Then columns: row i of `wide` holds row i of every tile.
        for b in 0..n {
            transpose_strided(&self.wide_t[b * h..], sh, w, h, &mut self.wide[b * w..], sw);
        }
        for (at, len) in segments(h) {
            if len > 1 {
                let prog = program(kind, len);
                permute_rows(&prog.perm, &mut self.wide, sw, sw, at, true, &mut self.perm);
                inverse_rows(self.level, prog, &mut self.wide, sw, sw, at);
            }
        }
        for (b, &tj) in tjs.iter().enumerate() {
            let at = tj * tile * h;
            for i in 0..h {
                self.work[at + i * w..at + (i + 1) * w]
                    .copy_from_slice(&self.wide[i * sw + b * w..i * sw + (b + 1) * w]);
            }
        }
    }
}

/// `none`/`none`: symbols are the residuals plus `add` (the midpoint, biased).
fn scatter_flat(run: &[u8], band: &mut [u8], at: Place, add: u8) {
    for (i, src) in run.chunks_exact(at.w).take(at.h).enumerate() {
        for (d, &s) in band[at.row(i)].iter_mut().zip(src) {
            *d = s.wrapping_add(add);
        }
    }
}

/// How many tiles use each mode (index = mode id).
pub fn mode_counts(modes: &[u8]) -> [u64; N_MODES] {
    let mut counts = [0u64; N_MODES];
    for &m in modes {
        if let Some(c) = counts.get_mut(usize::from(m)) {
            *c += 1;
        }
    }
    counts
}

/// Tiles whose mode has a predictor other than `none`.
pub fn predicted_tiles(counts: &[u64; N_MODES]) -> u64 {
    counts
        .iter()
        .enumerate()
        .filter(|&(id, _)| Mode::from_id(id as u8).is_some_and(|m| m.predictor != Predictor::None))
        .map(|(_, &c)| c)
        .sum()
}
