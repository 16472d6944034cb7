//! Comparing an original checkpoint with a decoded one, tensor by tensor (`wcodec-verify`).
//!
//! The decoded side may be a rebuilt safetensors file (or directory) or a `.wcodec` file (or
//! directory) decoded on the fly.

use std::path::{Path, PathBuf};

use crate::archive::Archive;
use crate::dir::{is_wcodec_index, list_files, restored_index, WCODEC_EXT};
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::io::map_file;
use crate::source::safetensors;

/// The outcome of a comparison.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Files compared.
    pub n_files: usize,
    /// Tensors compared.
    pub n_tensors: usize,
    /// Whether every file is byte-identical (headers, metadata and padding included).
    pub files_identical: bool,
    /// The first difference found, if any.
    pub first_mismatch: Option<Mismatch>,
}

/// One difference.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Mismatch {
    /// File (relative to the compared root).
    pub file: String,
    /// Tensor, when the difference is in one.
    pub tensor: Option<String>,
    /// What differs.
    pub detail: String,
    /// Largest absolute difference between elements, for numeric dtypes of equal shape.
    pub max_abs_diff: Option<f64>,
}

/// Compares `original` with `decoded` (files or directories).
pub fn verify(original: &Path, decoded: &Path) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        files_identical: true,
        ..VerifyReport::default()
    };
    if original.is_dir() {
        let pairs = pair_dir(original, decoded)?;
        for (rel, orig, dec) in pairs {
            compare_file(&rel, &orig, &dec, &mut report)?;
            if report.first_mismatch.is_some() {
                break;
            }
        }
    } else {
        let rel = original
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        compare_file(&rel, original, decoded, &mut report)?;
    }
    Ok(report)
}

