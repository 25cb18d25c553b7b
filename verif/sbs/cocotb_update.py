"""cocotb entry point of the SbS update unit: the pyuvm random test and the directed pyuvm
tests (register map, bad frames, the cycle measurement, reset during traffic) on the AXI
blocks' base (verif/common/axi_env.py); configuration from APPROXNN_SBS_* environment
variables."""

import json
import os
import random

import cocotb
import pyuvm
from cocotb.triggers import ClockCycles, RisingEdge

from cores.sbs.update.update import ERR_W_SHORT, ID_VALUE, REG, REGMAP, F
from refmodels.sbs.formats import HFixed
from refmodels.sbs.model import update_fixed_loop
from verif import fail_exit
from verif.common.axi import AxiResp, StreamAgents, frame, reset
from verif.common.axi_env import DirectedSeq, DirectedTest, register
from verif.common.regmap import sweep
from verif.common.regmaps import sbs_update_map
from verif.sbs.env import UpdateBfm, UpdateRandomTest, config_from_env, pack, unpack

fail_exit.install()

pyuvm.test()(UpdateRandomTest)


class UpdateDirectedTest(DirectedTest):
    """A directed test of the update unit: stream agents seeded 1, no idle cycles."""

    def make_bfm(self, seed):
        return UpdateBfm(cocotb.top, 1)


class RegisterMapSeq(DirectedSeq):
    """Every register answers as documented; bad accesses get SLVERR and change nothing."""

    async def steps(self, bfm):
        await register_map_steps(bfm.dut, bfm.regs)


async def register_map_steps(dut, regs):
    p, n_max, fmt = config_from_env()
    problems = await sweep(regs, sbs_update_map(p, n_max, fmt), log=dut._log)
    assert not problems, f"{len(problems)} problem(s): " + "; ".join(problems[:5])
    await reset(dut)
    assert await regs.read_ok(REG["ID"]) == ID_VALUE
    assert await regs.read_ok(REG["N_H"]) == n_max
    assert await regs.read_ok(REG["C1"]) == HFixed().eps_constants(0.1)[0]
    mapped = {r.offset for r in REGMAP}
    for addr in range(0, 64, 4):  # the layer unit's registers are unmapped here
        if addr not in mapped:
            assert (await regs.read(addr))[1] == AxiResp.SLVERR, f"read {addr:#x}"
            assert await regs.write(addr, 1) == AxiResp.SLVERR, f"write {addr:#x}"
    for reg in REGMAP:
        addr, name = reg.offset, reg.name
        if reg.access == "R":
            before = await regs.read_ok(addr)
            assert await regs.write(addr, 0x5A5A5A5A) == AxiResp.SLVERR, name
            if name not in ("STATUS",):
                assert await regs.read_ok(addr) == before, name
    # out-of-range values are refused and leave the register unchanged
    for bad in (0, 1, n_max + p, p + 1 if p > 1 else n_max * 2):
        assert await regs.write(REG["N_H"], bad) == AxiResp.SLVERR, f"N_H={bad}"
    assert await regs.read_ok(REG["N_H"]) == n_max
    for bad in (65535, 131072, 0):
        assert await regs.write(REG["C1"], bad) == AxiResp.SLVERR, f"C1={bad}"
    await regs.write_ok(REG["C1"], 65536)
    assert await regs.read_ok(REG["C1"]) == 65536
    await regs.write_ok(REG["N_H"], 2 * p)
    assert await regs.read_ok(REG["N_H"]) == 2 * p
    await regs.write_ok(REG["THETA_HI"], 0x1234)
    assert await regs.read_ok(REG["THETA_HI"]) == 0x1234
    # a partial write (byte strobes) is refused
    resp = await regs.master.write(REG["N_H"], bytes([4]))
    assert resp.resp == AxiResp.SLVERR
    assert await regs.read_ok(REG["N_H"]) == 2 * p
    # configuration writes while busy are refused: start a load and leave it waiting
    await regs.write_ok(REG["CTRL"], 1)
    await ClockCycles(dut.clk, 2)
    status = await regs.read_ok(REG["STATUS"])
    assert status & 1, "busy while loading"
    assert (status >> 4) & 0xF == 1, "state LOAD"
    assert await regs.write(REG["N_H"], p * 2) == AxiResp.SLVERR
    assert await regs.write(REG["C1"], 70000) == AxiResp.SLVERR
    assert await regs.read_ok(REG["C1"]) == 65536


