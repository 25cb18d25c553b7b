"""An engine program (host/approxnn_host/program.py) through the CNN board target's system
simulation: the host driver ``CnnEngine`` unchanged on the PYNQ-API shim, every engine run
through GP0, DDR and the AXI DMA models (random stalls and back-pressure), ended by the
engine's and the DMAs' interrupts; Add and Reshape on the host, as on a board.

Driven by ``approxnn cnn run --backend sim`` (and its tests) through the environment:

* ``APPROXNN_PROGRAM``: the program (``PROG.json`` + ``PROG.npz``);
* ``APPROXNN_INPUTS``: an ``.npy`` of int8 inputs (N, *input shape);
* ``APPROXNN_OUTPUTS``: the ``.npy`` written with the int8 outputs, one row per input;
* ``APPROXNN_REPORT``: a JSON file written with, per image, the engine cycles of every step,
  the simulated fabric-clock cycles of the whole image and the wall time, and the coverage
  (``coverage``: the system's DMA channels and the kinds of program step run).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from cocotb.task import bridge
from cocotb.utils import get_sim_time
from cocotb_coverage.coverage import coverage_db

from verif.common.axi_env import DirectedSeq, DirectedTest, OwnSetupBfm, register
from verif.common.coverage import cover_point
from verif.zynq.cocotb_system import DMA_ITEM, ENGINE, System
from verif.zynq.coverage import finish

#: cover item: the kinds of program step run (engine runs by layer kind, engine runs of a
#: split layer - a row band or a channel group -, the host's Add and Reshape)
STEP_ITEM = "prog.step"
STEP_BINS = ["engine:conv", "engine:depthwise", "engine:fc", "engine:maxpool",
             "engine:avgpool", "engine:row_band", "engine:channel_group", "host:add",
             "host:reshape"]


def step_bins(prog, i) -> list[str]:
    """The :data:`STEP_BINS` step ``i`` of ``prog`` falls in."""
    st = prog.steps[i]
    if st["kind"] != "engine":
        return [f"host:{st['kind']}"]
    L = st["layer"]
    mode = L["mode"] & 0xFF
    kind = {2: "maxpool", 3: "avgpool"}.get(mode) or ("depthwise" if mode & 1 else
                                                     "fc" if f"s{i}.fscale" in prog.arrays
                                                     else "conv")
    out = [f"engine:{kind}"]
    if list(st["in_rows"]) != [0, st["in_shape"][0]] and kind != "fc":
        out.append("engine:row_band")
    if st["out_ch"][0] or st["out_ch"][1] != st["out_shape"][2]:
        out.append("engine:channel_group")
    return out


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

    sample = cover_point(STEP_ITEM, STEP_BINS)

    def on_step(image, i, cycles):
        for b in step_bins(prog, i):
            sample(b)

    def one(x):
        return P.run(prog, drv, x[None], on_step=on_step)

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
    finish([DMA_ITEM, STEP_ITEM], goal=False)  # the goal depends on the program
    cov = {name: {str(k): int(v) for k, v in coverage_db[name].detailed_coverage.items()}
           for name in (DMA_ITEM, STEP_ITEM)}
    with open(os.environ["APPROXNN_REPORT"], "w") as f:
        json.dump({"images": images, "lanes": drv.lanes, "cmax": drv.cmax, "coverage": cov}, f)


class ProgramRunSeq(DirectedSeq):
    """The run above as a pyuvm sequence (the system sets up its own clock and reset)."""

    async def steps(self, bfm):
        await program_run_steps(bfm.dut)


class ProgramRunTest(DirectedTest):
    bfm_class = OwnSetupBfm
    sequence_class = ProgramRunSeq


# the test name the runner selects
program_run = register("program_run", ProgramRunTest)
