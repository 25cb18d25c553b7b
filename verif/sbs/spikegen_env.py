"""pyuvm environment of the SbS spike generator (cores/sbs/spikegen).

* :class:`StepItem` - one spike step: the layer configuration (N_H, N_SRC, seed, layer index;
  a new configuration reseeds the generators) and the latents of every source;
* :class:`RandomStepSeq` - constrained-random configurations (full, random and minimal sizes)
  and latents (dense, sparse, one-hot, all zero, all maximal);
* :class:`SpikegenBfm` - on the AXI blocks' base (verif/common/axi_env.py, whose driver and
  monitor run it): registers (model of sbs_spikegen.rdl) through AXI4-Lite, latents through
  ``s_axis_h`` (random idle), the spike frame of each step from ``m_axis_spk`` (random
  back-pressure);
* :class:`Scoreboard` - the golden model (``SpikeRNG("xorshift")`` + ``select_fixed``) over the
  same steps, compared spike by spike, plus the SPIKES counter;
* :class:`Coverage` - outcomes: a spike, no spike (S = 0), the last latent; sizes: N_H = 1,
  N_H = N_MAX, N_SRC = 1, N_SRC = SRC_MAX.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_sequence, uvm_sequence_item, uvm_subscriber

from cores.sbs.spikegen.spikegen import NO_SPIKE, F
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif.common.axi import frame
from verif.common.axi_env import AxiBlockBfm, AxiBlockEnv, AxiBlockTest
from verif.common.coverage import coverage_holes, log_coverage
from verif.common.settings import setting


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


class SpikegenBfm(AxiBlockBfm):
    """Clock, reset, registers (model of sbs_spikegen.rdl) and the streams of the spike
    generator; :meth:`run` applies one :class:`StepItem`, and the spike frames go to the
    monitor as they come (:meth:`publish`)."""

    regmap_name = "sbs_spikegen"

    def connect_streams(self):
        self.src = self.agents.source("s_axis_h")
        self.sink = self.agents.sink("m_axis_spk")

    async def configure(self, n_h, n_src, seed=None, layer=None):
        """Sizes (and seed, layer) written, CTRL = 1: the generators seeded."""
        await self.write_reg("N_H", n_h)
        await self.write_reg("N_SRC", n_src)
        if seed is not None:
            await self.write_reg("SEED", seed)
        if layer is not None:
            await self.write_reg("LAYER", layer)
        await self.command(SEED=1)

    @staticmethod
    def decode(fr):
        """Spikes of a frame (-1: no spike)."""
        return [-1 if v == NO_SPIKE else int(v) for v in fr.tdata]

    async def spikes(self):
        """The next spike frame."""
        return self.decode(await self.sink.recv())

    def publish(self):
        """Every spike frame to the monitor's port (random test)."""
        return self.publish_frames(self.sink, self.decode)

    async def run(self, item):
        if item.reseed:
            # the last spikes of the previous step may still be on their way out
            await self.wait_idle()
            await self.configure(item.n_h, item.n_src, item.seed, item.layer)
        await self.src.send(frame(item.h.ravel().tolist()))
        await self.src.wait()
        return {"item": item}


class Scoreboard(uvm_subscriber):
    """Steps applied and spike frames seen, paired in order at the end and compared with the
    golden model; the SPIKES counter is compared by the test."""

    def build_phase(self):
        self.items, self.frames = [], []

    def write(self, obs):
        (self.frames if "frame" in obs else self.items).append(obs.get("frame", obs.get("item")))

    def check_phase(self):
        self.errors, self.checked = [], 0
        gen = None
        for k, item in enumerate(self.items):
            if item.reseed:
                gen = SpikeRNG("xorshift", [item.seed])
            want = select_fixed(item.h, gen.words(item.layer, item.n_src)[0]).tolist()
            if k >= len(self.frames):
                self.errors.append(f"{item}: no spikes seen")
                break
            self.checked += len(want)
            if self.frames[k] != want:
                self.errors.append(f"{item}: RTL {self.frames[k][:8]} model {want[:8]}")
        if len(self.frames) > len(self.items):
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
        self.names = ["spikegen.outcome", "spikegen.size"]

    def write(self, obs):
        item = obs.get("item")
        if item is None:  # a spike frame
            return
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
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names, self.holes, unit="sbs_spikegen")


class SpikegenEnv(AxiBlockEnv):
    scoreboard_class = Scoreboard
    coverage_class = Coverage


class SpikegenRandomTest(AxiBlockTest):
    """Constrained-random steps with idle cycles on s_axis_h and back-pressure on spikes."""

    env_class = SpikegenEnv

    def make_bfm(self, seed):
        return SpikegenBfm.from_settings(cocotb.top, seed, 0.2, 0.3, "iidb")

    def build_phase(self):
        ConfigDB().set(None, "*", "COUNT", int(setting("APPROXNN_COUNT", "4")))
        super().build_phase()

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        self.bfm.publish()
        await RandomStepSeq("seq").start(self.env.seqr)
        await ClockCycles(cocotb.top.clk, 200)
        self.spikes_counter = await self.bfm.read_reg("SPIKES")
        self.drop_objection()

    def problems(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if self.spikes_counter != self.env.scoreboard.checked:
            problems.append(f"SPIKES reads {self.spikes_counter}, "
                            f"{self.env.scoreboard.checked} spikes checked")
        return problems
