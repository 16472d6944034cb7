"""Load format ``wcodec_sharded``: each rank reads only its own pre-sharded ``.wcodec`` files.

The counterpart of vLLM's ``sharded_state`` (``ShardedStateLoader``), with the same file names
and the same contract, in ``.wcodec`` instead of ``.safetensors``:

- :func:`save_sharded_state` writes, on each rank, the rank's own ``model.state_dict()`` (after
  vLLM's weight loaders have sliced, fused and post-processed it) as
  ``model-rank-{rank}-part-{part}.wcodec`` (``model-pp-{pp_rank}-tp-{tp_rank}-part-{part}.wcodec``
  under pipeline parallelism), split into parts of at most ``max_size`` bytes;
  ``python -m wcodec.vllm save-sharded`` runs it in every worker of an engine (see
  :func:`save_sharded_main`);
- :class:`WcodecShardedStateLoader` builds the model as usual and copies each decoded tensor
  straight into the parameter of the same name: no weight loader runs, and no rank decodes
  another rank's tensors.

The files are tied to what wrote them, as vLLM's are: the tensor/pipeline-parallel layout, the
dtype and quantization, and the vLLM version's parameter layout.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import shutil
import string
import time
from collections.abc import Iterator
from typing import Any, Optional

import torch
from torch import nn
from vllm.config import ModelConfig
from vllm.config.load import LoadConfig
from vllm.model_executor.model_loader.base_loader import BaseModelLoader

from ._files import PathLike
from ._vllm_common import SHARDED_LOAD_FORMAT, local_model_dir
from ._vllm_loader import EXTRA_CONFIG_KEYS, decode_for_vllm, logger, parse_options

TP_ONLY_PATTERN = "model-rank-{rank}-part-{part}.wcodec"
PP_AND_TP_PATTERN = "model-pp-{pp_rank}-tp-{tp_rank}-part-{part}.wcodec"

SHARDED_EXTRA_CONFIG_KEYS = {
    "pattern": f"a file name pattern with {{rank}} (or {{tp_rank}}, {{pp_rank}}) and {{part}} "
    f"(default {TP_ONLY_PATTERN!r}, {PP_AND_TP_PATTERN!r} under pipeline parallelism)",
    **{k: v for k, v in EXTRA_CONFIG_KEYS.items() if k != "enable_weights_track"},
}

# What `save-sharded` copies beside the rank files: everything but weights and their indexes
# (config, tokenizer, generation config, chat template, …), as vLLM's example does.
_WEIGHT_SUFFIXES = (".safetensors", ".wcodec", ".bin", ".pt", ".pth")
_INDEX_RE = re.compile(r"\.(safetensors|wcodec|bin)\.index\.json$")


def render_pattern(pattern: Optional[str], part: Any) -> str:
    """The file name of this rank's part ``part`` (``"*"`` for a glob). Refuses a pattern that
    would make two ranks write the same file, as vLLM's ``sharded_state`` does."""
    from vllm.distributed import get_pp_group, get_tensor_model_parallel_rank, get_tp_group

    pp_size = get_pp_group().world_size
    tp_size = get_tp_group().world_size
    if pattern is None:
        pattern = PP_AND_TP_PATTERN if pp_size > 1 else TP_ONLY_PATTERN
    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    unsupported = fields - {"pp_rank", "tp_rank", "rank", "part"}
    if unsupported:
        raise ValueError(
            f"pattern {pattern!r} uses {sorted(unsupported)}; the fields are rank (= tp_rank), "
            "tp_rank, pp_rank and part"
        )
    if "part" not in fields:
        raise ValueError(f"pattern {pattern!r} has no {{part}}: the parts of one rank would collide")
    has_tp = bool(fields & {"rank", "tp_rank"})
    if tp_size > 1 and not has_tp:
        raise ValueError(f"pattern {pattern!r} has no {{rank}}: the {tp_size} tensor-parallel ranks would collide")
    if pp_size > 1 and "pp_rank" not in fields:
        raise ValueError(f"pattern {pattern!r} has no {{pp_rank}}: the {pp_size} pipeline stages would collide")
    if pp_size == 1 and "pp_rank" in fields:
        raise ValueError(f"pattern {pattern!r} uses {{pp_rank}} but the pipeline-parallel size is 1")
    tp_rank = get_tensor_model_parallel_rank()
    pp_rank = get_pp_group().rank_in_group
    return pattern.format(rank=tp_rank, tp_rank=tp_rank, pp_rank=pp_rank, part=part)


