#!/usr/bin/env python3
"""TensorRT: refit a weight-stripped engine from weights the wcodec GPU decoder wrote into GPU memory.

The deployment this shows:

1. Once, offline: build the engine with ``BuilderFlag.STRIP_PLAN`` + ``REFIT_IDENTICAL``. The plan
   keeps the network and its kernels but not the refittable weights, which stay in the (small,
   compressed) ``.wcodec`` checkpoint. Weights are named after the checkpoint's tensors
   (``INetworkDefinition.set_weights_name``), so refitting needs no name table.
2. At load time: deserialize the plan, decode every tensor the refitter asks for
   (``Refitter.get_missing_weights()``) straight into CUDA memory with wcodec's GPU decoder, hand
   the device pointers over with ``set_named_weights(name, Weights(dtype, ptr, count),
   TensorLocation.DEVICE)`` and refit on the same stream. No host copy of the weights exists.
3. Run the engine and compare with the same MLP computed by torch from the original checkpoint.

The model is a small MLP (``fc1``: 256→512, ReLU, ``fc2``: 512→128, fp32 or fp16), written as a
safetensors checkpoint in ``nn.Linear`` layout (``weight`` is ``[out, in]``, used with a
transposed matrix multiply, so the checkpoint bytes go to TensorRT untouched) and encoded.

    python examples/tensorrt_engine.py [--dtype fp16] [--out DIR]

Needs a CUDA GPU, torch with CUDA and TensorRT's Python package (``pip install tensorrt-cu13``,
tested against the 11.x API; TensorRT 10.x has the same calls). Without them it says what is
missing and exits with status 2.

The C++ form of the same refit, over wcodec's C ABI, is ``examples/tensorrt_refit.cpp``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

IN, HIDDEN, OUT, BATCH = 256, 512, 128, 8


def make_checkpoint(out: Path, dtype: Any) -> Path:
    """The MLP's weights as a safetensors file (``nn.Linear`` names and layout)."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, OUT))
    state = {f"fc{i // 2 + 1}.{k}": v.detach().to(dtype).contiguous() for i, m in enumerate(mlp)
             if isinstance(m, torch.nn.Linear) for k, v in m.state_dict().items()}
    path = out / "mlp.safetensors"
    save_file(state, str(path))
    return path


def trt_dtype(trt: Any, torch_dtype: Any) -> Any:
    import torch

    table = {torch.float32: trt.float32, torch.float16: trt.float16, torch.bfloat16: trt.bfloat16,
             torch.int8: trt.int8, torch.int32: trt.int32}
    if torch_dtype not in table:
        raise ValueError(f"no TensorRT dtype for {torch_dtype} in this example")
    return table[torch_dtype]


def build_stripped_plan(trt: Any, logger: Any, weights: dict[str, Any], dtype: Any) -> bytes:
    """Builds the MLP with refittable weights stripped from the plan.

    ``weights`` are the build-time values (host tensors). With ``REFIT_IDENTICAL`` TensorRT may
    optimise for these exact values, so they must be the checkpoint's: refitting then restores the
    same weights, decoded from ``.wcodec``."""
    import numpy as np
    import torch

    builder = trt.Builder(logger)
    flags = 0
    # TensorRT 10 needs STRONGLY_TYPED for per-tensor dtypes; TensorRT 11 networks always are.
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    kept: list[Any] = []  # trt.Weights reference their arrays until the build ends

    def constant(name: str, shape: tuple[int, ...]) -> Any:
        array = weights[name].cpu().contiguous()
        if array.dtype == torch.bfloat16:
            raise ValueError("bf16 build-time weights need a numpy bf16 type; use fp32 or fp16 here")
        array = np.ascontiguousarray(array.numpy())
        kept.append(array)
        w = trt.Weights(array)
        layer = network.add_constant(shape, w)
        layer.name = name
        network.set_weights_name(w, name)  # the name the refitter asks for
        return layer.get_output(0)

    x = network.add_input("x", trt_dtype(trt, dtype), (BATCH, IN))
    h = x
    for i, (n_in, n_out) in enumerate(((IN, HIDDEN), (HIDDEN, OUT)), start=1):
        w = constant(f"fc{i}.weight", (n_out, n_in))
        b = constant(f"fc{i}.bias", (1, n_out))
        mm = network.add_matrix_multiply(h, trt.MatrixOperation.NONE, w, trt.MatrixOperation.TRANSPOSE)
        h = network.add_elementwise(mm.get_output(0), b, trt.ElementWiseOperation.SUM).get_output(0)
        if i == 1:
            h = network.add_activation(h, trt.ActivationType.RELU).get_output(0)
    h.name = "y"
    network.mark_output(h)

    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.STRIP_PLAN)
    config.set_flag(trt.BuilderFlag.REFIT_IDENTICAL)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT could not build the engine (see its log above)")
    return bytes(plan)


