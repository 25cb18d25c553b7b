"""Per-layer multiplier assignment, fault / error injection, predictors and the search."""

import numpy as np
import pytest

from refmodels.cnn import hetero, search
from refmodels.cnn import resilience as rs
from refmodels.cnn.approx import ApproxMul
from refmodels.cnn.net import Network, load_dataset, load_network

TRUNC8 = "trunc:t=8,width=8,signed=1"
ETM4U = "etm:k=4,width=8,signed=0"


@pytest.fixture(scope="module")
def digits():
    net = load_network("digits")
    _, _, xte, yte = load_dataset("digits")
    return net, xte[:96], yte[:96]


@pytest.fixture(scope="module")
def analysis(digits):
    net, x, y = digits
    return rs.Analysis(net, x, y)


def test_per_layer_path_equals_uniform_path(digits):
    net, x, _ = digits
    xq = net.quantize_input(x)
    n = len(hetero.compute_layers(net))
    for u in (None, TRUNC8, ETM4U):
        ref = net.forward_int8(xq, u)
        assert np.array_equal(hetero.forward_int8_layers(net, xq, u), ref)
        assert np.array_equal(hetero.forward_int8_layers(net, xq, [u] * n), ref)
    # the exact signed unit and "exact" name exact int8 (TFLite kernels), as does a dict
    ref = net.forward_int8(xq)
    assert np.array_equal(hetero.forward_int8_layers(net, xq, ["exact", None, "int8"]), ref)
    assert np.array_equal(hetero.forward_int8_layers(net, xq, {}), ref)
    assert np.array_equal(hetero.forward_int8_layers(
        net, xq, ApproxMul.exact(signed=True)), ref)


def test_per_layer_mixed_assignment_layer_by_layer(digits):
    # a mixed assignment run whole equals running it one layer at a time from each trace
    net, x, _ = digits
    xq = net.quantize_input(x)
    units = [TRUNC8, None, ETM4U]
    out, tr = hetero.forward_int8_layers(net, xq, units, trace=True)
    assert not np.array_equal(out, net.forward_int8(xq))
    # the first layer is that of the uniform TRUNC8 network
    assert np.array_equal(tr["conv1"], net.forward_int8(xq, TRUNC8, trace=True)[1]["conv1"])
    a = xq
    for li, L in enumerate(net.layers):
        a = hetero.forward_int8_layers(net, a, units, start=li, trace=True)[1][L["name"]]
        assert np.array_equal(a, tr[L["name"]])
    assert np.array_equal(a, out)
    with pytest.raises(ValueError, match="need 3 units"):
        hetero.forward_int8_layers(net, xq, [TRUNC8])
    with pytest.raises(ValueError, match="unknown layer"):
        hetero.forward_int8_layers(net, xq, {"conv9": TRUNC8})


def test_apply_fault():
    v = np.array([-128, -1, 0, 5, 127])
    assert np.array_equal(rs.apply_fault(v, 7, "flip", 8), [0, 127, -128, -123, -1])
    assert np.array_equal(rs.apply_fault(rs.apply_fault(v, 3, "flip", 8), 3, "flip", 8), v)
    assert np.array_equal(rs.apply_fault(v, 0, "sa1", 8), [-127, -1, 1, 5, 127])
    assert np.array_equal(rs.apply_fault(v, 0, "sa0", 8), [-128, -2, 0, 4, 126])
    assert rs.apply_fault(np.array([0]), 31, "flip", 32)[0] == -(2**31)
    with pytest.raises(ValueError, match="valid: flip"):
        rs.apply_fault(v, 0, "stuck", 8)


