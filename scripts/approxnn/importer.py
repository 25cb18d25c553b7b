"""Import an external combinational two-operand Verilog module as a lookup-table unit.

Typical sources are gate-level libraries such as EvoApproxLib: one module with two n-bit inputs
and one output of ``2n`` bits (multiplier) or ``n+1`` bits (adder). The ports are discovered
with Yosys (``read_verilog; hierarchy -top X; write_json``) unless the user names them; the
unit kind follows from the output width. The module is simulated exhaustively in Icarus
(:mod:`approxnn.eda.rtlsim`), its table (indexed by operand codes) is built from the simulated
outputs, and it is registered with :func:`refmodels.arith.register_lut_unit` so that it can be
used wherever a built-in unit is; :func:`refmodels.arith.save_lut_unit` writes it to ``.npz``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .eda import rtlsim
from .eda.synth import run_yosys

__all__ = [
    "ImportErrorPorts",
    "PortInfo",
    "ImportedModule",
    "discover_ports",
    "select_ports",
    "simulate_table",
    "import_verilog",
    "MAX_IMPORT_WIDTH",
]

MAX_IMPORT_WIDTH = 10


class ImportErrorPorts(ValueError):
    """The module's ports do not fit a two-operand unit of the requested width."""


@dataclass(frozen=True)
class PortInfo:
    name: str
    direction: str
    width: int
    signed: bool


@dataclass
class ImportedModule:
    """Ports chosen for an external module and its kind (``"mul"`` or ``"add"``)."""

    top: str
    files: list[Path]
    width: int
    kind: str
    a: str
    b: str
    y: str
    out_width: int
    ports: list[PortInfo] = field(default_factory=list)


def discover_ports(files, top: str, workdir: str | Path | None = None) -> list[PortInfo]:
    """Ports of module ``top`` in declaration order, read from Yosys' JSON netlist."""
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", top):
        raise ValueError(f"invalid Verilog module name {top!r}")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"Verilog file not found: {f}")
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_ports_{top}_")
        workdir = tmp
    workdir = Path(workdir)
    script = [f'read_verilog "{f.resolve()}"' for f in files]
    script += [f"hierarchy -check -top {top}", "write_json -compat-int ports.json"]
    run_yosys(script, workdir, "ports")
    data = json.loads((workdir / "ports.json").read_text())
    mod = data.get("modules", {}).get(top)
    if mod is None:
        raise ImportErrorPorts(f"module {top!r} not found in {', '.join(map(str, files))}")
    ports = [
        PortInfo(
            name=name,
            direction=info.get("direction", "?"),
            width=len(info.get("bits", [])),
            signed=bool(info.get("signed", 0)),
        )
        for name, info in mod.get("ports", {}).items()
    ]
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return ports


def _describe(ports: list[PortInfo]) -> str:
    return ", ".join(f"{p.direction} [{p.width - 1}:0] {p.name}" for p in ports) or "(no ports)"


