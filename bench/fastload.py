"""The tuned uncompressed baseline: safetensors files straight to GPU (or CPU) tensors.

What a careful engineer would write to load plain safetensors as fast as the machine allows,
so that ``bench/load.py`` compares wcodec with the best *uncompressed* load, not with a slow one:

* every file's header is read first (8 + N bytes) and its data section is allocated in one
  piece on the device; the returned tensors are views into that allocation (as fastsafetensors
  and InstantTensor do), so no per-tensor allocation costs anything;
* ``threads`` workers read the data sections with ``os.preadv`` (the GIL is released while the
  kernel copies) in ``chunk``-byte pieces, each into one of its own ``slots`` pinned buffers,
  views of one ring allocated by the first load of the process and reused by later ones
  (``torch.empty(..., pin_memory=True)``);
* each piece is copied to the device with ``copy_(non_blocking=True)`` on one of two CUDA
  streams, and a slot is reused only once the event recorded after its copy has completed, so
  reads, copies and other workers' reads overlap;
* the headers' JSON is parsed and the views are built while the data is in flight.

On the CPU the workers read straight into the output buffer (no staging, no copies).
``read_only`` runs the same readers without any copy: the disk's (or page cache's) parallel
read speed, the ceiling this loader is judged against.

    tensors = fastload.load(["model-00001-of-00002.safetensors", ...], device="cuda")
"""

from __future__ import annotations

import json
import os
import queue
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import torch

MIB = 1 << 20
# safetensors dtype tag -> torch dtype.
DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "U8": torch.uint8,
    "I8": torch.int8,
    "I16": torch.int16,
    "U16": torch.uint16,
    "I32": torch.int32,
    "U32": torch.uint32,
    "I64": torch.int64,
    "U64": torch.uint64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
MAX_HEADER = 100 << 20  # the safetensors library's own limit


@dataclass(frozen=True)
class Config:
    """Reader settings. ``threads`` × ``slots`` × ``chunk`` bytes of pinned memory."""

    threads: int = 8
    chunk: int = 8 * MIB
    slots: int = 2

    @staticmethod
    def parse(text: str) -> Config:
        """``threads=8,chunk_mib=8,slots=2`` (any subset)."""
        kw: dict[str, int] = {}
        for part in filter(None, text.split(",")):
            key, _, value = part.partition("=")
            key = key.strip()
            if key == "chunk_mib":
                kw["chunk"] = int(float(value) * MIB)
            elif key in ("threads", "slots"):
                kw[key] = int(value)
            else:
                raise ValueError(f"unknown fastload setting {key!r} (threads, chunk_mib, slots)")
        cfg = Config(**kw)
        if cfg.threads < 1 or cfg.slots < 1 or cfg.chunk < 4096:
            raise ValueError(f"bad fastload settings {cfg}")
        return cfg

    def text(self) -> str:
        return f"threads={self.threads},chunk_mib={self.chunk / MIB:g},slots={self.slots}"


@dataclass
class Header:
    path: str
    data_start: int  # file offset of the data section
    data_len: int
    raw: bytes  # the JSON, parsed later (while the data is in flight)
    entries: dict = field(default_factory=dict)


def read_header(fd: int, path: str) -> Header:
    size = os.fstat(fd).st_size
    head = os.pread(fd, 8, 0)
    if len(head) != 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER or 8 + n > size:
        raise ValueError(f"{path}: header length {n} does not fit the file ({size} bytes)")
    raw = os.pread(fd, n, 8)
    if len(raw) != n:
        raise ValueError(f"{path}: truncated header")
    return Header(path, 8 + n, size - 8 - n, raw)


def parse_entries(h: Header) -> dict:
    try:
        meta = json.loads(h.raw)
    except ValueError as e:
        raise ValueError(f"{h.path}: header is not JSON: {e}") from None
    meta.pop("__metadata__", None)
    for name, e in meta.items():
        begin, end = e["data_offsets"]
        dtype = DTYPES.get(e["dtype"])
        if dtype is None:
            raise ValueError(f"{h.path}: tensor {name!r} has unsupported dtype {e['dtype']!r}")
        numel = 1
        for d in e["shape"]:
            numel *= d
        if not 0 <= begin <= end <= h.data_len or end - begin != numel * dtype.itemsize:
            raise ValueError(f"{h.path}: tensor {name!r} offsets {begin}..{end} do not match its shape")
    return meta


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return tuple(strides)


