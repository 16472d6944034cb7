"""``save_file``/``load_file`` with the signatures of ``safetensors.torch``: swap the import and
the files become ``.wcodec`` files.

    from wcodec.torch import load_file, save_file
    save_file({"w": torch.zeros(4, 4)}, "model.wcodec", metadata={"format": "pt"})
    tensors = load_file("model.wcodec", device="cpu")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch

from . import _device, _wcodec
from ._api import decode_to_state_dict
from ._files import PathLike

__all__ = ["load_file", "save_file"]


def save_file(
    tensors: dict[str, torch.Tensor],
    filename: PathLike,
    metadata: Optional[dict[str, str]] = None,
    *,
    threads: Optional[int] = None,
) -> None:
    """Saves tensors as a ``.wcodec`` file whose decoded form is exactly the safetensors file
    ``safetensors.torch.save_file(tensors, ..., metadata)`` would write (same rules: contiguous,
    non-shared tensors; the file is replaced if it exists, atomically)."""
    import safetensors.torch

    data = safetensors.torch.save(tensors, metadata=metadata)
    name = Path(os.fspath(filename)).with_suffix(".safetensors").name
    _wcodec.encode_bytes(data, os.fspath(filename), file_name=name, threads=threads, overwrite=True)


def load_file(
    filename: PathLike,
    device: Any = "cpu",
    *,
    fallback: Optional[str] = "cpu",
    cache_dir: Optional[PathLike] = None,
) -> dict[str, torch.Tensor]:
    """Loads every tensor of a ``.wcodec`` file (or encoded model directory) onto ``device``."""
    if isinstance(device, int):
        device = torch.device("cuda", device)
    _device.resolve(device, fallback)
    return decode_to_state_dict(filename, device=device, fallback=fallback, cache_dir=cache_dir)
