//! One tensor ↔ its stored region: plane split, per-plane coding, chunk-parallel decoding and
//! the checksum check (format.md §4–5).

use rayon::prelude::*;

use crate::dtype::{Dtype, PlaneLayout};
use crate::error::{Error, Result};
use crate::format::header::{Encoding, TensorEntry};
use crate::format::REGION_ALIGN;
use crate::plane::{encode_plane, Coder, PlaneView, StoredBytes};
use crate::planes;
use crate::rans::decode::decode_pair;

/// A tensor as the encoder produced it, before it is placed in a file.
pub struct EncodedTensor {
    /// Raw or planes.
    pub encoding: Encoding,
    /// For `Planes`: each plane's coder and stored bytes, in plane order.
    pub planes: Vec<(Coder, StoredBytes)>,
    /// Order-0 bound of the tensor's planes, in bytes.
    pub order0_bytes: f64,
    /// XXH3-64 of the tensor bytes.
    pub xxh3: u64,
}

impl EncodedTensor {
    /// Size of the region once written, planes aligned to [`REGION_ALIGN`] within it.
    pub fn region_bytes(&self, raw_bytes: u64) -> u64 {
        match self.encoding {
            Encoding::Raw => raw_bytes,
            Encoding::Planes => plane_offsets(&self.planes).1,
        }
    }
}

/// Offsets of each plane relative to the region start, and the region size.
pub fn plane_offsets(planes: &[(Coder, StoredBytes)]) -> (Vec<u64>, u64) {
    let mut pos = 0u64;
    let mut offsets = Vec::with_capacity(planes.len());
    for (_, bytes) in planes {
        pos = pos.next_multiple_of(REGION_ALIGN);
        offsets.push(pos);
        pos += bytes.len() as u64;
    }
    (offsets, pos)
}

/// Encodes one tensor's bytes. Falls back to `Raw` whenever the planes would not be smaller.
pub fn encode_tensor(data: &[u8], dtype: Dtype, chunk_symbols: usize) -> EncodedTensor {
    let xxh3 = crate::checksum::tensor_checksum(data);
    let layout = dtype.plane_layout();
    let width = layout.n_planes();
    let raw = |order0_bytes| EncodedTensor {
        encoding: Encoding::Raw,
        planes: Vec::new(),
        order0_bytes,
        xxh3,
    };
    if data.is_empty() || !data.len().is_multiple_of(width) {
        return raw(0.0);
    }
    let split: Vec<Vec<u8>> = if width == 1 {
        Vec::new()
    } else {
        split_planes(layout, data, chunk_symbols)
    };
    let encoded: Vec<_> = if width == 1 {
        vec![encode_plane(data, chunk_symbols)]
    } else {
        split
            .iter()
            .map(|p| encode_plane(p, chunk_symbols))
            .collect()
    };
    let order0: f64 = encoded.iter().map(|e| e.order0_bytes).sum();
    if encoded.iter().all(|e| e.coder == Coder::Raw) {
        return raw(order0);
    }
    // A 1-byte dtype that is not raw has exactly one rANS plane, so `split` is only consulted
    // for raw planes of multi-byte dtypes.
    let mut split = split.into_iter();
    let planes: Vec<(Coder, StoredBytes)> = encoded
        .into_iter()
        .map(|e| {
            let own = split.next();
            match e.coder {
                Coder::Rans => (Coder::Rans, e.stored),
                Coder::Raw => (
                    Coder::Raw,
                    own.expect("raw plane of a multi-byte dtype").into(),
                ),
            }
        })
        .collect();
    let t = EncodedTensor {
        encoding: Encoding::Planes,
        planes,
        order0_bytes: order0,
        xxh3,
    };
    if t.region_bytes(data.len() as u64) >= data.len() as u64 {
        return raw(order0);
    }
    t
}

/// Splits into planes in parallel, one chunk-sized element range per task.
fn split_planes(layout: PlaneLayout, data: &[u8], chunk_symbols: usize) -> Vec<Vec<u8>> {
    let width = layout.n_planes();
    let n = data.len() / width;
    let mut planes = vec![vec![0u8; n]; width];
    let mut rows: Vec<Vec<&mut [u8]>> = (0..n.div_ceil(chunk_symbols))
        .map(|_| Vec::with_capacity(width))
        .collect();
    for plane in &mut planes {
        for (k, part) in plane.chunks_mut(chunk_symbols).enumerate() {
            rows[k].push(part);
        }
    }
    rows.into_par_iter()
        .zip(data.par_chunks(chunk_symbols * width))
        .for_each(|(mut parts, src)| planes::split(layout, src, &mut parts));
    planes
}

