"""Property tests: any tensors safetensors can store come back bit-identical."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import wcodec
from conftest import assert_same

DTYPES = [
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
    torch.bfloat16, torch.float32, torch.float64, torch.float8_e4m3fn, torch.float8_e5m2,
]

shapes = st.lists(st.integers(0, 70), min_size=0, max_size=3)


@st.composite
def tensor_dicts(draw: st.DrawFn) -> dict[str, torch.Tensor]:
    n = draw(st.integers(1, 4))
    out = {}
    for i in range(n):
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(shapes)
        seed = draw(st.integers(0, 2**31))
        kind = draw(st.sampled_from(["random", "narrow", "constant"]))
        g = torch.Generator().manual_seed(seed)
        numel = 1
        for s in shape:
            numel *= s
        size = torch.empty(0, dtype=dtype).element_size()
        if kind == "random":
            raw = torch.randint(0, 256, (numel * size,), generator=g, dtype=torch.uint8)
        elif kind == "narrow":  # few distinct bytes: what quantized weights look like to the coder
            raw = torch.randint(120, 136, (numel * size,), generator=g, dtype=torch.uint8)
        else:
            raw = torch.full((numel * size,), draw(st.integers(0, 255)), dtype=torch.uint8)
        out[f"t{i}.{kind}"] = raw.view(dtype).reshape(shape)
    return out


@settings(max_examples=60, deadline=None)
@given(tensor_dicts())
def test_any_checkpoint_round_trips(tensors: dict[str, torch.Tensor]) -> None:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "m.safetensors"
        save_file(tensors, str(src))
        wcodec.encode_checkpoint(src, Path(d) / "m.wcodec", threads=2)
        assert_same(wcodec.torch.load_file(Path(d) / "m.wcodec"), load_file(str(src)))
        wcodec.decode_checkpoint(Path(d) / "m.wcodec", Path(d) / "back.safetensors")
        assert (Path(d) / "back.safetensors").read_bytes() == src.read_bytes()


@settings(max_examples=15, deadline=None)
@given(tensor_dicts(), st.sampled_from([4096, 8192, 65536]))
def test_small_chunks_round_trip(tensors: dict[str, torch.Tensor], chunk: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "m.safetensors"
        save_file(tensors, str(src))
        wcodec._wcodec.encode(str(src), str(Path(d) / "m.wcodec"), chunk_symbols=chunk)
        assert_same(wcodec.torch.load_file(Path(d) / "m.wcodec"), load_file(str(src)))
