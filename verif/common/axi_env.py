"""One pyuvm environment base for the AXI blocks (CNN engine, SbS update unit, layer unit,
spike generator): BFM, driver, monitor, environment and tests.

* :class:`AxiBlockBfm` - the only code that touches the DUT: clock (with the protocol checkers
  of every AXI port, :func:`verif.common.axi.start_clock`), reset, the AXI4-Lite register
  agent with the block's register model (``cores.common.regmap``, generated from its
  SystemRDL description: registers by name, :meth:`~AxiBlockBfm.read_reg` /
  :meth:`~AxiBlockBfm.write_reg`, CTRL commands by field name :meth:`~AxiBlockBfm.command`,
  the STATUS busy poll :meth:`~AxiBlockBfm.wait_idle`) and the AXI4-Stream agents
  (cocotbext-axi, random idle cycles and back-pressure, from the test settings:
  :meth:`~AxiBlockBfm.from_settings`). A block's BFM names its streams
  (:meth:`connect_streams`) and runs one sequence item (:meth:`run`), returning what it
  observed; an output stream whose frames come independently of the items goes to the
  monitor's port as they come (:meth:`~AxiBlockBfm.publish_frames`).
* :class:`BfmDriver` - takes items from the sequencer, runs them on the BFM and publishes the
  observations on the monitor's analysis port; :class:`ObsMonitor` owns that port.
* :class:`AxiBlockEnv` - sequencer, driver, monitor, and the block's scoreboard and coverage
  (``scoreboard_class`` / ``coverage_class``) listening to the monitor.
* :class:`AxiBlockTest` - builds the BFM (``bfm_class``) and the environment; fails in
  ``final_phase`` on the problems its parts report.
* :class:`DirectedSeq` / :class:`DirectedTest` - a directed sequence of register and stream
  steps with checks on the way (a failed check raises ``AssertionError``), run by a test of
  its own; :func:`directed_test` makes one of a step function, :func:`register` makes a
  cocotb test of a pyuvm test under a given name;
  :class:`OwnSetupBfm` serves sequences that set up their own agents (the Vivado-ready tops).
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ClockCycles
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_env,
    uvm_root,
    uvm_sequence,
    uvm_sequencer,
    uvm_test,
)

from cores.common import regmap as regmap_mod
from verif.common.axi import RegAgent, StreamAgents, reset, start_clock
from verif.common.settings import setting


class AxiBlockBfm:
    """Clock, reset, register agent and stream agents around one AXI block."""

    #: the block's register model (``cores.common.regmap.load`` name); None: none
    regmap_name: str | None = None
    period_ns = 5.0

    def __init__(self, dut, seed: int, idle: float = 0.0, backpressure: float = 0.0,
                 stress: str | None = None):
        self.dut = dut
        self.seed = seed
        self.agents = StreamAgents(dut, random.Random(seed), idle=idle,
                                   backpressure=backpressure, stress=stress)
        self.regmap = regmap_mod.load(self.regmap_name) if self.regmap_name else None
        self.regs = None

    @classmethod
    def from_settings(cls, dut, seed, idle: float = 0.0, backpressure: float = 0.0,
                      stress: str | None = None, **kwargs):
        """The BFM with the stalls of the test settings ``APPROXNN_IDLE``,
        ``APPROXNN_BACKPRESSURE`` and ``APPROXNN_STRESS`` (defaults: the arguments)."""
        return cls(dut, seed, idle=float(setting("APPROXNN_IDLE", str(idle))),
                   backpressure=float(setting("APPROXNN_BACKPRESSURE", str(backpressure))),
                   stress=setting("APPROXNN_STRESS", stress or "") or None, **kwargs)

    async def start(self):
        """Clock (and protocol checkers), register agent, streams, then reset."""
        start_clock(self.dut, self.period_ns)
        if self.regs is None:  # a test may have made it while building its environment
            self.regs = RegAgent(self.dut)
        self.connect_streams()
        await reset(self.dut)

    def connect_streams(self):
        """Create the block's stream sources and sinks (``self.agents.source(prefix)``)."""

    async def reset(self):
        await reset(self.dut)

    def address(self, name: str, index: int = 0) -> int:
        return self.regmap[name].address(index)

    async def read_reg(self, name: str, index: int = 0) -> int:
        return await self.regs.read_ok(self.address(name, index))

    async def write_reg(self, name: str, value: int, index: int = 0) -> None:
        await self.regs.write_ok(self.address(name, index), value)

    async def command(self, reg: str = "CTRL", **fields: int) -> None:
        """Write ``reg`` with the named fields set (the register model encodes them): e.g.
        ``command(LOAD=1)``."""
        await self.write_reg(reg, self.regmap[reg].encode(**fields))

    def publish_frames(self, sink, convert=None):
        """A passive monitor of an output stream: every frame received on ``sink`` goes out on
        the monitor's analysis port as ``{"frame": convert(frame)}``, while the driver goes on
        with the next items (the block's scoreboard pairs frames with the items in order)."""
        port = ConfigDB().get(None, "", "OBS_PORT")

        async def watch():
            while True:
                fr = await sink.recv()
                port.write({"frame": convert(fr) if convert else fr})

        return cocotb.start_soon(watch())

    async def wait_idle(self, poll: int = 8, limit: int = 100_000) -> None:
        """Poll STATUS (register model) until its busy bit 0 clears, ``poll`` cycles between
        reads; a block still busy after ``limit`` reads fails with a watchdog message."""
        busy = self.regmap["STATUS"].field("BUSY").mask
        for _ in range(limit):
            status = await self.read_reg("STATUS")
            if not status & busy:
                return
            await ClockCycles(self.dut.clk, poll)
        raise AssertionError(f"watchdog: the block stayed busy (STATUS bit 0) over {limit:,} "
                             f"polls; STATUS 0x{status:x}")

    async def run(self, item) -> dict:
        """Run one sequence item on the DUT; the observation goes to the monitor's port."""
        raise NotImplementedError


