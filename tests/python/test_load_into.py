"""``wcodec.load_into`` (decoding into memory the caller owns) and the bulk loading pipeline
behind every tensor-returning call: positional reads in windows, on the CPU and on the GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import wcodec
from conftest import as_bytes, assert_same, sample_tensors
from wcodec.errors import CorruptFileError, IncompatibleTargetError


class Tiny(torch.nn.Module):
    """A module whose state dict is the sample checkpoint's int8/bf16/f16 part."""

    def __init__(self) -> None:
        super().__init__()
        self.w8 = torch.nn.Parameter(torch.zeros(64, 96, dtype=torch.int8), requires_grad=False)
        self.w16 = torch.nn.Parameter(torch.zeros(64, 96, dtype=torch.bfloat16))
        self.register_buffer("norm", torch.zeros(96, dtype=torch.float16))
        self.register_buffer("scratch", torch.zeros(3), persistent=False)


def _module_file(tmp_path: Path, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    t = sample_tensors(seed)
    tensors = {"w8": t["layers.0.weight"], "w16": t["layers.1.weight"], "norm": t["norm.weight"]}
    st = tmp_path / "m.safetensors"
    save_file(tensors, str(st))
    out = tmp_path / "m.wcodec"
    wcodec.encode_checkpoint(st, out)
    return out, tensors


def test_load_into_a_module_writes_its_own_parameters(tmp_path: Path) -> None:
    path, tensors = _module_file(tmp_path)
    m = Tiny()
    ptrs = {k: v.data_ptr() for k, v in m.state_dict().items()}
    result = wcodec.load_into(m, path)
    assert result == wcodec.LoadResult([], [])
    assert {k: v.data_ptr() for k, v in m.state_dict().items()} == ptrs, "no new memory"
    assert_same(dict(m.state_dict()), tensors)
    assert torch.equal(m.scratch, torch.zeros(3)), "non-persistent buffers are not targets"


def test_load_into_a_state_dict_and_a_strided_target(tmp_path: Path, wc_file: Path, tensors: dict) -> None:
    target = {k: torch.empty_like(v) for k, v in tensors.items()}
    # A transposed view: decoded contiguous, then copied into the strided memory.
    base = torch.empty(96, 64, dtype=torch.bfloat16)
    target["layers.1.weight"] = base.t()
    wcodec.load_into(target, wc_file)
    assert_same(target, tensors)
    assert torch.equal(as_bytes(base.t()), as_bytes(tensors["layers.1.weight"]))


def test_missing_and_unexpected_names_are_reported_like_load_state_dict(tmp_path: Path) -> None:
    path, tensors = _module_file(tmp_path)
    target = {"w8": torch.zeros(64, 96, dtype=torch.int8), "extra": torch.zeros(2)}
    with pytest.raises(IncompatibleTargetError, match="extra") as e:
        wcodec.load_into(target, path)
    assert isinstance(e.value, RuntimeError)
    assert "w16" in str(e.value) and "norm" in str(e.value)
    assert torch.equal(target["w8"], torch.zeros(64, 96, dtype=torch.int8)), "nothing written"
    result = wcodec.load_into(target, path, strict=False)
    assert result.missing_keys == ["extra"]
    assert sorted(result.unexpected_keys) == ["norm", "w16"]
    assert torch.equal(target["w8"], tensors["w8"])
    assert torch.equal(target["extra"], torch.zeros(2))


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("w16", torch.zeros(64, 96, dtype=torch.float16)),
        ("w16", torch.zeros(96, 64, dtype=torch.bfloat16)),
        ("w16", torch.empty(64, 96, dtype=torch.bfloat16, device="meta")),
    ],
)
def test_dtype_shape_and_meta_mismatches_leave_the_target_untouched(
    tmp_path: Path, name: str, bad: torch.Tensor
) -> None:
    path, _ = _module_file(tmp_path)
    target = {
        "w8": torch.full((64, 96), 7, dtype=torch.int8),
        "w16": torch.zeros(64, 96, dtype=torch.bfloat16),
        "norm": torch.zeros(96, dtype=torch.float16),
    }
    target[name] = bad
    with pytest.raises(IncompatibleTargetError, match=name):
        wcodec.load_into(target, path, strict=False)
    assert torch.equal(target["w8"], torch.full((64, 96), 7, dtype=torch.int8))


