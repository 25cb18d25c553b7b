"""Baseline for the benchmark: one Python round trip per operand pair (drive, wait for the
result, compare), the style that streaming stimulus replaces. Not part of the test suite."""

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from refmodels.arith import from_code, to_code
from verif.arith.env import LATENCY, unit_from_env


@cocotb.test()
async def per_pair_exhaustive(dut):
    spec = unit_from_env()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.in_valid.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    n = 1 << spec.width
    codes = np.arange(n * n, dtype=np.int64)
    a_codes, b_codes = codes // n, codes % n
    a_vals = from_code(a_codes, spec.width, spec.signed)
    b_vals = from_code(b_codes, spec.width, spec.signed)
    want = to_code(spec(a_vals, b_vals), spec.out_width)
    bad = 0
    for i in range(n * n):
        dut.a.value = int(a_codes[i])
        dut.b.value = int(b_codes[i])
        dut.in_valid.value = 1
        await RisingEdge(dut.clk)
        dut.in_valid.value = 0
        for _ in range(LATENCY):
            await RisingEdge(dut.clk)
        bad += int(dut.y.value.to_unsigned() != want[i])
    assert bad == 0, f"{bad} mismatches"
