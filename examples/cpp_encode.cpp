// Encodes a safetensors file (or a model directory) with wcodec::Encoder, showing progress, then
// decodes the result with wcodec::Decoder and checks every tensor; through the C++ wrappers of
// the C ABI (crates/wcodec-ffi/include/wcodec.hpp).
//
//   cargo build --release -p wcodec-ffi
//   g++ -std=c++17 -Icrates/wcodec-ffi/include examples/cpp_encode.cpp
//       target/release/libwcodec_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o cpp_encode
//   ./cpp_encode INPUT OUTPUT [--tile-size N] [--predictors LIST] [--transforms LIST]
//                [--chunk-symbols N] [--threads N] [--force]
//
// The options are those of `wcodec-encode`, and so is the output, byte for byte: `make test-c`
// encodes a golden source with both and compares the files. It also checks that a cancel from
// the progress function throws WCODEC_STATUS_CANCELLED and leaves no output, and that a bad
// option throws INVALID_ARGUMENT, so the example cannot silently rot.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "wcodec.hpp"

namespace {

bool exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s INPUT OUTPUT [--tile-size N] [--predictors LIST] [--transforms LIST] "
                 "[--chunk-symbols N] [--threads N] [--force]\n",
                 argv0);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage(argv[0]);
    const std::string input = argv[1], output = argv[2];
    try {
        wcodec::Config config;
        bool force = false;
        for (int i = 3; i < argc; ++i) {
            const std::string flag = argv[i];
            if (flag == "--force") {
                config.overwrite(true);
                force = true;
                continue;
            }
            if (i + 1 >= argc) return usage(argv[0]);
            const char* value = argv[++i];
            if (flag == "--tile-size") {
                config.tile_size(static_cast<std::uint32_t>(std::strtoul(value, nullptr, 10)));
            } else if (flag == "--predictors") {
                config.predictors(value);
            } else if (flag == "--transforms") {
                config.transforms(value);
            } else if (flag == "--chunk-symbols") {
                config.chunk_symbols(std::strtoull(value, nullptr, 10));
            } else if (flag == "--threads") {
                config.threads(std::strtoull(value, nullptr, 10));
            } else {
                return usage(argv[0]);
            }
        }

        // A bad option is refused where it is set, and the config keeps its value.
        try {
            wcodec::Config(config).predictors("left,diagonal");
            std::fprintf(stderr, "an unknown predictor did not throw\n");
            return 1;
        } catch (const wcodec::Error& e) {
            if (e.status() != WCODEC_STATUS_INVALID_ARGUMENT) throw;
        }

        // Cancelled by the progress function after its first call: nothing is written.
        const std::string cancelled = output + ".cancelled";
        try {
            wcodec::Config stop(config);
            stop.progress([](std::uint64_t, std::uint64_t) { return false; });
            wcodec::Encoder(stop).encode_checkpoint(input, cancelled);
            std::fprintf(stderr, "a cancelling progress function did not stop the encode\n");
            return 1;
        } catch (const wcodec::Error& e) {
            if (e.status() != WCODEC_STATUS_CANCELLED) throw;
        }
        if (exists(cancelled)) {
            std::fprintf(stderr, "a cancelled encode left %s\n", cancelled.c_str());
            return 1;
        }

        int last_percent = -25;  // so that 0% is printed
        config.progress([&last_percent](std::uint64_t done, std::uint64_t total) {
            int percent = total ? static_cast<int>(100 * done / total) : 100;
            if (percent / 25 != last_percent / 25) {
                std::printf("  %3d%% (%" PRIu64 " of %" PRIu64 " bytes)\n", percent, done, total);
                last_percent = percent;
            }
            return true;
        });
        std::printf("encoding %s -> %s (wcodec %s)\n", input.c_str(), output.c_str(),
                    wcodec_version());
        wcodec::Encoder encoder(config);
        encoder.encode_checkpoint(input, output);

        // Writing again without overwrite is refused, and the file stays.
        if (!force) {
            try {
                encoder.encode_checkpoint(input, output);
                std::fprintf(stderr, "an existing output was not refused\n");
                return 1;
            } catch (const wcodec::Error& e) {
                if (e.status() != WCODEC_STATUS_INVALID_ARGUMENT) throw;
            }
        }

        if (!is_dir(output)) {
            wcodec::Decoder decoder(output);
            std::vector<wcodec::Tensor> all;
            decoder.decode_all(all);
            std::uint64_t bytes = 0;
            for (const auto& t : all) bytes += t.data.size();
            std::printf("decoded %zu tensors (%" PRIu64 " bytes) from %s\n", all.size(), bytes,
                        output.c_str());
        }
    } catch (const wcodec::Error& e) {
        std::fprintf(stderr, "error (%s): %s\n", wcodec_status_str(e.status()), e.what());
        return 1;
    }
    return 0;
}
