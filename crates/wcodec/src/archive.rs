//! Reading `.wcodec` files: random access to any tensor, and byte-identical rebuilding of the
//! source file with bounded memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::batch::batch_ranges;
use crate::error::{Error, Result};
use crate::format::header::{Header, TensorEntry};
use crate::format::preamble::Preamble;
use crate::io::{map_file, Mapped};
use crate::layout::{tensor_storage, TensorStorage};
use crate::load::{decode_windows, ReadAt, WINDOW_BYTES};
use crate::progress::Progress;
use crate::source::safetensors;
use crate::tensor::{decode_tensor_into, decode_tensors_into};

impl ReadAt for Archive {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        match &self.file {
            Some(f) => f.read_exact_at(buf, offset),
            None => self.bytes.read_exact_at(buf, offset),
        }
    }

    fn will_need(&self, offset: u64, len: u64) {
        Archive::will_need(self, offset, len);
    }
}

/// Tensors decoded together before being written out: bounds the memory of a rebuild to the
/// largest tensor or this much, whichever is larger, while keeping every core busy on small ones.
pub(crate) const DECODE_BATCH_BYTES: u64 = 32 << 20;

/// An open `.wcodec` file.
pub struct Archive {
    /// The file image; empty when opened with [`Archive::open_unmapped`].
    bytes: Mapped,
    /// The open file, for positional reads of whole checkpoints (`None` for in-memory images).
    file: Option<std::fs::File>,
    preamble: Preamble,
    header: Header,
    index: std::collections::HashMap<String, usize>,
    path: Option<PathBuf>,
}

impl Archive {
    /// Opens and validates a file (preamble, header, tensor table; tensor data is checked when
    /// decoded).
    pub fn open(path: &Path) -> Result<Archive> {
        let bytes = map_file(path)?;
        let mut a = Archive::parse(bytes).map_err(|e| e.in_file(path))?;
        a.file = Some(std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?);
        a.path = Some(path.to_path_buf());
        Ok(a)
    }

