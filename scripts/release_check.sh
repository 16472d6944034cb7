#!/usr/bin/env bash
# The release check (`make release-check`): installs the wheel and, separately, the sdist into
# fresh virtual environments without torch, runs the console scripts and imports the package in
# each, and fails on any difference between the two; then compiles and runs a C program and the
# C++ example against the C library tarball through pkg-config.
#
# Usage: scripts/release_check.sh VERSION WHEEL SDIST C_TARBALL
#
# The sdist is built by pip as a user's `pip install wcodec-VERSION.tar.gz` would: maturin from
# PyPI in an isolated build environment, then cargo, with the host's toolchain and linker. Its
# cargo target directory is target/sdist-build rather than a temporary one, so a second run here
# recompiles only the workspace crates; it is not target/ itself, whose zig-linked builds would
# otherwise be thrown away and rebuilt in turn (cargo keeps one build per crate and set of flags).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=$1 wheel=$2 sdist=$3 c_tarball=$4
python=${PYTHON:-python3}
work=target/release-check

fail() {
  echo "release-check: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"
cp testdata/golden/all_dtypes.safetensors testdata/golden/float_planes.safetensors "$work/"

# Everything a user sees of one installation, into $work/$kind/report (compared below).
check_install() {
  local kind=$1 package=$2
  local dir=$work/$kind venv=$work/$kind/venv
  echo "== $kind: $package"
  mkdir -p "$dir"
  "$python" -m venv "$venv"
  local start=$SECONDS
  if [[ $kind == sdist ]]; then
    CARGO_TARGET_DIR="$root/target/sdist-build" "$venv/bin/python" -m pip install -q "$package"
  else
    "$venv/bin/python" -m pip install -q "$package"
  fi
  echo "installed in $((SECONDS - start)) s"
  # Run from $dir with relative paths, so that the two reports can be compared byte for byte.
  (
    cd "$dir"
    for tool in wcodec wcodec-encode wcodec-decode wcodec-verify; do
      "venv/bin/$tool" --version
    done
    # torch is not installed: `import wcodec` must not need it (nor anything else).
    venv/bin/python - "$version" <<'PY'
import importlib.metadata
import sys

import wcodec

expected = sys.argv[1]
assert wcodec.__version__ == expected, (wcodec.__version__, expected)
assert importlib.metadata.version("wcodec") == expected, importlib.metadata.version("wcodec")
heavy = sorted(m for m in ("torch", "numpy", "safetensors", "transformers") if m in sys.modules)
assert not heavy, f"import wcodec imported {heavy}"
print(f"import wcodec: __version__ {wcodec.__version__}, metadata {importlib.metadata.version('wcodec')}")
PY
    for model in all_dtypes float_planes; do
      original=../$model.safetensors
      venv/bin/wcodec encode -q -i "$original" -o "$model.wcodec"
      venv/bin/wcodec-decode -q -i "$model.wcodec" -o "$model.safetensors"
      cmp "$original" "$model.safetensors" || fail "$kind: $model: decoded file differs from the original"
      venv/bin/wcodec-verify --json --original "$original" --decoded "$model.wcodec"
      venv/bin/wcodec verify --json --original "$original" --decoded "$model.safetensors"
      venv/bin/python -c 'import sys, wcodec; r = wcodec.verify_checkpoint(sys.argv[1], sys.argv[2]);
assert r["files_identical"], r; print(sorted(r.items()))' "$original" "$model.wcodec"
      echo "$model.wcodec sha256 $(sha256sum <"$model.wcodec" | cut -d' ' -f1)"
    done
  ) >"$dir/report"
  local report=$dir/report
  cat "$report"
  head -1 "$report" | grep -qx "wcodec $version" || fail "$kind: wcodec --version does not start with 'wcodec $version'"
  grep -q "^format versions: reads " "$report" || fail "$kind: wcodec --version names no format versions"
}

check_install wheel "$wheel"
check_install sdist "$sdist"
diff -u "$work/wheel/report" "$work/sdist/report" || fail "the wheel and the sdist installs differ (above)"
echo "== wheel and sdist: identical reports"

echo "== C library: $c_tarball"
mkdir -p "$work/c"
tar -xzf "$c_tarball" -C "$work/c"
prefix=$(echo "$work"/c/libwcodec_ffi-"$version"-*)
[[ -d $prefix ]] || fail "$c_tarball does not unpack into libwcodec_ffi-$version-<target>/"
export PKG_CONFIG_PATH=$root/$prefix/lib/pkgconfig
[[ $(pkg-config --modversion wcodec) == "$version" ]] || fail "wcodec.pc: version $(pkg-config --modversion wcodec)"
libdir=$(pkg-config --variable=libdir wcodec)
# Shared: a C program built the way the pkg-config file says.
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
gcc -std=c11 -Wall -Wextra -Werror scripts/release_check.c -o "$work/c/release_check" \
  $(pkg-config --cflags --libs wcodec) -Wl,-rpath,"$libdir"
readelf -d "$work/c/release_check" | grep -q 'NEEDED.*libwcodec_ffi\.so' || fail "release_check is not linked to the .so"
"$work/c/release_check" "$version" testdata/golden/all_dtypes.wcodec
# Static: the C++ example against libwcodec_ffi.a and `pkg-config --static`'s private libraries.
# shellcheck disable=SC2046
g++ -std=c++17 -Wall -Wextra -Werror $(pkg-config --cflags wcodec) examples/cpp_decode.cpp \
  -o "$work/c/cpp_decode" "$libdir/libwcodec_ffi.a" $(pkg-config --static --libs-only-l wcodec | sed 's/-lwcodec_ffi//')
if readelf -d "$work/c/cpp_decode" | grep -q 'NEEDED.*libwcodec_ffi'; then fail "cpp_decode is not linked statically"; fi
"$work/c/cpp_decode" testdata/golden/float_planes.wcodec layer.1.weight
echo "release-check: OK (wcodec $version: wheel, sdist, C library)"
