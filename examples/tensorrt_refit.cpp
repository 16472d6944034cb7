// TensorRT refit from wcodec, in C++: every weight a weight-stripped engine lacks is decoded by
// wcodec's GPU decoder straight into CUDA memory and handed to IRefitter as device weights.
//
// The C++ form of examples/tensorrt_engine.py (which also shows how to build the stripped plan:
// BuilderFlag::kSTRIP_PLAN + kREFIT_IDENTICAL, weights named after the checkpoint's tensors with
// INetworkDefinition::setWeightsName).
//
//   tensorrt_refit <engine.plan> <weights.wcodec>
//
// Build (TensorRT 10/11 headers and libraries, the CUDA runtime, and wcodec's C library from
// crates/wcodec-ffi: `cargo build --release -p wcodec-ffi` gives target/release/libwcodec_ffi.so):
//
//   g++ -std=c++17 -O2 examples/tensorrt_refit.cpp -o tensorrt_refit
//     -I crates/wcodec-ffi/include -I "$TRT_ROOT/include" -I "$CUDA_HOME/include"
//     -L target/release -L "$TRT_ROOT/lib" -L "$CUDA_HOME/lib64"
//     -lwcodec_ffi -lnvinfer -lcudart          (one command line)
//
// Not compiled in CI: the CI machine has neither TensorRT's headers nor CUDA's. It uses only the
// C ABI of crates/wcodec-ffi/include/wcodec.h (wcodec_open, wcodec_tensor_count,
// wcodec_get_tensor_info, wcodec_decode_tensor_cuda, wcodec_close, wcodec_status_str,
// wcodec_last_error_message); the C test of that crate exercises the same calls.
//
// Why refit and not a plugin: plugins see activations, not weight storage, and the
// specification's IPluginV2DynamicExt is deprecated since TensorRT 10.0 (TensorRT 11 removed the
// IPluginCreator registry overloads); refit from device memory is TensorRT's supported way to put
// externally produced weights into an engine.

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" {
#include "wcodec.h"
}

namespace {

class Logger final : public nvinfer1::ILogger {
  void log(Severity severity, char const* msg) noexcept override {
    if (severity <= Severity::kWARNING) std::fprintf(stderr, "[TensorRT] %s\n", msg);
  }
};

// Exits with the failing call and wcodec's description of the status.
void check(wcodec_status status, char const* what) {
  if (status != WCODEC_STATUS_OK) {
    std::fprintf(stderr, "error: %s: %s (status %u): %s\n", what, wcodec_status_str(status),
                 static_cast<unsigned>(status), wcodec_last_error_message());
    std::exit(1);
  }
}

void check_cuda(cudaError_t err, char const* what) {
  if (err != cudaSuccess) {
    std::fprintf(stderr, "error: %s: %s\n", what, cudaGetErrorString(err));
    std::exit(1);
  }
}

// One decoded tensor in device memory, freed on the refit stream once the refit has used it.
struct DeviceTensor {
  void* ptr_dev = nullptr;
  size_t nbytes = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <engine.plan> <weights.wcodec>\n", argv[0]);
    return 2;
  }
  Logger logger;

  std::ifstream in(argv[1], std::ios::binary);
  std::vector<char> plan((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (plan.empty()) {
    std::fprintf(stderr, "error: cannot read the plan `%s`\n", argv[1]);
    return 1;
  }
  std::unique_ptr<nvinfer1::IRuntime> runtime{nvinfer1::createInferRuntime(logger)};
  std::unique_ptr<nvinfer1::ICudaEngine> engine{runtime->deserializeCudaEngine(plan.data(), plan.size())};
  if (!engine) return 1;
  std::unique_ptr<nvinfer1::IRefitter> refitter{nvinfer1::createInferRefitter(*engine, logger)};

  // The weights the stripped plan lacks, by name.
  int32_t const n_missing = refitter->getMissingWeights(0, nullptr);
  std::vector<char const*> missing(static_cast<size_t>(n_missing));
  refitter->getMissingWeights(n_missing, missing.data());

  wcodec_file* file = nullptr;
  check(wcodec_open(argv[2], &file), "wcodec_open");

  // The checkpoint's tensor table: name -> byte size (what the destination must hold exactly).
  size_t const n_tensors = wcodec_tensor_count(file);
  std::unordered_map<std::string, size_t> nbytes_of;
  for (size_t i = 0; i < n_tensors; ++i) {
    wcodec_tensor_info info;
    check(wcodec_get_tensor_info(file, i, &info), "wcodec_get_tensor_info");
    nbytes_of.emplace(info.name, static_cast<size_t>(info.nbytes));
  }

  cudaStream_t stream;
  check_cuda(cudaStreamCreate(&stream), "cudaStreamCreate");
  std::vector<DeviceTensor> decoded;
  decoded.reserve(missing.size());
  for (char const* name : missing) {
    auto it = nbytes_of.find(name);
    if (it == nbytes_of.end()) {
      std::fprintf(stderr, "error: the engine needs `%s`, which the checkpoint lacks\n", name);
      return 1;
    }
    nvinfer1::Weights const proto = refitter->getWeightsPrototype(name);
    DeviceTensor t;
    t.nbytes = it->second;
    check_cuda(cudaMallocAsync(&t.ptr_dev, t.nbytes, stream), "cudaMallocAsync");
    // Decoded on the GPU, ordered after earlier work on `stream`; the checksum of every tensor
    // is verified on the device before the call returns success.
    check(wcodec_decode_tensor_cuda(file, name, t.ptr_dev, t.nbytes, stream), name);
    // The prototype's dtype and count are what the engine was built with; setNamedWeights
    // rejects a mismatch, so a checkpoint of another dtype fails here, by name.
    nvinfer1::Weights const w{proto.type, t.ptr_dev, proto.count};
    if (!refitter->setNamedWeights(name, w, nvinfer1::TensorLocation::kDEVICE)) {
      std::fprintf(stderr, "error: TensorRT rejected `%s` (%zu bytes for %lld weights)\n", name, t.nbytes,
                   static_cast<long long>(proto.count));
      return 1;
    }
    decoded.push_back(t);
  }
  // Same stream: the refit reads the decoded buffers in stream order, and the frees queued after
  // it on the same stream run only once it has (refitCudaEngineAsync's documented contract).
  if (!refitter->refitCudaEngineAsync(stream)) {
    std::fprintf(stderr, "error: refit failed\n");
    return 1;
  }
  for (DeviceTensor const& t : decoded) check_cuda(cudaFreeAsync(t.ptr_dev, stream), "cudaFreeAsync");
  check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  wcodec_close(file);

  std::printf("refitted %zu weights from %s; the engine is ready (missing now: %d)\n", decoded.size(), argv[2],
              refitter->getMissingWeights(0, nullptr));
  check_cuda(cudaStreamDestroy(stream), "cudaStreamDestroy");
  return 0;
}
