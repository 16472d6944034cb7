//! The lifting step of the tile transforms (format.md §6.4): what a transform [`Program`] is
//! made of, shared by the scalar programs of [`super::transform`] and the vector ones of
//! [`super::simd`].
//!
//! [`Program`]: super::transform::Program

/// Fixed-point bits of the lifting constants: `|c| ≤ 128` and a signed byte keep `c · v + 64`
/// within 16 bits, so vector units compute lifts in 16-bit lanes.
pub const LIFT_BITS: u32 = 7;

/// One step of a program, on positions of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `v[dst] += (c · s8(v[src]) + 64) >> 7 (mod 256)`.
    Lift {
        /// Position written.
        dst: u8,
        /// Position read (≠ `dst`).
        src: u8,
        /// Constant, `|c| ≤ 128`.
        c: i16,
    },
    /// `v[dst] = −v[dst] (mod 256)`.
    Neg {
        /// Position negated.
        dst: u8,
    },
}

/// The lift of format.md §6.4: `(c · s8(y) + 64) >> 7`, as a byte to add modulo 256.
#[inline(always)]
pub fn lift_delta(y: u8, c: i16) -> u8 {
    ((i16::from(y as i8) * c + 64) >> LIFT_BITS) as u8
}
