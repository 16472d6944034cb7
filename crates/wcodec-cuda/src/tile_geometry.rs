//! The geometry of the tile rebuild kernel (`kernels/tile.cu`): warps per block, the largest
//! tile, shared-memory strides. The planner ([`crate::tiles`]) sizes launches by these constants
//! and the kernel receives them as `-D` definitions: one source for both sides.

/// Warps (tiles in flight) per block of `wcodec_tile_rebuild`.
pub(crate) const TILE_WARPS: u32 = 4;
/// The largest tile side the kernel's buffers hold: the format's.
const TILE_MAX: u32 = wcodec::tile::MAX_TILE_SIZE;
/// Row stride of a tile in shared memory for a tile of side `t`: a multiple of 4 bytes with an
/// odd number of words, so lanes that each walk their own row fall in different banks
/// (`tile_stride` of `tile.cu`).
const fn tile_stride(t: u32) -> u32 {
    4 * (2 * t.div_ceil(8) + 1)
}
/// Each lane's scratch line for undoing a permutation (odd words again).
const LINE_STRIDE: u32 = tile_stride(TILE_MAX);
/// Shared memory of a block: per warp a `TILE_MAX` × stride tile buffer and 32 lines.
pub(crate) const TILE_SMEM: u32 =
    TILE_WARPS * (TILE_MAX * tile_stride(TILE_MAX) + 32 * LINE_STRIDE);
const _: () = assert!(
    TILE_SMEM <= 48 * 1024,
    "fits a block's default shared memory"
);

/// The tile kernel's geometry as `-D` definitions (sent with [`crate::abi`]'s), so `tile.cu` and
/// the planner cannot disagree on a buffer size.
pub(crate) fn kernel_defines() -> Vec<(&'static str, String)> {
    vec![
        ("WCODEC_TILE_WARPS", format!("{TILE_WARPS}u")),
        ("WCODEC_TILE_MAX", format!("{TILE_MAX}u")),
        (
            "WCODEC_TILE_STRIDE_MAX",
            format!("{}u", tile_stride(TILE_MAX)),
        ),
        ("WCODEC_LINE_STRIDE", format!("{LINE_STRIDE}u")),
        ("WCODEC_TILE_MODES", format!("{}u", wcodec::tile::N_MODES)),
    ]
}
