"""The vLLM model loader behind ``--load-format wcodec`` (see :mod:`wcodec.vllm`).

Imported only by :func:`wcodec.vllm.register` (or on first use of
``wcodec.vllm.WcodecModelLoader``), since defining the class imports vLLM. It logs through
vLLM's logger (so that its lines appear with vLLM's own, in vLLM's format) and shows a progress
bar over the decoded bytes, as vLLM's default loader shows one over safetensors shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from vllm.config import ModelConfig
from vllm.config.load import LoadConfig
from vllm.logger import init_logger
from vllm.model_executor.model_loader.base_loader import BaseModelLoader

from ._files import WCODEC_INDEX, PathLike, checkpoint_files
from ._vllm_common import DEFAULT_BATCH_MIB, iterate_weights, local_model_dir, not_wcodec_error
from .errors import UnsupportedFormatError

# A child of vLLM's `vllm` logger: vLLM's handler, format and level apply (VLLM_LOGGING_LEVEL,
# VLLM_CONFIGURE_LOGGING, JSON logs).
logger = init_logger("vllm.wcodec")

# vLLM's own bar layout (weight_utils' `_BAR_FORMAT`), in bytes with their rate.
BAR_FORMAT = "{desc}: {percentage:3.0f}% Completed | {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]\n"

# What `--model-loader-extra-config` may hold for this format, with the accepted values.
EXTRA_CONFIG_KEYS = {
    "device": "'auto' (default: where the model's parameters are), 'cpu', 'cuda' or 'cuda:N'",
    "fallback": "'cpu' (default: decode on the CPU when the GPU decoder cannot run) or null (fail)",
    "batch_mib": f"a positive int (default {DEFAULT_BATCH_MIB}): most MiB decoded at once",
    "enable_weights_track": "true/false (default: as vLLM's default loader, on for unquantized models)",
}

# Files fetched for a Hub repository id: the weights and the shard index. vLLM fetches
# config.json, tokenizer and generation config itself, from the same repository.
HUB_ALLOW_PATTERNS = ["*.wcodec", "model.wcodec.index.json"]


def parse_options(extra: Any, load_format: str, allowed: dict[str, str]) -> dict[str, Any]:
    """The options of ``--model-loader-extra-config`` for ``load_format``, validated; ``allowed``
    maps each key this format accepts to a description of its values."""
    if not isinstance(extra, dict):
        raise ValueError(
            f"model_loader_extra_config must be a dict for load format `{load_format}`, "
            f"not {type(extra).__name__}"
        )
    unknown = sorted(set(extra) - set(allowed))
    if unknown:
        known = "; ".join(f"`{k}`: {v}" for k, v in allowed.items())
        raise ValueError(
            f"unknown model_loader_extra_config keys for load format `{load_format}`: {unknown} ({known})"
        )
    device = extra.get("device", "auto")
    if not isinstance(device, str):
        raise ValueError(f"model_loader_extra_config `device` must be a string, not {device!r}")
    if device != "auto":
        try:
            parsed = torch.device(device)
        except RuntimeError:
            parsed = None
        if parsed is None or parsed.type not in ("cpu", "cuda"):
            raise ValueError(
                f"model_loader_extra_config `device` must be {EXTRA_CONFIG_KEYS['device']}, not {device!r}"
            )
    fallback = extra.get("fallback", "cpu")
    if fallback not in ("cpu", None):
        raise ValueError(
            f"model_loader_extra_config `fallback` must be {EXTRA_CONFIG_KEYS['fallback']}, not {fallback!r}"
        )
    batch_mib = extra.get("batch_mib", DEFAULT_BATCH_MIB)
    if isinstance(batch_mib, bool) or not isinstance(batch_mib, int) or batch_mib <= 0:
        raise ValueError(f"model_loader_extra_config `batch_mib` must be a positive int, not {batch_mib!r}")
    track = extra.get("enable_weights_track")
    if track is not None and not isinstance(track, bool):
        raise ValueError(f"model_loader_extra_config `enable_weights_track` must be a bool, not {track!r}")
    return {**extra, "device": device, "fallback": fallback, "batch_bytes": batch_mib << 20, "track": track}


def decode_for_vllm(
    path: PathLike,
    device: torch.device,
    fallback: Optional[str],
    batch_bytes: int,
    skip: Optional[Callable[[str], bool]],
    use_tqdm: bool,
) -> Iterator[tuple[str, torch.Tensor]]:
    """The weight iterator inside vLLM: logged through vLLM's logger, with a progress bar over
    the decoded bytes (shown where vLLM shows its own: with ``use_tqdm_on_load``, on rank 0)."""
    from tqdm.auto import tqdm
    from vllm.model_executor.model_loader.weight_utils import enable_tqdm

    bar: list[Any] = []

    def start(n_tensors: int, n_bytes: int) -> None:
        bar.append(tqdm(
            total=n_bytes, desc=f"Loading wcodec weights ({n_tensors} tensors)", unit="B",
            unit_scale=True, unit_divisor=1024, bar_format=BAR_FORMAT, mininterval=1.0,
            disable=not enable_tqdm(use_tqdm),
        ))

    try:
        yield from iterate_weights(
            path, device, fallback, batch_bytes, skip, logger,
            on_start=start, on_tensor=lambda n: bar[0].update(n),
        )
    finally:
        if bar:
            bar[0].close()


class WcodecModelLoader(BaseModelLoader):
    """Loads the weights of a directory made by ``wcodec-encode`` (``--load-format wcodec``).

    Every tensor is decoded (on the GPU with wcodec's GPU decoder when the model's parameters are
    on a CUDA device, on the CPU otherwise) and passed to ``model.load_weights`` under its
    checkpoint name, dtype and layout, so vLLM's weight loaders, quantization methods and
    ``process_weights_after_loading`` see exactly the tensors of the original safetensors
    checkpoint. Under tensor parallelism every rank decodes full tensors and vLLM's weight
    loaders take each rank's slice, as with safetensors.
    """

    def __init__(self, load_config: LoadConfig) -> None:
        super().__init__(load_config)
        options = parse_options(load_config.model_loader_extra_config, "wcodec", EXTRA_CONFIG_KEYS)
        self.device: str = options["device"]
        self.fallback: Optional[str] = options["fallback"]
        self.batch_bytes: int = options["batch_bytes"]
        self.enable_weights_track: Optional[bool] = options["track"]
        # Set per load by vLLM's expert-parallel filter (None: every expert is local).
        self.local_expert_ids: Optional[set[int]] = None

    # --- where the weights are ------------------------------------------------------------------

    def model_dir(self, model_config: ModelConfig) -> str:
        """The local directory holding the model's ``.wcodec`` files, downloading them first when
        ``model_config.model`` is a Hub repository id (only ``*.wcodec`` and the shard index, into
        ``--download-dir``, honouring ``HF_HUB_OFFLINE``)."""
        local = local_model_dir(model_config.model)
        if local is None:
            from vllm.model_executor.model_loader.weight_utils import download_weights_from_hf

            local = download_weights_from_hf(
                model_config.model,
                self.load_config.download_dir,
                list(HUB_ALLOW_PATTERNS),
                model_config.revision,
                ignore_patterns=self.load_config.ignore_patterns,
            )
        directory = Path(local)
        if not (directory / WCODEC_INDEX).is_file() and not any(directory.glob("*.wcodec")):
            raise not_wcodec_error(model_config.model)
        # A damaged index or missing shards: errors that name the file and what to do.
        checkpoint_files(local)
        return local

    def download_model(self, model_config: ModelConfig) -> None:
        self.model_dir(model_config)

    # --- loading ----------------------------------------------------------------------------------

    def target_device(self, model: nn.Module) -> torch.device:
        """Where tensors are decoded: the ``device`` option, or with ``auto`` the device of the
        model's parameters (vLLM builds them on the load device before calling
        :meth:`load_weights`), else vLLM's configured load device, else the CPU."""
        if self.device != "auto":
            return torch.device(self.device)
        for p in model.parameters():
            if p.device.type != "meta":  # online-quantized layers start on meta
                return p.device
        from vllm.config import get_current_vllm_config_or_none

        config = get_current_vllm_config_or_none()
        device = self.load_config.device or (config.device_config.device if config is not None else None)
        return torch.device(device) if device else torch.device("cpu")

    def get_all_weights(self, model_config: ModelConfig, model: nn.Module) -> Any:
        """The iterator given to ``model.load_weights``: ``(checkpoint name, tensor)`` pairs."""
        if getattr(model, "secondary_weights", ()):
            raise UnsupportedFormatError(
                f"{type(model).__name__} loads weights from secondary sources, which load format "
                "`wcodec` does not read; load this model with its original checkpoint"
            )
        return decode_for_vllm(
            self.model_dir(model_config),
            self.target_device(model),
            self.fallback,
            self.batch_bytes,
            self._expert_filter(model_config),
            self.load_config.use_tqdm_on_load,
        )

    def _expert_filter(self, model_config: ModelConfig) -> Any:
        """Under expert parallelism, a filter of the experts other ranks own, so that they are not
        even decoded: vLLM's default loader's own computation (``_init_ep_weight_filter``, which
        leaves ``local_expert_ids`` None unless the model is MoE with EP on and EPLB off) and its
        ``should_skip_weight`` rule (expert weights only, never their scales). A vLLM without them,
        or a call outside vLLM's config context, decodes everything, which is always correct."""
        from vllm.config import get_current_vllm_config_or_none
        from vllm.model_executor.model_loader.default_loader import DefaultModelLoader

        self.local_expert_ids = None
        init = getattr(DefaultModelLoader, "_init_ep_weight_filter", None)
        if init is None or get_current_vllm_config_or_none() is None:
            return None
        init(self, model_config)
        local = self.local_expert_ids
        if local is None:
            return None
        from vllm.model_executor.model_loader.ep_weight_filter import should_skip_weight

        return lambda name: should_skip_weight(name, local)

    def load_weights(self, model: nn.Module, model_config: ModelConfig) -> None:
        loaded = model.load_weights(self.get_all_weights(model_config, model))  # type: ignore[operator]
        # As vLLM's default loader: a model whose load_weights reports what it loaded is checked
        # for parameters the checkpoint left uninitialised (by default for unquantized models).
        track = self.enable_weights_track
        if track is None:
            track = model_config.quantization is None and loaded is not None
        if track and loaded is not None:
            self.track_weights_loading(model, set(loaded), quantized=model_config.quantization is not None)

    def track_weights_loading(self, model: nn.Module, loaded: set[str], quantized: bool) -> None:
        """Raises ``ValueError`` naming the parameters the checkpoint did not initialise, with
        vLLM's own rules (which quantization parameters may be missing) where this vLLM has them."""
        from vllm.model_executor.model_loader.default_loader import DefaultModelLoader

        track = getattr(DefaultModelLoader, "track_weights_loading", None)
        if track is not None:
            # It reads only its arguments, never the loader's state.
            track(self, model, loaded, quantized=quantized)
            return
        missing = {name for name, _ in model.named_parameters()} - loaded
        if missing:
            raise ValueError(f"Following weights were not initialized from checkpoint: {missing}")

