// XXH3-64 (seed 0, default secret) on the GPU, bit-exact with the reference (xxhash 0.8) and the
// `xxhash-rust` crate the CPU path uses: the tensor checksum of format.md §3.2.
//
// One warp hashes one input. Inputs of at most 240 bytes take the scalar short paths on lane 0.
// Longer inputs run in two phases. Within a 1024-byte block the accumulator update is a sum (of
// the partner lane's data words and the keyed products), only the scramble between blocks is
// sequential. Phase 1 (wcodec_xxh3_terms, fully parallel, bandwidth-bound) computes each full
// block's 8 sums ("terms"): lane = 8g + i holds accumulator i's share of stripes g, g+4, g+8,
// g+12, and two xor-shuffles add the four groups. Phase 2 (wcodec_xxh3) runs the sequential
// chain acc += term; scramble over the terms (1/16 of the input), then the partial block, the
// last stripe and the merge. The blocked checksum of tensors over 1 MiB hashes every 1 MiB block,
// then the block hashes: four launches in all.

#define WC_P32_1 0x9E3779B1ull
#define WC_P32_2 0x85EBCA77ull
#define WC_P32_3 0xC2B2AE3Dull
#define WC_P64_1 0x9E3779B185EBCA87ull
#define WC_P64_2 0xC2B2AE3D27D4EB4Full
#define WC_P64_3 0x165667B19E3779F9ull
#define WC_P64_4 0x85EBCA77C2B2AE63ull
#define WC_P64_5 0x27D4EB2F165667C5ull
#define WC_SECRET_BYTES 192u

WC_DEVICE_CONST u8 wc_xxh3_secret[WC_SECRET_BYTES] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

// Little-endian reads at any alignment (inputs are tensor bytes; the secret is in shared memory).
WC_DEVICE u64 wc_rd64(const u8* p) {
    u64 v = 0;
#pragma unroll
    for (int k = 7; k >= 0; --k) v = (v << 8) | (u64)p[k];
    return v;
}
WC_DEVICE u64 wc_rd32(const u8* p) {
    return (u64)p[0] | ((u64)p[1] << 8) | ((u64)p[2] << 16) | ((u64)p[3] << 24);
}
WC_DEVICE u64 wc_bswap64(u64 v) {
    u64 r = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        r = (r << 8) | (v & 0xffu);
        v >>= 8;
    }
    return r;
}
WC_DEVICE u64 wc_rotl64(u64 v, u32 r) { return (v << r) | (v >> (64u - r)); }
WC_DEVICE u64 wc_fold64(u64 a, u64 b) { return (a * b) ^ wc_mulhi64(a, b); }
WC_DEVICE u64 wc_xxh64_avalanche(u64 h) {
    h ^= h >> 33;
    h *= WC_P64_2;
    h ^= h >> 29;
    h *= WC_P64_3;
    h ^= h >> 32;
    return h;
}
WC_DEVICE u64 wc_xxh3_avalanche(u64 h) {
    h ^= h >> 37;
    h *= 0x165667919E3779F9ull;
    h ^= h >> 32;
    return h;
}
WC_DEVICE u64 wc_rrmxmx(u64 h, u64 len) {
    h ^= wc_rotl64(h, 49) ^ wc_rotl64(h, 24);
    h *= 0x9FB21C651E98DF25ull;
    h ^= (h >> 35) + len;
    h *= 0x9FB21C651E98DF25ull;
    h ^= h >> 28;
    return h;
}
WC_DEVICE u64 wc_mix16(const u8* in, const u8* sec) {
    return wc_fold64(wc_rd64(in) ^ wc_rd64(sec), wc_rd64(in + 8) ^ wc_rd64(sec + 8));
}

// Inputs of 0..=240 bytes (one thread).
WC_DEVICE u64 wc_xxh3_short(const u8* in, u64 len, const u8* sec) {
    if (len == 0) return wc_xxh64_avalanche(wc_rd64(sec + 56) ^ wc_rd64(sec + 64));
    if (len <= 3) {
        const u64 combo = ((u64)in[0] << 16) | ((u64)in[len >> 1] << 24) | (u64)in[len - 1] |
                          (len << 8);
        return wc_xxh64_avalanche(combo ^ (wc_rd32(sec) ^ wc_rd32(sec + 4)));
    }
    if (len <= 8) {
        const u64 in1 = wc_rd32(in);
        const u64 in2 = wc_rd32(in + len - 4);
        const u64 flip = wc_rd64(sec + 8) ^ wc_rd64(sec + 16);
        return wc_rrmxmx((in2 + (in1 << 32)) ^ flip, len);
    }
    if (len <= 16) {
        const u64 lo = wc_rd64(in) ^ (wc_rd64(sec + 24) ^ wc_rd64(sec + 32));
        const u64 hi = wc_rd64(in + len - 8) ^ (wc_rd64(sec + 40) ^ wc_rd64(sec + 48));
        return wc_xxh3_avalanche(len + wc_bswap64(lo) + hi + wc_fold64(lo, hi));
    }
    u64 acc = len * WC_P64_1;
    if (len <= 128) {
        if (len > 32) {
            if (len > 64) {
                if (len > 96) {
                    acc += wc_mix16(in + 48, sec + 96);
                    acc += wc_mix16(in + len - 64, sec + 112);
                }
                acc += wc_mix16(in + 32, sec + 64);
                acc += wc_mix16(in + len - 48, sec + 80);
            }
            acc += wc_mix16(in + 16, sec + 32);
            acc += wc_mix16(in + len - 32, sec + 48);
        }
        acc += wc_mix16(in, sec);
        acc += wc_mix16(in + len - 16, sec + 16);
        return wc_xxh3_avalanche(acc);
    }
    const u32 rounds = (u32)(len / 16);
    for (u32 r = 0; r < 8; ++r) acc += wc_mix16(in + 16 * r, sec + 16 * r);
    acc = wc_xxh3_avalanche(acc);
    for (u32 r = 8; r < rounds; ++r) acc += wc_mix16(in + 16 * r, sec + 16 * (r - 8) + 3);
    acc += wc_mix16(in + len - 16, sec + 136 - 17);
    return wc_xxh3_avalanche(acc);
}

