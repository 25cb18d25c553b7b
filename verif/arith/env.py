"""Reusable pyuvm environment for two-operand arithmetic units (multipliers and adders).

The device under test is the registered form of a unit (``<module>_reg``: clk, rst, in_valid,
a, b, out_valid, y; latency 2, one pair per cycle). Its configuration is named by the registry
string in the environment variable ``APPROXNN_UNIT`` and every expected value comes from the
golden model in :mod:`refmodels.arith` - nothing here re-implements arithmetic.

Pieces (one small class each, in the pyuvm TinyALU style):

* :class:`OperandBatch` - sequence item: numpy arrays of operand codes, driven back to back;
* :class:`ExhaustiveSeq`, :class:`RandomSeq` - stimulus (all pairs; constrained-random + corners);
* :class:`ArithBfm` - the only code that touches the DUT: one coroutine per clock drives a new
  pair every cycle (with optional random idle cycles) and samples the outputs, so a whole
  8-bit space streams through in a couple of seconds instead of one Python round trip per pair;
* :class:`Driver`, :class:`Monitor` - move batches between sequencer, BFM and analysis ports;
* :class:`Scoreboard` - compares every output with the golden model bit for bit, checks that
  nothing is lost, duplicated or reordered and that the latency is exact;
* :class:`Coverage` - functional coverage with cocotb-coverage (operand classes, sign cross,
  exact/erroneous result) and a goal checked at the end of the test.
"""

from __future__ import annotations

import json
import os
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import Event, RisingEdge
from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db
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
    uvm_test,
)

from cores.common import manifest
from refmodels.arith import from_code, parse_unit, to_code
from verif.common.coverage import verdict_point
from verif.common.pipeline import GAP_BINS, in_flight_bins, pipeline_bins

#: cycles from operands to result of the registered module (the family's manifest)
LATENCY = manifest.load("arith", "exact").latency["registered"]
BATCH = 4096

# ---------------------------------------------------------------------------------------------
# operand classes (shared by the random sequence and the coverage model)

CLASSES_U = ("zero", "one", "max", "pow2", "other")
CLASSES_S = ("zero", "one", "minus_one", "max", "min", "pow2", "neg_pow2", "pos", "neg")


def operand_classes(spec) -> tuple[str, ...]:
    return CLASSES_S if spec.signed else CLASSES_U


def classify(values: np.ndarray, spec) -> np.ndarray:
    """Class index (into :func:`operand_classes`) of every operand value."""
    v = np.asarray(values, dtype=np.int64)
    lo, hi = spec.operand_range()
    mag = np.abs(v)
    is_pow2 = (mag > 1) & ((mag & (mag - 1)) == 0)
    names = operand_classes(spec)
    out = np.full(v.shape, names.index("pos" if spec.signed else "other"), dtype=np.int64)
    if spec.signed:
        out[v < 0] = names.index("neg")
        out[is_pow2 & (v > 0)] = names.index("pow2")
        out[is_pow2 & (v < 0)] = names.index("neg_pow2")
        out[v == -1] = names.index("minus_one")
        out[v == lo] = names.index("min")
    else:
        out[is_pow2] = names.index("pow2")
    out[v == hi] = names.index("max")
    out[v == 1] = names.index("one")
    out[v == 0] = names.index("zero")
    return out


def corner_values(spec) -> np.ndarray:
    """Corner operands: zero, one, max, min, powers of two, every sign."""
    lo, hi = spec.operand_range()
    vals = {0, 1, hi, lo, hi - 1, lo + 1}
    for k in range(spec.width - (1 if spec.signed else 0)):
        vals.add(1 << k)
        if spec.signed:
            vals.add(-(1 << k))
    if spec.signed:
        vals.add(-1)
    return np.array(sorted(v for v in vals if lo <= v <= hi), dtype=np.int64)


