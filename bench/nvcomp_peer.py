#!/usr/bin/env python3
"""nvCOMP ANS on the same bytes as wcodec's GPU benchmark, for a side-by-side run on one card.

Concatenates the tensors of a safetensors file into one device buffer (BF16 files are handed to
nvCOMP as `<f2`, its typed mode for 2-byte floats, as shared/research/anchors.md §5 does; others
as `|u1`), once as is (~20 MB) and tiled to ≥ --target-gib, compresses with the Python `Codec`
(ANS, default chunking), and times `Codec.decode` with CUDA events (median of --runs, output
allocated by nvCOMP on each call, so it is the plain API path, not a preallocated one). Every
decode is checked against the input. Prints one JSON line per case.

    python bench/nvcomp_peer.py FILE.safetensors [--target-gib 1] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics

import safetensors.torch
import torch
from nvidia import nvcomp


def bench(codec: nvcomp.Codec, data: torch.Tensor, runs: int) -> dict:
    src = nvcomp.as_array(data)
    comp = codec.encode(src)
    torch.cuda.synchronize()
    out = torch.as_tensor(codec.decode(comp), device="cuda")
    torch.cuda.synchronize()
    ok = torch.equal(out.view(torch.uint8).reshape(-1), data.view(torch.uint8).reshape(-1))
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        codec.decode(comp)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    nbytes = data.numel() * data.element_size()
    t = statistics.median(times)
    return {
        "bytes": nbytes,
        "ratio": round(nbytes / comp.buffer_size, 4),
        "decode_ms": round(t * 1000, 3),
        "decode_gb_s": round(nbytes / t / 1e9, 1),
        "identical": ok,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--target-gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    tensors = safetensors.torch.load_file(args.file)
    bf16 = all(t.dtype == torch.bfloat16 for t in tensors.values())
    flat = torch.cat([t.reshape(-1).view(torch.uint8) for t in tensors.values()]).cuda()
    data = flat.view(torch.int16) if bf16 else flat
    data_type = "<f2" if bf16 else "|u1"
    codec = nvcomp.Codec(algorithm="ANS", data_type=data_type)
    small = bench(codec, data, args.runs)
    copies = max(1, -(-int(args.target_gib * (1 << 30)) // (data.numel() * data.element_size())))
    big = bench(codec, data.repeat(copies), max(10, args.runs // 3))
    for label, r in (("single", small), ("tiled", big)):
        print(json.dumps({"codec": f"nvcomp-ans {data_type}", "nvcomp": nvcomp.__version__,
                          "file": args.file, "case": label, **r}), flush=True)


if __name__ == "__main__":
    main()
