"""Bit-exact numpy model of TFLite int8 (integer_ops) inference kernels.

Conventions (those of the TFLite quantisation specification):

* real = (q - zero_point) * scale.
* Activations: int8 in [-128, 127], one scale / zero point per tensor, layout NHWC.
* Weights: int8 symmetric (zero point 0), normally in [-127, 127]; Conv2D, DepthwiseConv2D and
  FullyConnected may use one scale per output channel (the converter's default for all three).
  Layouts: Conv2D ``(out, fh, fw, in)`` (OHWI), DepthwiseConv2D
  ``(1, fh, fw, in * depth_multiplier)``, FullyConnected ``(out, in)``.
* Biases: int32 with scale ``input_scale * weight_scale[c]`` and zero point 0.

Rounding paths (``rounding=`` wherever an output is rescaled; :data:`ROUNDINGS`):

* ``"reference"`` (default): TFLite's reference kernels (the interpreter's BUILTIN_REF op
  resolver), op by op. Conv2D, DepthwiseConv2D and Add rescale with the double-rounding
  ``MultiplyByQuantizedMultiplier`` (gemmlowp: saturating rounding doubling high multiply, then
  a rounding right shift with ties away from zero). FullyConnected rescales with ONE rounding in
  float64: ``round(double(acc) * (s_in * s_w[c] / s_out))``, ties away from zero
  (:func:`fc_scale`, :func:`multiply_by_scale`); it needs the float scale (``scale=``).
* ``"gemmlowp"``: the double-rounding fixed-point rescale for every op, FullyConnected included
  (the RTL engine's requantisation unit without MODE.FLOAT_SCALE; with it, FullyConnected is
  the reference rescale, in integers: :func:`multiply_by_scale_fixed`).
* ``"optimized"``: TFLite's optimized builtin kernels (no delegate, x86 build): Conv2D and
  FullyConnected (through ruy) use the fixed-point rescale whose final rounding right shift breaks
  ties toward +inf; DepthwiseConv2D, Add and the pools compute as the reference kernels do.
* ``"xnnpack"``: the XNNPACK delegate (LiteRT's default CPU path): Conv2D, DepthwiseConv2D and
  FullyConnected rescale in float32, ``float(acc) * (s_in * s_w / s_out)`` (scale and product in
  float32, :func:`xnnpack_scale`), clamp, then round half to even; the clamp bounds are
  ``roundf``-free float32 quotients rounded half to even (``activation_range(...,
  rounding="xnnpack")``). Add and the pools are modelled as the reference kernels (equal to
  the delegate on the oracle test's data, which holds no Add rounding tie).

The single-rounding build (``TFLITE_SINGLE_ROUNDING``) of the fixed-point rescale is available with
``single_rounding=True``. Fused-activation clamp bounds are computed as TFLite does, in float32
(``zero_point + roundf(6.0f / scale)``, :func:`activation_range`), on every path but
``"xnnpack"`` (float32, ties to even).

All integer arithmetic is done in numpy int64 on values that stay in the int32 range, which the
functions check where C++ would have undefined behaviour (int32 accumulator overflow raises
``OverflowError``).
"""

from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT8_MIN = -128
INT8_MAX = 127

PADDINGS = ("SAME", "VALID")
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
ROUNDINGS = ("reference", "gemmlowp", "optimized", "xnnpack")

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "quantize_multiplier",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_double_rounding",
    "multiply_by_quantized_multiplier_single_rounding",
    "multiply_by_quantized_multiplier_optimized",
    "rounding_right_shift_up",
    "multiply_by_scale",
    "multiply_by_scale_fixed",
    "scale_words",
    "FC_SAT",
    "fc_scale",
    "xnnpack_scale",
    "layer_scale",
    "requantize_float32",
    "ROUNDINGS",
    "check_rounding",
    "round_half_away",
    "quantize_value",
    "quantize_value_f32",
    "activation_range",
    "compute_padding",
    "conv_multipliers",
    "requantize",
    "requantize_fc",
    "requantize_layer",
    "patches",
    "conv2d_acc",
    "conv2d",
    "depthwise_conv2d_acc",
    "depthwise_conv2d",
    "fully_connected_acc",
    "fully_connected",
    "max_pool",
    "avg_pool",
    "add_params",
    "add",
    "quantize",
    "dequantize",
]


# --------------------------------------------------------------------------------------------
# helpers


def _i64(x, name="value"):
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    return a.astype(np.int64)


def _check_range(a, lo, hi, name):
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(f"{name} out of range [{lo}, {hi}]: min {a.min()}, max {a.max()}")