def unit_from_env():
    """The unit under test: plusarg +APPROXNN_UNIT=... (FuseSoC) or the environment variable."""
    text = cocotb.plusargs.get("APPROXNN_UNIT") or os.environ.get("APPROXNN_UNIT")
    if not text:
        raise RuntimeError("APPROXNN_UNIT is not set: name the unit under test, e.g. drum:k=6")
    return parse_unit(text)


# ---------------------------------------------------------------------------------------------
# sequence item and sequences


class OperandBatch(uvm_sequence_item):
    """A batch of operand pairs (value domain), applied on consecutive cycles."""

    def __init__(self, name="OperandBatch", a=None, b=None):
        super().__init__(name)
        self.a = np.asarray(a if a is not None else [], dtype=np.int64)
        self.b = np.asarray(b if b is not None else [], dtype=np.int64)

    def __len__(self):
        return len(self.a)

    def __str__(self):
        return f"{self.get_name()}: {len(self)} pairs"


class ArithSeqBase(uvm_sequence):
    """Sends the operand pairs of :meth:`pairs` in batches."""

    def pairs(self, spec, rng):  # pragma: no cover - overridden
        raise NotImplementedError

    async def body(self):
        spec = ConfigDB().get(None, "", "SPEC")
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        a, b = self.pairs(spec, rng)
        for start in range(0, len(a), BATCH):
            item = OperandBatch("batch", a[start : start + BATCH], b[start : start + BATCH])
            await self.start_item(item)
            await self.finish_item(item)


class ExhaustiveSeq(ArithSeqBase):
    """Every operand pair once, in a seeded random order (widths <= 8)."""

    def pairs(self, spec, rng):
        if spec.width > 8:
            raise ValueError(f"exhaustive stimulus is for widths <= 8, not {spec.width}")
        lo, hi = spec.operand_range()
        n = hi - lo + 1
        idx = rng.permutation(n * n)
        return lo + idx // n, lo + idx % n


class RandomSeq(ArithSeqBase):
    """Every pair of corner values, then constrained-random pairs: each operand is drawn
    uniformly (50 %), from the corners (25 %) or with a random magnitude exponent (25 %), so
    small, large and mixed-sign products all occur at every width."""

    def pairs(self, spec, rng):
        count = int(ConfigDB().get(None, "", "COUNT"))
        corners = corner_values(spec)
        ca, cb = np.meshgrid(corners, corners, indexing="ij")
        lo, hi = spec.operand_range()

        def draw(size):
            uni = rng.integers(lo, hi + 1, size)
            cor = corners[rng.integers(0, len(corners), size)]
            bits = rng.integers(0, spec.width, size)
            mag = rng.integers(0, 1 << 62, size) & ((np.int64(1) << bits) - 1) | (
                np.int64(1) << bits
            ) >> 1
            sign = rng.integers(0, 2, size) if spec.signed else np.zeros(size, np.int64)
            expo = np.clip(np.where(sign == 1, -mag, mag), lo, hi)
            choice = rng.random(size)
            return np.where(choice < 0.5, uni, np.where(choice < 0.75, cor, expo))

        return (
            np.concatenate([ca.ravel(), draw(count)]),
            np.concatenate([cb.ravel(), draw(count)]),
        )


# ---------------------------------------------------------------------------------------------
# bus functional model


