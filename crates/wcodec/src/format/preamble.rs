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
        let size = bytes.len() as u64;
        if size < PREAMBLE_BYTES {
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
        if p.header_offset < PREAMBLE_BYTES || p.header_offset.checked_add(p.header_stored_bytes) != Some(p.file_bytes) {
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
    let found = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>();
    Error::NotWcodec { found }
}
