"""Where decoded tensors go, and which decoder produces them."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _bulk, _wcodec
from .errors import CudaUnavailableError

if TYPE_CHECKING:
    import torch

DeviceLike = Union[str, int, "torch.device"]

_FALLBACKS = ("cpu", None)


class CudaFallbackWarning(RuntimeWarning):
    """A CUDA destination was asked for on a machine where torch sees no CUDA device, and
    ``fallback="cpu"`` returned CPU tensors instead (one warning per call)."""


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
        import nvidia.cu13 as cu13
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
    """Checks a destination device; returns where the tensors will really go.

    CPU destinations always work. A CUDA destination on a machine where torch sees no CUDA
    device becomes the CPU with ``fallback="cpu"`` (the specification's "tries GPU first, falls
    back to CPU"), announced by one :class:`CudaFallbackWarning`, and raises
    :class:`CudaUnavailableError` with ``fallback=None``. Where CUDA exists but the GPU decoder
    cannot run, ``fallback="cpu"`` keeps the CUDA destination (decode on the CPU, then copy).
    Every public call resolves once and passes the result on, so one call warns once.
    """
    import torch

    if fallback not in _FALLBACKS:
        raise ValueError(f"fallback must be 'cpu' or None, not {fallback!r}")
    dev = torch.device(device) if not isinstance(device, int) else torch.device("cuda", device)
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            if fallback == "cpu":
                warnings.warn(
                    f"device={str(dev)!r} was requested but torch sees no CUDA device: the tensors "
                    "are decoded on the CPU and stay there (fallback='cpu'; pass device='cpu' to "
                    "silence this, or fallback=None to make it an error)",
                    CudaFallbackWarning,
                    stacklevel=3,
                )
                return torch.device("cpu")
            raise CudaUnavailableError(
                f"device={str(dev)!r} was requested but torch sees no CUDA device and fallback=None "
                "forbids returning CPU tensors; pass device='cpu' or fallback='cpu'"
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
# Defaults and ranges come from the GPU decoder itself (`wcodec-cuda`'s `DecodeParams`): one
# definition for Rust, the C ABI and Python.
_ranges: dict[str, tuple[int, int, int]] = {
    name: (default, low, high) for name, default, low, high in _wcodec.cuda_param_ranges()
}
# Not a GPU decoder parameter: the block size of the destinations (`wcodec._bulk`), any device.
_ranges["alloc_block_mib"] = (_bulk.BLOCK_BYTES >> 20, 0, 1024)
_params: dict[str, Any] = {
    "chunks_per_block": _ranges["chunks_per_block"][0],
    "streams": _ranges["streams"][0],
    "staging_mib": _ranges["staging_mib"][0],
    "alloc_block_mib": _ranges["alloc_block_mib"][0],
    "use_tensor_cores": False,
}


def _push_params() -> None:
    _wcodec.set_cuda_params(_params["chunks_per_block"], _params["streams"], _params["staging_mib"])
    _bulk.set_block_bytes(_params["alloc_block_mib"] << 20)


def set_decode_params(
    chunks_per_block: Optional[int] = None,
    streams: Optional[int] = None,
    use_tensor_cores: bool = False,
    *,
    tiles_per_block: Optional[int] = None,
    staging_mib: Optional[int] = None,
    alloc_block_mib: Optional[int] = None,
) -> None:
    """Tunes the GPU decoder for the whole process; a parameter left out keeps its default.

    * ``chunks_per_block`` (1–8, default 4): chunks of one tensor decoded by one thread block,
      one warp per chunk. Blocks share one load of the tensor's decode tables; fewer per block
      spread a small tensor over more multiprocessors. ``tiles_per_block``, the name in the
      original specification, is accepted as an alias (it always meant chunks, not the tiles of
      the tile toolset).
    * ``streams`` (1–16, default 2): windows of the file in flight, each with its own CUDA stream
      and pinned staging buffer, so that reading the next window overlaps copying and decoding
      the previous ones; 1 runs the GPU work on the caller's stream.
    * ``staging_mib`` (1–256, default 64): compressed bytes read and staged per window. Each
      window in flight has one pinned host buffer of this size (a window holding one larger
      tensor exceeds it), allocated by the first load and reused by every later one until
      :func:`release_staging`; ``streams`` × ``staging_mib`` bounds the pinned memory a load
      adds (128 MiB by default). Larger windows mean fewer, longer reads and launches.
    * ``alloc_block_mib`` (0–1024, default 64), for every device: returned tensors are views
      into blocks of up to this size, one allocation per block instead of one per tensor
      (``docs/python.md``, "Memory of loaded tensors"); 0 gives every tensor an allocation of
      its own.
    * ``use_tensor_cores``: accepted for the specification's API, and has no effect (it is not
      passed to the decoder): tensor cores multiply matrices, and a ``.wcodec`` decode has no
      matrix product to give them. Entropy decoding is a serial chain of table lookups per lane,
      the plane join is byte shuffling, and the tile transforms (format version 2) are integer
      lifting steps taken modulo 256, exact only in integer arithmetic.

    Ranges and defaults are the GPU decoder's own (``wcodec-cuda``). The CPU decoder has no such
    parameters.
    """
    if tiles_per_block is not None:
        if chunks_per_block is not None and chunks_per_block != tiles_per_block:
            raise TypeError("pass chunks_per_block or its alias tiles_per_block, not both")
        chunks_per_block = tiles_per_block
    if chunks_per_block is None:
        chunks_per_block = _ranges["chunks_per_block"][0]
    if streams is None:
        streams = _ranges["streams"][0]
    if staging_mib is None:
        staging_mib = _ranges["staging_mib"][0]
    if alloc_block_mib is None:
        alloc_block_mib = _ranges["alloc_block_mib"][0]
    for name, value in (
        ("chunks_per_block", chunks_per_block),
        ("streams", streams),
        ("staging_mib", staging_mib),
        ("alloc_block_mib", alloc_block_mib),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        _, low, high = _ranges[name]
        if not low <= value <= high:
            raise ValueError(f"{name} must be in [{low}, {high}], not {value}")
    if not isinstance(use_tensor_cores, bool):
        raise TypeError(f"use_tensor_cores must be a bool, not {type(use_tensor_cores).__name__}")
    with _params_lock:
        _params.update(
            chunks_per_block=chunks_per_block,
            streams=streams,
            staging_mib=staging_mib,
            alloc_block_mib=alloc_block_mib,
            use_tensor_cores=use_tensor_cores,
        )
        _push_params()


def get_decode_params() -> dict[str, Any]:
    """The current GPU decoder parameters (a copy)."""
    with _params_lock:
        return dict(_params)


def staging_stats(device: int = 0) -> Optional[dict[str, int]]:
    """What the GPU decoder of CUDA device ``device`` keeps between loads: ``slots`` (windows in
    flight), ``pinned_bytes`` and ``device_bytes`` held, and the counters ``allocations`` (buffers
    allocated since the decoder was created: constant once its pool is warm) and ``leases``
    (loads). ``None`` before the first GPU load on that device."""
    stats = _wcodec.cuda_staging_stats(device)
    return None if stats is None else dict(stats)


def release_staging() -> int:
    """Frees the pinned and device staging memory the loaders keep between loads (the next load
    allocates it again); returns the number of GPU staging slots freed."""
    return _wcodec.release_staging()
