"""Directed pyuvm test (verif/common/axi_env.py) of the SbS layer unit's Vivado-ready top
(cores/zynq/layer, ``sbs_layer_axi``).

Through the wrapper's ports only - ``aclk`` / ``aresetn``, ``s_axi_*``, the padded streams
``s_axis_h`` / ``m_axis_h`` (64 bits for 2 x 24), ``s_axis_s`` and ``irq``:

* an h load with garbage in the 16 padding bits of every beat, then a DUMP awaited on ``irq``
  alone: the h read back equals the h loaded (no update in between), the padding bits of the
  output are 0 and ``tkeep`` is all ones;
* the interrupt registers: reset values, the IDLE event recorded with the interrupt disabled and
  ``irq`` low (masked), ``irq`` high once enabled, RW1C (a 0 clears nothing), the ERROR event of
  a spike for a missing IP (and ``irq`` with only ERROR enabled), the ID version.
(The layer unit's own network test runs through this top as well: verif/zynq/test_zynq_rtl.py.)
"""

from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiResp,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from cores.common import regmap
from verif.common import protocol
from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.common.coverage import cover_point
from verif.zynq.coverage import finish, irq_seen

REGMAP = regmap.load("sbs_layer")
A = REGMAP.offsets
IDLE = REGMAP["IRQ_STATUS"].field("IDLE").mask
ERROR = REGMAP["IRQ_STATUS"].field("ERROR").mask
F = 24  # bits of one h value
P = 2  # lanes of the top's configuration (two h values per 64-bit beat)
#: the interrupt events, in bit order (IRQ_STATUS fields of the register map)
EVENTS = {f.name: f.mask for f in REGMAP["IRQ_STATUS"].fields}
#: cover items: the interrupt cases (verif/zynq/coverage.py irq_bins) and the padded streams
#: (input padding bits set and ignored, output padding bits 0)
IRQ_ITEM, PAD_ITEM = "top.layer.irq", "top.layer.padding"


class Top:
    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.aclk, 10, unit="ns").start())
        # the passive protocol checkers and the watchdog on the top's AXI ports
        protocol.attach(dut, clk=dut.aclk, rst=dut.aresetn, rst_active_low=True)
        self.regs = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn,
                                  reset_active_level=False)
        kw = {"reset_active_level": False}
        self.h_src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_h"), dut.aclk,
                                     dut.aresetn, byte_lanes=1, **kw)
        self.s_src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_s"), dut.aclk,
                                     dut.aresetn, byte_lanes=1, **kw)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_h"), dut.aclk,
                                  dut.aresetn, **kw)
        for agent in (self.regs.write_if, self.regs.read_if, self.h_src, self.s_src, self.sink):
            agent.log.setLevel("WARNING")
        dut.s_axis_w_tvalid.value = 0

    async def reset(self):
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, 4)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    async def write(self, name, value):
        resp = await self.regs.write(A[name], int(value).to_bytes(4, "little"))
        assert resp.resp == AxiResp.OKAY, f"write {name}: {resp.resp!r}"

    async def read(self, name):
        resp = await self.regs.read(A[name], 4)
        assert resp.resp == AxiResp.OKAY, f"read {name}: {resp.resp!r}"
        return int.from_bytes(resp.data, "little")

    async def idle(self):
        for _ in range(1000):
            if not await self.read("STATUS") & 1:
                return
            await ClockCycles(self.dut.aclk, 8)
        raise AssertionError("the unit stays busy")


class PaddedStreamsAndInterruptSeq(DirectedSeq):
    """An h load with garbage padding and a DUMP awaited on irq; the interrupt registers."""

    async def steps(self, bfm):
        await top_h_through_padded_streams_and_interrupt_steps(bfm.dut)


