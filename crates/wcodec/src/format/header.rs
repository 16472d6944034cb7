//! The JSON header (format.md §3): wire types, DEFLATE packing and structural validation.

use serde::{Deserialize, Serialize};

use super::{
    MAX_CHUNK_SYMBOLS, MIN_CHUNK_SYMBOLS, PREAMBLE_BYTES, REGION_ALIGN, VERSION, VERSION_TILES,
};
use crate::dtype::{element_count, Dtype};
use crate::error::{Error, Result};
use crate::plane_coding::Coder;
use crate::tile::{Grid, MAX_TILE_SIZE, MIN_TILE_SIZE};

use super::preamble::Preamble;

/// The whole header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Format version (equals the preamble's).
    pub version: u32,
    /// The encoder that wrote the file, e.g. `wcodec 0.1.0`.
    pub encoder: String,
    /// Where the tensors came from, and what is needed to rebuild it.
    pub source: SourceInfo,
    /// Tensors in payload order (= source data order).
    pub tensors: Vec<TensorEntry>,
}

/// The source file of a `.wcodec` file (format.md §3.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `safetensors` in version 1.
    pub format: String,
    /// The source file's name, without directories.
    pub file_name: String,
    /// XXH3-64 of the whole source file, checked after a rebuild.
    #[serde(with = "hex_u64")]
    pub file_xxh3: u64,
    /// The source header, verbatim.
    pub header: String,
}

/// How a tensor region is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Verbatim bytes.
    Raw,
    /// Symbol planes (format.md §5).
    Planes,
}

/// One tensor (format.md §3.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TensorEntry {
    /// Unique name.
    pub name: String,
    /// Element type.
    #[serde(with = "dtype_name")]
    pub dtype: Dtype,
    /// Shape (empty for a scalar).
    pub shape: Vec<u64>,
    /// Decoded size.
    pub raw_bytes: u64,
    /// XXH3-64 of the decoded bytes.
    #[serde(with = "hex_u64")]
    pub xxh3: u64,
    /// Start of the tensor region.
    pub offset: u64,
    /// Size of the tensor region.
    pub stored_bytes: u64,
    /// Raw or planes.
    pub encoding: Encoding,
    /// Symbols per chunk (planes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_symbols: Option<u64>,
    /// The planes (planes only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planes: Vec<PlaneEntry>,
    /// Tile side of the tiled planes (format version 2, format.md §6); present exactly when
    /// some plane is tiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile_size: Option<u32>,
    /// Informative: order-0 entropy bound of the tensor's planes, in bytes (rounded up).
    #[serde(default)]
    pub order0_bytes: u64,
}

/// One stored plane of a tensor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlaneEntry {
    /// Raw or rANS.
    pub coder: Coder,
    /// Start of the plane.
    pub offset: u64,
    /// Stored size of the plane.
    pub bytes: u64,
    /// The mode plane of a tiled plane (format version 2): one mode id per tile. Its presence
    /// makes this plane's symbols the tile residuals of format.md §6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<StreamEntry>,
    /// Informative (tiled planes): the stored size of the plane coded flat, as the encoder
    /// measured it; `inspect` reports the bytes tiles saved from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_bytes: Option<u64>,
}

/// A stored byte stream inside a tensor region: a plane of its own, coded like a symbol plane
/// (format.md §5.1–5.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEntry {
    /// Raw or rANS.
    pub coder: Coder,
    /// Start of the stream.
    pub offset: u64,
    /// Stored size of the stream.
    pub bytes: u64,
}

impl TensorEntry {
    /// Symbols per plane: the number of words of the tensor.
    pub fn plane_symbols(&self) -> u64 {
        self.raw_bytes / self.dtype.plane_layout().n_planes() as u64
    }

    /// The tile grid of the tensor's planes, when some plane is tiled (call after
    /// [`Header::validate`], which checks the tile size).
    pub fn tile_grid(&self) -> Option<Grid> {
        self.tile_size
            .map(|t| Grid::new(&self.shape, self.plane_symbols(), u64::from(t)))
    }

