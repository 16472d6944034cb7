#!/usr/bin/env bash
# Runs the C ABI test (crates/wcodec-ffi/tests/c/test_wcodec.c) with its GPU part required, on a
# machine that has gcc and the NVIDIA driver but maybe no Rust toolchain: build the library
# elsewhere (`cargo build --release -p wcodec-ffi`), carry target/release/libwcodec_ffi.so and
# this repository's tree, then:
#
#   scripts/gpu_test_c.sh DIR_WITH_LIBWCODEC_FFI_SO
#
# The GPU decoder compiles its kernels with NVRTC at run time: set WCODEC_NVRTC_PATH to the
# library or its directory; if unset, the copy of the `nvidia-cuda-nvrtc` (or torch) wheel that
# python3 can import is used when there is one. Exit status: 0 when every check passed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR_WITH_LIBWCODEC_FFI_SO" >&2
  exit 2
fi
lib=$(cd "$1" && pwd)
if [ ! -f "$lib/libwcodec_ffi.so" ]; then
  echo "error: no libwcodec_ffi.so in $lib" >&2
  exit 2
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
gcc -std=c11 -Wall -Wextra -Werror -O1 -g -I"$root/crates/wcodec-ffi/include" \
  "$root/crates/wcodec-ffi/tests/c/test_wcodec.c" -o "$out/test_wcodec" \
  -L"$lib" -lwcodec_ffi -ldl -Wl,-rpath,"$lib"

if [ -z "${WCODEC_NVRTC_PATH:-}" ]; then
  nvrtc=$(python3 -c 'import nvidia.cu13, os; print(os.path.join(list(nvidia.cu13.__path__)[0], "lib"))' 2>/dev/null || true)
  if [ -n "$nvrtc" ]; then
    export WCODEC_NVRTC_PATH=$nvrtc
  fi
fi
# Printed without this machine's absolute paths: the log is kept as a report.
nvrtc_shown=${WCODEC_NVRTC_PATH:-(library search path)}
echo "library: $1/libwcodec_ffi.so; NVRTC: ${nvrtc_shown/#*site-packages\//<site-packages>/}"
"$out/test_wcodec" "$root" --require-gpu
