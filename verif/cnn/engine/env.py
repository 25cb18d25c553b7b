"""Environment and base test of the CNN engine, on the AXI blocks' base
(verif/common/axi_env.py)."""

from __future__ import annotations

import cocotb
from pyuvm import ConfigDB

from refmodels.cnn import approx as apx
from verif.cnn.engine.agents import EngineBfm, config_from_env
from verif.cnn.engine.coverage import EngineCoverage, EngineRandomCoverage
from verif.cnn.engine.layers import is_hf6
from verif.cnn.engine.scoreboard import EngineScoreboard
from verif.common.axi_env import AxiBlockEnv, AxiBlockTest


class EngineEnv(AxiBlockEnv):
    scoreboard_class = EngineScoreboard
    coverage_class = EngineCoverage


class EngineBase(AxiBlockTest):
    expect_layers = True
    env_class = EngineEnv

    def make_bfm(self, seed):
        cfg = config_from_env()
        return EngineBfm(cocotb.top, cfg["lanes"], seed, hf6=is_hf6(cfg["mul"]))

    def build_phase(self):
        cfg = config_from_env()
        if is_hf6(cfg["mul"]):
            mul = "hf6"
        else:
            mul = None if cfg["mul"] == "int8" else apx.ApproxMul.from_unit(cfg["mul"])
        ConfigDB().set(None, "*", "GOLDEN_MUL", mul)
        ConfigDB().set(None, "*", "EXPECT_LAYERS", self.expect_layers)
        super().build_phase()

    async def read_caps(self):
        caps = await self.bfm.read_reg("CAPS")  # by name, from the register model
        lanes, ibuf, wbuf, cmax = caps & 0xFF, 1 << ((caps >> 8) & 0xFF), \
            1 << ((caps >> 16) & 0xFF), (caps >> 24) & 0x7F
        self.caps_hf6 = bool(caps >> 31)
        ConfigDB().set(None, "*", "CAPS", (lanes, ibuf, wbuf, cmax))
        return lanes, ibuf, wbuf, cmax


class EngineRandomEnv(EngineEnv):
    coverage_class = EngineRandomCoverage
