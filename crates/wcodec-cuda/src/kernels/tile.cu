// Rebuilding tiled planes (format.md §6.5) and joining rebuilt planes into tensors.
//
// The entropy stage (decode.cu) decodes a tiled plane's residuals and its mode plane into device
// memory like any single-byte plane. `wcodec_tile_rebuild` then rebuilds the plane, one warp per
// tile: the tile's residuals are staged in shared memory, the inverse transform runs with one
// lane per line (every row, then every column), and prediction is undone along anti-diagonals,
// whose samples depend only on earlier diagonals (left, upper and upper-left neighbours), so the
// lanes of a warp rebuild a diagonal at once. Tiles are independent (format.md §6): no block
// waits for another.
//
// The transform programs (format.md §6.4) are data, generated on the host from the reference
// implementation (`wcodec::tile::transform::program`) into `tile_programs.cuh`: per program
// (kind · 6 + log2(L) − 1, kind 0 = dct, 1 = adst) its first step, its step count and its
// permutation; a step is `dst | src << 8 | neg << 15 | (u16)c << 16`. Every lane of a warp runs
// the same step at the same time, so the constant cache broadcasts it.
//
// All tiled planes of a group are rebuilt by one launch (a task list), so the tiles of many small
// planes fill the GPU together.
//
// Hostile input: a mode id >= WCODEC_TILE_MODES (15) marks the plane corrupt (the lowest such tile is reported) and
// the tile is skipped; residual bytes are any bytes (every step is a bijection mod 256). Reads and
// writes stay inside the tile's own ranges, which the host derived from the header's shape.

// Geometry from the Rust constants (`tiles.rs`), so the planner's shared-memory size and these
// buffers cannot drift apart.
#ifndef WCODEC_TILE_WARPS
#error "WCODEC_TILE_WARPS must be defined (-D from the Rust constants)"
#endif
#ifndef WCODEC_TILE_MAX
#error "WCODEC_TILE_MAX must be defined"
#endif
#ifndef WCODEC_TILE_STRIDE_MAX
#error "WCODEC_TILE_STRIDE_MAX must be defined"
#endif
#ifndef WCODEC_LINE_STRIDE
#error "WCODEC_LINE_STRIDE must be defined"
#endif
#ifndef WCODEC_TILE_MODES
#error "WCODEC_TILE_MODES must be defined"
#endif
#define WC_TILE_WARPS WCODEC_TILE_WARPS
#define WC_TILE_MAX WCODEC_TILE_MAX
// Row stride in shared memory: a multiple of 4 bytes with an odd number of words, so lanes that
// each walk their own row (lane i on row i) fall in different banks.
#define WC_TILE_STRIDE_MAX WCODEC_TILE_STRIDE_MAX
#define WC_TILE_BUF_BYTES (WC_TILE_MAX * WC_TILE_STRIDE_MAX)
// Each lane's scratch line for undoing a permutation (odd words again).
#define WC_LINE_STRIDE WCODEC_LINE_STRIDE
#define WC_TILE_WARP_BYTES (WC_TILE_BUF_BYTES + 32u * WC_LINE_STRIDE)

WC_DEVICE u32 tile_stride(u32 t) { return 4u * (2u * ((t + 7u) / 8u) + 1u); }
static_assert(WC_TILE_STRIDE_MAX == 4u * (2u * ((WC_TILE_MAX + 7u) / 8u) + 1u),
              "the buffer stride is tile_stride(WC_TILE_MAX)");

// Undoes program `prog` on the segment at `v` (element k at v[k * es]): the permutation first
// (stored position k holds coefficient k, which the steps left at perm[k]), then the steps
// backwards with every lift subtracted.
WC_DEVICE void inverse_segment(u8* v, u32 es, u32 prog, u8* tmp) {
    const u32 len = 2u << (prog % 6u);
    for (u32 k = 0; k < len; ++k) tmp[k] = v[k * es];
    for (u32 k = 0; k < len; ++k) v[(u32)wc_prog_perm[prog * 64u + k] * es] = tmp[k];
    const u32 first = wc_prog_first[prog];
    for (u32 i = wc_prog_count[prog]; i-- > 0;) {
        const u32 s = wc_prog_steps[first + i];
        u8* d = v + (s & 63u) * es;
        if (s & 0x8000u) {
            *d = (u8)(0u - (u32)*d);
        } else {
            const int c = (int)(short)(u16)(s >> 16);
            const int y = (int)(signed char)v[((s >> 8) & 63u) * es];
            *d = (u8)((u32)*d - (u32)((c * y + 64) >> 7));
        }
    }
}

// The inverse transform of a line of n values: segments by n's binary digits, largest first.
WC_DEVICE void inverse_line(u8* v, u32 es, u32 n, u32 kind, u8* tmp) {
    u32 at = 0;
    for (int b = 6; b >= 0; --b) {
        const u32 len = 1u << b;
        if ((n & len) == 0) continue;
        if (len >= 2) inverse_segment(v + at * es, es, kind * 6u + (u32)b - 1u, tmp);
        at += len;
    }
}

