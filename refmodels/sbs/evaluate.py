"""Accuracy of a stored SbS network: weight formats, h representations, T and input noise.

``python -m refmodels.sbs.evaluate digits --T 1000 --n 360 --noise 0 0.25 0.5``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .formats import HFixed
from .model import add_noise, classify, load_network, run
from .train import NET_DIR, load_digits_split, load_mnist_split

__all__ = ["accuracy", "CONFIGS"]

# (label, weight format, h representation)
CONFIGS = {
    "float32": ("float32", "float32"),
    "e4m1": ("e4m1", "float32"),
    "log4": ("log4", "float32"),
    "e4m1-fixed": ("e4m1", HFixed()),
    "log4-fixed": ("log4", HFixed()),
}


def accuracy(net, x, y, T, config="float32", seed=0, rng="xorshift", batch=100) -> float:
    """Fraction of ``x`` classified as ``y`` after T spikes (patterns in batches)."""
    wf, hr = CONFIGS[config]
    hits = 0
    for k in range(0, len(x), batch):
        h = run(net, x[k : k + batch], T, seeds=seed + k, weights=wf, h=hr, rng=rng)
        hits += int(np.sum(classify(h) == y[k : k + batch]))
    return hits / len(x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="evaluate a stored SbS network")
    ap.add_argument("which", choices=["digits", "mnist"])
    ap.add_argument("--T", type=int, nargs="+", default=[1000])
    ap.add_argument("--n", type=int, default=None, help="first n test patterns")
    ap.add_argument("--configs", nargs="+", default=["float32", "e4m1", "log4"],
                    choices=sorted(CONFIGS))
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0])
    ap.add_argument("--rng", default="xorshift", choices=["xorshift", "mt19937"])
    args = ap.parse_args(argv)
    net = load_network(os.path.join(NET_DIR, args.which))
    split = load_digits_split if args.which == "digits" else load_mnist_split
    _, _, xte, yte = split()
    if args.n:
        xte, yte = xte[: args.n], yte[: args.n]
    print(f"{args.which}: {len(xte)} test patterns, rng {args.rng}")
    for noise in args.noise:
        xn = np.clip(add_noise(xte, noise, seed=1), 0, 1) if noise else xte
        for T in args.T:
            for cfg in args.configs:
                t0 = time.time()
                acc = accuracy(net, xn, yte, T, cfg, rng=args.rng)
                print(f"noise {noise:4.2f}  T {T:5d}  {cfg:11s} accuracy {acc:.4f}"
                      f"  ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
