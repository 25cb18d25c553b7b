"""Scaling of the ``approxnn explore`` jobs on Dask: the sensitivity stage (every unit alone in
every layer, measured and predicted) in this process and on local clusters of 1..N worker
processes, timed side by side in one run.

``python -m approxnn.explore_bench [--network digits] [--workers 1,2] [--images 360]
[--units ...]``

Prints seconds per configuration and the speed-up over this process; the results of every
configuration are checked to be equal. Cluster start-up is not timed (the analysis is sent to
the workers inside the timed part; every configuration starts from the same cold caches).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time


def main(argv=None) -> int:
    from refmodels.cnn import resilience as rs
    from refmodels.cnn.net import load_dataset

    from .cnn_cmd import library_units, parse_units, resolve_network
    from .explore_cmd import EXACT, _job_sens

    ap = argparse.ArgumentParser(prog="python -m approxnn.explore_bench", description=__doc__)
    ap.add_argument("--network", default="digits")
    ap.add_argument("--workers", default="1,2", help="worker counts (1,2)")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--units", default=None, help="units (default: the 15-unit library)")
    a = ap.parse_args(argv)
    try:
        workers = [int(w) for w in a.workers.split(",")]
    except ValueError:
        ap.error(f"--workers must be integers, got {a.workers!r}")
    if not workers or min(workers) < 1:
        ap.error("--workers must be at least 1")
    from distributed import Client, LocalCluster

    net = resolve_network(a.network)
    units = [u for u in (parse_units(a.units) if a.units else library_units()) if u != EXACT]
    _, _, x, y = load_dataset(net.topology["dataset"])
    n = a.images or len(y)
    an = rs.Analysis(net, x[:n], y[:n])
    an._gradients()
    jobs = [(u, layer) for u in units for layer in an.layers]
    print(f"{net.name}: {len(jobs)} sensitivity jobs on {n} images")

    cold = copy.deepcopy(an)  # every configuration starts from the same cold caches
    t = time.perf_counter()
    ref = [_job_sens(an, *j) for j in jobs]
    t_serial = time.perf_counter() - t
    print(f"{'in this process':>18}: {t_serial:7.2f} s  speed-up 1.00")
    for w in workers:
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cl, Client(cl) as client:
            t = time.perf_counter()
            shared = client.scatter(copy.deepcopy(cold), broadcast=True)
            futs = [client.submit(_job_sens, shared, *j, pure=False) for j in jobs]
            got = client.gather(futs)
            dt = time.perf_counter() - t
        if got != ref:
            print("results differ from the in-process ones", file=sys.stderr)
            return 1
        print(f"{f'{w} Dask workers':>18}: {dt:7.2f} s  speed-up {t_serial / dt:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
