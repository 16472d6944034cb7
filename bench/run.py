#!/usr/bin/env python3
"""Side-by-side CPU benchmark: wcodec vs zstd -3, zstd -19, lz4, ZipNN.

For every test file (bench/make_testset.py) and codec it measures:
  * size as % of the original and percentage points above the plane bound
    (bench/planes.py);
  * single-thread encode/decode MB/s (10^6 original bytes/s, median of N reps,
    process pinned to one core, thread knobs at their single-thread setting);
  * all-thread encode/decode MB/s where the codec really has a thread knob.
Every round trip is verified byte-exact.

wcodec is driven through its CLI (`wcodec bench FILE --threads N --repeat R
--json`), which times itself in-process. If the binary is missing the peers
still run and wcodec is reported as "not built".

Writes docs/benchmarks.md (only the block between the bench:cpu markers) and
bench/results/cpu-latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lz4
import lz4.frame
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))
import planes
import stfile
from make_testset import ALL_FILES

REPO = Path(__file__).resolve().parent.parent


def shown(path: Path) -> str:
    """``path`` as reports print it: relative to the repository (or just its name), never this
    machine's absolute path."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return path.name
MARK_START = "<!-- bench:cpu:start -->"
MARK_END = "<!-- bench:cpu:end -->"
QUICK_LIMIT = 50_000_000  # --quick skips zstd -19 above this many bytes
BIG_FILE = 64_000_000  # default reps: 5 below, 3 above (as docs/peers.md §2)
PEERS = ["zstd-3", "zstd-19", "lz4", "zipnn"]
CODECS = ["wcodec", *PEERS]

# ZipNN byte-mode dtype names. It has no integer path: its safetensors script
# stores I8/U8 raw. We route every 1-byte or integer tensor (and a whole GGUF)
# through its FP8 path instead, i.e. byte histogram + Huffman (docs/peers.md §2.2).
ZIPNN_DTYPE = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F8_E5M2": "float8_e5m2"}
ZIPNN_BYTE_PATH = "float8_e4m3fn"


# ---------------------------------------------------------------- results
@dataclass
class Result:
    codec: str
    status: str = "ok"  # ok | skipped | not built | error
    note: str = ""
    size: int | None = None
    enc_1t: float | None = None  # MB/s
    dec_1t: float | None = None
    threads_mt: int | None = None
    enc_mt: float | None = None
    dec_mt: float | None = None
    size_mt: int | None = None  # zstd's multi-threaded frames differ slightly
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileReport:
    name: str
    original_bytes: int
    bound_bytes: float
    h0_byte_bytes: float
    n_tensors: int
    bound_note: str
    reps: int
    results: list[Result] = field(default_factory=list)

    def pct(self, n: float) -> float:
        return 100.0 * n / self.original_bytes


