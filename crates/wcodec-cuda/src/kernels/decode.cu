// rANS chunk decode + plane join (format.md §4-5), one warp per chunk.
//
// A warp decodes chunk k of every plane of a tensor at once: lane l holds lane l's rANS state of
// each rANS plane, and at step t it produces element 32t + l of the chunk, reads its byte of
// every raw plane, joins the bytes (most significant plane first), undoes the float rotation and
// stores the element in the tensor's final layout. Lanes that need a renormalisation word take
// consecutive words in lane order: a ballot gives the set, a popc of the lower lanes each lane's
// index (format.md §5.4, "Why this layout").
//
// Every rANS plane's chunk is a byte stream staged through a per-warp ring in shared memory:
// units of 256 bytes (16 lanes x 16 bytes) are copied with cp.async, up to two units ahead, so
// the dependent chain of a step touches only shared memory. Raw planes (and raw chunks) are read
// straight from global memory a group of steps ahead (see `load_raw`). A stream never reads past the unit that
// holds its last byte; the host leaves >= 256 bytes of slack after the last chunk of a batch, so
// no read leaves the staging allocation, whatever the chunk contents.
//
// Decode tables are copied from the file's format (wcodec's DecodeTable: slot - cum in bits
// 20..31, freq - 1 in 8..19, symbol in 0..7) into shared memory re-packed as bias (slot - cum)
// in 0..11, freq - 1 in 12..23, symbol in 24..31, which shortens the dependent chain of a step
// by one instruction: x' = (freq - 1) * (x >> 12) + ((x >> 12) + bias).
//
// Corruption (format.md §5.4): an initial state below L, words wanted past the end of the stream,
// words left over, or a lane that does not end at L set the item's status (code | plane << 8).
// No read or write depends on the stored words beyond these bounds: global reads are whole units
// below `nu` (fixed by the chunk's size, not its contents), words are read from the ring in
// shared memory (a corrupt stream that runs past its end reads stale ring bytes, and the position
// check reports it at the next ring check or at the end), and every write goes to element
// e < n_elems of the item's own output range, which the host checked against the caller's buffer.
//
// A later format version (tile prediction/transforms) adds a reconstruction pass after this
// entropy stage: it runs as a separate kernel over the joined output, per tile, on the same stream.

static_assert(WCODEC_UNIT_BYTES == 16 * 16, "a unit is one 16-byte copy by each of 16 lanes");
static_assert((WCODEC_RING_UNITS & (WCODEC_RING_UNITS - 1)) == 0 && WCODEC_RING_UNITS >= 2 &&
                  WCODEC_RING_UNITS <= 5,
              "ring units: a power of two in [2, 4] (wait counts go up to 3)");

#define WC_PROB_SCALE (1u << WCODEC_PROB_BITS)
#define WC_RING_BYTES ((u32)WCODEC_UNIT_BYTES * (u32)WCODEC_RING_UNITS)
#define WC_RING_MASK (WC_RING_BYTES - 1u)

// Steps between ring checks: a step consumes at most 64 bytes of a stream, so 4 steps stay
// within the two units made ready at the previous check.
#define WC_STEPS_PER_CHECK 4
static_assert(WC_STEPS_PER_CHECK * 64 <= WCODEC_UNIT_BYTES, "a check window fits one unit");

template <int NP>
struct WordOf {
    typedef u32 T;
};
template <>
struct WordOf<8> {
    typedef u64 T;
};

// A chunk's byte stream, staged through a ring of units in shared memory. All fields are
// warp-uniform. Offsets count from `base`, the stream start rounded down to 16 bytes.
struct Stream {
    const u8* base;
    u32 ring;  // byte offset of the ring in shared memory
    u32 pos;   // next byte to consume
    u32 end;   // one past the stream's last byte
    u32 cu;    // unit that holds `pos`
    u32 iu;    // units issued
    u32 nu;    // units that hold [0, end)
};

WC_DEVICE void stream_issue(Stream& s, u8* smem) {
    const u32 lane = wc_lane();
    if (lane < 16u) {
        wc_cp_async16(smem + s.ring + (s.iu % WCODEC_RING_UNITS) * WCODEC_UNIT_BYTES + lane * 16u,
                      s.base + (u64)s.iu * WCODEC_UNIT_BYTES + lane * 16u);
    }
    s.iu++;
}

