//! Reversible integer transforms by lifting (format.md §6.4).
//!
//! A 1-D transform of a power-of-two length `L ≤ 64` is a [`Program`]: a list of [`Step`]s on
//! the positions `0..L` of a line of bytes, then a permutation that puts coefficient `k` first.
//! Steps are *lifts* `v[a] += (c · v[b] + 64) >> 7 (mod 256)` (with `v[b]` read as a signed
//! byte and `c` a 7-bit fixed-point constant) and negations `v[a] = −v[a] (mod 256)`; running
//! the steps backwards with every lift subtracted undoes the program exactly, whatever the
//! bytes. The lifts come in threes, each triple a rotation of two positions (`x += p·y;
//! y += u·x; x += p·y` with `p = −tan(θ/2)`, `u = sin θ` rotates by θ), and the programs are
//! fast algorithms made of rotations only:
//!
//! * **DCT-II**: `L/2` butterflies (rotations by π/4) split the line into sums, which go
//!   through the DCT-II of length `L/2` (the even coefficients), and differences, which go
//!   through the DCT-IV of length `L/2` (the odd coefficients).
//! * **DCT-IV** of length `M = 2m`: pairs `(x[2n], x[M−1−2n])` become complex numbers,
//!   rotated by `−π(4n+1)/(4M)`; a unitary radix-2 FFT of length `m` (butterflies and twiddle
//!   rotations); a final rotation by `π/2 − πk/M` of each output gives `Y[2k]` and `Y[M−1−2k]`.
//! * **ADST** (the DST-IV, `sin(π(2n+1)(2k+1)/(4L))`): negate the odd positions, DCT-IV, and
//!   read the coefficients backwards.
//!
//! In real arithmetic these are exactly the orthonormal transforms; in integers each lift
//! rounds, so the coefficients are within a few units of the real ones while the program stays
//! exactly invertible. Arithmetic modulo 256 keeps every coefficient a byte: a coefficient that
//! leaves `[−128, 127]` wraps around, which costs bits, never correctness.
//!
//! All angles are multiples of π/256 (the finest is the DCT-IV pre-rotation at `L = 64`), so a
//! 129-entry table of constants serves every program; it is part of the format.

use std::sync::OnceLock;

pub use super::lift::{lift_delta, Step, LIFT_BITS};
use super::simd::{self, Level};
use super::Transform;

/// Longest transform (and tile side).
pub const MAX_LEN: usize = 64;

/// `−round(128 · tan(kπ/512))` for `k = 0..=128`: the outer constant `p` of a rotation by
/// `θ = kπ/256` (format.md §6.4, table A).
const LIFT_P: [i16; 129] = [
    0, -1, -2, -2, -3, -4, -5, -6, -6, -7, -8, -9, -9, -10, -11, -12, -13, -13, -14, -15, -16, -17,
    -17, -18, -19, -20, -21, -21, -22, -23, -24, -25, -25, -26, -27, -28, -29, -30, -30, -31, -32,
    -33, -34, -35, -35, -36, -37, -38, -39, -40, -41, -41, -42, -43, -44, -45, -46, -47, -48, -48,
    -49, -50, -51, -52, -53, -54, -55, -56, -57, -58, -59, -60, -61, -62, -62, -63, -64, -65, -66,
    -67, -68, -69, -70, -71, -73, -74, -75, -76, -77, -78, -79, -80, -81, -82, -83, -84, -86, -87,
    -88, -89, -90, -91, -93, -94, -95, -96, -97, -99, -100, -101, -102, -104, -105, -106, -108,
    -109, -110, -112, -113, -115, -116, -117, -119, -120, -122, -123, -125, -126, -128,
];

