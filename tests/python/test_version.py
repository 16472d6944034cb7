"""The release version: `wcodec.__version__`, the installed distribution's metadata and the
console script's `--version` all say what the workspace's Cargo.toml says."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import wcodec
from conftest import REPO


def cargo_version() -> str:
    """`version` of `[workspace.package]` in Cargo.toml (a regex: `tomllib` needs Python 3.11)."""
    text = (REPO / "Cargo.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[workspace\.package\]\n(.*?)(?=^\[)", text, re.MULTILINE | re.DOTALL)
    assert section, "Cargo.toml has no [workspace.package]"
    match = re.search(r'^version\s*=\s*"([^"]+)"', section.group(1), re.MULTILINE)
    assert match, "[workspace.package] has no version"
    return match.group(1)


def test_version_is_cargo_version() -> None:
    assert wcodec.__version__ == cargo_version()


def test_distribution_metadata_is_cargo_version() -> None:
    assert importlib.metadata.version("wcodec") == cargo_version()


def test_cli_version_names_release_and_format_versions() -> None:
    script = "from wcodec._cli import wcodec; wcodec()"
    out = subprocess.run(
        [sys.executable, "-c", script, "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert lines[0] == f"wcodec {cargo_version()}"
    formats = r"format versions: reads 1 to (\d+); writes 1 \(all planes flat\) or (\d+) \(tiled planes\)"
    match = re.fullmatch(formats, lines[1])
    assert match, lines[1]
    assert int(match.group(1)) >= int(match.group(2)) >= 2
