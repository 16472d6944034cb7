//! Whole tiled planes: the decoder's parallel reconstruction (format.md §6.5) and the tile
//! gather/scatter both directions share.
//!
//! A row of tiles is a contiguous run of both the residual plane and the rebuilt plane (rows
//! `ti·T .. ti·T + h` of the view), so rows of tiles are reconstructed in parallel with no
//! shared output; within a row of tiles, tiles are rebuilt left to right into a small buffer
//! and scattered into the plane's rows.

use rayon::prelude::*;

use super::transform::{self, Scratch};
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
            || {
                (
                    vec![0u8; tile * tile],
                    vec![0u8; tile * tile],
                    Scratch::default(),
                )
            },
            |(r, y, s), ((rows, res), modes)| {
                let h = rows.len() / cols;
                let mut at = 0;
                for (tj, &id) in modes.iter().enumerate() {
                    let w = tile.min(cols - tj * tile);
                    let place = Place {
                        cols,
                        tile,
                        tj,
                        h,
                        w,
                    };
                    let len = h * w;
                    let mode = Mode::from_id(id).expect("checked above");
                    let run = &res[at..at + len];
                    at += len;
                    if mode == Mode::FLAT {
                        // y = r + 128, symbol = y ^ bias.
                        scatter_flat(run, rows, place, predict::MID ^ bias);
                        continue;
                    }
                    let r = &mut r[..len];
                    r.copy_from_slice(run);
                    if mode.transform != Transform::None {
                        transform::inverse_2d(mode.transform, r, h, w, s);
                    }
                    predict::inverse(mode.predictor, r, h, w, y);
                    scatter(y, rows, place, bias);
                }
            },
        );
    Ok(())
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