class ArithBfm:
    """Drives one operand pair per clock and samples every output (the only DUT access)."""

    def __init__(self, dut, spec, idle=0.0, seed=0):
        self.dut = dut
        self.spec = spec
        self.idle = float(idle)
        self.rng = np.random.default_rng(seed + 1)
        self.pending = deque()  # (a_code, b_code) still to drive
        self.cycle = 0
        self.in_log = []  # (cycle, a_code, b_code) as applied
        self.out_log = []  # (cycle, y_code) as sampled
        self.idle_event = Event()
        self._started = False

    async def reset(self):
        self.dut.rst.value = 1
        self.dut.in_valid.value = 0
        self.dut.a.value = 0
        self.dut.b.value = 0
        if not self._started:
            cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
            self._started = True
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        cocotb.start_soon(self._loop())

    def send(self, a_codes, b_codes):
        self.idle_event.clear()
        self.pending.extend(zip(a_codes.tolist(), b_codes.tolist(), strict=True))

    async def _loop(self):
        dut, clk = self.dut, self.dut.clk
        a, b, iv, ov, y = dut.a, dut.b, dut.in_valid, dut.out_valid, dut.y
        edge = RisingEdge(clk)
        pending, in_log, out_log = self.pending, self.in_log, self.out_log
        gaps = self.rng.random(1 << 16) < self.idle if self.idle > 0 else None
        drained = 0
        while True:
            driving = False
            if pending and (gaps is None or not gaps[self.cycle & 0xFFFF]):
                pa, pb = pending.popleft()
                a.value = pa
                b.value = pb
                iv.value = 1
                in_log.append((self.cycle, pa, pb))
                driving = True
            else:
                iv.value = 0
            await edge
            self.cycle += 1
            if ov.value:
                out_log.append((self.cycle - 1, y.value.to_unsigned()))
            if driving or pending:
                drained = 0
            else:
                drained += 1
                if drained == LATENCY + 2:
                    self.idle_event.set()

    def take(self):
        """Hand over everything applied and sampled so far."""
        ins, outs = self.in_log[:], self.out_log[:]
        self.in_log.clear()
        self.out_log.clear()
        return ins, outs


# ---------------------------------------------------------------------------------------------
# components


class Driver(uvm_driver):
    def connect_phase(self):
        self.bfm = ConfigDB().get(self, "", "BFM")

    async def run_phase(self):
        spec = self.bfm.spec
        while True:
            item = await self.seq_item_port.get_next_item()
            self.bfm.send(
                to_code(item.a, spec.width).astype(np.int64),
                to_code(item.b, spec.width).astype(np.int64),
            )
            await self.bfm.idle_event.wait()
            self.seq_item_port.item_done()


class Monitor(uvm_component):
    """Publishes (inputs, outputs) observed at the DUT after each drained batch."""

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


class Scoreboard(uvm_subscriber):
    """Bit-exact comparison with the golden model, plus ordering/latency checks."""

    def build_phase(self):
        self.ins, self.outs = [], []

    def write(self, obs):
        ins, outs = obs
        self.ins.extend(ins)
        self.outs.extend(outs)

    def check_phase(self):
        spec = ConfigDB().get(None, "", "SPEC")
        self.errors = []
        if not self.ins:
            self.errors.append("no operand pair was applied")
            return
        ins = np.array(self.ins, dtype=np.int64)
        outs = np.array(self.outs, dtype=np.int64).reshape(-1, 2)
        if len(outs) != len(ins):
            self.errors.append(f"{len(ins)} pairs applied but {len(outs)} results seen")
        n = min(len(ins), len(outs))
        lat = outs[:n, 0] - ins[:n, 0]
        if n and not np.all(lat == LATENCY):
            bad = int(np.flatnonzero(lat != LATENCY)[0])
            self.errors.append(f"result {bad} came after {lat[bad]} cycles, expected {LATENCY}")
        a = from_code(ins[:n, 1], spec.width, spec.signed)
        b = from_code(ins[:n, 2], spec.width, spec.signed)
        want = to_code(spec(a, b), spec.out_width)
        got = outs[:n, 1]
        bad = np.flatnonzero(want != got)
        self.checked = n
        self.mismatches = len(bad)
        sample_verdict(bool(len(bad)))
        for i in bad[:10]:
            self.errors.append(
                f"{spec}: a={a[i]} b={b[i]}: RTL y=0x{got[i]:x}, model y=0x{want[i]:x}"
            )
        if len(bad) > 10:
            self.errors.append(f"... {len(bad) - 10} more mismatches")
        self.observed = (a, b, from_code(got, spec.out_width, spec.signed))

    def report_phase(self):
        for msg in self.errors:
            self.logger.error(msg)
        if not self.errors:
            self.logger.info(f"{self.checked} results match the golden model bit for bit")


