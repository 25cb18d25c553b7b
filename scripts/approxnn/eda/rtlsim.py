"""Simulate the RTL of a combinational two-operand module in Icarus Verilog.

A testbench is generated for the module: it applies operand pairs, waits, and writes the output
bits in hex with ``$fwrite``. Exhaustive runs (all ``2^(2n)`` pairs, default for ``n <= 8``) loop
over the pairs in Verilog; sampled runs (``n > 8``) read a seeded random stimulus with
``$readmemh``. Outputs are returned as an int64 numpy array of *values* (two's complement when
``signed``), in the order of the returned operand codes; exhaustive order is
``index = a_code * 2^n + b_code``.

The module under test is simulated as written; no golden model is involved here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ToolError, find_tool

__all__ = ["SimError", "SimResult", "simulate_pairs", "EXHAUSTIVE_MAX_WIDTH", "DEFAULT_SAMPLES"]

EXHAUSTIVE_MAX_WIDTH = 8
DEFAULT_SAMPLES = 1 << 16
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class SimError(ToolError):
    """The simulator is missing, failed, or produced unusable output."""


@dataclass
class SimResult:
    """Operand codes applied and output values read back (all int64 arrays of equal length)."""

    a_codes: np.ndarray
    b_codes: np.ndarray
    y: np.ndarray
    exhaustive: bool
    seconds: float

    @property
    def n_pairs(self) -> int:
        return int(self.y.size)


def _tool(name: str) -> str:
    return find_tool(name, "install Icarus Verilog (Debian/Ubuntu: `apt install iverilog`, "
                     "version 11 tested)", SimError)


def _testbench(top, width, out_width, a_port, b_port, y_port, exhaustive, n, stim, outfile):
    lines = [
        "`timescale 1ns/1ps",
        "module approxnn_tb;",
        f"  reg [{width - 1}:0] a;",
        f"  reg [{width - 1}:0] b;",
        f"  wire [{out_width - 1}:0] y;",
        "  integer fd;",
        "  integer i;",
        "  integer j;",
        f"  {top} dut (.{a_port}(a), .{b_port}(b), .{y_port}(y));",
    ]
    if not exhaustive:
        lines.append(f"  reg [{2 * width - 1}:0] stim [0:{n - 1}];")
    lines += ["  initial begin", f'    fd = $fopen("{outfile}", "w");']
    if exhaustive:
        lines += [
            f"    for (i = 0; i < {1 << width}; i = i + 1) begin",
            f"      for (j = 0; j < {1 << width}; j = j + 1) begin",
            "        a = i;",
            "        b = j;",
            "        #1;",
            '        $fwrite(fd, "%h\\n", y);',
            "      end",
            "    end",
        ]
    else:
        lines += [
            f'    $readmemh("{stim}", stim);',
            f"    for (i = 0; i < {n}; i = i + 1) begin",
            "      {a, b} = stim[i];",
            "      #1;",
            '      $fwrite(fd, "%h\\n", y);',
            "    end",
        ]
    lines += ["    $fclose(fd);", "    $finish;", "  end", "endmodule", ""]
    return "\n".join(lines)


def _parse_hex_lines(text: str, count: int, out_width: int, signed: bool) -> np.ndarray:
    lines = text.split()
    if len(lines) != count:
        raise SimError(f"simulation wrote {len(lines)} results, expected {count}")
    bad = [k for k, s in enumerate(lines) if not all(c in "0123456789abcdefABCDEF" for c in s)]
    if bad:
        k = bad[0]
        raise SimError(
            f"output has X/Z bits for {len(bad)} of {count} pairs (first: pair #{k}, y={lines[k]})"
        )
    if out_width <= 62:
        vals = np.fromiter((int(s, 16) for s in lines), dtype=np.int64, count=count)
        if signed:
            vals = np.where(vals >= (1 << (out_width - 1)), vals - (1 << out_width), vals)
        return vals.astype(np.int64)
    raise SimError(f"output width {out_width} too large (at most 62 bits supported)")


def simulate_pairs(
    files,
    top: str,
    width: int,
    out_width: int,
    *,
    signed: bool = False,
    a_port: str = "a",
    b_port: str = "b",
    y_port: str = "y",
    exhaustive: bool | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    pairs: tuple | None = None,
    workdir: str | Path | None = None,
    timeout: float = 600,
) -> SimResult:
    """Simulate module ``top`` (ports ``a_port``, ``b_port``: ``width`` bits in, ``y_port``:
    ``out_width`` bits out) over all operand pairs or a seeded sample of ``samples`` pairs.

    ``pairs=(a_codes, b_codes)`` applies exactly those operand codes instead.
    ``exhaustive`` defaults to ``width <= 8``. Port width mismatches reported by Icarus are
    errors. Returns a :class:`SimResult`; outputs are interpreted as signed when ``signed``.
    """
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    for nm, what in ((top, "module"), (a_port, "port"), (b_port, "port"), (y_port, "port")):
        if not _IDENT.match(nm):
            raise ValueError(f"invalid Verilog {what} name {nm!r}")
    if not 1 <= width <= 16:
        raise ValueError(f"operand width must be 1..16, got {width}")
    if not 1 <= out_width <= 62:
        raise ValueError(f"output width must be 1..62, got {out_width}")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"Verilog file not found: {f}")
    if pairs is not None:
        exhaustive = False
    elif exhaustive is None:
        exhaustive = width <= EXHAUSTIVE_MAX_WIDTH
    if exhaustive and width > 12:
        raise ValueError(f"exhaustive simulation of {width}-bit operands is too large (max 12)")
    if not exhaustive and samples < 1:
        raise ValueError("samples must be positive")

    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_sim_{top}_")
        workdir = tmp
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    iverilog, vvp = _tool("iverilog"), _tool("vvp")

    mask = (1 << width) - 1
    if exhaustive:
        codes = np.arange(1 << (2 * width), dtype=np.int64)
        a_codes, b_codes = codes >> width, codes & mask
        n = codes.size
    else:
        if pairs is not None:
            a_codes, b_codes = (np.asarray(p, dtype=np.int64) for p in pairs)
            if a_codes.shape != b_codes.shape or a_codes.ndim != 1 or a_codes.size == 0:
                raise ValueError("pairs must be two non-empty 1-D arrays of equal length")
            if (a_codes | b_codes).min() < 0 or (a_codes | b_codes).max() > mask:
                raise ValueError(f"operand codes must lie in 0..{mask}")
        else:
            rng = np.random.default_rng(seed)
            a_codes = rng.integers(0, 1 << width, size=samples, dtype=np.int64)
            b_codes = rng.integers(0, 1 << width, size=samples, dtype=np.int64)
        n = a_codes.size
        stim = (a_codes << width) | b_codes
        digits = (2 * width + 3) // 4
        (workdir / "stim.hex").write_text("\n".join(f"{v:0{digits}x}" for v in stim) + "\n")

    tb = workdir / "approxnn_tb.v"
    out = workdir / "y.hex"
    tb.write_text(
        _testbench(top, width, out_width, a_port, b_port, y_port, exhaustive, n,
                   (workdir / "stim.hex").as_posix(), out.as_posix())
    )
    vvp_file = workdir / "sim.vvp"
    t0 = time.perf_counter()
    cmd = [iverilog, "-g2012", "-o", str(vvp_file), "-s", "approxnn_tb", str(tb)]
    cmd += [str(f.resolve()) for f in files]
    comp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    (workdir / "iverilog.log").write_text(comp.stdout + comp.stderr)
    if comp.returncode != 0:
        raise SimError(f"iverilog failed for {top} (work dir {workdir}):\n{comp.stderr[-3000:]}")
    mism = [ln for ln in comp.stderr.splitlines() if "expects" in ln and "got" in ln]
    if mism:
        raise SimError(f"port width mismatch connecting {top}:\n" + "\n".join(mism[:6]))
    run = subprocess.run(
        [vvp, "-n", str(vvp_file)], capture_output=True, text=True, timeout=timeout, check=False,
        cwd=workdir,
    )
    (workdir / "vvp.log").write_text(run.stdout + run.stderr)
    if run.returncode != 0 or not out.is_file():
        tail = (run.stdout + run.stderr)[-3000:]
        raise SimError(f"vvp failed for {top} (work dir {workdir}):\n{tail}")
    y = _parse_hex_lines(out.read_text(), n, out_width, signed)
    seconds = time.perf_counter() - t0
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return SimResult(a_codes, b_codes, y, bool(exhaustive), round(seconds, 3))
