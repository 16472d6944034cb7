//! Output files are written atomically (a temporary file in the same directory, renamed into
//! place on success) and never over an input.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary path beside `target`, unique in this process.
pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.wcodec-tmp-{}-{n}", std::process::id()))
}

/// Refuses `output` when it is `input` (or inside a directory `input`), or when it exists and
/// `overwrite` is off.
pub fn check_output(input: &Path, output: &Path, overwrite: bool) -> Result<()> {
    let input_abs = input
        .canonicalize()
        .map_err(|e| Error::io("open", input, e))?;
    let output_abs = absolute(output)?;
    if output_abs == input_abs || output_abs.starts_with(&input_abs) && input_abs.is_dir() {
        return Err(Error::InvalidInput(format!(
            "output `{}` would overwrite the input `{}`",
            output.display(),
            input.display()
        )));
    }
    if output.exists() && !overwrite {
        return Err(Error::InvalidInput(format!(
            "output `{}` already exists (pass --force to replace it)",
            output.display()
        )));
    }
    Ok(())
}

/// `path` made absolute with symlinks resolved as far as it exists.
fn absolute(path: &Path) -> Result<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Ok(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent
        .canonicalize()
        .map_err(|e| Error::io("open directory", &parent, e))?;
    Ok(parent.join(path.file_name().unwrap_or_default()))
}

/// A file being written to a temporary name; [`AtomicFile::commit`] renames it into place, and
/// dropping it uncommitted removes it.
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary file beside `target`.
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let tmp = temp_path_for(target);
        let file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("not yet committed")
    }

    /// Path of the temporary file (for error messages).
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("committed once");
        let file = writer
            .into_inner()
            .map_err(|e| Error::io("write", &self.tmp, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("sync", &self.tmp, e))?;
        drop(file);
        replace(&self.tmp, &self.target)?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Renames `from` onto `to`, replacing a file or directory already there.
pub(crate) fn replace(from: &Path, to: &Path) -> Result<()> {
    if to.is_dir() && !to.is_symlink() {
        std::fs::remove_dir_all(to).map_err(|e| Error::io("replace", to, e))?;
    }
    std::fs::rename(from, to).map_err(|e| Error::io("rename into", to, e))
}

/// Opens a file read-only and maps it. An empty file maps to an empty slice.
pub(crate) fn map_file(path: &Path) -> Result<Mapped> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if len == 0 {
        return Ok(Mapped::Empty);
    }
    // SAFETY: the map is read-only and every byte read from it is validated; like safetensors,
    // we accept that another process truncating or rewriting the file while it is mapped is
    // outside the contract (a truncation raises SIGBUS; a rewrite fails the checksums).
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("map", path, e))?;
    Ok(Mapped::Map(map))
}

/// A read-only file image: memory-mapped, or owned bytes (tests, fuzzing, empty files).
pub enum Mapped {
    /// A memory map.
    Map(memmap2::Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
    /// An empty file (cannot be mapped).
    Empty,
}

impl Mapped {
    /// Asks the kernel to start reading bytes `[offset, offset + len)` of a mapped file into the
    /// page cache (`madvise(MADV_WILLNEED)`), so that the positional reads of a bulk load that
    /// come next find them there instead of waiting on the disk one request at a time. Best
    /// effort: nothing happens for bytes in memory, outside the file, or on platforms without
    /// `madvise`, and a refusal by the kernel is ignored (the reads work either way). Touches no
    /// page of the map, so nothing stays mapped into the process because of it.
    pub fn will_need(&self, offset: u64, len: u64) {
        #[cfg(unix)]
        if let Mapped::Map(map) = self {
            let size = map.len() as u64;
            let end = offset.saturating_add(len).min(size);
            if offset < end {
                let _ = map.advise_range(
                    memmap2::Advice::WillNeed,
                    offset as usize,
                    (end - offset) as usize,
                );
            }
        }
        #[cfg(not(unix))]
        let _ = (offset, len);
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Mapped::Map(m) => m,
            Mapped::Owned(v) => v,
            Mapped::Empty => &[],
        }
    }
}
