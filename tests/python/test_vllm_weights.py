"""The part of the vLLM plugin that needs no vLLM: the weight iterator its loader feeds to
``model.load_weights``, the entry point in the installed metadata, and lazy imports. (The loader
inside a real vLLM is tested in ``tests/vllm``, in the same test environment: ``make test-vllm``.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import wcodec
import wcodec.vllm as wv
from conftest import assert_same


def test_entry_point_is_in_the_installed_metadata() -> None:
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="vllm.general_plugins") if ep.name == "wcodec"]
    assert ep.value == "wcodec.vllm:register"
    assert ep.load() is wv.register


def test_importing_the_plugin_imports_neither_vllm_nor_torch() -> None:
    # vLLM imports it in every process, forked workers included, to call register().
    code = "import sys, wcodec.vllm; print(sorted(m for m in ('vllm', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("batch_bytes", [1, 1 << 20, 1 << 30])
def test_iterator_yields_the_safetensors_tensors(minilm_dir: Path, minilm_wcodec: Path, batch_bytes: int) -> None:
    expected = load_file(str(minilm_dir / "model.safetensors"))
    names = []
    got = {}
    for name, tensor in wv.weights_iterator(minilm_wcodec, device="cpu", batch_bytes=batch_bytes):
        names.append(name)
        got[name] = tensor
    assert len(names) == len(set(names))
    assert_same(got, expected)


def test_iterator_yields_checkpoint_order_and_fresh_storage(wc_file: Path, tensors: dict[str, torch.Tensor]) -> None:
    with wcodec.open(wc_file) as f:
        on_disk = [e.name for e in f._checkpoint.entries.values()]
    pairs = list(wv.weights_iterator(wc_file, batch_bytes=64))
    assert [n for n, _ in pairs] == on_disk
    assert_same(dict(pairs), tensors)  # int8, bf16, fp8, int32 qweight, bool, 0-d, empty: unchanged
    ptrs = [t.data_ptr() for _, t in pairs if t.numel()]
    assert len(ptrs) == len(set(ptrs))  # no scratch buffer reused between yielded tensors


def test_iterator_skips_what_it_is_told(wc_file: Path, tensors: dict[str, torch.Tensor]) -> None:
    got = dict(wv.weights_iterator(wc_file, skip=lambda name: name.startswith("layers.")))
    assert_same(got, {k: v for k, v in tensors.items() if not k.startswith("layers.")})


def test_iterator_reads_every_shard(sharded_dir: Path, tmp_path: Path, tensors: dict[str, torch.Tensor]) -> None:
    wcodec.encode_checkpoint(sharded_dir, tmp_path / "sharded.wcodec")
    assert_same(dict(wv.weights_iterator(tmp_path / "sharded.wcodec", batch_bytes=256)), tensors)


def test_iterator_refuses_bad_arguments(minilm_wcodec: Path, minilm_dir: Path) -> None:
    with pytest.raises(ValueError, match="batch_bytes"):
        next(wv.weights_iterator(minilm_wcodec, batch_bytes=0))
    with pytest.raises(ValueError, match="fallback"):
        next(wv.weights_iterator(minilm_wcodec, fallback="gpu"))
    with pytest.raises(wcodec.WcodecError, match=r"holds no \.wcodec files"):
        next(wv.weights_iterator(minilm_dir))


def test_register_without_vllm_says_so() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="vllm"):
            wv.register()
    else:
        pytest.skip("vLLM is installed here (tests/vllm covers registration)")


@pytest.mark.gpu
@pytest.mark.parametrize("batch_bytes", [64, 1 << 20])
def test_gpu_decoder_feeds_cuda_tensors(
    sharded_dir: Path, tmp_path: Path, tensors: dict[str, torch.Tensor], batch_bytes: int
) -> None:
    # The sample checkpoint (int8, bf16, fp8, int32 qweight, scales, bool, 0-d, empty) in two
    # shards, decoded by the GPU decoder (fallback=None: no CPU decode allowed).
    wcodec.encode_checkpoint(sharded_dir, tmp_path / "sharded.wcodec")
    got = dict(wv.weights_iterator(tmp_path / "sharded.wcodec", device="cuda", fallback=None, batch_bytes=batch_bytes))
    assert all(t.device.type == "cuda" for t in got.values())
    assert_same({k: v.cpu() for k, v in got.items()}, tensors)
