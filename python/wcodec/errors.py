"""The exceptions wcodec raises.

Every error of the codec derives from :class:`WcodecError`. Where Python has a built-in class a
caller would naturally catch, the wcodec class derives from it too: a missing tensor is also a
``KeyError``, a missing file also a ``FileNotFoundError``. Argument mistakes (a bad option value)
raise plain ``ValueError``/``TypeError``.

Where ``safetensors`` is installed, :class:`WcodecError` also derives from
``safetensors.SafetensorError``, so code written for ``safetensors.safe_open`` that catches it
catches wcodec's errors too (safetensors stays optional: without it the bases are the ones
above).
"""

from __future__ import annotations

__all__ = [
    "CorruptFileError",
    "CudaUnavailableError",
    "IncompatibleTargetError",
    "TensorNotFoundError",
    "UnsupportedFormatError",
    "UnsupportedVersionError",
    "WcodecError",
    "WcodecFileNotFoundError",
    "WcodecIOError",
]


def _safetensors_bases() -> tuple[type[Exception], ...]:
    """``(SafetensorError,)`` when safetensors can be imported, else ``()``. Any failure to
    import it (missing, or a broken build) leaves wcodec's errors as they are without it."""
    try:
        from safetensors import SafetensorError
    except Exception:  # an optional dependency may fail in any way
        return ()
    if not (isinstance(SafetensorError, type) and issubclass(SafetensorError, Exception)):
        return ()
    return (SafetensorError,)


_BASES: tuple[type[Exception], ...] = (*_safetensors_bases(), Exception)


class WcodecError(*_BASES):  # type: ignore[misc]
    """Base class of every wcodec error (also a ``safetensors.SafetensorError`` when
    safetensors is installed)."""


class CorruptFileError(WcodecError):
    """The file is not a valid ``.wcodec`` file, or its data fails its checksums."""


class UnsupportedVersionError(WcodecError):
    """The file was written in a format version this build cannot read."""


class UnsupportedFormatError(WcodecError):
    """The input is not a supported source checkpoint, or a dtype has no equivalent here."""


class TensorNotFoundError(WcodecError, KeyError):
    """No tensor of that name in the checkpoint."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WcodecIOError(WcodecError, OSError):
    """An operating-system error while reading or writing a file."""


class WcodecFileNotFoundError(WcodecIOError, FileNotFoundError):
    """A path given to wcodec does not exist."""


class IncompatibleTargetError(WcodecError, RuntimeError):
    """``load_into``: the target's names, dtypes or shapes do not match the checkpoint's (a
    ``RuntimeError``, as ``load_state_dict`` raises); nothing was written."""


class CudaError(WcodecError, RuntimeError):
    """The GPU decoder failed (a CUDA driver error while decoding)."""


class CudaUnavailableError(CudaError):
    """Tensors were asked for on a CUDA device that cannot be used: torch sees no such device, or
    the GPU decoder cannot run here (no driver, no NVRTC, kernels that do not build for this GPU)
    and no CPU fallback was allowed."""
