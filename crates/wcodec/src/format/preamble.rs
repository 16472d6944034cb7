//! The 64-byte preamble (format.md §2).

use super::{MAGIC, MAX_HEADER_JSON_BYTES, PREAMBLE_BYTES, VERSION};
use crate::error::{Error, Result};
use xxhash_rust::xxh3::xxh3_64;

/// The fields of a preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// Format version.
    pub version: u32,
    /// Absolute offset of the stored header.
    pub header_offset: u64,
    /// Size of the stored (deflated) header.
    pub header_stored_bytes: u64,
    /// Size of the header JSON once inflated.
    pub header_json_bytes: u64,
    /// XXH3-64 of the stored header bytes.
    pub header_xxh3: u64,
    /// Total file size.
    pub file_bytes: u64,
}

impl Preamble {
    /// Serialises the preamble, computing its own checksum.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        // bytes 12..16: flags, zero in version 1
        b[16..24].copy_from_slice(&self.header_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.header_stored_bytes.to_le_bytes());
        b[32..40].copy_from_slice(&self.header_json_bytes.to_le_bytes());
        b[40..48].copy_from_slice(&self.header_xxh3.to_le_bytes());
        b[48..56].copy_from_slice(&self.file_bytes.to_le_bytes());
        let sum = xxh3_64(&b[..56]);
        b[56..64].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parses and checks the preamble of a file of `bytes.len()` bytes (format.md §2 order).
    pub fn parse(bytes: &[u8]) -> Result<Preamble> {
        Preamble::parse_head(
            &bytes[..bytes.len().min(PREAMBLE_BYTES as usize)],
            bytes.len() as u64,
        )
    }