def _wrap32(v):
    """Two's complement wrap of int64 values to int32 (what C int32 arithmetic does)."""
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def round_half_away(x):
    """std::round / TfLiteRound: round to nearest, ties away from zero (float64 -> float64).

    Exact for every double: the fraction ``|x| - floor(|x|)`` is computed without rounding and
    compared with one half (``floor(|x| + 0.5)`` would round 0.49999999999999994 up to 1, as
    the addition itself rounds)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    f = np.floor(a)
    with np.errstate(invalid="ignore"):  # inf - inf: the comparison is False, inf stays
        r = f + (a - f >= 0.5)
    return np.copysign(r, x)


# --------------------------------------------------------------------------------------------
# fixed-point primitives


def quantize_multiplier(m, single_rounding=False):
    """TFLite QuantizeMultiplier: real multiplier -> (int32 multiplier M, shift).

    ``m = M * 2**(shift - 31)`` with ``M`` in [2**30, 2**31) (or 0). frexp gives q in [0.5, 1);
    ``M = round(q * 2**31)`` (ties away from zero); if that reaches 2**31 it is halved and the
    shift incremented; a shift below -31 gives ``(0, 0)``. With ``single_rounding`` a shift above
    30 is clamped to ``(2**31 - 1, 30)`` as the single-rounding build does.
    Accepts scalars or arrays; returns int64 arrays of the same shape.
    """
    m = np.asarray(m, dtype=np.float64)
    if not np.all(np.isfinite(m)):
        raise ValueError("multiplier must be finite")
    q, shift = np.frexp(m)
    shift = shift.astype(np.int64)
    qf = round_half_away(q * float(2**31)).astype(np.int64)
    full = np.abs(qf) == 2**31
    qf = np.where(full, qf // 2, qf)
    shift = np.where(full, shift + 1, shift)
    zero = (m == 0) | (shift < -31)
    qf = np.where(zero, 0, qf)
    shift = np.where(zero, 0, shift)
    if single_rounding:
        big = shift > 30
        qf = np.where(big, INT32_MAX, qf)
        shift = np.where(big, 30, shift)
    return qf, shift


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values (int64 arrays in/out).

    ``(a*b + nudge) / 2**31`` with nudge ``2**30`` (product >= 0) or ``1 - 2**30`` (product < 0)
    and a division that truncates toward zero; ``a == b == INT32_MIN`` saturates to INT32_MAX.
    """
    a = _i64(a, "a")
    b = _i64(b, "b")
    _check_range(a, INT32_MIN, INT32_MAX, "a")
    _check_range(b, INT32_MIN, INT32_MAX, "b")
    ab = a * b
    s = ab + np.where(ab >= 0, 2**30, 1 - 2**30)
    q = np.where(s >= 0, s >> 31, -((-s) >> 31))  # truncating division by 2**31
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, q)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded to nearest, ties away from zero."""
    x = _i64(x, "x")
    e = _i64(exponent, "exponent")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    _check_range(e, 0, 31, "exponent")
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def multiply_by_quantized_multiplier_double_rounding(x, multiplier, shift):
    """Default TFLite MultiplyByQuantizedMultiplier (two roundings).

    ``RoundingDivideByPOT(SRDHM(x * 2**max(shift, 0), M), max(-shift, 0))``; the left shift is
    done in int32 and wraps as two's complement C code does on the targets.
    """
    x = _i64(x, "x")
    m = _i64(multiplier, "multiplier")
    sh = _i64(shift, "shift")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    _check_range(sh, -31, 31, "shift")
    left = np.maximum(sh, 0)
    right = np.maximum(-sh, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(_wrap32(x << left), m), right
    )


def multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift):
    """TFLITE_SINGLE_ROUNDING MultiplyByQuantizedMultiplier.

    ``(x * M + 2**(30 - shift)) >> (31 - shift)`` in 64 bits, result wrapped to int32;
    requires M >= 0 and -31 <= shift <= 30.
    """
    x = _i64(x, "x")
    m = _i64(multiplier, "multiplier")
    sh = _i64(shift, "shift")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    _check_range(m, 0, INT32_MAX, "multiplier")
    _check_range(sh, -31, 30, "shift")
    total = 31 - sh
    r = (x * m + (np.int64(1) << (total - 1))) >> total
    return _wrap32(r)


def rounding_right_shift_up(x, exponent):
    """x / 2**exponent rounded to nearest, ties toward +inf (ruy's rounding right shift)."""
    x = _i64(x, "x")
    e = _i64(exponent, "exponent")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    _check_range(e, 0, 31, "exponent")
    half = np.where(e > 0, np.int64(1) << np.maximum(e - 1, 0), 0)
    return (x + half) >> e


def multiply_by_quantized_multiplier_optimized(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier of TFLite's optimized kernels (ruy).

    ``RoundingRightShift(SRDHM(x * 2**max(shift, 0), M), max(-shift, 0))``: as the default
    build, but the final right shift rounds ties toward +inf instead of away from zero.
    """
    x = _i64(x, "x")
    m = _i64(multiplier, "multiplier")
    sh = _i64(shift, "shift")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    _check_range(sh, -31, 31, "shift")
    left = np.maximum(sh, 0)
    right = np.maximum(-sh, 0)
    return rounding_right_shift_up(
        saturating_rounding_doubling_high_mul(_wrap32(x << left), m), right
    )


def check_rounding(rounding):
    """The rounding-path name, validated (one of :data:`ROUNDINGS`)."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding {rounding!r}; valid: {', '.join(ROUNDINGS)}")
    return rounding


def multiply_by_quantized_multiplier(x, multiplier, shift, single_rounding=False,
                                     rounding="reference"):
    """The fixed-point rescale of a rounding path.

    ``single_rounding``: the TFLITE_SINGLE_ROUNDING build (any path); otherwise ``"reference"``
    and ``"gemmlowp"`` give the default double-rounding variant, ``"optimized"`` the ruy variant.
    """
    if check_rounding(rounding) == "xnnpack":
        raise ValueError("the xnnpack path has no fixed-point rescale")
    if single_rounding:
        return multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift)
    if rounding == "optimized":
        return multiply_by_quantized_multiplier_optimized(x, multiplier, shift)
    return multiply_by_quantized_multiplier_double_rounding(x, multiplier, shift)


