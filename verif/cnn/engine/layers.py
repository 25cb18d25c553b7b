"""Layers of the CNN engine's testbench and their expected outputs; numpy only, no simulator.

Layer kinds of the directed sequence (:data:`KINDS`, :func:`layer_list`), the
constrained-random layers (:func:`random_layer`), HF6 versions (:func:`to_hf6`) and the golden
model (:func:`golden`: ``refmodels.cnn.tflite`` for exact int8, ``refmodels.cnn.approx`` for an
approximate unit, ``refmodels.cnn.hf6`` for float32 bit patterns). int8 outputs follow the
golden model's ``"reference"`` rounding path (:data:`ENGINE_ROUNDING`).
"""

from __future__ import annotations

import numpy as np
from approxnn_host.layers import ACT_CODES, POOL_MODES, Layer

from refmodels.cnn import approx as apx
from refmodels.cnn import hf6
from refmodels.cnn import tflite as tfl

KINDS = ["conv_same", "conv_valid", "strided", "fc", "fc_tie", "pointwise", "partial_group",
         "depthwise", "depthwise_dm", "maxpool", "avgpool", "error_ibuf", "error_wbuf",
         "error_channels", "error_zero", "error_depth", "error_pool", "error_xlast_short",
         "error_xlast_long", "error_wlast_short", "error_wlast_long"]
#: frame faults: kind -> (error code, stream, beats added (+) or removed (-))
FRAME_FAULTS = {"error_xlast_short": (7, "x", -1), "error_xlast_long": (7, "x", 3),
                "error_wlast_short": (8, "w", -2), "error_wlast_long": (8, "w", 1)}
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
