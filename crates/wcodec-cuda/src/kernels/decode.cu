// rANS chunk decode + plane join (format.md §4-5), one warp per chunk.
//
// A warp decodes chunk k of every plane of a tensor at once: lane l holds lane l's rANS state of
// each rANS plane, and at step t it produces element 32t + l of the chunk, reads its byte of
// every raw plane, joins the bytes (most significant plane first), undoes the float rotation and
// stores the element in the tensor's final layout. Lanes that need a renormalisation word take
// consecutive words in lane order: a ballot gives the set, a popc of the lower lanes each lane's
// index (format.md §5.4, "Why this layout").
//
// Every plane's chunk is a byte stream staged through a per-warp ring in shared memory: units of
// 512 bytes (32 lanes x 16 bytes) are copied with cp.async, WCODEC_RING_UNITS units ahead, so the
// dependent chain of a step touches only shared memory. A stream never reads past the unit that
// holds its last byte; the host leaves >= 512 bytes of slack after the last chunk of a batch, so
// no read leaves the staging allocation, whatever the chunk contents.
//
// Corruption (format.md §5.4): an initial state below L, a word wanted past the end of the
// stream, words left over, or a lane that does not end at L set the item's status (code | plane
// << 8) and stop the warp; no read or write depends on the stored words beyond these bounds:
// every read index is checked against the stream end before use, and every write goes to element
// e < n_elems of the item's own output range, which the host checked against the caller's buffer.
//
// A later format version (tile prediction/transforms) adds a reconstruction pass after this
// entropy stage: it runs as a separate kernel over the joined output, per tile, on the same stream.

static_assert(WCODEC_UNIT_BYTES == 32 * 16, "a unit is one 16-byte copy per lane");
static_assert((WCODEC_RING_UNITS & (WCODEC_RING_UNITS - 1)) == 0 && WCODEC_RING_UNITS >= 2 &&
                  WCODEC_RING_UNITS <= 5,
              "ring units: a power of two in [2, 4] (wait counts go up to 3)");

#define WC_PROB_SCALE (1u << WCODEC_PROB_BITS)
#define WC_RING_BYTES ((u32)WCODEC_UNIT_BYTES * (u32)WCODEC_RING_UNITS)
#define WC_RING_MASK (WC_RING_BYTES - 1u)

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
    wc_cp_async16(smem + s.ring + (s.iu % WCODEC_RING_UNITS) * WCODEC_UNIT_BYTES + lane * 16u,
                  s.base + (u64)s.iu * WCODEC_UNIT_BYTES + lane * 16u);
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
// units a step can touch (the current one and the next: a step consumes at most 64 bytes) landed.
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

