"""Shared plumbing of the CNN tensor-processor cores: reproducible MyHDL conversion.

Every block module ``cores/cnn/<block>/<block>.py`` provides ``build(**params)`` returning
``(instance_factory, module_name)``; :func:`convert` turns it into one self-contained Verilog
file (MyHDL flattens the hierarchy) with the same normalised header as the arithmetic cores.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from myhdl import ToVerilogWarning

from cores.arith.common import _reset_myhdl_names, normalise_output


class CnnConfigError(ValueError):
    """A CNN block cannot be generated with the parameters given."""


def convert(factory, name: str, outdir) -> Path:
    """Convert ``factory()`` (a MyHDL block instance) to ``outdir/<name>.v``; return the path.

    Repeated conversions of the same configuration give byte-identical files."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    _reset_myhdl_names()
    inst = factory()
    with warnings.catch_warnings():
        # MyHDL reports signals that are driven but not read (the ``unused_*`` collectors and
        # the unused cell of the output bank): Verilator -Wall is the width/usage check here
        warnings.simplefilter("ignore", ToVerilogWarning)
        inst.convert(hdl="Verilog", name=name, path=str(outdir), testbench=False)
    path = outdir / f"{name}.v"
    if not path.exists():
        raise CnnConfigError(f"MyHDL did not write {path}")
    path.write_text(normalise_output(path.read_text(), path.name))
    return path