def fc_scale(input_scale, weight_scales, output_scale):
    """Effective output scale of TFLite's reference FullyConnected (float64, per channel).

    ``double(s_in) * double(s_w[c]) / double(s_out)`` with the scales taken as float32 (as stored
    in a .tflite file): the product is exact in float64, the division rounds once.
    """
    si = np.float64(np.float32(input_scale))
    sw = np.asarray(weight_scales, np.float32).astype(np.float64)
    so = np.float64(np.float32(output_scale))
    if np.any(sw <= 0) or si <= 0 or so <= 0:
        raise ValueError("scales must be positive")
    return si * sw / so


def multiply_by_scale(x, scale):
    """``(int32) round(double(x) * scale)`` of TFLite's reference FullyConnected.

    One float64 multiplication (rounded as C does), then ``std::round`` (ties away from zero).
    Values beyond int32 (undefined behaviour in C) are saturated.
    """
    x = _i64(x, "x")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    v = round_half_away(x.astype(np.float64) * np.asarray(scale, np.float64))
    return np.clip(v, INT32_MIN, INT32_MAX).astype(np.int64)


FC_SAT = 1024  # |result| of the engine's float-scale rescale at or beyond which it saturates


def scale_words(scale):
    """The float64 ``scale`` as the two 32-bit words of the engine's channel tables: ``(lo,
    hi)`` = bits 31:0 and 63:32 of its IEEE-754 pattern (int64 arrays of the scale's shape)."""
    b = np.ascontiguousarray(np.asarray(scale, np.float64)).view(np.uint64)
    return (b & np.uint64(0xFFFFFFFF)).astype(np.int64), (b >> np.uint64(32)).astype(np.int64)


def _clz32(a):
    """Leading zeros of uint64 values below 2**32 as 32-bit words (32 for 0)."""
    n = np.zeros(a.shape, np.int64)
    v = a.copy()
    for step in (16, 8, 4, 2, 1):
        small = v < (np.uint64(1) << np.uint64(32 - step))
        n = np.where(small, n + step, n)
        v = np.where(small, v << np.uint64(step), v)
    return np.where(a == 0, 32, n)


