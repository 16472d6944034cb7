"""The Python snippets of the original specification (docs/background.md §1), run as written where they can
run on a CPU-only machine, and adapted where docs/background.md §3 says the specification cannot work:

* ``torch.serialization.register_package`` cannot make ``torch.load`` read a new file format
  (it maps storage locations), so that snippet is replaced by ``decode_to_state_dict``;
* ``device="cuda"`` without a CUDA device gives CPU tensors and a ``CudaFallbackWarning``
  (``test_auto_fallback``; pytest makes warnings errors here), so elsewhere these tests pass
  ``device="cpu"`` on such machines.
"""

from __future__ import annotations

import concurrent.futures
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import wcodec

pytestmark = pytest.mark.slow
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def llama3_8b(tmp_path: Path, tensors: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The specification's file names, with a small checkpoint behind them."""
    monkeypatch.chdir(tmp_path)
    save_file(tensors, "llama3_8b_int8.safetensors")
    return tmp_path


def test_quick_start_decode_and_load(llama3_8b: Path) -> None:
    wcodec.encode_checkpoint("llama3_8b_int8.safetensors", "llama3_8b.wcodec")
    # Option 1: Explicit decode to safetensors
    wcodec.decode_checkpoint(
        input_path="llama3_8b.wcodec",
        output_path="llama3_8b_decoded.safetensors",
    )
    model = torch.load("llama3_8b_decoded.safetensors")
    assert set(model) == set(wcodec.open("llama3_8b.wcodec").keys())


def test_decode_to_state_dict_replaces_register_package(llama3_8b: Path) -> None:
    wcodec.encode_checkpoint("llama3_8b_int8.safetensors", "model.wcodec")
    state_dict = wcodec.decode_to_state_dict("model.wcodec", device=DEVICE)
    assert state_dict["layers.0.weight"].dtype == torch.int8


def test_parallel_decode(llama3_8b: Path) -> None:
    shutil.copy("llama3_8b_int8.safetensors", "src.safetensors")
    layers = {f"layer.{i}": torch.full((64, 64), i, dtype=torch.int8) for i in range(4)}
    save_file(layers, "layers.safetensors")
    wcodec.encode_checkpoint("layers.safetensors", "model.wcodec")

    def decode_layer_async(layer_name: str) -> torch.Tensor:
        return wcodec.decode_layer("model.wcodec", layer_name, device=DEVICE)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        layer_names = ["layer.0", "layer.1", "layer.2", "layer.3"]
        futures = [executor.submit(decode_layer_async, name) for name in layer_names]

        seen = set()
        for future in concurrent.futures.as_completed(futures):
            decoded_layer = future.result()
            seen.add(int(decoded_layer[0, 0]))
    assert seen == {0, 1, 2, 3}


def test_gpu_decode_tuning() -> None:
    before = wcodec.get_decode_params()
    wcodec.set_decode_params(
        tiles_per_block=4,      # Process 4 tiles per thread block
        streams=4,               # Parallel CUDA streams
        use_tensor_cores=True   # Use TC for inverse transforms (if beneficial)
    )
    wcodec.set_decode_params(**before)


def test_auto_fallback(llama3_8b: Path) -> None:
    wcodec.encode_checkpoint("llama3_8b_int8.safetensors", "model.wcodec")
    if torch.cuda.is_available():
        state_dict = wcodec.decode_checkpoint("model.wcodec", device="cuda", fallback="cpu")
        assert all(t.device.type == "cuda" for t in state_dict.values())
    else:  # "falls back to CPU if needed": CPU tensors, and one warning saying so
        with pytest.warns(wcodec.CudaFallbackWarning):
            state_dict = wcodec.decode_checkpoint("model.wcodec", device="cuda", fallback="cpu")
        assert all(t.device.type == "cpu" for t in state_dict.values())
        with pytest.raises(wcodec.CudaUnavailableError):
            wcodec.decode_checkpoint("model.wcodec", device="cuda", fallback=None)


def test_troubleshooting_checks() -> None:
    assert isinstance(wcodec.is_cuda_available(), bool)


def test_out_of_memory_layer_by_layer(llama3_8b: Path) -> None:
    wcodec.encode_checkpoint("llama3_8b_int8.safetensors", "model.wcodec")
    names = wcodec.open("model.wcodec").keys()
    for layer_name in names:
        layer_weights = wcodec.decode_layer("model.wcodec", layer_name, device=DEVICE)
        assert layer_weights is not None
        del layer_weights  # Free GPU memory


def test_mixed_loading(llama3_8b: Path) -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

    torch.save(Net().state_dict(), "net.pt")
    wcodec.torch.save_file(Net().state_dict(), "net.wcodec")

    def load_model_universal(path: str) -> object:
        if path.endswith(".wcodec"):
            return wcodec.load_model(path, Net, device=DEVICE)
        else:
            return torch.load(path, map_location=DEVICE)

    assert isinstance(load_model_universal("net.wcodec"), Net)
    assert "fc.weight" in load_model_universal("net.pt")


def test_transformers_monkey_patch(minilm_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    wcodec.encode_checkpoint(minilm_dir, tmp_path / "minilm.wcodec")
    _original_from_pretrained = AutoModel.from_pretrained.__func__

    def from_pretrained_wcodec(cls, pretrained_model_name_or_path, *args, **kwargs):
        if pretrained_model_name_or_path.endswith(".wcodec"):
            # Decode to temp dir
            temp_path = wcodec.decode_to_temp(pretrained_model_name_or_path)
            return _original_from_pretrained(cls, temp_path, *args, **kwargs)
        else:
            return _original_from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs)

    AutoModel.from_pretrained = classmethod(from_pretrained_wcodec)
    try:
        model = AutoModel.from_pretrained(str(tmp_path / "minilm.wcodec"))
        plain = AutoModel.from_pretrained(str(minilm_dir))
    finally:
        AutoModel.from_pretrained = classmethod(_original_from_pretrained)
    sa, sb = model.state_dict(), plain.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