#: the scoreboard's verdict over a run: every result equal to the model's, or a result that
#: differs (the bin only a planted fault may hit: scoreboard_sensitivity)
sample_verdict = verdict_point("arith.sb.verdict")


class Coverage(uvm_subscriber):
    """Functional coverage of the applied stimulus and of the observed results.

    Bins: operand class of a and of b (zero, one, max, min, powers of two, other; signed
    units add minus one, negative powers of two, negative), their cross, the sign cross
    (signed units) and whether the result was exact or erroneous. Samples are taken once per
    distinct combination per batch (hit counts are combination counts, not pair counts), which
    keeps sampling cost independent of the number of pairs. Goal: every operand bin and every
    cross bin hit; every result kind that the golden model produces for the applied stimulus
    observed in the RTL results.

    Pipeline timing (:mod:`verif.common.pipeline`): the idle cycles before a pair (0, 1, 2+)
    and the pairs still in flight when it enters (0 .. LATENCY-1); goal: every bin hit in a
    test with idle cycles (the exhaustive test drives back to back). The scoreboard's verdict
    (``arith.sb.verdict``) is written beside them; its goal is the planted fault's test.
    """

    pipe_names = ["arith.pipe.gap", "arith.pipe.in_flight"]

    def build_phase(self):
        spec = ConfigDB().get(None, "", "SPEC")
        self.spec = spec

        @CoverPoint("arith.pipe.gap", xf=lambda g: g, bins=list(GAP_BINS))
        def sample_gap(g):
            pass

        @CoverPoint("arith.pipe.in_flight", xf=lambda f: f, bins=in_flight_bins(LATENCY))
        def sample_in_flight(f):
            pass

        self.sample_gap, self.sample_in_flight = sample_gap, sample_in_flight
        classes = operand_classes(spec)
        prefix = "arith"
        self.names = [f"{prefix}.a_class", f"{prefix}.b_class", f"{prefix}.ab_cross"]
        self.required_results = set()
        self.hit_results = set()

        @CoverPoint(f"{prefix}.a_class", xf=lambda ca, cb, sa, sb, r: classes[ca], bins=classes)
        @CoverPoint(f"{prefix}.b_class", xf=lambda ca, cb, sa, sb, r: classes[cb], bins=classes)
        @CoverCross(f"{prefix}.ab_cross", items=[f"{prefix}.a_class", f"{prefix}.b_class"])
        @CoverPoint(
            f"{prefix}.result", xf=lambda ca, cb, sa, sb, r: r, bins=["exact", "erroneous"]
        )
        def sample(ca, cb, sa, sb, r):
            pass

        self.sample = sample
        if spec.signed:
            signs = [(x, y) for x in ("neg", "zero", "pos") for y in ("neg", "zero", "pos")]
            self.names.append(f"{prefix}.sign_cross")

            @CoverPoint(f"{prefix}.sign_cross", xf=lambda sa, sb: (sa, sb), bins=signs)
            def sample_sign(sa, sb):
                pass

            self.sample_sign = sample_sign

    def write(self, obs):
        spec = self.spec
        ins, outs = obs
        n = min(len(ins), len(outs))
        if n == 0:
            return
        gaps, inside = pipeline_bins([c for c, *_ in ins], LATENCY)
        for g in sorted(gaps):
            self.sample_gap(g)
        for f in sorted(inside):
            self.sample_in_flight(f)
        ins = np.array(ins[:n], dtype=np.int64)
        outs = np.array(outs[:n], dtype=np.int64)
        a = from_code(ins[:, 1], spec.width, spec.signed)
        b = from_code(ins[:, 2], spec.width, spec.signed)
        y = from_code(outs[:, 1], spec.out_width, spec.signed)
        exact = spec.exact(a, b)
        err = (y != exact).astype(np.int64)
        model_err = spec(a, b) != exact
        self.required_results |= {"erroneous" if e else "exact" for e in np.unique(model_err)}
        sa, sb = np.sign(a) + 1, np.sign(b) + 1
        key = np.stack([classify(a, spec), classify(b, spec), sa, sb, err], axis=1)
        sign_names = ("neg", "zero", "pos")
        for ca, cb, xa, xb, e in np.unique(key, axis=0).tolist():
            r = "erroneous" if e else "exact"
            self.hit_results.add(r)
            self.sample(ca, cb, sign_names[xa], sign_names[xb], r)
            if spec.signed:
                self.sample_sign(sign_names[xa], sign_names[xb])

    def check_phase(self):
        self.holes = []
        for name in self.names:
            item = coverage_db[name]
            if item.coverage < item.size:
                missing = [k for k, v in item.detailed_coverage.items() if v < 1]
                self.holes.append(f"{name}: {item.coverage}/{item.size} bins, missing {missing}")
        for r in sorted(self.required_results - self.hit_results):
            self.holes.append(f"arith.result: '{r}' results expected from the model, none seen")
        if ConfigDB().get(None, "", "BFM").idle > 0:  # timing goals need idle cycles
            for name in self.pipe_names:
                item = coverage_db[name]
                if item.coverage < item.size:
                    missing = [k for k, v in item.detailed_coverage.items() if v < 1]
                    self.holes.append(f"{name}: {item.coverage}/{item.size} bins, "
                                      f"missing {missing}")

    def report_phase(self):
        for name in self.names + ["arith.result", *self.pipe_names, "arith.sb.verdict"]:
            item = coverage_db[name]
            self.logger.info(f"coverage {name}: {item.coverage}/{item.size}")
        for hole in self.holes:
            self.logger.error(f"coverage goal not met: {hole}")
        out = os.environ.get("APPROXNN_COVERAGE_FILE")
        if out:
            write_coverage(out, self.names + ["arith.result", *self.pipe_names,
                                              "arith.sb.verdict"], str(self.spec))