WC_DEVICE void stream_init(Stream& s, const u8* start, u32 len, u32 ring, u8* smem) {
    const u64 a = (u64)start & ~(u64)15;
    s.base = (const u8*)a;
    s.ring = ring;
    s.pos = (u32)((u64)start - a);
    s.end = s.pos + len;
    s.nu = (s.end + WCODEC_UNIT_BYTES - 1u) / WCODEC_UNIT_BYTES;
    s.cu = 0;
    s.iu = 0;
    while (s.iu < s.nu && s.iu < (u32)WCODEC_RING_UNITS) {
        stream_issue(s, smem);
        wc_cp_async_commit();
    }
}

// After consuming: when `pos` enters a new unit, refill the slot just freed and make sure the
// units the next WC_STEPS_PER_CHECK steps can touch (the current one and the next) landed.
WC_DEVICE void stream_advance(Stream& s, u8* smem) {
    const u32 cu = s.pos / WCODEC_UNIT_BYTES;
    if (cu != s.cu) {
        s.cu = cu;
        wc_syncwarp();  // every lane is done with the slot about to be refilled
        if (s.iu < s.nu) {
            stream_issue(s, smem);
        }
        wc_cp_async_commit();
        // At least (iu - cu - 2) groups of this stream are younger than unit cu + 1's.
        wc_cp_async_wait_upto((int)s.iu - (int)cu - 2);
        wc_syncwarp();  // other lanes' copies are visible
    }
}

template <int NP, int ROT>
WC_DEVICE void store_word(u8* dst, u32 e, typename WordOf<NP>::T t, bool rotate_rt) {
    const bool rotate = ROT < 0 ? rotate_rt : ROT == 1;
    if (NP == 1) {
        dst[e] = (u8)t;
    } else if (NP == 2) {
        u32 v = (u32)t & 0xffffu;
        if (rotate) v = ((v >> 1) | (v << 15)) & 0xffffu;
        ((u16*)dst)[e] = (u16)v;
    } else if (NP == 4) {
        u32 v = (u32)t;
        if (rotate) v = (v >> 1) | (v << 31);
        ((u32*)dst)[e] = v;
    } else {
        u64 v = (u64)t;
        if (rotate) v = (v >> 1) | (v << 63);
        ((u64*)dst)[e] = v;
    }
}

// Whether plane p is a rANS plane for this item: fixed at compile time when RM >= 0 (a mask),
// read from `tab` when RM < 0.
template <int RM>
WC_DEVICE bool is_rans(int p, const u32* tab) {
    return RM >= 0 ? ((RM >> p) & 1) != 0 : tab[p] != WCODEC_RAW_TABLE;
}

// The per-item decode state, all in registers once inlined.
template <int NP>
struct ItemState {
    Stream st[NP];
    u32 x[NP];
    u32 tab[NP];       // first entry of the plane's table in shared memory, or WCODEC_RAW_TABLE
    const u8* raw[NP];  // a raw plane's (or raw chunk's) bytes in global memory
};

// Raw bytes are read straight from global memory, a group of steps ahead: lane l loads the
// 4 bytes [4l, 4l + 4) of the group's 128 elements as one word (the warp reads 128 contiguous
// bytes), and at step u gets its element's byte (32u + l, held by lane 8u + l/4) with one
// shuffle. Loading a group early keeps the load latency off the rANS chain: a warp issues in
// order, so a step waiting for its byte would stall the chain behind it.
template <int NP, int RM>
WC_DEVICE void load_raw(const ItemState<NP>& s, u32 step, u32 m, u32 lane, u32 (&out)[NP]) {
#pragma unroll
    for (int p = 0; p < NP; ++p) {
        if (!is_rans<RM>(p, s.tab)) {
            const u32 g = (step << 5) + (lane << 2);
            if ((step << 5) + 32u * WC_STEPS_PER_CHECK <= m) {
                out[p] = wc_ldg32(s.raw[p] + g);  // 4-aligned: the host aligns raw spans to 4
            } else {
                u32 v = 0;
                for (u32 b = 0; b < 4u; ++b) {
                    if (g + b < m) v |= (u32)s.raw[p][g + b] << (8u * b);
                }
                out[p] = v;
            }
        }
    }
}

// The word of lane `lane` at step u of a group, from the group's raw words: byte 0 holds the
// element's byte, the others are zero.
WC_DEVICE u32 raw_byte(u32 v, u32 u, u32 lane) {
    return wc_byte_perm(wc_shfl32(v, (u << 3) + (lane >> 2)), 0u, 0x4440u | (lane & 3u));
}

