"""Throughput of the int8 golden models: exact TFLite path vs the approximate-multiplier path,
compiled (``impl="fast"``) and numpy (``impl="ref"``), beside LiteRT where it is installed.

``python -m refmodels.cnn.bench [--network mnist] [--images 2000] [--unit drum:k=4,...]
[--threads 1,2] [--repeat 3] [--hf6]``

Every path runs on the same network and images in one process, one after the other; BLAS is
pinned to one thread (threadpoolctl) so that numpy's matrix products do not take the other
cores. Printed per path: images per wall-clock second, images per CPU-second of the process
(the CPU time counts every thread; on a machine shared with other jobs this is the figure that
depends least on the load) and the ratios to the exact compiled path at one thread. Best of
``--repeat`` runs; the set-up (compilation, tables, interpreter) is not timed.

LiteRT (``pip install ai-edge-litert``, optional): the same integers as a ``.tflite`` model
(``refmodels.cnn.litert``), TFLite's optimized built-in kernels without any delegate
(``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``; not the reference kernels) and the
default resolver with the XNNPACK delegate (``AUTO``), batch 1 and batch 100; the last lines
give the compiled paths against the optimized built-in kernels. ``= golden``: the fraction of
images whose int8 outputs equal the numpy golden model's (of the same multiplier, default
rounding path: TFLite's reference kernels); ``= opt.``: for LiteRT, the same against the golden
model's ``rounding="optimized"`` path (float32 rescale in the FullyConnected layers, as TFLite's
optimized kernels do). ``CPU us/img``: CPU time (all threads) per image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from . import fast as fastcnn
from . import litert
from .approx import ApproxMul
from .net import load_dataset, load_network


def _best_of(fn, repeat):
    best_w = best_c = float("inf")
    out = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_w = min(best_w, time.perf_counter() - t0)
        best_c = min(best_c, time.process_time() - c0)
    return best_w, best_c, out


def run(network="mnist", images=2000, unit="drum:k=4,width=8,signed=1", repeat=3,
        threads=(1, 2), hf6=False, ref=True, with_litert=True):
    """Rows ``{"path", "threads", "img_s", "img_cpu_s", "agree"}`` (see module docstring)."""
    from threadpoolctl import threadpool_limits

    net = load_network(network)
    _, _, xte, _ = load_dataset(net.topology["dataset"])
    x = np.concatenate([xte] * (images // len(xte) + 1))[:images]
    xq = net.quantize_input(x)
    mul = ApproxMul.from_unit(unit)
    rows = []
    with threadpool_limits(1):
        golden = net.forward_int8(xq, impl="ref")
        golden_apx = net.forward_int8(xq, mul, impl="ref")
        golden_opt = net.forward_int8(xq, impl="ref", rounding="optimized")

        def add(path, thr, fn, warm=None):
            if warm is not None:
                warm()
            w, c, out = _best_of(fn, repeat)
            want = golden_apx if "approximate" in path else golden
            agree = float(np.mean(np.all(out == want, axis=1))) if out is not None else None
            rows.append({"path": path, "threads": thr, "img_s": images / w,
                         "img_cpu_s": images / c, "agree": agree})

        if fastcnn.HAVE_NUMBA:
            for t in threads:
                add("int8 exact, compiled", t,
                    lambda t=t: net.forward_int8(xq, impl="fast", threads=t),
                    lambda t=t: net.forward_int8(xq[:4], impl="fast", threads=t))
                add(f"int8 approximate ({mul.name}), compiled", t,
                    lambda t=t: net.forward_int8(xq, mul, impl="fast", threads=t),
                    lambda t=t: net.forward_int8(xq[:4], mul, impl="fast", threads=t))
        if ref:
            add("int8 exact, numpy", 1, lambda: net.forward_int8(xq, impl="ref"))
            add(f"int8 approximate ({mul.name}), numpy", 1,
                lambda: net.forward_int8(xq, mul, impl="ref"))
        if hf6:
            add("HF6 (bit-exact MAC), numpy", 1, lambda: (net.forward_hf6(x), None)[1])
        if with_litert and litert.available():
            n100 = images - images % 100
            # OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES: TFLite's optimized built-in
            # kernels (not the reference kernels), no delegate; AUTO: the default XNNPACK
            # delegate (refmodels.cnn.litert)
            for dele, name in ((False, "optimized built-in kernels, no delegate"),
                               (True, "default (XNNPACK delegate)")):
                for b in (1, 100):
                    m = litert.LiteRT(net, batch=b, threads=1, delegates=dele)
                    xs = xq[:n100] if b == 100 else xq
                    m(xs[:b])
                    w, c, out = _best_of(lambda m=m, xs=xs: m(xs), repeat)
                    rows.append({"path": f"LiteRT {name}, batch {b}", "threads": 1,
                                 "img_s": len(xs) / w, "img_cpu_s": len(xs) / c,
                                 "agree": float(np.mean(np.all(out == golden[:len(xs)],
                                                               axis=1))),
                                 "agree_opt": float(np.mean(np.all(
                                     out == golden_opt[:len(xs)], axis=1)))})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="mnist")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--unit", default="drum:k=4,width=8,signed=1")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="thread counts of the compiled path")
    ap.add_argument("--hf6", action="store_true", help="also time the HF6 path")
    ap.add_argument("--no-ref", action="store_true", help="skip the numpy paths")
    ap.add_argument("--no-litert", action="store_true", help="skip LiteRT")
    args = ap.parse_args(argv)
    try:
        threads = [int(t) for t in args.threads.split(",") if t]
        if not threads or min(threads) < 1:
            raise ValueError("thread counts must be positive integers")
        if args.images < 100 or args.repeat < 1:
            raise ValueError("--images must be >= 100 and --repeat >= 1")
    except ValueError as exc:
        ap.error(str(exc))
    rows = run(args.network, args.images, args.unit, args.repeat, threads, args.hf6,
               not args.no_ref, not args.no_litert)
    print(f"network {args.network}, {args.images} images, BLAS pinned to 1 thread")
    if not litert.available() and not args.no_litert:
        print("(LiteRT not installed: pip install ai-edge-litert to compare)")
    base = next((r for r in rows if r["path"] == "int8 exact, compiled" and r["threads"] == 1),
                rows[0])
    print(f"{'path':62s} {'thr':>3s} {'img/s':>9s} {'img/CPU-s':>10s} {'CPU us/img':>10s} "
          f"{'vs exact':>9s} {'(CPU)':>7s} {'= golden':>9s} {'= opt.':>8s}")
    for r in rows:
        agree = "-" if r["agree"] is None else f"{r['agree'] * 100:.1f} %"
        opt = f"{r['agree_opt'] * 100:.1f} %" if "agree_opt" in r else "-"
        print(f"{r['path']:62s} {r['threads']:3d} {r['img_s']:9.0f} {r['img_cpu_s']:10.0f} "
              f"{1e6 / r['img_cpu_s']:10.1f} "
              f"{r['img_s'] / base['img_s']:8.2f}x {r['img_cpu_s'] / base['img_cpu_s']:6.2f}x "
              f"{agree:>9s} {opt:>8s}")
    comp = {(r["path"].startswith("int8 approximate"), r["threads"]): r for r in rows
            if r["path"].endswith(", compiled")}
    if (True, 1) in comp and (False, 1) in comp:
        a, e = comp[(True, 1)], comp[(False, 1)]
        print(f"approximate / exact, compiled, one thread: {a['img_s'] / e['img_s']:.2f}x wall, "
              f"{a['img_cpu_s'] / e['img_cpu_s']:.2f}x per CPU-second")
    for apx in (False, True):
        one = comp.get((apx, 1))
        for (a2, t), r in comp.items():
            if a2 == apx and t > 1 and one is not None:
                print(f"{r['path']}: {t} threads / 1 thread: {r['img_s'] / one['img_s']:.2f}x "
                      f"wall, {r['img_cpu_s'] / one['img_cpu_s']:.2f}x per CPU-second")
    for batch in (1, 100):
        ref = next((r for r in rows if r["path"] == "LiteRT optimized built-in kernels, no "
                    f"delegate, batch {batch}"), None)
        if ref is None:
            continue
        for r in rows:
            if r["path"].endswith(", compiled") and r["threads"] == 1:
                print(f"{r['path']} / LiteRT optimized built-in kernels (batch {batch}), one "
                      f"thread: {r['img_s'] / ref['img_s']:.2f}x wall, "
                      f"{r['img_cpu_s'] / ref['img_cpu_s']:.2f}x per CPU-second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