    /// Opens a file for bulk loading without mapping it: the preamble and the header are read
    /// with two positional reads (the header is capped by the format), and tensor data only
    /// through [`Archive::read_at`] and [`Archive::decode_many_into`]. The padding between
    /// tensor regions is not read; [`Archive::image`] is empty, so single-tensor calls
    /// ([`Archive::decode_into`], [`Archive::tensor_storage`]) fail with a truncation error:
    /// use [`Archive::open`] for random access.
    pub fn open_unmapped(path: &Path) -> Result<Archive> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        let mut head = vec![0u8; size.min(crate::format::PREAMBLE_BYTES) as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| Error::io("read", path, e))?;
        let preamble = Preamble::parse_head(&head, size)?;
        let mut stored = vec![
            0u8;
            usize::try_from(preamble.header_stored_bytes)
                .map_err(|_| Error::corrupt("header too large"))?
        ];
        file.read_exact_at(&mut stored, preamble.header_offset)
            .map_err(|e| Error::io("read", path, e))?;
        let header = Header::unpack(&stored, &preamble)?;
        if header.source.format == "safetensors" {
            check_safetensors_source(&header)?;
        }
        let index = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Archive {
            bytes: Mapped::Empty,
            file: Some(file),
            preamble,
            header,
            index,
            path: Some(path.to_path_buf()),
        })
    }

    /// Whether the file image is in memory (mapped or owned), i.e. single tensors can be
    /// decoded; false after [`Archive::open_unmapped`].
    pub fn is_mapped(&self) -> bool {
        !matches!(self.bytes, Mapped::Empty) || self.preamble.file_bytes == 0
    }

    /// The source of positional reads of the file's bytes: the open file (explicit reads, no
    /// page faults), or the in-memory image; its read-ahead hints go to the map
    /// ([`Archive::will_need`]).
    pub fn reader(&self) -> &dyn ReadAt {
        self
    }

    /// Asks the kernel to start reading the file's bytes `[offset, offset + len)` into the page
    /// cache (see [`Mapped::will_need`]): bulk loads announce the next window this way while
    /// they read the current one. Best effort: a no-op for in-memory archives, archives opened
    /// with [`Archive::open_unmapped`], ranges past the end, and platforms without `madvise`.
    pub fn will_need(&self, offset: u64, len: u64) {
        self.bytes.will_need(offset, len);
    }

    /// Reads file bytes at `offset` into `buf` (a positional read of the open file).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.reader()
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io("read", self.path.clone().unwrap_or_default(), e))
    }

    /// Parses a file image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Archive> {
        Archive::parse(Mapped::Owned(bytes))
    }

    fn parse(bytes: Mapped) -> Result<Archive> {
        let preamble = Preamble::parse(&bytes)?;
        let stored = &bytes[preamble.header_offset as usize..preamble.file_bytes as usize];
        let header = Header::unpack(stored, &preamble)?;
        if header.source.format == "safetensors" {
            check_safetensors_source(&header)?;
        }
        check_region_padding(&bytes, &header, preamble.header_offset)?;
        let index = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Archive {
            bytes,
            file: None,
            preamble,
            header,
            index,
            path: None,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The tensors, in payload order.
    pub fn tensors(&self) -> &[TensorEntry] {
        &self.header.tensors
    }

    /// XXH3-64 of the stored header: a cheap identity of the file's content.
    pub fn header_xxh3(&self) -> u64 {
        self.preamble.header_xxh3
    }

    /// Size of the file.
    pub fn file_bytes(&self) -> u64 {
        self.preamble.file_bytes
    }

    /// The path it was opened from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The whole file image (memory-mapped or owned): the bytes the offsets of
    /// [`Archive::tensor_storage`] point into.
    pub fn image(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the stored bytes of tensor `index` lie in [`Archive::image`], validated (see
    /// [`crate::layout`]).
    pub fn tensor_storage(&self, index: usize) -> Result<TensorStorage> {
        let entry = self
            .header
            .tensors
            .get(index)
            .ok_or_else(|| Error::TensorNotFound(format!("#{index}")))?;
        self.named(tensor_storage(entry, &self.bytes))
    }

    /// `r`, its error naming this archive's file (when it was opened from one).
    fn named<T>(&self, r: Result<T>) -> Result<T> {
        match &self.path {
            Some(path) => r.map_err(|e| e.in_file(path)),
            None => r,
        }
    }

    /// Index of the tensor called `name`.
    pub fn find(&self, name: &str) -> Result<usize> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| Error::TensorNotFound(name.to_owned()))
    }

    /// Decodes tensor `index` into `out` (exactly `raw_bytes` long) and checks its checksum.
    pub fn decode_into(&self, index: usize, out: &mut [u8]) -> Result<()> {
        let entry = self
            .header
            .tensors
            .get(index)
            .ok_or_else(|| Error::TensorNotFound(format!("#{index}")))?;
        self.named(decode_tensor_into(entry, &self.bytes, out))
    }

    /// Decodes several tensors at once, each into its own buffer (exactly `raw_bytes` long),
    /// checking every checksum. Chunks of all the tensors are decoded in one parallel pass, so a
    /// checkpoint of many small tensors keeps every core busy (loading a whole state dict). A
    /// file opened from a path is read with positional reads, in windows of
    /// [`WINDOW_BYTES`] (see [`crate::load`]), not through the map.
    pub fn decode_many_into(&self, jobs: Vec<(usize, &mut [u8])>) -> Result<()> {
        let jobs = jobs
            .into_iter()
            .map(|(index, out)| {
                self.header
                    .tensors
                    .get(index)
                    .map(|entry| (entry, out))
                    .ok_or_else(|| Error::TensorNotFound(format!("#{index}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let result = match &self.file {
            // Explicit positional reads in windows, the next read while the current decodes:
            // no bulk reading through page faults of the map.
            Some(_) => decode_windows(
                self,
                self.path.as_deref().unwrap_or(Path::new("")),
                jobs,
                WINDOW_BYTES,
            ),
            None => decode_tensors_into(&self.bytes, jobs),
        };
        self.named(result)
    }

    /// Decodes bytes `[start, start + out.len())` of tensor `index` into `out`, decoding only
    /// the chunks (and rows of tiles) that cover them; see [`crate::slice`] for what a partial
    /// decode verifies (not the whole-tensor checksum).
    pub fn decode_range_into(
        &self,
        index: usize,
        start: u64,
        out: &mut [u8],
    ) -> Result<crate::slice::RangeStats> {
        let entry = self
            .header
            .tensors
            .get(index)
            .ok_or_else(|| Error::TensorNotFound(format!("#{index}")))?;
        self.named(crate::slice::decode_range_into(
            entry,
            &self.bytes,
            start,
            out,
        ))
    }

    /// Per plane of tensor `index`: how many tiles use each mode, indexed by mode id
    /// ([`crate::tile::Mode::from_id`]); `None` for a plane coded flat. Decodes the mode planes
    /// only.
    pub fn tile_modes(&self, index: usize) -> Result<Vec<Option<[u64; crate::tile::N_MODES]>>> {
        let entry = self
            .header
            .tensors
            .get(index)
            .ok_or_else(|| Error::TensorNotFound(format!("#{index}")))?;
        self.named(crate::tensor::tile_mode_counts(entry, &self.bytes))
    }

    /// Decodes tensor `index` into a new buffer.
    pub fn decode(&self, index: usize) -> Result<Vec<u8>> {
        let entry = self
            .header
            .tensors
            .get(index)
            .ok_or_else(|| Error::TensorNotFound(format!("#{index}")))?;
        let mut out = vec![
            0u8;
            usize::try_from(entry.raw_bytes)
                .map_err(|_| Error::InvalidInput("tensor too large".into()))?
        ];
        self.decode_into(index, &mut out)?;
        Ok(out)
    }

    /// Size of the rebuilt source file.
    pub fn source_bytes(&self) -> u64 {
        8 + self.header.source.header.len() as u64
            + self.header.tensors.iter().map(|t| t.raw_bytes).sum::<u64>()
    }

    /// Rebuilds the source file into `w`, byte for byte, checking every tensor's checksum;
    /// returns the number of bytes written. (The recorded whole-file checksum is not recomputed:
    /// the source header is covered by the header checksum and every tensor by its own, and a
    /// second sequential pass over the output would cap multi-threaded decoding.)
    ///
    /// Tensors are decoded in batches of about `DECODE_BATCH_BYTES` (in parallel) and written
    /// in order, so memory stays bounded by the largest tensor plus one batch.
    pub fn write_source(&self, w: &mut dyn Write, progress: &dyn Progress) -> Result<u64> {
        if self.header.source.format != "safetensors" {
            return Err(Error::InvalidInput(format!(
                "cannot rebuild a source of format `{}`",
                self.header.source.format
            )));
        }
        // `w` has no path; the file being rebuilt is the one named.
        let io_err = |e| {
            Error::io(
                "write the rebuilt source of",
                self.path.clone().unwrap_or_default(),
                e,
            )
        };
        progress.start(self.source_bytes());
        let prefix = safetensors::prefix(&self.header.source.header);
        w.write_all(&prefix).map_err(io_err)?;
        // One buffer for every batch, grown to the largest: zeroing fresh memory per tensor
        // costs as much as decoding the small ones.
        let mut buf: Vec<u8> = Vec::new();
        let batches = batch_ranges(
            self.header.tensors.iter().map(|t| t.raw_bytes),
            DECODE_BATCH_BYTES,
        );
        // Tensors lie in payload order, so a batch's stored bytes are one region of the map;
        // the next batch's is announced while this one decodes (no cold page faults one by one).
        let announce = |batch: &std::ops::Range<usize>| {
            let ts = &self.header.tensors[batch.clone()];
            if let (Some(first), Some(last)) = (ts.first(), ts.last()) {
                let end = last.offset.saturating_add(last.stored_bytes);
                self.will_need(first.offset, end.saturating_sub(first.offset));
            }
        };
        if let Some(b) = batches.first() {
            announce(b);
        }
        for (k, batch) in batches.iter().cloned().enumerate() {
            if let Some(next) = batches.get(k + 1) {
                announce(next);
            }
            let sizes: Vec<usize> = self.header.tensors[batch.clone()]
                .iter()
                .map(|t| usize::try_from(t.raw_bytes))
                .collect::<Result<_, _>>()
                .map_err(|_| Error::InvalidInput("tensor too large for this platform".into()))?;
            let total: usize = sizes.iter().sum();
            if buf.len() < total {
                // A fresh zeroed allocation maps lazily-zeroed pages, so the page faults are
                // taken by the decoding threads in parallel instead of one memset up front.
                buf = vec![0u8; total];
            }
            let mut parts = Vec::with_capacity(sizes.len());
            let mut rest = &mut buf[..total];
            for (i, size) in batch.zip(sizes) {
                let (part, tail) = rest.split_at_mut(size);
                parts.push((i, part));
                rest = tail;
            }
            let jobs = parts
                .into_iter()
                .map(|(i, part)| (&self.header.tensors[i], part))
                .collect();
            self.named(decode_tensors_into(&self.bytes, jobs))?;
            w.write_all(&buf[..total]).map_err(io_err)?;
            progress.advance(total as u64);
        }
        Ok(self.source_bytes())
    }
}

/// The tensor table must describe exactly the tensors of the embedded safetensors header, in
/// data order, or the rebuilt file would not be the original.
fn check_safetensors_source(header: &Header) -> Result<()> {
    let data_bytes = header
        .tensors
        .iter()
        .try_fold(0u64, |acc, t| acc.checked_add(t.raw_bytes))
        .ok_or_else(|| Error::corrupt("tensor sizes overflow"))?;
    let source = safetensors::parse_header(&header.source.header, data_bytes)
        .map_err(|e| Error::corrupt(format!("embedded source header: {e}")))?;
    if source.len() != header.tensors.len() {
        return Err(Error::corrupt(format!(
            "source header has {} tensors, the file {}",
            source.len(),
            header.tensors.len()
        )));
    }
    for (s, t) in source.iter().zip(&header.tensors) {
        if s.name != t.name
            || s.dtype != t.dtype
            || s.shape != t.shape
            || s.end - s.begin != t.raw_bytes
        {
            return Err(Error::tensor(
                &t.name,
                format!("does not match the source header entry `{}`", s.name),
            ));
        }
    }
    Ok(())
}

/// The payload bytes outside tensor regions are alignment padding and must be zero.
fn check_region_padding(bytes: &[u8], header: &Header, header_offset: u64) -> Result<()> {
    let mut pos = crate::format::PREAMBLE_BYTES;
    let ends = header
        .tensors
        .iter()
        .map(|t| (t.offset, t.offset + t.stored_bytes))
        .chain([(header_offset, header_offset)]);
    for (start, end) in ends {
        if bytes[pos as usize..start as usize].iter().any(|&b| b != 0) {
            return Err(Error::corrupt(format!(
                "non-zero padding in payload bytes [{pos}, {start})"
            )));
        }
        pos = end;
    }
    Ok(())
}