template <bool ALIGNED>
WC_DEVICE u64 wc_load64(const u8* p) {
    if (ALIGNED) return *(const u64*)p;
    return wc_rd64(p);
}

// The keyed 32x32 product of lane i's data word.
WC_DEVICE u64 wc_keyed_product(u64 v, u64 key) {
    const u64 k = v ^ key;
    return (k & 0xffffffffull) * (k >> 32);
}

// Sum over the four lane groups (g = lane >> 3).
WC_DEVICE u64 wc_group_sum(u64 s) {
    s += wc_shfl_xor64(s, 8);
    s += wc_shfl_xor64(s, 16);
    return s;
}

// Accumulator i gains, per stripe, its partner's data word (lane i ^ 1) and its own keyed
// product. Summed over a lane's stripes first, that is one shuffle for the partner words and two
// for the group sum per 1024-byte block.
WC_DEVICE u64 wc_block_term(u64 words, u64 products) {
    return wc_group_sum(wc_shfl_xor64(words, 1) + products);
}

// Per-lane setup shared by both phases: the four stripe keys of lane (g, i).
WC_DEVICE void wc_stripe_keys(const u8* sec, u64 (&key)[4]) {
    const u32 lane = wc_lane();
    const u32 i = lane & 7u;
    const u32 g = lane >> 3;
#pragma unroll
    for (u32 q = 0; q < 4; ++q) key[q] = wc_rd64(sec + (g + 4u * q) * 8u + 8u * i);
}

// Phase 1: the terms of `n_blocks` full 1024-byte blocks from `in`.
template <bool ALIGNED>
WC_DEVICE void wc_xxh3_terms(const u8* in, u64 n_blocks, u64* terms, const u8* sec) {
    const u32 lane = wc_lane();
    const u32 i = lane & 7u;
    const u32 g = lane >> 3;
    u64 key[4];
    wc_stripe_keys(sec, key);
    const u8* lane_in = in + g * 64u + 8u * i;
    for (u64 b = 0; b < n_blocks; b += 4) {
        u64 v[4][4];
#pragma unroll
        for (u32 k = 0; k < 4; ++k) {
#pragma unroll
            for (u32 q = 0; q < 4; ++q) {
                v[k][q] = b + k < n_blocks ? wc_load64<ALIGNED>(lane_in + (b + k) * 1024u + q * 256u) : 0;
            }
        }
#pragma unroll
        for (u32 k = 0; k < 4; ++k) {
            if (b + k < n_blocks) {
                u64 words = 0, products = 0;
#pragma unroll
                for (u32 q = 0; q < 4; ++q) {
                    words += v[k][q];
                    products += wc_keyed_product(v[k][q], key[q]);
                }
                const u64 t = wc_block_term(words, products);
                if (g == 0) terms[(b + k) * 8u + i] = t;
            }
        }
    }
}

// Terms read per batch of the chain: loaded before the previous batch is consumed.
#define WC_TERMS_PREFETCH 8

