"""The compiled int8 path (``impl="fast"``) against the numpy golden model, bit for bit."""

import numpy as np
import pytest

from refmodels.cnn import approx, fast
from refmodels.cnn import net as N
from refmodels.cnn import tflite as tfl
from verif.common.tiers import nightly

pytestmark = pytest.mark.skipif(not fast.HAVE_NUMBA, reason="numba not installed")

UNITS = [None, "drum:k=4,width=8,signed=1", "drum:k=3,width=8,signed=0"]


@pytest.fixture(scope="module", params=["digits", "mnist"])
def stored(request):
    net = N.load_network(request.param)
    _, _, xte, _ = N.load_dataset(net.topology["dataset"])
    return net, net.quantize_input(xte[:60])


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("single_rounding, rounding", [
    (False, "reference"), (True, "reference"), (False, "gemmlowp"), (False, "xnnpack")])
def test_fast_equals_numpy_on_stored_networks(stored, unit, single_rounding, rounding):
    net, xq = stored
    mul = approx.ApproxMul.from_unit(unit) if unit else None
    kw = {"rounding": rounding}
    ref, tr_ref = net.forward_int8(xq, mul, single_rounding, impl="ref", trace=True, **kw)
    got = net.forward_int8(xq, mul, single_rounding, impl="fast", **kw)  # max pools folded
    np.testing.assert_array_equal(got, ref)
    got, tr = net.forward_int8(xq, mul, single_rounding, impl="fast", trace=True, **kw)
    np.testing.assert_array_equal(got, ref)
    assert list(tr) == list(tr_ref)
    for k in tr_ref:
        np.testing.assert_array_equal(tr[k], tr_ref[k], err_msg=k)


def test_generated_blocks_are_up_to_date():
    """The committed register blocks are what ``refmodels.cnn.kernelgen`` writes now."""
    from refmodels.cnn import kernelgen

    assert kernelgen.OUT.read_text() == kernelgen.source(), \
        "refmodels/cnn/_blocks.py is stale: run python -m refmodels.cnn.kernelgen"


def test_fast_equals_numpy_padding_strides_relu6_threads():
    """SAME padding, stride 2, several input channels, RELU6, a pool not after a conv."""
    topo = {"name": "t", "dataset": "digits", "input": [9, 8, 2], "layers": [
        {"type": "conv2d", "name": "c1", "filters": 5, "kernel": [3, 3], "stride": [2, 1],
         "padding": "SAME", "activation": "RELU6"},
        {"type": "conv2d", "name": "c2", "filters": 18, "kernel": [2, 3], "stride": [1, 2],
         "padding": "SAME", "activation": "RELU"},
        {"type": "maxpool", "name": "p1", "pool": [2, 2]},
        {"type": "conv2d", "name": "c3", "filters": 3, "kernel": [2, 1], "stride": [1, 1],
         "padding": "VALID", "activation": "NONE"},
        {"type": "flatten", "name": "f"},
        {"type": "dense", "name": "d", "units": 7, "activation": "RELU6"},
        {"type": "dense", "name": "o", "units": 4, "activation": "NONE"}]}
    net = N.Network(topo)
    net.init_params(3)
    rs = np.random.default_rng(0)
    x = rs.random((60, 9, 8, 2)).astype(np.float32)
    x[:, :3] = 0.0  # rows of inputs at the zero point (the neutral value of the buffers)
    net.quantize(x)
    xq = net.quantize_input(x)
    for unit in UNITS:
        mul = approx.ApproxMul.from_unit(unit) if unit else None
        ref = net.forward_int8(xq, mul, impl="ref")
        assert len(np.unique(ref)) > 3
        for t in (1, 2):
            np.testing.assert_array_equal(net.forward_int8(xq, mul, impl="fast", threads=t),
                                          ref)
    with pytest.raises(ValueError):
        net.forward_int8(xq, impl="gpu")
    with pytest.raises(ValueError):
        net.forward_int8(xq, impl="fast", threads=0)


