//! Model directories (format.md §7): `*.safetensors` files are encoded one `.wcodec` file each,
//! a safetensors shard index `X.safetensors.index.json` becomes `X.wcodec.index.json` (pointing
//! at the `.wcodec` shards and holding the original index verbatim), everything else (config,
//! tokenizer, README, sub-folders) is copied unchanged; decoding restores every file. No
//! `*.safetensors.index.json` is left in an encoded directory: tools that find one (vLLM,
//! Transformers) would try to load the `.safetensors` shards it lists, which are not there.
//!
//! The output directory is built under a temporary name and renamed into place, so a failed run
//! leaves nothing half-written.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::archive::Archive;
use crate::decoder::{decode_file, write_checked, DecodeOptions, DecodeStats};
use crate::encoder::{check_cancelled, encode_bytes, encode_file, EncodeOptions, EncodeStats};
use crate::error::{Error, Result};
use crate::io::{check_output, map_file, replace, temp_path_for};
use crate::progress::Progress;

/// Extension of encoded files.
pub const WCODEC_EXT: &str = "wcodec";
/// The Hugging Face shard index.
pub const SOURCE_INDEX: &str = "model.safetensors.index.json";
/// The index wcodec writes in its place, pointing at `.wcodec` shards.
pub const WCODEC_INDEX: &str = "model.wcodec.index.json";
/// How a safetensors shard index's name ends (`model.safetensors.index.json`,
/// `diffusion_pytorch_model.safetensors.index.json`, …).
const SOURCE_INDEX_SUFFIX: &str = ".safetensors.index.json";
/// How the name of the index wcodec writes in its place ends.
const WCODEC_INDEX_SUFFIX: &str = ".wcodec.index.json";
/// The key of a wcodec index that holds the original safetensors index.
const RESTORES_KEY: &str = "wcodec_restores";
/// Symlinked directories are followed; this bounds a cycle.
const MAX_DEPTH: usize = 32;

/// Encodes a file or a model directory.
pub fn encode_path(
    input: &Path,
    output: &Path,
    options: &EncodeOptions,
    progress: &dyn Progress,
) -> Result<EncodeStats> {
    if input.is_dir() {
        encode_dir(input, output, options, progress)
    } else {
        encode_file(input, output, options, progress)
    }
}

/// Decodes a `.wcodec` file or an encoded model directory.
pub fn decode_path(
    input: &Path,
    output: &Path,
    options: &DecodeOptions,
    progress: &dyn Progress,
) -> Result<DecodeStats> {
    if input.is_dir() {
        decode_dir(input, output, options, progress)
    } else {
        decode_file(input, output, options, progress)
    }
}

/// Relative paths of every regular file under `root` (symlinks followed), sorted.
pub fn list_files(root: &Path) -> Result<Vec<PathBuf>> {
    fn walk(root: &Path, rel: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::InvalidInput(format!(
                "`{}` nests deeper than {MAX_DEPTH} levels",
                root.join(rel).display()
            )));
        }
        let dir = root.join(rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io("read directory", &dir, e))?
            .map(|e| {
                e.map(|e| e.file_name())
                    .map_err(|err| Error::io("read directory", &dir, err))
            })
            .collect::<Result<_>>()?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let meta = std::fs::metadata(&path).map_err(|e| Error::io("stat", &path, e))?;
            if meta.is_dir() {
                walk(root, &rel.join(&name), depth + 1, out)?;
            } else if meta.is_file() {
                out.push(rel.join(&name));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), 0, &mut out)?;
    Ok(out)
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

/// Forwards progress but not `start`, so one bar spans every file of a directory.
struct Nested<'a>(&'a dyn Progress);

impl Progress for Nested<'_> {
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }

    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

/// A directory being built under a temporary name.
struct StagingDir {
    tmp: PathBuf,
    done: bool,
}

