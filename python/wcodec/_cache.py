"""``cache_dir=``: decoded checkpoints kept as safetensors files for the next load.

Each ``.wcodec`` file is cached as its rebuilt source, named by the XXH3 of the ``.wcodec``
header (which covers every tensor's checksum, so equal names mean equal content) and the file
size; nothing hashes the whole file. The cache helps CPU-only hosts, where reading a safetensors
file from the page cache beats decoding; cached files are trusted as they are (delete the
directory to drop them).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ._files import PathLike

if TYPE_CHECKING:
    import torch

    from . import _wcodec


def cache_path(cache_dir: PathLike, reader: _wcodec.Reader) -> Path:
    """Where the decoded form of ``reader``'s file lives in ``cache_dir``."""
    return Path(os.fspath(cache_dir)) / f"{reader.header_xxh3:016x}-{reader.file_bytes:x}.safetensors"


def load_cached(cache_dir: PathLike, reader: _wcodec.Reader) -> dict[str, torch.Tensor] | None:
    """The tensors of ``reader``'s file, through the cache (filled on a miss); ``None`` when the
    cache cannot be written (a warning says why) so the caller decodes directly."""
    import safetensors.torch

    path = cache_path(cache_dir, reader)
    if not (path.is_file() and path.stat().st_size == reader.source_bytes):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            reader.write_source(str(path), overwrite=True)
        except OSError as e:
            warnings.warn(f"wcodec cache_dir not used: {e}", RuntimeWarning, stacklevel=3)
            return None
    return safetensors.torch.load_file(str(path), device="cpu")