    /// Whether some plane is tiled.
    pub fn is_tiled(&self) -> bool {
        self.planes.iter().any(|p| p.modes.is_some())
    }
}

impl Header {
    /// Serialises and compresses the header; returns (stored bytes, JSON size).
    pub fn pack(&self) -> (Vec<u8>, u64) {
        let json = serde_json::to_vec(self).expect("header serialises");
        // Level 9: headers are small and compressed once; the bytes stay deterministic.
        (
            miniz_oxide::deflate::compress_to_vec(&json, 9),
            json.len() as u64,
        )
    }

    /// Inflates, parses and validates a header against its preamble.
    pub fn unpack(stored: &[u8], preamble: &Preamble) -> Result<Header> {
        if xxhash_rust::xxh3::xxh3_64(stored) != preamble.header_xxh3 {
            return Err(Error::corrupt("header checksum mismatch"));
        }
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(
            stored,
            preamble.header_json_bytes as usize,
        )
        .map_err(|e| Error::corrupt(format!("header does not inflate: {e:?}")))?;
        if json.len() as u64 != preamble.header_json_bytes {
            return Err(Error::corrupt(format!(
                "header inflates to {} bytes, preamble says {}",
                json.len(),
                preamble.header_json_bytes
            )));
        }
        let header: Header = serde_json::from_slice(&json)
            .map_err(|e| Error::corrupt(format!("header JSON: {e}")))?;
        if header.version != preamble.version {
            return Err(Error::corrupt(format!(
                "header version {} differs from preamble version {}",
                header.version, preamble.version
            )));
        }
        header.validate(preamble.header_offset)?;
        Ok(header)
    }

    /// Checks every structural rule of format.md §3.2 (payload ends at `payload_end`).
    pub fn validate(&self, payload_end: u64) -> Result<()> {
        if self.version == 0 || self.version > VERSION {
            return Err(Error::UnsupportedVersion {
                found: self.version,
                supported: VERSION,
            });
        }
        let mut names = std::collections::HashSet::with_capacity(self.tensors.len());
        let mut prev_end = PREAMBLE_BYTES;
        for t in &self.tensors {
            let bad = |detail: String| Error::tensor(&t.name, detail);
            if !names.insert(t.name.as_str()) {
                return Err(bad("duplicate tensor name".into()));
            }
            let expected = element_count(&t.shape)
                .and_then(|n| t.dtype.bytes_for(n))
                .ok_or_else(|| bad("shape overflows".into()))?;
            if expected != t.raw_bytes {
                return Err(bad(format!(
                    "raw_bytes {} does not match {} of shape {:?} ({expected} bytes)",
                    t.raw_bytes, t.dtype, t.shape
                )));
            }
            if t.offset % REGION_ALIGN != 0 || t.offset < prev_end {
                return Err(bad(format!(
                    "region offset {} is misaligned or overlaps",
                    t.offset
                )));
            }
            let end = t
                .offset
                .checked_add(t.stored_bytes)
                .filter(|&e| e <= payload_end)
                .ok_or_else(|| {
                    bad(format!(
                        "region of {} bytes at {} runs past the payload",
                        t.stored_bytes, t.offset
                    ))
                })?;
            prev_end = end;
            match t.encoding {
                Encoding::Raw => {
                    if t.stored_bytes != t.raw_bytes || !t.planes.is_empty() {
                        return Err(bad("raw region size differs from raw_bytes".into()));
                    }
                    if t.tile_size.is_some() {
                        return Err(bad("tile_size on a raw tensor".into()));
                    }
                }
                Encoding::Planes => t.validate_planes(end, self.version).map_err(bad)?,
            }
        }
        Ok(())
    }
}

