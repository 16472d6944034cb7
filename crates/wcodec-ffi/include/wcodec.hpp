// wcodec.hpp: C++17 RAII wrappers over the C ABI of wcodec (wcodec.h). Header-only, hand-written
// (wcodec.h is generated). Failures throw wcodec::Error, which carries the status code and the
// library's detailed message. Guide: docs/c-api.md; examples: examples/cpp_decode.cpp,
// examples/cpp_encode.cpp.
//
// The shape follows the specification's C++ API (Encoder(const Config&) with encode_checkpoint,
// Decoder, CudaDecoder::create, decode_layer, decode_all, decode_all_gpu), with the file handle
// as its own RAII type (File) so that several decoders, or threads, can share one open file.
#ifndef WCODEC_HPP
#define WCODEC_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "wcodec.h"

namespace wcodec {

/// A failed call: the status (stable numeric code) and the library's message.
class Error : public std::runtime_error {
public:
    Error(wcodec_status status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    wcodec_status status() const noexcept { return status_; }

private:
    wcodec_status status_;
};

/// Throws the status of a failed call with this thread's message.
inline void check(wcodec_status status) {
    if (status != WCODEC_STATUS_OK) {
        std::string message = wcodec_last_error_message();
        if (message.empty()) message = wcodec_status_str(status);
        throw Error(status, message);
    }
}

struct TensorInfo {
    std::string name;
    std::string dtype;  // as safetensors spells it: "BF16", "I8", ...
    std::vector<std::uint64_t> shape;
    std::uint64_t nbytes = 0;
    std::size_t index = 0;
};

/// An open .wcodec file. Move-only; closed by the destructor. Its const methods may be called
/// from several threads at once.
class File {
public:
    explicit File(const std::string& path) { check(wcodec_open(path.c_str(), &f_)); }
    File(File&& other) noexcept : f_(std::exchange(other.f_, nullptr)) {}
    File& operator=(File&& other) noexcept {
        if (this != &other) {
            wcodec_close(f_);
            f_ = std::exchange(other.f_, nullptr);
        }
        return *this;
    }
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File() { wcodec_close(f_); }

    std::size_t size() const { return wcodec_tensor_count(f_); }

    TensorInfo info(std::size_t index) const {
        wcodec_tensor_info raw;
        wcodec_status s = wcodec_get_tensor_info(f_, index, &raw);
        // Any rank is fine here: `dims` holds every dimension.
        if (s != WCODEC_STATUS_RANK_TOO_LARGE) check(s);
        TensorInfo out;
        out.name.assign(raw.name, raw.name_len);
        out.dtype = raw.dtype;
        out.shape.assign(raw.dims, raw.dims + raw.ndim);
        out.nbytes = raw.nbytes;
        out.index = index;
        return out;
    }

    std::vector<TensorInfo> tensors() const {
        std::vector<TensorInfo> out;
        for (std::size_t i = 0; i < size(); ++i) out.push_back(info(i));
        return out;
    }

    std::size_t find(const std::string& name) const {
        std::size_t index = 0;
        check(wcodec_find_tensor(f_, name.c_str(), &index));
        return index;
    }

    const wcodec_file* get() const noexcept { return f_; }

private:
    wcodec_file* f_ = nullptr;
};

/// A decoded tensor in host memory.
struct Tensor {
    TensorInfo info;
    std::vector<std::byte> data;
};

/// Decodes tensors into host memory.
class Decoder {
public:
    explicit Decoder(const std::string& wcodec_path)
        : file_(std::make_shared<File>(wcodec_path)) {}
    explicit Decoder(std::shared_ptr<const File> file) : file_(std::move(file)) {}
    virtual ~Decoder() = default;

    const File& file() const { return *file_; }

    /// Decodes one tensor into a new buffer.
    Tensor decode_layer(const std::string& layer_name) const {
        Tensor t{file_->info(file_->find(layer_name)), {}};
        t.data.resize(static_cast<std::size_t>(t.info.nbytes));
        check(wcodec_decode_tensor_by_index(file_->get(), t.info.index,
                                            t.data.empty() ? nullptr : t.data.data(),
                                            t.data.size()));
        return t;
    }

