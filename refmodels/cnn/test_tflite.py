"""Tests of the TFLite int8 model against scalar references written from the definitions."""

import math
from fractions import Fraction

import numpy as np
import pytest

from refmodels.cnn import tflite as tfl

I32MIN, I32MAX = tfl.INT32_MIN, tfl.INT32_MAX


# ---------------------------------------------------------------- scalar references


def ref_srdhm(a, b):
    """Round-half-up (toward +inf) of a*b / 2**31, which is what the nudge + truncation gives."""
    if a == b == I32MIN:
        return I32MAX
    return math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))


def ref_round_away(fr):
    """Round a Fraction to nearest, ties away from zero."""
    s = -1 if fr < 0 else 1
    return s * math.floor(abs(fr) + Fraction(1, 2))


def ref_rdbpot(x, e):
    return ref_round_away(Fraction(x, 2**e))


def ref_mbqm(x, m, shift):
    left = max(shift, 0)
    right = max(-shift, 0)
    xl = x * 2**left
    xl = (xl + 2**31) % 2**32 - 2**31
    return ref_rdbpot(ref_srdhm(xl, m), right)


def ref_mbqm_single(x, m, shift):
    total = 31 - shift
    return math.floor(Fraction(x * m, 2**total) + Fraction(1, 2))


def ref_quantize_multiplier(m):
    if m == 0:
        return 0, 0
    q, e = math.frexp(m)
    qf = int(Fraction(q) * 2**31 + Fraction(1, 2)) if q > 0 else -int(
        Fraction(-q) * 2**31 + Fraction(1, 2))
    if abs(qf) == 2**31:
        qf //= 2
        e += 1
    if e < -31:
        return 0, 0
    return qf, e


