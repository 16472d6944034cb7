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
then costs a few allocations, views made a run of same-shaped tensors at a time, and the
addresses as one packed array.
"""

from __future__ import annotations

import sys
import threading
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

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
    """Tensors of one dtype packed into one allocation (offsets in elements). Tensors of one
    shape are placed one after another, ``step`` elements apart, as *runs*: a run's views come
    from one ``as_strided(...).unbind(0)``, one native call instead of one per tensor."""

    __slots__ = ("dtype", "elems", "itemsize", "runs")

    def __init__(self, dtype: torch.dtype, itemsize: int) -> None:
        self.dtype = dtype
        self.itemsize = itemsize
        self.elems = 0
        #: (rows, shape, strides, first offset, step) per run.
        self.runs: list[tuple[list[int], list[int], list[int], int, int]] = []


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
        self.n = len(names)
        # A batch of one tensor (`decode_layer`, `get_tensor`) gets a plain allocation.
        block = 0 if self.n == 1 else _block_bytes if block is None else block
        self.nbytes = array("Q", nbytes)
        #: (row, torch dtype, torch shape) of tensors allocated alone.
        self.singles: list[tuple[int, torch.dtype, list[int]]] = []
        self.blocks: list[_Block] = []
        torch_dtypes: dict[str, tuple[torch.dtype, int]] = {}
        # Checkpoints repeat a few shapes many times: each (dtype, shape) is checked once.
        kinds: dict[tuple[str, tuple[int, ...]], tuple[list[int], int]] = {}
        packed: list[tuple[str, tuple[int, ...], int]] = []
        for row in range(self.n):
            name, n = dtypes[row], nbytes[row]
            key = (name, tuple(shapes[row]))
            kind = kinds.get(key)
            if kind is None:
                td = torch_dtypes.get(name)
                if td is None:
                    dt = _dtypes.torch_dtype(name)
                    td = torch_dtypes[name] = (dt, dt.itemsize)
                shape = _dtypes.torch_shape(name, key[1])
                numel = 1
                for d in shape:
                    numel *= d
                kind = kinds[key] = (shape, numel * td[1])
            if kind[1] != n:
                raise CorruptFileError(
                    f"tensor `{names[row]}`: {n} bytes do not fill a {name} tensor of shape {list(shapes[row])}"
                )
            if n == 0 or n + ALIGN > block:
                self.singles.append((row, torch_dtypes[name][0], kind[0]))
            else:
                packed.append((name, key[1], row))
        # Tensors of one dtype and shape side by side (file order otherwise), so that they form runs.
        packed.sort()
        cur: Optional[_Block] = None
        for name, stored_shape, row in packed:
            dtype, itemsize = torch_dtypes[name]
            shape = kinds[(name, stored_shape)][0]
            numel = self.nbytes[row] // itemsize
            step = -(-numel * itemsize // ALIGN) * ALIGN // itemsize
            off = 0 if cur is None or cur.dtype != dtype else -(-cur.elems * itemsize // ALIGN) * ALIGN // itemsize
            if cur is None or cur.dtype != dtype or (off + numel) * itemsize + ALIGN > block:
                cur = _Block(dtype, itemsize)
                self.blocks.append(cur)
                off = 0
            last = cur.runs[-1] if cur.runs else None
            if last is not None and last[1] is shape and last[3] + len(last[0]) * last[4] == off and last[4] == step:
                last[0].append(row)
            else:
                cur.runs.append(([row], shape, _strides(shape), off, step))
            cur.elems = off + numel

    def allocate(self, device: Optional[torch.device]) -> tuple[list[torch.Tensor], list[int]]:
        """Allocates every destination on ``device`` (``None``: the CPU); returns the tensors
        and their addresses, in row order."""
        import torch

        tensors: list[Any] = [None] * self.n
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
            size = b.itemsize
            for rows, shape, strides, off, step in b.runs:
                start = shift + off
                if len(rows) == 1:
                    tensors[rows[0]] = mem.as_strided(shape, strides, start)
                    addrs[rows[0]] = base + start * size
                    continue
                views = mem.as_strided([len(rows), *shape], [step, *strides], start).unbind(0)
                for k, (row, view) in enumerate(zip(rows, views)):
                    tensors[row] = view
                    addrs[row] = base + (start + k * step) * size
        return tensors, addrs


def pack_jobs(indices: array[int], addrs: Sequence[int], nbytes: array[int]) -> bytes:
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
