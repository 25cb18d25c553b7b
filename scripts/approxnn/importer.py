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
from .eda.synth import YosysError, run_yosys

__all__ = [
    "ImportErrorPorts",
    "PortInfo",
    "ImportedModule",
    "discover_ports",
    "select_ports",
    "simulate_table",
    "import_verilog",
    "MAX_IMPORT_WIDTH",
    "check_signedness",
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
    if not any(f.stat().st_size for f in files):
        raise ImportErrorPorts(f"no Verilog in {', '.join(map(str, files))}: the file is empty")
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_ports_{top}_")
        workdir = tmp
    try:
        workdir = Path(workdir)
        # proc before write_json: behavioural modules (always blocks) only become a netlist
        # after it, and write_json refuses processes.
        script = [f'read_verilog "{f.resolve()}"' for f in files]
        script += [f"hierarchy -check -top {top}", "proc", "write_json -compat-int ports.json"]
        try:
            run_yosys(script, workdir, "ports")
        except YosysError as exc:
            raise ImportErrorPorts(_yosys_reason(exc, files, top)) from None
        data = json.loads((workdir / "ports.json").read_text())
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    mod = data.get("modules", {}).get(top)
    if mod is None:
        raise ImportErrorPorts(f"module {top!r} not found in {', '.join(map(str, files))}")
    nets = mod.get("netnames", {})
    return [
        PortInfo(
            name=name,
            direction=info.get("direction", "?"),
            width=len(info.get("bits", [])),
            signed=bool(info.get("signed", 0) or nets.get(name, {}).get("signed", 0)),
        )
        for name, info in mod.get("ports", {}).items()
    ]


def _yosys_reason(exc: Exception, files, top: str) -> str:
    """One line saying why Yosys could not read ``top`` from ``files``."""
    text = str(exc)
    m = re.search(r"^ERROR: (.*)$", text, re.MULTILINE)
    reason = m.group(1).strip() if m else text.splitlines()[0]
    if "not found" in reason and top in reason:
        reason = f"module {top!r} not found"
    return f"cannot read {', '.join(map(str, files))} with Yosys: {reason}"


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
    check_signed: bool = True,
):
    """Import ``top`` as a table unit; return ``(spec, lut, module_info)``.

    ``check_signed``: refuse (:class:`SignednessError`) when ``signed`` contradicts the
    circuit (:func:`check_signedness`).

    The unit is registered under ``name`` (default: the module name, lower-cased) so that
    ``parse_unit(name)`` works afterwards in this process; ``save`` writes it to an ``.npz``
    file that :func:`refmodels.arith.load_lut_unit` reads back.
    """
    from refmodels import arith

    if save is not None and Path(save).suffix != ".npz":
        raise ValueError(f"--save needs a .npz file name (the table format), got {save}")
    mod = resolve_module(files, top, width, a=a, b=b, y=y, kind=kind, workdir=workdir)
    lut = simulate_table(mod, signed, workdir)
    if check_signed:
        check_signedness(mod, lut, signed)
    unit_name = name or top.lower()
    spec = arith.register_lut_unit(unit_name, lut, kind=mod.kind, width=width, signed=signed)
    if save is not None:
        arith.save_lut_unit(spec, save)
    return spec, lut, mod


class SignednessError(ValueError):
    """``--signed`` (or its absence) contradicts the imported circuit."""


def _exact_codes(kind: str, width: int, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact results of every operand-code pair (row-major) under one signedness."""
    n = 1 << width
    codes = np.arange(n, dtype=np.int64)
    vals = np.where(codes >= n // 2, codes - n, codes) if signed else codes
    a, b = np.meshgrid(vals, vals, indexing="ij")
    return (a * b if kind == "mul" else a + b), vals


def check_signedness(mod: ImportedModule, lut: np.ndarray, signed: bool) -> None:
    """Refuse a signedness that contradicts the circuit.

    Two tests: operand or result ports *declared* ``signed`` while ``signed`` is off; and the
    behaviour - the same output bit patterns read the other way are much closer to the exact
    results (mean absolute error below a quarter of the claimed one, and the claimed one
    above 0.5 % of the output range). An exact unsigned multiplier read as signed, for example,
    has a MAE of about 21 % of the range against 0 % unsigned.
    """
    declared = [p.name for p in mod.ports if p.signed and p.name in (mod.a, mod.b, mod.y)]
    if declared and not signed:
        raise SignednessError(
            f"module {mod.top}: port(s) {', '.join(declared)} are declared signed; "
            "pass --signed (or --no-signedness-check to import it as unsigned)"
        )
    out_bits = mod.out_width
    pattern = np.asarray(lut, dtype=np.int64) & ((1 << out_bits) - 1)
    errs = {}
    for sgn in (False, True):
        exact, _ = _exact_codes(mod.kind, mod.width, sgn)
        val = pattern - ((pattern >> (out_bits - 1)) << out_bits) if sgn else pattern
        errs[sgn] = float(np.mean(np.abs(val.reshape(exact.shape) - exact))) / (1 << out_bits)
    claimed, other = errs[bool(signed)], errs[not signed]
    if claimed > 0.005 and other < claimed / 4:
        as_ = "signed" if signed else "unsigned"
        other_name = "unsigned" if signed else "signed"
        hint = "drop --signed" if signed else "pass --signed"
        raise SignednessError(
            f"module {mod.top} does not behave as a {as_} {mod.kind}: MAE {100 * claimed:.3g} % "
            f"of the output range read as {as_}, {100 * other:.3g} % read as {other_name}; "
            f"{hint} (or --no-signedness-check to import it anyway)"
        )
