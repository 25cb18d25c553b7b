"""pyuvm environment of the pooling unit (cores/cnn/pool).

Stimulus: windows of in-image int8 values (1 value, 2..4, 5..9 as in 2x2 / 3x3 windows cut by
the border, 10..255, and the largest, 256), padded taps (outside the image: skipped by the unit,
carrying random values) before, inside or after the in-image values of a window, values uniform
or extreme (-128 / 127), MaxPool or
AveragePool, the full activation range or a random clamp range (ReLU-like or narrow). Directed
windows add the average's rounding ties of both signs (away from zero) and windows of all -128
/ all 127. Values are driven with random idle cycles; ``in_ready`` is honoured.

The scoreboard rebuilds the windows from the accepted values and takes every expected result
from ``refmodels.cnn.tflite.max_pool`` / ``avg_pool`` (the window as a 1 x n map, one VALID
window); it also checks the latency (1 cycle for MaxPool, 19 for AveragePool after the
accepting edge).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_sequence, uvm_subscriber, uvm_test

from cores.common import manifest
from refmodels.cnn import tflite as tfl
from verif.cnn.pipe import Beats, PipeBfm, PipeEnv, ScoreboardBase, coverage_holes, log_coverage

INPUTS = ("in_first", "in_last", "in_pad", "x", "mode", "act_min", "act_max")
OUTPUTS = ("y",)
# BFM records: the result is seen one edge after the RTL's output cycle begins (the RTL's
# latencies: cores/cnn/pool/manifest.toml)
_LATENCY = manifest.load("cnn", "pool").latency
LATENCY_SEEN = {0: _LATENCY["maxpool"] + 1, 1: _LATENCY["avgpool"] + 1}
MODES = ["max", "avg"]
LEN_BINS = ["one", "2_4", "5_9", "long", "256"]
CLAMP_BINS = ["none", "low", "high"]
ROUND_BINS = ["exact", "tie_pos", "tie_neg", "other"]
PAD_BINS = ["none", "first", "inside", "last"]


def len_bin(n):
    return 0 if n == 1 else 1 if n <= 4 else 2 if n <= 9 else 4 if n == 256 else 3


def windows(rng, count):
    """(values, mode, act_min, act_max) of ``count`` random windows."""
    out = []
    for _ in range(count):
        r = rng.random()
        n = (1 if r < 0.1 else int(rng.integers(2, 5)) if r < 0.45 else
             int(rng.integers(5, 10)) if r < 0.8 else 256 if r < 0.84 else
             int(rng.integers(10, 256)))
        if rng.random() < 0.1:
            x = rng.choice(np.array([-128, 127]), n)
        else:
            x = rng.integers(-128, 128, n)
        mode = int(rng.integers(0, 2))
        k = rng.random()
        if k < 0.5:
            lo, hi = -128, 127
        elif k < 0.75:
            lo, hi = int(rng.integers(-128, 0)), 127
        else:
            lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        out.append((x, mode, lo, hi))
    return out


def directed():
    return [
        (np.array([1, 2]), 1, -128, 127),       # 1.5 -> 2 (away from zero)
        (np.array([-1, -2]), 1, -128, 127),     # -1.5 -> -2
        (np.array([3, 4, 0, 0]), 1, -128, 127),  # 1.75 -> 2
        (np.array([-5, 0, 0, 0]), 1, -128, 127),  # -1.25 -> -1
        (np.array([-128] * 256), 1, -128, 127),
        (np.array([127] * 256), 1, -128, 127),
        (np.array([-128] * 256), 0, -128, 127),
        (np.array([127, -128, 5]), 0, -10, 10),
    ]


def with_pads(rng, x):
    """The taps of a window: (value, padded) pairs; the in-image values ``x`` in order, and
    in 30 % of the windows up to 4 padded taps of random value at random places."""
    taps = [(int(v), 0) for v in x]
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 5))):
            taps.insert(int(rng.integers(0, len(taps) + 1)), (int(rng.integers(-128, 128)), 1))
    return taps


def stimulus(wins, rng=None):
    taps = {k: [] for k in INPUTS}
    for x, mode, lo, hi in wins:
        win = with_pads(rng, x) if rng is not None else [(int(v), 0) for v in x]
        for t, (v, pad) in enumerate(win):
            taps["in_first"].append(int(t == 0))
            taps["in_last"].append(int(t == len(win) - 1))
            taps["in_pad"].append(pad)
            taps["x"].append(v)
            taps["mode"].append(mode)
            taps["act_min"].append(lo)
            taps["act_max"].append(hi)
    return {k: np.array(v, np.int64) for k, v in taps.items()}


class PoolSeq(uvm_sequence):
    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        total = int(ConfigDB().get(None, "", "COUNT"))
        per_batch = 50
        for start in range(0, total, per_batch):
            wins = (directed() if start == 0 else []) + windows(rng, min(per_batch,
                                                                         total - start))
            item = Beats("windows", stimulus(wins, rng))
            await self.start_item(item)
            await self.finish_item(item)


def _s8(v):
    v = int(v) & 0xFF
    return v - 256 if v >= 128 else v


def split_windows(ins):
    """The windows of the accepted taps: in-image values, mode, clamp, the cycle of the last tap
    and where padded taps were (a PAD_BINS name)."""
    wins, cur, pads = [], None, []
    for cyc, first, last, pad, x, mode, lo, hi in ins:
        if first or cur is None:
            cur, pads = [], []
        pads.append(int(pad))
        if not pad:
            cur.append(_s8(x))
        if last:
            where = ("none" if not any(pads) else "first" if pads[0] else "last" if pads[-1]
                     else "inside")
            wins.append({"x": np.array(cur, np.int64), "mode": int(mode), "lo": _s8(lo),
                         "hi": _s8(hi), "last_cycle": cyc, "pads": where})
            cur = None
    return wins


def expected(w):
    x = w["x"].reshape(1, 1, -1, 1).astype(np.int8)
    n = len(w["x"])
    f = tfl.max_pool if w["mode"] == 0 else tfl.avg_pool
    return int(f(x, (1, n), (1, n), "VALID", w["lo"], w["hi"]).ravel()[0])


class PoolScoreboard(ScoreboardBase):
    def check_phase(self):
        wins = split_windows(self.ins)
        if not wins:
            self.errors.append("no complete window was applied")
            return
        if len(self.outs) != len(wins):
            self.errors.append(f"{len(wins)} windows applied, {len(self.outs)} results seen")
        bad = 0
        for j, (w, (cyc, y)) in enumerate(zip(wins, self.outs, strict=False)):
            lat = cyc - w["last_cycle"]
            if lat != LATENCY_SEEN[w["mode"]]:
                self.errors.append(f"window {j}: result after {lat} cycles")
            want = expected(w)
            if y != want:
                bad += 1
                if bad <= 5:
                    self.errors.append(
                        f"window {j} ({MODES[w['mode']]}, n={len(w['x'])}, "
                        f"x={w['x'][:12].tolist()}, clamp [{w['lo']}, {w['hi']}]): RTL {y}, "
                        f"model {want}")
            self.checked += 1
        if bad > 5:
            self.errors.append(f"... {bad - 5} more windows differ")


class PoolCoverage(uvm_subscriber):
    """Bins: mode x window length, clamp (none / low / high) x mode, rounding of the average
    (exact, ties of both signs, other), mode x where padded taps were (none, first, inside,
    last). Goal: every bin hit."""

    def build_phase(self):
        self.names = ["pool.mode", "pool.len", "pool.mode_x_len", "pool.clamp",
                      "pool.mode_x_clamp", "pool.round", "pool.pad", "pool.mode_x_pad"]

        @CoverPoint("pool.mode", xf=lambda m, n, c, p: m, bins=MODES)
        @CoverPoint("pool.len", xf=lambda m, n, c, p: n, bins=LEN_BINS)
        @CoverPoint("pool.clamp", xf=lambda m, n, c, p: c, bins=CLAMP_BINS)
        @CoverPoint("pool.pad", xf=lambda m, n, c, p: p, bins=PAD_BINS)
        @CoverCross("pool.mode_x_len", items=["pool.mode", "pool.len"])
        @CoverCross("pool.mode_x_clamp", items=["pool.mode", "pool.clamp"])
        @CoverCross("pool.mode_x_pad", items=["pool.mode", "pool.pad"])
        def sample(m, n, c, p):
            pass

        @CoverPoint("pool.round", xf=lambda r: r, bins=ROUND_BINS)
        def sample_round(r):
            pass

        self.sample, self.sample_round = sample, sample_round
        self.partial = []

    def write(self, obs):
        ins, _ = obs
        allin = self.partial + list(ins)
        wins = split_windows(allin)
        last_idx = max((i for i, t in enumerate(allin) if t[2]), default=-1)
        self.partial = allin[last_idx + 1 :]
        for w in wins:
            x = w["x"]
            n = len(x)
            raw = int(x.max()) if w["mode"] == 0 else None
            if w["mode"] == 1:
                acc = int(x.sum())
                raw = int(tfl.avg_pool(x.reshape(1, 1, -1, 1).astype(np.int8), (1, n), (1, n),
                                       "VALID").ravel()[0])
                if acc % n == 0:
                    rb = "exact"
                elif n % 2 == 0 and abs(acc) % n == n // 2:
                    rb = "tie_pos" if acc > 0 else "tie_neg"
                else:
                    rb = "other"
                self.sample_round(rb)
            c = "low" if raw < w["lo"] else "high" if raw > w["hi"] else "none"
            self.sample(MODES[w["mode"]], LEN_BINS[len_bin(n)], c, w["pads"])

    def check_phase(self):
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names, self.holes)


class PoolTest(uvm_test):
    """The directed windows and APPROXNN_COUNT random windows (default 300)."""

    idle = 0.1

    def build_phase(self):
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        ConfigDB().set(None, "*", "SEED", seed)
        ConfigDB().set(None, "*", "COUNT", int(os.environ.get("APPROXNN_COUNT", "300")))
        ConfigDB().set(None, "*", "SCOREBOARD", PoolScoreboard)
        ConfigDB().set(None, "*", "COVERAGE", PoolCoverage)
        self.bfm = PipeBfm(cocotb.top, INPUTS, OUTPUTS, signed_out=["y"], ready="in_ready",
                           idle=float(os.environ.get("APPROXNN_IDLE", self.idle)), seed=seed,
                           drain=30)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        self.env = PipeEnv("env", self)

    def end_of_elaboration_phase(self):
        self.seq = PoolSeq("seq")

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.reset()
        await self.seq.start(self.env.seqr)
        await self.bfm.idle_event.wait()
        await RisingEdge(cocotb.top.clk)
        self.drop_objection()

    def final_phase(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")