def ref_out_size(n, f, s, d, pad):
    ef = (f - 1) * d + 1
    out = -(-n // s) if pad == "SAME" else -(-(n - ef + 1) // s)
    total = max((out - 1) * s + ef - n, 0)
    return out, total // 2


def ref_conv(x, w, bias, izp, ozp, m, sh, stride, pad, dil, lo, hi, depthwise=False, dm=1):
    n, h, wd, ci = x.shape
    fh, fw = w.shape[1:3]
    oh, pt = ref_out_size(h, fh, stride[0], dil[0], pad)
    ow, pl = ref_out_size(wd, fw, stride[1], dil[1], pad)
    co = w.shape[3] if depthwise else w.shape[0]
    out = np.zeros((n, oh, ow, co), np.int64)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for oc in range(co):
                    acc = 0
                    for ky in range(fh):
                        for kx in range(fw):
                            iy = oy * stride[0] - pt + ky * dil[0]
                            ix = ox * stride[1] - pl + kx * dil[1]
                            if not (0 <= iy < h and 0 <= ix < wd):
                                continue
                            if depthwise:
                                ic = oc // dm
                                acc += int(w[0, ky, kx, oc]) * (int(x[b, iy, ix, ic]) - izp)
                            else:
                                for ic in range(ci):
                                    acc += int(w[oc, ky, kx, ic]) * (int(x[b, iy, ix, ic]) - izp)
                    acc += int(bias[oc])
                    r = ref_mbqm(acc, int(m[oc]), int(sh[oc])) + ozp
                    out[b, oy, ox, oc] = min(max(r, lo), hi)
    return out


# ---------------------------------------------------------------- rounding primitives


def test_srdhm_hand_cases():
    f = tfl.saturating_rounding_doubling_high_mul
    assert f(I32MIN, I32MIN) == I32MAX
    assert f(I32MIN, I32MAX) == -I32MAX  # exact: -(2**31 - 1)
    assert f(2**30, 1) == 1  # +0.5 -> 1
    assert f(-(2**30), 1) == 0  # -0.5 -> 0 (truncating division, not floor)
    assert f(-3 * 2**29, 2) == -1  # -1.5 -> -1
    assert f(3 * 2**29, 2) == 2  # +1.5 -> 2
    assert f(-(2**30) - 1, 1) == -1  # just below -0.5
    assert f(2**30, 2**30) == 2**29
    assert f(I32MAX, I32MAX) == I32MAX - 1
    assert f(0, I32MIN) == 0


def test_rdbpot_hand_cases():
    f = tfl.rounding_divide_by_pot
    cases = [((5, 1), 3), ((-5, 1), -3), ((-4, 1), -2), ((6, 2), 2), ((-6, 2), -2),
             ((7, 2), 2), ((-7, 2), -2), ((5, 2), 1), ((-5, 2), -1), ((I32MIN, 31), -1),
             ((I32MAX, 31), 1), ((I32MIN, 0), I32MIN), ((-1, 1), -1), ((1, 1), 1), ((0, 7), 0)]
    for (x, e), want in cases:
        assert f(x, e) == want, (x, e)


def test_quantize_multiplier_hand_cases():
    f = tfl.quantize_multiplier
    assert tuple(map(int, f(0.5))) == (2**30, 0)
    assert tuple(map(int, f(1.0))) == (2**30, 1)
    assert tuple(map(int, f(0.25))) == (2**30, -1)
    assert tuple(map(int, f(0.75))) == (3 * 2**29, 0)
    assert tuple(map(int, f(1 - 2.0**-40))) == (2**30, 1)  # rounds up to 2**31 -> halved
    assert tuple(map(int, f(2.0**-40))) == (0, 0)
    assert tuple(map(int, f(0.0))) == (0, 0)
    assert tuple(map(int, f(2.0**40, single_rounding=True))) == (I32MAX, 30)
    with pytest.raises(ValueError):
        f(float("nan"))


def test_quantize_multiplier_random():
    rng = np.random.default_rng(1)
    ms = np.concatenate([rng.uniform(0, 1, 300), 10 ** rng.uniform(-12, 3, 300),
                         -rng.uniform(0, 2, 50)])
    qm, sh = tfl.quantize_multiplier(ms)
    for m, a, b in zip(ms, qm, sh, strict=True):
        assert (int(a), int(b)) == ref_quantize_multiplier(float(m))


def test_primitives_random_vs_reference():
    rng = np.random.default_rng(2)
    a = rng.integers(I32MIN, I32MAX, 2000, endpoint=True)
    b = rng.integers(I32MIN, I32MAX, 2000, endpoint=True)
    a[:50] = rng.integers(-100, 100, 50)
    got = tfl.saturating_rounding_doubling_high_mul(a, b)
    assert all(int(g) == ref_srdhm(int(x), int(y)) for g, x, y in zip(got, a, b, strict=True))
    e = rng.integers(0, 32, 2000)
    got = tfl.rounding_divide_by_pot(a, e)
    assert all(int(g) == ref_rdbpot(int(x), int(y)) for g, x, y in zip(got, a, e, strict=True))


@pytest.mark.parametrize("single", [False, True])
def test_mbqm_random_vs_reference(single):
    rng = np.random.default_rng(3)
    x = rng.integers(-(2**24), 2**24, 1500)
    m = rng.integers(2**30, 2**31, 1500)
    sh = rng.integers(-20, 6, 1500)
    got = tfl.multiply_by_quantized_multiplier(x, m, sh, single_rounding=single)
    ref = ref_mbqm_single if single else ref_mbqm
    for g, a, b, c in zip(got, x, m, sh, strict=True):
        assert int(g) == ref(int(a), int(b), int(c))


def test_mbqm_variants_differ_on_ties():
    # x*M/2**31 = 2.5 exactly: SRDHM rounds to 3 then /2 -> 1.5 -> 2 ; single: 1.25 -> 1
    x, m = 5, 2**30
    assert int(tfl.multiply_by_quantized_multiplier(x, m, -1)) == 2
    assert int(tfl.multiply_by_quantized_multiplier(x, m, -1, single_rounding=True)) == 1
    both = [(int(tfl.multiply_by_quantized_multiplier(v, m, -1)),
             int(tfl.multiply_by_quantized_multiplier(v, m, -1, True))) for v in range(-40, 40)]
    assert any(d != s for d, s in both)  # the variants really are different functions


def test_bad_inputs():
    with pytest.raises(ValueError):
        tfl.rounding_divide_by_pot(1, 32)
    with pytest.raises(ValueError):
        tfl.saturating_rounding_doubling_high_mul(2**31, 1)
    with pytest.raises(TypeError):
        tfl.rounding_divide_by_pot(1.5, 1)
    with pytest.raises(ValueError):
        tfl.compute_padding(4, 3, 1, 1, "FULL")
    with pytest.raises(ValueError):
        tfl.activation_range("TANH", 0.1, 0)


def test_padding_and_activation_range():
    assert tfl.compute_padding(5, 3, 2, 1, "SAME") == (3, 1, 1)
    assert tfl.compute_padding(6, 3, 2, 1, "SAME") == (3, 0, 1)
    assert tfl.compute_padding(6, 3, 2, 1, "VALID") == (2, 0, 0)
    assert tfl.compute_padding(7, 3, 1, 2, "SAME") == (7, 2, 2)
    assert tfl.activation_range("RELU", 0.05, -10) == (-10, 127)
    assert tfl.activation_range("RELU6", 0.05, -10) == (-10, 110)
    assert tfl.activation_range("RELU6", 0.01, -128) == (-128, 127)
    assert tfl.activation_range("NONE", 0.1, 3) == (-128, 127)


# ---------------------------------------------------------------- layers


def _rand_case(rng, co_ci):
    co, ci = co_ci
    izp = int(rng.integers(-128, 128))
    ozp = int(rng.integers(-20, 20))
    m, sh = tfl.conv_multipliers(rng.uniform(0.01, 0.05), rng.uniform(0.002, 0.02, co),
                                 rng.uniform(0.02, 0.2))
    bias = rng.integers(-3000, 3000, co)
    return izp, ozp, m, sh, bias


@pytest.mark.parametrize("seed,pad,stride,dil", [(0, "SAME", (1, 1), (1, 1)),
                                                 (1, "VALID", (2, 1), (1, 1)),
                                                 (2, "SAME", (2, 2), (1, 1)),
                                                 (3, "SAME", (1, 2), (2, 1)),
                                                 (4, "VALID", (1, 1), (1, 2))])
def test_conv2d_vs_reference(seed, pad, stride, dil):
    rng = np.random.default_rng(seed)
    n, h, w, ci, co, fh, fw = 2, 6, 7, 3, 4, 3, 2 + seed % 2
    x = rng.integers(-128, 128, (n, h, w, ci))
    wt = rng.integers(-127, 128, (co, fh, fw, ci))
    izp, ozp, m, sh, bias = _rand_case(rng, (co, ci))
    lo, hi = tfl.activation_range("RELU", 0.1, ozp)
    got = tfl.conv2d(x, wt, bias, izp, ozp, m, sh, stride, pad, dil, lo, hi)
    ref = ref_conv(x, wt, bias, izp, ozp, m, sh, stride, pad, dil, lo, hi)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, ref)
    assert len(np.unique(got)) > 5  # not a saturated, degenerate case


