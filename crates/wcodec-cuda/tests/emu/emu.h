// Host emulation of the few CUDA features the wcodec kernels use, so the kernel source (with
// WCODEC_EMULATE defined) compiles as C++20 and runs on a CPU: one std::thread per CUDA thread,
// blocks one after another, a std::barrier per warp for the warp collectives (ballot, shuffles,
// __syncwarp) and one per block for __syncthreads. Asynchronous copies complete at once.
//
// Slow, and blind to timing (it cannot find races the hardware would expose), but it runs every
// line of the kernels on real data: indexing, the ballot/popc word assignment, the ring buffer,
// the status checks and the hashes.
#pragma once

#include <barrier>
#include <cstring>

#define WCODEC_EMULATE 1

namespace emu {
struct Dim3 {
    unsigned x = 0, y = 1, z = 1;
};
inline thread_local Dim3 tid;
inline thread_local Dim3 bid;
inline Dim3 bdim;
inline Dim3 gdim;
struct Warp {
    std::barrier<> bar{32};
    unsigned long long slot[32];
};
inline thread_local Warp* warp = nullptr;
inline std::barrier<>* block_bar = nullptr;
inline unsigned char* smem = nullptr;

inline unsigned long long exchange(unsigned long long v, unsigned from) {
    const unsigned lane = tid.x & 31u;
    warp->slot[lane] = v;
    warp->bar.arrive_and_wait();
    const unsigned long long r = warp->slot[from & 31u];
    warp->bar.arrive_and_wait();
    return r;
}
}  // namespace emu

#define threadIdx (emu::tid)
#define blockIdx (emu::bid)
#define blockDim (emu::bdim)
#define gridDim (emu::gdim)
#define __launch_bounds__(...)
#define WC_DEVICE static inline
#define WC_KERNEL extern "C"
#define WC_SMEM_DECL unsigned char* wc_smem = emu::smem
#define WC_DEVICE_CONST static const
#define WC_CONSTANT static const

struct uint4 {
    unsigned x, y, z, w;
};

static inline unsigned wc_lane() { return emu::tid.x & 31u; }
static inline unsigned wc_warp() { return emu::tid.x >> 5; }
static inline unsigned wc_ballot(bool p) {
    const unsigned lane = wc_lane();
    emu::warp->slot[lane] = p ? 1 : 0;
    emu::warp->bar.arrive_and_wait();
    unsigned m = 0;
    for (unsigned i = 0; i < 32; ++i) {
        if (emu::warp->slot[i]) m |= 1u << i;
    }
    emu::warp->bar.arrive_and_wait();
    return m;
}
static inline bool wc_any(bool p) { return wc_ballot(p) != 0; }
static inline void wc_syncwarp() { emu::warp->bar.arrive_and_wait(); }
static inline void wc_syncthreads() { emu::block_bar->arrive_and_wait(); }
static inline unsigned wc_popc(unsigned v) { return (unsigned)__builtin_popcount(v); }
static inline unsigned long long wc_shfl_xor64(unsigned long long v, unsigned m) {
    return emu::exchange(v, wc_lane() ^ m);
}
static inline unsigned long long wc_shfl64(unsigned long long v, unsigned src) {
    return emu::exchange(v, src);
}
static inline unsigned long long wc_mulhi64(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static inline unsigned wc_shfl32(unsigned v, unsigned src) {
    return (unsigned)emu::exchange(v, src);
}
// __byte_perm: byte n of the result is byte (s >> 4n) & 7 of the 8 bytes {x, y}.
static inline unsigned wc_byte_perm(unsigned x, unsigned y, unsigned s) {
    const unsigned long long xy = (unsigned long long)x | ((unsigned long long)y << 32);
    unsigned r = 0;
    for (unsigned n = 0; n < 4; ++n) r |= (unsigned)((xy >> (8 * ((s >> (4 * n)) & 7))) & 0xff) << (8 * n);
    return r;
}
static inline unsigned wc_ldg32(const unsigned char* p) {
    unsigned v;
    std::memcpy(&v, p, 4);
    return v;
}
static inline void wc_atomic_min(unsigned* p, unsigned v) {
    unsigned cur = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (v < cur && !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}
static inline void wc_cp_async16(unsigned char* dst, const unsigned char* src) { std::memcpy(dst, src, 16); }
static inline void wc_cp_async_commit() {}
static inline void wc_cp_async_wait_all() {}
static inline void wc_cp_async_wait_upto(int) {}
