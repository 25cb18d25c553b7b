"""cocotb helpers shared by the accelerator testbenches: clock and reset, an AXI4-Lite
register agent, and AXI4-Stream source/sink agents with random idle cycles and back-pressure.

All streams are driven with cocotbext-axi using one "byte" per beat (``byte_lanes=1``), so a
frame is a list of integers, one per beat, each as wide as ``tdata``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiResp,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

__all__ = [
    "start_clock",
    "reset",
    "pause_generator",
    "RegAgent",
    "StreamAgents",
    "AxiResp",
]


def start_clock(dut, period_ns: float = 5.0):
    """Start ``dut.clk`` (200 MHz by default) and attach the passive protocol checkers and the
    watchdog (:mod:`verif.common.protocol`) to every AXI port of ``dut``: every test that
    clocks an AXI block runs with them."""
    import cocotb

    from verif.common import protocol  # noqa: PLC0415

    task = cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())
    protocol.drive_idle(dut)
    protocol.attach(dut)
    return task


async def reset(dut, cycles: int = 4) -> None:
    """Synchronous active-high reset on ``dut.rst``."""
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def pause_generator(rng: random.Random, prob: float):
    """Endless pause pattern: each cycle paused with probability ``prob`` (0: never)."""
    while True:
        yield prob > 0 and rng.random() < prob


class RegAgent:
    """AXI4-Lite master on ``<prefix>_*`` with word-level helpers that report the response."""

    def __init__(self, dut, prefix: str = "s_axil", response_pause: float = 0.3,
                 seed: int = 11) -> None:
        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, prefix), dut.clk, dut.rst)
        for part in (self.master.write_if, self.master.read_if):
            part.log.setLevel("WARNING")
        # bready / rready held low now and then: the slave must hold its responses
        if response_pause > 0:
            rng = random.Random(seed)
            for ch in (self.master.write_if.b_channel, self.master.read_if.r_channel):
                ch.set_pause_generator(pause_generator(random.Random(rng.random()),
                                                       response_pause))

    async def write(self, addr: int, value: int) -> AxiResp:
        resp = await self.master.write(addr, int(value & 0xFFFFFFFF).to_bytes(4, "little"))
        return resp.resp

    async def read(self, addr: int) -> tuple[int, AxiResp]:
        resp = await self.master.read(addr, 4)
        return int.from_bytes(resp.data, "little"), resp.resp

    async def write_ok(self, addr: int, value: int) -> None:
        resp = await self.write(addr, value)
        if resp != AxiResp.OKAY:
            raise AssertionError(f"write of 0x{value:x} to 0x{addr:x} answered {resp!r}")

    async def read_ok(self, addr: int) -> int:
        value, resp = await self.read(addr)
        if resp != AxiResp.OKAY:
            raise AssertionError(f"read of 0x{addr:x} answered {resp!r}")
        return value


@dataclass
class StreamAgents:
    """Factory for AXI4-Stream agents sharing one random generator and idle probabilities."""

    dut: object
    rng: random.Random
    idle: float = 0.0  # probability that a source holds tvalid low in a cycle
    backpressure: float = 0.0  # probability that a sink holds tready low in a cycle
    #: a stress pattern (verif.common.stress: "bursty", "stop:N", "mixed", ...) used instead
    #: of the i.i.d. pauses ("iidb": the i.i.d. probabilities above with long stalls now and
    #: then); default: the APPROXNN_STRESS environment variable, if set
    stress: str | None = None
    fifo_depth: int = 16  # the "mixed" pattern's full stops last 4x this

    def _pauses(self, prob: float):
        from verif.common import stress  # noqa: PLC0415

        spec = self.stress if self.stress is not None else os.environ.get("APPROXNN_STRESS")
        rng = random.Random(self.rng.random())
        if spec == "iidb":  # i.i.d. at this direction's probability, long stalls now and then
            spec = f"iidb:{prob}"
        if spec:
            return stress.make(spec, rng, self.fifo_depth)
        return pause_generator(rng, prob) if prob > 0 else None

    def source(self, prefix: str) -> AxiStreamSource:
        src = AxiStreamSource(AxiStreamBus.from_prefix(self.dut, prefix), self.dut.clk,
                              self.dut.rst, byte_lanes=1)
        src.log.setLevel("WARNING")
        pauses = self._pauses(self.idle)
        if pauses is not None:
            src.set_pause_generator(pauses)
        return src

    def sink(self, prefix: str) -> AxiStreamSink:
        snk = AxiStreamSink(AxiStreamBus.from_prefix(self.dut, prefix), self.dut.clk,
                            self.dut.rst, byte_lanes=1)
        snk.log.setLevel("WARNING")
        pauses = self._pauses(self.backpressure)
        if pauses is not None:
            snk.set_pause_generator(pauses)
        return snk


def frame(words) -> AxiStreamFrame:
    """An AXI4-Stream frame of integer beats (``tlast`` on the last one)."""
    return AxiStreamFrame([int(w) for w in words])
