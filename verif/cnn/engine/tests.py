"""Tests of the CNN engine: :class:`EngineRegTest` (register map), :class:`EngineLayerTest`
(directed layer kinds and every error code), :class:`EngineRandomTest` (constrained-random
layers with a coverage goal) and :class:`EngineNetworkTest` (a stored network end to end)."""

from __future__ import annotations

import os
import random

import numpy as np
from approxnn_host.layers import (
    fc_shape,
    hf6_layer_of,
    layer_of,
    pool_layer_of,
    split_channels,
)
from cocotb_coverage.coverage import coverage_db
from pyuvm import ConfigDB

from verif.cnn.engine.agents import (
    BIAS,
    CAPS,
    CYCLES,
    FLOAT_SCALE,
    ID,
    IN_SHAPE,
    MODE,
    MULT,
    QUANT,
    REGMAP,
    SCALE_HI,
    SHIFT,
    STATUS,
    EngineBfm,
    config_from_env,
)
from verif.cnn.engine.env import EngineBase, EngineRandomEnv
from verif.cnn.engine.layers import ENGINE_ROUNDING, is_hf6
from verif.cnn.engine.sequences import LayerSeq, RandomLayerSeq
from verif.common.axi import AxiResp, reset
from verif.common.coverage import cover_point, coverage_holes, log_coverage
from verif.common.regmap import sweep, sweep_bins
from verif.common.regmaps import engine_map