// Phase 2 for inputs of more than 240 bytes (the whole warp). Returns the hash in every lane.
template <bool ALIGNED>
WC_DEVICE u64 wc_xxh3_long(const u8* in, u64 len, const u64* terms, const u8* sec) {
    const u32 lane = wc_lane();
    const u32 i = lane & 7u;
    const u32 g = lane >> 3;
    const u64 init[8] = {WC_P32_3, WC_P64_1, WC_P64_2, WC_P64_3, WC_P64_4, WC_P32_2, WC_P64_5, WC_P32_1};
    u64 acc = 0;
#pragma unroll
    for (u32 k = 0; k < 8; ++k) acc = (k == i) ? init[k] : acc;
    u64 key[4];
    wc_stripe_keys(sec, key);
    const u64 scramble_key = wc_rd64(sec + WC_SECRET_BYTES - 64u + 8u * i);

    const u64 nb_blocks = (len - 1) / 1024u;
    u64 cur[WC_TERMS_PREFETCH];
#pragma unroll
    for (u32 k = 0; k < WC_TERMS_PREFETCH; ++k) cur[k] = k < nb_blocks ? terms[k * 8u + i] : 0;
    for (u64 r = 0; r < nb_blocks; r += WC_TERMS_PREFETCH) {
        u64 nxt[WC_TERMS_PREFETCH];
#pragma unroll
        for (u32 k = 0; k < WC_TERMS_PREFETCH; ++k) {
            const u64 b = r + WC_TERMS_PREFETCH + k;
            nxt[k] = b < nb_blocks ? terms[b * 8u + i] : 0;
        }
#pragma unroll
        for (u32 k = 0; k < WC_TERMS_PREFETCH; ++k) {
            if (r + k < nb_blocks) {
                acc += cur[k];
                acc = ((acc ^ (acc >> 47)) ^ scramble_key) * WC_P32_1;
            }
        }
#pragma unroll
        for (u32 k = 0; k < WC_TERMS_PREFETCH; ++k) cur[k] = nxt[k];
    }
    {
        // The last, partial block: stripes 0 .. nb_stripes-1 (no scramble after it).
        const u64 nb_stripes = ((len - 1) - 1024u * nb_blocks) / 64u;
        const u8* blk = in + nb_blocks * 1024u;
        u64 words = 0, products = 0;
#pragma unroll
        for (u32 q = 0; q < 4; ++q) {
            const u32 n = g + 4u * q;
            if (n < nb_stripes) {
                const u64 v = wc_load64<ALIGNED>(blk + n * 64u + 8u * i);
                words += v;
                products += wc_keyed_product(v, key[q]);
            }
        }
        acc += wc_block_term(words, products);
    }
    {
        // The last stripe (the input's final 64 bytes), with the secret at 192 - 64 - 7; only
        // group 0 contributes it.
        const u64 v = g == 0 ? wc_rd64(in + len - 64u + 8u * i) : 0;
        const u64 p = g == 0 ? wc_keyed_product(v, wc_rd64(sec + WC_SECRET_BYTES - 64u - 7u + 8u * i)) : 0;
        acc += wc_block_term(v, p);
    }
    // Merge: sum over pairs (2j, 2j+1) of fold(acc ^ secret[11 + 16j], acc' ^ secret[19 + 16j]).
    const u64 partner = wc_shfl_xor64(acc, 1);
    u64 mix = 0;
    if ((i & 1u) == 0) mix = wc_fold64(acc ^ wc_rd64(sec + 11u + 8u * i), partner ^ wc_rd64(sec + 19u + 8u * i));
    mix += wc_shfl_xor64(mix, 1);
    mix += wc_shfl_xor64(mix, 2);
    mix += wc_shfl_xor64(mix, 4);
    return wc_xxh3_avalanche(len * WC_P64_1 + mix);
}

WC_KERNEL void __launch_bounds__(256) wcodec_xxh3_terms(const HashArgs a) {
    WC_SMEM_DECL;
    for (u32 t = threadIdx.x; t < WC_SECRET_BYTES; t += blockDim.x) wc_smem[t] = wc_xxh3_secret[t];
    wc_syncthreads();
    const u32 task = blockIdx.x * (blockDim.x >> 5) + wc_warp();
    if (task >= a.n_jobs) return;
    const HashJob j = ((const HashJob*)a.jobs)[task];
    if ((j.src & 7u) == 0) {
        wc_xxh3_terms<true>((const u8*)j.src, j.len, (u64*)j.out, wc_smem);
    } else {
        wc_xxh3_terms<false>((const u8*)j.src, j.len, (u64*)j.out, wc_smem);
    }
}

WC_KERNEL void __launch_bounds__(256) wcodec_xxh3(const HashArgs a) {
    WC_SMEM_DECL;
    for (u32 t = threadIdx.x; t < WC_SECRET_BYTES; t += blockDim.x) wc_smem[t] = wc_xxh3_secret[t];
    wc_syncthreads();
    const u32 job_index = blockIdx.x * (blockDim.x >> 5) + wc_warp();
    if (job_index >= a.n_jobs) return;
    const HashJob j = ((const HashJob*)a.jobs)[job_index];
    const u8* in = (const u8*)j.src;
    u64 h;
    if (j.len <= 240) {
        h = wc_lane() == 0 ? wc_xxh3_short(in, j.len, wc_smem) : 0;
    } else if ((j.src & 7u) == 0) {
        h = wc_xxh3_long<true>(in, j.len, (const u64*)j.terms, wc_smem);
    } else {
        h = wc_xxh3_long<false>(in, j.len, (const u64*)j.terms, wc_smem);
    }
    if (wc_lane() == 0) *(u64*)j.out = h;
}
