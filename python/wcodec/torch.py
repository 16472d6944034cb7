"""``save_file``/``load_file``/``save_model``/``load_model`` with the signatures of
``safetensors.torch``: swap the import and the files become ``.wcodec`` files.

    from wcodec.torch import load_file, save_file
    save_file({"w": torch.zeros(4, 4)}, "model.wcodec", metadata={"format": "pt"})
    tensors = load_file("model.wcodec", device="cpu")

A ``.wcodec`` file is not a safetensors file, so ``save_file``/``save_model`` refuse a name
ending in ``.safetensors`` (safetensors and Transformers would then fail on it) unless
``allow_safetensors_suffix=True``. ``backend=`` (safetensors 0.8: ``"mmap"`` or ``"pread"``)
is accepted and changes nothing: a ``.wcodec`` file is always memory-mapped.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

import torch

from . import _device, _wcodec
from ._files import PathLike
from ._reader import check_backend
from ._state_dict import decode_to_state_dict

__all__ = ["load_file", "load_model", "save_file", "save_model"]


def save_file(
    tensors: dict[str, torch.Tensor],
    filename: PathLike,
    metadata: Optional[dict[str, str]] = None,
    *,
    threads: Optional[int] = None,
    allow_safetensors_suffix: bool = False,
) -> None:
    """Saves tensors as a ``.wcodec`` file whose decoded form is exactly the safetensors file
    ``safetensors.torch.save_file(tensors, ..., metadata)`` would write (same rules: contiguous,
    non-shared tensors; the file is replaced if it exists, atomically)."""
    import safetensors.torch

    _check_suffix(filename, allow_safetensors_suffix)
    data = safetensors.torch.save(tensors, metadata=metadata)
    name = Path(os.fspath(filename)).with_suffix(".safetensors").name
    _wcodec.encode_bytes(data, os.fspath(filename), file_name=name, threads=threads, overwrite=True)


def load_file(
    filename: PathLike,
    device: Any = "cpu",
    *,
    backend: str = "mmap",
    fallback: Optional[str] = "cpu",
    cache_dir: Optional[PathLike] = None,
) -> dict[str, torch.Tensor]:
    """Loads every tensor of a ``.wcodec`` file (or encoded model directory) onto ``device``."""
    check_backend(backend)
    if isinstance(device, int):
        device = torch.device("cuda", device)
    dev = _device.resolve(device, fallback)
    return decode_to_state_dict(filename, device=dev, fallback=fallback, cache_dir=cache_dir)


def save_model(
    model: torch.nn.Module,
    filename: PathLike,
    metadata: Optional[dict[str, str]] = None,
    force_contiguous: bool = True,
    *,
    threads: Optional[int] = None,
    allow_safetensors_suffix: bool = False,
) -> None:
    """Saves a model's state dict as ``safetensors.torch.save_model`` does: of tensors that
    share memory (tied weights) one name is kept, and each dropped name is recorded in the
    metadata as ``{dropped: kept}`` (unless the caller's metadata already has that key)."""
    _check_suffix(filename, allow_safetensors_suffix)
    state_dict = model.state_dict()
    meta = dict(metadata) if metadata is not None else None
    for kept, dropped in _tied_names(state_dict).items():
        for name in dropped:
            meta = meta if meta is not None else {}
            meta.setdefault(name, kept)
            del state_dict[name]
    if force_contiguous:
        state_dict = {k: v.contiguous() for k, v in state_dict.items()}
    try:
        save_file(state_dict, filename, meta, threads=threads, allow_safetensors_suffix=True)
    except ValueError as e:
        if force_contiguous:
            raise
        raise ValueError(f"{e} Or use save_model(..., force_contiguous=True), which packs each tensor first.") from e


def load_model(
    model: torch.nn.Module,
    filename: PathLike,
    strict: bool = True,
    device: Any = "cpu",
    *,
    backend: str = "mmap",
    fallback: Optional[str] = "cpu",
) -> tuple[list[str], list[str]]:
    """Loads a ``.wcodec`` file into ``model`` as ``safetensors.torch.load_model`` does: a tied
    name of the model missing from the file is filled through the name it shares memory with.
    Returns ``(missing, unexpected)``; with ``strict``, raises ``RuntimeError`` if either is
    non-empty."""
    state_dict = load_file(filename, device=device, backend=backend, fallback=fallback)
    tied = _tied_names(model.state_dict(), preferred=state_dict.keys())
    missing_list, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = set(missing_list)
    for dropped in tied.values():
        for name in dropped:
            if name in missing:
                missing.remove(name)
            else:
                # Stored under both names although the model ties them: one copy is ignored.
                unexpected.append(name)
    if strict and (missing or unexpected):
        error = f"Error(s) in loading state_dict for {model.__class__.__name__}:"
        if missing:
            error += "\n    Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in sorted(missing))
        if unexpected:
            error += "\n    Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in sorted(unexpected))
        raise RuntimeError(error)
    return sorted(missing), unexpected


def _check_suffix(filename: PathLike, allowed: bool) -> None:
    path = Path(os.fspath(filename))
    if path.suffix.lower() == ".safetensors" and not allowed:
        raise ValueError(
            f"`{path}`: wcodec.torch writes a .wcodec file, which safetensors and Transformers cannot "
            f"read under a .safetensors name; save it as `{path.with_suffix('.wcodec')}` "
            "(or pass allow_safetensors_suffix=True to keep the name)"
        )


def _tied_names(
    state_dict: dict[str, torch.Tensor], preferred: Iterable[str] = ()
) -> dict[str, list[str]]:
    """``{kept: [dropped, ...]}`` for every group of names whose tensors overlap in memory,
    chosen as safetensors chooses them: the kept name covers its whole storage (else
    ``RuntimeError``: saving it would store memory no name covers), the first such name in
    sorted order, or the first of them in ``preferred`` (the names a file already uses)."""
    preferred = set(preferred)
    by_storage: dict[tuple[Any, int, int], list[str]] = defaultdict(list)
    for name, t in state_dict.items():
        if t.device.type == "meta":
            continue
        storage = t.untyped_storage()
        if storage.data_ptr() and storage.nbytes():
            by_storage[(t.device, storage.data_ptr(), storage.nbytes())].append(name)
    out: dict[str, list[str]] = {}
    for names in by_storage.values():
        for group in _overlapping(names, state_dict):
            if len(group) < 2:
                continue
            complete = sorted(n for n in group if _covers_storage(state_dict[n]))
            if not complete:
                raise RuntimeError(
                    f"tensors {sorted(group)} share memory and none covers all of it: refusing "
                    "to save or load them (it would store more memory than the tensors hold)"
                )
            keep = next((n for n in complete if n in preferred), complete[0])
            out[keep] = sorted(n for n in group if n != keep)
    return out


def _overlapping(names: list[str], state_dict: dict[str, torch.Tensor]) -> list[set[str]]:
    """Splits names of one storage into groups whose byte ranges overlap (disjoint views of one
    buffer are separate tensors)."""
    spans = sorted((_span(state_dict[n]), n) for n in names)
    groups: list[set[str]] = []
    end = -1
    for (start, stop), name in spans:
        if groups and start < end:
            groups[-1].add(name)
            end = max(end, stop)
        else:
            groups.append({name})
            end = stop
    return groups


def _span(t: torch.Tensor) -> tuple[int, int]:
    """Bytes from the first element to just past the last one, whatever the strides."""
    if t.numel() == 0:
        return t.data_ptr(), t.data_ptr()
    last = sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    return t.data_ptr(), t.data_ptr() + (last + 1) * t.element_size()


def _covers_storage(t: torch.Tensor) -> bool:
    storage = t.untyped_storage()
    return t.data_ptr() == storage.data_ptr() and t.numel() * t.element_size() == storage.nbytes()
