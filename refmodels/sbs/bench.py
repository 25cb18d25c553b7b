"""Speed of the SbS golden model: IP-spike updates per second, compiled engine vs numpy.

``python -m refmodels.sbs.bench [--patterns 10] [--updates-per-ip 1000] [--steps 100]
[--vec-steps 10] [--threads 1,2] [--case conv,published]``

An *IP-spike update* is one application of the update equation to the N_H latents of one IP
(one incoming spike); a layer of ``X Y`` IPs with a ``K_X x K_Y`` kernel performs
``X Y K_X K_Y`` of them per spike step and pattern. Two workloads (random normalised weights,
schedule "layer", xorshift spikes), each with float32 h and with the fixed-point h (E4M1):

* ``conv``: one conv layer of 24x24 IPs with 32 latents and a 5x5 kernel on a 28x28 ON/OFF
  input, ``--patterns`` patterns, ``--updates-per-ip`` updates per IP (40 steps for 1000);
* ``published``: the published MNIST topology end to end (28x28x2 -> conv 5x5x32 -> pool 2 ->
  conv 5x5x64 -> pool 2 -> fc 1024 -> output 10), ``--steps`` spike steps (``--vec-steps`` for
  the numpy path).

Only the simulation is timed (tables, generators and states are set up before the clock
starts, and the compiled kernels are warmed up first). Printed per path and thread count:
updates per wall-clock second (``M upd/s``), updates per CPU-second of the process
(``M upd/CPU-s``: the CPU time counts every thread, so this is the rate per thread, and on a
machine shared with other jobs it is the figure that depends least on the load), and the
ratios to the numpy path (wall clock, and per CPU-second) and to one thread (wall clock).
The numpy path (``impl="vec"``) runs on one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .fast import HAVE_NUMBA
from .model import Network, build_layers, mnist_published_topology, prepare

__all__ = ["random_network", "conv_topology", "updates_per_step", "measure", "main"]


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


def conv_topology() -> list[dict]:
    """28x28 ON/OFF input -> conv 5x5, 32 latents (24x24 IPs) -> output (not timed)."""
    return [
        {"type": "input", "shape": [28, 28], "encoding": "linear"},
        {"type": "conv", "n_h": 32, "kernel": [5, 5], "eps": 0.1 / 25},
        {"type": "output", "n_h": 10, "eps": 0.1},
    ]


def updates_per_step(net: Network, n_layers: int | None = None) -> int:
    """IP-spike updates per spike step and pattern of the first ``n_layers`` layers."""
    return sum(lay.n_ip * lay.kernel[0] * lay.kernel[1] for lay in net.layers[:n_layers])


def measure(net, images, steps, impl, h, weights, threads=None, n_layers=None):
    """(wall seconds, process CPU seconds) of the simulation alone."""
    prep = prepare(net, images, steps, weights=weights, h=h, impl=impl, threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    prep.simulate(n_layers)
    return time.perf_counter() - t0, time.process_time() - c0


def _bench_case(title, net, n_layers, patterns, steps, vec_steps, thread_counts):
    img = np.random.default_rng(1).random((patterns, *net.input_shape))
    ups = updates_per_step(net, n_layers)
    print(f"\n{title}")
    print(f"  {ups:,} IP-spike updates per step and pattern; {patterns} patterns; "
          f"{steps} steps (numpy path: {vec_steps})")
    print(f"  {'h / weights':18s} {'path':14s} {'updates':>12s} {'wall s':>8s} "
          f"{'M upd/s':>9s} {'M upd/CPU-s':>12s} {'vs numpy':>9s} {'(CPU)':>7s} "
          f"{'vs 1 thr':>9s}")
    rows = []
    for h, w in (("float32", "float32"), ("fixed", "e4m1")):
        runs = [("numpy (vec)", "vec", None, vec_steps)]
        if HAVE_NUMBA:
            prep = prepare(net, img[:1], 1, weights=w, h=h, impl="fast")  # compile / warm up
            prep.simulate(n_layers)
            runs += [(f"fast, {t} thr", "fast", t, steps) for t in thread_counts]
        base = base_cpu = one = None
        for label, impl, thr, st in runs:
            wall, cpu = measure(net, img, st, impl, h, w, thr, n_layers)
            n_upd = ups * patterns * st
            rate = n_upd / wall
            per_thr = n_upd / max(cpu, 1e-9)
            if impl == "vec":
                base, base_cpu = rate, per_thr
            if thr == 1:
                one = rate
            vs_np = (f"{rate / base:8.1f}x {per_thr / base_cpu:6.1f}x" if impl != "vec"
                     else f"{'-':>9s} {'-':>7s}")
            vs_one = f"{rate / one:8.2f}x" if thr and one else f"{'-':>9s}"
            print(f"  {h + ' / ' + w:18s} {label:14s} {n_upd:12,d} {wall:8.3f} "
                  f"{rate / 1e6:9.2f} {per_thr / 1e6:12.2f} {vs_np} {vs_one}")
            rows.append({"case": title, "h": h, "weights": w, "path": label, "updates": n_upd,
                         "wall_s": wall, "cpu_s": cpu, "updates_per_s": rate,
                         "updates_per_cpu_s": per_thr})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="SbS golden model speed (IP-spike updates/s)")
    ap.add_argument("--case", default="conv,published",
                    help="comma list of conv, published (default: both)")
    ap.add_argument("--patterns", type=int, default=10, help="patterns per run (default 10)")
    ap.add_argument("--updates-per-ip", type=int, default=1000,
                    help="conv case: updates per IP, a multiple of 25 (default 1000)")
    ap.add_argument("--steps", type=int, default=100,
                    help="published case: spike steps of the compiled engine (default 100)")
    ap.add_argument("--vec-steps", type=int, default=10,
                    help="published case: spike steps of the numpy path (default 10)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    args = ap.parse_args(argv)
    try:
        cases = [c for c in args.case.split(",") if c]
        bad = set(cases) - {"conv", "published"}
        if bad or not cases:
            raise ValueError(f"unknown case {sorted(bad)}; valid: conv, published")
        threads = [int(t) for t in args.threads.split(",") if t]
        if not threads or min(threads) < 1:
            raise ValueError("thread counts must be positive integers")
        for name in ("patterns", "updates_per_ip", "steps", "vec_steps"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if args.updates_per_ip % 25:
            raise ValueError("--updates-per-ip must be a multiple of 25 (5x5 updates per step)")
    except ValueError as exc:
        ap.error(str(exc))
    if not HAVE_NUMBA:
        print("numba is not installed: only the numpy path is measured")
    if "conv" in cases:
        net = random_network(conv_topology())
        st = args.updates_per_ip // 25
        _bench_case(f"conv case: 24x24 IPs, 32 latents, 5x5 kernel, "
                    f"{args.updates_per_ip} updates per IP", net, 1, args.patterns, st, st,
                    threads)
    if "published" in cases:
        net = random_network(mnist_published_topology())
        ops = sum(lay.ops_per_step() for lay in net.layers)
        _bench_case(f"published MNIST topology ({ops / 1e6:.2f} M operations per spike step)",
                    net, None, args.patterns, args.steps, args.vec_steps, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
