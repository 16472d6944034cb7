"""``load_into``: decoding a checkpoint straight into tensors the caller already owns (the
parameters and buffers of a module, or the values of a state dict), so that no second copy of
the weights is ever allocated."""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from . import _bulk, _device, _dtypes, _reader
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


def _mismatches(ckpt: _reader.Checkpoint, pairs: list[tuple[int, torch.Tensor]]) -> list[str]:
    problems = []
    dtypes: dict[str, torch.dtype] = {}
    for row, t in pairs:
        name = ckpt.dtypes[row]
        dtype = dtypes.get(name)
        if dtype is None:
            dtype = dtypes[name] = _dtypes.torch_dtype(name)
        shape = _dtypes.torch_shape(name, ckpt.shapes[row])
        if t.dtype != dtype or list(t.shape) != shape:
            problems.append(
                f"`{ckpt.names[row]}`: the checkpoint has {name} {shape}, the target {t.dtype} {list(t.shape)}"
            )
        elif t.device.type == "meta":
            problems.append(f"`{ckpt.names[row]}`: the target tensor is on the meta device (it has no memory)")
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
    rows = ckpt.rows
    missing = [k for k in dests if k not in rows]
    unexpected = [k for k in ckpt.names if k not in dests]
    pairs = [(rows[k], t) for k, t in dests.items() if k in rows]
    problems = _mismatches(ckpt, pairs)
    if strict and (missing or unexpected):
        if missing:
            problems.insert(0, "missing from the checkpoint: " + ", ".join(f"`{k}`" for k in missing))
        if unexpected:
            problems.insert(0, "not in the target: " + ", ".join(f"`{k}`" for k in unexpected))
    if problems:
        raise IncompatibleTargetError(f"cannot load `{path}` into the target:\n\t" + "\n\t".join(problems))

    # Tied weights: names sharing one tensor's memory are decoded once.
    seen: set[tuple[str, int, int]] = set()
    groups: dict[tuple[int, str, Any], list[tuple[int, torch.Tensor]]] = {}
    for row, t in pairs:
        nbytes = ckpt.nbytes[row]
        key = (str(t.device), t.data_ptr(), nbytes)
        if nbytes and key in seen:
            continue
        seen.add(key)
        groups.setdefault((ckpt._file_of(row), t.device.type, t.device.index), []).append((row, t))

    written: list[str] = []
    for (k, kind, index), group in groups.items():
        names = [ckpt.names[row] for row, _ in group]
        try:
            _load_group(ckpt, k, group, kind, index)
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


def _jobs(ckpt: _reader.Checkpoint, k: int, group: list[tuple[int, torch.Tensor]]) -> bytes:
    """The packed jobs of tensors of file ``k`` decoded straight into the target's memory."""
    start = ckpt.starts[k]
    return _bulk.pack_jobs(
        array("Q", [row - start for row, _ in group]),
        [t.data_ptr() for _, t in group],
        array("Q", [ckpt.nbytes[row] for row, _ in group]),
    )


def _copy_decoded(ckpt: _reader.Checkpoint, group: list[tuple[int, torch.Tensor]]) -> None:
    """Decodes on the CPU, then copies each tensor to its place (any device, any strides)."""
    batch = _reader._Batch.of([ckpt.row_info(row) for row, _ in group])
    for (_, t), cpu in zip(group, _reader._decode_cpu(batch)):
        t.copy_(cpu)


def _load_group(
    ckpt: _reader.Checkpoint, k: int, group: list[tuple[int, torch.Tensor]], kind: str, index: Any
) -> None:
    """Decodes tensors of file ``k`` into destinations on one device."""
    import torch

    reader = ckpt.readers[k]
    direct = [(row, t) for row, t in group if t.is_contiguous()]
    # A non-contiguous destination (a transposed view) gets a contiguous copy decoded, then copied.
    strided = [(row, t) for row, t in group if not t.is_contiguous()]
    if kind == "cuda":
        dev = torch.device("cuda", index)
        if _device.use_gpu_decoder(dev):
            with torch.cuda.device(dev):
                stream = torch.cuda.current_stream(dev)
                if direct:
                    reader.decode_into_cuda(_jobs(ckpt, k, direct), dev.index, stream.cuda_stream)
                for row, t in strided:
                    t.copy_(_reader._decode_cuda(_reader._Batch.of([ckpt.row_info(row)]), dev, stream)[0])
            return
        # No GPU decoder here: decode on the CPU, then copy each tensor to its place.
        _copy_decoded(ckpt, group)
        return
    if kind != "cpu":
        _copy_decoded(ckpt, group)
        return
    if direct:
        reader.decode_into(_jobs(ckpt, k, direct))
    if strided:
        _copy_decoded(ckpt, strided)
