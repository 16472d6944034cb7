"""The same test bodies on every device: the CPU always, CUDA where a GPU is present (the GPU
output must equal the CPU decoder's byte for byte)."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import wcodec
from conftest import GOLDEN, REJECT, as_bytes, assert_same, raw_tensors, sample_tensors

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.gpu),
]
GOLDENS = sorted(GOLDEN.glob("*.wcodec"))
REJECTS = sorted(p for p in REJECT.glob("*.wcodec") if p.name != "source_unknown_format.wcodec")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("path", GOLDENS, ids=[p.name for p in GOLDENS])
def test_golden_files_decode_on_every_device(device: str, path: Path) -> None:
    # F6 has no torch dtype, and F4 only with an even last dimension (torch packs two codes per
    # element): those bytes are covered by the rebuilt-file test of test_errors.py.
    ref = raw_tensors(path.with_suffix(".safetensors"))
    names = [
        k
        for k, (dtype, shape, _) in ref.items()
        if not dtype.startswith("F6") and not (dtype == "F4" and (not shape or shape[-1] % 2))
    ]
    with wcodec.open(path, device=device) as f:
        got = f.get_tensors(names)
    assert names
    for k, v in got.items():
        assert v.device.type == device
        assert bytes(as_bytes(v).cpu().numpy()) == ref[k][2], k


@pytest.mark.parametrize("device", DEVICES)
def test_round_trip_on_every_device(device: str, wc_file: Path, tensors: dict) -> None:
    got = wcodec.decode_to_state_dict(wc_file, device=device, fallback=None if device == "cpu" else "cpu")
    assert_same({k: v.cpu() for k, v in got.items()}, tensors)
    assert all(v.device.type == device for v in got.values())


@pytest.mark.parametrize("device", DEVICES)
def test_many_threads_on_every_device(device: str, tmp_path: Path) -> None:
    tensors = sample_tensors(seed=7)
    tensors.update({f"big.{i}": torch.randint(-100, 100, (512, 1024), dtype=torch.int8) for i in range(8)})
    save_file(tensors, str(tmp_path / "m.safetensors"))
    wcodec.encode_checkpoint(tmp_path / "m.safetensors", tmp_path / "m.wcodec")
    names = list(tensors) * 3
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(lambda n: wcodec.decode_layer(tmp_path / "m.wcodec", n, device=device), names))
    for name, t in zip(names, results):
        assert torch.equal(as_bytes(t), as_bytes(tensors[name])), name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("path", REJECTS, ids=[p.name for p in REJECTS])
def test_corrupt_files_fail_on_every_device(device: str, path: Path) -> None:
    with pytest.raises(wcodec.WcodecError):
        wcodec.decode_to_state_dict(path, device=device)


@pytest.mark.gpu
def test_gpu_decoder_is_reported_available() -> None:
    assert wcodec.is_cuda_available()


@pytest.mark.gpu
def test_every_cuda_device_and_the_current_device_is_kept(wc_file: Path, tensors: dict) -> None:
    before = torch.cuda.current_device()
    for n in range(torch.cuda.device_count()):
        got = wcodec.decode_to_state_dict(wc_file, device=f"cuda:{n}", fallback=None)
        assert all(v.device == torch.device("cuda", n) for v in got.values())
        assert_same({k: v.cpu() for k, v in got.items()}, tensors)
        assert torch.cuda.current_device() == before
    with wcodec.open(wc_file, device=0) as f:
        assert f.get_tensor("layers.0.weight").device == torch.device("cuda", 0)


@pytest.mark.gpu
def test_decoding_on_a_side_stream(wc_file: Path, tensors: dict) -> None:
    stream = torch.cuda.Stream()
    got = wcodec.decode_checkpoint(wc_file, device="cuda", stream=stream)
    stream.synchronize()
    assert_same({k: v.cpu() for k, v in got.items()}, tensors)


@pytest.mark.gpu
def test_decode_params_reach_the_gpu_decoder(wc_file: Path, tensors: dict) -> None:
    before = wcodec.get_decode_params()
    try:
        for tiles_per_block, streams in ((1, 1), (8, 4), (2, 2)):
            wcodec.set_decode_params(tiles_per_block=tiles_per_block, streams=streams)
            got = wcodec.decode_to_state_dict(wc_file, device="cuda", fallback=None)
            assert_same({k: v.cpu() for k, v in got.items()}, tensors)
    finally:
        wcodec.set_decode_params(**before)


@pytest.mark.parametrize("device", DEVICES)
def test_tiled_tensors_on_every_device(device: str, tmp_path: Path) -> None:
    """Tensors with tiled planes (format version 2) decode on the device itself: no fallback."""
    i = torch.arange(300, dtype=torch.float32)[:, None]
    j = torch.arange(261, dtype=torch.float32)[None, :]
    table = torch.sin(i * 0.05 + j * 0.03)
    tensors = {
        "pos_bf16": table.to(torch.bfloat16),
        "pos_i8": (table * 100).round().to(torch.int8),
        "pos_f32": table.contiguous(),
    }
    save_file(tensors, str(tmp_path / "t.safetensors"))
    stats = wcodec.encode_checkpoint(tmp_path / "t.safetensors", tmp_path / "t.wcodec", tile_size=16)
    assert stats["tiled_tensors"] >= 2
    got = wcodec.decode_to_state_dict(tmp_path / "t.wcodec", device=device, fallback=None)
    for k, v in tensors.items():
        assert got[k].device.type == device
        assert torch.equal(as_bytes(got[k].cpu()), as_bytes(v)), k