@pytest.mark.parametrize("seed,dm,pad,stride", [(0, 1, "SAME", 1), (1, 2, "VALID", 1),
                                                (2, 3, "SAME", 2)])
def test_depthwise_vs_reference(seed, dm, pad, stride):
    rng = np.random.default_rng(10 + seed)
    n, h, w, ci, fh, fw = 2, 5, 6, 3, 3, 3
    co = ci * dm
    x = rng.integers(-128, 128, (n, h, w, ci))
    wt = rng.integers(-127, 128, (1, fh, fw, co))
    izp, ozp, m, sh, bias = _rand_case(rng, (co, ci))
    got = tfl.depthwise_conv2d(x, wt, bias, izp, ozp, m, sh, dm, stride, pad)
    ref = ref_conv(x, wt, bias, izp, ozp, m, sh, (stride, stride), pad, (1, 1), -128, 127,
                   depthwise=True, dm=dm)
    np.testing.assert_array_equal(got, ref)


def test_fully_connected_vs_reference():
    rng = np.random.default_rng(20)
    x = rng.integers(-128, 128, (5, 40))
    w = rng.integers(-127, 128, (7, 40))
    izp, ozp, m, sh, bias = _rand_case(rng, (7, 40))
    got = tfl.fully_connected(x, w, bias, izp, ozp, m, sh, rounding="gemmlowp")
    for b in range(5):
        for o in range(7):
            acc = sum(int(w[o, i]) * (int(x[b, i]) - izp) for i in range(40)) + int(bias[o])
            want = min(max(ref_mbqm(acc, int(m[o]), int(sh[o])) + ozp, -128), 127)
            assert got[b, o] == want
    with pytest.raises(ValueError, match="scale"):
        tfl.fully_connected(x, w, bias, izp, ozp, m, sh)  # the reference path needs scale=


