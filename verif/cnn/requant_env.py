"""pyuvm environment of the TFLite requantisation unit (cores/cnn/requant).

Stimulus: constrained-random values plus directed corners of the double-rounding
MultiplyByQuantizedMultiplier - INT32_MIN x INT32_MIN saturation of the doubling high multiply,
its rounding ties (product = k*2^31 + 2^30, both signs), ties of RoundingDivideByPOT (remainder
exactly half, both signs, and one either side), left shifts that wrap in int32, every shift
-31..+30, multipliers 0 / normal / small / negative / INT32_MIN, outputs below, inside and above
the clamp range. With ``fc`` set the unit rescales with a float64 scale (TFLite's reference
FullyConnected): accumulators of every magnitude against realistic FC scales, scales a few ulps
around the rounding ties of the result (``(k + 1/2) / x``: exact ties of the float64 product and
products its rounding moves onto or off a tie), negative, zero, subnormal and huge scales and the
edges of the unit's exponent window. Expected values come from
:func:`refmodels.cnn.tflite.requantize` only (``scale=`` for the ``fc`` values: the float64
definition, not the unit's integer algorithm).
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_sequence, uvm_subscriber, uvm_test

from cores.common import manifest
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
from verif.common.pipeline import GAP_BINS, in_flight_bins, pipeline_bins

#: cycles from the inputs to the result (cores/cnn/requant/manifest.toml)
LATENCY = manifest.load("cnn", "requant").latency["result"]
BATCH = 4096
INPUTS = ("acc", "bias", "mult", "shift", "fc", "scale_hi", "out_zp", "act_min", "act_max")
WIDTHS = (32, 32, 32, 6, 1, 32, 8, 8, 8)
UNSIGNED = ("fc", "scale_hi")
I32_MIN, I32_MAX = tfl.INT32_MIN, tfl.INT32_MAX

SHIFTS = list(range(-31, 31))
MULT_CLASSES = ["zero", "normal", "small", "negative", "int32_min"]
CORNERS = ["srdhm_saturate", "srdhm_tie_pos", "srdhm_tie_neg", "rdbpot_tie_pos",
           "rdbpot_tie_neg", "rdbpot_near_tie", "left_wrap", "plain"]
CLAMPS = ["below", "inside", "above"]
FC_CLASSES = ["product_tie", "double_rounding", "saturate", "zero_scale", "negative_scale",
              "window_edge", "plain"]
#: the scoreboard's verdict (scoreboard_sensitivity: its mismatch bin, the planted fault's)
sample_verdict = verdict_point("rq.sb.verdict")


# ---------------------------------------------------------------------------------------------
# stimulus


def _split_bias(x, rng):
    """acc + bias = x with both in int32: half the biases small, half anywhere allowed."""
    lo = np.maximum(I32_MIN, x - I32_MAX)
    hi = np.minimum(I32_MAX, x - I32_MIN)
    small = np.clip(rng.integers(-(1 << 16), 1 << 16, x.shape), lo, hi)
    wide = lo + (rng.random(x.shape) * (hi - lo + 1).astype(np.float64)).astype(np.int64)
    wide = np.clip(wide, lo, hi)
    bias = np.where(rng.random(x.shape) < 0.5, small, wide)
    return x - bias, bias


def _magnitude(rng, n, max_bits=31):
    bits = rng.integers(0, max_bits + 1, n)
    mag = rng.integers(0, 1 << 62, n) & ((np.int64(1) << bits) - 1)
    return np.minimum(mag | ((np.int64(1) << bits) >> 1), I32_MAX)


def requant_stimulus(rng, count):
    """Dict of input arrays: directed corners first, then ``count`` constrained-random values."""
    rows = []  # (x, mult, shift) blocks

    def add(x, m, s):
        n = max(np.size(x), np.size(m), np.size(s))
        rows.append(tuple(np.broadcast_to(np.asarray(v, np.int64), (n,)) for v in (x, m, s)))

    # saturation: x << left wraps (or is) INT32_MIN, M = INT32_MIN
    add(I32_MIN, I32_MIN, np.arange(-31, 1))
    left = np.arange(1, 31)
    add(-(np.int64(1) << (31 - left)), I32_MIN, left)
    add(np.int64(1) << (31 - left), I32_MIN, left)  # wraps to INT32_MIN as well
    # doubling-high-multiply ties: M = 2^30 and x odd -> x*M = k*2^31 + 2^30
    odd = rng.integers(-(1 << 30), 1 << 30, 400) * 2 + 1
    add(odd, 1 << 30, rng.integers(-31, 1, 400))
    add([1, -1, I32_MAX, I32_MIN + 1], 1 << 30, 0)
    # RoundingDivideByPOT ties: SRDHM(2q, 2^30) = q, remainder of q / 2^e half (+-1)
    e = rng.integers(1, 31, 600)
    k = rng.integers(-(1 << 29), 1 << 29, 600) >> (e - 1)
    q = k * (np.int64(1) << e) + (np.int64(1) << (e - 1)) + rng.integers(-1, 2, 600)
    q = np.clip(q, -(1 << 30), (1 << 30) - 1)
    add(2 * q, 1 << 30, -e)
    # every shift with a realistic multiplier, multiplier classes, extremes
    for s in SHIFTS + [31]:
        add(rng.integers(I32_MIN, I32_MAX, 40, endpoint=True),
            rng.integers(1 << 30, 1 << 31, 40), s)
    ext = np.array([0, 1, -1, I32_MAX, I32_MIN, 1 << 30, -(1 << 30)])
    for m in (0, 1, (1 << 30), I32_MAX, -1, -(1 << 30), I32_MIN + 1, I32_MIN):
        add(ext, m, 0)
        add(ext, m, -1)
        add(ext, m, 1)
    # constrained random: accumulators of every magnitude, mostly TFLite multipliers
    n = int(count)
    sign = np.where(rng.random(n) < 0.5, -1, 1)
    x = np.where(rng.random(n) < 0.3, rng.integers(I32_MIN, I32_MAX, n, endpoint=True),
                 sign * _magnitude(rng, n))
    mc = rng.random(n)
    m = np.where(mc < 0.85, rng.integers(1 << 30, 1 << 31, n),
                 np.where(mc < 0.9, 0, np.where(mc < 0.95, rng.integers(1, 1 << 30, n),
                                                rng.integers(I32_MIN, 0, n))))
    sc = rng.random(n)
    s = np.where(sc < 0.6, rng.integers(-14, 2, n), rng.integers(-31, 31, n, endpoint=True))
    add(x, m, s)

    x = np.concatenate([r[0] for r in rows])
    mult = np.concatenate([r[1] for r in rows])
    shift = np.concatenate([r[2] for r in rows])
    nfix = len(x)
    # float-scale (fc) values: x, then the scale's words in mult (bits 31:0) and scale_hi
    fx, fs = fc_stimulus(rng, max(2000, int(count) // 4))
    lo_w, hi_w = tfl.scale_words(fs)
    x = np.concatenate([x, fx])
    mult = np.concatenate([mult, np.where(lo_w >= 2**31, lo_w - 2**32, lo_w)])
    shift = np.concatenate([shift, rng.integers(-31, 32, len(fx))])  # ignored with fc
    fc = np.concatenate([np.zeros(nfix, np.int64), np.ones(len(fx), np.int64)])
    # scale_hi is ignored without fc: random words there
    scale_hi = np.concatenate([rng.integers(0, 2**32, nfix), hi_w])
    x = np.clip(x, I32_MIN, I32_MAX)
    acc, bias = _split_bias(x, rng)
    total = len(x)
    zp = rng.integers(-128, 128, total)
    a = rng.integers(-128, 128, (2, total))
    lo, hi = a.min(axis=0), a.max(axis=0)
    full = rng.random(total) < 0.4
    lo = np.where(full, -128, lo)
    hi = np.where(full, 127, hi)
    return {"acc": acc, "bias": bias, "mult": mult, "shift": shift, "fc": fc,
            "scale_hi": scale_hi, "out_zp": zp, "act_min": lo, "act_max": hi}


def _ulps(v, d):
    """``v`` moved by ``d`` float64 ulps (element-wise, |d| <= 3)."""
    for i in range(3):
        v = np.where(d > i, np.nextafter(v, np.inf), v)
        v = np.where(d < -i, np.nextafter(v, 0), v)
    return v


def fc_stimulus(rng, n):
    """(x, scale) pairs of the float-scale mode: random, rounding ties, extremes."""
    q = n // 4
    # realistic FC scales s_in * s_w / s_out and accumulators of every magnitude
    sign = np.where(rng.random(q) < 0.5, -1, 1)
    x1 = sign * _magnitude(rng, q)
    s1 = tfl.fc_scale(rng.uniform(0.004, 0.05), rng.uniform(5e-4, 0.03, q),
                      rng.uniform(0.02, 0.3))
    # ties of the result: scales a few ulps around (k + 1/2) / x
    m = 2 * q
    x2 = np.maximum(rng.integers(1, 2**31, m) >> rng.integers(0, 31, m), 1)
    x2 = np.where(rng.random(m) < 0.5, -x2, x2)
    s2 = _ulps((rng.integers(0, 300, m) + 0.5) / np.abs(x2), rng.integers(-3, 4, m))
    # anything: scales 2^-60 .. 2^12 of either sign
    r = n - 3 * q
    x3 = np.where(rng.random(r) < 0.5, rng.integers(I32_MIN, I32_MAX, r, endpoint=True),
                  np.where(rng.random(r) < 0.5, -1, 1) * _magnitude(rng, r))
    s3 = np.exp2(rng.uniform(-60, 12, r)) * np.where(rng.random(r) < 0.2, -1, 1)
    # extremes: zero / subnormal / huge scales, x in {0, +-1, INT32_MIN, INT32_MAX} and the
    # edges of the exponent window (results around 0.5 and 1024)
    ex_x = np.array([0, 1, -1, 3, -77, I32_MIN, I32_MAX, 1 << 20])
    ex_s = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1e-300, 2.0**-60, 1.0, 1e20,
            1.7976931348623157e308, -1e300]
    for xv in (1, 3, 77, (1 << 20) + 1, I32_MAX):
        for target in (0.25, 0.5, 1023.5, 1024, 1024.5):
            v = target / xv
            ex_s += [v, np.nextafter(v, 0), np.nextafter(v, 1)]
    ex_s = np.array(ex_s)
    x4 = np.repeat(ex_x, len(ex_s))
    s4 = np.tile(ex_s, len(ex_x))
    return (np.concatenate([x1, x2, x3, x4]).astype(np.int64),
            np.concatenate([s1, s2, s3, s4]))


def fc_scale_of(mult, scale_hi):
    """The float64 scale of fc values from their two words (mult signed 32-bit)."""
    bits = (np.asarray(scale_hi, np.int64).astype(np.uint64) << np.uint64(32)) | (
        np.asarray(mult, np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF))
    return bits.view(np.float64)


class RequantSeq(uvm_sequence):
    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        stim = requant_stimulus(rng, ConfigDB().get(None, "", "COUNT"))
        n = len(stim["acc"])
        order = rng.permutation(n)  # corners interleaved with random values
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            item = Beats("batch", {k: v[idx] for k, v in stim.items()})
            await self.start_item(item)
            await self.finish_item(item)


# ---------------------------------------------------------------------------------------------
# golden model, scoreboard and coverage


def golden(ins):
    """Expected int8 outputs of the observed input beats (columns as INPUTS) from
    refmodels.cnn.tflite.requantize, one call per (out_zp, act_min, act_max) group."""
    cols = {k: ins[:, i + 1] for i, k in enumerate(INPUTS)}
    out = np.empty(len(ins), np.int64)
    key = np.stack([cols["out_zp"], cols["act_min"], cols["act_max"]], axis=1)
    groups, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    fc = cols["fc"] == 1
    scale = fc_scale_of(cols["mult"], cols["scale_hi"])
    for g, (zp, lo, hi) in enumerate(groups.tolist()):
        sel = (inv == g) & ~fc
        out[sel] = tfl.requantize(cols["acc"][sel], cols["bias"][sel], cols["mult"][sel],
                                  cols["shift"][sel], zp, lo, hi)
        sel = (inv == g) & fc
        with np.errstate(over="ignore"):  # huge scales: the product is inf, clipped
            out[sel] = tfl.requantize(cols["acc"][sel], cols["bias"][sel], None, None, zp, lo,
                                      hi, scale=scale[sel])
    return out


def _signed(codes, bits):
    c = np.asarray(codes, np.int64) & ((1 << bits) - 1)
    return np.where(c >= (1 << (bits - 1)), c - (1 << bits), c)


def decode_inputs(ins):
    """Input log (cycle, codes...) -> int64 array of (cycle, signed values...)."""
    a = np.array(ins, dtype=np.int64).reshape(-1, len(INPUTS) + 1)
    for i, (name, w) in enumerate(zip(INPUTS, WIDTHS, strict=True)):
        if name not in UNSIGNED:
            a[:, i + 1] = _signed(a[:, i + 1], w)
    return a


class RequantScoreboard(ScoreboardBase):
    def check_phase(self):
        if not self.ins:
            self.errors.append("no value was applied")
            return
        ins = decode_inputs(self.ins)
        outs = np.array(self.outs, dtype=np.int64).reshape(-1, 2)
        if len(outs) != len(ins):
            self.errors.append(f"{len(ins)} values applied but {len(outs)} results seen")
        n = min(len(ins), len(outs))
        lat = outs[:n, 0] - ins[:n, 0]
        if n and not np.all(lat == LATENCY):
            bad = int(np.flatnonzero(lat != LATENCY)[0])
            self.errors.append(f"result {bad} came after {lat[bad]} cycles, expected {LATENCY}")
        want = golden(ins[:n])
        got = outs[:n, 1]
        bad = np.flatnonzero(want != got)
        sample_verdict(bool(len(bad)))
        self.checked = n
        for i in bad[:10]:
            args = ", ".join(f"{k}={ins[i, j + 1]}" for j, k in enumerate(INPUTS))
            self.errors.append(f"requant({args}): RTL y={got[i]}, model y={want[i]}")
        if len(bad) > 10:
            self.errors.append(f"... {len(bad) - 10} more mismatches")


def classify_fc(ins):
    """Set of FC_CLASSES the float-scale beats reach (``ins``: fc beats only): a float64
    product that is an exact tie, one whose rounding to 53 bits changes the result (against
    exact rationals), saturation (|r| >= 1024), zero / subnormal scale, negative scale, results
    at the exponent window's edges (|x * scale| in [0.25, 1) or [512, 2048)), plain."""
    c = {k: ins[:, i + 1] for i, k in enumerate(INPUTS)}
    x = c["acc"] + c["bias"]
    scale = fc_scale_of(c["mult"], c["scale_hi"])
    hit = set()
    with np.errstate(over="ignore", invalid="ignore"):
        prod = np.abs(x * scale)
        r = tfl.multiply_by_scale(x, scale)
        if np.any(prod - np.floor(prod) == 0.5):
            hit.add("product_tie")
    if np.any(np.abs(r) >= 1024):
        hit.add("saturate")
    if np.any(np.abs(scale) < 2.2250738585072014e-308):
        hit.add("zero_scale")
    if np.any(scale < 0):
        hit.add("negative_scale")
    if np.any(((prod >= 0.25) & (prod < 1)) | ((prod >= 512) & (prod < 2048))):
        hit.add("window_edge")
    if np.any((prod >= 1) & (prod < 512)):
        hit.add("plain")
    for i in np.flatnonzero((prod < 2048) & (prod > 0.25))[:3000].tolist():
        f = Fraction(int(x[i])) * Fraction(float(scale[i]))
        exact = math.floor(abs(f) + Fraction(1, 2))
        if exact != abs(int(r[i])):
            hit.add("double_rounding")
            break
    return hit


