"""Driver of the CNN layer engine in the ``approxnn_cnn`` overlay, written against the PYNQ
API: an overlay whose attributes are the block design's cells (``engine`` with ``.mmio``,
``dma_xy`` and ``dma_w`` with ``.sendchannel`` / ``.recvchannel``), and ``allocate(shape,
dtype)`` for physically contiguous buffers (``.physical_address``).

On a board: ``CnnEngine(pynq.Overlay("approxnn_cnn.bit"), pynq.allocate)``. In simulation the
same class runs on the PYNQ-API shim of verif/zynq/pynq_shim.py. Registers are addressed
through the register model generated from cnn_engine.rdl (:mod:`approxnn_host.regs`).

A layer is any object with the attributes of the engine's layer description (those of
``approxnn_host.layers.Layer``): ``h w c`` input shape, ``oh ow oc`` output shape, ``fh fw``
filter, ``sy sx`` strides, ``pt pl`` leading pads, ``zp_in zp_out act_min act_max``, ``mode``
(the MODE register: kind, depth multiplier and, on a heterogeneous build, the unit in MODE.MUL),
``depthwise``, ``x`` (int8, NHWC), ``wt``
(int8 ``[OC, FH, FW, C]``, depthwise ``[1, FH, FW, OC]``; None for pooling) and the per-channel
``bias mult shift``; optionally ``fscale`` (per-channel float64 scales: the layer runs with
MODE.FLOAT_SCALE, TFLite's reference FullyConnected rescale) and ``words`` (the weights already
packed for this engine's lanes, :func:`pack_weights`).
"""

from __future__ import annotations

import numpy as np

from .regs import load_regmap


class EngineError(RuntimeError):
    """The engine refused a layer (STATUS.ERROR) or did not finish."""