    /// Decodes one tensor into caller memory of exactly the tensor's size.
    void decode_into(const std::string& layer_name, void* dst, std::size_t dst_bytes) const {
        check(wcodec_decode_tensor(file_->get(), layer_name.c_str(), dst, dst_bytes));
    }

    /// Decodes every tensor, in file order, in one parallel pass.
    void decode_all(std::vector<Tensor>& output) const {
        output.clear();
        std::vector<wcodec_decode_job> jobs;
        for (std::size_t i = 0; i < file_->size(); ++i) {
            output.push_back(Tensor{file_->info(i), {}});
            output.back().data.resize(static_cast<std::size_t>(output.back().info.nbytes));
        }
        for (auto& t : output) {
            jobs.push_back({t.info.index, t.data.empty() ? nullptr : t.data.data(),
                            t.data.size()});
        }
        check(wcodec_decode_tensors(file_->get(), jobs.data(), jobs.size()));
    }

protected:
    std::shared_ptr<const File> file_;
};

/// Decodes tensors into CUDA device memory the caller allocated, ordered after the work on the
/// caller's stream; every call returns once the data is decoded and verified.
class CudaDecoder : public Decoder {
public:
    /// Throws Error(WCODEC_STATUS_CUDA_UNAVAILABLE) when no CUDA device is visible.
    static std::unique_ptr<CudaDecoder> create(const std::string& wcodec_path) {
        if (wcodec_cuda_device_count() == 0) {
            throw Error(WCODEC_STATUS_CUDA_UNAVAILABLE,
                        "no CUDA device (or no driver) is visible to wcodec");
        }
        return std::unique_ptr<CudaDecoder>(new CudaDecoder(wcodec_path));
    }

    /// Decodes one tensor into `dst_dev` (device memory of exactly the tensor's size).
    void decode_layer_gpu(const std::string& layer_name, void* dst_dev, std::size_t dst_bytes,
                          void* cuda_stream = nullptr) const {
        check(wcodec_decode_tensor_cuda(file_->get(), layer_name.c_str(), dst_dev, dst_bytes,
                                        cuda_stream));
    }

    /// Decodes every tensor, `gpu_buffers[i]` receiving tensor i (of `file().info(i).nbytes`
    /// bytes), in one pipelined pass.
    void decode_all_gpu(void** gpu_buffers, void* cuda_stream = nullptr) const {
        std::vector<wcodec_decode_job> jobs;
        for (std::size_t i = 0; i < file_->size(); ++i) {
            jobs.push_back({i, gpu_buffers[i], static_cast<std::size_t>(file_->info(i).nbytes)});
        }
        check(wcodec_decode_tensors_cuda(file_->get(), jobs.data(), jobs.size(), cuda_stream));
    }

private:
    explicit CudaDecoder(const std::string& wcodec_path) : Decoder(wcodec_path) {}
};

/// Encoder options, starting from the library's defaults (those of `wcodec-encode`: 16 x 16
/// tiles, predictors "left,top,avg,planar", transforms "none,dct,adst", 65536 symbols per
/// chunk, one thread per core, no overwriting). Setters return *this for chaining and throw
/// Error(WCODEC_STATUS_INVALID_ARGUMENT) on a bad value, leaving the option unchanged.
class Config {
public:
    /// Called with (bytes_done, bytes_total) on a worker thread of the library, never by two
    /// threads at once; return false to cancel the encode. An exception it throws cancels the
    /// encode and is rethrown by Encoder::encode_checkpoint once the output is cleaned up.
    using Progress = std::function<bool(std::uint64_t bytes_done, std::uint64_t bytes_total)>;

