"""Where decoded tensors go, and which decoder produces them."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional, Union

from .errors import CudaUnavailableError

if TYPE_CHECKING:
    import torch

DeviceLike = Union[str, int, "torch.device"]

_FALLBACKS = ("cpu", None)


def gpu_decoder_available() -> bool:
    """Whether this build has a GPU decoder that can run here.

    This build decodes on the CPU only (the CUDA decoder is a separate piece of work), so the
    answer is always ``False``; CUDA destinations are served by decoding on the CPU and copying.
    """
    return False


def is_cuda_available() -> bool:
    """True only when the GPU decoder can really run: a CUDA device is visible *and* this build
    has a working GPU decoder. ``torch.cuda.is_available()`` alone is not enough."""
    if not gpu_decoder_available():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


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
    if not gpu_decoder_available() and fallback is None:
        raise CudaUnavailableError(
            f"this build of wcodec has no GPU decoder for device={str(dev)!r} and "
            "fallback=None forbids decoding on the CPU; pass fallback='cpu'"
        )
    return dev


# --- GPU decoder tuning -----------------------------------------------------------------------

_params_lock = threading.Lock()
_params: dict[str, Any] = {"tiles_per_block": 4, "streams": 4, "use_tensor_cores": False}


def set_decode_params(
    tiles_per_block: int = 4, streams: int = 4, use_tensor_cores: bool = False
) -> None:
    """Tunes the GPU decoder: tiles (chunks) decoded per thread block, CUDA streams of the
    pipelined load, and whether inverse transforms may use tensor cores.

    The values are validated and stored process-wide (see :func:`get_decode_params`). They take
    effect once the GPU decoder is part of the build; this build decodes on the CPU, where they
    change nothing.
    """
    for name, value, low, high in (
        ("tiles_per_block", tiles_per_block, 1, 64),
        ("streams", streams, 1, 64),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be in [{low}, {high}], not {value}")
    if tiles_per_block & (tiles_per_block - 1):
        raise ValueError(f"tiles_per_block must be a power of two, not {tiles_per_block}")
    if not isinstance(use_tensor_cores, bool):
        raise TypeError(f"use_tensor_cores must be a bool, not {type(use_tensor_cores).__name__}")
    with _params_lock:
        _params.update(
            tiles_per_block=tiles_per_block, streams=streams, use_tensor_cores=use_tensor_cores
        )


def get_decode_params() -> dict[str, Any]:
    """The current GPU decoder parameters (a copy)."""
    with _params_lock:
        return dict(_params)
