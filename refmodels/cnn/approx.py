"""int8 Conv2D / DepthwiseConv2D / FullyConnected with every filter x input product taken from
an approximate multiplier (a ``refmodels.arith`` unit, emulated through its lookup table).

Operand mapping (what enters the multiplier; the RTL must do the same):

* 8-bit **signed** unit (``signed=1``): ``a`` = the int8 filter value, ``b`` = the raw int8
  input code ``x`` (not ``x - input_zero_point``). The accumulator is::

      acc = sum_taps mul(w, x)  -  input_zero_point * sum_taps w

* 8-bit **unsigned** unit (``signed=0``): ``a`` = ``abs(w)`` (0..128), ``b`` = ``x + 128``
  (the uint8 offset-binary code of the same tensor); the product's sign is that of ``w``::

      acc = sum_taps sign(w) * mul(abs(w), x + 128)  -  (input_zero_point + 128) * sum_taps w

The zero-point term is exact integer arithmetic (TFApprox / AdaPT style). Sums run over the
taps inside the image only (padded taps contribute neither a product nor a zero-point term,
exactly as TFLite skips them). The bias, rescaling, output zero point and clamp are those of
:mod:`refmodels.cnn.tflite`, so with an exact unit the result equals the TFLite path bit for bit.
"""

from __future__ import annotations

import numpy as np

from . import tflite as tfl

__all__ = [
    "ApproxMul",
    "tap_tables",
    "conv2d_acc",
    "conv2d",
    "depthwise_conv2d_acc",
    "depthwise_conv2d",
    "fully_connected_acc",
    "fully_connected",
]

_PAD = 256  # column index of the all-zero padding column of the effective table


class ApproxMul:
    """An 8-bit multiplier as an effective table ``E[w + 128, b]`` (int32, 256 x 257).

    ``b`` is ``x + 128`` for both signednesses; column 256 is zero (padded taps). Build it with
    :meth:`from_unit` (a unit name or ``UnitSpec``) or :meth:`from_lut` (a 256 x 256 table
    indexed by operand codes, ``lut[code(a), code(b)]``).
    """

    def __init__(self, lut, signed, name="lut"):
        lut = np.asarray(lut)
        if lut.shape != (256, 256) or lut.dtype.kind not in "iu":
            raise ValueError(f"need a 256 x 256 integer table, got {lut.shape} {lut.dtype}")
        self.signed = bool(signed)
        self.name = str(name)
        lut = lut.astype(np.int64)
        w = np.arange(-128, 128)
        xb = np.arange(256)  # x + 128
        if self.signed:
            eff = lut[(w & 0xFF)[:, None], ((xb - 128) & 0xFF)[None, :]]
        else:
            eff = np.sign(w)[:, None] * lut[np.abs(w)[:, None], xb[None, :]]
        if np.abs(eff).max() >= 2**31:
            raise ValueError("table values do not fit int32")
        table = np.zeros((256, 257), np.int32)
        table[:, :256] = eff
        self.table = table
        self.max_abs = int(np.abs(eff).max())
        self.zp_offset = 0 if self.signed else 128

    @classmethod
    def from_unit(cls, unit):
        from refmodels.arith import make_lut, parse_unit

        spec = parse_unit(unit) if isinstance(unit, str) else unit
        if spec.kind != "mul" or spec.width != 8:
            raise ValueError(f"need an 8-bit multiplier unit, got {spec}")
        return cls(make_lut(spec), spec.signed, str(spec))

    @classmethod
    def from_lut(cls, lut, signed, name="lut"):
        return cls(lut, signed, name)

    @classmethod
    def exact(cls, signed=True):
        v = np.arange(256)
        if signed:
            v = np.where(v >= 128, v - 256, v)
        return cls(np.outer(v, v), signed, f"exact:width=8,signed={int(signed)}")

    def __repr__(self):
        return f"ApproxMul({self.name!r})"

    def products(self, w, x):
        """Elementwise signed products as this unit gives them (w, x int8 values)."""
        w = np.asarray(w, np.int64)
        x = np.asarray(x, np.int64)
        return self.table[w + 128, x + 128].astype(np.int64)


def _as_mul(mul):
    if isinstance(mul, ApproxMul):
        return mul
    return ApproxMul.from_unit(mul)


def tap_tables(table, wrow):
    """Per-tap product tables: ``T[k, b, c] = table[wrow[k, c], b]`` (K, 257, C) int32."""
    return np.ascontiguousarray(table[wrow.T].transpose(1, 2, 0))


