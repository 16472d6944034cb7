#!/usr/bin/env python3
"""Heap memory of `wcodec-decode` on a synthetic multi-GB checkpoint.

Builds (once) a safetensors file of N int8 tensors with weight-like values, encodes it, then
decodes it to a file while sampling the decoder's anonymous resident memory (RssAnon in
/proc/PID/status: heap and stacks, *not* the memory-mapped input, whose pages are file-backed).
The claim checked: peak RssAnon <= largest tensor + 64 MiB, whatever the checkpoint size.

Usage: memory.py [--gb 3] [--tensor-mb 128] [--dir bench/data/memory] [--wcodec target/release]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MIB = 1 << 20


def build(path: Path, n_tensors: int, tensor_bytes: int) -> None:
    """Writes the checkpoint tensor by tensor, so building it needs one tensor of memory."""
    side = 4096
    rows = tensor_bytes // side
    header: dict[str, object] = {}
    pos = 0
    for i in range(n_tensors):
        offsets = [pos, pos + rows * side]
        header[f"layer.{i:03d}.weight"] = {"dtype": "I8", "shape": [rows, side], "data_offsets": offsets}
        pos += rows * side
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text.encode())
        for _ in range(n_tensors):
            w = rng.standard_normal((rows, side), dtype=np.float32)
            scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
            f.write(np.clip(np.rint(w / scale), -127, 127).astype(np.int8).tobytes())
    tmp.rename(path)


def peak_rss_anon(cmd: list[str]) -> tuple[int, float]:
    """Runs `cmd`, sampling RssAnon every 2 ms; returns (peak bytes, seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.002)
    if proc.wait() != 0:
        sys.exit(f"{cmd[0]} failed with exit code {proc.returncode}")
    return peak, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=3.0, help="checkpoint size in GB (10^9 bytes)")
    ap.add_argument("--tensor-mb", type=int, default=128, help="size of every tensor in MiB")
    ap.add_argument("--dir", type=Path, default=Path("bench/data/memory"))
    ap.add_argument("--wcodec", type=Path, default=Path("target/release"))
    args = ap.parse_args()
    tensor_bytes = args.tensor_mb * MIB
    n = max(1, int(args.gb * 1e9) // tensor_bytes)
    args.dir.mkdir(parents=True, exist_ok=True)
    src = args.dir / f"synthetic_{n}x{args.tensor_mb}MiB.safetensors"
    enc = src.with_suffix(".wcodec")
    dec = args.dir / "decoded.safetensors"
    if not src.exists():
        build(src, n, tensor_bytes)
    encode = [str(args.wcodec / "wcodec-encode"), "-i", str(src), "-o", str(enc), "--force", "--quiet"]
    subprocess.run(encode, check=True)
    decode_cmd = [str(args.wcodec / "wcodec-decode"), "-i", str(enc), "-o", str(dec), "--force", "--quiet"]
    for threads in (1, 2):
        peak, secs = peak_rss_anon(
            [*decode_cmd, "--threads", str(threads)]
        )
        same = subprocess.run(["cmp", "-s", str(src), str(dec)]).returncode == 0
        limit = tensor_bytes + 64 * MIB
        print(
            f"decode {src.stat().st_size / 1e9:.2f} GB ({n} tensors of {args.tensor_mb} MiB), {threads} thread(s): "
            f"peak RssAnon {peak / MIB:.0f} MiB (limit largest tensor + 64 MiB = {limit / MIB:.0f} MiB), "
            f"{secs:.1f} s, output identical: {same}, within limit: {peak <= limit}"
        )
        dec.unlink()


if __name__ == "__main__":
    main()
