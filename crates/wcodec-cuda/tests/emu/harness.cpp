// Runs a program recorded by wcodec_cuda::emulation::record against the emulated kernels.
// Usage: harness PROGRAM OUTPUT. Maps the program's address ranges at their own addresses
// (filled with 0xA5, so unwritten output shows), then executes its writes, fills, launches and
// read-backs in order; read-backs are appended to OUTPUT.
#include "emu.h"
#include "kernels_emu.cu"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

template <class A>
static void run(void (*kernel)(const A), unsigned grid, unsigned block, unsigned smem_bytes,
                const unsigned char* args, unsigned args_len) {
    if (args_len != sizeof(A)) {
        std::fprintf(stderr, "argument size %u, kernel expects %zu\n", args_len, sizeof(A));
        std::exit(3);
    }
    A a;
    std::memcpy(&a, args, sizeof(A));
    const size_t sm_len = (smem_bytes + 15) / 16 * 16 + 16;
    unsigned char* sm = static_cast<unsigned char*>(std::aligned_alloc(16, sm_len));
    emu::bdim.x = block;
    emu::gdim.x = grid;
    for (unsigned b = 0; b < grid; ++b) {
        std::memset(sm, 0xCD, sm_len);
        emu::smem = sm;
        std::barrier<> block_bar(block);
        emu::block_bar = &block_bar;
        std::unique_ptr<emu::Warp[]> warps(new emu::Warp[block / 32]);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([&, t] {
                emu::tid.x = t;
                emu::bid.x = b;
                emu::warp = &warps[t / 32];
                kernel(a);
            });
        }
        for (auto& th : threads) th.join();
    }
    std::free(sm);
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: harness PROGRAM OUTPUT\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<unsigned char> prog((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t pos = 0;
    auto u32 = [&] { unsigned v; std::memcpy(&v, &prog.at(pos + 3) - 3, 4); pos += 4; return v; };
    auto u64 = [&] { unsigned long long v; std::memcpy(&v, &prog.at(pos + 7) - 7, 8); pos += 8; return v; };
    if (prog.size() < 8 || std::memcmp(prog.data(), "WCEMU001", 8) != 0) {
        std::fprintf(stderr, "bad program\n");
        return 2;
    }
    pos = 8;
    const unsigned n_maps = u32();
    for (unsigned i = 0; i < n_maps; ++i) {
        const unsigned long long addr = u64(), len = u64();
        const size_t l = (len + 4095) / 4096 * 4096;
        void* p = mmap(reinterpret_cast<void*>(addr), l, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p != reinterpret_cast<void*>(addr)) {
            std::fprintf(stderr, "cannot map %llx (+%llu)\n", addr, len);
            return 2;
        }
        std::memset(p, 0xA5, l);
    }
    std::ofstream out(argv[2], std::ios::binary);
    for (;;) {
        const unsigned op = u32();
        if (op == 0) break;
        if (op == 1) {
            const unsigned long long addr = u64(), len = u64();
            std::memcpy(reinterpret_cast<void*>(addr), prog.data() + pos, len);
            pos += len;
        } else if (op == 2) {
            const unsigned long long addr = u64(), len = u64();
            const unsigned v = u32();
            std::memset(reinterpret_cast<void*>(addr), (int)v, len);
        } else if (op == 3) {
            const unsigned name_len = u32();
            const std::string name(reinterpret_cast<const char*>(prog.data() + pos), name_len);
            pos += name_len;
            const unsigned grid = u32(), block = u32(), smem = u32(), args_len = u32();
            const unsigned char* args = prog.data() + pos;
            pos += args_len;
            if (name == "wcodec_decode_p1") run(wcodec_decode_p1, grid, block, smem, args, args_len);
            else if (name == "wcodec_decode_p2") run(wcodec_decode_p2, grid, block, smem, args, args_len);
            else if (name == "wcodec_decode_p4") run(wcodec_decode_p4, grid, block, smem, args, args_len);
            else if (name == "wcodec_decode_p8") run(wcodec_decode_p8, grid, block, smem, args, args_len);
            else if (name == "wcodec_tile_rebuild") run(wcodec_tile_rebuild, grid, block, smem, args, args_len);
            else if (name == "wcodec_join") run(wcodec_join, grid, block, smem, args, args_len);
            else if (name == "wcodec_xxh3") run(wcodec_xxh3, grid, block, smem, args, args_len);
            else if (name == "wcodec_xxh3_terms") run(wcodec_xxh3_terms, grid, block, smem, args, args_len);
            else {
                std::fprintf(stderr, "unknown kernel %s\n", name.c_str());
                return 2;
            }
        } else if (op == 4) {
            const unsigned long long addr = u64(), len = u64();
            out.write(reinterpret_cast<const char*>(addr), (std::streamsize)len);
        } else {
            std::fprintf(stderr, "bad op %u\n", op);
            return 2;
        }
    }
    return 0;
}
