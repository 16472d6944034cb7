"""Where decoded tensors go, and which decoder produces them."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _wcodec
from .errors import CudaUnavailableError

if TYPE_CHECKING:
    import torch

DeviceLike = Union[str, int, "torch.device"]

_FALLBACKS = ("cpu", None)


_gpu_lock = threading.Lock()
_gpu_errors: dict[int, Optional[str]] = {}  # device ordinal -> why the GPU decoder cannot run
_nvrtc_configured = False


def _configure_nvrtc() -> None:
    """Points the GPU decoder at an NVRTC library when the environment has none: the copy that
    PyTorch's CUDA 13 wheels install (``nvidia/cu13/lib``), unless ``WCODEC_NVRTC_PATH`` is set."""
    global _nvrtc_configured
    if _nvrtc_configured:
        return
    _nvrtc_configured = True
    if os.environ.get("WCODEC_NVRTC_PATH"):
        return
    try:
        import nvidia.cu13 as cu13  # type: ignore[import-not-found]
    except ImportError:
        return
    for root in getattr(cu13, "__path__", []):
        lib = Path(root) / "lib"
        if any(lib.glob("libnvrtc.so*")):
            _wcodec.set_nvrtc_path(str(lib))
            return


def gpu_decoder_error(index: int) -> Optional[str]:
    """Why the GPU decoder cannot run on CUDA device ``index`` (``None`` when it can). The first
    call per device loads the driver and the kernels (compiled by NVRTC once, then cached on
    disk); the answer is remembered for the process."""
    with _gpu_lock:
        if index in _gpu_errors:
            return _gpu_errors[index]
        _configure_nvrtc()
        _push_params()
        if _wcodec.cuda_device_count() <= index:
            error: Optional[str] = f"the CUDA driver reports no device {index}"
        else:
            error = _wcodec.cuda_decoder_error(index)
        _gpu_errors[index] = error
        return error


def is_cuda_available() -> bool:
    """True only when the GPU decoder can really run: torch sees a CUDA device *and* this
    package's decoder loads its kernels on it. ``torch.cuda.is_available()`` alone is not enough
    (no NVRTC, a GPU older than compute capability 8.0, …)."""
    try:
        import torch
    except ImportError:
        return False
    if not torch.cuda.is_available():
        return False
    return gpu_decoder_error(torch.cuda.current_device()) is None


def resolve(device: DeviceLike, fallback: Optional[str]) -> torch.device:
    """Checks a destination device; returns it as a ``torch.device``.

    CPU destinations always work. A CUDA destination needs a visible CUDA device; without the GPU
    decoder it also needs ``fallback="cpu"`` (decode on the CPU, then copy).
    """
    import torch

    if fallback not in _FALLBACKS:
        raise ValueError(f"fallback must be 'cpu' or None, not {fallback!r}")
    dev = torch.device(device) if not isinstance(device, int) else torch.device("cuda", device)
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CudaUnavailableError(
                f"device={str(dev)!r} was requested but torch sees no CUDA device; "
                "pass device='cpu'"
            )
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise CudaUnavailableError(
                f"device={str(dev)!r} does not exist ({torch.cuda.device_count()} CUDA devices)"
            )
        dev = torch.device("cuda", index)
    if fallback is None:
        why = gpu_decoder_error(dev.index) if dev.type == "cuda" else "only CUDA devices have one"
        if why is not None:
            raise CudaUnavailableError(
                f"the GPU decoder cannot run for device={str(dev)!r} ({why}) and fallback=None "
                "forbids decoding on the CPU; pass fallback='cpu'"
            )
    return dev


def use_gpu_decoder(dev: torch.device) -> bool:
    """Whether tensors for ``dev`` are decoded on the GPU (else on the CPU, then copied)."""
    return dev.type == "cuda" and gpu_decoder_error(dev.index) is None


# --- GPU decoder tuning -----------------------------------------------------------------------

_params_lock = threading.Lock()
_params: dict[str, Any] = {"tiles_per_block": 4, "streams": 4, "use_tensor_cores": False}


def _push_params() -> None:
    _wcodec.set_cuda_params(_params["tiles_per_block"], _params["streams"], _params["use_tensor_cores"])


def set_decode_params(tiles_per_block: int = 4, streams: int = 4, use_tensor_cores: bool = False) -> None:
    """Tunes the GPU decoder for the whole process.

    * ``tiles_per_block`` (1–8): chunks of one tensor decoded by one thread block, one warp per
      chunk. Blocks share one load of the tensor's decode tables; fewer per block spread a small
      tensor over more multiprocessors.
    * ``streams`` (1–16): batches of compressed data in flight, each with its own CUDA stream and
      pinned staging buffer, so that host-to-device copies overlap decoding; 1 runs everything on
      the caller's stream.
    * ``use_tensor_cores``: accepted for the specification's API, and has no effect: tensor cores
      multiply matrices, and a ``.wcodec`` decode has no matrix product to give them. Entropy
      decoding is a serial chain of table lookups per lane, the plane join is byte shuffling, and
      the tile transforms (format version 2) are integer lifting steps taken modulo 256, exact
      only in integer arithmetic. ``docs/benchmarks.md`` shows where the decode time goes.

    The CPU decoder has no such parameters.
    """
    for name, value, low, high in (("tiles_per_block", tiles_per_block, 1, 8), ("streams", streams, 1, 16)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be in [{low}, {high}], not {value}")
    if not isinstance(use_tensor_cores, bool):
        raise TypeError(f"use_tensor_cores must be a bool, not {type(use_tensor_cores).__name__}")
    with _params_lock:
        _params.update(tiles_per_block=tiles_per_block, streams=streams, use_tensor_cores=use_tensor_cores)
        _push_params()


def get_decode_params() -> dict[str, Any]:
    """The current GPU decoder parameters (a copy)."""
    with _params_lock:
        return dict(_params)
