"""Reusable pyuvm pieces for the streaming CNN blocks (requantisation unit, MAC array).

A block under test takes one *beat* per cycle on a set of input ports qualified by a valid
signal (and optionally a ready signal it drives) and produces results on output ports
qualified by ``out_valid``. The pieces, one small class each (pyuvm TinyALU style):

* :class:`Beats` - sequence item: a dict of equally long numpy arrays, one per input port;
* :class:`PipeBfm` - the only code that touches the DUT: one coroutine per clock drives the next
  beat (seeded idle cycles: i.i.d. with long stalls now and then, ``APPROXNN_STRESS``
  overrides), honours ``ready`` when the DUT has one, and samples every output beat with its
  cycle number;
* :class:`Driver`, :class:`Monitor` - move beats between sequencer, BFM and analysis ports;
* :class:`ScoreboardBase` - collects the observations; subclasses compare them with the golden
  model in ``check_phase`` and list their findings in ``errors``;
* :class:`PipeEnv` - sequencer, driver, monitor, scoreboard and coverage collector, whose classes
  a test picks (``SCOREBOARD`` / ``COVERAGE`` in the ConfigDB).

The BFM and the scoreboards never compute expected values themselves: that is the golden
model's job (refmodels.cnn).
"""

from __future__ import annotations

import os
import random
from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import Event, RisingEdge
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_env,
    uvm_sequence_item,
    uvm_sequencer,
    uvm_subscriber,
)

from verif.common import stress
from verif.common.axi import reset, start_clock
from verif.common.coverage import (  # noqa: F401 - the CNN testbenches import them from here
    cover_point,
    coverage_holes,
    log_coverage,
    verdict_point,
)


class Beats(uvm_sequence_item):
    """Input beats applied in order: ``fields[port][i]`` is port's value in beat ``i``."""

    def __init__(self, name="Beats", fields=None):
        super().__init__(name)
        # int64 arrays, or object arrays of Python ints for ports wider than 63 bits
        self.fields = {k: np.asarray(v) for k, v in (fields or {}).items()}

    def __len__(self):
        return len(next(iter(self.fields.values()))) if self.fields else 0

    def __str__(self):
        return f"{self.get_name()}: {len(self)} beats of {sorted(self.fields)}"


