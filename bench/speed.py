#!/usr/bin/env python3
"""Codec speed with default options, side by side in one run (issue 13, item 5).

CPU part (runs anywhere): on ONE core (`taskset -c CORE`), in memory, every public test file
(`bench/data/*.safetensors`, built by `bench/make_testset.py`):
  * `zstd -b3`: the zstd CLI's own benchmark mode (compress and decompress, level 3);
  * `lz4 -b1`: the lz4 CLI's benchmark mode (level 1, its default);
  * `wcodec bench --threads 1 --json`: wcodec's in-memory encode and decode with default
    options, then the other settings as extra rows (`--no-tiles`, `--tile-decode-cost 0`: tiles
    as before the decode-cost charge, `--chunk-symbols 262144`: the old default chunk).
Every codec reports its fastest run (zstd and lz4 print only that); wcodec also its median.

GPU part (skipped without `nvidia-smi` or with `--parts cpu`): the repository's `gpu_bench`
(kernels from device memory, a single ~20 MB tensor and a >= 1 GiB batch, the device-to-device
copy ceiling) at the default chunk size and the others as extra rows, and nvCOMP ANS
(`bench/nvcomp_peer.py`) on the same files when its Python package is importable.

Writes `bench/results/speed-latest.json` (a part not run this time is kept from the previous
file, with its own date, machine, commit and command) and the block between
`<!-- bench:speed:start -->` and `<!-- bench:speed:end -->` of `docs/benchmarks.md`.

    python3 bench/speed.py                       # CPU part (+ GPU part on a GPU machine)
    python3 bench/speed.py --parts gpu --gpu-data DIR    # GPU part only (make_gpu_data.py files)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "speed-latest.json"
DOC = REPO / "docs" / "benchmarks.md"
MARK_START = "<!-- bench:speed:start -->"
MARK_END = "<!-- bench:speed:end -->"
# wcodec rows: the defaults first, then each other setting alone.
WCODEC_SETTINGS: list[tuple[str, list[str]]] = [
    ("defaults", []),
    ("--no-tiles", ["--no-tiles"]),
    ("--tile-decode-cost 0", ["--tile-decode-cost", "0"]),
    ("--chunk-symbols 262144", ["--chunk-symbols", "262144"]),
]
GPU_CHUNKS = "65536,16384,262144"  # the default first
# zstd/lz4 -b lines: "<level>#<name> : <in> -> <out> (<ratio>), <c> MB/s, <d> MB/s"
BENCH_LINE = re.compile(r"(\d+)\s*->\s*(\d+)\s*\(x?\s*([\d.]+)\)\s*,\s*([\d.]+)\s*MB/s\s*,?\s*([\d.]+)\s*MB/s")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], timeout: float = 1800) -> str:
    log("$ " + shlex.join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return p.stdout + p.stderr


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return path.name


# ---------------------------------------------------------------- environment
def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"kernel": platform.release()}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    flags = Path("/proc/cpuinfo").read_text()
    info["avx512"] = " avx512f " in flags and " avx512vbmi2 " in flags
    info["avx2"] = " avx2 " in flags
    info["cores"] = os.cpu_count()
    info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for key in ("Model name", "Hypervisor vendor", "CPU family", "Model"):
            m = re.search(rf"^{key}:\s*(.+)$", out, re.M)
            if m:
                info["lscpu_" + key.lower().replace(" ", "_")] = m.group(1).strip()
    return info


def git_commit() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    # The files this script writes do not make the code measured differ from the commit.
    ours = (shown(RESULTS), shown(DOC))
    status = git("status", "--porcelain", "--untracked-files=no").splitlines()
    dirty = [line for line in status if line.split(maxsplit=1)[-1] not in ours]
    return f"{head} + uncommitted changes" if dirty else head


def tool_version(name: str, cmd: list[str]) -> str:
    """`name vX.Y.Z` from the tool's version banner."""
    if not shutil.which(cmd[0]) and not Path(cmd[0]).is_file():
        return f"{name} missing"
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    m = re.search(r"v?(\d+\.\d+\.\d+)", p.stdout + p.stderr)
    return f"{name} {m.group(1) if m else 'unknown version'}"


