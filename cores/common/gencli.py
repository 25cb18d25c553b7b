"""The command line every tree generator shares: write the committed files, or, with
``--check``, generate into a temporary folder and list what differs from the committed tree."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def tree_differences(committed: Path, fresh: Path, rels: Iterable[str], label: str) -> list[str]:
    """``missing: <label>/<rel>`` / ``differs: <label>/<rel>`` for every relative path ``rel``
    whose committed copy under ``committed`` is absent or differs from the one under ``fresh``."""
    problems = []
    for rel in rels:
        a, b = Path(committed) / rel, Path(fresh) / rel
        if not a.exists():
            problems.append(f"missing: {label}/{rel}")
        elif a.read_text() != b.read_text():
            problems.append(f"differs: {label}/{rel}")
    return problems


def generator_main(argv, prog: str, doc: str | None, generate: Callable[[Path], list],
                   compare: Callable[[Path], list[str]], committed: Path) -> int:
    """Run a generator's command line: ``--check`` (exit 1 on a difference) or write the tree
    under ``--out`` (default: the committed folder), printing each file written."""
    ap = argparse.ArgumentParser(prog=prog, description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    ap.add_argument("--out", type=Path, help="write the generated tree under this folder")
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            problems = compare(Path(tmp))
        for p in problems:
            print(p)
        return 1 if problems else 0
    for p in generate(args.out or committed):
        print(p)
    return 0
