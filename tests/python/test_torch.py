"""wcodec.torch mirrors safetensors.torch."""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch

import wcodec
import wcodec.torch
from conftest import assert_same


def test_save_file_decodes_to_exactly_what_safetensors_writes(tensors: dict, tmp_path: Path) -> None:
    wcodec.torch.save_file(tensors, tmp_path / "t.wcodec", metadata={"format": "pt"})
    safetensors.torch.save_file(tensors, str(tmp_path / "ref.safetensors"), metadata={"format": "pt"})
    wcodec.decode_checkpoint(tmp_path / "t.wcodec", tmp_path / "t.safetensors")
    assert (tmp_path / "t.safetensors").read_bytes() == (tmp_path / "ref.safetensors").read_bytes()


def test_load_file_round_trips(tensors: dict, tmp_path: Path) -> None:
    wcodec.torch.save_file(tensors, tmp_path / "t.wcodec")
    assert_same(wcodec.torch.load_file(tmp_path / "t.wcodec"), tensors)
    assert wcodec.open(tmp_path / "t.wcodec").metadata() is None


def test_save_file_replaces_an_existing_file(tensors: dict, tmp_path: Path) -> None:
    path = tmp_path / "t.wcodec"
    wcodec.torch.save_file({"a": torch.zeros(3)}, path)
    wcodec.torch.save_file(tensors, path)
    assert_same(wcodec.torch.load_file(path), tensors)
    assert [p.name for p in tmp_path.iterdir()] == ["t.wcodec"], "temporary file left behind"


def test_tensors_come_back_with_their_torch_dtype(tmp_path: Path) -> None:
    dtypes = [
        torch.bool, torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.uint32,
        torch.int64, torch.uint64, torch.float16, torch.bfloat16, torch.float32, torch.float64,
        torch.complex64, torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e8m0fnu,
    ]
    g = torch.Generator().manual_seed(1)
    tensors = {
        str(d): torch.randint(0, 255, (3, 5), generator=g, dtype=torch.uint8)
        .repeat(1, torch.empty(0, dtype=d).element_size())
        .view(d)
        for d in dtypes
    }
    wcodec.torch.save_file(tensors, tmp_path / "d.wcodec")
    loaded = wcodec.torch.load_file(tmp_path / "d.wcodec")
    for name, t in tensors.items():
        assert loaded[name].dtype == t.dtype
    assert_same(loaded, tensors)


def test_decoded_tensors_own_their_memory(wc_file: Path) -> None:
    """Tensors are decoded into torch-allocated memory: they stay valid after the file is gone
    and are writable."""
    sd = wcodec.torch.load_file(wc_file)
    wc_file.unlink()
    wcodec._files.clear_reader_cache()
    t = sd["layers.1.weight"]
    t += 1
    assert t.is_contiguous() and t.data_ptr() % 16 == 0
