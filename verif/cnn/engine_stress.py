"""Stress, shape extremes and reset during traffic for the CNN layer engine (pyuvm).

:class:`EngineStressTest` runs, on one engine build, against the golden model
(:func:`verif.cnn.engine.layers.golden`, every output beat and the beat count compared):

1. **shape extremes** (:func:`extreme_layers`): layers whose set-up products reach the widths of
   the set-up fields for this build's buffers - output channels up to the channel table, input
   channels as many as the weight buffer allows, stride x channels and stride x row products
   past 8 bits, strides and filters at their 4-bit maxima, a map that fills the input buffer,
   FullyConnected over 255 inputs, the largest depth multiplier, a 255 x 255 x 255 map that
   must be refused (error 1, the product H*W*C past 16 bits), and - in builds whose weight
   buffer holds 640 words - pad x channels past 8 bits;
2. **stress patterns** on every stream (:mod:`verif.common.stress`, ``mixed`` by default): bursty
   idle, back-pressure with on/off periods and full stops of four times the output-FIFO depth,
   so that the output FIFO fills; its level (the DUT's ``f_cnt``) is covered: full and empty;
3. **reset during traffic**: ``APPROXNN_RESETS`` times (default 3), a random layer is started
   and ``rst`` asserted mid-frame (input map half sent), mid-compute (frames in, no output
   yet) or mid-output (some results out), in turn; the next layer must be exact again.

The engine has no abort or soft-reset command (CTRL has START only), so reset is the only way
to stop a run. Coverage goal: every extreme-shape bin, both FIFO bins, the three reset points.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from approxnn_host.layers import weight_words
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_subscriber

from verif.cnn.engine.agents import config_from_env
from verif.cnn.engine.env import EngineBase, EngineEnv
from verif.cnn.engine.layers import is_hf6, make_layer, random_layer, to_hf6
from verif.cnn.engine.scoreboard import EngineScoreboard
from verif.cnn.pipe import coverage_holes, log_coverage
from verif.common import protocol

EXTREME_BINS = ["oc_table", "c_wide", "sx_c_8bit", "sy_w_c", "stride_15", "filter_15",
                "ibuf_full", "fc_255", "dm_max", "hwc_overflow_refused"]
FIFO_BINS = ["empty", "full"]
RESET_BINS = ["mid_frame", "mid_compute", "mid_output"]


def fifo_depth(lanes):
    return max(8, 4 * lanes)  # cores/cnn/engine/engine.py FD


def pl_c_reachable(ibuf, wbuf):
    """Whether the build's buffers hold a layer with PL * C >= 256 (pad 2, 128 channels)."""
    return wbuf >= 5 * 128 and ibuf >= 4 * 128


