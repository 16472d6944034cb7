"""Lazy, random-access reading of ``.wcodec`` checkpoints into torch tensors.

Tensors are decoded straight into memory that torch allocated (in blocks, :mod:`wcodec._bulk`),
with the GIL released: on the CPU by as many threads as the machine has, on a CUDA device by the
GPU decoder (``wcodec-cuda``), or, where that cannot run and ``fallback="cpu"``, on the CPU and
copied. Each file's share of a batch reaches the native reader as one packed buffer of
``(index, address, nbytes)`` triples.
"""

from __future__ import annotations

import bisect
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from . import _bulk, _device, _dtypes
from ._files import PathLike, checkpoint_files, open_reader
from ._lru import LRU
from .errors import CorruptFileError, CudaUnavailableError, TensorNotFoundError, WcodecError

if TYPE_CHECKING:
    import torch

    from . import _wcodec


class TensorInfo(NamedTuple):
    """Where a tensor lives and what it is (dtype as safetensors spells it)."""

    reader: _wcodec.Reader
    index: int  # type: ignore[assignment]  # shadows tuple.index, as the field of a NamedTuple may
    name: str
    dtype: str
    shape: list[int]
    nbytes: int


class Checkpoint:
    """The tensors of one ``.wcodec`` file or of every shard of an encoded model directory.

    Build it with :meth:`open`, which reuses the table of a checkpoint opened recently. The table
    is columnar (``names``, ``dtypes``, ``shapes``, ``nbytes``; the rows of file ``k`` are
    ``starts[k]`` to ``starts[k + 1]``), so a whole-checkpoint load creates no Python object per
    tensor beyond the tensor itself; :attr:`entries` builds per-tensor records on first use."""

    def __init__(self, path: PathLike, files: list[Path], readers: list[_wcodec.Reader]) -> None:
        self.path = Path(path)
        self.files = files
        self.readers = readers
        self.names: list[str] = []
        self.dtypes: list[str] = []
        self.shapes: list[list[int]] = []
        self.nbytes: list[int] = []
        self.starts: list[int] = [0]
        self.rows: dict[str, int] = {}
        for reader in self.readers:
            names, dtypes, shapes, nbytes = reader.table()
            first = len(self.names)
            self.rows.update(zip(names, range(first, first + len(names))))
            self.names += names
            self.dtypes += dtypes
            self.shapes += shapes
            self.nbytes += nbytes
            self.starts.append(len(self.names))
            if len(self.rows) != len(self.names):
                self._raise_duplicate()
        self._entries: Optional[dict[str, TensorInfo]] = None
        self._plan: Optional[_bulk.Plan] = None
        self._plan_block = -1

    def _raise_duplicate(self) -> None:
        seen: dict[str, int] = {}
        for row, name in enumerate(self.names):
            if name in seen:
                a, b = self._file_of(seen[name]), self._file_of(row)
                raise CorruptFileError(
                    f"tensor `{name}` appears in both `{self.readers[a].path}` and `{self.readers[b].path}`"
                )
            seen[name] = row

    def _file_of(self, row: int) -> int:
        return bisect.bisect_right(self.starts, row) - 1

    def row_info(self, row: int) -> TensorInfo:
        k = self._file_of(row)
        return TensorInfo(
            self.readers[k], row - self.starts[k], self.names[row], self.dtypes[row],
            list(self.shapes[row]), self.nbytes[row],
        )

    @property
    def entries(self) -> dict[str, TensorInfo]:
        """Every tensor's record by name (built on first use; loads do not need it)."""
        if self._entries is None:
            self._entries = {name: self.row_info(row) for row, name in enumerate(self.names)}
        return self._entries

    @classmethod
    def open(cls, path: PathLike) -> Checkpoint:
        """The checkpoint at ``path``. The name table costs one pass over every tensor of every
        shard, and callers such as ``decode_layer`` in a thread pool ask for one tensor at a time,
        so tables are kept per set of open readers (the reader cache reopens changed files, which
        gives a new key)."""
        files = checkpoint_files(path)
        readers = [open_reader(f) for f in files]
        # Cached entries hold their readers, so these ids cannot be reused while cached.
        key = tuple(id(r) for r in readers)
        return _checkpoints.get_or_make(key, lambda: cls(path, files, readers))

    def info(self, name: str) -> TensorInfo:
        row = self.rows.get(name)
        if row is None:
            raise TensorNotFoundError(f"no tensor named `{name}` in `{self.path}`")
        return self.row_info(row)

    def metadata(self) -> Optional[dict[str, str]]:
        """The ``__metadata__`` of the (first) source file's header, as safetensors returns it."""
        header = json.loads(self.readers[0].source_header)
        meta = header.get("__metadata__")
        return dict(meta) if meta is not None else None

    def full_batch(self) -> _Batch:
        """Every tensor, in row order, as one batch (its allocation plan computed once)."""
        block = _bulk.block_bytes()
        if self._plan is None or self._plan_block != block:
            self._plan = _bulk.Plan(self.names, self.dtypes, self.shapes, self.nbytes, block)
            self._plan_block = block
        files = [
            (reader, range(self.starts[k], self.starts[k + 1]), array("Q", range(self.starts[k + 1] - self.starts[k])))
            for k, reader in enumerate(self.readers)
        ]
        return _Batch(self._plan, files)