class OwnSetupBfm(AxiBlockBfm):
    """The BFM of directed sequences that build their own agents around a top with other clock
    and reset names (the Vivado-ready tops: ``aclk`` / active-low ``aresetn``): starting it
    does nothing."""

    async def start(self):
        pass


class BfmDriver(uvm_driver):
    def connect_phase(self):
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.ap = ConfigDB().get(self, "", "OBS_PORT")

    async def run_phase(self):
        while True:
            item = await self.seq_item_port.get_next_item()
            obs = await self.bfm.run(item)
            self.ap.write(obs)
            self.seq_item_port.item_done()


class ObsMonitor(uvm_component):
    """Owns the analysis port the BFM's observations go out on."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)
        ConfigDB().set(None, "*", "OBS_PORT", self.ap)


class AxiBlockEnv(uvm_env):
    scoreboard_class = None
    coverage_class = None

    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.monitor = ObsMonitor("monitor", self)
        self.driver = BfmDriver("driver", self)
        self.scoreboard = self.scoreboard_class("scoreboard", self) \
            if self.scoreboard_class else None
        self.coverage = self.coverage_class("coverage", self) if self.coverage_class else None

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        for sub in (self.scoreboard, self.coverage):
            if sub is not None:
                self.monitor.ap.connect(sub.analysis_export)


def seed_from_env() -> int:
    return int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))


class AxiBlockTest(uvm_test):
    """Builds ``bfm_class`` on the DUT (``make_bfm``) and ``env_class``; fails in
    ``final_phase`` when :meth:`problems` lists any."""

    bfm_class = AxiBlockBfm
    env_class = AxiBlockEnv

    def make_bfm(self, seed):
        return self.bfm_class(cocotb.top, seed)

    def build_phase(self):
        seed = seed_from_env()
        ConfigDB().set(None, "*", "SEED", seed)
        self.bfm = self.make_bfm(seed)
        ConfigDB().set(None, "*", "BFM", self.bfm)
        self.errors = []
        self.env = self.env_class("env", self)

    def problems(self) -> list[str]:
        return list(self.errors)

    def final_phase(self):
        problems = self.problems()
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


class DirectedSeq(uvm_sequence):
    """Directed steps on the BFM (``ConfigDB`` "BFM"): :meth:`steps` drives registers and
    streams and checks as it goes."""

    async def body(self):
        await self.steps(ConfigDB().get(None, "", "BFM"))

    async def steps(self, bfm):
        raise NotImplementedError


class DirectedTest(AxiBlockTest):
    """Starts the BFM, runs ``sequence_class`` and reports its failed check."""

    sequence_class = DirectedSeq

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        try:
            await self.sequence_class("seq").start()
        except AssertionError as exc:
            self.errors.append(str(exc) or f"a check of {self.sequence_class.__name__} failed")
        except Exception as exc:  # a timeout or a broken step: reported the same way
            self.errors.append(f"{type(exc).__name__} in {self.sequence_class.__name__}: {exc}")
        self.drop_objection()


def directed_test(steps, base=DirectedTest):
    """A test of class ``base`` (a :class:`DirectedTest`) whose sequence runs
    ``await steps(bfm)``; named and documented after ``steps``."""
    name = "".join(w.title() for w in steps.__name__.removesuffix("_steps").split("_"))

    async def body(_self, bfm):
        await steps(bfm)

    seq = type(f"{name}Seq", (DirectedSeq,), {"steps": body, "__doc__": steps.__doc__,
                                              "__module__": steps.__module__})
    return type(f"{name}Test", (base,), {"sequence_class": seq, "__doc__": steps.__doc__,
                                         "__module__": steps.__module__})


def register(name: str, test_class):
    """A cocotb test called ``name`` that runs the pyuvm test ``test_class`` (as
    ``pyuvm.test()``, which names the test after the class); assign it to a module-level name
    of the cocotb module."""

    async def run(_dut):
        await uvm_root().run_test(test_class)

    run.__name__ = run.__qualname__ = name
    run.__module__ = test_class.__module__
    run.__doc__ = test_class.__doc__
    return cocotb.test(name=name)(run)