class PipeBfm:
    """Drives beats and samples results (the only DUT access).

    ``inputs``: input port names; ``outputs``: output port names read as signed values when
    listed in ``signed_out``. ``ready``: name of the DUT's ready output (None: always ready).
    Logs: ``in_log`` holds (cycle, beat values...) of every *accepted* beat, ``out_log``
    (cycle, output values...) of every output beat. ``drain`` idle cycles end a batch.
    """

    def __init__(self, dut, inputs, outputs, signed_out=(), ready=None, idle=0.0, seed=0,
                 drain=16):
        self.dut = dut
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.signed_out = set(signed_out)
        self.ready = ready
        self.idle = float(idle)
        self.rng = np.random.default_rng(seed + 1)
        self.drain = int(drain)
        self.pending = deque()
        self.cycle = 0
        self.in_log = []
        self.out_log = []
        self.stalls = 0  # cycles a beat was offered and not accepted
        self.idle_event = Event()
        self._started = False

    async def reset(self):
        for name in self.inputs:
            getattr(self.dut, name).value = 0
        self.dut.in_valid.value = 0
        if not self._started:
            start_clock(self.dut, 10.0)
            self._started = True
        await reset(self.dut, 3)
        cocotb.start_soon(self._loop())

    def send(self, fields):
        masks = [(1 << len(getattr(self.dut, n))) - 1 for n in self.inputs]
        cols = [[int(v) for v in fields[n]] for n in self.inputs]
        self.idle_event.clear()
        for beat in zip(*cols, strict=True):
            self.pending.append(tuple(v & m for v, m in zip(beat, masks, strict=True)))

    async def _loop(self):
        dut = self.dut
        edge = RisingEdge(dut.clk)
        ports = [getattr(dut, n) for n in self.inputs]
        outs = [(getattr(dut, n), n in self.signed_out) for n in self.outputs]
        valid, ov = dut.in_valid, dut.out_valid
        ready = getattr(dut, self.ready) if self.ready else None
        pending, in_log, out_log = self.pending, self.in_log, self.out_log
        gaps = None
        spec = os.environ.get("APPROXNN_STRESS") or (f"iidb:{self.idle}" if self.idle > 0
                                                     else None)
        if spec:  # idle cycles: i.i.d. with long stalls now and then (verif.common.stress)
            gen = stress.make(spec, random.Random(int(self.rng.integers(1 << 31))))
            gaps = np.fromiter((next(gen) for _ in range(1 << 16)), bool, 1 << 16)
        quiet = 0
        driving = None
        held = 0  # cycles the current beat has waited for ready
        limit = int(os.environ.get("APPROXNN_WATCHDOG", "200000"))
        while True:
            if driving is None and pending and (gaps is None or not gaps[self.cycle & 0xFFFF]):
                driving = pending.popleft()
                for p, v in zip(ports, driving, strict=True):
                    p.value = v
                valid.value = 1
            elif driving is None:
                valid.value = 0
            await edge
            if driving is not None:
                if ready is None or ready.value:
                    in_log.append((self.cycle, *driving))
                    driving = None
                    held = 0
                else:
                    self.stalls += 1
                    held += 1
                    if held >= limit:
                        raise AssertionError(
                            f"watchdog: {self.ready} low for {held} cycles with a beat "
                            f"waiting (cycle {self.cycle}, {len(pending)} more queued)")
            if ov.value:
                out_log.append(
                    (self.cycle,
                     *(p.value.to_signed() if s else int(p.value) for p, s in outs))
                )
            self.cycle += 1
            if driving is not None or pending:
                quiet = 0
            else:
                quiet += 1
                if quiet == self.drain:
                    self.idle_event.set()

    def take(self):
        ins, outs = self.in_log[:], self.out_log[:]
        self.in_log.clear()
        self.out_log.clear()
        return ins, outs


class Driver(uvm_driver):
    def connect_phase(self):
        self.bfm = ConfigDB().get(self, "", "BFM")

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            self.bfm.send(item.fields)
            await self.bfm.idle_event.wait()
            self.seq_item_port.item_done()


class Monitor(uvm_component):
    """Publishes (accepted input beats, output beats) after each drained batch."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)

    def connect_phase(self):
        self.bfm = ConfigDB().get(self, "", "BFM")

    async def run_phase(self):
        while True:
            await self.bfm.idle_event.wait()
            ins, outs = self.bfm.take()
            if ins or outs:
                self.ap.write((ins, outs))
            await RisingEdge(self.bfm.dut.clk)


class ScoreboardBase(uvm_subscriber):
    """Collects every observation; subclasses fill ``errors`` in check_phase."""

    def build_phase(self):
        self.ins, self.outs = [], []
        self.errors = []
        self.checked = 0

    def write(self, obs):
        ins, outs = obs
        self.ins.extend(ins)
        self.outs.extend(outs)

    def report_phase(self):
        for msg in self.errors:
            self.logger.error(msg)
        if not self.errors:
            self.logger.info(f"{self.checked} results match the golden model bit for bit")


class PipeEnv(uvm_env):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        ConfigDB().set(None, "*", "SEQR", self.seqr)
        self.driver = Driver.create("driver", self)
        self.monitor = Monitor("monitor", self)
        self.scoreboard = ConfigDB().get(None, "", "SCOREBOARD")("scoreboard", self)
        self.coverage = ConfigDB().get(None, "", "COVERAGE")("coverage", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.monitor.ap.connect(self.scoreboard.analysis_export)
        self.monitor.ap.connect(self.coverage.analysis_export)