impl TensorEntry {
    fn validate_planes(&self, region_end: u64, version: u32) -> Result<(), String> {
        let c = self
            .chunk_symbols
            .ok_or("planes encoding without chunk_symbols")?;
        if !(MIN_CHUNK_SYMBOLS..=MAX_CHUNK_SYMBOLS).contains(&c) || !c.is_power_of_two() {
            return Err(format!(
                "chunk_symbols {c} is not a power of two in [4096, 1048576]"
            ));
        }
        let n_planes = self.dtype.plane_layout().n_planes();
        if self.planes.len() != n_planes {
            return Err(format!(
                "{} planes, {} has {n_planes}",
                self.planes.len(),
                self.dtype
            ));
        }
        let n = self.plane_symbols();
        let grid = self.validate_tiles(version)?;
        let mut pos = self.offset;
        for (p, plane) in self.planes.iter().enumerate() {
            if let (Some(m), Some(grid)) = (&plane.modes, grid) {
                pos = stream_fits(
                    m.coder,
                    m.offset,
                    m.bytes,
                    grid.n_tiles(),
                    c,
                    pos,
                    region_end,
                )
                .map_err(|e| format!("mode plane {p} {e}"))?;
            }
            pos = stream_fits(
                plane.coder,
                plane.offset,
                plane.bytes,
                n,
                c,
                pos,
                region_end,
            )
            .map_err(|e| format!("plane {p} {e}"))?;
        }
        Ok(())
    }

    /// Tile fields (format.md §6): only in version 2, a tile size in [4, 64] exactly when some
    /// plane has a mode plane. Returns the grid of the tiled planes.
    fn validate_tiles(&self, version: u32) -> Result<Option<Grid>, String> {
        let tiled = self.is_tiled();
        match (self.tile_size, tiled) {
            (None, false) => return Ok(None),
            (None, true) => return Err("tiled plane without tile_size".into()),
            (Some(_), false) => return Err("tile_size without a tiled plane".into()),
            (Some(_), true) => {}
        }
        if version < VERSION_TILES {
            return Err(format!("tiled planes in a version {version} file"));
        }
        let t = self.tile_size.unwrap_or_default();
        if !(MIN_TILE_SIZE..=MAX_TILE_SIZE).contains(&t) {
            return Err(format!(
                "tile_size {t} is not in [{MIN_TILE_SIZE}, {MAX_TILE_SIZE}]"
            ));
        }
        Ok(self.tile_grid())
    }
}

/// Checks one stored stream of `n` symbols (a plane, or a mode plane) that must start at or
/// after `pos`, 4-aligned, and end inside the region; returns its end. A rANS stream needs at
/// least `min(m, 128)` bytes per chunk plus its 4-byte table entry: this bounds how much memory
/// a small hostile file can make a decoder allocate.
fn stream_fits(
    coder: Coder,
    offset: u64,
    bytes: u64,
    n: u64,
    chunk_symbols: u64,
    pos: u64,
    region_end: u64,
) -> Result<u64, String> {
    let end = offset.checked_add(bytes).ok_or("size overflows")?;
    if offset < pos || end > region_end || !offset.is_multiple_of(4) {
        return Err("is misaligned, lies outside its region or overlaps".into());
    }
    let min_rans_bytes = n
        .div_ceil(chunk_symbols)
        .saturating_mul(132)
        .saturating_sub(128);
    let fits = match coder {
        Coder::Raw => bytes == n,
        Coder::Rans => bytes >= min_rans_bytes,
    };
    if !fits {
        return Err(format!("of {bytes} bytes cannot hold {n} symbols"));
    }
    Ok(end)
}