# ---------------------------------------------------------------- CPU pinning
@contextlib.contextmanager
def pinned(cores: set[int]) -> Iterator[None]:
    """Restrict this process (and children it starts, e.g. wcodec) to `cores`."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


# ---------------------------------------------------------------- in-process codecs
class Codec:
    """A peer timed in-process. prepare/restore run outside the timer."""

    name = ""
    mt_encode = False  # has a real thread knob for encoding
    mt_decode = False
    note = ""

    def prepare(self, data: bytes) -> Any:
        return data

    def compress(self, inp: Any, threads: int) -> Any:
        raise NotImplementedError

    def decompress(self, comp: Any, threads: int) -> Any:
        raise NotImplementedError

    def size(self, comp: Any) -> int:
        return len(comp)

    def restore(self, out: Any) -> bytes:
        return out


class Zstd(Codec):
    mt_encode = True  # libzstd can compress with worker threads; decoding is single-threaded

    def __init__(self, level: int) -> None:
        self.level = level
        self.name = f"zstd-{level}"

    def compress(self, inp: bytes, threads: int) -> bytes:
        # threads=0 is python-zstandard's true single-thread mode (1 would add a worker thread).
        return zstandard.ZstdCompressor(level=self.level, threads=0 if threads == 1 else threads).compress(inp)

    def decompress(self, comp: bytes, threads: int) -> bytes:
        return zstandard.ZstdDecompressor().decompress(comp)


class Lz4(Codec):
    name = "lz4"

    def compress(self, inp: bytes, threads: int) -> bytes:
        return lz4.frame.compress(inp)  # default: fast level 0, one-shot frame

    def decompress(self, comp: bytes, threads: int) -> bytes:
        return lz4.frame.decompress(comp)


@dataclass
class Segment:
    raw: bool  # stored as is (safetensors header)
    dtype: str  # ZipNN byte-mode dtype
    data: bytes


class ZipNN(Codec):
    """Per tensor with the tensor's dtype (as its safetensors script does), header raw."""

    name = "zipnn"
    mt_encode = True
    mt_decode = True

    def __init__(self, path: Path) -> None:
        warnings.filterwarnings("ignore")
        from zipnn import ZipNN as _ZipNN  # heavy (imports torch): load only when used

        self._cls = _ZipNN
        self._instances: dict[tuple[str, int], Any] = {}
        self.layout = self._layout(path)
        byte_path = sorted({d for d, z in self._dtypes(path) if z == ZIPNN_BYTE_PATH})
        self.note = f"{', '.join(byte_path)} via its 1-byte (FP8) Huffman path" if byte_path else ""

    @staticmethod
    def _dtypes(path: Path) -> list[tuple[str, str]]:
        if planes.is_gguf(path):
            return [("GGUF", ZIPNN_BYTE_PATH)]
        return [(t.dtype, ZIPNN_DTYPE.get(t.dtype, ZIPNN_BYTE_PATH)) for t in stfile.read_header(path)[1]]

    @staticmethod
    def _layout(path: Path) -> list[tuple[int, int, str | None]]:
        """(begin, end, zipnn dtype or None for raw) covering the whole file."""
        if planes.is_gguf(path):
            return [(0, path.stat().st_size, ZIPNN_BYTE_PATH)]
        header, infos = stfile.read_header(path)
        return [(0, header, None)] + [(t.begin, t.end, ZIPNN_DTYPE.get(t.dtype, ZIPNN_BYTE_PATH)) for t in infos]

    def _zipnn(self, dtype: str, threads: int) -> Any:
        key = (dtype, threads)
        if key not in self._instances:
            self._instances[key] = self._cls(
                method="HUFFMAN", input_format="byte", bytearray_dtype=dtype, threads=threads
            )
        return self._instances[key]

    def prepare(self, data: bytes) -> list[tuple[str | None, bytearray]]:
        # zipnn 0.5.4 byte mode rewrites its input in place: hand it fresh copies every rep.
        return [(d, bytearray(data[b:e])) for b, e, d in self.layout]

    def compress(self, inp: list[tuple[str | None, bytearray]], threads: int) -> list[Segment]:
        out = []
        for dtype, buf in inp:
            if dtype is None or not buf:
                out.append(Segment(True, "", bytes(buf)))
            else:
                out.append(Segment(False, dtype, self._zipnn(dtype, threads).compress(buf)))
        return out

    def decompress(self, comp: list[Segment], threads: int) -> list[bytes]:
        return [s.data if s.raw else self._zipnn(s.dtype, threads).decompress(s.data) for s in comp]

    def size(self, comp: list[Segment]) -> int:
        return sum(len(s.data) for s in comp)

    def restore(self, out: list[bytes]) -> bytes:
        return b"".join(bytes(x) for x in out)