/// `round(128 · sin(kπ/256))` for `k = 0..=128`: the middle constant `u` of a rotation by
/// `θ = kπ/256` (format.md §6.4, table B).
const LIFT_U: [i16; 129] = [
    0, 2, 3, 5, 6, 8, 9, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 27, 28, 30, 31, 33, 34, 36, 37,
    39, 40, 42, 43, 45, 46, 48, 49, 50, 52, 53, 55, 56, 58, 59, 60, 62, 63, 64, 66, 67, 68, 70, 71,
    72, 74, 75, 76, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
    100, 101, 102, 103, 104, 105, 106, 106, 107, 108, 109, 110, 111, 111, 112, 113, 114, 114, 115,
    116, 116, 117, 118, 118, 119, 119, 120, 121, 121, 122, 122, 122, 123, 123, 124, 124, 125, 125,
    125, 126, 126, 126, 126, 127, 127, 127, 127, 127, 128, 128, 128, 128, 128, 128, 128, 128,
];

/// A 1-D transform of one power-of-two length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Steps, in forward order.
    pub steps: Vec<Step>,
    /// Coefficient `k` ends at position `perm[k]` after the steps.
    pub perm: Vec<u8>,
}

/// The program of `kind` (DCT or ADST) for `len`, a power of two in `[2, 64]`.
///
/// # Panics
/// For `Transform::None` or another length (a caller bug).
pub fn program(kind: Transform, len: usize) -> &'static Program {
    static PROGRAMS: OnceLock<Vec<Program>> = OnceLock::new();
    assert!(len.is_power_of_two() && (2..=MAX_LEN).contains(&len));
    let programs = PROGRAMS.get_or_init(|| {
        let mut v = Vec::new();
        for kind in [Transform::Dct, Transform::Adst] {
            for bits in 1..=6 {
                v.push(build(kind, 1 << bits));
            }
        }
        v
    });
    let base = match kind {
        Transform::Dct => 0,
        Transform::Adst => 6,
        Transform::None => panic!("`none` has no program"),
    };
    &programs[base + len.trailing_zeros() as usize - 1]
}

/// The permutation of a whole line of `n ≤ 64` samples: coefficient `k` of the line (segments
/// in order, each in coefficient order) sits at position `line_perm(kind, n)[k]` after the
/// steps of every segment's program.
///
/// # Panics
/// For `Transform::None` or `n > 64` (a caller bug).
pub fn line_perm(kind: Transform, n: usize) -> &'static [u8] {
    static PERMS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let perms = PERMS.get_or_init(|| {
        let mut v = Vec::new();
        for kind in [Transform::Dct, Transform::Adst] {
            for n in 0..=MAX_LEN {
                let mut perm = Vec::with_capacity(n);
                for (at, len) in segments(n) {
                    if len == 1 {
                        perm.push(at as u8);
                    } else {
                        perm.extend(program(kind, len).perm.iter().map(|&p| at as u8 + p));
                    }
                }
                v.push(perm);
            }
        }
        v
    });
    let base = match kind {
        Transform::Dct => 0,
        Transform::Adst => MAX_LEN + 1,
        Transform::None => panic!("`none` has no permutation"),
    };
    &perms[base + n]
}

/// The power-of-two segments a line of `n` samples is cut into, largest first: `(offset, len)`
/// (format.md §6.4; a segment of length 1 is left as it is).
pub fn segments(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut offset = 0;
    (0..usize::BITS).rev().filter_map(move |bit| {
        let len = 1usize << bit;
        (n & len != 0).then(|| {
            let at = offset;
            offset += len;
            (at, len)
        })
    })
}

/// Builds a program (format.md §6.4 gives the same construction as pseudo-code).
pub fn build(kind: Transform, len: usize) -> Program {
    let mut b = Builder { steps: Vec::new() };
    let positions: Vec<u8> = (0..len as u8).collect();
    let perm = match kind {
        Transform::Dct => b.dct2(&positions),
        Transform::Adst => {
            for &p in positions.iter().skip(1).step_by(2) {
                b.steps.push(Step::Neg { dst: p });
            }
            let mut out = b.dct4(&positions);
            out.reverse();
            out
        }
        Transform::None => positions,
    };
    Program {
        steps: b.steps,
        perm,
    }
}

