"""System-level simulation of the SbS board target's programmable logic (fpga/sbs_*): the
layer unit's Vivado-ready top in the simulator; GP0, DDR (``AxiRam``) and the three AXI DMAs
(simple mode, :class:`verif.zynq.dma_model.AxiDmaModel`) as bus models, with random idle
cycles, back-pressure and DDR stalls (see verif/zynq/cocotb_system.py for the CNN target).

A layer as a host runs it: the weight set through ``dma_w`` after ``CTRL.LOAD_W``, the h of
every IP through ``dma_h`` after ``CTRL.LOAD``, the spikes (one ``{ip, row}`` word each) through
``dma_s``, then ``CTRL.DUMP`` with the h coming back through ``dma_h``'s S2MM channel; every
step ends by interrupts (the unit's IDLE, the DMA channel's completion). The h read back from
DDR equals the golden model (``update_fixed_loop`` per spike) bit for bit.
"""

from __future__ import annotations

import random

import cocotb
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
from refmodels.sbs.formats import HFixed, parse_format
from refmodels.sbs.model import update_fixed_loop
from verif.common import protocol
from verif.common.axi import pause_generator
from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.sbs.env import pack
from verif.zynq.coverage import dma_cover, finish
from verif.zynq.dma_model import IOC, IOC_EN, MM2S, RS, S2MM, AxiDmaModel, Gp0

REGMAP = regmap.load("sbs_layer")
LAYER = SYSTEMS["sbs"].accels[0]
#: cover item: every DMA channel of the system ended a transfer by its interrupt
DMA_ITEM = f"sys.{SYSTEMS['sbs'].key}.dma"
F, P = 24, 2
FMT = parse_format("e4m1")
W_ADDR, H_ADDR, S_ADDR, Y_ADDR = 0x1000, 0x2_0000, 0x4_0000, 0x6_0000


class SbsSystem:
    def __init__(self, dut, seed):
        self.dut = dut
        rng = random.Random(seed)
        cocotb.start_soon(Clock(dut.aclk, 10, unit="ns").start())
        # protocol checkers and watchdog on the accelerator's ports (the ddr bus joins two
        # testbench models: the DMA models' master and the AxiRam)
        protocol.attach(dut, clk=dut.aclk, rst=dut.aresetn, rst_active_low=True,
                        exclude=("ddr",))
        kw = {"reset_active_level": False}
        self.ddr = AxiRam(AxiBus.from_prefix(dut, "ddr"), dut.aclk, dut.aresetn, size=1 << 20,
                          **kw)
        port = AxiMaster(AxiBus.from_prefix(dut, "ddr"), dut.aclk, dut.aresetn, **kw)
        for part in (self.ddr.write_if, self.ddr.read_if, port.write_if, port.read_if):
            part.log.setLevel("WARNING")
        self.ddr.read_if.r_channel.set_pause_generator(
            pause_generator(random.Random(rng.random()), 0.2))
        ctrl = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi"), dut.aclk, dut.aresetn, **kw)
        ctrl.write_if.log.setLevel("WARNING")
        ctrl.read_if.log.setLevel("WARNING")
        self.gp0 = Gp0(dut.aclk)
        self.gp0.add_axil(LAYER.offset, WINDOW, ctrl)
        self.dma, self.base = {}, {}
        for i, d in enumerate(LAYER.dmas):
            src = snk = None
            sb = kb = 0
            if d.mm2s:
                p = d.mm2s.lower()
                src = AxiStreamSource(AxiStreamBus.from_prefix(dut, p), dut.aclk, dut.aresetn,
                                      byte_lanes=1, **kw)
                src.set_pause_generator(pause_generator(random.Random(rng.random()), 0.2))
                src.log.setLevel("WARNING")
                sb = len(getattr(dut, f"{p}_tdata")) // 8
            if d.s2mm:
                p = d.s2mm.lower()
                snk = AxiStreamSink(AxiStreamBus.from_prefix(dut, p), dut.aclk, dut.aresetn,
                                    **kw)
                snk.set_pause_generator(pause_generator(random.Random(rng.random()), 0.3))
                snk.log.setLevel("WARNING")
                kb = len(getattr(dut, f"{p}_tdata")) // 8
            self.dma[d.name] = AxiDmaModel(d.name, dut.aclk, port, src, sb, snk, kb,
                                           cover=dma_cover(SYSTEMS["sbs"]))
            self.base[d.name] = DMA_BASE + i * DMA_STRIDE
            self.gp0.add_dma(self.base[d.name], WINDOW, self.dma[d.name])

    async def reset(self):
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, 8)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    async def reg(self, name, value):
        await self.gp0.write(LAYER.offset + REGMAP.offset(name), value)

    async def read(self, name):
        return await self.gp0.read(LAYER.offset + REGMAP.offset(name))

    async def transfer(self, dma, ch, addr, nbytes):
        base = self.base[dma] + ch
        await self.gp0.write(base + 0x00, RS | IOC_EN)
        await self.gp0.write(base + 0x18, addr)
        await self.gp0.write(base + 0x28, nbytes)

    async def done(self, dma, ch):
        await self.dma[dma].wait_irq(ch)
        await self.gp0.write(self.base[dma] + ch + 0x04, IOC)

    async def idle_irq(self):
        """The unit's interrupt (IDLE enabled): the step ended; then clear it."""
        if not self.dut.irq.value:
            await with_timeout(RisingEdge(self.dut.irq), 2_000_000, "ns")
        status = await self.read("IRQ_STATUS")
        assert status == REGMAP["IRQ_STATUS"].encode(IDLE=1), f"IRQ_STATUS 0x{status:x}"
        await self.reg("IRQ_STATUS", status)


