"""An engine program (host/approxnn_host/program.py) through the CNN board target's system
simulation: the host driver ``CnnEngine`` unchanged on the PYNQ-API shim, every engine run
through GP0, DDR and the AXI DMA models (random stalls and back-pressure), ended by the
engine's and the DMAs' interrupts; Add and Reshape on the host, as on a board.

Driven by ``approxnn cnn run --backend sim`` (and its tests) through the environment:

* ``APPROXNN_PROGRAM``: the program (``PROG.json`` + ``PROG.npz``);
* ``APPROXNN_INPUTS``: an ``.npy`` of int8 inputs (N, *input shape);
* ``APPROXNN_OUTPUTS``: the ``.npy`` written with the int8 outputs, one row per input;
* ``APPROXNN_REPORT``: a JSON file written with, per image, the engine cycles of every step,
  the simulated fabric-clock cycles of the whole image and the wall time.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from cocotb.task import bridge
from cocotb.utils import get_sim_time

from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.zynq.cocotb_system import ENGINE, System


async def program_run_steps(dut):
    from approxnn_host import program as P
    from approxnn_host.cnn import CnnEngine

    from verif.zynq.pynq_shim import RingAllocator, SimOverlay

    prog = P.load(os.environ["APPROXNN_PROGRAM"])
    xq = np.load(os.environ["APPROXNN_INPUTS"], allow_pickle=False)
    sysm = System(dut, int(os.environ.get("APPROXNN_SEED", "1")))
    await sysm.reset()
    overlay = SimOverlay(sysm.gp0, {ENGINE.cell: ENGINE.offset},
                         {name: (sysm.dma_base[name], m) for name, m in sysm.dma.items()})
    drv = await bridge(CnnEngine)(overlay, RingAllocator(sysm.ddr, size=0x60_0000))
    eng = prog.meta["engine"]
    assert drv.lanes == eng["lanes"] and drv.cmax >= eng["cmax"], \
        f"program for P={eng['lanes']}, cmax={eng['cmax']}; the engine has P={drv.lanes}, " \
        f"cmax={drv.cmax}"
    images = []

    def one(x):
        return P.run(prog, drv, x[None])

    outs = []
    for n, x in enumerate(xq):
        t0, s0, p0 = time.perf_counter(), get_sim_time("ns"), time.process_time()
        y, cyc = await bridge(one)(x)
        wall, sim_ns = time.perf_counter() - t0, get_sim_time("ns") - s0
        cpu = time.process_time() - p0
        outs.append(y[0])
        images.append({"cycles": cyc[0], "fabric_cycles": int(round(sim_ns / 10)),
                       "wall_s": wall, "cpu_s": cpu})
        dut._log.info(f"image {n}: {sum(cyc[0])} engine cycles, {wall:.1f} s")
    out = np.stack(outs) if outs else np.zeros((0, *prog.output_shape), np.int8)
    np.save(os.environ["APPROXNN_OUTPUTS"], out)
    with open(os.environ["APPROXNN_REPORT"], "w") as f:
        json.dump({"images": images, "lanes": drv.lanes, "cmax": drv.cmax}, f)


class ProgramRunSeq(DirectedSeq):
    """The run above as a pyuvm sequence (the system sets up its own clock and reset)."""

    async def steps(self, bfm):
        await program_run_steps(bfm.dut)


class ProgramRunTest(DirectedTest):
    bfm_class = OwnSetupBfm
    sequence_class = ProgramRunSeq


# the test name the runner selects
program_run = register("program_run", ProgramRunTest)