impl StagingDir {
    fn create(target: &Path) -> Result<StagingDir> {
        let tmp = temp_path_for(target);
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("create directory", &tmp, e))?;
        Ok(StagingDir { tmp, done: false })
    }

    fn file(&self, rel: &Path) -> Result<PathBuf> {
        let path = self.tmp.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("create directory", parent, e))?;
        }
        Ok(path)
    }

    fn commit(mut self, target: &Path) -> Result<()> {
        replace(&self.tmp, target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

fn copy(from: &Path, to: &Path) -> Result<u64> {
    std::fs::copy(from, to).map_err(|e| Error::io("copy", from, e))
}

/// Encodes a model directory.
pub fn encode_dir(
    input: &Path,
    output: &Path,
    options: &EncodeOptions,
    progress: &dyn Progress,
) -> Result<EncodeStats> {
    check_output(input, output, options.overwrite)?;
    let files = list_files(input)?;
    if let Some(f) = files
        .iter()
        .find(|f| has_ext(f, WCODEC_EXT) || name_ends_with(f, WCODEC_INDEX_SUFFIX))
    {
        return Err(Error::InvalidInput(format!(
            "`{}` is already wcodec output",
            input.join(f).display()
        )));
    }
    let total: u64 = files
        .iter()
        .filter(|f| has_ext(f, "safetensors"))
        .map(|f| std::fs::metadata(input.join(f)).map_or(0, |m| m.len()))
        .sum();
    progress.start(total);
    check_cancelled(progress)?;
    let staging = StagingDir::create(output)?;
    let mut stats = EncodeStats::default();
    for rel in &files {
        // Copies advance no bytes; a directory of many small files still stops promptly.
        check_cancelled(progress)?;
        let src = input.join(rel);
        if has_ext(rel, "safetensors") {
            let dst = staging.file(&rel.with_extension(WCODEC_EXT))?;
            let bytes = map_file(&src)?;
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = File::create(&dst).map_err(|e| Error::io("create", &dst, e))?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let s = encode_bytes(&bytes, &name, options, &mut w, &Nested(progress))
                .map_err(|e| e.in_file(&src))?;
            w.into_inner()
                .map_err(|e| Error::io("write", &dst, e.into_error()))?;
            stats.add(&s);
        } else if let Some(name) = wcodec_index_name(rel) {
            let (index, original) = wcodec_index(&src)?;
            let dst = staging.file(&rel.with_file_name(name))?;
            std::fs::write(&dst, &index).map_err(|e| Error::io("write", &dst, e))?;
            stats.original_bytes += original;
            stats.encoded_bytes += index.len() as u64;
            stats.bound_bytes += original;
        } else {
            let n = copy(&src, &staging.file(rel)?)?;
            stats.original_bytes += n;
            stats.encoded_bytes += n;
            stats.bound_bytes += n;
        }
    }
    staging.commit(output)?;
    Ok(stats)
}

fn name_ends_with(path: &Path, suffix: &str) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() > suffix.len() && n.ends_with(suffix))
}

/// `X.wcodec.index.json` for a safetensors shard index `X.safetensors.index.json`.
fn wcodec_index_name(rel: &Path) -> Option<String> {
    let name = rel.file_name()?.to_str()?;
    let stem = name.strip_suffix(SOURCE_INDEX_SUFFIX)?;
    (!stem.is_empty()).then(|| format!("{stem}{WCODEC_INDEX_SUFFIX}"))
}

/// The wcodec index for the safetensors index at `src`: its `metadata`, its `weight_map` with
/// every shard renamed to `.wcodec`, and under [`RESTORES_KEY`] the original's name and text,
/// verbatim, from which decoding restores it byte for byte. Returns the index and the size of
/// the original.
fn wcodec_index(src: &Path) -> Result<(Vec<u8>, u64)> {
    let bytes = std::fs::read(src).map_err(|e| Error::io("read", src, e))?;
    let fail = |detail: String| Error::source("safetensors index", detail).in_file(src);
    let text = std::str::from_utf8(&bytes).map_err(|e| fail(e.to_string()))?;
    let mut index: serde_json::Value =
        serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
    let Some(object) = index.as_object_mut() else {
        return Err(fail("not a JSON object".into()));
    };
    if let Some(map) = object
        .get_mut("weight_map")
        .and_then(serde_json::Value::as_object_mut)
    {
        for shard in map.values_mut() {
            if let Some(name) = shard.as_str().and_then(|s| s.strip_suffix(".safetensors")) {
                *shard = format!("{name}.{WCODEC_EXT}").into();
            }
        }
    }
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    object.insert(
        RESTORES_KEY.into(),
        serde_json::json!({ "file_name": name, "text": text }),
    );
    let mut out = serde_json::to_vec_pretty(&index).expect("serialises");
    out.push(b'\n');
    Ok((out, bytes.len() as u64))
}