def own_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the tensors that are views of another's memory (tied weights, fused
    parameters' views), which loading refills through the tensor that owns the memory: of
    tensors covering the same bytes, the one with the smallest name is kept."""
    groups: dict[Any, list[tuple[str, torch.Tensor]]] = collections.defaultdict(list)
    for name, t in state.items():
        if t.numel():
            groups[t.device, t.untyped_storage().data_ptr()].append((name, t))

    def span(t: torch.Tensor) -> tuple[int, int]:
        return t.data_ptr(), t.view(-1)[-1].data_ptr() + t.element_size()

    kept: dict[str, torch.Tensor] = {}
    for group in groups.values():
        for name, t in group:
            a, b = span(t)
            covered = False
            for other_name, other in group:
                if other_name == name or not other.is_contiguous():
                    continue
                a2, b2 = span(other)
                if a2 <= a and b <= b2 and ((a2, b2) != (a, b) or not t.is_contiguous() or other_name < name):
                    covered = True
                    break
            if not covered:
                kept[name] = t
    return {name: state[name] for name in state if name in kept}


def save_sharded_state(
    model: nn.Module, path: PathLike, pattern: Optional[str] = None, max_size: Optional[int] = None
) -> list[str]:
    """Writes this rank's tensors of ``model`` into ``path`` as ``.wcodec`` parts of at most
    ``max_size`` bytes each (a larger tensor gets a part of its own); returns the files written.
    Called in each worker (vLLM's distributed state must be initialised)."""
    from .torch import save_file

    state = own_tensors(model.state_dict())
    os.makedirs(path, exist_ok=True)
    written: list[str] = []
    part: dict[str, torch.Tensor] = {}
    size = 0

    def flush() -> None:
        name = os.path.join(os.fspath(path), render_pattern(pattern, len(written)))
        save_file({k: v.detach().contiguous() for k, v in part.items()}, name)
        written.append(name)
        part.clear()

    for name, t in state.items():
        nbytes = t.numel() * t.element_size()
        if part and max_size is not None and size + nbytes > max_size:
            flush()
            size = 0
        part[name] = t
        size += nbytes
    if part:
        flush()
    logger.info("wcodec: wrote %d tensors of this rank in %d file(s) to %s", len(state), len(written), path)
    return written


class WcodecShardedStateLoader(BaseModelLoader):
    """Loads the pre-sharded ``.wcodec`` files of this rank (``--load-format wcodec_sharded``):
    each tensor is decoded (on the GPU when the parameters are there) and copied into the model's
    parameter of the same name. Missing, unexpected and mismatched tensors are errors that name
    the file."""

    def __init__(self, load_config: LoadConfig) -> None:
        super().__init__(load_config)
        options = parse_options(load_config.model_loader_extra_config, SHARDED_LOAD_FORMAT, SHARDED_EXTRA_CONFIG_KEYS)
        pattern = options.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            raise ValueError(f"model_loader_extra_config `pattern` must be a string, not {pattern!r}")
        self.pattern: Optional[str] = pattern
        self.device: str = options["device"]
        self.fallback: Optional[str] = options["fallback"]
        self.batch_bytes: int = options["batch_bytes"]

    def model_dir(self, model_config: ModelConfig) -> str:
        weights = getattr(model_config, "model_weights", None) or model_config.model
        local = local_model_dir(weights)
        if local is not None:
            return local
        from vllm.model_executor.model_loader.weight_utils import download_weights_from_hf

        return download_weights_from_hf(
            weights, self.load_config.download_dir, ["*.wcodec"], model_config.revision,
            ignore_patterns=self.load_config.ignore_patterns,
        )

    def download_model(self, model_config: ModelConfig) -> None:
        self.model_dir(model_config)

    def rank_files(self, model_dir: str) -> list[str]:
        """This rank's files, in part order."""
        rendered = render_pattern(self.pattern, "*")
        files = glob.glob(os.path.join(glob.escape(model_dir), rendered))
        if not files:
            raise ValueError(
                f"no files `{rendered}` in `{model_dir}` for this rank: load format "
                f"`{SHARDED_LOAD_FORMAT}` reads the per-rank files that `python -m wcodec.vllm "
                "save-sharded` writes, for the same tensor- and pipeline-parallel sizes; for a "
                "directory made by wcodec-encode, use the default load format or `--load-format wcodec`"
            )
        prefix, _, suffix = rendered.partition("*")

        def part(f: str) -> int:
            middle = os.path.basename(f)[len(prefix): len(os.path.basename(f)) - len(suffix)]
            return int(middle) if middle.isdigit() else -1

        return sorted(files, key=lambda f: (part(f), f))

    def load_weights(self, model: nn.Module, model_config: ModelConfig) -> None:
        files = self.rank_files(self.model_dir(model_config))
        state = own_tensors(model.state_dict())
        device = next((t.device for t in state.values()), torch.device("cpu"))
        if self.device != "auto":
            device = torch.device(self.device)
        start = time.perf_counter()
        for f in files:
            for name, tensor in self._tensors(f, device):
                param = state.pop(name, None)
                if param is None:
                    raise ValueError(
                        f"`{f}` holds `{name}`, which this model does not have (or was loaded from "
                        "another file already): the files were written for another model, layout or "
                        "vLLM version; write them again with `python -m wcodec.vllm save-sharded`"
                    )
                _copy_into(param, tensor, name, f)
        if state:
            raise ValueError(
                f"missing from {[os.path.basename(f) for f in files]}: {sorted(state)}; the files "
                "were written for another model, layout or vLLM version"
            )
        seconds = time.perf_counter() - start
        logger.info("wcodec: loaded this rank's weights from %d file(s) in %.2f s", len(files), seconds)

    def _tensors(self, path: str, device: torch.device) -> Iterator[tuple[str, torch.Tensor]]:
        return decode_for_vllm(path, device, self.fallback, self.batch_bytes, None, self.load_config.use_tqdm_on_load)


def _copy_into(param: torch.Tensor, tensor: torch.Tensor, name: str, path: str) -> None:
    """Copies ``tensor`` into ``param``: same dtype; a smaller tensor fills the leading part of
    each dimension (vLLM pads some parameters, e.g. for LoRA, after the files were written)."""
    if tensor.dtype != param.dtype:
        raise ValueError(
            f"`{path}`: `{name}` is {tensor.dtype}, the model's parameter {param.dtype}: write the "
            "files again with the same --dtype and quantization as this engine"
        )
    if tensor.dim() != param.dim() or any(s > p for s, p in zip(tensor.shape, param.shape)):
        raise ValueError(
            f"`{path}`: `{name}` has shape {list(tensor.shape)}, the model's parameter "
            f"{list(param.shape)}: the files were written for another tensor-parallel layout"
        )
    target = param.data
    for dim, size in enumerate(tensor.shape):
        if size < target.shape[dim]:
            target = target.narrow(dim, 0, size)
    target.copy_(tensor)


class WcodecShardedSaver:
    """A vLLM worker extension (``worker_extension_cls``): the method ``save-sharded`` calls in
    every worker through ``LLM.collective_rpc``."""

    def save_wcodec_sharded_state(self, path: str, pattern: Optional[str], max_size: Optional[int]) -> list[str]:
        model = self.get_model()  # type: ignore[attr-defined]
        return save_sharded_state(model, path, pattern, max_size)


def copy_model_files(model_dir: str, output: str) -> list[str]:
    """Copies the files of ``model_dir`` that are not weights (config, tokenizer, …) into
    ``output``; returns their names."""
    copied = []
    for name in sorted(os.listdir(model_dir)):
        src = os.path.join(model_dir, name)
        if not os.path.isfile(src) or name.endswith(_WEIGHT_SUFFIXES) or _INDEX_RE.search(name):
            continue
        shutil.copy2(src, os.path.join(output, name))
        copied.append(name)
    return copied


def save_sharded_main(argv: list[str]) -> int:
    """``python -m wcodec.vllm save-sharded --model MODEL --output DIR [engine options]``: starts
    a vLLM engine on ``MODEL`` (any checkpoint vLLM loads, an encoded directory included) with
    the given tensor/pipeline-parallel sizes, and has every worker write its own files, into a
    temporary directory renamed to ``DIR`` at the end (nothing half-written is left)."""
    import dataclasses
    import tempfile

    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(
        prog="python -m wcodec.vllm save-sharded",
        description="Write per-rank pre-sharded .wcodec files for `--load-format wcodec_sharded`.",
    )
    EngineArgs.add_cli_args(parser)
    parser.add_argument("--output", required=True, help="directory to create (must not exist)")
    parser.add_argument("--file-pattern", default=None, help=f"file name pattern (default {TP_ONLY_PATTERN!r})")
    parser.add_argument(
        "--max-file-size", type=int, default=5 << 30, help="most bytes of tensors per file (default 5 GiB)"
    )
    args = parser.parse_args(argv)
    output = os.path.abspath(args.output)
    if os.path.exists(output):
        parser.error(f"`{output}` exists: give a new directory")
    engine_args = EngineArgs.from_cli_args(args)
    engine_args.worker_extension_cls = f"{__name__}.WcodecShardedSaver"
    model_dir = local_model_dir(engine_args.model)
    if model_dir is None:
        parser.error(
            f"--model must be a local directory (the files beside the weights are copied), not {engine_args.model!r}"
        )
        return 2  # not reached: parser.error exits (usage error, status 2)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.", dir=os.path.dirname(output))
    try:
        llm = LLM(**dataclasses.asdict(engine_args))
        per_rank = llm.collective_rpc(
            "save_wcodec_sharded_state", args=(staging, args.file_pattern, args.max_file_size)
        )
        copied = copy_model_files(model_dir, staging)
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    n_files = sum(len(files) for files in per_rank)
    print(f"wrote {n_files} .wcodec files for {len(per_rank)} ranks and copied {len(copied)} files to {output}")
    print(f"load with: vllm serve {output} --load-format {SHARDED_LOAD_FORMAT} " + _parallel_flags(engine_args))
    return 0


def _parallel_flags(engine_args: Any) -> str:
    return (
        f"--tensor-parallel-size {engine_args.tensor_parallel_size} "
        f"--pipeline-parallel-size {engine_args.pipeline_parallel_size}"
    )
