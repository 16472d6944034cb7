#!/usr/bin/env python3
"""Size overhead of wcodec on incompressible input (the "never more than 4 KiB larger" claim).

Writes safetensors files of uniformly random bytes (one big tensor; mixed dtypes; 144 small
tensors like a MiniLM checkpoint), encodes and decodes each with the CLI, and prints
encoded − original bytes and whether the round trip is byte-identical.

Usage: overhead.py [--dir bench/data/overhead] [--wcodec target/release]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stfile


def cases(rng: np.random.Generator) -> dict[str, list[tuple[str, np.ndarray]]]:
    def rand(n: int) -> np.ndarray:
        return rng.integers(0, 256, n, dtype=np.uint8)

    return {
        "one_u8_10MB": [("w", rand(10_000_000))],
        "mixed_dtypes": [
            ("a", rand(4_000_000).view(np.float32)),
            ("b", rand(4_000_000).view(np.uint16)),
            ("c", rand(3_000_000).view(np.int8)),
            ("d", rand(800_000).view(np.int64)),
        ],
        "144_small_tensors": [
            (f"layer.{i:03d}.weight", rand(384 * 384).view(np.int8).reshape(384, 384)) for i in range(144)
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("bench/data/overhead"))
    ap.add_argument("--wcodec", type=Path, default=Path("target/release"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for name, tensors in cases(np.random.default_rng(1)).items():
        src = args.dir / f"{name}.safetensors"
        src.write_bytes(stfile.encode(dict(tensors)))
        enc, dec = src.with_suffix(".wcodec"), src.with_suffix(".decoded")
        for tool, i, o in (("wcodec-encode", src, enc), ("wcodec-decode", enc, dec)):
            subprocess.run([str(args.wcodec / tool), "-i", str(i), "-o", str(o), "--force", "--quiet"], check=True)
        same = src.read_bytes() == dec.read_bytes()
        a, b = src.stat().st_size, enc.stat().st_size
        print(f"{name}: original {a} B, encoded {b} B, overhead {b - a:+d} B, round trip identical: {same}")


if __name__ == "__main__":
    main()
