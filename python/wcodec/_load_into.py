"""``load_into``: decoding a checkpoint straight into tensors the caller already owns (the
parameters and buffers of a module, or the values of a state dict), so that no second copy of
the weights is ever allocated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from . import _device, _dtypes, _reader
from ._files import PathLike
from .errors import IncompatibleTargetError, WcodecError

if TYPE_CHECKING:
    import torch


class LoadResult(NamedTuple):
    """What :func:`load_into` did not match (as ``torch.nn.Module.load_state_dict`` reports)."""

    missing_keys: list[str]
    """Tensors of the target that the checkpoint does not have (left untouched)."""
    unexpected_keys: list[str]
    """Tensors of the checkpoint that the target does not have (not decoded)."""


def _destinations(target: Any) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(target, torch.nn.Module):
        # `keep_vars` gives the parameters and persistent buffers themselves, whose `.data` is
        # the memory the module computes with.
        return {k: v.data for k, v in target.state_dict(keep_vars=True).items()}
    if isinstance(target, Mapping):
        out = {}
        for k, v in target.items():
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"state dict entry `{k}` is a {type(v).__name__}, not a tensor")
            out[str(k)] = v.data
        return out
    raise TypeError(f"target must be a torch.nn.Module or a state dict, not {type(target).__name__}")


def _mismatches(pairs: list[tuple[_reader.TensorInfo, torch.Tensor]]) -> list[str]:
    problems = []
    for e, t in pairs:
        dtype = _dtypes.torch_dtype(e.dtype)
        shape = _dtypes.torch_shape(e.dtype, e.shape)
        if t.dtype != dtype or list(t.shape) != shape:
            problems.append(
                f"`{e.name}`: the checkpoint has {e.dtype} {shape}, the target {t.dtype} {list(t.shape)}"
            )
        elif t.device.type == "meta":
            problems.append(f"`{e.name}`: the target tensor is on the meta device (it has no memory)")
    return problems


def load_into(
    target: Union[torch.nn.Module, Mapping[str, torch.Tensor]], path: PathLike, *, strict: bool = True
) -> LoadResult:
    """Decodes the checkpoint at ``path`` (a ``.wcodec`` file or an encoded model directory)
    straight into the existing tensors of ``target``: a ``torch.nn.Module`` (its parameters and
    persistent buffers, named as in its ``state_dict()``) or a state dict. Every tensor is
    decoded into the memory it already has, on whatever device it is: CUDA tensors by the GPU
    decoder (or decoded on the CPU and copied, where it cannot run), CPU tensors on every core.
    Nothing else of the size of the weights is allocated.

    Names, dtypes and shapes are checked first, as ``load_state_dict`` checks them: with
    ``strict`` (the default) missing or unexpected names raise :class:`IncompatibleTargetError`;
    a dtype or shape mismatch raises it whatever ``strict``. These errors leave the target
    untouched. An error while decoding (:class:`CorruptFileError` for damaged data) carries the
    attributes ``written`` (names fully written and verified before it) and ``partial`` (names
    that may hold partial data); every other tensor is untouched.

    Returns the missing and unexpected names (``LoadResult``).
    """

    dests = _destinations(target)
    ckpt = _reader.Checkpoint.open(path)
    missing = [k for k in dests if k not in ckpt.entries]
    unexpected = [k for k in ckpt.entries if k not in dests]
    pairs = [(ckpt.entries[k], dests[k]) for k in dests if k in ckpt.entries]
    problems = _mismatches(pairs)
    if strict and (missing or unexpected):
        if missing:
            problems.insert(0, "missing from the checkpoint: " + ", ".join(f"`{k}`" for k in missing))
        if unexpected:
            problems.insert(0, "not in the target: " + ", ".join(f"`{k}`" for k in unexpected))
    if problems:
        raise IncompatibleTargetError(f"cannot load `{path}` into the target:\n\t" + "\n\t".join(problems))

    # Tied weights: names sharing one tensor's memory are decoded once.
    seen: dict[tuple[str, int, int], str] = {}
    groups: dict[tuple[int, str, Any], list[tuple[_reader.TensorInfo, torch.Tensor]]] = {}
    for e, t in pairs:
        key = (str(t.device), t.data_ptr(), e.nbytes)
        if e.nbytes and key in seen:
            continue
        seen[key] = e.name
        groups.setdefault((id(e.reader), t.device.type, t.device.index), []).append((e, t))

    written: list[str] = []
    for (_, kind, index), group in groups.items():
        names = [e.name for e, _ in group]
        try:
            _load_group(group, kind, index)
        except WcodecError as err:
            err.written = list(written)
            err.partial = names
            if hasattr(err, "add_note"):
                err.add_note(
                    f"load_into: {len(written)} tensors were written before the error; these "
                    f"{len(names)} may hold partial data: {', '.join(names[:20])}"
                    + (" ..." if len(names) > 20 else "")
                )
            raise
        written.extend(names)
    return LoadResult(missing, unexpected)


def _load_group(group: list[tuple[_reader.TensorInfo, torch.Tensor]], kind: str, index: Any) -> None:
    """Decodes tensors of one file into destinations on one device."""
    import torch

    reader = group[0][0].reader
    direct = [(e, t) for e, t in group if t.is_contiguous()]
    # A non-contiguous destination (a transposed view) gets a contiguous copy decoded, then copied.
    strided = [(e, t) for e, t in group if not t.is_contiguous()]
    if kind == "cuda":
        dev = torch.device("cuda", index)
        if _device.use_gpu_decoder(dev):
            with torch.cuda.device(dev):
                stream = torch.cuda.current_stream(dev)
                jobs = [(e.index, t.data_ptr(), e.nbytes) for e, t in direct]
                if jobs:
                    reader.decode_into_cuda(jobs, dev.index, stream.cuda_stream)
                for e, t in strided:
                    t.copy_(_reader._decode_cuda([e], dev, stream)[0])
            return
        # No GPU decoder here: decode on the CPU, then copy each tensor to its place.
        for (_, t), cpu in zip(group, _reader._decode_cpu([e for e, _ in group])):
            t.copy_(cpu)
        return
    if kind != "cpu":
        for (_, t), cpu in zip(group, _reader._decode_cpu([e for e, _ in group])):
            t.copy_(cpu)
        return
    jobs = [(e.index, t.data_ptr(), e.nbytes) for e, t in direct]
    if jobs:
        reader.decode_into(jobs)
    for (_, t), cpu in zip(strided, _reader._decode_cpu([e for e, _ in strided])):
        t.copy_(cpu)
