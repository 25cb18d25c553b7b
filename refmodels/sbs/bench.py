"""Speed of the SbS golden model: spike steps per second, vectorised vs per-IP loop.

``python -m refmodels.sbs.bench [--steps 5] [--loop-steps 1]`` runs the published MNIST
topology (random normalised weights, one pattern, schedule "step": one spike step = one update
round of every layer) with float32 h and with the fixed-point h (E4M1 weights).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .model import Network, build_layers, mnist_published_topology, run

__all__ = ["random_network", "measure"]


def random_network(topology, seed: int = 0) -> Network:
    rs = np.random.default_rng(seed)
    ws = []
    for lay in build_layers(topology):
        if lay.has_weights:
            w = rs.random(lay.weight_shape) ** 4 + 1e-3
            ws.append((w / w.sum(axis=(0, 1, 2))).astype(np.float32))
        else:
            ws.append(None)
    return Network(topology, ws)


def measure(net: Network, steps: int, impl: str, h: str, weights: str) -> float:
    """Spike steps per second of ``run`` (one pattern, schedule "step")."""
    img = np.random.default_rng(1).random((1, *net.input_shape))
    t0 = time.perf_counter()
    run(net, img, steps, weights=weights, h=h, impl=impl, schedule="step")
    return steps / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="SbS golden model speed")
    ap.add_argument("--steps", type=int, default=5, help="steps of the vectorised model")
    ap.add_argument("--loop-steps", type=int, default=1, help="steps of the per-IP loop")
    args = ap.parse_args(argv)
    net = random_network(mnist_published_topology())
    ops = sum(lay.ops_per_step() for lay in net.layers)
    print(f"published MNIST topology, {ops / 1e6:.1f} M operations per spike step")
    print(f"{'h / weights':22s} {'vectorised steps/s':>19s} {'per-IP loop steps/s':>20s} "
          f"{'ratio':>7s}")
    for h, w in (("float32", "float32"), ("fixed", "e4m1")):
        v = measure(net, args.steps, "vec", h, w)
        lp = measure(net, args.loop_steps, "loop", h, w)
        print(f"{h + ' / ' + w:22s} {v:19.3f} {lp:20.4f} {v / lp:7.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