def _gather_sum(table, wrow, xbt, tables=None, chunk=1 << 18):
    """acc[p, c] = sum_k table[wrow[k, c], xbt[k, p]]  (wrow = w + 128, xbt in 0..256)."""
    K, P = xbt.shape
    C = wrow.shape[1]
    if tables is None:
        tables = tap_tables(table, wrow)
    elif tables.shape != (K, 257, C):
        raise ValueError("precomputed tables do not match the layer")
    acc_t = np.int32 if K * 2**16 < 2**31 else np.int64
    acc = np.empty((P, C), acc_t)
    step = max(1, chunk // max(1, C))
    buf = np.empty((step, C), np.int32)
    for p0 in range(0, P, step):
        p1 = min(P, p0 + step)
        a = acc[p0:p1]
        a[...] = np.take(tables[0], xbt[0, p0:p1], axis=0)
        b = buf[: p1 - p0]
        for k in range(1, K):
            np.take(tables[k], xbt[k, p0:p1], axis=0, out=b)
            a += b
    return acc.astype(np.int64)


def conv2d_acc(x, w, input_zero_point, mul, stride=1, padding="SAME", dilation=1, tables=None):
    """Approximate counterpart of :func:`refmodels.cnn.tflite.conv2d_acc`.

    ``tables``: optional result of ``tap_tables(mul.table, w.reshape(co, -1).T + 128)`` to reuse.
    """
    mul = _as_mul(mul)
    x = tfl._check_act(x)
    w = tfl._i64(w, "filter")
    if w.ndim != 4 or w.shape[3] != x.shape[3]:
        raise ValueError(f"filter must be (out, fh, fw, {x.shape[3]}), got {w.shape}")
    tfl._check_range(w, -128, 127, "filter")
    co, fh, fw, ci = w.shape
    cols, valid = tfl.patches(x + 128, fh, fw, stride, padding, dilation, pad_value=_PAD)
    n, oh, ow = cols.shape[:3]
    k = fh * fw * ci
    xbt = np.ascontiguousarray(cols.transpose(3, 4, 5, 0, 1, 2)).reshape(k, n * oh * ow)
    wk = w.reshape(co, k).T  # (K, C)
    acc = _gather_sum(mul.table, wk + 128, xbt, tables)
    # zero-point term over the in-image taps: (OH*OW, fh*fw) @ (fh*fw, C) summed over ci
    wsum_tap = w.sum(axis=3).reshape(co, fh * fw).T.astype(np.float64)
    corr = valid.reshape(oh * ow, fh * fw).astype(np.float64) @ wsum_tap
    zp = int(input_zero_point) + mul.zp_offset
    acc = acc.reshape(n, oh * ow, co) - zp * corr.astype(np.int64)[None]
    return acc.reshape(n, oh, ow, co)


def conv2d(x, w, bias, input_zero_point, output_zero_point, multiplier, shift, mul, stride=1,
           padding="SAME", dilation=1, act_min=-128, act_max=127, single_rounding=False,
           tables=None, rounding="reference", scale=None):
    acc = conv2d_acc(x, w, input_zero_point, mul, stride, padding, dilation, tables)
    return tfl.requantize_layer("conv2d", acc, bias, multiplier, shift, output_zero_point,
                                act_min, act_max, single_rounding, rounding, scale)


def depthwise_conv2d_acc(x, w, input_zero_point, mul, depth_multiplier=1, stride=1,
                         padding="SAME", dilation=1):
    mul = _as_mul(mul)
    x = tfl._check_act(x)
    w = tfl._i64(w, "filter")
    dm = int(depth_multiplier)
    ci = x.shape[3]
    if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] != ci * dm:
        raise ValueError(f"filter must be (1, fh, fw, {ci * dm}), got {w.shape}")
    tfl._check_range(w, -128, 127, "filter")
    _, fh, fw, co = w.shape
    cols, valid = tfl.patches(x + 128, fh, fw, stride, padding, dilation, pad_value=_PAD)
    n, oh, ow = cols.shape[:3]
    out = np.zeros((n, oh, ow, co), np.int64)
    wt = w[0].reshape(fh * fw, co)
    vcnt = valid.reshape(oh * ow, fh * fw).astype(np.float64) @ wt.astype(np.float64)
    zp = int(input_zero_point) + mul.zp_offset
    for ic in range(ci):
        xbt = np.ascontiguousarray(cols[..., ic].transpose(3, 4, 0, 1, 2))
        sl = slice(ic * dm, (ic + 1) * dm)
        acc = _gather_sum(mul.table, wt[:, sl] + 128, xbt.reshape(fh * fw, n * oh * ow))
        acc = acc.reshape(n, oh * ow, dm)
        acc -= zp * vcnt[:, sl].astype(np.int64)[None]
        out[..., sl] = acc.reshape(n, oh, ow, dm)
    return out


def depthwise_conv2d(x, w, bias, input_zero_point, output_zero_point, multiplier, shift, mul,
                     depth_multiplier=1, stride=1, padding="SAME", dilation=1, act_min=-128,
                     act_max=127, single_rounding=False, rounding="reference", scale=None):
    acc = depthwise_conv2d_acc(x, w, input_zero_point, mul, depth_multiplier, stride, padding,
                               dilation)
    return tfl.requantize_layer("depthwise_conv2d", acc, bias, multiplier, shift,
                                output_zero_point, act_min, act_max, single_rounding, rounding,
                                scale)


def fully_connected_acc(x, w, input_zero_point, mul, tables=None):
    mul = _as_mul(mul)
    x = tfl._i64(x, "input")
    w = tfl._i64(w, "weights")
    if x.ndim != 2 or w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(f"need input (N, in) and weights (out, in), got {x.shape}, {w.shape}")
    tfl._check_range(x, -128, 127, "input")
    tfl._check_range(w, -128, 127, "weights")
    acc = _gather_sum(mul.table, w.T + 128, np.ascontiguousarray((x + 128).T), tables)
    zp = int(input_zero_point) + mul.zp_offset
    return acc - zp * w.sum(axis=1)[None, :]


def fully_connected(x, w, bias, input_zero_point, output_zero_point, multiplier, shift, mul,
                    act_min=-128, act_max=127, single_rounding=False, tables=None,
                    rounding="reference", scale=None):
    """Approximate-multiplier FullyConnected; output stage as :func:`tflite.fully_connected`
    (the default ``"reference"`` path needs ``scale``, :func:`tflite.fc_scale`)."""
    acc = fully_connected_acc(x, w, input_zero_point, mul, tables)
    return tfl.requantize_layer("fully_connected", acc, bias, multiplier, shift,
                                output_zero_point, act_min, act_max, single_rounding, rounding,
                                scale)
