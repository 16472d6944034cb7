//! One symbol plane ↔ its stored form (format.md §5.1–5.2): raw, or a frequency table, a chunk
//! table and independently decodable chunks.

use rayon::prelude::*;

use crate::rans::decode::{decode_chunk, decode_pair};
use crate::rans::encode::{encode_chunk, EncodeTable};
use crate::rans::freq::{histogram, order0_bytes, DecodeTable, FreqTable};
use crate::rans::STATE_BYTES;

/// How a plane is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coder {
    /// The plane's bytes verbatim.
    Raw,
    /// Frequency table, chunk table, rANS chunks.
    Rans,
}

/// A plane as the encoder produced it.
pub struct EncodedPlane {
    /// The coder chosen.
    pub coder: Coder,
    /// Stored bytes (for `Raw`, empty: the caller writes the plane itself).
    pub stored: StoredBytes,
    /// Order-0 entropy of the plane, in bytes.
    pub order0_bytes: f64,
}

/// Stored bytes kept as consecutive runs (a plane's head, then one run per chunk, padding
/// included), so chunk outputs go straight to the file without being concatenated first.
#[derive(Default)]
pub struct StoredBytes {
    runs: Vec<Vec<u8>>,
    len: usize,
}

impl StoredBytes {
    /// Appends a run.
    pub fn push(&mut self, run: Vec<u8>) {
        self.len += run.len();
        self.runs.push(run);
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes every run in order.
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.runs.iter().try_for_each(|r| w.write_all(r))
    }
}

impl From<Vec<u8>> for StoredBytes {
    fn from(run: Vec<u8>) -> Self {
        let mut s = StoredBytes::default();
        s.push(run);
        s
    }
}

/// The byte histogram of a plane, counted in parallel.
pub fn plane_histogram(plane: &[u8], chunk_symbols: usize) -> [u64; 256] {
    plane
        .par_chunks(chunk_symbols.max(1 << 16))
        .map(histogram)
        .reduce(
            || [0u64; 256],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x += y;
                }
                a
            },
        )
}

/// Encodes a plane, choosing raw whenever rANS would not be smaller.
pub fn encode_plane(plane: &[u8], chunk_symbols: usize) -> EncodedPlane {
    encode_plane_with(plane, chunk_symbols, &plane_histogram(plane, chunk_symbols))
}

/// [`encode_plane`] with the plane's histogram already counted.
pub fn encode_plane_with(plane: &[u8], chunk_symbols: usize, hist: &[u64; 256]) -> EncodedPlane {
    let hist = *hist;
    let order0 = order0_bytes(&hist);
    let raw = EncodedPlane {
        coder: Coder::Raw,
        stored: StoredBytes::default(),
        order0_bytes: order0,
    };
    let Some(table) = FreqTable::from_histogram(&hist) else {
        return raw;
    };
    let n = plane.len();
    let n_chunks = n.div_ceil(chunk_symbols);
    // Skip hopeless planes (random mantissas, already-compressed data) without encoding them.
    let estimate = table.cost_bits(&hist) / 8.0 + (n_chunks * (STATE_BYTES + 4)) as f64 + 32.0;
    if estimate >= n as f64 {
        return raw;
    }
    let enc = EncodeTable::new(&table);
    let chunks: Vec<Vec<u8>> = plane
        .par_chunks(chunk_symbols)
        .map(|chunk| {
            let mut out = Vec::with_capacity(chunk.len());
            encode_chunk(chunk, &enc, &mut out);
            if out.len() >= chunk.len() {
                chunk.to_vec()
            } else {
                out
            }
        })
        .collect();
    let mut head = Vec::new();
    table.write(&mut head);
    pad4(&mut head);
    for c in &chunks {
        head.extend_from_slice(&(c.len() as u32).to_le_bytes());
    }
    let mut stored = StoredBytes::from(head);
    let last = chunks.len().saturating_sub(1);
    for (k, mut c) in chunks.into_iter().enumerate() {
        // Every chunk starts 4-aligned; the head already is a multiple of 4.
        if k < last {
            pad4(&mut c);
        }
        stored.push(c);
    }
    if stored.len() >= n {
        return raw;
    }
    EncodedPlane {
        coder: Coder::Rans,
        stored,
        order0_bytes: order0,
    }
}

fn pad4(bytes: &mut Vec<u8>) {
    bytes.resize(bytes.len().next_multiple_of(4), 0);
}

/// A validated view of a stored plane, ready for chunk-by-chunk decoding.
pub enum PlaneView<'a> {
    /// Raw bytes of the whole plane.
    Raw(&'a [u8]),
    /// A rANS plane.
    Rans {
        /// Decode lookup table.
        table: DecodeTable,
        /// Per chunk: its stored bytes.
        chunks: Vec<&'a [u8]>,
    },
}

