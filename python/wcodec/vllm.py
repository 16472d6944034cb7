"""vLLM: serve model directories made by ``wcodec-encode``.

    vllm serve path/to/model.wcodec                      # load format `auto` routes it to wcodec
    vllm serve path/to/model.wcodec --load-format wcodec # the same, explicitly (and its options)
    LLM(model="path/to/model.wcodec")

Installing ``wcodec`` registers the plugin through the ``vllm.general_plugins`` entry point
(``wcodec = "wcodec.vllm:register"``): vLLM calls :func:`register` once in every process it
starts (API server, engine core, each worker), which adds

- the load format ``"wcodec"`` (:class:`WcodecModelLoader`): decodes every tensor of the
  directory's ``.wcodec`` shards (on the GPU with the GPU decoder when the model lives on a CUDA
  device) and feeds them to the model's own ``load_weights`` in the checkpoint's names, dtypes
  and layouts, exactly as vLLM's default loader feeds safetensors tensors; quantized checkpoints
  (``qweight``, ``weight_scale``, ``weight_packed``…) therefore load through vLLM's usual
  quantization code unchanged;
- for vLLM's default load format ``"auto"``, vLLM's own loader extended to send an encoded
  directory (one whose weights are ``.wcodec`` files) to :class:`WcodecModelLoader` and everything
  else to vLLM's code unchanged (``WCODEC_VLLM_AUTO=0`` turns this off; an encoded directory then
  fails with a message that says to add ``--load-format wcodec``);
- the load format ``"wcodec_sharded"``, the counterpart of vLLM's ``sharded_state``: each rank
  reads only its own pre-sharded ``model-rank-{rank}-part-{part}.wcodec`` files, written from a
  model vLLM has loaded by ``python -m wcodec.vllm save-sharded``.

This module imports neither vLLM nor torch at import time: :func:`register` runs in every vLLM
process, including forked workers that must not touch CUDA before they fork, and for models that
are not wcodec at all. The loader classes live in private modules imported on registration.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Optional

from ._files import PathLike
from ._vllm_common import DEFAULT_BATCH_MIB, LOAD_FORMAT, SHARDED_LOAD_FORMAT, iterate_weights

if TYPE_CHECKING:
    import torch

    from ._device import DeviceLike
    from ._vllm_loader import WcodecModelLoader
    from ._vllm_sharded import WcodecShardedStateLoader

__all__ = [
    "DEFAULT_BATCH_MIB",
    "LOAD_FORMAT",
    "SHARDED_LOAD_FORMAT",
    "WcodecModelLoader",
    "WcodecShardedStateLoader",
    "is_registered",
    "register",
    "weights_iterator",
]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_registered = False


def register() -> None:
    """Registers the load formats ``"wcodec"`` and ``"wcodec_sharded"``, and extends vLLM's
    default load format ``"auto"`` to route encoded directories to the wcodec loader.

    vLLM calls this through the ``vllm.general_plugins`` entry point in each of its processes.
    Idempotent (a second call does nothing, so vLLM logs no "already registered" warning), and
    it never initialises CUDA. On a vLLM without ``register_model_loader`` (older than 0.10) it
    logs a warning and registers nothing: such a vLLM would then reject ``--load-format wcodec``
    with its own "not supported" error. ``"auto"`` is only extended where it is still vLLM's own
    loader (another plugin's replacement is left alone).
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
        from ._vllm_auto import install_auto_loader
        from ._vllm_loader import WcodecModelLoader
        from ._vllm_sharded import WcodecShardedStateLoader

        model_loader.register_model_loader(LOAD_FORMAT)(WcodecModelLoader)
        model_loader.register_model_loader(SHARDED_LOAD_FORMAT)(WcodecShardedStateLoader)
        install_auto_loader(model_loader)
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
    Progress is logged to the ``wcodec.vllm`` logger (inside vLLM, the loaders log through
    vLLM's own logger instead and show a progress bar).
    """
    return iterate_weights(path, device, fallback, batch_bytes, skip, logger)


def __getattr__(name: str) -> Any:
    # The loaders subclass vLLM's BaseModelLoader, so defining them imports vLLM: done on first
    # use, not when vLLM imports this module to call register().
    if name == "WcodecModelLoader":
        from ._vllm_loader import WcodecModelLoader

        return WcodecModelLoader
    if name == "WcodecShardedStateLoader":
        from ._vllm_sharded import WcodecShardedStateLoader

        return WcodecShardedStateLoader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m wcodec.vllm save-sharded ...`` (see :mod:`wcodec._vllm_sharded`)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m wcodec.vllm save-sharded --model MODEL --output DIR [vLLM engine options]")
        return 0 if args else 2
    if args[0] != "save-sharded":
        print(f"unknown command {args[0]!r}: the command is `save-sharded`", file=sys.stderr)
        return 2
    from ._vllm_sharded import save_sharded_main

    return save_sharded_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
