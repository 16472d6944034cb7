"""The specification's auto-fallback: ``device="cuda", fallback="cpu"`` on a machine where torch
sees no CUDA device returns CPU tensors with one warning; ``fallback=None`` raises.

torch is told it has no CUDA device (``torch.cuda.is_available`` patched to ``False``), so these
run on GPU machines too and check the same no-CUDA behaviour there.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import torch

import wcodec
import wcodec.torch
import wcodec.transformers
from conftest import assert_same


class TwoLayers(torch.nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.first = torch.nn.Linear(width, width)
        self.second = torch.nn.Linear(width, 2)


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    yield


@pytest.fixture
def module_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = {k: v.detach().clone() for k, v in TwoLayers().state_dict().items()}
    path = tmp_path / "two.wcodec"
    wcodec.torch.save_file(state, path)
    return path, state


def _calls(wc_file: Path, module_file: Path) -> dict[str, Callable[[Optional[str]], Any]]:
    """Every tensor-returning entry point, asked for ``device="cuda"``; each returns tensors."""

    def opened(fallback: Optional[str]) -> list[torch.Tensor]:
        with wcodec.open(wc_file, device="cuda", fallback=fallback) as f:
            return [f.get_tensor("layers.0.weight"), *f.get_tensors().values(), f.get_slice("scalar")[...]]

    return {
        "decode_checkpoint": lambda fb: wcodec.decode_checkpoint(wc_file, device="cuda", fallback=fb),
        "decode_to_state_dict": lambda fb: wcodec.decode_to_state_dict(wc_file, device="cuda:0", fallback=fb),
        "decode_layer": lambda fb: wcodec.decode_layer(wc_file, "layers.0.weight", device="cuda", fallback=fb),
        "open": opened,
        "torch.load_file": lambda fb: wcodec.torch.load_file(wc_file, device=0, fallback=fb),
        "load_model": lambda fb: wcodec.load_model(module_file, TwoLayers, device="cuda", fallback=fb),
    }


def _tensors(result: Any) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        return list(result.values())
    if isinstance(result, torch.nn.Module):
        return [*result.parameters(), *result.buffers()]
    return list(result)


NAMES = ["decode_checkpoint", "decode_to_state_dict", "decode_layer", "open", "torch.load_file", "load_model"]


@pytest.mark.usefixtures("no_cuda")
@pytest.mark.parametrize("name", NAMES)
def test_fallback_cpu_returns_cpu_tensors_with_one_warning(
    name: str, wc_file: Path, module_file: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    call = _calls(wc_file, module_file[0])[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call("cpu")
    fallbacks = [w for w in caught if issubclass(w.category, wcodec.CudaFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    assert "no CUDA device" in str(fallbacks[0].message)
    assert [w for w in caught if w not in fallbacks] == []
    got = _tensors(result)
    assert got and all(t.device.type == "cpu" for t in got)


@pytest.mark.usefixtures("no_cuda")
@pytest.mark.parametrize("name", NAMES)
def test_fallback_none_raises(name: str, wc_file: Path, module_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    call = _calls(wc_file, module_file[0])[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: the error says it all
        with pytest.raises(wcodec.CudaUnavailableError, match=r"no CUDA device.*fallback=None"):
            call(None)


@pytest.mark.usefixtures("no_cuda")
def test_fallback_tensors_are_the_original_bytes(
    wc_file: Path, tensors: dict[str, torch.Tensor], module_file: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    with pytest.warns(wcodec.CudaFallbackWarning):
        got = wcodec.decode_checkpoint(wc_file)  # the specification's defaults: cuda, fallback="cpu"
    assert_same(got, tensors)
    path, state = module_file
    with pytest.warns(wcodec.CudaFallbackWarning):
        model = wcodec.load_model(path, TwoLayers)
    assert_same(model.state_dict(), state)


@pytest.mark.slow
@pytest.mark.usefixtures("no_cuda")
def test_transformers_helpers_fall_back(minilm_wcodec: Path) -> None:
    for load in (
        lambda fb: wcodec.transformers.from_pretrained(minilm_wcodec, device="cuda", fallback=fb),
        lambda fb: wcodec.load_model(minilm_wcodec, device="cuda", fallback=fb),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = load("cpu")
        assert [w.category for w in caught if issubclass(w.category, wcodec.CudaFallbackWarning)] == [
            wcodec.CudaFallbackWarning
        ]
        assert {p.device.type for p in model.parameters()} == {"cpu"}
        with pytest.raises(wcodec.CudaUnavailableError):
            load(None)


def test_an_explicit_cpu_device_never_warns(wc_file: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wcodec.decode_to_state_dict(wc_file, device="cpu", fallback=None)
        wcodec.decode_layer(wc_file, "scalar", device="cpu")
