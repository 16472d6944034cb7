//! Structures and constants shared with the kernels (`src/kernels/abi.cuh` mirrors each struct;
//! both sides check the sizes). Device addresses travel as `u64`.

use wcodec::rans::{ChunkError, PROB_BITS, RANS_L, STATE_BYTES};

/// Bytes copied into a warp's shared-memory ring at a time: 16 lanes × 16 bytes. Small units
/// keep the rings small (1 KiB per plane and warp), which leaves room for more warps per
/// multiprocessor; 4 steps (at most 64 bytes each) still fit one unit.
pub(crate) const UNIT_BYTES: u32 = 256;
/// Units in a ring: the stream is read up to two units ahead of the decoder; the wait logic in
/// `decode.cu` supports up to 4.
pub(crate) const RING_UNITS: u32 = 4;
/// Bytes of one ring.
pub(crate) const RING_BYTES: u32 = UNIT_BYTES * RING_UNITS;
/// Table index marking a raw plane or raw chunk in a [`PlaneRef`].
pub(crate) const RAW_TABLE: u32 = u32::MAX;
/// Bytes of one decode table in shared memory (4096 packed `u32` entries).
pub(crate) const TABLE_BYTES: u32 = (1 << PROB_BITS) * 4;
/// Block size of the blocked tensor checksum (format.md §3.2).
pub(crate) const HASH_BLOCK_BYTES: u64 = wcodec::checksum::HASH_BLOCK_BYTES as u64;
/// Readable slack after the last staged chunk: a stream may read up to the end of the 512-byte
/// unit holding its last byte.
pub(crate) const STAGING_SLACK_BYTES: u64 = 4096;

/// Status written for an item the kernel never reached (the status array is filled with 0xFF).
pub(crate) const STATUS_NOT_RUN: u32 = u32::MAX;

/// One chunk of one tensor (see `abi.cuh`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DecodeItem {
    /// Device address of the chunk's first output element.
    pub dst: u64,
    /// Elements in the chunk.
    pub n_elems: u32,
    /// Index of plane 0's [`PlaneRef`].
    pub first_ref: u32,
    /// Bit 0: float layout (undo the rotation).
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// Chunk `k` of one plane.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlaneRef {
    /// Device address of the chunk's stored bytes.
    pub src: u64,
    /// Stored bytes.
    pub bytes: u32,
    /// Table index within the block, or [`RAW_TABLE`].
    pub table: u32,
}

/// One thread block's work.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DecodeBlock {
    /// First item.
    pub first_item: u32,
    /// Items (≤ warps per block).
    pub n_items: u32,
    /// The tensor's first table in the table array.
    pub first_table: u32,
    /// The tensor's tables.
    pub n_tables: u32,
}

/// Arguments of `wcodec_decode_p{1,2,4,8}`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DecodeArgs {
    /// `const DecodeBlock*`.
    pub blocks: u64,
    /// `const DecodeItem*`.
    pub items: u64,
    /// `const PlaneRef*`.
    pub refs: u64,
    /// `const u32*` tables.
    pub tables: u64,
    /// `u32*` statuses.
    pub status: u64,
    /// Blocks in the launch.
    pub n_blocks: u32,
    /// Tables per block reserved in shared memory.
    pub max_tables: u32,
}

/// One XXH3-64 job (or, for `wcodec_xxh3_terms`, one task: `len` full blocks, terms to `out`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HashJob {
    /// Device address of the input.
    pub src: u64,
    /// Input bytes (blocks, for a terms task).
    pub len: u64,
    /// Device address of the `u64` result (of the terms, for a terms task).
    pub out: u64,
    /// Device address of the input's block terms (inputs over 240 bytes).
    pub terms: u64,
}

/// Arguments of `wcodec_xxh3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HashArgs {
    /// `const HashJob*`.
    pub jobs: u64,
    /// Jobs.
    pub n_jobs: u32,
    /// Zero.
    pub reserved: u32,
}