# ---------------------------------------------------------------- timing
def mb_s(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds if seconds > 0 else float("inf")


def time_codec(codec: Codec, data: bytes, reps: int, threads: int) -> tuple[int, float, float]:
    """Median encode/decode MB/s over reps; every round trip checked byte-exact."""
    enc, dec, size = [], [], -1
    for _ in range(reps):
        inp = codec.prepare(data)
        t0 = time.perf_counter()
        comp = codec.compress(inp, threads)
        t1 = time.perf_counter()
        out = codec.decompress(comp, threads)
        t2 = time.perf_counter()
        if codec.restore(out) != data:
            raise RuntimeError(f"{codec.name}: round trip is not byte-exact")
        size = codec.size(comp)
        enc.append(t1 - t0)
        dec.append(t2 - t1)
        del inp, comp, out
    return size, mb_s(len(data), statistics.median(enc)), mb_s(len(data), statistics.median(dec))


def run_peer(codec: Codec, data: bytes, reps: int, one_core: set[int], all_threads: int) -> Result:
    r = Result(codec.name, note=codec.note)
    with pinned(one_core):
        r.size, r.enc_1t, r.dec_1t = time_codec(codec, data, reps, threads=1)
    if codec.mt_encode or codec.mt_decode:
        size_mt, enc_mt, dec_mt = time_codec(codec, data, reps, threads=all_threads)
        r.threads_mt = all_threads
        r.enc_mt = enc_mt if codec.mt_encode else None
        r.dec_mt = dec_mt if codec.mt_decode else None
        r.size_mt = size_mt
    return r


# ---------------------------------------------------------------- wcodec (CLI)
def wcodec_bench(binary: Path, path: Path, threads: int, reps: int) -> dict[str, Any]:
    cmd = [str(binary), "bench", str(path), "--threads", str(threads), "--repeat", str(reps), "--json"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        shown_cmd = shlex.join([shown(binary), *cmd[1:2], shown(path), *cmd[3:]])
        raise RuntimeError(f"{shown_cmd} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    if doc.get("roundtrip_ok") is not True:
        raise RuntimeError(f"wcodec round trip failed on {path.name}")
    return doc


def run_wcodec(binary: Path, path: Path, reps: int, one_core: set[int], all_threads: int) -> Result:
    if not binary.is_file():
        return Result("wcodec", status="not built", note=f"{shown(binary)} not found")
    try:
        with pinned(one_core):  # the child inherits the affinity
            st = wcodec_bench(binary, path, 1, reps)
        mt = wcodec_bench(binary, path, all_threads, reps)
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as e:
        return Result("wcodec", status="error", note=str(e))
    return Result(
        "wcodec",
        size=int(st["encoded_bytes"]),
        enc_1t=float(st["encode_mb_s"]),
        dec_1t=float(st["decode_mb_s"]),
        threads_mt=int(mt["threads"]),
        enc_mt=float(mt["encode_mb_s"]),
        dec_mt=float(mt["decode_mb_s"]),
        size_mt=int(mt["encoded_bytes"]),
        extra={"bound_bytes": int(st["bound_bytes"]), "original_bytes": int(st["original_bytes"])},
    )


# ---------------------------------------------------------------- per file
def make_peer(name: str, path: Path) -> Codec:
    factories: dict[str, Callable[[], Codec]] = {
        "zstd-3": lambda: Zstd(3),
        "zstd-19": lambda: Zstd(19),
        "lz4": Lz4,
        "zipnn": lambda: ZipNN(path),
    }
    return factories[name]()


def bench_file(path: Path, args: argparse.Namespace, one_core: set[int], all_threads: int) -> FileReport:
    bound = planes.file_bound(path)
    size = path.stat().st_size
    reps = args.reps or (5 if size < BIG_FILE else 3)
    rep = FileReport(path.name, size, bound.bound_bytes, bound.h0_byte_bytes, len(bound.tensors), bound.note, reps)
    log(f"{path.name}: {size / 1e6:.1f} MB, plane bound {rep.pct(bound.bound_bytes):.2f}%, {reps} reps")
    if "wcodec" in args.codecs:
        rep.results.append(run_wcodec(args.wcodec, path, reps, one_core, all_threads))
        log(f"  wcodec: {describe(rep, rep.results[-1])}")
    data = path.read_bytes()
    for name in [c for c in PEERS if c in args.codecs]:
        if name == "zstd-19" and args.quick and size > QUICK_LIMIT:
            rep.results.append(Result(name, status="skipped", note="--quick: file over 50 MB"))
        else:
            try:
                rep.results.append(run_peer(make_peer(name, path), data, reps, one_core, all_threads))
            except RuntimeError as e:  # a failed round trip is a result, not a crash
                rep.results.append(Result(name, status="error", note=str(e)))
        log(f"  {name}: {describe(rep, rep.results[-1])}")
    return rep


def describe(rep: FileReport, r: Result) -> str:
    if r.status != "ok" or r.size is None:
        return f"{r.status} {r.note}".strip()
    text = (
        f"{rep.pct(r.size):.2f}% ({rep.pct(r.size) - rep.pct(rep.bound_bytes):+.2f} pp vs bound) "
        f"1T {fmt(r.enc_1t)} / {fmt(r.dec_1t)} MB/s"
    )
    return text + (f", {r.threads_mt}T {fmt(r.enc_mt)} / {fmt(r.dec_mt)} MB/s" if r.threads_mt else "")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- environment
def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def git_commit() -> str:
    def git(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *a], cwd=REPO, check=False, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "uncommitted (no commits yet)"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return "uncommitted" + f" (on {head.stdout.strip()})" if dirty else head.stdout.strip()


def wcodec_version(binary: Path) -> str:
    if not binary.is_file():
        return "not built"
    p = subprocess.run([str(binary), "--version"], check=False, capture_output=True, text=True)
    return p.stdout.strip().removeprefix("wcodec ").strip() or "unknown"


def environment(args: argparse.Namespace, all_threads: int) -> dict[str, Any]:
    v = importlib.metadata.version
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": all_threads,
        "ram_gib": round(ram_gib(), 1),
        "kernel": platform.release(),
        # A busy shared VM (e.g. a cargo build next door) skews every MB/s figure; record it.
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "commit": git_commit(),
        "command": shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "versions": {
            "wcodec": wcodec_version(args.wcodec),
            "python": platform.python_version(),
            "zstandard": f"{zstandard.__version__} (libzstd {'.'.join(map(str, zstandard.ZSTD_VERSION))})",
            "lz4": f"{lz4.__version__} (liblz4 {lz4.library_version_string()})",
            "zipnn": v("zipnn"),
            "numpy": v("numpy"),
        },
    }


# ---------------------------------------------------------------- report
def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def size_cell(rep: FileReport, r: Result) -> str:
    if r.status != "ok" or r.size is None:
        return r.status
    pct = rep.pct(r.size)
    return f"{pct:.2f}% ({pct - rep.pct(rep.bound_bytes):+.2f})"


def speed_cell(enc: float | None, dec: float | None) -> str:
    return f"{fmt(enc)} / {fmt(dec)}" if enc is not None or dec is not None else "—"


def markdown(reports: list[FileReport], env: dict[str, Any], codecs: list[str]) -> str:
    vers = env["versions"]
    machine = (
        f"{env['cpu']}, {env['cores']} cores usable, {env['ram_gib']} GiB RAM, Linux {env['kernel']}, "
        f"load average {env['load_avg_1m']} at start"
    )
    lines = [
        MARK_START,
        "## CPU: wcodec vs peers",
        "",
        f"- **Date:** {env['date']}",
        f"- **Machine:** {machine}",
        f"- **Commit:** {env['commit']}",
        f"- **Command:** `{env['command']}`",
        "- **Versions:** " + ", ".join(f"{k} {val}" for k, val in vers.items()),
        "",
        "**Size**: % of the original (lower is better), in brackets the percentage points above the",
        "order-0 plane bound (`bench/planes.py`; safetensors header counted raw; a GGUF file is one U8 plane).",
        "**Speed**: encode / decode MB/s = 10⁶ original bytes per second, median of the reps shown;",
        "every round trip verified byte-exact. 1 thread = process pinned to one core, thread knobs at 1.",
        "",
        "| file | orig MB | reps | H0 byte | plane bound | " + " | ".join(codecs) + " |",
        "|---|---|---|---|---|" + "---|" * len(codecs),
    ]
    for rep in reports:
        by = {r.codec: r for r in rep.results}
        cells = [size_cell(rep, by[c]) if c in by else "—" for c in codecs]
        lines.append(
            f"| {rep.name} | {rep.original_bytes / 1e6:.1f} | {rep.reps} | {rep.pct(rep.h0_byte_bytes):.2f}% "
            f"| {rep.pct(rep.bound_bytes):.2f}% | " + " | ".join(cells) + " |"
        )
    lines += ["", "**Speed, 1 thread** (encode / decode MB/s)", ""]
    lines += speed_table(reports, codecs, lambda r: speed_cell(r.enc_1t, r.dec_1t))
    lines += ["", f"**Speed, all threads** (encode / decode MB/s, {env['cores']} threads; — = no thread knob)", ""]
    lines += speed_table(reports, codecs, lambda r: speed_cell(r.enc_mt, r.dec_mt) if r.threads_mt else "—")
    lines += ["", "**Notes**", "", *notes(reports), "", MARK_END]
    return "\n".join(lines) + "\n"


def speed_table(reports: list[FileReport], codecs: list[str], cell: Callable[[Result], str]) -> list[str]:
    rows = ["| file | " + " | ".join(codecs) + " |", "|---|" + "---|" * len(codecs)]
    for rep in reports:
        by = {r.codec: r for r in rep.results}
        vals = [cell(by[c]) if c in by and by[c].status == "ok" else (by[c].status if c in by else "—") for c in codecs]
        rows.append(f"| {rep.name} | " + " | ".join(vals) + " |")
    return rows


def notes(reports: list[FileReport]) -> list[str]:
    out = [
        (
            "- zstd: one-shot frames; the all-thread column is libzstd's multi-threaded compression "
            "(libzstd decompression is single-threaded, hence — in the decode cell)."
        ),
        "- lz4: `lz4.frame` default (fast, level 0); no thread knob.",
        (
            "- ZipNN (method HUFFMAN) runs per tensor with the tensor's dtype, header stored raw; "
            "it has no integer path, so I8/U8/I64 tensors and whole GGUF files go through its 1-byte (FP8) "
            "Huffman path (not its official behaviour, which stores them raw). Inputs are copied before each "
            "call because zipnn 0.5.4 rewrites its input in place."
        ),
    ]
    seen: set[str] = set()
    for rep in reports:
        if rep.bound_note and rep.bound_note not in seen:
            seen.add(rep.bound_note)
            out.append(f"- {rep.name}: {rep.bound_note}.")
        for r in rep.results:
            if r.status in ("skipped", "error"):
                out.append(f"- {rep.name}, {r.codec}: {r.status}: {r.note}")
            if r.codec == "wcodec" and "bound_bytes" in r.extra:
                diff = r.extra["bound_bytes"] - rep.bound_bytes
                out.append(
                    f"- {rep.name}: wcodec bound − planes.py bound = {diff:+,.0f} B "
                    f"({diff / max(rep.n_tensors, 1):+.1f} B per tensor)."
                )
    if any(r.status == "not built" for rep in reports for r in rep.results):
        out.append("- wcodec: not built (no binary at the given --wcodec path); peers only.")
    return out


def write_markdown(path: Path, block: str) -> None:
    """Replace only the bench:cpu block, keeping the rest of the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else "# wcodec benchmarks\n\n"
    if MARK_START in old and MARK_END in old:
        head, rest = old.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1].lstrip("\n")
        new = head + block + tail
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)


def cross_check(reports: list[FileReport]) -> None:
    for rep in reports:
        for r in rep.results:
            if r.codec == "wcodec" and "bound_bytes" in r.extra:
                diff = r.extra["bound_bytes"] - rep.bound_bytes
                print(
                    f"cross-check {rep.name}: wcodec bound {r.extra['bound_bytes']:,d} B, planes.py "
                    f"{rep.bound_bytes:,.0f} B, diff {diff:+,.0f} B ({diff / max(rep.n_tensors, 1):+.1f} B/tensor)"
                )


# ---------------------------------------------------------------- main
def select_files(data: Path, filters: list[str]) -> list[Path]:
    # docs/peers.md §2.3 order first, any extra files after it
    rank = {name: i for i, name in enumerate(ALL_FILES)}
    files = [p for p in data.iterdir() if p.suffix in (".safetensors", ".gguf")]
    files.sort(key=lambda p: (rank.get(p.name, len(rank)), p.name))
    if filters:
        files = [p for p in files if any(f in p.name for f in filters)]
    if not files:
        sys.exit(f"no test files in {data} (run bench/make_testset.py --out {data})")
    return files


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO / "bench" / "data")
    ap.add_argument("--wcodec", type=Path, default=REPO / "target" / "release" / "wcodec")
    ap.add_argument("--files", default="", help="comma-separated substrings of file names to keep")
    ap.add_argument("--codecs", default=",".join(CODECS), help=f"comma-separated subset of {CODECS}")
    ap.add_argument("--reps", type=int, default=0, help="reps per measurement (default 5, or 3 above 64 MB)")
    ap.add_argument("--quick", action="store_true", help="skip zstd -19 on files over 50 MB")
    ap.add_argument("--md", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "cpu-latest.json")
    args = ap.parse_args()
    args.codecs = [c for c in args.codecs.split(",") if c]
    if unknown := set(args.codecs) - set(CODECS):
        ap.error(f"unknown codecs {sorted(unknown)}")
    args.files = [f for f in args.files.split(",") if f]
    return args


def main() -> None:
    args = parse_args()
    cores = os.sched_getaffinity(0)
    one_core, all_threads = {min(cores)}, len(cores)
    env = environment(args, all_threads)  # before writing anything, so the commit state is the input's
    if not args.wcodec.is_file() and "wcodec" in args.codecs:
        print("wcodec: not built", flush=True)
    reports = [bench_file(p, args, one_core, all_threads) for p in select_files(args.data, args.files)]
    codecs = [c for c in CODECS if c in args.codecs]
    block = markdown(reports, env, codecs)
    write_markdown(args.md, block)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    doc = {"environment": env, "files": [asdict(r) for r in reports]}
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(block)
    cross_check(reports)
    print(f"wrote {args.md} and {args.json}")


if __name__ == "__main__":
    main()