def pack_weights(wt, oc: int, lanes: int, depthwise: bool) -> np.ndarray:
    """The ``s_axis_w`` words of a layer as a little-endian byte array: per output-channel
    group, per tap (ky, kx, ci), ``lanes`` int8 weights (lane i = channel g*lanes + i; lanes
    beyond OC are 0); depthwise: per channel, per tap (ky, kx), the weight in lane 0."""
    wt = np.asarray(wt, np.int64)
    if depthwise:
        _, fh, fw, _ = wt.shape
        words = np.zeros((oc, fh, fw, lanes), np.uint8)
        words[..., 0] = np.transpose(wt[0], (2, 0, 1)) & 0xFF
        return words.ravel()
    _, fh, fw, c = wt.shape
    groups = -(-oc // lanes)
    padded = np.zeros((groups * lanes, fh, fw, c), np.int64)
    padded[:oc] = wt
    # [g, lane, ky, kx, ci] -> [g, ky, kx, ci, lane]
    words = padded.reshape(groups, lanes, fh, fw, c).transpose(0, 2, 3, 4, 1) & 0xFF
    return words.astype(np.uint8).ravel()


class CnnEngine:
    """One layer per :meth:`run_layer` call through the engine and its two DMAs."""

    def __init__(self, overlay, allocate, engine: str = "engine", dma_xy: str = "dma_xy",
                 dma_w: str = "dma_w", regmap=None):
        self.mmio = getattr(overlay, engine).mmio
        self.dma_xy = getattr(overlay, dma_xy)
        self.dma_w = getattr(overlay, dma_w)
        self.allocate = allocate
        self.regs = regmap or load_regmap("cnn_engine")
        ident = self.read("ID")
        if ident >> 8 != self.regs["ID"].field("TAG").reset:
            raise EngineError(f"no CNN engine at this address (ID 0x{ident:08x})")
        caps = self.regs["CAPS"].decode(self.read("CAPS"))
        self.lanes, self.cmax = caps["P"], caps["CMAX"]
        if caps["HF6"]:
            raise EngineError("this driver runs the int8 build")
        self.cycles = 0  # CYCLES of the last layer

    def read(self, name: str, index: int = 0) -> int:
        return int(self.mmio.read(self.regs[name].address(index)))

    def write(self, name: str, value: int, index: int = 0) -> None:
        self.mmio.write(self.regs[name].address(index), int(value) & 0xFFFFFFFF)

    def configure(self, lay) -> None:
        r = self.regs
        self.write("IN_SHAPE", r["IN_SHAPE"].encode(H=lay.h, W=lay.w, C=lay.c))
        self.write("OUT_SHAPE", r["OUT_SHAPE"].encode(OH=lay.oh, OW=lay.ow, OC=lay.oc))
        self.write("FILTER", r["FILTER"].encode(FH=lay.fh, FW=lay.fw, SY=lay.sy, SX=lay.sx,
                                                PAD_T=lay.pt, PAD_L=lay.pl))
        self.write("QUANT", r["QUANT"].encode(IN_ZP=lay.zp_in, OUT_ZP=lay.zp_out,
                                              ACT_MIN=lay.act_min, ACT_MAX=lay.act_max))
        fscale = getattr(lay, "fscale", None)
        if lay.wt is None:
            fscale = None
        flt = r["MODE"].encode(FLOAT_SCALE=1) if fscale is not None else 0
        self.write("MODE", lay.mode | flt)
        if lay.wt is not None:
            if fscale is not None:  # the float64 scale's bit pattern: MULT 31:0, SCALE_HI 63:32
                bits = np.ascontiguousarray(np.broadcast_to(np.asarray(fscale, np.float64),
                                                            (lay.oc,))).view(np.uint64)
            for ch in range(lay.oc):
                self.write("BIAS", int(lay.bias[ch]), ch)
                if fscale is not None:
                    self.write("MULT", int(bits[ch]) & 0xFFFFFFFF, ch)
                    self.write("SCALE_HI", int(bits[ch]) >> 32, ch)
                else:
                    self.write("MULT", int(lay.mult[ch]), ch)
                    self.write("SHIFT", int(lay.shift[ch]) & 0x3F, ch)

    def run_layer(self, lay) -> np.ndarray:
        """The layer's int8 output, NHWC order, flattened."""
        if lay.oc > self.cmax:
            raise EngineError(f"{lay.oc} output channels, the channel table has {self.cmax}: "
                              "split the layer")
        self.configure(lay)
        x_buf = self.allocate(shape=(lay.h * lay.w * lay.c,), dtype=np.int8)
        x_buf[:] = np.asarray(lay.x, np.int64).ravel().astype(np.int8)
        y_buf = self.allocate(shape=(lay.oh * lay.ow * lay.oc,), dtype=np.int8)
        w_buf = None
        if lay.wt is not None:
            words = getattr(lay, "words", None)  # packed by a compiled program
            if words is None or len(words) == 0:
                words = pack_weights(lay.wt, lay.oc, self.lanes, lay.depthwise)
            w_buf = self.allocate(shape=(len(words),), dtype=np.uint8)
            w_buf[:] = words
        irq = self.regs["IRQ_STATUS"].encode(DONE=1, ERROR=1)
        self.write("IRQ_STATUS", irq)
        self.write("IRQ_ENABLE", irq)
        # the output first (S2MM waits for the frame), START, then the input map and weights
        self.dma_xy.recvchannel.transfer(y_buf)
        self.write("CTRL", self.regs["CTRL"].encode(START=1))
        self.dma_xy.sendchannel.transfer(x_buf)
        if w_buf is not None:
            self.dma_w.sendchannel.transfer(w_buf)
            self.dma_w.sendchannel.wait()
        self.dma_xy.sendchannel.wait()
        self.dma_xy.recvchannel.wait()
        status = self.regs["STATUS"].decode(self.read("STATUS"))
        for _ in range(100):  # DONE follows the last output beat by a few cycles
            if not status["BUSY"]:
                break
            status = self.regs["STATUS"].decode(self.read("STATUS"))
        if status["BUSY"] or not status["DONE"]:
            raise EngineError("the engine did not finish the layer")
        if status["ERROR"]:
            raise EngineError(f"the engine refused the layer: error code {status['CODE']}")
        self.cycles = self.read("CYCLES")
        self.write("IRQ_STATUS", irq)
        out = np.array(y_buf, dtype=np.int8).astype(np.int64)
        for b in (x_buf, y_buf, w_buf):
            if b is not None and hasattr(b, "freebuffer"):
                b.freebuffer()
        return out
