"""MyHDL conversion with reproducible output: the one place a MyHDL block becomes Verilog or VHDL.

MyHDL writes the conversion date and path into the header, emits sensitivity lists and reset
branches in hash order and numbers instances process-wide. :func:`convert` resets the
numbering, converts, and normalises the file, so that converting the same configuration twice
(in any process, after anything else) gives byte-identical files: the committed Verilog can be
compared with a fresh conversion.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

HDLS = {"Verilog": ".v", "VHDL": ".vhd"}


class ConvertError(ValueError):
    """MyHDL could not convert the block (or was asked for an unknown HDL)."""


_DATE_LINE = re.compile(r"^(//|--) Date:.*$", re.MULTILINE)
_FILE_LINE = re.compile(r"^(//|--) File: .*$", re.MULTILINE)
# combinational sensitivity lists (MyHDL builds them from a set: their order varies by process)
_VLOG_SENS = re.compile(r"^(always @\()([^()]*)(\) begin)", re.MULTILINE)
_VHDL_SENS = re.compile(r"^(\S+: process \()([^()]*)(\) is)", re.MULTILINE)
# reset branches: independent assignments, also emitted in set order
_RESET_BRANCH = re.compile(
    r"^(\s*if \(\w+ (?:==|=) '?[01]'?\) (?:begin|then)\n)((?:\s+\w+ <= [^;\n]+;\n)+)",
    re.MULTILINE,
)


def _sorted_list(m: re.Match) -> str:
    items = [x.strip() for x in m.group(2).split(",")]
    if any("edge" in x for x in items):
        return m.group(0)
    return m.group(1) + ", ".join(sorted(items)) + m.group(3)


def normalise_output(text: str, filename: str) -> str:
    """Make a MyHDL output file reproducible: fixed header lines (no date, no output path),
    sorted sensitivity lists and reset assignments (MyHDL emits both in hash order)."""
    text = _DATE_LINE.sub(lambda m: f"{m.group(1)} Date: (not recorded, reproducible output)", text)
    text = _FILE_LINE.sub(lambda m: f"{m.group(1)} File: {filename}", text)
    text = _VLOG_SENS.sub(_sorted_list, text)
    text = _VHDL_SENS.sub(_sorted_list, text)
    text = _RESET_BRANCH.sub(
        lambda m: m.group(1) + "".join(sorted(m.group(2).splitlines(keepends=True))), text
    )
    return text if text.endswith("\n") else text + "\n"


def zero_init_memories(text: str, names, hdl: str = "Verilog") -> str:
    """Give the memories ``names`` of a converted file the initial value 0 (a Verilog
    ``initial`` block in MyHDL's own form, a VHDL signal default), as their MyHDL signals have.

    MyHDL writes memory initial values only under its global ``initial_values`` switch, which
    would also initialise every other register of the design (and hide from Verilator's random
    start state what a reset must set). Xilinx tools and Yosys turn such a value into the INIT
    of the LUTRAM / block RAM. A name that is not a memory of the file raises
    :class:`ConvertError`."""
    for name in names:
        if hdl == "Verilog":
            decl = re.compile(rf"^reg (?:signed )?(?:\[[^\]]+\])?\s*{re.escape(name)} "
                              r"\[0:(\d+)-1\];\n", re.MULTILINE)
            block = (f"initial begin: INITIALIZE_{name.upper()}\n    integer i;\n"
                     "    for(i=0; i<{depth}; i=i+1) begin\n"
                     f"        {name}[i] = 0;\n    end\nend\n")
            text, n = decl.subn(lambda m, b=block: m.group(0) + b.format(depth=m.group(1)), text)
        else:
            decl = re.compile(rf"^(signal {re.escape(name)}: t_array_{re.escape(name)});$",
                              re.MULTILINE)
            text, n = decl.subn(r"\1 := (others => (others => '0'));", text)
        if n != 1:
            raise ConvertError(f"memory {name!r} not found once in the converted {hdl} "
                               f"(found {n} times)")
    return text


def _reset_myhdl_names() -> None:
    """Restart MyHDL's instance numbering so that generated names do not depend on what was
    elaborated before in the same process (MyHDL keeps process-wide counters and name sets)."""
    import myhdl._block as _mb
    import myhdl._simulator as _ms

    for attr in ("_name_set", "_inst_name_set"):
        names = getattr(_mb, attr, None)
        if isinstance(names, set):
            names.clear()
    for deco in getattr(_ms, "_blocks", []):
        if hasattr(deco, "calls"):
            deco.calls = 0


def reset_names() -> None:
    """Restart MyHDL's instance numbering so that generated names do not depend on what was
    elaborated before in the same process (MyHDL keeps process-wide counters and name sets)."""
    import myhdl._block as _mb
    import myhdl._simulator as _ms

    for attr in ("_name_set", "_inst_name_set"):
        names = getattr(_mb, attr, None)
        if isinstance(names, set):
            names.clear()
    for deco in getattr(_ms, "_blocks", []):
        if hasattr(deco, "calls"):
            deco.calls = 0


def convert(factory, name: str, outdir, hdl: str = "Verilog", ignore_warnings=None) -> Path:
    """Convert the block instance returned by ``factory()`` to ``outdir/<name>.v`` (or
    ``.vhd``; MyHDL then also writes its package ``pck_myhdl_*.vhd``, normalised too) and return
    the path. ``factory`` is called after :func:`reset_names`. ``ignore_warnings``: converter
    warnings that are expected by design, as a message regex or a warning category. An instance
    with a ``zero_init_memories`` attribute (memory names) gets those memories initialised to 0
    (:func:`zero_init_memories`)."""
    if hdl not in HDLS:
        raise ConvertError(f"hdl must be 'Verilog' or 'VHDL', not {hdl!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    reset_names()
    inst = factory()
    options = {"testbench": False} if hdl == "Verilog" else {}
    with warnings.catch_warnings():
        if isinstance(ignore_warnings, str):
            warnings.filterwarnings("ignore", message=ignore_warnings)
        elif ignore_warnings is not None:
            warnings.simplefilter("ignore", ignore_warnings)
        inst.convert(hdl=hdl, name=name, path=str(outdir), **options)
    path = outdir / (name + HDLS[hdl])
    if not path.exists():
        raise ConvertError(f"MyHDL did not write {path}")
    text = normalise_output(path.read_text(), path.name)
    memories = tuple(getattr(inst, "zero_init_memories", ()))
    if memories:
        text = zero_init_memories(text, memories, hdl)
    path.write_text(text)
    if hdl == "VHDL":
        for pck in outdir.glob("pck_myhdl_*.vhd"):
            pck.write_text(normalise_output(pck.read_text(), pck.name))
    return path
