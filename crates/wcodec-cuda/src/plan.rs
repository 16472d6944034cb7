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
use wcodec::layout::{PlanesLayout, StoredPlane, TensorStorage};

use crate::abi::{
    bytes_of, chunk_error, DecodeArgs, DecodeBlock, DecodeItem, PlaneRef, Pod, RAW_TABLE,
    RING_BYTES, STAGING_SLACK_BYTES, STATUS_NOT_RUN, TABLE_BYTES,
};
use crate::addr::{align, ALIGN};
use crate::error::{Error, Result};

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
                wcodec::dtype::PlaneSplit::Float { .. }
            )
    }

    /// Whether some plane of the tensor is tiled (then it is decoded through [`Part::Plane`]
    /// jobs and rebuilt, see `tiles.rs`).
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
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
            StoredPlane::Raw { .. } => chunk_len(l, k),
            StoredPlane::Rans { chunks, .. } => chunks[k as usize].bytes + 3,
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
    staging: Staging,
}

/// Where the file bytes of a batch come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Staging {
    /// Copied span by span from a file image into the pinned image, 64-aligned.
    Packed,
    /// A window of this many bytes read from the file, staged as is (offsets of the jobs'
    /// storage are window offsets).
    Window(u64),
}

/// A tensor's launch class: its plane count and its number of rANS planes (decode tables).
fn class_of(job: &Job<'_>) -> (u32, u32) {
    let l = planes_of(job).expect("planes");
    let tables = l
        .planes
        .iter()
        .filter(|p| matches!(p, StoredPlane::Rans { .. }))
        .count() as u32;
    (l.planes.len() as u32, tables)
}