def multiply_by_scale_fixed(x, scale_lo, scale_hi):
    """``round(double(x) * scale)`` in integer arithmetic, as the engine's requantisation unit
    computes it (bit-exact model of the hardware): equal to :func:`multiply_by_scale` for every
    int32 ``x`` and every finite float64 ``scale`` (given as :func:`scale_words`), with the
    result limited to ``[-FC_SAT, FC_SAT]`` (beyond, every int8 zero point and clamp gives the
    same output).

    1. ``a = |x|`` normalised to ``an = a << s`` with bit 31 set (``s`` leading zeros);
    2. ``Pn = an * Ms`` exactly (``Ms``: the 53-bit significand, hidden bit included), in
       [2**83, 2**85);
    3. ``R``: ``Pn`` rounded to its 53 leading bits, ties to even (the rounding of the float64
       product): bit 84 of ``Pn`` set -> ``Pn >> 32``, else ``Pn >> 31``, plus the round bit
       if the sticky bits or the kept LSB are set; ``R`` in [2**52, 2**53]. Only
       ``R >> 42`` is needed, and there the increment arrives only through 42 one bits
       (an odd LSB): ``(keep >> 42) + (round bit and keep's low 42 bits all one)``;
    4. the product is ``R * 2**-n`` with ``n = 1044 + s - E - Pn[84]`` (``E``: the biased
       exponent); ``n <= 42`` saturates (``R * 2**-n >= 1024``), ``n >= 55`` gives 0, else
       ``|r| = ((R >> (n - 1)) + 1) >> 1`` (ties away from zero), taken from ``t = R >> 42``
       (12 bits) as ``((t >> (n - 43)) + 1) >> 1``;
    5. ``x == 0`` or ``E == 0`` (zero or subnormal scale) gives 0; the sign is
       ``sign(x) xor`` the scale's sign bit. ``E == 2047`` (inf / NaN) saturates.
    """
    x = _i64(x, "x")
    lo = _i64(scale_lo, "scale_lo")
    hi = _i64(scale_hi, "scale_hi")
    _check_range(x, INT32_MIN, INT32_MAX, "x")
    _check_range(lo, 0, 2**32 - 1, "scale_lo")
    _check_range(hi, 0, 2**32 - 1, "scale_hi")
    x, lo, hi = np.broadcast_arrays(x, lo, hi)
    u = np.uint64
    a = np.abs(x).astype(u)
    s = _clz32(a)
    an = a << s.astype(u)
    e = (hi >> 20) & 0x7FF
    m_hi = ((hi & 0xFFFFF) | (1 << 20)).astype(u)  # significand bits 52..32
    m_lo = lo.astype(u)  # significand bits 31..0
    p_lo = an * m_lo  # < 2**64
    low32 = p_lo & u(0xFFFFFFFF)  # Pn bits 31..0
    mid = (p_lo >> u(32)) + an * m_hi  # Pn bits 84..32 (< 2**53)
    top = (mid >> u(52)) & u(1)
    one = u(1)
    keep = np.where(top == 1, mid, (mid << one) | (low32 >> u(31)))
    rnd = np.where(top == 1, low32 >> u(31), (low32 >> u(30)) & one)
    # R >> 42 of the rounded R = keep + rnd (sticky bits | LSB): the increment reaches bit 42
    # only through 42 one bits of keep, the LSB among them, and with an odd LSB a tie rounds
    # up as well, so the sticky bits cannot change R >> 42
    ones = (keep & u((1 << 42) - 1)) == u((1 << 42) - 1)
    t = ((keep >> u(42)) + (rnd & ones.astype(u))).astype(np.int64)  # 12 bits
    n = 1044 + s - e - top.astype(np.int64)
    j = np.clip(n - 43, 0, 11)
    mag = ((t >> j) + 1) >> 1
    mag = np.where(n <= 42, FC_SAT, np.where(n >= 55, 0, mag))
    mag = np.where((x == 0) | (e == 0), 0, mag)
    neg = (x < 0) ^ ((hi >> 31) == 1)
    return np.where(neg, -mag, mag)


def xnnpack_scale(input_scale, weight_scales, output_scale):
    """XNNPACK's per-channel requantisation scale: ``s_in * s_w[c] / s_out`` in float32."""
    si = np.float32(input_scale)
    sw = np.asarray(weight_scales, np.float32)
    so = np.float32(output_scale)
    if np.any(sw <= 0) or si <= 0 or so <= 0:
        raise ValueError("scales must be positive")
    return (si * sw) / so


def layer_scale(input_scale, weight_scales, output_scale, kind="fully_connected",
                rounding="reference"):
    """The float scale the output stage of ``kind`` needs on ``rounding`` (the ``scale``
    argument of the layer kernels), or None where the path rescales in fixed point."""
    if check_rounding(rounding) == "xnnpack":
        return xnnpack_scale(input_scale, weight_scales, output_scale)
    if rounding == "reference" and kind == "fully_connected":
        return fc_scale(input_scale, weight_scales, output_scale)
    return None


def requantize_float32(acc, scale, output_zero_point, act_min=-128, act_max=127):
    """XNNPACK's fp32 requantisation: ``float(acc) * scale`` in float32, clamped to
    ``[act_min - zp, act_max - zp]``, rounded half to even, ``+ zp`` (int64 out)."""
    acc = _i64(acc, "acc")
    sc = np.asarray(scale, np.float32)
    if sc.dtype != np.float32 or not np.all(np.isfinite(sc)):
        raise ValueError("the float32 requantisation scale must be finite")
    zp = int(output_zero_point)
    v = acc.astype(np.float32) * sc
    v = np.clip(v, np.float32(act_min - zp), np.float32(act_max - zp))
    return np.rint(v).astype(np.int64) + zp


# --------------------------------------------------------------------------------------------
# quantisation parameters


def quantize_value(x, scale, zero_point):
    """TFLite's Quantize for parameters: zero_point + round_half_away(x / scale) (int64)."""
    return zero_point + round_half_away(np.asarray(x, np.float64) / float(scale)).astype(np.int64)


def quantize_value_f32(x, scale, zero_point):
    """``zero_point + (int32) roundf(float32(x) / float32(scale))``: TFLite's float32 quantise
    of a parameter (as in CalculateActivationRangeQuantized); ties away from zero."""
    q = np.float32(x) / np.float32(scale)
    return int(zero_point) + int(round_half_away(np.float64(q)))