/// Pairs every original file with its decoded counterpart (a `.wcodec` counts for the file it
/// restores).
fn pair_dir(original: &Path, decoded: &Path) -> Result<Vec<(String, PathBuf, PathBuf)>> {
    let decoded_files = list_files(decoded)?;
    let mut map = std::collections::HashMap::new();
    for rel in &decoded_files {
        let restored = if is_wcodec_index(rel) {
            // An older wcodec index restores nothing: the original was copied beside it.
            match restored_index(&decoded.join(rel))? {
                Some((name, _)) => rel.with_file_name(name),
                None => continue,
            }
        } else if rel.extension().is_some_and(|e| e == WCODEC_EXT) {
            let a = Archive::open(&decoded.join(rel))?;
            rel.with_file_name(&a.header().source.file_name)
        } else {
            rel.clone()
        };
        map.insert(restored, decoded.join(rel));
    }
    let mut pairs = Vec::new();
    for rel in list_files(original)? {
        let dec = map.remove(&rel).ok_or_else(|| {
            Error::InvalidInput(format!(
                "`{}` has no counterpart in `{}`",
                rel.display(),
                decoded.display()
            ))
        })?;
        pairs.push((rel.display().to_string(), original.join(&rel), dec));
    }
    if let Some(extra) = map.keys().next() {
        return Err(Error::InvalidInput(format!(
            "`{}` in `{}` has no original",
            extra.display(),
            decoded.display()
        )));
    }
    Ok(pairs)
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// Finds a decoded tensor by name: its dtype, shape and bytes.
type Lookup<'a> = dyn Fn(&str) -> Result<Option<(Dtype, Vec<u64>, Vec<u8>)>> + 'a;

fn compare_file(
    rel: &str,
    original: &Path,
    decoded: &Path,
    report: &mut VerifyReport,
) -> Result<()> {
    report.n_files += 1;
    let orig_bytes = map_file(original)?;
    let mismatch = |tensor: Option<&str>, detail: String, diff: Option<f64>| Mismatch {
        file: rel.to_owned(),
        tensor: tensor.map(str::to_owned),
        detail,
        max_abs_diff: diff,
    };
    let is_wcodec = decoded.extension().is_some_and(|e| e == WCODEC_EXT);
    if !is_safetensors(original) {
        let same = if is_wcodec_index(decoded) {
            restored_index(decoded)?.is_some_and(|(_, text)| orig_bytes[..] == text[..])
        } else {
            orig_bytes[..] == map_file(decoded)?[..]
        };
        if !same {
            report.files_identical = false;
            report.first_mismatch = Some(mismatch(None, "file contents differ".into(), None));
        }
        return Ok(());
    }
    let orig = safetensors::parse(&orig_bytes)
        .map_err(|e| Error::InvalidInput(format!("`{}`: {e}", original.display())))?;
    // The decoded tensors, by name, as (dtype, shape, bytes) fetched lazily.
    let archive;
    let dec_bytes;
    let dec_st;
    let lookup: Box<Lookup<'_>> = if is_wcodec {
        archive = Archive::open(decoded)?;
        let identical =
            archive.header().source.file_xxh3 == xxhash_rust::xxh3::xxh3_64(&orig_bytes);
        report.files_identical &= identical;
        let a = &archive;
        Box::new(move |name| match a.find(name) {
            Ok(i) => {
                let t = &a.tensors()[i];
                Ok(Some((t.dtype, t.shape.clone(), a.decode(i)?)))
            }
            Err(Error::TensorNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
    } else {
        dec_bytes = map_file(decoded)?;
        report.files_identical &= orig_bytes[..] == dec_bytes[..];
        dec_st = safetensors::parse(&dec_bytes)
            .map_err(|e| Error::InvalidInput(format!("`{}`: {e}", decoded.display())))?;
        let st = &dec_st;
        Box::new(move |name| {
            Ok(st.tensors.iter().find(|t| t.name == name).map(|t| {
                (
                    t.dtype,
                    t.shape.clone(),
                    st.data[t.begin as usize..t.end as usize].to_vec(),
                )
            }))
        })
    };
    for t in &orig.tensors {
        let want = &orig.data[t.begin as usize..t.end as usize];
        let found = lookup(&t.name)?;
        let problem = match found {
            None => Some(("missing from the decoded file".to_owned(), None)),
            Some((dtype, shape, _)) if dtype != t.dtype || shape != t.shape => Some((
                format!("{dtype} {shape:?} instead of {} {:?}", t.dtype, t.shape),
                None,
            )),
            Some((_, _, bytes)) if bytes != want => Some((
                "bytes differ".to_owned(),
                max_abs_diff(t.dtype, want, &bytes),
            )),
            Some(_) => None,
        };
        if let Some((detail, diff)) = problem {
            report.files_identical = false;
            report.first_mismatch = Some(mismatch(Some(&t.name), detail, diff));
            return Ok(());
        }
        report.n_tensors += 1;
    }
    if !report.files_identical {
        report.first_mismatch = Some(mismatch(
            None,
            "tensors match but header, metadata or padding differ".into(),
            None,
        ));
    }
    Ok(())
}

/// Largest |a − b| over elements, for the numeric dtypes where it means something.
pub(crate) fn max_abs_diff(dtype: Dtype, a: &[u8], b: &[u8]) -> Option<f64> {
    let a = to_f64(dtype, a)?;
    let b = to_f64(dtype, b)?;
    if a.len() != b.len() {
        return None;
    }
    // Equal infinities would give NaN through subtraction; they differ by nothing.
    #[allow(clippy::float_cmp)]
    let diff = |x: &f64, y: &f64| if x == y { 0.0 } else { (x - y).abs() };
    Some(
        a.iter()
            .zip(&b)
            .map(|(x, y)| diff(x, y))
            .fold(0.0, f64::max),
    )
}

fn to_f64(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    fn words<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("N bytes")))
            .collect()
    }
    Some(match dtype {
        Dtype::Bool | Dtype::U8 => bytes.iter().map(|&b| f64::from(b)).collect(),
        Dtype::I8 => bytes.iter().map(|&b| f64::from(b as i8)).collect(),
        Dtype::I16 => words(bytes, |w| f64::from(i16::from_le_bytes(w))),
        Dtype::U16 => words(bytes, |w| f64::from(u16::from_le_bytes(w))),
        Dtype::I32 => words(bytes, |w| f64::from(i32::from_le_bytes(w))),
        Dtype::U32 => words(bytes, |w| f64::from(u32::from_le_bytes(w))),
        Dtype::I64 => words(bytes, |w| i64::from_le_bytes(w) as f64),
        Dtype::U64 => words(bytes, |w| u64::from_le_bytes(w) as f64),
        Dtype::F32 => words(bytes, |w| f64::from(f32::from_le_bytes(w))),
        Dtype::F64 => words(bytes, f64::from_le_bytes),
        Dtype::BF16 => words(bytes, |w: [u8; 2]| {
            f64::from(f32::from_bits(u32::from(u16::from_le_bytes(w)) << 16))
        }),
        Dtype::F16 => words(bytes, |w| {
            minifloat(u32::from(u16::from_le_bytes(w)), 5, 10)
        }),
        Dtype::F8E5M2 => bytes
            .iter()
            .map(|&b| minifloat(u32::from(b), 5, 2))
            .collect(),
        _ => return None,
    })
}

/// Value of an IEEE-style binary float with `e` exponent and `m` mantissa bits.
fn minifloat(bits: u32, e: u32, m: u32) -> f64 {
    let sign = if bits >> (e + m) & 1 == 1 { -1.0 } else { 1.0 };
    let exp = (bits >> m) & ((1 << e) - 1);
    let man = f64::from(bits & ((1 << m) - 1));
    let bias = (1i32 << (e - 1)) - 1;
    let scale = f64::from(1u32 << m);
    if exp == 0 {
        sign * man / scale * 2f64.powi(1 - bias)
    } else if exp == (1 << e) - 1 {
        if man == 0.0 {
            sign * f64::INFINITY
        } else {
            f64::NAN
        }
    } else {
        sign * (1.0 + man / scale) * 2f64.powi(exp as i32 - bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::float_cmp)]
    fn diff_of_known_values() {
        let a: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = [1.0f32, 2.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(max_abs_diff(Dtype::F32, &a, &b), Some(0.5));
        assert_eq!(minifloat(0x3C00, 5, 10), 1.0);
        assert_eq!(minifloat(0xC000, 5, 10), -2.0);
        assert_eq!(max_abs_diff(Dtype::F8E4M3, &[1], &[2]), None);
    }
}