/// One tiled plane for `wcodec_tile_rebuild` (see `abi.cuh`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TileTask {
    /// `const u8*` residual plane.
    pub residuals: u64,
    /// `const u8*` mode ids, one per tile.
    pub modes: u64,
    /// `u8*` rebuilt plane.
    pub out: u64,
    /// `u32[2]`: status code, lowest bad tile.
    pub status: u64,
    /// Rows of the plane's 2-D view.
    pub rows: u64,
    /// Columns of the view.
    pub cols: u64,
    /// Tile side.
    pub tile: u32,
    /// Bias XORed into values.
    pub bias: u32,
    /// Blocks of the launch before this task's.
    pub first_block: u32,
    /// Zero.
    pub reserved: u32,
}

/// Arguments of `wcodec_tile_rebuild`: the task list of a group.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TileArgs {
    /// `const TileTask*`.
    pub tasks: u64,
    /// Tasks.
    pub n_tasks: u32,
    /// Zero.
    pub reserved: u32,
}

/// Arguments of `wcodec_join`: rebuilt planes into a tensor's layout (see `abi.cuh`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct JoinArgs {
    /// `const u8*` planes, plane `p` at `planes + p · n`.
    pub planes: u64,
    /// Symbols per plane.
    pub n: u64,
    /// Tensor bytes.
    pub dst: u64,
    /// Planes (2, 4 or 8).
    pub width: u32,
    /// 1: undo the float rotation.
    pub rotate: u32,
}

/// Status codes the kernels write (low byte of a status; the plane is in bits 8..15). The kernels
/// get them as `-DWCODEC_STATUS_*` options ([`kernel_defines`]), so these are the only values.
pub mod status {
    /// Decoded and every check passed.
    pub const OK: u32 = 0;
    /// An initial lane state is below `L`.
    pub const BAD_STATE: u32 = 1;
    /// The word stream ends before the chunk does.
    pub const EARLY_END: u32 = 2;
    /// Words are left over.
    pub const TRAILING: u32 = 3;
    /// A lane does not end in state `L`.
    pub const FINAL_STATE: u32 = 4;
    /// A descriptor is inconsistent (a planner bug, never file content).
    pub const BAD_REF: u32 = 5;
    /// A tile's mode id is 15 or more.
    pub const BAD_MODE: u32 = 6;
}

/// The rule of format.md §5.4 that a chunk status reports broken, as the CPU decoder names it;
/// `None` for [`status::OK`] and for codes that are no chunk rule ([`status::BAD_REF`], a
/// planner bug, and anything unknown).
pub(crate) fn chunk_error(code: u32) -> Option<ChunkError> {
    match code & 0xff {
        status::BAD_STATE => Some(ChunkError::BadState),
        status::EARLY_END => Some(ChunkError::EarlyEnd),
        status::TRAILING => Some(ChunkError::Trailing),
        status::FINAL_STATE => Some(ChunkError::FinalState),
        _ => None,
    }
}

/// Raw bytes of a `#[repr(C)]` plain-data value (for kernel arguments and descriptor arrays).
pub(crate) trait Pod: Copy {
    /// Appends the value's bytes, little-endian field by field (the layout the kernels read).
    fn put(&self, out: &mut Vec<u8>);
}

impl Pod for DecodeItem {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst.to_le_bytes());
        out.extend_from_slice(&self.n_elems.to_le_bytes());
        out.extend_from_slice(&self.first_ref.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.reserved.to_le_bytes());
    }
}

impl Pod for PlaneRef {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.src.to_le_bytes());
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.extend_from_slice(&self.table.to_le_bytes());
    }
}

impl Pod for DecodeBlock {
    fn put(&self, out: &mut Vec<u8>) {
        for v in [
            self.first_item,
            self.n_items,
            self.first_table,
            self.n_tables,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

impl Pod for DecodeArgs {
    fn put(&self, out: &mut Vec<u8>) {
        for v in [self.blocks, self.items, self.refs, self.tables, self.status] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.n_blocks.to_le_bytes());
        out.extend_from_slice(&self.max_tables.to_le_bytes());
    }
}

impl Pod for TileTask {
    fn put(&self, out: &mut Vec<u8>) {
        for v in [
            self.residuals,
            self.modes,
            self.out,
            self.status,
            self.rows,
            self.cols,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.tile, self.bias, self.first_block, self.reserved] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

impl Pod for TileArgs {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tasks.to_le_bytes());
        out.extend_from_slice(&self.n_tasks.to_le_bytes());
        out.extend_from_slice(&self.reserved.to_le_bytes());
    }
}

impl Pod for JoinArgs {
    fn put(&self, out: &mut Vec<u8>) {
        for v in [self.planes, self.n, self.dst] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.rotate.to_le_bytes());
    }
}

impl Pod for HashJob {
    fn put(&self, out: &mut Vec<u8>) {
        for v in [self.src, self.len, self.out, self.terms] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

impl Pod for HashArgs {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.jobs.to_le_bytes());
        out.extend_from_slice(&self.n_jobs.to_le_bytes());
        out.extend_from_slice(&self.reserved.to_le_bytes());
    }
}

/// The serialised bytes of `v`.
pub(crate) fn bytes_of<T: Pod>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of::<T>());
    v.put(&mut out);
    out
}