_checkpoints: LRU[tuple[int, ...], Checkpoint] = LRU(16)


class _Batch:
    """Tensors to decode together: their allocation plan, and per file the reader, the
    positions of its tensors in the batch and their indices in the file."""

    __slots__ = ("files", "plan")

    def __init__(self, plan: _bulk.Plan, files: Sequence[tuple[_wcodec.Reader, Sequence[int], array[int]]]) -> None:
        self.plan = plan
        self.files = files

    @classmethod
    def of(cls, entries: list[TensorInfo], block: Optional[int] = None) -> _Batch:
        """The batch of ``entries``; ``block`` overrides the block size (0: a tensor per
        allocation)."""
        plan = _bulk.Plan(
            [e.name for e in entries], [e.dtype for e in entries], [e.shape for e in entries],
            [e.nbytes for e in entries], block,
        )
        groups: dict[int, tuple[_wcodec.Reader, list[int]]] = {}
        for i, e in enumerate(entries):
            groups.setdefault(id(e.reader), (e.reader, []))[1].append(i)
        files = [(r, pos, array("Q", [entries[i].index for i in pos])) for r, pos in groups.values()]
        return cls(plan, files)

    def jobs(self, addrs: list[int], positions: Sequence[int], indices: array[int]) -> bytes:
        if isinstance(positions, range):
            a, n = addrs[positions.start : positions.stop], self.plan.nbytes[positions.start : positions.stop]
        else:
            a = [addrs[i] for i in positions]
            n = array("Q", [self.plan.nbytes[i] for i in positions])
        return _bulk.pack_jobs(indices, a, n)


def decode(
    entries: Iterable[TensorInfo],
    device: _device.DeviceLike = "cpu",
    fallback: Optional[str] = "cpu",
    stream: Any = None,
    *,
    block: Optional[int] = None,
) -> list[torch.Tensor]:
    """Decodes tensors and returns them on ``device``: on a CUDA device by the GPU decoder when it
    can run there (straight into memory torch allocated on that device), otherwise on the CPU
    (one parallel pass per file) and copied. ``block``: see :meth:`_Batch.of`."""
    return decode_batch(_Batch.of(list(entries), block), device, fallback, stream)


def decode_batch(
    batch: _Batch,
    device: _device.DeviceLike = "cpu",
    fallback: Optional[str] = "cpu",
    stream: Any = None,
) -> list[torch.Tensor]:
    """:func:`decode` of a prepared batch (e.g. :meth:`Checkpoint.full_batch`)."""
    dev = _device.resolve(device, fallback)
    if _device.use_gpu_decoder(dev):
        try:
            return _decode_cuda(batch, dev, stream)
        except CudaUnavailableError:
            if fallback != "cpu":
                raise
    result = _decode_cpu(batch)
    if dev.type != "cpu":
        result = _to_device(result, dev, stream)
    return result


