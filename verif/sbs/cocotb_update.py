"""cocotb entry point of the SbS update unit: the pyuvm random test and the directed pyuvm
tests (register map, bad frames, the cycle measurement, reset during traffic) on the AXI
blocks' base (verif/common/axi_env.py) with the unit's BFM (verif/sbs/env.py); configuration
from APPROXNN_SBS_* environment variables."""

import json
import os

import cocotb
import pyuvm
from cocotb.triggers import ClockCycles, RisingEdge

from cores.sbs.update.update import ERR_W_SHORT, ID_VALUE, F
from refmodels.sbs.formats import HFixed
from refmodels.sbs.model import update_fixed_loop
from verif import fail_exit
from verif.common.axi import AxiResp, frame, reset
from verif.common.axi_env import DirectedTest, directed_test, register
from verif.common.coverage import DirectedCover
from verif.common.regmaps import sbs_update_map
from verif.sbs.env import (
    UpdateBfm,
    UpdateRandomTest,
    checked_sweep,
    pack,
    reset_cover,
)

fail_exit.install()

pyuvm.test()(UpdateRandomTest)


class UpdateDirectedTest(DirectedTest):
    """A directed test of the update unit: stream agents seeded 1, no idle cycles."""

    def make_bfm(self, seed):
        return UpdateBfm(cocotb.top, 1)


async def refused(cover, kind, answer):
    """``answer`` (an AxiResp, or an awaitable of one) is SLVERR: sampled as ``kind``."""
    resp = answer if isinstance(answer, AxiResp) else await answer
    assert resp == AxiResp.SLVERR, f"{kind}: answered {resp!r}, want SLVERR"
    cover.hit(kind)


async def register_map_steps(bfm):
    """Every register answers as documented; bad accesses get SLVERR and change nothing
    (refusals sampled into ``sbs.update_refusals``)."""
    dut, regs, (p, n_max, fmt) = bfm.dut, bfm.regs, bfm.config
    cover = DirectedCover("sbs.update_refusals", ["unmapped", "read_only", "out_of_range",
                                                  "partial_strobe", "busy"], unit="sbs")
    await checked_sweep(bfm, sbs_update_map(p, n_max, fmt))
    await reset(dut)
    assert await bfm.read_reg("ID") == ID_VALUE
    assert await bfm.read_reg("N_H") == n_max
    assert await bfm.read_reg("C1") == HFixed().eps_constants(0.1)[0]
    mapped = {r.offset for r in bfm.regmap}
    for addr in range(0, bfm.regmap.size, 4):  # the layer unit's registers are unmapped here
        if addr not in mapped:
            await refused(cover, "unmapped", (await regs.read(addr))[1])
            await refused(cover, "unmapped", regs.write(addr, 1))
    for reg in bfm.regmap:
        if reg.access == "R":
            before = await bfm.read_reg(reg.name)
            await refused(cover, "read_only", regs.write(reg.offset, 0x5A5A5A5A))
            if reg.name != "STATUS":
                assert await bfm.read_reg(reg.name) == before, reg.name
    # out-of-range values are refused and leave the register unchanged
    for bad in (0, 1, n_max + p, p + 1 if p > 1 else n_max * 2):
        await refused(cover, "out_of_range", regs.write(bfm.address("N_H"), bad))
    assert await bfm.read_reg("N_H") == n_max
    for bad in (65535, 131072, 0):
        await refused(cover, "out_of_range", regs.write(bfm.address("C1"), bad))
    await bfm.write_reg("C1", 65536)
    assert await bfm.read_reg("C1") == 65536
    await bfm.write_reg("N_H", 2 * p)
    assert await bfm.read_reg("N_H") == 2 * p
    await bfm.write_reg("THETA_HI", 0x1234)
    assert await bfm.read_reg("THETA_HI") == 0x1234
    # a partial write (byte strobes) is refused
    await refused(cover, "partial_strobe",
                  (await regs.master.write(bfm.address("N_H"), bytes([4]))).resp)
    assert await bfm.read_reg("N_H") == 2 * p
    # configuration writes while busy are refused: start a load and leave it waiting
    await bfm.command(LOAD=1)
    await ClockCycles(dut.clk, 2)
    status = await bfm.read_reg("STATUS")
    assert status & 1, "busy while loading"
    assert (status >> 4) & 0xF == 1, "state LOAD"
    await refused(cover, "busy", regs.write(bfm.address("N_H"), p * 2))
    await refused(cover, "busy", regs.write(bfm.address("C1"), 70000))
    assert await bfm.read_reg("C1") == 65536
    cover.check()


