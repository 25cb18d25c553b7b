"""Scaling of the ``approxnn explore`` jobs on Dask: the sensitivity stage (every unit alone in
every layer, measured and predicted) in this process and on local clusters of 1..N worker
processes, timed side by side in one run.

``python -m approxnn.explore_bench [--network digits] [--workers 1,2] [--images 360]
[--units ...] [--threads 1] [--repeat 1]``

Every configuration computes the same jobs from the same cold analysis (a deep copy taken
before any job ran) and its results are checked to be equal to the in-process ones. Each
process (this one and every worker) runs numba kernels on ``--threads`` threads (1: the
workers are the only parallelism, so 1 worker against this process measures the Dask
overhead and N workers the scaling; the BLAS thread pools are limited the same way, as Dask
does in its workers). Not timed: cluster start-up and a warm-up job on every
worker (imports, numba's compiled-kernel cache, on a separate small analysis), which a long
campaign pays once. Timed: sending the analysis to the workers (reported apart) and the jobs.
The machine's load average is printed before and after: on a shared machine the speed-up
measures what the other jobs leave free; the CPU seconds (user + system) of this process's
jobs and of the worker processes (all their threads, from sending the analysis to the last
result) do not depend on that share.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time


def _set_threads(n):
    """numba's and the BLAS / OpenMP pools' thread counts of this process (Dask's workers
    start with one BLAS thread; the in-process run gets the same)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _cpu():
    """(user, system) CPU seconds of this process so far."""
    t = os.times()
    return t[0], t[1]


def _warm(an, unit, layer, threads):
    from approxnn.explore_cmd import _job_sens

    _set_threads(threads)
    _job_sens(an, unit, layer)
    return os.getpid()


def main(argv=None) -> int:
    from refmodels.cnn import resilience as rs
    from refmodels.cnn.net import load_dataset

    from .cnn_cmd import library_units, parse_units, resolve_network
    from .explore_cmd import EXACT, _job_sens, local_cluster

    ap = argparse.ArgumentParser(prog="python -m approxnn.explore_bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="digits")
    ap.add_argument("--workers", default="1,2", help="worker counts (1,2)")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--units", default=None, help="units (default: the 15-unit library)")
    ap.add_argument("--threads", type=int, default=1,
                    help="numba threads per process, here and in every worker (1)")
    ap.add_argument("--dask-default-env", action="store_true",
                    help="also time every worker count with Dask's default worker environment "
                    "(MALLOC_TRIM_THRESHOLD_=65536, which the explore clusters leave out)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed runs per configuration; the fastest is reported (1)")
    a = ap.parse_args(argv)
    try:
        workers = [int(w) for w in a.workers.split(",")]
    except ValueError:
        ap.error(f"--workers must be integers, got {a.workers!r}")
    if not workers or min(workers) < 1:
        ap.error("--workers must be at least 1")
    if a.threads < 1 or a.repeat < 1:
        ap.error("--threads and --repeat must be at least 1")
    from distributed import Client

    net = resolve_network(a.network)
    units = [u for u in (parse_units(a.units) if a.units else library_units()) if u != EXACT]
    _, _, x, y = load_dataset(net.topology["dataset"])
    n = a.images or len(y)
    an = rs.Analysis(net, x[:n], y[:n])
    an._gradients()
    jobs = [(u, layer) for u in units for layer in an.layers]
    small = rs.Analysis(net, x[:8], y[:8])  # warm-up only
    small._gradients()
    cores = os.cpu_count()
    print(f"{net.name}: {len(jobs)} sensitivity jobs on {n} images; {cores} CPU cores, "
          f"numba threads per process {a.threads}; load average "
          f"{os.getloadavg()[0]:.1f} at start (a shared machine: other jobs take CPU too)")

    cold = copy.deepcopy(an)  # every configuration starts from the same cold caches
    _set_threads(a.threads)
    _warm(copy.deepcopy(small), *jobs[0], a.threads)
    t_serial, ref, cpu_serial = float("inf"), None, None
    for _ in range(a.repeat):
        work = copy.deepcopy(cold)
        c0 = _cpu()
        t = time.perf_counter()
        got = [_job_sens(work, *j) for j in jobs]
        dt = time.perf_counter() - t
        if dt < t_serial:
            t_serial, cpu_serial = dt, [b - a for a, b in zip(c0, _cpu(), strict=True)]
        ref = got if ref is None else ref
    print(f"{'in this process':>18}: {t_serial:7.2f} s  speed-up 1.00  CPU "
          f"{sum(cpu_serial):.2f} s (system {cpu_serial[1]:.2f} s)")
    old_env = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = str(a.threads)  # for the worker processes
    try:
        configs = [(w, False) for w in workers] + \
            ([(w, True) for w in workers] if a.dask_default_env else [])
        trim_env = os.environ.get("MALLOC_TRIM_THRESHOLD_")
        for w, default_env in configs:
            with local_cluster(w, default_env) as cl, Client(cl) as client:
                client.wait_for_workers(w)
                pids = client.run(_warm, copy.deepcopy(small), *jobs[0], a.threads)
                best, t_send, cpu = float("inf"), 0.0, (0.0, 0.0)
                for _ in range(a.repeat):
                    c0 = client.run(_cpu)
                    t = time.perf_counter()
                    shared = client.scatter(copy.deepcopy(cold), broadcast=True, hash=False)
                    t1 = time.perf_counter()
                    futs = [client.submit(_job_sens, shared, *j, pure=False) for j in jobs]
                    got = client.gather(futs)
                    dt = time.perf_counter() - t
                    c1 = client.run(_cpu)
                    if dt < best:
                        best, t_send = dt, t1 - t
                        cpu = tuple(sum(c1[k][i] - c0[k][i] for k in c1) for i in (0, 1))
                    del shared, futs
            # a default-environment nanny leaves its setting in this process's environment,
            # where the next cluster's workers would inherit it
            if trim_env is None:
                os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
            else:
                os.environ["MALLOC_TRIM_THRESHOLD_"] = trim_env
            if got != ref:
                print("results differ from the in-process ones", file=sys.stderr)
                return 1
            label = f"{w} Dask workers" + (" (Dask's default env.)" if default_env else "")
            print(f"{label:>18}: {best:7.2f} s  speed-up {t_serial / best:.2f}"
                  f"  CPU {sum(cpu):.2f} s (system {cpu[1]:.2f} s) in the workers"
                  f"  (sending the analysis {t_send:.2f} s; {len(pids)} worker processes)")
    finally:
        if old_env is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = old_env
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
