"""pyuvm tests of the heterogeneous CNN layer engine: several multiplier units in the MAC array,
one chosen per layer by MODE.MUL (cores/cnn/engine with ``mul=[unit, ...]``).

Configuration (environment): ``APPROXNN_ENGINE_LANES``, ``APPROXNN_ENGINE_MUL`` (the build's
units joined by ``+``, in MODE.MUL order), ``APPROXNN_NETWORK`` (a stored network),
``APPROXNN_IMAGES`` and ``APPROXNN_HETERO_LAYERS`` (the unit index of each conv / dense layer,
comma-separated, e.g. ``2,0,1``; without it the units in turn), as plusargs (the FuseSoC
sim targets) or environment variables.

* :class:`HeteroRegTest`: ID, the whole register window against the register map with
  MODE.MUL kept (4 bits; ``APPROXNN_SWEEP=0`` leaves the window out), MODE.MUL read back, a
  START with MODE.MUL at or beyond the unit count (the count, 15 and one between) ending with
  STATUS.ERROR code 6 and no stream beat taken; then a random Conv2D layer with each unit,
  checked against that unit's golden model.
* :class:`HeteroNetworkTest`: the network end to end on the engine, each conv / dense layer
  with its own unit (the host writes MODE.MUL with the layer's other registers). Every layer
  run is checked by the scoreboard against the golden model of its unit
  (``refmodels.cnn.tflite`` for exact int8, ``refmodels.cnn.approx`` with the unit's lookup
  table), and the network's outputs must equal
  ``refmodels.cnn.hetero.forward_int8_layers(net, x, units)`` bit for bit. The test also checks
  that it can tell the units apart: for every unit the assignment uses, some layer run's
  expected output differs from what each other unit of the build would give there (so an
  engine that ignored MODE.MUL, or mixed the units up, would fail).

The register, stream and network helpers are those of :mod:`verif.cnn.engine_env`.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb_coverage.coverage import coverage_db
from pyuvm import ConfigDB, uvm_env, uvm_subscriber, uvm_test

from refmodels.cnn import approx as apx
from verif.cnn.engine_env import (
    CAPS,
    ENGINE_ROUNDING,
    ID,
    MODE,
    REGMAP,
    EngineBfm,
    Monitor,
    fc_shape,
    golden,
    layer_of,
    make_layer,
    pool_layer_of,
    split_channels,
)
from verif.common.coverage import cover_point, coverage_holes, log_coverage
from verif.common.regmap import sweep
from verif.common.regmaps import engine_map
from verif.common.settings import setting

MUL_LSB = REGMAP["MODE"].field("MUL").lsb
MUL_MAX = REGMAP["MODE"].field("MUL").mask >> MUL_LSB
EXACT = "exact:width=8,signed=1"


def config():
    """Settings: plusargs (FuseSoC sim targets), else the environment."""
    units = setting("APPROXNN_ENGINE_MUL", "").split("+")
    layers = setting("APPROXNN_HETERO_LAYERS", "")
    return {"lanes": int(setting("APPROXNN_ENGINE_LANES", "4")), "units": units,
            "layers": [int(v) for v in layers.split(",") if v.strip()],
            "network": setting("APPROXNN_NETWORK", "digits"),
            "images": int(setting("APPROXNN_IMAGES", "1"))}


def golden_mul(unit):
    """The golden model's multiplier of a unit: None (the TFLite kernels) for exact int8."""
    return None if unit == EXACT else apx.ApproxMul.from_unit(unit)


def mul_bins(units) -> list[str]:
    """Bins of ``eng.het.mul``: each MODE.MUL value of the build (``unit<i>``: a layer run
    with unit i, checked against its golden model) and ``refused`` (a value at or beyond the
    unit count: ERROR code 6, no stream beat taken)."""
    return [f"unit{i}" for i in range(len(units))] + ["refused"]


