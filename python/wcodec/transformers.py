"""Hugging Face Transformers: load model directories made by ``wcodec-encode``.

    import wcodec.transformers
    model = wcodec.transformers.from_pretrained("minilm.wcodec")       # a directory

or, opt-in, teach every ``from_pretrained`` to accept such directories::

    wcodec.transformers.patch()
    model = AutoModel.from_pretrained("minilm.wcodec")

Transformers has no hook for new weight formats, so the model is built from ``config.json`` and
given the decoded tensors through ``from_pretrained(None, config=..., state_dict=...)``: the
documented way to load a state dict, which keeps transformers' own handling of dtypes, tied
weights, buffers and checkpoint-name conversions.
"""

from __future__ import annotations

import functools
import os
import threading
import types
from pathlib import Path
from typing import Any, Optional, cast

import transformers

from . import _device
from ._files import PathLike, is_wcodec_dir
from ._state_dict import decode_to_state_dict
from .errors import UnsupportedFormatError

__all__ = ["from_pretrained", "is_patched", "patch", "unpatch"]


def _model_class(config: Any) -> type:
    for name in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, name, None)
        if cls is not None:
            return cls
    try:
        found = transformers.AutoModel._model_mapping[type(config)]
    except KeyError:
        raise UnsupportedFormatError(
            f"cannot tell which model class to build for config {type(config).__name__}; "
            "pass model_class="
        ) from None
    # A config mapped to several classes gives them as a tuple: the first is AutoModel's choice.
    return cast(type, found[0] if isinstance(found, tuple) else found)


def from_pretrained(
    path: PathLike,
    model_class: Optional[type] = None,
    *,
    device: _device.DeviceLike = "cpu",
    fallback: Optional[str] = "cpu",
    cache_dir: Optional[PathLike] = None,
    **kwargs: Any,
) -> Any:
    """Builds the model of an encoded Hugging Face directory and loads its decoded weights.

    ``model_class`` defaults to the first of ``config.architectures`` that transformers knows
    (else ``AutoModel``'s choice). ``device`` is where the model ends up (``"cpu"``,
    ``"cuda"``, ``"cuda:1"``…). Other keyword arguments go to ``from_pretrained`` (``dtype``,
    ``attn_implementation``…); ``config`` may be given instead of read from the directory.
    ``cache_dir`` is wcodec's decoded-file cache, not the Hub cache.
    """
    path = Path(os.fspath(path))
    config = kwargs.pop("config", None)
    if config is None:
        config = transformers.AutoConfig.from_pretrained(
            path, trust_remote_code=kwargs.get("trust_remote_code", False)
        )
    cls = model_class if model_class is not None else _model_class(config)
    dev = _device.resolve(device, fallback)
    state_dict = decode_to_state_dict(path, device="cpu", cache_dir=cache_dir)
    if "generation_config" not in kwargs and (path / "generation_config.json").is_file():
        kwargs["generation_config"] = transformers.GenerationConfig.from_pretrained(path)
    kwargs.setdefault("dtype", "auto")
    model = _original(cls)(None, config=config, state_dict=state_dict, **kwargs)
    if dev.type != "cpu":
        model = model.to(dev)
    return model


# --- patch() -----------------------------------------------------------------------------------

_lock = threading.Lock()
_saved: Optional[Any] = None  # the original PreTrainedModel.from_pretrained (a classmethod)


def _original(cls: Any) -> Any:
    """``cls.from_pretrained`` as transformers defines it, even while patched."""
    if _saved is not None and getattr(cls.from_pretrained, "__func__", None) is _patched_impl:
        return types.MethodType(_saved, cls)
    return cls.from_pretrained


def _patched_impl(cls: type, pretrained_model_name_or_path: Any = None, *args: Any, **kwargs: Any) -> Any:
    if pretrained_model_name_or_path is not None and not args and is_wcodec_dir(
        pretrained_model_name_or_path
    ):
        kwargs.pop("cache_dir", None)  # the Hub cache means nothing for a local directory
        return from_pretrained(
            pretrained_model_name_or_path,
            model_class=cls,
            cache_dir=kwargs.pop("wcodec_cache_dir", None),
            **kwargs,
        )
    assert _saved is not None
    return types.MethodType(_saved, cls)(pretrained_model_name_or_path, *args, **kwargs)


def patch() -> None:
    """Makes ``from_pretrained`` of every transformers model class (``AutoModel*`` included,
    which delegate to it) accept directories made by ``wcodec-encode``. Idempotent; undo with
    :func:`unpatch`. A plain directory or Hub id loads exactly as before."""
    global _saved
    with _lock:
        if _saved is not None:
            return
        base = transformers.PreTrainedModel
        _saved = base.__dict__["from_pretrained"].__func__
        setattr(base, "from_pretrained", classmethod(functools.wraps(_saved)(_patched_impl)))  # noqa: B010


def unpatch() -> None:
    """Restores transformers' own ``from_pretrained``."""
    global _saved
    with _lock:
        if _saved is None:
            return
        setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(_saved))  # noqa: B010
        _saved = None


def is_patched() -> bool:
    return _saved is not None
