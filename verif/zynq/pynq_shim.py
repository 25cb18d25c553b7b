"""A PYNQ-API shim over the cocotb system simulation, so that the host driver
(host/approxnn_host) runs unchanged against the simulated board target.

The driver is blocking code; the cocotb test runs it with ``cocotb.task.bridge`` (in a thread)
and every shim call that touches the simulation goes through ``cocotb.task.resume``:

* :class:`SimOverlay` - attributes named after the block design's cells: an IP with ``.mmio``
  (:class:`SimMMIO`, GP0 reads and writes at the cell's base address) and the DMAs with
  ``.sendchannel`` / ``.recvchannel`` (:class:`SimChannel`: ``transfer(buffer)`` programs the
  DMA model's simple-mode registers, ``wait()`` blocks until the channel's interrupt);
* :func:`SimAllocator` - ``allocate(shape, dtype)``: numpy buffers placed in the simulated DDR
  (``.physical_address``); a send transfer writes the buffer to DDR first (PYNQ's cache flush),
  a finished receive reads it back (PYNQ's invalidate).
"""

from __future__ import annotations

import numpy as np
from cocotb.task import resume

from verif.zynq.dma_model import IOC, IOC_EN, MM2S, RS, S2MM


class SimMMIO:
    def __init__(self, gp0, base):
        self.gp0, self.base = gp0, base

    def read(self, offset: int) -> int:
        return resume(self.gp0.read)(self.base + offset)

    def write(self, offset: int, value: int) -> None:
        resume(self.gp0.write)(self.base + offset, value)


class SimBuffer(np.ndarray):
    """A numpy array with the DDR address of its copy (``physical_address``)."""

    def flush(self):
        self.ram.write(self.physical_address, self.tobytes())

    def invalidate(self):
        data = self.ram.read(self.physical_address, self.nbytes)
        self[...] = np.frombuffer(data, self.dtype).reshape(self.shape)

    def freebuffer(self):
        pass


class SimAllocator:
    """``allocate(shape, dtype)`` over the simulated DDR (a bump allocator, 64-byte aligned)."""

    def __init__(self, ram, base=0x10_0000, size=0x40_0000):
        self.ram, self.next, self.end = ram, base, base + size
        self.base = base

    def __call__(self, shape, dtype=np.uint32, **_):
        arr = np.zeros(shape, dtype)
        if self.next + arr.nbytes > self.end:
            raise MemoryError("simulated DDR for buffers exhausted")
        buf = arr.view(SimBuffer)
        buf.ram, buf.physical_address = self.ram, self.next
        self.next += -(-arr.nbytes // 64) * 64
        return buf


class RingAllocator(SimAllocator):
    """:class:`SimAllocator` that starts again at its base when its space is used up: for a
    driver that frees every buffer before it allocates the next job's (one layer's buffers at
    a time), so that a long run does not exhaust the simulated DDR."""

    def __call__(self, shape, dtype=np.uint32, **kw):
        if self.next + np.zeros(shape, dtype).nbytes > self.end:
            self.next = self.base
        return super().__call__(shape, dtype, **kw)


class SimChannel:
    def __init__(self, gp0, base, model, channel):
        self.gp0, self.base, self.model, self.channel = gp0, base, model, channel
        self.buffer = None

    def _w(self, reg, value):
        resume(self.gp0.write)(self.base + self.channel + reg, value)

    def transfer(self, buffer, nbytes=None):
        if self.channel == MM2S:
            buffer.flush()
        self.buffer = buffer
        self._w(0x00, RS | IOC_EN)
        self._w(0x18, buffer.physical_address)
        self._w(0x28, nbytes or buffer.nbytes)

    def wait(self):
        resume(self.model.wait_irq)(self.channel)
        self._w(0x04, IOC)
        if self.channel == S2MM and self.buffer is not None:
            self.buffer.invalidate()
        self.buffer = None


class SimDMA:
    def __init__(self, gp0, base, model):
        self.sendchannel = SimChannel(gp0, base, model, MM2S)
        self.recvchannel = SimChannel(gp0, base, model, S2MM)


class SimIP:
    def __init__(self, gp0, base):
        self.mmio = SimMMIO(gp0, base)


class SimOverlay:
    """The cells of a board target's block design, as ``pynq.Overlay`` hands them out."""

    def __init__(self, gp0, ips: dict[str, int], dmas: dict[str, tuple[int, object]]):
        for name, base in ips.items():
            setattr(self, name, SimIP(gp0, base))
        for name, (base, model) in dmas.items():
            setattr(self, name, SimDMA(gp0, base, model))