class HeteroScoreboard(uvm_subscriber):
    """Every layer run against the golden model of the unit its MODE.MUL selected; samples
    ``eng.het.mul`` (:func:`mul_bins`) for every run checked."""

    def build_phase(self):
        self.obs, self.errors, self.checked = [], [], 0
        self.sample = cover_point("eng.het.mul", mul_bins(config()["units"]))

    def write(self, obs):
        self.obs.append(obs)

    def check_phase(self):
        muls = ConfigDB().get(None, "", "GOLDEN_MULS")
        for i, o in enumerate(self.obs):
            lay, st = o["layer"], o["status"]
            if lay.error:
                want = 0x6 | (lay.error << 8)
                if st != want:
                    self.errors.append(f"run {i} ({lay}): STATUS 0x{st:x}, want 0x{want:x}")
                if o["x_left"] or o["w_left"]:
                    self.errors.append(f"run {i} ({lay}): stream beats taken by a refused run")
                if lay.error == 6:
                    self.sample("refused")
                continue
            if st != 0x2:
                self.errors.append(f"run {i} ({lay}): STATUS 0x{st:x}, want DONE (0x2)")
            want = golden(lay, muls[lay.unit] if lay.wt is not None else None)
            got = o["out"]
            if got is None or len(got) != len(want):
                self.errors.append(f"run {i} ({lay}): {0 if got is None else len(got)} "
                                   f"outputs, want {len(want)}")
                continue
            bad = np.flatnonzero(got != want)
            if lay.unit is not None:
                self.sample(f"unit{lay.unit}")
            if len(bad):
                j = int(bad[0])
                self.errors.append(f"run {i} ({lay}, unit {lay.unit}): {len(bad)} outputs "
                                   f"differ, first at {j}: RTL {got[j]}, model {want[j]}")
            self.checked += len(want)

    def report_phase(self):
        for msg in self.errors:
            self.logger.error(msg)
        if self.checked and not self.errors:
            self.logger.info(f"{len(self.obs)} runs, {self.checked} outputs match the golden "
                             "model of each run's unit bit for bit")


class HeteroEnv(uvm_env):
    def build_phase(self):
        self.monitor = Monitor("monitor", self)
        self.scoreboard = HeteroScoreboard("scoreboard", self)

    def connect_phase(self):
        self.monitor.ap.connect(self.scoreboard.analysis_export)


class HeteroBase(uvm_test):
    def build_phase(self):
        cfg = config()
        self.cfg = cfg
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        self.seed = seed
        ConfigDB().set(None, "*", "GOLDEN_MULS", [golden_mul(u) for u in cfg["units"]])
        self.bfm = EngineBfm(cocotb.top, cfg["lanes"], seed)
        self.env = HeteroEnv("env", self)
        self.errors = []

    async def caps(self):
        caps = await self.bfm.regs.read_ok(4 * CAPS)
        return (caps & 0xFF, 1 << ((caps >> 8) & 0xFF), 1 << ((caps >> 16) & 0xFF),
                (caps >> 24) & 0x7F)

    async def run(self, lay):
        obs = await self.bfm.run_layer(lay)
        self.env.monitor.ap.write(obs)
        return obs

    #: the test's coverage goal: every bin of eng.het.mul (the register test runs every
    #: unit and refused values; the network test the units its assignment names)
    full_goal = False

    def check_phase(self):
        self.cover_holes = coverage_holes(coverage_db, ["eng.het.mul"]) if self.full_goal \
            else []

    def report_phase(self):
        log_coverage(self.logger, coverage_db, ["eng.het.mul"], self.cover_holes)

    def final_phase(self):
        problems = self.errors + self.env.scoreboard.errors + self.cover_holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


class HeteroRegTest(HeteroBase):
    full_goal = True

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        r = self.bfm.regs
        lanes, ibuf, wbuf, cmax = await self.caps()
        ident = await r.read_ok(4 * ID)
        if ident != REGMAP.id_value:
            self.errors.append(f"ID 0x{ident:08x}, expected 0x{REGMAP.id_value:08x}")
        if setting("APPROXNN_SWEEP", "1") != "0":  # the whole register window
            self.errors += await sweep(r, engine_map(lanes, ibuf, wbuf, cmax, False,
                                                     hetero=True),
                                       seed=self.seed, log=self.logger)
        nu = len(self.cfg["units"])
        rng = np.random.default_rng(self.seed)
        for sel in sorted({nu, MUL_MAX, int(rng.integers(nu, MUL_MAX + 1))}):
            lay = make_layer(rng, "conv_same", 5, 5, 2, lanes, 3, 3, 1, 1, "SAME", error=6)
            lay.mode = sel << MUL_LSB
            lay.unit = None
            await self.run(lay)
            got = (await r.read_ok(4 * MODE)) >> MUL_LSB & MUL_MAX
            if got != sel:
                self.errors.append(f"MODE.MUL read {got} after writing {sel}")
        # after the refused layers the engine runs a layer with each unit, the last first
        for unit in reversed(range(nu)):
            lay = make_layer(rng, "conv_same", 5, 5, 2, lanes + 1, 3, 3, 1, 1, "SAME")
            lay.unit = unit
            lay.mode = unit << MUL_LSB
            await self.run(lay)
        self.drop_objection()


