"""The type stubs describe the native module that was built."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import wcodec
from wcodec import _wcodec


def test_every_native_name_is_in_the_stub_and_back() -> None:
    stub = Path(inspect.getfile(wcodec)).with_name("_wcodec.pyi")
    assert stub.is_file(), "the wheel ships _wcodec.pyi"
    assert stub.with_name("py.typed").is_file(), "the wheel ships py.typed"
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stubbed |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    runtime = {n for n in dir(_wcodec) if not n.startswith("_") or n == "__version__"}
    assert stubbed - {"_Path"} == runtime
    reader = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Reader")
    methods = {n.name for n in reader.body if isinstance(n, ast.FunctionDef)} - {"__new__"}
    assert methods == {n for n in dir(_wcodec.Reader) if not n.startswith("_")}


def test_public_api_is_documented() -> None:
    for name in wcodec.__all__:
        obj = getattr(wcodec, name)
        if callable(obj):
            assert obj.__doc__, f"wcodec.{name} has no docstring"