def _views(buf: torch.Tensor, meta: dict, late: list) -> dict[str, torch.Tensor]:
    """Typed views of ``buf`` (the file's data section) for every tensor; tensors whose offset is
    not a multiple of their element size are noted in ``late`` and copied once the data is in."""
    typed: dict[torch.dtype, torch.Tensor] = {}
    strides: dict[tuple[int, ...], tuple[int, ...]] = {}
    out: dict[str, torch.Tensor] = {}
    for name, e in meta.items():
        dtype = DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        size = dtype.itemsize
        shape = tuple(e["shape"])
        if begin % size:
            late.append((name, buf, begin, end, dtype, shape))
            continue
        t = typed.get(dtype)
        if t is None:
            t = typed[dtype] = buf.view(dtype)
        st = strides.get(shape)
        if st is None:
            st = strides[shape] = _contiguous_strides(shape)
        out[name] = t.as_strided(shape, st, begin // size)
    return out


@dataclass
class Stats:
    pinned_bytes: int = 0
    pin_alloc_s: float = 0.0
    bytes_read: int = 0


class _Work:
    """The file ranges still to read, handed out in order to the workers."""

    def __init__(self, jobs: list[tuple[int, int, int, torch.Tensor, int]]):
        self._jobs = jobs
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> Optional[tuple[int, int, int, torch.Tensor, int]]:
        with self._lock:
            if self._next == len(self._jobs):
                return None
            job = self._jobs[self._next]
            self._next += 1
            return job


def _plan(fds: list[int], headers: list[Header], bufs: list[Optional[torch.Tensor]], chunk: int):
    """(fd, file offset, length, destination buffer, destination offset) for every piece; piece
    boundaries fall on multiples of ``chunk`` in the file, so reads stay page-aligned."""
    jobs = []
    for fd, h, buf in zip(fds, headers, bufs):
        pos, end = h.data_start, h.data_start + h.data_len
        while pos < end:
            stop = min(end, (pos // chunk + 1) * chunk)
            jobs.append((fd, pos, stop - pos, buf, pos - h.data_start))
            pos = stop
    return jobs


def _pread_full(fd: int, mv: memoryview, offset: int) -> None:
    done = 0
    while done < len(mv):
        n = os.preadv(fd, [mv[done:]], offset + done)
        if n <= 0:
            raise OSError(f"unexpected end of file at offset {offset + done}")
        done += n


def _raise_first(errors: queue.SimpleQueue[BaseException]) -> None:
    if not errors.empty():
        raise errors.get()


def load(
    paths: Sequence[str | os.PathLike],
    device: str | torch.device = "cuda",
    config: Config = Config(),
    read_only: bool = False,
    stats: Optional[Stats] = None,
) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors files ``paths`` on ``device`` (views into one buffer per
    file). With ``read_only`` nothing is kept: the files are read into the pinned ring (CUDA) or
    a reused host buffer (CPU) and the result is empty."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    stats = stats if stats is not None else Stats()
    fds = [os.open(os.fspath(p), os.O_RDONLY) for p in paths]
    try:
        headers = [read_header(fd, os.fspath(p)) for fd, p in zip(fds, paths)]
        # Rounded up to 8 bytes so that a typed view of the whole buffer exists for every dtype.
        bufs: list[Optional[torch.Tensor]] = (
            [None] * len(headers)
            if read_only
            else [torch.empty((h.data_len + 7) // 8 * 8, dtype=torch.uint8, device=dev) for h in headers]
        )
        work = _Work(_plan(fds, headers, bufs, config.chunk))
        errors: queue.SimpleQueue[BaseException] = queue.SimpleQueue()
        if cuda:
            ring, ring_np, streams = _ring(config, dev, stats)
            stats.pinned_bytes = max(stats.pinned_bytes, ring.numel())
            workers = [
                threading.Thread(
                    target=_cuda_worker,
                    args=(i, work, ring, ring_np, config, streams[i % 2], read_only, errors),
                    daemon=True,
                )
                for i in range(config.threads)
            ]
        else:
            scratch = None
            if read_only:
                scratch = torch.empty(config.threads * config.chunk, dtype=torch.uint8).numpy()
            workers = [
                threading.Thread(target=_cpu_worker, args=(i, work, scratch, config, errors), daemon=True)
                for i in range(config.threads)
            ]
        # Workers hand back the GIL after each read; while this thread builds views, a short
        # switch interval keeps them from waiting the default 5 ms for it.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, 0.0002))
        for w in workers:
            w.start()
        out: dict[str, torch.Tensor] = {}
        late: list = []
        try:
            if not read_only:
                # Parse and build views while the workers read.
                for h, buf in zip(headers, bufs):
                    h.entries = parse_entries(h)
                    views = _views(buf, h.entries, late)
                    dup = out.keys() & views.keys()
                    if dup:
                        raise ValueError(f"{h.path}: tensor {sorted(dup)[0]!r} is also in another file")
                    out.update(views)
        finally:
            for w in workers:
                w.join()
            sys.setswitchinterval(switch)
        _raise_first(errors)
        for name, buf, begin, end, dtype, shape in late:
            out[name] = buf[begin:end].clone().view(dtype).reshape(shape)
        stats.bytes_read += sum(h.data_len for h in headers)
        return out
    finally:
        for fd in fds:
            os.close(fd)


# The pinned ring and the two copy streams, kept between loads of the process (keyed by size and
# device): pinning costs about half a millisecond per MiB, which a loader pays once, as wcodec's
# staging pool does. `release_ring()` frees it.
_RINGS: dict[tuple[int, torch.device], tuple[torch.Tensor, object, list]] = {}


def _ring(config: Config, dev: torch.device, stats: Stats) -> tuple[torch.Tensor, object, list]:
    size = config.threads * config.slots * config.chunk
    key = (size, dev)
    if key not in _RINGS:
        _RINGS.clear()  # one ring at a time: a new configuration replaces the old one
        t = time.perf_counter()
        ring = torch.empty(size, dtype=torch.uint8, pin_memory=True)
        stats.pin_alloc_s += time.perf_counter() - t
        _RINGS[key] = (ring, ring.numpy(), [torch.cuda.Stream(dev), torch.cuda.Stream(dev)])
    return _RINGS[key]


def release_ring() -> None:
    """Frees the pinned ring kept between loads."""
    _RINGS.clear()


def _cuda_worker(
    i: int,
    work: _Work,
    ring: torch.Tensor,
    ring_np,
    config: Config,
    stream: torch.cuda.Stream,
    read_only: bool,
    errors: queue.SimpleQueue[BaseException],
) -> None:
    try:
        base = i * config.slots
        pending: list[Optional[torch.cuda.Event]] = [None] * config.slots
        k = 0
        with torch.cuda.stream(stream):
            while (job := work.take()) is not None:
                fd, offset, length, buf, dst = job
                s = k % config.slots
                k += 1
                if pending[s] is not None:
                    pending[s].synchronize()  # the slot's previous copy has left it
                lo = (base + s) * config.chunk
                _pread_full(fd, memoryview(ring_np[lo : lo + length]), offset)
                if read_only:
                    continue
                buf[dst : dst + length].copy_(ring[lo : lo + length], non_blocking=True)
                ev = torch.cuda.Event()
                ev.record(stream)
                pending[s] = ev
        for ev in pending:
            if ev is not None:
                ev.synchronize()
    except BaseException as e:  # reported by load()
        errors.put(e)


def _cpu_worker(i: int, work: _Work, scratch, config: Config, errors: queue.SimpleQueue[BaseException]) -> None:
    try:
        while (job := work.take()) is not None:
            fd, offset, length, buf, dst = job
            if buf is None:
                mv = memoryview(scratch[i * config.chunk : i * config.chunk + length])
            else:
                mv = memoryview(buf.numpy()[dst : dst + length])
            _pread_full(fd, mv, offset)
    except BaseException as e:
        errors.put(e)


def read_speed(paths: Sequence[str | os.PathLike], device: str, config: Config) -> tuple[float, int]:
    """Seconds and bytes for reading the data sections of ``paths`` with the loader's readers and
    no copy: the parallel read speed this loader can at best reach."""
    stats = Stats()
    t = time.perf_counter()
    load(paths, device, config, read_only=True, stats=stats)
    return time.perf_counter() - t, stats.bytes_read
