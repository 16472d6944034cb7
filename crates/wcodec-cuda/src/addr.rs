//! Offsets and addresses in the crate's device buffers: one alignment for every section, and an
//! address that is either absolute (a caller's buffer) or an offset into a region of a buffer
//! whose base is known only when the plan is written out.

/// Alignment of every span and section of a staging, scratch or verify buffer.
pub(crate) const ALIGN: u64 = 64;

/// `v` rounded up to [`ALIGN`].
pub(crate) fn align(v: u64) -> u64 {
    v.next_multiple_of(ALIGN)
}

/// A device address: absolute, or a byte offset into region `R` of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Addr<R> {
    Abs(u64),
    In(R, u64),
}

impl<R: Copy> Addr<R> {
    /// The address `bytes` further.
    pub(crate) fn add(self, bytes: u64) -> Addr<R> {
        match self {
            Addr::Abs(a) => Addr::Abs(a + bytes),
            Addr::In(r, o) => Addr::In(r, o + bytes),
        }
    }

    /// The absolute address, given where each region starts.
    pub(crate) fn at(self, region: impl Fn(R) -> u64) -> u64 {
        match self {
            Addr::Abs(a) => a,
            Addr::In(r, o) => region(r) + o,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_resolve_against_their_region() {
        let a: Addr<u8> = Addr::In(2, 10).add(5);
        assert_eq!(a.at(|r| u64::from(r) * 1000), 2015);
        assert_eq!(Addr::<u8>::Abs(7).add(1).at(|_| unreachable!()), 8);
        assert_eq!(align(65), 128);
        assert_eq!(align(64), 64);
    }
}
