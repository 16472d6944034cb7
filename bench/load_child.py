"""One benchmark load in a fresh process (started by ``bench/load.py``; not meant to be run by hand).

Order: import torch and create the CUDA context; prepare the loader and load the tiny warm-up
checkpoint with it (kernels compiled, caches filled, lazy imports done); for a cold load drop the
checkpoint's pages (fsync + POSIX_FADV_DONTNEED) and check with mincore that they are gone, for a
warm one check that they are resident; reset the memory high-water marks; then time the load up
to ``torch.cuda.synchronize()``. Outside the clock: memory figures, per-tensor checksums on the
device compared with the reference. Prints one line ``RESULT {json}``.

The spec is a JSON argument: loader, device, dataset (root, name), warm-up root, cache state,
reference hash file, tuned-loader settings, mode ("load", "reference" or "calibrate").
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

T_START = time.perf_counter()

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fastload  # noqa: E402
import pagecache  # noqa: E402
import tensor_hash  # noqa: E402
from load_loaders import Unavailable, make  # noqa: E402

MIB = 1 << 20


class Dataset:
    def __init__(self, root: str, name: str):
        self.root = Path(root)
        self.name = name
        self.st = self.root / "st"
        self.wc = self.root / "wc"

    def st_files(self) -> list[Path]:
        return sorted(self.st.glob("*.safetensors"))

    def wc_files(self) -> list[Path]:
        return sorted(p for p in self.wc.iterdir() if p.is_file())


STATUS_KEYS = ("VmHWM", "VmRSS", "VmLck", "VmPin", "RssAnon", "RssFile", "RssShmem")


def status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in STATUS_KEYS:
                out[key] = int(value.split()[0]) * 1024
    return out


def heap_pinned(st: dict[str, int]) -> int:
    """Anonymous + shared-memory resident bytes: heap, stacks and pinned buffers, not the
    file-backed pages of a memory-mapped checkpoint (those are the page cache's)."""
    return st.get("RssAnon", 0) + st.get("RssShmem", 0)


def reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Sampler:
    """Samples, every ~1 ms during the load, the device's used memory (cudaMemGetInfo: includes
    what a loader allocates outside torch's allocator) and the process's heap + pinned resident
    memory (RssAnon + RssShmem), keeping the peaks."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_used = 0
        self.peak_host = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def used(self) -> int:
        if self.device.type != "cuda":
            return 0
        free, total = torch.cuda.mem_get_info(self.device)
        return total - free

    def _sample(self) -> None:
        self.peak_used = max(self.peak_used, self.used())
        self.peak_host = max(self.peak_host, heap_pinned(status()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.001)

    def __enter__(self):
        self._sample()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self._sample()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def touch(tensors: dict[str, torch.Tensor]) -> None:
    """CPU only: read one byte per page of every storage behind the tensors, so a loader that
    returns tensors over a memory map pays for reading the file inside the clock like the others
    (one pass per storage, not per tensor: views into one buffer cost one pass)."""
    storages = {}
    for t in tensors.values():
        s = t.untyped_storage()
        storages.setdefault(s.data_ptr(), s)
    for s in storages.values():
        if s.nbytes():
            torch.empty(0, dtype=torch.uint8).set_(s)[::4096].sum()


def nbytes(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


def run_load(spec: dict, device: torch.device) -> dict:
    ds = Dataset(spec["dataset"], spec["name"])
    warm_ds = Dataset(spec["warmup"], "warmup")
    cold = spec["cache"] == "cold"
    loader = make(spec["loader"], fastload.Config.parse(spec.get("tuned", "")))
    res: dict = {"loader": loader.name}
    try:
        loader.prepare(device, cold, warm_ds)
    except Unavailable as e:
        return {**res, "status": "did not run", "reason": str(e)}
    res["settings"] = loader.info
    init = status()
    used_init = Sampler(device).used()
    warm_out = loader.load(warm_ds)
    del warm_out
    loader.close()
    sync(device)
    if hasattr(loader, "preallocate"):
        loader.preallocate(ds)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    files = ds.wc_files() if loader.files == "wc" else ds.st_files()
    if cold:
        pagecache.drop(files)
    res["resident_before"] = round(pagecache.resident(files), 4)
    res["setup_s"] = round(time.perf_counter() - T_START, 3)
    hwm_ok = reset_hwm()
    base = status()
    sampler = Sampler(device)
    base_used = sampler.used()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_alloc = torch.cuda.memory_allocated(device)
    sync(device)
    with sampler:
        t = time.perf_counter()
        out = loader.load(ds)
        if device.type == "cpu":
            touch(out)
        sync(device)
        seconds = time.perf_counter() - t
    after = status()
    out_bytes = nbytes(out)
    res.update(
        status="ok",
        seconds=seconds,
        n_tensors=len(out),
        decoded_bytes=out_bytes,
        gb_s=out_bytes / seconds / 1e9,
        # Heap + pinned (RssAnon + RssShmem, sampled): peak during the load over the use just
        # before it, and over the use before the warm-up (what the loader kept from it counts).
        host_added_mib=round((sampler.peak_host - heap_pinned(base)) / MIB, 1),
        host_over_init_mib=round((sampler.peak_host - heap_pinned(init)) / MIB, 1),
        # Peak resident memory of any kind (VmHWM: also a memory-mapped checkpoint's file pages).
        rss_peak_added_mib=round((after["VmHWM"] - base["VmRSS"]) / MIB, 1) if hwm_ok else None,
        host_pinned_locked_mib=round((after.get("VmLck", 0) + after.get("VmPin", 0)) / MIB, 1),
        settings=loader.info,
    )
    if device.type == "cuda":
        preallocated = loader.name == "wcodec-into"
        output_new = 0 if preallocated else out_bytes
        res["gpu_extra_mib"] = round((sampler.peak_used - base_used - output_new) / MIB, 1)
        res["gpu_over_init_mib"] = round((sampler.peak_used - used_init - out_bytes) / MIB, 1)
        res["torch_extra_mib"] = round((torch.cuda.max_memory_allocated(device) - base_alloc - output_new) / MIB, 1)
    t = time.perf_counter()
    got = tensor_hash.hashes(out)
    ref = json.loads(Path(spec["reference"]).read_text())
    res["identical"], res["mismatch"] = tensor_hash.compare(got, ref)
    res["hash_s"] = round(time.perf_counter() - t, 3)
    return res


def run_reference(spec: dict, device: torch.device) -> dict:
    """Hashes of ``safetensors.torch.load_file`` of every shard: the reference of every load."""
    import safetensors.torch

    ds = Dataset(spec["dataset"], spec["name"])
    out: dict[str, torch.Tensor] = {}
    for f in ds.st_files():
        out.update(safetensors.torch.load_file(str(f), device=str(device)))
    h = tensor_hash.hashes(out)
    tmp = Path(spec["reference"] + ".tmp")
    tmp.write_text(json.dumps(h))
    tmp.replace(spec["reference"])
    return {"status": "ok", "n_tensors": len(h)}


TUNE_CANDIDATES = [
    "threads=8,chunk_mib=8,slots=2",
    "threads=16,chunk_mib=8,slots=2",
    "threads=8,chunk_mib=16,slots=2",
    "threads=16,chunk_mib=4,slots=2",
    "threads=4,chunk_mib=16,slots=2",
]


def _set_cache(files: list[Path], cold: bool) -> None:
    if cold:
        pagecache.drop(files)
    elif pagecache.resident(files) < 0.999:
        pagecache.warm(files)


def _read(files: list[Path], device: torch.device, cfg: fastload.Config, cold: bool, reps: int) -> float:
    """Best seconds of ``reps`` reads (readers only, no copies)."""
    best = float("inf")
    for _ in range(reps):
        _set_cache(files, cold)
        best = min(best, fastload.read_speed(files, str(device), cfg)[0])
    return best


def _tuned_load(files: list[Path], device: torch.device, cfg: fastload.Config, cold: bool, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        _set_cache(files, cold)
        sync(device)
        t = time.perf_counter()
        out = fastload.load(files, device, cfg)
        sync(device)
        best = min(best, time.perf_counter() - t)
        del out
    return best


def run_calibrate(spec: dict, device: torch.device) -> dict:
    """The two ceilings of the tuned loader, measured on the dataset's safetensors shards: the
    parallel read speed (readers only, no copies; the best over the candidate reader settings)
    cold and warm, and the pinned host-to-device copy speed; plus whether pinned memory shows in
    VmRSS. With ``tuned`` = "auto", also picks the tuned loader's settings: the candidate with
    the least cold + warm time, each relative to the best candidate's (measured in this process,
    its pinned ring cached after the first use, as a fresh process's warm-up leaves it)."""
    ds = Dataset(spec["dataset"], spec["name"])
    files = ds.st_files()
    auto = spec.get("tuned", "auto") == "auto"
    cands = [fastload.Config.parse(c) for c in (TUNE_CANDIDATES if auto else [spec["tuned"]])]
    res: dict = {"status": "ok"}
    n = sum(os.path.getsize(f) for f in files)
    fastload.read_speed(files[:1], str(device), cands[0])  # warm the code path
    pagecache.drop(files)
    res["cold_resident_after_drop"] = round(pagecache.resident(files), 4)
    reads, loads = {}, {}
    for cfg in cands:
        reads[cfg] = (_read(files, device, cfg, True, 1), _read(files, device, cfg, False, 2))
        if auto:
            loads[cfg] = (_tuned_load(files, device, cfg, True, 1), _tuned_load(files, device, cfg, False, 2))
    n = fastload.read_speed(files, str(device), cands[0])[1]  # data-section bytes
    res["read_cold_gb_s"] = n / min(r[0] for r in reads.values()) / 1e9
    res["read_warm_gb_s"] = n / min(r[1] for r in reads.values()) / 1e9
    res["read_bytes"] = n
    if auto:
        cold0 = min(x[0] for x in loads.values())
        warm0 = min(x[1] for x in loads.values())
        best = min(cands, key=lambda c: loads[c][0] / cold0 + loads[c][1] / warm0)
        res["tuning"] = {
            c.text(): {"read_cold_gb_s": n / reads[c][0] / 1e9, "read_warm_gb_s": n / reads[c][1] / 1e9,
                       "load_cold_gb_s": n / loads[c][0] / 1e9, "load_warm_gb_s": n / loads[c][1] / 1e9}
            for c in cands
        }
    else:
        best = cands[0]
    res["config"] = best.text()
    cfg = best
    # A single-threaded cold read of one shard, for reference (what one reader gets).
    pagecache.drop(files[:1])
    t = time.perf_counter()
    pagecache.warm(files[:1])
    res["read_cold_1thread_gb_s"] = os.path.getsize(files[0]) / (time.perf_counter() - t) / 1e9
    if device.type == "cuda":
        size = 1 << 30
        before = status()
        host = torch.empty(size, dtype=torch.uint8, pin_memory=True)
        host.fill_(1)
        after = status()
        # Where 1 GiB of pinned memory shows: the host figures count RssAnon + RssShmem.
        res["pinned_shows_in"] = {k: round((after[k] - before[k]) / MIB) for k in ("RssAnon", "RssFile", "RssShmem")}
        res["pinned_counts_in_rss"] = heap_pinned(after) - heap_pinned(before) > size // 2
        dev = torch.empty(size, dtype=torch.uint8, device=device)
        times = []
        for _ in range(6):
            torch.cuda.synchronize()
            t = time.perf_counter()
            dev.copy_(host, non_blocking=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        res["h2d_1stream_gb_s"] = size / min(times[1:]) / 1e9
        # The tuned loader's copy pattern without reads: chunk-sized copies on two streams.
        streams = [torch.cuda.Stream(device), torch.cuda.Stream(device)]
        ch = cfg.chunk
        times = []
        for _ in range(4):
            torch.cuda.synchronize()
            t = time.perf_counter()
            for k, lo in enumerate(range(0, size, ch)):
                with torch.cuda.stream(streams[k % 2]):
                    dev[lo : lo + ch].copy_(host[lo : lo + ch], non_blocking=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        res["h2d_2stream_gb_s"] = size / min(times[1:]) / 1e9
        res["pinned_copy_gb_s"] = max(res["h2d_1stream_gb_s"], res["h2d_2stream_gb_s"])
        t = time.perf_counter()
        torch.empty(256 * MIB, dtype=torch.uint8, pin_memory=True)
        res["pin_alloc_256mib_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    return res


def main() -> None:
    spec = json.loads(sys.argv[1])
    device = torch.device(spec["device"])
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", 0)  # torch.cuda.set_device and friends want an index
    try:
        if device.type == "cuda":
            torch.cuda.init()
            torch.cuda.set_device(device)
            torch.empty(1, device=device)
            torch.cuda.synchronize()
        mode = spec.get("mode", "load")
        if mode == "load":
            res = run_load(spec, device)
        elif mode == "reference":
            res = run_reference(spec, device)
        else:
            res = run_calibrate(spec, device)
    except Exception as e:
        res = {"status": "error", "reason": f"{type(e).__name__}: {e}"[:500], "trace": traceback.format_exc()[-2000:]}
    res["process_s"] = round(time.perf_counter() - T_START, 3)
    res["pid"] = os.getpid()
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
