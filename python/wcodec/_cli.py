"""Console scripts: the same Rust command-line code as the ``wcodec`` binaries."""

from __future__ import annotations

import sys

from . import _wcodec


def _run(tool: str) -> None:
    sys.stdout.flush()
    sys.exit(_wcodec.run_cli(tool, [tool, *sys.argv[1:]]))


def wcodec() -> None:
    _run("wcodec")


def wcodec_encode() -> None:
    _run("wcodec-encode")


def wcodec_decode() -> None:
    _run("wcodec-decode")


def wcodec_verify() -> None:
    _run("wcodec-verify")
