// Structures shared with Rust (`src/abi.rs` mirrors each one as `#[repr(C)]` and checks its size
// in a test; the static_asserts below check this side). Device addresses travel as u64.

// One chunk of one tensor: elements [k*C, k*C + n_elems) of every plane, decoded and joined by
// one warp straight into the tensor's final layout.
struct DecodeItem {
    u64 dst;        // device address of the chunk's first output element
    u32 n_elems;    // elements (= symbols per plane) in the chunk, 1..=chunk_symbols
    u32 first_ref;  // index of plane 0's PlaneRef; planes follow in plane order
    u32 flags;      // bit 0: float layout (undo the 1-bit rotation)
    u32 reserved;
};
static_assert(sizeof(DecodeItem) == 24, "DecodeItem layout");

// Chunk k of one plane.
struct PlaneRef {
    u64 src;    // device address of the chunk's stored bytes (4-byte aligned)
    u32 bytes;  // stored bytes; == n_elems for a raw chunk or raw plane
    u32 table;  // rANS: index of the plane's table among its block's tables; raw: WCODEC_RAW_TABLE
};
static_assert(sizeof(PlaneRef) == 16, "PlaneRef layout");

// A thread block's work: up to blockDim.x/32 consecutive items of one tensor, which share the
// tensor's decode tables (loaded once into shared memory).
struct DecodeBlock {
    u32 first_item;
    u32 n_items;
    u32 first_table;  // index of the tensor's first 4096-entry table in the table array
    u32 n_tables;     // tables of this tensor (its rANS planes)
};
static_assert(sizeof(DecodeBlock) == 16, "DecodeBlock layout");

struct DecodeArgs {
    u64 blocks;    // const DecodeBlock*
    u64 items;     // const DecodeItem*
    u64 refs;      // const PlaneRef*
    u64 tables;    // const u32* (4096 packed entries per table, format of wcodec's DecodeTable)
    u64 status;    // u32*, one per item
    u32 n_blocks;
    u32 max_tables;  // tables per block this launch reserves shared memory for
};
static_assert(sizeof(DecodeArgs) == 48, "DecodeArgs layout");

// XXH3-64 (seed 0) of `len` bytes at `src`, written to `*out`. Inputs over 240 bytes read the
// per-1024-byte-block terms of their full blocks from `terms` (computed by wcodec_xxh3_terms).
// As a task of wcodec_xxh3_terms, the same struct means: `len` full blocks from `src`, their
// terms (8 u64 per block) written to `out`.
struct HashJob {
    u64 src;
    u64 len;
    u64 out;
    u64 terms;
};
static_assert(sizeof(HashJob) == 32, "HashJob layout");

struct HashArgs {
    u64 jobs;  // const HashJob*
    u32 n_jobs;
    u32 reserved;
};
static_assert(sizeof(HashArgs) == 16, "HashArgs layout");

// One tiled plane rebuilt from its residual plane and mode plane (format.md §6.5), both already
// decoded into device memory, into its plane bytes (a view of `rows` x `cols` symbols).
struct TileTask {
    u64 residuals;  // const u8*: the residual plane, tiles in tile order
    u64 modes;      // const u8*: one mode id per tile
    u64 out;        // u8*: the rebuilt plane
    u64 status;     // u32[2]: {WCODEC_STATUS_BAD_MODE or 0, lowest bad tile (init 0xFFFFFFFF)}
    u64 rows;
    u64 cols;
    u32 tile;         // T, 4..=64
    u32 bias;         // XORed into the values (format.md §6.3)
    u32 first_block;  // blocks of the launch before this task's (each block: 4 tiles)
    u32 reserved;
};
static_assert(sizeof(TileTask) == 64, "TileTask layout");

// Every tiled plane of a group in one launch: block b rebuilds tiles of the task whose
// first_block is the largest <= b.
struct TileArgs {
    u64 tasks;  // const TileTask*, by increasing first_block
    u32 n_tasks;
    u32 reserved;
};
static_assert(sizeof(TileArgs) == 16, "TileArgs layout");

// Rebuilt planes of one tensor (plane p at planes + p * n) joined into the tensor's final layout.
struct JoinArgs {
    u64 planes;  // const u8*
    u64 n;       // symbols per plane
    u64 dst;     // tensor bytes
    u32 width;   // planes: 2, 4 or 8
    u32 rotate;  // 1: float layout (undo the 1-bit rotation)
};
static_assert(sizeof(JoinArgs) == 32, "JoinArgs layout");

// Per-item status codes (low byte; the plane index is in bits 8..15) are the WCODEC_STATUS_*
// options, from the Rust constants of `abi::status` (checked in prelude.cuh).
