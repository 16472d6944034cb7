"""The loaders ``bench/load.py`` compares, each as its documentation recommends using it.

A loader is a class with ``files`` ("st": the safetensors shards, "wc": the wcodec directory),
``prepare(device, cold, warmup)`` (imports, checks; may raise ``Unavailable``), and
``load(dataset) -> dict[str, Tensor]``, the timed call; ``info`` records the settings used.
Every loader returns tensors on ``device`` (views into a shared buffer are fine: what counts is
that every tensor's bytes are on the device when ``load`` returns and the stream is synced).
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

import fastload
import torch


class Unavailable(Exception):
    """The loader cannot run here; the message says why."""


class Loader:
    name = ""
    files = "st"
    gpu_only = False

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.keep: list[Any] = []  # objects that must outlive the timed call (closed afterwards)

    def prepare(self, device: torch.device, cold: bool, warmup) -> None:
        self.device = device

    def load(self, ds) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def close(self) -> None:
        self.keep.clear()


class Safetensors(Loader):
    """``safetensors.torch.load_file(shard, device=...)`` for every shard, as transformers does."""

    name = "safetensors"

    def prepare(self, device, cold, warmup):
        super().prepare(device, cold, warmup)
        import safetensors
        import safetensors.torch

        self._load_file = safetensors.torch.load_file
        self.info = {"version": safetensors.__version__}

    def load(self, ds):
        out: dict[str, torch.Tensor] = {}
        dev = str(self.device)
        for f in ds.st_files():
            out.update(self._load_file(str(f), device=dev))
        return out


class Tuned(Loader):
    """``bench/fastload.py``: parallel preadv into a pinned ring, copies on two streams."""

    name = "tuned"

    def __init__(self, config: fastload.Config) -> None:
        super().__init__()
        self.config = config
        self.stats = fastload.Stats()

    def prepare(self, device, cold, warmup):
        super().prepare(device, cold, warmup)
        self.info = {"config": self.config.text()}

    def load(self, ds):
        out = fastload.load(ds.st_files(), self.device, self.config, stats=self.stats)
        self.info.update(
            pinned_mib=self.stats.pinned_bytes / (1 << 20), pin_alloc_ms=round(self.stats.pin_alloc_s * 1e3, 2)
        )
        return out


class FastSafetensors(Loader):
    """fastsafetensors' ``SafeTensorsFileLoader``: all shards in one ``copy_files_to_device``;
    GPUDirect Storage where nvidia-fs is loaded and cuFile reports it supported, else ``nogds=True`` (its documented
    fallback: pread through bounce buffers); ``max_threads`` = cores (≤ 16, its default),
    ``bbuf_size_kb`` 16 MiB (its default)."""

    name = "fastsafetensors"

    def prepare(self, device, cold, warmup):
        super().prepare(device, cold, warmup)
        try:
            import fastsafetensors
            from fastsafetensors import SafeTensorsFileLoader, SingleGroup
            from fastsafetensors import cpp as fstcpp
        except ImportError as e:
            raise Unavailable(f"not installed ({e})") from None
        self._cls, self._group = SafeTensorsFileLoader, SingleGroup
        # GPUDirect Storage needs the nvidia-fs kernel module (it shows under /proc/driver) and cuFile.
        gds = False
        if device.type == "cuda" and os.path.exists("/proc/driver/nvidia-fs"):
            try:
                gds = bool(fstcpp.is_cufile_found()) and fstcpp.is_gds_supported(device.index or 0) == 1
            except Exception:  # a probe failing just means no GDS
                gds = False
        self.nogds = not gds
        self.threads = min(16, os.cpu_count() or 1)
        self.info = {"version": fastsafetensors.__version__, "nogds": self.nogds, "max_threads": self.threads,
                     "bbuf_size_kb": 16384}
        try:
            self.load(warmup)
            self.close()
        except Exception as e:
            if self.nogds:
                raise
            # cuFile said yes but reading failed: use the documented fallback.
            self.nogds = True
            self.info.update(nogds=True, gds_error=str(e)[:200])

    def load(self, ds):
        dev = "cpu" if self.device.type == "cpu" else f"cuda:{self.device.index or 0}"
        loader = self._cls(self._group(), dev, nogds=self.nogds, max_threads=self.threads, bbuf_size_kb=16384)
        loader.add_filenames({0: [str(f) for f in ds.st_files()]})
        fb = loader.copy_files_to_device()
        out = {k: fb.get_tensor(k) for k in fb.key_to_rank_lidx}
        self.keep += [fb, loader]
        return out

    def close(self):
        for obj in self.keep:
            try:
                obj.close()
            except Exception:
                pass
        self.keep.clear()


class InstantTensor(Loader):
    """InstantTensor's ``safe_open`` over all shards at once (its recommendation), owning tensors
    (``copy=True``); the backend its README recommends per case: default (Direct I/O, io_uring
    or AIO) for a cold load, ``BackendPolicy.BUFFERED`` when the files are in the page cache."""

    name = "instanttensor"
    gpu_only = True

    def prepare(self, device, cold, warmup):
        super().prepare(device, cold, warmup)
        if device.type != "cuda":
            raise Unavailable("loads to CUDA/ROCm devices only")
        try:
            from instanttensor import BackendPolicy, safe_open
        except ImportError as e:
            raise Unavailable(f"not installed ({e})") from None
        self._open = safe_open
        self.kw = {} if cold else {"backend": BackendPolicy.BUFFERED}
        self.info = {
            "version": importlib.metadata.version("instanttensor"),
            "backend": "default (direct)" if cold else "BUFFERED",
        }

    def load(self, ds):
        with self._open([str(f) for f in ds.st_files()], framework="pt", device=self.device.index or 0, **self.kw) as f:
            return dict(f.tensors())


class Wcodec(Loader):
    """``wcodec.decode_checkpoint(directory, device=...)`` of the encoded directory."""

    name = "wcodec"
    files = "wc"

    def prepare(self, device, cold, warmup):
        super().prepare(device, cold, warmup)
        import wcodec

        if device.type == "cuda" and not wcodec.is_cuda_available():
            raise Unavailable("wcodec.is_cuda_available() is False (no GPU decoder here)")
        self._wcodec = wcodec
        self.info = {"version": wcodec.__version__, "decode_params": _safe(wcodec.get_decode_params)}

    def load(self, ds):
        return self._wcodec.decode_checkpoint(ds.wc, device=str(self.device), fallback=None)


class WcodecInto(Wcodec):
    """``wcodec.load_into(target, directory)`` into preallocated tensors (allocated before the
    clock, as a model's parameters would be)."""

    name = "wcodec-into"

    def prepare(self, device, cold, warmup):
        super().prepare(device, cold, warmup)
        if not hasattr(self._wcodec, "load_into"):
            raise Unavailable("this wcodec has no load_into")
        self.target: dict[str, torch.Tensor] = {}

    def preallocate(self, ds) -> None:
        self.target = empty_like_checkpoint(ds.st_files(), self.device)

    def load(self, ds):
        if not self.target:
            self.preallocate(ds)
        self._wcodec.load_into(self.target, ds.wc)
        return self.target


def empty_like_checkpoint(files: list[Path], device: torch.device) -> dict[str, torch.Tensor]:
    out = {}
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            h = fastload.read_header(fd, str(f))
        finally:
            os.close(fd)
        for name, e in fastload.parse_entries(h).items():
            out[name] = torch.empty(e["shape"], dtype=fastload.DTYPES[e["dtype"]], device=device)
    return out


def _safe(fn):
    try:
        return fn()
    except Exception as e:
        return f"unavailable: {e}"


NAMES = ["safetensors", "tuned", "fastsafetensors", "instanttensor", "wcodec", "wcodec-into"]


def make(name: str, tuned_config: fastload.Config) -> Loader:
    return {
        "safetensors": Safetensors,
        "tuned": lambda: Tuned(tuned_config),
        "fastsafetensors": FastSafetensors,
        "instanttensor": InstantTensor,
        "wcodec": Wcodec,
        "wcodec-into": WcodecInto,
    }[name]()