def classify(ins):
    """Coverage classes (shift, multiplier class, corner list, clamp class) per input beat.

    Intermediate values come from the golden model's own primitives."""
    c = {k: ins[:, i + 1] for i, k in enumerate(INPUTS)}
    x = c["acc"] + c["bias"]
    m, s = c["mult"], c["shift"]
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    xl = tfl._wrap32(x << left)
    ab = xl * m
    q = tfl.saturating_rounding_doubling_high_mul(xl, m)
    r = tfl.multiply_by_quantized_multiplier(x, m, s) + c["out_zp"]
    mask = (np.int64(1) << right) - 1
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), -1)
    rem = q & mask
    corners = {
        "srdhm_saturate": (xl == I32_MIN) & (m == I32_MIN),
        "srdhm_tie_pos": (ab >= 0) & ((ab & (2**31 - 1)) == 2**30),
        "srdhm_tie_neg": (ab < 0) & ((ab & (2**31 - 1)) == 2**30),
        "rdbpot_tie_pos": (right > 0) & (rem == half) & (q >= 0),
        "rdbpot_tie_neg": (right > 0) & (rem == half) & (q < 0),
        "rdbpot_near_tie": (right > 1) & (np.abs(rem - half) == 1),
        "left_wrap": (left > 0) & (xl != (x << left)),
    }
    mcls = np.select([m == 0, m >= (1 << 30), m > 0, m == I32_MIN],
                     [0, 1, 2, 4], default=3)
    clamp = np.select([r < c["act_min"], r > c["act_max"]], [0, 2], default=1)
    return s, mcls, corners, clamp


