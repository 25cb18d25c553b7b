"""pyuvm environment of the Hybrid-Float6 MAC array (cores/cnn/hf6mac).

Stimulus: *sums* (dot products) of random length (one tap, short, long), each tap a float32
activation broadcast to the lanes and one HF6 weight code per lane, the first tap also one HF6
bias code per lane. Activations are drawn from constrained classes - signed zeros, float32
subnormals, tiny normals (products shifted out of Q.23), ordinary magnitudes, large magnitudes
(products shifted left past bit 63: wrap, or zero beyond 64 places) - and the weight codes
uniformly plus the extremes (0, the subnormal 2**-7, +-384). Directed sums add a rounding carry
of the float32 conversion (acc = 2**25 - 1), a tie kept by round-to-even (acc = 2**25 - 3),
an exact cancellation to zero and INT64_MIN.
Taps are driven with random idle cycles (the array has no back-pressure).

The scoreboard rebuilds the sums from the accepted taps and takes the expected accumulators and
float32 results from the golden model ``refmodels.cnn.minifloat`` (``hf6_product_fixed``,
``hf6_bias_fixed``, ``fixed_to_float32``; ``hf6_dot`` for the float32 result as well); it also
checks that every result leaves a fixed latency after its last tap (8 cycles).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_sequence, uvm_subscriber, uvm_test

from cores.common import manifest
from refmodels.cnn import minifloat as mf
from verif.cnn.pipe import Beats, PipeBfm, PipeEnv, ScoreboardBase, coverage_holes, log_coverage
from verif.common.settings import setting

INPUTS = ("in_first", "in_last", "a", "w", "b")
OUTPUTS = ("out_acc", "out_y")
# cycles between the BFM's record of the last tap and its record of the result: the RTL's
# LATENCY (8, out_valid in the 8th cycle after the accepting edge: cores/cnn/hf6mac/manifest.toml)
# + 1, as the BFM samples the outputs after the clock edge that ends the output cycle
LATENCY = manifest.load("cnn", "hf6mac").latency["result"] + 1

A_BINS = ["zero", "subnormal", "tiny", "normal", "large"]
SHIFT_BINS = ["right_to_zero", "right", "left", "left_wrap", "left_64"]
LEN_BINS = ["one", "short", "long"]
Y_BINS = ["zero", "pos", "neg", "inexact", "tie_to_even_down", "round_carry"]
MASK64 = (1 << 64) - 1


def config_from_env():
    # absent: the manifest's default (cores/cnn/hf6mac/manifest.toml)
    default = manifest.load("cnn", "hf6mac").default_settings()["APPROXNN_HF6_LANES"]
    return int(setting("APPROXNN_HF6_LANES", default))


def f32_bits(x):
    return np.asarray(x, np.float32).view(np.uint32).astype(np.int64)


def bits_f32(b):
    return np.asarray(b, np.int64).astype(np.uint32).view(np.float32)


def pack6(codes):
    v = 0
    for i, c in enumerate(codes):
        v |= (int(c) & 0x3F) << (6 * i)
    return v


def unpack(word, lanes, bits):
    return [(int(word) >> (bits * i)) & ((1 << bits) - 1) for i in range(lanes)]


# ---------------------------------------------------------------------------------------------
# stimulus


def activation_bits(rng, n):
    """float32 bit patterns of ``n`` activations from the classes of A_BINS."""
    cls = rng.choice(5, n, p=[0.08, 0.1, 0.1, 0.57, 0.15])
    sign = rng.integers(0, 2, n) << 31
    frac = rng.integers(0, 1 << 23, n)
    exp = np.select([cls == 0, cls == 1, cls == 2, cls == 3],
                    [0, 0, rng.integers(1, 100, n), rng.integers(110, 145, n)],
                    default=rng.integers(145, 255, n))
    frac = np.where(cls == 0, 0, np.where(cls == 1, np.maximum(frac, 1), frac))
    return sign | (exp << 23) | frac


def weight_codes(rng, n):
    corners = np.array([0, 1, 33, 62, 63, 31, 14, 46])
    return np.where(rng.random(n) < 0.8, rng.integers(0, 64, n), corners[rng.integers(0, 8, n)])


def directed_sums(lanes):
    """(a bits per tap, weight codes K x lanes, bias codes) of the corner sums."""
    out = []
    # rounding carry: (2 - 2**-22) * 2 + 3 * 2**-23 * 1 = 4 - 2**-23: acc = 2**25 - 1
    a = f32_bits([np.float32(2.0 - 2.0**-22), np.float32(3 * 2.0**-23)])
    out.append((a, np.array([[16] * lanes, [14] * lanes]), np.zeros(lanes, np.int64)))
    # tie to even: (2 - 2**-22) * 2 + 2**-23 * 1: acc = 2**25 - 3, halfway between two float32
    # values, the even one below
    a = f32_bits([np.float32(2.0 - 2.0**-22), np.float32(2.0**-23)])
    out.append((a, np.array([[16] * lanes, [14] * lanes]), np.zeros(lanes, np.int64)))
    # exact cancellation: x * w + (-x) * w + bias 0 = 0
    a = f32_bits([np.float32(1.625), np.float32(-1.625)])
    out.append((a, np.array([[21] * lanes, [21] * lanes]), np.zeros(lanes, np.int64)))
    # INT64_MIN: 2**63 in Q.23 is 2**40; -2**39 * 2 = -2**40 (w = 2: code 0b1_1000_0 negative)
    a = f32_bits([np.float32(2.0**39)])
    out.append((a, np.array([[48] * lanes]), np.zeros(lanes, np.int64)))
    # biggest magnitudes: largest float32 times 384 (shifted out), bias -384
    a = f32_bits([np.float32(3.4028235e38), np.float32(-3.4028235e38)])
    out.append((a, np.array([[31] * lanes, [63] * lanes]), np.full(lanes, 63, np.int64)))
    return out


def hf6_stimulus(rng, lanes, sums, directed=()):
    taps = {k: [] for k in INPUTS}

    def add(a, w, b):
        for t in range(len(a)):
            taps["in_first"].append(int(t == 0))
            taps["in_last"].append(int(t == len(a) - 1))
            taps["a"].append(int(a[t]))
            taps["w"].append(pack6(w[t]))
            taps["b"].append(pack6(b) if t == 0 else int(rng.integers(0, 1 << 30)) &
                             ((1 << (6 * lanes)) - 1))  # bias is ignored after the first tap
    for a, w, b in directed:
        add(a, w, b)
    for _ in range(sums):
        r = rng.random()
        k = 1 if r < 0.15 else int(rng.integers(2, 9)) if r < 0.75 else int(rng.integers(9, 80))
        add(activation_bits(rng, k), weight_codes(rng, k * lanes).reshape(k, lanes),
            weight_codes(rng, lanes))
    return {k: np.array(v, dtype=object) for k, v in taps.items()}


class Hf6Seq(uvm_sequence):
    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        lanes = ConfigDB().get(None, "", "LANES")
        total = int(ConfigDB().get(None, "", "COUNT"))
        per_batch = 64
        for start in range(0, total, per_batch):
            stim = hf6_stimulus(rng, lanes, min(per_batch, total - start),
                                directed_sums(lanes) if start == 0 else ())
            item = Beats("sums", stim)
            await self.start_item(item)
            await self.finish_item(item)


# ---------------------------------------------------------------------------------------------
# sums, golden model, scoreboard, coverage


def split_sums(ins, lanes):
    """Accepted taps (cycle, first, last, a, w, b) -> sums: a bits (K,), w codes (K, lanes),
    bias codes (lanes,), cycle of the last tap."""
    sums, cur = [], None
    for cyc, first, last, a, w, b in ins:
        if first or cur is None:
            cur = {"a": [], "w": [], "b": np.array(unpack(b, lanes, 6), np.int64)}
        cur["a"].append(int(a))
        cur["w"].append(unpack(w, lanes, 6))
        if last:
            cur["a"] = np.array(cur["a"], np.int64)
            cur["w"] = np.array(cur["w"], np.int64)
            cur["last_cycle"] = cyc
            sums.append(cur)
            cur = None
    return sums


def expected(s):
    """Golden (accumulators int64 per lane, float32 results per lane) of one sum."""
    a = bits_f32(s["a"])
    with np.errstate(over="ignore"):
        prods = mf.hf6_product_fixed(a[:, None], s["w"])  # (K, lanes) int64
        acc = (mf.hf6_bias_fixed(s["b"]) + prods.sum(axis=0, dtype=np.int64)).astype(np.int64)
    y = mf.fixed_to_float32(acc)
    return acc, y, prods


class Hf6Scoreboard(ScoreboardBase):
    def check_phase(self):
        lanes = ConfigDB().get(None, "", "LANES")
        sums = split_sums(self.ins, lanes)
        self.sums = sums
        if not sums:
            self.errors.append("no complete sum was applied")
            return
        if len(self.outs) != len(sums):
            self.errors.append(f"{len(sums)} sums applied, {len(self.outs)} results seen")
        bad = 0
        for j, (s, (cyc, acc_w, y_w)) in enumerate(zip(sums, self.outs, strict=False)):
            if cyc - s["last_cycle"] != LATENCY:
                self.errors.append(f"sum {j}: result after {cyc - s['last_cycle']} cycles, "
                                   f"not {LATENCY}")
            acc, y, _ = expected(s)
            got_acc = np.array(unpack(acc_w, lanes, 64), np.uint64).view(np.int64)
            got_y = np.array(unpack(y_w, lanes, 32), np.int64)
            want_y = f32_bits(y)
            # hf6_dot (the golden model's dot product) must give the same float32 results
            dot = f32_bits(mf.hf6_dot(bits_f32(s["a"])[None, :], s["w"], s["b"])[0])
            if not np.array_equal(dot, want_y):
                self.errors.append(f"sum {j}: hf6_dot and the bit-level model disagree")
            if not (np.array_equal(got_acc, acc) and np.array_equal(got_y, want_y)):
                bad += 1
                if bad <= 5:
                    i = int(np.flatnonzero((got_acc != acc) | (got_y != want_y))[0])
                    self.errors.append(
                        f"sum {j} lane {i} (K={len(s['a'])}, a={[hex(v) for v in s['a'][:8]]}, "
                        f"w={s['w'][:8, i].tolist()}, b={s['b'][i]}): RTL acc {got_acc[i]} "
                        f"y 0x{got_y[i]:08x}, model acc {acc[i]} y 0x{want_y[i]:08x}")
            self.checked += lanes
        if bad > 5:
            self.errors.append(f"... {bad - 5} more sums differ")


def a_class(bits):
    e = (bits >> 23) & 0xFF
    f = bits & 0x7FFFFF
    return np.select([(e == 0) & (f == 0), e == 0, e < 100, e < 145], [0, 1, 2, 3], default=4)


def shift_class(a_bits, w):
    """Shift region of every product with a non-zero significand product."""
    ea = np.maximum((a_bits >> 23) & 0xFF, 1)
    ew = np.maximum((w >> 1) & 0xF, 1)
    sh = ea + ew - 135  # 150 + 8 - FRAC_BITS
    return np.select([sh <= -26, sh < 0, sh <= 38, sh < 64], [0, 1, 2, 3], default=4)


def y_class(acc, y_bits):
    """zero / pos / neg, inexact (the float32 result rounds), tie_to_even_down (halfway, kept
    because the significand is even), round_carry (rounding overflows the 24-bit
    significand)."""
    out = set()
    mag = np.where(acc < 0, -acc.astype(object), acc.astype(object))
    for m, yb in zip(mag.tolist(), y_bits.tolist(), strict=True):
        m = int(m) & MASK64
        out.add("zero" if m == 0 else "neg" if yb >> 31 else "pos")
        bl = m.bit_length()
        if bl > 24:
            r = bl - 24
            if m & ((1 << r) - 1):
                out.add("inexact")
            q = m >> r
            rem = m & ((1 << r) - 1)
            half = 1 << (r - 1)
            if q == (1 << 24) - 1 and (rem > half or (rem == half and q & 1)):
                out.add("round_carry")
            if rem == half and not q & 1:
                out.add("tie_to_even_down")
    return out


class Hf6Coverage(uvm_subscriber):
    """Bins: activation class (A_BINS) x weight exponent field (0..15), product sign, product
    shift region (SHIFT_BINS), sum length, result class (Y_BINS). Goal: every bin hit."""

    def build_phase(self):
        self.lanes = ConfigDB().get(None, "", "LANES")
        self.names = ["hf6.a", "hf6.we", "hf6.a_x_we", "hf6.sign", "hf6.shift", "hf6.len",
                      "hf6.y"]

        @CoverPoint("hf6.a", xf=lambda a, e: a, bins=A_BINS)
        @CoverPoint("hf6.we", xf=lambda a, e: e, bins=list(range(16)))
        @CoverCross("hf6.a_x_we", items=["hf6.a", "hf6.we"])
        def sample_tap(a, e):
            pass

        @CoverPoint("hf6.sign", xf=lambda s: s, bins=["pos", "neg"])
        def sample_sign(s):
            pass

        @CoverPoint("hf6.shift", xf=lambda s: s, bins=SHIFT_BINS)
        def sample_shift(s):
            pass

        @CoverPoint("hf6.len", xf=lambda s: s, bins=LEN_BINS)
        def sample_len(s):
            pass

        @CoverPoint("hf6.y", xf=lambda s: s, bins=Y_BINS)
        def sample_y(s):
            pass

        self.sample_tap, self.sample_sign, self.sample_shift = sample_tap, sample_sign, \
            sample_shift
        self.sample_len, self.sample_y = sample_len, sample_y
        self.partial = []

    def write(self, obs):
        ins, _ = obs
        allin = self.partial + list(ins)
        sums = split_sums(allin, self.lanes)
        last_idx = max((i for i, t in enumerate(allin) if t[2]), default=-1)
        self.partial = allin[last_idx + 1 :]
        taps, shifts, signs, ys, lens = set(), set(), set(), set(), set()
        for s in sums:
            k = len(s["a"])
            lens.add("one" if k == 1 else "short" if k <= 8 else "long")
            ac = a_class(s["a"])
            we = (s["w"] >> 1) & 0xF
            for i in range(self.lanes):
                taps.update(zip(ac.tolist(), we[:, i].tolist(), strict=True))
            nz = (((s["a"] >> 23) & 0xFF) | (s["a"] & 0x7FFFFF))[:, None] != 0
            nz = nz & ((s["w"] & 0x1F) != 0)
            sc = shift_class(s["a"][:, None], s["w"])
            shifts.update(sc[nz].tolist())
            neg = ((s["a"][:, None] >> 31) ^ (s["w"] >> 5)) & 1
            signs.update(neg[nz].tolist())
            acc, y, _ = expected(s)
            ys |= y_class(acc, f32_bits(y))
        for a, e in taps:
            self.sample_tap(A_BINS[a], e)
        for sc in shifts:
            self.sample_shift(SHIFT_BINS[sc])
        for sg in signs:
            self.sample_sign("neg" if sg else "pos")
        for ln in lens:
            self.sample_len(ln)
        for yc in ys:
            self.sample_y(yc)

    def check_phase(self):
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names, self.holes)


class Hf6MacTest(uvm_test):
    """The directed sums and APPROXNN_COUNT random sums (default 300), random idle cycles."""

    idle = 0.1

    def build_phase(self):
        lanes = config_from_env()
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        ConfigDB().set(None, "*", "SEED", seed)
        ConfigDB().set(None, "*", "COUNT", int(os.environ.get("APPROXNN_COUNT", "300")))
        ConfigDB().set(None, "*", "LANES", lanes)
        ConfigDB().set(None, "*", "SCOREBOARD", Hf6Scoreboard)
        ConfigDB().set(None, "*", "COVERAGE", Hf6Coverage)
        self.bfm = PipeBfm(cocotb.top, INPUTS, OUTPUTS, ready=None,
                           idle=float(os.environ.get("APPROXNN_IDLE", self.idle)), seed=seed,
                           drain=LATENCY + 6)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        self.env = PipeEnv("env", self)

    def end_of_elaboration_phase(self):
        self.seq = Hf6Seq("seq")

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