struct Builder {
    steps: Vec<Step>,
}

impl Builder {
    fn lift(&mut self, dst: u8, src: u8, c: i16) {
        if c != 0 {
            self.steps.push(Step::Lift { dst, src, c });
        }
    }

    fn neg(&mut self, dst: u8) {
        self.steps.push(Step::Neg { dst });
    }

    /// Rotates the pair `(x, y)` held at positions `(a, b)` by `kπ/256` (counter-clockwise:
    /// `(x cos θ − y sin θ, x sin θ + y cos θ)`); returns the positions of the new `(x, y)`.
    /// Quarter turns are a negation and an exchange of roles, no lifts.
    fn rot(&mut self, a: u8, b: u8, k: i32) -> (u8, u8) {
        let (mut a, mut b) = (a, b);
        let mut k = k.rem_euclid(512);
        if k > 256 {
            k -= 512;
        }
        if k == 0 {
            return (a, b);
        }
        if k == 256 {
            self.neg(a);
            self.neg(b);
            return (a, b);
        }
        if k > 128 {
            // (x, y) → (−y, x), then the rest of the angle.
            self.neg(b);
            (a, b) = (b, a);
            k -= 128;
        } else if k < -128 {
            // (x, y) → (y, −x).
            self.neg(a);
            (a, b) = (b, a);
            k += 128;
        }
        if k == 128 {
            self.neg(b);
            return (b, a);
        }
        if k == -128 {
            self.neg(a);
            return (b, a);
        }
        let i = k.unsigned_abs() as usize;
        let sign = if k < 0 { -1 } else { 1 };
        let (p, u) = (sign * LIFT_P[i], sign * LIFT_U[i]);
        self.lift(a, b, p);
        self.lift(b, a, u);
        self.lift(a, b, p);
        (a, b)
    }

    /// The butterfly `(x, y) → ((x + y)/√2, (x − y)/√2)`: a rotation by π/4 gives
    /// `((x − y)/√2, (x + y)/√2)`; the roles are exchanged. Returns (sum, difference).
    fn butterfly(&mut self, a: u8, b: u8) -> (u8, u8) {
        let (d, s) = self.rot(a, b, 64);
        (s, d)
    }

    /// DCT-II of the values at `pos`; returns the position of each coefficient.
    fn dct2(&mut self, pos: &[u8]) -> Vec<u8> {
        let n = pos.len();
        if n == 1 {
            return pos.to_vec();
        }
        let mut sums = Vec::with_capacity(n / 2);
        let mut diffs = Vec::with_capacity(n / 2);
        for i in 0..n / 2 {
            let (s, d) = self.butterfly(pos[i], pos[n - 1 - i]);
            sums.push(s);
            diffs.push(d);
        }
        let even = self.dct2(&sums);
        let odd = self.dct4(&diffs);
        let mut out = vec![0; n];
        for k in 0..n / 2 {
            out[2 * k] = even[k];
            out[2 * k + 1] = odd[k];
        }
        out
    }

    /// DCT-IV of the values at `pos` (length `M`), through a unitary FFT of length `M/2`.
    fn dct4(&mut self, pos: &[u8]) -> Vec<u8> {
        let m2 = pos.len();
        if m2 == 1 {
            return pos.to_vec();
        }
        let m = m2 / 2;
        let mut re: Vec<u8> = (0..m).map(|i| pos[2 * i]).collect();
        let mut im: Vec<u8> = (0..m).map(|i| pos[m2 - 1 - 2 * i]).collect();
        let step = 256 / m2 as i32; // π/M in units of π/256
        for i in 0..m {
            (re[i], im[i]) = self.rot(re[i], im[i], -(4 * i as i32 + 1) * step / 4);
        }
        let (re, im) = self.fft(&re, &im);
        let mut out = vec![0; m2];
        for k in 0..m {
            let (a, b) = self.rot(re[k], im[k], 128 - k as i32 * step);
            out[2 * k] = b;
            out[m2 - 1 - 2 * k] = a;
        }
        out
    }

