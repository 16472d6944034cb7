//! AVX2 and AVX-512 coding of the interleaved rANS stream (x86-64, detected at run time).
//!
//! The only `unsafe` code of the codec: `std::arch` intrinsics. It decodes exactly what the
//! scalar [`super::decode`] path decodes (the tests compare both with the naive oracle); the
//! scalar path finishes the last steps of every chunk and does every check.
//!
//! One step of 32 lanes is four vectors of 8 lanes. Per vector: gather the 8 table entries,
//! update the states, compare with `L`, and refill the lanes that need a word from the next
//! `popcnt(mask)` words of the stream. A 256-entry table maps the 8-bit need-mask to the
//! permutation that hands the k-th word to the k-th needing lane (lane order = stream order).
//! With AVX-512 a step is two vectors of 16 lanes and `vpexpandw` loads exactly the needed words
//! straight into the needing lanes, so the permutation table disappears.
//!
//! Encoding mirrors it ([`encode_steps`] with AVX-512, [`encode_steps_avx2_checked`] with AVX2):
//! the same bytes as the scalar encoder, which the tests compare with the oracle at every level.
#![allow(unsafe_code)]
// The state arrays are read and written with unaligned loads and stores (`loadu`/`storeu`).
#![allow(clippy::cast_ptr_alignment)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_blendv_epi8, _mm256_castsi256_ps,
    _mm256_castsi256_si128, _mm256_cmpeq_epi32, _mm256_cvtepu16_epi32, _mm256_i32gather_epi32,
    _mm256_loadu_si256, _mm256_mask_compressstoreu_epi16, _mm256_maskz_expandloadu_epi16,
    _mm256_movemask_ps, _mm256_mullo_epi32, _mm256_or_si256, _mm256_permutevar8x32_epi32,
    _mm256_set1_epi32, _mm256_setr_epi8, _mm256_setzero_si256, _mm256_shuffle_epi8,
    _mm256_slli_epi32, _mm256_srli_epi32, _mm256_storeu_si256, _mm512_add_epi32, _mm512_add_pd,
    _mm512_and_si512, _mm512_castsi256_si512, _mm512_castsi512_si256, _mm512_cmpge_epu32_mask,
    _mm512_cmplt_epu32_mask, _mm512_cvtepi32_epi16, _mm512_cvtepi32_epi8, _mm512_cvtepu16_epi32,
    _mm512_cvtepu32_pd, _mm512_cvtepu8_epi32, _mm512_cvttpd_epu32, _mm512_extracti64x4_epi64,
    _mm512_i32gather_epi32, _mm512_i32gather_pd, _mm512_inserti64x4, _mm512_loadu_si512,
    _mm512_mask_blend_epi32, _mm512_mask_srli_epi32, _mm512_mul_pd, _mm512_mullo_epi32,
    _mm512_or_si512, _mm512_set1_epi32, _mm512_set1_pd, _mm512_slli_epi32, _mm512_srli_epi32,
    _mm512_storeu_si512, _mm512_sub_epi32, _mm_loadu_si128, _mm_storel_epi64, _mm_storeu_si128,
};
// The AVX2 encoder's.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    _mm256_add_pd, _mm256_castsi128_si256, _mm256_cmpgt_epi32, _mm256_cvtepi32_pd,
    _mm256_cvtepu8_epi32, _mm256_cvttpd_epi32, _mm256_extracti128_si256, _mm256_i32gather_pd,
    _mm256_inserti128_si256, _mm256_mul_pd, _mm256_permute4x64_epi64, _mm256_set1_pd,
    _mm256_srlv_epi32, _mm256_sub_epi32, _mm256_xor_si256, _mm_loadl_epi64,
};

use super::cursor::Cursor;
use super::encode_table::EncodeTable;
use super::LANES;

/// For each 8-bit need-mask, the source word index of every lane (lane j takes word
/// `popcnt(mask & ((1 << j) − 1))`; lanes that take no word get 0, masked out later).
const PERMUTES: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut j = 0;
        let mut k = 0;
        while j < 8 {
            if mask & (1 << j) != 0 {
                t[mask][j] = k;
                k += 1;
            }
            j += 1;
        }
        mask += 1;
    }
    t
};

/// For each 8-bit emit-mask, the lane whose word goes to each of 8 output slots: the `k`-th
/// emitting lane (in lane order) to slot `8 − n + k` (`n` = emitting lanes), so the emitted
/// words end the 8-word store and the slots before them (free space, overwritten later) take
/// lane 0's. The AVX2 encoder's stand-in for AVX-512's compress-store.
const COMPRESS_RIGHT: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let n = (mask as u32).count_ones() as usize;
        let mut j = 0;
        let mut k = 0;
        while j < 8 {
            if mask & (1 << j) != 0 {
                t[mask][8 - n + k] = j as u32;
                k += 1;
            }
            j += 1;
        }
        mask += 1;
    }
    t
};

