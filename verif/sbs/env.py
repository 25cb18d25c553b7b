"""pyuvm environment of the SbS update unit (cores/sbs/update).

The configuration under test comes from the environment: ``APPROXNN_SBS_P``,
``APPROXNN_SBS_NMAX``, ``APPROXNN_SBS_WEIGHTS`` (it must match the RTL that was built; the
test reads the unit's CONFIG register and fails if it does not), ``APPROXNN_SEED``,
``APPROXNN_COUNT`` (scenarios), ``APPROXNN_IDLE`` and ``APPROXNN_BACKPRESSURE`` (probability of
an idle cycle on every input stream and of a not-ready cycle on the output stream).

Every expected value comes from :func:`refmodels.sbs.model.update_fixed_loop` (the golden model
of the fixed-point update) and :mod:`refmodels.sbs.formats`; nothing here re-implements the
arithmetic.

* :class:`Scenario` - sequence item: N_H, eps, threshold, initial h and a list of operations
  (weight rows, some cut short or too long on purpose, and read-outs of h);
* :class:`RandomScenarioSeq` - constrained-random scenarios: h dense, sparse, tiny (r below
  2**17 at first, so the normalisation shifts left) or concentrated (saturation); weights with every
  exponent, zero weights and all-zero rows; thresholds that take and skip updates;
* :class:`UpdateBfm` - on the AXI blocks' base (verif/common/axi_env.py, whose driver and
  monitor run it): programs the registers (register model of sbs_update.rdl) through
  AXI4-Lite, loads h and streams rows through AXI4-Stream (cocotbext-axi, random idle cycles),
  asks for read-outs and receives the h frames on ``m_axis_h`` (random back-pressure);
* :class:`Scoreboard` - runs the golden model over the same operations, compares every h
  read-out bit for bit, and the counters and error flags the unit reports;
* :class:`Coverage` - threshold taken / not taken, every weight exponent and the zero code,
  left / right normalisation, saturation, short / long rows, lanes of the build.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ClockCycles
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_sequence, uvm_sequence_item, uvm_subscriber

from cores.sbs.update.update import ERR_W_LONG, ERR_W_SHORT, PB, F, check_params
from refmodels.sbs.formats import HFixed
from refmodels.sbs.model import update_fixed_loop
from verif.common.axi import frame
from verif.common.axi_env import AxiBlockBfm, AxiBlockEnv, AxiBlockTest
from verif.common.coverage import DirectedCover, coverage_holes, log_coverage
from verif.common.regmap import sweep, sweep_bins
from verif.common.reset import POINTS
from verif.common.settings import setting

TOP = (1 << F) - 1


def config_from_env():
    p = int(setting("APPROXNN_SBS_P", "4"))
    n_max = int(setting("APPROXNN_SBS_NMAX", "64"))
    weights = setting("APPROXNN_SBS_WEIGHTS", "e4m1")
    return p, n_max, check_params(p, n_max, weights)


# ---------------------------------------------------------------------------------------------
# sequence item and sequence


class Scenario(uvm_sequence_item):
    """One IP: configuration, initial h and operations ``("row", codes, fault)`` / ``("dump",)``
    where ``fault`` is None, ``"short"`` (tlast early) or ``"long"`` (beats past the end)."""

    def __init__(self, name="Scenario", n_h=0, eps=0.1, theta=0, h0=(), ops=()):
        super().__init__(name)
        self.n_h = n_h
        self.eps = eps
        self.theta = theta
        self.h0 = list(h0)
        self.ops = list(ops)

    def __str__(self):
        rows = sum(op[0] == "row" for op in self.ops)
        return f"{self.get_name()}: N_H={self.n_h} eps={self.eps:.4g} theta={self.theta} " \
               f"{rows} rows"


class RandomScenarioSeq(uvm_sequence):
    """Constrained-random scenarios (see the module docstring)."""

    async def body(self):
        p, n_max, fmt = ConfigDB().get(None, "", "CONFIG")
        rng = random.Random(ConfigDB().get(None, "", "SEED"))
        count = ConfigDB().get(None, "", "COUNT")
        for k in range(count):
            item = self.make(rng, k, p, n_max, fmt)
            await self.start_item(item)
            await self.finish_item(item)

    @staticmethod
    def make(rng, k, p, n_max, fmt):
        n_cap = min(n_max, 64)
        choices = list(range(max(2, p), n_cap + 1, p))
        n = n_max if k == 1 else (choices[0] if k == 2 else rng.choice(choices))
        eps = rng.choice([1.0, 0.001, rng.uniform(0.001, 1.0), 0.1 / 25, 0.1])
        kind = ("dense", "sparse", "tiny", "peak")[k % 4] if k < 8 else rng.choice(
            ["dense", "dense", "sparse", "tiny", "peak"])
        if kind == "dense":
            raw = [rng.random() for _ in range(n)]
            s = sum(raw)
            h0 = [min(TOP, int(v / s * (1 << F))) for v in raw]
        elif kind == "sparse":
            h0 = [rng.randrange(1 << F) if rng.random() < 0.2 else 0 for _ in range(n)]
        elif kind == "tiny":
            # one small latent: r < 2**17 on the first row, the normalisation shifts left
            h0 = [0] * n
            h0[rng.randrange(n)] = rng.randrange(1, 4)
        else:
            h0 = [0] * n
            h0[rng.randrange(n)] = TOP
        emax = fmt.emax
        zero = fmt.zero_code

        def code():
            if rng.random() < 0.15:
                return zero
            e = rng.randrange(emax + 1)
            return (e << fmt.m_bits) | rng.randrange(1 << fmt.m_bits)

        ops = []
        for _ in range(rng.randrange(4, 12)):
            style = rng.random()
            if style < 0.08:
                codes = [zero] * n
            elif style < 0.16:
                e = rng.randrange(emax + 1)
                codes = [(e << fmt.m_bits) for _ in range(n)]
            else:
                codes = [code() for _ in range(n)]
            fault = None
            if rng.random() < 0.1:
                fault = rng.choice(["short", "long"]) if n > p else "long"
            ops.append(("row", codes, fault))
            if rng.random() < 0.25:
                ops.append(("dump",))
        ops.append(("dump",))
        theta = 0
        if rng.random() < 0.3:
            # a threshold near the accumulator of a typical update, so that some are skipped
            theta = rng.randrange(1 << (F + fmt.m_bits + emax - 4))
        return Scenario(f"scn{k}", n, eps, theta, h0, ops)


# ---------------------------------------------------------------------------------------------
# components


def pack(values, width, p):
    """Beats of ``p`` fields of ``width`` bits (lane 0 in the low bits)."""
    out = []
    for j in range(0, len(values), p):
        word = 0
        for k, v in enumerate(values[j:j + p]):
            word |= int(v) << (k * width)
        out.append(word)
    return out


def unpack(beats, width, p):
    mask = (1 << width) - 1
    return [(int(b) >> (k * width)) & mask for b in beats for k in range(p)]


class UpdateBfm(AxiBlockBfm):
    """Clock, reset, registers (model of sbs_update.rdl) and the streams of the update unit;
    :meth:`run` applies one :class:`Scenario` and returns what came back: the h read-outs,
    the counters, and any h frame nobody asked for."""

    regmap_name = "sbs_update"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config_from_env()

    def connect_streams(self):
        self.w_src = self.agents.source("s_axis_w")
        self.h_src = self.agents.source("s_axis_h")
        self.sink = self.agents.sink("m_axis_h")

    async def load(self, n_h, h0, clear=True):
        """N_H set (counters and errors cleared first), LOAD, h sent."""
        p = self.config[0]
        if clear:
            await self.command(CLEAR=1)  # clear errors and counters
        await self.write_reg("N_H", n_h)
        await self.command(LOAD=1)
        await self.h_src.send(frame(pack(h0, F, p)))
        await self.h_src.wait()

    async def dump(self):
        """DUMP: the h read out."""
        await self.command(DUMP=1)
        return unpack((await self.sink.recv()).tdata, F, self.config[0])

    async def run(self, item):
        p, _, fmt = self.config
        c1, _ = HFixed().eps_constants(item.eps)
        await self.command(CLEAR=1)  # clear errors and counters
        await self.write_reg("N_H", item.n_h)
        await self.write_reg("C1", c1)
        await self.write_reg("THETA_LO", item.theta & 0xFFFFFFFF)
        await self.write_reg("THETA_HI", item.theta >> 32)
        await self.load(item.n_h, item.h0, clear=False)
        dumps = []
        for op in item.ops:
            if op[0] == "row":
                beats = pack(op[1], fmt.bits, p)
                if op[2] == "short":
                    beats = beats[:random.Random(len(beats)).randrange(1, len(beats))]
                elif op[2] == "long":
                    beats = beats + beats[:2]
                await self.w_src.send(frame(beats))
            else:
                await self.w_src.wait()
                dumps.append(await self.dump())
                # CTRL commands are flags: a second DUMP before the first has started
                # would be the same request, so wait for this read-out to finish
                await self.wait_idle()
        await self.w_src.wait()
        await self.wait_idle()
        counters = {name: await self.read_reg(name)
                    for name in ("UPDATES", "SKIPPED", "DROPPED", "ERROR")}
        extra = []
        while not self.sink.empty():
            extra.append(self.sink.recv_nowait())
        return {"item": item, "dumps": dumps, "counters": counters, "extra": len(extra)}


def expected(item):
    """Golden-model trace of a scenario: h read-outs, counters, and per-row facts."""
    hf = HFixed(theta_q=item.theta)
    c1, ce = hf.eps_constants(item.eps)
    fmt = ConfigDB().get(None, "", "CONFIG")[2]
    h = list(item.h0)
    dumps, facts = [], []
    counters = {"UPDATES": 0, "SKIPPED": 0, "DROPPED": 0, "ERROR": 0}
    for op in item.ops:
        if op[0] == "dump":
            dumps.append(list(h))
            continue
        _, codes, fault = op
        wi = [int(x) for x in fmt.to_int(codes)]
        if fault:
            counters["DROPPED"] += 1
            counters["ERROR"] |= ERR_W_SHORT if fault == "short" else ERR_W_LONG
            facts.append({"fault": fault, "codes": codes})
            continue
        r = sum(a * b for a, b in zip(h, wi, strict=True))
        new = update_fixed_loop(h, wi, c1, ce, hf)
        taken = r > hf.theta_q
        counters["UPDATES" if taken else "SKIPPED"] += 1
        facts.append({
            "fault": None, "codes": codes, "taken": taken,
            "shift": "left" if r.bit_length() <= PB else "right",
            "saturated": taken and any(v == TOP for v in new),
        })
        h = new
    return dumps, counters, facts


class Scoreboard(uvm_subscriber):
    """Bit-exact comparison of every h read-out and of the counters with the golden model."""

    def build_phase(self):
        self.errors = []
        self.checked = 0
        self.items = 0

    def write(self, obs):
        item = obs["item"]
        self.items += 1
        want_dumps, want_counters, _ = expected(item)
        got_dumps = obs["dumps"]
        for k, (got, want) in enumerate(zip(got_dumps, want_dumps, strict=False)):
            self.checked += 1
            if got != want:
                bad = [i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b]
                i = bad[0] if bad else min(len(got), len(want))
                self.errors.append(
                    f"{item}: read-out {k}: {len(bad)} latents differ, first i={i}: "
                    f"RTL {got[i] if i < len(got) else None} model "
                    f"{want[i] if i < len(want) else None} (lengths {len(got)}/{len(want)})")
        if len(got_dumps) != len(want_dumps):
            self.errors.append(f"{item}: {len(got_dumps)} read-outs, model {len(want_dumps)}")
        if obs["extra"]:
            self.errors.append(f"{item}: {obs['extra']} unexpected h frames on m_axis_h")
        for name, want in want_counters.items():
            if obs["counters"][name] != want:
                self.errors.append(
                    f"{item}: {name} = {obs['counters'][name]:#x}, model {want:#x}")

    def check_phase(self):
        if self.items == 0:
            self.errors.append("no scenario was run")

    def report_phase(self):
        for msg in self.errors[:20]:
            self.logger.error(msg)
        if not self.errors:
            self.logger.info(f"{self.checked} h read-outs match the golden model bit for bit")


class Coverage(uvm_subscriber):
    """Functional coverage of the applied rows, from the golden model's view of them.

    Goal (checked at the end): updates taken and skipped; every exponent field of the weight
    format and the zero code applied; normalisation shifting left (r < 2**17) and right; rows
    cut short and too long. Saturation of a latent at 2**24 - 1 is sampled but not required
    (it needs an h that sums to more than one)."""

    def build_phase(self):
        _, _, fmt = ConfigDB().get(None, "", "CONFIG")
        self.fmt = fmt
        self.exps = [str(e) for e in range(fmt.emax + 1)] + ["zero"]
        self.names = ["sbs.threshold", "sbs.exponent", "sbs.shift", "sbs.fault"]

        @CoverPoint("sbs.threshold", xf=lambda f: f, bins=["taken", "skipped"])
        def sample_taken(f):
            pass

        @CoverPoint("sbs.exponent", xf=lambda e: e, bins=self.exps)
        def sample_exp(e):
            pass

        @CoverPoint("sbs.shift", xf=lambda s: s, bins=["left", "right"])
        def sample_shift(s):
            pass

        @CoverPoint("sbs.fault", xf=lambda f: f, bins=["short", "long"])
        def sample_fault(f):
            pass

        @CoverPoint("sbs.saturation", xf=lambda s: s, bins=[True, False])
        def sample_sat(s):
            pass

        self.sample_taken, self.sample_exp = sample_taken, sample_exp
        self.sample_shift, self.sample_fault, self.sample_sat = (
            sample_shift, sample_fault, sample_sat)

    def write(self, obs):
        _, _, facts = expected(obs["item"])
        fmt = self.fmt
        for f in facts:
            for e in sorted({c >> fmt.m_bits for c in f["codes"]}):
                self.sample_exp("zero" if e > fmt.emax else str(e))
            if f["fault"]:
                self.sample_fault(f["fault"])
                continue
            self.sample_taken("taken" if f["taken"] else "skipped")
            if f["taken"]:
                self.sample_shift(f["shift"])
                self.sample_sat(f["saturated"])

    def check_phase(self):
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        p, n_max, fmt = ConfigDB().get(None, "", "CONFIG")
        log_coverage(self.logger, coverage_db, self.names + ["sbs.saturation"], self.holes,
                     unit=f"sbs_update:{fmt.name},p={p},n_max={n_max}",
                     extra={"sbs.lanes": {str(p): 1}})


class UpdateEnv(AxiBlockEnv):
    scoreboard_class = Scoreboard
    coverage_class = Coverage


class UpdateRandomTest(AxiBlockTest):
    """Constrained-random scenarios with idle cycles and back-pressure on every stream."""

    env_class = UpdateEnv

    def make_bfm(self, seed):
        return UpdateBfm.from_settings(cocotb.top, seed, 0.2, 0.3, "iidb")

    def build_phase(self):
        ConfigDB().set(None, "*", "CONFIG", config_from_env())
        ConfigDB().set(None, "*", "COUNT", int(setting("APPROXNN_COUNT", "12")))
        super().build_phase()

    async def run_phase(self):
        self.raise_objection()
        dut = cocotb.top
        await self.bfm.start()
        p, n_max, fmt = ConfigDB().get(None, "", "CONFIG")
        want = p | ((n_max - 1).bit_length() << 8) | (fmt.e_bits << 16) | (fmt.m_bits << 20)
        config = await self.bfm.read_reg("CONFIG")
        if config & 0x1FFFFF != want:
            raise AssertionError(f"CONFIG reads {config:#x}: the RTL is not {p=} {n_max=} {fmt}")
        seq = RandomScenarioSeq("seq")
        await seq.start(self.env.seqr)
        await ClockCycles(dut.clk, 20)
        self.drop_objection()

    def problems(self):
        return self.env.scoreboard.errors + self.env.coverage.holes


# ---------------------------------------------------------------------------------------------
# cover items of the directed sequences of the three units


async def checked_sweep(bfm, rmap):
    """The register sweep of ``rmap`` (verif/common/regmap.py) on the BFM's register agent,
    its accesses sampled into the cover item ``sbs.sweep``: every (word class, access) pair the
    map calls for (:func:`~verif.common.regmap.sweep_bins`)."""
    cover = DirectedCover("sbs.sweep", [f"{c}:{a}" for c, a in sweep_bins(rmap)], unit="sbs")
    problems = await sweep(bfm.regs, rmap, log=bfm.dut._log,
                           cover=lambda ca: cover.hit(":".join(ca)))
    assert not problems, f"{len(problems)} problem(s): " + "; ".join(problems[:5])
    cover.check()


def reset_cover() -> DirectedCover:
    """``sbs.reset_point``: where a reset during traffic landed, per unit."""
    return DirectedCover("sbs.reset_point", [f"{b}:{p}" for b in ("update", "layer", "spikegen")
                                             for p in POINTS], unit="sbs")
