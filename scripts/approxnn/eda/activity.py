"""Switching activity of a combinational two-operand unit: its Yosys 7-series netlist simulated
in Icarus Verilog on a given operand stream, toggles read back from the FST waveform.

Flow (:func:`netlist` then :func:`toggles`):

1. ``synth_xilinx -family xc7 -flatten -noiopad -nodsp`` of the unit's Verilog (the flow of
   the LUT figures, :mod:`approxnn.eda.synth`), ``opt_clean -purge``, private nets renamed
   ``n0, n1, ...`` (``rename -enumerate``), written as a structural Verilog netlist of LUT /
   CARRY4 / MUXF / INV cells and as JSON;
2. the fanout of every net bit from the JSON: the number of cell input pins it drives, plus one
   for a bit of an output port (the load of the stage that takes the result);
3. the netlist simulated with Yosys' cell library (``xilinx/cells_sim.v``) in Icarus, one operand
   pair per 10 ns, every net of the unit dumped to an FST file (``$dumpvars(1, dut)``);
4. the FST read with ``pywellen`` (the ``wellen`` waveform library): per net bit, the number of
   value changes after the first operand pair, split into the segments of the stream.

The simulation has zero delays, so it counts *functional* toggles: glitches, which real
LUT fabric adds, are not seen. The figures are a **relative** switching-activity measure of
the synthesised netlist on real data, not a power estimate: no capacitance, voltage,
frequency or clock/static power enters. The energy proxy built on them
(:mod:`approxnn.energy`) says so wherever it is reported.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ToolError, find_tool
from . import synth as ys

__all__ = ["ActivityError", "Netlist", "netlist", "toggles", "cells_sim", "code_digest"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PERIOD_PS = 10_000  # one operand pair per 10 ns; the netlist has no delays


class ActivityError(ToolError):
    """A tool is missing, failed, or the waveform does not match the netlist."""


def code_digest() -> str:
    """Digest of this module (part of every cache key of its figures)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def cells_sim() -> Path:
    """Yosys' simulation models of the Xilinx cells (``<datdir>/xilinx/cells_sim.v``)."""
    cands = []
    exe = shutil.which("yosys-config")
    if exe:
        out = subprocess.run([exe, "--datdir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            cands.append(Path(out.stdout.strip()))
    yosys = shutil.which("yosys")
    if yosys:
        cands.append(Path(yosys).resolve().parent.parent / "share" / "yosys")
    cands += [Path("/usr/share/yosys"), Path("/usr/local/share/yosys")]
    for c in cands:
        f = c / "xilinx" / "cells_sim.v"
        if f.is_file():
            return f
    raise ActivityError("Yosys' xilinx/cells_sim.v not found (install Yosys: "
                        "`apt install yosys`)")


@dataclass
class Netlist:
    """A synthesised unit: netlist file, top module, port widths and the fanout of each net."""

    path: Path
    top: str
    width: int
    out_width: int
    #: net name -> fanout of each bit (LSB first); aliases of a bit appear once
    fanout: dict
    luts: int
    cells: int
    #: names of the operand and result ports
    a: str = "a"
    b: str = "b"
    y: str = "y"


def netlist(files, top: str, width: int, out_width: int, workdir: Path,
            ports=("a", "b", "y")) -> Netlist:
    """Synthesise ``top`` (operand ports ``ports[0]``, ``ports[1]``: ``width`` bits, result
    ``ports[2]``: ``out_width``, default ``a``, ``b``, ``y``) for xc7 into ``workdir``; returns
    the structural netlist and the fanout of its nets."""
    for name in (top, *ports):
        if not _IDENT.match(name):
            raise ValueError(f"invalid Verilog name {name!r}")
    pa, pb, py = ports
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    workdir = Path(workdir)
    script = ys._read_cmds(files) + [
        f"synth_xilinx -family xc7 -flatten -noiopad -nodsp -top {top}",
        "opt_clean -purge",
        "rename -hide w:* i:* o:* %d %d",
        "rename -enumerate -pattern n%",
        "write_verilog -noattr net.v",
        "write_json net.json",
    ]
    ys.run_yosys(script, workdir, "activity")
    data = json.loads((workdir / "net.json").read_text())
    mod = data["modules"].get(top)
    if mod is None:
        raise ActivityError(f"module {top!r} not in the synthesised netlist")
    load: dict[int, int] = {}
    luts = 0
    for cell in mod["cells"].values():
        if re.fullmatch(r"LUT[1-6]", cell["type"]):
            luts += 1
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) == "input":
                for b in bits:
                    if isinstance(b, int):
                        load[b] = load.get(b, 0) + 1
    for port in mod["ports"].values():
        if port["direction"] == "output":
            for b in port["bits"]:
                if isinstance(b, int):
                    load[b] = load.get(b, 0) + 1
    widths = {n: len(p["bits"]) for n, p in mod["ports"].items()}
    if widths != {pa: width, pb: width, py: out_width}:
        raise ActivityError(f"{top}: ports {widths}, expected {pa}, {pb}: {width} bits, "
                            f"{py}: {out_width} bits")
    fanout, seen = {}, set()
    # ports first, then the other nets: an aliased bit is counted under the first name
    names = sorted(mod["netnames"], key=lambda n: (n not in mod["ports"], n))
    for name in names:
        nn = mod["netnames"][name]
        if nn.get("offset", 0) != 0 or nn.get("upto", 0):
            raise ActivityError(f"{top}: net {name} is not declared [w-1:0]")
        fo = []
        for b in nn["bits"]:
            if isinstance(b, int) and b not in seen:
                seen.add(b)
                fo.append(load.get(b, 0))
            else:
                fo.append(None)  # a constant, or counted under another name
        fanout[name] = fo
    return Netlist(workdir / "net.v", top, width, out_width, fanout, luts,
                   len(mod["cells"]), pa, pb, py)


def _testbench(nl: Netlist, n: int) -> str:
    w, ow = nl.width, nl.out_width
    return "\n".join([
        "`timescale 1ns/1ps",
        "module approxnn_activity_tb;",
        f"  reg [{2 * w - 1}:0] stim [0:{n - 1}];",
        f"  reg [{w - 1}:0] a;",
        f"  reg [{w - 1}:0] b;",
        f"  wire [{ow - 1}:0] y;",
        "  integer i;",
        f"  {nl.top} dut (.{nl.a}(a), .{nl.b}(b), .{nl.y}(y));",
        "  initial begin",
        '    $readmemh("stim.hex", stim);',
        '    $dumpfile("wave.fst");',
        "    $dumpvars(1, dut);",
        f"    for (i = 0; i < {n}; i = i + 1) begin",
        "      {a, b} = stim[i];",
        f"      #{PERIOD_PS // 1000};",
        "    end",
        "    $finish;",
        "  end",
        "endmodule",
        "",
    ])


def _changes(var) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of a dumped variable; values that are not 0/1 only are dropped."""
    ts, vs = [], []
    for t, v in var.tv:
        if isinstance(v, str):
            if not v or any(c not in "01" for c in v):
                continue
            v = int(v, 2)
        ts.append(int(t))
        vs.append(int(v))
    return np.asarray(ts, np.int64), np.asarray(vs, np.int64)


def toggles(nl: Netlist, a_codes, b_codes, segments=None, timeout: float = 3600) -> dict:
    """Simulate the netlist on the operand codes and count toggles per net bit.

    ``segments``: lengths that split the stream (default: one segment); a toggle belongs to
    the segment of the operand pair that caused it, the first pair of the stream causes none.
    Returns ``{"toggles": array (segments, bits), "fanout": array (bits,), "names": [...],
    "pairs": array (segments,), "y": output codes read back from the waveform}`` over the
    bits of every net of the unit (ports included, constants and aliases left out).
    """
    a = np.asarray(a_codes, np.int64).ravel()
    b = np.asarray(b_codes, np.int64).ravel()
    n = len(a)
    if n < 2 or len(b) != n:
        raise ValueError("need two equal operand streams of at least 2 pairs")
    top = (1 << nl.width) - 1
    if a.min() < 0 or b.min() < 0 or a.max() > top or b.max() > top:
        raise ValueError(f"operand codes must be in 0..{top}")
    segments = [n] if segments is None else [int(s) for s in segments]
    if sum(segments) != n or min(segments) < 1:
        raise ValueError("segments must be positive and add up to the stream length")
    try:
        import pywellen
    except ImportError:
        raise ActivityError("the switching-activity proxy needs pywellen (pip install "
                            "pywellen; the project's 'sim' extra)") from None
    iverilog = find_tool("iverilog", "install Icarus Verilog (`apt install iverilog`)",
                         ActivityError)
    vvp = find_tool("vvp", "install Icarus Verilog (`apt install iverilog`)", ActivityError)
    tmp = Path(tempfile.mkdtemp(prefix=f"approxnn_activity_{nl.top}_"))
    try:
        hexw = (2 * nl.width + 3) // 4
        (tmp / "stim.hex").write_text("".join(f"{(x << nl.width) | y:0{hexw}x}\n"
                                              for x, y in zip(a.tolist(), b.tolist(),
                                                              strict=True)))
        (tmp / "tb.v").write_text(_testbench(nl, n))
        for cmd in ([iverilog, "-g2012", "-o", "sim", "-s", "approxnn_activity_tb", "tb.v",
                     str(nl.path), str(cells_sim())], [vvp, "-n", "sim", "-fst"]):
            p = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout,
                               check=False)
            if p.returncode != 0 or "error" in p.stderr.lower():
                raise ActivityError(f"{Path(cmd[0]).name} failed (exit {p.returncode}): "
                                    + (p.stderr or p.stdout).strip()[-1500:])
        wave = pywellen.Waveform(str(tmp / "wave.fst"))
        dumped = {v.name: v for v in wave.all_vars()}
        edges = np.cumsum([0] + segments)[1:]  # first pair index of the next segment
        rows, fos, names, y = [], [], [], None
        for name, fo in nl.fanout.items():
            var = dumped.get(name)
            if var is None:
                if all(f is None for f in fo):
                    continue
                raise ActivityError(f"net {name} of {nl.top} is not in the waveform")
            if var.bitwidth != len(fo):
                raise ActivityError(f"net {name}: {var.bitwidth} bits dumped, netlist "
                                    f"{len(fo)}")
            t, v = _changes(var)
            idx = t // PERIOD_PS
            if name == nl.y:
                y = _values_per_pair(idx, v, n)
            # a change recorded in period i >= 1 was caused by operand pair i
            d = np.bitwise_xor(v[1:], v[:-1])
            seg = np.searchsorted(edges, idx[1:], side="right")
            prev_ok = idx[1:] >= 1
            for k, f in enumerate(fo):
                if f is None:
                    continue
                flips = ((d >> k) & 1).astype(bool) & prev_ok
                rows.append(np.bincount(seg[flips], minlength=len(segments)))
                fos.append(f)
                names.append(f"{name}[{k}]")
        if y is None:
            raise ActivityError(f"output {nl.y} not found in the waveform")
        return {"toggles": np.array(rows, np.int64).T.reshape(len(segments), -1),
                "fanout": np.array(fos, np.int64), "names": names,
                "pairs": np.array(segments, np.int64), "y": y}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _values_per_pair(idx, v, n):
    """The value during each period 0..n-1 from a change list (last change in a period)."""
    out = np.full(n, -1, np.int64)
    ok = idx < n
    out[idx[ok]] = v[ok]  # later changes in the same period overwrite earlier ones
    for i in range(1, n):  # periods without a change keep the previous value
        if out[i] < 0:
            out[i] = out[i - 1]
    return out