    /// Unitary radix-2 decimation-in-time FFT of the complex values `(re[i], im[i])`; returns
    /// the positions of the outputs in frequency order.
    fn fft(&mut self, re: &[u8], im: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let m = re.len();
        if m == 1 {
            return (re.to_vec(), im.to_vec());
        }
        let split =
            |v: &[u8], r: usize| -> Vec<u8> { v.iter().skip(r).step_by(2).copied().collect() };
        let (er, ei) = self.fft(&split(re, 0), &split(im, 0));
        let (mut or, mut oi) = self.fft(&split(re, 1), &split(im, 1));
        let mut xr = vec![0; m];
        let mut xi = vec![0; m];
        for k in 0..m / 2 {
            // Twiddle W^k = e^{−2πik/m}, then (E + W·O, E − W·O) / √2.
            (or[k], oi[k]) = self.rot(or[k], oi[k], -512 * k as i32 / m as i32);
            let (sr, dr) = self.butterfly(er[k], or[k]);
            let (si, di) = self.butterfly(ei[k], oi[k]);
            (xr[k], xi[k]) = (sr, si);
            (xr[k + m / 2], xi[k + m / 2]) = (dr, di);
        }
        (xr, xi)
    }
}

/// Runs `prog` forwards on one line (`line.len()` = the program's length), then permutes the
/// coefficients into order. Spec-literal: one step at a time.
pub fn forward_line(prog: &Program, line: &mut [u8]) {
    for step in &prog.steps {
        match *step {
            Step::Lift { dst, src, c } => {
                let d = lift_delta(line[src as usize], c);
                line[dst as usize] = line[dst as usize].wrapping_add(d);
            }
            Step::Neg { dst } => line[dst as usize] = line[dst as usize].wrapping_neg(),
        }
    }
    let before = line.to_vec();
    for (k, &p) in prog.perm.iter().enumerate() {
        line[k] = before[p as usize];
    }
}

/// Undoes [`forward_line`].
pub fn inverse_line(prog: &Program, line: &mut [u8]) {
    let coeffs = line.to_vec();
    for (k, &p) in prog.perm.iter().enumerate() {
        line[p as usize] = coeffs[k];
    }
    for step in prog.steps.iter().rev() {
        match *step {
            Step::Lift { dst, src, c } => {
                let d = lift_delta(line[src as usize], c);
                line[dst as usize] = line[dst as usize].wrapping_sub(d);
            }
            Step::Neg { dst } => line[dst as usize] = line[dst as usize].wrapping_neg(),
        }
    }
}

/// Runs the steps of `prog` on many lines at once: position `p` of every line is row
/// `first + p` of `buf` (rows of `stride` bytes, `width` lines side by side). The coefficients
/// are left in program order (see [`permute_rows`]).
#[inline(always)]
pub fn forward_rows(
    level: Level,
    prog: &Program,
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
) {
    simd::run_steps(level, &prog.steps, buf, stride, width, first, false);
}

/// Undoes [`forward_rows`] (on coefficients in program order).
#[inline(always)]
pub fn inverse_rows(
    level: Level,
    prog: &Program,
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
) {
    simd::run_steps(level, &prog.steps, buf, stride, width, first, true);
}

/// Moves rows `first + perm[k]` to `first + k` (`inverse`: the other way), through `scratch`.
pub fn permute_rows(
    perm: &[u8],
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
    inverse: bool,
    scratch: &mut Vec<u8>,
) {
    let len = perm.len();
    scratch.clear();
    scratch.extend_from_slice(&buf[first * stride..(first + len) * stride]);
    for (k, &p) in perm.iter().enumerate() {
        let (to, from) = if inverse {
            (p as usize, k)
        } else {
            (k, p as usize)
        };
        buf[(first + to) * stride..(first + to) * stride + width]
            .copy_from_slice(&scratch[from * stride..from * stride + width]);
    }
}