def write_coverage(path, names, unit) -> None:
    """Bins and hit counts of the named cover items as JSON (merged by verif.regress)."""
    data = {"unit": unit, "items": {}}
    for name in names:
        item = coverage_db[name]
        data["items"][name] = {str(k): int(v) for k, v in item.detailed_coverage.items()}
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


class ArithEnv(uvm_env):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        ConfigDB().set(None, "*", "SEQR", self.seqr)
        self.driver = Driver.create("driver", self)
        self.monitor = Monitor("monitor", self)
        self.scoreboard = Scoreboard("scoreboard", self)
        self.coverage = Coverage("coverage", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.monitor.ap.connect(self.scoreboard.analysis_export)
        self.monitor.ap.connect(self.coverage.analysis_export)


# ---------------------------------------------------------------------------------------------
# tests (they differ by factory overrides of the sequence, not by copies)


class ArithBaseTest(uvm_test):
    """Runs :class:`ArithSeqBase` (overridden per test) on the unit named by APPROXNN_UNIT."""

    idle = 0.0

    def build_phase(self):
        self.spec = unit_from_env()
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        ConfigDB().set(None, "*", "SPEC", self.spec)
        ConfigDB().set(None, "*", "SEED", seed)
        ConfigDB().set(None, "*", "COUNT", int(os.environ.get("APPROXNN_COUNT", "20000")))
        idle = float(os.environ.get("APPROXNN_IDLE", self.idle))
        self.bfm = ArithBfm(cocotb.top, self.spec, idle=idle, seed=seed)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        self.env = ArithEnv("env", self)

    def end_of_elaboration_phase(self):
        self.seq = ArithSeqBase.create("seq")

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.reset()
        await self.seq.start(self.env.seqr)
        await self.bfm.idle_event.wait()
        await RisingEdge(cocotb.top.clk)
        await RisingEdge(cocotb.top.clk)
        self.drop_objection()

    def final_phase(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


