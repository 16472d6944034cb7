#!/usr/bin/env python3
"""Serving a wcodec model directory with vLLM (load format ``wcodec``).

Installing ``wcodec`` registers the loader with vLLM (entry point ``vllm.general_plugins``), so
an encoded directory is served with one extra flag:

    wcodec-encode --input path/to/hf-model --output model.wcodec
    vllm serve model.wcodec --load-format wcodec
    # options: --model-loader-extra-config '{"device": "auto", "fallback": "cpu", "batch_mib": 512}'

or from Python:

    from vllm import LLM
    llm = LLM(model="model.wcodec", load_format="wcodec")

This script does both halves on a GPU machine: it encodes a model (by default a small Llama built
from a config, with random weights, so it needs no download; or ``--model DIR``, any Hugging Face
directory vLLM supports), generates greedily with vLLM from the original safetensors directory and
from the wcodec directory, and checks the generated tokens are identical.

    python examples/vllm_integration.py [--model DIR] [--out DIR] [--max-tokens 16]

vLLM needs a GPU for this (its CUDA wheel has no CPU engine); without one the script says so and
exits with status 2. ``tests/vllm`` tests the loader on the CPU instead.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local


def tiny_llama(out: Path) -> Path:
    """A 4-layer bf16 Llama with random weights, saved by transformers (no tokenizer)."""
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=1024, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    return out


def generate(model: Path, load_format: str, prompts: list[list[int]], max_tokens: int,
             tokenizer: bool) -> tuple[list[list[int]], float]:
    """Token ids vLLM generates greedily for ``prompts``, and the seconds ``LLM(...)`` took."""
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    start = time.perf_counter()
    llm = LLM(model=str(model), load_format=load_format, skip_tokenizer_init=not tokenizer,
              gpu_memory_utilization=0.3, enforce_eager=True, seed=0)
    seconds = time.perf_counter() - start
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, detokenize=tokenizer)
    outputs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params)
    tokens = [list(o.outputs[0].token_ids) for o in outputs]
    del llm  # frees the GPU before the second engine starts
    gc.collect()
    return tokens, seconds


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a Hugging Face model directory (default: a tiny Llama)")
    parser.add_argument("--out", type=Path, help="where the encoded directory goes (default: a temporary one)")
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("vLLM's engine needs a CUDA GPU here; nothing to run (tests/vllm covers the loader on the CPU)",
              file=sys.stderr)
        return 2
    import wcodec
    import wcodec.vllm

    out = args.out or Path(tempfile.mkdtemp(prefix="wcodec-vllm-"))
    src = args.model or tiny_llama(out / "llama")
    encoded = out / f"{src.name}.wcodec"
    summary = wcodec.encode_checkpoint(src, encoded, overwrite=True)
    print(f"encoded {src} -> {encoded}: {summary['original_bytes']:,} B -> {summary['encoded_bytes']:,} B "
          f"({100 * summary['reduction']:.1f}% smaller)")
    print(f"GPU decoder available: {wcodec.is_cuda_available()}")

    has_tokenizer = (src / "tokenizer_config.json").is_file()
    prompts = [[1, 15, 300, 42, 7], [1, 99, 512, 3]]
    theirs, t_st = generate(src, "safetensors", prompts, args.max_tokens, has_tokenizer)
    ours, t_wc = generate(encoded, "wcodec", prompts, args.max_tokens, has_tokenizer)
    print(f"LLM(...) startup: safetensors {t_st:.1f} s, wcodec {t_wc:.1f} s (includes engine start-up)")
    print(f"generated tokens identical: {ours == theirs}")
    print(f"serve it: vllm serve {encoded} --load-format wcodec")
    return 0 if ours == theirs else 1


if __name__ == "__main__":
    sys.exit(main())
