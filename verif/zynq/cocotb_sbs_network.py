"""A stored SbS network through the SbS board target's system simulation: the host driver
``SbsLayer`` unchanged on the PYNQ-API shim (host/approxnn_host/sbs_network.py), every
weight set, h and spike frame through GP0, DDR and the AXI DMA models, each step ended by
interrupts.

Driven by ``approxnn sbs run --backend sim`` through the environment: ``APPROXNN_SBS_NETWORK``
(stored name or file), ``APPROXNN_SBS_T``, ``APPROXNN_SBS_IMAGES`` (held-out test images from
the first), ``APPROXNN_SEED`` (spike seed of image 0), ``APPROXNN_REPORT`` (JSON written with
every layer's final h and its cost per image).
"""

from __future__ import annotations

import json
import os

import numpy as np
from cocotb.task import bridge
from cocotb.utils import get_sim_time

from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.zynq.cocotb_system_sbs import DMA_ITEM, FMT, LAYER, SbsSystem
from verif.zynq.coverage import finish


async def sbs_network_run_steps(dut):
    from approxnn_host import sbs_network
    from approxnn_host.sbs import SbsLayer

    from refmodels.sbs.evaluate import load_named
    from refmodels.sbs.formats import HFixed
    from refmodels.sbs.train import load_digits_split, load_mnist_split
    from verif.zynq.pynq_shim import RingAllocator, SimOverlay

    net, dataset = load_named(os.environ["APPROXNN_SBS_NETWORK"])[:2]
    T = int(os.environ["APPROXNN_SBS_T"])
    n = int(os.environ["APPROXNN_SBS_IMAGES"])
    seed = int(os.environ.get("APPROXNN_SEED", "0"))
    loader = load_digits_split if dataset == "digits" else load_mnist_split
    _, _, x_test, y_test = loader()
    images, labels = x_test[:n], y_test[:n]
    sysm = SbsSystem(dut, 4)
    await sysm.reset()
    overlay = SimOverlay(sysm.gp0, {LAYER.cell: LAYER.offset},
                         {name: (sysm.base[name], m) for name, m in sysm.dma.items()})
    drv = await bridge(SbsLayer)(overlay, RingAllocator(sysm.ddr, base=0x8_0000,
                                                        size=0x7_0000))
    assert drv.code_bits == FMT.bits

    def clock():
        return int(round(get_sim_time("ns") / 10))

    states, costs = await bridge(sbs_network.run)(
        drv, net, images, T, seed + np.arange(n), FMT, HFixed(), clock, dut._log.info)
    finish([DMA_ITEM], goal=False)  # reported; the directed system test holds the goal
    with open(os.environ["APPROXNN_REPORT"], "w") as f:
        json.dump({"T": T, "labels": [int(v) for v in labels], "costs": costs,
                   "states": [[h.tolist() for h in s] for s in states]}, f)


class SbsNetworkRunSeq(DirectedSeq):
    """The run above as a pyuvm sequence (the system sets up its own clock and reset)."""

    async def steps(self, bfm):
        await sbs_network_run_steps(bfm.dut)


class SbsNetworkRunTest(DirectedTest):
    bfm_class = OwnSetupBfm
    sequence_class = SbsNetworkRunSeq


# the test name the runner selects
sbs_network_run = register("sbs_network_run", SbsNetworkRunTest)
