"""Agents of the CNN engine's environment: the BFM (register agent and stream agents around
the DUT, the only DUT access), the driver and the monitor, and the build's configuration.

The BFM derives from the AXI blocks' base (verif/common/axi_env.py), whose driver and monitor
it uses. The driver programs the AXI4-Lite registers (cocotbext-axi master from
verif/common/axi.py), starts the layer and sends the input map and the weights as
AXI4-Stream frames (random idle cycles; cut short or too long for the frame-error layers)
while the output sink applies random back-pressure; the monitor publishes what came back
with STATUS and CYCLES.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from approxnn_host.layers import ACT_CODES, weight_words
from cocotb.triggers import ClockCycles

from cores.common import manifest, regmap
from refmodels.cnn import tflite as tfl
from verif.cnn.engine.layers import FRAME_FAULTS
from verif.common.axi import frame
from verif.common.axi_env import AxiBlockBfm, BfmDriver, ObsMonitor
from verif.common.settings import setting

# register word indices, from the register model generated from cnn_engine.rdl
REGMAP = regmap.load("cnn_engine")
(CTRL, STATUS, CAPS, IN_SHAPE, OUT_SHAPE, FILTER, QUANT, CYCLES, MODE, ID, BIAS, MULT,
 SHIFT, SCALE_HI) = (REGMAP.word(n) for n in (
     "CTRL", "STATUS", "CAPS", "IN_SHAPE", "OUT_SHAPE", "FILTER", "QUANT", "CYCLES", "MODE",
     "ID", "BIAS", "MULT", "SHIFT", "SCALE_HI"))
#: MODE.FLOAT_SCALE: the requantisation unit rescales with the channels' float64 scales
FLOAT_SCALE = REGMAP["MODE"].encode(FLOAT_SCALE=1)


#: the build's settings when absent: the manifest's defaults (cores/cnn/engine/manifest.toml)
DEFAULTS = manifest.load("cnn", "engine").default_settings()


def config_from_env():
    return {
        "lanes": int(setting("APPROXNN_ENGINE_LANES", DEFAULTS["APPROXNN_ENGINE_LANES"])),
        "mul": setting("APPROXNN_ENGINE_MUL", DEFAULTS["APPROXNN_ENGINE_MUL"]),
    }


class EngineBfm(AxiBlockBfm):
    """Register agent and stream agents around the DUT (the only DUT access)."""

    regmap_name = "cnn_engine"
    period_ns = 10.0

    #: a channel table was written in this simulation (the tests of one run share the DUT;
    #: the tables keep their contents through a reset)
    tables_written = False

    def __init__(self, dut, lanes, seed, hf6=False):
        idle = float(os.environ.get("APPROXNN_IDLE", "0.2"))
        super().__init__(dut, seed, idle=idle, backpressure=1.5 * idle)
        self.lanes = lanes
        self.hf6 = hf6

    def connect_streams(self):
        self.src_x = self.agents.source("s_axis_x")
        self.src_w = self.agents.source("s_axis_w")
        self.sink = self.agents.sink("m_axis_y")

    async def run(self, lay):
        return await self.run_layer(lay)

    async def run_layer(self, lay):
        r = self.regs
        await r.write_ok(4 * IN_SHAPE, lay.h | (lay.w << 8) | (lay.c << 16))
        await r.write_ok(4 * OUT_SHAPE, lay.oh | (lay.ow << 8) | (lay.oc << 16))
        await r.write_ok(4 * FILTER, lay.fh | (lay.fw << 4) | (lay.sy << 8) | (lay.sx << 12)
                         | (lay.pt << 16) | (lay.pl << 20))
        if self.hf6:
            q = ACT_CODES[lay.act]  # the ACT register
        else:
            q = ((lay.zp_in & 0xFF) | ((lay.zp_out & 0xFF) << 8) | ((lay.act_min & 0xFF) << 16)
                 | ((lay.act_max & 0xFF) << 24))
        await r.write_ok(4 * QUANT, q)
        fscale = None if self.hf6 else getattr(lay, "fscale", None)
        await r.write_ok(4 * MODE, lay.mode | (FLOAT_SCALE if fscale is not None else 0))
        if not lay.error and lay.wt is not None:
            EngineBfm.tables_written = True
            if fscale is not None:  # the float64 scale's bit pattern: MULT bits 31:0
                lo, hi = tfl.scale_words(np.broadcast_to(fscale, (lay.oc,)))
            for ch in range(lay.oc):
                await r.write_ok(4 * (BIAS + ch), int(lay.bias[ch]))
                if fscale is not None:  # SHIFT is written too: the engine must ignore it
                    await r.write_ok(4 * (MULT + ch), int(lo[ch]))
                    await r.write_ok(4 * (SCALE_HI + ch), int(hi[ch]))
                    await r.write_ok(4 * (SHIFT + ch), int(lay.shift[ch]) & 0x3F)
                elif not self.hf6:
                    await r.write_ok(4 * (MULT + ch), int(lay.mult[ch]))
                    await r.write_ok(4 * (SHIFT + ch), int(lay.shift[ch]) & 0x3F)
        await r.write_ok(4 * CTRL, 1)
        out = None
        fault = FRAME_FAULTS.get(lay.kind)
        if not lay.error or fault:
            xs = (lay.x.view(np.uint32) if self.hf6 else lay.x & 0xFF).ravel().tolist()
            ws = weight_words(lay, self.lanes) if lay.wt is not None else None
            if fault:  # a frame cut short or too long; the weights of a bad input map unsent
                _, stream, delta = fault
                beats = xs if stream == "x" else ws
                beats = beats[:delta] if delta < 0 else beats + beats[:delta]
                xs, ws = (beats, None) if stream == "x" else (xs, beats)
            await self.src_x.send(frame(xs))
            if ws is not None:  # pooling takes no weights
                await self.src_w.send(frame(ws))
        if not lay.error:
            out = await self.receive(lay)
        status = 0
        for _ in range(200):  # the last beat leaves a cycle before DONE
            status = await r.read_ok(4 * STATUS)
            if not status & 1:
                break
            await ClockCycles(self.dut.clk, 4)
        cycles = await r.read_ok(4 * CYCLES)
        return {"layer": lay, "out": out, "status": status, "cycles": cycles,
                "x_left": self.src_x.count(), "w_left": self.src_w.count()}

    async def receive(self, lay, limit_cycles=200_000, poll=256):
        """The output frame of ``lay`` (int8 codes or float32 bit patterns). None when the
        engine ends the run (STATUS not busy) without completing one: the scoreboard then
        compares STATUS and the beat count. A run that neither ends nor completes its frame
        within ``limit_cycles`` fails with a watchdog message."""
        task = cocotb.start_soon(self.sink.recv())
        try:  # the receiving task ends with this one (also when a test cancels the run)
            ended = 0
            for _ in range(limit_cycles // poll):
                if task.done():
                    break
                await ClockCycles(self.dut.clk, poll)
                if task.done():
                    break
                if not (await self.regs.read_ok(4 * STATUS)) & 1:
                    ended += 1  # not busy: the frame must be complete by the next poll
                    if ended > 1:
                        return None
            else:
                raise AssertionError(
                    f"watchdog: {lay}: the engine stayed busy {limit_cycles} cycles without "
                    f"a complete output frame (STATUS "
                    f"0x{await self.regs.read_ok(4 * STATUS):x}, expected "
                    f"{lay.oh * lay.ow * lay.oc} beats)")
            rx = await task
        finally:
            if not task.done():
                task.cancel()
        out = np.array(rx.tdata, np.int64)
        if not self.hf6:
            out = np.where(out >= 128, out - 256, out)
        return out


#: the driver and monitor of every AXI block (verif/common/axi_env.py)
Driver, Monitor = BfmDriver, ObsMonitor
