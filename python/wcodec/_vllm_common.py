"""What the vLLM plugin's modules share: names, checks and the weight iterator.

A leaf: it imports neither vLLM nor torch at import time, and no other ``_vllm_*`` module, so
that imports go one way (``wcodec.vllm`` → the loaders → this module).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Optional

from ._files import PathLike
from .errors import WcodecError

if TYPE_CHECKING:
    import torch

    from ._device import DeviceLike

LOAD_FORMAT = "wcodec"
SHARDED_LOAD_FORMAT = "wcodec_sharded"

# Decoding a batch of tensors in one call keeps the GPU decoder busy (one launch covers many
# chunks); bounding the batch bounds the transient memory next to the model's own parameters.
# 512 MiB is a few layers of a 7B model and far below any GPU's headroom.
DEFAULT_BATCH_MIB = 512

# `WCODEC_VLLM_AUTO=0` keeps vLLM's load format `auto` as vLLM has it: an encoded directory then
# needs `--load-format wcodec` (and says so).
AUTO_ENV = "WCODEC_VLLM_AUTO"


def auto_routing_enabled() -> bool:
    return os.environ.get(AUTO_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def local_model_dir(model: str) -> Optional[str]:
    """``model`` as a directory when it is one (vLLM passes local paths unchanged)."""
    expanded = os.path.expanduser(model)
    return expanded if os.path.isdir(expanded) else None


def not_wcodec_error(path: str) -> WcodecError:
    return WcodecError(
        f"`{path}` holds no .wcodec weights, so `--load-format wcodec` cannot load it: that load "
        "format reads directories made by `wcodec-encode --input <model dir> --output <dir>`. For a "
        "plain safetensors model, drop `--load-format wcodec` (vLLM's default `auto` loads it)"
    )


def needs_flag_message(path: str) -> str:
    return (
        f"`{path}` holds wcodec-encoded weights (.wcodec files), which vLLM's own loaders cannot "
        f"read: add `--load-format wcodec` (`LLM(..., load_format=\"wcodec\")`), or unset "
        f"{AUTO_ENV}=0 so that the wcodec plugin loads such directories with the default load format"
    )


def iterate_weights(
    path: PathLike,
    device: DeviceLike,
    fallback: Optional[str],
    batch_bytes: int,
    skip: Optional[Callable[[str], bool]],
    log: logging.Logger,
    on_start: Optional[Callable[[int, int], None]] = None,
    on_tensor: Optional[Callable[[int], None]] = None,
) -> Iterator[tuple[str, torch.Tensor]]:
    """:func:`wcodec.vllm.weights_iterator`, logging to ``log``; ``on_start(n_tensors,
    n_bytes)`` is called once before the first tensor and ``on_tensor(nbytes)`` after each (a
    progress bar)."""
    from . import _device
    from ._reader import Checkpoint, decode

    if isinstance(batch_bytes, bool) or not isinstance(batch_bytes, int) or batch_bytes <= 0:
        raise ValueError(f"batch_bytes must be a positive int, not {batch_bytes!r}")
    dev = _device.resolve(device, fallback)
    ckpt = Checkpoint.open(path)
    entries = [e for e in ckpt.entries.values() if skip is None or not skip(e.name)]
    total = sum(e.nbytes for e in entries)
    on_gpu = _device.use_gpu_decoder(dev)
    log.info(
        "wcodec: decoding %d tensors (%.2f GiB) from %d .wcodec file%s in %s on %s (%s)",
        len(entries), total / 2**30, len(ckpt.files), "" if len(ckpt.files) == 1 else "s",
        ckpt.path, dev, "GPU decoder" if on_gpu else "CPU decoder",
    )
    if on_start is not None:
        on_start(len(entries), total)
    start = time.perf_counter()
    batch: list[Any] = []
    batch_size = 0

    def flush() -> Iterator[tuple[str, torch.Tensor]]:
        # Each tensor in its own allocation: a model may keep some of them as its parameters
        # and drop the rest, which must then free their memory.
        tensors = decode(batch, dev, fallback, block=0)
        sizes = [(e.name, e.nbytes) for e in batch]
        batch.clear()
        # Reversed pops drop each tensor from this frame as it is handed out.
        tensors.reverse()
        for name, nbytes in sizes:
            yield name, tensors.pop()
            if on_tensor is not None:
                on_tensor(nbytes)

    for e in entries:
        if batch and batch_size + e.nbytes > batch_bytes:
            yield from flush()
            batch_size = 0
        batch.append(e)
        batch_size += e.nbytes
    if batch:
        yield from flush()
    seconds = time.perf_counter() - start
    log.info(
        "wcodec: loaded %.2f GiB in %.2f s (%.2f GB/s, decoding and the model's weight loaders)",
        total / 2**30, seconds, total / 1e9 / seconds if seconds > 0 else math.inf,
    )
