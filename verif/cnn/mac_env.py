"""pyuvm environment of the MAC array (cores/cnn/mac).

Stimulus: *sums* (dot products) of random length - a single tap, shorter than the lane count
(the output bank is still draining: the array must stall the last tap), medium and long - made
of taps with constrained-random int8 inputs and weights (uniform, extremes -128 / 127 / 0 / +-1,
and sums of only extreme values for the largest accumulators), padded taps, and a random input
zero point per sum. Taps are driven with random idle cycles; the array's ``in_ready`` is
honoured. The scoreboard rebuilds the sums from the observed taps and takes every expected
accumulator from the golden model: ``refmodels.cnn.tflite.fully_connected_acc`` (exact int8
path) or ``refmodels.cnn.approx.fully_connected_acc`` through the unit's lookup table, over the
taps that are not padded (padded taps contribute nothing, as in a convolution at the border).

Configuration: APPROXNN_MAC_LANES and APPROXNN_MAC_MUL (plusargs or environment) name the
generated array.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_sequence, uvm_subscriber, uvm_test

from cores.common import manifest
from refmodels.cnn import approx as apx
from refmodels.cnn import tflite as tfl
from verif.cnn.pipe import (
    Beats,
    PipeBfm,
    PipeEnv,
    ScoreboardBase,
    coverage_holes,
    log_coverage,
)
from verif.common.coverage import verdict_point
from verif.common.settings import setting

#: the scoreboard's verdict (scoreboard_sensitivity: its mismatch bin, the planted fault's)
sample_verdict = verdict_point("mac.sb.verdict")

INPUTS = ("in_first", "in_last", "in_pad", "x", "w", "in_zp")
OUTPUTS = ("out_lane", "out_last", "out_acc")
# cycles from the accepted last tap to lane 0 at the output as this BFM counts them: one
# less than the core's figure (cores/cnn/mac/manifest.toml)
LATENCY_FIRST = manifest.load("cnn", "mac").latency["first_lane"] - 1

LEN_BINS = ["one", "shorter_than_lanes", "medium", "long"]
VAL_BINS = ["min", "max", "zero", "one", "minus_one", "neg", "pos"]
ZP_BINS = ["min", "max", "zero", "neg", "pos"]
SIGN_BINS = ["neg", "pos"]  # zero results occur too, but not for every unit: not a goal


#: the build's settings when absent: the manifest's defaults (cores/cnn/mac/manifest.toml)
DEFAULTS = manifest.load("cnn", "mac").default_settings()


def config_from_env():
    lanes = int(setting("APPROXNN_MAC_LANES", DEFAULTS["APPROXNN_MAC_LANES"]))
    mul = setting("APPROXNN_MAC_MUL", DEFAULTS["APPROXNN_MAC_MUL"])
    return lanes, mul


def golden_mul(mul):
    """None for the exact TFLite path, else the golden model's ApproxMul of the unit."""
    return None if mul == "int8" else apx.ApproxMul.from_unit(mul)


def pack(wrow):
    """Lane weights (int8 values) -> the ``w`` port word (lane i in bits 8i+7..8i)."""
    v = 0
    for i, x in enumerate(wrow):
        v |= (int(x) & 0xFF) << (8 * i)
    return v


def unpack(word, lanes):
    b = np.array([(int(word) >> (8 * i)) & 0xFF for i in range(lanes)], np.int64)
    return np.where(b >= 128, b - 256, b)


# ---------------------------------------------------------------------------------------------
# stimulus


def _values(rng, n, extreme):
    """int8 values: uniform, extremes, or (extreme=True) only -128 / 127."""
    if extreme:
        return rng.choice(np.array([-128, 127]), n)
    corners = np.array([-128, 127, 0, 1, -1, -127])
    pick = rng.random(n)
    return np.where(pick < 0.6, rng.integers(-128, 128, n), corners[rng.integers(0, 6, n)])


def mac_stimulus(rng, lanes, sums):
    """Taps of ``sums`` dot products: dict of per-tap arrays (``w`` as packed Python ints)."""
    taps = {k: [] for k in INPUTS}
    for s in range(sums):
        kind = rng.random()
        if kind < 0.1:
            k = 1
        elif kind < 0.3:
            k = int(rng.integers(1, max(2, lanes)))
        elif kind < 0.9:
            k = int(rng.integers(lanes, 4 * lanes + 2))
        else:
            k = int(rng.integers(40, 80))
        extreme = s % 17 == 5
        x = _values(rng, k, extreme)
        w = _values(rng, k * lanes, extreme).reshape(k, lanes)
        pad = rng.random(k) < (0.0 if rng.random() < 0.4 else 0.25)
        pad[rng.integers(0, k)] = False  # at least one tap inside the image
        zp = int(rng.choice([-128, 127, 0])) if rng.random() < 0.2 else int(rng.integers(-128, 128))
        for t in range(k):
            taps["in_first"].append(int(t == 0))
            taps["in_last"].append(int(t == k - 1))
            taps["in_pad"].append(int(pad[t]))
            taps["x"].append(int(x[t]))
            taps["w"].append(pack(w[t]))
            taps["in_zp"].append(zp)
    return {k: np.array(v, dtype=object if k == "w" else np.int64) for k, v in taps.items()}


