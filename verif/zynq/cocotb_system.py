"""System-level simulation of the CNN board target's programmable logic (fpga/cnn_*): the
accelerator top in the simulator, the processing system and the Xilinx IP as bus models.

* GP0: :class:`verif.zynq.dma_model.Gp0` over the address map of fpga/boards.py - the engine's
  AXI4-Lite slave through cocotbext-axi ``AxiLiteMaster``, the DMAs' registers;
* DDR: cocotbext-axi ``AxiRam`` on the simulation top's ``ddr_*`` AXI4 bus (64 bits, as HP0),
  with random stalls;
* the AXI DMAs in simple mode: :class:`verif.zynq.dma_model.AxiDmaModel`, one per DMA cell of
  the block design, wired to the accelerator streams the block design connects them to, their
  streams with random idle cycles (MM2S) and back-pressure (S2MM).

The host code does what a driver on the board does: input map and weights into DDR, the layer
into the engine's registers, START, the three DMA transfers, and then it waits for the
interrupts (the engine's ``irq`` and the S2MM channel's ``introut``) - no status polling. The
output read back from DDR is compared bit for bit with the golden model.
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
    AxiBus,
    AxiLiteBus,
    AxiLiteMaster,
    AxiMaster,
    AxiRam,
    AxiStreamBus,
    AxiStreamSink,
    AxiStreamSource,
)

from cores.common import regmap
from fpga.boards import DMA_BASE, DMA_STRIDE, SYSTEMS, WINDOW
from verif.cnn.engine.layers import golden, make_layer
from verif.common import protocol
from verif.common.axi import pause_generator
from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.zynq.coverage import dma_cover, finish
from verif.zynq.dma_model import IOC, IOC_EN, MM2S, RS, S2MM, AxiDmaModel, Gp0

REGMAP = regmap.load("cnn_engine")
LANES = int(os.environ.get("APPROXNN_ENGINE_LANES", "4"))
SYSTEM = SYSTEMS["cnn"]
ENGINE = SYSTEM.accels[0]
#: cover item: every DMA channel of the system ended a transfer by its interrupt
DMA_ITEM = f"sys.{SYSTEM.key}.dma"
DDR_SIZE = 1 << 23  # 8 MiB: the layers here and the shim's buffers from 1 MiB on
X_ADDR, W_ADDR, Y_ADDR = 0x1000, 0x4_0000, 0x8_0000


def _width(dut, prefix):
    return len(getattr(dut, f"{prefix}_tdata"))


class System:
    def __init__(self, dut, seed):
        self.dut = dut
        rng = random.Random(seed)
        cocotb.start_soon(Clock(dut.aclk, 10, unit="ns").start())
        # protocol checkers and watchdog on the accelerator's ports (the ddr bus joins two
        # testbench models: the DMA models' master and the AxiRam)
        protocol.attach(dut, clk=dut.aclk, rst=dut.aresetn, rst_active_low=True,
                        exclude=("ddr",))
        kw = {"reset_active_level": False}
        self.ddr = AxiRam(AxiBus.from_prefix(dut, "ddr"), dut.aclk, dut.aresetn, size=DDR_SIZE,
                          **kw)
        self.ddr_port = AxiMaster(AxiBus.from_prefix(dut, "ddr"), dut.aclk, dut.aresetn, **kw)
        for part in (self.ddr.write_if, self.ddr.read_if, self.ddr_port.write_if,
                     self.ddr_port.read_if):
            part.log.setLevel("WARNING")
        self.ddr.write_if.b_channel.set_pause_generator(
            pause_generator(random.Random(rng.random()), 0.2))
        self.ddr.read_if.r_channel.set_pause_generator(
            pause_generator(random.Random(rng.random()), 0.2))
        ctrl = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn, **kw)
        ctrl.write_if.log.setLevel("WARNING")
        ctrl.read_if.log.setLevel("WARNING")
        self.gp0 = Gp0(dut.aclk)
        self.gp0.add_axil(ENGINE.offset, WINDOW, ctrl)
        self.dma = {}
        for i, d in enumerate(ENGINE.dmas):
            src = snk = None
            sb = kb = 0
            if d.mm2s:
                p = d.mm2s.lower()
                src = AxiStreamSource(AxiStreamBus.from_prefix(dut, p), dut.aclk, dut.aresetn,
                                      byte_lanes=1, **kw)
                src.set_pause_generator(pause_generator(random.Random(rng.random()), 0.2))
                src.log.setLevel("WARNING")
                sb = _width(dut, p) // 8
            if d.s2mm:
                p = d.s2mm.lower()
                snk = AxiStreamSink(AxiStreamBus.from_prefix(dut, p), dut.aclk, dut.aresetn,
                                    **kw)
                snk.set_pause_generator(pause_generator(random.Random(rng.random()), 0.3))
                snk.log.setLevel("WARNING")
                kb = _width(dut, p) // 8
            model = AxiDmaModel(d.name, dut.aclk, self.ddr_port, src, sb, snk, kb,
                                cover=dma_cover(SYSTEM))
            self.dma[d.name] = model
            self.gp0.add_dma(DMA_BASE + i * DMA_STRIDE, WINDOW, model)
        self.dma_base = {d.name: DMA_BASE + i * DMA_STRIDE for i, d in enumerate(ENGINE.dmas)}

    async def reset(self):
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, 8)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    async def reg(self, name, value, index=0):
        await self.gp0.write(ENGINE.offset + REGMAP[name].address(index), value & 0xFFFFFFFF)

    async def dma_write(self, dma, offset, value):
        await self.gp0.write(self.dma_base[dma] + offset, value)

    async def run_layer(self, lay):
        """One layer as a driver runs it; returns (output, engine cycles)."""
        x = (lay.x & 0xFF).astype(np.uint8).ravel().tobytes()
        w = b"".join(int(v).to_bytes(LANES, "little") for v in weight_words(lay, LANES))
        n_out = lay.oh * lay.ow * lay.oc
        self.ddr.write(X_ADDR, x)
        self.ddr.write(W_ADDR, w)
        self.ddr.write(Y_ADDR, bytes(n_out + 64))  # 0s, and a guard band after the output
        await self.reg("IN_SHAPE", REGMAP["IN_SHAPE"].encode(H=lay.h, W=lay.w, C=lay.c))
        await self.reg("OUT_SHAPE", REGMAP["OUT_SHAPE"].encode(OH=lay.oh, OW=lay.ow, OC=lay.oc))
        await self.reg("FILTER", REGMAP["FILTER"].encode(FH=lay.fh, FW=lay.fw, SY=lay.sy,
                                                        SX=lay.sx, PAD_T=lay.pt, PAD_L=lay.pl))
        await self.reg("QUANT", REGMAP["QUANT"].encode(IN_ZP=lay.zp_in, OUT_ZP=lay.zp_out,
                                                      ACT_MIN=lay.act_min, ACT_MAX=lay.act_max))
        await self.reg("MODE", lay.mode)
        for ch in range(lay.oc):
            await self.reg("BIAS", int(lay.bias[ch]), ch)
            await self.reg("MULT", int(lay.mult[ch]), ch)
            await self.reg("SHIFT", int(lay.shift[ch]) & 0x3F, ch)
        await self.reg("IRQ_ENABLE", REGMAP["IRQ_ENABLE"].encode(DONE=1, ERROR=1))
        # the output channel first (it waits for the frame), then START, then the inputs
        await self.dma_write("dma_xy", S2MM + 0x00, RS | IOC_EN)
        await self.dma_write("dma_xy", S2MM + 0x18, Y_ADDR)
        await self.dma_write("dma_xy", S2MM + 0x28, n_out)
        await self.reg("CTRL", REGMAP["CTRL"].encode(START=1))
        await self.dma_write("dma_xy", MM2S + 0x00, RS | IOC_EN)
        await self.dma_write("dma_xy", MM2S + 0x18, X_ADDR)
        await self.dma_write("dma_xy", MM2S + 0x28, len(x))
        await self.dma_write("dma_w", MM2S + 0x00, RS | IOC_EN)
        await self.dma_write("dma_w", MM2S + 0x18, W_ADDR)
        await self.dma_write("dma_w", MM2S + 0x28, len(w))
        # the job ends by interrupt: the engine's irq, then the S2MM completion
        if not self.dut.irq.value:
            await with_timeout(RisingEdge(self.dut.irq), 5_000_000, "ns")
        await self.dma["dma_xy"].wait_irq(S2MM)
        status = await self.gp0.read(ENGINE.offset + REGMAP.offset("STATUS"))
        assert status & 0x7 == 0x2, f"STATUS 0x{status:x}: not done or an error"
        got = await self.gp0.read(self.dma_base["dma_xy"] + S2MM + 0x28)
        assert got == n_out, f"S2MM received {got} bytes, expected {n_out}"
        for ch in (MM2S, S2MM):
            sr = await self.gp0.read(self.dma_base["dma_xy"] + ch + 0x04)
            assert sr & IOC, f"dma_xy channel 0x{ch:x}: no IOC"
            await self.dma_write("dma_xy", ch + 0x04, IOC)
        await self.dma_write("dma_w", MM2S + 0x04, IOC)
        cycles = await self.gp0.read(ENGINE.offset + REGMAP.offset("CYCLES"))
        await self.reg("IRQ_STATUS", REGMAP["IRQ_STATUS"].encode(DONE=1, ERROR=1))
        await RisingEdge(self.dut.aclk)
        assert not self.dut.irq.value, "irq still high after the clear"
        out = np.frombuffer(self.ddr.read(Y_ADDR, n_out + 64), np.int8).astype(np.int64)
        assert not out[n_out:].any(), "S2MM wrote past the output"
        return out[:n_out], cycles


class SystemLayersSeq(DirectedSeq):
    """Conv2D, DepthwiseConv2D and FullyConnected layers through DDR, the DMAs and
    the engine; each output bit for bit against the golden model."""

    async def steps(self, bfm):
        await system_layers_steps(bfm.dut)


async def system_layers_steps(dut):
    sysm = System(dut, 1)
    await sysm.reset()
    rng = np.random.default_rng(11)
    layers = [
        make_layer(rng, "conv_same", 8, 8, 3, 6, 3, 3, 1, 1, "SAME"),
        make_layer(rng, "depthwise", 6, 5, 4, 4, 3, 3, 2, 1, "SAME"),
        make_layer(rng, "fc", 1, 1, 40, 9, 1, 1, 1, 1, "VALID"),
    ]
    for lay in layers:
        out, cycles = await sysm.run_layer(lay)
        exp = golden(lay, None)
        assert np.array_equal(out, exp), \
            f"{lay.kind}: output differs at {np.flatnonzero(out != exp)[:8]}"
        dut._log.info(f"{lay.kind}: {len(out)} outputs bit-exact, {cycles} engine cycles")
    finish([DMA_ITEM])


class SystemDriverSeq(DirectedSeq):
    """The host driver (host/approxnn_host, PYNQ API) and the board self-test unchanged on the
    PYNQ-API shim: test vectors written by approxnn_host.vectors (golden-model outputs) run
    bit-exact; a wrong expected output is reported."""

    async def steps(self, bfm):
        await system_driver_steps(bfm.dut)


async def system_driver_steps(dut):
    from approxnn_host import selftest, vectors
    from approxnn_host.cnn import CnnEngine
    from cocotb.task import bridge

    from verif.zynq.pynq_shim import SimAllocator, SimOverlay

    sysm = System(dut, 2)
    await sysm.reset()
    overlay = SimOverlay(sysm.gp0, {ENGINE.cell: ENGINE.offset},
                         {name: (sysm.dma_base[name], m) for name, m in sysm.dma.items()})
    drv = await bridge(CnnEngine)(overlay, SimAllocator(sysm.ddr))
    assert drv.lanes == LANES
    layers, outputs = vectors.make(4, 23)
    vectors.save("vectors.npz", layers, outputs)
    vec = vectors.load("vectors.npz")
    lines = []
    bad = await bridge(selftest.run)(drv, vec, lines.append)
    for line in lines:
        dut._log.info(f"driver {line}")
    assert bad == 0 and len(lines) == 4 and all("bit-exact" in x for x in lines), lines
    lay, want = vec[2]  # the FullyConnected layer, its expected output off by one code
    wrong = want.copy()
    wrong[0] += 1
    assert await bridge(selftest.run)(drv, [(lay, wrong)], lines.append) == 1
    finish([DMA_ITEM], goal=False)


class SystemDirectedTest(DirectedTest):
    bfm_class = OwnSetupBfm


class SystemLayersTest(SystemDirectedTest):
    sequence_class = SystemLayersSeq


class SystemDriverTest(SystemDirectedTest):
    sequence_class = SystemDriverSeq


# the test names verif/zynq/test_zynq_rtl.py runs
system_layers = register("system_layers", SystemLayersTest)
system_driver = register("system_driver", SystemDriverTest)