def test_reference_fully_connected_rounds_once_in_float64():
    """rounding="reference": (int32) std::round(double(acc) * (s_in * s_w / s_out)), scalar
    reference in Python floats (IEEE double, as C); ties away from zero."""
    rng = np.random.default_rng(21)
    x = rng.integers(-128, 128, (6, 30))
    w = rng.integers(-127, 128, (5, 30))
    s_in, s_out = np.float32(0.02), np.float32(0.07)
    sw = rng.uniform(0.001, 0.01, 5).astype(np.float32)
    bias = rng.integers(-3000, 3000, 5)
    scale = tfl.fc_scale(s_in, sw, s_out)
    got = tfl.fully_connected(x, w, bias, 3, -5, None, None, scale=scale)
    for b in range(6):
        for o in range(5):
            acc = sum(int(w[o, i]) * (int(x[b, i]) - 3) for i in range(30)) + int(bias[o])
            eff = float(s_in) * float(sw[o]) / float(s_out)
            v = float(acc) * eff
            want = min(max(int(math.copysign(math.floor(abs(v) + 0.5), v)) - 5, -128), 127)
            assert got[b, o] == want
    # ties: an accumulator whose scaled value is exactly +-k.5 rounds away from zero
    acc = np.array([[5], [-5], [7], [-7]])
    r = tfl.requantize_fc(acc, None, None, None, 0, scale=np.array([0.5]))
    assert r.ravel().tolist() == [3, -3, 4, -4]


def test_optimized_rescale_ties_toward_plus_inf():
    """rounding="optimized": the final shift rounds ties up (ruy); gemmlowp rounds them away
    from zero. SRDHM(x, 2^30) = x / 2 exactly for even x, so x / 2^(e+1) is the tie case."""
    x = np.array([-6, -2, 2, 6, 7, -7])
    m, sh = np.array([2**30]), np.array([-1])  # x * 0.5 * 0.5
    opt = tfl.multiply_by_quantized_multiplier(x, m, sh, rounding="optimized")
    ref = tfl.multiply_by_quantized_multiplier(x, m, sh, rounding="reference")
    assert opt.tolist() == [-1, 0, 1, 2, 2, -1]
    assert ref.tolist() == [-2, -1, 1, 2, 2, -2]
    for v in range(-300, 300):
        want = math.floor(Fraction(ref_srdhm(v, 2**30 + 12345), 2**3) + Fraction(1, 2))
        got = tfl.multiply_by_quantized_multiplier(v, 2**30 + 12345, -3, rounding="optimized")
        assert int(got) == want
    with pytest.raises(ValueError, match="rounding"):
        tfl.multiply_by_quantized_multiplier(x, m, sh, rounding="half-even")


def test_xnnpack_float32_rescale():
    """rounding="xnnpack": float32(acc) * float32 scale, clamp, round half to even."""
    acc = np.array([[5, -5, 7, -7, 2**24 + 1, 1000]])
    sc = np.array([0.5, 0.5, 0.5, 0.5, 2.0**-20, 0.5], np.float32)
    got = tfl.requantize_layer("conv2d", acc, None, None, None, 3, -128, 127,
                               rounding="xnnpack", scale=sc)
    # 2.5 -> 2, -2.5 -> -2, 3.5 -> 4, -3.5 -> -4 (ties to even); float32(2^24 + 1) = 2^24
    # -> 16; 500 clamps at 127 - 3
    assert got.ravel().tolist() == [5, 1, 7, -1, 19, 127]
    s = tfl.xnnpack_scale(np.float32(0.02), np.float32([0.003]), np.float32(0.07))
    assert s.dtype == np.float32
    assert s[0] == (np.float32(0.02) * np.float32(0.003)) / np.float32(0.07)
    assert tfl.layer_scale(0.02, [0.003], 0.07, "conv2d", "reference") is None
    with pytest.raises(ValueError, match="scale"):
        tfl.conv2d(np.zeros((1, 1, 1, 1), int), np.ones((1, 1, 1, 1), int), [0], 0, 0, [2**30], [0],
                   rounding="xnnpack")
    assert tfl.activation_range("RELU6", np.float32(0.096), -128, rounding="xnnpack") == (
        -128, -66)


def test_activation_bounds_are_float32():
    """ReLU6 bound = zp + roundf(6.0f / scale): for scale 0.096f the float32 quotient is exactly
    62.5 (-> 63) while the float64 one is 62.49999946 (-> 62)."""
    assert float(np.float32(6.0) / np.float32(0.096)) == 62.5
    assert 6.0 / float(np.float32(0.096)) < 62.5
    assert tfl.activation_range("RELU6", np.float32(0.096), -128) == (-128, -65)
    assert tfl.activation_range("RELU_N1_TO_1", np.float32(0.096), 0) == (-10, 10)
    with pytest.raises(ValueError):
        tfl.activation_range("RELU", 0.0, 0)


