"""The committed Vivado-ready tops equal a fresh generation; the wrapper is derived from the
core's port list (a changed port list changes the wrapper) and refuses a core it cannot map."""

import pytest

from cores.zynq import generate
from cores.zynq.wrapper import WrapperError, core_ports, padded, top_ports, wrapper_text


def test_committed_files_are_up_to_date(tmp_path):
    generate.generate(tmp_path)
    problems = generate.compare(tmp_path)
    assert not problems, "regenerate with `python -m cores.zynq.generate`:\n" + "\n".join(problems)


def test_compare_detects_a_changed_file(tmp_path):
    generate.generate(tmp_path, ["engine"])
    victim = tmp_path / "engine" / "rtl" / "cnn_engine_axi.v"
    victim.write_text(victim.read_text().replace("FREQ_HZ 100000000", "FREQ_HZ 1", 1))
    assert generate.compare(tmp_path, ["engine"]) == [
        "differs: cores/zynq/engine/rtl/cnn_engine_axi.v"]


CORE = """\
module toy (
    clk, rst, s_axil_awaddr, s_axil_awvalid, s_axil_awready, s_axil_wdata, s_axil_wstrb,
    s_axil_wvalid, s_axil_wready, s_axil_bresp, s_axil_bvalid, s_axil_bready, s_axil_araddr,
    s_axil_arvalid, s_axil_arready, s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
    s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
    m_axis_h_tdata, m_axis_h_tvalid, m_axis_h_tready, m_axis_h_tlast, irq
);
input clk;
input rst;
input [5:0] s_axil_awaddr;
input s_axil_awvalid;
output s_axil_awready;
input [31:0] s_axil_wdata;
input [3:0] s_axil_wstrb;
input s_axil_wvalid;
output s_axil_wready;
output [1:0] s_axil_bresp;
output s_axil_bvalid;
input s_axil_bready;
input [5:0] s_axil_araddr;
input s_axil_arvalid;
output s_axil_arready;
output [31:0] s_axil_rdata;
output [1:0] s_axil_rresp;
output s_axil_rvalid;
input s_axil_rready;
input [47:0] s_axis_h_tdata;
input s_axis_h_tvalid;
output s_axis_h_tready;
input s_axis_h_tlast;
output [47:0] m_axis_h_tdata;
output m_axis_h_tvalid;
input m_axis_h_tready;
output m_axis_h_tlast;
output irq;
endmodule
"""


def test_streams_are_padded_to_powers_of_two():
    assert [padded(w) for w in (1, 8, 10, 20, 48, 96, 128)] == [8, 8, 16, 32, 64, 128, 128]
    ports = {p.name: p for p in top_ports(core_ports(CORE, "toy"))}
    assert ports["s_axis_h_tdata"].width == 64 and ports["m_axis_h_tdata"].width == 64
    assert ports["m_axis_h_tkeep"].width == 8 and "s_axis_h_tkeep" not in ports
    assert ports["s_axi_awaddr"].width == 6 and ports["aresetn"].direction == "input"
    text = wrapper_text(CORE, "toy", "toy_axi", 50_000_000, "test")
    assert ".s_axis_h_tdata(s_axis_h_tdata[47:0])" in text
    assert "assign m_axis_h_tdata = {16'd0, m_axis_h_tdata_core};" in text
    assert "ASSOCIATED_BUSIF S_AXI:S_AXIS_H:M_AXIS_H, ASSOCIATED_RESET aresetn, " \
           "FREQ_HZ 50000000" in text
    assert "TDATA_NUM_BYTES 8" in text and ".rst(!aresetn)" in text


def test_a_core_without_irq_or_clock_is_refused():
    with pytest.raises(WrapperError, match="no port irq"):
        top_ports(core_ports(CORE.replace(", irq\n", "\n").replace("output irq;\n", ""), "toy"))
    with pytest.raises(WrapperError, match="module nope not found"):
        core_ports(CORE, "nope")