/// The vector instruction sets this module can use, best last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No vector path: the scalar loop does everything.
    Scalar,
    /// AVX2 + POPCNT.
    Avx2,
    /// AVX-512 F/BW/VL/VBMI2 + POPCNT.
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
        if has!("avx512f")
            && has!("avx512bw")
            && has!("avx512vl")
            && has!("avx512vbmi2")
            && has!("popcnt")
        {
            return Level::Avx512;
        }
        if has!("avx2") && has!("popcnt") {
            return Level::Avx2;
        }
    }
    Level::Scalar
}

/// Decodes whole 32-symbol steps of `N` chunks at once, step `i` of every chunk together,
/// while every chunk has at least 32 words left, so no vector load can run past its words.
/// `outs[c]` (equal lengths, a multiple of 32 bytes) receives chunk `c`'s symbols. Returns the
/// bytes written to each output; the cursors are left where the scalar path continues.
///
/// # Panics
/// If `level` is better than [`detected`].
pub fn decode_steps<const N: usize>(
    level: Level,
    cursors: &mut [&mut Cursor<'_>; N],
    outs: &mut [&mut [u8]; N],
) -> usize {
    assert!(
        level <= detected(),
        "{level:?} is not supported by this CPU"
    );
    let n_steps = outs.iter().map(|o| o.len() / LANES).min().unwrap_or(0);
    match level {
        Level::Scalar => 0,
        // SAFETY: the CPU supports the features of the level (asserted above).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { decode_steps_avx2(cursors, outs, n_steps) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { decode_steps_avx512(cursors, outs, n_steps) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => 0,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi2,popcnt")]
unsafe fn decode_steps_avx512<const N: usize>(
    cursors: &mut [&mut Cursor<'_>; N],
    outs: &mut [&mut [u8]; N],
    n_steps: usize,
) -> usize {
    // SAFETY: (the whole function) every pointer access is bounded as commented at each site.
    unsafe {
        let slot_mask = _mm512_set1_epi32(0xFFF);
        let one = _mm512_set1_epi32(1);
        let lower_bound = _mm512_set1_epi32(1 << 16);
        let mut xv = [[one; 2]; N];
        let mut pos = [0usize; N];
        for c in 0..N {
            let xp = cursors[c].x.as_ptr();
            xv[c] = [
                _mm512_loadu_si512(xp.cast()),
                _mm512_loadu_si512(xp.add(16).cast()),
            ]; // 32 lanes
            pos[c] = cursors[c].p;
        }
        let mut step = 0;
        // A step reads at most 32 words (64 bytes) per chunk: in bounds while pos + 64 <= len.
        while step < n_steps && (0..N).all(|c| pos[c] + 64 <= cursors[c].words.len()) {
            for c in 0..N {
                let words = cursors[c].words.as_ptr();
                for v in 0..2 {
                    let xs = xv[c][v];
                    // Indices are < 4096 (masked), inside the chunk's 4096-entry table.
                    let e = _mm512_i32gather_epi32::<4>(
                        _mm512_and_si512(xs, slot_mask),
                        cursors[c].slots.as_ptr().cast(),
                    );
                    let freq = _mm512_add_epi32(
                        _mm512_and_si512(_mm512_srli_epi32::<8>(e), slot_mask),
                        one,
                    );
                    let state = _mm512_add_epi32(
                        _mm512_mullo_epi32(freq, _mm512_srli_epi32::<12>(xs)),
                        _mm512_srli_epi32::<20>(e),
                    );
                    let need = _mm512_cmplt_epu32_mask(state, lower_bound);
                    // Reads popcnt(need) <= 16 words at pos: in bounds by the loop condition.
                    let w = _mm512_cvtepu16_epi32(_mm256_maskz_expandloadu_epi16(
                        need,
                        words.add(pos[c]).cast(),
                    ));
                    xv[c][v] = _mm512_mask_blend_epi32(
                        need,
                        state,
                        _mm512_or_si512(_mm512_slli_epi32::<16>(state), w),
                    );
                    pos[c] += 2 * need.count_ones() as usize;
                    // 16 symbols to outs[c][step*32 + v*16 ..][..16]: step < n_steps <= len/32.
                    _mm_storeu_si128(
                        outs[c].as_mut_ptr().add(step * LANES + v * 16).cast(),
                        _mm512_cvtepi32_epi8(e),
                    );
                }
            }
            step += 1;
        }
        for c in 0..N {
            let xp = cursors[c].x.as_mut_ptr();
            _mm512_storeu_si512(xp.cast(), xv[c][0]);
            _mm512_storeu_si512(xp.add(16).cast(), xv[c][1]);
            cursors[c].p = pos[c];
        }
        step * LANES
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn decode_steps_avx2<const N: usize>(
    cursors: &mut [&mut Cursor<'_>; N],
    outs: &mut [&mut [u8]; N],
    n_steps: usize,
) -> usize {
    // SAFETY: (the whole function) every pointer access is bounded as commented at each site.
    unsafe {
        let slot_mask = _mm256_set1_epi32(0xFFF);
        let one = _mm256_set1_epi32(1);
        let zero = _mm256_setzero_si256();
        // Picks byte 0 of each 32-bit lane into the low 4 bytes of each 128-bit half.
        let low_bytes = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let halves = _mm256_loadu_si256([0u32, 4, 1, 1, 1, 1, 1, 1].as_ptr().cast());
        // x of chunk c: 4 vectors of 8 lanes, read from the 32-element array.
        let mut xv = [[zero; 4]; N];
        let mut pos = [0usize; N];
        for c in 0..N {
            let xp = cursors[c].x.as_ptr().cast::<__m256i>();
            for (v, xs) in xv[c].iter_mut().enumerate() {
                *xs = _mm256_loadu_si256(xp.add(v)); // v < 4: inside the 32 lanes
            }
            pos[c] = cursors[c].p;
        }
        let mut step = 0;
        // A step consumes at most 32 words (64 bytes) per chunk; its last vector load reads 16
        // bytes at pos + 48 at most, so pos + 64 <= words.len() keeps every load in bounds.
        while step < n_steps && (0..N).all(|c| pos[c] + 64 <= cursors[c].words.len()) {
            for c in 0..N {
                let words = cursors[c].words.as_ptr();
                for v in 0..4 {
                    let xs = xv[c][v];
                    let slot = _mm256_and_si256(xs, slot_mask);
                    // Indices are < 4096 (masked), inside the chunk's 4096-entry table.
                    let e = _mm256_i32gather_epi32::<4>(cursors[c].slots.as_ptr().cast(), slot);
                    let freq = _mm256_add_epi32(
                        _mm256_and_si256(_mm256_srli_epi32::<8>(e), slot_mask),
                        one,
                    );
                    let state = _mm256_add_epi32(
                        _mm256_mullo_epi32(freq, _mm256_srli_epi32::<12>(xs)),
                        _mm256_srli_epi32::<20>(e),
                    );
                    let need = _mm256_cmpeq_epi32(_mm256_srli_epi32::<16>(state), zero);
                    let mask = _mm256_movemask_ps(_mm256_castsi256_ps(need)) as usize;
                    // pos + 16 <= words.len() by the loop condition (advanced by <= 48 so far).
                    let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(words.add(pos[c]).cast()));
                    let perm = _mm256_loadu_si256(PERMUTES[mask].as_ptr().cast());
                    let refilled = _mm256_or_si256(
                        _mm256_slli_epi32::<16>(state),
                        _mm256_permutevar8x32_epi32(w, perm),
                    );
                    xv[c][v] = _mm256_blendv_epi8(state, refilled, need);
                    pos[c] += 2 * mask.count_ones() as usize;
                    // 8 symbols to outs[c][step*32 + v*8 ..][..8]: step < n_steps <= len/32.
                    let bytes =
                        _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(e, low_bytes), halves);
                    _mm_storel_epi64(
                        outs[c].as_mut_ptr().add(step * LANES + v * 8).cast(),
                        _mm256_castsi256_si128(bytes),
                    );
                }
            }
            step += 1;
        }
        for c in 0..N {
            let xp = cursors[c].x.as_mut_ptr().cast::<__m256i>();
            for (v, xs) in xv[c].iter().enumerate() {
                _mm256_storeu_si256(xp.add(v), *xs);
            }
            cursors[c].p = pos[c];
        }
        step * LANES
    }
}

/// Encodes the whole 32-symbol steps of `body` (last step first) with AVX-512, writing words
/// backwards before `*pos` exactly as the scalar encoder does.
///
/// The division `x / freq` uses doubles: `floor((x + 0.5) · (1/freq))` is exact for every
/// `x < 2^32` and `freq ≤ 4096`, because the true quotient's fractional part stays at least
/// `0.5 / 4096` away from an integer while the rounding error is below `2^-20`.
///
/// # Panics
/// If the CPU lacks AVX-512 (callers check [`detected`]).
pub fn encode_steps(
    x: &mut [u32; LANES],
    table: &EncodeTable,
    body: &[u8],
    words: &mut [u16],
    pos: &mut usize,
) {
    assert!(detected() == Level::Avx512, "AVX-512 required");
    assert!(body.len().is_multiple_of(LANES) && *pos >= body.len() && *pos <= words.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512 was checked above; bounds are argued inside.
    unsafe {
        encode_steps_avx512(x, table, body, words, pos);
    }
}

/// [`encode_steps`] with AVX2: eight lanes at a time, the division through doubles as there
/// (AVX2 converts signed 32-bit integers only, so states are offset by 2^31 and back), the
/// emitted words moved to the end of an 8-word store by [`COMPRESS_RIGHT`].
///
/// # Panics
/// If the CPU lacks AVX2 (callers check [`detected`]).
pub fn encode_steps_avx2_checked(
    x: &mut [u32; LANES],
    table: &EncodeTable,
    body: &[u8],
    words: &mut [u16],
    pos: &mut usize,
) {
    assert!(detected() >= Level::Avx2, "AVX2 required");
    assert!(body.len().is_multiple_of(LANES) && *pos >= body.len() && *pos <= words.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 was checked above; bounds are argued inside.
    unsafe {
        encode_steps_avx2(x, table, body, words, pos);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn encode_steps_avx2(
    x: &mut [u32; LANES],
    table: &EncodeTable,
    body: &[u8],
    words: &mut [u16],
    pos: &mut usize,
) {
    // SAFETY: (the whole function) every pointer access is bounded as commented at each site.
    unsafe {
        let low16 = _mm256_set1_epi32(0xFFFF);
        let scale = _mm256_set1_epi32(4096);
        let one = _mm256_set1_epi32(1);
        let sign = _mm256_set1_epi32(i32::MIN);
        let two31 = _mm256_set1_pd(2_147_483_648.0);
        let half = _mm256_set1_pd(0.5);
        // Bytes 0-1 of each 32-bit lane into the low 8 bytes of each 128-bit half.
        let low_words = _mm256_setr_epi8(
            0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9, 12, 13, -1,
            -1, -1, -1, -1, -1, -1, -1,
        );
        let mut xv = [_mm256_setzero_si256(); 4];
        for (g, v) in xv.iter_mut().enumerate() {
            // 8 states at g * 8, inside `x`.
            *v = _mm256_loadu_si256(x.as_ptr().add(g * 8).cast());
        }
        let mut p = *pos;
        for step in (0..body.len() / LANES).rev() {
            // Lanes 24..32 first: their words come after the lower lanes' in decode order.
            for g in (0..4).rev() {
                // 8 symbols at step*32 + g*8, inside `body`.
                let s = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                    body.as_ptr().add(step * LANES + g * 8).cast(),
                ));
                // Symbols are < 256, inside the 256-entry tables.
                let pk = _mm256_i32gather_epi32::<4>(table.packed.as_ptr().cast(), s);
                let bias = _mm256_and_si256(pk, low16);
                let cmpl = _mm256_srli_epi32::<16>(pk);
                let freq = _mm256_sub_epi32(scale, cmpl);
                let xs = xv[g];
                // x >= freq << 20  <=>  x >> 20 > freq - 1 (both below 2^12: signed is fine).
                let emit =
                    _mm256_cmpgt_epi32(_mm256_srli_epi32::<20>(xs), _mm256_sub_epi32(freq, one));
                let mask = _mm256_movemask_ps(_mm256_castsi256_ps(emit)) as usize;
                let n = mask.count_ones() as usize;
                // Before this group, fewer words than symbols were emitted and at least the 8
                // symbols of this group remain, so p >= 8: the store covers [p - 8, p), and
                // only its last n words (the emitted ones, at [p - n, p)) are kept.
                let perm = _mm256_loadu_si256(COMPRESS_RIGHT[mask].as_ptr().cast());
                let packed = _mm256_permute4x64_epi64::<0b1000>(_mm256_shuffle_epi8(
                    _mm256_permutevar8x32_epi32(xs, perm),
                    low_words,
                ));
                _mm_storeu_si128(
                    words.as_mut_ptr().add(p - 8).cast(),
                    _mm256_castsi256_si128(packed),
                );
                p -= n;
                // Emitting lanes shift by 16, the others by 0.
                let xs = _mm256_srlv_epi32(xs, _mm256_and_si256(emit, _mm256_set1_epi32(16)));
                // u32 -> f64 through the signed conversion: (x - 2^31) + 2^31, exact.
                let xo = _mm256_xor_si256(xs, sign);
                let x_lo = _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(xo)), two31);
                let x_hi =
                    _mm256_add_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256::<1>(xo)), two31);
                let inv_lo = _mm256_i32gather_pd::<8>(
                    table.inv_freq.as_ptr().cast(),
                    _mm256_castsi256_si128(s),
                );
                let inv_hi = _mm256_i32gather_pd::<8>(
                    table.inv_freq.as_ptr().cast(),
                    _mm256_extracti128_si256::<1>(s),
                );
                // Quotients are below 2^31 (x < 2^32 and freq >= 2, or freq = 1 and x < 2^20).
                let q_lo = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_add_pd(x_lo, half), inv_lo));
                let q_hi = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_add_pd(x_hi, half), inv_hi));
                let q = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(q_lo), q_hi);
                xv[g] = _mm256_add_epi32(_mm256_add_epi32(xs, bias), _mm256_mullo_epi32(q, cmpl));
            }
        }
        for (g, v) in xv.iter().enumerate() {
            // 8 states at g * 8, inside `x`.
            _mm256_storeu_si256(x.as_mut_ptr().add(g * 8).cast(), *v);
        }
        *pos = p;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi2,popcnt")]