def environment(args: argparse.Namespace, part: str) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": git_commit(),
        # Absolute paths become what `shown` prints: the report names no machine's folders.
        "command": shlex.join(
            ["python3", "bench/speed.py", *(shown(Path(a)) if a.startswith("/") else a for a in sys.argv[1:])]
        ),
        "part": part,
    }


# ---------------------------------------------------------------- CPU part
def cli_bench(tool: str, level: str, path: Path, core: int, seconds: int) -> dict[str, Any]:
    """The zstd/lz4 CLI benchmark mode on one core; their best-of-run MB/s (10^6 bytes/s)."""
    out = run(["taskset", "-c", str(core), tool, f"-b{level}", f"-i{seconds}", str(path)])
    matches = BENCH_LINE.findall(out.replace("\r", "\n"))
    if not matches:
        raise RuntimeError(f"cannot parse {tool} -b output: {out[-500:]}")
    original, compressed, _ratio, c, d = matches[-1]
    return {
        "codec": f"{tool} -b{level}",
        "original_bytes": int(original),
        "encoded_bytes": int(compressed),
        "encode_best_mb_s": float(c),
        "decode_best_mb_s": float(d),
    }


def wcodec_bench(binary: Path, path: Path, core: int, repeat: int, extra: list[str]) -> dict[str, Any]:
    cmd = ["taskset", "-c", str(core), str(binary), "bench", str(path), "--threads", "1"]
    cmd += ["--repeat", str(repeat), "--json", *extra]
    r = json.loads(run(cmd).strip().splitlines()[-1])
    if not r.get("roundtrip_ok"):
        raise RuntimeError(f"wcodec round trip failed on {path}")
    r["input"] = shown(path)  # no machine paths in the committed results
    return r