async def bad_frames_steps(bfm):
    """A short weight row is dropped and flagged; the unit goes on with the next row."""
    p, n_max, fmt = bfm.config
    n = 2 * p
    hf = HFixed()
    c1, ce = hf.eps_constants(0.1)
    h0 = [(1 << F) // n] * n
    await bfm.load(n, h0, clear=False)
    codes = [(k % (fmt.emax + 1)) << fmt.m_bits for k in range(n)]
    beats = pack(codes, fmt.bits, p)
    await bfm.w_src.send(frame(beats[:1]))  # cut short
    await bfm.w_src.send(frame(beats))
    await bfm.w_src.wait()
    got = await bfm.dump()
    want = update_fixed_loop(h0, [int(x) for x in fmt.to_int(codes)], c1, ce, hf)
    assert got == want
    assert await bfm.read_reg("ERROR") == ERR_W_SHORT
    assert await bfm.read_reg("DROPPED") == 1
    assert await bfm.read_reg("UPDATES") == 1
    await bfm.write_reg("ERROR", ERR_W_SHORT)  # write one to clear
    assert await bfm.read_reg("ERROR") == 0


    return frame(beats)


async def cycles_steps(bfm):
    """Cycles per update (ROW_CYCLES) for several N_H, rows back to back, no idle cycles;
    also measured from outside: the time between first beats of consecutive rows (the sizes
    measured sampled into ``sbs.cycles_n_h``)."""
    dut, (p, n_max, fmt) = bfm.dut, bfm.config
    sizes = sorted({max(2, p), 16 * p if 16 * p <= n_max else n_max, n_max})
    label = {sizes[0]: "smallest", n_max: "largest"}
    cover = DirectedCover("sbs.cycles_n_h", ["smallest", "between", "largest"], unit="sbs")
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
        await bfm.load(n, [(1 << F) // n] * n, clear=False)
        codes = [((k * 7) % (fmt.emax + 1)) << fmt.m_bits for k in range(n)]
        del starts[:]
        for _ in range(4):
            await bfm.w_src.send(frame(pack(codes, fmt.bits, p)))
        await bfm.w_src.wait()
        while (await bfm.read_reg("STATUS")) & 1:
            pass
        row = await bfm.read_reg("ROW_CYCLES")
        gaps = {b - a for a, b in zip(starts, starts[1:], strict=False)}
        assert gaps == {row}, f"N_H={n}: first beats {gaps} apart, ROW_CYCLES {row}"
        result[n] = row
        cover.hit(label.get(n, "between"))
    const = {row - n // p for n, row in result.items()}
    assert len(const) == 1, f"cycles are not N_H/P + constant: {result}"
    cover.check({label.get(n, "between") for n in sizes})
    out = os.environ.get("APPROXNN_CYCLES_FILE")
    if out:
        with open(out, "w") as fh:
            json.dump({"p": p, "weights": fmt.name, "cycles": result,
                       "constant": const.pop()}, fh)


async def _job(bfm, n, h0, rows):
    """One job: N_H, LOAD of ``h0``, the weight ``rows``, DUMP; returns the h read out."""
    p, _, fmt = bfm.config
    await bfm.load(n, h0)
    for codes in rows:
        await bfm.w_src.send(frame(pack(codes, fmt.bits, p)))
    await bfm.w_src.wait()
    return await bfm.dump()


def _golden(fmt, h0, rows):
    hf = HFixed()
    c1, ce = hf.eps_constants(0.1)
    h = list(h0)
    for codes in rows:
        wi = [int(x) for x in fmt.to_int(codes)]
        if sum(a * b for a, b in zip(h, wi, strict=True)) > hf.theta_q:
            h = update_fixed_loop(h, wi, c1, ce, hf)
    return h


class UpdateResetBfm(UpdateBfm):
    """The update unit's BFM with bursty stalls, its stream agents sharing the data's
    generator (seeded APPROXNN_SEED)."""

    def __init__(self, dut, seed):
        super().__init__(dut, seed, stress="bursty")
        self.rng = self.agents.rng


async def reset_during_traffic_steps(bfm):
    """rst asserted mid-frame (h or a row partly sent), mid-compute (rows in, no h out) and
    mid-output (h partly read out), under bursty stalls and back-pressure; each time a full
    job afterwards equals the golden model, and the registers are back at their reset
    values (the points where a reset landed sampled into ``sbs.reset_point``)."""
    from verif.common.reset import POINTS, beats, reset_when

    dut, rng, (p, n_max, fmt) = bfm.dut, bfm.rng, bfm.config
    cover = reset_cover()
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
        job = cocotb.start_soon(_job(bfm, n, h0, rows))
        landed = await reset_when(dut, job, conds[point], (bfm.w_src, bfm.h_src, bfm.sink))
        assert landed, f"the reset did not land {point} (the job ended first)"
        assert await bfm.read_reg("STATUS") == 0, f"STATUS after a reset {point}"
        assert await bfm.read_reg("N_H") == n_max, f"N_H after a reset {point}"
        got = await _job(bfm, n, h0, rows)
        assert got == _golden(fmt, h0, rows), f"h after a reset {point} differs from the model"
        cover.hit(f"update:{point}")
        dut._log.info(f"reset {point}: landed; the next job matches the golden model")
    cover.check([f"update:{pt}" for pt in POINTS[:int(os.environ.get("APPROXNN_RESETS", "3"))]])


class UpdateResetTest(DirectedTest):
    def make_bfm(self, seed):
        return UpdateResetBfm(cocotb.top, int(os.environ.get("APPROXNN_SEED", "1")))


# the test names the harness, the regression and approxnn sbs hardware select
register_map = register("register_map", directed_test(register_map_steps, UpdateDirectedTest))
bad_frames = register("bad_frames", directed_test(bad_frames_steps, UpdateDirectedTest))
cycles = register("cycles", directed_test(cycles_steps, UpdateDirectedTest))
reset_during_traffic = register("reset_during_traffic",
                                directed_test(reset_during_traffic_steps, UpdateResetTest))
