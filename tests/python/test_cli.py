"""The console scripts installed by `pip install .` run the Rust command-line tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def _script(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # the scripts live beside the interpreter of the environment under test
        import sys

        candidate = Path(sys.executable).parent / name
        path = str(candidate) if candidate.exists() else None
    assert path is not None, f"console script {name} is not installed"
    return path


@pytest.mark.parametrize("name", ["wcodec", "wcodec-encode", "wcodec-decode", "wcodec-verify"])
def test_scripts_answer_help(name: str) -> None:
    r = subprocess.run([_script(name), "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


def test_encode_decode_verify_through_the_scripts(st_file: Path, tmp_path: Path) -> None:
    enc, dec = tmp_path / "m.wcodec", tmp_path / "m.decoded.safetensors"
    r = subprocess.run([_script("wcodec-encode"), "--input", str(st_file), "--output", str(enc)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Reduction" in r.stdout
    r = subprocess.run([_script("wcodec-decode"), "--input", str(enc), "--output", str(dec)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([_script("wcodec-verify"), "--original", str(st_file), "--decoded", str(dec)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert dec.read_bytes() == st_file.read_bytes()


def test_script_errors_use_the_cli_exit_codes(tmp_path: Path) -> None:
    r = subprocess.run([_script("wcodec-decode"), "--input", str(tmp_path / "missing.wcodec"),
                        "--output", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "missing.wcodec" in r.stderr
    r = subprocess.run([_script("wcodec"), "no-such-command"], capture_output=True, text=True)
    assert r.returncode == 2