def test_overflow_raises():
    x = np.full((1, 1, 1, 1), 127)
    with pytest.raises(OverflowError):
        tfl.conv2d(x, np.full((1, 1, 1, 1), 127), [2**31 - 100], -128, 0, [2**30], [0])


@pytest.mark.parametrize("pad,stride", [("VALID", 2), ("SAME", 2), ("SAME", 1)])
def test_pools_vs_reference(pad, stride):
    rng = np.random.default_rng(30)
    x = rng.integers(-128, 128, (2, 5, 7, 3))
    mx = tfl.max_pool(x, (3, 2), (stride, stride), pad, -100, 120)
    av = tfl.avg_pool(x, (3, 2), (stride, stride), pad)
    oh, pt = ref_out_size(5, 3, stride, 1, pad)
    ow, pl = ref_out_size(7, 2, stride, 1, pad)
    assert mx.shape == av.shape == (2, oh, ow, 3)
    for b in range(2):
        for oy in range(oh):
            for ox in range(ow):
                for c in range(3):
                    vals = [int(x[b, oy * stride - pt + i, ox * stride - pl + j, c])
                            for i in range(3) for j in range(2)
                            if 0 <= oy * stride - pt + i < 5 and 0 <= ox * stride - pl + j < 7]
                    assert mx[b, oy, ox, c] == min(max(max(vals), -100), 120)
                    assert av[b, oy, ox, c] == ref_round_away(Fraction(sum(vals), len(vals)))


def test_avg_pool_ties():
    x = np.array([1, 2, -1, -2, 3, 4, -3, -4]).reshape(1, 1, 8, 1)
    got = tfl.avg_pool(x, (1, 2), (1, 2))
    # 1.5 -> 2, -1.5 -> -2, 3.5 -> 4, -3.5 -> -4
    np.testing.assert_array_equal(got.ravel(), [2, -2, 4, -4])


def test_add_vs_reference():
    rng = np.random.default_rng(40)
    s1, s2, so = 0.05, 0.02, 0.06
    z1, z2, zo = -5, 10, 3
    p = tfl.add_params(s1, z1, s2, z2, so, zo)
    assert p["left_shift"] == 20
    a = rng.integers(-128, 128, (3, 50))
    b = rng.integers(-128, 128, (3, 50))
    got = tfl.add(a, b, p)
    m1, e1 = ref_quantize_multiplier(float(np.float32(s1)) / (2 * float(np.float32(s1))))
    m2, e2 = ref_quantize_multiplier(float(np.float32(s2)) / (2 * float(np.float32(s1))))
    mo, eo = ref_quantize_multiplier(2 * float(np.float32(s1)) / (2**20 * float(np.float32(so))))
    for x, y, g in zip(a.ravel(), b.ravel(), got.ravel(), strict=True):
        u = ref_mbqm((int(x) - z1) * 2**20, m1, e1)
        v = ref_mbqm((int(y) - z2) * 2**20, m2, e2)
        want = min(max(ref_mbqm(u + v, mo, eo) + zo, -128), 127)
        assert g == want
    # and it really adds: compare with the float sum
    real = (a - z1) * s1 + (b - z2) * s2
    assert np.abs((got.astype(float) - zo) * so - real)[np.abs(real / so) < 120].max() <= so


def test_conv_matches_float_math():
    """Sanity: the int8 conv approximates the real-valued conv within one output step."""
    rng = np.random.default_rng(50)
    x = rng.integers(-128, 128, (1, 6, 6, 2))
    w = rng.integers(-127, 128, (3, 3, 3, 2))
    si, so, sw = 0.02, 0.5, np.array([0.01, 0.02, 0.015])
    m, sh = tfl.conv_multipliers(si, sw, so)
    got = tfl.conv2d(x, w, np.zeros(3, int), 4, 0, m, sh, 1, "SAME")
    acc = tfl.conv2d_acc(x, w, 4, 1, "SAME")
    real = acc * si * sw / so
    ok = np.abs(real) < 127
    assert np.abs(got[ok] - real[ok]).max() <= 0.5 + 1e-9
