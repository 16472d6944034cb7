"""Destinations allocated in bulk: the tensors of one decode are views into a few large
allocations instead of one allocation each.

A fresh ``torch.empty`` costs microseconds on the CPU and more on a CUDA device (the caching
allocator's bookkeeping); a checkpoint of 20,000 tensors paid that 20,000 times. Here the
tensors of a batch are grouped by dtype and packed into *blocks* of at most
:data:`BLOCK_BYTES`, each tensor starting on a :data:`ALIGN`-byte boundary; a tensor of a
block's size or more (and an empty one) gets an allocation of its own. Each returned tensor is
an ``as_strided`` view of its block: contiguous, with the shape and dtype it would have had,
but sharing its block's storage with its neighbours (``docs/python.md``, "Memory of loaded
tensors", says what that means for users and how to opt out).

A :class:`Plan` is computed once per batch (and cached for a checkpoint's full load); each load
then costs a few allocations, one view per tensor and the addresses as one packed array.
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from . import _dtypes
from .errors import CorruptFileError

if TYPE_CHECKING:
    import torch

#: Largest block; also the size from which a tensor is allocated alone. Large enough that a
#: checkpoint needs few allocations, small enough that keeping one small tensor alive (which
#: keeps its block alive) never holds more than this, and that a caching allocator reuses the
#: blocks of an earlier load.
BLOCK_BYTES = 64 << 20

#: Every tensor starts on a multiple of this many bytes (what CUDA kernels and vectorised CPU
#: code prefer, and more than any dtype needs).
ALIGN = 256

_lock = threading.Lock()
_block_bytes = BLOCK_BYTES


def set_block_bytes(n: int) -> None:
    """Sets the block size of later loads; 0 allocates every tensor on its own."""
    global _block_bytes
    with _lock:
        _block_bytes = n


def block_bytes() -> int:
    """The block size of later loads (0: one allocation per tensor)."""
    return _block_bytes


def _strides(shape: Sequence[int]) -> list[int]:
    out = [1] * len(shape)
    acc = 1
    for i in range(len(shape) - 1, -1, -1):
        out[i] = acc
        acc *= max(shape[i], 1)
    return out


class _Block:
    """Tensors of one dtype packed into one allocation (offsets in elements)."""

    __slots__ = ("dtype", "itemsize", "elems", "rows", "offsets", "shapes", "strides")

    def __init__(self, dtype: torch.dtype, itemsize: int) -> None:
        self.dtype = dtype
        self.itemsize = itemsize
        self.elems = 0
        self.rows: list[int] = []
        self.offsets: list[int] = []
        self.shapes: list[list[int]] = []
        self.strides: list[list[int]] = []


class Plan:
    """Where each tensor of a batch goes. ``dtypes``, ``shapes`` (as stored, safetensors dtype
    names) and ``nbytes`` are columns, one row per tensor; ``names`` is used for errors only.

    Raises :class:`~wcodec.errors.UnsupportedFormatError` for a dtype torch lacks and
    :class:`~wcodec.errors.CorruptFileError` when a tensor's size does not fill its shape,
    before anything is allocated."""

    def __init__(
        self,
        names: Sequence[str],
        dtypes: Sequence[str],
        shapes: Sequence[Sequence[int]],
        nbytes: Sequence[int],
        block: Optional[int] = None,
    ) -> None:
        import torch

        self.n = len(names)
        # A batch of one tensor (`decode_layer`, `get_tensor`) gets a plain allocation.
        block = 0 if self.n == 1 else _block_bytes if block is None else block
        self.nbytes = array("Q", nbytes)
        #: (row, torch dtype, torch shape) of tensors allocated alone.
        self.singles: list[tuple[int, torch.dtype, list[int]]] = []
        self.blocks: list[_Block] = []
        open_blocks: dict[torch.dtype, _Block] = {}
        torch_dtypes: dict[str, tuple[torch.dtype, int]] = {}
        for row in range(self.n):
            name, n = dtypes[row], nbytes[row]
            td = torch_dtypes.get(name)
            if td is None:
                dt = _dtypes.torch_dtype(name)
                td = torch_dtypes[name] = (dt, torch.empty(0, dtype=dt).element_size())
            dtype, itemsize = td
            shape = _dtypes.torch_shape(name, shapes[row])
            numel = 1
            for d in shape:
                numel *= d
            if numel * itemsize != n:
                raise CorruptFileError(
                    f"tensor `{names[row]}`: {n} bytes do not fill a {name} tensor of shape {list(shapes[row])}"
                )
            if n == 0 or n + ALIGN > block:
                self.singles.append((row, dtype, shape))
                continue
            b = open_blocks.get(dtype)
            off = 0
            if b is not None:
                off = -(-b.elems * itemsize // ALIGN) * ALIGN // itemsize
                if (off + numel) * itemsize + ALIGN > block:
                    b = None
            if b is None:
                b = open_blocks[dtype] = _Block(dtype, itemsize)
                self.blocks.append(b)
                off = 0
            b.rows.append(row)
            b.offsets.append(off)
            b.shapes.append(shape)
            b.strides.append(_strides(shape))
            b.elems = off + numel

    def allocate(self, device: Optional[torch.device]) -> tuple[list[torch.Tensor], list[int]]:
        """Allocates every destination on ``device`` (``None``: the CPU); returns the tensors
        and their addresses, in row order."""
        import torch

        tensors: list[Optional[torch.Tensor]] = [None] * self.n
        addrs = [0] * self.n
        for row, dtype, shape in self.singles:
            t = torch.empty(shape, dtype=dtype, device=device)
            tensors[row] = t
            addrs[row] = t.data_ptr()
        for b in self.blocks:
            pad = ALIGN // b.itemsize
            mem = torch.empty(b.elems + pad, dtype=b.dtype, device=device)
            base = mem.data_ptr()
            # The allocation's own alignment is the allocator's (64 bytes for torch's CPU one).
            shift = (-base % ALIGN) // b.itemsize
            view = mem.as_strided
            for row, shape, stride, off in zip(b.rows, b.shapes, b.strides, b.offsets):
                tensors[row] = view(shape, stride, shift + off)
            start = base + shift * b.itemsize
            size = b.itemsize
            for row, off in zip(b.rows, b.offsets):
                addrs[row] = start + off * size
        return tensors, addrs  # type: ignore[return-value]  # every row is filled above


def pack_jobs(indices: array, addrs: Sequence[int], nbytes: array) -> bytes:
    """The ``(index, address, nbytes)`` triples of a batch as the native reader takes them:
    little-endian ``u64``, one buffer for the whole batch."""
    n = len(indices)
    jobs = array("Q", bytes(24 * n))
    jobs[0::3] = indices
    jobs[1::3] = array("Q", addrs)
    jobs[2::3] = nbytes
    if sys.byteorder == "big":
        jobs.byteswap()
    return jobs.tobytes()
