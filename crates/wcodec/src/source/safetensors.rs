//! safetensors files (safetensors 0.8 rules): `u64 LE N`, `N` bytes of JSON header, data buffer.
//!
//! Validation mirrors `safetensors::Metadata::validate`: header ≤ 100,000,000 bytes, starts with
//! `{`, no duplicate names (serde would silently keep the last), offsets sorted, contiguous from
//! 0 and covering the whole buffer, each tensor's size equal to its shape × dtype width, all
//! arithmetic checked. The header text is kept verbatim so the file can be rebuilt byte for byte.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::dtype::{element_count, Dtype};
use crate::error::{Error, Result};

/// safetensors' own cap on the header size.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// A parsed safetensors file borrowing the file's bytes.
#[derive(Debug)]
pub struct SafetensorsFile<'a> {
    /// The JSON header, verbatim (including trailing padding).
    pub header: &'a str,
    /// The data buffer.
    pub data: &'a [u8],
    /// Tensors in data order.
    pub tensors: Vec<SourceTensor>,
}

/// One tensor as the source header describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceTensor {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<u64>,
    /// Start in the data buffer.
    pub begin: u64,
    /// End in the data buffer.
    pub end: u64,
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::source("safetensors", detail)
}

/// Parses and validates a whole safetensors file.
pub fn parse(bytes: &[u8]) -> Result<SafetensorsFile<'_>> {
    if bytes.starts_with(b"GGUF") {
        return Err(invalid("this is a GGUF file; wcodec reads safetensors files and model directories only (GGUF is planned)"));
    }
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| {
            invalid(format!(
                "file of {} bytes is shorter than the 8-byte length prefix",
                bytes.len()
            ))
        })?;
    if n > MAX_HEADER_BYTES {
        return Err(invalid(format!(
            "header of {n} bytes exceeds the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    let header_end = 8 + n as usize;
    let header_bytes = bytes.get(8..header_end).ok_or_else(|| {
        invalid(format!(
            "header of {n} bytes runs past the {}-byte file",
            bytes.len()
        ))
    })?;
    let header = std::str::from_utf8(header_bytes)
        .map_err(|e| invalid(format!("header is not UTF-8: {e}")))?;
    let data = &bytes[header_end..];
    let tensors = parse_header(header, data.len() as u64)?;
    Ok(SafetensorsFile {
        header,
        data,
        tensors,
    })
}

/// Parses a header and checks it against a data buffer of `data_bytes` bytes; returns the
/// tensors in data order (ties between empty tensors keep header order).
pub fn parse_header(header: &str, data_bytes: u64) -> Result<Vec<SourceTensor>> {
    if !header.starts_with('{') {
        return Err(invalid("header does not start with `{`"));
    }
    let entries: Entries =
        serde_json::from_str(header).map_err(|e| invalid(format!("header JSON: {e}")))?;
    let mut tensors = Vec::with_capacity(entries.0.len());
    for (name, value) in entries.0 {
        if name == "__metadata__" {
            let ok = value
                .as_object()
                .is_some_and(|m| m.values().all(serde_json::Value::is_string));
            if !ok {
                return Err(invalid("`__metadata__` must map strings to strings"));
            }
            continue;
        }
        let info: TensorInfo =
            serde_json::from_value(value).map_err(|e| invalid(format!("tensor `{name}`: {e}")))?;
        let dtype = Dtype::parse(&info.dtype)
            .map_err(|_| invalid(format!("tensor `{name}`: unknown dtype `{}`", info.dtype)))?;
        let [begin, end] = info.data_offsets;
        tensors.push(SourceTensor {
            name,
            dtype,
            shape: info.shape,
            begin,
            end,
        });
    }
    tensors.sort_by_key(|t| (t.begin, t.end));
    let mut pos = 0u64;
    for t in &tensors {
        if t.begin != pos || t.end < t.begin {
            return Err(invalid(format!(
                "tensor `{}` at [{}, {}) leaves a gap or overlaps (expected start {pos})",
                t.name, t.begin, t.end
            )));
        }
        let expected = element_count(&t.shape)
            .and_then(|n| t.dtype.bytes_for(n))
            .ok_or_else(|| {
                invalid(format!(
                    "tensor `{}`: shape {:?} overflows",
                    t.name, t.shape
                ))
            })?;
        if t.end - t.begin != expected {
            return Err(invalid(format!(
                "tensor `{}`: {} bytes for {} {:?} (expected {expected})",
                t.name,
                t.end - t.begin,
                t.dtype,
                t.shape
            )));
        }
        pos = t.end;
    }
    if pos != data_bytes {
        return Err(invalid(format!(
            "tensors cover {pos} bytes of a {data_bytes}-byte data buffer"
        )));
    }
    Ok(tensors)
}

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// A JSON object kept in order, rejecting duplicate keys.
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                    }
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Writes a safetensors file: `u64 LE len(header)`, header, then the tensors' bytes in data
/// order. Used to rebuild a source file and by tests to make fixtures.
pub fn prefix(header: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + header.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Builds a valid safetensors file in memory from `(name, dtype, shape, bytes)`, in the order
/// given, header padded with spaces to a multiple of 8 like the reference writer.
pub fn build(
    tensors: &[(&str, Dtype, &[u64], &[u8])],
    metadata: Option<&[(&str, &str)]>,
) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    if let Some(meta) = metadata {
        let m: serde_json::Map<String, serde_json::Value> = meta
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        obj.insert("__metadata__".into(), m.into());
    }
    let mut pos = 0u64;
    for (name, dtype, shape, bytes) in tensors {
        let end = pos + bytes.len() as u64;
        obj.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [pos, end]}),
        );
        pos = end;
    }
    let mut header = serde_json::to_string(&obj).expect("serialises");
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut out = prefix(&header);
    for (_, _, _, bytes) in tensors {
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_builds() {
        let a = [1u8, 2, 3, 4];
        let f = build(
            &[("b", Dtype::I16, &[2], &a), ("a", Dtype::U8, &[0], &[])],
            Some(&[("format", "pt")]),
        );
        let p = parse(&f).unwrap();
        assert_eq!(p.tensors.len(), 2);
        assert_eq!(p.tensors[0].name, "b");
        assert_eq!(p.header.len() % 8, 0);
    }

    #[test]
    fn rejects_what_safetensors_rejects() {
        let h = |json: &str, data: usize| {
            let mut f = prefix(json);
            f.extend(std::iter::repeat_n(0u8, data));
            parse(&f).unwrap_err().to_string()
        };
        assert!(h(r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, 2).contains("duplicate"));
        assert!(h(
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
            3
        )
        .contains("cover 2 bytes"));
        assert!(h(
            r#"{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,2]}}"#,
            2
        )
        .contains("expected 3"));
        assert!(h(
            r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
            2
        )
        .contains("gap"));
        assert!(h(
            r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#,
            1
        )
        .contains("unknown dtype"));
        assert!(h(" {}", 0).contains("start with"));
        assert!(h(
            r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,1]}}"#,
            1
        )
        .contains("overflows"));
        assert!(parse(&[1, 2, 3])
            .unwrap_err()
            .to_string()
            .contains("shorter"));
        let mut huge = (MAX_HEADER_BYTES + 1).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(parse(&huge).unwrap_err().to_string().contains("limit"));
    }
}
