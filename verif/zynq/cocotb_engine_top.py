"""Directed pyuvm tests (verif/common/axi_env.py) of the CNN engine's Vivado-ready top
(cores/zynq/engine, ``cnn_engine_axi``).

Everything goes through the wrapper's ports - ``aclk`` / ``aresetn`` (active low), the AXI4-Lite
slave ``s_axi_*``, the streams ``s_axis_x`` / ``s_axis_w`` / ``m_axis_y`` (with ``tkeep``) and
``irq`` - with cocotbext-axi models, random idle cycles on the inputs and back-pressure on the
output. Layers come from the engine's pyuvm environment (verif/cnn/engine_env.py) and are
compared bit for bit with its golden model.

* ``top_layers_by_interrupt``: a Conv2D, a DepthwiseConv2D and a FullyConnected layer, each
  started and then awaited on ``irq`` alone (no status polling); outputs equal the golden model.
* ``top_interrupt_registers``: IRQ_ENABLE / IRQ_STATUS: status set with the interrupt disabled
  and ``irq`` low (masked), ``irq`` high once enabled, RW1C clear (a 0 clears nothing, a 1
  clears its bit only), the ERROR bit of a refused layer, reset values and the ID version.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from approxnn_host.layers import weight_words
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
from verif.cnn.engine.layers import golden, make_layer
from verif.common import protocol
from verif.common.axi import pause_generator
from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.common.coverage import cover_point
from verif.zynq.coverage import finish, irq_seen

REGMAP = regmap.load("cnn_engine")
A = REGMAP.offsets  # register name -> byte address
DONE = REGMAP["IRQ_STATUS"].field("DONE").mask
ERROR = REGMAP["IRQ_STATUS"].field("ERROR").mask
LANES = int(os.environ.get("APPROXNN_ENGINE_LANES", "4"))
#: the interrupt events, in bit order (IRQ_STATUS fields of the register map)
EVENTS = {f.name: f.mask for f in REGMAP["IRQ_STATUS"].fields}
#: cover items: the interrupt cases (verif/zynq/coverage.py irq_bins) and the layer kinds run
#: through the top
IRQ_ITEM, KIND_ITEM = "top.engine.irq", "top.engine.kind"
KINDS = ["conv_same", "depthwise", "fc"]


class Top:
    def __init__(self, dut, seed):
        self.dut = dut
        rng = random.Random(seed)
        cocotb.start_soon(Clock(dut.aclk, 10, unit="ns").start())
        # the passive protocol checkers and the watchdog on the top's AXI ports
        protocol.attach(dut, clk=dut.aclk, rst=dut.aresetn, rst_active_low=True)
        self.regs = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn,
                                  reset_active_level=False)
        self.src_x = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_x"), dut.aclk,
                                     dut.aresetn, reset_active_level=False, byte_lanes=1)
        self.src_w = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_w"), dut.aclk,
                                     dut.aresetn, reset_active_level=False, byte_lanes=1)
        # the output carries tkeep (one byte per beat): the sink takes its lanes from it
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_y"), dut.aclk,
                                  dut.aresetn, reset_active_level=False)
        for agent in (self.regs.write_if, self.regs.read_if, self.src_x, self.src_w, self.sink):
            agent.log.setLevel("WARNING")
        self.src_x.set_pause_generator(pause_generator(random.Random(rng.random()), 0.2))
        self.src_w.set_pause_generator(pause_generator(random.Random(rng.random()), 0.2))
        self.sink.set_pause_generator(pause_generator(random.Random(rng.random()), 0.3))

    async def reset(self):
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, 4)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    async def write(self, name, value, index=0):
        resp = await self.regs.write(REGMAP[name].address(index),
                                     int(value & 0xFFFFFFFF).to_bytes(4, "little"))
        assert resp.resp == AxiResp.OKAY, f"write {name}[{index}]: {resp.resp!r}"

    async def read(self, name):
        resp = await self.regs.read(A[name], 4)
        assert resp.resp == AxiResp.OKAY, f"read {name}: {resp.resp!r}"
        return int.from_bytes(resp.data, "little")

    async def configure(self, lay):
        await self.write("IN_SHAPE", REGMAP["IN_SHAPE"].encode(H=lay.h, W=lay.w, C=lay.c))
        await self.write("OUT_SHAPE", REGMAP["OUT_SHAPE"].encode(OH=lay.oh, OW=lay.ow,
                                                                OC=lay.oc))
        await self.write("FILTER", REGMAP["FILTER"].encode(FH=lay.fh, FW=lay.fw, SY=lay.sy,
                                                          SX=lay.sx, PAD_T=lay.pt,
                                                          PAD_L=lay.pl))
        await self.write("QUANT", REGMAP["QUANT"].encode(IN_ZP=lay.zp_in, OUT_ZP=lay.zp_out,
                                                        ACT_MIN=lay.act_min,
                                                        ACT_MAX=lay.act_max))
        await self.write("MODE", lay.mode)
        if lay.wt is not None and not lay.error:
            for ch in range(lay.oc):
                await self.write("BIAS", int(lay.bias[ch]), ch)
                await self.write("MULT", int(lay.mult[ch]), ch)
                await self.write("SHIFT", int(lay.shift[ch]) & 0x3F, ch)

    async def run(self, lay, wait_irq=True):
        """Start ``lay``, stream its data and return its output (None for a refused layer);
        with ``wait_irq`` the end of the run is awaited on ``irq``."""
        await self.configure(lay)
        assert not self.dut.irq.value, "irq high before START"
        await self.write("CTRL", 1)
        out = None
        if not lay.error:
            await self.src_x.send(AxiStreamFrame((lay.x & 0xFF).ravel().tolist()))
            if lay.wt is not None:
                await self.src_w.send(AxiStreamFrame(weight_words(lay, LANES)))
        if wait_irq:
            await with_timeout(RisingEdge(self.dut.irq), 2_000_000, "ns")
        if not lay.error:
            rx = await with_timeout(self.sink.recv(), 100_000, "ns")
            out = np.array(rx.tdata, np.int64)
            out = np.where(out >= 128, out - 256, out)
            # the sink drops beats whose tkeep is 0: a wrong tkeep shows as a short output
            assert int(self.dut.m_axis_y_tkeep.value) == 1, "tkeep not all ones"
        return out


def _layers(seed):
    rng = np.random.default_rng(seed)
    return [
        make_layer(rng, "conv_same", 6, 5, 3, 6, 3, 3, 1, 1, "SAME"),
        make_layer(rng, "depthwise", 5, 4, 3, 3, 3, 3, 1, 1, "SAME"),
        make_layer(rng, "fc", 1, 1, 24, 7, 1, 1, 1, 1, "VALID"),
    ]


class TopDirectedTest(DirectedTest):
    bfm_class = OwnSetupBfm


class LayersByInterruptSeq(DirectedSeq):
    """A Conv2D, a DepthwiseConv2D and a FullyConnected layer, each awaited on irq alone."""

    async def steps(self, bfm):
        await top_layers_by_interrupt_steps(bfm.dut)


async def top_layers_by_interrupt_steps(dut):
    top = Top(dut, 1)
    await top.reset()
    await top.write("IRQ_ENABLE", DONE | ERROR)
    kinds = cover_point(KIND_ITEM, KINDS)
    for lay in _layers(5):
        out = await top.run(lay)
        exp = golden(lay, None)
        assert np.array_equal(out, exp), f"{lay.kind}: output differs from the golden model " \
            f"at {np.flatnonzero(out != exp)[:8]}"
        kinds(lay.kind)
        status = await top.read("STATUS")
        assert status & 0x7 == 0x2, f"{lay.kind}: STATUS 0x{status:x} after irq, expected DONE"
        assert await top.read("IRQ_STATUS") == DONE
        await top.write("IRQ_STATUS", DONE)
        await RisingEdge(dut.aclk)
        assert not dut.irq.value, "irq still high after the RW1C clear"
    finish([KIND_ITEM])


class InterruptRegistersSeq(DirectedSeq):
    """IRQ_ENABLE / IRQ_STATUS: masking, RW1C, the ERROR bit, reset values, the ID version."""

    async def steps(self, bfm):
        await top_interrupt_registers_steps(bfm.dut)


async def top_interrupt_registers_steps(dut):
    top = Top(dut, 2)
    await top.reset()
    ident = await top.read("ID")
    assert ident == REGMAP.id_value and ident & 0xFF == REGMAP.version >= 2, hex(ident)
    assert await top.read("IRQ_ENABLE") == 0 and await top.read("IRQ_STATUS") == 0
    assert not dut.irq.value
    await irq_seen(top, IRQ_ITEM, EVENTS, "DONE")
    lay = _layers(7)[0]
    # disabled: the status records the end of the run, irq stays low (masked)
    out = await top.run(lay, wait_irq=False)
    assert np.array_equal(out, golden(lay, None))
    for _ in range(50):
        if await top.read("IRQ_STATUS"):
            break
    assert await top.read("IRQ_STATUS") == DONE
    await ClockCycles(dut.aclk, 5)
    assert not dut.irq.value, "irq high while IRQ_ENABLE is 0"
    await irq_seen(top, IRQ_ITEM, EVENTS, "DONE")
    # enabling a set status raises irq; enabling only ERROR does not
    await top.write("IRQ_ENABLE", ERROR)
    await RisingEdge(dut.aclk)
    assert not dut.irq.value, "irq high for DONE with only ERROR enabled"
    await irq_seen(top, IRQ_ITEM, EVENTS, "DONE")
    await top.write("IRQ_ENABLE", DONE)
    await RisingEdge(dut.aclk)
    assert dut.irq.value, "irq low with DONE set and enabled"
    await irq_seen(top, IRQ_ITEM, EVENTS, "DONE")
    assert await top.read("IRQ_ENABLE") == DONE
    # writing 0 clears nothing, writing 1 clears
    await top.write("IRQ_STATUS", 0)
    assert await top.read("IRQ_STATUS") == DONE and dut.irq.value
    await top.write("IRQ_STATUS", DONE)
    assert await top.read("IRQ_STATUS") == 0
    assert not dut.irq.value
    await irq_seen(top, IRQ_ITEM, EVENTS, "DONE")
    # a refused layer (zero stride): DONE and ERROR; with only ERROR enabled irq still rises
    rng = np.random.default_rng(3)
    bad = make_layer(rng, "error_zero", 4, 4, 2, 4, 3, 3, 0, 1, "VALID", error=4)
    await top.write("IRQ_ENABLE", ERROR)
    await top.run(bad)
    status = await top.read("STATUS")
    assert status & 0x4 and (status >> 8) & 0xF == 4, f"STATUS 0x{status:x}"
    assert await top.read("IRQ_STATUS") == DONE | ERROR
    await irq_seen(top, IRQ_ITEM, EVENTS, "DONE")
    await top.write("IRQ_STATUS", ERROR)  # ERROR cleared, DONE kept: irq drops (masked)
    assert await top.read("IRQ_STATUS") == DONE
    await RisingEdge(dut.aclk)
    assert not dut.irq.value
    # a good layer after it: DONE again, no ERROR
    await top.write("IRQ_STATUS", DONE)
    await top.write("IRQ_ENABLE", DONE | ERROR)
    lay2 = _layers(9)[2]
    out = await top.run(lay2)
    assert np.array_equal(out, golden(lay2, None))
    assert await top.read("IRQ_STATUS") == DONE
    # the unmapped word between ID and IRQ_ENABLE still answers SLVERR
    resp = await top.regs.write(A["ID"] + 4, b"\x01\x00\x00\x00")
    assert resp.resp == AxiResp.SLVERR
    finish([IRQ_ITEM])


class TopLayersTest(TopDirectedTest):
    sequence_class = LayersByInterruptSeq


class TopInterruptTest(TopDirectedTest):
    sequence_class = InterruptRegistersSeq


# the test names verif/zynq/test_zynq_rtl.py selects
top_layers_by_interrupt = register("top_layers_by_interrupt", TopLayersTest)
top_interrupt_registers = register("top_interrupt_registers", TopInterruptTest)