// One rANS step of plane p: returns the table entry of the decoded symbol (symbol in bits
// 24..31) and renormalises the state.
template <int NP>
WC_DEVICE u32 rans_step(ItemState<NP>& s, int p, bool active, u8* smem, const u32* tables,
                        u32 lanes_below) {
    const u32 xs = s.x[p];
    const u32 ent = tables[s.tab[p] + (xs & (WC_PROB_SCALE - 1u))];
    const u32 hi = xs >> WCODEC_PROB_BITS;
    u32 nx = ((ent >> 12) & 0xfffu) * hi + (hi + (ent & 0xfffu));
    const bool need = active && nx < WCODEC_RANS_L;
    const u32 mask = wc_ballot(need);
    // Every lane reads a word, needed or not, and selects: one predicate instead of a
    // predicated block (fewer instructions). Words past the stream end are read from the ring
    // (shared memory, never out of bounds); the position check at the next advance reports them.
    const u32 off = s.st[p].pos + 2u * wc_popc(mask & lanes_below);
    const u32 w = (u32) * (const u16*)(smem + s.st[p].ring + (off & WC_RING_MASK));
    nx = need ? (nx << 16) | w : nx;
    if (active) s.x[p] = nx;
    s.st[p].pos += 2u * wc_popc(mask);
    return ent;
}

// One step: element 32*step + lane of every plane. FULL: every lane has an element. `raw`
// holds the group's raw words (see load_raw), u the step within the group.
template <int NP, int RM, int ROT, bool FULL>
WC_DEVICE void item_step(ItemState<NP>& s, u32 step, u32 m, u8* smem, const u32* tables,
                         u8* dst, bool rotate, u32 lane, u32 lanes_below, const u32 (&raw)[NP],
                         u32 u) {
    typedef typename WordOf<NP>::T W;
    const u32 e = (step << 5) + lane;
    const bool active = FULL || e < m;
    if (NP == 2 && RM == 1 && ROT >= 0) {
        // The common two-plane shape (BF16's exponent byte coded, mantissa byte raw; FP16):
        // one byte permute builds [raw, symbol, raw, symbol], whose low half is the joined word
        // and which, shifted right by one, is that word rotated right by one bit (BF16).
        const u32 ent = rans_step<NP>(s, 0, active, smem, tables, lanes_below);
        const u32 w = wc_shfl32(raw[1], (u << 3) + (lane >> 2));
        const u32 sel = (lane & 3u) * 0x0101u + 0x7070u;
        const u32 dup = wc_byte_perm(w, ent, sel);
        if (active) ((u16*)dst)[e] = (u16)(ROT == 1 ? dup >> 1 : dup);
        return;
    }
    W word = 0;
#pragma unroll
    for (int p = 0; p < NP; ++p) {
        u32 sym;
        if (is_rans<RM>(p, s.tab)) {
            sym = rans_step<NP>(s, p, active, smem, tables, lanes_below) >> 24;
        } else {
            sym = raw_byte(raw[p], u, lane);
        }
        word = (W)((word << 8) | (W)sym);
    }
    if (active) store_word<NP, ROT>(dst, e, word, rotate);
}

// Refills rings after up to STEPS_PER_CHECK steps; reports a rANS stream read past its end.
template <int NP, int RM>
WC_DEVICE u32 item_advance(ItemState<NP>& s, u8* smem) {
    u32 err = WCODEC_STATUS_OK;
#pragma unroll
    for (int p = 0; p < NP; ++p) {
        if (is_rans<RM>(p, s.tab)) {
            stream_advance(s.st[p], smem);
            if (s.st[p].pos > s.st[p].end && err == WCODEC_STATUS_OK) {
                err = WCODEC_STATUS_EARLY_END | ((u32)p << 8);
            }
        }
    }
    return err;
}


