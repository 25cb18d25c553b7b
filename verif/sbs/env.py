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
* :class:`Driver` - programs the registers through AXI4-Lite, loads h and streams rows through
  AXI4-Stream (cocotbext-axi, random idle cycles), asks for read-outs;
* :class:`Monitor` - receives the h frames on ``m_axis_h`` (random back-pressure);
* :class:`Scoreboard` - runs the golden model over the same operations, compares every h
  read-out bit for bit, and the counters and error flags the unit reports;
* :class:`Coverage` - threshold taken / not taken, every weight exponent and the zero code,
  left / right normalisation, saturation, short / long rows, lanes of the build.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
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

from cores.sbs.update.update import (
    ERR_W_LONG,
    ERR_W_SHORT,
    PB,
    REG,
    F,
    check_params,
)
from refmodels.sbs.formats import HFixed
from refmodels.sbs.model import update_fixed_loop
from verif.common.axi import RegAgent, frame
from verif.common.axi_env import AxiBlockBfm, AxiBlockTest

TOP = (1 << F) - 1


def setting(name: str, default: str) -> str:
    """A test setting: plusarg ``+NAME=...`` (FuseSoC), else the environment, else default."""
    return cocotb.plusargs.get(name) or os.environ.get(name, default)


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


class Driver(uvm_driver):
    """Registers through AXI4-Lite; h and weight rows through AXI4-Stream."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)  # the scenario as applied, with counters read

    def connect_phase(self):
        self.dut = cocotb.top
        self.p, self.n_max, self.fmt = ConfigDB().get(None, "", "CONFIG")
        agents = ConfigDB().get(None, "", "AGENTS")
        self.regs = ConfigDB().get(None, "", "REGS")
        self.w_src = agents.source("s_axis_w")
        self.h_src = agents.source("s_axis_h")

    async def wait_idle(self):
        for _ in range(100000):
            status = await self.regs.read_ok(REG["STATUS"])
            if not status & 1:
                return
            await ClockCycles(self.dut.clk, 8)
        raise AssertionError("watchdog: the unit stayed busy (STATUS bit 0) over 100,000 "
                             f"polls; STATUS 0x{status:x}")

    async def run_phase(self):
        p, wb = self.p, self.fmt.bits
        while True:
            item = await self.seq_item_port.get_next_item()
            c1, _ = HFixed().eps_constants(item.eps)
            await self.regs.write_ok(REG["CTRL"], 4)  # clear errors and counters
            await self.regs.write_ok(REG["N_H"], item.n_h)
            await self.regs.write_ok(REG["C1"], c1)
            await self.regs.write_ok(REG["THETA_LO"], item.theta & 0xFFFFFFFF)
            await self.regs.write_ok(REG["THETA_HI"], item.theta >> 32)
            await self.regs.write_ok(REG["CTRL"], 1)
            await self.h_src.send(frame(pack(item.h0, F, p)))
            await self.h_src.wait()
            for op in item.ops:
                if op[0] == "row":
                    beats = pack(op[1], wb, p)
                    if op[2] == "short":
                        beats = beats[:random.Random(len(beats)).randrange(1, len(beats))]
                    elif op[2] == "long":
                        beats = beats + beats[:2]
                    await self.w_src.send(frame(beats))
                else:
                    await self.w_src.wait()
                    await self.regs.write_ok(REG["CTRL"], 2)
                    # CTRL commands are flags: a second DUMP before the first has started
                    # would be the same request, so wait for this read-out to finish
                    await self.wait_idle()
            await self.w_src.wait()
            await self.wait_idle()
            item.counters = {
                name: await self.regs.read_ok(REG[name])
                for name in ("UPDATES", "SKIPPED", "DROPPED", "ERROR")
            }
            self.ap.write(item)
            self.seq_item_port.item_done()


class Monitor(uvm_component):
    """Publishes every h frame seen on ``m_axis_h`` as a list of latents."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)

    def connect_phase(self):
        self.p, _, _ = ConfigDB().get(None, "", "CONFIG")
        self.sink = ConfigDB().get(None, "", "AGENTS").sink("m_axis_h")

    async def run_phase(self):
        while True:
            fr = await self.sink.recv()
            self.ap.write(unpack(fr.tdata, F, self.p))


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


