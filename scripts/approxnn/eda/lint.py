"""Verilator ``--lint-only -Wall`` of one Verilog file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .sim import tool_env


def lint(path: Path, waivers: Path | None = None) -> str:
    """Verilator's messages for ``path`` with its module of the same name as top ('' when
    clean). ``waivers``: a Verilator configuration file (``lint.vlt``); by default the one
    beside the ``rtl/`` folder that holds ``path``, when there is one."""
    path = Path(path)
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", path.stem]
    if waivers is None and path.parent.name == "rtl":
        beside = path.resolve().parent.parent / "lint.vlt"
        waivers = beside if beside.exists() else None
    if waivers is not None:
        cmd.append(str(waivers))
    cmd.append(str(path))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), timeout=300)
    return "" if proc.returncode == 0 and not proc.stderr.strip() else proc.stderr + proc.stdout