template <int NP, int RM, int ROT>
WC_DEVICE u32 run_item(ItemState<NP>& s, u32 m, u8* smem, u8* dst, bool rotate) {
    const u32* tables = (const u32*)smem;
    const u32 lane = wc_lane();
    const u32 lanes_below = wc_lanemask_lt();
    const u32 n_steps = (m + 31u) >> 5;  // <= n_full + 1
    const u32 n_full = m >> 5;
    u32 next[NP];
    load_raw<NP, RM>(s, 0, m, lane, next);
    u32 step = 0;
    for (; step + WC_STEPS_PER_CHECK <= n_full; step += WC_STEPS_PER_CHECK) {
        u32 cur[NP];
#pragma unroll
        for (int p = 0; p < NP; ++p) cur[p] = next[p];
        load_raw<NP, RM>(s, step + WC_STEPS_PER_CHECK, m, lane, next);
#pragma unroll
        for (u32 u = 0; u < WC_STEPS_PER_CHECK; ++u) {
            item_step<NP, RM, ROT, true>(s, step + u, m, smem, tables, dst, rotate, lane,
                                         lanes_below, cur, u);
        }
        const u32 err = item_advance<NP, RM>(s, smem);
        if (err != WCODEC_STATUS_OK) return err;
    }
    // The last (< WC_STEPS_PER_CHECK + 1) steps: their raw bytes are in `next`; no ring check
    // is needed, they stay within the window of the last check. The final checks follow.
#pragma unroll
    for (u32 u = 0; u < WC_STEPS_PER_CHECK; ++u) {
        if (step + u < n_full) {
            item_step<NP, RM, ROT, true>(s, step + u, m, smem, tables, dst, rotate, lane,
                                         lanes_below, next, u);
        } else if (step + u < n_steps) {
            item_step<NP, RM, ROT, false>(s, step + u, m, smem, tables, dst, rotate, lane,
                                          lanes_below, next, u);
        }
    }
    return WCODEC_STATUS_OK;
}

template <int NP>
WC_DEVICE void decode_item(const DecodeArgs& a, u32 item_index, u8* smem, u32 ring0) {
    const DecodeItem it = ((const DecodeItem*)a.items)[item_index];
    const PlaneRef* refs = (const PlaneRef*)a.refs + it.first_ref;
    const u32 lane = wc_lane();
    const u32 m = it.n_elems;
    ItemState<NP> s;
    u32 err = WCODEC_STATUS_OK;

#pragma unroll
    for (int p = 0; p < NP; ++p) {
        const PlaneRef r = refs[p];
        s.x[p] = WCODEC_RANS_L;
        s.tab[p] = WCODEC_RAW_TABLE;
        s.st[p].base = (const u8*)0;
        s.st[p].ring = ring0;
        s.st[p].pos = s.st[p].end = s.st[p].cu = s.st[p].iu = s.st[p].nu = 0;
        s.raw[p] = (const u8*)r.src;
        if (r.table != WCODEC_RAW_TABLE) {
            if (r.table >= a.max_tables || r.bytes < WCODEC_STATE_BYTES ||
                ((r.bytes - WCODEC_STATE_BYTES) & 1u) != 0) {
                if (err == WCODEC_STATUS_OK) err = WCODEC_STATUS_BAD_REF | ((u32)p << 8);
                continue;
            }
            s.tab[p] = r.table << WCODEC_PROB_BITS;
            s.x[p] = ((const u32*)r.src)[lane];  // the 32 lane states: one coalesced 128-byte read
            // A warp has one ring per rANS plane of its tensor, indexed like the tables.
            stream_init(s.st[p], (const u8*)r.src + WCODEC_STATE_BYTES, r.bytes - WCODEC_STATE_BYTES,
                        ring0 + r.table * WC_RING_BYTES, smem);
            if (wc_any(s.x[p] < WCODEC_RANS_L) && err == WCODEC_STATUS_OK) {
                err = WCODEC_STATUS_BAD_STATE | ((u32)p << 8);
            }
        } else {
            if (r.bytes != m) {
                if (err == WCODEC_STATUS_OK) err = WCODEC_STATUS_BAD_REF | ((u32)p << 8);
                continue;
            }
        }
    }
    wc_cp_async_wait_all();
    wc_syncwarp();

    u8* const dst = (u8*)it.dst;
    const bool rotate = (it.flags & 1u) != 0;
    if (err == WCODEC_STATUS_OK) {
        u32 rmask = 0;
#pragma unroll
        for (int p = 0; p < NP; ++p) rmask |= (s.tab[p] != WCODEC_RAW_TABLE ? 1u : 0u) << p;
        // The common shapes get a loop with the plane kinds and the rotation fixed at compile
        // time; wider words take the general loop.
        if (NP == 1) {
            err = rmask ? run_item<NP, 1, 0>(s, m, smem, dst, rotate)
                        : run_item<NP, 0, 0>(s, m, smem, dst, rotate);
        } else if (NP == 2) {
            switch (rmask | (rotate ? 4u : 0u)) {
                case 0: err = run_item<NP, 0, 0>(s, m, smem, dst, rotate); break;
                case 1: err = run_item<NP, 1, 0>(s, m, smem, dst, rotate); break;
                case 2: err = run_item<NP, 2, 0>(s, m, smem, dst, rotate); break;
                case 3: err = run_item<NP, 3, 0>(s, m, smem, dst, rotate); break;
                case 4: err = run_item<NP, 0, 1>(s, m, smem, dst, rotate); break;
                case 5: err = run_item<NP, 1, 1>(s, m, smem, dst, rotate); break;
                case 6: err = run_item<NP, 2, 1>(s, m, smem, dst, rotate); break;
                default: err = run_item<NP, 3, 1>(s, m, smem, dst, rotate); break;
            }
        } else {
            err = run_item<NP, -1, -1>(s, m, smem, dst, rotate);
        }
    }

    if (err == WCODEC_STATUS_OK) {
#pragma unroll
        for (int p = 0; p < NP; ++p) {
            if (s.tab[p] != WCODEC_RAW_TABLE && err == WCODEC_STATUS_OK) {
                if (s.st[p].pos > s.st[p].end) {
                    err = WCODEC_STATUS_EARLY_END | ((u32)p << 8);
                } else if (s.st[p].pos != s.st[p].end) {
                    err = WCODEC_STATUS_TRAILING | ((u32)p << 8);
                } else if (wc_any(s.x[p] != WCODEC_RANS_L)) {
                    err = WCODEC_STATUS_FINAL_STATE | ((u32)p << 8);
                }
            }
        }
    }
    wc_cp_async_wait_all();  // no copy may land in shared memory after this warp is done
    if (lane == 0) ((u32*)a.status)[item_index] = err;
}

