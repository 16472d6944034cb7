#!/usr/bin/env python3
"""Fails (exit status 1) when modules depend on each other in a cycle (run by `make lint`).

Graphs, one per Rust crate (`crates/*/src`, a node per file module) and one for the Python
package (`python/wcodec`, a node per module):

* Rust: an edge M → N for every path into N written in M: `crate::n::…`, `super::…`,
  `self::…`, grouped `use crate::{a, b::c}`, and `child::…` for a submodule declared in M.
  A parent's `mod child;` and its re-exports (`pub use` / `pub(crate) use`, a facade) are not
  edges: they are how Rust exposes children, not a dependency of the parent's own code.
* Python: an edge for every import of a sibling module (`from . import a`, `from .a import x`,
  `import wcodec.a`), at any depth in the file: a lazy import inside a function is still a
  dependency. `__init__.py` is the package facade and is left out, as are imports under
  `if TYPE_CHECKING:`, which run only for the type checker.

A cycle is a strongly connected component of more than one module. Usage:
check_import_cycles.py [REPO]
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH = re.compile(rf"\b(crate|super|self)((?:::{IDENT})+)")
GROUP = re.compile(r"\buse\s+(crate|super|self)::((?:\w+::)*)\{([^;]*)\}\s*;", re.S)
MOD_DECL = re.compile(rf"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+({IDENT})\s*;", re.M)
REEXPORT = re.compile(r"^\s*pub(?:\([^)]*\))?\s+use\b[^;]*;", re.M | re.S)
# Cycles being removed by work in progress elsewhere: printed, not failed. Empty this set when
# that work lands (the vLLM plugin's loader and its public module).
KNOWN: set[str] = set()
COMMENT = re.compile(r"//[^\n]*")
INLINE_MOD = re.compile(rf"\bmod\s+{IDENT}\s*\{{")


def inline_depth(text: str) -> list[int]:
    """For each character, how many inline `mod name { … }` blocks enclose it (`super::`
    inside `mod tests { … }` names the file's own module, not its parent)."""
    depth = [0] * (len(text) + 1)
    opens = {m.end() - 1 for m in INLINE_MOD.finditer(text)}
    stack: list[bool] = []
    level = 0
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i in opens)
            level += i in opens
        elif ch == "}" and stack:
            level -= stack.pop()
        depth[i] = level
    return depth


def rust_modules(src: Path) -> dict[tuple[str, ...], Path]:
    mods: dict[tuple[str, ...], Path] = {}
    for f in sorted(src.rglob("*.rs")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] in ("lib", "main", "mod"):
            parts = parts[:-1]
        if parts and parts[0] == "bin":
            continue
        mods[tuple(parts)] = f
    return mods


def resolve(mods: dict[tuple[str, ...], Path], start: tuple[str, ...], rest: list[str]) -> tuple[str, ...]:
    """The longest known module that `start::rest` names."""
    path = list(start)
    best = start
    for part in rest:
        path.append(part)
        if tuple(path) in mods:
            best = tuple(path)
        else:
            break
    return best


def base(kind: str, module: tuple[str, ...], in_inline_module: bool) -> tuple[str, ...]:
    """The module that `crate::`, `self::` or `super::` names, written in `module`."""
    if kind == "crate":
        return ()
    if kind == "self" or in_inline_module:
        return module  # `super::` from `mod tests { … }` is the file's own module
    return module[:-1]


def rust_edges(mods: dict[tuple[str, ...], Path]) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    edges: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in mods}
    for m, f in mods.items():
        text = COMMENT.sub("", f.read_text(encoding="utf-8"))
        children = set(MOD_DECL.findall(text))
        text = REEXPORT.sub(lambda r: " " * len(r.group(0)), text)
        text = MOD_DECL.sub(lambda r: " " * len(r.group(0)), text)

        depth = inline_depth(text)
        targets = []
        for g in GROUP.finditer(text):
            kind, prefix, body = g.groups()
            start = base(kind, m, depth[g.start()] > 0) + tuple(p for p in prefix.split("::") if p)
            for item in re.split(r"[,{}]", body):
                first = item.strip().split("::")[0].strip()
                if first and first != "self":
                    targets.append(resolve(mods, (), [*start, first]))
                elif first == "self":
                    targets.append(resolve(mods, (), list(start)))
        text = GROUP.sub(lambda g: " " * len(g.group(0)), text)
        for p in PATH.finditer(text):
            kind, rest = p.groups()
            targets.append(resolve(mods, (), [*base(kind, m, depth[p.start()] > 0), *rest.strip(":").split("::")]))
        for child in children:
            if re.search(rf"\b{child}::", text):
                targets.append((*m, child))
        edges[m] = {t for t in targets if t != m and t in mods}
    return edges


def python_edges(pkg: Path) -> dict[str, set[str]]:
    names = {f.stem for f in pkg.glob("*.py") if f.stem != "__init__"}
    edges: dict[str, set[str]] = {n: set() for n in names}
    for n in names:
        tree = ast.parse((pkg / f"{n}.py").read_text(encoding="utf-8"))
        type_only: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_only.update(id(x) for stmt in node.body for x in ast.walk(stmt))
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            found: list[str] = []
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level == 1 and not mod:
                    found = [a.name for a in node.names]
                elif node.level == 1:
                    found = [mod.split(".")[0]]
                elif node.level == 0 and mod.startswith(pkg.name + "."):
                    found = [mod.split(".")[1]]
                elif node.level == 0 and mod == pkg.name:
                    found = [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                found = [a.name.split(".")[1] for a in node.names if a.name.startswith(pkg.name + ".")]
            edges[n].update(x for x in found if x in names and x != n)
    return edges


def cycles(edges: dict) -> list[list]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list[list] = []

    def visit(v: object) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    found = []
    n_graphs = 0
    for src in sorted(repo.glob("crates/*/src")):
        edges = rust_edges(rust_modules(src))
        n_graphs += 1
        for comp in cycles(edges):
            names = ["::".join(m) or "(crate root)" for m in comp]
            found.append(f"{src.parent.name}: {' <-> '.join(names)}")
    pkg = repo / "python" / "wcodec"
    n_graphs += 1
    found += [f"python/wcodec: {' <-> '.join(comp)}" for comp in cycles(python_edges(pkg))]
    for f in found:
        print(f"import cycle{' (known, being removed)' if f in KNOWN else ''}: {f}")
    failing = [f for f in found if f not in KNOWN]
    print(f"check_import_cycles: {n_graphs} module graphs, {len(failing)} cycle(s)")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
