#!/usr/bin/env python3
"""Checks that the repository stands on its own (run by `make lint`; exit status 1 on a finding):

* no tracked file points at the team's design notes (the ``research``, ``seed``, ``hooks`` folders
  and the design document of the team's folder beside the checkout), which a user's clone does
  not have: the facts the docs need live in ``docs/``;
* no document or kept report (``*.md``, ``bench/results/``, ``crates/*/bench-results/``) holds an
  absolute path of the machine that wrote it (``/home/…``, ``/work/…``, ``/tmp/…``…);
* every relative link of a Markdown file names a file or directory that exists.

Usage: check_self_contained.py [REPO]   (default: the repository holding this script)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# Spelled in two pieces, so that this file does not itself hold what it looks for.
OUTSIDE = re.compile("shar" + r"ed/(?:research|seed|DESIGN\.md|hooks)")
ABSOLUTE = re.compile(r"(?<![\w.~])/(?:home|work|root|tmp|opt|mnt|Users|var/folders)/[\w.-]")
LINK = re.compile(r"\]\(([^)\s]+)\)")
REPORTS = ("bench/results/", "bench-results/")


def tracked(repo: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p]


def findings(repo: Path) -> list[str]:
    found = []
    for rel in tracked(repo):
        path = repo / rel
        if rel.startswith("testdata/") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        is_doc = rel.endswith(".md") or any(r in rel for r in REPORTS)
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and rel != "scripts/check_self_contained.py":
                found.append(f"{rel}:{n}: points outside the repository: {line.strip()[:120]}")
            if is_doc and ABSOLUTE.search(line):
                found.append(f"{rel}:{n}: absolute path of a build machine: {line.strip()[:120]}")
            if rel.endswith(".md"):
                for target in LINK.findall(line):
                    if re.match(r"[a-z]+:", target) or target.startswith("#"):
                        continue
                    if not (path.parent / target.split("#")[0]).exists():
                        found.append(f"{rel}:{n}: broken link `{target}`")
    return found


def main() -> int:
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    found = findings(repo)
    for f in found:
        print(f)
    print(f"check_self_contained: {len(found)} finding(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