class HeteroNetworkTest(HeteroBase):
    async def run_phase(self):
        from refmodels.cnn import hetero  # noqa: PLC0415
        from refmodels.cnn.net import load_dataset, load_network  # noqa: PLC0415

        self.raise_objection()
        await self.bfm.start()
        cmax = (await self.caps())[3]
        units, sel = self.cfg["units"], self.cfg["layers"]
        net = load_network(self.cfg["network"])
        names = hetero.compute_layers(net)
        if not sel:  # no assignment given: the units in turn
            sel = [k % len(units) for k in range(len(names))]
        if len(sel) != len(names) or not all(0 <= s < len(units) for s in sel):
            raise ValueError(f"APPROXNN_HETERO_LAYERS: {len(names)} unit indices below "
                             f"{len(units)} needed ({names}), got {sel}")
        _, _, x_test, _ = load_dataset(net.topology["dataset"])
        n = self.cfg["images"]
        xq = net.quantize_input(x_test[:n])
        assignment = [units[s] for s in sel]
        want = hetero.forward_int8_layers(net, xq, assignment, rounding=ENGINE_ROUNDING)
        self.logger.info("assignment: " + ", ".join(f"{a} {u}" for a, u in
                                                   zip(names, assignment, strict=True)))
        muls = ConfigDB().get(None, "", "GOLDEN_MULS")
        told = set()  # units shown distinguishable from every other unit on some run
        params = net.int8_params()
        for i in range(n):
            a = xq[i : i + 1].astype(np.int64)
            k = 0
            for L in net.layers:
                t = L["type"]
                if t == "flatten":
                    a = a.reshape(1, -1)
                    continue
                if t not in ("conv2d", "dense", "maxpool"):
                    continue
                if t == "maxpool":
                    lay = pool_layer_of(a, L["pool"])
                    lay.unit = None
                else:
                    if t == "dense":
                        a = a.reshape(1, *fc_shape(a.size))
                    kind = ("conv_same" if L.get("padding") == "SAME" else "conv_valid") \
                        if t == "conv2d" else "fc"
                    p = params[k]
                    wt = np.asarray(p["weights"], np.int64)
                    if t == "dense":
                        wt = wt.reshape(wt.shape[0], *a.shape[1:])
                    lay = layer_of(kind, a, wt, p)
                    lay.unit = sel[k]
                    lay.mode |= sel[k] << MUL_LSB
                    k += 1
                outs = []
                parts = split_channels(lay, cmax)
                for part in parts:
                    part.unit = lay.unit
                    obs = await self.run(part)
                    if obs["out"] is None:
                        break
                    outs.append(obs["out"].reshape(1, part.oh, part.ow, part.oc))
                    if part.unit is not None:
                        mine = golden(part, muls[part.unit])
                        if all(not np.array_equal(mine, golden(part, m))
                               for j, m in enumerate(muls) if j != part.unit):
                            told.add(part.unit)
                if len(outs) != len(parts):
                    self.errors.append(f"image {i} {L['name']}: no output")
                    break
                a = np.concatenate(outs, axis=3)
            if not np.array_equal(a.ravel(), want[i]):
                self.errors.append(f"image {i}: outputs {a.ravel().tolist()}, model "
                                   f"{want[i].tolist()}")
            else:
                self.logger.info(f"image {i}: outputs equal the per-layer golden model, class "
                                 f"{int(np.argmax(a.ravel()))}")
        untold = sorted(set(sel) - told)
        if untold:
            self.errors.append(f"unit(s) {untold} never distinguishable from the others on "
                               "these layers: the test could not see a wrong MODE.MUL")
        self.drop_objection()
