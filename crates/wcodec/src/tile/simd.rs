//! Vector kernels of the tile toolset (x86-64, detected at run time): lifting programs run over
//! rows of bytes ([`lift`], [`run_steps`]), the 16 × 16 byte transpose between the two passes of
//! a 2-D transform ([`transpose16`], SSE2), and the table-lookup cost sums of the mode search
//! ([`cost_sums`]).
//!
//! The third place in the codec with `unsafe` code (`std::arch` intrinsics), after the file
//! mapping in `io.rs` and the rANS kernels in `rans/simd.rs`, for the latter's reason: speed the
//! safe code cannot reach. The full mode search
//! runs 10 lifting programs per tile; autovectorised, a lift widens every byte to 16 bits and
//! back (about 10 instructions per 16 bytes, and LLVM picks 256-bit vectors), here it is
//! `mulhrs(y · 256, c)` on 64 bytes at a time (exact: see [`lift`]). Measured on the 2-vCPU
//! Xeon VM: the full search went from 17 to about 55 MB/s per thread with these kernels and the
//! batching of several tiles per row of lifts (docs/benchmarks.md). Every kernel computes
//! exactly what its scalar form computes; the tests compare them on every level the CPU has,
//! and [`Level::Scalar`] is the reference everywhere else.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256i, __m512i, _mm256_add_epi8, _mm256_and_si256, _mm256_loadu_si256, _mm256_mulhrs_epi16,
    _mm256_packus_epi16, _mm256_set1_epi16, _mm256_setzero_si256, _mm256_storeu_si256,
    _mm256_sub_epi8, _mm256_unpackhi_epi8, _mm256_unpacklo_epi8, _mm512_add_epi64, _mm512_add_epi8,
    _mm512_and_si512, _mm512_loadu_si512, _mm512_mask_blend_epi8, _mm512_mask_storeu_epi8,
    _mm512_maskz_loadu_epi8, _mm512_maskz_mov_epi8, _mm512_movepi8_mask, _mm512_mulhrs_epi16,
    _mm512_packus_epi16, _mm512_permutex2var_epi8, _mm512_sad_epu8, _mm512_set1_epi16,
    _mm512_setzero_si512, _mm512_storeu_si512, _mm512_sub_epi8, _mm512_unpackhi_epi8,
    _mm512_unpacklo_epi8,
};

use super::lift::{lift_delta, Step};

/// The vector instruction sets the kernels can use, best last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Plain Rust (autovectorised for the baseline target).
    Scalar,
    /// AVX2: lifts on 32 bytes at a time.
    Avx2,
    /// AVX-512 F/BW/VBMI: lifts on 64 bytes, cost lookups with `vpermi2b`.
    Avx512,
}

impl Level {
    /// Every level the running CPU supports, worst first (tests run each of them).
    pub fn supported() -> Vec<Level> {
        [Level::Scalar, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&l| l <= detected())
            .collect()
    }
}

/// The best level the running CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vbmi") {
            return Level::Avx512;
        }
        if has!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Scalar
}

/// `dst[j] += lift_delta(src[j], c)` (`sub`: `−=`) for every `j` (modulo 256), the lifting
/// step of format.md §6.4 on many lines at once.
///
/// The vector forms use `mulhrs(a, b) = (a·b + 2^14) >> 15` with `a = s8(y) · 256` (the byte in
/// the high half of a 16-bit lane) and `b = c`: `(256·y·c + 2^14) >> 15 = (y·c + 64) >> 7`,
/// exactly the scalar formula.
///
/// # Panics
/// If `level` is better than [`detected`], or the slices differ in length.
pub fn lift(level: Level, dst: &mut [u8], src: &[u8], c: i16, sub: bool) {
    assert_eq!(dst.len(), src.len());
    assert!(
        level <= detected(),
        "{level:?} is not supported by this CPU"
    );
    match level {
        Level::Scalar => lift_scalar(dst, src, c, sub),
        // SAFETY: the CPU supports the features of the level (asserted above).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { lift_avx2(dst, src, c, sub) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { lift_avx512(dst, src, c, sub) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => lift_scalar(dst, src, c, sub),
    }
}

