//! Planning a batched decode: which file bytes go where in a staging buffer, the descriptor
//! arrays the kernels read, and the launches. Pure Rust, no CUDA: the executor (`decoder.rs`)
//! and the warp emulation of the tests (`emulation.rs`) run the same plans.
//!
//! A batch holds *pieces*: a range of chunks of a `"planes"` tensor, or a byte range of a raw
//! tensor. Chunk `k` of every plane of a tensor is one *item*, decoded by one warp; items of one
//! tensor are grouped into thread blocks that share the tensor's decode tables. Items are
//! launched by *class* — plane count × number of rANS planes — so each launch reserves exactly
//! the shared memory its tensors need.
//!
//! Staging buffer (device), offsets from its base:
//!
//! ```text
//! spans of the file (each 64-aligned) | slack | tables | items | refs | blocks | status
//! <-------------------------- uploaded in one copy ------------------------>  (filled 0xFF)
//! ```
//!
//! Raw tensors bypass it: their bytes are copied from the pinned image straight into the
//! caller's buffer.

use rayon::prelude::*;

use wcodec::format::header::TensorEntry;
use wcodec::layout::{PlaneLayout, PlanesLayout, TensorStorage};

use crate::abi::{
    bytes_of, status_text, DecodeArgs, DecodeBlock, DecodeItem, HashArgs, HashJob, PlaneRef, Pod,
    HASH_BLOCK_BYTES, RAW_TABLE, RING_BYTES, STAGING_SLACK_BYTES, STATUS_NOT_RUN, TABLE_BYTES,
};
use crate::error::{Error, Result};

/// Alignment of every span and section in a staging buffer.
const ALIGN: u64 = 64;

/// One tensor to decode: its entry, where its bytes lie in the file, and its destination.
pub(crate) struct Job<'a> {
    pub(crate) entry: &'a TensorEntry,
    pub(crate) storage: TensorStorage,
    pub(crate) dst: u64,
    pub(crate) part: Part,
}

/// A tensor whose checksum is verified: its entry and its destination.
pub(crate) type Target<'a> = (&'a TensorEntry, u64);

/// What of its tensor a job decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The whole tensor, in its final layout.
    Whole,
    /// The stored symbols of one plane of a tiled tensor, alone: the plane's (residual) symbols,
    /// or with `modes` its mode plane. `storage` then has that single plane.
    Plane { plane: u32, modes: bool },
}

impl Job<'_> {
    /// Bytes the job writes at `dst`.
    pub(crate) fn out_bytes(&self) -> u64 {
        match (&self.part, &self.storage) {
            (Part::Plane { .. }, TensorStorage::Planes(l)) => l.n_symbols,
            _ => self.entry.raw_bytes,
        }
    }

    /// Whether the joined words get the float rotation undone.
    fn rotate(&self) -> bool {
        self.part == Part::Whole
            && matches!(
                self.entry.dtype.plane_layout(),
                wcodec::dtype::PlaneLayout::Float { .. }
            )
    }

    /// Whether some plane of the tensor is tiled (then it is decoded through [`Part::Plane`]
    /// jobs and rebuilt, see `tiles.rs`).
    pub(crate) fn is_tiled(&self) -> bool {
        matches!(&self.storage, TensorStorage::Planes(l) if l.tiles.is_some())
    }
}

/// Part of one job decoded by one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Chunks `[first, end)` of a `"planes"` tensor.
    Chunks { job: usize, first: u64, end: u64 },
    /// Bytes `[first, end)` of a raw tensor.
    Bytes { job: usize, first: u64, end: u64 },
}

fn planes_of<'j>(job: &'j Job<'_>) -> Option<&'j PlanesLayout> {
    match &job.storage {
        TensorStorage::Planes(p) => Some(p),
        TensorStorage::Raw { .. } => None,
    }
}

fn n_chunks(l: &PlanesLayout) -> u64 {
    l.n_symbols.div_ceil(l.chunk_symbols)
}

/// Symbols in chunk `k`.
fn chunk_len(l: &PlanesLayout, k: u64) -> u64 {
    l.chunk_symbols.min(l.n_symbols - k * l.chunk_symbols)
}

