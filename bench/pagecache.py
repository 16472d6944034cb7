"""Page-cache control for the load benchmark: drop a file's pages, check how much is resident.

* ``drop(paths)``: ``fsync`` then ``posix_fadvise(POSIX_FADV_DONTNEED)`` on the whole file. The
  kernel drops clean, unmapped pages only, so nothing may hold the file mapped (each benchmark
  load runs in a fresh process and the checks below unmap before they return).
* ``resident(paths)``: the fraction of the files' pages in the page cache, from ``mincore(2)``
  over a temporary read-only mapping (through ctypes: Python's ``mmap`` gives no address for a
  read-only map).
* ``warm(paths)``: reads the files until they are resident.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Iterable

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_MAP_FAILED = ctypes.c_void_p(-1).value
PAGE = mmap.PAGESIZE
_LOW_BIT = bytes(b & 1 for b in range(256))  # mincore: bit 0 = resident, others reserved


def drop(paths: Iterable[str | os.PathLike]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_pages(path: str | os.PathLike) -> tuple[int, int]:
    """(resident pages, total pages) of one file."""
    size = os.path.getsize(path)
    if size == 0:
        return 0, 0
    pages = (size + PAGE - 1) // PAGE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, _MAP_FAILED):
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            vec = (ctypes.c_ubyte * pages)()
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
            return bytes(vec).translate(_LOW_BIT).count(1), pages
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def resident(paths: Iterable[str | os.PathLike]) -> float:
    """Fraction of the files' pages that are in the page cache (1.0 for no pages at all)."""
    got = total = 0
    for p in paths:
        r, n = resident_pages(p)
        got += r
        total += n
    return got / total if total else 1.0


def warm(paths: Iterable[str | os.PathLike], block: int = 16 << 20) -> None:
    buf = bytearray(block)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
