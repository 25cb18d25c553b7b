"""Tests of SbS training (back-propagation through the mean-field state) and evaluation."""

from __future__ import annotations

import os

import numpy as np
import pytest

from refmodels.sbs import build_layers, classify, load_network, run
from refmodels.sbs.backprop import W_FLOOR, _input_q, backward, forward, train_backprop
from refmodels.sbs.evaluate import heldout_split, load_named, resolve_config, sweep
from refmodels.sbs.train import (
    DIGITS_TOPOLOGY,
    MNIST_TOPOLOGY,
    NET_DIR,
    load_digits_split,
    network_name,
    train_named,
)

SMALL = [
    {"type": "input", "shape": [6, 6], "encoding": "linear"},
    {"type": "conv", "n_h": 4, "kernel": [3, 3], "eps": 0.05},
    {"type": "pool", "kernel": [2, 2], "eps": 0.1},
    {"type": "output", "n_h": 3, "eps": 0.1},
]


def _weights(layers, rs):
    ws = []
    for lay in layers:
        if lay.has_weights:
            w = rs.random((int(np.prod(lay.weight_shape[:3])), lay.n_h)) + 0.1
            ws.append(w / w.sum(axis=0))
        else:
            ws.append(None)
    return ws


@pytest.mark.parametrize("bptt", [8, 3])
def test_backprop_gradient_matches_finite_differences(bptt):
    """Hand-written gradients of -log h_out(y) against central differences.

    With bptt = iters the gradient is exact; with bptt < iters the first iterations are a
    constant start, so the finite difference is taken on the same truncated function (the start
    computed once with the unperturbed weights)."""
    layers = build_layers(SMALL)
    rs = np.random.default_rng(0)
    ws = _weights(layers, rs)
    x = rs.random((3, 36))
    y = np.array([0, 1, 2])
    q0 = _input_q(x, SMALL)
    iters = 8

    def loss(wl):
        h, cache = forward(layers, wl, q0, iters, iters)
        return -np.log(h[np.arange(3), y]).sum(), h, cache

    _, h, cache = loss(ws)
    d = np.zeros_like(h)
    d[np.arange(3), y] = -1.0 / h[np.arange(3), y]
    g = backward(ws, cache, d)
    assert g[1] is None and g[0].shape == ws[0].shape and g[2].shape == ws[2].shape
    if bptt == iters:
        for li in (0, 2):
            for _ in range(5):
                i = tuple(int(rs.integers(0, s)) for s in ws[li].shape)
                wp = [None if w is None else w.copy() for w in ws]
                wm = [None if w is None else w.copy() for w in ws]
                wp[li][i] += 1e-6
                wm[li][i] -= 1e-6
                num = (loss(wp)[0] - loss(wm)[0]) / 2e-6
                assert g[li][i] == pytest.approx(num, rel=1e-5, abs=1e-7)
    else:
        # truncated: same output, gradient close in direction to the full one
        ht, ct = forward(layers, ws, q0, iters, bptt)
        assert np.allclose(ht, h)
        gt = backward(ws, ct, d)
        for li in (0, 2):
            cos = np.sum(g[li] * gt[li]) / np.linalg.norm(g[li]) / np.linalg.norm(gt[li])
            assert cos > 0.9, cos
            assert not np.allclose(g[li], gt[li])


def test_pool_layer_is_window_average():
    top = [SMALL[0], {"type": "pool", "kernel": [2, 2], "eps": 0.1},
           {"type": "output", "n_h": 2, "eps": 0.1}]
    layers = build_layers(top)
    rs = np.random.default_rng(1)
    x = rs.random((2, 36))
    q0 = _input_q(x, top)
    # the pooled h fed to the output layer: 3 x 3 positions, 2 channels
    h, _ = forward(layers[:1], [None], q0, 5, 0)
    want = q0.reshape(2, 3, 2, 3, 2, 2).mean(axis=(2, 4))
    assert np.allclose(h.reshape(2, 3, 3, 2), want)