/// `dst[j·rows + i] = src[i·cols + j]`: an `rows × cols` block transposed.
pub fn transpose(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
    transpose_strided(src, cols, rows, cols, dst, rows);
}

/// Transposes the `rows × cols` block at the start of `src` (row stride `src_stride`) into
/// `dst` (row stride `dst_stride`): `dst[j·dst_stride + i] = src[i·src_stride + j]`. Whole
/// 8 × 8 blocks go through [`transpose8`].
#[inline(always)]
pub fn transpose_strided(
    src: &[u8],
    src_stride: usize,
    rows: usize,
    cols: usize,
    dst: &mut [u8],
    dst_stride: usize,
) {
    if rows.is_multiple_of(16) && cols.is_multiple_of(16) {
        for i in (0..rows).step_by(16) {
            for j in (0..cols).step_by(16) {
                simd::transpose16(
                    &src[i * src_stride + j..],
                    src_stride,
                    &mut dst[j * dst_stride + i..],
                    dst_stride,
                );
            }
        }
        return;
    }
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for i in (0..r8).step_by(8) {
        for j in (0..c8).step_by(8) {
            let mut x = [0u64; 8];
            for (k, v) in x.iter_mut().enumerate() {
                let at = (i + k) * src_stride + j;
                *v = u64::from_le_bytes(src[at..at + 8].try_into().expect("8 bytes"));
            }
            let y = transpose8(x);
            for (k, v) in y.iter().enumerate() {
                let at = (j + k) * dst_stride + i;
                dst[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    for i in 0..rows {
        let from = if i < r8 { c8 } else { 0 };
        for j in from..cols {
            dst[j * dst_stride + i] = src[i * src_stride + j];
        }
    }
}

/// An 8 × 8 byte block transposed, rows as little-endian `u64`s: three rounds of swapping
/// 4-, 2- and 1-byte sub-blocks.
#[inline(always)]
pub fn transpose8(mut x: [u64; 8]) -> [u64; 8] {
    const M32: u64 = 0x0000_0000_FFFF_FFFF;
    const M16: u64 = 0x0000_FFFF_0000_FFFF;
    const M8: u64 = 0x00FF_00FF_00FF_00FF;
    for i in 0..4 {
        let (a, b) = (x[i], x[i + 4]);
        x[i] = (a & M32) | (b << 32);
        x[i + 4] = (a >> 32) | (b & !M32);
    }
    for i in [0, 1, 4, 5] {
        let (a, b) = (x[i], x[i + 2]);
        x[i] = (a & M16) | ((b & M16) << 16);
        x[i + 2] = ((a >> 16) & M16) | (b & !M16);
    }
    for i in [0, 2, 4, 6] {
        let (a, b) = (x[i], x[i + 1]);
        x[i] = (a & M8) | ((b & M8) << 8);
        x[i + 1] = ((a >> 8) & M8) | (b & !M8);
    }
    x
}

/// Scratch buffers for the 2-D transforms of one tile (reused across tiles), and the vector
/// level of the lifts.
pub struct Scratch {
    t: Vec<u8>,
    p: Vec<u8>,
    level: Level,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new(simd::detected())
    }
}

impl Scratch {
    /// Scratch space whose lifts run at `level`.
    pub fn new(level: Level) -> Scratch {
        Scratch {
            t: Vec::new(),
            p: Vec::new(),
            level,
        }
    }
}

/// The 2-D transform of format.md §6.4 on an `h × w` tile in raster order: every column by the
/// transform of length `h`, then every row by that of length `w` (each length cut into its
/// power-of-two segments).
pub fn forward_2d(kind: Transform, tile: &mut [u8], h: usize, w: usize, s: &mut Scratch) {
    if kind == Transform::None {
        return;
    }
    lines_forward(s.level, kind, tile, h, w, &mut s.p);
    s.t.resize(h * w, 0);
    transpose(tile, h, w, &mut s.t);
    lines_forward(s.level, kind, &mut s.t, w, h, &mut s.p);
    transpose(&s.t, w, h, tile);
}

/// Undoes [`forward_2d`].
pub fn inverse_2d(kind: Transform, tile: &mut [u8], h: usize, w: usize, s: &mut Scratch) {
    if kind == Transform::None {
        return;
    }
    s.t.resize(h * w, 0);
    transpose(tile, h, w, &mut s.t);
    lines_inverse(s.level, kind, &mut s.t, w, h, &mut s.p);
    transpose(&s.t, w, h, tile);
    lines_inverse(s.level, kind, tile, h, w, &mut s.p);
}

/// The transform along the `n` rows of an `n × width` block (columns are the lines).
fn lines_forward(
    level: Level,
    kind: Transform,
    buf: &mut [u8],
    n: usize,
    width: usize,
    p: &mut Vec<u8>,
) {
    for (at, len) in segments(n) {
        if len > 1 {
            let prog = program(kind, len);
            forward_rows(level, prog, buf, width, width, at);
            permute_rows(&prog.perm, buf, width, width, at, false, p);
        }
    }
}

fn lines_inverse(
    level: Level,
    kind: Transform,
    buf: &mut [u8],
    n: usize,
    width: usize,
    p: &mut Vec<u8>,
) {
    for (at, len) in segments(n) {
        if len > 1 {
            let prog = program(kind, len);
            permute_rows(&prog.perm, buf, width, width, at, true, p);
            inverse_rows(level, prog, buf, width, width, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::lcg;

    #[test]
    fn constant_tables_follow_their_formulas() {
        for k in 0..=128 {
            let th = f64::from(k) * std::f64::consts::PI / 256.0;
            let p = -128.0 * (th / 2.0).tan();
            let u = 128.0 * th.sin();
            // No value is near a rounding tie, so the table is what the formula says.
            for v in [p, u] {
                assert!((v.abs().fract() - 0.5).abs() > 1e-3, "k = {k}");
            }
            assert_eq!(
                i32::from(LIFT_P[k as usize]),
                p.round() as i32,
                "p, k = {k}"
            );
            assert_eq!(
                i32::from(LIFT_U[k as usize]),
                u.round() as i32,
                "u, k = {k}"
            );
        }
    }

    #[test]
    fn segments_cover_lines() {
        assert_eq!(segments(16).collect::<Vec<_>>(), [(0, 16)]);
        assert_eq!(segments(13).collect::<Vec<_>>(), [(0, 8), (8, 4), (12, 1)]);
        assert_eq!(segments(1).collect::<Vec<_>>(), [(0, 1)]);
        assert_eq!(segments(0).count(), 0);
    }

    #[test]
    fn programs_are_permutations_with_valid_steps() {
        for kind in [Transform::Dct, Transform::Adst] {
            for bits in 1..=6 {
                let len = 1 << bits;
                let p = program(kind, len);
                let mut seen = p.perm.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..len as u8).collect::<Vec<_>>());
                for s in &p.steps {
                    if let Step::Lift { dst, src, c } = *s {
                        assert!(dst != src && (dst as usize) < len && (src as usize) < len);
                        assert!(c != 0 && c.abs() <= 128);
                    }
                }
            }
        }
    }

    /// Orthonormal DCT-II and DST-IV in floating point.
    fn reference(kind: Transform, x: &[f64]) -> Vec<f64> {
        let n = x.len() as f64;
        let pi = std::f64::consts::PI;
        (0..x.len())
            .map(|k| {
                let k = k as f64;
                x.iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let i = i as f64;
                        match kind {
                            Transform::Dct => {
                                let a = if k == 0.0 {
                                    (1.0 / n).sqrt()
                                } else {
                                    (2.0 / n).sqrt()
                                };
                                a * v * (pi * k * (2.0 * i + 1.0) / (2.0 * n)).cos()
                            }
                            _ => {
                                (2.0 / n).sqrt()
                                    * v
                                    * (pi * (2.0 * i + 1.0) * (2.0 * k + 1.0) / (4.0 * n)).sin()
                            }
                        }
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn programs_approximate_the_real_transforms() {
        for kind in [Transform::Dct, Transform::Adst] {
            for bits in 1..=6 {
                let len = 1 << bits;
                let prog = program(kind, len);
                let mut worst = 0.0f64;
                for seed in 0..50 {
                    let x: Vec<i8> = lcg(len, seed).iter().map(|&b| (b % 17) as i8 - 8).collect();
                    let mut line: Vec<u8> = x.iter().map(|&v| v as u8).collect();
                    forward_line(prog, &mut line);
                    let real =
                        reference(kind, &x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
                    for (got, want) in line.iter().zip(&real) {
                        worst = worst.max((f64::from(*got as i8) - want).abs());
                    }
                }
                // Rounding of each lift accumulates over the log2(len) stages.
                assert!(worst < 5.0, "{kind} {len}: off by {worst}");
            }
        }
    }

    #[test]
    fn lines_invert_exactly() {
        for kind in [Transform::Dct, Transform::Adst] {
            for bits in 1..=6 {
                let len = 1 << bits;
                let prog = program(kind, len);
                for seed in 0..20 {
                    let x = lcg(len, seed);
                    let mut line = x.clone();
                    forward_line(prog, &mut line);
                    inverse_line(prog, &mut line);
                    assert_eq!(line, x);
                }
            }
        }
    }

    #[test]
    fn tiles_invert_exactly_and_match_the_line_form() {
        for level in Level::supported() {
            tiles_at(level);
        }
    }

    fn tiles_at(level: Level) {
        let mut s = Scratch::new(level);
        for (h, w) in [
            (4, 4),
            (16, 16),
            (64, 64),
            (13, 7),
            (1, 16),
            (16, 1),
            (3, 64),
        ] {
            for kind in [Transform::Dct, Transform::Adst] {
                let x = lcg(h * w, (h * 100 + w) as u64);
                let mut t = x.clone();
                forward_2d(kind, &mut t, h, w, &mut s);
                // Same as columns then rows, line by line.
                let mut slow = x.clone();
                for j in 0..w {
                    let mut col: Vec<u8> = (0..h).map(|i| slow[i * w + j]).collect();
                    for (at, len) in segments(h) {
                        if len > 1 {
                            forward_line(program(kind, len), &mut col[at..at + len]);
                        }
                    }
                    for i in 0..h {
                        slow[i * w + j] = col[i];
                    }
                }
                for row in slow.chunks_exact_mut(w) {
                    for (at, len) in segments(w) {
                        if len > 1 {
                            forward_line(program(kind, len), &mut row[at..at + len]);
                        }
                    }
                }
                assert_eq!(t, slow, "{kind} {h}x{w}");
                inverse_2d(kind, &mut t, h, w, &mut s);
                assert_eq!(t, x, "{kind} {h}x{w}");
            }
        }
    }

    #[test]
    fn fast_transpose_matches_the_definition() {
        for (rows, cols) in [
            (8, 8),
            (16, 16),
            (64, 64),
            (13, 7),
            (24, 9),
            (1, 64),
            (64, 3),
        ] {
            let src = lcg(rows * cols, 7);
            let mut fast = vec![0; rows * cols];
            transpose(&src, rows, cols, &mut fast);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(fast[j * rows + i], src[i * cols + j], "{rows}x{cols}");
                }
            }
        }
    }

    #[test]
    fn dct_of_a_constant_is_its_dc() {
        let prog = program(Transform::Dct, 16);
        let mut line = vec![5u8; 16];
        forward_line(prog, &mut line);
        // Orthonormal DC: 5 · √16 = 20; every other coefficient near 0.
        assert!((i32::from(line[0] as i8) - 20).abs() <= 1, "{line:?}");
        assert!(line[1..].iter().all(|&c| (c as i8).abs() <= 2), "{line:?}");
    }
}
