"""Destinations allocated in bulk (``wcodec._bulk``) and the batch handed to the native reader as
one packed buffer: bit-exact results, alignment, storage sharing as ``docs/python.md`` documents
it, the opt-out, and errors that still raise ``CorruptFileError`` through the new path."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import wcodec
from conftest import as_bytes, assert_same, sample_tensors
from wcodec import _bulk
from wcodec._reader import Checkpoint
from wcodec.errors import CorruptFileError, IncompatibleTargetError

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _mixed(n: int = 400) -> dict[str, torch.Tensor]:
    """The sample dtypes plus many small tensors of two dtypes (odd sizes: padding matters)."""
    g = torch.Generator().manual_seed(3)
    out = dict(sample_tensors())
    for i in range(n):
        w = torch.randn(3 + i % 11, 5 + i % 5, generator=g)
        out[f"blocks.{i}.w"] = (w * 30).round().clamp(-127, 127).to(torch.int8) if i % 3 else w.to(torch.bfloat16)
    return out


def _encode(tmp_path: Path, tensors: dict[str, torch.Tensor], name: str = "m") -> tuple[Path, Path]:
    st = tmp_path / f"{name}.safetensors"
    save_file(tensors, str(st))
    out = tmp_path / f"{name}.wcodec"
    wcodec.encode_checkpoint(st, out)
    return st, out


@pytest.fixture
def block_mib() -> Iterator[None]:
    before = wcodec.get_decode_params()
    yield
    wcodec.set_decode_params(**before)


@pytest.mark.parametrize("device", DEVICES)
def test_bulk_loads_are_bit_exact_and_aligned(tmp_path: Path, device: str) -> None:
    st, path = _encode(tmp_path, _mixed())
    want = load_file(str(st))
    got = wcodec.decode_to_state_dict(path, device=device, fallback=None if device == "cuda" else "cpu")
    assert list(got) == list(Checkpoint.open(path).names)
    assert_same({k: v.cpu() for k, v in got.items()}, want)
    for name, t in got.items():
        assert t.is_contiguous(), name
        assert t.device.type == device
        if t.numel():
            assert t.data_ptr() % _bulk.ALIGN == 0, name


def test_small_tensors_share_blocks_that_never_overlap(tmp_path: Path) -> None:
    tensors = _mixed()
    _, path = _encode(tmp_path, tensors)
    got = wcodec.decode_to_state_dict(path, device="cpu")
    storages: dict[int, list[str]] = {}
    for name, t in got.items():
        if t.numel():
            storages.setdefault(t.untyped_storage().data_ptr(), []).append(name)
    # One block per dtype here (everything is far below 64 MiB), not one allocation per tensor.
    assert len(storages) <= len({t.dtype for t in tensors.values()})
    for names in storages.values():
        spans = sorted((got[n].data_ptr(), got[n].data_ptr() + got[n].numel() * got[n].element_size()) for n in names)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "views overlap"
        assert len({got[n].dtype for n in names}) == 1
    # Writing one tensor leaves its neighbours alone.
    before = {k: v.clone() for k, v in got.items()}
    got["blocks.7.w"].fill_(1)
    for k in got:
        if k != "blocks.7.w":
            assert torch.equal(as_bytes(got[k]), as_bytes(before[k])), k
    # safetensors accepts disjoint views of one storage, as the documentation says.
    save_file(got, str(tmp_path / "again.safetensors"))
    assert_same(load_file(str(tmp_path / "again.safetensors")), got)


def test_block_size_bounds_the_blocks_and_zero_opts_out(tmp_path: Path, block_mib: None) -> None:
    g = torch.Generator().manual_seed(4)
    tensors = {f"t{i}": torch.randn(300, 300, generator=g) for i in range(10)}  # 360 KB each
    tensors["big"] = torch.randn(600, 600, generator=g)  # 1.44 MB: above a 1 MiB block
    _, path = _encode(tmp_path, tensors)
    wcodec.set_decode_params(alloc_block_mib=1)
    got = wcodec.decode_to_state_dict(path, device="cpu")
    assert_same(got, tensors)
    for name, t in got.items():
        if name != "big":
            assert t.untyped_storage().nbytes() <= (1 << 20), name
    assert got["big"].untyped_storage().nbytes() == got["big"].numel() * 4
    assert got["big"].data_ptr() == got["big"].untyped_storage().data_ptr()
    assert len({t.untyped_storage().data_ptr() for t in got.values()}) < len(got)
    wcodec.set_decode_params(alloc_block_mib=0)
    got = wcodec.decode_to_state_dict(path, device="cpu")
    assert_same(got, tensors)
    assert len({t.untyped_storage().data_ptr() for t in got.values()}) == len(got)
    for t in got.values():
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()


def test_single_tensors_and_the_vllm_iterator_get_their_own_allocations(tmp_path: Path) -> None:
    tensors = _mixed(50)
    _, path = _encode(tmp_path, tensors)
    t = wcodec.decode_layer(path, "blocks.3.w", device="cpu")
    assert t.untyped_storage().nbytes() == t.numel() * t.element_size()
    with wcodec.open(path) as f:
        t = f.get_tensor("layers.1.weight")
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()
        part = f.get_tensors(["blocks.1.w", "blocks.2.w"])
        assert_same(part, {k: tensors[k] for k in part})
    from wcodec.vllm import weights_iterator

    seen = {}
    for name, w in weights_iterator(path, device="cpu"):
        assert w.numel() == 0 or w.untyped_storage().nbytes() == w.numel() * w.element_size(), name
        seen[name] = w
    assert_same(seen, tensors)


def test_a_plan_refuses_sizes_that_do_not_fill_the_shape() -> None:
    with pytest.raises(CorruptFileError, match="`x`: 10 bytes do not fill a BF16 tensor"):
        _bulk.Plan(["ok", "x"], ["BF16", "BF16"], [[2], [3]], [4, 10])
    plan = _bulk.Plan(["a", "b", "c"], ["I8", "F32", "I8"], [[5], [2, 2], []], [5, 16, 1])
    tensors, addrs = plan.allocate(None)
    assert [t.shape for t in tensors] == [torch.Size([5]), torch.Size([2, 2]), torch.Size([])]
    assert [t.data_ptr() for t in tensors] == addrs
    assert all(a % _bulk.ALIGN == 0 for a in addrs)


def test_packed_jobs_are_checked_by_the_reader(tmp_path: Path) -> None:
    _, path = _encode(tmp_path, {"a": torch.arange(10, dtype=torch.int8)})
    reader = Checkpoint.open(path).readers[0]
    out = torch.zeros(10, dtype=torch.int8)
    reader.decode_into(_bulk.pack_jobs(_array([0]), [out.data_ptr()], _array([10])))
    assert torch.equal(out, torch.arange(10, dtype=torch.int8))
    with pytest.raises(ValueError, match="multiple of 24"):
        reader.decode_into(b"\0" * 25)
    with pytest.raises(ValueError, match="out of range"):
        reader.decode_into(struct.pack("<3Q", 1, out.data_ptr(), 10))
    with pytest.raises(ValueError, match="holds 9 bytes, the tensor needs 10"):
        reader.decode_into(struct.pack("<3Q", 0, out.data_ptr(), 9))
    with pytest.raises(ValueError):
        reader.decode_into(struct.pack("<3Q", 0, 0, 10))
    reader.decode_into(b"")


def _array(values: list[int]) -> array[int]:
    return array("Q", values)


def _flip(path: Path, out: Path, where: float) -> Path:
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x5A
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_corrupt_and_truncated_files_raise_through_the_bulk_path(tmp_path: Path, device: str) -> None:
    _, path = _encode(tmp_path, _mixed())
    fallback = None if device == "cuda" else "cpu"
    bad = _flip(path, tmp_path / "bad.wcodec", 0.4)
    with pytest.raises(CorruptFileError):
        wcodec.decode_to_state_dict(bad, device=device, fallback=fallback)
    cut = tmp_path / "cut.wcodec"
    cut.write_bytes(path.read_bytes())
    with wcodec.open(cut, device=device, fallback=fallback) as f:
        with open(cut, "r+b") as raw:
            raw.truncate(cut.stat().st_size // 2)
        with pytest.raises(CorruptFileError):
            f.get_tensors()


@pytest.mark.parametrize("device", DEVICES)
def test_load_into_leaves_the_target_untouched_or_says_what_it_wrote(
    tmp_path: Path, device: str, sharded_dir: Path
) -> None:
    tensors = _mixed(30)
    _, path = _encode(tmp_path, tensors)
    target = {k: torch.full_like(v, 7) if v.dtype != torch.bool else torch.ones_like(v) for k, v in tensors.items()}
    target = {k: v.to(device) for k, v in target.items()}
    snapshot = {k: v.clone() for k, v in target.items()}
    wrong = dict(target)
    wrong["blocks.0.w"] = torch.zeros(2, 2, dtype=torch.float32, device=device)
    with pytest.raises(IncompatibleTargetError):
        wcodec.load_into(wrong, path)
    for k, v in target.items():
        assert torch.equal(as_bytes(v.cpu()), as_bytes(snapshot[k].cpu())), k

    # Two shards, the second damaged and the first decoded first: the first is written whole,
    # the second named partial, and every tensor the error does not name is untouched.
    out = tmp_path / "enc"
    wcodec.encode_checkpoint(sharded_dir, out)
    shards = sorted(out.glob("*.wcodec"))
    with wcodec.open(shards[0]) as f:
        good = f.keys()
    _flip(shards[1], shards[1], 0.3)
    want = sample_tensors()
    order = good + [k for k in want if k not in good]
    target = {k: torch.zeros_like(want[k]).to(device) for k in order}
    with pytest.raises(CorruptFileError) as e:
        wcodec.load_into(target, out)
    written, partial = e.value.written, e.value.partial  # type: ignore[attr-defined]
    assert sorted(written) == sorted(good)
    assert sorted(partial) == sorted(set(want) - set(good))
    for k in written:
        assert torch.equal(as_bytes(target[k].cpu()), as_bytes(want[k])), k


@pytest.mark.gpu
def test_gpu_staging_is_sized_once_and_reused(tmp_path: Path, block_mib: None) -> None:
    _, path = _encode(tmp_path, _mixed(2000))
    wcodec.release_staging()
    wcodec.set_decode_params(staging_mib=1)
    first = wcodec.decode_to_state_dict(path, device="cuda", fallback=None)
    warm = wcodec.staging_stats(0)
    assert warm is not None
    for _ in range(3):
        again = wcodec.decode_to_state_dict(path, device="cuda", fallback=None)
    after = wcodec.staging_stats(0)
    assert after is not None and after["allocations"] == warm["allocations"], (warm, after)
    # Two slots of at most one 1 MiB window each (with the pool's headroom), descriptors aside.
    assert after["pinned_bytes"] <= 2 * (2 << 20) + (8 << 20), after
    assert_same({k: v.cpu() for k, v in again.items()}, {k: v.cpu() for k, v in first.items()})
