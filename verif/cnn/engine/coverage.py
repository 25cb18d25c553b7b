"""Functional coverage of the CNN engine: the directed layer kinds and the random layers' bins."""

from __future__ import annotations

import numpy as np
from approxnn_host.layers import POOL_MODES
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import ConfigDB, uvm_subscriber

from verif.cnn.engine.agents import config_from_env
from verif.cnn.engine.layers import RND_KINDS, ZP_BINS, golden, is_hf6, kinds_of
from verif.cnn.pipe import coverage_holes, log_coverage


class EngineCoverage(uvm_subscriber):
    """Bins: every layer kind (SAME / VALID convolution, strided with uneven padding,
    FullyConnected, 1x1, a partial last channel group, each error code) and the activation
    clamp used. Goal: every bin hit."""

    def build_phase(self):
        single = config_from_env()["lanes"] == 1  # no partial group with one lane
        self.names = ["eng.kind"] if single else ["eng.kind", "eng.partial"]
        kinds = [k for k in kinds_of(config_from_env()["mul"])
                 if not (single and k == "partial_group")]

        @CoverPoint("eng.kind", xf=lambda k, p: k, bins=kinds)
        @CoverPoint("eng.partial", xf=lambda k, p: p, bins=["full", "partial"])
        def sample(k, p):
            pass

        self.sample = sample

    def write(self, obs):
        lay = obs["layer"]
        lanes = config_from_env()["lanes"]
        part = "partial" if lay.oc % lanes and lay.mode == 0 else "full"
        self.sample(lay.kind, part)
        if part == "partial" and not lay.error:
            self.sample("partial_group", part)

    def check_phase(self):
        self.holes = []
        if ConfigDB().get(None, "", "EXPECT_LAYERS"):
            self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        if ConfigDB().get(None, "", "EXPECT_LAYERS"):
            log_coverage(self.logger, coverage_db, self.names, self.holes)


def rnd_bins(lay, out, mul):
    """Cover-point values of a random layer and its golden output."""
    stride = max(lay.sy, lay.sx)
    filt = max(lay.fh, lay.fw)
    spatial = None if lay.kind == "fc" else f"{lay.kind}_{lay.padding}"
    if is_hf6(mul):
        low = lay.act != "NONE" and bool(np.any(out == 0))
        high = lay.act == "RELU6" and bool(np.any(out == np.float32(6).view(np.uint32)))
        zp = None
    else:
        low, high = bool(np.any(out == lay.act_min)), bool(np.any(out == lay.act_max))
        zp = None if lay.kind in POOL_MODES else (
            "min" if lay.zp_in == -128 else "max" if lay.zp_in == 127 else
            "zero" if lay.zp_in == 0 else "negative" if lay.zp_in < 0 else "positive")
    sat = tuple(k for k, hit in (("low", low), ("high", high)) if hit) or ("none",)
    return {"kind": lay.kind, "stride": str(stride), "filter": "1" if filt == 1 else
            "2_3" if filt <= 3 else "4_5", "spatial": spatial, "zp": zp, "sat": sat,
            "dm": str(getattr(lay, "dm", 1)) if lay.kind == "depthwise" else None}


class EngineRandomCoverage(uvm_subscriber):
    """Bins of the random layers: kind, kind x padding (spatial kinds), largest stride (1, 2,
    3), largest filter side (1, 2-3, 4-5), input zero point (int8: -128, negative, 0,
    positive, 127), the clamp reached (none, low, high: saturating outputs; a layer can hit
    both), depth
    multiplier (1, 2, 3). Goal: every bin hit."""

    def build_phase(self):
        mul = config_from_env()["mul"]
        kinds = [k for k in RND_KINDS if not (is_hf6(mul) and k == "avgpool")]
        spatial = [f"{k}_{p}" for k in kinds if k != "fc" for p in ("SAME", "VALID")]
        self.names = ["eng.rnd.kind", "eng.rnd.spatial", "eng.rnd.stride", "eng.rnd.filter",
                      "eng.rnd.sat", "eng.rnd.dm"] + ([] if is_hf6(mul) else ["eng.rnd.zp"])
        self.mul = mul

        @CoverPoint("eng.rnd.kind", xf=lambda b: b["kind"], bins=kinds)
        @CoverPoint("eng.rnd.spatial", xf=lambda b: b["spatial"], bins=spatial)
        @CoverPoint("eng.rnd.stride", xf=lambda b: b["stride"], bins=["1", "2", "3"])
        @CoverPoint("eng.rnd.filter", xf=lambda b: b["filter"], bins=["1", "2_3", "4_5"])
        @CoverPoint("eng.rnd.zp", xf=lambda b: b["zp"], bins=ZP_BINS)
        @CoverPoint("eng.rnd.sat", xf=lambda b: b["sat"], rel=lambda val, b: b in val,
                    bins=["none", "low", "high"], inj=False)
        @CoverPoint("eng.rnd.dm", xf=lambda b: b["dm"], bins=["1", "2", "3"])
        def sample(b):
            pass

        self.sample = sample
        self.holes = []

    def write(self, obs):
        lay = obs["layer"]
        self.sample(rnd_bins(lay, golden(lay, ConfigDB().get(None, "", "GOLDEN_MUL")),
                             self.mul))

    def check_phase(self):
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names, self.holes)
