"""Approximate-multiplier int8 layers: exact units reproduce TFLite; approximate units follow
the documented operand mapping (checked against a scalar loop)."""

import numpy as np
import pytest

from refmodels.arith import make_lut, parse_unit
from refmodels.cnn import approx
from refmodels.cnn import tflite as tfl


def _case(seed, ci=3, co=4, fh=3, fw=3, n=2, h=7, w=6):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n, h, w, ci))
    wt = rng.integers(-127, 128, (co, fh, fw, ci))
    izp = int(rng.integers(-128, 128))
    m, sh = tfl.conv_multipliers(0.03, rng.uniform(0.002, 0.02, co), 0.1)
    bias = rng.integers(-2000, 2000, co)
    return x, wt, izp, m, sh, bias


@pytest.mark.parametrize("unit", ["exact:width=8,signed=1", "exact:width=8,signed=0"])
@pytest.mark.parametrize("pad,stride,dil", [("SAME", 1, 1), ("VALID", 2, 1), ("SAME", 2, 2)])
def test_exact_unit_equals_tflite_conv(unit, pad, stride, dil):
    x, wt, izp, m, sh, bias = _case(1 + stride + dil)
    mul = approx.ApproxMul.from_unit(unit)
    want = tfl.conv2d(x, wt, bias, izp, 5, m, sh, stride, pad, dil, -20, 127)
    got = approx.conv2d(x, wt, bias, izp, 5, m, sh, mul, stride, pad, dil, -20, 127)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(approx.conv2d_acc(x, wt, izp, mul, stride, pad, dil),
                                  tfl.conv2d_acc(x, wt, izp, stride, pad, dil))


@pytest.mark.parametrize("signed", [True, False])
def test_exact_unit_equals_tflite_fc_and_depthwise(signed):
    rng = np.random.default_rng(3)
    mul = approx.ApproxMul.exact(signed)
    x = rng.integers(-128, 128, (6, 50))
    w = rng.integers(-128, 128, (9, 50))  # includes -128: mapping must still be exact
    np.testing.assert_array_equal(approx.fully_connected_acc(x, w, -7, mul),
                                  tfl.fully_connected_acc(x, w, -7))
    xi = rng.integers(-128, 128, (2, 6, 5, 3))
    wd = rng.integers(-127, 128, (1, 3, 3, 6))
    np.testing.assert_array_equal(
        approx.depthwise_conv2d_acc(xi, wd, 11, mul, 2, 1, "SAME"),
        tfl.depthwise_conv2d_acc(xi, wd, 11, 2, 1, "SAME"))


def _ref_conv_acc(x, wt, izp, lut, signed, stride, pad):
    n, h, wd, ci = x.shape
    co, fh, fw, _ = wt.shape
    oh, pt, _ = tfl.compute_padding(h, fh, stride, 1, pad)
    ow, pl, _ = tfl.compute_padding(wd, fw, stride, 1, pad)
    out = np.zeros((n, oh, ow, co), np.int64)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for c in range(co):
                    acc = 0
                    for i in range(fh):
                        for j in range(fw):
                            iy, ix = oy * stride - pt + i, ox * stride - pl + j
                            if not (0 <= iy < h and 0 <= ix < wd):
                                continue
                            for k in range(ci):
                                wv, xv = int(wt[c, i, j, k]), int(x[b, iy, ix, k])
                                if signed:
                                    acc += int(lut[wv & 255, xv & 255]) - izp * wv
                                else:
                                    s = (wv > 0) - (wv < 0)
                                    acc += s * int(lut[abs(wv), xv + 128]) - (izp + 128) * wv
                    out[b, oy, ox, c] = acc
    return out


@pytest.mark.parametrize("unit", ["drum:k=4,width=8,signed=1", "mitchell:width=8,signed=1",
                                  "drum:k=4,width=8,signed=0", "trunc:t=6,width=8,signed=0"])
def test_approx_conv_vs_scalar_reference(unit):
    x, wt, izp, m, sh, bias = _case(7, ci=2, co=3, n=1, h=5, w=5)
    spec = parse_unit(unit)
    lut = make_lut(spec)
    for pad, stride in [("SAME", 1), ("VALID", 2)]:
        got = approx.conv2d_acc(x, wt, izp, unit, stride, pad)
        ref = _ref_conv_acc(x, wt, izp, lut, spec.signed, stride, pad)
        np.testing.assert_array_equal(got, ref)
        assert not np.array_equal(got, tfl.conv2d_acc(x, wt, izp, stride, pad))


def test_approx_fc_vs_scalar_reference():
    rng = np.random.default_rng(9)
    unit = "drum:k=4,width=8,signed=1"
    lut = make_lut(parse_unit(unit))
    x = rng.integers(-128, 128, (4, 30))
    w = rng.integers(-127, 128, (5, 30))
    got = approx.fully_connected_acc(x, w, 3, unit)
    for b in range(4):
        for o in range(5):
            want = sum(int(lut[int(w[o, i]) & 255, int(x[b, i]) & 255]) - 3 * int(w[o, i])
                       for i in range(30))
            assert got[b, o] == want


def test_asymmetric_table_orientation():
    """A table with lut[a, b] != lut[b, a] shows the filter is operand a."""
    v = np.arange(256)
    v = np.where(v >= 128, v - 256, v)
    lut = np.outer(v, v) + v[:, None]  # adds a (the filter) to every product
    mul = approx.ApproxMul.from_lut(lut, signed=True)
    x = np.full((1, 8), 5)
    w = np.arange(8)[None, :] - 3
    acc = approx.fully_connected_acc(x, w, 0, mul)
    assert acc[0, 0] == (w * 5).sum() + w.sum()


def test_bad_units():
    with pytest.raises(ValueError):
        approx.ApproxMul.from_unit("drum:k=4,width=6,signed=1")
    with pytest.raises(ValueError):
        approx.ApproxMul.from_unit("loa:width=8")
    with pytest.raises(ValueError):
        approx.ApproxMul.from_lut(np.zeros((16, 16), int), True)