def test_train_backprop_tiny_subset_gives_valid_improving_network():
    xtr, ytr, xte, yte = load_digits_split()
    logs = []
    net = train_backprop(DIGITS_TOPOLOGY, xtr[:150], ytr[:150], epochs=2, batch=50,
                         lr=0.05, iters=15, bptt=5, em_epochs=1, max_patches=2000,
                         val=(xte[:100], yte[:100]), log=logs.append)
    for lay, w in zip(net.layers, net.weights, strict=True):
        if lay.has_weights:
            s = w.sum(axis=(0, 1, 2), dtype=np.float64)
            assert np.allclose(s, 1.0, atol=1e-5)
            assert w.min() >= W_FLOOR * 0.99
    losses = [float(m.split("loss ")[1].split(",")[0]) for m in logs if m.startswith("epoch")]
    assert len(losses) == 2 and losses[1] < losses[0]
    h = run(net, xte[:60], 200, seeds=0)
    assert np.mean(classify(h) == yte[:60]) > 0.7


def test_train_named_writes_network(tmp_path):
    stem = tmp_path / "digits"
    logs = []
    net, meta = train_named("digits", str(stem), epochs=1, n_train=120, log=logs.append,
                            checkpoint_dir=str(tmp_path / "ck"), val_n=20)
    ck = load_network(str(tmp_path / "ck" / "digits_ep01.json"))  # the checkpoint of epoch 1
    assert ck.meta["checkpoint_epoch"] == 1
    for a, b in zip(ck.weights, net.weights, strict=True):
        assert np.array_equal(a, b)  # one epoch: the checkpoint is the final network
    assert any("mean-field val accuracy" in m for m in logs)
    back = load_network(str(stem) + ".json")
    assert back.topology == DIGITS_TOPOLOGY
    assert back.meta["n_train"] == 120 and back.meta["dataset"] == "digits"
    assert 0.5 < back.meta["meanfield_test_accuracy"] <= 1
    for w in back.weights:
        assert np.allclose(w.sum(axis=(0, 1, 2), dtype=np.float64), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="unknown network.*mnist_published"):
        train_named("cifar", None)
    with pytest.raises(ValueError, match="method"):
        train_named("digits", None, method="sgd")


def test_quantisation_aware_fine_tuning(tmp_path):
    start = load_network(os.path.join(NET_DIR, "digits"))
    net, meta = train_named("digits", str(tmp_path / "d_e4m1"), quantise="e4m1", epochs=1,
                            n_train=200, start=start, log=lambda m: None)
    assert meta["weights_for"] == "e4m1" and "quantisation-aware" in meta["method"]
    back = load_network(tmp_path / "d_e4m1.json")
    moved = False
    for a, b in zip(start.weights, back.weights, strict=True):
        assert np.allclose(b.sum(axis=(0, 1, 2), dtype=np.float64), 1.0, atol=1e-5)
        moved |= not np.array_equal(a, b)
    assert moved
    assert meta["meanfield_test_accuracy"] > 0.9
    with pytest.raises(ValueError, match="coded"):
        train_backprop(DIGITS_TOPOLOGY, np.zeros((2, 64)), [0, 1], epochs=0, start=start,
                       quantise="float32")
    with pytest.raises(ValueError, match="topology"):
        train_backprop(MNIST_TOPOLOGY, np.zeros((2, 784)), [0, 1], epochs=0, start=start)


def test_noise_augmented_fine_tuning():
    start = load_network(os.path.join(NET_DIR, "digits"))
    net, meta = train_named("digits", None, noise_augment=0.5, epochs=1, n_train=100,
                            start=start, log=lambda m: None)
    assert meta["n_train"] == 200 and meta["noise_augment"] == 0.5  # clean + noisy copies
    assert "noise-augmented" in meta["method"]
    assert any(not np.array_equal(a, b) for a, b in zip(start.weights, net.weights, strict=True))
    with pytest.raises(ValueError, match="noise_augment"):
        train_named("digits", None, noise_augment=1.5)
    assert network_name("mnist", "e4m1", 50) == "mnist_e4m1_noise50"


def test_stored_networks_topology_and_accuracy_floor():
    """Stored networks: documented topologies; accuracy floors on small fixed subsets."""
    digits = load_network(os.path.join(NET_DIR, "digits"))
    mnist = load_network(os.path.join(NET_DIR, "mnist"))
    assert digits.topology == DIGITS_TOPOLOGY and mnist.topology == MNIST_TOPOLOGY
    assert "back-propagation" in mnist.meta["method"]
    x, y = heldout_split("digits")
    acc = np.mean(classify(run(digits, x[:100], 150, seeds=0)) == y[:100])
    assert acc >= 0.95, acc  # 98 % when written
    x, y = heldout_split("mnist")
    assert len(x) == 1000
    acc = np.mean(classify(run(mnist, x[:50], 150, seeds=0)) == y[:50])
    assert acc >= 0.85, acc  # 90 % when written


