"""The serving user's path in a real vLLM (CPU): an encoded directory loads with vLLM's default
load format, mistakes get errors that name the fix, damaged files are named, and the load shows
progress in vLLM's own log output."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from vllm_helpers import same, vllm_load_model, vllm_load_weights

import wcodec

# --- load format `auto` --------------------------------------------------------------------------


def _assert_same_models(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert same(ours[k], theirs[k]), k


@pytest.mark.usefixtures("vllm_dist")
def test_an_encoded_directory_loads_with_the_default_load_format(llama_dir: Path, llama_wcodec: Path) -> None:
    reference, _ = vllm_load_weights(llama_dir, "safetensors")
    model, loader = vllm_load_weights(llama_wcodec, "auto")
    assert type(loader).__name__ == "WcodecAutoLoader"
    _assert_same_models(model.state_dict(), reference.state_dict())
    original = load_file(str(llama_dir / "model.safetensors"))
    assert same(model.state_dict()["lm_head.weight"], original["lm_head.weight"])


@pytest.mark.usefixtures("vllm_dist")
def test_a_sharded_encoded_directory_loads_end_to_end_with_auto(
    llama_sharded_dir: Path, llama_sharded_wcodec: Path
) -> None:
    # The whole of vLLM's load_model (fp32: see test_vllm.py), from nine-ish shards.
    assert not (llama_sharded_wcodec / "model.safetensors.index.json").exists()
    reference = vllm_load_model(llama_sharded_dir, "safetensors", "float32")
    model = vllm_load_model(llama_sharded_wcodec, "auto", "float32")
    _assert_same_models(model.state_dict(), reference.state_dict())


@pytest.mark.usefixtures("vllm_dist")
def test_a_plain_directory_still_loads_with_auto(llama_dir: Path) -> None:
    model, loader = vllm_load_weights(llama_dir, "auto")
    reference, _ = vllm_load_weights(llama_dir, "safetensors")
    assert type(loader).__name__ == "WcodecAutoLoader"
    _assert_same_models(model.state_dict(), reference.state_dict())


def _old_layout(encoded: Path, original: Path, out: Path) -> Path:
    """``encoded`` as wcodec wrote it before: the safetensors index copied unchanged beside a
    wcodec index that does not hold it."""
    shutil.copytree(encoded, out)
    index = json.loads((out / "model.wcodec.index.json").read_text())
    del index["wcodec_restores"]
    (out / "model.wcodec.index.json").write_text(json.dumps(index, indent=2))
    shutil.copy(original / "model.safetensors.index.json", out / "model.safetensors.index.json")
    return out


@pytest.mark.usefixtures("vllm_dist")
@pytest.mark.parametrize("load_format", ["auto", "wcodec"])
def test_an_older_encoded_directory_still_loads(
    tmp_path: Path, llama_sharded_dir: Path, llama_sharded_wcodec: Path, load_format: str
) -> None:
    old = _old_layout(llama_sharded_wcodec, llama_sharded_dir, tmp_path / "old.wcodec")
    reference, _ = vllm_load_weights(llama_sharded_dir, "safetensors")
    model, _ = vllm_load_weights(old, load_format)
    _assert_same_models(model.state_dict(), reference.state_dict())


def test_directory_round_trips_stay_byte_identical(
    tmp_path: Path, llama_sharded_dir: Path, llama_sharded_wcodec: Path
) -> None:
    for encoded in (llama_sharded_wcodec, _old_layout(llama_sharded_wcodec, llama_sharded_dir, tmp_path / "old")):
        out = tmp_path / f"{encoded.name}.decoded"
        wcodec.decode_checkpoint(encoded, out)
        names = sorted(p.name for p in out.iterdir())
        assert names == sorted(p.name for p in llama_sharded_dir.iterdir())
        for name in names:
            assert (out / name).read_bytes() == (llama_sharded_dir / name).read_bytes(), name


@pytest.mark.usefixtures("vllm_dist")
def test_without_the_auto_route_the_error_says_to_add_the_flag(
    monkeypatch: pytest.MonkeyPatch, llama_wcodec: Path
) -> None:
    monkeypatch.setenv("WCODEC_VLLM_AUTO", "0")
    with pytest.raises(RuntimeError, match=r"holds wcodec-encoded weights.*add `--load-format wcodec`") as e:
        vllm_load_weights(llama_wcodec, "auto")
    assert str(llama_wcodec) in str(e.value)


@pytest.mark.usefixtures("vllm_dist")
def test_a_plain_directory_with_the_wcodec_flag_says_to_drop_it(llama_dir: Path) -> None:
    with pytest.raises(wcodec.WcodecError, match=r"drop `--load-format wcodec`") as e:
        vllm_load_weights(llama_dir, "wcodec")
    assert str(llama_dir) in str(e.value)


# --- errors name the file ------------------------------------------------------------------------


def _damage(encoded: Path, tmp_path: Path, shard: str, where: int) -> tuple[Path, Path]:
    copy = tmp_path / "damaged.wcodec"
    shutil.copytree(encoded, copy)
    path = copy / shard
    data = bytearray(path.read_bytes())
    data[where if where >= 0 else len(data) + where] ^= 0x40
    path.write_bytes(bytes(data))
    return copy, path


@pytest.mark.usefixtures("vllm_dist")
# A byte in the middle of the first tensor's data, and one in the stored header (at the end).
@pytest.mark.parametrize("where", [4096 + 1000, -20], ids=["payload", "header"])
def test_a_damaged_shard_is_named_with_what_to_do(
    tmp_path: Path, llama_sharded_wcodec: Path, where: int
) -> None:
    shards = sorted(p.name for p in llama_sharded_wcodec.glob("*.wcodec"))
    damaged_dir, damaged = _damage(llama_sharded_wcodec, tmp_path, shards[1], where)
    with pytest.raises(wcodec.CorruptFileError) as e:
        vllm_load_weights(damaged_dir, "auto")
    text = str(e.value)
    assert text.startswith(f"`{damaged}` is damaged ("), text
    assert "download it again, or encode the original checkpoint again with wcodec-encode" in text


@pytest.mark.usefixtures("vllm_dist")
@pytest.mark.parametrize("load_format", ["auto", "wcodec"])
def test_a_missing_shard_is_named(tmp_path: Path, llama_sharded_wcodec: Path, load_format: str) -> None:
    copy = tmp_path / "incomplete.wcodec"
    shutil.copytree(llama_sharded_wcodec, copy)
    gone = sorted(copy.glob("*.wcodec"))[-1]
    gone.unlink()
    with pytest.raises(wcodec.WcodecFileNotFoundError, match="download the whole directory again") as e:
        vllm_load_weights(copy, load_format)
    assert str(gone) in str(e.value) and e.value.filename == str(gone)


# --- progress in vLLM's log ----------------------------------------------------------------------

# vLLM configures its logging when it creates an engine (`configure_logging(LoggingConfig())`),
# before any model is loaded: done here the same way.
PROGRESS = r"""
import sys, torch
from vllm.config.logging import LoggingConfig
from vllm.logger import configure_logging
configure_logging(LoggingConfig())
from vllm.config.load import LoadConfig
from vllm.model_executor.model_loader import get_model_loader
import vllm.plugins
vllm.plugins.load_general_plugins()
from vllm.config import ModelConfig
loader = get_model_loader(LoadConfig(load_format="auto", device="cpu"))
model_config = ModelConfig(model=sys.argv[1], skip_tokenizer_init=True)
delegate = loader._delegate(model_config)
n = sum(1 for _ in delegate.get_all_weights(model_config, torch.nn.Linear(2, 2)))
print("tensors", n)
"""


def test_the_load_shows_in_vllm_log_output_with_a_progress_bar(llama_sharded_wcodec: Path) -> None:
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "INFO", "VLLM_CONFIGURE_LOGGING": "1", "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-c", PROGRESS, str(llama_sharded_wcodec)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    n = sum(len(wcodec.open(f).keys()) for f in llama_sharded_wcodec.glob("*.wcodec"))
    assert f"tensors {n}" in out.stdout
    logged = out.stdout + out.stderr
    # vLLM's log format: "(process pid=…) INFO mm-dd hh:mm:ss [file:line] message".
    lines = [line for line in logged.splitlines() if "wcodec: decoding" in line]
    assert lines and " INFO " in lines[0] and "[" in lines[0], logged
    assert f"decoding {n} tensors" in lines[0]
    assert any("wcodec: loaded" in line and "GB/s" in line and " INFO " in line for line in logged.splitlines())
    assert "holds .wcodec weights: loading them with the wcodec loader" in logged
    # The bar, in vLLM's layout, over bytes with their rate.
    desc = f"Loading wcodec weights ({n} tensors)"
    bar = [line for line in logged.replace("\r", "\n").splitlines() if line.startswith(desc)]
    assert bar and "100% Completed" in bar[-1] and "B/s" in bar[-1], logged


# --- imports go one way --------------------------------------------------------------------------


def test_no_private_vllm_module_imports_the_public_one() -> None:
    import wcodec.vllm as wv

    package = Path(wv.__file__).parent
    for path in package.glob("_vllm_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level == 1 and node.module == "vllm"), f"{path.name} imports wcodec.vllm"
                assert node.module != "wcodec.vllm", f"{path.name} imports wcodec.vllm"
                if path.name == "_vllm_common.py":
                    assert not (node.module or "").startswith("_vllm_"), "the shared module is a leaf"
    # The shared module imports neither vLLM nor torch (`wcodec.vllm` imports it in every process).
    code = "import sys, wcodec._vllm_common; print(sorted(m for m in ('vllm', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
