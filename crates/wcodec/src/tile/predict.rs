//! The predictors of format.md §6.3, on one tile of biased values (`y = symbol ^ bias`, so that
//! numeric order is value order on signed and unsigned planes alike).
//!
//! Every predictor uses the same fixed rules at the tile's edges, where a neighbour is missing:
//! the first sample is predicted by 128 (the midpoint), the rest of the first row by the sample
//! to the left, the rest of the first column by the sample above. Inside, with `a` = left,
//! `b` = above and `c` = above-left: `left` → `a`, `top` → `b`, `avg` → `(a + b) >> 1`,
//! `planar` → `clamp(a + b − c, 0, 255)`. `none` predicts 128 everywhere. The residual is
//! `y − prediction (mod 256)`.

use super::Predictor;

/// The midpoint: the prediction of `none` and of every tile's first sample.
pub(crate) const MID: u8 = 128;

#[inline(always)]
fn avg(a: u8, b: u8) -> u8 {
    ((u16::from(a) + u16::from(b)) >> 1) as u8
}

#[inline(always)]
fn planar(a: u8, b: u8, c: u8) -> u8 {
    (i16::from(a) + i16::from(b) - i16::from(c)).clamp(0, 255) as u8
}

/// Residuals of `pred` for the `h × w` tile `y` (raster order) into `out` (the tests' form;
/// the encoder writes strided rows).
#[cfg(test)]
fn forward(pred: Predictor, y: &[u8], h: usize, w: usize, out: &mut [u8]) {
    forward_strided(pred, y, h, w, out, w);
}

/// `forward` writing row `i` of the residuals at `out[i·stride..]`.
#[inline(always)]
pub(crate) fn forward_strided(
    pred: Predictor,
    y: &[u8],
    h: usize,
    w: usize,
    out: &mut [u8],
    stride: usize,
) {
    let y = &y[..h * w];
    if pred == Predictor::None {
        for i in 0..h {
            for (o, &v) in out[i * stride..i * stride + w]
                .iter_mut()
                .zip(&y[i * w..(i + 1) * w])
            {
                *o = v.wrapping_sub(MID);
            }
        }
        return;
    }
    // First row: the first sample against the midpoint, the others against their left.
    out[0] = y[0].wrapping_sub(MID);
    for j in 1..w {
        out[j] = y[j].wrapping_sub(y[j - 1]);
    }
    for i in 1..h {
        let (up, row) = (&y[(i - 1) * w..i * w], &y[i * w..(i + 1) * w]);
        let o = &mut out[i * stride..i * stride + w];
        // First column: against the sample above.
        o[0] = row[0].wrapping_sub(up[0]);
        let (o, row_r) = (&mut o[1..], &row[1..]);
        let (left, up_r, up_l) = (&row[..w - 1], &up[1..], &up[..w - 1]);
        match pred {
            Predictor::Left => {
                for ((o, &v), &a) in o.iter_mut().zip(row_r).zip(left) {
                    *o = v.wrapping_sub(a);
                }
            }
            Predictor::Top => {
                for ((o, &v), &b) in o.iter_mut().zip(row_r).zip(up_r) {
                    *o = v.wrapping_sub(b);
                }
            }
            Predictor::Avg => {
                for (((o, &v), &a), &b) in o.iter_mut().zip(row_r).zip(left).zip(up_r) {
                    *o = v.wrapping_sub(avg(a, b));
                }
            }
            Predictor::Planar => {
                for ((((o, &v), &a), &b), &c) in
                    o.iter_mut().zip(row_r).zip(left).zip(up_r).zip(up_l)
                {
                    *o = v.wrapping_sub(planar(a, b, c));
                }
            }
            Predictor::None => unreachable!("handled above"),
        }
    }
}

/// Undoes `forward`: rebuilds the biased values `y` of an `h × w` tile from its residuals.
pub(crate) fn inverse(pred: Predictor, r: &[u8], h: usize, w: usize, y: &mut [u8]) {
    let (r, y) = (&r[..h * w], &mut y[..h * w]);
    if pred == Predictor::None {
        for (v, &d) in y.iter_mut().zip(r) {
            *v = d.wrapping_add(MID);
        }
        return;
    }
    let mut prev = MID;
    for (v, &d) in y[..w].iter_mut().zip(&r[..w]) {
        prev = prev.wrapping_add(d);
        *v = prev;
    }
    for i in 1..h {
        let (done, rest) = y.split_at_mut(i * w);
        let (up, row) = (&done[(i - 1) * w..], &mut rest[..w]);
        let rr = &r[i * w..(i + 1) * w];
        row[0] = up[0].wrapping_add(rr[0]);
        match pred {
            Predictor::Left => {
                let mut a = row[0];
                for (v, &d) in row[1..].iter_mut().zip(&rr[1..]) {
                    a = a.wrapping_add(d);
                    *v = a;
                }
            }
            Predictor::Top => {
                for ((v, &d), &b) in row[1..].iter_mut().zip(&rr[1..]).zip(&up[1..]) {
                    *v = b.wrapping_add(d);
                }
            }
            Predictor::Avg => {
                let mut a = row[0];
                for ((v, &d), &b) in row[1..].iter_mut().zip(&rr[1..]).zip(&up[1..]) {
                    a = avg(a, b).wrapping_add(d);
                    *v = a;
                }
            }
            Predictor::Planar => {
                let mut a = row[0];
                for (((v, &d), &b), &c) in row[1..]
                    .iter_mut()
                    .zip(&rr[1..])
                    .zip(&up[1..])
                    .zip(&up[..w - 1])
                {
                    a = planar(a, b, c).wrapping_add(d);
                    *v = a;
                }
            }
            Predictor::None => unreachable!("handled above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_forward_on_edge_cases() {
        for (h, w) in [(1, 1), (1, 5), (5, 1), (4, 4), (7, 3)] {
            let n = h * w;
            let tiles: Vec<Vec<u8>> = vec![
                vec![0; n],
                vec![255; n],
                (0..n).map(|i| if i % 2 == 0 { 0 } else { 255 }).collect(),
                (0..n).map(|i| if i == n / 2 { 255 } else { 3 }).collect(),
                (0..n).map(|i| (i * 37 % 256) as u8).collect(),
            ];
            for y in &tiles {
                for p in Predictor::ALL {
                    let mut r = vec![0; n];
                    forward(p, y, h, w, &mut r);
                    let mut back = vec![0; n];
                    inverse(p, &r, h, w, &mut back);
                    assert_eq!(&back, y, "{p} {h}x{w}");
                }
            }
        }
    }

    #[test]
    fn smooth_ramps_predict_exactly() {
        // y = 10 + 2i + 3j: `planar` is exact inside the tile; the first row and column leave
        // the slope, the first sample its distance to the midpoint.
        let (h, w) = (5, 6);
        let y: Vec<u8> = (0..h * w)
            .map(|k| (10 + 2 * (k / w) + 3 * (k % w)) as u8)
            .collect();
        let mut r = vec![0; h * w];
        forward(Predictor::Planar, &y, h, w, &mut r);
        for (k, &d) in r.iter().enumerate() {
            let want = match (k / w, k % w) {
                (0, 0) => 10u8.wrapping_sub(MID),
                (0, _) => 3,
                (_, 0) => 2,
                _ => 0,
            };
            assert_eq!(d, want, "sample {k}");
        }
    }
}
