"""safetensors dtype names ↔ torch dtypes (as ``safetensors.torch`` maps them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import UnsupportedFormatError

if TYPE_CHECKING:
    import torch

# Names whose torch dtype may be missing from older torch builds are looked up by attribute.
_TORCH_NAMES = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "I16": "int16",
    "U16": "uint16",
    "F16": "float16",
    "BF16": "bfloat16",
    "I32": "int32",
    "U32": "uint32",
    "F32": "float32",
    "F64": "float64",
    "C64": "complex64",
    "I64": "int64",
    "U64": "uint64",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E8M0": "float8_e8m0fnu",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    # Two E2M1 codes per byte: torch halves the last dimension (safetensors keeps the logical one).
    "F4": "float4_e2m1fn_x2",
}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a safetensors dtype name."""
    import torch

    attr = _TORCH_NAMES.get(name)
    dtype = getattr(torch, attr, None) if attr else None
    if dtype is None:
        raise UnsupportedFormatError(
            f"dtype {name} has no torch equivalent in torch {torch.__version__}; "
            "read its raw bytes with wcodec.open(...).get_bytes(name)"
        )
    return dtype


def safetensors_name(dtype: torch.dtype) -> str:
    """The safetensors name of a torch dtype."""
    import torch

    for name, attr in _TORCH_NAMES.items():
        if getattr(torch, attr, None) == dtype:
            return name
    raise UnsupportedFormatError(f"torch dtype {dtype} has no safetensors equivalent")


def torch_shape(name: str, shape: Sequence[int]) -> list[int]:
    """The torch shape of a tensor stored with safetensors shape ``shape``."""
    shape = list(shape)
    if name == "F4":
        if not shape or shape[-1] % 2:
            raise UnsupportedFormatError(
                f"F4 tensor of shape {shape} cannot be viewed as float4_e2m1fn_x2 "
                "(the last dimension must be even)"
            )
        shape[-1] //= 2
    return shape