/// Decodes the tensor `entry` of the file `file` into `out` and verifies its checksum.
pub fn decode_tensor_into(entry: &TensorEntry, file: &[u8], out: &mut [u8]) -> Result<()> {
    check_buffer(entry, out)?;
    match entry.encoding {
        Encoding::Raw => out.copy_from_slice(region(entry, file, entry.offset, entry.raw_bytes)?),
        Encoding::Planes => {
            let views = plane_views(entry, file)?;
            let c = entry.chunk_symbols.unwrap_or_default() as usize;
            decode_planes(entry.dtype.plane_layout(), &views, c, out)
                .map_err(|e| Error::tensor(&entry.name, e))?;
        }
    }
    verify_checksum(entry, out)
}

/// Decodes several tensors of one file, with the same results as [`decode_tensor_into`] on
/// each. The chunks of every single-plane tensor (INT8, FP8, packed INT4…) form one pool and are
/// decoded two at a time whatever tensor they belong to, so checkpoints made of one-chunk
/// tensors still get the two-chunk speed (see [`crate::rans::decode`]).
pub fn decode_tensors_into(file: &[u8], jobs: Vec<(&TensorEntry, &mut [u8])>) -> Result<()> {
    let mut pooled = Vec::new();
    let mut others = Vec::new();
    for (entry, out) in jobs {
        check_buffer(entry, out)?;
        if entry.encoding == Encoding::Planes && entry.planes.len() == 1 {
            pooled.push((entry, out));
        } else {
            others.push((entry, out));
        }
    }
    others
        .into_par_iter()
        .try_for_each(|(entry, out)| decode_tensor_into(entry, file, out))?;
    let (entries, outs): (Vec<_>, Vec<_>) = pooled.into_iter().unzip();
    let views = entries
        .par_iter()
        .map(|e| Ok(plane_views(e, file)?.remove(0)))
        .collect::<Result<Vec<PlaneView<'_>>>>()?;
    let mut chunks = Vec::new();
    let mut outs = outs;
    for (t, out) in outs.iter_mut().enumerate() {
        let c = entries[t].chunk_symbols.unwrap_or_default() as usize;
        chunks.extend(out.chunks_mut(c).enumerate().map(|(k, o)| (t, k, o)));
    }
    let mut pairs = Vec::with_capacity(chunks.len().div_ceil(2));
    let mut it = chunks.into_iter();
    while let Some(a) = it.next() {
        pairs.push((a, it.next()));
    }
    let fail =
        |t: usize, k: usize, e: &str| Error::tensor(&entries[t].name, format!("chunk {k}: {e}"));
    pairs.into_par_iter().try_for_each(|((ta, ka, oa), b)| {
        let c = |t: usize| entries[t].chunk_symbols.unwrap_or_default() as usize;
        let single = |t: usize, k: usize, o: &mut [u8]| {
            views[t]
                .decode_chunk(k, c(t), o)
                .map_err(|e| Error::tensor(&entries[t].name, e))
        };
        let Some((tb, kb, ob)) = b else {
            return single(ta, ka, oa);
        };
        if let (Some(ja), Some(jb)) = (
            views[ta].rans_chunk(ka, oa.len()),
            views[tb].rans_chunk(kb, ob.len()),
        ) {
            let (ra, rb) = decode_pair((ja.0, ja.1, oa), (jb.0, jb.1, ob));
            ra.map_err(|e| fail(ta, ka, e))?;
            rb.map_err(|e| fail(tb, kb, e))
        } else {
            single(ta, ka, oa)?;
            single(tb, kb, ob)
        }
    })?;
    entries
        .par_iter()
        .zip(outs.par_iter())
        .try_for_each(|(e, out)| verify_checksum(e, out))
}

fn check_buffer(entry: &TensorEntry, out: &[u8]) -> Result<()> {
    if out.len() as u64 != entry.raw_bytes {
        return Err(Error::BufferSize {
            tensor: entry.name.clone(),
            expected: entry.raw_bytes,
            found: out.len() as u64,
        });
    }
    Ok(())
}