def test_campaigns_are_deterministic(digits, analysis):
    net, x, y = digits
    for site in rs.SITES:
        a = rs.fault_campaign(net, x, y, "conv2", site, "flip", trials=3, seed=7,
                              analysis=analysis)
        b = rs.fault_campaign(net, x, y, "conv2", site, "flip", trials=3, seed=7,
                              analysis=analysis)
        assert a == b
        lo, hi = a["sdc_wilson"]
        assert 0 <= lo <= a["sdc"] <= hi <= 1
    a = rs.statistical_campaign(net, x, y, "fc", TRUNC8, trials=2, seed=3, analysis=analysis)
    b = rs.statistical_campaign(net, x, y, "fc", TRUNC8, trials=2, seed=3, analysis=analysis)
    assert a == b
    # the accumulator's top bit always changes the value: SDCs must appear in the last layer
    r = rs.fault_campaign(net, x, y, "fc", "acc", "flip", trials=2, seed=1, bit=31,
                          analysis=analysis)
    assert r["sdc"] > 0.5
    with pytest.raises(ValueError, match="valid: weights"):
        rs.fault_campaign(net, x, y, "fc", "bias", analysis=analysis)
    with pytest.raises(ValueError, match="outside 0..7"):
        rs.fault_campaign(net, x, y, "fc", "weights", bit=8, analysis=analysis)


def test_zero_error_injection_changes_nothing(digits, analysis):
    net, x, y = digits
    # stuck-at-1 of the sign bit of every (negative) accumulator of a ReLU layer whose values
    # are all negative would change nothing; simplest exact case: an error-free unit
    r = rs.statistical_campaign(net, x, y, "conv2", "exact", trials=2, seed=0,
                                analysis=analysis)
    assert r["acc"] == analysis.base_acc and r["err_mean"] == 0 and r["err_std"] == 0
    vals, prob = rs.error_distribution(None)
    assert vals.tolist() == [0] and prob.tolist() == [1.0]
    # a stuck-at fault on a bit that already has that value: weights bit 7 (sign) stuck at 0
    # on non-negative weights only; checked through a hook that picks a zero weight
    li = 2
    L = net.layers[li]
    wq = net.arrays["conv2.wq"]
    hook = rs._FaultHook("conv2", "weights", "sa0", 7, np.random.default_rng(0), None)
    zero = np.flatnonzero(wq.reshape(-1) >= 0)
    hook.rng = _FixedRng(int(zero[0]))
    w2 = hook.weights(L, wq)
    assert np.array_equal(w2, wq)
    p = analysis.predict("exact", "conv2")
    assert p["pred_drop"] == 0 and p["taylor"] == 0 and p["linear"] == 0
    assert analysis.measured_drop("exact", "fc") == 0


class _FixedRng:
    def __init__(self, i):
        self.i = i

    def integers(self, lo, hi, size=None):
        return self.i if size is None else np.full(size, self.i)


def _tiny_net():
    """One dense layer, 6 inputs -> 3 logits (no activation)."""
    rng = np.random.default_rng(5)
    topo = {"name": "tiny", "dataset": "digits", "input": [6],
            "layers": [{"type": "dense", "name": "fc", "units": 3, "activation": "NONE"}]}
    net = Network(topo)
    net.arrays["fc.w"] = rng.normal(0, 0.5, (3, 6)).astype(np.float32)
    net.arrays["fc.b"] = np.zeros(3, np.float32)
    x = rng.random((200, 6)).astype(np.float32)
    net.quantize(x)
    y = net.forward(x).argmax(axis=1)
    y[:20] = (y[:20] + 1) % 3  # some misclassified images
    return net, x, y