class RequantCoverage(uvm_subscriber):
    """Bins: every shift -31..30; multiplier class; the arithmetic corners (saturation, both
    rounding ties of both signs, near ties, wrapping left shift); clamp below / inside /
    above, crossed with the shift direction; the float-scale classes (:func:`classify_fc`);
    the pipeline timing (:mod:`verif.common.pipeline`: idle cycles before a value 0 / 1 / 2+,
    values still in flight when it enters 0 .. LATENCY-1). Goal: every bin hit (the timing
    bins when the test has idle cycles). Samples are taken once per distinct combination per
    batch. The scoreboard's verdict (``rq.sb.verdict``) is reported beside them."""

    names = ["rq.shift", "rq.mult", "rq.corner", "rq.clamp", "rq.dir", "rq.dir_x_clamp",
             "rq.fc"]
    pipe_names = ["rq.pipe.gap", "rq.pipe.in_flight"]

    def build_phase(self):
        @CoverPoint("rq.pipe.gap", xf=lambda g: g, bins=list(GAP_BINS))
        def sample_gap(g):
            pass

        @CoverPoint("rq.pipe.in_flight", xf=lambda f: f, bins=in_flight_bins(LATENCY))
        def sample_in_flight(f):
            pass

        self.sample_gap, self.sample_in_flight = sample_gap, sample_in_flight

        @CoverPoint("rq.shift", xf=lambda s, m, d, c: s, bins=SHIFTS)
        @CoverPoint("rq.mult", xf=lambda s, m, d, c: m, bins=MULT_CLASSES)
        @CoverPoint("rq.clamp", xf=lambda s, m, d, c: c, bins=CLAMPS)
        @CoverPoint("rq.dir", xf=lambda s, m, d, c: d, bins=["right", "none", "left"])
        @CoverCross("rq.dir_x_clamp", items=["rq.dir", "rq.clamp"])
        def sample(s, m, d, c):
            pass

        @CoverPoint("rq.corner", xf=lambda name: name, bins=CORNERS)
        def sample_corner(name):
            pass

        @CoverPoint("rq.fc", xf=lambda name: name, bins=FC_CLASSES)
        def sample_fc(name):
            pass

        self.sample = sample
        self.sample_corner = sample_corner
        self.sample_fc = sample_fc

    def write(self, obs):
        ins, outs = obs
        if not ins:
            return
        gaps, inside = pipeline_bins([c for c, *_ in ins], LATENCY)
        for g in sorted(gaps):
            self.sample_gap(g)
        for f in sorted(inside):
            self.sample_in_flight(f)
        ins = decode_inputs(ins)
        fc = ins[:, 1 + INPUTS.index("fc")] == 1
        for name in classify_fc(ins[fc]) if fc.any() else ():
            self.sample_fc(name)
        ins = ins[~fc]
        if not len(ins):
            return
        s, mcls, corners, clamp = classify(ins)
        d = np.sign(s) + 1
        key = np.unique(np.stack([s, mcls, d, clamp], axis=1), axis=0)
        dirs = ("right", "none", "left")
        for sv, mv, dv, cv in key.tolist():
            self.sample(sv, MULT_CLASSES[mv], dirs[dv], CLAMPS[cv])
        any_corner = np.zeros(len(ins), bool)
        for name, hit in corners.items():
            any_corner |= hit
            if hit.any():
                self.sample_corner(name)
        if (~any_corner).any():
            self.sample_corner("plain")

    def check_phase(self):
        timed = ConfigDB().get(None, "", "BFM").idle > 0  # timing goals need idle cycles
        self.holes = coverage_holes(coverage_db, self.names + (self.pipe_names if timed else []))

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names + self.pipe_names + ["rq.sb.verdict"],
                     self.holes)


class RequantTest(uvm_test):
    """Directed corners plus APPROXNN_COUNT constrained-random values, random idle cycles."""

    idle = 0.1

    def build_phase(self):
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        ConfigDB().set(None, "*", "SEED", seed)
        ConfigDB().set(None, "*", "COUNT", int(os.environ.get("APPROXNN_COUNT", "20000")))
        ConfigDB().set(None, "*", "SCOREBOARD", RequantScoreboard)
        ConfigDB().set(None, "*", "COVERAGE", RequantCoverage)
        self.bfm = PipeBfm(cocotb.top, INPUTS, ["y"], signed_out=["y"],
                           idle=float(os.environ.get("APPROXNN_IDLE", self.idle)), seed=seed)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        self.env = PipeEnv("env", self)

    def end_of_elaboration_phase(self):
        self.seq = RequantSeq("seq")

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
