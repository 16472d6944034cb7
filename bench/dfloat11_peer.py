#!/usr/bin/env python3
"""DFloat11 (pip `dfloat11==0.5.0`) on the same BF16 bytes as wcodec's GPU benchmark, on one card.

Encoding uses DFloat11's own encoder, the four functions `compress_model` calls for each module
(`get_codec` → `get_32bit_codec` → `get_luts` → `encode_weights`, with its constants
bytes_per_thread = 8, threads_per_block = 512); no nn.Module is needed because those functions take
a list of BF16 weights. Two encoded "units" are measured:
  * unit=file: all BF16 tensors of the file concatenated in file order, one Huffman code and one
    launch, as `compress_model` does for a pattern_dict entry grouping several Linear layers;
    this is the same ~21 MB buffer that nvcomp_peer.py and gpu_bench's "single" case decode;
  * unit=tensor: one unit per tensor, as `compress_model` does for a plain nn.Linear.
Compressed size = every buffer the package stores for a unit and its kernel reads: LUTs, encoded
exponents, sign+mantissa bytes, output positions (u32), gaps (packed 5-bit), split positions
(int64; empty for one tensor). Shapes and names are not counted (nvcomp_peer.py does not either).

Every unit is then decoded by a pure-numpy re-implementation of the kernel's reading rules (LUT
chain, per-thread gaps, per-block output positions) and compared bit for bit with the input, so
the encoder's output is validated without a GPU. With `--encode-only` the script stops there and
prints one JSON line per unit kind.

On the GPU it loads the package's bundled `decode.ptx` with cupy (`cp.RawModule(...)
.get_function("decode")`) and launches it exactly as the package's forward hook does: grid =
ceil(n_bytes / (512 * 8)), block = 512, dynamic shared memory = 512 * 4 + 4 + 2 * (largest
per-block element count), args = (luts, encoded_exponent, sign_mantissa, output_positions, gaps,
output, n_luts, n_bytes, n_elements). Cases, as in nvcomp_peer.py / gpu_bench:
  * single: the file once (~21 MB decoded); unit=file is 1 launch, unit=tensor 36 launches;
  * tiled: the file's units repeated to ≥ --target-gib (51 copies of 21.2 MB = 1.08 GB), each copy
    with its own compressed bytes on the device (so no copy is served from L2) and its own slice of
    the output; back-to-back launches, one per unit per copy (unit=file: 51, unit=tensor: 1836);
  * with --tiled-one-unit also unit=one-tiled-unit: the 51 copies encoded as ONE unit (one launch
    with a full grid, like nvcomp_peer.py's tiled buffer compressed as a whole); the pure-Python
    encoder needs about 3 minutes per GiB for it.
What is timed: the kernel launches of one case, between two CUDA events on the stream the kernels
run on, output preallocated (one BF16 buffer), compressed bytes resident on the device. Before the
start event a `torch.cuda._sleep(--sleep-cycles)` keeps the GPU busy while Python enqueues the
launches, so per-launch host overhead is hidden (docs/peers.md §1's method); `launch_overhead_hidden`
in the output says whether enqueueing finished before the sleep did (if not, the time may include
host launch gaps, or the launch queue was full because the GPU was the slower side: an upper bound).
Median of --runs (tiled: max(10, runs // 3)) after 3 warm-up rounds; the output is filled with 0xFF
once, decoded, and compared bit for bit with the input (and again after timing).

    python bench/dfloat11_peer.py FILE.safetensors [--target-gib 1] [--runs 30] [--units file,tensor]
                                  [--tiled-one-unit] [--sleep-cycles 200000000] [--encode-only]

Needs torch, numpy, safetensors, dahuffman==0.4.2 and the dfloat11 wheel (not imported as a
package: its __init__ pulls in transformers, accelerate, huggingface_hub and cupy, so only
dfloat11_utils.py and decode.ptx are loaded from its install directory; tqdm is stubbed, it only
draws progress bars); cupy for the GPU part. Exit status 2 when there is no CUDA device or cupy.
JSON lines go to stdout, progress and a summary to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import statistics
import sys
import time
import types
import warnings
from dataclasses import dataclass, field

import numpy as np
import safetensors.torch
import torch

THREADS_PER_BLOCK = 512  # dfloat11.py: threads_per_block = (512, )
BYTES_PER_THREAD = 8  # dfloat11.py: bytes_per_thread = 8
ALIGN = 256  # device offset of each buffer inside a packed copy


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# DFloat11's own encoder, loaded without the package's heavy __init__
# ---------------------------------------------------------------------------------------------


@dataclass
class DF11:
    utils: types.ModuleType
    pkg_dir: str
    version: str

    @property
    def ptx_path(self) -> str:
        return os.path.join(self.pkg_dir, "decode.ptx")


def load_dfloat11() -> DF11:
    spec = importlib.util.find_spec("dfloat11")  # locates the package without running __init__
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("dfloat11 is not installed (pip install --no-deps dfloat11==0.5.0 dahuffman==0.4.2)")
    pkg_dir = next(iter(spec.submodule_search_locations))
    with open(os.path.join(pkg_dir, "dfloat11.py"), encoding="utf-8") as f:
        src = f.read()
    m_ver = re.search(r"^version\s*=\s*'([^']+)'", src, re.M)
    m_bpt = re.search(r"^bytes_per_thread\s*=\s*(\d+)", src, re.M)
    m_tpb = re.search(r"^threads_per_block\s*=\s*\(\s*(\d+)\s*,\s*\)", src, re.M)
    if not (m_bpt and m_tpb) or (int(m_bpt.group(1)), int(m_tpb.group(1))) != (BYTES_PER_THREAD, THREADS_PER_BLOCK):
        raise SystemExit(f"{pkg_dir}/dfloat11.py no longer says bytes_per_thread = 8, threads_per_block = (512, )")
    stub = types.ModuleType("tqdm")
    stub.tqdm = lambda it, *a, **k: it  # type: ignore[attr-defined]
    saved = sys.modules.get("tqdm")
    sys.modules["tqdm"] = stub
    try:
        uspec = importlib.util.spec_from_file_location("_dfloat11_utils", os.path.join(pkg_dir, "dfloat11_utils.py"))
        assert uspec is not None and uspec.loader is not None
        utils = importlib.util.module_from_spec(uspec)
        uspec.loader.exec_module(utils)
    finally:
        if saved is None:
            del sys.modules["tqdm"]
        else:
            sys.modules["tqdm"] = saved
    return DF11(utils, pkg_dir, m_ver.group(1) if m_ver else "?")


@dataclass
class Unit:
    """One DFloat11-encoded group of weights: what `compress_model` registers as buffers."""

    name: str
    n_elements: int
    luts: np.ndarray  # uint8 (n_luts, 256); last row = code lengths
    encoded: np.ndarray  # uint8, Huffman-coded exponents
    sign_mantissa: np.ndarray  # uint8, one byte per element
    output_positions: np.ndarray  # uint32, first element index of each thread block (+ total)
    gaps: np.ndarray  # uint8, packed 5-bit bit offsets of each thread's first code
    split_positions: np.ndarray  # int64, element offsets where the group's tensors split
    max_lut_chain: int = 0
    code_lengths: dict = field(default_factory=dict)

    @property
    def compressed_bytes(self) -> int:
        return sum(a.nbytes for a in (self.luts, self.encoded, self.sign_mantissa, self.output_positions,
                                      self.gaps, self.split_positions))

    @property
    def n_bytes(self) -> int:
        return int(self.encoded.size)

    @property
    def n_blocks(self) -> int:
        return -(-self.n_bytes // (THREADS_PER_BLOCK * BYTES_PER_THREAD))

    @property
    def shared_mem(self) -> int:
        # as dfloat11.py: threads_per_block * 4 + 4 + max(diff(output_positions)) * 2
        op = self.output_positions.astype(np.int64)
        return THREADS_PER_BLOCK * 4 + 4 + int((op[1:] - op[:-1]).max()) * 2


def encode_unit(df: DF11, name: str, weights: list[torch.Tensor], verbose: bool) -> Unit:
    u = df.utils
    flat = [w.detach().cpu().reshape(-1) for w in weights]  # compress_model: weight.data.detach().cpu().flatten()
    chatter = io.StringIO()  # get_luts prints every LUT, encode_weights a percentage: keep stdout for JSON
    with contextlib.redirect_stdout(chatter), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        _codec, counter = u.get_codec(torch.cat(flat))
        codec, _, table = u.get_32bit_codec(counter)
        luts = u.get_luts(table)
        encoded, other_8bits, output_positions, gaps, split_positions = u.encode_weights(
            flat, codec, BYTES_PER_THREAD, THREADS_PER_BLOCK)
    if verbose:
        log(f"[{name}] dfloat11 says: {chatter.getvalue().strip().splitlines()[-1]}")
    lengths = {k: b for k, (b, _v) in table.items() if isinstance(k, int)}
    return Unit(
        name=name,
        n_elements=int(other_8bits.numel()),
        luts=luts.numpy().astype(np.uint8, copy=False),
        encoded=encoded.numpy().astype(np.uint8, copy=False),
        sign_mantissa=other_8bits.numpy().astype(np.uint8, copy=False),
        output_positions=output_positions.numpy().astype(np.uint32, copy=False),
        gaps=gaps.numpy().astype(np.uint8, copy=False),
        split_positions=split_positions.numpy().astype(np.int64, copy=False),
        code_lengths=lengths,
    )


# ---------------------------------------------------------------------------------------------
# CPU reference decoder of the format, following decode.ptx's reading rules (validation only)
# ---------------------------------------------------------------------------------------------


def _peek32(stream: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The 32 bits of `stream` (int64 array of bytes, MSB-first bit order) starting at bit `pos`."""
    i = pos >> 3
    w = (stream[i] << 32) | (stream[i + 1] << 24) | (stream[i + 2] << 16) | (stream[i + 3] << 8) | stream[i + 4]
    return (w >> (8 - (pos & 7))) & 0xFFFFFFFF


