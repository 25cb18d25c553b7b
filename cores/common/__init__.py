"""Building blocks shared by the accelerator cores: the AXI4-Lite register bridge
(:mod:`cores.common.axil`) and reproducible conversion of any MyHDL block (:func:`convert_block`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["convert_block"]


def convert_block(factory, name: str, outdir, hdl: str = "Verilog") -> Path:
    """Convert the block instance returned by ``factory()`` to ``outdir/<name>.v``.

    ``factory`` is called after MyHDL's instance numbering has been reset, so the output does not
    depend on what was elaborated before in the same process; the header is normalised (no
    date, no output path) as for the arithmetic cores. Returns the file path.
    """
    from cores.arith.common import CoreError, _reset_myhdl_names, normalise_output

    if hdl not in ("Verilog", "VHDL"):
        raise CoreError(f"hdl must be 'Verilog' or 'VHDL', not {hdl!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    _reset_myhdl_names()
    inst = factory()
    options = {"testbench": False} if hdl == "Verilog" else {}
    with warnings.catch_warnings():
        # expected by design: the AXI4-Lite bridge offers a read strobe that cores without read
        # side effects ignore; the SbS update unit ties off the spike input of its engine
        warnings.filterwarnings(
            "ignore", message=r".*(driven but not read|not driven): (\w+_)?"
            r"(reg_rd|s_data|s_valid|s_ready)$")
        inst.convert(hdl=hdl, name=name, path=str(outdir), **options)
    path = outdir / (name + (".v" if hdl == "Verilog" else ".vhd"))
    if not path.exists():
        raise CoreError(f"MyHDL did not write {path}")
    path.write_text(normalise_output(path.read_text(), path.name))
    return path
