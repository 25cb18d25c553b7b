"""Accuracy of a stored SbS network: weight formats, h representations, T, input noise, RNG.

``python -m refmodels.sbs.evaluate digits --T 1000 --n 360 --noise 0 0.25 0.5``

A *configuration* names the weight format and the h representation: a weight format of
``refmodels.sbs.formats`` (``float32``, ``e4m1``, ``log4``, ``e3m2``, ...) runs with float32 h;
the suffix ``-fixed`` (``e4m1-fixed``, ``log4-fixed``) runs the fixed-point h datapath
(``HFixed()``), which needs a coded weight format.

``sweep`` measures, on one test set (spike seeds ``seed + pattern index``, so every
configuration sees the same spike streams):

* ``T``: accuracy of every configuration at every T (no noise, the main RNG);
* ``noise``: accuracy at ``noise_T`` for every noise level (``add_noise``, noise seed 1,
  clipped to [0, 1]);
* ``rng`` (when more than one generator is given): accuracy at ``noise_T`` with every spike
  generator (xorshift vs mt19937).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .formats import FormatError, HFixed, parse_format
from .model import add_noise, classify, load_network, run
from .rng import RNG_KINDS
from .train import NET_DIR, load_digits_split, load_mnist_split

__all__ = ["accuracy", "CONFIGS", "resolve_config", "sweep", "NETWORKS", "load_named",
           "heldout_split"]

# (label, weight format, h representation)
CONFIGS = {
    "float32": ("float32", "float32"),
    "e4m1": ("e4m1", "float32"),
    "log4": ("log4", "float32"),
    "e4m1-fixed": ("e4m1", HFixed()),
    "log4-fixed": ("log4", HFixed()),
}

#: Stored networks by name and the data set each was trained on.
NETWORKS = ("digits", "mnist")


def resolve_config(name: str):
    """``(weight format, h)`` of a configuration name; ValueError naming the valid ones."""
    if not isinstance(name, str) or not name:
        raise ValueError("empty format name")
    if name in CONFIGS:
        return CONFIGS[name]
    base, fixed = (name[: -len("-fixed")], True) if name.endswith("-fixed") else (name, False)
    try:
        fmt = parse_format(base)
    except FormatError:
        raise ValueError(
            f"unknown format {name!r}; valid: float32, e<E>m<M> (e.g. e4m1), "
            f"log<E> (e.g. log4), each coded one optionally with -fixed (fixed-point h)"
        ) from None
    if fixed and fmt.is_float:
        raise ValueError(f"{name!r}: the fixed-point h needs a coded weight format (e4m1, log4)")
    return fmt.name, (HFixed() if fixed else "float32")


def accuracy(net, x, y, T, config="float32", seed=0, rng="xorshift", batch=100) -> float:
    """Fraction of ``x`` classified as ``y`` after T spikes (patterns in batches)."""
    wf, hr = resolve_config(config)
    hits = 0
    for k in range(0, len(x), batch):
        h = run(net, x[k : k + batch], T, seeds=seed + k, weights=wf, h=hr, rng=rng)
        hits += int(np.sum(classify(h) == y[k : k + batch]))
    return hits / len(x)


def heldout_split(dataset: str):
    """Held-out test images and labels of ``digits`` or ``mnist`` (20 %, seed 0)."""
    if dataset not in NETWORKS:
        raise ValueError(f"unknown data set {dataset!r}; valid: {', '.join(NETWORKS)}")
    split = load_digits_split if dataset == "digits" else load_mnist_split
    _, _, xte, yte = split()
    return xte, yte


def load_named(name: str):
    """A stored network by name (``digits``, ``mnist``) or by file (``.json`` / stem).

    Returns ``(network, data set name)``; the data set of a file comes from its
    ``meta["dataset"]``.
    """
    if name in NETWORKS:
        net = load_network(os.path.join(NET_DIR, name))
        return net, name
    stem = name[:-5] if name.endswith(".json") else name
    stored = os.path.join(NET_DIR, stem)
    if os.sep not in stem and not os.path.isfile(stem + ".json") and \
            os.path.isfile(stored + ".json"):
        stem = stored  # another stored network by name (mnist_published, mnist_e4m1, ...)
    if not os.path.isfile(stem + ".json"):
        raise ValueError(
            f"unknown network {name!r}: give one of {', '.join(NETWORKS)} or a network file "
            f"(.json written by save_network)"
        )
    net = load_network(stem)
    ds = net.meta.get("dataset")
    if ds not in NETWORKS:
        raise ValueError(f"{stem}.json: meta.dataset must be one of {NETWORKS}, got {ds!r}")
    return net, ds


def sweep(net, x, y, *, Ts, configs, noise=(), noise_T=None, rngs=("xorshift",), seed=0,
          batch=100, log=None, noise_configs=None) -> list[dict]:
    """Accuracy rows (dicts) for T, noise and RNG sweeps (see module docstring).

    ``noise``: levels in [0, 1]; ``rngs``: the first is the main generator, the others are
    compared at ``noise_T`` (default: the largest T); ``noise_configs``: the configurations of
    the noise and RNG runs (default: ``configs``).
    """
    Ts = [int(t) for t in Ts]
    if not Ts or any(t < 1 for t in Ts):
        raise ValueError("T values must be positive integers")
    noise_configs = list(configs if noise_configs is None else noise_configs)
    for c in [*configs, *noise_configs]:
        resolve_config(c)
    for r in rngs:
        if r not in RNG_KINDS:
            raise ValueError(f"unknown rng {r!r}; valid: {', '.join(RNG_KINDS)}")
    for a in noise:
        if not 0 <= a <= 1:
            raise ValueError(f"noise level {a} outside [0, 1]")
    nT = int(noise_T) if noise_T is not None else max(Ts)
    main = rngs[0]
    rows: list[dict] = []
    done: dict[tuple, float] = {}

    def one(kind, cfg, T, level, rng):
        key = (cfg, T, level, rng)
        t0 = time.time()
        if key in done:
            acc, sec = done[key], 0.0
        else:
            xn = np.clip(add_noise(x, level, seed=1), 0, 1) if level else x
            acc = accuracy(net, xn, y, T, cfg, seed=seed, rng=rng, batch=batch)
            sec = time.time() - t0
            done[key] = acc
        row = {"experiment": kind, "config": cfg, "T": T, "noise_pct": round(level * 100, 6),
               "rng": rng, "n": len(x), "accuracy": acc, "seconds": round(sec, 1)}
        rows.append(row)
        if log:
            log(f"{kind:5s} {cfg:11s} T {T:5d} noise {level * 100:3.0f} % {rng:8s} "
                f"accuracy {acc * 100:6.2f} %  ({sec:.0f} s)")

    for cfg in configs:
        for T in Ts:
            one("T", cfg, T, 0.0, main)
    for cfg in noise_configs:
        for level in noise:
            one("noise", cfg, nT, float(level), main)
    if len(rngs) > 1:
        for cfg in noise_configs:
            for r in rngs:
                one("rng", cfg, nT, 0.0, r)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="evaluate a stored SbS network")
    ap.add_argument("which", choices=list(NETWORKS))
    ap.add_argument("--T", type=int, nargs="+", default=[1000])
    ap.add_argument("--n", type=int, default=None, help="first n test patterns")
    ap.add_argument("--configs", nargs="+", default=["float32", "e4m1", "log4"])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0])
    ap.add_argument("--rng", default="xorshift", choices=list(RNG_KINDS))
    args = ap.parse_args(argv)
    net, ds = load_named(args.which)
    xte, yte = heldout_split(ds)
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