def reference_decode(unit: Unit) -> np.ndarray:
    """Decode a unit to uint16 (BF16 bits) the way the kernel does, failing where the kernel would misbehave.

    Thread t owns the codes that start in bits [64 t, 64 t + 64) of the exponent stream, the first at
    64 t + gap[t]; a code is read by indexing LUT 0 with the next byte, then, while the entry is ≥ 240,
    LUT (256 − entry) with the following byte (at most 4 bytes: codes are ≤ 32 bits); the last LUT row
    holds code lengths. Each block writes its threads' symbols from output_positions[block] on, in thread
    order, and stores elements [output_positions[block], output_positions[block + 1]) only.
    """
    luts = unit.luts.astype(np.int64)
    n_luts = luts.shape[0]
    blocks, tpb = unit.n_blocks, THREADS_PER_BLOCK
    n_threads = blocks * tpb
    op = unit.output_positions.astype(np.int64)
    if op.size < blocks + 1:
        raise ValueError(f"{unit.name}: {op.size} output positions for {blocks} blocks")
    t = np.arange(n_threads, dtype=np.int64)
    g = np.concatenate([unit.gaps, np.zeros(2, np.uint8)]).astype(np.int64)
    gap = (((g[t * 5 // 8] << 8) | g[t * 5 // 8 + 1]) >> (11 - (t * 5) % 8)) & 0x1F
    pad = n_threads * BYTES_PER_THREAD + 16 - unit.n_bytes
    stream = np.concatenate([unit.encoded, np.zeros(pad, np.uint8)]).astype(np.int64)
    base = t * 64
    pos = base + gap
    counts = np.zeros(n_threads, dtype=np.int64)
    steps: list[tuple[np.ndarray, np.ndarray]] = []
    active = t.copy()
    while active.size:
        p = pos[active]
        val = _peek32(stream, p)
        sym = luts[0, val >> 24]
        for shift in (16, 8, 0):
            chained = sym >= 240
            if not chained.any():
                break
            nxt = np.where(chained, 256 - sym, 0)
            if int(nxt.max()) >= n_luts - 1:
                raise ValueError(f"{unit.name}: LUT chain points past the last LUT")
            sym = np.where(chained, luts[nxt, (val >> shift) & 0xFF], sym)
            unit.max_lut_chain = max(unit.max_lut_chain, 4 - shift // 8 - 1)
        length = luts[n_luts - 1, sym]
        if (length == 0).any():
            raise ValueError(f"{unit.name}: a code of length 0 (the kernel would loop forever)")
        steps.append((active.astype(np.int32), sym.astype(np.uint8)))
        counts[active] += 1
        pos[active] = p + length
        active = active[pos[active] - base[active] < 64]
    per_block = counts.reshape(blocks, tpb)
    block_sum = per_block.sum(axis=1)
    want = op[1:blocks + 1] - op[:blocks]
    bad = np.nonzero(block_sum[:-1] != want[:-1])[0]
    if bad.size or block_sum[-1] < want[-1]:
        raise ValueError(f"{unit.name}: per-block symbol counts disagree with output_positions (blocks {bad[:5]})")
    start = (op[:blocks, None] + np.cumsum(per_block, axis=1) - per_block).reshape(-1)
    n = unit.n_elements
    exps = np.full(n, -1, dtype=np.int64)
    for k, (act, sym) in enumerate(steps):
        idx = start[act] + k
        keep = (idx < n) & (idx < op[act // tpb + 1])
        exps[idx[keep]] = sym[keep]
    if (exps < 0).any():
        raise ValueError(f"{unit.name}: {int((exps < 0).sum())} elements never written")
    sm = unit.sign_mantissa.astype(np.int64)
    return (((sm & 0x80) << 8) | ((exps & 0xFF) << 7) | (sm & 0x7F)).astype(np.uint16)


# ---------------------------------------------------------------------------------------------
# GPU: the package's kernel, launched as its forward hook launches it
# ---------------------------------------------------------------------------------------------

_BUFFERS = ("luts", "encoded", "sign_mantissa", "output_positions", "gaps")


def pack(units: list[Unit]) -> tuple[np.ndarray, list[dict[str, int]]]:
    """All kernel inputs of `units` in one byte blob (each buffer 256-byte aligned) and their offsets."""
    offsets, parts, at = [], [], 0
    for u in units:
        off = {}
        for name in _BUFFERS:
            raw = np.ascontiguousarray(getattr(u, name)).view(np.uint8).reshape(-1)
            off[name] = at
            parts.append(raw)
            padded = -(-raw.size // ALIGN) * ALIGN
            if padded > raw.size:
                parts.append(np.zeros(padded - raw.size, np.uint8))
            at += padded
        offsets.append(off)
    return np.concatenate(parts), offsets


class GpuCase:
    def __init__(self, fn, units: list[Unit], out_offsets: list[int], n_total: int, copies: int,
                 device: str = "cuda"):
        blob, offs = pack(units)
        self.copies, self.n_total = copies, n_total
        self.dev = torch.empty(copies * blob.size, dtype=torch.uint8, device=device)
        src = torch.from_numpy(blob).to(device)
        for c in range(copies):  # every copy has its own compressed bytes on the device
            self.dev[c * blob.size:(c + 1) * blob.size].copy_(src)
        del src
        self.out = torch.empty(copies * n_total, dtype=torch.bfloat16, device=device)
        self.fn = fn
        self.launches = []
        dbase, obase = self.dev.data_ptr(), self.out.data_ptr()
        for c in range(copies):
            for u, off, o in zip(units, offs, out_offsets):
                ptr = {k: dbase + c * blob.size + v for k, v in off.items()}
                args = [ptr["luts"], ptr["encoded"], ptr["sign_mantissa"], ptr["output_positions"], ptr["gaps"],
                        obase + 2 * (c * n_total + o), int(u.luts.shape[0]), u.n_bytes, u.n_elements]
                self.launches.append(((u.n_blocks,), u.shared_mem, args))

    def launch_all(self) -> None:
        fn, block = self.fn, (THREADS_PER_BLOCK,)
        for grid, smem, args in self.launches:
            fn(grid=grid, block=block, shared_mem=smem, args=args)

    def identical(self, ref16: torch.Tensor) -> bool:
        out16 = self.out.view(torch.int16)
        return all(torch.equal(out16[c * self.n_total:(c + 1) * self.n_total], ref16) for c in range(self.copies))


def time_case(case: GpuCase, runs: int, sleep_cycles: int) -> tuple[float, bool]:
    for _ in range(3):
        case.launch_all()
    torch.cuda.synchronize()
    times, hidden = [], True
    for _ in range(runs):
        pre = torch.cuda.Event(enable_timing=True)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        pre.record()
        if sleep_cycles:
            torch.cuda._sleep(sleep_cycles)
        start.record()
        t0 = time.perf_counter()
        case.launch_all()
        host_s = time.perf_counter() - t0
        end.record()
        end.synchronize()
        hidden = hidden and sleep_cycles > 0 and host_s < pre.elapsed_time(start) / 1000
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times), hidden


def require_gpu() -> types.ModuleType:
    try:
        import cupy as cp
    except Exception as e:  # ImportError, or a CUDA library cupy cannot load
        log(f"cupy is not usable here ({type(e).__name__}: {e}); the GPU part needs cupy and a CUDA device")
        sys.exit(2)
    if not torch.cuda.is_available():
        log("no CUDA device visible to torch; the GPU part cannot run")
        sys.exit(2)
    return cp


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--target-gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--units", default="file,tensor", help="which encodings to measure: file, tensor or both")
    ap.add_argument("--sleep-cycles", type=int, default=200_000_000,
                    help="GPU spin before each timed run so launches are queued ahead (0: off)")
    ap.add_argument("--encode-only", action="store_true", help="CPU part only: encode, validate, report sizes")
    ap.add_argument("--tiled-one-unit", action="store_true",
                    help="also encode the tiled data as ONE unit (one launch; slow: pure-Python encoder, ~3 min/GiB)")
    ap.add_argument("--skip-reference", action="store_true", help="skip the numpy reference decode")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    kinds = [k for k in args.units.split(",") if k]
    if not kinds or any(k not in ("file", "tensor") for k in kinds):
        ap.error("--units takes file, tensor or file,tensor")

    df = load_dfloat11()
    tensors = safetensors.torch.load_file(args.file)
    names = [k for k, v in tensors.items() if v.dtype == torch.bfloat16]
    skipped = len(tensors) - len(names)
    if not names:
        raise SystemExit(f"{args.file}: no BF16 tensors")
    weights = [tensors[k] for k in names]
    sizes = [w.numel() for w in weights]
    n_total = sum(sizes)
    nbytes = 2 * n_total
    original = torch.cat([w.reshape(-1) for w in weights]).view(torch.int16)
    note = f" ({skipped} non-BF16 tensors skipped)" if skipped else ""
    log(f"{args.file}: {len(names)} BF16 tensors, {nbytes:,} bytes{note}")
    log(f"dfloat11 {df.version} from {df.pkg_dir} (its dfloat11_utils encoder, its decode.ptx)")

    encodings: dict[str, tuple[list[Unit], list[int], float]] = {}
    for kind in kinds:
        t0 = time.perf_counter()
        if kind == "file":
            units = [encode_unit(df, "file", weights, args.verbose)]
            out_offsets = [0]
        else:
            units = [encode_unit(df, k, [w], args.verbose) for k, w in zip(names, weights)]
            out_offsets = list(np.cumsum([0, *sizes[:-1]]).tolist())
        enc_s = time.perf_counter() - t0
        encodings[kind] = (units, out_offsets, enc_s)
        comp = sum(u.compressed_bytes for u in units)
        parts = {b: sum(getattr(u, b).nbytes for u in units) for b in (*_BUFFERS, "split_positions")}
        log(f"unit={kind}: {len(units)} unit(s), {comp:,} bytes, ratio {nbytes / comp:.4f}, "
            f"encode {enc_s:.1f} s = {nbytes / enc_s / 1e6:.2f} MB/s (one CPU thread, pure Python)")
        log("   " + ", ".join(f"{k} {v:,}" for k, v in parts.items()))
        log(f"   shared memory per launch up to {max(u.shared_mem for u in units):,} B; "
            f"max code length {max(max(u.code_lengths.values()) for u in units)} bits")
        if not args.skip_reference:
            t0 = time.perf_counter()
            dec = np.concatenate([reference_decode(u) for u in units])
            same = np.array_equal(dec.view(np.int16), original.numpy())
            log(f"   numpy reference decode (kernel's rules): {'bit-exact' if same else 'MISMATCH'} "
                f"in {time.perf_counter() - t0:.1f} s; LUT chain depth used ≤ {max(u.max_lut_chain for u in units)}")
            if not same:
                raise SystemExit(f"unit={kind}: DFloat11's encoded form does not decode back to the input")
        if args.encode_only:
            print(json.dumps({"codec": f"dfloat11 unit={kind}", "dfloat11": df.version, "file": args.file,
                              "case": "encode", "unit": kind, "units": len(units), "bytes": nbytes,
                              "compressed_bytes": comp, "ratio": round(nbytes / comp, 4),
                              "encode_s": round(enc_s, 2), "encode_mb_s": round(nbytes / enc_s / 1e6, 2),
                              "reference_decode_identical": None if args.skip_reference else True}), flush=True)
    if not args.encode_only:
        cp = require_gpu()
    copies = max(1, -(-int(args.target_gib * (1 << 30)) // nbytes))
    big = None
    if args.tiled_one_unit:
        # one DFloat11 unit over all copies (what compress_model makes of a ≥ 1 GiB group): one launch
        log(f"encoding {copies} copies as one unit with dfloat11's encoder (≈ {copies * nbytes / 5e6:.0f} s) ...")
        t0 = time.perf_counter()
        big = encode_unit(df, "one-tiled-unit", weights * copies, args.verbose)
        enc_s = time.perf_counter() - t0
        log(f"unit=one-tiled-unit: {big.compressed_bytes:,} bytes, ratio {copies * nbytes / big.compressed_bytes:.4f}, "
            f"encode {enc_s:.0f} s = {copies * nbytes / enc_s / 1e6:.2f} MB/s; shared memory {big.shared_mem:,} B")
        if args.encode_only:
            print(json.dumps({"codec": "dfloat11 unit=one-tiled-unit", "dfloat11": df.version, "file": args.file,
                              "case": "encode", "unit": "one-tiled-unit", "units": 1, "bytes": copies * nbytes,
                              "compressed_bytes": big.compressed_bytes,
                              "ratio": round(copies * nbytes / big.compressed_bytes, 4), "encode_s": round(enc_s, 2),
                              "encode_mb_s": round(copies * nbytes / enc_s / 1e6, 2),
                              "reference_decode_identical": None}), flush=True)
    if args.encode_only:
        return

    dev = torch.cuda.current_device()
    log(f"device: {torch.cuda.get_device_name(dev)}; torch {torch.__version__}, cupy {cp.__version__}")
    # The package's exact load: cp.RawModule(path=<pkg>/decode.ptx).get_function('decode'); the driver
    # JIT-compiles the PTX (.target sm_52) for this card when the module is loaded.
    with cp.cuda.Device(dev):
        fn = cp.RawModule(path=df.ptx_path).get_function("decode")
    ref16 = original.cuda()
    # torch's current stream (the legacy default stream unless changed) is the stream cupy launches on,
    # as in the package, where both are the default stream.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # cupy ≥ 14 prefers Stream.from_external
        stream = cp.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)
    plan = []  # (unit label, case, units, output offsets, elements per copy, copies, runs)
    tiled_runs = max(10, args.runs // 3)
    for kind in kinds:
        units, out_offsets, _ = encodings[kind]
        plan.append((kind, "single", units, out_offsets, n_total, 1, args.runs))
        plan.append((kind, "tiled", units, out_offsets, n_total, copies, tiled_runs))
    if big is not None:
        plan.append(("one-tiled-unit", "tiled", [big], [0], n_total * copies, 1, tiled_runs))
    for kind, label, units, out_offsets, n_elems, n_copies, runs in plan:
        comp = sum(u.compressed_bytes for u in units)
        smem = max(u.shared_mem for u in units)
        if smem > 48 * 1024:
            # the package does not do this; without it such a launch fails (above the default 48 KiB)
            log(f"unit={kind}: {smem} B of shared memory > 48 KiB: raising the kernel's limit (not in the package)")
            cp.cuda.driver.funcSetAttribute(fn.ptr, cp.cuda.driver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                            smem)
        ref = ref16 if n_elems == n_total else ref16.repeat(n_elems // n_total)
        with cp.cuda.Device(dev), stream:
            case = GpuCase(fn, units, out_offsets, n_elems, n_copies)
            case.out.view(torch.uint8).fill_(0xFF)
            case.launch_all()
            torch.cuda.synchronize()
            ok = case.identical(ref)
            t, hidden = time_case(case, runs, args.sleep_cycles)
            ok = ok and case.identical(ref)
        size = 2 * n_elems * n_copies
        ratio = size / (comp * n_copies)
        row = {"codec": f"dfloat11 unit={kind}", "dfloat11": df.version, "file": args.file, "case": label,
               "unit": kind, "launches": len(case.launches), "bytes": size,
               "compressed_bytes": comp * n_copies, "ratio": round(ratio, 4),
               "decode_ms": round(t * 1000, 3), "decode_gb_s": round(size / t / 1e9, 1), "runs": runs,
               "identical": ok, "sleep_cycles": args.sleep_cycles, "launch_overhead_hidden": hidden}
        print(json.dumps(row), flush=True)
        log(f"{label:6s} unit={kind:14s} {len(case.launches):5d} launches {size / 1e6:9.2f} MB  ratio "
            f"{ratio:.4f}  {t * 1000:8.3f} ms = {size / t / 1e9:7.1f} GB/s  "
            f"{'bit-exact' if ok else 'MISMATCH'}{'' if hidden else '  (host launch time NOT hidden)'}")
        del case, ref
        torch.cuda.empty_cache()

if __name__ == "__main__":
    main()
