"""vLLM's default load format ``auto``, extended to load encoded directories.

``vllm serve DIR`` without ``--load-format`` uses vLLM's ``DefaultModelLoader``, which looks for
``*.safetensors``/``*.bin``/``*.pt`` weights and fails on a directory made by ``wcodec-encode``
with a bare ``Cannot find any model weights``. :class:`WcodecAutoLoader` is that same loader
(a subclass: every other model goes through vLLM's code unchanged) that sends a model whose
weights are ``.wcodec`` files to :class:`~wcodec._vllm_loader.WcodecModelLoader`. It is
registered under ``auto`` through vLLM's ``register_model_loader``, only while ``auto`` is still
vLLM's own loader.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Optional

from torch import nn
from vllm.config import ModelConfig
from vllm.config.load import LoadConfig
from vllm.model_executor.model_loader.default_loader import DefaultModelLoader

from ._files import is_wcodec_dir
from ._vllm_common import auto_routing_enabled, local_model_dir, needs_flag_message
from ._vllm_loader import EXTRA_CONFIG_KEYS, WcodecModelLoader, logger

AUTO = "auto"


class WcodecAutoLoader(DefaultModelLoader):
    """vLLM's default loader, which also loads directories (or Hub repositories) made by
    ``wcodec-encode``: their weights go through :class:`WcodecModelLoader`, everything else
    through vLLM's ``DefaultModelLoader`` unchanged."""

    def __init__(self, load_config: LoadConfig) -> None:
        super().__init__(load_config)
        self._wcodec: Optional[WcodecModelLoader] = None

    def _is_wcodec(self, model_config: ModelConfig) -> bool:
        """Whether the model's weights are ``.wcodec`` files: a local directory is looked at (it
        has ``.wcodec`` files and no ``.safetensors``); a Hub repository is asked only when it
        has no weights vLLM can read, so plain models cost nothing."""
        local = local_model_dir(model_config.model)
        return local is not None and is_wcodec_dir(local)

    def _hub_has_wcodec(self, model_config: ModelConfig) -> bool:
        if local_model_dir(model_config.model) is not None:
            return False
        try:
            from vllm.transformers_utils.repo_utils import list_filtered_repo_files

            return bool(list_filtered_repo_files(
                model_name_or_path=model_config.model, allow_patterns=["*.wcodec"], revision=model_config.revision,
            ))
        except Exception:
            return False

    def _delegate(self, model_config: ModelConfig) -> WcodecModelLoader:
        if not auto_routing_enabled():
            raise RuntimeError(needs_flag_message(model_config.model))
        if self._wcodec is None:
            config = copy.copy(self.load_config)
            # Options of vLLM's default loader (threads, …) mean nothing to this one; those the
            # two share carry over. The wcodec options need `--load-format wcodec`.
            extra = self.load_config.model_loader_extra_config or {}
            config.model_loader_extra_config = {k: v for k, v in extra.items() if k in EXTRA_CONFIG_KEYS}
            self._wcodec = WcodecModelLoader(config)
            logger.info(
                "wcodec: `%s` holds .wcodec weights: loading them with the wcodec loader "
                "(load format `auto`; `--load-format wcodec` takes its options)",
                model_config.model,
            )
        return self._wcodec

    def download_model(self, model_config: ModelConfig) -> None:
        if self._is_wcodec(model_config):
            self._delegate(model_config).download_model(model_config)
            return
        try:
            super().download_model(model_config)
        except RuntimeError as e:
            if not (_no_weights(e) and self._hub_has_wcodec(model_config)):
                raise
            self._delegate(model_config).download_model(model_config)

    def load_weights(self, model: nn.Module, model_config: ModelConfig) -> None:
        if self._is_wcodec(model_config):
            self._delegate(model_config).load_weights(model, model_config)
            return
        try:
            super().load_weights(model, model_config)
        except RuntimeError as e:
            if not (_no_weights(e) and self._hub_has_wcodec(model_config)):
                raise
            self._delegate(model_config).load_weights(model, model_config)


def _no_weights(e: RuntimeError) -> bool:
    return str(e).startswith("Cannot find any model weights")


class _DropAutoOverwriteWarning(logging.Filter):
    """Replacing ``auto`` is deliberate; vLLM's "already registered" warning would say otherwise
    in every process."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith(f"Load format `{AUTO}` is already registered"))


def install_auto_loader(model_loader: Any) -> None:
    """Registers :class:`WcodecAutoLoader` under ``auto`` where ``auto`` is vLLM's own
    ``DefaultModelLoader`` (not another plugin's loader)."""
    try:
        current = type(model_loader.get_model_loader(LoadConfig(load_format=AUTO)))
    except Exception:
        return
    if current is WcodecAutoLoader:
        return
    if current is not DefaultModelLoader:
        logger.info("wcodec: load format `auto` is %s, left as it is: use `--load-format wcodec`", current)
        return
    registry_logger = logging.getLogger(model_loader.__name__)
    quiet = _DropAutoOverwriteWarning()
    registry_logger.addFilter(quiet)
    try:
        model_loader.register_model_loader(AUTO)(WcodecAutoLoader)
    finally:
        registry_logger.removeFilter(quiet)