def _run_files(
    batch: _Batch,
    device: Optional[torch.device],
    run: Callable[[_wcodec.Reader, bytes], None],
    parallel: bool = False,
) -> list[torch.Tensor]:
    """Allocates every destination on ``device`` (in bulk, :mod:`wcodec._bulk`) and has
    ``run(reader, jobs)`` decode each file's share in one call; ``tensors`` keeps every
    destination alive meanwhile (the native contract). With ``parallel``, the files of a sharded
    checkpoint are read and decoded :data:`_PARALLEL_SHARDS` at a time (each call releases the
    GIL and reads its own windows); the GPU path keeps one file at a time, its device staging
    bounded to one call's slots."""
    tensors, addrs = batch.plan.allocate(device)
    work = [(reader, batch.jobs(addrs, pos, idx)) for reader, pos, idx in batch.files if len(pos)]
    if parallel and len(work) > 1 and _PARALLEL_SHARDS > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(_PARALLEL_SHARDS, len(work))) as pool:
            for f in [pool.submit(run, reader, jobs) for reader, jobs in work]:
                f.result()
    else:
        for reader, jobs in work:
            run(reader, jobs)
    return tensors


# Shards decoded at once on the CPU: two keeps a disk array busy across shard boundaries while the
# staging memory (two 64 MiB windows per call) stays within the loading budget.
_PARALLEL_SHARDS = 2


def _decode_cpu(batch: _Batch) -> list[torch.Tensor]:
    return _run_files(batch, None, lambda reader, jobs: reader.decode_into(jobs), parallel=True)


def _decode_cuda(batch: _Batch, dev: torch.device, stream: Any) -> list[torch.Tensor]:
    import torch

    # Allocated by torch's caching allocator on the device's current stream; the decoder orders
    # its work after `stream` and returns once the data is decoded and verified.
    with torch.cuda.device(dev):
        handle = (stream if stream is not None else torch.cuda.current_stream(dev)).cuda_stream
        return _run_files(batch, dev, lambda reader, jobs: reader.decode_into_cuda(jobs, dev.index, handle))


def _to_device(tensors: list[torch.Tensor], dev: torch.device, stream: Any) -> list[torch.Tensor]:
    import torch

    if dev.type == "cuda" and stream is not None:
        with torch.cuda.stream(stream):
            return [t.to(dev, non_blocking=False) for t in tensors]
    return [t.to(dev) for t in tensors]