@pytest.mark.parametrize("single_rounding", [False, True])
def test_output_thresholds_reproduce_the_output_stage(single_rounding):
    """act_min + #(thresholds <= acc) equals tflite.requantize for accumulators all over the
    int32 range of the biased accumulator (random and next to every threshold)."""
    rs = np.random.default_rng(1)
    n_ch = 6
    bias = rs.integers(-2**20, 2**20, n_ch)
    m, sh = tfl.quantize_multiplier(rs.uniform(1e-6, 0.9, n_ch), single_rounding)
    lo, hi = -128, 100
    stage = fast.output_stage("conv2d", single_rounding)
    thr = fast.output_thresholds(stage, bias, m, sh, 5, lo, hi, n_ch)
    assert thr.shape == (n_ch, hi - lo) and np.all(np.diff(thr, axis=1) >= 0)
    fin = thr[thr < 2**32]
    acc = np.concatenate([rs.integers(-2**31, 2**31, (4000,)) // 2, fin, fin - 1])
    acc = np.clip(acc, -2**31 - bias.min(), 2**31 - 1 - bias.max())[:, None]
    acc = np.broadcast_to(acc, (len(acc), n_ch))
    want = stage(acc, bias, m, sh, 5, lo, hi).astype(np.int64)
    got = lo + (thr[None, :, :] <= acc[:, :, None]).sum(axis=2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("levels", [(-128, 127), (-128, -20)])
def test_threshold_buckets_count_exactly(levels):
    """The compiled lookup (bucket ``(a - t0) >> s``, then one comparison) counts the
    thresholds <= a exactly, here emulated in numpy over accumulators across the whole int32
    range, next to every threshold, and with scales that make several levels share a
    threshold (codes skipped) or leave levels unreachable."""
    rs = np.random.default_rng(2)
    n_ch = 6
    bias = rs.integers(-2**24, 2**24, n_ch)
    m, sh = tfl.quantize_multiplier(np.array([1e-7, 3e-4, 0.05, 0.9, 2.5, 40.0]))
    stage = fast.output_stage("dense", False, "gemmlowp")  # the fixed-point rescale
    thr = fast.output_thresholds(stage, bias, m, sh, -3, *levels, n_ch)
    bk = fast._buckets(thr)
    assert (bk["inc"] > 1).any()  # some threshold stands for several levels
    for c in range(n_ch):
        fin = thr[c][thr[c] < 2**32]
        a = np.concatenate([rs.integers(-2**31, 2**31, 3000), fin, fin - 1, fin + 1])
        a = np.clip(a, -2**31 - bias[c], 2**31 - 1 - bias[c])
        q = np.clip((a - bk["t0"][c]) >> bk["sh"][c], 0, bk["nb"][c] - 1)
        cnt = bk["base"][c, q] + bk["inc"][c, q] * (a >= bk["bthr"][c, q])
        np.testing.assert_array_equal(cnt, np.searchsorted(thr[c], a, side="right"))
        v = bk["pk"][c, q]  # the packed word the compiled lookup reads
        cnt = ((v >> 8) & 255) + (v & 255) * (a >= (v >> 16))
        np.testing.assert_array_equal(cnt, np.searchsorted(thr[c], a, side="right"))


def _random_net(rs, unit_scale=1.0):
    """A small random network: random shapes, strides, paddings, activations and weights."""
    ci = int(rs.integers(1, 4))
    hw = [int(rs.integers(6, 11)), int(rs.integers(6, 11))]
    act = ["RELU", "RELU6", "NONE"]
    topo = {"name": "r", "dataset": "digits", "input": [*hw, ci], "layers": [
        {"type": "conv2d", "name": "c1", "filters": int(rs.integers(1, 20)),
         "kernel": [int(rs.integers(1, 4)), int(rs.integers(1, 4))],
         "stride": [int(rs.integers(1, 3)), int(rs.integers(1, 3))],
         "padding": str(rs.choice(["SAME", "VALID"])), "activation": str(rs.choice(act))},
        {"type": "maxpool", "name": "p1", "pool": [int(rs.integers(1, 3))] * 2},
        {"type": "flatten", "name": "f"},
        {"type": "dense", "name": "d", "units": int(rs.integers(1, 30)),
         "activation": str(rs.choice(act))}]}
    net = N.Network(topo)
    net.init_params(int(rs.integers(1 << 30)))
    x = rs.random((40, *hw, ci)).astype(np.float32)
    x[x < 0.5] = 0.0  # inputs at the zero point (the neutral value of the buffers)
    net.quantize(x)
    return net, net.quantize_input(x)


@pytest.mark.parametrize("seed", [0] + [pytest.param(s, marks=nightly) for s in range(1, 4)])
def test_fast_equals_numpy_on_random_layers(seed):
    """Random layers, exact and approximate units, signed and unsigned, including random
    product tables beyond int16 (int32 rows) and large enough for the run-time int32 check of
    the biased accumulator: the compiled path equals the numpy golden model bit for bit (or
    both raise OverflowError)."""
    rs = np.random.default_rng(100 + seed)
    net, xq = _random_net(rs)
    lut_s = rs.integers(-2**14, 2**14, (256, 256))
    lut_u = rs.integers(0, 2**15, (256, 256))
    big = rs.integers(-2**23, 2**23, (256, 256))
    muls = [None, "drum:k=4,width=8,signed=1", "drum:k=3,width=8,signed=0",
            approx.ApproxMul.from_lut(lut_s, True, "random signed"),
            approx.ApproxMul.from_lut(lut_u, False, "random unsigned"),
            approx.ApproxMul.from_lut(big, True, "random large")]
    for unit in muls:
        mul = approx.ApproxMul.from_unit(unit) if isinstance(unit, str) else unit
        try:
            ref = net.forward_int8(xq, mul, impl="ref")
        except OverflowError:
            with pytest.raises(OverflowError):
                net.forward_int8(xq, mul, impl="fast")
            continue
        for t in (1, 2):
            got = net.forward_int8(xq, mul, impl="fast", threads=t)
            np.testing.assert_array_equal(got, ref, err_msg=f"{mul} threads={t}")
        # batch of one image through the same plan
        np.testing.assert_array_equal(net.forward_int8(xq[3:4], mul, impl="fast"), ref[3:4])
