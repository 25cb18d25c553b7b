"""Building blocks shared by the accelerator cores: the AXI4-Lite register bridge
(:mod:`cores.common.axil`), the register maps generated from SystemRDL
(:mod:`cores.common.regmap`) and :func:`convert_block`.
"""

from __future__ import annotations

from pathlib import Path

from approxnn.eda.myhdl import convert

__all__ = ["convert_block"]

#: converter warnings expected by design: the AXI4-Lite bridge offers a read strobe that cores
#: without read side effects ignore; the SbS update unit ties off the spike input of its engine
EXPECTED_WARNINGS = (r".*(driven but not read|not driven): (\w+_)?"
                     r"(reg_rd|s_data|s_valid|s_ready)$")


def convert_block(factory, name: str, outdir, hdl: str = "Verilog") -> Path:
    """Convert the block instance returned by ``factory()`` to ``outdir/<name>.v``
    (:func:`approxnn.eda.myhdl.convert`, reproducible output); return the file path."""
    return convert(factory, name, outdir, hdl=hdl, ignore_warnings=EXPECTED_WARNINGS)