class WcodecSlice:
    """A tensor not decoded yet, as ``safe_open(...).get_slice`` returns (``get_shape()``,
    ``get_dtype()``, indexing with torch's rules).

    Indexing that keeps part of the leading dimension (``s[a:b]``, ``s[i]``, ``s[[i, j]]``,
    each with any further indices, as tensor-parallel loaders slice a weight) decodes only the
    chunks that cover those rows, on the CPU, then applies the rest of the index and moves the
    result to the file's device. Anything else (the whole leading dimension, ``...`` or ``None``
    first, tensor indices, negative steps, 0-d tensors) decodes the whole tensor, on the device,
    and slices it. A partial decode checks every chunk it decodes but not the tensor's checksum,
    which covers the whole tensor (docs/python.md, "Slices").
    """

    def __init__(self, file: WcodecFile, info: TensorInfo) -> None:
        self._file = file
        self._info = info
        #: Chunks decoded by this handle's partial decodes (a statistic: tests and benchmarks
        #: check that a slice reads only its share).
        self.chunks_decoded = 0

    def get_shape(self) -> list[int]:
        return list(self._info.shape)

    def get_dtype(self) -> str:
        return self._info.dtype

    @property
    def device(self) -> torch.device:
        return _device.resolve(self._file.device, self._file.fallback)

    def __getitem__(self, index: Any) -> torch.Tensor:
        self._file._checkpoint  # noqa: B018 (raises once the file is closed)
        rows = _torch_rows(self._info)
        plan = _leading_rows(index, rows) if rows else None
        if plan is None or plan[1] - plan[0] == rows:
            full = self._file.get_tensor(self._info.name)
            part = full[index]
            return part.clone() if part.numel() < full.numel() else part
        lo, hi, rest = plan
        sub = self._decode_rows(lo, hi)
        part = sub[rest]
        if part.numel() < sub.numel():
            part = part.clone()
        dev = self.device
        return part if dev.type == "cpu" else _to_device([part], dev, None)[0]

    def _decode_rows(self, lo: int, hi: int) -> torch.Tensor:
        """Rows ``[lo, hi)`` of the leading dimension (of the torch shape), decoded on the CPU
        from the chunks that cover them."""
        import torch

        e = self._info
        shape = _dtypes.torch_shape(e.dtype, e.shape)
        row = e.nbytes // shape[0]
        out = torch.empty([hi - lo, *shape[1:]], dtype=_dtypes.torch_dtype(e.dtype))
        nbytes = (hi - lo) * row
        if out.numel() * out.element_size() != nbytes:
            raise CorruptFileError(
                f"tensor `{e.name}`: {e.nbytes} bytes do not fill a {e.dtype} tensor of shape {e.shape}"
            )
        self.chunks_decoded += e.reader.decode_range_into(e.index, lo * row, out.data_ptr(), nbytes)
        return out

    def __len__(self) -> int:
        if not self._info.shape:
            raise TypeError("len() of a 0-d tensor")
        return self._info.shape[0]

    def __repr__(self) -> str:
        return f"WcodecSlice({self._info.name!r}, {self._info.dtype}, {self._info.shape})"


def _torch_rows(e: TensorInfo) -> int:
    """Rows of the tensor's leading dimension as torch sees it, when rows are whole runs of its
    bytes; 0 when a partial decode does not apply (0-d or empty tensors, odd sizes)."""
    try:
        shape = _dtypes.torch_shape(e.dtype, e.shape)
    except WcodecError:
        return 0
    if not shape or shape[0] <= 0 or e.nbytes % shape[0]:
        return 0
    return shape[0]


def _leading_rows(index: Any, rows: int) -> Optional[tuple[int, int, Any]]:
    """For an index into a tensor of ``rows`` leading rows: ``(lo, hi, rest)`` such that
    ``tensor[index] == tensor[lo:hi][rest]``; ``None`` when the index is not one this can
    rewrite (then the whole tensor is decoded and torch interprets the index as given)."""
    parts = index if isinstance(index, tuple) else (index,)
    if not parts:
        return None
    first, others = parts[0], parts[1:]
    if isinstance(first, bool):
        return None
    if isinstance(first, int):
        i = first + rows if first < 0 else first
        if not 0 <= i < rows:
            return None
        return i, i + 1, (0, *others)
    if isinstance(first, slice):
        try:
            start, stop, step = first.indices(rows)
        except (TypeError, ValueError):
            return None
        if step <= 0:
            return None
        r = range(start, stop, step)
        if not r:
            return 0, 0, (slice(0, 0), *others)
        lo, hi = r[0], r[-1] + 1
        return lo, hi, (slice(0, hi - lo, step), *others)
    if isinstance(first, list) and first and all(type(i) is int for i in first):
        norm = [i + rows if i < 0 else i for i in first]
        if not all(0 <= i < rows for i in norm):
            return None
        lo, hi = min(norm), max(norm) + 1
        return lo, hi, ([i - lo for i in norm], *others)
    return None


_BACKENDS = ("mmap", "pread")


