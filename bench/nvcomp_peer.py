#!/usr/bin/env python3
"""nvCOMP ANS on the same bytes as wcodec's GPU benchmark, for a side-by-side run on one card.

Concatenates the tensors of a safetensors file into one device buffer (BF16 files are handed to
nvCOMP as `<f2`, its typed mode for 2-byte floats, as docs/peers.md §1 does; others
as `|u1`), once as is (~21 MB, case "single") and tiled to ≥ --target-gib (case "tiled", the tiled
buffer compressed as a whole). Compression: `nvcomp.Codec(algorithm="ANS", data_type=...,
uncomp_chunk_size=--chunk-size)`, default 65536 (nvCOMP's own default, 64 KiB), NATIVE bitstream,
no checksums (nvCOMP's defaults). Every Codec runs on one torch CUDA stream (`cuda_stream=`), and
the CUDA events that time it are recorded on that stream. Two paths, one JSON line each:

* path "tuned" (nvCOMP's fastest Python path, docs/peers.md §1's method):
  `ccfg = codec.compression_config(nbytes)`, `comp = codec.encode(src, compression_config=ccfg)`,
  `dcfg = codec.decompression_config(ccfg)` (built once from the compression config: per nvCOMP
  6.0's docstring no header is parsed and decode is "fully sync-free"; `--dcfg header` builds it
  from the compressed buffer instead, which synchronises once at build time, never in decode), and
  `codec.decode(comp, out=out_arr, decompression_config=dcfg)` into a preallocated torch uint8
  tensor wrapped once with `nvcomp.as_array` ("out": "as_array"; the result's pointer is checked to
  be that tensor's, and should that check or the first decode fail, the torch tensor itself is
  passed as `out` instead: "out": "tensor").
  Timing: --runs decodes back to back, in batches of at most 32, each batch behind a
  `torch.cuda._sleep(--sleep-cycles)` so Python's per-call enqueue cost is hidden; ONE EVENT PAIR
  PER DECODE, `decode_ms` = median of the per-decode times. `decode_ms_b2b` = (last end − first
  start of each batch, summed) / runs, the same decodes as one stream of work.
  `launch_overhead_hidden` says whether every batch was fully enqueued before its sleep ended (if
  false, some decode was waiting on the host, e.g. a hidden synchronisation: times are then upper
  bounds). One line per --policy: nvCOMP's `ExecutionPolicy` CONCURRENCY (its default) and
  LATENCY; each policy has its own Codec and its own encode. `--skip-validate` passes the ANS
  option `skip_validate=True` (trusted input: no per-chunk header checks); off by default.
* path "plain" (the plain API, what an ordinary caller gets): `codec.encode(src)` and
  `codec.decode(comp)` with no config and no output, so each call configures itself
  (synchronises the stream to read the header) and nvCOMP allocates the output. One event pair
  per decode, no sleep (the sync inside decode would swallow it), median.

Losslessness, per path and policy: tuned fills the preallocated output with 0xFF, decodes, compares
bit for bit with the input, then fills it again before the timed decodes and compares after them.
Plain compares a fresh decode's output after the previous decode's output was filled with 0xFF and
freed (nvCOMP's pool most likely hands the same block back; a fresh output cannot be poisoned
beforehand), and the last timed decode's output. `identical` is true only if every check passed.
Three untimed warm-up decodes per path. Timed runs: --runs (single), max(10, runs // 3) (tiled).

    python bench/nvcomp_peer.py FILE.safetensors [--target-gib 1] [--runs 30] [--chunk-size 65536]
        [--path both|tuned|plain] [--policy both|concurrency|latency] [--dcfg compress|header]
        [--skip-validate] [--sleep-cycles 200000000]

Needs torch, safetensors and nvidia-nvcomp-cu13 (+ nvidia-libnvcomp-cu13) 6.0. JSON lines go to
stdout (keys: codec, nvcomp, file, case, path, chunk_size, policy, bytes, ratio, decode_ms,
decode_gb_s, identical, then tuned-only decode_ms_b2b, decode_gb_s_b2b, launch_overhead_hidden,
out, dcfg, skip_validate, and runs); progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import safetensors.torch
import torch
from nvidia import nvcomp

BATCH = 32  # decodes enqueued behind one sleep; far below the launch-queue depth
POLICIES = {"concurrency": nvcomp.ExecutionPolicy.CONCURRENCY, "latency": nvcomp.ExecutionPolicy.LATENCY}


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.view(torch.uint8).reshape(-1), b.view(torch.uint8).reshape(-1))


def data_ptr(x: object) -> int | None:
    """Device address of a decode result (an nvcomp.Array, a torch tensor, or None)."""
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    return x.__cuda_array_interface__["data"][0]


def make_codec(args: argparse.Namespace, data_type: str, stream: torch.cuda.Stream, policy: str) -> nvcomp.Codec:
    kwargs = {"algorithm": "ANS", "data_type": data_type, "uncomp_chunk_size": args.chunk_size,
              "cuda_stream": stream.cuda_stream, "execution_policy": POLICIES[policy]}
    if args.skip_validate:
        kwargs["skip_validate"] = True
    return nvcomp.Codec(**kwargs)


def summary(nbytes: int, comp_bytes: int, times: list[float], ok: bool) -> dict:
    t = statistics.median(times)
    return {"bytes": nbytes, "ratio": round(nbytes / comp_bytes, 4), "decode_ms": round(t * 1000, 4),
            "decode_gb_s": round(nbytes / t / 1e9, 1), "identical": ok}


def bench_tuned(args: argparse.Namespace, data: torch.Tensor, data_type: str, stream: torch.cuda.Stream,
                policy: str, runs: int) -> dict:
    nbytes = data.numel() * data.element_size()
    codec = make_codec(args, data_type, stream, policy)
    with torch.cuda.stream(stream):
        src = nvcomp.as_array(data, cuda_stream=stream.cuda_stream)
        ccfg = codec.compression_config(nbytes)
        comp = codec.encode(src, compression_config=ccfg)
        dcfg = codec.decompression_config(ccfg) if args.dcfg == "compress" else codec.decompression_config(comp)
        out = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
        # The output as an nvcomp.Array wrapped once; should nvCOMP not decode into that wrapper's memory,
        # fall back to handing it the torch tensor itself (an externally-allocated, fixed-size buffer).
        ok = False
        for out_kind, target in (("as_array", nvcomp.as_array(out, cuda_stream=stream.cuda_stream)), ("tensor", out)):
            out.fill_(0xFF)
            try:
                res = codec.decode(comp, out=target, decompression_config=dcfg)
                stream.synchronize()
            except Exception as e:  # report it and try the other output form
                log(f"  decode(out={out_kind}) failed: {e!r}")
                continue
            ptr = data_ptr(res)
            ok = ptr in (None, out.data_ptr()) and same_bytes(out, data)
            if ok:
                break
            log(f"  decode(out={out_kind}) left the preallocated output wrong (result at {ptr}, "
                f"out at {out.data_ptr()})")
        for _ in range(3):
            codec.decode(comp, out=target, decompression_config=dcfg)
        out.fill_(0xFF)
        times: list[float] = []
        b2b = 0.0
        hidden = True
        done = 0
        while done < runs:
            n = min(BATCH, runs - done)
            torch.cuda._sleep(args.sleep_cycles)
            slept = torch.cuda.Event()
            slept.record(stream)
            pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
            for start, end in pairs:
                start.record(stream)
                codec.decode(comp, out=target, decompression_config=dcfg)
                end.record(stream)
            hidden &= not slept.query()  # still sleeping once all n decodes are enqueued
            pairs[-1][1].synchronize()
            times += [s.elapsed_time(e) / 1000 for s, e in pairs]
            b2b += pairs[0][0].elapsed_time(pairs[-1][1]) / 1000
            done += n
        stream.synchronize()
        ok &= same_bytes(out, data)
    r = summary(nbytes, comp.buffer_size, times, ok)
    return {**r, "decode_ms_b2b": round(b2b / runs * 1000, 4), "decode_gb_s_b2b": round(nbytes * runs / b2b / 1e9, 1),
            "launch_overhead_hidden": hidden, "out": out_kind, "dcfg": args.dcfg, "skip_validate": args.skip_validate,
            "runs": runs}


def bench_plain(args: argparse.Namespace, data: torch.Tensor, data_type: str, stream: torch.cuda.Stream,
                runs: int) -> dict:
    nbytes = data.numel() * data.element_size()
    codec = make_codec(args, data_type, stream, "concurrency")
    with torch.cuda.stream(stream):
        comp = codec.encode(nvcomp.as_array(data, cuda_stream=stream.cuda_stream))
        first = torch.as_tensor(codec.decode(comp), device="cuda")
        stream.synchronize()
        ok = same_bytes(first, data)
        first.fill_(0xFF)
        stream.synchronize()
        del first
        again = torch.as_tensor(codec.decode(comp), device="cuda")
        stream.synchronize()
        ok &= same_bytes(again, data)
        del again
        for _ in range(3):
            codec.decode(comp)
        stream.synchronize()
        times = []
        res = None
        for _ in range(runs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            res = None  # free the previous output first, as a caller decoding tensor after tensor would
            start.record(stream)
            res = codec.decode(comp)
            end.record(stream)
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        ok &= same_bytes(torch.as_tensor(res, device="cuda"), data)
    return summary(nbytes, comp.buffer_size, times, ok)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--target-gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--chunk-size", type=int, default=65536, help="nvCOMP uncomp_chunk_size in bytes (default 65536)")
    ap.add_argument("--path", choices=["both", "tuned", "plain"], default="both")
    ap.add_argument("--policy", choices=["both", *POLICIES], default="both", help="tuned path's ExecutionPolicy")
    ap.add_argument("--dcfg", choices=["compress", "header"], default="compress",
                    help="build the tuned DecompressConfig from the CompressConfig or the compressed header")
    ap.add_argument("--skip-validate", action="store_true", help="ANS skip_validate=True (trusted input)")
    ap.add_argument("--sleep-cycles", type=int, default=200_000_000)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        log("no CUDA device")
        sys.exit(2)
    tensors = safetensors.torch.load_file(args.file)
    bf16 = all(t.dtype == torch.bfloat16 for t in tensors.values())
    flat = torch.cat([t.reshape(-1).view(torch.uint8) for t in tensors.values()]).cuda()
    data = flat.view(torch.int16) if bf16 else flat
    data_type = "<f2" if bf16 else "|u1"
    copies = max(1, -(-int(args.target_gib * (1 << 30)) // (data.numel() * data.element_size())))
    policies = list(POLICIES) if args.policy == "both" else [args.policy]
    stream = torch.cuda.Stream()
    torch.cuda.synchronize()
    log(f"{torch.cuda.get_device_name()}, nvCOMP {nvcomp.__version__}, torch {torch.__version__}, "
        f"{data.numel() * data.element_size()} B x {copies} copies tiled")
    for label in ("single", "tiled"):
        buf = data if label == "single" else data.repeat(copies)
        torch.cuda.synchronize()
        runs = args.runs if label == "single" else max(10, args.runs // 3)
        jobs = []
        if args.path in ("both", "tuned"):
            jobs += [("tuned", p) for p in policies]
        if args.path in ("both", "plain"):
            jobs.append(("plain", "concurrency"))
        for path, policy in jobs:
            log(f"{label} {path} {policy} ...")
            if path == "tuned":
                r = bench_tuned(args, buf, data_type, stream, policy, runs)
            else:
                r = bench_plain(args, buf, data_type, stream, runs)
            print(json.dumps({"codec": f"nvcomp-ans {data_type}", "nvcomp": nvcomp.__version__, "file": args.file,
                              "case": label, "path": path, "chunk_size": args.chunk_size, "policy": policy, **r}),
                  flush=True)
            torch.cuda.empty_cache()
        del buf


if __name__ == "__main__":
    main()