class BadFramesSeq(DirectedSeq):
    """A short weight row is dropped and flagged; the unit goes on with the next row."""

    async def steps(self, bfm):
        await bad_frames_steps(bfm.dut, bfm.regs, bfm.agents)


async def bad_frames_steps(dut, regs, agents):
    p, n_max, fmt = config_from_env()
    w_src, h_src, sink = agents.source("s_axis_w"), agents.source("s_axis_h"), \
        agents.sink("m_axis_h")
    n = 2 * p
    hf = HFixed()
    c1, ce = hf.eps_constants(0.1)
    h0 = [(1 << F) // n] * n
    await regs.write_ok(REG["N_H"], n)
    await regs.write_ok(REG["CTRL"], 1)
    await h_src.send(frame(pack(h0, F, p)))
    await h_src.wait()
    codes = [(k % (fmt.emax + 1)) << fmt.m_bits for k in range(n)]
    beats = pack(codes, fmt.bits, p)
    await w_src.send(frame(beats[:1]))  # cut short
    await w_src.send(frame(beats))
    await w_src.wait()
    await regs.write_ok(REG["CTRL"], 2)
    got = unpack((await sink.recv()).tdata, F, p)
    want = update_fixed_loop(h0, [int(x) for x in fmt.to_int(codes)], c1, ce, hf)
    assert got == want
    assert await regs.read_ok(REG["ERROR"]) == ERR_W_SHORT
    assert await regs.read_ok(REG["DROPPED"]) == 1
    assert await regs.read_ok(REG["UPDATES"]) == 1
    await regs.write_ok(REG["ERROR"], ERR_W_SHORT)  # write one to clear
    assert await regs.read_ok(REG["ERROR"]) == 0


class CyclesSeq(DirectedSeq):
    """Cycles per update (ROW_CYCLES) for several N_H, rows back to back, no idle cycles;
    also measured from outside: the time between first beats of consecutive rows."""

    async def steps(self, bfm):
        await cycles_steps(bfm.dut, bfm.regs, bfm.agents)


async def cycles_steps(dut, regs, agents):
    p, n_max, fmt = config_from_env()
    w_src, h_src = agents.source("s_axis_w"), agents.source("s_axis_h")
    sizes = sorted({max(2, p), 16 * p if 16 * p <= n_max else n_max, n_max})
    starts = []

    async def watch():
        cyc = 0
        first = True
        while True:
            await RisingEdge(dut.clk)
            cyc += 1
            if dut.s_axis_w_tvalid.value and dut.s_axis_w_tready.value:
                if first:
                    starts.append(cyc)
                first = bool(dut.s_axis_w_tlast.value)

    cocotb.start_soon(watch())
    result = {}
    for n in sizes:
        await regs.write_ok(REG["N_H"], n)
        await regs.write_ok(REG["CTRL"], 1)
        await h_src.send(frame(pack([(1 << F) // n] * n, F, p)))
        await h_src.wait()
        codes = [((k * 7) % (fmt.emax + 1)) << fmt.m_bits for k in range(n)]
        del starts[:]
        for _ in range(4):
            await w_src.send(frame(pack(codes, fmt.bits, p)))
        await w_src.wait()
        while (await regs.read_ok(REG["STATUS"])) & 1:
            pass
        row = await regs.read_ok(REG["ROW_CYCLES"])
        gaps = {b - a for a, b in zip(starts, starts[1:], strict=False)}
        assert gaps == {row}, f"N_H={n}: first beats {gaps} apart, ROW_CYCLES {row}"
        result[n] = row
    const = {row - n // p for n, row in result.items()}
    assert len(const) == 1, f"cycles are not N_H/P + constant: {result}"
    out = os.environ.get("APPROXNN_CYCLES_FILE")
    if out:
        with open(out, "w") as fh:
            json.dump({"p": p, "weights": fmt.name, "cycles": result,
                       "constant": const.pop()}, fh)


async def _job(regs, h_src, w_src, sink, n, h0, rows):
    """One job: N_H, LOAD of ``h0``, the weight ``rows``, DUMP; returns the h read out."""
    p, _, fmt = config_from_env()
    await regs.write_ok(REG["CTRL"], 4)  # clear errors and counters
    await regs.write_ok(REG["N_H"], n)
    await regs.write_ok(REG["CTRL"], 1)
    await h_src.send(frame(pack(h0, F, p)))
    await h_src.wait()
    for codes in rows:
        await w_src.send(frame(pack(codes, fmt.bits, p)))
    await w_src.wait()
    await regs.write_ok(REG["CTRL"], 2)
    return unpack((await sink.recv()).tdata, F, p)


def _golden(h0, rows):
    _, _, fmt = config_from_env()
    hf = HFixed()
    c1, ce = hf.eps_constants(0.1)
    h = list(h0)
    for codes in rows:
        wi = [int(x) for x in fmt.to_int(codes)]
        if sum(a * b for a, b in zip(h, wi, strict=True)) > hf.theta_q:
            h = update_fixed_loop(h, wi, c1, ce, hf)
    return h


class ResetDuringTrafficSeq(DirectedSeq):
    """rst asserted mid-frame (h or a row partly sent), mid-compute (rows in, no h out) and
    mid-output (h partly read out), under bursty stalls and back-pressure; each time a full
    job afterwards equals the golden model, and the registers are back at their reset
    values."""

    async def steps(self, bfm):
        await reset_during_traffic_steps(bfm.dut, bfm.regs)


async def reset_during_traffic_steps(dut, regs):
    from verif.common.reset import POINTS, beats, reset_when

    p, n_max, fmt = config_from_env()
    # the stream agents share the data's generator (seeded APPROXNN_SEED) and stall bursts
    rng = random.Random(int(os.environ.get("APPROXNN_SEED", "1")))
    agents = StreamAgents(dut, rng, stress="bursty")
    w_src, h_src, sink = agents.source("s_axis_w"), agents.source("s_axis_h"), \
        agents.sink("m_axis_h")
    n = min(n_max, 8 * p)
    for k in range(int(os.environ.get("APPROXNN_RESETS", "3"))):
        point = POINTS[k % len(POINTS)]
        h0 = [rng.randrange(1 << (F - 4)) for _ in range(n)]
        rows = [[(rng.randrange(fmt.emax + 1) << fmt.m_bits) | rng.randrange(1 << fmt.m_bits)
                 for _ in range(n)] for _ in range(3)]
        hb, wb, ob = beats("s_axis_h"), beats("s_axis_w"), beats("m_axis_h")
        n_hb, n_wb = n // p, 3 * n // p
        conds = {
            "mid_frame": lambda wb=wb, n_wb=n_wb: 0 < beats("s_axis_w") - wb < n_wb,
            "mid_compute": lambda wb=wb, n_wb=n_wb, hb=hb, n_hb=n_hb, ob=ob:
            beats("s_axis_w") - wb == n_wb and beats("m_axis_h") == ob
            and beats("s_axis_h") - hb == n_hb,
            "mid_output": lambda ob=ob, n_hb=n_hb: 0 < beats("m_axis_h") - ob < n_hb,
        }
        job = cocotb.start_soon(_job(regs, h_src, w_src, sink, n, h0, rows))
        landed = await reset_when(dut, job, conds[point], (w_src, h_src, sink))
        assert landed, f"the reset did not land {point} (the job ended first)"
        assert await regs.read_ok(REG["STATUS"]) == 0, f"STATUS after a reset {point}"
        assert await regs.read_ok(REG["N_H"]) == n_max, f"N_H after a reset {point}"
        got = await _job(regs, h_src, w_src, sink, n, h0, rows)
        assert got == _golden(h0, rows), f"h after a reset {point} differs from the model"
        dut._log.info(f"reset {point}: landed; the next job matches the golden model")


class UpdateRegisterTest(UpdateDirectedTest):
    sequence_class = RegisterMapSeq


class UpdateBadFramesTest(UpdateDirectedTest):
    sequence_class = BadFramesSeq


class UpdateCyclesTest(UpdateDirectedTest):
    sequence_class = CyclesSeq


class UpdateResetTest(UpdateDirectedTest):
    sequence_class = ResetDuringTrafficSeq


# the test names the harness, the regression and approxnn sbs hardware select
register_map = register("register_map", UpdateRegisterTest)
bad_frames = register("bad_frames", UpdateBadFramesTest)
cycles = register("cycles", UpdateCyclesTest)
reset_during_traffic = register("reset_during_traffic", UpdateResetTest)