class SbsSystemLayerSeq(DirectedSeq):
    """Weights, h and spikes of a layer through DDR, the DMAs and the layer unit; h after
    DUMP bit for bit against the golden model, and UPDATES."""

    async def steps(self, bfm):
        await sbs_system_layer_steps(bfm.dut)


async def sbs_system_layer_steps(dut):
    sysm = SbsSystem(dut, 4)
    await sysm.reset()
    rng = random.Random(9)
    n_h, n_ip, n_rows = 8, 3, 4
    hf = HFixed()
    c1, ce = hf.eps_constants(0.1)
    codes = [[rng.randrange(FMT.zero_code) for _ in range(n_h)] for _ in range(n_rows)]
    h0 = [[rng.randrange(1 << 20, 1 << 22) for _ in range(n_h)] for _ in range(n_ip)]
    spikes = [(rng.randrange(n_ip), rng.randrange(n_rows)) for _ in range(12)]
    w_bytes = b"".join(v.to_bytes(2, "little")
                       for v in pack([c for row in codes for c in row], FMT.bits, P))
    h_bytes = b"".join(v.to_bytes(8, "little") for v in pack([v for ip in h0 for v in ip], F, P))
    s_bytes = b"".join(((ip << 16) | row).to_bytes(4, "little") for ip, row in spikes)
    sysm.ddr.write(W_ADDR, w_bytes)
    sysm.ddr.write(H_ADDR, h_bytes)
    sysm.ddr.write(S_ADDR, s_bytes)
    assert await sysm.read("ID") == REGMAP.id_value
    await sysm.reg("N_H", n_h)
    await sysm.reg("N_IP", n_ip)
    await sysm.reg("N_ROWS", n_rows)
    await sysm.reg("IRQ_ENABLE", REGMAP["IRQ_ENABLE"].encode(IDLE=1, ERROR=1))
    await sysm.reg("CTRL", REGMAP["CTRL"].encode(LOAD_W=1))
    await sysm.transfer("dma_w", MM2S, W_ADDR, len(w_bytes))
    await sysm.done("dma_w", MM2S)
    await sysm.idle_irq()
    await sysm.reg("CTRL", REGMAP["CTRL"].encode(LOAD=1))
    await sysm.transfer("dma_h", MM2S, H_ADDR, len(h_bytes))
    await sysm.done("dma_h", MM2S)
    await sysm.idle_irq()
    await sysm.transfer("dma_s", MM2S, S_ADDR, len(s_bytes))
    await sysm.done("dma_s", MM2S)
    # the last spikes may still be in the unit: DUMP waits for them (one IDLE at its end)
    await sysm.reg("IRQ_STATUS", REGMAP["IRQ_STATUS"].encode(IDLE=1))
    await sysm.transfer("dma_h", S2MM, Y_ADDR, len(h_bytes))
    await sysm.reg("CTRL", REGMAP["CTRL"].encode(DUMP=1))
    await sysm.done("dma_h", S2MM)
    if not dut.irq.value:
        await with_timeout(RisingEdge(dut.irq), 2_000_000, "ns")
    assert await sysm.read("ERROR") == 0
    data = sysm.ddr.read(Y_ADDR, len(h_bytes))
    words = [int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8)]
    assert all(w >> (P * F) == 0 for w in words), "padding bits of the h output not 0"
    got = [(w >> (k * F)) & ((1 << F) - 1) for w in words for k in range(P)]
    h = [list(ip) for ip in h0]
    taken = 0
    for ip, row in spikes:
        wi = [int(x) for x in FMT.to_int(codes[row])]
        new = update_fixed_loop(h[ip], wi, c1, ce, hf)
        taken += new != h[ip]
        h[ip] = new
    assert taken > 0, "no spike changed h: the check would not see a wrong update"
    want = [v for ip in h for v in ip]
    bad = [i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b]
    assert not bad, f"h after the spikes differs at {bad[:8]}"
    assert await sysm.read("UPDATES") == len(spikes)
    dut._log.info(f"{len(spikes)} spikes over {n_ip} IPs: h bit-exact after DUMP")
    finish([DMA_ITEM])


