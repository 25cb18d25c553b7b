"""A register-level model of the Xilinx AXI DMA (axi_dma) in simple (direct register) mode,
and the processing-system side of a board target for cocotb system simulations.

:class:`AxiDmaModel` has the documented registers of the simple mode (MM2S_DMACR 0x00,
MM2S_DMASR 0x04, MM2S_SA 0x18 / SA_MSB 0x1C, MM2S_LENGTH 0x28; S2MM_DMACR 0x30, S2MM_DMASR
0x34, S2MM_DA 0x48 / DA_MSB 0x4C, S2MM_LENGTH 0x58). DMACR: bit 0 run/stop, bit 2 soft reset,
bit 12 interrupt-on-complete enable, bit 14 error interrupt enable. DMASR: bit 0 halted, bit 1
idle, bit 4 internal error, bit 12 IOC (write 1 to clear), bit 14 error interrupt (write 1 to
clear). Writing LENGTH of a running channel starts a transfer: MM2S reads LENGTH bytes from the
memory through an AXI4 master (cocotbext-axi ``AxiMaster``, bursts) and sends them on the
stream, one beat per stream word, ``tlast`` on the last; S2MM takes one frame (up to ``tlast``)
from the stream and writes it to memory, and LENGTH then reads the bytes received (a frame
longer than the buffer sets the internal-error bit). The channel's ``introut`` is high while
``(IOC and its enable) or (error and its enable)``. Not modelled: scatter-gather, the
multichannel mode, keyhole / cyclic options, the exact cycle timing of the IP.

:class:`Gp0` is the processing system's GP0 port: it maps the board target's address map
(fpga/boards.py) onto the accelerators' AXI4-Lite slaves (cocotbext-axi ``AxiLiteMaster``) and
the DMA models' registers.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, Event, RisingEdge
from cocotbext.axi import AxiResp, AxiStreamFrame

RS, RESET, IOC_EN, ERR_EN = 1 << 0, 1 << 2, 1 << 12, 1 << 14
HALTED, IDLE, INT_ERR, IOC, ERR_IRQ = 1 << 0, 1 << 1, 1 << 4, 1 << 12, 1 << 14
MM2S, S2MM = 0x00, 0x30  # channel register bases
DMACR, DMASR, ADDR, ADDR_MSB, LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
LENGTH_BITS = 26


class _Channel:
    def __init__(self, name, stream, beat_bytes):
        self.name = name
        self.stream = stream  # AxiStreamSource (MM2S) or AxiStreamSink (S2MM), or None
        self.beat_bytes = beat_bytes
        self.cr = 0
        self.sr = HALTED
        self.addr = 0
        self.length = 0
        self.busy = False
        self.irq_event = Event()
        self.transfers = 0

    @property
    def introut(self) -> bool:
        return bool((self.sr & IOC and self.cr & IOC_EN)
                    or (self.sr & ERR_IRQ and self.cr & ERR_EN))


class AxiDmaModel:
    """One AXI DMA: ``mm2s`` an AxiStreamSource on the accelerator's input stream (or None),
    ``s2mm`` an AxiStreamSink on its output stream (or None), ``mem`` an AxiMaster on DDR."""

    def __init__(self, name, clock, mem, mm2s=None, mm2s_bytes=0, s2mm=None, s2mm_bytes=0,
                 cover=None):
        self.name = name
        self.clock = clock
        self.mem = mem
        #: called with a channel's name (``<dma>.mm2s``) when a transfer of it ends with IOC
        #: and its interrupt delivered (the systems' coverage, verif/zynq/coverage.py)
        self.cover = cover
        self.ch = {MM2S: _Channel(f"{name}.mm2s", mm2s, mm2s_bytes),
                   S2MM: _Channel(f"{name}.s2mm", s2mm, s2mm_bytes)}

    # -- registers
    def read(self, offset: int) -> tuple[int, AxiResp]:
        base = S2MM if offset >= S2MM else MM2S
        c = self.ch[base]
        reg = offset - base
        if c.stream is None:
            return 0, AxiResp.OKAY  # a channel not built reads 0
        if reg == DMACR:
            return c.cr, AxiResp.OKAY
        if reg == DMASR:
            return c.sr, AxiResp.OKAY
        if reg == ADDR:
            return c.addr & 0xFFFFFFFF, AxiResp.OKAY
        if reg == ADDR_MSB:
            return 0, AxiResp.OKAY
        if reg == LENGTH:
            return c.length, AxiResp.OKAY
        return 0, AxiResp.OKAY

    def write(self, offset: int, value: int) -> AxiResp:
        base = S2MM if offset >= S2MM else MM2S
        c = self.ch[base]
        reg = offset - base
        if c.stream is None:
            return AxiResp.OKAY
        if reg == DMACR:
            if value & RESET:
                c.cr, c.sr, c.busy = 0, HALTED, False
                return AxiResp.OKAY
            c.cr = value & (RS | IOC_EN | ERR_EN)
            c.sr = (c.sr & ~HALTED) if value & RS else (c.sr | HALTED) & ~IDLE
            if value & RS and not c.busy:
                c.sr |= IDLE
        elif reg == DMASR:
            c.sr &= ~(value & (IOC | ERR_IRQ))
        elif reg == ADDR:
            c.addr = value
        elif reg == LENGTH:
            c.length = value & ((1 << LENGTH_BITS) - 1)
            if c.cr & RS and not c.busy and c.length:
                c.busy = True
                c.sr &= ~IDLE
                run = self._mm2s if base == MM2S else self._s2mm
                cocotb.start_soon(run(c))
        return AxiResp.OKAY

    # -- transfers
    async def _mm2s(self, c):
        data = bytes((await self.mem.read(c.addr, c.length)).data)
        b = c.beat_bytes
        if len(data) % b:
            c.sr |= INT_ERR | ERR_IRQ
        else:
            beats = [int.from_bytes(data[i:i + b], "little") for i in range(0, len(data), b)]
            await c.stream.send(AxiStreamFrame(beats))
            await c.stream.wait()
            c.sr |= IOC
        self._done(c)

    async def _s2mm(self, c):
        frame = await c.stream.recv()
        data = bytes(frame.tdata)
        if len(data) > c.length:
            c.sr |= INT_ERR | ERR_IRQ
            data = data[:c.length]
        await self.mem.write(c.addr, data)
        c.length = len(data)
        c.sr |= IOC
        self._done(c)

    def _done(self, c):
        c.busy = False
        c.sr |= IDLE
        c.transfers += 1
        if c.introut:
            c.irq_event.set()
            if self.cover is not None and c.sr & IOC:
                self.cover(c.name)

    async def wait_irq(self, channel: int, timeout_cycles: int = 2_000_000):
        """Wait for the channel's introut (an interrupt, not polling of DMASR)."""
        c = self.ch[channel]
        for _ in range(timeout_cycles // 16):
            if c.introut:
                return
            c.irq_event.clear()
            await ClockCycles(self.clock, 16)
        raise TimeoutError(f"{c.name}: no interrupt")


class Gp0:
    """GP0: the address map of a board target onto AXI4-Lite slaves and DMA models."""

    def __init__(self, clock):
        self.clock = clock
        self.windows = []  # (base, size, target, kind)

    def add_axil(self, base, size, master):
        self.windows.append((base, size, master, "axil"))

    def add_dma(self, base, size, model):
        self.windows.append((base, size, model, "dma"))

    def _find(self, addr):
        for base, size, target, kind in self.windows:
            if base <= addr < base + size:
                return target, kind, addr - base
        raise ValueError(f"GP0: nothing mapped at 0x{addr:08x} (a decode error on the board)")

    async def write(self, addr: int, value: int) -> None:
        target, kind, off = self._find(addr)
        if kind == "axil":
            resp = await target.write(off, int(value & 0xFFFFFFFF).to_bytes(4, "little"))
            resp = resp.resp
        else:
            await RisingEdge(self.clock)
            resp = target.write(off, value)
        if resp != AxiResp.OKAY:
            raise AssertionError(f"GP0 write 0x{value:x} to 0x{addr:08x}: {resp!r}")

    async def read(self, addr: int) -> int:
        target, kind, off = self._find(addr)
        if kind == "axil":
            r = await target.read(off, 4)
            value, resp = int.from_bytes(r.data, "little"), r.resp
        else:
            await RisingEdge(self.clock)
            value, resp = target.read(off)
        if resp != AxiResp.OKAY:
            raise AssertionError(f"GP0 read of 0x{addr:08x}: {resp!r}")
        return value