template <int NP>
WC_DEVICE void store_word(u8* dst, u32 e, typename WordOf<NP>::T t, bool rotate) {
    if (NP == 1) {
        dst[e] = (u8)t;
    } else if (NP == 2) {
        u32 v = t & 0xffffu;
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

template <int NP>
WC_DEVICE void decode_item(const DecodeArgs& a, u32 item_index, u8* smem, u32 ring0) {
    typedef typename WordOf<NP>::T W;
    const DecodeItem it = ((const DecodeItem*)a.items)[item_index];
    const PlaneRef* refs = (const PlaneRef*)a.refs + it.first_ref;
    const u32* tables = (const u32*)smem;
    const u32 lane = wc_lane();
    const u32 m = it.n_elems;
    Stream st[NP];
    u32 x[NP];
    u32 tab[NP];
    u32 err = WC_STATUS_OK;

#pragma unroll
    for (int p = 0; p < NP; ++p) {
        const PlaneRef r = refs[p];
        const u32 ring = ring0 + (u32)p * WC_RING_BYTES;
        x[p] = WCODEC_RANS_L;
        tab[p] = WCODEC_RAW_TABLE;
        st[p].pos = st[p].end = st[p].cu = st[p].iu = st[p].nu = 0;
        if (r.table != WCODEC_RAW_TABLE) {
            if (r.table >= a.max_tables || r.bytes < WCODEC_STATE_BYTES ||
                ((r.bytes - WCODEC_STATE_BYTES) & 1u) != 0) {
                if (err == WC_STATUS_OK) err = WC_STATUS_BAD_REF | ((u32)p << 8);
                continue;
            }
            tab[p] = r.table << WCODEC_PROB_BITS;
            x[p] = ((const u32*)r.src)[lane];  // the 32 lane states: one coalesced 128-byte read
            stream_init(st[p], (const u8*)r.src + WCODEC_STATE_BYTES, r.bytes - WCODEC_STATE_BYTES,
                        ring, smem);
            if (wc_any(x[p] < WCODEC_RANS_L) && err == WC_STATUS_OK) {
                err = WC_STATUS_BAD_STATE | ((u32)p << 8);
            }
        } else {
            if (r.bytes != m) {
                if (err == WC_STATUS_OK) err = WC_STATUS_BAD_REF | ((u32)p << 8);
                continue;
            }
            stream_init(st[p], (const u8*)r.src, r.bytes, ring, smem);
        }
    }
    wc_cp_async_wait_all();
    wc_syncwarp();

    u8* const dst = (u8*)it.dst;
    const bool rotate = (it.flags & 1u) != 0;
    const u32 n_steps = (m + 31u) >> 5;
    for (u32 step = 0; step < n_steps && err == WC_STATUS_OK; ++step) {
        const u32 e = (step << 5) + lane;
        const bool active = e < m;
        W word = 0;
#pragma unroll
        for (int p = 0; p < NP; ++p) {
            u32 sym;
            if (tab[p] != WCODEC_RAW_TABLE) {
                const u32 xs = x[p];
                const u32 ent = tables[tab[p] + (xs & (WC_PROB_SCALE - 1u))];
                sym = ent & 0xffu;
                u32 nx = (((ent >> 8) & 0xfffu) + 1u) * (xs >> WCODEC_PROB_BITS) + (ent >> 20);
                const bool need = active && nx < WCODEC_RANS_L;
                const u32 mask = wc_ballot(need);
                const u32 take = 2u * wc_popc(mask);
                if (st[p].pos + take > st[p].end) {
                    err = WC_STATUS_EARLY_END | ((u32)p << 8);
                    break;
                }
                if (need) {
                    const u32 off = st[p].pos + 2u * wc_popc(mask & wc_lanemask_lt());
                    nx = (nx << 16) | (u32) * (const u16*)(smem + st[p].ring + (off & WC_RING_MASK));
                }
                if (active) x[p] = nx;
                st[p].pos += take;
            } else {
                sym = active ? (u32)smem[st[p].ring + ((st[p].pos + lane) & WC_RING_MASK)] : 0u;
                st[p].pos += 32u;
            }
            word = (W)((word << 8) | (W)sym);
            stream_advance(st[p], smem);
        }
        if (err != WC_STATUS_OK) break;
        if (active) store_word<NP>(dst, e, word, rotate);
    }

    if (err == WC_STATUS_OK) {
#pragma unroll
        for (int p = 0; p < NP; ++p) {
            if (tab[p] != WCODEC_RAW_TABLE && err == WC_STATUS_OK) {
                if (st[p].pos != st[p].end) {
                    err = WC_STATUS_TRAILING | ((u32)p << 8);
                } else if (wc_any(x[p] != WCODEC_RANS_L)) {
                    err = WC_STATUS_FINAL_STATE | ((u32)p << 8);
                }
            }
        }
    }
    wc_cp_async_wait_all();  // no copy may land in shared memory after this warp is done
    if (lane == 0) ((u32*)a.status)[item_index] = err;
}

template <int NP>
WC_DEVICE void decode_block(const DecodeArgs& a) {
    WC_SMEM_DECL;
    const DecodeBlock b = ((const DecodeBlock*)a.blocks)[blockIdx.x];
    // The tensor's tables (16 KiB each) into shared memory, 16 bytes per thread per pass.
    const u32 n_tables = b.n_tables < a.max_tables ? b.n_tables : a.max_tables;
    const uint4* src = (const uint4*)((const u32*)a.tables + ((u64)b.first_table << WCODEC_PROB_BITS));
    uint4* tdst = (uint4*)wc_smem;
    const u32 n_vec = n_tables * (WC_PROB_SCALE / 4u);
    for (u32 i = threadIdx.x; i < n_vec; i += blockDim.x) tdst[i] = src[i];
    wc_syncthreads();
    const u32 w = wc_warp();
    if (w < b.n_items) {
        const u32 ring0 = a.max_tables * WC_PROB_SCALE * 4u + w * (u32)NP * WC_RING_BYTES;
        decode_item<NP>(a, b.first_item + w, wc_smem, ring0);
    }
}

WC_KERNEL void __launch_bounds__(256) wcodec_decode_p1(const DecodeArgs a) { decode_block<1>(a); }
WC_KERNEL void __launch_bounds__(256) wcodec_decode_p2(const DecodeArgs a) { decode_block<2>(a); }
WC_KERNEL void __launch_bounds__(256) wcodec_decode_p4(const DecodeArgs a) { decode_block<4>(a); }
WC_KERNEL void __launch_bounds__(256) wcodec_decode_p8(const DecodeArgs a) { decode_block<8>(a); }
