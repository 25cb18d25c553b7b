"""Port shapes, error handling and MyHDL simulation of the unit blocks."""

from types import SimpleNamespace

import numpy as np
import pytest
from myhdl import Simulation, delay, instance

from cores.arith.common import (
    UNITS,
    CoreError,
    convert,
    operand_signal,
    result_signal,
    unit_block,
    unit_block_reg,
)
from refmodels.arith import parse_unit


def test_signed_ports_are_signed(tmp_path):
    text = convert("drum:signed=1", tmp_path).read_text()
    assert "input signed [7:0] a;" in text
    assert "output signed [15:0] y;" in text
    text = convert("loa:width=6", tmp_path, registered=True).read_text()
    assert "input [5:0] a;" in text and "output [6:0] y;" in text
    for port in ("clk", "rst", "in_valid", "out_valid"):
        assert f"{port};" in text


def test_module_names_follow_the_spec(tmp_path):
    path = convert("trunc:t=3,width=5,signed=1", tmp_path, registered=True)
    assert path.name == "trunc_t3_w5_s_reg.v"
    assert "module trunc_t3_w5_s_reg (" in path.read_text()


def test_bad_input_is_rejected(tmp_path):
    exact = parse_unit("exact")
    fake = SimpleNamespace(name="exact", kind="mul", width=20, signed=0, params={},
                           module_name="exact_w20_u", out_width=40)
    with pytest.raises(CoreError, match="width 20"):
        convert(fake, tmp_path)
    with pytest.raises(CoreError, match="no MyHDL core"):
        convert(SimpleNamespace(**{**vars(fake), "name": "table1", "width": 8}), tmp_path)
    with pytest.raises(CoreError, match="kind"):
        convert(SimpleNamespace(**{**vars(fake), "kind": "add", "width": 8}), tmp_path)
    assert convert(exact, tmp_path).exists()
    with pytest.raises(CoreError, match="Verilog"):
        convert("exact", tmp_path, hdl="SystemC")


def _simulate(spec, pairs):
    a, b, y = operand_signal(spec), operand_signal(spec), result_signal(spec)
    dut = unit_block(spec, a, b, y)
    out = []

    @instance
    def stim():
        for x, z in pairs:
            a.next, b.next = int(x), int(z)
            yield delay(1)
            out.append(int(y.val))

    Simulation(dut, stim).run(quiet=1)
    return np.array(out)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("signed", [0, 1])
def test_myhdl_simulation_matches_model(unit, signed):
    spec = parse_unit(unit, width=6, signed=signed)
    lo, hi = spec.operand_range()
    rng = np.random.default_rng(3)
    pairs = np.concatenate(
        [[[lo, lo], [lo, hi], [hi, hi], [0, hi], [hi, 0], [-1 if signed else 1, lo]],
         rng.integers(lo, hi + 1, size=(60, 2))]
    )
    got = _simulate(spec, pairs)
    np.testing.assert_array_equal(got, spec(pairs[:, 0], pairs[:, 1]))


def test_registered_block_latency_two():
    from myhdl import ResetSignal, Signal, intbv

    spec = parse_unit("exact", width=4)
    clk, rst = Signal(bool(0)), ResetSignal(1, active=1, isasync=False)
    iv, ov = Signal(bool(0)), Signal(bool(0))
    a, b, y = Signal(intbv(0)[4:]), Signal(intbv(0)[4:]), Signal(intbv(0)[8:])
    dut = unit_block_reg(spec, (clk, rst, iv, a, b, ov, y))
    seen = []

    @instance
    def run():
        for cycle in range(8):
            rst.next = cycle < 1
            iv.next = cycle in (2, 3)
            a.next, b.next = cycle, cycle + 1
            yield delay(1)
            clk.next = 1
            yield delay(1)
            clk.next = 0
            seen.append((cycle, bool(ov), int(y)))

    Simulation(dut, run).run(quiet=1)
    # operands set up before clock edge c are captured by the input register at edge c and
    # reach y through the output register at edge c+1: two register stages
    valid = [(c, v) for c, ok, v in seen if ok]
    assert valid == [(3, 2 * 3), (4, 3 * 4)]