class SbsSystemDriverSeq(DirectedSeq):
    """The SbS host driver (host/approxnn_host/sbs.py, PYNQ API) unchanged on the PYNQ-API
    shim: a layer's h after its spikes equals the golden model bit for bit."""

    async def steps(self, bfm):
        await sbs_system_driver_steps(bfm.dut)


async def sbs_system_driver_steps(dut):
    from approxnn_host.sbs import SbsLayer
    from cocotb.task import bridge

    from verif.zynq.pynq_shim import SimAllocator, SimOverlay

    sysm = SbsSystem(dut, 6)
    await sysm.reset()
    overlay = SimOverlay(sysm.gp0, {LAYER.cell: LAYER.offset},
                         {name: (sysm.base[name], m) for name, m in sysm.dma.items()})
    drv = await bridge(SbsLayer)(overlay, SimAllocator(sysm.ddr, base=0x8_0000,
                                                       size=0x8_0000))
    assert (drv.p, drv.f, drv.code_bits) == (P, F, FMT.bits)
    rng = random.Random(13)
    n_h, n_ip, n_rows = 6, 4, 5
    hf = HFixed()
    c1, ce = hf.eps_constants(0.05)
    codes = [[rng.randrange(FMT.zero_code) for _ in range(n_h)] for _ in range(n_rows)]
    h0 = [[rng.randrange(1 << 19, 1 << 23) for _ in range(n_h)] for _ in range(n_ip)]
    spikes = [(rng.randrange(n_ip), rng.randrange(n_rows)) for _ in range(16)]

    def job():
        drv.configure(n_h, n_ip, n_rows, c1)
        drv.load_weights(codes)
        drv.load_h(h0)
        drv.spikes(spikes)
        return drv.dump()

    got = await bridge(job)()
    h = [list(ip) for ip in h0]
    for ip, row in spikes:
        h[ip] = update_fixed_loop(h[ip], [int(x) for x in FMT.to_int(codes[row])], c1, ce, hf)
    assert h != h0
    assert got.tolist() == h, "h after the spikes differs from the golden model"
    dut._log.info(f"driver: {len(spikes)} spikes over {n_ip} IPs, h bit-exact")
    finish([DMA_ITEM], goal=False)


class SystemDirectedTest(DirectedTest):
    bfm_class = OwnSetupBfm


class SbsSystemLayerTest(SystemDirectedTest):
    sequence_class = SbsSystemLayerSeq


class SbsSystemDriverTest(SystemDirectedTest):
    sequence_class = SbsSystemDriverSeq


# the test names verif/zynq/test_zynq_rtl.py runs
sbs_system_layer = register("sbs_system_layer", SbsSystemLayerTest)
sbs_system_driver = register("sbs_system_driver", SbsSystemDriverTest)