/// Upper bound of the staged bytes of chunk `k` (all planes, padding included).
fn chunk_cost(l: &PlanesLayout, k: u64) -> u64 {
    l.planes
        .iter()
        .map(|p| match p {
            PlaneLayout::Raw { .. } => chunk_len(l, k),
            PlaneLayout::Rans { chunks, .. } => chunks[k as usize].bytes + 3,
        })
        .sum()
}

/// Splits the jobs into batches of about `budget` staged bytes. A chunk is never split, so a
/// batch can exceed the budget by one chunk; a raw tensor is split at any byte.
pub(crate) fn split(jobs: &[Job<'_>], budget: u64) -> Vec<Vec<Piece>> {
    let budget = budget.max(1 << 20);
    let mut batches = Vec::new();
    let mut cur: Vec<Piece> = Vec::new();
    let mut used = 0u64;
    for (j, job) in jobs.iter().enumerate() {
        if job.out_bytes() == 0 {
            continue;
        }
        match &job.storage {
            TensorStorage::Raw { .. } => {
                let mut first = 0;
                while first < job.entry.raw_bytes {
                    if used >= budget {
                        batches.push(std::mem::take(&mut cur));
                        used = 0;
                    }
                    let take = (job.entry.raw_bytes - first).min(budget - used);
                    cur.push(Piece::Bytes {
                        job: j,
                        first,
                        end: first + take,
                    });
                    used += take + ALIGN;
                    first += take;
                }
            }
            TensorStorage::Planes(l) => {
                let overhead = l.planes.len() as u64 * ALIGN;
                let mut first = 0;
                let mut acc = overhead;
                for k in 0..n_chunks(l) {
                    let c = chunk_cost(l, k);
                    if used + acc + c > budget && (k > first || !cur.is_empty()) {
                        if k > first {
                            cur.push(Piece::Chunks {
                                job: j,
                                first,
                                end: k,
                            });
                        }
                        batches.push(std::mem::take(&mut cur));
                        used = 0;
                        first = k;
                        acc = overhead;
                    }
                    acc += c;
                }
                cur.push(Piece::Chunks {
                    job: j,
                    first,
                    end: n_chunks(l),
                });
                used += acc;
            }
        }
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

/// File bytes placed in the staging buffer.
#[derive(Clone, Copy, Debug)]
struct Span {
    file_off: u64,
    len: u64,
    stage_off: u64,
}

/// File bytes copied from the pinned image straight to a caller's buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Direct {
    file_off: u64,
    len: u64,
    /// Offset in the pinned image (after the uploaded part).
    pub(crate) host_off: u64,
    /// Destination device address.
    pub(crate) dst: u64,
}

impl Direct {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// Copies `(source, offset)` pairs into `out` in parallel (1 MiB pieces) and zeroes the rest.
/// Offsets are increasing and the copies do not overlap.
fn parallel_copy(out: &mut [u8], copies: Vec<(&[u8], u64)>) {
    const PIECE: usize = 1 << 20;
    let mut targets: Vec<(&[u8], &mut [u8])> = Vec::new();
    let mut rest: &mut [u8] = out;
    let mut pos = 0u64;
    for (src, off) in copies {
        let (gap, tail) = rest.split_at_mut((off - pos) as usize);
        gap.fill(0);
        let (mut dst, tail) = tail.split_at_mut(src.len());
        for s in src.chunks(PIECE) {
            let (d, more) = dst.split_at_mut(s.len());
            targets.push((s, d));
            dst = more;
        }
        rest = tail;
        pos = off + src.len() as u64;
    }
    rest.fill(0);
    targets
        .par_iter_mut()
        .for_each(|(s, d)| d.copy_from_slice(s));
}

/// One kernel launch.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    pub(crate) kernel: &'static str,
    pub(crate) grid: u32,
    pub(crate) block: u32,
    pub(crate) smem: u32,
    pub(crate) args: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Class {
    planes: u32,
    tables: u32,
    warps: u32,
    first_block: usize,
    n_blocks: usize,
}

/// Everything one batch needs; addresses are offsets from the staging base until
/// [`BatchPlan::write_image`] and [`BatchPlan::launches`] add it.
pub(crate) struct BatchPlan {
    spans: Vec<Span>,
    direct: Vec<Direct>,
    /// (job, plane) of each table, in table order.
    tables: Vec<(usize, usize)>,
    items: Vec<DecodeItem>,
    refs: Vec<PlaneRef>,
    blocks: Vec<DecodeBlock>,
    classes: Vec<Class>,
    /// (job, chunk) of each item.
    origin: Vec<(usize, u64)>,
    tables_off: u64,
    items_off: u64,
    refs_off: u64,
    blocks_off: u64,
    status_off: u64,
    device_bytes: u64,
    host_bytes: u64,
}

fn align(v: u64) -> u64 {
    v.next_multiple_of(ALIGN)
}

fn to_u32(v: u64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::InvalidArgument(format!("batch too large: {what} {v}")))
}

impl BatchPlan {
    /// Plans `pieces` of `jobs`. `warps_per_block` is the requested chunks per block;
    /// `max_smem` the device's dynamic shared memory limit per block.
    pub(crate) fn build(
        jobs: &[Job<'_>],
        pieces: &[Piece],
        warps_per_block: u32,
        max_smem: u32,
    ) -> Result<BatchPlan> {
        let mut plan = BatchPlan {
            spans: Vec::new(),
            direct: Vec::new(),
            tables: Vec::new(),
            items: Vec::new(),
            refs: Vec::new(),
            blocks: Vec::new(),
            classes: Vec::new(),
            origin: Vec::new(),
            tables_off: 0,
            items_off: 0,
            refs_off: 0,
            blocks_off: 0,
            status_off: 0,
            device_bytes: 0,
            host_bytes: 0,
        };
        // Stage every chunk piece's spans; remember where plane p of each piece landed.
        let mut cursor = 0u64;
        let mut piece_stage: Vec<Vec<(u64, u64)>> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let mut per_plane = Vec::new();
            if let Piece::Chunks { job, first, end } = *piece {
                let l = planes_of(&jobs[job]).expect("chunk pieces are planes tensors");
                for p in &l.planes {
                    let (file_off, len) = match p {
                        PlaneLayout::Raw { offset } => {
                            let s = first * l.chunk_symbols;
                            let e = (end * l.chunk_symbols).min(l.n_symbols);
                            (offset + s, e - s)
                        }
                        PlaneLayout::Rans { chunks, .. } => {
                            let a = chunks[first as usize];
                            let b = chunks[end as usize - 1];
                            (a.offset, b.offset + b.bytes - a.offset)
                        }
                    };
                    let stage_off = align(cursor);
                    plan.spans.push(Span {
                        file_off,
                        len,
                        stage_off,
                    });
                    per_plane.push((stage_off, file_off));
                    cursor = stage_off + len;
                }
            }
            piece_stage.push(per_plane);
        }
        plan.tables_off = align(cursor + STAGING_SLACK_BYTES);

        // Tables: each planes job of the batch once, its rANS planes in plane order.
        let mut first_table: std::collections::HashMap<usize, u32> =
            std::collections::HashMap::new();
        for piece in pieces {
            if let Piece::Chunks { job, .. } = *piece {
                if first_table.contains_key(&job) {
                    continue;
                }
                first_table.insert(job, to_u32(plan.tables.len() as u64, "tables")?);
                let l = planes_of(&jobs[job]).expect("planes");
                for (p, plane) in l.planes.iter().enumerate() {
                    if matches!(plane, PlaneLayout::Rans { .. }) {
                        plan.tables.push((job, p));
                    }
                }
            }
        }

        // Items, refs and blocks, class by class.
        let class_of = |job: usize| {
            let l = planes_of(&jobs[job]).expect("planes");
            let tables = l
                .planes
                .iter()
                .filter(|p| matches!(p, PlaneLayout::Rans { .. }))
                .count() as u32;
            (l.planes.len() as u32, tables)
        };
        let mut keys: Vec<(u32, u32)> = pieces
            .iter()
            .filter_map(|p| match *p {
                Piece::Chunks { job, .. } => Some(class_of(job)),
                Piece::Bytes { .. } => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for (np, nt) in keys {
            // Per warp, one ring per rANS plane (raw planes are read from global memory).
            let need = nt * TABLE_BYTES + nt * RING_BYTES;
            if need > max_smem {
                return Err(Error::InvalidArgument(format!(
                    "tensors of {np} planes with {nt} rANS planes need {need} bytes of shared \
                     memory per block; this device offers {max_smem}"
                )));
            }
            let warps = warps_per_block
                .clamp(1, 8)
                .min((max_smem - nt * TABLE_BYTES) / (nt * RING_BYTES).max(1));
            let first_block = plan.blocks.len();
            for (pi, piece) in pieces.iter().enumerate() {
                let Piece::Chunks { job, first, end } = *piece else {
                    continue;
                };
                if class_of(job) != (np, nt) {
                    continue;
                }
                let j = &jobs[job];
                let l = planes_of(j).expect("planes");
                let width = l.planes.len() as u64;
                let rotate = u32::from(j.rotate());
                let mut k = first;
                while k < end {
                    let group_end = (k + u64::from(warps)).min(end);
                    plan.blocks.push(DecodeBlock {
                        first_item: to_u32(plan.items.len() as u64, "items")?,
                        n_items: (group_end - k) as u32,
                        first_table: first_table[&job],
                        n_tables: nt,
                    });
                    for kk in k..group_end {
                        let m = chunk_len(l, kk);
                        plan.items.push(DecodeItem {
                            dst: j.dst + kk * l.chunk_symbols * width,
                            n_elems: m as u32,
                            first_ref: to_u32(plan.refs.len() as u64, "refs")?,
                            flags: rotate,
                            reserved: 0,
                        });
                        plan.origin.push((job, kk));
                        let mut table_index = 0u32;
                        for (p, plane) in l.planes.iter().enumerate() {
                            let (stage_off, file_off) = piece_stage[pi][p];
                            let r = match plane {
                                PlaneLayout::Raw { offset } => PlaneRef {
                                    src: stage_off + (offset + kk * l.chunk_symbols - file_off),
                                    bytes: m as u32,
                                    table: RAW_TABLE,
                                },
                                PlaneLayout::Rans { chunks, .. } => {
                                    let c = chunks[kk as usize];
                                    let t = table_index;
                                    table_index += 1;
                                    PlaneRef {
                                        src: stage_off + (c.offset - file_off),
                                        bytes: c.bytes as u32,
                                        table: if c.bytes == m { RAW_TABLE } else { t },
                                    }
                                }
                            };
                            plan.refs.push(r);
                        }
                    }
                    k = group_end;
                }
            }
            plan.classes.push(Class {
                planes: np,
                tables: nt,
                warps,
                first_block,
                n_blocks: plan.blocks.len() - first_block,
            });
        }

        plan.items_off = align(plan.tables_off + plan.tables.len() as u64 * u64::from(TABLE_BYTES));
        plan.refs_off = align(plan.items_off + plan.items.len() as u64 * 24);
        plan.blocks_off = align(plan.refs_off + plan.refs.len() as u64 * 16);
        plan.status_off = align(plan.blocks_off + plan.blocks.len() as u64 * 16);
        plan.device_bytes = align(plan.status_off + plan.items.len() as u64 * 4);

        // Raw pieces: after the uploaded part of the pinned image.
        let mut host = plan.status_off;
        for piece in pieces {
            if let Piece::Bytes { job, first, end } = *piece {
                let j = &jobs[job];
                let TensorStorage::Raw { offset } = j.storage else {
                    unreachable!("byte pieces are raw tensors");
                };
                host = align(host);
                plan.direct.push(Direct {
                    file_off: offset + first,
                    len: end - first,
                    host_off: host,
                    dst: j.dst + first,
                });
                host += end - first;
            }
        }
        plan.host_bytes = align(host);
        Ok(plan)
    }

    /// Bytes of device memory the batch needs.
    pub(crate) fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    /// Bytes of the pinned image (uploaded part, then the raw pieces).
    pub(crate) fn host_bytes(&self) -> u64 {
        self.host_bytes
    }

    /// Length of the part uploaded to the staging base in one copy.
    pub(crate) fn upload_bytes(&self) -> u64 {
        self.status_off
    }

    /// The raw pieces.
    pub(crate) fn direct(&self) -> &[Direct] {
        &self.direct
    }

    /// Offset and length of the status array.
    pub(crate) fn status_range(&self) -> (u64, u64) {
        (self.status_off, self.items.len() as u64 * 4)
    }

    /// Items in the batch.
    pub(crate) fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Writes the pinned image for a staging buffer at device address `base`.
    pub(crate) fn write_image(&self, jobs: &[Job<'_>], file: &[u8], base: u64, out: &mut [u8]) {
        assert!(
            out.len() as u64 >= self.host_bytes,
            "image buffer too small"
        );
        let out = &mut out[..self.host_bytes as usize];
        let (spans_part, rest) = out.split_at_mut(self.tables_off as usize);
        let (desc, direct_part) = rest.split_at_mut((self.status_off - self.tables_off) as usize);
        let span_copies = self
            .spans
            .iter()
            .map(|s| {
                (
                    &file[s.file_off as usize..(s.file_off + s.len) as usize],
                    s.stage_off,
                )
            })
            .collect();
        parallel_copy(spans_part, span_copies);
        let direct_copies = self
            .direct
            .iter()
            .map(|d| {
                (
                    &file[d.file_off as usize..(d.file_off + d.len) as usize],
                    d.host_off - self.status_off,
                )
            })
            .collect();
        parallel_copy(direct_part, direct_copies);

        desc.fill(0);
        let at = |off: u64| (off - self.tables_off) as usize;
        for (i, &(job, p)) in self.tables.iter().enumerate() {
            let l = planes_of(&jobs[job]).expect("planes");
            let PlaneLayout::Rans { table, .. } = &l.planes[p] else {
                unreachable!("tables come from rANS planes");
            };
            let o = at(self.tables_off + i as u64 * u64::from(TABLE_BYTES));
            for (dst, v) in desc[o..o + TABLE_BYTES as usize]
                .chunks_exact_mut(4)
                .zip(table.slots.iter())
            {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        }
        let mut put = |off: u64, bytes: &[u8]| {
            let o = at(off);
            desc[o..o + bytes.len()].copy_from_slice(bytes);
        };
        let mut buf = Vec::with_capacity(self.items.len() * 24);
        for it in &self.items {
            it.put(&mut buf);
        }
        put(self.items_off, &buf);
        buf.clear();
        for r in &self.refs {
            PlaneRef {
                src: r.src + base,
                ..*r
            }
            .put(&mut buf);
        }
        put(self.refs_off, &buf);
        buf.clear();
        for b in &self.blocks {
            b.put(&mut buf);
        }
        put(self.blocks_off, &buf);
    }

    /// The decode launches for a staging buffer at `base`.
    pub(crate) fn launches(&self, base: u64) -> Vec<Launch> {
        self.classes
            .iter()
            .filter(|c| c.n_blocks > 0)
            .map(|c| {
                let args = DecodeArgs {
                    blocks: base + self.blocks_off + c.first_block as u64 * 16,
                    items: base + self.items_off,
                    refs: base + self.refs_off,
                    tables: base + self.tables_off,
                    status: base + self.status_off,
                    n_blocks: c.n_blocks as u32,
                    max_tables: c.tables,
                };
                Launch {
                    kernel: match c.planes {
                        1 => "wcodec_decode_p1",
                        2 => "wcodec_decode_p2",
                        4 => "wcodec_decode_p4",
                        _ => "wcodec_decode_p8",
                    },
                    grid: c.n_blocks as u32,
                    block: 32 * c.warps,
                    smem: c.tables * TABLE_BYTES + c.warps * c.tables * RING_BYTES,
                    args: bytes_of(&args),
                }
            })
            .collect()
    }

    /// Turns the status array read back from the device into the first error, if any.
    pub(crate) fn check_status(&self, jobs: &[Job<'_>], status: &[u8]) -> Result<()> {
        for (i, s) in status.chunks_exact(4).take(self.items.len()).enumerate() {
            let code = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            if code == 0 {
                continue;
            }
            let (job, chunk) = self.origin[i];
            let tensor = jobs[job].entry.name.clone();
            if code == STATUS_NOT_RUN {
                return Err(Error::Internal(format!(
                    "chunk {chunk} of tensor `{tensor}` was not decoded"
                )));
            }
            let (plane, modes) = match jobs[job].part {
                Part::Whole => ((code >> 8) & 0xff, false),
                Part::Plane { plane, modes } => (plane, modes),
            };
            return Err(Error::CorruptChunk {
                tensor,
                chunk,
                plane,
                detail: status_text(code, modes),
            });
        }
        Ok(())
    }
}

/// Checksum verification of decoded tensors: one XXH3 job per tensor of at most 1 MiB, one per
/// 1 MiB block of larger ones plus one over their block hashes (format.md §3.2). Jobs over 240
/// bytes first get their per-block terms computed in parallel (see `xxh3.cu`).
///
/// Device buffer: `level-1 jobs | level-2 jobs | level-1 tasks | level-2 tasks` (uploaded), then
/// `terms | block hashes | final hashes`.
pub(crate) struct VerifyPlan {
    level1: Vec<VJob>,
    level2: Vec<VJob>,
    tasks1: Vec<VJob>,
    tasks2: Vec<VJob>,
    /// Job index of each final hash.
    targets: Vec<usize>,
    level2_off: u64,
    tasks1_off: u64,
    tasks2_off: u64,
    terms_off: u64,
    blocks_off: u64,
    finals_off: u64,
    bytes: u64,
}

/// A device address: absolute, or a byte offset into one of the verify buffer's regions.
#[derive(Clone, Copy, Debug)]
enum Addr {
    Abs(u64),
    Term(u64),
    BlockHash(u64),
    Final(u64),
}

impl Addr {
    fn add(self, bytes: u64) -> Addr {
        match self {
            Addr::Abs(a) => Addr::Abs(a + bytes),
            Addr::Term(a) => Addr::Term(a + bytes),
            Addr::BlockHash(a) => Addr::BlockHash(a + bytes),
            Addr::Final(a) => Addr::Final(a + bytes),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct VJob {
    src: Addr,
    len: u64,
    out: Addr,
    terms: Addr,
}

/// Full 1024-byte blocks a terms task covers at most.
const BLOCKS_PER_TASK: u64 = 64;

/// Adds hash job `(src, len) -> out` and, for a long input, the terms tasks it needs.
fn push_hash(
    jobs: &mut Vec<VJob>,
    tasks: &mut Vec<VJob>,
    n_terms: &mut u64,
    src: Addr,
    len: u64,
    out: Addr,
) {
    let mut terms = Addr::Abs(0);
    if len > 240 {
        let nb = (len - 1) / 1024;
        terms = Addr::Term(*n_terms * 64);
        let mut b = 0;
        while b < nb {
            let n = BLOCKS_PER_TASK.min(nb - b);
            tasks.push(VJob {
                src: src.add(b * 1024),
                len: n,
                out: terms.add(b * 64),
                terms: Addr::Abs(0),
            });
            b += n;
        }
        *n_terms += nb;
    }
    jobs.push(VJob {
        src,
        len,
        out,
        terms,
    });
}

impl VerifyPlan {
    /// Plans the hashes of every tensor `(entry, destination)` with bytes; checks empty tensors
    /// on the host.
    pub(crate) fn build(jobs: &[Target<'_>]) -> Result<VerifyPlan> {
        let mut targets = Vec::new();
        let (mut level1, mut level2, mut tasks1, mut tasks2) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut n_terms = 0u64;
        let mut n_block_hashes = 0u64;
        for (j, &(entry, dst)) in jobs.iter().enumerate() {
            let len = entry.raw_bytes;
            if len == 0 {
                let computed = xxhash_rust::xxh3::xxh3_64(&[]);
                if computed != entry.xxh3 {
                    return Err(Error::Checksum {
                        tensor: entry.name.clone(),
                        computed,
                        expected: entry.xxh3,
                    });
                }
                continue;
            }
            let out = Addr::Final(targets.len() as u64 * 8);
            targets.push(j);
            if len <= HASH_BLOCK_BYTES {
                push_hash(
                    &mut level1,
                    &mut tasks1,
                    &mut n_terms,
                    Addr::Abs(dst),
                    len,
                    out,
                );
            } else {
                let n = len.div_ceil(HASH_BLOCK_BYTES);
                for b in 0..n {
                    push_hash(
                        &mut level1,
                        &mut tasks1,
                        &mut n_terms,
                        Addr::Abs(dst + b * HASH_BLOCK_BYTES),
                        HASH_BLOCK_BYTES.min(len - b * HASH_BLOCK_BYTES),
                        Addr::BlockHash((n_block_hashes + b) * 8),
                    );
                }
                push_hash(
                    &mut level2,
                    &mut tasks2,
                    &mut n_terms,
                    Addr::BlockHash(n_block_hashes * 8),
                    8 * n,
                    out,
                );
                n_block_hashes += n;
            }
        }
        let level2_off = align(level1.len() as u64 * 32);
        let tasks1_off = align(level2_off + level2.len() as u64 * 32);
        let tasks2_off = align(tasks1_off + tasks1.len() as u64 * 32);
        let terms_off = align(tasks2_off + tasks2.len() as u64 * 32);
        let blocks_off = align(terms_off + n_terms * 64);
        let finals_off = align(blocks_off + n_block_hashes * 8);
        let bytes = align(finals_off + targets.len() as u64 * 8);
        Ok(VerifyPlan {
            level1,
            level2,
            tasks1,
            tasks2,
            targets,
            level2_off,
            tasks1_off,
            tasks2_off,
            terms_off,
            blocks_off,
            finals_off,
            bytes,
        })
    }

    /// Whether there is anything to hash on the device.
    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Device bytes needed.
    pub(crate) fn device_bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes uploaded (the job and task arrays) at the start of the buffer.
    pub(crate) fn upload_bytes(&self) -> u64 {
        self.terms_off
    }

    fn resolve(&self, base: u64, a: Addr) -> u64 {
        match a {
            Addr::Abs(a) => a,
            Addr::Term(o) => base + self.terms_off + o,
            Addr::BlockHash(o) => base + self.blocks_off + o,
            Addr::Final(o) => base + self.finals_off + o,
        }
    }

    /// The job and task arrays for a buffer at `base` (`upload_bytes` long).
    pub(crate) fn image(&self, base: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.upload_bytes() as usize];
        for (list, off) in [
            (&self.level1, 0),
            (&self.level2, self.level2_off),
            (&self.tasks1, self.tasks1_off),
            (&self.tasks2, self.tasks2_off),
        ] {
            for (i, j) in list.iter().enumerate() {
                let b = bytes_of(&HashJob {
                    src: self.resolve(base, j.src),
                    len: j.len,
                    out: self.resolve(base, j.out),
                    terms: self.resolve(base, j.terms),
                });
                let o = off as usize + i * 32;
                out[o..o + 32].copy_from_slice(&b);
            }
        }
        out
    }

    /// The launches for a buffer at `base`: level-1 terms and hashes, then level 2.
    pub(crate) fn launches(&self, base: u64) -> Vec<Launch> {
        let warps = 8u32;
        let mk = |kernel, jobs_at: u64, n: usize| Launch {
            kernel,
            grid: (n as u32).div_ceil(warps),
            block: 32 * warps,
            smem: 256,
            args: bytes_of(&HashArgs {
                jobs: jobs_at,
                n_jobs: n as u32,
                reserved: 0,
            }),
        };
        let mut v = Vec::new();
        for (kernel, at, n) in [
            ("wcodec_xxh3_terms", self.tasks1_off, self.tasks1.len()),
            ("wcodec_xxh3", 0, self.level1.len()),
            ("wcodec_xxh3_terms", self.tasks2_off, self.tasks2.len()),
            ("wcodec_xxh3", self.level2_off, self.level2.len()),
        ] {
            if n > 0 {
                v.push(mk(kernel, base + at, n));
            }
        }
        v
    }

    /// Offset and length of the final hashes.
    pub(crate) fn finals_range(&self) -> (u64, u64) {
        (self.finals_off, self.targets.len() as u64 * 8)
    }

    /// Compares the final hashes read back with the recorded checksums.
    pub(crate) fn check(&self, jobs: &[Target<'_>], finals: &[u8]) -> Result<()> {
        for (&j, h) in self.targets.iter().zip(finals.chunks_exact(8)) {
            let computed = u64::from_le_bytes(h.try_into().expect("8 bytes"));
            let entry = jobs[j].0;
            if computed != entry.xxh3 {
                return Err(Error::Checksum {
                    tensor: entry.name.clone(),
                    computed,
                    expected: entry.xxh3,
                });
            }
        }
        Ok(())
    }
}