def refit_from_wcodec(trt: Any, logger: Any, engine: Any, wcodec_path: Path) -> dict[str, Any]:
    """Fills every stripped weight of ``engine`` from ``wcodec_path``, decoded on the GPU.

    Returns the decoded tensors: the engine reads them during the refit, which is enqueued on
    the stream, so they must live until the stream has run it (here: synchronized before return;
    with ``refit_cuda_engine_async`` the caller may free them with work on the same stream)."""
    import torch

    import wcodec

    refitter = trt.Refitter(engine, logger)
    missing = list(refitter.get_missing_weights())
    stream = torch.cuda.current_stream()
    # One decode call for all of them (one pipelined GPU pass), straight into torch-allocated
    # CUDA memory; fallback=None: fail rather than decode on the CPU, since this example is
    # about the GPU path.
    with wcodec.open(wcodec_path, device="cuda", fallback=None) as f:
        unknown = [n for n in missing if n not in f]
        if unknown:
            raise wcodec.TensorNotFoundError(f"the engine needs weights the checkpoint lacks: {unknown}")
        tensors = f.get_tensors(missing)
    for name in missing:
        t = tensors[name]
        proto = refitter.get_weights_prototype(name)
        if proto.size != t.numel() or proto.dtype != trt_dtype(trt, t.dtype):
            raise ValueError(f"`{name}`: the engine expects {proto.size} x {proto.dtype}, "
                             f"the checkpoint has {t.numel()} x {t.dtype}")
        ok = refitter.set_named_weights(name, trt.Weights(proto.dtype, t.data_ptr(), t.numel()),
                                        trt.TensorLocation.DEVICE)
        if not ok:
            raise RuntimeError(f"TensorRT rejected the weights `{name}`")
    if not refitter.refit_cuda_engine_async(stream.cuda_stream):
        raise RuntimeError("TensorRT refit failed (missing or invalid weights; see its log)")
    stream.synchronize()
    return tensors


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32")
    parser.add_argument("--out", type=Path, help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)

    try:
        import tensorrt as trt
        import torch
    except ImportError as e:
        print(f"this example needs torch and TensorRT (pip install tensorrt-cu13): {e}", file=sys.stderr)
        return 2
    import wcodec

    if not wcodec.is_cuda_available():
        print("this example needs a CUDA GPU on which wcodec's GPU decoder runs", file=sys.stderr)
        return 2
    from safetensors.torch import load_file

    dtype = torch.float32 if args.dtype == "fp32" else torch.float16
    out = args.out or Path(tempfile.mkdtemp(prefix="wcodec-trt-"))
    out.mkdir(parents=True, exist_ok=True)
    st = make_checkpoint(out, dtype)
    wcodec.encode_checkpoint(st, out / "mlp.wcodec", overwrite=True)
    original = load_file(str(st))

    logger = trt.Logger(trt.Logger.WARNING)
    plan = build_stripped_plan(trt, logger, original, dtype)
    (out / "mlp.plan").write_bytes(plan)
    print(f"TensorRT {trt.__version__}: stripped plan {len(plan):,} B, "
          f"weights {sum(t.nbytes for t in original.values()):,} B, "
          f"wcodec file {(out / 'mlp.wcodec').stat().st_size:,} B")

    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    weights = refit_from_wcodec(trt, logger, engine, out / "mlp.wcodec")

    x = torch.randn(BATCH, IN, generator=torch.Generator().manual_seed(1)).to(dtype).cuda()
    y = torch.empty(BATCH, OUT, dtype=dtype, device="cuda")
    context = engine.create_execution_context()
    context.set_tensor_address("x", x.data_ptr())
    context.set_tensor_address("y", y.data_ptr())
    stream = torch.cuda.current_stream()
    if not context.execute_async_v3(stream.cuda_stream):
        raise RuntimeError("TensorRT inference failed")
    stream.synchronize()
    del weights  # the refit has completed; the engine holds its own copy

    # The reference: the same MLP in fp32 on the original safetensors weights.
    w = {k: v.float().cuda() for k, v in original.items()}
    ref = torch.relu(x.float() @ w["fc1.weight"].T + w["fc1.bias"]) @ w["fc2.weight"].T + w["fc2.bias"]
    err = float((y.float() - ref).abs().max())
    tol = 1e-3 if dtype == torch.float32 else 2e-2  # TensorRT may pick TF32 / fp16 accumulation
    scale = float(ref.abs().max())
    print(f"max |TensorRT - torch| = {err:.3g} (output scale {scale:.3g}, tolerance {tol * scale:.3g})")
    return 0 if err <= tol * scale else 1


if __name__ == "__main__":
    sys.exit(main())