class MacSeq(uvm_sequence):
    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        lanes = ConfigDB().get(None, "", "LANES")
        total = int(ConfigDB().get(None, "", "COUNT"))
        per_batch = 64
        for start in range(0, total, per_batch):
            stim = mac_stimulus(rng, lanes, min(per_batch, total - start))
            item = Beats("sums", stim)
            await self.start_item(item)
            await self.finish_item(item)


# ---------------------------------------------------------------------------------------------
# sums, golden model, scoreboard, coverage


def split_sums(ins, lanes):
    """Accepted taps (cycle, first, last, pad, x, w, zp) -> list of sums, each a dict with
    x, w (K x lanes), pad, zp (per tap) and the cycle of its last tap."""
    sums, cur = [], None
    for cyc, first, last, pad, x, w, zp in ins:
        x = x - 256 if x >= 128 else x
        zp = zp - 256 if zp >= 128 else zp
        if first or cur is None:
            cur = {"x": [], "w": [], "pad": [], "zp": []}
        cur["x"].append(x)
        cur["w"].append(unpack(w, lanes))
        cur["pad"].append(bool(pad))
        cur["zp"].append(zp)
        if last:
            cur["last_cycle"] = cyc
            cur = {k: np.array(v) if k != "last_cycle" else v for k, v in cur.items()}
            sums.append(cur)
            cur = None
    return sums


def expected_acc(s, mul):
    """Golden accumulators (one per lane) of a sum over its in-image taps."""
    keep = ~s["pad"]
    x = s["x"][keep][None, :]
    w = s["w"][keep].T
    zp = int(s["zp"][0])
    if mul is None:
        return tfl.fully_connected_acc(x, w, zp)[0]
    return apx.fully_connected_acc(x, w, zp, mul)[0]


