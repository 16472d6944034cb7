#!/usr/bin/env bash
# Downloads the load benchmark's peer loaders (exact versions) as CPython 3.12 manylinux x86_64
# wheels into DIR, for a GPU machine without network access: there,
#   python3 -m pip install --no-index --no-deps --target /tmp/site DIR/*.whl
# fastsafetensors needs typer at import time (present on the lent GPU image; pass --with-deps to
# fetch it too). Prints the wheels and their sizes.
#
#   bench/fetch_peer_wheels.sh DIR [--with-deps]
set -euo pipefail
dir=${1:?usage: fetch_peer_wheels.sh DIR [--with-deps]}
PY=${PYTHON:-python3}
PEERS=(fastsafetensors==0.5.0 instanttensor==0.2.2)
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  plat+=(--platform "$p")
done
mkdir -p "$dir"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${plat[@]}" -d "$dir" "${PEERS[@]}"
if [[ ${2:-} == --with-deps ]]; then
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${plat[@]}" -d "$dir" typer click shellingham rich
fi
ls -l "$dir"/*.whl | awk '{printf "%8.1f MB  %s\n", $5 / 1e6, $NF}'
