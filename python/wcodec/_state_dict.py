"""``decode_to_state_dict``: every tensor of a checkpoint, by name, on one device.

Its own module because both :mod:`wcodec._api` (``decode_checkpoint``, ``load_model``) and the
framework modules (:mod:`wcodec.torch`, :mod:`wcodec.transformers`) build on it, and
``load_model`` in turn calls :mod:`wcodec.transformers`: with the function here, no module
imports one that imports it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import _cache, _device, _reader
from ._files import PathLike

if TYPE_CHECKING:
    import torch


def decode_to_state_dict(
    path: PathLike,
    device: _device.DeviceLike = "cuda",
    fallback: Optional[str] = "cpu",
    *,
    stream: Any = None,
    cache_dir: Optional[PathLike] = None,
) -> dict[str, torch.Tensor]:
    """Every tensor of a ``.wcodec`` file or encoded model directory, by name, on ``device``
    (see :func:`decode_checkpoint` for ``device``, ``fallback``, ``stream`` and ``cache_dir``)."""
    dev = _device.resolve(device, fallback)
    ckpt = _reader.Checkpoint.open(path)
    if cache_dir is not None:
        out: dict[str, torch.Tensor] = {}
        for reader in ckpt.readers:
            cached = _cache.load_cached(cache_dir, reader)
            if cached is None:
                infos = [e for e in ckpt.entries.values() if e.reader is reader]
                cached = dict(zip((e.name for e in infos), _reader.decode(infos)))
            out.update(cached)
        if dev.type == "cpu":
            return out
        names = list(out)
        return dict(zip(names, _reader._to_device([out[n] for n in names], dev, stream)))
    return dict(zip(ckpt.names, _reader.decode_batch(ckpt.full_batch(), dev, fallback, stream)))
