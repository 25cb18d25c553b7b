"""Hybrid-Float6 layers: float32 activations, HF6 weight and bias codes, the HF6 MAC.

Each output value is ``hf6_dot`` of its receptive field (:mod:`refmodels.cnn.minifloat`: exact
products in 64-bit Q.23, the bias as its exact Q.23 value, one rounding to float32), then the
activation. Padded taps of a convolution are activations 0.0 (they add nothing). These are the
golden models of the HF6 layer engine (``cores/cnn/engine`` built with ``mul="hf6"``) and the
layers of ``Network.forward_hf6``.

* :func:`conv2d` - weights ``(OUT_C, FH, FW, C)``;
* :func:`depthwise_conv2d` - weights ``(1, FH, FW, C * depth_multiplier)``;
* :func:`fully_connected` - weights ``(OUT_C, K)``;
* :func:`max_pool` - the largest in-image value of each window (padded taps never win);
* :func:`activation` - ``NONE``, ``RELU`` (``max(z, 0)``), ``RELU6`` (``min(max(z, 0), 6)``).

Inputs are float32 arrays in NHWC order without inf / NaN; weight and bias codes are integers
0..63 (sign, 4-bit exponent with bias 7, 1-bit mantissa).
"""

from __future__ import annotations

import numpy as np

from refmodels.cnn import minifloat as mf
from refmodels.cnn import tflite as tfl

ACTIVATIONS = ("NONE", "RELU", "RELU6")


def _f32(x, name="x"):
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def activation(z, kind="NONE"):
    """The float32 activation functions of the HF6 path (``+0.0`` for negative values)."""
    z = _f32(z, "z")
    if kind == "NONE":
        return z
    if kind == "RELU":
        return np.where(z < 0, np.float32(0), z).astype(np.float32)
    if kind == "RELU6":
        return np.where(z < 0, np.float32(0), np.minimum(z, np.float32(6))).astype(np.float32)
    raise ValueError(f"unknown activation {kind!r}; valid: {', '.join(ACTIVATIONS)}")


def conv2d(x, w_codes, b_codes, stride=(1, 1), padding="SAME", act="NONE"):
    """HF6 Conv2D: x (N, H, W, C) float32, w_codes (OUT_C, FH, FW, C), b_codes (OUT_C,)."""
    x = _f32(x)
    w_codes = np.asarray(w_codes, np.int64)
    if x.ndim != 4 or w_codes.ndim != 4 or w_codes.shape[3] != x.shape[3]:
        raise ValueError(f"need x (N, H, W, C) and w (OUT_C, FH, FW, C); got {x.shape}, "
                         f"{w_codes.shape}")
    oc, fh, fw, c = w_codes.shape
    cols, _ = tfl.patches(x, fh, fw, stride, padding, 1, pad_value=np.float32(0))
    n, oh, ow = cols.shape[:3]
    z = mf.hf6_dot(np.ascontiguousarray(cols).reshape(-1, fh * fw * c),
                   w_codes.reshape(oc, -1).T, np.asarray(b_codes, np.int64))
    return activation(z.reshape(n, oh, ow, oc), act)


def depthwise_conv2d(x, w_codes, b_codes, stride=(1, 1), padding="SAME", act="NONE",
                     depth_multiplier=1):
    """HF6 DepthwiseConv2D: w_codes (1, FH, FW, C * depth_multiplier), b_codes
    (C * depth_multiplier,); output channel ``c * depth_multiplier + m`` filters input
    channel ``c``."""
    x = _f32(x)
    w_codes = np.asarray(w_codes, np.int64)
    dm = int(depth_multiplier)
    if dm < 1:
        raise ValueError(f"depth_multiplier must be at least 1, got {depth_multiplier}")
    if x.ndim != 4 or w_codes.ndim != 4 or w_codes.shape[0] != 1 \
            or w_codes.shape[3] != x.shape[3] * dm:
        raise ValueError(f"need x (N, H, W, C) and w (1, FH, FW, C * {dm}); got {x.shape}, "
                         f"{w_codes.shape}")
    _, fh, fw, co = w_codes.shape
    b_codes = np.broadcast_to(np.asarray(b_codes, np.int64), (co,))
    cols, _ = tfl.patches(x, fh, fw, stride, padding, 1, pad_value=np.float32(0))
    n, oh, ow = cols.shape[:3]
    out = np.empty((n, oh, ow, co), np.float32)
    for ch in range(co):
        a = np.ascontiguousarray(cols[..., ch // dm]).reshape(-1, fh * fw)
        z = mf.hf6_dot(a, w_codes[0, :, :, ch].reshape(-1, 1), b_codes[ch : ch + 1])
        out[..., ch] = z.reshape(n, oh, ow)
    return activation(out, act)


def fully_connected(x, w_codes, b_codes, act="NONE"):
    """HF6 FullyConnected: x (N, K) float32, w_codes (OUT_C, K), b_codes (OUT_C,)."""
    x = _f32(x)
    w_codes = np.asarray(w_codes, np.int64)
    if x.ndim != 2 or w_codes.ndim != 2 or w_codes.shape[1] != x.shape[1]:
        raise ValueError(f"need x (N, K) and w (OUT_C, K); got {x.shape}, {w_codes.shape}")
    return activation(mf.hf6_dot(x, w_codes.T, np.asarray(b_codes, np.int64)), act)


def max_pool(x, pool, stride=None, padding="VALID"):
    """Float32 MaxPool over the in-image part of each window."""
    x = _f32(x)
    ph, pw = pool
    cols, valid = tfl.patches(x, ph, pw, stride or (ph, pw), padding, 1,
                              pad_value=np.float32(0))
    masked = np.where(valid[None, :, :, :, :, None], cols, np.float32(-np.inf))
    return masked.max(axis=(3, 4)).astype(np.float32)
