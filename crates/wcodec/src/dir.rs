//! Model directories (format.md §7): `*.safetensors` files are encoded one `.wcodec` file each,
//! everything else (config, tokenizer, index, README, sub-folders) is copied unchanged; decoding
//! restores every file. The output directory is built under a temporary name and renamed into
//! place, so a failed run leaves nothing half-written.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::archive::Archive;
use crate::decoder::{decode_file, write_checked, DecodeOptions, DecodeStats};
use crate::encoder::{encode_bytes, encode_file, EncodeOptions, EncodeStats};
use crate::error::{Error, Result};
use crate::io::{check_output, map_file, replace, temp_path_for};
use crate::progress::Progress;

/// Extension of encoded files.
pub const WCODEC_EXT: &str = "wcodec";
/// The Hugging Face shard index.
pub const SOURCE_INDEX: &str = "model.safetensors.index.json";
/// The index wcodec adds beside it, pointing at `.wcodec` shards.
pub const WCODEC_INDEX: &str = "model.wcodec.index.json";
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
        .find(|f| has_ext(f, WCODEC_EXT) || f.file_name().is_some_and(|n| n == WCODEC_INDEX))
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
    let staging = StagingDir::create(output)?;
    let mut stats = EncodeStats::default();
    for rel in &files {
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
                .map_err(|e| in_file(e, &src))?;
            w.into_inner()
                .map_err(|e| Error::io("write", &dst, e.into_error()))?;
            stats.add(&s);
        } else {
            let n = copy(&src, &staging.file(rel)?)?;
            stats.original_bytes += n;
            stats.encoded_bytes += n;
            stats.bound_bytes += n;
            if rel.file_name().is_some_and(|n| n == SOURCE_INDEX) {
                let index = wcodec_index(&src)?;
                let dst = staging.file(&rel.with_file_name(WCODEC_INDEX))?;
                std::fs::write(&dst, index).map_err(|e| Error::io("write", &dst, e))?;
            }
        }
    }
    staging.commit(output)?;
    Ok(stats)
}

/// Names the file an error happened in, unless the error already names a path.
fn in_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Io { .. } => e,
        other => Error::InvalidInput(format!("`{}`: {other}", path.display())),
    }
}

/// The shard index with every weight pointing at the `.wcodec` shard.
fn wcodec_index(src: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read(src).map_err(|e| Error::io("read", src, e))?;
    let mut index: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::source("safetensors index", format!("`{}`: {e}", src.display())))?;
    if let Some(map) = index
        .get_mut("weight_map")
        .and_then(serde_json::Value::as_object_mut)
    {
        for shard in map.values_mut() {
            if let Some(name) = shard.as_str().and_then(|s| s.strip_suffix(".safetensors")) {
                *shard = format!("{name}.{WCODEC_EXT}").into();
            }
        }
    }
    let mut out = serde_json::to_vec_pretty(&index).expect("serialises");
    out.push(b'\n');
    Ok(out)
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
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(Error::corrupt(format!(
                "`{}` names an invalid source file `{name}`",
                rel.display()
            )));
        }
        let dst = claim(rel.with_file_name(name))?;
        let file = File::create(&dst).map_err(|e| Error::io("create", &dst, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let s = write_checked(archive, &mut w, &Nested(progress))
            .map_err(|e| in_file(e, &input.join(rel)))?;
        w.into_inner()
            .map_err(|e| Error::io("write", &dst, e.into_error()))?;
        stats.add(&s);
    }
    for rel in files.iter().filter(|f| !has_ext(f, WCODEC_EXT)) {
        if rel.file_name().is_some_and(|n| n == WCODEC_INDEX) {
            continue;
        }
        let n = copy(&input.join(rel), &claim(rel.clone())?)?;
        stats.encoded_bytes += n;
        stats.decoded_bytes += n;
    }
    staging.commit(output)?;
    Ok(stats)
}
