"""cocotb tests of the protocol checkers on the deliberately faulty ``proto_dut``: one test
per mode; mode 0 must pass, every other mode must fail with its rule (checked by
verif/common/test_protocol.py from the results file)."""

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from verif.common import protocol
from verif.common.axi import reset, start_clock


async def _axil_write(dut, value, hold=3):
    dut.s_axil_awaddr.value = 0
    dut.s_axil_wdata.value = value
    dut.s_axil_wstrb.value = 0xF
    dut.s_axil_awvalid.value = 1
    dut.s_axil_wvalid.value = 1
    while True:
        await RisingEdge(dut.clk)
        if dut.s_axil_awready.value:
            break
    dut.s_axil_awvalid.value = 0
    dut.s_axil_wvalid.value = 0
    for _ in range(64):
        await RisingEdge(dut.clk)
        if dut.s_axil_bvalid.value:
            break
    await ClockCycles(dut.clk, hold)  # keep the response waiting a few cycles
    dut.s_axil_bready.value = 1
    await RisingEdge(dut.clk)
    dut.s_axil_bready.value = 0


async def _axil_read(dut, hold=3):
    dut.s_axil_araddr.value = 0
    dut.s_axil_arvalid.value = 1
    while True:
        await RisingEdge(dut.clk)
        if dut.s_axil_arready.value:
            break
    dut.s_axil_arvalid.value = 0
    await ClockCycles(dut.clk, hold + 1)
    dut.s_axil_rready.value = 1
    await RisingEdge(dut.clk)
    dut.s_axil_rready.value = 0


async def _sink(dut):
    k = 0
    while True:
        dut.m_axis_o_tready.value = int(k % 4 == 3)  # three stalled cycles out of four
        await RisingEdge(dut.clk)
        k += 1


async def _run(dut, mode):
    for name in ("awvalid", "wvalid", "bready", "arvalid", "rready"):
        getattr(dut, f"s_axil_{name}").value = 0
    dut.m_axis_o_tready.value = 0
    dut.mode.value = mode
    protocol.attach(dut, watchdog=60)
    start_clock(dut)
    await reset(dut)
    cocotb.start_soon(_sink(dut))
    await _axil_write(dut, 5)
    await _axil_read(dut)
    await _axil_write(dut, 6)
    await ClockCycles(dut.clk, 40)
    if mode == 9:
        await ClockCycles(dut.clk, 200)


def _make(mode):
    async def test(dut):
        await _run(dut, mode)

    test.__name__ = test.__qualname__ = f"mode_{mode}"
    return cocotb.test()(test)


for _m in range(11):
    globals()[f"mode_{_m}"] = _make(_m)