// Prediction of sample (i, j) from the values already rebuilt (format.md §6.3); `row` is row i.
WC_DEVICE u32 predict(const u8* row, u32 stride, u32 i, u32 j, u32 pred) {
    if (pred == 0u || (i == 0u && j == 0u)) return 128u;
    if (i == 0u) return row[j - 1u];
    if (j == 0u) return row[(int)j - (int)stride];
    const u32 a = row[j - 1u];
    const u32 b = row[(int)j - (int)stride];
    if (pred == 1u) return a;
    if (pred == 2u) return b;
    if (pred == 3u) return (a + b) >> 1;
    const int c = (int)row[(int)j - 1 - (int)stride];
    const int p = (int)a + (int)b - c;
    return (u32)(p < 0 ? 0 : (p > 255 ? 255 : p));
}

WC_DEVICE void rebuild_tile(const TileTask& a, u64 t, u64 tile_cols, u8* buf, u8* tmp, u32* status) {
    const u32 lane = wc_lane();
    const u64 T = a.tile;
    const u64 ti = t / tile_cols, tj = t % tile_cols;
    const u32 h = (u32)(T < a.rows - ti * T ? T : a.rows - ti * T);
    const u32 w = (u32)(T < a.cols - tj * T ? T : a.cols - tj * T);
    const u32 mode = ((const u8*)a.modes)[t];
    if (mode >= WCODEC_TILE_MODES) {
        if (lane == 0u) {
            status[0] = WCODEC_STATUS_BAD_MODE;
            wc_atomic_min(&status[1], (u32)t);
        }
        return;
    }
    const u32 pred = mode / 3u, kind = mode % 3u;
    const u32 S = tile_stride(a.tile);
    const u8* res = (const u8*)a.residuals + ti * T * a.cols + tj * T * h;
    const u32 hw = h * w;
    for (u32 k = lane; k < hw; k += 32u) {
        const u32 i = k / w;
        buf[i * S + (k - i * w)] = res[k];
    }
    wc_syncwarp();
    if (kind != 0u) {
        for (u32 i = lane; i < h; i += 32u) inverse_line(buf + i * S, 1u, w, kind - 1u, tmp);
        wc_syncwarp();
        for (u32 j = lane; j < w; j += 32u) inverse_line(buf + j, S, h, kind - 1u, tmp);
        wc_syncwarp();
    }
    if (pred == 0u) {
        for (u32 k = lane; k < hw; k += 32u) {
            const u32 i = k / w;
            u8* y = buf + i * S + (k - i * w);
            *y = (u8)(*y + 128u);
        }
    } else {
        for (u32 d = 0; d + 1u < h + w; ++d) {
            for (u32 i = lane; i < h && i <= d; i += 32u) {
                const u32 j = d - i;
                if (j < w) {
                    u8* row = buf + i * S;
                    row[j] = (u8)(row[j] + predict(row, S, i, j, pred));
                }
            }
            wc_syncwarp();
        }
    }
    wc_syncwarp();
    u8* out = (u8*)a.out + ti * T * a.cols + tj * T;
    for (u32 k = lane; k < hw; k += 32u) {
        const u32 i = k / w, j = k - i * w;
        out[(u64)i * a.cols + j] = (u8)(buf[i * S + j] ^ a.bias);
    }
    wc_syncwarp();
}

WC_KERNEL void __launch_bounds__(128) wcodec_tile_rebuild(const TileArgs a) {
    WC_SMEM_DECL;
    const TileTask* tasks = (const TileTask*)a.tasks;
    // The task of this block: the last one starting at or before it (binary search; every
    // warp of the block finds the same one).
    const u32 b = blockIdx.x;
    u32 lo = 0, hi = a.n_tasks;
    while (hi - lo > 1u) {
        const u32 mid = (lo + hi) >> 1;
        if (tasks[mid].first_block <= b) lo = mid; else hi = mid;
    }
    const TileTask task = tasks[lo];
    const u32 w = wc_warp();
    u8* buf = wc_smem + w * WC_TILE_WARP_BYTES;
    u8* tmp = buf + WC_TILE_BUF_BYTES + wc_lane() * WC_LINE_STRIDE;
    const u64 tile_cols = (task.cols + task.tile - 1u) / task.tile;
    const u64 n_tiles = ((task.rows + task.tile - 1u) / task.tile) * tile_cols;
    const u64 t = (u64)(b - task.first_block) * WC_TILE_WARPS + w;
    if (t < n_tiles) rebuild_tile(task, t, tile_cols, buf, tmp, (u32*)task.status);
}

WC_KERNEL void __launch_bounds__(256) wcodec_join(const JoinArgs a) {
    const u8* planes = (const u8*)a.planes;
    u8* dst = (u8*)a.dst;
    const bool rotate = a.rotate != 0u;
    const u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 e = (u64)blockIdx.x * blockDim.x + threadIdx.x; e < a.n; e += stride) {
        u64 v = 0;
        for (u32 p = 0; p < a.width; ++p) v = (v << 8) | planes[(u64)p * a.n + e];
        if (a.width == 2u) {
            if (rotate) v = ((v >> 1) | (v << 15)) & 0xffffu;
            ((u16*)dst)[e] = (u16)v;
        } else if (a.width == 4u) {
            if (rotate) v = ((v >> 1) | (v << 31)) & 0xffffffffu;
            ((u32*)dst)[e] = (u32)v;
        } else if (a.width == 8u) {
            if (rotate) v = (v >> 1) | (v << 63);
            ((u64*)dst)[e] = v;
        }
    }
}
