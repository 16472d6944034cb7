//! Tensors with tiled planes (format.md §6.5) on the GPU.
//!
//! The entropy stage cannot write a tiled tensor in its final layout: its stored symbols are
//! tile residuals in tile order. So each plane of such a tensor is decoded *alone* (a
//! [`Part::Plane`] job, a one-plane tensor to the batch decoder) into scratch device memory:
//! the residual plane and the mode plane of a tiled plane, the symbols of a flat one. Then
//! `wcodec_tile_rebuild` rebuilds every tiled plane and `wcodec_join` joins the planes into the
//! caller's buffer (a one-plane tensor is rebuilt straight into it). The checksum of the result
//! is verified with every other tensor.
//!
//! Scratch per tensor (offsets 64-aligned): the joined planes (`width · n` bytes, absent for a
//! one-plane tensor), then per tiled plane its residuals (`n`) and mode ids (`n_tiles`); a header
//! comes last: the status words of every tiled plane, then the task list of the one rebuild
//! launch (all tiled planes of the group at once, so the tiles of many small planes fill the
//! GPU together). Tensors are processed in groups whose scratch
//! stays under [`SCRATCH_BUDGET`] (a larger tensor forms a group of its own), so memory use is
//! bounded whatever the checkpoint.

use std::ops::Range;

use wcodec::layout::{PlanesLayout, TensorStorage};

use crate::abi::{bytes_of, JoinArgs, TileArgs, TileTask};
use crate::addr::align;
use crate::error::{Error, Result};
use crate::plan::{Job, Launch, Part};
use crate::tile_geometry::{TILE_SMEM, TILE_WARPS};

/// Scratch bytes one group of tiled tensors may use, unless a single tensor needs more.
pub(crate) const SCRATCH_BUDGET: u64 = 512 << 20;

/// Upper bound on the blocks of a join launch; the kernel loops over the rest.
const MAX_GRID: u64 = 1 << 16;

/// The one region of the scratch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scratch;

type Addr = crate::addr::Addr<Scratch>;

/// Where one plane of a tiled tensor goes.
struct PlanePlan {
    /// The rebuilt (or, for a flat plane, decoded) symbols.
    out: Addr,
    /// For a tiled plane: scratch offsets of its residuals and mode ids, and its status index.
    tiled: Option<(u64, u64, usize)>,
    bias: u8,
}

struct TensorPlan {
    name: String,
    n: u64,
    rows: u64,
    cols: u64,
    tile: u32,
    /// Joined planes (`width > 1`): their scratch offset, the destination, and the rotation.
    join: Option<(u64, u64, bool)>,
    planes: Vec<PlanePlan>,
}

impl TensorPlan {
    fn n_tiles(&self) -> u64 {
        let t = u64::from(self.tile);
        self.rows.div_ceil(t) * self.cols.div_ceil(t)
    }
}

/// The scratch layout and launches of one group of tiled tensors.
pub(crate) struct TileGroup {
    tensors: Vec<TensorPlan>,
    /// (tensor, plane) of each status pair, in task order.
    statuses: Vec<(usize, usize)>,
    status_off: u64,
    tasks_off: u64,
    /// Blocks of the rebuild launch.
    blocks: u64,
    bytes: u64,
}

fn planes_layout<'j>(job: &'j Job<'_>) -> &'j PlanesLayout {
    match &job.storage {
        TensorStorage::Planes(l) => l,
        TensorStorage::Raw { .. } => unreachable!("tiled jobs are planes tensors"),
    }
}

/// Scratch bytes tensor `job` needs (status words aside).
fn scratch_need(job: &Job<'_>) -> u64 {
    let l = planes_layout(job);
    let t = l.tiles.as_ref().expect("tiled job");
    let width = l.planes.len() as u64;
    let joined = if width > 1 {
        align(width * l.n_symbols)
    } else {
        0
    };
    let per_tiled = align(l.n_symbols) + align(t.grid.n_tiles());
    joined + per_tiled * t.modes.iter().flatten().count() as u64
}

