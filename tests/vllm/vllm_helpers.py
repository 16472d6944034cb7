"""What the vLLM tests share: building and loading a model the way vLLM does, on the CPU, and
comparing tensors bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import wcodec.vllm as wv


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and bytes (NaN- and -0.0-safe)."""
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))
    )


def vllm_config(model_dir: Path, load_format: str, dtype: str = "auto", **extra: Any) -> Any:
    """vLLM's configuration for ``model_dir`` on the CPU, loaded with ``load_format``."""
    from vllm.config import DeviceConfig, ModelConfig, VllmConfig
    from vllm.config.load import LoadConfig

    model_config = ModelConfig(model=str(model_dir), dtype=dtype, skip_tokenizer_init=True, seed=0)
    load_config = LoadConfig(load_format=load_format, model_loader_extra_config=extra, device="cpu")
    return VllmConfig(model_config=model_config, load_config=load_config, device_config=DeviceConfig("cpu"))


def vllm_load_weights(model_dir: Path, load_format: str, **extra: Any) -> tuple[torch.nn.Module, Any]:
    """vLLM's model for ``model_dir``, built by the loader of ``load_format`` and filled by its
    ``load_weights``: what ``BaseModelLoader.load_model`` does before kernel repacking."""
    from vllm.config import set_current_vllm_config
    from vllm.model_executor.model_loader import get_model_loader
    from vllm.utils.torch_utils import set_default_torch_dtype

    wv.register()
    config = vllm_config(model_dir, load_format, **extra)
    with set_current_vllm_config(config), set_default_torch_dtype(config.model_config.dtype):
        loader = get_model_loader(config.load_config)
        with torch.device("cpu"):
            model = loader.create_model(vllm_config=config, model_config=config.model_config)
        loader.load_weights(model, config.model_config)
    return model, loader


def vllm_load_model(model_dir: Path, load_format: str, dtype: str) -> torch.nn.Module:
    """The whole of vLLM's ``load_model`` (build, load, ``process_weights_after_loading``)."""
    from vllm.config import set_current_vllm_config
    from vllm.model_executor.model_loader import get_model_loader

    wv.register()
    config = vllm_config(model_dir, load_format, dtype=dtype)
    with set_current_vllm_config(config):
        return get_model_loader(config.load_config).load_model(vllm_config=config, model_config=config.model_config)
