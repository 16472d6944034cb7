// Lists the tensors of a .wcodec file and decodes one into a std::vector<std::byte>, through the
// C++ wrappers of the C ABI (crates/wcodec-ffi/include/wcodec.hpp).
//
//   cargo build --release -p wcodec-ffi
//   g++ -std=c++17 -Icrates/wcodec-ffi/include examples/cpp_decode.cpp
//       target/release/libwcodec_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o cpp_decode
//   ./cpp_decode model.wcodec [TENSOR]
//
// `make test-c` builds and runs it on a golden file. It exits non-zero if the single-tensor
// decode and the whole-file decode disagree, or if an unknown name does not raise
// TENSOR_NOT_FOUND, so the example cannot silently rot.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "wcodec.hpp"

namespace {

std::string shape_text(const std::vector<std::uint64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

// FNV-1a, to print a short fingerprint of the decoded bytes.
std::uint64_t fnv1a(const std::vector<std::byte>& data) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (std::byte b : data) h = (h ^ std::to_integer<std::uint64_t>(b)) * 0x100000001b3ULL;
    return h;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE.wcodec [TENSOR]\n", argv[0]);
        return 2;
    }
    try {
        wcodec::Decoder decoder(argv[1]);
        const auto tensors = decoder.file().tensors();
        std::printf("%s: %zu tensors (wcodec %s)\n", argv[1], tensors.size(), wcodec_version());
        for (const auto& t : tensors) {
            std::printf("  %-24s %-8s %-16s %" PRIu64 " bytes\n", t.name.c_str(), t.dtype.c_str(),
                        shape_text(t.shape).c_str(), t.nbytes);
        }
        if (tensors.empty()) return 0;

        std::string name = argc > 2 ? argv[2] : tensors.front().name;
        wcodec::Tensor t = decoder.decode_layer(name);
        std::printf("decoded %s: %zu bytes, fnv1a %016" PRIx64 "\n", name.c_str(), t.data.size(),
                    fnv1a(t.data));

        std::vector<wcodec::Tensor> all;
        decoder.decode_all(all);
        if (all.at(t.info.index).data != t.data) {
            std::fprintf(stderr, "decode_all and decode_layer disagree on %s\n", name.c_str());
            return 1;
        }

        try {
            decoder.decode_layer("no such tensor");
            std::fprintf(stderr, "an unknown tensor name did not throw\n");
            return 1;
        } catch (const wcodec::Error& e) {
            if (e.status() != WCODEC_STATUS_TENSOR_NOT_FOUND) throw;
            std::printf("unknown name -> %s\n", wcodec_status_str(e.status()));
        }

        try {
            auto gpu = wcodec::CudaDecoder::create(argv[1]);
            std::printf("CUDA available: decode with gpu->decode_layer_gpu(name, dst_dev, "
                        "nbytes, stream)\n");
        } catch (const wcodec::Error& e) {
            if (e.status() != WCODEC_STATUS_CUDA_UNAVAILABLE) throw;
            std::printf("CUDA: %s\n", e.what());
        }
    } catch (const wcodec::Error& e) {
        std::fprintf(stderr, "error (%s): %s\n", wcodec_status_str(e.status()), e.what());
        return 1;
    }
    return 0;
}
