"""The compiled engine (``impl="fast"``) against the numpy model, and the float32 normalisation.

Both datapaths of the engine perform the operations of ``model.update_float`` /
``model.update_fixed`` in the same order (integers for the fixed point; IEEE float32 without
fast-math and the specified 16-lane sum for float32), so the comparison tolerance is zero: every
state of every layer must be bit-identical to the vectorised model on the same spikes.
"""

from __future__ import annotations

import numpy as np
import pytest

from refmodels.sbs import build_layers, run, update_float
from refmodels.sbs.fast import HAVE_NUMBA
from refmodels.sbs.model import Network

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")

# conv with 20 latents (two 16-lane chunks, padded), pool, fc, output: every layer kind
WIDE = [
    {"type": "input", "shape": [9, 9], "encoding": "relu"},
    {"type": "conv", "n_h": 20, "kernel": [4, 3], "eps": 0.02},
    {"type": "pool", "kernel": [3, 7], "eps": 0.1},
    {"type": "fc", "n_h": 37, "eps": 0.05},
    {"type": "output", "n_h": 5, "eps": 0.1},
]


def random_net(topology, seed=0):
    rs = np.random.default_rng(seed)
    ws = []
    for lay in build_layers(topology):
        if lay.has_weights:
            w = rs.random(lay.weight_shape) ** 3 + 1e-3
            ws.append((w / w.sum(axis=(0, 1, 2))).astype(np.float32))
        else:
            ws.append(None)
    return Network(topology, ws)


def images(n, seed=3):
    x = np.random.default_rng(seed).random((n, 81))
    x[0, :10] = 0.5  # relu encoding: no spike from these pixels
    x[1] = 0.5  # a pattern whose input emits no spike at all
    return x


@pytest.mark.parametrize("rng", ["xorshift", "mt19937"])
@pytest.mark.parametrize("schedule", ["layer", "step"])
@pytest.mark.parametrize("cfg", [("float32", "float32"), ("e4m1", "float32"),
                                 ("e4m1", "fixed"), ("log4", "fixed")])
def test_fast_equals_vectorised(cfg, schedule, rng):
    wf, h = cfg
    net = random_net(WIDE)
    x = images(3)
    a, sa = run(net, x, 9, weights=wf, h=h, schedule=schedule, rng=rng, impl="vec",
                return_all=True, seeds=5)
    b, sb = run(net, x, 9, weights=wf, h=h, schedule=schedule, rng=rng, impl="fast",
                return_all=True, seeds=5)
    for u, v in zip(sa, sb, strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert np.array_equal(u, v)
    assert np.array_equal(a, b)
    assert not np.array_equal(sa[0][0], sa[0][2])  # the patterns did evolve differently


def test_fast_equals_loop_and_threads():
    """The per-IP Python loop is the independent reference; thread count changes nothing."""
    net = random_net(WIDE, seed=1)
    x = images(2, seed=4)
    ref = run(net, x, 3, impl="loop", return_all=True)[1]
    for t in (1, 2):
        got = run(net, x, 3, impl="fast", threads=t, return_all=True)[1]
        assert all(np.array_equal(u, v) for u, v in zip(ref, got, strict=True))
    with pytest.raises(ValueError):
        run(net, x, 3, impl="fast", threads=0)
    with pytest.raises(ValueError):
        run(net, x, 3, impl="nope")


def test_float32_sum_unbiased_over_1e5_updates():
    """sum(h) stays within 1e-6 of 1 over 10^5 updates (eps 0.004, 32 latents).

    The old rule ``(h + eps p / r) / float32(1 + eps)`` settles sum(h) at
    ``eps / (float32(1 + eps) - 1)`` = 1 + 1.29e-5 for eps = 0.004; the check below shows it
    (so the 1e-6 bound can fail). With the step form the float32 roundings (about 2^-25
    relative per latent and update, unbiased) are contracted by (1 - b) per update.
    """
    topo = [
        {"type": "input", "shape": [10, 10], "encoding": "linear"},
        {"type": "conv", "n_h": 32, "kernel": [10, 10], "eps": 0.004},
        {"type": "output", "n_h": 2, "eps": 0.1},
    ]
    net = random_net(topo, seed=2)
    x = np.random.default_rng(5).random((4, 100))
    worst = 0.0
    for T in (3, 30, 300, 1000):  # prefixes of the same spike streams: 100 updates per step
        _, st = run(net, x, T, return_all=True)
        s = st[0].astype(np.float64).sum(axis=-1)
        worst = max(worst, float(np.abs(s - 1).max()))
    assert worst < 1e-6, worst
    # the old rule on random spikes drifts by ~1.3e-5
    rs = np.random.default_rng(6)
    w = net.weights[0].reshape(-1, 32)
    h = np.full((64, 32), 1 / 32, np.float32)
    e32 = np.float32(0.004)
    for _ in range(3000):
        p = h * w[rs.integers(0, len(w), 64)]
        h = (h + e32 * (p / p.sum(axis=1, keepdims=True))) / (np.float32(1) + e32)
    assert np.abs(h.astype(np.float64).sum(axis=1) - 1).mean() > 1e-5
    # and the current rule on the same kind of spikes does not
    h = np.full((64, 32), 1 / 32, np.float32)
    for _ in range(3000):
        h = update_float(h, w[rs.integers(0, len(w), 64)], 0.004)
    assert np.abs(h.astype(np.float64).sum(axis=1) - 1).max() < 1e-6
