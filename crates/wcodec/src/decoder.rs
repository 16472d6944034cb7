//! `.wcodec` file → its source file, byte for byte, written atomically.

use std::path::Path;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::io::{check_output, AtomicFile};
use crate::progress::Progress;

/// Decoder settings.
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Replace an existing output.
    pub overwrite: bool,
}

/// What a decode did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct DecodeStats {
    /// Files rebuilt.
    pub n_files: u64,
    /// Tensors decoded.
    pub n_tensors: u64,
    /// Bytes of the `.wcodec` input.
    pub encoded_bytes: u64,
    /// Bytes written.
    pub decoded_bytes: u64,
    /// XXH3-64 of the rebuilt file (single-file decodes; 0 for directories).
    pub source_xxh3: u64,
}

impl DecodeStats {
    /// Adds another file's figures.
    pub fn add(&mut self, other: &DecodeStats) {
        self.n_files += other.n_files;
        self.n_tensors += other.n_tensors;
        self.encoded_bytes += other.encoded_bytes;
        self.decoded_bytes += other.decoded_bytes;
    }
}

/// Rebuilds the source of the `.wcodec` file `input` at `output`.
pub fn decode_file(
    input: &Path,
    output: &Path,
    options: &DecodeOptions,
    progress: &dyn Progress,
) -> Result<DecodeStats> {
    check_output(input, output, options.overwrite)?;
    let archive = Archive::open(input)?;
    let mut out = AtomicFile::create(output)?;
    let stats = write_checked(&archive, out.writer(), progress)?;
    out.commit()?;
    Ok(stats)
}

/// Writes the rebuilt source of `archive` to `w` and checks it against the recorded file
/// checksum (the tensors were already checked one by one; this also covers the header bytes).
pub fn write_checked(
    archive: &Archive,
    w: &mut dyn std::io::Write,
    progress: &dyn Progress,
) -> Result<DecodeStats> {
    let digest = archive.write_source(w, progress)?;
    let expected = archive.header().source.file_xxh3;
    if digest != expected {
        return Err(Error::corrupt(format!(
            "rebuilt file checksum {digest:016x} differs from the recorded {expected:016x}"
        )));
    }
    Ok(DecodeStats {
        n_files: 1,
        n_tensors: archive.tensors().len() as u64,
        encoded_bytes: archive.file_bytes(),
        decoded_bytes: archive.source_bytes(),
        source_xxh3: digest,
    })
}