class EngineLayerTest(EngineBase):
    """Convolutions, FullyConnected and the error layers against the golden model."""

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        await self.read_caps()
        await LayerSeq("seq").start(self.env.seqr)
        self.drop_objection()

    def final_phase(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


class EngineRandomTest(EngineBase):
    """Constrained-random layers of every kind (shapes, strides, paddings, filters, depth
    multipliers, zero points, saturating scales) against the golden model, with the coverage
    goal of :class:`EngineRandomCoverage`; random idle cycles and back-pressure."""

    env_class = EngineRandomEnv

    def build_phase(self):
        super().build_phase()
        # i.i.d. idle / back-pressure with long stalls now and then (full output FIFO)
        self.bfm.agents.stress = os.environ.get("APPROXNN_STRESS", "iidb")
        self.bfm.agents.fifo_depth = max(8, 4 * config_from_env()["lanes"])

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        await self.read_caps()
        await RandomLayerSeq("seq").start(self.env.seqr)
        self.drop_objection()

    def final_phase(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


class EngineRegTest(EngineBase):
    """CAPS, the register sweep (in a fresh simulation first the channel tables, unwritten: 0),
    read-back of the channel table and MODE, the tables kept and MODE cleared by a reset,
    SLVERR for unmapped words, for writes to the read-only registers and for partial writes;
    in the HF6 build the 6-bit BIAS codes, no
    MULT / SHIFT / SCALE_HI tables, MODE.FLOAT_SCALE reading 0 and SLVERR for the reserved ACT
    value 3."""

    expect_layers = False
    cover_holes: list = []

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        r = self.bfm.regs
        errors = []
        lanes, ibuf, wbuf, cmax = await self.read_caps()
        cfg = config_from_env()
        if lanes != cfg["lanes"]:
            errors.append(f"CAPS lanes {lanes}, expected {cfg['lanes']}")
        hf = is_hf6(cfg["mul"])
        if self.caps_hf6 != hf:
            errors.append(f"CAPS bit 31 (HF6) is {int(self.caps_hf6)}")
        ident = await r.read_ok(4 * ID)
        if ident != REGMAP.id_value:
            errors.append(f"ID 0x{ident:08x}, expected 0x{REGMAP.id_value:08x}")
        # every word of the window against the register map (reset values, OKAY / SLVERR,
        # partial strobes refused and not performed, read-only and unmapped words inert); in a
        # fresh simulation first every channel-table entry, never written: 0, no X
        fresh = not EngineBfm.tables_written
        EngineBfm.tables_written = True
        rmap = engine_map(lanes, ibuf, wbuf, cmax, self.caps_hf6)
        # coverage: every (word class, access) pair the map calls for (regmap.sweep_bins)
        bins = [f"{c}:{a}" for c, a in sweep_bins(rmap, fresh)]
        sample = cover_point("eng.reg.access", bins)
        errors += await sweep(r, rmap, seed=int(ConfigDB().get(None, "", "SEED")),
                              log=self.logger, fresh=fresh,
                              cover=lambda ca: sample(":".join(ca)))
        self.cover_holes = coverage_holes(coverage_db, ["eng.reg.access"])
        rng = random.Random(3)
        vals = {}
        tables = (BIAS,) if hf else (BIAS, MULT, SHIFT, SCALE_HI)
        for base in tables:
            for ch in (0, cmax - 1, rng.randrange(cmax)):
                v = rng.getrandbits(32) if base != SHIFT else rng.getrandbits(6)
                await r.write_ok(4 * (base + ch), v)
                vals[base + ch] = v & 0x3F if hf else v  # HF6: the bias code, 6 bits
        # MODE: KIND, FLOAT_SCALE (the HF6 build reads it 0) and DM
        mode = 1 | FLOAT_SCALE | (3 << 8)
        await r.write_ok(4 * MODE, mode)
        vals[MODE] = mode & ~FLOAT_SCALE if hf else mode
        if hf:
            await r.write_ok(4 * QUANT, 0xFFFFFFF2)  # ACT keeps bits 1:0
            vals[QUANT] = 2
            if await r.write(4 * QUANT, 3) != AxiResp.SLVERR:
                errors.append("write of the reserved ACT value 3 not answered SLVERR")
        for word, v in vals.items():
            got = await r.read_ok(4 * word)
            if got != v:
                errors.append(f"word {word}: read 0x{got:x} after writing 0x{v:x}")
        # a reset sets MODE (and ACT) to 0 but leaves the channel tables as written
        await reset(self.bfm.dut)
        for word, v in vals.items():
            want = v if word >= BIAS else 0
            got = await r.read_ok(4 * word)
            if got != want:
                errors.append(f"word {word}: read 0x{got:x} after a reset, expected 0x{want:x}")
        for word in (STATUS, CAPS, CYCLES, ID):
            if await r.write(4 * word, 1) != AxiResp.SLVERR:
                errors.append(f"write to read-only word {word} not answered SLVERR")
        # beyond the tables: word-index bits 8:6 = 5..7; channels at or beyond cmax
        unmapped = [ID + 1, 63, SCALE_HI + 64, 447, 511]
        if cmax < 64:
            unmapped += [t + c for t in (BIAS, MULT, SHIFT, SCALE_HI) for c in (cmax, 63)]
        if hf:
            unmapped += [t + c for t in (MULT, SHIFT, SCALE_HI) for c in (0, cmax - 1)]
        for word in unmapped:
            _, resp = await r.read(4 * word)
            if resp != AxiResp.SLVERR:
                errors.append(f"read of unmapped word {word} answered {resp!r}")
            if await r.write(4 * word, 0) != AxiResp.SLVERR:
                errors.append(f"write to unmapped word {word} not answered SLVERR")
        resp = await r.master.write(4 * IN_SHAPE, b"\x01\x02", )
        if resp.resp != AxiResp.SLVERR:
            errors.append(f"partial write answered {resp.resp!r}")
        self.errors = errors
        self.drop_objection()

    def report_phase(self):
        log_coverage(self.logger, coverage_db, ["eng.reg.access"], self.cover_holes)

    def final_phase(self):
        problems = self.errors + self.cover_holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


class EngineNetworkTest(EngineBase):
    """A trained network of refmodels.cnn (``APPROXNN_NETWORK``, default ``digits``) end to end
    on ``APPROXNN_IMAGES`` held-out images: every convolution, pooling and dense layer on the
    engine (each run also checked by the scoreboard); the host only passes each output map on
    as the next input (flatten is the NHWC order itself), runs a dense layer of more than 255
    inputs as a Conv2D over the unflattened map (:func:`fc_shape`) and splits layers with more
    output channels than the channel table (:func:`split_channels`). The network's outputs
    must equal ``Network.forward_int8`` (with the engine's multiplier, rounding path
    :data:`ENGINE_ROUNDING`) bit for bit, or
    ``Network.forward_hf6`` (float32 bit patterns) on the HF6 engine."""

    images = 3
    cover_holes: list = []

    async def run_phase(self):
        from refmodels.cnn.net import load_dataset, load_network  # noqa: PLC0415

        self.raise_objection()
        await self.bfm.start()
        self.cmax = (await self.read_caps())[3]
        name = os.environ.get("APPROXNN_NETWORK", "digits")
        net = load_network(name)
        _, _, x_test, _ = load_dataset(net.topology["dataset"])
        n = int(os.environ.get("APPROXNN_IMAGES", self.images))
        self.images_run = n
        hf = self.bfm.hf6
        if hf:
            xs = np.asarray(x_test[:n], np.float32)
            want = net.forward_hf6(xs).view(np.uint32).astype(np.int64)
        else:
            xq = net.quantize_input(x_test[:n])
            want = net.forward_int8(xq, mul=ConfigDB().get(None, "", "GOLDEN_MUL"),
                                    rounding=ENGINE_ROUNDING)
            xs = xq.astype(np.int64)
            params = net.int8_params()
        self.errors = []
        # coverage: every layer of the network that runs on the engine, run to its output on
        # every image (the bins are the network's own layers)
        engine_layers = [L["name"] for L in net.layers
                         if L["type"] in ("conv2d", "dense", "maxpool")]
        sample = cover_point("eng.net.layer", engine_layers)
        for i in range(n):
            a = xs[i : i + 1]
            k = 0
            for L in net.layers:
                t = L["type"]
                if t in ("conv2d", "dense", "maxpool"):
                    if t == "dense":
                        a = a.reshape(1, *fc_shape(a.size))
                    kind = {"conv2d": "conv_same" if L.get("padding") == "SAME" else
                            "conv_valid", "dense": "fc", "maxpool": "maxpool"}[t]
                    if t == "maxpool":
                        lay = pool_layer_of(a, L["pool"])
                    elif hf:
                        lay = hf6_layer_of(kind, a, L, net.arrays)
                    else:
                        p = params[k]
                        k += 1
                        wt = np.asarray(p["weights"], np.int64)
                        if t == "dense":
                            wt = wt.reshape(wt.shape[0], *a.shape[1:])
                        lay = layer_of(kind, a, wt, p)
                    lay.layer, lay.image = L["name"], i
                    outs = []
                    for part in split_channels(lay, self.cmax):
                        obs = await self.bfm.run_layer(part)
                        self.env.monitor.ap.write(obs)
                        if obs["out"] is None:
                            break
                        outs.append(obs["out"].reshape(1, part.oh, part.ow, part.oc))
                    if len(outs) != len(split_channels(lay, self.cmax)):
                        self.errors.append(f"image {i} {L['name']}: no output")
                        break
                    a = np.concatenate(outs, axis=3)
                    sample(L["name"])
                    if hf:
                        a = a.astype(np.uint32).view(np.float32)
                elif t == "flatten":
                    a = a.reshape(1, -1)
            got = a.ravel().view(np.uint32).astype(np.int64) if hf else a.ravel()
            if not np.array_equal(got, want[i]):
                self.errors.append(f"image {i}: outputs {got.tolist()}, model "
                                   f"{want[i].tolist()}")
            else:
                self.logger.info(f"image {i}: outputs match, class {int(np.argmax(a.ravel()))}")
        self.cover_holes = coverage_holes(coverage_db, ["eng.net.layer"])
        self.drop_objection()

    def report_phase(self):
        log_coverage(self.logger, coverage_db, ["eng.net.layer"], self.cover_holes)

    def final_phase(self):
        problems = self.errors + self.env.scoreboard.errors + self.cover_holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")
