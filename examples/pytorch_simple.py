#!/usr/bin/env python3
"""wcodec with plain PyTorch: save a (quantized) state dict, load it back, read single layers.

    python examples/pytorch_simple.py [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

import wcodec
import wcodec.torch


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(256, 1024)
        self.down = torch.nn.Linear(1024, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.nn.functional.gelu(self.up(x)))


def quantize_int8(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Per-row symmetric INT8 weights plus their scales: the layout of W8A16 checkpoints."""
    out = {}
    for name, t in model.state_dict().items():
        if t.dim() == 2:
            scale = t.abs().amax(dim=1, keepdim=True) / 127
            out[name] = (t / scale).round().clamp(-127, 127).to(torch.int8)
            out[name.replace("weight", "weight_scale")] = scale.to(torch.bfloat16)
        else:
            out[name] = t.to(torch.bfloat16)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, help="where to write the files (default: a temp dir)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="wcodec-example-"))
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    model = MLP().eval()
    state = quantize_int8(model)

    # 1. Drop-in for safetensors.torch: save_file / load_file.
    wcodec.torch.save_file(state, out / "mlp_int8.wcodec", metadata={"format": "pt"})
    loaded = wcodec.torch.load_file(out / "mlp_int8.wcodec", device="cpu")
    assert all(torch.equal(loaded[k], state[k]) for k in state), "not bit-exact"

    # 2. Encode an existing safetensors file and compare sizes.
    save_file(state, str(out / "mlp_int8.safetensors"))
    summary = wcodec.encode_checkpoint(out / "mlp_int8.safetensors", out / "mlp.wcodec", overwrite=True)
    print(f"safetensors {summary['original_bytes']:,} B -> wcodec {summary['encoded_bytes']:,} B "
          f"({100 * summary['reduction']:.1f}% smaller)")

    # 3. Read one layer only, or browse lazily.
    up = wcodec.decode_layer(out / "mlp.wcodec", "up.weight", device="cpu")
    with wcodec.open(out / "mlp.wcodec") as f:
        print("tensors:", ", ".join(f"{k} {f.get_slice(k).get_dtype()}{f.get_slice(k).get_shape()}" for k in f.keys()))
        scale = f.get_tensor("up.weight_scale")

    # 4. Dequantize and run: same outputs as from the original quantized tensors.
    x = torch.randn(4, 256)
    w = up.float() * scale.float()
    ref = state["up.weight"].float() * state["up.weight_scale"].float()
    assert torch.equal(x @ w.T, x @ ref.T)

    # 5. Back to the original file, byte for byte.
    wcodec.decode_checkpoint(out / "mlp.wcodec", out / "mlp_decoded.safetensors", overwrite=True)
    same = (out / "mlp_decoded.safetensors").read_bytes() == (out / "mlp_int8.safetensors").read_bytes()
    print(f"decoded file identical to the original: {same}")
    assert same
    print(f"files in {out}")


if __name__ == "__main__":
    main()
