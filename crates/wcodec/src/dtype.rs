//! Element types, spelled as safetensors spells them, and how each becomes symbol planes.
//!
//! `docs/format.md` §4 is the normative table; [`Dtype::plane_layout`] is its code form.

use crate::error::{Error, Result};

/// How the bytes of one element are turned into plane symbols (format.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaneSplit {
    /// One plane: the tensor's bytes as they are.
    Bytes,
    /// `width` planes of the little-endian word's bytes, most significant first.
    Integer {
        /// Word width in bytes.
        width: usize,
    },
    /// Like `Integer`, after rotating the word left by one bit (sign to bit 0, exponent on top).
    Float {
        /// Word width in bytes.
        width: usize,
    },
}

impl PlaneSplit {
    /// Number of planes (= bytes per word).
    pub fn n_planes(self) -> usize {
        match self {
            PlaneSplit::Bytes => 1,
            PlaneSplit::Integer { width } | PlaneSplit::Float { width } => width,
        }
    }
}

macro_rules! dtypes {
    ($($variant:ident = $name:literal, $bits:literal, $layout:expr;)*) => {
        /// A tensor element type. Names and widths follow safetensors 0.8.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[allow(non_camel_case_types)]
        pub enum Dtype {
            $(
                #[doc = concat!("`", $name, "`, ", stringify!($bits), " bits")]
                $variant,
            )*
        }

        impl Dtype {
            /// Every dtype, in the order of this table.
            pub const ALL: &'static [Dtype] = &[$(Dtype::$variant),*];

            /// The wire name (`"BF16"`, `"F8_E4M3"`, …).
            pub fn name(self) -> &'static str {
                match self { $(Dtype::$variant => $name),* }
            }

            /// Bits per element.
            pub fn bits(self) -> u64 {
                match self { $(Dtype::$variant => $bits),* }
            }

            /// How elements of this dtype are split into planes.
            pub fn plane_layout(self) -> PlaneSplit {
                match self { $(Dtype::$variant => $layout),* }
            }

            /// Parses a wire name.
            pub fn parse(name: &str) -> Result<Dtype> {
                match name {
                    $($name => Ok(Dtype::$variant),)*
                    other => Err(Error::UnsupportedDtype(other.to_owned())),
                }
            }
        }
    };
}

use PlaneSplit::{Bytes, Float, Integer};

dtypes! {
    Bool = "BOOL", 8, Bytes;
    F4 = "F4", 4, Bytes;
    F6E2M3 = "F6_E2M3", 6, Bytes;
    F6E3M2 = "F6_E3M2", 6, Bytes;
    U8 = "U8", 8, Bytes;
    I8 = "I8", 8, Bytes;
    F8E5M2 = "F8_E5M2", 8, Bytes;
    F8E4M3 = "F8_E4M3", 8, Bytes;
    F8E8M0 = "F8_E8M0", 8, Bytes;
    F8E4M3Fnuz = "F8_E4M3FNUZ", 8, Bytes;
    F8E5M2Fnuz = "F8_E5M2FNUZ", 8, Bytes;
    I16 = "I16", 16, Integer { width: 2 };
    U16 = "U16", 16, Integer { width: 2 };
    F16 = "F16", 16, Integer { width: 2 };
    BF16 = "BF16", 16, Float { width: 2 };
    I32 = "I32", 32, Integer { width: 4 };
    U32 = "U32", 32, Integer { width: 4 };
    F32 = "F32", 32, Float { width: 4 };
    C64 = "C64", 64, Float { width: 4 };
    F64 = "F64", 64, Float { width: 8 };
    I64 = "I64", 64, Integer { width: 8 };
    U64 = "U64", 64, Integer { width: 8 };
}

impl Dtype {
    /// Bytes taken by `n_elements` elements, or `None` on overflow. Sub-byte types round up,
    /// as packed storage does.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let bits = n_elements.checked_mul(self.bits())?;
        Some(bits.div_ceil(8))
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of elements of a shape, or `None` on overflow. A 0-rank shape has one element.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &d in Dtype::ALL {
            assert_eq!(Dtype::parse(d.name()).unwrap(), d);
        }
        assert!(matches!(Dtype::parse("I4"), Err(Error::UnsupportedDtype(n)) if n == "I4"));
    }

    #[test]
    fn plane_count_matches_width() {
        for &d in Dtype::ALL {
            let layout = d.plane_layout();
            if layout != PlaneSplit::Bytes {
                assert_eq!(
                    layout.n_planes() as u64 * 8,
                    if d == Dtype::C64 { 32 } else { d.bits() }
                );
            }
        }
    }

    #[test]
    fn sub_byte_sizes_round_up() {
        assert_eq!(Dtype::F4.bytes_for(3), Some(2));
        assert_eq!(Dtype::F6E2M3.bytes_for(4), Some(3));
        assert_eq!(Dtype::U64.bytes_for(u64::MAX), None);
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[3, 0, 7]), Some(0));
    }
}