def test_resolve_config_and_sweep():
    assert resolve_config("float32") == ("float32", "float32")
    assert resolve_config("e3m2")[0] == "e3m2"
    assert resolve_config("log4-fixed")[0] == "log4"
    for bad in ["foo", "float32-fixed", "", "e4m1-fixd"]:
        with pytest.raises(ValueError):
            resolve_config(bad)
    net, ds = load_named("digits")
    assert ds == "digits"
    with pytest.raises(ValueError, match="unknown network"):
        load_named("no_such_network")
    x, y = heldout_split("digits")
    rows = sweep(net, x[:20], y[:20], Ts=[5, 20], configs=["float32", "log4-fixed"],
                 noise=[0.0, 0.5], rngs=["xorshift", "mt19937"])
    kinds = [(r["experiment"], r["config"], r["T"], r["noise_pct"], r["rng"]) for r in rows]
    assert ("T", "log4-fixed", 5, 0.0, "xorshift") in kinds
    assert ("noise", "float32", 20, 50.0, "xorshift") in kinds
    assert ("rng", "float32", 20, 0.0, "mt19937") in kinds
    assert len(rows) == 2 * 2 + 2 * 2 + 2 * 2
    acc = {k: r["accuracy"] for k, r in zip(kinds, rows, strict=True)}
    # the noise-0 run at T=20 is the T-sweep run (cached, same seeds)
    assert acc[("noise", "float32", 20, 0.0, "xorshift")] == acc[("T", "float32", 20, 0.0,
                                                                   "xorshift")]
    with pytest.raises(ValueError):
        sweep(net, x[:2], y[:2], Ts=[0], configs=["float32"])
    with pytest.raises(ValueError):
        sweep(net, x[:2], y[:2], Ts=[1], configs=["float32"], rngs=["lcg"])


def test_published_topology_is_trainable_by_name():
    from refmodels.sbs.model import mnist_published_topology
    from refmodels.sbs.train import NETWORKS

    assert NETWORKS["mnist_published"] == ("mnist", mnist_published_topology())
    assert [lay["type"] for lay in mnist_published_topology()] == [
        "input", "conv", "pool", "conv", "pool", "fc", "output"]


def test_on_device_rule_learns_a_forgotten_class():
    """refmodels.sbs.learn: only the clamped class's column moves, towards the class mean of
    the inputs; on spikes, a class whose output weights were made uniform is learnt back."""
    from refmodels.sbs.learn import accuracy, learn_output, output_inputs

    rs = np.random.default_rng(3)
    w = rs.random((12, 3)) + 0.1
    w /= w.sum(axis=0)
    hp = rs.dirichlet(np.ones(12), size=40)
    w2 = learn_output(w, hp, np.full(40, 1), 3, epochs=20, gamma=0.2)
    assert np.array_equal(w2[:, [0, 2]], w[:, [0, 2]])
    assert np.abs(w2[:, 1] - hp.mean(axis=0)).max() < 0.2 * np.abs(w[:, 1] - hp.mean(0)).max()

    net = load_network(os.path.join(NET_DIR, "digits"))
    xtr, ytr, _, _ = load_digits_split()
    x, y = heldout_split("digits")
    x, y = x[:80], y[:80]
    lay = net.layers[-1]
    wf = net.weights[-1].reshape(-1, lay.n_h).astype(np.float64)
    forgot = wf.copy()
    forgot[:, 3] = 1.0 / len(wf)
    learnt = learn_output(forgot, output_inputs(net, xtr[ytr == 3][:40], 60, seed=500),
                          np.full(40, 3), lay.n_h, epochs=3, gamma=0.2)
    from refmodels.sbs.learn import _with_output

    before = accuracy(_with_output(net, forgot), x, y, 60)[y == 3].mean()
    after = accuracy(_with_output(net, learnt), x, y, 60)[y == 3].mean()
    assert after >= before + 0.3, (before, after)