def test_predictor_known_answer():
    net, x, y = _tiny_net()
    an = rs.Analysis(net, x, y)
    codes = np.arange(256)
    v = np.where(codes >= 128, codes - 256, codes)  # lut[code(a), code(b)]
    exact = np.outer(v, v)
    # a unit adding a constant c to every product: the accumulator error is exactly 6c
    c = 37
    const = ApproxMul(exact + c, True, "const")
    mu, var = an.acc_moments(const, "fc")
    # (variances: zero up to the float rounding of the histogram means)
    assert np.allclose(mu, 6.0 * c, rtol=1e-12) and np.all(var < 1e-9)
    assert np.array_equal(an.acc_error(const, "fc"), np.full((200, 1, 3), 6.0 * c))
    # one dense layer: the margin gradient w.r.t. the accumulators is (e_y - e_o) * s_in * s_w,
    # so an equal shift of every logit predicts no change at all
    g = an._gradients()
    s_acc = net.topology["quant"]["input"]["scale"] * float(net.arrays["fc.wscale"][0])
    gm = g["gm"]["fc"]
    assert np.allclose(np.abs(gm).sum(axis=1), 2 * s_acc, rtol=1e-5)
    p = an.predict(const, "fc")
    assert p["linear"] == 0 and abs(p["pred_drop"]) < 1e-12
    # a unit whose error depends on the weight: +c for w > 0, 0 otherwise; the margin shift of
    # image n is c * s_acc * (#positive weights of row y - of row o): compare image by image
    tilt = ApproxMul(exact + np.where(v > 0, c, 0)[:, None], True, "tilt")
    e = an.acc_error(tilt, "fc")
    npos = (net.arrays["fc.wq"] > 0).sum(axis=1) * c
    assert np.array_equal(e[:, 0, :], np.broadcast_to(npos, (200, 3)))
    mu, var = an.acc_moments(tilt, "fc")
    assert np.allclose(mu[0], npos) and np.all(var < 1e-9)
    delta = (gm.reshape(200, 3) * npos).sum(axis=1)
    correct = an.base_pred == y
    want = float(correct.mean() - (g["margin"] + delta > 0).mean())
    assert an.predict(tilt, "fc")["linear"] == want
    # (almost) zero variance: the moment predictor is the same step function
    assert abs(an.predict(tilt, "fc")["pred_drop"] - want) < 1e-12


def test_error_moments_match_emulated_error(analysis):
    # dense layer: the mean over the images of sum_k E(w_k, x_nk) is exactly the sum of the
    # per-feature histogram means (an identity, up to float rounding)
    mu, var = analysis.acc_moments(TRUNC8, "fc")
    e = analysis.acc_error(TRUNC8, "fc")
    assert np.allclose(mu[0], e.mean(axis=(0, 1)), rtol=1e-9, atol=1e-6)
    # conv layer: the taps are not independent (neighbouring pixels), so only an agreement of
    # the channel means' pattern is asserted (measured: correlation 0.995 on these images)
    mu, var = analysis.acc_moments(TRUNC8, "conv2")
    e = analysis.acc_error(TRUNC8, "conv2")
    assert np.corrcoef(mu.mean(axis=0), e.mean(axis=(0, 1)))[0, 1] > 0.95
    assert np.all(var > 0)


def test_validation_ranks_units(analysis):
    units = ["trunc:t=6", TRUNC8, "trunc:t=10"]
    rows, rho = rs.validate(analysis, units, ["conv2", "fc"])
    assert len(rows) == 6 and set(rho) >= {"pred_drop", "taylor", "linear"}
    drops = {(r["unit"], r["layer"]): r["measured_drop"] for r in rows}
    # harsher truncation loses more, and every predictor orders it so in the sensitive fc
    assert drops[("trunc:t=10", "fc")] > max(drops[(TRUNC8, "fc")], 0)
    for k in ("pred_drop", "taylor", "linear"):
        byk = {(r["unit"], r["layer"]): r[k] for r in rows}
        for layer in ("conv2", "fc"):
            t10 = byk[("trunc:t=10", layer)]
            assert t10 > 0 and t10 > byk[(TRUNC8, layer)] and t10 > byk[("trunc:t=6", layer)]
    assert rs.spearman([1, 2, 3], [2, 4, 9]) == 1.0