fn region<'f>(entry: &TensorEntry, file: &'f [u8], offset: u64, len: u64) -> Result<&'f [u8]> {
    offset
        .checked_add(len)
        .and_then(|end| file.get(offset as usize..end as usize))
        .ok_or_else(|| Error::tensor(&entry.name, "region runs past the file"))
}

/// Checks a planes region's padding and parses its planes.
pub(crate) fn plane_views<'f>(entry: &TensorEntry, file: &'f [u8]) -> Result<Vec<PlaneView<'f>>> {
    let mut pos = entry.offset;
    for p in &entry.planes {
        check_zero(
            region(entry, file, pos, p.offset - pos)?,
            &entry.name,
            "before a plane",
        )?;
        pos = p.offset + p.bytes;
    }
    let end = entry.offset + entry.stored_bytes;
    check_zero(
        region(entry, file, pos, end - pos)?,
        &entry.name,
        "after the last plane",
    )?;
    let c = entry
        .chunk_symbols
        .ok_or_else(|| Error::tensor(&entry.name, "missing chunk_symbols"))?;
    let n = entry.plane_symbols();
    entry
        .planes
        .iter()
        .map(|p| {
            PlaneView::parse(p.coder, region(entry, file, p.offset, p.bytes)?, n, c)
                .map_err(|e| Error::tensor(&entry.name, e))
        })
        .collect()
}

fn verify_checksum(entry: &TensorEntry, out: &[u8]) -> Result<()> {
    let computed = crate::checksum::tensor_checksum(out);
    if computed != entry.xxh3 {
        return Err(Error::Checksum {
            tensor: entry.name.clone(),
            computed,
            expected: entry.xxh3,
        });
    }
    Ok(())
}

/// Chunk `k` of every plane covers the same elements, so each task decodes chunks `2j` and
/// `2j + 1` of all planes (a pair decodes faster than two singles) into a small scratch buffer
/// and joins them straight into `out`.
fn decode_planes(
    layout: PlaneLayout,
    views: &[PlaneView<'_>],
    c: usize,
    out: &mut [u8],
) -> Result<(), String> {
    let width = layout.n_planes();
    if width == 1 {
        return out
            .par_chunks_mut(2 * c)
            .enumerate()
            .try_for_each(|(j, o)| decode_two(&views[0], 2 * j, c, o));
    }
    out.par_chunks_mut(2 * c * width)
        .enumerate()
        .try_for_each_init(
            // Sized by the first task that uses it: a small tensor must not zero megabytes.
            Vec::new,
            |scratch: &mut Vec<u8>, (j, o)| {
                let m = o.len() / width;
                if scratch.len() < o.len() {
                    scratch.resize(o.len(), 0);
                }
                let mut parts: Vec<&mut [u8]> = scratch[..o.len()].chunks_mut(m).collect();
                // Raw planes (typically mantissas) are joined straight from the file.
                for (view, part) in views.iter().zip(parts.iter_mut()) {
                    if !matches!(view, PlaneView::Raw(_)) {
                        decode_two(view, 2 * j, c, part)?;
                    }
                }
                for (half, o) in o.chunks_mut(c * width).enumerate() {
                    let n = o.len() / width;
                    let start = (2 * j + half) * c;
                    let refs: Vec<&[u8]> = views
                        .iter()
                        .zip(&parts)
                        .map(|(view, p)| match view {
                            PlaneView::Raw(plane) => &plane[start..start + n],
                            PlaneView::Rans { .. } => &p[half * c..half * c + n],
                        })
                        .collect();
                    planes::join(layout, &refs, o);
                }
                Ok(())
            },
        )
}

/// Decodes chunk `k` (and `k + 1` when `out` holds more than one chunk) of `view` into `out`.
fn decode_two(view: &PlaneView<'_>, k: usize, c: usize, out: &mut [u8]) -> Result<(), String> {
    if out.len() <= c {
        return view.decode_chunk(k, c, out);
    }
    let (a, b) = out.split_at_mut(c);
    view.decode_chunk_pair(k, c, a, b)
}

/// Padding must be zero: a flipped bit there is corruption too, even if it changes no output.
fn check_zero(bytes: &[u8], tensor: &str, what: &str) -> Result<()> {
    if bytes.iter().any(|&b| b != 0) {
        return Err(Error::tensor(tensor, format!("non-zero padding {what}")));
    }
    Ok(())
}
