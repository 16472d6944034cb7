//! `.wcodec` file → its source file, byte for byte, written atomically.

use std::path::Path;

use crate::archive::Archive;
use crate::error::Result;
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
    /// XXH3-64 of the source file as recorded at encode time (single-file decodes; 0 for
    /// directories); `wcodec-verify` compares files directly.
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

/// Writes the rebuilt source of `archive` to `w`; every tensor is checked against its checksum
/// on the way.
pub fn write_checked(
    archive: &Archive,
    w: &mut dyn std::io::Write,
    progress: &dyn Progress,
) -> Result<DecodeStats> {
    let written = archive.write_source(w, progress)?;
    Ok(DecodeStats {
        n_files: 1,
        n_tensors: archive.tensors().len() as u64,
        encoded_bytes: archive.file_bytes(),
        decoded_bytes: written,
        source_xxh3: archive.header().source.file_xxh3,
    })
}
