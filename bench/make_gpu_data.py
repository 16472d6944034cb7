#!/usr/bin/env python3
"""Build the two files of the GPU benchmarks (docs/peers.md §1), deterministically.

* ``minilm_bf16_layers.safetensors``: the 36 two-dimensional encoder-layer weights of
  all-MiniLM-L6-v2, cast to BF16 with round-to-nearest-even (peers.md data (iii), 21.2 MB);
* ``minilm_int8_2d.safetensors``: every two-dimensional MiniLM weight quantised to int8 per row
  (symmetric absmax, the recipe of ``make_testset.py``; codes only, no scales: peers.md data (i),
  22.7 MB).

Both are small enough to carry to a GPU machine that has no network. Written with
``safetensors.numpy.save_file`` (sorted names, no metadata), so the same inputs give the same
bytes.

Usage: make_gpu_data.py --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ml_dtypes
from safetensors.numpy import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_testset import int8_symmetric, is_weight, load_minilm


def build(out: Path) -> list[Path]:
    src = load_minilm()
    bf16 = {
        n: a.astype(ml_dtypes.bfloat16)
        for n, a in src.items()
        if n.startswith("encoder.layer.") and is_weight(a)
    }
    int8 = {n: int8_symmetric(a, per_row=True)[0] for n, a in src.items() if is_weight(a)}
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, tensors in (("minilm_bf16_layers", bf16), ("minilm_int8_2d", int8)):
        path = out / f"{name}.safetensors"
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    for p in build(args.out):
        print(f"{p}: {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