/// Warps per block for a class: as requested (1..=8), as far as one table and one ring per
/// rANS plane and warp fit the block's shared memory.
fn warps_for((np, nt): (u32, u32), requested: u32, max_smem: u32) -> Result<u32> {
    // Per warp, one ring per rANS plane (raw planes are read from global memory).
    let need = nt * TABLE_BYTES + nt * RING_BYTES;
    if need > max_smem {
        return Err(Error::InvalidArgument(format!(
            "tensors of {np} planes with {nt} rANS planes need {need} bytes of shared memory per \
             block; this device offers {max_smem}"
        )));
    }
    Ok(requested
        .clamp(1, 8)
        .min((max_smem - nt * TABLE_BYTES) / (nt * RING_BYTES).max(1)))
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
        BatchPlan::build_staged(jobs, pieces, warps_per_block, max_smem, Staging::Packed)
    }

    /// Plans `pieces` of `jobs` whose storage offsets point into a window of `window_bytes`
    /// read from the file, which is uploaded as is to the start of the staging buffer: no span
    /// is copied on the host, descriptors follow the window, and raw pieces are copied from the
    /// staged window on the device.
    pub(crate) fn build_in_window(
        jobs: &[Job<'_>],
        pieces: &[Piece],
        warps_per_block: u32,
        max_smem: u32,
        window_bytes: u64,
    ) -> Result<BatchPlan> {
        BatchPlan::build_staged(
            jobs,
            pieces,
            warps_per_block,
            max_smem,
            Staging::Window(window_bytes),
        )
    }

    fn build_staged(
        jobs: &[Job<'_>],
        pieces: &[Piece],
        warps_per_block: u32,
        max_smem: u32,
        staging: Staging,
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
            staging,
        };
        let staged = plan.stage_spans(jobs, pieces);
        let first_table = plan.assign_tables(jobs, pieces)?;
        let mut classes: Vec<(u32, u32)> = pieces
            .iter()
            .filter_map(|p| match *p {
                Piece::Chunks { job, .. } => Some(class_of(&jobs[job])),
                Piece::Bytes { .. } => None,
            })
            .collect();
        classes.sort_unstable();
        classes.dedup();
        for class in classes {
            let warps = warps_for(class, warps_per_block, max_smem)?;
            plan.plan_class(jobs, pieces, &staged, &first_table, class, warps)?;
        }
        plan.place_sections();
        plan.place_direct(jobs, pieces);
        Ok(plan)
    }

    /// Places the file spans of every chunk piece in the staging buffer (packed and 64-aligned,
    /// or where the window holds them); returns, per piece and plane, `(stage_off, file_off)`
    /// of its span.
    fn stage_spans(&mut self, jobs: &[Job<'_>], pieces: &[Piece]) -> Vec<Vec<(u64, u64)>> {
        let mut cursor = 0u64;
        let mut staged = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let mut per_plane = Vec::new();
            if let Piece::Chunks { job, first, end } = *piece {
                let l = planes_of(&jobs[job]).expect("chunk pieces are planes tensors");
                for p in &l.planes {
                    let (file_off, len) = match p {
                        StoredPlane::Raw { offset } => {
                            let s = first * l.chunk_symbols;
                            let e = (end * l.chunk_symbols).min(l.n_symbols);
                            (offset + s, e - s)
                        }
                        StoredPlane::Rans { chunks, .. } => {
                            let a = chunks[first as usize];
                            let b = chunks[end as usize - 1];
                            (a.offset, b.offset + b.bytes - a.offset)
                        }
                    };
                    let stage_off = match self.staging {
                        Staging::Packed => align(cursor),
                        Staging::Window(_) => file_off,
                    };
                    self.spans.push(Span {
                        file_off,
                        len,
                        stage_off,
                    });
                    per_plane.push((stage_off, file_off));
                    cursor = cursor.max(stage_off + len);
                }
            }
            staged.push(per_plane);
        }
        if let Staging::Window(bytes) = self.staging {
            cursor = cursor.max(bytes);
        }
        self.tables_off = align(cursor + STAGING_SLACK_BYTES);
        staged
    }

    /// Lists the decode tables: each planes job of the batch once, its rANS planes in plane
    /// order; returns the index of each job's first table.
    fn assign_tables(
        &mut self,
        jobs: &[Job<'_>],
        pieces: &[Piece],
    ) -> Result<std::collections::HashMap<usize, u32>> {
        let mut first_table = std::collections::HashMap::new();
        for piece in pieces {
            if let Piece::Chunks { job, .. } = *piece {
                if first_table.contains_key(&job) {
                    continue;
                }
                first_table.insert(job, to_u32(self.tables.len() as u64, "tables")?);
                let l = planes_of(&jobs[job]).expect("planes");
                for (p, plane) in l.planes.iter().enumerate() {
                    if matches!(plane, StoredPlane::Rans { .. }) {
                        self.tables.push((job, p));
                    }
                }
            }
        }
        Ok(first_table)
    }

    /// Items, plane references and blocks of the pieces whose tensors are of `class`, blocks of
    /// `warps` consecutive chunks of one tensor; one launch.
    fn plan_class(
        &mut self,
        jobs: &[Job<'_>],
        pieces: &[Piece],
        staged: &[Vec<(u64, u64)>],
        first_table: &std::collections::HashMap<usize, u32>,
        class: (u32, u32),
        warps: u32,
    ) -> Result<()> {
        let first_block = self.blocks.len();
        for (pi, piece) in pieces.iter().enumerate() {
            let Piece::Chunks { job, first, end } = *piece else {
                continue;
            };
            if class_of(&jobs[job]) != class {
                continue;
            }
            let mut k = first;
            while k < end {
                let group_end = (k + u64::from(warps)).min(end);
                self.blocks.push(DecodeBlock {
                    first_item: to_u32(self.items.len() as u64, "items")?,
                    n_items: (group_end - k) as u32,
                    first_table: first_table[&job],
                    n_tables: class.1,
                });
                for kk in k..group_end {
                    self.push_item(jobs, job, kk, &staged[pi])?;
                }
                k = group_end;
            }
        }
        self.classes.push(Class {
            planes: class.0,
            tables: class.1,
            warps,
            first_block,
            n_blocks: self.blocks.len() - first_block,
        });
        Ok(())
    }

    /// The item of chunk `kk` of job `job` and its plane references (`staged`: where the
    /// piece's spans lie).
    fn push_item(
        &mut self,
        jobs: &[Job<'_>],
        job: usize,
        kk: u64,
        staged: &[(u64, u64)],
    ) -> Result<()> {
        let j = &jobs[job];
        let l = planes_of(j).expect("planes");
        let width = l.planes.len() as u64;
        let m = chunk_len(l, kk);
        self.items.push(DecodeItem {
            dst: j.dst + kk * l.chunk_symbols * width,
            n_elems: m as u32,
            first_ref: to_u32(self.refs.len() as u64, "refs")?,
            flags: u32::from(j.rotate()),
            reserved: 0,
        });
        self.origin.push((job, kk));
        let mut table_index = 0u32;
        for (plane, &(stage_off, file_off)) in l.planes.iter().zip(staged) {
            self.refs.push(match plane {
                StoredPlane::Raw { offset } => PlaneRef {
                    src: stage_off + (offset + kk * l.chunk_symbols - file_off),
                    bytes: m as u32,
                    table: RAW_TABLE,
                },
                StoredPlane::Rans { chunks, .. } => {
                    let c = chunks[kk as usize];
                    let t = table_index;
                    table_index += 1;
                    PlaneRef {
                        src: stage_off + (c.offset - file_off),
                        bytes: c.bytes as u32,
                        table: if c.bytes == m { RAW_TABLE } else { t },
                    }
                }
            });
        }
        Ok(())
    }

    /// The descriptor sections after the tables, then the status array.
    fn place_sections(&mut self) {
        self.items_off = align(self.tables_off + self.tables.len() as u64 * u64::from(TABLE_BYTES));
        self.refs_off = align(self.items_off + self.items.len() as u64 * 24);
        self.blocks_off = align(self.refs_off + self.refs.len() as u64 * 16);
        self.status_off = align(self.blocks_off + self.blocks.len() as u64 * 16);
        self.device_bytes = align(self.status_off + self.items.len() as u64 * 4);
    }

    /// Raw pieces: after the uploaded part of the pinned image, or where they lie in the window.
    fn place_direct(&mut self, jobs: &[Job<'_>], pieces: &[Piece]) {
        let mut host = self.status_off;
        for piece in pieces {
            if let Piece::Bytes { job, first, end } = *piece {
                let j = &jobs[job];
                let TensorStorage::Raw { offset } = j.storage else {
                    unreachable!("byte pieces are raw tensors");
                };
                let host_off = match self.staging {
                    Staging::Packed => {
                        host = align(host);
                        host += end - first;
                        host - (end - first)
                    }
                    Staging::Window(_) => offset + first,
                };
                self.direct.push(Direct {
                    file_off: offset + first,
                    len: end - first,
                    host_off,
                    dst: j.dst + first,
                });
            }
        }
        self.host_bytes = align(host);
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
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub(crate) fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Writes the pinned image for a staging buffer at device address `base`.
    pub(crate) fn write_image(&self, jobs: &[Job<'_>], file: &[u8], base: u64, out: &mut [u8]) {
        assert!(
            out.len() as u64 >= self.host_bytes,
            "image buffer too small"
        );
        debug_assert_eq!(self.staging, Staging::Packed, "a window plan has no image");
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
        self.write_descriptors(jobs, base, desc);
    }

    /// Range `[tables_off, status_off)` of the staging buffer: the descriptors (tables, items,
    /// plane references, blocks), uploaded after the window of a [`BatchPlan::build_in_window`]
    /// plan.
    pub(crate) fn descriptor_range(&self) -> (u64, u64) {
        (self.tables_off, self.status_off - self.tables_off)
    }

    /// Writes the descriptors for a staging buffer at device address `base` into `desc`
    /// ([`BatchPlan::descriptor_range`] long).
    pub(crate) fn write_descriptors(&self, jobs: &[Job<'_>], base: u64, desc: &mut [u8]) {
        desc.fill(0);
        let at = |off: u64| (off - self.tables_off) as usize;
        // 16 KiB per rANS plane of every tensor: the bulk of the descriptors of a window of many
        // small tensors, written on every core.
        let tables_len = self.tables.len() * TABLE_BYTES as usize;
        desc[..tables_len]
            .par_chunks_mut(TABLE_BYTES as usize)
            .zip(self.tables.par_iter())
            .for_each(|(out, &(job, p))| {
                let l = planes_of(&jobs[job]).expect("planes");
                let StoredPlane::Rans { table, .. } = &l.planes[p] else {
                    unreachable!("tables come from rANS planes");
                };
                for (dst, v) in out.chunks_exact_mut(4).zip(table.slots.iter()) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
            });
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
    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub(crate) fn check_status(&self, jobs: &[Job<'_>], status: &[u8]) -> Result<()> {
        self.check_status_of(&|j| (jobs[j].entry.name.clone(), jobs[j].part), status)
    }

    /// [`BatchPlan::check_status`] where `who(job)` gives a job's tensor name and part (for
    /// batches whose jobs are gone by the time their status is read back).
    pub(crate) fn check_status_of(
        &self,
        who: &dyn Fn(usize) -> (String, Part),
        status: &[u8],
    ) -> Result<()> {
        for (i, s) in status.chunks_exact(4).take(self.items.len()).enumerate() {
            let code = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            if code == 0 {
                continue;
            }
            let (job, chunk) = self.origin[i];
            let (tensor, part) = who(job);
            if code == STATUS_NOT_RUN {
                return Err(Error::Internal(format!(
                    "chunk {chunk} of tensor `{tensor}` was not decoded"
                )));
            }
            let (plane, mode_plane) = match part {
                Part::Whole => ((code >> 8) & 0xff, false),
                Part::Plane { plane, modes } => (plane, modes),
            };
            let Some(error) = chunk_error(code) else {
                return Err(Error::Internal(format!(
                    "chunk {chunk} of tensor `{tensor}`, plane {plane}: kernel status {code:#x} \
                     (an inconsistent chunk descriptor)"
                )));
            };
            return Err(Error::CorruptChunk {
                tensor,
                chunk,
                plane,
                mode_plane,
                error,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;
    use wcodec::{Archive, Dtype, EncodeOptions, NoProgress};

    /// Bytes drawn from a narrow distribution (compressible) or uniformly (stored raw).
    fn bytes(n: usize, seed: u64, uniform: bool) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if uniform {
                    x as u8
                } else {
                    (x % 7) as u8 + (x % 3) as u8
                }
            })
            .collect()
    }

    /// An in-memory archive of `(name, dtype, elements, raw?)` tensors.
    fn archive(spec: &[(&str, Dtype, usize, bool)], chunk_symbols: u64) -> Archive {
        let mut header = String::from("{");
        let mut data = Vec::new();
        for (i, &(name, dtype, n, raw)) in spec.iter().enumerate() {
            let begin = data.len();
            data.extend(bytes(n * dtype.plane_layout().n_planes(), i as u64, raw));
            if i > 0 {
                header.push(',');
            }
            let (dtype_name, end) = (dtype.name(), data.len());
            write!(
                header,
                "\"{name}\":{{\"dtype\":\"{dtype_name}\",\"shape\":[{n}],\"data_offsets\":[{begin},{end}]}}"
            )
            .expect("a String takes any write");
        }
        header.push('}');
        let mut source = (header.len() as u64).to_le_bytes().to_vec();
        source.extend_from_slice(header.as_bytes());
        source.extend_from_slice(&data);
        let mut out = std::io::Cursor::new(Vec::new());
        let options = EncodeOptions {
            chunk_symbols,
            ..EncodeOptions::default()
        };
        wcodec::encode_bytes(&source, "m.safetensors", &options, &mut out, &NoProgress)
            .expect("encodes");
        Archive::from_bytes(out.into_inner()).expect("opens")
    }

    fn jobs(a: &Archive) -> Vec<Job<'_>> {
        a.tensors()
            .iter()
            .enumerate()
            .map(|(i, entry)| Job {
                entry,
                storage: a.tensor_storage(i).expect("layout"),
                dst: 0x1000_0000 * (i as u64 + 1),
                part: Part::Whole,
            })
            .collect()
    }

    /// Dynamic shared memory of an H100's block.
    const SMEM: u32 = 227 << 10;

    fn sample() -> Archive {
        archive(
            &[
                ("int8", Dtype::I8, 5 * 4096 + 17, false),
                ("bf16", Dtype::BF16, 3 * 4096 + 5, false),
                ("noise", Dtype::U8, 10_000, true),
                ("f32", Dtype::F32, 4096, false),
                ("tiny", Dtype::I8, 3, false),
            ],
            4096,
        )
    }

    #[test]
    fn split_covers_every_chunk_and_byte_once_within_the_budget() {
        let a = sample();
        let jobs = jobs(&a);
        for budget in [1 << 20, 8 << 10, u64::MAX] {
            let batches = split(&jobs, budget);
            let mut chunks = vec![Vec::new(); jobs.len()];
            let mut bytes = vec![0u64; jobs.len()];
            for pieces in &batches {
                for p in pieces {
                    match *p {
                        Piece::Chunks { job, first, end } => chunks[job].extend(first..end),
                        Piece::Bytes { job, first, end } => {
                            assert_eq!(first, bytes[job], "raw pieces in order, no gap");
                            bytes[job] = end;
                        }
                    }
                }
            }
            for (j, job) in jobs.iter().enumerate() {
                match &job.storage {
                    TensorStorage::Planes(l) => {
                        assert_eq!(chunks[j], (0..n_chunks(l)).collect::<Vec<_>>(), "{budget}");
                    }
                    TensorStorage::Raw { .. } => assert_eq!(bytes[j], job.entry.raw_bytes),
                }
            }
            if budget == u64::MAX {
                assert_eq!(batches.len(), 1);
            }
        }
    }

    fn check_common(plan: &BatchPlan, jobs: &[Job<'_>], pieces: &[Piece]) {
        let items: u64 = pieces
            .iter()
            .map(|p| match *p {
                Piece::Chunks { first, end, .. } => end - first,
                Piece::Bytes { .. } => 0,
            })
            .sum();
        assert_eq!(plan.items.len() as u64, items);
        assert_eq!(plan.origin.len(), plan.items.len());
        // Every item has one plane reference per plane of its tensor, in range.
        for (i, it) in plan.items.iter().enumerate() {
            let (job, _) = plan.origin[i];
            let l = planes_of(&jobs[job]).expect("planes");
            let next = plan
                .items
                .get(i + 1)
                .map_or(plan.refs.len() as u32, |n| n.first_ref);
            if next > it.first_ref {
                assert_eq!((next - it.first_ref) as usize, l.planes.len());
            }
        }
        // Blocks partition the items, and the launches cover the blocks.
        let covered: u32 = plan.blocks.iter().map(|b| b.n_items).sum();
        assert_eq!(u64::from(covered), items);
        let launched: u32 = plan.launches(0).iter().map(|l| l.grid).sum();
        assert_eq!(launched as usize, plan.blocks.len());
        assert!(plan.items_off >= plan.tables_off + plan.tables.len() as u64 * 16384 / 4);
        assert!(plan.status_off >= plan.blocks_off && plan.device_bytes >= plan.status_off);
        for off in [
            plan.tables_off,
            plan.items_off,
            plan.refs_off,
            plan.blocks_off,
            plan.status_off,
        ] {
            assert_eq!(off % ALIGN, 0);
        }
    }

    #[test]
    fn a_packed_plan_places_spans_aligned_and_disjoint_before_the_descriptors() {
        let a = sample();
        let jobs = jobs(&a);
        for pieces in split(&jobs, 8 << 10) {
            let plan = BatchPlan::build(&jobs, &pieces, 4, SMEM).expect("plans");
            check_common(&plan, &jobs, &pieces);
            let mut end = 0;
            for s in &plan.spans {
                assert_eq!(s.stage_off % ALIGN, 0);
                assert!(s.stage_off >= end, "spans overlap");
                end = s.stage_off + s.len;
            }
            assert!(plan.tables_off >= end + STAGING_SLACK_BYTES);
            // The image holds the file bytes where the spans say.
            let mut image = vec![0u8; plan.host_bytes() as usize];
            plan.write_image(&jobs, a.image(), 0, &mut image);
            for s in &plan.spans {
                let (f, o) = (s.file_off as usize, s.stage_off as usize);
                assert_eq!(
                    &image[o..o + s.len as usize],
                    &a.image()[f..f + s.len as usize]
                );
            }
            for d in &plan.direct {
                let (f, o) = (d.file_off as usize, d.host_off as usize);
                assert_eq!(
                    &image[o..o + d.len as usize],
                    &a.image()[f..f + d.len as usize]
                );
                assert!(d.host_off >= plan.upload_bytes());
            }
        }
    }

    #[test]
    fn a_window_plan_stages_the_window_in_place() {
        let a = sample();
        let jobs = jobs(&a);
        let window = a.file_bytes();
        let pieces: Vec<Piece> = split(&jobs, u64::MAX).into_iter().flatten().collect();
        let plan = BatchPlan::build_in_window(&jobs, &pieces, 2, SMEM, window).expect("plans");
        check_common(&plan, &jobs, &pieces);
        for s in &plan.spans {
            assert_eq!(
                s.stage_off, s.file_off,
                "no copy: spans stay where they were read"
            );
        }
        for d in &plan.direct {
            assert_eq!(
                d.host_off, d.file_off,
                "raw tensors copied from the staged window"
            );
        }
        assert!(plan.tables_off >= window + STAGING_SLACK_BYTES);
        let (off, len) = plan.descriptor_range();
        assert_eq!((off, off + len), (plan.tables_off, plan.status_off));
        // Descriptors point into the window at the staging base.
        let base = 0x7000_0000;
        let mut desc = vec![0u8; len as usize];
        plan.write_descriptors(&jobs, base, &mut desc);
        let refs_at = (plan.refs_off - plan.tables_off) as usize;
        let first_src = u64::from_le_bytes(desc[refs_at..refs_at + 8].try_into().unwrap());
        assert_eq!(first_src, base + plan.refs[0].src);
        assert!(plan.refs.iter().all(|r| r.src < window));
    }

    #[test]
    fn shared_memory_limits_are_checked_and_warps_clamped() {
        let a = sample();
        let jobs = jobs(&a);
        let pieces: Vec<Piece> = split(&jobs, u64::MAX).into_iter().flatten().collect();
        assert!(BatchPlan::build(&jobs, &pieces, 4, 1024).is_err());
        // Four rANS planes (F32) with room for two warps: every class fits its shared memory.
        let smem = 4 * TABLE_BYTES + 2 * 4 * RING_BYTES;
        let plan = BatchPlan::build(&jobs, &pieces, 8, smem).expect("plans");
        for c in &plan.classes {
            assert!(c.warps >= 1 && c.warps <= 8);
            assert!(c.tables * TABLE_BYTES + c.warps * c.tables * RING_BYTES <= smem);
        }
        assert!(plan.classes.iter().any(|c| c.tables == 4 && c.warps == 2));
    }

    #[test]
    fn kernel_statuses_become_the_cpu_decoders_chunk_errors() {
        use crate::abi::status;
        use wcodec::rans::ChunkError;
        let a = sample();
        let jobs = jobs(&a);
        let pieces = split(&jobs, u64::MAX).remove(0);
        let plan = BatchPlan::build(&jobs, &pieces, 4, SMEM).expect("plans");
        let with_code = |item: usize, code: u32| {
            let mut words = vec![0u8; plan.items.len() * 4];
            words[item * 4..item * 4 + 4].copy_from_slice(&code.to_le_bytes());
            plan.check_status(&jobs, &words)
        };
        assert!(with_code(0, status::OK).is_ok());
        let (job, chunk) = plan.origin[1];
        let cases = [
            (status::BAD_STATE, ChunkError::BadState),
            (status::EARLY_END, ChunkError::EarlyEnd),
            (status::TRAILING, ChunkError::Trailing),
            (status::FINAL_STATE, ChunkError::FinalState),
        ];
        for (code, want) in cases {
            let e = with_code(1, code | 1 << 8).unwrap_err();
            let Error::CorruptChunk {
                ref tensor,
                chunk: c,
                plane: 1,
                mode_plane: false,
                error,
            } = e
            else {
                panic!("{e:?}");
            };
            assert_eq!(
                (tensor.as_str(), c, error),
                (jobs[job].entry.name.as_str(), chunk, want)
            );
            // The same words as the CPU decoder's error for that rule.
            assert!(e.to_string().ends_with(want.message()), "{e}");
        }
        // A descriptor the planner got wrong is a bug of this crate, never a corrupt file.
        let e = with_code(1, status::BAD_REF).unwrap_err();
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
    }
}
