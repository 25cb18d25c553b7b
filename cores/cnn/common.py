"""Shared plumbing of the CNN tensor-processor cores: reproducible MyHDL conversion.

Every block module ``cores/cnn/<block>/<block>.py`` provides ``build(**params)`` returning
``(instance_factory, module_name)``; :func:`convert` turns it into one self-contained Verilog
file (MyHDL flattens the hierarchy) with the same normalised header as the arithmetic cores.
"""

from __future__ import annotations

from pathlib import Path

from approxnn.eda.myhdl import convert as myhdl_convert
from myhdl import ToVerilogWarning


class CnnConfigError(ValueError):
    """A CNN block cannot be generated with the parameters given."""


def convert(factory, name: str, outdir) -> Path:
    """Convert ``factory()`` (a MyHDL block instance) to ``outdir/<name>.v``; return the path.

    Repeated conversions of the same configuration give byte-identical files. MyHDL's reports
    of signals driven but not read (the ``unused_*`` collectors and the unused cell of the
    output bank) are expected: Verilator -Wall is the width/usage check here."""
    return myhdl_convert(factory, name, outdir, ignore_warnings=ToVerilogWarning)