// wcodec's packing (slot - cum << 20 | freq - 1 << 8 | symbol) to the kernel's
// (symbol << 24 | freq - 1 << 12 | slot - cum).
WC_DEVICE u32 repack_entry(u32 e) {
    return ((e & 0xffu) << 24) | (((e >> 8) & 0xfffu) << 12) | (e >> 20);
}

// Blocks of 256 threads the compiler must fit on a multiprocessor: a register budget (a
// benchmark knob: WCODEC_KERNEL_DEFINES with the kernel-experiments feature; 1 leaves the
// compiler free).
#ifndef WC_MIN_BLOCKS
#define WC_MIN_BLOCKS 1
#endif

template <int NP>
WC_DEVICE void decode_block(const DecodeArgs& a) {
    WC_SMEM_DECL;
    const DecodeBlock b = ((const DecodeBlock*)a.blocks)[blockIdx.x];
    // The tensor's tables (16 KiB each) into shared memory, 16 bytes per thread per pass,
    // re-packed (see the top of this file).
    const u32 n_tables = b.n_tables < a.max_tables ? b.n_tables : a.max_tables;
    const uint4* src = (const uint4*)((const u32*)a.tables + ((u64)b.first_table << WCODEC_PROB_BITS));
    uint4* tdst = (uint4*)wc_smem;
    const u32 n_vec = n_tables * (WC_PROB_SCALE / 4u);
    for (u32 i = threadIdx.x; i < n_vec; i += blockDim.x) {
        uint4 v = src[i];
        v.x = repack_entry(v.x);
        v.y = repack_entry(v.y);
        v.z = repack_entry(v.z);
        v.w = repack_entry(v.w);
        tdst[i] = v;
    }
    wc_syncthreads();
    const u32 w = wc_warp();
    if (w < b.n_items) {
        const u32 ring0 = a.max_tables * WC_PROB_SCALE * 4u + w * a.max_tables * WC_RING_BYTES;
        decode_item<NP>(a, b.first_item + w, wc_smem, ring0);
    }
}

WC_KERNEL void __launch_bounds__(256, WC_MIN_BLOCKS) wcodec_decode_p1(const DecodeArgs a) { decode_block<1>(a); }
WC_KERNEL void __launch_bounds__(256, WC_MIN_BLOCKS) wcodec_decode_p2(const DecodeArgs a) { decode_block<2>(a); }
WC_KERNEL void __launch_bounds__(256, WC_MIN_BLOCKS) wcodec_decode_p4(const DecodeArgs a) { decode_block<4>(a); }
WC_KERNEL void __launch_bounds__(256, WC_MIN_BLOCKS) wcodec_decode_p8(const DecodeArgs a) { decode_block<8>(a); }
