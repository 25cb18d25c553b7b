"""Run converted arithmetic cores in Icarus Verilog or GHDL and read back their outputs.

Used by the bit-exactness tests: the simulators only produce raw output bit patterns, the
comparison with the golden model is done in Python.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from cores.arith.common import as_spec, convert


class SimError(RuntimeError):
    """A simulator failed or produced unreadable output."""


def to_code(values, width: int) -> np.ndarray:
    """Values (signed or unsigned) -> unsigned ``width``-bit patterns."""
    return np.asarray(values, dtype=np.int64) & ((1 << width) - 1)


def from_code(codes, width: int, signed: bool) -> np.ndarray:
    """Unsigned ``width``-bit patterns -> values (two's complement when ``signed``)."""
    codes = np.asarray(codes, dtype=np.int64)
    if signed:
        return np.where(codes >= (1 << (width - 1)), codes - (1 << width), codes)
    return codes


def _run(cmd, cwd) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SimError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                       f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def _read_hex(path: Path, count: int) -> np.ndarray:
    lines = path.read_text().split()
    if len(lines) != count:
        raise SimError(f"{path}: expected {count} results, read {len(lines)}")
    try:
        return np.array([int(x, 16) for x in lines], dtype=np.int64)
    except ValueError as err:  # 'x' or 'z' bits
        raise SimError(f"{path}: unknown bits in simulator output ({err})") from None


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SimError(f"{name} not found on PATH")
    return path


def icarus_outputs(spec, workdir, a_codes=None, b_codes=None) -> np.ndarray:
    """Simulate the combinational Verilog of ``spec`` and return the ``y`` bit patterns.

    Without operand codes every pair is applied, ``a`` in the outer loop (row-major order of the
    ``2^n x 2^n`` table). With ``a_codes``/``b_codes`` (equal-length arrays of operand bit
    patterns) those pairs are applied through a ``$readmemh`` file.
    """
    spec = as_spec(spec)
    workdir = Path(workdir)
    vfile = convert(spec, workdir)
    n, w, top = spec.width, spec.out_width, spec.module_name
    out = workdir / f"{top}_out.hex"
    if a_codes is None:
        count = 1 << (2 * n)
        stimulus = f"""
    for (i = 0; i < {1 << n}; i = i + 1) begin
      for (j = 0; j < {1 << n}; j = j + 1) begin
        a = i[{n - 1}:0];
        b = j[{n - 1}:0];
        #1 $fwrite(fd, "%h\\n", y);
      end
    end"""
        memdecl = ""
    else:
        a_codes = np.asarray(a_codes, dtype=np.int64)
        b_codes = np.asarray(b_codes, dtype=np.int64)
        if a_codes.shape != b_codes.shape or a_codes.ndim != 1:
            raise ValueError("a_codes and b_codes must be 1-D arrays of equal length")
        count = len(a_codes)
        pairs = workdir / f"{top}_pairs.hex"
        digits = (2 * n + 3) // 4
        lines = (f"{(int(x) << n) | int(y):0{digits}x}\n" for x, y in zip(a_codes, b_codes,
                                                                           strict=True))
        pairs.write_text("".join(lines))
        memdecl = f"  reg [{2 * n - 1}:0] mem [0:{count - 1}];\n"
        stimulus = f"""
    $readmemh("{pairs.name}", mem);
    for (i = 0; i < {count}; i = i + 1) begin
      {{a, b}} = mem[i];
      #1 $fwrite(fd, "%h\\n", y);
    end"""
    tb = workdir / f"tb_{top}.v"
    tb.write_text(f"""`timescale 1ns/1ps
module tb_{top};
  reg [{n - 1}:0] a;
  reg [{n - 1}:0] b;
  wire [{w - 1}:0] y;
{memdecl}  integer fd, i, j;
  {top} dut (.a(a), .b(b), .y(y));
  initial begin
    fd = $fopen("{out.name}", "w");{stimulus}
    $fclose(fd);
    $finish;
  end
endmodule
""")
    vvp = workdir / f"{top}.vvp"
    _run([_tool("iverilog"), "-o", vvp.name, "-s", f"tb_{top}", tb.name, vfile.name], workdir)
    _run([_tool("vvp"), "-n", vvp.name], workdir)
    return _read_hex(out, count)


def ghdl_mismatches(spec, workdir, a_values, b_values, expected) -> int:
    """Convert ``spec`` to VHDL, simulate it in GHDL on the given operand *values* and return the
    number of outputs that differ from ``expected`` (the testbench carries the expected values
    and reports each mismatch; a non-zero count is also printed in the log)."""
    spec = as_spec(spec)
    workdir = Path(workdir)
    vhd = convert(spec, workdir, hdl="VHDL")
    pck = sorted(workdir.glob("pck_myhdl_*.vhd"))
    n, w, top = spec.width, spec.out_width, spec.module_name
    vec = "signed" if spec.signed else "unsigned"
    vectors = ",\n".join(
        f"    ({int(x)}, {int(y)}, {int(z)})"
        for x, y, z in zip(a_values, b_values, expected, strict=True)
    )
    count = len(expected)
    tb = workdir / f"tb_{top}.vhd"
    tb.write_text(f"""library ieee;
use ieee.std_logic_1164.all;
use ieee.numeric_std.all;

entity tb_{top} is
end entity;

architecture sim of tb_{top} is
  type vector_t is record
    a : integer;
    b : integer;
    y : integer;
  end record;
  type vectors_t is array (natural range <>) of vector_t;
  constant vectors : vectors_t(0 to {count - 1}) := (
{vectors});
  signal a : {vec}({n - 1} downto 0);
  signal b : {vec}({n - 1} downto 0);
  signal y : {vec}({w - 1} downto 0);
begin
  dut : entity work.{top} port map (a => a, b => b, y => y);

  stimulus : process
    variable errors : natural := 0;
  begin
    for i in vectors'range loop
      a <= to_{vec}(vectors(i).a, {n});
      b <= to_{vec}(vectors(i).b, {n});
      wait for 1 ns;
      if to_integer(y) /= vectors(i).y then
        errors := errors + 1;
        report "MISMATCH a=" & integer'image(vectors(i).a) & " b=" & integer'image(vectors(i).b)
          & " y=" & integer'image(to_integer(y)) & " expected=" & integer'image(vectors(i).y);
      end if;
    end loop;
    report "ERRORS=" & integer'image(errors);
    wait;
  end process;
end architecture;
""")
    ghdl = _tool("ghdl")
    std = ["--std=08"]
    for f in [*pck, vhd, tb]:
        _run([ghdl, "-a", *std, f.name], workdir)
    _run([ghdl, "-e", *std, f"tb_{top}"], workdir)
    log = _run([ghdl, "-r", *std, f"tb_{top}", "--stop-time=1ms"], workdir)
    marks = [line for line in log.splitlines() if "ERRORS=" in line]
    if len(marks) != 1:
        raise SimError(f"GHDL testbench did not report its error count:\n{log}")
    return int(marks[0].rsplit("ERRORS=", 1)[1].strip())