fn lift_scalar(dst: &mut [u8], src: &[u8], c: i16, sub: bool) {
    if sub {
        for (x, &y) in dst.iter_mut().zip(src) {
            *x = x.wrapping_sub(lift_delta(y, c));
        }
    } else {
        for (x, &y) in dst.iter_mut().zip(src) {
            *x = x.wrapping_add(lift_delta(y, c));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lift_avx2(dst: &mut [u8], src: &[u8], c: i16, sub: bool) {
    let n = dst.len();
    let whole = n / 32 * 32;
    // SAFETY: every load and store covers bytes [j, j + 32) with j + 32 ≤ n = both lengths.
    unsafe {
        let cv = _mm256_set1_epi16(c);
        let zero = _mm256_setzero_si256();
        let low = _mm256_set1_epi16(0xFF);
        let delta = |y: __m256i| {
            let lo = _mm256_and_si256(_mm256_mulhrs_epi16(_mm256_unpacklo_epi8(zero, y), cv), low);
            let hi = _mm256_and_si256(_mm256_mulhrs_epi16(_mm256_unpackhi_epi8(zero, y), cv), low);
            _mm256_packus_epi16(lo, hi)
        };
        let mut j = 0;
        while j < whole {
            let y = _mm256_loadu_si256(src.as_ptr().add(j).cast());
            let x = _mm256_loadu_si256(dst.as_ptr().add(j).cast());
            let d = delta(y);
            let r = if sub {
                _mm256_sub_epi8(x, d)
            } else {
                _mm256_add_epi8(x, d)
            };
            _mm256_storeu_si256(dst.as_mut_ptr().add(j).cast(), r);
            j += 32;
        }
    }
    lift_scalar(&mut dst[whole..], &src[whole..], c, sub);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn lift_avx512(dst: &mut [u8], src: &[u8], c: i16, sub: bool) {
    let n = dst.len();
    // SAFETY: full loads and stores cover [j, j + 64) with j + 64 ≤ n; the tail uses masked
    // loads and stores of exactly the n − j remaining bytes (masked-out bytes are not accessed).
    unsafe {
        let cv = _mm512_set1_epi16(c);
        let zero = _mm512_setzero_si512();
        let low = _mm512_set1_epi16(0xFF);
        let step = |x: __m512i, y: __m512i| {
            let lo = _mm512_and_si512(_mm512_mulhrs_epi16(_mm512_unpacklo_epi8(zero, y), cv), low);
            let hi = _mm512_and_si512(_mm512_mulhrs_epi16(_mm512_unpackhi_epi8(zero, y), cv), low);
            let d = _mm512_packus_epi16(lo, hi);
            if sub {
                _mm512_sub_epi8(x, d)
            } else {
                _mm512_add_epi8(x, d)
            }
        };
        let mut j = 0;
        while j + 64 <= n {
            let y = _mm512_loadu_si512(src.as_ptr().add(j).cast());
            let x = _mm512_loadu_si512(dst.as_ptr().add(j).cast());
            _mm512_storeu_si512(dst.as_mut_ptr().add(j).cast(), step(x, y));
            j += 64;
        }
        if j < n {
            let mask = (1u64 << (n - j)) - 1;
            let y = _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(j).cast());
            let x = _mm512_maskz_loadu_epi8(mask, dst.as_ptr().add(j).cast());
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(j).cast(), mask, step(x, y));
        }
    }
}

/// Runs `steps` (backwards and subtracting when `inverse`) on rows `first + position` of
/// `buf` (rows of `stride` bytes, `width` used): [`super::transform::forward_rows`] and
/// `inverse_rows`, with the loop over steps inside the vector code.
///
/// # Panics
/// If `level` is better than [`detected`] or a row runs past `buf`.
pub fn run_steps(
    level: Level,
    steps: &[Step],
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
    inverse: bool,
) {
    assert!(
        level <= detected(),
        "{level:?} is not supported by this CPU"
    );
    assert!(width <= stride || steps.is_empty());
    match level {
        Level::Scalar => steps_with(buf, stride, width, first, steps, inverse, lift_scalar),
        // SAFETY: the CPU supports the features of the level (asserted above); `steps_with`
        // only passes the lift equal-length slices of `buf`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { steps_avx2(buf, stride, width, first, steps, inverse) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { steps_avx512(buf, stride, width, first, steps, inverse) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => steps_with(buf, stride, width, first, steps, inverse, lift_scalar),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn steps_avx2(
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
    steps: &[Step],
    inverse: bool,
) {
    // SAFETY: this function has the features `lift_avx2` needs.
    steps_with(
        buf,
        stride,
        width,
        first,
        steps,
        inverse,
        |d, s, c, sub| unsafe {
            lift_avx2(d, s, c, sub);
        },
    );
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn steps_avx512(
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
    steps: &[Step],
    inverse: bool,
) {
    // SAFETY: this function has the features `lift_avx512` needs.
    steps_with(
        buf,
        stride,
        width,
        first,
        steps,
        inverse,
        |d, s, c, sub| unsafe {
            lift_avx512(d, s, c, sub);
        },
    );
}

#[inline(always)]
fn steps_with(
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
    steps: &[Step],
    inverse: bool,
    lift: impl Fn(&mut [u8], &[u8], i16, bool),
) {
    if inverse {
        for step in steps.iter().rev() {
            one_step(buf, stride, width, first, *step, true, &lift);
        }
    } else {
        for step in steps {
            one_step(buf, stride, width, first, *step, false, &lift);
        }
    }
}

#[inline(always)]
fn one_step(
    buf: &mut [u8],
    stride: usize,
    width: usize,
    first: usize,
    step: Step,
    inverse: bool,
    lift: &impl Fn(&mut [u8], &[u8], i16, bool),
) {
    match step {
        Step::Lift { dst, src, c } => {
            let (dst, src) = (first + dst as usize, first + src as usize);
            let (d, s) = if dst < src {
                let (lo, hi) = buf.split_at_mut(src * stride);
                (&mut lo[dst * stride..dst * stride + width], &hi[..width])
            } else {
                let (lo, hi) = buf.split_at_mut(dst * stride);
                (&mut hi[..width], &lo[src * stride..src * stride + width])
            };
            lift(d, s, c, inverse);
        }
        Step::Neg { dst } => {
            let at = (first + dst as usize) * stride;
            for x in &mut buf[at..at + width] {
                *x = x.wrapping_neg();
            }
        }
    }
}

/// `dst[j·dst_stride + i] = src[i·src_stride + j]` for a 16 × 16 block (SSE2: four rounds of
/// unpacks, 8-, 16-, 32- and 64-bit).
///
/// # Panics
/// If a row runs past its slice.
pub fn transpose16(src: &[u8], src_stride: usize, dst: &mut [u8], dst_stride: usize) {
    assert!(src.len() >= 15 * src_stride + 16 && dst.len() >= 15 * dst_stride + 16);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86-64; every load reads [i·src_stride, +16) and every store
    // writes [j·dst_stride, +16), inside the slices (asserted above).
    unsafe {
        use std::arch::x86_64::{
            _mm_loadu_si128, _mm_setzero_si128, _mm_storeu_si128, _mm_unpackhi_epi16,
            _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpackhi_epi8, _mm_unpacklo_epi16,
            _mm_unpacklo_epi32, _mm_unpacklo_epi64, _mm_unpacklo_epi8,
        };
        let mut r = [_mm_setzero_si128(); 16];
        for (i, v) in r.iter_mut().enumerate() {
            *v = _mm_loadu_si128(src.as_ptr().add(i * src_stride).cast());
        }
        // Bytes of row pairs; then 2-byte pairs of row quads; 4-byte quads of row octets;
        // 8-byte halves of the two octets.
        let mut t = [_mm_setzero_si128(); 16];
        for k in 0..8 {
            t[2 * k] = _mm_unpacklo_epi8(r[2 * k], r[2 * k + 1]);
            t[2 * k + 1] = _mm_unpackhi_epi8(r[2 * k], r[2 * k + 1]);
        }
        let mut u = [_mm_setzero_si128(); 16];
        for q in 0..4 {
            for c in 0..2 {
                let (a, b) = (t[4 * q + c], t[4 * q + 2 + c]);
                u[4 * q + 2 * c] = _mm_unpacklo_epi16(a, b);
                u[4 * q + 2 * c + 1] = _mm_unpackhi_epi16(a, b);
            }
        }
        let mut v = [_mm_setzero_si128(); 16];
        for o in 0..2 {
            for c in 0..4 {
                let (a, b) = (u[8 * o + c], u[8 * o + 4 + c]);
                v[8 * o + 2 * c] = _mm_unpacklo_epi32(a, b);
                v[8 * o + 2 * c + 1] = _mm_unpackhi_epi32(a, b);
            }
        }
        for c in 0..8 {
            let (a, b) = (v[c], v[8 + c]);
            let d = dst.as_mut_ptr();
            _mm_storeu_si128(d.add(2 * c * dst_stride).cast(), _mm_unpacklo_epi64(a, b));
            _mm_storeu_si128(
                d.add((2 * c + 1) * dst_stride).cast(),
                _mm_unpackhi_epi64(a, b),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..16 {
        for j in 0..16 {
            dst[j * dst_stride + i] = src[i * src_stride + j];
        }
    }
}

/// Cost sums of the mode search: `out[k] += Σ table[buf[r·stride + k·seg + b]]` over rows
/// `r < rows` and `b < seg`, for every `k < out.len()`.
///
/// # Panics
/// If `level` is better than [`detected`] or the region runs past `buf`.
pub fn cost_sums(
    level: Level,
    table: &[u8; 256],
    buf: &[u8],
    stride: usize,
    rows: usize,
    seg: usize,
    out: &mut [u32],
) {
    assert!(
        level <= detected(),
        "{level:?} is not supported by this CPU"
    );
    let width = seg * out.len();
    if rows == 0 || width == 0 {
        return;
    }
    assert!(
        (rows - 1) * stride + width <= buf.len(),
        "cost region runs past the buffer"
    );
    match level {
        // SAFETY: the CPU supports the features of the level (asserted above); the region
        // lies inside `buf` (asserted above).
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if seg.is_multiple_of(8) => unsafe {
            cost_sums_vbmi(table, buf, stride, rows, seg, out);
        },
        _ => cost_sums_scalar(table, buf, stride, rows, seg, out),
    }
}

fn cost_sums_scalar(
    table: &[u8; 256],
    buf: &[u8],
    stride: usize,
    rows: usize,
    seg: usize,
    out: &mut [u32],
) {
    for r in 0..rows {
        let row = &buf[r * stride..r * stride + seg * out.len()];
        for (o, part) in out.iter_mut().zip(row.chunks_exact(seg)) {
            *o += part
                .iter()
                .map(|&s| u32::from(table[s as usize]))
                .sum::<u32>();
        }
    }
}

/// 64 bytes at a time: two `vpermi2b` look up the 128 low and the 128 high entries, the top
/// bit of the symbol picks one, and `vpsadbw` adds the costs of each 8-byte group; `seg` is a
/// multiple of 8, so every group belongs to one segment.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn cost_sums_vbmi(
    table: &[u8; 256],
    buf: &[u8],
    stride: usize,
    rows: usize,
    seg: usize,
    out: &mut [u32],
) {
    let width = seg * out.len();
    // SAFETY: the table loads read [64q, 64q + 64) of a 256-byte array; every row load reads
    // [r·stride + c, r·stride + c + 64) with c + 64 ≤ width, or a masked load of the remaining
    // width − c bytes, inside `buf` (checked by the caller).
    unsafe {
        let t = table.as_ptr();
        let (t0, t1) = (
            _mm512_loadu_si512(t.cast()),
            _mm512_loadu_si512(t.add(64).cast()),
        );
        let (t2, t3) = (
            _mm512_loadu_si512(t.add(128).cast()),
            _mm512_loadu_si512(t.add(192).cast()),
        );
        let zero = _mm512_setzero_si512();
        let mut c = 0;
        while c < width {
            let mask = if width - c >= 64 {
                u64::MAX
            } else {
                (1u64 << (width - c)) - 1
            };
            let mut acc = zero;
            for r in 0..rows {
                let idx = _mm512_maskz_loadu_epi8(mask, buf.as_ptr().add(r * stride + c).cast());
                let lo = _mm512_permutex2var_epi8(t0, idx, t1);
                let hi = _mm512_permutex2var_epi8(t2, idx, t3);
                let v = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
                let v = _mm512_maskz_mov_epi8(mask, v);
                acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, zero));
            }
            let mut lanes = [0u64; 8];
            _mm512_storeu_si512(lanes.as_mut_ptr().cast(), acc);
            for (g, &sum) in lanes.iter().enumerate() {
                let at = c + 8 * g;
                if at < width {
                    out[at / seg] += sum as u32;
                }
            }
            c += 64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::lcg as bytes;

    #[test]
    fn lift_levels_agree() {
        for level in Level::supported() {
            for n in [0, 1, 15, 16, 31, 32, 63, 64, 65, 80, 200, 320] {
                for c in [-128, -127, -53, -1, 1, 2, 91, 127, 128] {
                    let (x, y) = (bytes(n, n as u64), bytes(n, (1000 + i64::from(c)) as u64));
                    for sub in [false, true] {
                        let mut want = x.clone();
                        lift_scalar(&mut want, &y, c, sub);
                        let mut got = x.clone();
                        lift(level, &mut got, &y, c, sub);
                        assert_eq!(got, want, "{level:?} n={n} c={c} sub={sub}");
                    }
                }
            }
        }
    }

    #[test]
    fn transpose16_transposes() {
        let src = bytes(40 * 16, 3);
        let mut dst = vec![0u8; 24 * 15 + 16];
        transpose16(&src, 40, &mut dst, 24);
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(dst[j * 24 + i], src[i * 40 + j]);
            }
        }
    }

    #[test]
    fn cost_levels_agree() {
        let table: [u8; 256] = std::array::from_fn(|s| (s * 7 % 251) as u8);
        for level in Level::supported() {
            for (rows, seg, n_seg, stride) in [
                (1, 256, 5, 0),
                (16, 16, 20, 320),
                (7, 8, 3, 30),
                (3, 5, 4, 20),
            ] {
                let buf = bytes(rows.max(1) * stride.max(seg * n_seg) + 64, 5);
                let stride = stride.max(seg * n_seg);
                let mut want = vec![1u32; n_seg];
                cost_sums_scalar(&table, &buf, stride, rows, seg, &mut want);
                let mut got = vec![1u32; n_seg];
                cost_sums(level, &table, &buf, stride, rows, seg, &mut got);
                assert_eq!(got, want, "{level:?} rows={rows} seg={seg}");
            }
        }
    }
}