def cpu_part(args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(args.data.glob("*.safetensors"))
    if args.files:
        files = [f for f in files if any(s in f.name for s in args.files.split(","))]
    if not files:
        sys.exit(f"no test files in {args.data}: run bench/make_testset.py --out {args.data}")
    if not args.wcodec.is_file():
        sys.exit(f"{args.wcodec} is not built: cargo build --release -p wcodec-cli")
    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    env = environment(args, "cpu")
    env["core"] = core
    env["versions"] = {
        "zstd": tool_version("zstd", ["zstd", "--version"]),
        "lz4": tool_version("lz4", ["lz4", "--version"]),
        "wcodec": tool_version("wcodec", [str(args.wcodec), "--version"]),
    }
    rows = []
    for f in files:
        for tool, level in (("zstd", "3"), ("lz4", "1")):
            if shutil.which(tool):
                rows.append({"file": f.name, **cli_bench(tool, level, f, core, args.seconds)})
            else:
                log(f"{tool} missing (apt-get install -y zstd lz4): skipped")
        for name, extra in WCODEC_SETTINGS:
            r = wcodec_bench(args.wcodec, f, core, args.repeat, extra)
            rows.append({"file": f.name, "codec": f"wcodec {name}", **r})
    # Other work on the machine during the run (builds next door) skews every figure: record it.
    env["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    return {"env": env, "rows": rows}


# ---------------------------------------------------------------- GPU part
def has_gpu() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    return subprocess.run(["nvidia-smi", "-L"], capture_output=True, check=False).returncode == 0


def gpu_part(args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(args.gpu_data.glob("*.safetensors"))
    if not files:
        sys.exit(f"no GPU data in {args.gpu_data}: run bench/make_gpu_data.py --out {args.gpu_data}")
    if not args.gpu_bench.is_file():
        sys.exit(f"{args.gpu_bench} is not built: cargo build --release -p wcodec-cuda --example gpu_bench")
    env = environment(args, "gpu")
    env["gpu"] = run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]).strip()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        jl = Path(tmp) / "gpu.jsonl"
        cmd = [str(args.gpu_bench), "--runs", str(args.gpu_runs), "--chunks", args.gpu_chunks, "--warps", "4"]
        run([*cmd, "--target-gib", str(args.target_gib), "--json", str(jl), *map(str, files)], timeout=3600)
        for line in jl.read_text().splitlines():
            rows.append({"tool": "gpu_bench", **json.loads(line)})
    try:
        if args.no_nvcomp:
            raise ImportError("--no-nvcomp")
        from nvidia import nvcomp  # noqa: F401  (the module nvcomp_peer.py imports)

        have_nvcomp = True
    except ImportError as e:
        have_nvcomp = False
        log(f"nvCOMP rows skipped ({e})")
    if have_nvcomp:
        for f in files:
            out = run(
                [
                    sys.executable,
                    str(REPO / "bench" / "nvcomp_peer.py"),
                    str(f),
                    "--runs",
                    str(args.gpu_runs),
                    "--target-gib",
                    str(args.target_gib),
                ],
                timeout=3600,
            )
            for line in out.splitlines():
                if line.startswith("{"):
                    rows.append({"tool": "nvcomp_peer", **json.loads(line), "file": shown(f)})
    return {"env": env, "rows": rows, "nvcomp": have_nvcomp}


# ---------------------------------------------------------------- report
def f0(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def busy(env: dict[str, Any]) -> bool:
    """More runnable work than cores at the start or the end of the run."""
    cores = env["machine"].get("cores") or 1
    return max(env["machine"]["load_avg_1m"], env.get("load_avg_1m_end", 0)) > cores


def cpu_markdown(cpu: dict[str, Any]) -> list[str]:
    env, rows = cpu["env"], cpu["rows"]
    m = env["machine"]
    simd = sorted({f"rANS {r['rans_simd']}, tiles {r['tile_simd']}" for r in rows if "rans_simd" in r})
    out = [
        f"**CPU**, {env['date']}: {m.get('cpu', '?')} ({m.get('cores')} cores"
        f"{', ' + m['lscpu_hypervisor_vendor'] + ' VM' if 'lscpu_hypervisor_vendor' in m else ''}, "
        f"AVX-512 {'yes' if m.get('avx512') else 'no'}, AVX2 {'yes' if m.get('avx2') else 'no'}), one core "
        f"(`taskset -c {env['core']}`), load average {m['load_avg_1m']} at start, {env.get('load_avg_1m_end', '?')} "
        f"at the end{' (a busy machine: MB/s figures are unreliable)' if busy(env) else ''}; commit `{env['commit']}`; "
        f"`{env['command']}`; {env['versions']['zstd']}; {env['versions']['lz4']}; wcodec vector paths: "
        f"{'; '.join(simd) or '—'}. MB/s = 10⁶ original bytes per second, fastest run (zstd and lz4 print "
        "only that; wcodec's median in brackets).",
        "",
        "| file | codec | size (% of original) | compress MB/s | decompress MB/s | decode ÷ zstd -b3 |",
        "|---|---|---|---|---|---|",
    ]
    zstd_dec = {r["file"]: r["decode_best_mb_s"] for r in rows if r["codec"] == "zstd -b3"}
    for r in rows:
        pct = 100 * r["encoded_bytes"] / r["original_bytes"]
        enc, dec = f0(r["encode_best_mb_s"]), f0(r["decode_best_mb_s"])
        if "decode_mb_s" in r:
            enc += f" ({f0(r['encode_mb_s'])})"
            dec += f" ({f0(r['decode_mb_s'])})"
        z = zstd_dec.get(r["file"])
        vs = f"{r['decode_best_mb_s'] / z:.2f}×" if z and r["codec"].startswith("wcodec") else ""
        name = f"**{r['codec']}**" if r["codec"] == "wcodec defaults" else r["codec"]
        out.append(f"| {r['file']} | {name} | {r['encoded_bytes']:,} ({pct:.2f}%) | {enc} | {dec} | {vs} |")
    return out


def gpu_markdown(gpu: dict[str, Any]) -> list[str]:
    env, rows = gpu["env"], gpu["rows"]
    out = [
        f"**GPU**, {env['date']}: {env.get('gpu', '?')}; commit `{env['commit']}`; `{env['command']}`; "
        f"nvCOMP {'run' if gpu.get('nvcomp') else 'not installed: no rows'}. GB/s = 10⁹ decoded bytes per "
        "second, median (CUDA events), from device memory.",
        "",
        "| data | scope | codec | chunk | GB/s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("tool") == "gpu_bench" and r.get("kind") == "decode":
            label = "wcodec (default chunk)" if r["chunk_symbols"] == 65536 else "wcodec"
            out.append(f"| {r['data']} | {r['scope']} | {label} | {r['chunk_symbols']} | {r['decode_gbps']} |")
        elif r.get("tool") == "gpu_bench" and r.get("kind") == "d2d":
            out.append(f"| {r['data']} | {r['scope']} | device-to-device copy | — | {r['gbps']} |")
        elif r.get("tool") == "nvcomp_peer":
            gbps = f"{r['bytes'] / r['decode_ms'] / 1e6:.1f}" if r.get("decode_ms") else "—"
            # nvCOMP's data-type tags ("|u1") hold a pipe: escaped, or the table gains a column.
            codec = str(r["codec"]).replace("|", "\\|")
            out.append(
                f"| {Path(r['file']).name} | {r['case']} | {codec} {r['path']} {r['policy']} | "
                f"{r['chunk_size']} B | {gbps} |"
            )
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        MARK_START,
        "<!-- generated by bench/speed.py; edit the script, not this block -->",
        "### Speed with default options (`bench/speed.py`)",
        "",
    ]
    if "cpu" in results:
        lines += [*cpu_markdown(results["cpu"]), ""]
    if "gpu" in results:
        lines += [*gpu_markdown(results["gpu"]), ""]
    else:
        lines += ["GPU part: not run yet (`python3 bench/speed.py --parts gpu --gpu-data DIR` on a GPU machine).", ""]
    lines.append(MARK_END)
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = DOC.read_text()
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="auto", help="cpu, gpu, cpu,gpu or auto (cpu, plus gpu where there is one)")
    ap.add_argument("--data", type=Path, default=REPO / "bench" / "data")
    ap.add_argument("--files", default="", help="comma-separated substrings of file names")
    ap.add_argument("--wcodec", type=Path, default=REPO / "target" / "release" / "wcodec")
    ap.add_argument("--core", type=int, default=None, help="CPU core to pin to (default: the last one allowed)")
    ap.add_argument("--repeat", type=int, default=5, help="wcodec bench runs per file and setting")
    ap.add_argument("--seconds", type=int, default=3, help="zstd/lz4 -i: seconds per benchmark")
    ap.add_argument("--gpu-data", type=Path, default=REPO / "bench" / "gpu-data")
    ap.add_argument("--gpu-bench", type=Path, default=REPO / "target" / "release" / "examples" / "gpu_bench")
    ap.add_argument("--gpu-runs", type=int, default=30)
    ap.add_argument("--gpu-chunks", default=GPU_CHUNKS, help="gpu_bench --chunks (the default chunk first)")
    ap.add_argument("--no-nvcomp", action="store_true", help="skip the nvCOMP peer")
    ap.add_argument("--target-gib", type=float, default=1.0)
    ap.add_argument("--no-write", action="store_true", help="print the block instead of writing the files")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    parts = {"cpu", "gpu"} if args.parts == "auto" else set(args.parts.split(","))
    if args.parts == "auto" and not has_gpu():
        parts.discard("gpu")
        log("no GPU: CPU part only")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if "cpu" in parts:
        results["cpu"] = cpu_part(args)
    if "gpu" in parts:
        results["gpu"] = gpu_part(args)
    block = markdown(results)
    if args.no_write:
        print(block)
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_doc(block)
    log(f"wrote {shown(RESULTS)} and the bench:speed block of {shown(DOC)}")


if __name__ == "__main__":
    main()
