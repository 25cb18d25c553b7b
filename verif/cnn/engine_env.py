"""pyuvm environment of the CNN layer engine (cores/cnn/engine), int8 and HF6 builds.

A sequence item is one layer: kind (Conv2D, DepthwiseConv2D with its depth multiplier,
FullyConnected, MaxPool, AveragePool), shapes, stride, padding (SAME / VALID, turned into the
output size and leading pads with ``tflite.compute_padding``), zero points and clamp (int8) or
activation (HF6), per-channel bias / multiplier / shift or HF6 bias codes, input tensor and
weights. The driver programs the AXI4-Lite registers (cocotbext-axi master from
verif/common/axi.py), starts the layer and sends the input map and the weights as AXI4-Stream
frames (random idle cycles; cut short or too long for the frame-error layers) while the output
sink applies random back-pressure; the monitor publishes what came back with STATUS and CYCLES.
The scoreboard compares the output with ``refmodels.cnn.tflite`` (exact int8),
``refmodels.cnn.approx`` (approximate unit) or ``refmodels.cnn.hf6`` (float32 bit patterns);
int8 outputs follow the golden model's ``"reference"`` rounding path (:data:`ENGINE_ROUNDING`):
FullyConnected layers run with MODE.FLOAT_SCALE and their float64 scales;
layers the engine must refuse end with STATUS.ERROR, the documented error code and no output.
Tests: :class:`EngineRegTest` (register map), :class:`EngineLayerTest` (directed layer kinds
and every error code), :class:`EngineRandomTest` (constrained-random layers with a coverage
goal) and :class:`EngineNetworkTest` (a stored network end to end).
"""

from __future__ import annotations

import copy
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from cocotb_coverage.coverage import CoverPoint, coverage_db
from pyuvm import (
    ConfigDB,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_env,
    uvm_sequence,
    uvm_sequence_item,
    uvm_sequencer,
    uvm_subscriber,
    uvm_test,
)

from cores.common import regmap
from refmodels.cnn import approx as apx
from refmodels.cnn import hf6
from refmodels.cnn import tflite as tfl
from verif.cnn.pipe import coverage_holes, log_coverage
from verif.common.axi import AxiResp, RegAgent, StreamAgents, frame, reset, start_clock
from verif.common.regmap import sweep
from verif.common.regmaps import engine_map
from verif.common.settings import setting

# register word indices, from the register model generated from cnn_engine.rdl
REGMAP = regmap.load("cnn_engine")
(CTRL, STATUS, CAPS, IN_SHAPE, OUT_SHAPE, FILTER, QUANT, CYCLES, MODE, ID, BIAS, MULT,
 SHIFT, SCALE_HI) = (REGMAP.word(n) for n in (
     "CTRL", "STATUS", "CAPS", "IN_SHAPE", "OUT_SHAPE", "FILTER", "QUANT", "CYCLES", "MODE",
     "ID", "BIAS", "MULT", "SHIFT", "SCALE_HI"))
#: MODE.FLOAT_SCALE: the requantisation unit rescales with the channels' float64 scales
FLOAT_SCALE = REGMAP["MODE"].encode(FLOAT_SCALE=1)

KINDS = ["conv_same", "conv_valid", "strided", "fc", "fc_tie", "pointwise", "partial_group",
         "depthwise", "depthwise_dm", "maxpool", "avgpool", "error_ibuf", "error_wbuf",
         "error_channels", "error_zero", "error_depth", "error_pool", "error_xlast_short",
         "error_xlast_long", "error_wlast_short", "error_wlast_long"]
#: frame faults: kind -> (error code, stream, beats added (+) or removed (-))
FRAME_FAULTS = {"error_xlast_short": (7, "x", -1), "error_xlast_long": (7, "x", 3),
                "error_wlast_short": (8, "w", -2), "error_wlast_long": (8, "w", 1)}
POOL_MODES = {"maxpool": 2, "avgpool": 3}  # MODE register values of the pooling layers
ACT_CODES = {"NONE": 0, "RELU": 1, "RELU6": 2}  # ACT register of the HF6 engine
#: kinds of the HF6 engine: no AveragePool (a float32 average is not built): error code 6
KINDS_HF6 = [k if k != "avgpool" else "error_mode" for k in KINDS]

# The engine's requantisation unit rescales Conv2D / DepthwiseConv2D with the fixed-point
# double-rounding MultiplyByQuantizedMultiplier (M, shift per channel), as TFLite's reference
# kernels do, and a layer run with MODE.FLOAT_SCALE with one rounding of acc x its float64
# scale, as TFLite's reference FullyConnected does: the driver runs every FullyConnected layer
# (a Layer with `fscale`) so, and the golden model's "reference" path is the comparison. A
# FullyConnected layer without `fscale` would run on MULT / SHIFT: the "gemmlowp" path.
ENGINE_ROUNDING = "reference"


def is_hf6(mul):
    return mul == "hf6"


def kinds_of(mul):
    return KINDS_HF6 if is_hf6(mul) else KINDS


def config_from_env():
    return {
        "lanes": int(setting("APPROXNN_ENGINE_LANES", "4")),
        "mul": setting("APPROXNN_ENGINE_MUL", "int8"),
    }


class Layer(uvm_sequence_item):
    """One layer and its data (numpy arrays)."""

    def __init__(self, name="Layer", **kw):
        super().__init__(name)
        self.__dict__.update(kw)

    def __str__(self):
        return (f"{self.kind}: in {self.h}x{self.w}x{self.c}, filter {self.fh}x{self.fw} "
                f"stride {self.sy},{self.sx} {self.padding}, out_c {self.oc}")


def hf6_data(rng, shape):
    """float32 activations: signed values over 2^-12 .. 2^12 (products that round, and some
    that vanish below 2^-23), 10 % zeros, 2 % float32 subnormals."""
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-12, 12, shape))
    x[rng.random(shape) < 0.1] = 0.0
    x[rng.random(shape) < 0.02] = 1e-40
    return x.astype(np.float32)


