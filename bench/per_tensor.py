#!/usr/bin/env python3
"""Per-tensor cost of a load: what a checkpoint of many tiny tensors costs beyond its bytes.

A checkpoint of ``--tensors`` tensors of ``--elems`` elements each (BF16 and INT8 alternating, so
the bytes decode in next to no time) is loaded with ``wcodec.decode_to_state_dict`` and, for
reference, ``safetensors.torch.load_file``; the time divided by the tensor count is the
per-tensor overhead (issue 12's goal: at most 5 µs, CPU and GPU destinations).

* ``first``: a fresh process (torch imported, the loader warmed on a different small checkpoint,
  CUDA initialised when the device is CUDA), one load: what a server starting up pays, the
  checkpoint's table and allocation plan included;
* ``repeat``: the same process loading the same file again (median of ``--reps``): the table
  and plan are cached, what remains is allocation, the native call and the decode.

Each figure is wall time and, in brackets, the CPU time of every thread of the process (on a
busy machine the wall time includes waiting for a core; the CPU time does not).

    python bench/per_tensor.py --tensors 20000 --device cpu
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _make(dir: Path, n: int, elems: int, seed: int) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    import wcodec

    st = dir / f"tiny-{n}-{elems}-{seed}.safetensors"
    wc = st.with_suffix(".wcodec")
    if wc.exists() and st.exists():
        return st, wc
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for i in range(n):
        w = torch.randn(elems, generator=g)
        q = (w * 40).round().clamp(-127, 127).to(torch.int8)
        tensors[f"layers.{i // 8}.t{i % 8}"] = w.to(torch.bfloat16) if i % 2 else q
    save_file(tensors, str(st))
    wcodec.encode_checkpoint(st, wc, overwrite=True)
    return st, wc


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _load(kind: str, path: Path, device: str) -> int:
    if kind == "wcodec":
        import wcodec

        out = wcodec.decode_to_state_dict(path, device=device, fallback=None if device.startswith("cuda") else "cpu")
    else:
        from safetensors.torch import load_file

        out = load_file(str(path), device=device)
    _sync(device)
    return len(out)


def child(args: argparse.Namespace) -> None:
    """One fresh-process load, printed as JSON."""
    import torch

    import wcodec  # noqa: F401 (imported before the clock, as a server would)

    if args.device.startswith("cuda"):
        torch.cuda.init()
        torch.empty(1, device=args.device)
    warm_st, warm_wc = Path(args.warm_st), Path(args.warm_wc)
    _load(args.kind, warm_wc if args.kind == "wcodec" else warm_st, args.device)
    path = Path(args.path)
    t, c = time.perf_counter(), time.process_time()
    n = _load(args.kind, path, args.device)
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c, "tensors": n}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tensors", type=int, default=20000)
    ap.add_argument("--elems", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("bench/data/per_tensor"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--warm-st", help=argparse.SUPPRESS)
    ap.add_argument("--warm-wc", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    st, wc = _make(args.dir, args.tensors, args.elems, 1)
    warm_st, warm_wc = _make(args.dir, 64, args.elems, 2)
    results = {}
    for kind, path in (("safetensors", st), ("wcodec", wc)):
        firsts = []
        for _ in range(args.reps):
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--kind", kind, "--path", str(path), "--device", args.device,
                 "--warm-st", str(warm_st), "--warm-wc", str(warm_wc)],
                check=True, capture_output=True, text=True, env=os.environ,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            firsts.append((r["seconds"], r["cpu_seconds"]))
        _load(kind, path, args.device)
        repeats = []
        for _ in range(args.reps):
            t, c = time.perf_counter(), time.process_time()
            _load(kind, path, args.device)
            repeats.append((time.perf_counter() - t, time.process_time() - c))
        results[kind] = [(statistics.median(x[0] for x in runs), statistics.median(x[1] for x in runs))
                         for runs in (firsts, repeats)]
    load = os.getloadavg()[0]
    print(f"{args.tensors} tensors of {args.elems} elements on {args.device}, {os.cpu_count()} CPUs "
          f"(load average {load:.1f}); median of {args.reps}; µs per tensor, wall (CPU time of every thread):")
    us = 1e6 / args.tensors
    for kind, ((fw, fc), (rw, rc)) in results.items():
        print(f"  {kind:12s} first load in a fresh process {fw * us:6.2f} ({fc * us:6.2f})   "
              f"repeat in process {rw * us:6.2f} ({rc * us:6.2f})")


if __name__ == "__main__":
    main()
