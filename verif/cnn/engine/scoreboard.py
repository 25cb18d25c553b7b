"""Scoreboard of the CNN engine: every layer's output against the golden model, bit for bit;
layers the engine must refuse end with STATUS.ERROR, the documented error code and no output."""

from __future__ import annotations

import copy

import numpy as np
from pyuvm import ConfigDB, uvm_subscriber

from verif.cnn.engine.layers import golden, is_hf6


class EngineScoreboard(uvm_subscriber):
    def build_phase(self):
        self.obs = []
        self.errors = []

    def write(self, obs):
        self.obs.append(obs)

    def check_phase(self):
        mul = ConfigDB().get(None, "", "GOLDEN_MUL")
        self.checked = 0
        if not self.obs and ConfigDB().get(None, "", "EXPECT_LAYERS"):
            self.errors.append("no layer ran")
        for i, o in enumerate(self.obs):
            lay, st = o["layer"], o["status"]
            if lay.error:
                want = 0x6 | (lay.error << 8)  # DONE | ERROR, code
                if st != want:
                    self.errors.append(f"layer {i} ({lay}): STATUS 0x{st:x}, want 0x{want:x}")
                if o["x_left"] or o["w_left"]:  # a long frame must be read to its end
                    self.errors.append(f"layer {i} ({lay}): frames left unread in the "
                                       f"sources (x {o['x_left']}, w {o['w_left']})")
                continue
            if st != 0x2:
                self.errors.append(f"layer {i} ({lay}): STATUS 0x{st:x}, want DONE (0x2)")
            want = golden(lay, mul)
            got = o["out"]
            if got is None or len(got) != len(want):
                self.errors.append(f"layer {i} ({lay}): {0 if got is None else len(got)} "
                                   f"outputs, want {len(want)}")
                continue
            bad = np.flatnonzero(got != want)
            if len(bad):
                j = int(bad[0])
                self.errors.append(f"layer {i} ({lay}): {len(bad)} outputs differ, first at "
                                   f"{j} (channel {j % lay.oc}): RTL {got[j]}, model {want[j]}")
            self.checked += len(want)
            if lay.kind == "fc_tie" and not is_hf6(mul):
                # the layer must tell the float-scale rescale from the fixed-point one
                fixed = copy.copy(lay)
                fixed.fscale = None
                if np.array_equal(golden(fixed, mul), want):
                    self.errors.append(f"layer {i} ({lay}): no output where the reference "
                                       "FullyConnected rounding differs from the fixed-point one")

    def report_phase(self):
        for o in self.obs:
            self.logger.info(f"{o['layer']}: STATUS 0x{o['status']:x}, {o['cycles']} cycles")
        for msg in self.errors:
            self.logger.error(msg)
        if not self.errors and self.checked:
            self.logger.info(f"{self.checked} outputs match the golden model bit for bit")