impl<'a> PlaneView<'a> {
    /// Validates the stored form of an `n`-symbol plane: every size and offset is checked
    /// before use, so a corrupt plane is rejected here or in [`PlaneView::decode_chunk`].
    pub fn parse(
        coder: Coder,
        stored: &'a [u8],
        n: u64,
        chunk_symbols: u64,
    ) -> Result<Self, String> {
        match coder {
            Coder::Raw => {
                if stored.len() as u64 != n {
                    return Err(format!(
                        "raw plane holds {} bytes, expected {n}",
                        stored.len()
                    ));
                }
                Ok(PlaneView::Raw(stored))
            }
            Coder::Rans => {
                let (table, used) = FreqTable::read(stored).map_err(str::to_owned)?;
                let n_chunks = n.div_ceil(chunk_symbols);
                let mut pos = used.next_multiple_of(4) as u64;
                let pad = stored
                    .get(used..pos as usize)
                    .ok_or("frequency table runs past the plane")?;
                if pad.iter().any(|&b| b != 0) {
                    return Err("non-zero padding after the frequency table".into());
                }
                let table_end = n_chunks
                    .checked_mul(4)
                    .and_then(|b| b.checked_add(pos))
                    .filter(|&end| end <= stored.len() as u64)
                    .ok_or("chunk table runs past the plane")?;
                let sizes = &stored[pos as usize..table_end as usize];
                pos = table_end;
                let mut chunks = Vec::with_capacity(n_chunks as usize);
                for (k, size) in sizes.chunks_exact(4).enumerate() {
                    let size = u64::from(u32::from_le_bytes([size[0], size[1], size[2], size[3]]));
                    let m = chunk_symbols.min(n - k as u64 * chunk_symbols);
                    if size != m && (size >= m || size < STATE_BYTES as u64 || size % 2 != 0) {
                        return Err(format!("chunk {k} has invalid size {size} for {m} symbols"));
                    }
                    if k > 0 {
                        let aligned = pos.next_multiple_of(4);
                        let pad = stored
                            .get(pos as usize..aligned as usize)
                            .ok_or("chunk runs past the plane")?;
                        if pad.iter().any(|&b| b != 0) {
                            return Err(format!("non-zero padding before chunk {k}"));
                        }
                        pos = aligned;
                    }
                    let end = pos + size;
                    let bytes = stored
                        .get(pos as usize..end as usize)
                        .ok_or_else(|| format!("chunk {k} runs past the plane"))?;
                    chunks.push(bytes);
                    pos = end;
                }
                if pos != stored.len() as u64 {
                    return Err(format!(
                        "plane has {} trailing bytes",
                        stored.len() as u64 - pos
                    ));
                }
                Ok(PlaneView::Rans {
                    table: table.decode_table(),
                    chunks,
                })
            }
        }
    }

    /// Borrows chunk `k` directly when it is stored raw (no copy needed).
    pub fn raw_chunk(&self, k: usize, chunk_symbols: usize, m: usize) -> Option<&'a [u8]> {
        match self {
            PlaneView::Raw(bytes) => Some(&bytes[k * chunk_symbols..k * chunk_symbols + m]),
            PlaneView::Rans { chunks, .. } => (chunks[k].len() == m).then_some(chunks[k]),
        }
    }

    /// Decodes chunk `k` (of `out.len()` symbols) into `out`.
    pub fn decode_chunk(
        &self,
        k: usize,
        chunk_symbols: usize,
        out: &mut [u8],
    ) -> Result<(), String> {
        if let Some(raw) = self.raw_chunk(k, chunk_symbols, out.len()) {
            out.copy_from_slice(raw);
            return Ok(());
        }
        let PlaneView::Rans { table, chunks } = self else {
            unreachable!("raw planes always take the raw path");
        };
        decode_chunk(chunks[k], table, out).map_err(|e| format!("chunk {k}: {e}"))
    }

    /// Chunk `k` (of `m` symbols) as a rANS job: its stored bytes and the plane's table;
    /// `None` when the chunk is stored raw.
    pub fn rans_chunk(&self, k: usize, m: usize) -> Option<(&'a [u8], &DecodeTable)> {
        match self {
            PlaneView::Rans { table, chunks } if chunks[k].len() != m => Some((chunks[k], table)),
            _ => None,
        }
    }

    /// Decodes chunks `k` and `k + 1` into `a` and `b` (two rANS chunks are decoded together,
    /// which is faster than one after the other; see [`decode_pair`]).
    pub fn decode_chunk_pair(
        &self,
        k: usize,
        chunk_symbols: usize,
        a: &mut [u8],
        b: &mut [u8],
    ) -> Result<(), String> {
        let PlaneView::Rans { table, chunks } = self else {
            self.decode_chunk(k, chunk_symbols, a)?;
            return self.decode_chunk(k + 1, chunk_symbols, b);
        };
        if chunks[k].len() == a.len() || chunks[k + 1].len() == b.len() {
            self.decode_chunk(k, chunk_symbols, a)?;
            return self.decode_chunk(k + 1, chunk_symbols, b);
        }
        let (ra, rb) = decode_pair((chunks[k], table, a), (chunks[k + 1], table, b));
        ra.map_err(|e| format!("chunk {k}: {e}"))?;
        rb.map_err(|e| format!("chunk {}: {e}", k + 1))
    }
}
