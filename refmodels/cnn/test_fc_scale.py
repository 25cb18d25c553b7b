"""The engine's integer FullyConnected rescale (``tflite.multiply_by_scale_fixed``) against the
float64 definition of TFLite's reference FullyConnected (``tflite.multiply_by_scale``)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from refmodels.cnn import tflite as tfl

SAT = tfl.FC_SAT


def reference(x, scale):
    """The reference FC rescale, limited to [-FC_SAT, FC_SAT] like the hardware's result."""
    with np.errstate(over="ignore"):
        return np.clip(tfl.multiply_by_scale(x, scale), -SAT, SAT)


def fixed(x, scale):
    lo, hi = tfl.scale_words(scale)
    return tfl.multiply_by_scale_fixed(x, lo, hi)


def rational(x, scale):
    """round(x * scale) without the float64 product's own rounding (exact rationals)."""
    out = []
    for xv, sv in zip(np.ravel(x).tolist(), np.ravel(scale).tolist(), strict=True):
        f = Fraction(xv) * Fraction(sv)
        r = min(math.floor(abs(f) + Fraction(1, 2)), SAT)
        out.append(-r if f < 0 else r)
    return np.array(out, np.int64)


def _ulps(v, d):
    """``v`` moved by ``d`` float64 ulps (d in -3..3, element-wise)."""
    for i in range(3):
        v = np.where(d > i, np.nextafter(v, np.inf), v)
        v = np.where(d < -i, np.nextafter(v, 0), v)
    return v


def test_scale_words_are_the_float64_pattern():
    lo, hi = tfl.scale_words(np.array([1.0, -2.5, 0.1]))
    assert hi.tolist() == [0x3FF00000, 0xC0040000, 0x3FB99999]
    assert lo.tolist() == [0, 0, 0x9999999A]


def test_round_half_away_is_std_round():
    # floor(x + 0.5) would give 1 for the largest double below one half
    x = np.array([0.49999999999999994, -0.49999999999999994, 0.5, -0.5, 1.5, 2.5, -2.5,
                  2.0**52 + 1, np.inf, -np.inf])
    assert tfl.round_half_away(x).tolist() == [0, 0, 1, -1, 2, 3, -3, 2.0**52 + 1, np.inf,
                                               -np.inf]
    lo, hi = tfl.scale_words(0.49999999999999994)
    assert tfl.multiply_by_scale_fixed(1, lo, hi) == 0
    assert tfl.multiply_by_scale(1, 0.49999999999999994) == 0


def test_random_values_and_scales():
    rng = np.random.default_rng(11)
    n = 200_000
    x = rng.integers(tfl.INT32_MIN, tfl.INT32_MAX, n, endpoint=True)
    x = np.where(rng.random(n) < 0.6, x >> rng.integers(0, 32, n), x)  # every magnitude
    scale = np.exp2(rng.uniform(-62, 12, n)) * rng.uniform(1, 2, n)
    scale = np.where(rng.random(n) < 0.1, -scale, scale)
    got, want = fixed(x, scale), reference(x, scale)
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:5]
    # the draw reaches both saturations, zero and the values between
    assert {-SAT, 0, SAT} <= set(got.tolist()) and np.sum(np.abs(got) < SAT) > n // 4


def test_rounding_ties_of_the_product_and_of_the_result():
    """Scales a few ulps around (k + 1/2) / x: exact ties of the float64 product, and products
    that the float64 rounding moves onto a tie or off it (where one exact rounding differs)."""
    rng = np.random.default_rng(12)
    n = 300_000
    x = np.maximum(rng.integers(1, 2**31, n) >> rng.integers(0, 31, n), 1)
    x = np.where(rng.random(n) < 0.5, -x, x)
    k = rng.integers(0, 700, n)
    scale = _ulps(np.abs((k + 0.5) / x), rng.integers(-3, 4, n))
    got, want = fixed(x, scale), reference(x, scale)
    assert np.array_equal(got, want), np.flatnonzero(got != want)[:5]
    prod = np.abs(x * scale)
    assert np.sum(prod - np.floor(prod) == 0.5) > n // 10  # exact ties of the product
    sub = rng.choice(n, 4000, replace=False)
    # the test tells the float64 product's rounding from an exact one
    assert np.sum(rational(x[sub], scale[sub]) != want[sub]) > 50


def test_exhaustive_accumulators():
    """Every accumulator in [-2^17, 2^17] at scales with many ties (powers of two, k/2^j,
    realistic FC scales) and at the saturation / zero thresholds."""
    x = np.arange(-(1 << 17), (1 << 17) + 1)
    scales = [2.0**-10, 2.0**-17, 3 * 2.0**-12, 0.0029296875, 1 / 3, 0.004123456789,
              np.nextafter(2.0**-8, 0), np.nextafter(2.0**-8, 1), 7.3e-4, 1e-3, 2.0**-20]
    for s in scales:
        for sv in (s, -s):
            got, want = fixed(x, sv), reference(x, sv)
            assert np.array_equal(got, want), (sv, np.flatnonzero(got != want)[:5])


def test_extreme_scales():
    xs = np.array([0, 1, -1, 2, 3, 12345, -999, 2**30, tfl.INT32_MIN, tfl.INT32_MAX])
    scales = [5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-20, 2.0**-60, 2.0**-55,
              2.0**-54, np.nextafter(2.0**-54, 1), np.nextafter(2.0**-32, 0), 2.0**-32,
              2.0**-31, 0.25, 0.5, 1.0, 1023.5, 2.0**10, 2.0**31, 1e20, 1e300,
              1.7976931348623157e308]
    # the saturation and zero thresholds of the exponent window: around 1024 / x and 0.5 / x
    for xv in (1, 3, 2**20 + 1, 2**31 - 1):
        for target in (0.25, 0.5, 1.5, 1023.5, 1024, 1024.5, 2047):
            v = target / xv
            scales += [v, np.nextafter(v, 0), np.nextafter(v, 1)]
    sv = np.array(scales)
    x = np.repeat(xs, len(sv))
    s = np.tile(sv, len(xs))
    for sign in (1, -1):
        got, want = fixed(x, sign * s), reference(x, sign * s)
        assert np.array_equal(got, want), np.flatnonzero(got != want)[:5]
    lo, hi = tfl.scale_words(np.array([0.0, -0.0]))
    assert tfl.multiply_by_scale_fixed(5, lo, hi).tolist() == [0, 0]


def test_requantize_with_the_fixed_rescale_equals_the_reference_fc():
    rng = np.random.default_rng(13)
    acc = rng.integers(-(1 << 20), 1 << 20, (2000, 7))
    bias = rng.integers(-(1 << 14), 1 << 14, 7)
    scale = tfl.fc_scale(0.02, rng.uniform(0.001, 0.02, 7), 0.05)
    for zp, lo, hi in ((0, -128, 127), (-7, -128, 127), (100, 0, 127), (-128, -20, 30)):
        want = tfl.requantize_fc(acc, bias, None, None, zp, lo, hi, scale=scale)
        r = fixed(acc + bias, np.broadcast_to(scale, acc.shape))
        assert np.array_equal(np.clip(r + zp, lo, hi), want)


def test_bad_words():
    with pytest.raises(ValueError):
        tfl.multiply_by_scale_fixed(1, -1, 0)
    with pytest.raises(ValueError):
        tfl.multiply_by_scale_fixed(2**31, 0, 0x3FF00000)