def select_ports(
    ports: list[PortInfo],
    top: str,
    width: int,
    a: str | None = None,
    b: str | None = None,
    y: str | None = None,
    kind: str | None = None,
) -> tuple[str, str, str, str, int]:
    """Choose the operand and result ports; return ``(a, b, y, kind, out_width)``.

    Without names, the two ``width``-bit inputs are taken in declaration order (``a``, ``b``
    when ports of those names exist) and the only output is the result. ``kind`` is inferred
    from the output width (``2*width``: multiplier, ``width+1``: adder) unless given.
    """
    by_name = {p.name: p for p in ports}
    inputs = [p for p in ports if p.direction == "input"]
    outputs = [p for p in ports if p.direction == "output"]
    others = [p for p in ports if p.direction not in ("input", "output")]
    desc = f"module {top} has ports: {_describe(ports)}"
    if others:
        raise ImportErrorPorts(f"{desc}; inout ports are not supported")
    for nm in (a, b, y):
        if nm is not None and nm not in by_name:
            raise ImportErrorPorts(f"no port named {nm!r}; {desc}")
    if a is None or b is None:
        cands = [p.name for p in inputs if p.width == width and p.name not in (a, b)]
        if "a" in cands and "b" in cands and a is None and b is None:
            cands = ["a", "b"] + [c for c in cands if c not in ("a", "b")]
        need = (a is None) + (b is None)
        if len(cands) < need:
            raise ImportErrorPorts(
                f"expected two {width}-bit inputs for the operands; {desc} "
                "(name them with --a/--b, or check --width)"
            )
        if len(cands) > need:
            raise ImportErrorPorts(
                f"more than two {width}-bit inputs, cannot tell the operands apart; {desc} "
                "(name them with --a/--b)"
            )
        if a is None:
            a = cands.pop(0)
        if b is None:
            b = cands.pop(0)
    if a == b:
        raise ImportErrorPorts(f"operand ports must differ (both {a!r})")
    for nm in (a, b):
        p = by_name[nm]
        if p.direction != "input" or p.width != width:
            raise ImportErrorPorts(f"port {nm!r} must be a {width}-bit input; {desc}")
    extra_in = [p.name for p in inputs if p.name not in (a, b)]
    if extra_in:
        raise ImportErrorPorts(
            f"inputs other than the operands ({', '.join(extra_in)}): only combinational "
            f"two-operand modules can be imported; {desc}"
        )
    if y is None:
        if len(outputs) != 1:
            raise ImportErrorPorts(f"expected exactly one output (or name it with --y); {desc}")
        y = outputs[0].name
    py = by_name[y]
    if py.direction != "output":
        raise ImportErrorPorts(f"port {y!r} is not an output; {desc}")
    widths = {"mul": 2 * width, "add": width + 1}
    if kind is None:
        matches = [k for k, w in widths.items() if w == py.width]
        if not matches:
            raise ImportErrorPorts(
                f"output {y!r} has {py.width} bits; a {width}-bit multiplier needs {2 * width}, "
                f"an adder {width + 1}; {desc}"
            )
        kind = matches[0]
    elif kind not in widths:
        raise ValueError(f"kind must be 'mul' or 'add', got {kind!r}")
    elif widths[kind] != py.width:
        raise ImportErrorPorts(
            f"output {y!r} has {py.width} bits, a {width}-bit {kind} needs {widths[kind]}; {desc}"
        )
    return a, b, y, kind, py.width


def resolve_module(
    files, top: str, width: int, *, a=None, b=None, y=None, kind=None, workdir=None
) -> ImportedModule:
    """Discover the ports of ``top`` and pick operands/result (see :func:`select_ports`)."""
    if not 1 <= width <= MAX_IMPORT_WIDTH:
        raise ValueError(
            f"--width must be 1..{MAX_IMPORT_WIDTH} for an imported module, got {width}"
        )
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    ports = discover_ports(files, top, workdir)
    pa, pb, py, kind, ow = select_ports(ports, top, width, a, b, y, kind)
    return ImportedModule(top, files, width, kind, pa, pb, py, ow, ports)


def simulate_table(mod: ImportedModule, signed: bool, workdir=None) -> np.ndarray:
    """Exhaustive RTL simulation of ``mod``: the ``2^n x 2^n`` int64 table indexed by codes."""
    res = rtlsim.simulate_pairs(
        mod.files, mod.top, mod.width, mod.out_width, signed=signed, a_port=mod.a,
        b_port=mod.b, y_port=mod.y, exhaustive=True, workdir=workdir,
    )
    n = 1 << mod.width
    return res.y.reshape(n, n)


def import_verilog(
    files,
    top: str,
    width: int,
    *,
    signed: bool = False,
    a: str | None = None,
    b: str | None = None,
    y: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    save: str | Path | None = None,
    workdir: str | Path | None = None,
):
    """Import ``top`` as a table unit; return ``(spec, lut, module_info)``.

    The unit is registered under ``name`` (default: the module name, lower-cased) so that
    ``parse_unit(name)`` works afterwards in this process; ``save`` writes it to an ``.npz``
    file that :func:`refmodels.arith.load_lut_unit` reads back.
    """
    from refmodels import arith

    mod = resolve_module(files, top, width, a=a, b=b, y=y, kind=kind, workdir=workdir)
    lut = simulate_table(mod, signed, workdir)
    unit_name = name or top.lower()
    spec = arith.register_lut_unit(unit_name, lut, kind=mod.kind, width=width, signed=signed)
    if save is not None:
        arith.save_lut_unit(spec, save)
    return spec, lut, mod
