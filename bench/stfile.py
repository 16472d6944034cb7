"""Minimal, deterministic safetensors reader/writer shared by the bench scripts.

We write safetensors ourselves instead of calling safetensors.numpy.save_file
because the test set must be byte-identical across runs and library versions:
the library orders tensor data by dtype alignment, while docs/peers.md §2.3 fixes
sorted-name order and a space-padded header.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

# safetensors dtype tag -> numpy dtype (the subset the test set and planes.py need).
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
}
_TAG_OF: dict[np.dtype, str] = {v: k for k, v in DTYPES.items()}

# The MiniLM source file carries this; keeping it makes our headers match the
# byte counts published in docs/peers.md §2.3.
DEFAULT_METADATA: dict[str, str] = {"format": "pt"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # safetensors tag, e.g. "BF16"
    shape: tuple[int, ...]
    begin: int  # absolute file offset of the first data byte
    end: int  # absolute file offset one past the last data byte

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


def dtype_tag(arr: np.ndarray) -> str:
    return _TAG_OF[arr.dtype]


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise tensors in sorted-name order with a compact, space-padded JSON header."""
    names = sorted(tensors)
    header: dict[str, object] = {"__metadata__": DEFAULT_METADATA if metadata is None else metadata}
    offset = 0
    for name in names:
        arr = tensors[name]
        header[name] = {
            "dtype": dtype_tag(arr),
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data section starts 8-aligned
    parts = [struct.pack("<Q", len(text)), text]
    parts += [np.ascontiguousarray(tensors[n]).tobytes() for n in names]
    return b"".join(parts)


def read_header(path: Path) -> tuple[int, list[TensorInfo]]:
    """Return (header bytes incl. the 8-byte length, tensors in file-offset order)."""
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    base = 8 + n
    infos = [
        TensorInfo(name, v["dtype"], tuple(v["shape"]), base + v["data_offsets"][0], base + v["data_offsets"][1])
        for name, v in header.items()
        if name != "__metadata__"
    ]
    infos.sort(key=lambda t: t.begin)
    return base, infos