/// The `-D` definitions every kernel compile gets, built from the Rust constants so the two
/// sides cannot drift.
pub(crate) fn kernel_defines() -> Vec<(&'static str, String)> {
    vec![
        ("WCODEC_PROB_BITS", PROB_BITS.to_string()),
        ("WCODEC_RANS_L", format!("{RANS_L}u")),
        ("WCODEC_STATE_BYTES", format!("{STATE_BYTES}u")),
        ("WCODEC_UNIT_BYTES", format!("{UNIT_BYTES}u")),
        ("WCODEC_RING_UNITS", format!("{RING_UNITS}u")),
        ("WCODEC_RAW_TABLE", format!("{RAW_TABLE:#x}u")),
        ("WCODEC_HASH_BLOCK_BYTES", format!("{HASH_BLOCK_BYTES}ull")),
        ("WCODEC_STATUS_OK", format!("{}u", status::OK)),
        ("WCODEC_STATUS_BAD_STATE", format!("{}u", status::BAD_STATE)),
        ("WCODEC_STATUS_EARLY_END", format!("{}u", status::EARLY_END)),
        ("WCODEC_STATUS_TRAILING", format!("{}u", status::TRAILING)),
        (
            "WCODEC_STATUS_FINAL_STATE",
            format!("{}u", status::FINAL_STATE),
        ),
        ("WCODEC_STATUS_BAD_REF", format!("{}u", status::BAD_REF)),
        ("WCODEC_STATUS_BAD_MODE", format!("{}u", status::BAD_MODE)),
    ]
    .into_iter()
    .chain(crate::tile_geometry::kernel_defines())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_kernel_structs() {
        // The same numbers as the static_asserts of abi.cuh.
        assert_eq!(std::mem::size_of::<DecodeItem>(), 24);
        assert_eq!(std::mem::size_of::<PlaneRef>(), 16);
        assert_eq!(std::mem::size_of::<DecodeBlock>(), 16);
        assert_eq!(std::mem::size_of::<DecodeArgs>(), 48);
        assert_eq!(std::mem::size_of::<HashJob>(), 32);
        assert_eq!(std::mem::size_of::<HashArgs>(), 16);
        assert_eq!(bytes_of(&DecodeItem::default()).len(), 24);
        assert_eq!(bytes_of(&PlaneRef::default()).len(), 16);
        assert_eq!(bytes_of(&DecodeBlock::default()).len(), 16);
        assert_eq!(bytes_of(&DecodeArgs::default()).len(), 48);
        assert_eq!(bytes_of(&HashJob::default()).len(), 32);
        assert_eq!(bytes_of(&HashArgs::default()).len(), 16);
        assert_eq!(std::mem::size_of::<TileTask>(), 64);
        assert_eq!(std::mem::size_of::<TileArgs>(), 16);
        assert_eq!(bytes_of(&TileTask::default()).len(), 64);
        assert_eq!(std::mem::size_of::<JoinArgs>(), 32);
        assert_eq!(bytes_of(&TileArgs::default()).len(), 16);
        assert_eq!(bytes_of(&JoinArgs::default()).len(), 32);
    }

    #[test]
    fn serialisation_is_field_order_little_endian() {
        let item = DecodeItem {
            dst: 0x0102_0304_0506_0708,
            n_elems: 9,
            first_ref: 10,
            flags: 1,
            reserved: 0,
        };
        let b = bytes_of(&item);
        assert_eq!(&b[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&b[8..12], &9u32.to_le_bytes());
        assert_eq!(&b[16..20], &1u32.to_le_bytes());
    }
}
