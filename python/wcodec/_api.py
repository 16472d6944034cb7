"""The top-level functions of ``wcodec`` (names and parameters of the original specification)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from . import _device, _reader, _wcodec
from ._files import PathLike, checkpoint_files
from ._state_dict import decode_to_state_dict
from .errors import UnsupportedFormatError

if TYPE_CHECKING:
    import torch

# Names and ranges come from the core (the one list of what the encoder accepts).
PREDICTORS = tuple(_wcodec.PREDICTORS)
TRANSFORMS = tuple(_wcodec.TRANSFORMS)
_DEFAULT_PREDICTORS = tuple(_wcodec.DEFAULT_PREDICTORS)  # ("left", "top", "avg", "planar")
_DEFAULT_TRANSFORMS = tuple(_wcodec.DEFAULT_TRANSFORMS)  # ("none", "dct", "adst")
_MIN_TILE, _MAX_TILE, _DEFAULT_TILE = _wcodec.TILE_SIZES
_MIN_CHUNK, _MAX_CHUNK, _DEFAULT_CHUNK = _wcodec.CHUNK_SYMBOLS


def _check_output(output_path: PathLike, overwrite: bool) -> None:
    # The core says "pass --force" (its CLI flag); Python callers have `overwrite=True`.
    if not overwrite and os.path.lexists(os.fspath(output_path)):
        raise ValueError(f"output `{os.fspath(output_path)}` already exists (pass overwrite=True to replace it)")


def _check_tiles(tile_size: int, predictor_modes: Sequence[str], transforms: Sequence[str]) -> None:
    if isinstance(tile_size, bool) or not isinstance(tile_size, int):
        raise TypeError(f"tile_size must be an int, not {type(tile_size).__name__}")
    if tile_size != 0 and not _MIN_TILE <= tile_size <= _MAX_TILE:
        raise ValueError(f"tile_size must be 0 (no tiles) or in [{_MIN_TILE}, {_MAX_TILE}], not {tile_size}")
    for kind, given, known in (
        ("predictor", predictor_modes, PREDICTORS),
        ("transform", transforms, TRANSFORMS),
    ):
        if isinstance(given, str):
            raise TypeError(f"{kind}s must be a list of names, not the string {given!r}")
        for name in given:
            if name not in known:
                raise ValueError(f"unknown {kind} {name!r} (known: {', '.join(known)})")


def encode_checkpoint(
    input_path: PathLike,
    output_path: PathLike,
    tile_size: int = _DEFAULT_TILE,
    predictor_modes: Sequence[str] = _DEFAULT_PREDICTORS,
    transforms: Sequence[str] = _DEFAULT_TRANSFORMS,
    threads: Optional[int] = None,
    *,
    overwrite: bool = False,
    chunk_symbols: Optional[int] = None,
    tile_decode_cost: Optional[int] = None,
) -> dict[str, Any]:
    """Encodes a safetensors file, or a model directory, into ``output_path``.

    Every byte plane is also tried as ``tile_size``² tiles, each predicted from its own
    already-decoded samples (``predictor_modes``: ``left``, ``top``, ``avg``, ``planar``; ``none`` is
    always allowed) and transformed by a reversible integer transform (``transforms``: ``none``,
    ``dct``, ``adst``); a plane keeps its tiles only where they save bytes (smooth tensors such as
    position tables; real weights mostly stay flat). ``tile_size=0`` turns tiles off.

    A directory's ``*.safetensors`` files become ``*.wcodec`` files and everything else (config,
    tokenizer, index) is copied, so the output directory loads with
    :func:`wcodec.transformers.from_pretrained`. ``threads`` defaults to every core. The output is
    written atomically and never replaces the input; an existing output is an error unless
    ``overwrite=True``.

    Rebuilding tiles makes a plane decode about 5× slower on a CPU core, so a plane keeps its
    tiles only when they save at least ``tile_decode_cost`` percent of its original bytes
    (0–100, default 6; ``0`` keeps any tiling that saves bytes, as in 0.1.0).

    ``chunk_symbols`` (a power of two in [4096, 1048576]; default 65536) sets how many symbols
    each independently decodable chunk holds. The default keeps a GPU busy even on single ~20 MB
    tensors; 262144 makes files about 0.1% smaller for CPU-only use, 4096 suits files decoded one
    layer at a time on the GPU (about 2% larger); ``docs/benchmarks.md`` has the measurements.

    Returns the summary figures: ``original_bytes``, ``encoded_bytes``, ``reduction`` (fraction
    saved), ``ratio``, ``seconds``, ``n_files``, ``n_tensors``, ``bound_bytes`` (order-0 bound) and
    ``checksum`` (XXH3-64 of a single source file, hex).
    """
    _check_tiles(tile_size, predictor_modes, transforms)
    if chunk_symbols is not None and (
        isinstance(chunk_symbols, bool)
        or not isinstance(chunk_symbols, int)
        or not _MIN_CHUNK <= chunk_symbols <= _MAX_CHUNK
        or chunk_symbols & (chunk_symbols - 1)
    ):
        raise ValueError(
            f"chunk_symbols must be a power of two in [{_MIN_CHUNK}, {_MAX_CHUNK}], not {chunk_symbols!r}"
        )
    if tile_decode_cost is not None and (
        isinstance(tile_decode_cost, bool) or not isinstance(tile_decode_cost, int) or not 0 <= tile_decode_cost <= 100
    ):
        raise ValueError(f"tile_decode_cost must be a percentage in [0, 100], not {tile_decode_cost!r}")
    _check_output(output_path, overwrite)
    if threads is None:
        threads = os.cpu_count() or 1
    start = time.perf_counter()
    stats = json.loads(
        _wcodec.encode(
            os.fspath(input_path),
            os.fspath(output_path),
            threads=threads,
            overwrite=overwrite,
            chunk_symbols=chunk_symbols,
            tile_size=tile_size,
            predictors=list(predictor_modes),
            transforms=list(transforms),
            tile_decode_cost=tile_decode_cost,
        )
    )
    seconds = time.perf_counter() - start
    original, encoded = stats["original_bytes"], stats["encoded_bytes"]
    return {
        "input_path": os.fspath(input_path),
        "output_path": os.fspath(output_path),
        "original_bytes": original,
        "encoded_bytes": encoded,
        "reduction": 1 - encoded / original if original else 0.0,
        "ratio": original / encoded if encoded else 0.0,
        "seconds": seconds,
        "n_files": stats["n_files"],
        "n_tensors": stats["n_tensors"],
        "bound_bytes": stats["bound_bytes"],
        "checksum": None if Path(input_path).is_dir() else f"{stats['source_xxh3']:016x}",
        "tiles_total": stats["tiles_total"],
        "tiles_predicted": stats["tiles_predicted"],
        "tiled_tensors": stats["tiled_tensors"],
        "tile_bytes_saved": stats["tile_bytes_saved"],
    }


def decode_checkpoint(
    input_path: PathLike,
    output_path: Optional[PathLike] = None,
    device: _device.DeviceLike = "cuda",
    fallback: Optional[str] = "cpu",
    *,
    stream: Any = None,
    threads: Optional[int] = None,
    overwrite: bool = False,
    cache_dir: Optional[PathLike] = None,
) -> Optional[dict[str, torch.Tensor]]:
    """Decodes a ``.wcodec`` file or encoded model directory.

    With ``output_path``: rebuilds the original file(s) there, byte for byte (every tensor is
    checked against its checksum), and returns ``None``; ``device`` is not used.
    Without: returns a state dict of torch tensors on ``device``. On a CUDA device the GPU decoder
    writes straight into device memory (ordered after ``stream``, torch's current stream by
    default) through a pipelined load: the memory-mapped file is staged through pinned buffers
    and copied on several streams while earlier batches decode. Where the GPU decoder cannot run
    (see :func:`is_cuda_available`), ``fallback="cpu"`` decodes on the CPU and copies, and
    ``fallback=None`` raises :class:`CudaUnavailableError`. Where torch sees no CUDA device at
    all, ``fallback="cpu"`` returns CPU tensors with one :class:`CudaFallbackWarning`, and
    ``fallback=None`` raises :class:`CudaUnavailableError`. ``cache_dir`` keeps decoded
    files for the next load (see :mod:`wcodec._cache`).
    """
    if output_path is not None:
        _check_output(output_path, overwrite)
        _wcodec.decode(
            os.fspath(input_path), os.fspath(output_path), threads=threads, overwrite=overwrite
        )
        return None
    return decode_to_state_dict(
        input_path, device=device, fallback=fallback, stream=stream, cache_dir=cache_dir
    )


def decode_layer(
    wcodec_path: PathLike,
    layer_name: str,
    device: _device.DeviceLike = "cuda",
    fallback: Optional[str] = "cpu",
) -> torch.Tensor:
    """Decodes one tensor (only its bytes are read). Safe to call from many threads at once:
    the GIL is released while decoding and open files are shared."""
    ckpt = _reader.Checkpoint.open(wcodec_path)
    return _reader.decode([ckpt.info(layer_name)], device, fallback)[0]


_temp_dirs: list[str] = []


def _remove_temp_dirs() -> None:
    for d in _temp_dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_temp_dirs)


def decode_to_temp(path: PathLike) -> str:
    """Rebuilds a ``.wcodec`` file or encoded model directory in a new temporary directory and
    returns that directory (removed when the interpreter exits).

    An encoded model directory comes back whole (config, tokenizer, shards), so the result loads
    with any ``from_pretrained``; a single ``.wcodec`` file comes back as its original file
    (named as it was) inside the directory.
    """
    src = Path(os.fspath(path))
    checkpoint_files(src)  # a clear error for a missing or empty path, before anything is made
    tmp = tempfile.mkdtemp(prefix="wcodec-")
    _temp_dirs.append(tmp)
    try:
        if src.is_dir():
            out = Path(tmp) / "model"
            _wcodec.decode(str(src), str(out))
            return str(out)
        name = _reader.Checkpoint.open(src).readers[0].source_file_name or src.stem + ".safetensors"
        _wcodec.decode(str(src), str(Path(tmp) / name))
        return tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_model(
    wcodec_path: PathLike,
    model_class: Optional[type] = None,
    device: _device.DeviceLike = "cuda",
    *,
    fallback: Optional[str] = "cpu",
    strict: bool = True,
    cache_dir: Optional[PathLike] = None,
    **model_kwargs: Any,
) -> torch.nn.Module:
    """Instantiates ``model_class(**model_kwargs)`` on ``device``, loads the decoded tensors into
    it and returns it in eval mode.

    Hugging Face models (a ``PreTrainedModel`` subclass, or ``model_class=None`` on an encoded
    model directory with a ``config.json``) go through :func:`wcodec.transformers.from_pretrained`
    so their config, tied weights and buffers are handled as transformers does.
    """
    path = Path(os.fspath(wcodec_path))
    is_hf = model_class is None or any(
        c.__name__ == "PreTrainedModel" for c in getattr(model_class, "__mro__", ())
    )
    if is_hf:
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise UnsupportedFormatError(
                f"`{path}` has no config.json: pass model_class to say what to build"
            )
        from . import transformers as wt

        return wt.from_pretrained(
            path, model_class=model_class, device=device, fallback=fallback, cache_dir=cache_dir,
            **model_kwargs,
        )
    import torch

    assert model_class is not None  # None means a Hugging Face directory, handled above
    dev = _device.resolve(device, fallback)
    state = decode_to_state_dict(path, device=dev, fallback=fallback, cache_dir=cache_dir)
    with torch.device(dev):
        model = model_class(**model_kwargs)
    model.load_state_dict(state, strict=strict)
    return model.eval()
