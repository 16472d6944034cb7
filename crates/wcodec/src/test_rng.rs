//! The tests' pseudo-random bytes: this crate's unit tests, and through `#[path]` its
//! integration tests (`tests/it/common.rs`) and `wcodec-cuda`'s tests (`tests/common`), so a
//! failing seed reproduces in any of them.

/// `n` uniform pseudo-random bytes from `seed` (64-bit LCG, top bits).
pub(crate) fn lcg(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}