def activation_range(activation, scale, zero_point, qmin=INT8_MIN, qmax=INT8_MAX,
                     rounding="reference"):
    """CalculateActivationRangeQuantized: (act_min, act_max) codes for a fused activation.

    The bounds are quantised in float32 as TFLite does (``roundf(6.0f / scale)``): for a scale
    whose float32 quotient is exactly x.5 this differs from a float64 computation. With
    ``rounding="xnnpack"`` the float32 quotient is rounded half to even, as the XNNPACK
    delegate does.
    """
    even = check_rounding(rounding) == "xnnpack"
    act = str(activation).upper()
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
    if not np.float32(scale) > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if act == "NONE":
        return qmin, qmax
    lo_real, hi_real = {"RELU": (0.0, None), "RELU6": (0.0, 6.0),
                        "RELU_N1_TO_1": (-1.0, 1.0)}[act]
    def q(v):
        if even:
            return int(zero_point) + int(np.rint(np.float32(v) / np.float32(scale)))
        return quantize_value_f32(v, scale, zero_point)

    lo = max(qmin, q(lo_real))
    hi = qmax if hi_real is None else min(qmax, q(hi_real))
    return lo, hi


def compute_padding(in_size, filter_size, stride, dilation=1, padding="SAME"):
    """TFLite ComputeOutSize / ComputePaddingWithOffset.

    Returns ``(out_size, pad_before, pad_after)``; the odd extra pad goes after (bottom/right).
    """
    padding = str(padding).upper()
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; valid: SAME, VALID")
    if min(in_size, filter_size, stride, dilation) < 1:
        raise ValueError("sizes, stride and dilation must be >= 1")
    eff = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size + stride - eff) // stride
    if out < 1:
        raise ValueError(f"filter {eff} larger than input {in_size} with VALID padding")
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2, total - total // 2


def conv_multipliers(input_scale, weight_scales, output_scale, single_rounding=False):
    """Per-channel (M, shift) from input_scale * weight_scale[c] / output_scale.

    Scales are taken as float32 (as stored in a .tflite file) and combined in float64, the way
    TFLite's PopulateConvolutionQuantizationParams does.
    """
    si = np.float64(np.float32(input_scale))
    sw = np.asarray(weight_scales, np.float32).astype(np.float64)
    so = np.float64(np.float32(output_scale))
    if np.any(sw <= 0) or si <= 0 or so <= 0:
        raise ValueError("scales must be positive")
    return quantize_multiplier(si * sw / so, single_rounding=single_rounding)


def quantize(x, scale, zero_point, qmin=INT8_MIN, qmax=INT8_MAX):
    """Quantise a float array to int8 codes (round half away from zero, then clamp)."""
    q = quantize_value(x, scale, zero_point)
    return np.clip(q, qmin, qmax).astype(np.int8)


def dequantize(q, scale, zero_point):
    return (np.asarray(q, np.float64) - zero_point) * float(np.float32(scale))


# --------------------------------------------------------------------------------------------
# output stage


def requantize(acc, bias, multiplier, shift, output_zero_point, act_min=-128, act_max=127,
               single_rounding=False, rounding="reference", scale=None):
    """acc (+ bias) -> rescale -> + output zero point -> clamp -> int8.

    ``acc`` int64 with channels last; ``bias``, ``multiplier``, ``shift`` (and ``scale``)
    broadcast on the channel axis (per channel or per tensor). The biased accumulator must fit
    int32. With ``scale`` (the float64 effective scale, :func:`fc_scale`) the rescale is the
    single float64 rounding of the reference FullyConnected (:func:`multiply_by_scale`);
    otherwise the fixed-point rescale of ``rounding`` (:func:`multiply_by_quantized_multiplier`).
    """
    check_rounding(rounding)
    acc = _i64(acc, "acc")
    if bias is not None:
        acc = acc + _i64(bias, "bias")
    if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
        raise OverflowError("int32 accumulator overflow")
    if not INT8_MIN <= act_min <= act_max <= INT8_MAX:
        raise ValueError(f"bad activation range [{act_min}, {act_max}]")
    if rounding == "xnnpack":
        raise ValueError("the xnnpack path rescales in float32: use requantize_layer")
    if scale is not None:
        r = multiply_by_scale(acc, scale)
    else:
        r = multiply_by_quantized_multiplier(acc, multiplier, shift, single_rounding, rounding)
    r = r + int(output_zero_point)
    return np.clip(r, act_min, act_max).astype(np.int8)