def test_stat_ci_helpers():
    lo, hi = rs.wilson_ci(0, 100)
    assert abs(lo) < 1e-12 and 0.03 < hi < 0.04
    lo, hi = rs.wilson_ci(50, 100)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-12
    assert rs.bootstrap_ci([1, 1, 1]) == (1.0, 1.0)
    lo, hi = rs.bootstrap_ci([0, 1, 0, 1, 1, 0], seed=3)
    assert 0 <= lo < 0.5 < hi <= 1 and rs.bootstrap_ci([0, 1, 0, 1], seed=3) == \
        rs.bootstrap_ci([0, 1, 0, 1], seed=3)


def test_search_costs_and_front(digits, analysis):
    net, _, _ = digits
    luts = {"exact:width=8,signed=1": 187, TRUNC8: 88, "trunc:t=6,width=8,signed=1": 142}
    units = list(luts)
    c = search.Costs(net, units, luts)
    share = c.share
    assert abs(share.sum() - 1) < 1e-12
    assert c.lut_mac([0, 0, 0]) == pytest.approx(187)
    assert c.energy_proxy([0, 0, 0]) == pytest.approx(1)
    assert c.lut_mac([1, 0, 0]) == pytest.approx(187 - share[0] * 99)
    assert c.engine_luts([1, 0, 1]) == 187 + 88
    with pytest.raises(ValueError, match="no LUT figure"):
        search.Costs(net, ["drum:k=4,width=8,signed=1"], luts)
    rows = search.nsga_search(analysis, c, pop=6, generations=2, seed=1,
                              initial=[[0, 0, 0], [1, 1, 1]])
    rows2 = search.nsga_search(analysis, c, pop=6, generations=2, seed=1,
                               initial=[[0, 0, 0], [1, 1, 1]])
    assert [r["units"] for r in rows] == [r["units"] for r in rows2]
    assert rows[0]["units"] == units[:1] * 3 and rows[0]["loss_pp"] == 0
    for r in rows:  # every evaluated accuracy is the golden model's
        acc = float((hetero.forward_int8_layers(net, analysis.xq, r["units"]).argmax(axis=1)
                     == analysis.y).mean())
        assert r["acc"] == acc
    front = search.pareto_indices([(r["lut_mac"], r["loss_pp"]) for r in rows])
    for i in front:
        assert not any(o["lut_mac"] <= rows[i]["lut_mac"] and o["loss_pp"] < rows[i]["loss_pp"]
                       for o in rows)
    best = search.best_under_budget(rows, 0.5)
    assert best["loss_pp"] <= 0.5 and best["lut_mac"] <= 187


def test_fault_trials_do_not_depend_on_the_trial_count(digits, analysis):
    # trial t draws its fault from (seed, t): the first trials of a longer campaign are the
    # shorter campaign, trial by trial, and the campaign is the summary of its trials
    net, x, y = digits
    per = [rs.fault_trial(analysis, "conv1", "weights", "flip", t, 5) for t in range(3)]
    assert len(set(per)) > 1 or per[0][1] == 0  # distinct faults, or none that shows
    two = rs.fault_campaign(net, x, y, "conv1", "weights", "flip", trials=2, seed=5,
                            analysis=analysis)
    three = rs.fault_campaign(net, x, y, "conv1", "weights", "flip", trials=3, seed=5,
                              analysis=analysis)
    assert two == rs.fault_summary(analysis, "conv1", "weights", "flip", per[:2], 5)
    assert three == rs.fault_summary(analysis, "conv1", "weights", "flip", per, 5)
    assert three["trials"] == 3 and two["trials"] == 2
    assert three["sdc"] == pytest.approx((2 * two["sdc"] + per[2][1]) / 3, abs=1e-15)
    # a different seed draws different faults
    other = [rs.fault_trial(analysis, "conv1", "acc", "flip", t, 6) for t in range(3)]
    mine = [rs.fault_trial(analysis, "conv1", "acc", "flip", t, 5) for t in range(3)]
    assert other != mine
    with pytest.raises(ValueError, match="non-negative"):
        rs.fault_trial(analysis, "conv1", "acc", "flip", -1, 5)
