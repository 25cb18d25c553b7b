"""cocotb entry point: cycles per layer of a trained network on the layer engine.

``EngineNetworkCycles`` is ``EngineNetworkTest`` (outputs checked against
``Network.forward_int8`` / ``forward_hf6``, every layer checked by the scoreboard;
``APPROXNN_NETWORK``, ``APPROXNN_IMAGES``) with a recorder on the monitor: the CYCLES register
of every layer run (START to DONE), the network layer and image it belongs to, the run's shape
and its MAC count are written as JSON to ``APPROXNN_CYCLES_FILE``. Run it with
``APPROXNN_IDLE=0`` (no stream idle cycles, no output back-pressure) for the figures of
``approxnn cnn hardware``.
"""

import json
import os

import pyuvm
from pyuvm import uvm_subscriber

from verif import fail_exit
from verif.cnn.engine.tests import EngineNetworkTest

fail_exit.install()


def layer_macs(lay) -> int:
    """Multiply-accumulates of one layer run (padded taps counted; pooling has none)."""
    if lay.mode >= 2:
        return 0
    taps = lay.fh * lay.fw * (1 if lay.depthwise else lay.c)
    return int(lay.oh * lay.ow * lay.oc * taps)


class CycleRecorder(uvm_subscriber):
    def build_phase(self):
        self.rows = []

    def write(self, obs):
        lay = obs["layer"]
        self.rows.append({
            "layer": getattr(lay, "layer", lay.kind), "image": getattr(lay, "image", 0),
            "kind": lay.kind, "in": [int(lay.h), int(lay.w), int(lay.c)],
            "out": [int(lay.oh), int(lay.ow), int(lay.oc)], "filter": [int(lay.fh), int(lay.fw)],
            "stride": [int(lay.sy), int(lay.sx)], "macs": layer_macs(lay),
            "cycles": int(obs["cycles"]), "status": int(obs["status"]),
        })


class EngineNetworkCycles(EngineNetworkTest):
    images = 1

    def build_phase(self):
        super().build_phase()
        self.recorder = CycleRecorder("recorder", self)

    def connect_phase(self):
        self.env.monitor.ap.connect(self.recorder.analysis_export)

    def final_phase(self):
        path = os.environ.get("APPROXNN_CYCLES_FILE")
        problems = self.errors + self.env.scoreboard.errors
        if path:
            with open(path, "w") as fh:
                json.dump({"layers": self.recorder.rows, "passed": not problems,
                           "images": self.images_run}, fh, indent=1)
        super().final_phase()


EngineNetworkCycles = pyuvm.test()(EngineNetworkCycles)
