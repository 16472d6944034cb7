"""wcodec: a lossless codec for neural-network checkpoints, with decode-on-load.

    import wcodec
    wcodec.encode_checkpoint("model.safetensors", "model.wcodec")
    state_dict = wcodec.decode_checkpoint("model.wcodec", device="cpu")
    with wcodec.open("model.wcodec") as f:
        w = f.get_tensor("layer.0.weight")

Decoded tensors are bit-identical to the original checkpoint's. ``import wcodec`` does not
import torch; the functions that return tensors do. Framework modules: :mod:`wcodec.torch`
(``save_file``/``load_file`` as in ``safetensors.torch``), :mod:`wcodec.transformers` and
:mod:`wcodec.vllm` (vLLM's load format ``wcodec``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import _wcodec
from ._api import (
    decode_checkpoint,
    decode_layer,
    decode_to_state_dict,
    decode_to_temp,
    encode_checkpoint,
    load_model,
)
from ._device import (
    CudaFallbackWarning,
    get_decode_params,
    is_cuda_available,
    release_staging,
    set_decode_params,
    staging_stats,
)
from ._files import PathLike
from ._load_into import LoadResult, load_into
from ._reader import WcodecFile, WcodecSlice
from .errors import (
    CorruptFileError,
    CudaError,
    CudaUnavailableError,
    IncompatibleTargetError,
    TensorNotFoundError,
    UnsupportedFormatError,
    UnsupportedVersionError,
    WcodecError,
    WcodecFileNotFoundError,
    WcodecIOError,
)

if TYPE_CHECKING:
    from ._device import DeviceLike

__version__: str = _wcodec.__version__

__all__ = [
    "CorruptFileError",
    "CudaError",
    "CudaFallbackWarning",
    "CudaUnavailableError",
    "IncompatibleTargetError",
    "LoadResult",
    "TensorNotFoundError",
    "UnsupportedFormatError",
    "UnsupportedVersionError",
    "WcodecError",
    "WcodecFile",
    "WcodecFileNotFoundError",
    "WcodecIOError",
    "WcodecSlice",
    "__version__",
    "decode_checkpoint",
    "decode_layer",
    "decode_to_state_dict",
    "decode_to_temp",
    "encode_checkpoint",
    "get_decode_params",
    "is_cuda_available",
    "load_into",
    "load_model",
    "open",
    "release_staging",
    "set_decode_params",
    "staging_stats",
    "verify_checkpoint",
]


def __getattr__(name: str) -> Any:
    # `wcodec.torch`, `wcodec.transformers` and `wcodec.vllm` load on first use, so `import wcodec`
    # stays free of torch while `wcodec.torch.save_file(...)` still works without its own import line.
    if name in ("torch", "transformers", "vllm"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open(
    path: PathLike,
    framework: str = "pt",
    device: DeviceLike = "cpu",
    fallback: Optional[str] = "cpu",
    *,
    backend: str = "mmap",
) -> WcodecFile:
    """Opens a ``.wcodec`` file or encoded model directory for lazy reading, like
    ``safetensors.safe_open``: ``keys()``, ``offset_keys()``, ``get_tensor(name)``,
    ``get_slice(name)``, ``metadata()``; a context manager. ``backend`` (``"mmap"`` or
    ``"pread"``, as in safetensors 0.8) is accepted and changes nothing: the file is always
    memory-mapped, and a tensor's decode reads only its stored bytes."""
    return WcodecFile(path, framework=framework, device=device, fallback=fallback, backend=backend)


def verify_checkpoint(original: PathLike, decoded: PathLike) -> dict[str, Any]:
    """Compares an original checkpoint (file or directory) with a decoded one, tensor by tensor
    and byte by byte; returns ``files_identical``, ``n_files``, ``n_tensors`` and
    ``first_mismatch`` (``None`` when identical)."""
    import json
    import os

    return json.loads(_wcodec.verify(os.fspath(original), os.fspath(decoded)))
