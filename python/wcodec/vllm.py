"""vLLM: serve model directories made by ``wcodec-encode`` (load format ``"wcodec"``).

    vllm serve path/to/model.wcodec --load-format wcodec
    LLM(model="path/to/model.wcodec", load_format="wcodec")

Installing ``wcodec`` registers the plugin through the ``vllm.general_plugins`` entry point
(``wcodec = "wcodec.vllm:register"``): vLLM calls :func:`register` once in every process it
starts (API server, engine core, each worker), which adds :class:`WcodecModelLoader` under the
load format ``"wcodec"``. The loader decodes every tensor of the directory's ``.wcodec`` shards
(on the GPU with the GPU decoder when the model lives on a CUDA device) and feeds them to the
model's own ``load_weights`` in the checkpoint's names, dtypes and layouts, exactly as vLLM's
default loader feeds safetensors tensors; quantized checkpoints (``qweight``, ``weight_scale``,
``weight_packed``…) therefore load through vLLM's usual quantization code unchanged.

This module imports neither vLLM nor torch at import time: :func:`register` runs in every vLLM
process, including forked workers that must not touch CUDA before they fork, and for models that
are not wcodec at all. The loader class lives in :mod:`wcodec._vllm_loader` and is imported on
registration.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Optional

from ._files import PathLike
from .errors import WcodecError

if TYPE_CHECKING:
    import torch

    from ._device import DeviceLike
    from ._vllm_loader import WcodecModelLoader

__all__ = ["LOAD_FORMAT", "WcodecModelLoader", "is_registered", "register", "weights_iterator"]

LOAD_FORMAT = "wcodec"

# Decoding a batch of tensors in one call keeps the GPU decoder busy (one launch covers many
# chunks); bounding the batch bounds the transient memory next to the model's own parameters.
# 512 MiB is a few layers of a 7B model and far below any GPU's headroom.
DEFAULT_BATCH_MIB = 512

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_registered = False


def register() -> None:
    """Registers :class:`WcodecModelLoader` as vLLM's load format ``"wcodec"``.

    vLLM calls this through the ``vllm.general_plugins`` entry point in each of its processes.
    Idempotent (a second call does nothing, so vLLM logs no "already registered" warning), and
    it never initialises CUDA. On a vLLM without ``register_model_loader`` (older than 0.10) it
    logs a warning and registers nothing: such a vLLM would then reject ``--load-format wcodec``
    with its own "not supported" error.
    """
    global _registered
    with _lock:
        if _registered:
            return
        from vllm.model_executor import model_loader

        if not hasattr(model_loader, "register_model_loader"):
            logger.warning(
                "wcodec: this vLLM has no `register_model_loader` (needs vLLM >= 0.10); "
                "`--load-format wcodec` is unavailable"
            )
            return
        from ._vllm_loader import WcodecModelLoader

        model_loader.register_model_loader(LOAD_FORMAT)(WcodecModelLoader)
        _registered = True


def is_registered() -> bool:
    """Whether :func:`register` has added the loader in this process."""
    return _registered


def weights_iterator(
    path: PathLike,
    device: DeviceLike = "cpu",
    fallback: Optional[str] = "cpu",
    batch_bytes: int = DEFAULT_BATCH_MIB << 20,
    skip: Optional[Callable[[str], bool]] = None,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yields ``(name, tensor)`` for every tensor of a ``.wcodec`` file or encoded directory, in
    checkpoint order (shard by shard, in each shard's on-disk order), decoded on ``device``.

    Tensors are decoded in batches of at most ``batch_bytes`` (a larger tensor forms a batch of
    its own) and handed out one at a time; a batch is released as its last tensor is yielded, so
    at most one batch is alive besides what the consumer keeps. Each tensor has its own storage
    from torch's allocator, never a reused scratch buffer (some model ``load_weights`` keep
    references to what they were given). On a CUDA ``device`` the GPU decoder writes straight
    into device memory; where it cannot run, ``fallback="cpu"`` decodes on the CPU and copies,
    ``fallback=None`` raises :class:`~wcodec.CudaUnavailableError`. Tensors whose name ``skip``
    accepts are neither decoded nor read (vLLM's expert-parallel filter: non-local experts).
    """
    from . import _device
    from ._reader import Checkpoint, decode

    if isinstance(batch_bytes, bool) or not isinstance(batch_bytes, int) or batch_bytes <= 0:
        raise ValueError(f"batch_bytes must be a positive int, not {batch_bytes!r}")
    dev = _device.resolve(device, fallback)
    ckpt = Checkpoint.open(path)
    entries = [e for e in ckpt.entries.values() if skip is None or not skip(e.name)]
    total = sum(e.nbytes for e in entries)
    on_gpu = _device.use_gpu_decoder(dev)
    logger.info(
        "wcodec: decoding %d tensors (%.2f GiB) from %s on %s (%s)",
        len(entries), total / 2**30, ckpt.path, dev, "GPU decoder" if on_gpu else "CPU decoder",
    )
    start = time.perf_counter()
    batch: list[Any] = []
    batch_size = 0

    def flush() -> Iterator[tuple[str, torch.Tensor]]:
        tensors = decode(batch, dev, fallback)
        names = [e.name for e in batch]
        batch.clear()
        # Reversed pops drop each tensor from this frame as it is handed out.
        tensors.reverse()
        for name in names:
            yield name, tensors.pop()

    for e in entries:
        if batch and batch_size + e.nbytes > batch_bytes:
            yield from flush()
            batch_size = 0
        batch.append(e)
        batch_size += e.nbytes
    if batch:
        yield from flush()
    seconds = time.perf_counter() - start
    logger.info(
        "wcodec: decoded %.2f GiB in %.2f s (%.2f GB/s, including the consumer's time)",
        total / 2**30, seconds, total / 1e9 / seconds if seconds > 0 else math.inf,
    )


def __getattr__(name: str) -> Any:
    # The loader subclasses vLLM's BaseModelLoader, so defining it imports vLLM: done on first
    # use, not when vLLM imports this module to call register().
    if name == "WcodecModelLoader":
        from ._vllm_loader import WcodecModelLoader

        return WcodecModelLoader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _local_model_dir(model: str) -> Optional[str]:
    """``model`` as a directory when it is one (vLLM passes local paths unchanged)."""
    expanded = os.path.expanduser(model)
    return expanded if os.path.isdir(expanded) else None


def _not_wcodec_error(path: str) -> WcodecError:
    return WcodecError(
        f"`{path}` holds no .wcodec weights: `--load-format wcodec` loads directories made by "
        f"`wcodec-encode --input <model dir> --output <dir>`; for plain safetensors leave "
        "`--load-format` at its default"
    )
