"""Which ``.wcodec`` files a path stands for, and a small cache of open readers."""

from __future__ import annotations

import errno
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Union

from . import _wcodec
from .errors import CorruptFileError, WcodecError, WcodecFileNotFoundError

PathLike = Union[str, "os.PathLike[str]"]

WCODEC_INDEX = "model.wcodec.index.json"
SOURCE_INDEX = "model.safetensors.index.json"


def checkpoint_files(path: PathLike) -> list[Path]:
    """The ``.wcodec`` files of a file or an encoded model directory, in checkpoint order.

    A directory with a ``model.wcodec.index.json`` lists the shards of its ``weight_map``;
    otherwise every ``*.wcodec`` file at its top level counts, sorted by name.
    """
    p = Path(os.fspath(path))
    if not p.exists():
        raise WcodecFileNotFoundError(errno.ENOENT, "no such file or directory", str(p))
    if not p.is_dir():
        return [p]
    index = p / WCODEC_INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CorruptFileError(f"`{index}` is not a valid wcodec index: {e}") from None
        files = [p / n for n in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise WcodecFileNotFoundError(
                errno.ENOENT, f"`{index}` names missing shards: {', '.join(missing)}", missing[0]
            )
        return files
    files = sorted(f for f in p.iterdir() if f.suffix == ".wcodec" and f.is_file())
    if not files:
        raise WcodecError(f"`{p}` holds no .wcodec files (encode it with wcodec-encode first)")
    return files


def is_wcodec_dir(path: PathLike) -> bool:
    """Whether ``path`` is a model directory made by ``wcodec-encode`` (and not a plain one)."""
    p = Path(os.fspath(path))
    if not p.is_dir():
        return False
    if (p / WCODEC_INDEX).is_file():
        return True
    has_wcodec = any(f.suffix == ".wcodec" for f in p.iterdir())
    has_plain = any(f.suffix == ".safetensors" for f in p.iterdir())
    return has_wcodec and not has_plain


# Opening parses and checks the header; callers such as decode_layer in a thread pool open the
# same file again and again, so recently opened readers are kept (keyed by identity and mtime, so
# a rewritten file is reopened).
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[str, int, int, int], _wcodec.Reader] = OrderedDict()
_cache_lock = threading.Lock()


def open_reader(path: PathLike) -> _wcodec.Reader:
    """An open reader of one ``.wcodec`` file (shared, thread-safe)."""
    p = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise WcodecFileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
    key = (p, st.st_ino, st.st_mtime_ns, st.st_size)
    with _cache_lock:
        reader = _cache.get(key)
        if reader is not None:
            _cache.move_to_end(key)
            return reader
    reader = _wcodec.Reader(p)
    with _cache_lock:
        _cache[key] = reader
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return reader


def clear_reader_cache() -> None:
    """Forgets every cached reader (their files are unmapped once no tensor view needs them)."""
    with _cache_lock:
        _cache.clear()