def extreme_layers(rng, lanes, ibuf, wbuf, cmax, mul):
    """(bin, layer) pairs at the field widths this build can take (see the module doc)."""
    p = lanes
    out = []

    def conv(tag, h, w, c, oc, fh, fw, sy, sx, padding, kind="conv"):
        groups = -(-oc // p)
        if h * w * c > ibuf or groups * fh * fw * c > wbuf or oc > cmax:
            raise ValueError(f"extreme layer {tag} does not fit P={p} ibuf={ibuf} "
                             f"wbuf={wbuf} cmax={cmax}")
        lay = make_layer(rng, kind, h, w, c, oc, fh, fw, sy, sx, padding)
        out.append((tag, lay))

    # output channels up to the table, input channels as many as the weights allow
    c = min(255, wbuf // -(-cmax // p), ibuf // 2)
    conv("oc_table", 1, 2, c, cmax, 1, 1, 1, 1, "VALID")
    c = min(255, wbuf // 1, ibuf // 2)
    conv("c_wide", 1, 2, c, min(p, cmax), 1, 1, 1, 1, "VALID")
    # stride x channels past 8 bits (SXC): C * SX >= 256 with two output columns
    c = min(255, ibuf // 4, wbuf)
    sx = max(2, -(-256 // c))
    conv("sx_c_8bit", 1, sx + 1, c, min(p, cmax), 1, 1, 1, sx, "VALID")
    # stride x W x C (SYWC) as large as the input buffer allows
    sy = 15
    w = max(1, ibuf // (2 * (sy + 1) * 4))
    conv("sy_w_c", sy + 1, w, 4, min(p, cmax), 1, 1, sy, 1, "VALID")
    # 4-bit maxima: stride 15, filter 15 x 15
    conv("stride_15", 16, 16, 1, min(p, cmax), 1, 1, 15, 15, "VALID")
    conv("filter_15", 15, 15, 1, min(p * max(1, wbuf // 225), cmax), 15, 15, 1, 1, "VALID")
    # a map that fills the input buffer
    side = int(np.sqrt(ibuf))
    conv("ibuf_full", side, ibuf // side, 1, min(p, cmax), 3, 3, 1, 1, "SAME")
    # FullyConnected over 255 inputs
    conv("fc_255", 1, 1, 255, min(cmax, p * max(1, wbuf // 255)), 1, 1, 1, 1, "VALID",
         kind="fc")
    # pad x channels past 8 bits (PLC): a 5-wide SAME filter (pad 2) over 128 channels, where
    # the weight buffer holds 5 x 128 taps (not in the default build's 512 words)
    if pl_c_reachable(ibuf, wbuf):
        conv("pl_c_8bit", 1, 4, 128, min(p, cmax), 1, 5, 1, 1, "SAME")
    # depthwise with the largest depth multiplier the table allows
    dm = min(255, cmax // 2)
    lay = make_layer(rng, "depthwise_dm", 4, 4, 2, 2 * dm, 3, 3, 1, 1, "SAME", dm=dm)
    lay.kind = "depthwise"
    out.append(("dm_max", lay))
    # H * W * C = 255^3 (past 16 bits): refused with error 1, nothing sent
    lay = make_layer(rng, "conv", 1, 1, 1, 1, 1, 1, 1, 1, "VALID")
    lay.h = lay.w = lay.c = 255
    lay.oh = lay.ow = 255
    lay.error = 1
    lay.kind = "error_ibuf"
    out.append(("hwc_overflow_refused", lay))
    if is_hf6(mul):
        for _, lay in out:
            to_hf6(rng, lay)
    return out


class StressCoverage(uvm_subscriber):
    """Bins: the extreme shapes run (EXTREME_BINS), the output-FIFO level reached (empty,
    full), the reset points (mid_frame, mid_compute, mid_output). Goal: every bin hit."""

    def build_phase(self):
        self.names = ["eng.extreme", "eng.fifo", "eng.reset"]

        @CoverPoint("eng.extreme", xf=lambda b: b, bins=EXTREME_BINS)
        @CoverPoint("eng.extreme_large", xf=lambda b: b, bins=["pl_c_8bit"])
        def sample_extreme(b):
            pass

        @CoverPoint("eng.fifo", xf=lambda b: b, bins=FIFO_BINS)
        def sample_fifo(b):
            pass

        @CoverPoint("eng.reset", xf=lambda b: b, bins=RESET_BINS)
        def sample_reset(b):
            pass

        self.sample_extreme, self.sample_fifo, self.sample_reset = (
            sample_extreme, sample_fifo, sample_reset)
        self.holes = []

    def write(self, obs):
        tag = getattr(obs["layer"], "extreme", None)
        if tag:
            self.sample_extreme(tag)

    def check_phase(self):
        _, ibuf, wbuf, _ = ConfigDB().get(None, "", "CAPS")
        if pl_c_reachable(ibuf, wbuf) and "eng.extreme_large" not in self.names:
            self.names.append("eng.extreme_large")  # a bin only builds with room for it have
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names, self.holes)


class StressEnv(EngineEnv):
    coverage_class = StressCoverage


class FifoLevel:
    """Samples the engine's output-FIFO level (``f_cnt`` of its output stage) at every clock
    edge."""

    def __init__(self, dut, depth):
        # the output stage's counter (a sub-block signal: its name carries the block)
        self.sig = getattr(dut, "output_stage0_f_cnt", None)
        self.depth = depth
        self.hit = set()
        self.peak = 0
        if self.sig is not None:
            cocotb.start_soon(self._run(dut))

    async def _run(self, dut):
        seen = False
        while True:
            await RisingEdge(dut.clk)
            v = self.sig.value
            if not v.is_resolvable:
                continue
            n = int(v)
            self.peak = max(self.peak, n)
            if n > self.depth:
                raise AssertionError(f"output FIFO level {n} above its depth {self.depth}")
            if n == self.depth:
                self.hit.add("full")
            if n:
                seen = True
            elif seen:
                self.hit.add("empty")


class EngineStressTest(EngineBase):
    """Shape extremes, stress patterns and reset during traffic (see the module docstring)."""

    env_class = StressEnv

    def build_phase(self):
        super().build_phase()
        lanes = config_from_env()["lanes"]
        self.bfm.agents.stress = os.environ.get("APPROXNN_STRESS", "mixed")
        self.bfm.agents.fifo_depth = fifo_depth(lanes)

    async def run_phase(self):
        self.raise_objection()
        dut = cocotb.top
        await self.bfm.start()
        lanes, ibuf, wbuf, cmax = await self.read_caps()
        mul = config_from_env()["mul"]
        seed = ConfigDB().get(None, "", "SEED")
        rng = np.random.default_rng(seed + 29)
        fifo = FifoLevel(dut, fifo_depth(lanes))
        cov = self.env.coverage
        self.errors = []
        for tag, lay in extreme_layers(rng, lanes, ibuf, wbuf, cmax, mul):
            lay.extreme = tag
            obs = await self.bfm.run_layer(lay)
            self.env.monitor.ap.write(obs)
        prng = random.Random(seed)
        for k in range(int(os.environ.get("APPROXNN_RESETS", "3"))):
            point = RESET_BINS[k % len(RESET_BINS)]
            kind = ("conv", "depthwise", "fc", "maxpool")[k % 4]
            lay = random_layer(rng, kind, "SAME", lanes, ibuf, wbuf, cmax, mul)
            if await self.reset_during(dut, lay, point, prng):
                cov.sample_reset(point)
            # a full job after the reset: checked by the scoreboard
            lay = random_layer(rng, kind, "VALID", lanes, ibuf, wbuf, cmax, mul)
            self.env.monitor.ap.write(await self.bfm.run_layer(lay))
        for b in sorted(fifo.hit):
            cov.sample_fifo(b)
        if fifo.sig is None:
            self.errors.append("no f_cnt signal in the DUT: FIFO level not covered")
        self.logger.info(f"output FIFO peak level {fifo.peak} of {fifo.depth}")
        self.drop_objection()

    async def reset_during(self, dut, lay, point, prng) -> bool:
        """Start ``lay``, assert rst at ``point``; True when the reset landed there."""
        chk = protocol.active()
        streams = {r.prefix: r for r in chk.rules} if chk else {}
        x, y = streams.get("s_axis_x"), streams.get("m_axis_y")
        if x is None or y is None:
            raise AssertionError("the protocol checkers are needed to find the reset points")
        x0, y0 = x.beats, y.beats
        n_x = lay.h * lay.w * lay.c
        n_w = len(weight_words(lay, self.bfm.lanes)) if lay.wt is not None else 0
        w = streams.get("s_axis_w")
        w0 = w.beats if w else 0
        task = cocotb.start_soon(self.bfm.run_layer(lay))
        landed = False
        for _ in range(200000):
            await RisingEdge(dut.clk)
            xs, ys = x.beats - x0, y.beats - y0
            ws = (w.beats - w0) if w else 0
            if point == "mid_frame" and 0 < xs < n_x and prng.random() < 0.2:
                landed = True
            elif point == "mid_compute" and xs == n_x and ws == n_w and ys == 0:
                await ClockCycles(dut.clk, prng.randrange(0, 8))
                landed = y.beats == y0
            elif point == "mid_output" and ys > 0 and prng.random() < 0.3:
                landed = True
            if landed or task.done():
                break
        task.cancel()
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        for agent in (self.bfm.src_x, self.bfm.src_w, self.bfm.sink):
            agent.clear()
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        status = await self.bfm.regs.read_ok(4 * 1)
        if status != 0:
            self.errors.append(f"STATUS 0x{status:x} after a reset {point}, want 0")
        self.logger.info(f"reset {point}: {'landed' if landed else 'missed (layer ended)'}")
        return landed

    def final_phase(self):
        problems = self.errors + self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


__all__ = ["EngineStressTest", "extreme_layers", "EngineScoreboard"]