def test_a_corrupt_file_raises_and_says_what_was_written(tmp_path: Path) -> None:
    path, _ = _module_file(tmp_path)
    data = bytearray(path.read_bytes())
    # Flip a byte in the middle of the payload (tensor data, not the header at the end).
    data[len(data) // 3] ^= 0x5A
    bad = tmp_path / "bad.wcodec"
    bad.write_bytes(bytes(data))
    m = Tiny()
    with pytest.raises(CorruptFileError) as e:
        wcodec.load_into(m, bad)
    assert e.value.written == []  # type: ignore[attr-defined]
    assert sorted(e.value.partial) == ["norm", "w16", "w8"]  # type: ignore[attr-defined]


def test_tied_weights_are_decoded_once(tmp_path: Path) -> None:
    w = sample_tensors()["layers.1.weight"]
    st = tmp_path / "t.safetensors"
    save_file({"a": w, "b": w.clone()}, str(st))
    path = tmp_path / "t.wcodec"
    wcodec.encode_checkpoint(st, path)
    shared = torch.zeros_like(w)
    wcodec.load_into({"a": shared, "b": shared}, path)
    assert torch.equal(as_bytes(shared), as_bytes(w))


def _many(n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    out = {}
    for i in range(n):
        w = torch.randn(16 + i % 7, 24, generator=g)
        out[f"experts.{i}.w"] = (w * 30).round().clamp(-127, 127).to(torch.int8) if i % 2 else w.to(torch.bfloat16)
    return out


def test_many_tensors_decode_on_the_cpu_through_the_windows(tmp_path: Path) -> None:
    tensors = _many(3000)
    st = tmp_path / "many.safetensors"
    save_file(tensors, str(st))
    path = tmp_path / "many.wcodec"
    wcodec.encode_checkpoint(st, path)
    assert_same(wcodec.decode_to_state_dict(path, device="cpu"), tensors)
    target = {k: torch.empty_like(v) for k, v in tensors.items()}
    wcodec.load_into(target, path)
    assert_same(target, tensors)


def test_a_file_cut_after_opening_raises_corrupt_file_error(tmp_path: Path) -> None:
    tensors = _many(200)
    st = tmp_path / "many.safetensors"
    save_file(tensors, str(st))
    path = tmp_path / "many.wcodec"
    wcodec.encode_checkpoint(st, path)
    with wcodec.open(path) as f:
        # Cut the file under the open reader, in the middle of its payload.
        size = path.stat().st_size
        with open(path, "r+b") as raw:
            raw.truncate(size // 2)
        with pytest.raises(CorruptFileError, match="truncated"):
            f.get_tensors()


def test_a_sharded_directory_decodes_its_shards_in_parallel_and_loads_into_a_target(
    tmp_path: Path, sharded_dir: Path, tensors: dict
) -> None:
    enc = tmp_path / "enc"
    wcodec.encode_checkpoint(sharded_dir, enc)
    assert len(list(enc.glob("*.wcodec"))) == 2
    assert_same(wcodec.decode_to_state_dict(enc, device="cpu"), tensors)
    target = {k: torch.empty_like(v) for k, v in tensors.items()}
    assert wcodec.load_into(target, enc) == wcodec.LoadResult([], [])
    assert_same(target, tensors)


def test_decode_params_come_from_the_decoder_and_accept_the_alias() -> None:
    before = wcodec.get_decode_params()
    try:
        defaults = {name: d for name, d, _, _ in wcodec._wcodec.cuda_param_ranges()}
        wcodec.set_decode_params()
        got = wcodec.get_decode_params()
        assert got["chunks_per_block"] == defaults["chunks_per_block"]
        assert got["streams"] == defaults["streams"]
        wcodec.set_decode_params(tiles_per_block=2)
        assert wcodec.get_decode_params()["chunks_per_block"] == 2
        with pytest.raises(TypeError):
            wcodec.set_decode_params(chunks_per_block=2, tiles_per_block=3)
    finally:
        wcodec.set_decode_params(**before)


@pytest.mark.gpu
def test_gpu_load_into_a_cuda_module_reuses_its_memory_and_the_staging_pool(tmp_path: Path) -> None:
    path, tensors = _module_file(tmp_path)
    m = Tiny().cuda()
    ptrs = {k: v.data_ptr() for k, v in m.state_dict().items()}
    wcodec.load_into(m, path)
    assert {k: v.data_ptr() for k, v in m.state_dict().items()} == ptrs
    assert_same({k: v.cpu() for k, v in m.state_dict().items()}, tensors)
    warm = wcodec.staging_stats(0)
    assert warm is not None and warm["slots"] >= 2
    for _ in range(3):
        wcodec.load_into(m, path)
    after = wcodec.staging_stats(0)
    assert after is not None
    assert after["allocations"] == warm["allocations"], (warm, after)
    assert after["leases"] == warm["leases"] + 3


@pytest.mark.gpu
def test_gpu_many_tensors_and_tiles_match_the_cpu(tmp_path: Path) -> None:
    tensors = _many(20000)
    g = torch.Generator().manual_seed(9)
    smooth = torch.arange(256 * 256, dtype=torch.float32).reshape(256, 256).sin() * 100
    tensors["smooth"] = (smooth + torch.randn(256, 256, generator=g)).round().to(torch.int8)
    st = tmp_path / "many.safetensors"
    save_file(tensors, str(st))
    path = tmp_path / "many.wcodec"
    wcodec.encode_checkpoint(st, path)
    gpu = wcodec.decode_to_state_dict(path, device="cuda", fallback=None)
    assert_same({k: v.cpu() for k, v in gpu.items()}, tensors)


@pytest.mark.gpu
def test_gpu_a_corrupt_file_raises_corrupt_file_error(tmp_path: Path) -> None:
    path, _ = _module_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x5A
    bad = tmp_path / "bad.wcodec"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError):
        wcodec.decode_to_state_dict(bad, device="cuda", fallback=None)
    m = Tiny().cuda()
    with pytest.raises(CorruptFileError):
        wcodec.load_into(m, bad)
