#!/usr/bin/env python3
"""Independent numpy implementation of wcodec's order-0 "plane bound".

It exists to cross-check the Rust tool, so it shares no code with it.

Per tensor, the bytes are split into byte planes:
  * 1-byte dtypes (U8, I8, BOOL, F8_*): one plane;
  * floats of width >= 2 (BF16, F32, F64; F16 is treated as an integer): the little-endian word is
    rotated left by 1 bit (sign -> bit 0, exponent -> top bits), then split
    into bytes, most significant first (plane 0 = top byte);
  * integers of width >= 2 (I16..U64): split into bytes, most significant
    first, no rotation.
A plane of n bytes with order-0 entropy H0 (bits/symbol) is bounded by
n * H0 / 8 bytes; a tensor's bound is the sum over its planes; a file's bound
is the sum over tensors plus the safetensors header (8 + N bytes) counted raw.
A GGUF file is treated as one U8 plane over the whole file (metadata included),
since wcodec has no GGUF block parser yet.

"H0 byte" is reported too: one byte histogram over all tensor bytes (header
raw), the simpler figure docs/peers.md §2.1 lists next to the lane bound.

Usage: planes.py FILE... [--tensors] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stfile

# F16 is split unrotated (docs/format.md §4): its 5-bit exponent fills no byte either way.
FLOATS = {"BF16": 2, "F32": 4, "F64": 8}
INTS = {"F16": 2, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8}
ONE_BYTE = {"U8", "I8", "BOOL", "F8_E4M3", "F8_E5M2"}
_UINT: dict[int, np.dtype] = {2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}
_CHUNK = 1 << 24  # bincount widens to intp, so histogram in chunks to bound memory


@dataclass
class TensorBound:
    name: str
    dtype: str
    nbytes: int
    plane_bounds: list[float]  # bytes, one per plane, plane 0 = most significant
    h0_byte_bound: float  # bytes, one histogram over the tensor's bytes

    @property
    def bound(self) -> float:
        return sum(self.plane_bounds)


@dataclass
class FileBound:
    path: str
    kind: str  # "safetensors" or "gguf"
    original_bytes: int
    raw_bytes: int  # counted at face value (safetensors header)
    bound_bytes: float  # plane bound incl. raw_bytes
    h0_byte_bytes: float  # one histogram over all tensor bytes, plus raw_bytes
    note: str = ""
    tensors: list[TensorBound] = field(default_factory=list)

    def pct(self, nbytes: float) -> float:
        return 100.0 * nbytes / self.original_bytes


def histogram(data: np.ndarray) -> np.ndarray:
    counts = np.zeros(256, dtype=np.int64)
    for i in range(0, data.size, _CHUNK):
        counts += np.bincount(data[i : i + _CHUNK], minlength=256)
    return counts


def entropy_bound(counts: np.ndarray) -> float:
    """n * H0 / 8 = sum_s c_s * log2(n / c_s) / 8 bytes."""
    n = int(counts.sum())
    c = counts[counts > 0].astype(np.float64)
    return float(np.sum(c * np.log2(n / c)) / 8.0) if n else 0.0


def byte_planes(data: np.ndarray, dtype: str) -> list[np.ndarray]:
    """Split a tensor's raw little-endian bytes into planes, most significant first."""
    if dtype in ONE_BYTE:
        return [data]
    width = FLOATS.get(dtype) or INTS.get(dtype)
    if width is None:
        raise ValueError(f"unsupported dtype {dtype}")
    words = data.view(_UINT[width])
    if dtype in FLOATS:
        bits = np.uint64(8 * width)
        one = words.dtype.type(1)
        words = (words << one) | (words >> words.dtype.type(bits - 1))  # rotl 1: sign to bit 0
    as_bytes = words.astype(_UINT[width], copy=False).view(np.uint8).reshape(-1, width)
    # Little-endian: byte width-1 of each word is the most significant.
    return [np.ascontiguousarray(as_bytes[:, width - 1 - k]) for k in range(width)]


def tensor_bound(name: str, dtype: str, data: np.ndarray) -> TensorBound:
    planes = [entropy_bound(histogram(p)) for p in byte_planes(data, dtype)]
    return TensorBound(name, dtype, int(data.size), planes, entropy_bound(histogram(data)))


def is_gguf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"GGUF"


def gguf_bound(path: Path) -> FileBound:
    data = np.memmap(path, dtype=np.uint8, mode="r")
    b = entropy_bound(histogram(data))
    t = TensorBound("<whole file>", "U8", int(data.size), [b], b)
    note = "GGUF: whole file treated as one U8 plane (metadata and all tensors in one histogram)"
    return FileBound(str(path), "gguf", int(data.size), 0, b, b, note, [t])


def safetensors_bound(path: Path) -> FileBound:
    header_bytes, infos = stfile.read_header(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    tensors = [tensor_bound(t.name, t.dtype, data[t.begin : t.end]) for t in infos]
    payload = histogram(data[header_bytes:])
    return FileBound(
        path=str(path),
        kind="safetensors",
        original_bytes=int(data.size),
        raw_bytes=header_bytes,
        bound_bytes=header_bytes + sum(t.bound for t in tensors),
        h0_byte_bytes=header_bytes + entropy_bound(payload),
        tensors=tensors,
    )


def file_bound(path: Path) -> FileBound:
    return gguf_bound(path) if is_gguf(path) else safetensors_bound(path)


def to_json(fb: FileBound, with_tensors: bool) -> dict[str, object]:
    d = asdict(fb)
    if with_tensors:
        for t, td in zip(fb.tensors, d["tensors"]):
            td["bound"] = t.bound
    else:
        d.pop("tensors")
    d["n_tensors"] = len(fb.tensors)
    d["bound_pct"] = fb.pct(fb.bound_bytes)
    d["h0_byte_pct"] = fb.pct(fb.h0_byte_bytes)
    return d


def print_file(fb: FileBound, with_tensors: bool) -> None:
    name = Path(fb.path).name
    print(
        f"{name:40s} {fb.original_bytes:>12,d} B  plane bound {fb.bound_bytes:>14,.0f} B "
        f"({fb.pct(fb.bound_bytes):6.2f}%)  H0 byte {fb.pct(fb.h0_byte_bytes):6.2f}%  "
        f"raw {fb.raw_bytes:,d} B"
    )
    if fb.note:
        print(f"    note: {fb.note}")
    if with_tensors:
        for t in fb.tensors:
            planes = " ".join(f"{p:.0f}" for p in t.plane_bounds)
            print(f"    {t.name:60s} {t.dtype:8s} {t.nbytes:>11,d} -> {t.bound:>13,.1f}  [{planes}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--tensors", action="store_true", help="also list every tensor and its plane bounds")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = ap.parse_args()
    bounds = [file_bound(p) for p in args.files]
    if args.json:
        print(json.dumps([to_json(b, args.tensors) for b in bounds], indent=2))
    else:
        for b in bounds:
            print_file(b, args.tensors)


if __name__ == "__main__":
    main()
