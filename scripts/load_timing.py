"""Times whole-checkpoint loads to a GPU, each in a fresh Python process, wcodec against
safetensors: a quick check of the loading pipeline (the full comparison is ``bench/load.py``).

For each synthetic checkpoint (BF16 and INT8, LLM-like: few large tensors; ``--many``: also a
MoE-like one of 20,000 small tensors) it encodes the ``.wcodec`` once, then runs, each in a new
process with CUDA and the wcodec kernels initialised before the clock:

* ``safetensors``: ``safetensors.torch.load_file(path, device="cuda")``;
* ``wcodec``: ``wcodec.decode_to_state_dict(path, device="cuda")`` (fresh tensors);
* ``load_into``: ``wcodec.load_into(state_dict, path)`` into tensors allocated before the clock.

Warm: the file is read once before (page cache). Cold (``--cold``): the file's pages are evicted
with ``posix_fadvise(DONTNEED)`` first (no root needed; dirty pages are synced). Prints decoded
GB/s (decoded bytes / seconds), the staging pool after the load, and the ratio.

    python3 scripts/load_timing.py --gib 2 --dir /tmp/wcodec-timing [--cold] [--many]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, time
import torch
mode, path, cold = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
torch.cuda.init(); torch.empty(1, device="cuda"); torch.cuda.synchronize()
import wcodec
if mode != "safetensors":
    # Kernels loaded (from the disk cache or NVRTC) before the clock, as a server's start would.
    assert wcodec._wcodec.cuda_decoder_error(0) is None, wcodec._wcodec.cuda_decoder_error(0)
target = None
if mode == "load_into":
    with wcodec.open(path) as f:
        target = {}
        for name in f.keys():
            s = f.get_slice(name)
            dtype = {"BF16": torch.bfloat16, "I8": torch.int8}[s.get_dtype()]
            target[name] = torch.empty(s.get_shape(), dtype=dtype, device="cuda")
if cold:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
torch.cuda.synchronize()
t0 = time.perf_counter()
if mode == "safetensors":
    from safetensors.torch import load_file
    out = load_file(path, device="cuda")
elif mode == "wcodec":
    out = wcodec.decode_to_state_dict(path, device="cuda", fallback=None)
else:
    wcodec.load_into(target, path)
    out = target
torch.cuda.synchronize()
dt = time.perf_counter() - t0
n = sum(t.numel() * t.element_size() for t in out.values())
print(json.dumps({"seconds": dt, "bytes": n, "tensors": len(out), "staging": wcodec.staging_stats(0)}))
"""


def make(dir: Path, kind: str, gib: float, many: bool) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    import wcodec

    name = f"{kind}{'-many' if many else ''}-{gib:g}g"
    st, wc = dir / f"{name}.safetensors", dir / f"{name}.wcodec"
    if wc.exists():
        return st, wc
    g = torch.Generator().manual_seed(0)
    total = int(gib * (1 << 30))
    elem = 2 if kind == "bf16" else 1
    shapes = [(64, 768)] * 20000 if many else [(4096, 4096), (4096, 11008), (11008, 4096), (4096, 1024)]
    tensors, used, i = {}, 0, 0
    while used < total:
        r, c = shapes[i % len(shapes)]
        w = torch.randn(r, c, generator=g) * 0.02
        t = w.to(torch.bfloat16) if kind == "bf16" else (w * 3000).round().clamp(-127, 127).to(torch.int8)
        tensors[f"layers.{i}.weight"] = t
        used += r * c * elem
        i += 1
        if many and i >= 20000:
            break
    save_file(tensors, str(st))
    wcodec.encode_checkpoint(st, wc)
    return st, wc


def run(mode: str, path: Path, cold: bool) -> dict:
    if not cold:
        with open(path, "rb") as f:
            while f.read(64 << 20):
                pass
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), "1" if cold else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/wcodec-timing"))
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--many", action="store_true", help="also a 20,000-tensor MoE-like checkpoint")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    cases = [("bf16", False), ("int8", False)] + ([("bf16", True), ("int8", True)] if args.many else [])
    for kind, many in cases:
        t0 = time.perf_counter()
        st, wc = make(args.dir, kind, args.gib, many)
        ratio = st.stat().st_size / wc.stat().st_size
        label = f"{kind}{' many' if many else ''}"
        prepared = time.perf_counter() - t0
        print(f"\n{label}: {st.stat().st_size / 1e9:.2f} GB, ratio {ratio:.3f} (prepared in {prepared:.0f} s)")
        best = {}
        for mode, path in (("safetensors", st), ("wcodec", wc), ("load_into", wc)):
            results = [run(mode, path, args.cold) for _ in range(args.repeat)]
            r = min(results, key=lambda x: x["seconds"])
            best[mode] = r["bytes"] / r["seconds"] / 1e9
            speeds = ", ".join(f"{x['bytes'] / x['seconds'] / 1e9:.2f}" for x in results)
            state = "cold" if args.cold else "warm"
            print(
                f"  {mode:12s} {state}: best {best[mode]:6.2f} GB/s ({r['seconds'] * 1e3:.0f} ms, "
                f"{r['tensors']} tensors; all: {speeds}) staging {r['staging']}"
            )
        base = best["safetensors"]
        print(f"  wcodec / safetensors: {best['wcodec'] / base:.2f}x, load_into: {best['load_into'] / base:.2f}x")


if __name__ == "__main__":
    main()
