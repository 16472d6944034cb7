//! Split little-endian words into byte planes and join them back (format.md §4).
//!
//! Plane `p` holds byte `p` of each transformed word counted from the most significant byte.
//! Float words are rotated left by one bit first, so plane 0 is the exponent plane. The split is a
//! bijection; `join(split(x)) == x` for every input, which the property tests check.

use crate::dtype::PlaneSplit;

/// Splits `src` (a whole number of words) into `planes`, each `src.len() / width` bytes long.
///
/// # Panics
/// If the slice lengths do not fit the layout (a caller bug, never file content).
pub fn split(layout: PlaneSplit, src: &[u8], planes: &mut [&mut [u8]]) {
    let (width, rotate) = shape(layout);
    assert_eq!(planes.len(), width);
    if width == 1 {
        planes[0].copy_from_slice(src);
        return;
    }
    let n = src.len() / width;
    assert_eq!(src.len(), n * width);
    for p in planes.iter() {
        assert_eq!(p.len(), n);
    }
    match (width, planes) {
        (2, [p0, p1]) => {
            for ((w, a), b) in src.chunks_exact(2).zip(p0.iter_mut()).zip(p1.iter_mut()) {
                let t = transform(u16::from_le_bytes([w[0], w[1]]), rotate, u16::rotate_left);
                [*a, *b] = t.to_be_bytes();
            }
        }
        (4, [p0, p1, p2, p3]) => {
            for (i, w) in src.chunks_exact(4).enumerate() {
                let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                let t = transform(v, rotate, u32::rotate_left).to_be_bytes();
                p0[i] = t[0];
                p1[i] = t[1];
                p2[i] = t[2];
                p3[i] = t[3];
            }
        }
        (_, planes) => {
            for (i, w) in src.chunks_exact(width).enumerate() {
                let mut le = [0u8; 8];
                le[..width].copy_from_slice(w);
                let v = u64::from_le_bytes(le);
                let t = if rotate { rotl_width(v, width) } else { v };
                let be = t.to_be_bytes();
                for (p, plane) in planes.iter_mut().enumerate() {
                    plane[i] = be[8 - width + p];
                }
            }
        }
    }
}

/// Inverse of [`split`]: interleaves `planes` back into little-endian words in `dst`.
///
/// # Panics
/// If the slice lengths do not fit the layout (a caller bug, never file content).
pub fn join(layout: PlaneSplit, planes: &[&[u8]], dst: &mut [u8]) {
    let (width, rotate) = shape(layout);
    assert_eq!(planes.len(), width);
    if width == 1 {
        dst.copy_from_slice(planes[0]);
        return;
    }
    let n = dst.len() / width;
    assert_eq!(dst.len(), n * width);
    for p in planes {
        assert_eq!(p.len(), n);
    }
    match (width, planes) {
        (2, [p0, p1]) => {
            for ((w, &a), &b) in dst.chunks_exact_mut(2).zip(p0.iter()).zip(p1.iter()) {
                let v = transform(u16::from_be_bytes([a, b]), rotate, u16::rotate_right);
                w.copy_from_slice(&v.to_le_bytes());
            }
        }
        (4, [p0, p1, p2, p3]) => {
            for (i, w) in dst.chunks_exact_mut(4).enumerate() {
                let t = u32::from_be_bytes([p0[i], p1[i], p2[i], p3[i]]);
                w.copy_from_slice(&transform(t, rotate, u32::rotate_right).to_le_bytes());
            }
        }
        (_, planes) => {
            for (i, w) in dst.chunks_exact_mut(width).enumerate() {
                let mut be = [0u8; 8];
                for (p, plane) in planes.iter().enumerate() {
                    be[8 - width + p] = plane[i];
                }
                let t = u64::from_be_bytes(be);
                let v = if rotate { rotr_width(t, width) } else { t };
                w.copy_from_slice(&v.to_le_bytes()[..width]);
            }
        }
    }
}

fn shape(layout: PlaneSplit) -> (usize, bool) {
    match layout {
        PlaneSplit::Bytes => (1, false),
        PlaneSplit::Integer { width } => (width, false),
        PlaneSplit::Float { width } => (width, true),
    }
}

fn transform<T>(v: T, rotate: bool, rotl: fn(T, u32) -> T) -> T {
    if rotate {
        rotl(v, 1)
    } else {
        v
    }
}

/// Rotates the low `width` bytes of `v` left by one bit (the generic, any-width path).
fn rotl_width(v: u64, width: usize) -> u64 {
    let bits = (width * 8) as u32;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    ((v << 1) | (v >> (bits - 1))) & mask
}

fn rotr_width(t: u64, width: usize) -> u64 {
    let bits = (width * 8) as u32;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    ((t >> 1) | (t << (bits - 1))) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;

    fn round_trip(layout: PlaneSplit, src: &[u8]) -> Vec<Vec<u8>> {
        let width = layout.n_planes();
        let n = src.len() / width;
        let mut planes = vec![vec![0u8; n]; width];
        {
            let mut refs: Vec<&mut [u8]> = planes.iter_mut().map(Vec::as_mut_slice).collect();
            split(layout, src, &mut refs);
        }
        let refs: Vec<&[u8]> = planes.iter().map(Vec::as_slice).collect();
        let mut back = vec![0u8; src.len()];
        join(layout, &refs, &mut back);
        assert_eq!(back, src);
        planes
    }

    #[test]
    fn bf16_plane_zero_is_the_exponent() {
        // -1.5 in BF16 is 0xBFC0: sign 1, exponent 0x7F, mantissa 0x40.
        let planes = round_trip(Dtype::BF16.plane_layout(), &0xBFC0u16.to_le_bytes());
        assert_eq!(planes[0], [0x7F]);
        assert_eq!(planes[1], [0x81]); // mantissa 0x40 << 1 | sign
    }

    #[test]
    fn f32_and_f64_planes() {
        let planes = round_trip(Dtype::F32.plane_layout(), &(-2.0f32).to_le_bytes());
        assert_eq!(planes[0], [0x80]); // exponent of 2.0
        assert_eq!(planes[3], [0x01]); // sign in bit 0 of the last plane
        let planes = round_trip(Dtype::F64.plane_layout(), &(-2.0f64).to_le_bytes());
        assert_eq!(planes[0], [0x80]);
        assert_eq!(planes[7], [0x01]);
    }

    #[test]
    fn integers_are_big_endian_planes() {
        let planes = round_trip(Dtype::I32.plane_layout(), &0x0102_0304u32.to_le_bytes());
        assert_eq!(planes, vec![vec![1], vec![2], vec![3], vec![4]]);
        let src: Vec<u8> = (0..=255u8).cycle().take(8 * 37).collect();
        round_trip(Dtype::U64.plane_layout(), &src);
        round_trip(Dtype::I16.plane_layout(), &src);
        round_trip(Dtype::F64.plane_layout(), &src);
    }
}