mod dtype_name {
    use crate::dtype::Dtype;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` signature
    pub(super) fn serialize<S: Serializer>(d: &Dtype, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Dtype, D::Error> {
        let name = String::deserialize(d)?;
        Dtype::parse(&name).map_err(serde::de::Error::custom)
    }
}

mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` signature
    pub(super) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:016x}"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 16 {
            return Err(serde::de::Error::custom("checksum must be 16 hex digits"));
        }
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, offset: u64, n: u64) -> TensorEntry {
        TensorEntry {
            name: name.into(),
            dtype: Dtype::U8,
            shape: vec![n],
            raw_bytes: n,
            xxh3: 0,
            offset,
            stored_bytes: n,
            encoding: Encoding::Raw,
            chunk_symbols: None,
            planes: Vec::new(),
            tile_size: None,
            order0_bytes: 0,
        }
    }

    /// A BF16 tensor of 8192 elements at `offset`: a 200-byte rANS plane and a raw plane.
    fn planes(name: &str, offset: u64) -> TensorEntry {
        TensorEntry {
            name: name.into(),
            dtype: Dtype::BF16,
            shape: vec![8192],
            raw_bytes: 16_384,
            xxh3: 0,
            offset,
            stored_bytes: 256 + 8192,
            encoding: Encoding::Planes,
            chunk_symbols: Some(4096),
            planes: vec![
                PlaneEntry {
                    coder: Coder::Rans,
                    offset,
                    bytes: 200,
                    modes: None,
                    flat_bytes: None,
                },
                PlaneEntry {
                    coder: Coder::Raw,
                    offset: offset + 256,
                    bytes: 8192,
                    modes: None,
                    flat_bytes: None,
                },
            ],
            tile_size: None,
            order0_bytes: 0,
        }
    }

    fn header(tensors: Vec<TensorEntry>) -> Header {
        Header {
            version: VERSION,
            encoder: "test".into(),
            source: SourceInfo {
                format: "safetensors".into(),
                file_name: "x.safetensors".into(),
                file_xxh3: 0,
                header: "{}".into(),
            },
            tensors,
        }
    }

    const END: u64 = 1 << 20;

    /// The detail of the `CorruptTensor` error `validate` gives after `edit`.
    fn rejects(edit: impl FnOnce(&mut Header)) -> String {
        let mut h = header(vec![raw("r", 64, 10), planes("p", 128)]);
        h.validate(END).expect("the unedited header is valid");
        edit(&mut h);
        match h.validate(END) {
            Err(Error::CorruptTensor { detail, .. }) => detail,
            other => panic!("expected CorruptTensor, got {other:?}"),
        }
    }

    #[test]
    fn versions() {
        for v in [0, VERSION + 1] {
            let mut h = header(Vec::new());
            h.version = v;
            assert!(
                matches!(h.validate(END), Err(Error::UnsupportedVersion { found, .. }) if found == v)
            );
        }
    }

    #[test]
    fn tensor_table_rules() {
        assert_eq!(
            rejects(|h| h.tensors[1].name = "r".into()),
            "duplicate tensor name"
        );
        assert!(
            rejects(|h| h.tensors[0].shape = vec![11]).contains("does not match U8 of shape [11]")
        );
        assert_eq!(
            rejects(|h| h.tensors[0].shape = vec![u64::MAX, 2]),
            "shape overflows"
        );
        assert!(rejects(|h| h.tensors[0].offset = 0).contains("misaligned or overlaps"));
        assert!(rejects(|h| h.tensors[0].offset = 96).contains("misaligned or overlaps"));
        assert!(rejects(|h| h.tensors[1].offset = 64).contains("misaligned or overlaps"));
        assert!(rejects(|h| h.tensors[1].stored_bytes = END).contains("runs past the payload"));
        assert!(rejects(|h| h.tensors[0].stored_bytes = u64::MAX).contains("runs past the payload"));
        assert_eq!(
            rejects(|h| h.tensors[0].stored_bytes = 9),
            "raw region size differs from raw_bytes"
        );
        let plane = PlaneEntry {
            coder: Coder::Raw,
            offset: 64,
            bytes: 10,
            modes: None,
            flat_bytes: None,
        };
        assert_eq!(
            rejects(|h| h.tensors[0].planes.push(plane)),
            "raw region size differs from raw_bytes"
        );
        // A region may end exactly at the payload end, not one byte later.
        let mut h = header(vec![raw("r", 64, 10)]);
        h.validate(74).unwrap();
        assert!(matches!(h.validate(73), Err(Error::CorruptTensor { .. })));
        h.tensors[0].offset = u64::MAX - 63;
        assert!(
            matches!(h.validate(END), Err(Error::CorruptTensor { detail, .. }) if detail.contains("runs past the payload"))
        );
    }

    #[test]
    fn plane_rules() {
        assert_eq!(
            rejects(|h| h.tensors[1].chunk_symbols = None),
            "planes encoding without chunk_symbols"
        );
        for c in [2048, 4095, 6000, 1 << 21] {
            assert!(rejects(|h| h.tensors[1].chunk_symbols = Some(c))
                .contains("is not a power of two in [4096, 1048576]"));
        }
        assert_eq!(
            rejects(|h| {
                h.tensors[1].planes.pop();
            }),
            "1 planes, BF16 has 2"
        );
        assert!(rejects(|h| h.tensors[1].planes[0].offset = 130).contains("plane 0 is misaligned"));
        assert!(rejects(|h| h.tensors[1].planes[0].offset = 64)
            .contains("plane 0 is misaligned, lies outside its region or overlaps"));
        assert!(rejects(|h| h.tensors[1].planes[1].offset = 256)
            .contains("plane 1 is misaligned, lies outside its region or overlaps"));
        assert!(rejects(|h| h.tensors[1].planes[1].bytes = 8193).contains("plane 1"));
        assert_eq!(
            rejects(|h| h.tensors[1].planes[0].bytes = u64::MAX),
            "plane 0 size overflows"
        );
        assert_eq!(
            rejects(|h| h.tensors[1].planes[1].bytes = 8000),
            "plane 1 of 8000 bytes cannot hold 8192 symbols"
        );
        // Two chunks need at least 2·132 − 128 = 136 stored bytes.
        assert_eq!(
            rejects(|h| h.tensors[1].planes[0].bytes = 135),
            "plane 0 of 135 bytes cannot hold 8192 symbols"
        );
        let mut h = header(vec![planes("p", 128)]);
        h.tensors[0].planes[0].bytes = 136;
        h.validate(END).unwrap();
    }

    #[test]
    fn unpack_checks_its_preamble() {
        let h = header(vec![raw("r", 64, 10)]);
        let (stored, json_bytes) = h.pack();
        let p = Preamble {
            version: VERSION,
            header_offset: 128,
            header_stored_bytes: stored.len() as u64,
            header_json_bytes: json_bytes,
            header_xxh3: xxhash_rust::xxh3::xxh3_64(&stored),
            file_bytes: 128 + stored.len() as u64,
        };
        let back = Header::unpack(&stored, &p).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&h).unwrap()
        );
        let text = |r: Result<Header>| match r {
            Err(Error::Corrupt(t)) => t,
            other => panic!("expected Error::Corrupt, got {other:?}"),
        };
        let mut bad = stored.clone();
        bad[0] ^= 1;
        assert_eq!(text(Header::unpack(&bad, &p)), "header checksum mismatch");
        let short = Preamble {
            header_json_bytes: json_bytes - 1,
            ..p
        };
        assert!(text(Header::unpack(&stored, &short)).starts_with("header does not inflate"));
        let long = Preamble {
            header_json_bytes: json_bytes + 1,
            ..p
        };
        assert!(text(Header::unpack(&stored, &long)).contains("preamble says"));
        let mut other = h.clone();
        other.version = 1;
        let (s2, j2) = other.pack();
        let p2 = Preamble {
            header_json_bytes: j2,
            header_xxh3: xxhash_rust::xxh3::xxh3_64(&s2),
            ..p
        };
        assert!(text(Header::unpack(&s2, &p2))
            .contains("header version 1 differs from preamble version 2"));
    }

    #[test]
    fn checksums_are_16_hex_digits() {
        let h = header(vec![raw("r", 64, 10)]);
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.contains("\"xxh3\":\"0000000000000000\""));
        for bad in [
            "\"00\"",
            "\"000000000000000g\"",
            "\"00000000000000000\"",
            "12",
        ] {
            let edited = json.replacen(
                "\"xxh3\":\"0000000000000000\"",
                &format!("\"xxh3\":{bad}"),
                1,
            );
            assert!(serde_json::from_str::<Header>(&edited).is_err(), "{bad}");
        }
        let edited = json.replacen("\"dtype\":\"U8\"", "\"dtype\":\"I4\"", 1);
        assert!(serde_json::from_str::<Header>(&edited)
            .unwrap_err()
            .to_string()
            .contains("unsupported dtype `I4`"));
        // Unknown keys are ignored (format.md §3).
        let edited = json.replacen('{', "{\"future\":[1,2],", 1);
        assert!(serde_json::from_str::<Header>(&edited).is_ok());
    }
}
