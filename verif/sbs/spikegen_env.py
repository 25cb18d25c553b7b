"""pyuvm environment of the SbS spike generator (cores/sbs/spikegen).

* :class:`StepItem` - one spike step: the layer configuration (N_H, N_SRC, seed, layer index;
  a new configuration reseeds the generators) and the latents of every source;
* :class:`RandomStepSeq` - constrained-random configurations (full, random and minimal sizes)
  and latents (dense, sparse, one-hot, all zero, all maximal);
* :class:`Driver` - registers through AXI4-Lite, latents through ``s_axis_h`` (random idle);
* :class:`Monitor` - spike frames from ``m_axis_spk`` (random back-pressure);
* :class:`Scoreboard` - the golden model (``SpikeRNG("xorshift")`` + ``select_fixed``) over the
  same steps, compared spike by spike, plus the SPIKES counter;
* :class:`Coverage` - outcomes: a spike, no spike (S = 0), the last latent; sizes: N_H = 1,
  N_H = N_MAX, N_SRC = 1, N_SRC = SRC_MAX.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_env,
    uvm_sequence,
    uvm_sequence_item,
    uvm_sequencer,
    uvm_subscriber,
)

from cores.sbs.spikegen.spikegen import NO_SPIKE, REG, F
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif.common.axi import RegAgent, frame
from verif.common.axi_env import AxiBlockBfm, AxiBlockTest
from verif.sbs.env import setting


def spikegen_config():
    return int(setting("APPROXNN_SBS_NMAX", "16")), int(setting("APPROXNN_SBS_SRCMAX", "64"))


class StepItem(uvm_sequence_item):
    def __init__(self, name="StepItem", n_h=1, n_src=1, seed=0, layer=0, reseed=False, h=None):
        super().__init__(name)
        self.n_h, self.n_src, self.seed, self.layer, self.reseed = n_h, n_src, seed, layer, reseed
        self.h = h

    def __str__(self):
        return f"{self.get_name()}: N_H={self.n_h} N_SRC={self.n_src} seed={self.seed} " \
               f"layer={self.layer}"


def random_h(rng, n_src, n_h):
    """Latents of every source: dense, sparse, one-hot, all zero (no spike), all maximal."""
    out = np.zeros((n_src, n_h), dtype=np.int64)
    for j in range(n_src):
        kind = rng.choice(["dense", "sparse", "one", "zero", "max"])
        if kind == "dense":
            out[j] = [rng.randrange(1 << F) for _ in range(n_h)]
        elif kind == "sparse":
            out[j] = [rng.randrange(1 << F) if rng.random() < 0.2 else 0 for _ in range(n_h)]
        elif kind == "one":
            out[j, rng.randrange(n_h)] = rng.randrange(1, 1 << F)
        elif kind == "max":
            out[j] = (1 << F) - 1
    return out


class RandomStepSeq(uvm_sequence):
    async def body(self):
        n_max, src_max = spikegen_config()
        rng = random.Random(ConfigDB().get(None, "", "SEED"))
        steps = ConfigDB().get(None, "", "COUNT")
        sizes = [(n_max, src_max), (1, 1), (2, min(2, src_max))]
        sizes += [(1 + rng.randrange(n_max), 1 + rng.randrange(src_max)) for _ in range(2)]
        for n_h, n_src in sizes:
            seed, layer = rng.randrange(1 << 32), rng.randrange(2048)
            for k in range(steps):
                item = StepItem("step", n_h, n_src, seed, layer, reseed=k == 0,
                                h=random_h(rng, n_src, n_h))
                await self.start_item(item)
                await self.finish_item(item)


class Driver(uvm_driver):
    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)

    def connect_phase(self):
        self.regs = ConfigDB().get(None, "", "REGS")
        self.src = ConfigDB().get(None, "", "AGENTS").source("s_axis_h")

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            if item.reseed:
                # the last spikes of the previous step may still be on their way out
                while (await self.regs.read_ok(REG["STATUS"])) & 1:
                    await ClockCycles(cocotb.top.clk, 8)
                await self.regs.write_ok(REG["N_H"], item.n_h)
                await self.regs.write_ok(REG["N_SRC"], item.n_src)
                await self.regs.write_ok(REG["SEED"], item.seed)
                await self.regs.write_ok(REG["LAYER"], item.layer)
                await self.regs.write_ok(REG["CTRL"], 1)
            await self.src.send(frame(item.h.ravel().tolist()))
            await self.src.wait()
            self.ap.write(item)
            self.seq_item_port.item_done()


class Monitor(uvm_component):
    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)

    def connect_phase(self):
        self.sink = ConfigDB().get(None, "", "AGENTS").sink("m_axis_spk")

    async def run_phase(self):
        while True:
            fr = await self.sink.recv()
            self.ap.write([-1 if v == NO_SPIKE else int(v) for v in fr.tdata])


class Scoreboard(uvm_component):
    def build_phase(self):
        from pyuvm import uvm_tlm_analysis_fifo

        self.items = uvm_tlm_analysis_fifo("items", self)
        self.spikes = uvm_tlm_analysis_fifo("spikes", self)

    def check_phase(self):
        self.errors, self.checked = [], 0
        gen = None
        while self.items.can_get():
            _, item = self.items.try_get()
            if item.reseed:
                gen = SpikeRNG("xorshift", [item.seed])
            want = select_fixed(item.h, gen.words(item.layer, item.n_src)[0]).tolist()
            if not self.spikes.can_get():
                self.errors.append(f"{item}: no spikes seen")
                break
            _, got = self.spikes.try_get()
            self.checked += len(want)
            if got != want:
                self.errors.append(f"{item}: RTL {got[:8]} model {want[:8]}")
        if self.spikes.can_get():
            self.errors.append("unexpected spike frames")
        if not self.checked:
            self.errors.append("no spike was checked")

    def report_phase(self):
        for e in self.errors[:10]:
            self.logger.error(e)
        if not self.errors:
            self.logger.info(f"{self.checked} spikes equal the golden model")


class Coverage(uvm_subscriber):
    """Goal: every outcome and every size corner."""

    def build_phase(self):
        self.n_max, self.src_max = spikegen_config()

        @CoverPoint("spikegen.outcome", xf=lambda o: o, bins=["spike", "none", "last_latent"])
        def outcome(o):
            pass

        @CoverPoint("spikegen.size", xf=lambda s: s,
                    bins=["n_h=1", "n_h=max", "n_src=1", "n_src=max"])
        def size(s):
            pass

        self.outcome, self.size = outcome, size

    def write(self, item):
        for j in range(item.n_src):
            s = int(item.h[j].sum())
            if s == 0:
                self.outcome("none")
            else:
                self.outcome("spike")
                if item.h[j, -1] == s:  # all mass on the last latent: it must be chosen
                    self.outcome("last_latent")
        for cond, name in ((item.n_h == 1, "n_h=1"), (item.n_h == self.n_max, "n_h=max"),
                           (item.n_src == 1, "n_src=1"), (item.n_src == self.src_max,
                                                          "n_src=max")):
            if cond:
                self.size(name)

    def check_phase(self):
        self.holes = []
        for name in ("spikegen.outcome", "spikegen.size"):
            cov = coverage_db[name]
            if cov.coverage < cov.size:
                self.holes.append(f"{name}: {cov.detailed_coverage}")


class SpikegenEnv(uvm_env):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = Driver("driver", self)
        self.monitor = Monitor("monitor", self)
        self.scoreboard = Scoreboard("scoreboard", self)
        self.coverage = Coverage("coverage", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.ap.connect(self.scoreboard.items.analysis_export)
        self.driver.ap.connect(self.coverage.analysis_export)
        self.monitor.ap.connect(self.scoreboard.spikes.analysis_export)


class SpikegenBfm(AxiBlockBfm):
    """Clock, reset, registers (model of sbs_spikegen.rdl) and stream agents of the spike
    generator (verif/common/axi_env.py); the driver, the monitor and the directed sequences
    open the streams they use."""

    regmap_name = "sbs_spikegen"


class SpikegenRandomTest(AxiBlockTest):
    """Constrained-random steps with idle cycles on s_axis_h and back-pressure on spikes."""

    env_class = SpikegenEnv

    def make_bfm(self, seed):
        return SpikegenBfm(
            cocotb.top, seed, idle=float(os.environ.get("APPROXNN_IDLE", "0.2")),
            backpressure=float(os.environ.get("APPROXNN_BACKPRESSURE", "0.3")),
            stress=os.environ.get("APPROXNN_STRESS", "iidb"))

    def build_phase(self):
        ConfigDB().set(None, "*", "COUNT", int(setting("APPROXNN_COUNT", "4")))
        super().build_phase()
        self.bfm.regs = RegAgent(cocotb.top)  # the driver takes it in its connect phase
        ConfigDB().set(None, "*", "AGENTS", self.bfm.agents)
        ConfigDB().set(None, "*", "REGS", self.bfm.regs)

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        await RandomStepSeq("seq").start(self.env.seqr)
        await ClockCycles(cocotb.top.clk, 200)
        regs = ConfigDB().get(None, "", "REGS")
        self.spikes_counter = await regs.read_ok(REG["SPIKES"])
        self.drop_objection()

    def problems(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if self.spikes_counter != self.env.scoreboard.checked:
            problems.append(f"SPIKES reads {self.spikes_counter}, "
                            f"{self.env.scoreboard.checked} spikes checked")
        return problems
