"""cocotb tests of the SbS spike generator: the pyuvm random test (verif/sbs/spikegen_env.py)
and the directed pyuvm tests (registers / cut frame, reset during traffic) on the AXI blocks'
base (verif/common/axi_env.py), against refmodels.sbs.rng (xorshift, ``select_fixed``).
Configuration: ``APPROXNN_SBS_NMAX``, ``APPROXNN_SBS_SRCMAX``, ``APPROXNN_SEED``,
``APPROXNN_COUNT`` (steps per configuration), ``APPROXNN_IDLE``, ``APPROXNN_BACKPRESSURE``."""

import random

import cocotb
import numpy as np
import pyuvm
from cocotb.triggers import ClockCycles

from cores.sbs.spikegen.spikegen import ERR_H_SHORT, NO_SPIKE, REG, REGMAP
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif import fail_exit
from verif.common.axi import AxiResp, StreamAgents, frame, reset
from verif.common.axi_env import DirectedSeq, DirectedTest, register
from verif.common.regmap import sweep
from verif.common.regmaps import spikegen_map
from verif.sbs.env import setting
from verif.sbs.spikegen_env import SpikegenBfm, SpikegenRandomTest

fail_exit.install()


def config():
    return int(setting("APPROXNN_SBS_NMAX", "16")), int(setting("APPROXNN_SBS_SRCMAX", "64"))


pyuvm.test()(SpikegenRandomTest)


class SpikegenDirectedTest(DirectedTest):
    def make_bfm(self, seed):
        return SpikegenBfm(cocotb.top, seed)


class RegistersAndBadFramesSeq(DirectedSeq):
    """Bad register accesses get SLVERR; a frame cut short is flagged and the unit recovers."""

    async def steps(self, bfm):
        await registers_and_bad_frames_steps(bfm.dut, bfm.regs)


async def registers_and_bad_frames_steps(dut, regs):
    n_max, src_max = config()
    problems = await sweep(regs, spikegen_map(n_max, src_max), log=dut._log)
    assert not problems, f"{len(problems)} problem(s): " + "; ".join(problems[:5])
    await reset(dut)
    mapped = {r.offset for r in REGMAP}
    for addr in range(0, 64, 4):
        if addr not in mapped:
            assert (await regs.read(addr))[1] == AxiResp.SLVERR
    for name, bad in (("N_H", 0), ("N_H", n_max + 1), ("N_SRC", 0), ("N_SRC", src_max + 1),
                      ("LAYER", 2048), ("ID", 1), ("SPIKES", 0)):
        assert await regs.write(REG[name], bad) == AxiResp.SLVERR, name
    agents = StreamAgents(dut, random.Random(3))
    src, sink = agents.source("s_axis_h"), agents.sink("m_axis_spk")
    n_h, n_src = min(4, n_max), min(2, src_max)
    await regs.write_ok(REG["N_H"], n_h)
    await regs.write_ok(REG["N_SRC"], n_src)
    await regs.write_ok(REG["CTRL"], 1)
    await ClockCycles(dut.clk, 20)
    # the step is cut short: one beat of the second source, or the first source cut
    first = list(range(1, n_h + 1))
    await src.send(frame(first + [5] if n_src == 2 else first[:-1]))
    await src.wait()
    await ClockCycles(dut.clk, 20)
    assert await regs.read_ok(REG["ERROR"]) == ERR_H_SHORT
    await regs.write_ok(REG["ERROR"], ERR_H_SHORT)
    await regs.write_ok(REG["CTRL"], 1)  # seed again: the model starts over too
    h = np.ones((n_src, n_h), dtype=np.int64)
    h[0, -1] = 7
    await src.send(frame(h.ravel().tolist()))
    got = [-1 if g == NO_SPIKE else int(g) for g in (await sink.recv()).tdata]
    want = select_fixed(h, SpikeRNG("xorshift", [0]).words(0, n_src)[0]).tolist()
    if n_src == 2:
        # the spike of the first source of the cut step went out without tlast: the sink
        # sees it at the head of the next frame
        cut = select_fixed(np.array([first]), SpikeRNG("xorshift", [0]).words(0, 2)[0][:1])
        want = [int(cut[0])] + want
    assert got == want


class ResetDuringTrafficSeq(DirectedSeq):
    """rst asserted mid-frame (latents partly sent), mid-compute (latents in, no spike out)
    and mid-output (spikes partly out), under bursty stalls and back-pressure; each time a
    full step afterwards equals the golden model and the registers are back at reset."""

    async def steps(self, bfm):
        await reset_during_traffic_steps(bfm.dut, bfm.regs)


async def reset_during_traffic_steps(dut, regs):
    from verif.common.reset import POINTS, beats, reset_when

    n_max, src_max = config()
    rng = random.Random(int(setting("APPROXNN_SEED", "5")))
    agents = StreamAgents(dut, rng, stress="bursty")
    src, sink = agents.source("s_axis_h"), agents.sink("m_axis_spk")
    n_h, n_src = min(8, n_max), min(4, src_max)

    async def job(h, seed):
        await regs.write_ok(REG["N_H"], n_h)
        await regs.write_ok(REG["N_SRC"], n_src)
        await regs.write_ok(REG["SEED"], seed)
        await regs.write_ok(REG["CTRL"], 1)
        await src.send(frame(h.ravel().tolist()))
        return [-1 if g == NO_SPIKE else int(g) for g in (await sink.recv()).tdata]

    for k in range(int(setting("APPROXNN_RESETS", "3"))):
        point = POINTS[k % len(POINTS)]
        if point == "mid_output" and n_src < 2:
            continue
        seed = rng.getrandbits(32)
        h = np.array([[rng.randrange(1 << 20) for _ in range(n_h)] for _ in range(n_src)],
                     dtype=np.int64)
        hb, ob = beats("s_axis_h"), beats("m_axis_spk")
        conds = {
            "mid_frame": lambda hb=hb: 0 < beats("s_axis_h") - hb < n_h * n_src,
            # a source's latents in, its spike not yet out (the scan)
            "mid_compute": lambda hb=hb, ob=ob: beats("s_axis_h") - hb >= n_h
            and beats("m_axis_spk") == ob,
            "mid_output": lambda ob=ob: 0 < beats("m_axis_spk") - ob < n_src,
        }
        task = cocotb.start_soon(job(h, seed))
        landed = await reset_when(dut, task, conds[point], (src, sink))
        assert landed, f"the reset did not land {point} (the step ended first)"
        assert await regs.read_ok(REG["STATUS"]) == 0, f"STATUS after a reset {point}"
        assert await regs.read_ok(REG["SEED"]) == 0, f"SEED after a reset {point}"
        got = await job(h, seed)
        want = select_fixed(h, SpikeRNG("xorshift", [seed]).words(0, n_src)[0]).tolist()
        assert got == want, f"spikes after a reset {point}: {got}, model {want}"
        dut._log.info(f"reset {point}: landed; the next step matches the golden model")


class SpikegenRegisterTest(SpikegenDirectedTest):
    sequence_class = RegistersAndBadFramesSeq


class SpikegenResetTest(SpikegenDirectedTest):
    sequence_class = ResetDuringTrafficSeq


# the test names the harness and the testplan select
registers_and_bad_frames = register("registers_and_bad_frames", SpikegenRegisterTest)
reset_during_traffic = register("reset_during_traffic", SpikegenResetTest)
