// wcodec GPU kernels: shared prelude.
//
// Compiled at run time by NVRTC with no include paths (the crate embeds every file with
// `include_str!` and concatenates them: prelude.cuh, abi.cuh, then the .cu files), so nothing here
// may `#include` anything. Constants shared with Rust arrive as `-DWCODEC_*=value` options built
// from the Rust constants; each is checked below so a missing one fails the compile.
//
// The same text also compiles as plain C++ on the host with `WCODEC_EMULATE` defined, after the
// warp-emulation header of `tests/emu/` (one std::thread per CUDA thread, barriers for the warp
// collectives). That is how the kernel logic is tested on machines without a GPU; everything the
// emulation must replace goes through the `wc_*` helpers below.

#ifndef WCODEC_PROB_BITS
#error "WCODEC_PROB_BITS must be defined (-D from the Rust constants)"
#endif
#ifndef WCODEC_RANS_L
#error "WCODEC_RANS_L must be defined"
#endif
#ifndef WCODEC_STATE_BYTES
#error "WCODEC_STATE_BYTES must be defined"
#endif
#ifndef WCODEC_UNIT_BYTES
#error "WCODEC_UNIT_BYTES must be defined"
#endif
#ifndef WCODEC_RING_UNITS
#error "WCODEC_RING_UNITS must be defined"
#endif
#ifndef WCODEC_RAW_TABLE
#error "WCODEC_RAW_TABLE must be defined"
#endif
#ifndef WCODEC_HASH_BLOCK_BYTES
#error "WCODEC_HASH_BLOCK_BYTES must be defined"
#endif
#ifndef WCODEC_STATUS_OK
#error "WCODEC_STATUS_OK must be defined"
#endif
#ifndef WCODEC_STATUS_BAD_STATE
#error "WCODEC_STATUS_BAD_STATE must be defined"
#endif
#ifndef WCODEC_STATUS_EARLY_END
#error "WCODEC_STATUS_EARLY_END must be defined"
#endif
#ifndef WCODEC_STATUS_TRAILING
#error "WCODEC_STATUS_TRAILING must be defined"
#endif
#ifndef WCODEC_STATUS_FINAL_STATE
#error "WCODEC_STATUS_FINAL_STATE must be defined"
#endif
#ifndef WCODEC_STATUS_BAD_REF
#error "WCODEC_STATUS_BAD_REF must be defined"
#endif
#ifndef WCODEC_STATUS_BAD_MODE
#error "WCODEC_STATUS_BAD_MODE must be defined"
#endif

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define WC_FULL_MASK 0xffffffffu

#ifndef WCODEC_EMULATE

#define WC_DEVICE __device__ __forceinline__
#define WC_KERNEL extern "C" __global__
#define WC_SMEM_DECL extern __shared__ __align__(16) u8 wc_smem[]
#define WC_DEVICE_CONST __device__ const
#define WC_CONSTANT __constant__ const

WC_DEVICE u32 wc_lane() { return threadIdx.x & 31u; }
WC_DEVICE u32 wc_warp() { return threadIdx.x >> 5; }
WC_DEVICE u32 wc_ballot(bool p) { return __ballot_sync(WC_FULL_MASK, p); }
WC_DEVICE bool wc_any(bool p) { return __any_sync(WC_FULL_MASK, p); }
WC_DEVICE void wc_syncwarp() { __syncwarp(WC_FULL_MASK); }
WC_DEVICE void wc_syncthreads() { __syncthreads(); }
WC_DEVICE u32 wc_popc(u32 v) { return __popc(v); }
WC_DEVICE u64 wc_shfl_xor64(u64 v, u32 m) { return __shfl_xor_sync(WC_FULL_MASK, v, m); }
WC_DEVICE u64 wc_shfl64(u64 v, u32 src) { return __shfl_sync(WC_FULL_MASK, v, src); }
WC_DEVICE u64 wc_mulhi64(u64 a, u64 b) { return __umul64hi(a, b); }
WC_DEVICE void wc_atomic_min(u32* p, u32 v) { atomicMin(p, v); }
WC_DEVICE u32 wc_shfl32(u32 v, u32 src) { return __shfl_sync(WC_FULL_MASK, v, src); }
WC_DEVICE u32 wc_byte_perm(u32 x, u32 y, u32 s) { return __byte_perm(x, y, s); }
// A read-only 4-byte global load (the compressed bytes never change during a launch).
WC_DEVICE u32 wc_ldg32(const u8* p) { return __ldg((const unsigned int*)p); }

// 16-byte asynchronous global -> shared copy (sm_80+), bypassing L1: the compressed stream is
// read exactly once.
WC_DEVICE void wc_cp_async16(u8* smem_dst, const u8* gmem_src) {
    u32 s = (u32)__cvta_generic_to_shared(smem_dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem_src) : "memory");
}
WC_DEVICE void wc_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
WC_DEVICE void wc_cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
// Waits until at most `n` of this thread's most recent copy groups are still in flight (any
// `n` is correct; a smaller one waits longer). PTX wants the count as an immediate.
WC_DEVICE void wc_cp_async_wait_upto(int n) {
    if (n <= 0) {
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    } else if (n == 1) {
        asm volatile("cp.async.wait_group 1;\n" ::: "memory");
    } else if (n == 2) {
        asm volatile("cp.async.wait_group 2;\n" ::: "memory");
    } else {
        asm volatile("cp.async.wait_group 3;\n" ::: "memory");
    }
}

#endif  // !WCODEC_EMULATE

WC_DEVICE u32 wc_lanemask_lt() { return (1u << wc_lane()) - 1u; }