class MacScoreboard(ScoreboardBase):
    def check_phase(self):
        lanes = ConfigDB().get(None, "", "LANES")
        mul = ConfigDB().get(None, "", "GOLDEN_MUL")
        sums = split_sums(self.ins, lanes)
        outs = np.array(self.outs, dtype=np.int64).reshape(-1, 4)
        self.sums = sums
        if not sums:
            self.errors.append("no complete sum was applied")
            return
        if len(outs) != len(sums) * lanes:
            self.errors.append(f"{len(sums)} sums x {lanes} lanes expected, "
                               f"{len(outs)} results seen")
        n = min(len(sums), len(outs) // lanes)
        bad = 0
        for j in range(n):
            grp = outs[j * lanes : (j + 1) * lanes]
            if not np.array_equal(grp[:, 1], np.arange(lanes) % (1 << max(1, (lanes - 1)
                                                                           .bit_length()))):
                self.errors.append(f"sum {j}: lanes came in order {grp[:, 1].tolist()}")
            if grp[-1, 2] != 1 or grp[:-1, 2].any():
                self.errors.append(f"sum {j}: out_last not on the last lane only")
            if not np.array_equal(grp[:, 0], grp[0, 0] + np.arange(lanes)):
                self.errors.append(f"sum {j}: lanes not on consecutive cycles")
            lat = grp[0, 0] - sums[j]["last_cycle"]
            if lat != LATENCY_FIRST:
                self.errors.append(f"sum {j}: lane 0 after {lat} cycles, not {LATENCY_FIRST}")
            want = expected_acc(sums[j], mul)
            got = grp[:, 3]
            if not np.array_equal(want, got):
                bad += 1
                if bad <= 5:
                    i = int(np.flatnonzero(want != got)[0])
                    s = sums[j]
                    self.errors.append(
                        f"sum {j} lane {i} (K={len(s['x'])}, zp={s['zp'][0]}, "
                        f"x={s['x'].tolist()}, w={s['w'][:, i].tolist()}, "
                        f"pad={s['pad'].astype(int).tolist()}): RTL {got[i]}, model {want[i]}"
                    )
            self.checked += lanes
        if bad > 5:
            self.errors.append(f"... {bad - 5} more sums differ")
        sample_verdict(bad > 0)


def _val_class(v):
    return np.select([v == -128, v == 127, v == 0, v == 1, v == -1, v < 0],
                     [0, 1, 2, 3, 4, 5], default=6)


class MacCoverage(uvm_subscriber):
    """Bins: sum length (one tap, shorter than the lane count, medium, long); input and weight
    value classes and their cross; input zero point class; padded taps present or not;
    negative and positive results; an output-bank stall (lanes > 1); for approximate units,
    products that differ from the exact product of the same operand mapping and products that
    do not. Goal: every bin hit."""

    def build_phase(self):
        self.lanes = ConfigDB().get(None, "", "LANES")
        self.mul = ConfigDB().get(None, "", "GOLDEN_MUL")
        self.names = ["mac.len", "mac.x", "mac.w", "mac.x_x_w", "mac.zp", "mac.pad",
                      "mac.sign"]
        lanes = self.lanes
        len_bins = LEN_BINS if lanes > 2 else [b for b in LEN_BINS if b != "shorter_than_lanes"]

        @CoverPoint("mac.len", xf=lambda k, z, p: k, bins=len_bins)
        @CoverPoint("mac.zp", xf=lambda k, z, p: z, bins=ZP_BINS)
        @CoverPoint("mac.pad", xf=lambda k, z, p: p, bins=["none", "some"])
        def sample_sum(k, z, p):
            pass

        @CoverPoint("mac.x", xf=lambda a, b: a, bins=VAL_BINS)
        @CoverPoint("mac.w", xf=lambda a, b: b, bins=VAL_BINS)
        @CoverCross("mac.x_x_w", items=["mac.x", "mac.w"])
        def sample_tap(a, b):
            pass

        @CoverPoint("mac.sign", xf=lambda s: s, bins=SIGN_BINS)
        def sample_sign(s):
            pass

        @CoverPoint("mac.stall", xf=lambda s: s, bins=["stalled"])
        def sample_stall(s):
            pass

        @CoverPoint("mac.product", xf=lambda s: s, bins=["exact", "approximate"])
        def sample_product(s):
            pass

        self.sample_sum, self.sample_tap, self.sample_sign = sample_sum, sample_tap, sample_sign
        self.sample_stall, self.sample_product = sample_stall, sample_product
        if lanes > 1:
            self.names.append("mac.stall")
        self.exact_mul = None
        if self.mul is not None:
            self.exact_mul = apx.ApproxMul.exact(self.mul.signed)
            # a unit that is exact (e.g. ``exact``) has no approximate products to cover
            if not np.array_equal(self.mul.table, self.exact_mul.table):
                self.names.append("mac.product")
        self.partial = []

    def write(self, obs):
        ins, outs = obs
        lanes = self.lanes
        sums = split_sums(self.partial + list(ins), lanes)
        # keep taps of a sum that is not complete yet
        last_idx = max((i for i, t in enumerate(self.partial + list(ins)) if t[2]), default=-1)
        self.partial = (self.partial + list(ins))[last_idx + 1 :]
        keys = set()
        taps = set()
        for s in sums:
            k = len(s["x"])
            kb = 0 if k == 1 else 1 if k < lanes else 2 if k < 40 else 3
            if lanes <= 2 and kb == 1:
                kb = 2
            z = s["zp"][0]
            zb = 0 if z == -128 else 1 if z == 127 else 2 if z == 0 else 3 if z < 0 else 4
            keys.add((LEN_BINS[kb], ZP_BINS[zb], "some" if s["pad"].any() else "none"))
            xc = _val_class(s["x"])
            wc = _val_class(s["w"])
            for i in range(lanes):
                taps.update(zip(xc.tolist(), wc[:, i].tolist(), strict=True))
            if self.mul is not None:
                w = s["w"][~s["pad"]]
                x = np.broadcast_to(s["x"][~s["pad"]][:, None], w.shape)
                diff = self.mul.products(w, x) != self.exact_mul.products(w, x)
                for d in np.unique(diff).tolist():
                    self.sample_product("approximate" if d else "exact")
        for key in keys:
            self.sample_sum(*key)
        for a, b in taps:
            self.sample_tap(VAL_BINS[a], VAL_BINS[b])
        if outs:
            acc = np.array(outs, dtype=np.int64)[:, 3]
            for sgn in np.unique(np.sign(acc)).tolist():
                if sgn:
                    self.sample_sign(SIGN_BINS[(sgn + 1) // 2])
        bfm = ConfigDB().get(None, "", "BFM")
        if bfm.stalls:
            self.sample_stall("stalled")

    def check_phase(self):
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        bfm = ConfigDB().get(None, "", "BFM")
        self.logger.info(f"output-bank stalls of the last tap: {bfm.stalls} cycles")
        log_coverage(self.logger, coverage_db, [*self.names, "mac.sb.verdict"], self.holes)


class MacTest(uvm_test):
    """APPROXNN_COUNT sums (default 300) with random idle cycles on the input."""

    idle = 0.1

    def build_phase(self):
        lanes, mul = config_from_env()
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        ConfigDB().set(None, "*", "SEED", seed)
        ConfigDB().set(None, "*", "COUNT", int(os.environ.get("APPROXNN_COUNT", "300")))
        ConfigDB().set(None, "*", "LANES", lanes)
        ConfigDB().set(None, "*", "GOLDEN_MUL", golden_mul(mul))
        ConfigDB().set(None, "*", "SCOREBOARD", MacScoreboard)
        ConfigDB().set(None, "*", "COVERAGE", MacCoverage)
        self.bfm = PipeBfm(cocotb.top, INPUTS, OUTPUTS, signed_out=["out_acc"],
                           ready="in_ready",
                           idle=float(os.environ.get("APPROXNN_IDLE", self.idle)), seed=seed,
                           drain=lanes + 12)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        self.env = PipeEnv("env", self)

    def end_of_elaboration_phase(self):
        self.seq = MacSeq("seq")

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