    /// Parses and checks the preamble from the first bytes of a file of `size` bytes (at most
    /// [`PREAMBLE_BYTES`] of them are needed): what a reader that does not map the file uses.
    pub fn parse_head(bytes: &[u8], size: u64) -> Result<Preamble> {
        if size < PREAMBLE_BYTES || (bytes.len() as u64) < PREAMBLE_BYTES {
            if bytes.len() >= 8 && bytes[..8] != MAGIC {
                return Err(not_wcodec(bytes));
            }
            return Err(Error::Truncated {
                expected: PREAMBLE_BYTES,
                found: size,
            });
        }
        if bytes[..8] != MAGIC {
            return Err(not_wcodec(bytes));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        if xxh3_64(&bytes[..56]) != u64_at(56) {
            return Err(Error::corrupt("preamble checksum mismatch"));
        }
        let version = u32_at(8);
        if version == 0 || version > VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        if u32_at(12) != 0 {
            return Err(Error::corrupt(format!("unknown flags {:#x}", u32_at(12))));
        }
        let p = Preamble {
            version,
            header_offset: u64_at(16),
            header_stored_bytes: u64_at(24),
            header_json_bytes: u64_at(32),
            header_xxh3: u64_at(40),
            file_bytes: u64_at(48),
        };
        if p.file_bytes > size {
            return Err(Error::Truncated {
                expected: p.file_bytes,
                found: size,
            });
        }
        if p.file_bytes < size {
            return Err(Error::corrupt(format!(
                "{} unexpected bytes after the end of the file",
                size - p.file_bytes
            )));
        }
        if p.header_offset < PREAMBLE_BYTES
            || p.header_offset.checked_add(p.header_stored_bytes) != Some(p.file_bytes)
        {
            return Err(Error::corrupt(format!(
                "header at {} ({} bytes) does not end the {}-byte file",
                p.header_offset, p.header_stored_bytes, p.file_bytes
            )));
        }
        if p.header_json_bytes > MAX_HEADER_JSON_BYTES {
            return Err(Error::corrupt(format!(
                "header of {} bytes exceeds the {MAX_HEADER_JSON_BYTES}-byte limit",
                p.header_json_bytes
            )));
        }
        Ok(p)
    }
}

fn not_wcodec(bytes: &[u8]) -> Error {
    let found: String = bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .concat();
    Error::NotWcodec { found }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Preamble {
        Preamble {
            version: VERSION,
            header_offset: 128,
            header_stored_bytes: 10,
            header_json_bytes: 20,
            header_xxh3: 0x0123_4567_89ab_cdef,
            file_bytes: 138,
        }
    }

    /// A file image of `p.file_bytes` bytes with `p` in front.
    fn image(p: &Preamble) -> Vec<u8> {
        let mut b = vec![0u8; p.file_bytes.max(64) as usize];
        b[..64].copy_from_slice(&p.to_bytes());
        b
    }

    /// Rewrites bytes of a preamble and re-seals its checksum.
    fn patched(p: &Preamble, at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut b = image(p);
        b[at..at + bytes.len()].copy_from_slice(bytes);
        let sum = xxh3_64(&b[..56]);
        b[56..64].copy_from_slice(&sum.to_le_bytes());
        b
    }

    fn corrupt_text(r: Result<Preamble>) -> String {
        match r {
            Err(Error::Corrupt(t)) => t,
            other => panic!("expected Error::Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn round_trips() {
        let p = valid();
        assert_eq!(Preamble::parse(&image(&p)).unwrap(), p);
        assert_eq!(&p.to_bytes()[..8], &MAGIC);
    }

    #[test]
    fn short_files() {
        assert!(matches!(
            Preamble::parse(&[]),
            Err(Error::Truncated {
                expected: 64,
                found: 0
            })
        ));
        assert!(matches!(
            Preamble::parse(&MAGIC[..5]),
            Err(Error::Truncated {
                expected: 64,
                found: 5
            })
        ));
        assert!(matches!(
            Preamble::parse(&MAGIC),
            Err(Error::Truncated {
                expected: 64,
                found: 8
            })
        ));
        assert!(
            matches!(Preamble::parse(b"GGUF\x03\0\0\0\0\0"), Err(Error::NotWcodec { found }) if found == "4747554603000000")
        );
        let whole = image(&valid());
        assert!(matches!(
            Preamble::parse(&whole[..137]),
            Err(Error::Truncated {
                expected: 138,
                found: 137
            })
        ));
    }

    #[test]
    fn magic_then_checksum_then_version_then_flags() {
        let p = valid();
        let mut b = image(&p);
        b[3] = b'X';
        b[8] = 9; // also a bad version: magic is checked first
        assert!(matches!(Preamble::parse(&b), Err(Error::NotWcodec { .. })));
        let mut b = image(&p);
        b[8] = 9; // version changed without re-sealing: the checksum catches it first
        assert_eq!(
            corrupt_text(Preamble::parse(&b)),
            "preamble checksum mismatch"
        );
        let b = patched(&p, 8, &[3, 0, 0, 0, 1, 0, 0, 0]); // version 3 and flags 1
        assert!(matches!(
            Preamble::parse(&b),
            Err(Error::UnsupportedVersion {
                found: 3,
                supported: 2
            })
        ));
        for v in [1u32, 2] {
            let b = patched(&p, 8, &v.to_le_bytes());
            assert_eq!(Preamble::parse(&b).unwrap().version, v);
        }
        let b = patched(&p, 8, &0u32.to_le_bytes());
        assert!(matches!(
            Preamble::parse(&b),
            Err(Error::UnsupportedVersion { found: 0, .. })
        ));
        let b = patched(&p, 12, &0x80u32.to_le_bytes());
        assert_eq!(corrupt_text(Preamble::parse(&b)), "unknown flags 0x80");
    }

    #[test]
    fn sizes_and_offsets() {
        let p = valid();
        let mut b = image(&p);
        b.push(0);
        assert!(corrupt_text(Preamble::parse(&b)).contains("1 unexpected bytes after the end"));
        let low = Preamble {
            header_offset: 63,
            header_stored_bytes: 75,
            ..p
        };
        assert!(
            corrupt_text(Preamble::parse(&image(&low))).contains("does not end the 138-byte file")
        );
        let gap = Preamble {
            header_stored_bytes: 9,
            ..p
        };
        assert!(corrupt_text(Preamble::parse(&image(&gap))).contains("does not end"));
        let overflow = Preamble {
            header_offset: u64::MAX,
            header_stored_bytes: 139,
            ..p
        };
        assert!(corrupt_text(Preamble::parse(&image(&overflow))).contains("does not end"));
        let big = Preamble {
            header_json_bytes: MAX_HEADER_JSON_BYTES + 1,
            ..p
        };
        assert!(corrupt_text(Preamble::parse(&image(&big)))
            .contains("exceeds the 100000000-byte limit"));
        let at_cap = Preamble {
            header_json_bytes: MAX_HEADER_JSON_BYTES,
            ..p
        };
        assert!(Preamble::parse(&image(&at_cap)).is_ok());
    }
}
