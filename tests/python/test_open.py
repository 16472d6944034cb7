"""wcodec.open: the lazy reader, like safetensors.safe_open."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import wcodec
from conftest import assert_same


def test_keys_metadata_and_tensors_match_safe_open(st_file: Path, wc_file: Path) -> None:
    with safe_open(str(st_file), framework="pt") as ref, wcodec.open(wc_file) as f:
        assert f.keys() == list(ref.keys())
        assert f.metadata() == ref.metadata() == {"format": "pt", "note": "wcodec test"}
        for name in ref.keys():
            assert_same({name: f.get_tensor(name)}, {name: ref.get_tensor(name)})
            s, r = f.get_slice(name), ref.get_slice(name)
            assert s.get_shape() == r.get_shape()
            assert s.get_dtype() == r.get_dtype()


def test_slices_index_like_tensors(wc_file: Path, st_file: Path) -> None:
    ref = load_file(str(st_file))["layers.1.weight"]
    with wcodec.open(wc_file) as f:
        s = f.get_slice("layers.1.weight")
        assert len(s) == 64
        assert torch.equal(s[2:5], ref[2:5])
        assert torch.equal(s[:, 7], ref[:, 7])
        assert torch.equal(s[...], ref)
        assert s.device == torch.device("cpu")


def test_get_tensors_decodes_everything_or_a_selection(wc_file: Path, st_file: Path) -> None:
    ref = load_file(str(st_file))
    with wcodec.open(wc_file) as f:
        assert_same(f.get_tensors(), ref)
        part = f.get_tensors(["mask", "scalar"])
        assert list(part) == ["mask", "scalar"]
        assert "mask" in f and "nope" not in f and len(f) == len(ref)


def test_get_bytes_returns_the_raw_tensor_bytes(wc_file: Path, st_file: Path) -> None:
    ref = load_file(str(st_file))["layers.0.weight"]
    with wcodec.open(wc_file) as f:
        assert f.get_bytes("layers.0.weight") == ref.numpy().tobytes()


def test_a_sharded_directory_reads_as_one_checkpoint(sharded_dir: Path, tmp_path: Path, tensors: dict) -> None:
    enc = tmp_path / "enc"
    wcodec.encode_checkpoint(sharded_dir, enc)
    with wcodec.open(enc) as f:
        assert sorted(f.keys()) == sorted(tensors)
        assert len(f.files) == 2 and len(f.header_xxh3) == 2
        assert_same(f.get_tensors(), tensors)


def test_a_closed_file_refuses_reads(wc_file: Path) -> None:
    f = wcodec.open(wc_file)
    f.close()
    with pytest.raises(wcodec.WcodecError, match="closed"):
        f.keys()


def test_only_the_torch_framework(wc_file: Path) -> None:
    with pytest.raises(ValueError, match="framework"):
        wcodec.open(wc_file, framework="flax")


def test_unknown_tensor_is_a_key_error(wc_file: Path) -> None:
    with wcodec.open(wc_file) as f:
        with pytest.raises(KeyError):
            f.get_tensor("missing")
        with pytest.raises(wcodec.TensorNotFoundError, match="missing"):
            f.get_slice("missing")