def to_hf6(rng, lay):
    """The HF6 version of a layer: float32 input, HF6 weight and bias codes, an activation;
    AveragePool becomes the error case (code 6)."""
    lay.x = hf6_data(rng, lay.x.shape)
    lay.act = "NONE"
    if lay.wt is not None:
        lay.wt = rng.integers(0, 64, lay.wt.shape)
        lay.bias = rng.integers(0, 64, lay.oc)
        lay.act = str(rng.choice(list(ACT_CODES)))
    if lay.kind == "avgpool":
        lay.kind, lay.error = "error_mode", 6
    return lay


def make_layer(rng, kind, h, w, c, oc, fh, fw, sy, sx, padding, error=0, dm=1):
    """A layer with random int8 data; sizes as given (FC: h = w = fh = fw = 1)."""
    if error == 4:
        oh, pt, ow, pl = 1, 0, 1, 0
    else:
        oh, pt, _ = tfl.compute_padding(h, fh, sy, 1, padding)
        ow, pl, _ = tfl.compute_padding(w, fw, sx, 1, padding)
    zp_in = int(rng.integers(-128, 128))
    zp_out = int(rng.integers(-40, 40))
    x = rng.integers(-128, 128, (1, h, w, c))
    depthwise = kind in ("depthwise", "depthwise_dm", "error_depth")
    if kind in POOL_MODES or kind == "error_pool":
        # pooling keeps the input's quantisation; only the clamp applies
        act_min, act_max = sorted(int(v) for v in rng.integers(-128, 128, 2)) \
            if rng.random() < 0.3 else (-128, 127)
        return Layer(kind=kind, h=h, w=w, c=c, oc=oc, fh=fh, fw=fw, sy=sy, sx=sx,
                     padding=padding, oh=oh, ow=ow, pt=pt, pl=pl, zp_in=0, zp_out=0,
                     act_min=act_min, act_max=act_max, x=x, wt=None, bias=None, mult=None,
                     shift=None, error=error, depthwise=False,
                     mode=POOL_MODES.get(kind, 2))
    wt = rng.integers(-127, 128, (1, fh, fw, oc) if depthwise else (oc, fh, fw, c))
    if rng.random() < 0.3:
        wt[rng.random(wt.shape) < 0.2] = -128
    k = fh * fw * (1 if depthwise else c)
    real = rng.uniform(0.3, 3.0, oc) / (np.sqrt(k) * 128.0)
    mult, shift = tfl.quantize_multiplier(real)
    bias = rng.integers(-(1 << 14), 1 << 14, oc)
    act = rng.choice(["NONE", "RELU", "RELU6"])
    act_min, act_max = tfl.activation_range(act, 0.05, zp_out)
    return Layer(kind=kind, h=h, w=w, c=c, oc=oc, fh=fh, fw=fw, sy=sy, sx=sx,
                 padding=padding, oh=oh, ow=ow, pt=pt, pl=pl, zp_in=zp_in, zp_out=zp_out,
                 act_min=int(act_min), act_max=int(act_max), x=x, wt=wt,
                 bias=bias, mult=mult, shift=shift, error=error, depthwise=depthwise,
                 mode=int(depthwise) | (dm << 8 if depthwise and dm > 1 else 0), dm=dm,
                 fscale=real if kind in ("fc", "fc_tie") else None)


def tie_scales(rng, lay, mul="int8"):
    """Float64 scales that put the outputs of a one-position FullyConnected layer on rounding
    ties of TFLite's reference FC or an ulp or two from one: per channel ``(k + 1/2) / (acc +
    bias)``, moved by -2..2 ulps; on the even channels the first such scale (k near the
    layer's scale) on which the fixed-point rescale with its own ``(M, shift)`` rounds the
    other way. ``mult`` / ``shift`` follow the new scales; no clamp. ``mul``: the build's
    multiplier (the accumulators of an approximate unit differ from the exact ones)."""
    xw = (lay.x.reshape(1, -1), lay.wt.reshape(lay.oc, -1))
    if mul in ("int8", "hf6"):
        acc = tfl.fully_connected_acc(*xw, lay.zp_in)[0] + lay.bias
    else:
        acc = apx.fully_connected_acc(*xw, lay.zp_in, apx.ApproxMul.from_unit(mul))[0] + lay.bias
    acc = np.where(acc == 0, 1, acc)
    scales = []
    for ch in range(lay.oc):
        a = int(acc[ch])
        base = int(abs(a) * lay.fscale[ch])
        pick = None
        for k in range(min(base, 40), 85):  # results within the int8 range
            s0 = (k + 0.5) / abs(a)
            for d in (0, 1, -1, 2, -2):
                sv = s0
                for _ in range(abs(d)):
                    sv = np.nextafter(sv, np.inf if d > 0 else 0)
                if pick is None:
                    pick = sv
                if ch % 2:
                    break
                m, sh = tfl.quantize_multiplier(sv)
                if tfl.multiply_by_scale(a, sv) != tfl.multiply_by_quantized_multiplier(a, m,
                                                                                          sh):
                    pick = sv
                    break
            else:
                continue
            break
        scales.append(pick if ch % 2 == 0 else
                      np.nextafter(pick, (np.inf, 0, pick)[int(rng.integers(0, 3))]))
    lay.fscale = np.array(scales, np.float64)
    lay.mult, lay.shift = tfl.quantize_multiplier(lay.fscale)
    lay.act_min, lay.act_max = -128, 127
    return lay