unsafe fn encode_steps_avx512(
    x: &mut [u32; LANES],
    table: &EncodeTable,
    body: &[u8],
    words: &mut [u16],
    pos: &mut usize,
) {
    // SAFETY: (the whole function) every pointer access is bounded as commented at each site.
    unsafe {
        let low16 = _mm512_set1_epi32(0xFFFF);
        let scale = _mm512_set1_epi32(4096);
        let half = _mm512_set1_pd(0.5);
        let mut xv = [
            _mm512_loadu_si512(x.as_ptr().cast()),
            _mm512_loadu_si512(x.as_ptr().add(16).cast()),
        ];
        let mut p = *pos;
        for step in (0..body.len() / LANES).rev() {
            // Lanes 16..32 first: their words come after lanes 0..16's in decode order.
            for v in [1usize, 0] {
                // 16 symbols at step*32 + v*16, inside `body`.
                let s = _mm512_cvtepu8_epi32(_mm_loadu_si128(
                    body.as_ptr().add(step * LANES + v * 16).cast(),
                ));
                // Symbols are < 256, inside the 256-entry tables.
                let pk = _mm512_i32gather_epi32::<4>(s, table.packed.as_ptr().cast());
                let bias = _mm512_and_si512(pk, low16);
                let cmpl = _mm512_srli_epi32::<16>(pk);
                let freq = _mm512_sub_epi32(scale, cmpl);
                let xs = xv[v];
                // x >= freq << 20  <=>  x >> 20 >= freq (no overflow for freq = 4096).
                let emit = _mm512_cmpge_epu32_mask(_mm512_srli_epi32::<20>(xs), freq);
                let n = emit.count_ones() as usize;
                // Fewer words than symbols so far: p >= n. Writes exactly n u16 at p - n.
                _mm256_mask_compressstoreu_epi16(
                    words.as_mut_ptr().add(p - n).cast(),
                    emit,
                    _mm512_cvtepi32_epi16(xs),
                );
                p -= n;
                let xs = _mm512_mask_srli_epi32(xs, emit, xs, 16);
                let s_lo = _mm512_castsi512_si256(s);
                let s_hi = _mm512_extracti64x4_epi64::<1>(s);
                let x_lo = _mm512_cvtepu32_pd(_mm512_castsi512_si256(xs));
                let x_hi = _mm512_cvtepu32_pd(_mm512_extracti64x4_epi64::<1>(xs));
                let inv_lo = _mm512_i32gather_pd::<8>(s_lo, table.inv_freq.as_ptr().cast());
                let inv_hi = _mm512_i32gather_pd::<8>(s_hi, table.inv_freq.as_ptr().cast());
                let q_lo = _mm512_cvttpd_epu32(_mm512_mul_pd(_mm512_add_pd(x_lo, half), inv_lo));
                let q_hi = _mm512_cvttpd_epu32(_mm512_mul_pd(_mm512_add_pd(x_hi, half), inv_hi));
                let q = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(q_lo), q_hi);
                xv[v] = _mm512_add_epi32(_mm512_add_epi32(xs, bias), _mm512_mullo_epi32(q, cmpl));
            }
        }
        _mm512_storeu_si512(x.as_mut_ptr().cast(), xv[0]);
        _mm512_storeu_si512(x.as_mut_ptr().add(16).cast(), xv[1]);
        *pos = p;
    }
}
