"""HF6 layers (refmodels.cnn.hf6) against independent formulations."""

import numpy as np
import pytest

from refmodels.cnn import hf6
from refmodels.cnn import minifloat as mf
from refmodels.cnn import tflite as tfl


def _data(rng, shape):
    x = (rng.standard_normal(shape) * 2.0).astype(np.float32)
    x[rng.random(shape) < 0.1] = 0.0
    return x


def _loop_conv(x, wc, bc, stride, padding, act):
    """Per-output loop over the bit-level product (no fast path, no im2col)."""
    n, h, w, c = x.shape
    oc, fh, fw, _ = wc.shape
    oh, pt, _ = tfl.compute_padding(h, fh, stride[0], 1, padding)
    ow, pl, _ = tfl.compute_padding(w, fw, stride[1], 1, padding)
    out = np.zeros((n, oh, ow, oc), np.float32)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for o in range(oc):
                    acc = int(mf.hf6_bias_fixed(np.array([bc[o]]))[0])
                    for ky in range(fh):
                        for kx in range(fw):
                            iy, ix = oy * stride[0] - pt + ky, ox * stride[1] - pl + kx
                            if 0 <= iy < h and 0 <= ix < w:
                                p = mf.hf6_product_fixed(x[b, iy, ix, :], wc[o, ky, kx, :])
                                acc += int(np.sum(p, dtype=np.int64))
                    acc = (acc + (1 << 63)) % (1 << 64) - (1 << 63)
                    out[b, oy, ox, o] = mf.fixed_to_float32(np.array([acc], np.int64))[0]
    return hf6.activation(out, act)


@pytest.mark.parametrize("stride, padding, act", [((1, 1), "SAME", "NONE"),
                                                  ((2, 1), "VALID", "RELU"),
                                                  ((2, 2), "SAME", "RELU6")])
def test_conv2d_equals_loop(stride, padding, act):
    rng = np.random.default_rng(1)
    x = _data(rng, (2, 5, 6, 3))
    wc = rng.integers(0, 64, (4, 3, 2, 3))
    bc = rng.integers(0, 64, 4)
    got = hf6.conv2d(x, wc, bc, stride, padding, act)
    want = _loop_conv(x, wc, bc, stride, padding, act)
    assert got.dtype == np.float32
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_depthwise_equals_diagonal_conv():
    # code 0 is +0.0: a Conv2D whose weights are zero off the diagonal is the depthwise layer
    rng = np.random.default_rng(2)
    x = _data(rng, (1, 6, 5, 4))
    wd = rng.integers(0, 64, (1, 3, 3, 4))
    bc = rng.integers(0, 64, 4)
    wfull = np.zeros((4, 3, 3, 4), np.int64)
    for ch in range(4):
        wfull[ch, :, :, ch] = wd[0, :, :, ch]
    got = hf6.depthwise_conv2d(x, wd, bc, (1, 2), "SAME", "RELU")
    want = hf6.conv2d(x, wfull, bc, (1, 2), "SAME", "RELU")
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_depth_multiplier_equals_conv():
    # output channel c * 3 + m filters input channel c
    rng = np.random.default_rng(5)
    x = _data(rng, (1, 5, 4, 2))
    wd = rng.integers(0, 64, (1, 2, 3, 6))
    bc = rng.integers(0, 64, 6)
    wfull = np.zeros((6, 2, 3, 2), np.int64)
    for o in range(6):
        wfull[o, :, :, o // 3] = wd[0, :, :, o]
    got = hf6.depthwise_conv2d(x, wd, bc, (2, 1), "VALID", "RELU6", depth_multiplier=3)
    want = hf6.conv2d(x, wfull, bc, (2, 1), "VALID", "RELU6")
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    with pytest.raises(ValueError):
        hf6.depthwise_conv2d(x, wd, bc, depth_multiplier=2)


def test_fully_connected_is_1x1_conv():
    rng = np.random.default_rng(3)
    x = _data(rng, (3, 20))
    wc = rng.integers(0, 64, (7, 20))
    bc = rng.integers(0, 64, 7)
    got = hf6.fully_connected(x, wc, bc, "RELU6")
    want = hf6.conv2d(x.reshape(3, 1, 1, 20), wc.reshape(7, 1, 1, 20), bc, (1, 1), "VALID",
                      "RELU6").reshape(3, 7)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_max_pool():
    rng = np.random.default_rng(4)
    x = _data(rng, (1, 6, 6, 2))
    got = hf6.max_pool(x, (2, 2))
    assert np.array_equal(got, x.reshape(1, 3, 2, 3, 2, 2).max(axis=(2, 4)))
    neg = -np.abs(x) - 1  # padded taps (outside the image) must never win
    same = hf6.max_pool(neg, (3, 3), (2, 2), "SAME")
    assert same.shape == (1, 3, 3, 2) and np.all(same < 0)
    assert same[0, 0, 0, 0] == neg[0, :2, :2, 0].max()


def test_activation_values():
    z = np.array([-3.5, -1e-30, 0.0, 2.0, 6.0, 6.5, 1e30], np.float32)
    assert hf6.activation(z, "RELU").tolist() == [0, 0, 0, 2, 6, 6.5, float(np.float32(1e30))]
    assert hf6.activation(z, "RELU6").tolist() == [0, 0, 0, 2, 6, 6, 6]
    assert not np.signbit(hf6.activation(z, "RELU")).any()


@pytest.mark.parametrize("call, exc", [
    (lambda: hf6.conv2d(np.zeros((1, 2, 2, 1)), np.zeros((1, 1, 1, 1)), [0]), TypeError),
    (lambda: hf6.fully_connected(np.full((1, 2), np.inf, np.float32), np.zeros((1, 2)), [0]),
     ValueError),
    (lambda: hf6.conv2d(np.zeros((1, 2, 2, 2), np.float32), np.zeros((1, 1, 1, 3)), [0]),
     ValueError),
    (lambda: hf6.activation(np.zeros(2, np.float32), "GELU"), ValueError),
    (lambda: hf6.fully_connected(np.zeros((1, 2), np.float32), np.full((1, 2), 64), [0]),
     ValueError),
])
def test_bad_input(call, exc):
    with pytest.raises(exc):
        call()
