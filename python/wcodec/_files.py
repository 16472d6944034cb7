"""Which ``.wcodec`` files a path stands for, and a small cache of open readers."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Union

from . import _wcodec
from ._lru import LRU, clear_all
from .errors import CorruptFileError, WcodecError, WcodecFileNotFoundError

PathLike = Union[str, "os.PathLike[str]"]

WCODEC_INDEX = "model.wcodec.index.json"
SOURCE_INDEX = "model.safetensors.index.json"


def checkpoint_files(path: PathLike) -> list[Path]:
    """The ``.wcodec`` files of a file or an encoded model directory, in checkpoint order.

    A directory with a ``model.wcodec.index.json`` lists the shards of its ``weight_map``;
    otherwise every ``*.wcodec`` file at its top level counts, sorted by name. (The index has
    the same ``weight_map`` in every layout: older encoded directories also kept a copy of
    ``model.safetensors.index.json``, newer ones keep the original inside the wcodec index.)
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
            raise CorruptFileError(
                f"`{index}` is damaged: not a valid wcodec index ({e}); download it again, or encode "
                "the original checkpoint again with wcodec-encode"
            ) from None
        files = [p / n for n in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise WcodecFileNotFoundError(
                errno.ENOENT,
                f"shards listed by `{index}` are missing: {', '.join(missing)}; download the whole "
                "directory again",
                missing[0],
            )
        return files
    files = sorted(f for f in p.iterdir() if f.suffix == ".wcodec" and f.is_file())
    if not files:
        raise WcodecError(f"`{p}` holds no .wcodec files (encode it with wcodec-encode first)")
    return files


def is_wcodec_dir(path: PathLike) -> bool:
    """Whether ``path`` is a model directory made by ``wcodec-encode`` (and not a plain one): it
    has a wcodec index, or ``.wcodec`` files and no ``.safetensors`` ones."""
    p = Path(os.fspath(path))
    if not p.is_dir():
        return False
    if (p / WCODEC_INDEX).is_file():
        return True
    suffixes = {f.suffix for f in p.iterdir()}
    return ".wcodec" in suffixes and ".safetensors" not in suffixes


# Opening parses and checks the header; callers such as decode_layer in a thread pool open the
# same file again and again, so recently opened readers are kept (keyed by identity and mtime, so
# a rewritten file is reopened).
_readers: LRU[tuple[str, int, int, int], _wcodec.Reader] = LRU(16)


def open_reader(path: PathLike) -> _wcodec.Reader:
    """An open reader of one ``.wcodec`` file (shared, thread-safe)."""
    p = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise WcodecFileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
    key = (p, st.st_ino, st.st_mtime_ns, st.st_size)
    # Opened under the name the caller gave, so that errors name that file (in a Hugging Face
    # cache the real path is a content hash under blobs/).
    return _readers.get_or_make(key, lambda: _wcodec.Reader(os.fspath(path)))


def clear_reader_cache() -> None:
    """Forgets every cached reader, and every checkpoint table holding one (their files are
    unmapped once no tensor view needs them)."""
    clear_all()
