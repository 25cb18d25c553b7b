"""Throughput of the int8 golden models: exact TFLite path vs the approximate-multiplier path.

``python -m refmodels.cnn.bench [--network mnist] [--images 1000] [--unit drum:k=4,...]``
prints images/s for both paths on the same network and images in one run, and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .approx import ApproxMul
from .net import load_dataset, load_network


def _best_of(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(network="mnist", images=1000, unit="drum:k=4,width=8,signed=1", repeat=3, hf6=False):
    net = load_network(network)
    _, _, xte, _ = load_dataset(net.topology["dataset"])
    x = np.concatenate([xte] * (images // len(xte) + 1))[:images]
    xq = net.quantize_input(x)
    mul = ApproxMul.from_unit(unit)
    t_ex, out_ex = _best_of(lambda: net.forward_int8(xq), repeat)
    t_ap, out_ap = _best_of(lambda: net.forward_int8(xq, mul), repeat)
    res = {
        "network": network,
        "images": images,
        "unit": str(mul.name),
        "exact_img_s": images / t_ex,
        "approx_img_s": images / t_ap,
        "ratio": t_ap / t_ex,
        "differing_outputs": float(np.mean(np.any(out_ex != out_ap, axis=1))),
    }
    if hf6:
        t_h, _ = _best_of(lambda: net.forward_hf6(x), 1)
        res["hf6_img_s"] = images / t_h
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="mnist")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--unit", default="drum:k=4,width=8,signed=1")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hf6", action="store_true", help="also time the HF6 path")
    args = ap.parse_args(argv)
    r = run(args.network, args.images, args.unit, args.repeat, args.hf6)
    print(f"network {r['network']}, {r['images']} images, unit {r['unit']}")
    print(f"int8 exact (TFLite path): {r['exact_img_s']:10.1f} images/s")
    print(f"int8 approximate (LUT):   {r['approx_img_s']:10.1f} images/s")
    print(f"approximate / exact time: {r['ratio']:.2f}x")
    if "hf6_img_s" in r:
        print(f"HF6 (bit-exact MAC):      {r['hf6_img_s']:10.1f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
