"""examples/vllm_integration.py and examples/tensorrt_engine.py: they need a GPU (and vLLM or
TensorRT) to do their work, so CI checks what it can: the scripts load, document their command
lines, and without a GPU say so and exit with status 2 rather than fail half-way. On a GPU
machine with vLLM or TensorRT installed, the ``gpu`` tests run them for real."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO

EXAMPLES = REPO / "examples"


def _run(script: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("vllm_integration.py", ["vllm serve model.wcodec --load-format wcodec", 'load_format="wcodec"']),
        ("tensorrt_engine.py", ["STRIP_PLAN", "TensorLocation.DEVICE", "--dtype"]),
    ],
)
def test_help_documents_the_commands(script: str, expected: list[str]) -> None:
    r = _run(script, "--help")
    assert r.returncode == 0, r.stderr
    for text in expected:
        assert text in r.stdout, text


@pytest.mark.skipif(torch.cuda.is_available(), reason="has a GPU: the gpu tests run the examples")
@pytest.mark.parametrize(("script", "message"), [("vllm_integration.py", "needs a CUDA GPU"),
                                                 ("tensorrt_engine.py", "needs")])
def test_without_a_gpu_the_example_says_so(script: str, message: str, tmp_path: Path) -> None:
    r = _run(script, "--out", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr


@pytest.mark.gpu
def test_tensorrt_refit_from_gpu_decoded_weights(tmp_path: Path) -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT is not installed (pip install tensorrt-cu13)")
    for dtype in ("fp32", "fp16"):
        r = _run("tensorrt_engine.py", "--dtype", dtype, "--out", str(tmp_path / dtype), timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "max |TensorRT - torch|" in r.stdout


@pytest.mark.gpu
def test_vllm_generates_the_same_tokens_from_wcodec(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed here (tests/python/requirements.txt)")
    r = _run("vllm_integration.py", "--out", str(tmp_path), timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "generated tokens identical: True" in r.stdout