def requantize_fc(acc, bias, multiplier, shift, output_zero_point, act_min=-128, act_max=127,
                  single_rounding=False, rounding="reference", scale=None):
    """The output stage of FullyConnected on a rounding path.

    ``"reference"``: TFLite's reference FC, one float64 rounding with ``scale``
    (:func:`fc_scale`; required, ``multiplier`` / ``shift`` are not used); ``"gemmlowp"`` /
    ``"optimized"``: the fixed-point rescale with ``multiplier`` / ``shift``.
    """
    if check_rounding(rounding) == "reference" and not single_rounding:
        if scale is None:
            raise ValueError("the reference FullyConnected rescales with the float scale "
                             "s_in * s_w / s_out: pass scale= (fc_scale) or choose "
                             "rounding='gemmlowp'")
        return requantize(acc, bias, None, None, output_zero_point, act_min, act_max,
                          scale=scale)
    return requantize(acc, bias, multiplier, shift, output_zero_point, act_min, act_max,
                      single_rounding, rounding)


LAYER_KINDS = ("conv2d", "depthwise_conv2d", "fully_connected")


def requantize_layer(kind, acc, bias, multiplier, shift, output_zero_point, act_min=-128,
                     act_max=127, single_rounding=False, rounding="reference", scale=None):
    """The output stage of a Conv2D / DepthwiseConv2D / FullyConnected layer on a rounding path
    (every layer kernel of the package, exact or approximate, ends here).

    * ``conv2d``: the fixed-point rescale of ``rounding`` (:func:`requantize`);
    * ``depthwise_conv2d``: the same, except that ``"optimized"`` is the double-rounding
      rescale (TFLite's optimized depthwise kernel in its portable build uses it);
    * ``fully_connected``: :func:`requantize_fc` (``"reference"`` needs ``scale``);
    * ``"xnnpack"`` (every kind): :func:`requantize_float32` with ``scale`` (float32,
      :func:`xnnpack_scale`).

    :func:`layer_scale` gives the ``scale`` a path needs.
    """
    check_rounding(rounding)
    if kind not in LAYER_KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; valid: {', '.join(LAYER_KINDS)}")
    if rounding == "xnnpack":
        if scale is None:
            raise ValueError("the xnnpack path rescales with the float32 scale "
                             "s_in * s_w / s_out: pass scale= (layer_scale)")
        if not INT8_MIN <= act_min <= act_max <= INT8_MAX:
            raise ValueError(f"bad activation range [{act_min}, {act_max}]")
        acc = _i64(acc, "acc")
        if bias is not None:
            acc = acc + _i64(bias, "bias")
        if acc.size and (acc.min() < INT32_MIN or acc.max() > INT32_MAX):
            raise OverflowError("int32 accumulator overflow")
        return requantize_float32(acc, np.asarray(scale, np.float32), output_zero_point,
                                  act_min, act_max).astype(np.int8)
    if kind == "fully_connected":
        return requantize_fc(acc, bias, multiplier, shift, output_zero_point, act_min, act_max,
                             single_rounding, rounding, scale)
    if kind == "depthwise_conv2d":
        rounding = "gemmlowp" if rounding == "optimized" else rounding
    return requantize(acc, bias, multiplier, shift, output_zero_point, act_min, act_max,
                      single_rounding, rounding)


# --------------------------------------------------------------------------------------------
# patch extraction


def _pair(v, name):
    if np.ndim(v) == 0:
        v = (int(v), int(v))
    v = tuple(int(t) for t in v)
    if len(v) != 2 or min(v) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of positive ints")
    return v


def _check_act(x, name="input"):
    x = _i64(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name} must be NHWC (4-D), got shape {x.shape}")
    _check_range(x, INT8_MIN, INT8_MAX, name)
    return x


def patches(x, fh, fw, stride=1, padding="SAME", dilation=1, pad_value=0):
    """im2col view of an NHWC int64 array.

    Returns ``(cols, valid)``: ``cols`` of shape (N, OH, OW, fh, fw, C) (padded taps hold
    ``pad_value``) and ``valid`` of shape (OH, OW, fh, fw), False for padded taps.
    """
    x = np.asarray(x)
    n, h, w, c = x.shape
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    oh, pt, pb = compute_padding(h, fh, sh, dh, padding)
    ow, pl, pr = compute_padding(w, fw, sw, dw, padding)
    # enough padding for every tap of every output
    need_b = max((oh - 1) * sh + (fh - 1) * dh + 1 - (h + pt), 0)
    need_r = max((ow - 1) * sw + (fw - 1) * dw + 1 - (w + pl), 0)
    xp = np.full((n, h + pt + need_b, w + pl + need_r, c), pad_value, dtype=x.dtype)
    xp[:, pt : pt + h, pl : pl + w, :] = x
    s = xp.strides
    cols = np.lib.stride_tricks.as_strided(
        xp,
        shape=(n, oh, ow, fh, fw, c),
        strides=(s[0], s[1] * sh, s[2] * sw, s[1] * dh, s[2] * dw, s[3]),
        writeable=False,
    )
    iy = np.arange(oh)[:, None] * sh - pt + np.arange(fh)[None, :] * dh  # (oh, fh)
    ix = np.arange(ow)[:, None] * sw - pl + np.arange(fw)[None, :] * dw  # (ow, fw)
    vy = (iy >= 0) & (iy < h)
    vx = (ix >= 0) & (ix < w)
    valid = vy[:, None, :, None] & vx[None, :, None, :]
    return cols, valid


