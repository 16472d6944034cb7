#!/usr/bin/env bash
# Checks a C library tarball from `make dist` without running it (so the aarch64 one is checked
# on an x86-64 machine): the file list, the architecture of both libraries, and that the shared
# library needs only glibc's libraries with no symbol newer than the glibc it is built for.
# CUDA must not appear: wcodec-cuda loads libcuda and NVRTC at run time.
#
# Usage: scripts/check_c_dist.sh TARBALL ARCH GLIBC VERSION
set -euo pipefail
tarball=$1 arch=$2 glibc=$3 version=$4

fail() {
  echo "check_c_dist: $tarball: $*" >&2
  exit 1
}

name=$(basename "$tarball" .tar.gz)
expected="$name/
$name/include/
$name/include/wcodec.h
$name/include/wcodec.hpp
$name/lib/
$name/lib/libwcodec_ffi.a
$name/lib/libwcodec_ffi.so
$name/lib/pkgconfig/
$name/lib/pkgconfig/wcodec.pc"
[[ $(tar -tzf "$tarball" | sort) == "$expected" ]] || fail "unexpected file list: $(tar -tzf "$tarball" | tr '\n' ' ')"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tar -xzf "$tarball" -C "$dir"
lib=$dir/$name/lib
case $arch in
  x86_64) machine='Advanced Micro Devices X86-64' loader=ld-linux-x86-64.so.2 ;;
  aarch64) machine='AArch64' loader=ld-linux-aarch64.so.1 ;;
  *) fail "unknown architecture $arch" ;;
esac
readelf -h "$lib/libwcodec_ffi.so" | grep -q "Machine: *$machine\$" || fail "libwcodec_ffi.so is not $arch"
# Every object of the archive (readelf prints one header per member).
if readelf -h "$lib/libwcodec_ffi.a" | grep 'Machine:' | grep -qv "$machine\$"; then
  fail "libwcodec_ffi.a holds objects that are not $arch"
fi
needed=$(readelf -d "$lib/libwcodec_ffi.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | xargs)
for so in $needed; do
  case $so in
    libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | libgcc_s.so.1 | "$loader") ;;
    *) fail "libwcodec_ffi.so needs $so (only glibc's libraries and libgcc_s are allowed)" ;;
  esac
done
newest=$(readelf -V "$lib/libwcodec_ffi.so" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
[[ $(printf '%s\n%s\n' "$newest" "$glibc" | sort -V | tail -1) == "$glibc" ]] ||
  fail "libwcodec_ffi.so needs glibc $newest symbols, more than $glibc"
grep -qx "Version: $version" "$dir/$name/lib/pkgconfig/wcodec.pc" || fail "wcodec.pc does not say Version: $version"
echo "check_c_dist: $tarball: OK ($arch; needs $needed; glibc symbols up to $newest)"
