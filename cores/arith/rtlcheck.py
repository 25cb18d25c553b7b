"""Run converted arithmetic cores in Icarus Verilog or GHDL and read back their outputs.

Used by the bit-exactness tests: the simulators only produce raw output bit patterns, the
comparison with the golden model is done in Python.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from approxnn.eda import find_tool
from approxnn.eda.rtlsim import SimError, simulate_pairs

from cores.arith.common import as_spec, convert


def _run(cmd, cwd) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SimError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                       f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def icarus_outputs(spec, workdir, a_codes=None, b_codes=None) -> np.ndarray:
    """Simulate the combinational Verilog of ``spec`` in Icarus and return the ``y`` bit
    patterns: every pair (``a`` in the outer loop, row-major order of the ``2^n x 2^n`` table)
    or the given operand codes. The testbench is the characterisation tool's
    (:func:`approxnn.eda.rtlsim.simulate_pairs`)."""
    spec = as_spec(spec)
    workdir = Path(workdir)
    vfile = convert(spec, workdir)
    pairs = None if a_codes is None else (a_codes, b_codes)
    res = simulate_pairs(vfile, spec.module_name, spec.width, spec.out_width, signed=False,
                         exhaustive=a_codes is None, pairs=pairs, workdir=workdir / "icarus")
    return res.y


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
    ghdl = find_tool("ghdl", "apt-get install ghdl", SimError)
    std = ["--std=08"]
    for f in [*pck, vhd, tb]:
        _run([ghdl, "-a", *std, f.name], workdir)
    _run([ghdl, "-e", *std, f"tb_{top}"], workdir)
    log = _run([ghdl, "-r", *std, f"tb_{top}", "--stop-time=1ms"], workdir)
    marks = [line for line in log.splitlines() if "ERRORS=" in line]
    if len(marks) != 1:
        raise SimError(f"GHDL testbench did not report its error count:\n{log}")
    return int(marks[0].rsplit("ERRORS=", 1)[1].strip())