class Scoreboard(uvm_component):
    """Bit-exact comparison of every h read-out and of the counters with the golden model."""

    def build_phase(self):
        from pyuvm import uvm_tlm_analysis_fifo

        self.items_fifo = uvm_tlm_analysis_fifo("items_fifo", self)
        self.dumps_fifo = uvm_tlm_analysis_fifo("dumps_fifo", self)
        self.items_export = self.items_fifo.analysis_export
        self.dumps_export = self.dumps_fifo.analysis_export

    def check_phase(self):
        self.errors = []
        self.checked = 0
        got_dumps = []
        while self.dumps_fifo.can_get():
            _, d = self.dumps_fifo.try_get()
            got_dumps.append(d)
        n_items = 0
        while self.items_fifo.can_get():
            _, item = self.items_fifo.try_get()
            n_items += 1
            want_dumps, want_counters, _ = expected(item)
            for k, want in enumerate(want_dumps):
                if not got_dumps:
                    self.errors.append(f"{item.get_name()}: read-out {k} missing")
                    break
                got = got_dumps.pop(0)
                self.checked += 1
                if got != want:
                    bad = [i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b]
                    i = bad[0] if bad else min(len(got), len(want))
                    self.errors.append(
                        f"{item}: read-out {k}: {len(bad)} latents differ, first i={i}: "
                        f"RTL {got[i] if i < len(got) else None} model "
                        f"{want[i] if i < len(want) else None} (lengths {len(got)}/{len(want)})"
                    )
            for name, want in want_counters.items():
                if item.counters[name] != want:
                    self.errors.append(
                        f"{item}: {name} = {item.counters[name]:#x}, model {want:#x}")
        if n_items == 0:
            self.errors.append("no scenario was run")
        if got_dumps:
            self.errors.append(f"{len(got_dumps)} unexpected h frames on m_axis_h")

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

    def write(self, item):
        _, _, facts = expected(item)
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
        self.holes = []
        for name in self.names:
            item = coverage_db[name]
            if item.coverage < item.size:
                missing = [k for k, v in item.detailed_coverage.items() if v < 1]
                self.holes.append(f"{name}: {item.coverage}/{item.size} bins, missing {missing}")

    def report_phase(self):
        for name in self.names + ["sbs.saturation"]:
            item = coverage_db[name]
            self.logger.info(f"coverage {name}: {item.coverage}/{item.size}")
        for hole in self.holes:
            self.logger.error(f"coverage goal not met: {hole}")
        out = os.environ.get("APPROXNN_COVERAGE_FILE")
        if out:
            p, n_max, fmt = ConfigDB().get(None, "", "CONFIG")
            data = {"unit": f"sbs_update:{fmt.name},p={p},n_max={n_max}", "items": {}}
            for name in self.names + ["sbs.saturation"]:
                data["items"][name] = {
                    str(k): int(v) for k, v in coverage_db[name].detailed_coverage.items()}
            data["items"]["sbs.lanes"] = {str(p): 1}
            with open(out, "w") as fh:
                json.dump(data, fh, indent=1)


class UpdateEnv(uvm_env):
    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.driver = Driver("driver", self)
        self.monitor = Monitor("monitor", self)
        self.scoreboard = Scoreboard("scoreboard", self)
        self.coverage = Coverage("coverage", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.driver.ap.connect(self.scoreboard.items_export)
        self.driver.ap.connect(self.coverage.analysis_export)
        self.monitor.ap.connect(self.scoreboard.dumps_export)


class UpdateBfm(AxiBlockBfm):
    """Clock, reset, registers (model of sbs_update.rdl) and stream agents of the update unit
    (verif/common/axi_env.py); the driver, the monitor and the directed sequences open the
    streams they use."""

    regmap_name = "sbs_update"


class UpdateRandomTest(AxiBlockTest):
    """Constrained-random scenarios with idle cycles and back-pressure on every stream."""

    env_class = UpdateEnv

    def make_bfm(self, seed):
        return UpdateBfm(cocotb.top, seed, idle=float(os.environ.get("APPROXNN_IDLE", "0.2")),
                         backpressure=float(os.environ.get("APPROXNN_BACKPRESSURE", "0.3")),
                         stress=os.environ.get("APPROXNN_STRESS", "iidb"))

    def build_phase(self):
        ConfigDB().set(None, "*", "CONFIG", config_from_env())
        ConfigDB().set(None, "*", "COUNT", int(setting("APPROXNN_COUNT", "12")))
        super().build_phase()
        self.bfm.regs = RegAgent(cocotb.top)  # the driver takes it in its connect phase
        ConfigDB().set(None, "*", "AGENTS", self.bfm.agents)
        ConfigDB().set(None, "*", "REGS", self.bfm.regs)

    async def run_phase(self):
        self.raise_objection()
        dut = cocotb.top
        await self.bfm.start()
        p, n_max, fmt = ConfigDB().get(None, "", "CONFIG")
        regs = ConfigDB().get(None, "", "REGS")
        want = p | ((n_max - 1).bit_length() << 8) | (fmt.e_bits << 16) | (fmt.m_bits << 20)
        config = await regs.read_ok(REG["CONFIG"])
        if config & 0x1FFFFF != want:
            raise AssertionError(f"CONFIG reads {config:#x}: the RTL is not {p=} {n_max=} {fmt}")
        seq = RandomScenarioSeq("seq")
        await seq.start(self.env.seqr)
        await ClockCycles(dut.clk, 20)
        self.drop_objection()

    def problems(self):
        return self.env.scoreboard.errors + self.env.coverage.holes
