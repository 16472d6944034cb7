#!/usr/bin/env python3
"""End to end on a GPU: from a file on disk (page cache warm) to every tensor on the device.

wcodec (`decode_to_state_dict(path, device="cuda")`: memory-mapped file → pinned staging →
uploads on several streams overlapped with GPU decoding) against
`safetensors.torch.load_file(path, device="cuda")` of the original, for each input file tiled to
≥ --target-gib (its tensors repeated as separate tensors: a model of that size), at each chunk
size. Also the pinned host-to-device copy of the same bytes (the link's ceiling). Every wcodec
result is compared with safetensors' tensor by tensor.

    python bench/gpu_load.py --data DIR --out results.json [--target-gib 1] [--chunks 262144,16384]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import safetensors.torch
import torch

import wcodec
from wcodec import _wcodec


def timed(fn, reps: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        del out
    return statistics.median(times)


def tile(src: Path, target: int, dst: Path) -> int:
    base = safetensors.torch.load_file(str(src))
    size = sum(t.numel() * t.element_size() for t in base.values())
    copies = max(1, -(-target // size))
    tiled = {f"copy{j}.{k}": v.clone() for j in range(copies) for k, v in base.items()}
    safetensors.torch.save_file(tiled, str(dst))
    return size * copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--target-gib", type=float, default=1.0)
    ap.add_argument("--chunks", default="262144,16384")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    assert wcodec.is_cuda_available(), "the GPU decoder cannot run here"
    tmp = Path(tempfile.mkdtemp(prefix="wcodec-gpu-"))
    rows = []
    for src in sorted(args.data.glob("*.safetensors")):
        path = tmp / f"{src.stem}.tiled.safetensors"
        nbytes = tile(src, int(args.target_gib * (1 << 30)), path)
        path.read_bytes()  # page cache warm
        st_s = timed(lambda p=path: safetensors.torch.load_file(str(p), device="cuda"), args.reps)
        host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        dev = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
        h2d_s = timed(lambda d=dev, h=host: d.copy_(h, non_blocking=True), args.reps)
        del host, dev
        ref = safetensors.torch.load_file(str(path), device="cuda")
        for chunk in [int(c) for c in args.chunks.split(",")]:
            wpath = tmp / f"{src.stem}.{chunk}.wcodec"
            t = time.perf_counter()
            stats = json.loads(_wcodec.encode(str(path), str(wpath), chunk_symbols=chunk))
            enc_s = time.perf_counter() - t
            wpath.read_bytes()
            wc_s = timed(lambda p=wpath: wcodec.decode_to_state_dict(p, device="cuda"), args.reps)
            got = wcodec.decode_to_state_dict(wpath, device="cuda")
            identical = got.keys() == ref.keys() and all(
                torch.equal(got[k].view(-1).view(torch.uint8), ref[k].view(-1).view(torch.uint8)) for k in ref
            )
            del got
            row = {
                "file": src.name,
                "decoded_bytes": nbytes,
                "tensors": len(ref),
                "chunk_symbols": chunk,
                "encoded_bytes": stats["encoded_bytes"],
                "original_bytes": stats["original_bytes"],
                "encode_s": round(enc_s, 3),
                "safetensors_s": round(st_s, 4),
                "wcodec_s": round(wc_s, 4),
                "speedup": round(st_s / wc_s, 2),
                "wcodec_gb_s": round(nbytes / wc_s / 1e9, 1),
                "safetensors_gb_s": round(nbytes / st_s / 1e9, 1),
                "pinned_h2d_gb_s": round(nbytes / h2d_s / 1e9, 1),
                "identical": identical,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        del ref
        torch.cuda.empty_cache()
    meta = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
        "decode_params": wcodec.get_decode_params(),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
