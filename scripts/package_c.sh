#!/usr/bin/env bash
# Packs the C library of one target into target/dist/libwcodec_ffi-VERSION-TARGET.tar.gz:
#   include/wcodec.h, include/wcodec.hpp, lib/libwcodec_ffi.so, lib/libwcodec_ffi.a,
#   lib/pkgconfig/wcodec.pc
# Usage: scripts/package_c.sh TARGET VERSION URL STATIC_LIBS
# after `cargo zigbuild --release -p wcodec-ffi --target TARGET.2.28` (`make dist` runs both).
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1 version=$2 url=$3 static_libs=$4
build=target/$target/release
name=libwcodec_ffi-$version-$target
stage=target/dist/.stage-$name/$name

rm -rf "$stage"
mkdir -p "$stage/include" "$stage/lib/pkgconfig"
cp crates/wcodec-ffi/include/wcodec.h crates/wcodec-ffi/include/wcodec.hpp "$stage/include/"
cp "$build/libwcodec_ffi.so" "$build/libwcodec_ffi.a" "$stage/lib/"
sed -e "s|@VERSION@|$version|" -e "s|@URL@|$url|" -e "s|@STATIC_LIBS@|$static_libs|" \
  scripts/wcodec.pc.in >"$stage/lib/pkgconfig/wcodec.pc"
# Fixed owner and times and sorted names: the same inputs give the same tarball bytes.
tmp=$(mktemp target/dist/.$name.XXXXXX)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$(dirname "$stage")" -cf - "$name" \
  | gzip -n >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "target/dist/$name.tar.gz"
rm -rf "$(dirname "$stage")"
tar -tzvf "target/dist/$name.tar.gz"
