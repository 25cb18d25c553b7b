"""Layer descriptions of the CNN layer engine, host side (numpy only, no simulator).

A :class:`Layer` holds the attributes the engine is programmed with: ``kind``, ``h w c`` input
shape, ``oh ow oc`` output shape, ``fh fw`` filter, ``sy sx`` strides, ``padding``, ``pt pl``
leading pads, ``zp_in zp_out act_min act_max``, ``mode`` (the MODE register: kind and depth
multiplier), ``depthwise``, ``x`` (NHWC), ``wt`` (``[OC, FH, FW, C]``, depthwise
``[1, FH, FW, OC]``; None for pooling), the per-channel ``bias mult shift`` and, for a
FullyConnected layer run with MODE.FLOAT_SCALE, ``fscale`` (float64 scales); HF6 layers carry
``act`` instead of the int8 quantisation. Besides it: the ``s_axis_w`` beats of a layer
(:func:`weight_words`, from :func:`approxnn_host.cnn.pack_weights`), layers built from a
trained network's parameters (:func:`layer_of`, :func:`pool_layer_of`, :func:`hf6_layer_of`;
these take TFLite's padding rule from ``refmodels.cnn.tflite``, so they run in the
repository), a FullyConnected layer of many inputs as a map (:func:`fc_shape`) and a layer
with more channels than the channel table as several runs (:func:`split_channels`).
"""

from __future__ import annotations

import copy

import numpy as np

from .cnn import pack_weights

POOL_MODES = {"maxpool": 2, "avgpool": 3}  # MODE register values of the pooling layers
ACT_CODES = {"NONE": 0, "RELU": 1, "RELU6": 2}  # ACT register of the HF6 engine


class Layer:
    """One layer and its data (numpy arrays)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __str__(self):
        return (f"{self.kind}: in {self.h}x{self.w}x{self.c}, filter {self.fh}x{self.fw} "
                f"stride {self.sy},{self.sx} {self.padding}, out_c {self.oc}")


def weight_words(lay, lanes):
    """The s_axis_w beats of a layer: per group, per tap (ky, kx, ci), P packed weights;
    depthwise: per channel, per tap (ky, kx), the channel's weight in lane 0."""
    packed = pack_weights(lay.wt, lay.oc, lanes, lay.depthwise).reshape(-1, lanes)
    return [int.from_bytes(beat.tobytes(), "little") for beat in packed]


def _compute_padding(*args):
    from refmodels.cnn.tflite import compute_padding  # noqa: PLC0415 - repository side

    return compute_padding(*args)


def layer_of(kind, x, wt, p):
    """A Layer from a trained network's int8 parameters (``Network.int8_params`` entry)."""
    oc = wt.shape[0]
    n, h, w, c = x.shape
    fh, fw = wt.shape[1:3]
    sy, sx = (1, 1) if p["stride"] is None else tuple(int(v) for v in p["stride"])
    padding = p["padding"] or "VALID"
    oh, pt, _ = _compute_padding(h, fh, sy, 1, padding)
    ow, pl, _ = _compute_padding(w, fw, sx, 1, padding)
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
    oh, pt, _ = _compute_padding(h, fh, sy, 1, padding)
    ow, pl, _ = _compute_padding(w, fw, sx, 1, padding)
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