/// What a wcodec index restores: the original safetensors index's file name and bytes. `None`
/// for an index written before wcodec kept the original inside it (the original was then copied
/// beside it and is restored as an ordinary file).
pub fn restored_index(path: &Path) -> Result<Option<(String, Vec<u8>)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let index: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::corrupt(format!("wcodec index is not valid JSON: {e}")).in_file(path)
    })?;
    let Some(restores) = index.get(RESTORES_KEY) else {
        return Ok(None);
    };
    let name = restores
        .get("file_name")
        .and_then(serde_json::Value::as_str);
    let text = restores.get("text").and_then(serde_json::Value::as_str);
    match (name, text) {
        (Some(name), Some(text)) if is_plain_file_name(name) && name.ends_with(SOURCE_INDEX_SUFFIX) => {
            Ok(Some((name.to_owned(), text.as_bytes().to_vec())))
        }
        _ => Err(Error::corrupt(format!(
            "`{RESTORES_KEY}` must hold the `file_name` (ending in `{SOURCE_INDEX_SUFFIX}`) and `text` of the original index"
        ))
        .in_file(path)),
    }
}

/// Whether a file index is a wcodec index (`X.wcodec.index.json`).
pub fn is_wcodec_index(rel: &Path) -> bool {
    name_ends_with(rel, WCODEC_INDEX_SUFFIX)
}

fn is_plain_file_name(name: &str) -> bool {
    !(name.is_empty() || name.contains(['/', '\\']) || name == "." || name == "..")
}

/// Decodes an encoded model directory.
pub fn decode_dir(
    input: &Path,
    output: &Path,
    options: &DecodeOptions,
    progress: &dyn Progress,
) -> Result<DecodeStats> {
    check_output(input, output, options.overwrite)?;
    let files = list_files(input)?;
    let mut archives = Vec::new();
    let mut total = 0;
    for rel in files.iter().filter(|f| has_ext(f, WCODEC_EXT)) {
        let a = Archive::open(&input.join(rel))?;
        total += a.source_bytes();
        archives.push((rel, a));
    }
    progress.start(total);
    let staging = StagingDir::create(output)?;
    let mut written = std::collections::HashSet::new();
    let mut claim = |rel: PathBuf| -> Result<PathBuf> {
        if !written.insert(rel.clone()) {
            return Err(Error::corrupt(format!(
                "two inputs restore to `{}`",
                rel.display()
            )));
        }
        staging.file(&rel)
    };
    let mut stats = DecodeStats::default();
    for (rel, archive) in &archives {
        let name = &archive.header().source.file_name;
        if !is_plain_file_name(name) {
            return Err(Error::corrupt(format!(
                "`{}` names an invalid source file `{name}`",
                rel.display()
            )));
        }
        let dst = claim(rel.with_file_name(name))?;
        let file = File::create(&dst).map_err(|e| Error::io("create", &dst, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let s = write_checked(archive, &mut w, &Nested(progress))
            .map_err(|e| e.in_file(&input.join(rel)))?;
        w.into_inner()
            .map_err(|e| Error::io("write", &dst, e.into_error()))?;
        stats.add(&s);
    }
    for rel in files.iter().filter(|f| !has_ext(f, WCODEC_EXT)) {
        if is_wcodec_index(rel) {
            // An older encoded directory kept the original index beside this one: it is copied
            // below as an ordinary file.
            if let Some((name, text)) = restored_index(&input.join(rel))? {
                let dst = claim(rel.with_file_name(name))?;
                std::fs::write(&dst, &text).map_err(|e| Error::io("write", &dst, e))?;
                let n = text.len() as u64;
                stats.encoded_bytes += n;
                stats.decoded_bytes += n;
            }
            continue;
        }
        let n = copy(&input.join(rel), &claim(rel.clone())?)?;
        stats.encoded_bytes += n;
        stats.decoded_bytes += n;
    }
    staging.commit(output)?;
    Ok(stats)
}
