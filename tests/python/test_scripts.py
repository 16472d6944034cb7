"""The examples and scripts/eval_accuracy.py run and prove what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("example", ["pytorch_simple.py", "transformers_llama.py"])
def test_example_runs(example: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(REPO / "examples" / example), "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical" in r.stdout and "False" not in r.stdout


def test_eval_accuracy_proves_zero_difference(minilm_dir: Path, minilm_wcodec: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "eval_accuracy.py"), "--model-path", str(minilm_wcodec),
         "--baseline", str(minilm_dir), "--limit", "200", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["max_abs_diff"] == 0.0 and report["outputs_bit_identical"]
    assert report["delta_pp"] == 0.0
    assert report["examples"] == 200
    assert 0.5 < report["baseline_accuracy"] <= 1.0  # a real signal, not chance


def test_eval_accuracy_refuses_tasks_it_cannot_run(minilm_dir: Path, minilm_wcodec: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "eval_accuracy.py"), "--model-path", str(minilm_wcodec),
         "--baseline", str(minilm_dir), "--tasks", "mmlu,gsm8k"],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 2 and "mmlu" in r.stderr
