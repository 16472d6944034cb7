"""The vLLM loader plugin against a real vLLM (the pinned 0.33.0), on the CPU.

What runs here: plugin discovery through the installed entry point, option validation, the
weight iterator against safetensors, and vLLM building a real ``LlamaForCausalLM`` and loading it
through ``--load-format wcodec``, compared parameter by parameter with the same model loaded by
vLLM's own safetensors loader. The GPU decoder path (``device="cuda"``) needs a GPU and is marked
``gpu``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from vllm_helpers import same, vllm_config, vllm_load_model, vllm_load_weights

import wcodec
import wcodec.vllm as wv

# --- discovery ---------------------------------------------------------------------------------

# A fresh interpreter, so that no earlier test has registered anything: vLLM rejects the format
# before its plugins load and accepts it after, with our class, without touching CUDA, and a
# second register() is a no-op (vLLM would log "already registered" otherwise).
DISCOVERY = r"""
import logging, torch
from vllm.config.load import LoadConfig
from vllm.model_executor.model_loader import get_model_loader
try:
    get_model_loader(LoadConfig(load_format="wcodec"))
    raise SystemExit("wcodec was supported before plugins were loaded")
except ValueError as e:
    assert "not supported" in str(e), e
import vllm.plugins
vllm.plugins.load_general_plugins()
import wcodec.vllm
assert wcodec.vllm.is_registered()
loader = get_model_loader(LoadConfig(load_format="wcodec"))
assert type(loader) is wcodec.vllm.WcodecModelLoader, type(loader)
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("vllm").addHandler(Keep())
wcodec.vllm.register()
assert not any("already registered" in m for m in records), records
assert not torch.cuda.is_initialized()
print("ok")
"""


def test_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="vllm.general_plugins") if ep.name == "wcodec"]
    assert ep.value == "wcodec.vllm:register"
    assert ep.load() is wv.register


def test_vllm_discovers_the_plugin_in_a_fresh_process() -> None:
    out = subprocess.run([sys.executable, "-c", DISCOVERY], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("ok")


def test_importing_the_plugin_module_imports_neither_vllm_nor_torch() -> None:
    code = "import sys, wcodec.vllm; print(sorted(m for m in ('vllm', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- options -----------------------------------------------------------------------------------


def _loader(**extra: Any) -> Any:
    from vllm.config.load import LoadConfig
    from vllm.model_executor.model_loader import get_model_loader

    wv.register()
    return get_model_loader(LoadConfig(load_format="wcodec", model_loader_extra_config=extra))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"num_threads": 4}, "unknown model_loader_extra_config keys"),
        ({"device": "tpu"}, "`device` must be"),
        ({"device": 0}, "`device` must be a string"),
        ({"fallback": "gpu"}, "`fallback` must be"),
        ({"batch_mib": 0}, "`batch_mib` must be a positive int"),
        ({"batch_mib": True}, "`batch_mib` must be a positive int"),
        ({"enable_weights_track": "yes"}, "`enable_weights_track` must be a bool"),
    ],
)
def test_bad_extra_config_is_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _loader(**extra)


def test_good_extra_config_is_kept() -> None:
    loader = _loader(device="cpu", fallback=None, batch_mib=8, enable_weights_track=True)
    assert (loader.device, loader.fallback, loader.batch_bytes, loader.enable_weights_track) == (
        "cpu", None, 8 << 20, True,
    )


# --- vLLM builds and loads a real model --------------------------------------------------------


@pytest.mark.usefixtures("vllm_dist")
def test_vllm_llama_loads_the_same_weights_as_from_safetensors(llama_dir: Path, llama_wcodec: Path) -> None:
    reference, _ = vllm_load_weights(llama_dir, "safetensors")
    model, loader = vllm_load_weights(llama_wcodec, "wcodec")
    assert type(loader).__name__ == "WcodecModelLoader"
    assert type(model) is type(reference)
    assert type(model).__name__ == "LlamaForCausalLM"
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    # vLLM fuses q/k/v and gate/up projections: these are vLLM's own parameters, filled by its
    # weight loaders from our tensors.
    assert any("qkv_proj" in k for k in ours)
    for k in ours:
        assert same(ours[k], theirs[k]), k
    # And the weights really came from the checkpoint (not vLLM's uninitialised memory).
    original = load_file(str(llama_dir / "model.safetensors"))
    assert ours["model.embed_tokens.weight"].dtype == torch.bfloat16
    assert same(ours["model.embed_tokens.weight"], original["model.embed_tokens.weight"])
    assert same(ours["lm_head.weight"], original["lm_head.weight"])


@pytest.mark.usefixtures("vllm_dist")
def test_vllm_quantized_checkpoint_keeps_its_tensors(tmp_path: Path, llama_w8a8_dir: Path) -> None:
    # compressed-tensors W8A8: vLLM's quantization method builds int8 weights and scale
    # parameters, and its weight loaders fill them from the checkpoint's own tensors.
    wcodec.encode_checkpoint(llama_w8a8_dir, tmp_path / "w8a8.wcodec")
    reference, _ = vllm_load_weights(llama_w8a8_dir, "safetensors")
    model, _ = vllm_load_weights(tmp_path / "w8a8.wcodec", "wcodec")
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    assert ours["model.layers.0.self_attn.qkv_proj.weight"].dtype == torch.int8
    assert "model.layers.0.self_attn.qkv_proj.weight_scale" in ours
    for k in ours:
        assert same(ours[k], theirs[k]), k
    original = load_file(str(llama_w8a8_dir / "model.safetensors"))
    assert same(ours["model.layers.1.mlp.down_proj.weight"], original["model.layers.1.mlp.down_proj.weight"])


@pytest.mark.usefixtures("vllm_dist")
def test_vllm_load_model_end_to_end(llama32_dir: Path, llama32_wcodec: Path) -> None:
    # fp32, because vLLM's CPU platform repacks bf16 linear weights with kernels that only its
    # CPU build has (the PyPI wheel is the CUDA build); fp32 layers keep torch's linear.
    reference = vllm_load_model(llama32_dir, "safetensors", "float32")
    model = vllm_load_model(llama32_wcodec, "wcodec", "float32")
    assert not model.training
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert same(ours[k], theirs[k]), k
    original = load_file(str(llama32_dir / "model.safetensors"))
    assert same(ours["model.norm.weight"], original["model.norm.weight"])


@pytest.mark.usefixtures("vllm_dist")
def test_a_missing_tensor_is_reported_by_name(tmp_path: Path, llama_dir: Path) -> None:
    src = tmp_path / "incomplete"
    shutil.copytree(llama_dir, src)
    tensors = load_file(str(src / "model.safetensors"))
    del tensors["model.layers.1.post_attention_layernorm.weight"]
    save_file(tensors, str(src / "model.safetensors"), metadata={"format": "pt"})
    wcodec.encode_checkpoint(src, tmp_path / "incomplete.wcodec")
    with pytest.raises(ValueError, match=r"not initialized from checkpoint.*layers\.1\.post_attention_layernorm"):
        vllm_load_weights(tmp_path / "incomplete.wcodec", "wcodec")


@pytest.mark.usefixtures("vllm_dist")
def test_a_plain_directory_is_refused_with_a_hint(llama_dir: Path) -> None:
    with pytest.raises(wcodec.WcodecError, match="wcodec-encode"):
        vllm_load_weights(llama_dir, "wcodec")


@pytest.mark.usefixtures("vllm_dist")
def test_download_model_checks_the_directory(llama_dir: Path, llama_wcodec: Path) -> None:
    loader = _loader()
    config = vllm_config(llama_wcodec, "wcodec")
    loader.download_model(config.model_config)  # a local encoded directory: nothing to fetch
    assert loader.model_dir(config.model_config) == str(llama_wcodec)
    with pytest.raises(wcodec.WcodecError, match=r"holds no \.wcodec weights"):
        loader.download_model(vllm_config(llama_dir, "wcodec").model_config)


def test_the_cli_accepts_load_format_wcodec(llama_wcodec: Path) -> None:
    # What `vllm serve DIR --load-format wcodec --model-loader-extra-config '{...}'` parses to.
    from vllm.engine.arg_utils import EngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = EngineArgs.add_cli_args(FlexibleArgumentParser())
    args = parser.parse_args([
        "--model", str(llama_wcodec), "--load-format", "wcodec",
        "--model-loader-extra-config", '{"device": "cpu", "batch_mib": 64}',
    ])
    load_config = EngineArgs.from_cli_args(args).create_load_config()
    assert load_config.load_format == "wcodec"
    loader = _loader(**load_config.model_loader_extra_config)
    assert (loader.device, loader.batch_bytes) == ("cpu", 64 << 20)
