"""cocotb tests of the SbS spike generator: the pyuvm random test (verif/sbs/spikegen_env.py)
and the directed pyuvm tests (registers / cut frame, reset during traffic) on the AXI blocks'
base (verif/common/axi_env.py) with the generator's BFM, against refmodels.sbs.rng (xorshift,
``select_fixed``).
Configuration: ``APPROXNN_SBS_NMAX``, ``APPROXNN_SBS_SRCMAX``, ``APPROXNN_SEED``,
``APPROXNN_COUNT`` (steps per configuration), ``APPROXNN_IDLE``, ``APPROXNN_BACKPRESSURE``."""

import cocotb
import numpy as np
import pyuvm
from cocotb.triggers import ClockCycles

from cores.sbs.spikegen.spikegen import ERR_H_SHORT
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif import fail_exit
from verif.common.axi import AxiResp, frame, reset
from verif.common.axi_env import DirectedTest, directed_test, register
from verif.common.coverage import DirectedCover
from verif.common.regmaps import spikegen_map
from verif.common.settings import setting
from verif.sbs.env import checked_sweep, reset_cover
from verif.sbs.spikegen_env import SpikegenBfm, SpikegenRandomTest, spikegen_config

fail_exit.install()

pyuvm.test()(SpikegenRandomTest)


async def registers_and_bad_frames_steps(bfm):
    """Bad register accesses get SLVERR; a frame cut short is flagged and the unit recovers
    (refusals and the cut frame sampled into ``spikegen.refusals``)."""
    dut, regs = bfm.dut, bfm.regs
    n_max, src_max = spikegen_config()
    cover = DirectedCover("spikegen.refusals", ["unmapped", "out_of_range", "read_only",
                                                "cut_frame"], unit="sbs")
    await checked_sweep(bfm, spikegen_map(n_max, src_max))
    await reset(dut)
    mapped = {r.offset for r in bfm.regmap}
    for addr in range(0, bfm.regmap.size, 4):
        if addr not in mapped:
            assert (await regs.read(addr))[1] == AxiResp.SLVERR
            cover.hit("unmapped")
    for name, bad in (("N_H", 0), ("N_H", n_max + 1), ("N_SRC", 0), ("N_SRC", src_max + 1),
                      ("LAYER", 2048), ("ID", 1), ("SPIKES", 0)):
        assert await regs.write(bfm.address(name), bad) == AxiResp.SLVERR, name
        cover.hit("read_only" if bfm.regmap[name].access == "R" else "out_of_range")
    n_h, n_src = min(4, n_max), min(2, src_max)
    await bfm.configure(n_h, n_src)
    await ClockCycles(dut.clk, 20)
    # the step is cut short: one beat of the second source, or the first source cut
    first = list(range(1, n_h + 1))
    await bfm.src.send(frame(first + [5] if n_src == 2 else first[:-1]))
    await bfm.src.wait()
    await ClockCycles(dut.clk, 20)
    assert await bfm.read_reg("ERROR") == ERR_H_SHORT
    cover.hit("cut_frame")
    await bfm.write_reg("ERROR", ERR_H_SHORT)
    await bfm.command(SEED=1)  # seed again: the model starts over too
    h = np.ones((n_src, n_h), dtype=np.int64)
    h[0, -1] = 7
    await bfm.src.send(frame(h.ravel().tolist()))
    got = await bfm.spikes()
    want = select_fixed(h, SpikeRNG("xorshift", [0]).words(0, n_src)[0]).tolist()
    if n_src == 2:
        # the spike of the first source of the cut step went out without tlast: the sink
        # sees it at the head of the next frame
        cut = select_fixed(np.array([first]), SpikeRNG("xorshift", [0]).words(0, 2)[0][:1])
        want = [int(cut[0])] + want
    assert got == want
    cover.check(None if bfm.regmap.size // 4 > len(mapped) else
                ["out_of_range", "read_only", "cut_frame"])


async def reset_during_traffic_steps(bfm):
    """rst asserted mid-frame (latents partly sent), mid-compute (latents in, no spike out)
    and mid-output (spikes partly out), under bursty stalls and back-pressure; each time a
    full step afterwards equals the golden model and the registers are back at reset (the
    points where a reset landed sampled into ``sbs.reset_point``)."""
    from verif.common.reset import POINTS, beats, reset_when

    dut, rng = bfm.dut, bfm.agents.rng
    n_max, src_max = spikegen_config()
    n_h, n_src = min(8, n_max), min(4, src_max)
    cover = reset_cover()
    goal = []

    async def job(h, seed):
        await bfm.configure(n_h, n_src, seed)
        await bfm.src.send(frame(h.ravel().tolist()))
        return await bfm.spikes()

    for k in range(int(setting("APPROXNN_RESETS", "3"))):
        point = POINTS[k % len(POINTS)]
        if point == "mid_output" and n_src < 2:
            continue
        goal.append(f"spikegen:{point}")
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
        landed = await reset_when(dut, task, conds[point], (bfm.src, bfm.sink))
        assert landed, f"the reset did not land {point} (the step ended first)"
        assert await bfm.read_reg("STATUS") == 0, f"STATUS after a reset {point}"
        assert await bfm.read_reg("SEED") == 0, f"SEED after a reset {point}"
        got = await job(h, seed)
        want = select_fixed(h, SpikeRNG("xorshift", [seed]).words(0, n_src)[0]).tolist()
        assert got == want, f"spikes after a reset {point}: {got}, model {want}"
        cover.hit(f"spikegen:{point}")
        dut._log.info(f"reset {point}: landed; the next step matches the golden model")
    cover.check(goal)


class SpikegenDirectedTest(DirectedTest):
    def make_bfm(self, seed):
        return SpikegenBfm(cocotb.top, 3)


class SpikegenResetTest(DirectedTest):
    """Bursty stalls, the stream agents sharing the data's generator (seeded APPROXNN_SEED)."""

    def make_bfm(self, seed):
        return SpikegenBfm(cocotb.top, int(setting("APPROXNN_SEED", "5")), stress="bursty")


# the test names the harness and the testplan select
registers_and_bad_frames = register(
    "registers_and_bad_frames", directed_test(registers_and_bad_frames_steps,
                                              SpikegenDirectedTest))
reset_during_traffic = register(
    "reset_during_traffic", directed_test(reset_during_traffic_steps, SpikegenResetTest))