    Config() { check(wcodec_encode_config_new(&c_)); }
    Config(const Config& other) : progress_(other.progress_) {
        check(wcodec_encode_config_clone(other.c_, &c_));
    }
    Config(Config&& other) noexcept
        : c_(std::exchange(other.c_, nullptr)), progress_(std::move(other.progress_)) {}
    Config& operator=(Config other) noexcept {
        std::swap(c_, other.c_);
        std::swap(progress_, other.progress_);
        return *this;
    }
    ~Config() { wcodec_encode_config_free(c_); }

    /// Tile side, 4 to 64; 0 codes every plane flat (format version 1).
    Config& tile_size(std::uint32_t n) {
        check(wcodec_encode_config_set_tile_size(c_, n));
        return *this;
    }
    /// Comma-separated predictors: none, left, top, avg, planar ("" allows only none).
    Config& predictors(const std::string& list) {
        check(wcodec_encode_config_set_predictors(c_, list.c_str()));
        return *this;
    }
    /// Comma-separated transforms: none, dct, adst ("" allows only none).
    Config& transforms(const std::string& list) {
        check(wcodec_encode_config_set_transforms(c_, list.c_str()));
        return *this;
    }
    /// Symbols per rANS chunk: a power of two in [4096, 1048576].
    Config& chunk_symbols(std::uint64_t n) {
        check(wcodec_encode_config_set_chunk_symbols(c_, n));
        return *this;
    }
    /// Worker threads; 0 is one per core. The bytes written do not depend on it.
    Config& threads(std::size_t n) {
        check(wcodec_encode_config_set_threads(c_, n));
        return *this;
    }
    /// Whether an existing output may be replaced (the input never is).
    Config& overwrite(bool yes) {
        check(wcodec_encode_config_set_overwrite(c_, yes));
        return *this;
    }
    /// The progress function (an empty one removes it).
    Config& progress(Progress fn) {
        progress_ = std::move(fn);
        return *this;
    }

    const wcodec_encode_config* get() const noexcept { return c_; }

private:
    friend class Encoder;
    wcodec_encode_config* c_ = nullptr;
    Progress progress_;
};

/// Encodes safetensors files and model directories into .wcodec files and directories, writing
/// the same bytes as `wcodec-encode` with the same options. The output appears atomically; a
/// failed or cancelled encode leaves none.
class Encoder {
public:
    explicit Encoder(const Config& config = Config()) : config_(config) {}

    const Config& config() const noexcept { return config_; }

    /// Encodes a .safetensors file into a .wcodec file, or a model directory into an encoded
    /// directory. Throws Error: INVALID_ARGUMENT (the output exists and overwrite is off, or is
    /// the input), FILE_NOT_FOUND, IO, UNSUPPORTED_FORMAT (not a safetensors file), CANCELLED
    /// (the progress function returned false); or rethrows what the progress function threw.
    /// May be called from several threads at once if the progress function allows it.
    void encode_checkpoint(const std::string& input_path, const std::string& output_path) const {
        if (!config_.progress_) {
            check(wcodec_encode_checkpoint(input_path.c_str(), output_path.c_str(), config_.c_));
            return;
        }
        // A copy of the options per call, so concurrent calls each carry their own state.
        Config call(config_);
        Call state{&config_.progress_, nullptr};
        check(wcodec_encode_config_set_progress(call.c_, &Encoder::trampoline, &state));
        wcodec_status s =
            wcodec_encode_checkpoint(input_path.c_str(), output_path.c_str(), call.c_);
        if (state.error) std::rethrow_exception(state.error);
        check(s);
    }

private:
    struct Call {
        const Config::Progress* fn;
        std::exception_ptr error;
    };

    // No exception may cross the C ABI: one is kept and rethrown after the call returns.
    static std::int32_t trampoline(std::uint64_t done, std::uint64_t total,
                                   void* user_data) noexcept {
        auto* call = static_cast<Call*>(user_data);
        try {
            return (*call->fn)(done, total) ? 0 : 1;
        } catch (...) {
            call->error = std::current_exception();
            return 1;
        }
    }

    Config config_;
};

}  // namespace wcodec

#endif  // WCODEC_HPP
