#!/usr/bin/env python3
"""Cost of a tensor-parallel rank's slice next to a full decode (issue 16).

Writes one large int8 tensor and one large bf16 tensor (weight-like values, ``--mib`` MiB each),
encodes them (tiles off by default, so the encode fits the minute; tiled slices are covered by
the tests), then times, on the CPU, ``get_tensor`` (full decode, checksum checked) against
``get_slice(name)[r*n/8:(r+1)*n/8]`` for each of the 8 ranks, and prints the chunks each read.
Every rank's slice is checked against the same rows of the full decode.

Usage: slices.py [--mib 256] [--ranks 8] [--dir bench/data/slices] [--repeat 3] [--tile-size 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

import wcodec
from wcodec import _wcodec


def weight_like(dtype: torch.dtype, rows: int, cols: int, seed: int) -> torch.Tensor:
    """Gaussian-like weights, filled a block of rows at a time (no full float32 copy)."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(rows, cols, dtype=dtype)
    step = max(1, (16 << 20) // cols)
    for r in range(0, rows, step):
        block = torch.randn(min(step, rows - r), cols, generator=g)
        if dtype == torch.int8:
            out[r : r + step] = (block * 12).round().clamp(-127, 127).to(torch.int8)
        else:
            out[r : r + step] = (block * 0.02).to(dtype)
    return out


def best(f: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--ranks", type=int, default=8)
    ap.add_argument("--dir", type=Path, default=Path("bench/data/slices"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tile-size", type=int, default=0)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    cols = 8192
    cases = {
        "int8": weight_like(torch.int8, (args.mib << 20) // cols, cols, 1),
        "bf16": weight_like(torch.bfloat16, (args.mib << 20) // (2 * cols), cols, 2),
    }
    src, enc = args.dir / f"slices_{args.mib}.safetensors", args.dir / f"slices_{args.mib}.wcodec"
    t = time.perf_counter()
    save_file(cases, src)
    _wcodec.encode(src, enc, overwrite=True, tile_size=args.tile_size)
    print(f"wrote and encoded {2 * args.mib} MiB in {time.perf_counter() - t:.1f} s ({enc.stat().st_size >> 20} MiB)")
    print()
    print(f"| tensor | full decode | 1/{args.ranks} slice (mean of ranks) | ratio | chunks: slice / full |")
    print("|---|---|---|---|---|")
    with wcodec.open(enc) as f:
        for name, tensor in cases.items():
            info = f._checkpoint.info(name)
            total = info.reader.tensor_chunks(info.index)
            full_s = best(lambda name=name: f.get_tensor(name), args.repeat)
            full = f.get_tensor(name)
            assert full.view(torch.uint8).equal(tensor.view(torch.uint8)), name
            rows = tensor.shape[0]
            part_s, chunks = 0.0, 0
            for r in range(args.ranks):
                a, b = rows * r // args.ranks, rows * (r + 1) // args.ranks
                s = f.get_slice(name)
                part_s += best(lambda s=s, a=a, b=b: s[a:b], args.repeat)
                part = s[a:b]
                assert part.view(torch.uint8).equal(full[a:b].view(torch.uint8)), (name, r)
                chunks += s.chunks_decoded // (args.repeat + 1)
            part_s /= args.ranks
            size = tensor.numel() * tensor.element_size() >> 20
            print(
                f"| {name} {list(tensor.shape)} ({size} MiB) | {full_s * 1e3:.0f} ms | {part_s * 1e3:.1f} ms | "
                f"{part_s / full_s:.3f} | {chunks / args.ranks:.1f} / {total} |"
            )


if __name__ == "__main__":
    main()