/// Splits tiled jobs into consecutive groups of at most [`SCRATCH_BUDGET`] scratch bytes (a job
/// needing more forms its own group).
pub(crate) fn groups(jobs: &[Job<'_>]) -> Vec<Range<usize>> {
    wcodec::batch::batch_ranges(jobs.iter().map(scratch_need), SCRATCH_BUDGET)
}

impl TileGroup {
    /// Plans the scratch and launches of `jobs`, all tiled [`Part::Whole`] jobs.
    pub(crate) fn build(jobs: &[Job<'_>]) -> Result<TileGroup> {
        let mut cursor = 0u64;
        let mut take = |len: u64| {
            let at = cursor;
            cursor = align(cursor + len);
            at
        };
        let mut tensors = Vec::with_capacity(jobs.len());
        let mut statuses = Vec::new();
        for (ti, job) in jobs.iter().enumerate() {
            let l = planes_layout(job);
            let t = l.tiles.as_ref().expect("tiled job");
            let width = l.planes.len() as u64;
            let n = l.n_symbols;
            // The kernel's shared-memory tile buffers hold 64 x 64 samples: the header parser
            // already enforces the format's [4, 64], checked again where memory safety hangs on it.
            if !(4..=64).contains(&t.grid.tile) {
                return Err(Error::Internal(format!(
                    "tensor `{}`: tile size {} outside [4, 64] reached the GPU planner",
                    job.entry.name, t.grid.tile
                )));
            }
            if t.grid.n_tiles() > u64::from(u32::MAX) {
                return Err(Error::InvalidArgument(format!(
                    "tensor `{}` has {} tiles; the GPU decoder handles up to 2^32 - 1",
                    job.entry.name,
                    t.grid.n_tiles()
                )));
            }
            let rotate = matches!(
                job.entry.dtype.plane_layout(),
                wcodec::dtype::PlaneSplit::Float { .. }
            );
            let join = (width > 1).then(|| (take(width * n), job.dst, rotate));
            let planes = t
                .modes
                .iter()
                .enumerate()
                .map(|(p, modes)| {
                    let out = match join {
                        Some((at, _, _)) => Addr::In(Scratch, at + p as u64 * n),
                        None => Addr::Abs(job.dst),
                    };
                    let tiled = modes.as_ref().map(|_| {
                        statuses.push((ti, p));
                        (take(n), take(t.grid.n_tiles()), statuses.len() - 1)
                    });
                    PlanePlan {
                        out,
                        tiled,
                        bias: t.bias[p],
                    }
                })
                .collect();
            tensors.push(TensorPlan {
                name: job.entry.name.clone(),
                n,
                rows: t.grid.rows,
                cols: t.grid.cols,
                tile: t.grid.tile as u32,
                join,
                planes,
            });
        }
        let status_off = cursor;
        let tasks_off = align(status_off + statuses.len() as u64 * 8);
        let bytes = align(tasks_off + statuses.len() as u64 * 64).max(64);
        let blocks: u64 = statuses
            .iter()
            .map(|&(t, _)| tensors[t].n_tiles().div_ceil(u64::from(TILE_WARPS)))
            .sum();
        if blocks > u64::from(i32::MAX as u32) {
            return Err(Error::InvalidArgument(format!(
                "{blocks} blocks of tiles in one group; the GPU decoder launches up to 2^31 - 1"
            )));
        }
        Ok(TileGroup {
            tensors,
            statuses,
            status_off,
            tasks_off,
            blocks,
            bytes,
        })
    }

    /// Scratch bytes the group needs.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The one-plane jobs that decode the group's stored planes into a scratch buffer at
    /// `base`, made from the group's jobs (in the order [`TileGroup::build`] saw them).
    pub(crate) fn plane_jobs<'a>(&self, jobs: Vec<Job<'a>>, base: u64) -> Vec<Job<'a>> {
        let mut out = Vec::new();
        for (job, tp) in jobs.into_iter().zip(&self.tensors) {
            let TensorStorage::Planes(l) = job.storage else {
                unreachable!("tiled jobs are planes tensors");
            };
            let t = l.tiles.expect("tiled job");
            let entry = job.entry;
            // One plane alone: `n_symbols` symbols decoded to `dst`.
            let one = |n_symbols, plane, dst, p, modes| Job {
                entry,
                storage: TensorStorage::Planes(PlanesLayout {
                    n_symbols,
                    chunk_symbols: l.chunk_symbols,
                    planes: vec![plane],
                    tiles: None,
                }),
                dst,
                part: Part::Plane { plane: p, modes },
            };
            for (p, ((plane, modes), pp)) in l
                .planes
                .into_iter()
                .zip(t.modes)
                .zip(&tp.planes)
                .enumerate()
            {
                let p = p as u32;
                match (modes, pp.tiled) {
                    (Some(m), Some((res, ids, _))) => {
                        out.push(one(t.grid.n_tiles(), m, base + ids, p, true));
                        out.push(one(l.n_symbols, plane, base + res, p, false));
                    }
                    _ => out.push(one(l.n_symbols, plane, pp.out.at(|Scratch| base), p, false)),
                }
            }
        }
        out
    }

    /// The header the kernels read, for a scratch buffer at `base`: its offset, and its bytes
    /// (the status words, `{0, u32::MAX}` per tiled plane, then the task list), uploaded
    /// before the rebuild. The status words come first: [`TileGroup::status_len`] bytes.
    pub(crate) fn header(&self, base: u64) -> (u64, Vec<u8>) {
        let mut v = Vec::with_capacity(
            (self.tasks_off - self.status_off) as usize + 64 * self.statuses.len(),
        );
        for _ in &self.statuses {
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&u32::MAX.to_le_bytes());
        }
        v.resize((self.tasks_off - self.status_off) as usize, 0);
        let mut first_block = 0u64;
        for tp in &self.tensors {
            for pp in &tp.planes {
                let Some((res, ids, s)) = pp.tiled else {
                    continue;
                };
                v.extend_from_slice(&bytes_of(&TileTask {
                    residuals: base + res,
                    modes: base + ids,
                    out: pp.out.at(|Scratch| base),
                    status: base + self.status_off + s as u64 * 8,
                    rows: tp.rows,
                    cols: tp.cols,
                    tile: tp.tile,
                    bias: u32::from(pp.bias),
                    first_block: first_block as u32,
                    reserved: 0,
                }));
                first_block += tp.n_tiles().div_ceil(u64::from(TILE_WARPS));
            }
        }
        (self.status_off, v)
    }

    /// Bytes of status words at the start of the header.
    pub(crate) fn status_len(&self) -> u64 {
        self.statuses.len() as u64 * 8
    }

    /// The rebuild launch (every tiled plane of the group at once), then the join launches, for
    /// a scratch buffer at `base`.
    pub(crate) fn launches(&self, base: u64) -> Vec<Launch> {
        let mut v = Vec::new();
        if self.blocks > 0 {
            v.push(Launch {
                kernel: "wcodec_tile_rebuild",
                grid: self.blocks as u32,
                block: 32 * TILE_WARPS,
                smem: TILE_SMEM,
                args: bytes_of(&TileArgs {
                    tasks: base + self.tasks_off,
                    n_tasks: self.statuses.len() as u32,
                    reserved: 0,
                }),
            });
        }
        for tp in &self.tensors {
            if let Some((at, dst, rotate)) = tp.join {
                v.push(Launch {
                    kernel: "wcodec_join",
                    grid: tp.n.div_ceil(256).clamp(1, MAX_GRID) as u32,
                    block: 256,
                    smem: 0,
                    args: bytes_of(&JoinArgs {
                        planes: base + at,
                        n: tp.n,
                        dst,
                        width: tp.planes.len() as u32,
                        rotate: u32::from(rotate),
                    }),
                });
            }
        }
        v
    }

    /// Turns the status words read back into the first error: a mode id ≥ 15, naming the tensor,
    /// the plane and the lowest such tile.
    pub(crate) fn check(&self, status: &[u8]) -> Result<()> {
        for (&(t, p), w) in self.statuses.iter().zip(status.chunks_exact(8)) {
            let code = u32::from_le_bytes(w[..4].try_into().expect("4 bytes"));
            if code != 0 {
                let tile = u32::from_le_bytes(w[4..].try_into().expect("4 bytes"));
                return Err(Error::CorruptTile {
                    tensor: self.tensors[t].name.clone(),
                    plane: p as u32,
                    tile: u64::from(tile),
                });
            }
        }
        Ok(())
    }
}