def check_backend(backend: str) -> None:
    """Accepts the ``backend`` argument of safetensors 0.8 (``"mmap"`` or ``"pread"``), which
    changes nothing here: a ``.wcodec`` file is always memory-mapped and a tensor's decode reads
    only its stored bytes."""
    if backend not in _BACKENDS:
        raise ValueError(f"backend {backend!r} is invalid (expected one of: 'mmap', 'pread')")


class WcodecFile:
    """A lazy reader of a ``.wcodec`` file or encoded model directory, like
    ``safetensors.safe_open``: nothing is decoded until asked for, and asking for one tensor
    reads only that tensor's bytes.

    Use as a context manager (``with wcodec.open(path) as f: ...``) or call :meth:`close`.
    """

    def __init__(
        self,
        path: PathLike,
        framework: str = "pt",
        device: _device.DeviceLike = "cpu",
        fallback: Optional[str] = "cpu",
        *,
        backend: str = "mmap",
    ) -> None:
        check_backend(backend)
        if framework not in ("pt", "torch", "pytorch"):
            raise ValueError(f"framework must be 'pt' (torch), not {framework!r}")
        # Resolved once, so that a CPU fallback warns when the file is opened, not per tensor.
        self.device: _device.DeviceLike = _device.resolve(device, fallback)
        self.fallback = fallback
        self._ckpt: Optional[Checkpoint] = Checkpoint.open(path)

    @property
    def _checkpoint(self) -> Checkpoint:
        if self._ckpt is None:
            raise WcodecError("the file is closed")
        return self._ckpt

    def keys(self) -> list[str]:
        """Tensor names, sorted (as ``safe_open`` lists them)."""
        return sorted(self._checkpoint.names)

    def offset_keys(self) -> list[str]:
        """Tensor names in the order of their bytes in the source file (shard after shard for
        a model directory), as ``safe_open(...).offset_keys()`` lists them."""
        names: list[str] = []
        for reader in self._checkpoint.readers:
            header = json.loads(reader.source_header)
            header.pop("__metadata__", None)
            names.extend(sorted(header, key=lambda n: (header[n]["data_offsets"][0], n)))
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._checkpoint.rows

    def __len__(self) -> int:
        return len(self._checkpoint.names)

    def metadata(self) -> Optional[dict[str, str]]:
        """The source header's ``__metadata__`` (``None`` if it had none)."""
        return self._checkpoint.metadata()

    def get_tensor(self, name: str) -> torch.Tensor:
        """Decodes one tensor (only its bytes are read)."""
        return decode([self._checkpoint.info(name)], self.device, self.fallback)[0]

    def get_tensors(self, names: Optional[Iterable[str]] = None) -> dict[str, torch.Tensor]:
        """Decodes several tensors (default: all) in one parallel pass."""
        ckpt = self._checkpoint
        if names is None:
            return dict(zip(ckpt.names, decode_batch(ckpt.full_batch(), self.device, self.fallback)))
        infos = [ckpt.info(n) for n in names]
        return {e.name: t for e, t in zip(infos, decode(infos, self.device, self.fallback))}

    def get_slice(self, name: str) -> WcodecSlice:
        """A lazy handle on one tensor: shape and dtype without decoding."""
        return WcodecSlice(self, self._checkpoint.info(name))

    def get_bytes(self, name: str) -> bytes:
        """The tensor's raw bytes, for dtypes torch lacks (``F6_E2M3``, ``F6_E3M2``)."""
        info = self._checkpoint.info(name)
        return info.reader.decode_bytes(info.index)

    @property
    def header_xxh3(self) -> list[int]:
        """The header checksum of each file: a cheap identity of its content."""
        return [r.header_xxh3 for r in self._checkpoint.readers]

    @property
    def files(self) -> list[Path]:
        """The ``.wcodec`` files behind this reader."""
        return list(self._checkpoint.files)

    def close(self) -> None:
        self._ckpt = None

    def __enter__(self) -> WcodecFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ckpt is None else f"{len(self._ckpt.names)} tensors"
        return f"WcodecFile({str(getattr(self._ckpt, 'path', '')) or '?'!r}, {state})"