# --------------------------------------------------------------------------------------------
# layers

_EXACT_LIMIT = 2**52  # float64 matmul is exact below this magnitude


def conv2d_acc(x, w, input_zero_point, stride=1, padding="SAME", dilation=1):
    """int64 accumulator sum filter * (input - input_zero_point) over non-padded taps."""
    x = _check_act(x)
    w = _i64(w, "filter")
    if w.ndim != 4 or w.shape[3] != x.shape[3]:
        raise ValueError(f"filter must be (out, fh, fw, {x.shape[3]}), got {w.shape}")
    _check_range(w, INT8_MIN, INT8_MAX, "filter")
    zp = int(input_zero_point)
    _check_range(np.asarray(zp), INT8_MIN, INT8_MAX, "input_zero_point")
    co, fh, fw, ci = w.shape
    # padding with the zero point makes padded taps contribute exactly 0
    cols, _ = patches(x - zp, fh, fw, stride, padding, dilation, pad_value=0)
    n, oh, ow = cols.shape[:3]
    k = fh * fw * ci
    assert k * 255 * 128 < _EXACT_LIMIT
    a = cols.reshape(n * oh * ow, k).astype(np.float64)
    acc = a @ w.reshape(co, k).T.astype(np.float64)
    return acc.astype(np.int64).reshape(n, oh, ow, co)


def conv2d(x, w, bias, input_zero_point, output_zero_point, multiplier, shift, stride=1,
           padding="SAME", dilation=1, act_min=-128, act_max=127, single_rounding=False,
           rounding="reference", scale=None):
    """TFLite int8 per-channel Conv2D (reference integer_ops ConvPerChannel); ``scale`` only for
    the ``"xnnpack"`` path (:func:`layer_scale`)."""
    acc = conv2d_acc(x, w, input_zero_point, stride, padding, dilation)
    return requantize_layer("conv2d", acc, bias, multiplier, shift, output_zero_point, act_min,
                            act_max, single_rounding, rounding, scale)


def depthwise_conv2d_acc(x, w, input_zero_point, depth_multiplier=1, stride=1, padding="SAME",
                         dilation=1):
    """Depthwise accumulator; output channel ``ic * depth_multiplier + m``."""
    x = _check_act(x)
    w = _i64(w, "filter")
    dm = int(depth_multiplier)
    ci = x.shape[3]
    if w.ndim != 4 or w.shape[0] != 1 or w.shape[3] != ci * dm:
        raise ValueError(f"filter must be (1, fh, fw, {ci * dm}), got {w.shape}")
    _check_range(w, INT8_MIN, INT8_MAX, "filter")
    zp = int(input_zero_point)
    _, fh, fw, co = w.shape
    cols, _ = patches(x - zp, fh, fw, stride, padding, dilation, pad_value=0)
    cols = np.repeat(cols, dm, axis=5) if dm > 1 else cols
    acc = np.einsum("nyxhwc,hwc->nyxc", cols.astype(np.float64), w[0].astype(np.float64))
    return acc.astype(np.int64)


def depthwise_conv2d(x, w, bias, input_zero_point, output_zero_point, multiplier, shift,
                     depth_multiplier=1, stride=1, padding="SAME", dilation=1, act_min=-128,
                     act_max=127, single_rounding=False, rounding="reference", scale=None):
    """TFLite int8 per-channel DepthwiseConv2D (``scale``: the ``"xnnpack"`` path only).

    The optimized kernel (portable build, as on x86) rescales with the default double-rounding
    MultiplyByQuantizedMultiplier like the reference one, so ``"optimized"`` equals
    ``"reference"`` here.
    """
    acc = depthwise_conv2d_acc(x, w, input_zero_point, depth_multiplier, stride, padding,
                               dilation)
    return requantize_layer("depthwise_conv2d", acc, bias, multiplier, shift, output_zero_point,
                            act_min, act_max, single_rounding, rounding, scale)


def fully_connected_acc(x, w, input_zero_point):
    x = _i64(x, "input")
    w = _i64(w, "weights")
    if x.ndim != 2 or w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(f"need input (N, {w.shape[-1]}) and weights (out, in), got "
                         f"{x.shape} and {w.shape}")
    _check_range(x, INT8_MIN, INT8_MAX, "input")
    _check_range(w, INT8_MIN, INT8_MAX, "weights")
    a = (x - int(input_zero_point)).astype(np.float64)
    return (a @ w.T.astype(np.float64)).astype(np.int64)


