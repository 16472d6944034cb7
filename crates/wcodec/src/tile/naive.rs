//! The spec-literal oracle for tiled planes: format.md §6 written out one sample at a time,
//! with no buffers shared between tiles and no vector loops. Slow on purpose; the fast paths of
//! [`super::codec`] are tested against it.

use super::transform::{self, program, segments};
use super::{Grid, Mode, Predictor, Transform};

/// The prediction of sample `(i, j)` of a tile from the biased values `y` already rebuilt
/// (row-major, width `w`).
fn predict(pred: Predictor, y: &[u8], w: usize, i: usize, j: usize) -> i32 {
    let at = |r: usize, c: usize| i32::from(y[r * w + c]);
    if pred == Predictor::None || (i == 0 && j == 0) {
        return 128;
    }
    if i == 0 {
        return at(0, j - 1);
    }
    if j == 0 {
        return at(i - 1, 0);
    }
    let (a, b, c) = (at(i, j - 1), at(i - 1, j), at(i - 1, j - 1));
    match pred {
        Predictor::Left => a,
        Predictor::Top => b,
        Predictor::Avg => (a + b) >> 1,
        Predictor::Planar => (a + b - c).clamp(0, 255),
        Predictor::None => unreachable!(),
    }
}

/// Applies the 1-D transform (`inverse`: its inverse) to every line of length `len` of a tile,
/// along rows (`by_rows`) or columns.
fn lines(kind: Transform, t: &mut [u8], h: usize, w: usize, by_rows: bool, inverse: bool) {
    let (n_lines, len) = if by_rows { (h, w) } else { (w, h) };
    let index = |line: usize, k: usize| if by_rows { line * w + k } else { k * w + line };
    for line in 0..n_lines {
        let mut v: Vec<u8> = (0..len).map(|k| t[index(line, k)]).collect();
        for (at, seg) in segments(len) {
            if seg > 1 {
                let prog = program(kind, seg);
                if inverse {
                    transform::inverse_line(prog, &mut v[at..at + seg]);
                } else {
                    transform::forward_line(prog, &mut v[at..at + seg]);
                }
            }
        }
        for (k, &x) in v.iter().enumerate() {
            t[index(line, k)] = x;
        }
    }
}

/// Rebuilds a tiled plane (format.md §6.5) from its residual plane and its mode plane.
/// `bias` is 0x80 for signed planes, else 0.
pub fn reconstruct(
    grid: &Grid,
    bias: u8,
    residuals: &[u8],
    modes: &[u8],
) -> Result<Vec<u8>, String> {
    let (rows, cols, tile) = (grid.rows as usize, grid.cols as usize, grid.tile as usize);
    if residuals.len() != rows * cols || modes.len() as u64 != grid.n_tiles() {
        return Err("plane sizes do not match the grid".into());
    }
    let mut plane = vec![0u8; rows * cols];
    for ti in 0..grid.tile_rows() {
        for tj in 0..grid.tile_cols() {
            let t = (ti * grid.tile_cols() + tj) as usize;
            let mode = Mode::from_id(modes[t]).ok_or_else(|| format!("tile {t}: bad mode"))?;
            let (h, w) = (grid.tile_height(ti) as usize, grid.tile_width(tj) as usize);
            let at = grid.tile_offset(ti, tj) as usize;
            let mut r = residuals[at..at + h * w].to_vec();
            if mode.transform != Transform::None {
                // Inverse of "columns, then rows": rows first.
                lines(mode.transform, &mut r, h, w, true, true);
                lines(mode.transform, &mut r, h, w, false, true);
            }
            let mut y = vec![0u8; h * w];
            for i in 0..h {
                for j in 0..w {
                    let p = predict(mode.predictor, &y, w, i, j);
                    y[i * w + j] = (i32::from(r[i * w + j]) + p).rem_euclid(256) as u8;
                }
            }
            for i in 0..h {
                for j in 0..w {
                    plane[(ti as usize * tile + i) * cols + tj as usize * tile + j] =
                        y[i * w + j] ^ bias;
                }
            }
        }
    }
    Ok(plane)
}

/// The residual plane of `plane` under the given tile modes (the encoder's side of
/// [`reconstruct`]).
///
/// # Panics
/// If a mode id is ≥ 15 or the sizes do not match the grid (a caller bug).
pub fn residuals(grid: &Grid, bias: u8, plane: &[u8], modes: &[u8]) -> Vec<u8> {
    let (cols, tile) = (grid.cols as usize, grid.tile as usize);
    let mut out = vec![0u8; plane.len()];
    for ti in 0..grid.tile_rows() {
        for tj in 0..grid.tile_cols() {
            let t = (ti * grid.tile_cols() + tj) as usize;
            let mode = Mode::from_id(modes[t]).expect("valid mode");
            let (h, w) = (grid.tile_height(ti) as usize, grid.tile_width(tj) as usize);
            let y: Vec<u8> = (0..h * w)
                .map(|k| {
                    plane[(ti as usize * tile + k / w) * cols + tj as usize * tile + k % w] ^ bias
                })
                .collect();
            let mut r: Vec<u8> = (0..h * w)
                .map(|k| {
                    let p = predict(mode.predictor, &y, w, k / w, k % w);
                    (i32::from(y[k]) - p).rem_euclid(256) as u8
                })
                .collect();
            if mode.transform != Transform::None {
                lines(mode.transform, &mut r, h, w, false, false);
                lines(mode.transform, &mut r, h, w, true, false);
            }
            let at = grid.tile_offset(ti, tj) as usize;
            out[at..at + h * w].copy_from_slice(&r);
        }
    }
    out
}