async def top_h_through_padded_streams_and_interrupt_steps(dut):
    top = Top(dut)
    await top.reset()
    rng = random.Random(5)
    assert await top.read("ID") == REGMAP.id_value and REGMAP.version >= 2
    assert await top.read("IRQ_ENABLE") == 0 and await top.read("IRQ_STATUS") == 0
    await irq_seen(top, IRQ_ITEM, EVENTS, "IDLE", False)
    n_h, n_ip = 8, 2
    await top.write("N_H", n_h)
    await top.write("N_IP", n_ip)
    h = [rng.randrange(1 << F) for _ in range(n_h * n_ip)]
    beats = []
    for j in range(0, len(h), P):
        word = h[j] | (h[j + 1] << F)
        beats.append(word | (rng.randrange(1, 1 << 16) << (P * F)))  # garbage padding
    # load with the interrupt disabled: IDLE recorded, irq low
    await top.write("CTRL", 1)
    await top.h_src.send(AxiStreamFrame(beats))
    await top.h_src.wait()
    await top.idle()
    assert await top.read("ERROR") == 0, "the h frame was refused"
    assert await top.read("IRQ_STATUS") == IDLE
    assert not dut.irq.value, "irq high while IRQ_ENABLE is 0"
    await irq_seen(top, IRQ_ITEM, EVENTS, "IDLE", False)
    await top.write("IRQ_ENABLE", ERROR)
    await RisingEdge(dut.aclk)
    assert not dut.irq.value, "irq high for IDLE with only ERROR enabled"
    await irq_seen(top, IRQ_ITEM, EVENTS, "IDLE", False)
    await top.write("IRQ_ENABLE", IDLE)
    await RisingEdge(dut.aclk)
    assert dut.irq.value, "irq low with IDLE set and enabled"
    await irq_seen(top, IRQ_ITEM, EVENTS, "IDLE", False)
    await top.write("IRQ_STATUS", 0)
    assert await top.read("IRQ_STATUS") == IDLE and dut.irq.value
    await top.write("IRQ_STATUS", IDLE)
    await RisingEdge(dut.aclk)
    assert not dut.irq.value and await top.read("IRQ_STATUS") == 0
    await irq_seen(top, IRQ_ITEM, EVENTS, "IDLE", False)
    # DUMP, ended by the interrupt alone
    await top.write("CTRL", 2)
    await with_timeout(RisingEdge(dut.irq), 200_000, "ns")
    rx = await with_timeout(top.sink.recv(), 10_000, "ns")
    data = bytes(rx.tdata)
    assert len(data) == 8 * len(beats), f"{len(data)} bytes, tkeep not all ones?"
    words = [int.from_bytes(data[8 * i:8 * i + 8], "little") for i in range(len(beats))]
    pad = cover_point(PAD_ITEM, ["in_garbage_ignored", "out_zero"])
    assert all(w >> (P * F) == 0 for w in words), "output padding bits not 0"
    pad("out_zero")
    back = [(w >> (k * F)) & ((1 << F) - 1) for w in words for k in range(P)]
    assert back == h, "h read back differs from the h loaded"
    if any(b >> (P * F) for b in beats):  # the loaded beats carried set padding bits
        pad("in_garbage_ignored")
    # a spike for a missing IP: ERROR event; irq with only ERROR enabled
    await top.write("IRQ_STATUS", IDLE | ERROR)
    await top.write("IRQ_ENABLE", ERROR)
    await top.write("N_ROWS", 3)
    await top.s_src.send(AxiStreamFrame([(5 << 16) | 0]))  # IP 5 of 2
    await with_timeout(RisingEdge(dut.irq), 100_000, "ns")
    assert await top.read("ERROR") == REGMAP["ERROR"].field("SPIKE").mask
    await top.idle()
    assert await top.read("IRQ_STATUS") & ERROR
    await irq_seen(top, IRQ_ITEM, EVENTS, "IDLE", False)
    await top.write("IRQ_STATUS", ERROR)
    await RisingEdge(dut.aclk)
    assert not dut.irq.value, "irq high after the ERROR event was cleared"
    assert await top.read("ERROR") != 0, "the ERROR register itself stays until cleared"
    # unmapped words past the interrupt registers answer SLVERR
    resp = await top.regs.write(A["IRQ_STATUS"] + 4, b"\x01\x00\x00\x00")
    assert resp.resp == AxiResp.SLVERR
    finish([IRQ_ITEM, PAD_ITEM])


class TopPaddedStreamsTest(DirectedTest):
    bfm_class = OwnSetupBfm
    sequence_class = PaddedStreamsAndInterruptSeq


top_h_through_padded_streams_and_interrupt = register(
    "top_h_through_padded_streams_and_interrupt", TopPaddedStreamsTest)