def fully_connected(x, w, bias, input_zero_point, output_zero_point, multiplier, shift,
                    act_min=-128, act_max=127, single_rounding=False, rounding="reference",
                    scale=None):
    """TFLite int8 FullyConnected (per-tensor or per-channel); x is (N, in).

    The output stage is :func:`requantize_layer`: the default ``"reference"`` path needs
    ``scale`` (:func:`fc_scale`), ``"xnnpack"`` its float32 scale (:func:`layer_scale`), the
    fixed-point paths ``multiplier`` / ``shift``.
    """
    acc = fully_connected_acc(x, w, input_zero_point)
    return requantize_layer("fully_connected", acc, bias, multiplier, shift, output_zero_point,
                            act_min, act_max, single_rounding, rounding, scale)


def max_pool(x, pool, stride=None, padding="VALID", act_min=-128, act_max=127):
    """TFLite int8 MaxPool: max over the in-image part of each window, then clamp."""
    x = _check_act(x)
    ph, pw = _pair(pool, "pool")
    stride = (ph, pw) if stride is None else stride
    cols, _ = patches(x, ph, pw, stride, padding, 1, pad_value=INT8_MIN)
    return np.clip(cols.max(axis=(3, 4)), act_min, act_max).astype(np.int8)


def avg_pool(x, pool, stride=None, padding="VALID", act_min=-128, act_max=127):
    """TFLite int8 AveragePool.

    Sum of the in-image codes, divided by their count with rounding to nearest, ties away from
    zero: ``(acc + n/2) / n`` if acc > 0 else ``(acc - n/2) / n`` (C division).
    """
    x = _check_act(x)
    ph, pw = _pair(pool, "pool")
    stride = (ph, pw) if stride is None else stride
    cols, valid = patches(x, ph, pw, stride, padding, 1, pad_value=0)
    acc = cols.sum(axis=(3, 4))
    cnt = valid.sum(axis=(2, 3)).astype(np.int64)[None, :, :, None]
    half = cnt // 2
    pos = (acc + half) // cnt
    neg = -((half - acc) // cnt)
    r = np.where(acc > 0, pos, neg)
    return np.clip(r, act_min, act_max).astype(np.int8)


def add_params(scale1, zero_point1, scale2, zero_point2, output_scale, output_zero_point):
    """TFLite int8 Add preparation: left shift 20 and three (M, shift) pairs.

    Returns a dict with ``input1_offset``, ``input2_offset``, ``output_offset``, ``left_shift``,
    ``input1_multiplier``, ``input1_shift``, ``input2_multiplier``, ``input2_shift``,
    ``output_multiplier``, ``output_shift``.
    """
    s1 = float(np.float32(scale1))
    s2 = float(np.float32(scale2))
    so = float(np.float32(output_scale))
    if min(s1, s2, so) <= 0:
        raise ValueError("scales must be positive")
    left_shift = 20
    twice_max = 2.0 * max(s1, s2)
    r1 = s1 / twice_max
    r2 = s2 / twice_max
    ro = twice_max / ((1 << left_shift) * so)
    out = {
        "input1_offset": -int(zero_point1),
        "input2_offset": -int(zero_point2),
        "output_offset": int(output_zero_point),
        "left_shift": left_shift,
    }
    for key, r in (("input1", r1), ("input2", r2), ("output", ro)):
        if not 0 < r < 1:
            raise ValueError(f"{key} multiplier {r} not in (0, 1)")
        m, sh = quantize_multiplier(r)
        if sh > 0:
            raise ValueError(f"{key} multiplier {r} gives a positive shift")
        out[f"{key}_multiplier"] = int(m)
        out[f"{key}_shift"] = int(sh)
    return out


def add(x1, x2, params, act_min=-128, act_max=127, single_rounding=False,
        rounding="reference"):
    """TFLite int8 elementwise Add (numpy broadcasting) with parameters from add_params."""
    a = _i64(x1, "input1")
    b = _i64(x2, "input2")
    _check_range(a, INT8_MIN, INT8_MAX, "input1")
    _check_range(b, INT8_MIN, INT8_MAX, "input2")
    p = params
    fixed = "reference" if check_rounding(rounding) == "xnnpack" else rounding

    def mbqm(v, m, sh, sr):
        return multiply_by_quantized_multiplier(v, m, sh, sr, fixed)

    sa = (a + p["input1_offset"]) << p["left_shift"]
    sb = (b + p["input2_offset"]) << p["left_shift"]
    sa = mbqm(sa, p["input1_multiplier"], p["input1_shift"], single_rounding)
    sb = mbqm(sb, p["input2_multiplier"], p["input2_shift"], single_rounding)
    raw = sa + sb
    out = mbqm(raw, p["output_multiplier"], p["output_shift"], single_rounding)
    out = out + p["output_offset"]
    return np.clip(out, act_min, act_max).astype(np.int8)