def layer_list(rng, lanes, ibuf, wbuf, cmax, mul="int8"):
    p = lanes
    # weights beyond the weight buffer: 3x3 taps of c_w channels, enough groups
    c_w = min(255, wbuf // 9 + 1)
    oc_w = min(cmax, p * (wbuf // (9 * c_w)) + 1)
    if -(-oc_w // p) * 9 * c_w <= wbuf or 9 * c_w > ibuf:
        raise ValueError(f"no error_wbuf layer for P={p}, ibuf={ibuf}, wbuf={wbuf}")
    layers = [
        make_layer(rng, "conv_same", 5, 5, 3, p + 2, 3, 3, 1, 1, "SAME"),
        make_layer(rng, "conv_valid", 6, 5, 2, p, 3, 2, 1, 1, "VALID"),
        make_layer(rng, "strided", 6, 7, 2, 3, 2, 3, 2, 2, "SAME"),
        make_layer(rng, "fc", 1, 1, 24, p + 3, 1, 1, 1, 1, "VALID"),
        # FullyConnected with float64 scales on (or an ulp or two from) rounding ties
        tie_scales(rng, make_layer(rng, "fc_tie", 1, 1, 30, min(cmax, 3 * p + 2), 1, 1, 1, 1,
                                   "VALID"), mul),
        make_layer(rng, "pointwise", 4, 3, 5, 2 * p, 1, 1, 1, 1, "SAME"),
        make_layer(rng, "depthwise", 5, 4, 3, 3, 3, 3, 1, 1, "SAME"),
        make_layer(rng, "depthwise", 6, 6, 5, 5, 2, 3, 2, 1, "VALID"),
        # depth multipliers 2 and 3: output channel c * DM + m filters input channel c
        make_layer(rng, "depthwise_dm", 5, 4, 3, 6, 3, 3, 1, 1, "SAME", dm=2),
        make_layer(rng, "depthwise_dm", 6, 5, 2, 6, 2, 2, 2, 1, "VALID", dm=3),
        make_layer(rng, "maxpool", 6, 6, 3, 3, 2, 2, 2, 2, "VALID"),
        make_layer(rng, "maxpool", 5, 7, 2, 2, 3, 3, 2, 2, "SAME"),
        make_layer(rng, "avgpool", 5, 5, 3, 3, 2, 2, 2, 2, "SAME"),
        make_layer(rng, "avgpool", 6, 5, 2, 2, 3, 2, 1, 2, "VALID"),
        # errors: input map beyond the input buffer, weights beyond the weight buffer,
        # more channels than the table, zero stride; then a good layer again
        make_layer(rng, "error_ibuf", 4, ibuf // 16 + 1, 4, 1, 1, 1, 1, 1, "VALID", error=1),
        make_layer(rng, "error_wbuf", 3, 3, c_w, oc_w, 3, 3, 1, 1, "SAME", error=2),
        make_layer(rng, "error_channels", 1, 1, 2, cmax + 1, 1, 1, 1, 1, "VALID", error=3),
        make_layer(rng, "error_zero", 3, 3, 1, 1, 1, 1, 1, 1, "VALID", error=4),
        make_layer(rng, "error_depth", 3, 3, 2, 4, 3, 3, 1, 1, "SAME", error=5),
        make_layer(rng, "error_pool", 4, 4, 2, 3, 2, 2, 2, 2, "VALID", error=5),
        # input map / weight frames cut short or too long (tlast misplaced): error 7 / 8,
        # nothing sent, the rest of a long frame read and dropped
        *(make_layer(rng, kind, 3, 4, 2, p + 1, 2, 2, 1, 1, "SAME", error=code)
          for kind, (code, _, _) in FRAME_FAULTS.items()),
        make_layer(rng, "conv_same", 4, 4, 2, p + 1, 3, 3, 1, 1, "SAME"),
    ]
    for lay in layers:
        if lay.kind == "error_zero":
            lay.sy = 0
        if is_hf6(mul):
            to_hf6(rng, lay)
    return layers


class LayerSeq(uvm_sequence):
    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED"))
        caps = ConfigDB().get(None, "", "CAPS")
        for lay in layer_list(rng, *caps, mul=config_from_env()["mul"]):
            await self.start_item(lay)
            await self.finish_item(lay)


def weight_words(lay, lanes):
    """The s_axis_w beats of a layer: per group, per tap (ky, kx, ci), P packed weights;
    depthwise: per channel, per tap (ky, kx), the channel's weight in lane 0."""
    if lay.depthwise:
        return [int(lay.wt[0, ky, kx, ch]) & 0xFF for ch in range(lay.oc)
                for ky in range(lay.fh) for kx in range(lay.fw)]
    groups = -(-lay.oc // lanes)
    out = []
    for g in range(groups):
        for ky in range(lay.fh):
            for kx in range(lay.fw):
                for ci in range(lay.c):
                    v = 0
                    for lane in range(lanes):
                        ch = g * lanes + lane
                        if ch < lay.oc:
                            v |= (int(lay.wt[ch, ky, kx, ci]) & 0xFF) << (8 * lane)
                    out.append(v)
    return out


class EngineBfm:
    """Register agent and stream agents around the DUT (the only DUT access)."""

    #: a channel table was written in this simulation (the tests of one run share the DUT;
    #: the tables keep their contents through a reset)
    tables_written = False

    def __init__(self, dut, lanes, seed, hf6=False):
        self.dut = dut
        self.lanes = lanes
        self.hf6 = hf6
        idle = float(os.environ.get("APPROXNN_IDLE", "0.2"))
        self.agents = StreamAgents(dut, random.Random(seed), idle=idle,
                                   backpressure=1.5 * idle)

    async def start(self):
        start_clock(self.dut, 10.0)
        self.regs = RegAgent(self.dut)
        self.src_x = self.agents.source("s_axis_x")
        self.src_w = self.agents.source("s_axis_w")
        self.sink = self.agents.sink("m_axis_y")
        await reset(self.dut)

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


class Driver(uvm_driver):
    def connect_phase(self):
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.ap = ConfigDB().get(self, "", "OBS_PORT")

    async def run_phase(self):
        while True:
            lay = await self.seq_item_port.get_next_item()
            obs = await self.bfm.run_layer(lay)
            self.ap.write(obs)
            self.seq_item_port.item_done()


class Monitor(uvm_component):
    """Owns the analysis port the BFM's observations go out on."""

    def build_phase(self):
        self.ap = uvm_analysis_port("ap", self)
        ConfigDB().set(None, "*", "OBS_PORT", self.ap)


def golden_hf6(lay):
    """Expected output of an HF6 layer from refmodels.cnn.hf6: float32 bit patterns (NHWC,
    flattened, as int64)."""
    stride = (lay.sy, lay.sx)
    if lay.kind == "maxpool":
        y = hf6.max_pool(lay.x, (lay.fh, lay.fw), stride, lay.padding)
    elif lay.depthwise:
        y = hf6.depthwise_conv2d(lay.x, lay.wt, lay.bias, stride, lay.padding, lay.act,
                                 depth_multiplier=getattr(lay, "dm", 1))
    else:
        y = hf6.conv2d(lay.x, lay.wt, lay.bias, stride, lay.padding, lay.act)
    return np.ascontiguousarray(y).view(np.uint32).astype(np.int64).ravel()


def golden(lay, mul):
    """Expected output (NHWC, flattened) of a layer from refmodels.cnn: int8 codes, or float32
    bit patterns for the HF6 engine (``mul == "hf6"``)."""
    if is_hf6(mul):
        return golden_hf6(lay)
    if lay.kind in POOL_MODES:
        f = tfl.max_pool if lay.kind == "maxpool" else tfl.avg_pool
        y = f(lay.x.astype(np.int8), (lay.fh, lay.fw), (lay.sy, lay.sx), lay.padding,
              lay.act_min, lay.act_max)
        return np.asarray(y, np.int64).ravel()
    args = (lay.bias, lay.zp_in, lay.zp_out, lay.mult, lay.shift)
    if lay.depthwise:
        if mul is None:
            y = tfl.depthwise_conv2d(lay.x, lay.wt, *args, depth_multiplier=lay.dm,
                                     stride=(lay.sy, lay.sx),
                                     padding=lay.padding, act_min=lay.act_min,
                                     act_max=lay.act_max)
        else:
            y = apx.depthwise_conv2d(lay.x, lay.wt, *args, mul, depth_multiplier=lay.dm,
                                     stride=(lay.sy, lay.sx),
                                     padding=lay.padding, act_min=lay.act_min,
                                     act_max=lay.act_max)
    elif lay.kind in ("fc", "fc_tie"):
        fscale = getattr(lay, "fscale", None)
        kw = {"act_min": lay.act_min, "act_max": lay.act_max,
              "rounding": ENGINE_ROUNDING if fscale is not None else "gemmlowp",
              "scale": None if fscale is None else np.broadcast_to(fscale, (lay.oc,))}
        xw = (lay.x.reshape(1, -1), lay.wt.reshape(lay.oc, -1))
        if mul is None:
            y = tfl.fully_connected(*xw, *args, **kw)
        else:
            y = apx.fully_connected(*xw, *args, mul, **kw)
    elif mul is None:
        y = tfl.conv2d(lay.x, lay.wt, *args, stride=(lay.sy, lay.sx), padding=lay.padding,
                       act_min=lay.act_min, act_max=lay.act_max)
    else:
        y = apx.conv2d(lay.x, lay.wt, *args, mul, stride=(lay.sy, lay.sx),
                       padding=lay.padding, act_min=lay.act_min, act_max=lay.act_max)
    return np.asarray(y, np.int64).ravel()


class EngineScoreboard(uvm_subscriber):
    def build_phase(self):
        self.obs = []
        self.errors = []

    def write(self, obs):
        self.obs.append(obs)

    def check_phase(self):
        mul = ConfigDB().get(None, "", "GOLDEN_MUL")
        self.checked = 0
        if not self.obs and ConfigDB().get(None, "", "EXPECT_LAYERS"):
            self.errors.append("no layer ran")
        for i, o in enumerate(self.obs):
            lay, st = o["layer"], o["status"]
            if lay.error:
                want = 0x6 | (lay.error << 8)  # DONE | ERROR, code
                if st != want:
                    self.errors.append(f"layer {i} ({lay}): STATUS 0x{st:x}, want 0x{want:x}")
                if o["x_left"] or o["w_left"]:  # a long frame must be read to its end
                    self.errors.append(f"layer {i} ({lay}): frames left unread in the "
                                       f"sources (x {o['x_left']}, w {o['w_left']})")
                continue
            if st != 0x2:
                self.errors.append(f"layer {i} ({lay}): STATUS 0x{st:x}, want DONE (0x2)")
            want = golden(lay, mul)
            got = o["out"]
            if got is None or len(got) != len(want):
                self.errors.append(f"layer {i} ({lay}): {0 if got is None else len(got)} "
                                   f"outputs, want {len(want)}")
                continue
            bad = np.flatnonzero(got != want)
            if len(bad):
                j = int(bad[0])
                self.errors.append(f"layer {i} ({lay}): {len(bad)} outputs differ, first at "
                                   f"{j} (channel {j % lay.oc}): RTL {got[j]}, model {want[j]}")
            self.checked += len(want)
            if lay.kind == "fc_tie" and not is_hf6(mul):
                # the layer must tell the float-scale rescale from the fixed-point one
                fixed = copy.copy(lay)
                fixed.fscale = None
                if np.array_equal(golden(fixed, mul), want):
                    self.errors.append(f"layer {i} ({lay}): no output where the reference "
                                       "FullyConnected rounding differs from the fixed-point one")

    def report_phase(self):
        for o in self.obs:
            self.logger.info(f"{o['layer']}: STATUS 0x{o['status']:x}, {o['cycles']} cycles")
        for msg in self.errors:
            self.logger.error(msg)
        if not self.errors and self.checked:
            self.logger.info(f"{self.checked} outputs match the golden model bit for bit")


class EngineCoverage(uvm_subscriber):
    """Bins: every layer kind (SAME / VALID convolution, strided with uneven padding,
    FullyConnected, 1x1, a partial last channel group, each error code) and the activation
    clamp used. Goal: every bin hit."""

    def build_phase(self):
        single = config_from_env()["lanes"] == 1  # no partial group with one lane
        self.names = ["eng.kind"] if single else ["eng.kind", "eng.partial"]
        kinds = [k for k in kinds_of(config_from_env()["mul"])
                 if not (single and k == "partial_group")]

        @CoverPoint("eng.kind", xf=lambda k, p: k, bins=kinds)
        @CoverPoint("eng.partial", xf=lambda k, p: p, bins=["full", "partial"])
        def sample(k, p):
            pass

        self.sample = sample

    def write(self, obs):
        lay = obs["layer"]
        lanes = config_from_env()["lanes"]
        part = "partial" if lay.oc % lanes and lay.mode == 0 else "full"
        self.sample(lay.kind, part)
        if part == "partial" and not lay.error:
            self.sample("partial_group", part)

    def check_phase(self):
        self.holes = []
        if ConfigDB().get(None, "", "EXPECT_LAYERS"):
            self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        if ConfigDB().get(None, "", "EXPECT_LAYERS"):
            log_coverage(self.logger, coverage_db, self.names, self.holes)


class EngineEnv(uvm_env):
    coverage_class = EngineCoverage

    def build_phase(self):
        self.seqr = uvm_sequencer("seqr", self)
        self.monitor = Monitor("monitor", self)
        self.driver = Driver("driver", self)
        self.scoreboard = EngineScoreboard("scoreboard", self)
        self.coverage = self.coverage_class("coverage", self)

    def connect_phase(self):
        self.driver.seq_item_port.connect(self.seqr.seq_item_export)
        self.monitor.ap.connect(self.scoreboard.analysis_export)
        self.monitor.ap.connect(self.coverage.analysis_export)


class EngineBase(uvm_test):
    expect_layers = True
    env_class = EngineEnv

    def build_phase(self):
        cfg = config_from_env()
        seed = int(os.environ.get("APPROXNN_SEED", cocotb.RANDOM_SEED))
        ConfigDB().set(None, "*", "SEED", seed)
        if is_hf6(cfg["mul"]):
            mul = "hf6"
        else:
            mul = None if cfg["mul"] == "int8" else apx.ApproxMul.from_unit(cfg["mul"])
        ConfigDB().set(None, "*", "GOLDEN_MUL", mul)
        self.bfm = EngineBfm(cocotb.top, cfg["lanes"], seed, hf6=is_hf6(cfg["mul"]))
        ConfigDB().set(None, "*", "BFM", self.bfm)
        ConfigDB().set(None, "*", "EXPECT_LAYERS", self.expect_layers)
        self.env = self.env_class("env", self)

    async def read_caps(self):
        caps = await self.bfm.regs.read_ok(4 * CAPS)
        lanes, ibuf, wbuf, cmax = caps & 0xFF, 1 << ((caps >> 8) & 0xFF), \
            1 << ((caps >> 16) & 0xFF), (caps >> 24) & 0x7F
        self.caps_hf6 = bool(caps >> 31)
        ConfigDB().set(None, "*", "CAPS", (lanes, ibuf, wbuf, cmax))
        return lanes, ibuf, wbuf, cmax


class EngineLayerTest(EngineBase):
    """Convolutions, FullyConnected and the error layers against the golden model."""

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        await self.read_caps()
        await LayerSeq("seq").start(self.env.seqr)
        self.drop_objection()

    def final_phase(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


RND_KINDS = ["conv", "depthwise", "fc", "maxpool", "avgpool"]
ZP_BINS = ["min", "negative", "zero", "positive", "max"]


def _zero_point(rng, zp_bin):
    """An input zero point of the bin ``zp_bin`` (one of ZP_BINS)."""
    return {"min": -128, "max": 127, "zero": 0, "negative": int(rng.integers(-127, 0)),
            "positive": int(rng.integers(1, 127))}[zp_bin]


def random_layer(rng, kind, padding, lanes, ibuf, wbuf, cmax, mul, dm=1, zp_bin="zero"):
    """One constrained-random layer of ``kind``: sizes, filter, strides and (int8) zero points,
    output scales that saturate the clamp now and then; it fits the buffers and the channel
    table (drawn again until it does). ``dm``: the depth multiplier of a depthwise layer;
    ``zp_bin``: the kind of input zero point (ZP_BINS) of a layer with weights."""
    dm = dm if kind == "depthwise" else 1
    for _ in range(1000):
        if kind == "fc":
            h = w = fh = fw = sy = sx = 1
            c, padding = int(rng.integers(1, 97)), "VALID"
        else:
            fh, fw = (int(v) for v in rng.integers(1, 6, 2))
            sy, sx = (int(v) for v in rng.integers(1, 4, 2))
            lo_h, lo_w = (fh, fw) if padding == "VALID" else (1, 1)
            h, w = int(rng.integers(lo_h, 13)), int(rng.integers(lo_w, 13))
            c = int(rng.integers(1, 9))
        if kind in ("conv", "fc"):
            oc = int(rng.integers(1, min(cmax, 3 * lanes + 3) + 1))
        else:
            oc = c * dm
        groups = -(-oc // lanes) if kind in ("conv", "fc") else oc
        taps = fh * fw * (c if kind in ("conv", "fc") else 1)
        if h * w * c <= ibuf and oc <= cmax and (kind in POOL_MODES or groups * taps <= wbuf):
            break
    else:
        raise ValueError(f"no {kind} layer fits ibuf={ibuf}, wbuf={wbuf}, cmax={cmax}")
    lay = make_layer(rng, "depthwise" if kind == "depthwise" else kind, h, w, c, oc, fh, fw,
                     sy, sx, padding, dm=dm)
    lay.kind = kind
    if kind in ("conv", "depthwise", "fc"):
        lay.zp_in = _zero_point(rng, zp_bin)
        if rng.random() < 0.25:  # outputs far beyond the int8 range: both clamps hit
            real = rng.uniform(0.05, 0.5, oc)
            lay.mult, lay.shift = tfl.quantize_multiplier(real)
            if lay.fscale is not None:
                lay.fscale = real
    if is_hf6(mul):
        to_hf6(rng, lay)
        if kind not in POOL_MODES and rng.random() < 0.35:  # large weights: ReLU6 clamps
            lay.wt = rng.integers(20, 28, lay.wt.shape) | (rng.integers(0, 2, lay.wt.shape) << 5)
            lay.act = "RELU6"
    return lay


class RandomLayerSeq(uvm_sequence):
    """``APPROXNN_LAYERS`` constrained-random layers (default 40): the kinds in turn, SAME and
    VALID padding alternating per round, depth multipliers 1, 2, 3 and the input zero-point
    bins in turn, everything else drawn."""

    async def body(self):
        rng = np.random.default_rng(ConfigDB().get(None, "", "SEED") + 17)
        lanes, ibuf, wbuf, cmax = ConfigDB().get(None, "", "CAPS")
        mul = config_from_env()["mul"]
        kinds = [k for k in RND_KINDS if not (is_hf6(mul) and k == "avgpool")]
        n = int(os.environ.get("APPROXNN_LAYERS", "40"))
        with_weights = 0  # layers with weights so far: they take the zero-point bins in turn
        for i in range(n):
            kind = kinds[i % len(kinds)]
            rnd = i // len(kinds)
            lay = random_layer(rng, kind, ("SAME", "VALID")[rnd % 2], lanes, ibuf, wbuf, cmax,
                               mul, dm=1 + rnd % 3,
                               zp_bin=ZP_BINS[with_weights % len(ZP_BINS)])
            with_weights += kind not in POOL_MODES
            await self.start_item(lay)
            await self.finish_item(lay)


def rnd_bins(lay, out, mul):
    """Cover-point values of a random layer and its golden output."""
    stride = max(lay.sy, lay.sx)
    filt = max(lay.fh, lay.fw)
    spatial = None if lay.kind == "fc" else f"{lay.kind}_{lay.padding}"
    if is_hf6(mul):
        low = lay.act != "NONE" and bool(np.any(out == 0))
        high = lay.act == "RELU6" and bool(np.any(out == np.float32(6).view(np.uint32)))
        zp = None
    else:
        low, high = bool(np.any(out == lay.act_min)), bool(np.any(out == lay.act_max))
        zp = None if lay.kind in POOL_MODES else (
            "min" if lay.zp_in == -128 else "max" if lay.zp_in == 127 else
            "zero" if lay.zp_in == 0 else "negative" if lay.zp_in < 0 else "positive")
    sat = tuple(k for k, hit in (("low", low), ("high", high)) if hit) or ("none",)
    return {"kind": lay.kind, "stride": str(stride), "filter": "1" if filt == 1 else
            "2_3" if filt <= 3 else "4_5", "spatial": spatial, "zp": zp, "sat": sat,
            "dm": str(getattr(lay, "dm", 1)) if lay.kind == "depthwise" else None}


class EngineRandomCoverage(uvm_subscriber):
    """Bins of the random layers: kind, kind x padding (spatial kinds), largest stride (1, 2,
    3), largest filter side (1, 2-3, 4-5), input zero point (int8: -128, negative, 0,
    positive, 127), the clamp reached (none, low, high: saturating outputs; a layer can hit
    both), depth
    multiplier (1, 2, 3). Goal: every bin hit."""

    def build_phase(self):
        mul = config_from_env()["mul"]
        kinds = [k for k in RND_KINDS if not (is_hf6(mul) and k == "avgpool")]
        spatial = [f"{k}_{p}" for k in kinds if k != "fc" for p in ("SAME", "VALID")]
        self.names = ["eng.rnd.kind", "eng.rnd.spatial", "eng.rnd.stride", "eng.rnd.filter",
                      "eng.rnd.sat", "eng.rnd.dm"] + ([] if is_hf6(mul) else ["eng.rnd.zp"])
        self.mul = mul

        @CoverPoint("eng.rnd.kind", xf=lambda b: b["kind"], bins=kinds)
        @CoverPoint("eng.rnd.spatial", xf=lambda b: b["spatial"], bins=spatial)
        @CoverPoint("eng.rnd.stride", xf=lambda b: b["stride"], bins=["1", "2", "3"])
        @CoverPoint("eng.rnd.filter", xf=lambda b: b["filter"], bins=["1", "2_3", "4_5"])
        @CoverPoint("eng.rnd.zp", xf=lambda b: b["zp"], bins=ZP_BINS)
        @CoverPoint("eng.rnd.sat", xf=lambda b: b["sat"], rel=lambda val, b: b in val,
                    bins=["none", "low", "high"], inj=False)
        @CoverPoint("eng.rnd.dm", xf=lambda b: b["dm"], bins=["1", "2", "3"])
        def sample(b):
            pass

        self.sample = sample
        self.holes = []

    def write(self, obs):
        lay = obs["layer"]
        self.sample(rnd_bins(lay, golden(lay, ConfigDB().get(None, "", "GOLDEN_MUL")),
                             self.mul))

    def check_phase(self):
        self.holes = coverage_holes(coverage_db, self.names)

    def report_phase(self):
        log_coverage(self.logger, coverage_db, self.names, self.holes)


class EngineRandomEnv(EngineEnv):
    coverage_class = EngineRandomCoverage


class EngineRandomTest(EngineBase):
    """Constrained-random layers of every kind (shapes, strides, paddings, filters, depth
    multipliers, zero points, saturating scales) against the golden model, with the coverage
    goal of :class:`EngineRandomCoverage`; random idle cycles and back-pressure."""

    env_class = EngineRandomEnv

    def build_phase(self):
        super().build_phase()
        # i.i.d. idle / back-pressure with long stalls now and then (full output FIFO)
        self.bfm.agents.stress = os.environ.get("APPROXNN_STRESS", "iidb")
        self.bfm.agents.fifo_depth = max(8, 4 * config_from_env()["lanes"])

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        await self.read_caps()
        await RandomLayerSeq("seq").start(self.env.seqr)
        self.drop_objection()

    def final_phase(self):
        problems = self.env.scoreboard.errors + self.env.coverage.holes
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")


class EngineRegTest(EngineBase):
    """CAPS, the register sweep (in a fresh simulation first the channel tables, unwritten: 0),
    read-back of the channel table and MODE, the tables kept and MODE cleared by a reset,
    SLVERR for unmapped words, for writes to the read-only registers and for partial writes;
    in the HF6 build the 6-bit BIAS codes, no
    MULT / SHIFT / SCALE_HI tables, MODE.FLOAT_SCALE reading 0 and SLVERR for the reserved ACT
    value 3."""

    expect_layers = False

    async def run_phase(self):
        self.raise_objection()
        await self.bfm.start()
        r = self.bfm.regs
        errors = []
        lanes, ibuf, wbuf, cmax = await self.read_caps()
        cfg = config_from_env()
        if lanes != cfg["lanes"]:
            errors.append(f"CAPS lanes {lanes}, expected {cfg['lanes']}")
        hf = is_hf6(cfg["mul"])
        if self.caps_hf6 != hf:
            errors.append(f"CAPS bit 31 (HF6) is {int(self.caps_hf6)}")
        ident = await r.read_ok(4 * ID)
        if ident != REGMAP.id_value:
            errors.append(f"ID 0x{ident:08x}, expected 0x{REGMAP.id_value:08x}")
        # every word of the window against the register map (reset values, OKAY / SLVERR,
        # partial strobes refused and not performed, read-only and unmapped words inert); in a
        # fresh simulation first every channel-table entry, never written: 0, no X
        fresh = not EngineBfm.tables_written
        EngineBfm.tables_written = True
        errors += await sweep(r, engine_map(lanes, ibuf, wbuf, cmax, self.caps_hf6),
                              seed=int(ConfigDB().get(None, "", "SEED")), log=self.logger,
                              fresh=fresh)
        rng = random.Random(3)
        vals = {}
        tables = (BIAS,) if hf else (BIAS, MULT, SHIFT, SCALE_HI)
        for base in tables:
            for ch in (0, cmax - 1, rng.randrange(cmax)):
                v = rng.getrandbits(32) if base != SHIFT else rng.getrandbits(6)
                await r.write_ok(4 * (base + ch), v)
                vals[base + ch] = v & 0x3F if hf else v  # HF6: the bias code, 6 bits
        # MODE: KIND, FLOAT_SCALE (the HF6 build reads it 0) and DM
        mode = 1 | FLOAT_SCALE | (3 << 8)
        await r.write_ok(4 * MODE, mode)
        vals[MODE] = mode & ~FLOAT_SCALE if hf else mode
        if hf:
            await r.write_ok(4 * QUANT, 0xFFFFFFF2)  # ACT keeps bits 1:0
            vals[QUANT] = 2
            if await r.write(4 * QUANT, 3) != AxiResp.SLVERR:
                errors.append("write of the reserved ACT value 3 not answered SLVERR")
        for word, v in vals.items():
            got = await r.read_ok(4 * word)
            if got != v:
                errors.append(f"word {word}: read 0x{got:x} after writing 0x{v:x}")
        # a reset sets MODE (and ACT) to 0 but leaves the channel tables as written
        await reset(self.bfm.dut)
        for word, v in vals.items():
            want = v if word >= BIAS else 0
            got = await r.read_ok(4 * word)
            if got != want:
                errors.append(f"word {word}: read 0x{got:x} after a reset, expected 0x{want:x}")
        for word in (STATUS, CAPS, CYCLES, ID):
            if await r.write(4 * word, 1) != AxiResp.SLVERR:
                errors.append(f"write to read-only word {word} not answered SLVERR")
        # beyond the tables: word-index bits 8:6 = 5..7; channels at or beyond cmax
        unmapped = [ID + 1, 63, SCALE_HI + 64, 447, 511]
        if cmax < 64:
            unmapped += [t + c for t in (BIAS, MULT, SHIFT, SCALE_HI) for c in (cmax, 63)]
        if hf:
            unmapped += [t + c for t in (MULT, SHIFT, SCALE_HI) for c in (0, cmax - 1)]
        for word in unmapped:
            _, resp = await r.read(4 * word)
            if resp != AxiResp.SLVERR:
                errors.append(f"read of unmapped word {word} answered {resp!r}")
            if await r.write(4 * word, 0) != AxiResp.SLVERR:
                errors.append(f"write to unmapped word {word} not answered SLVERR")
        resp = await r.master.write(4 * IN_SHAPE, b"\x01\x02", )
        if resp.resp != AxiResp.SLVERR:
            errors.append(f"partial write answered {resp.resp!r}")
        self.errors = errors
        self.drop_objection()

    def final_phase(self):
        if self.errors:
            raise AssertionError(f"{len(self.errors)} problem(s); first: {self.errors[0]}")


def layer_of(kind, x, wt, p):
    """A Layer from a trained network's int8 parameters (``Network.int8_params`` entry)."""
    oc = wt.shape[0]
    n, h, w, c = x.shape
    fh, fw = wt.shape[1:3]
    sy, sx = (1, 1) if p["stride"] is None else tuple(int(v) for v in p["stride"])
    padding = p["padding"] or "VALID"
    oh, pt, _ = tfl.compute_padding(h, fh, sy, 1, padding)
    ow, pl, _ = tfl.compute_padding(w, fw, sx, 1, padding)
    per_ch = np.broadcast_to
    return Layer(kind=kind, h=h, w=w, c=c, oc=oc, fh=fh, fw=fw, sy=sy, sx=sx,
                 padding=padding, oh=oh, ow=ow, pt=pt, pl=pl,
                 zp_in=int(p["input_zero_point"]), zp_out=int(p["output_zero_point"]),
                 act_min=int(p["act_min"]), act_max=int(p["act_max"]), x=x, wt=wt,
                 bias=per_ch(np.asarray(p["bias"], np.int64), (oc,)),
                 mult=per_ch(np.asarray(p["multiplier"], np.int64), (oc,)),
                 shift=per_ch(np.asarray(p["shift"], np.int64), (oc,)), error=0,
                 depthwise=False, mode=0,
                 fscale=per_ch(np.asarray(p["scale"], np.float64), (oc,)) if kind == "fc"
                 else None)


def pool_layer_of(x, pool, kind="maxpool"):
    """A pooling Layer (VALID, stride = pool size, no clamp) over the NHWC map ``x``."""
    n, h, w, c = x.shape
    ph, pw = pool
    oh, ow = h // ph, w // pw
    return Layer(kind=kind, h=h, w=w, c=c, oc=c, fh=ph, fw=pw, sy=ph, sx=pw, padding="VALID",
                 oh=oh, ow=ow, pt=0, pl=0, zp_in=0, zp_out=0, act_min=-128, act_max=127, x=x,
                 wt=None, bias=None, mult=None, shift=None, error=0, depthwise=False,
                 mode=POOL_MODES[kind], act="NONE")


def hf6_layer_of(kind, x, L, arrays):
    """An HF6 Layer of network layer ``L`` (conv2d / dense) on the float32 map ``x``."""
    wc = np.asarray(arrays[L["name"] + ".w_hf6"], np.int64)
    if L["type"] == "dense":
        wc = wc.reshape(wc.shape[0], *x.shape[1:])
    oc, fh, fw, _ = wc.shape
    n, h, w, c = x.shape
    sy, sx = (1, 1) if L["type"] == "dense" else tuple(int(v) for v in L["stride"])
    padding = "VALID" if L["type"] == "dense" else L["padding"]
    oh, pt, _ = tfl.compute_padding(h, fh, sy, 1, padding)
    ow, pl, _ = tfl.compute_padding(w, fw, sx, 1, padding)
    return Layer(kind=kind, h=h, w=w, c=c, oc=oc, fh=fh, fw=fw, sy=sy, sx=sx, padding=padding,
                 oh=oh, ow=ow, pt=pt, pl=pl, zp_in=0, zp_out=0, act_min=0, act_max=0, x=x,
                 wt=wc, bias=np.asarray(arrays[L["name"] + ".b_hf6"], np.int64),
                 mult=None, shift=None, error=0, depthwise=False, mode=0,
                 act=L["activation"])


def fc_shape(k):
    """(H, W, C) for a FullyConnected layer of ``k`` inputs: (1, 1, k) when C can hold k
    (8-bit field), else a map H x W x C (C <= 255, H, W <= 15) of the same NHWC order, run as
    a VALID Conv2D with an H x W filter - the same sums, taps in the same order."""
    if k <= 255:
        return (1, 1, k)
    for c in range(255, 0, -1):
        if k % c:
            continue
        hw = k // c
        for h in range(1, 16):
            if hw % h == 0 and hw // h <= 15:
                return (h, hw // h, c)
    raise ValueError(f"no H x W x C map with C <= 255, H, W <= 15 holds {k} inputs")


def split_channels(lay, cmax):
    """A layer with more output channels than the channel table holds, as runs of at most
    ``cmax`` channels each (the host concatenates their outputs along the channels); pooling
    and layers that fit are returned as they are."""
    if lay.oc <= cmax or lay.wt is None or lay.depthwise:
        return [lay]
    parts = []
    for c0 in range(0, lay.oc, cmax):
        c1 = min(lay.oc, c0 + cmax)
        part = copy.copy(lay)
        part.oc, part.wt, part.bias = c1 - c0, lay.wt[c0:c1], lay.bias[c0:c1]
        if lay.mult is not None:
            part.mult, part.shift = lay.mult[c0:c1], lay.shift[c0:c1]
        if getattr(lay, "fscale", None) is not None:
            part.fscale = np.broadcast_to(lay.fscale, (lay.oc,))[c0:c1]
        parts.append(part)
    return parts


class EngineNetworkTest(EngineBase):
    """A trained network of refmodels.cnn (``APPROXNN_NETWORK``, default ``digits``) end to end
    on ``APPROXNN_IMAGES`` held-out images: every convolution, pooling and dense layer on the
    engine (each run also checked by the scoreboard); the host only passes each output map on
    as the next input (flatten is the NHWC order itself), runs a dense layer of more than 255
    inputs as a Conv2D over the unflattened map (:func:`fc_shape`) and splits layers with more
    output channels than the channel table (:func:`split_channels`). The network's outputs
    must equal ``Network.forward_int8`` (with the engine's multiplier, rounding path
    :data:`ENGINE_ROUNDING`) bit for bit, or
    ``Network.forward_hf6`` (float32 bit patterns) on the HF6 engine."""

    images = 3

    async def run_phase(self):
        from refmodels.cnn.net import load_dataset, load_network  # noqa: PLC0415

        self.raise_objection()
        await self.bfm.start()
        self.cmax = (await self.read_caps())[3]
        name = os.environ.get("APPROXNN_NETWORK", "digits")
        net = load_network(name)
        _, _, x_test, _ = load_dataset(net.topology["dataset"])
        n = int(os.environ.get("APPROXNN_IMAGES", self.images))
        self.images_run = n
        hf = self.bfm.hf6
        if hf:
            xs = np.asarray(x_test[:n], np.float32)
            want = net.forward_hf6(xs).view(np.uint32).astype(np.int64)
        else:
            xq = net.quantize_input(x_test[:n])
            want = net.forward_int8(xq, mul=ConfigDB().get(None, "", "GOLDEN_MUL"),
                                    rounding=ENGINE_ROUNDING)
            xs = xq.astype(np.int64)
            params = net.int8_params()
        self.errors = []
        for i in range(n):
            a = xs[i : i + 1]
            k = 0
            for L in net.layers:
                t = L["type"]
                if t in ("conv2d", "dense", "maxpool"):
                    if t == "dense":
                        a = a.reshape(1, *fc_shape(a.size))
                    kind = {"conv2d": "conv_same" if L.get("padding") == "SAME" else
                            "conv_valid", "dense": "fc", "maxpool": "maxpool"}[t]
                    if t == "maxpool":
                        lay = pool_layer_of(a, L["pool"])
                    elif hf:
                        lay = hf6_layer_of(kind, a, L, net.arrays)
                    else:
                        p = params[k]
                        k += 1
                        wt = np.asarray(p["weights"], np.int64)
                        if t == "dense":
                            wt = wt.reshape(wt.shape[0], *a.shape[1:])
                        lay = layer_of(kind, a, wt, p)
                    lay.layer, lay.image = L["name"], i
                    outs = []
                    for part in split_channels(lay, self.cmax):
                        obs = await self.bfm.run_layer(part)
                        self.env.monitor.ap.write(obs)
                        if obs["out"] is None:
                            break
                        outs.append(obs["out"].reshape(1, part.oh, part.ow, part.oc))
                    if len(outs) != len(split_channels(lay, self.cmax)):
                        self.errors.append(f"image {i} {L['name']}: no output")
                        break
                    a = np.concatenate(outs, axis=3)
                    if hf:
                        a = a.astype(np.uint32).view(np.float32)
                elif t == "flatten":
                    a = a.reshape(1, -1)
            got = a.ravel().view(np.uint32).astype(np.int64) if hf else a.ravel()
            if not np.array_equal(got, want[i]):
                self.errors.append(f"image {i}: outputs {got.tolist()}, model "
                                   f"{want[i].tolist()}")
            else:
                self.logger.info(f"image {i}: outputs match, class {int(np.argmax(a.ravel()))}")
        self.drop_objection()

    def final_phase(self):
        problems = self.errors + self.env.scoreboard.errors
        if problems:
            raise AssertionError(f"{len(problems)} problem(s); first: {problems[0]}")
