"""The repository checks of `make lint` find what they exist to find (so a green lint means
something): an import cycle in a crate or in the Python package, a link outside the repository,
a build machine's absolute path, a broken relative link."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def run(script: str, repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), str(repo)],
                          capture_output=True, text=True, timeout=60)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_import_cycles_are_found_in_rust_and_python(tmp_path: Path) -> None:
    acyclic = {
        "crates/c/src/lib.rs": "mod a;\nmod b;\npub use a::A;\n",
        "crates/c/src/a.rs": "use crate::b::B;\npub struct A(B);\n",
        "crates/c/src/b.rs": "pub struct B;\n",
        "python/wcodec/__init__.py": "from ._a import f\n",
        "python/wcodec/_a.py": "from ._b import g\n\ndef f(): return g()\n",
        "python/wcodec/_b.py": "def g(): return 1\n",
    }
    write(tmp_path, acyclic)
    r = run("check_import_cycles.py", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    # b uses a and a uses b; _b imports _a lazily, inside a function: still a dependency.
    write(tmp_path, {
        "crates/c/src/b.rs": "pub struct B;\nfn f() -> Option<crate::a::A> { None }\n",
        "python/wcodec/_b.py": "def g():\n    from ._a import f\n    return f\n",
    })
    r = run("check_import_cycles.py", tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "c: a <-> b" in r.stdout or "c: b <-> a" in r.stdout, r.stdout
    assert "python/wcodec: _a <-> _b" in r.stdout or "python/wcodec: _b <-> _a" in r.stdout, r.stdout


def test_links_outside_the_repository_and_machine_paths_are_found(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path, {"README.md": "See [the format](docs/format.md).\n", "docs/format.md": "# Format\n"})
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    r = run("check_self_contained.py", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    # Spelled in pieces, so that this file does not hold what the check looks for.
    outside, machine = "shared/" + "research/anchors.md", "/" + "work/main/target"
    write(tmp_path, {
        "docs/notes.md": f"Measured in {outside} on {machine}.\nSee [missing](nope.md).\n",
    })
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    r = run("check_self_contained.py", tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    for finding in ("points outside the repository", "absolute path of a build machine",
                    "broken link `nope.md`"):
        assert "docs/notes.md:" in r.stdout and finding in r.stdout, (finding, r.stdout)
