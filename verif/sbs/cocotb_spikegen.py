"""cocotb tests of the SbS spike generator against refmodels.sbs.rng (xorshift generator,
``select_fixed``). Configuration: ``APPROXNN_SBS_NMAX``, ``APPROXNN_SBS_SRCMAX``,
``APPROXNN_SEED``, ``APPROXNN_COUNT`` (steps), ``APPROXNN_IDLE``, ``APPROXNN_BACKPRESSURE``."""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb_coverage.coverage import CoverPoint, coverage_db

from cores.sbs.spikegen.spikegen import ERR_H_SHORT, NO_SPIKE, REG, REGISTERS, F
from refmodels.sbs.rng import SpikeRNG, select_fixed
from verif import fail_exit
from verif.common.axi import AxiResp, RegAgent, StreamAgents, frame, reset, start_clock
from verif.sbs.env import setting

fail_exit.install()


def config():
    return int(setting("APPROXNN_SBS_NMAX", "16")), int(setting("APPROXNN_SBS_SRCMAX", "64"))


def random_h(rng, n_src, n_h):
    """Latents of every source: dense, sparse, one-hot, all zero (no spike), near-maximal."""
    out = np.zeros((n_src, n_h), dtype=np.int64)
    for j in range(n_src):
        kind = rng.choice(["dense", "sparse", "one", "zero", "max"])
        if kind == "dense":
            out[j] = [rng.randrange(1 << F) for _ in range(n_h)]
        elif kind == "sparse":
            out[j] = [rng.randrange(1 << F) if rng.random() < 0.2 else 0 for _ in range(n_h)]
        elif kind == "one":
            out[j, rng.randrange(n_h)] = rng.randrange(1, 1 << F)
        elif kind == "max":
            out[j] = (1 << F) - 1
    return out


@cocotb.test()
async def spikes_match_model(dut):
    """Seeding and spikes of every source over several steps equal the golden model; random
    idle cycles on s_axis_h and back-pressure on m_axis_spk."""
    n_max, src_max = config()
    rng = random.Random(int(os.environ.get("APPROXNN_SEED", "1")))
    steps = int(setting("APPROXNN_COUNT", "6"))
    start_clock(dut)
    await reset(dut)
    regs = RegAgent(dut)
    agents = StreamAgents(dut, rng, idle=float(os.environ.get("APPROXNN_IDLE", "0.2")),
                          backpressure=float(os.environ.get("APPROXNN_BACKPRESSURE", "0.3")))
    src, sink = agents.source("s_axis_h"), agents.sink("m_axis_spk")

    @CoverPoint("spikegen.outcome", xf=lambda o: o, bins=["spike", "none", "last_latent"])
    def cover(o):
        pass

    checked = 0
    for case in range(3):
        n_h = [n_max, 1 + rng.randrange(n_max), 2][case]
        n_src = [src_max, 1 + rng.randrange(src_max), 1][case]
        seed, layer = rng.randrange(1 << 32), rng.randrange(2048)
        await regs.write_ok(REG["N_H"], n_h)
        await regs.write_ok(REG["N_SRC"], n_src)
        await regs.write_ok(REG["SEED"], seed)
        await regs.write_ok(REG["LAYER"], layer)
        await regs.write_ok(REG["CTRL"], 1)
        gen = SpikeRNG("xorshift", [seed])
        for _ in range(steps):
            h = random_h(rng, n_src, n_h)
            want = select_fixed(h, gen.words(layer, n_src)[0])
            await src.send(frame(h.ravel().tolist()))
            got = (await sink.recv()).tdata
            got = [-1 if g == NO_SPIKE else int(g) for g in got]
            assert got == want.tolist(), f"N_H={n_h} N_SRC={n_src}: RTL {got} model {want}"
            for w in want.tolist():
                cover("none" if w < 0 else ("last_latent" if w == n_h - 1 else "spike"))
            checked += n_src
    cov = coverage_db["spikegen.outcome"]
    assert cov.coverage == cov.size, f"coverage {cov.detailed_coverage}"
    assert await regs.read_ok(REG["SPIKES"]) == checked
    dut._log.info(f"{checked} spikes equal the golden model")


@cocotb.test()
async def registers_and_bad_frames(dut):
    """Bad register accesses get SLVERR; a frame cut short is flagged and the unit recovers."""
    n_max, src_max = config()
    start_clock(dut)
    await reset(dut)
    regs = RegAgent(dut)
    mapped = {a for a, *_ in REGISTERS}
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
