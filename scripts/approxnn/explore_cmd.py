"""``approxnn explore``: per-layer resilience of a CNN and the choice of one multiplier per layer
under an accuracy budget.

::

    approxnn explore NETWORK [--budget 0.5] [--units exact,trunc:t=8,...]
                     [--images N] [--generations G] [--pop P] [--seed S]
                     [--fault-trials T] [--fault-models flip,sa0,sa1] [--stat-trials T]
                     [--energy toggle|lut] [--energy-products N]
                     [--out reports/explore] [--networks DIR] [--no-synth] [--lanes P]
                     [--dask [--workers N] | --scheduler ADDRESS]

Steps (progress on stderr): unit LUTs (Yosys, cached in ``<out>/mul_costs.json``); the
switching-activity energy proxy of every unit on every layer's operands (``--energy toggle``,
:mod:`approxnn.energy`: the unit's 7-series netlist simulated on the layer's real
weight/activation stream, fanout-weighted toggles per product; a relative proxy); the
measured and predicted accuracy drop of every unit in every layer and the predictors' Spearman
correlation; fault campaigns per layer and site; statistical error injection per layer and
unit; NSGA-II over one unit per layer seeded by the predictors. Writes ``<network>_explore.md``,
``<network>_assignments.csv`` (every evaluated assignment), ``<network>_sensitivity.csv``,
``<network>_faults.csv``, ``<network>_pareto.png``, ``<network>_sensitivity.png`` and
``<network>_engine.core`` into ``--out``. The ``.core`` is the hardware of the chosen per-layer
assignment: a FuseSoC core whose generator request (``approxnn:gen:myhdl``) builds the layer
engine with every unit the assignment uses in its MAC array (``mul`` = the unit list, P =
``--lanes``, buffers of the MNIST-sized engine), with lint, sim (the network on the RTL, each
layer's MODE.MUL from the assignment) and synth targets. Results are cached in
``<out>/<network>_cache.json`` by network contents, image count, unit, layer, seed and (fault
campaigns) trial, so a re-run, an extended unit list or more ``--fault-trials`` only computes
what is new (the key also holds a digest of
the golden-model code and, for imported units, of their table); the cache is written as jobs
finish (at most every few seconds), so an interrupted run keeps what it computed.
With ``--dask`` (a local cluster) or ``--scheduler ADDRESS`` the sensitivity and campaign jobs
run on Dask workers; their results are the same as in one process (seeded per job).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from pathlib import Path

COMMAND = "explore"
DEFAULT_OUT = "reports/explore"
EXACT = "exact:width=8,signed=1"
#: Default analysis images per data set (the first ones of the test split).
DEFAULT_IMAGES = {"digits": 360, "mnist": 300}

__all__ = ["COMMAND", "add_parser", "run", "explore"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        COMMAND, help="per-layer resilience and the choice of a multiplier per layer "
        "(NSGA-II) under an accuracy budget",
        description="Per-layer sensitivity (measured and predicted), fault and statistical "
        "error-injection campaigns, and a multi-objective search of one approximate multiplier "
        "per conv/dense layer (MAC-weighted LUTs vs accuracy loss), compared with uniform "
        "assignments and exact int8.")
    p.add_argument("network", help="stored network (digits, mnist) or path to its .json; "
                   "'sbs' for the Spike-by-Spike flow (approxnn explore sbs NETWORK)")
    p.add_argument("sbs_network", nargs="?", metavar="SBS_NETWORK",
                   help="after 'sbs': the SbS network (digits, mnist or a .json)")
    p.add_argument("--budget", type=float, default=0.5,
                   help="accuracy budget: loss in percentage points against exact int8 (0.5)")
    p.add_argument("--units", help="comma-separated units (default: the library of 'approxnn "
                   "cnn evaluate --all-units', 15 signed units); the exact unit is always added")
    p.add_argument("--images", type=int, help="analysis images, the first ones of the test "
                   "split (digits: 360, mnist: 300)")
    p.add_argument("--generations", type=int, default=10, help="NSGA-II generations (10)")
    p.add_argument("--pop", type=int, default=24, help="NSGA-II population (24)")
    p.add_argument("--seed", type=int, default=0, help="seed of campaigns and search (0)")
    p.add_argument("--fault-trials", type=int, default=5,
                   help="faults per (layer, site, model); 0 skips the campaigns (5)")
    p.add_argument("--fault-models", default="flip", help="flip, sa0, sa1 (flip)")
    p.add_argument("--stat-trials", type=int, default=1,
                   help="statistical injection runs per (layer, unit); 0 skips them (1)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"report folder ({DEFAULT_OUT})")
    p.add_argument("--networks", help="network folder (default: the built-in networks)")
    p.add_argument("--strict", action="store_true",
                   help="the budget must hold for the upper end of the paired 95 %% interval "
                   "of the loss, not only for the measured loss")
    p.add_argument("--lanes", type=int, default=8,
                   help="MAC lanes P of the engine in <network>_engine.core (8)")
    p.add_argument("--no-synth", action="store_true",
                   help="no Yosys or simulation: unit LUTs and energy figures only from the "
                   "caches (<out>/mul_costs.json, <out>/<network>_cache.json)")
    p.add_argument("--energy", choices=("toggle", "lut"), default="toggle",
                   help="energy proxy: 'toggle' = fanout-weighted toggles per product of the "
                   "unit's netlist on each layer's operands (RTL simulation; a third search "
                   "objective), 'lut' = MACs x unit LUTs (toggle)")
    p.add_argument("--energy-products", type=int, default=2048,
                   help="operand pairs per layer simulated for --energy toggle (2048)")
    from . import sbs_explore

    sbs_explore.add_arguments(p.add_argument_group(
        "SbS (approxnn explore sbs NETWORK; --budget, --images, --seed, --out, --no-synth "
        "apply too)"))
    g = p.add_argument_group("Dask (sensitivity and campaign jobs; the search stays here)")
    g.add_argument("--dask", action="store_true", help="run the jobs on a local Dask cluster")
    g.add_argument("--workers", type=int, help="worker processes of --dask (2)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the jobs on the Dask scheduler at ADDRESS (tcp://host:8786)")
    return p


def _net_id(net) -> str:
    h = hashlib.sha1(json.dumps(net.topology.get("quant"), sort_keys=True).encode())
    for k in sorted(net.arrays):
        if k.endswith((".wq", ".bq")):
            h.update(k.encode())
            h.update(net.arrays[k].tobytes())
    return f"{net.name}-{h.hexdigest()[:12]}"


#: golden-model modules whose results the explore cache holds
_CODE = ("resilience.py", "hetero.py", "approx.py", "tflite.py", "net.py", "fast.py")


def _code_id() -> str:
    import refmodels.cnn

    h = hashlib.sha1()
    root = Path(refmodels.cnn.__file__).parent
    for f in _CODE:
        h.update((root / f).read_bytes())
    return h.hexdigest()[:8]


def _unit_id(u) -> str:
    """The cache name of a unit: its canonical name, plus a digest of its table when it is
    not a built-in unit (an imported table can change under the same name)."""
    from refmodels.arith import make_lut, parse_unit

    spec = parse_unit(u)
    if spec.builtin:
        return u
    return f"{u}@{hashlib.sha1(make_lut(spec).tobytes()).hexdigest()[:10]}"


class _Cache:
    def __init__(self, path, prefix):
        self.path, self.prefix = Path(path), prefix
        self.data = {}
        self.saved = time.perf_counter()
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except ValueError:
                self.data = {}

    def get(self, key):
        return self.data.get(f"{self.prefix}|{key}")

    def put(self, key, value):
        self.data[f"{self.prefix}|{key}"] = value

    def save(self):
        from .report import atomic_write

        atomic_write(self.path, json.dumps(self.data, indent=0, sort_keys=True) + "\n")
        self.saved = time.perf_counter()

    def save_every(self, seconds=5.0):
        if time.perf_counter() - self.saved >= seconds:
            self.save()


def _check(args):
    if not (math.isfinite(args.budget) and args.budget >= 0):
        raise ValueError(f"--budget must be a non-negative number of pp, got {args.budget}")
    for opt, lo in (("images", 1), ("generations", 1), ("pop", 4), ("fault_trials", 0),
                    ("stat_trials", 0), ("energy_products", 2)):
        v = getattr(args, opt)
        if v is not None and v < lo:
            raise ValueError(f"--{opt.replace('_', '-')} must be at least {lo}, got {v}")
    if args.dask and args.scheduler:
        raise ValueError("give --dask (a local cluster) or --scheduler ADDRESS, not both")
    if args.workers is not None and not args.dask:
        raise ValueError("--workers is only valid with --dask")
    from cores.cnn.engine.engine import LANES  # noqa: PLC0415

    if args.lanes not in LANES:
        raise ValueError(f"--lanes must be one of {', '.join(map(str, LANES))}, got "
                         f"{args.lanes}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    args.workers = args.workers or 2
    from refmodels.cnn.resilience import MODELS

    models = [m.strip() for m in args.fault_models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise ValueError(f"--fault-models: unknown model {bad[0] if bad else '(none)'!r}; "
                         f"valid: {', '.join(MODELS)}")
    return models


def run(args) -> int:
    if args.network == "sbs":
        from . import sbs_explore

        return sbs_explore.run(args)
    if args.sbs_network is not None:
        raise ValueError(f"unexpected argument {args.sbs_network!r} (the SbS flow is "
                         "'approxnn explore sbs NETWORK')")
    from .cnn_cmd import _check_folder, library_units, parse_units, resolve_network

    models = _check(args)
    _check_folder(args.out)
    net = resolve_network(args.network, args.networks)
    if "quant" not in net.topology:
        raise ValueError(f"network {net.name!r} is not quantised (approxnn cnn quantise)")
    units = parse_units(args.units) if args.units else library_units()
    units = [EXACT] + [u for u in units if u != EXACT]
    with _dask_client(args) as client:
        paths = explore(net, units, budget=args.budget, images=args.images,
                        generations=args.generations, pop=args.pop, seed=args.seed,
                        fault_trials=args.fault_trials, fault_models=models,
                        stat_trials=args.stat_trials, out=Path(args.out),
                        synth=not args.no_synth, client=client, strict=args.strict,
                        lanes=args.lanes, energy=args.energy,
                        energy_products=args.energy_products)
    for p in paths:
        print(f"wrote {p}")
    return 0


def local_cluster(workers, dask_default_env=False):
    """A Dask ``LocalCluster`` of ``workers`` single-threaded worker processes, started
    without the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's nannies put into every worker's
    environment by default (``distributed.nanny.pre-spawn-environ``; one set in the user's own
    environment is still inherited). That setting makes glibc hand freed memory back to the
    system at once, so every numpy temporary of a job faults its pages in again: measured on
    the digits sensitivity jobs, it doubled their CPU time in a worker (half of it system time,
    ``refmodels/cnn/README.md``). ``dask_default_env``: Dask's default environment (for
    comparison)."""
    import dask
    from distributed import LocalCluster

    cfg = {} if dask_default_env else {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with dask.config.set(cfg):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None)


class _dask_client:
    """Context: None (no Dask), a local cluster of ``--workers`` processes (``--dask``) or a
    client of the scheduler at ``--scheduler``."""

    def __init__(self, args):
        self.args, self.client, self.cluster = args, None, None

    def __enter__(self):
        a = self.args
        if not (a.dask or a.scheduler):
            return None
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--dask / --scheduler need Dask: pip install "
                             "'dask[distributed]' (the project's 'cluster' extra)") from None
        if a.scheduler:
            self.client = Client(a.scheduler, timeout="30s")
        else:
            self.cluster = local_cluster(a.workers)
            self.client = Client(self.cluster)
        sys.stderr.write(f"dask: {len(self.client.scheduler_info()['workers'])} workers at "
                         f"{self.client.scheduler.address}\n")
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


def _log(stream, msg):
    stream.write(msg + "\n")
    stream.flush()


def explore(net, units, *, budget=0.5, images=None, generations=10, pop=24, seed=0,
            fault_trials=5, fault_models=("flip",), stat_trials=1, out=Path(DEFAULT_OUT),
            synth=True, stream=None, client=None, strict=False, lanes=8, energy="lut",
            energy_products=2048):
    """The whole flow of the command; returns the written paths. ``client``: a Dask client
    that runs the sensitivity and campaign jobs (None: in this process). ``strict``: the
    budget must hold for the upper end of the paired 95 % loss interval, not only the
    measured loss. ``energy``: ``"toggle"`` (switching activity from RTL simulation, cached
    by network, unit, layer, seed and stream length) or ``"lut"`` (MACs x LUTs)."""
    from refmodels.cnn import resilience as rs
    from refmodels.cnn import search
    from refmodels.cnn.net import load_dataset

    from .cnn_cmd import unit_costs

    stream = stream or sys.stderr
    out = Path(out)
    t0 = time.perf_counter()
    costs_raw = unit_costs(units, out / "mul_costs.json", synth=synth, stream=stream)
    missing = [u for u in units if u not in costs_raw]
    if missing:
        raise ValueError(f"no LUT figure for {', '.join(missing)} in {out / 'mul_costs.json'} "
                         "(run without --no-synth)")
    luts = {u: costs_raw[u]["luts"] for u in units}
    _, _, xte, yte = load_dataset(net.topology["dataset"])
    n = min(len(yte), images or DEFAULT_IMAGES.get(net.topology["dataset"], len(yte)))
    x, y = xte[:n], yte[:n]
    cache = _Cache(out / f"{net.name}_cache.json", f"{_net_id(net)}|n{n}|c{_code_id()}")
    uid = {u: _unit_id(u) for u in units}
    etab = None
    if energy == "toggle":
        etab = _energy_figures(net, units, x, cache, seed, energy_products, synth, stream,
                               uid)
    costs = search.Costs(net, units, luts, EXACT, energy=etab)
    an = rs.Analysis(net, x, y)
    float_acc = float((net.forward(x).argmax(axis=1) == y).mean())
    _log(stream, f"{net.name}: {n} images, float32 {100 * float_acc:.2f} %, int8 "
         f"{100 * an.base_acc:.2f} %, layers {', '.join(an.layers)}")

    # 1. sensitivity: measured and predicted drop of every unit in every layer
    approx = [u for u in units if u != EXACT]
    an._gradients()  # once, before the analysis is shipped to any worker
    run = _runner(client, an, stream, t0)
    items = [(u, layer) for u in approx for layer in an.layers]
    sens = run("sensitivity", items, cache, lambda it: f"sens|{uid[it[0]]}|{it[1]}", _job_sens,
               lambda it: it,
               lambda it, r: f"{it[1]} {it[0]}: measured {100 * r['measured_drop']:+.2f} pp, "
               f"predicted {100 * r['linear']:+.2f} / {100 * r['pred_drop']:+.2f} pp")
    meas = [r["measured_drop"] for r in sens]
    rho = {k: rs.spearman(meas, [r[k] for r in sens]) for k in rs.PREDICTORS}
    _log(stream, "Spearman (predicted vs measured drop): "
         + ", ".join(f"{k} {v:.3f}" for k, v in rho.items()))
    # pairs whose measured drop is resolved: at least two images either way
    res = [r for r in sens if abs(r["measured_drop"]) * n >= 2 - 1e-9]
    rho_res = {k: rs.spearman([r["measured_drop"] for r in res], [r[k] for r in res])
               for k in rs.PREDICTORS}

    # 2. fault campaigns
    # (one cache entry per trial: a rerun with more trials computes only the new ones)
    camps = [(layer, site, m) for layer in an.layers for site in rs.SITES for m in fault_models]
    items = [(*c, t) for c in camps for t in range(fault_trials)]
    per = run("faults", items, cache, lambda it: f"fault|{it[0]}|{it[1]}|{it[2]}|{seed}|t{it[3]}",
              _job_fault, lambda it: (*it, seed),
              lambda it, r: f"{' '.join(it[:3])} trial {it[3]}: SDC {100 * r[1]:.2f} %")
    faults = [rs.fault_summary(an, *c, per[i * fault_trials:(i + 1) * fault_trials], seed)
              for i, c in enumerate(camps)] if fault_trials else []

    # 3. statistical error injection
    items = [(layer, u) for layer in an.layers for u in approx]
    stats = run("statistical", items if stat_trials else [], cache,
                lambda it: f"stat|{it[0]}|{uid[it[1]]}|{seed}|{stat_trials}", _job_stat,
                lambda it: (*it, stat_trials, seed),
                lambda it, r: f"{it[0]} {it[1]}: drop {100 * r['drop']:+.2f} pp")
    if stats:
        md = {(r["unit"], r["layer"]): r["measured_drop"] for r in sens}
        rho["statistical_injection"] = rs.spearman([md[(r["unit"], r["layer"])] for r in stats],
                                                   [r["drop"] for r in stats])

    # 4. search
    rev = {v: k for k, v in uid.items()}
    for k, v in cache.data.items():
        if k.startswith(cache.prefix + "|acc|"):
            names = [rev.get(t) for t in k.split("|acc|", 1)[1].split(";")]
            if None not in names:
                an._acc[an._key(names)[0]] = v
    pred = {(r["unit"], r["layer"]): 100 * r["linear"] for r in sens}
    for layer in an.layers:
        pred[(EXACT, layer)] = 0.0
    L = len(an.layers)
    uniform = [[i] * L for i in range(len(units))]
    seeds = [uniform[0]] + search.predictor_seeds(costs, pred, budget, L) + uniform[1:]
    _log(stream, f"search: NSGA-II, population {pop}, {generations} generations, "
         f"{len(seeds)} seeded assignments")
    rows = search.nsga_search(an, costs, pop=pop, generations=generations, seed=seed,
                              initial=seeds, stream=stream)
    seen = {tuple(r["units"]) for r in rows}
    for idx in uniform:  # every uniform assignment is evaluated, seeded or not
        if tuple(costs.names(idx)) not in seen:
            acc = an.accuracy(costs.names(idx))
            rows.append({"units": costs.names(idx), "lut_mac": costs.lut_mac(idx),
                         "engine_luts": costs.engine_luts(idx),
                         "energy_proxy": costs.energy_proxy(idx), "acc": acc,
                         "loss_pp": 100 * (an.base_acc - acc)})
    for r in rows:
        cache.put("acc|" + ";".join(uid[u] for u in r["units"]), r["acc"])
    cache.save()
    for r in rows:
        r["uniform"] = len(set(r["units"])) == 1
    front = [rows[i] for i in search.pareto_indices([(r["lut_mac"], r["loss_pp"])
                                                      for r in rows])]
    def upper(r):
        if "loss_ci" not in r:
            r["loss_ci"] = _paired_loss_ci(an, r["units"])
        return r["loss_ci"][1]

    bound = upper if strict else None
    best_uni = search.best_under_budget([r for r in rows if r["uniform"]], budget, upper=bound)
    best_het = search.best_under_budget(rows, budget, upper=bound)
    for r in (best_uni, best_het):
        if r is not None:
            upper(r)
    saving = None
    if best_uni and best_het:
        saving = 1.0 - best_het["lut_mac"] / best_uni["lut_mac"]
    # the same choice with the energy proxy as the cost
    e_uni = search.best_under_budget([r for r in rows if r["uniform"]], budget,
                                     cost="energy_proxy", upper=bound)
    e_het = search.best_under_budget(rows, budget, cost="energy_proxy", upper=bound)
    e_saving = None
    if e_uni and e_het:
        e_saving = 1.0 - e_het["energy_proxy"] / e_uni["energy_proxy"]
    efront = [rows[i] for i in search.pareto_indices([(r["energy_proxy"], r["loss_pp"])
                                                       for r in rows])]
    # hold-out check: the chosen assignments on the test images the search did not see
    holdout = []
    if n < len(yte):
        from refmodels.cnn import hetero

        xr = net.quantize_input(xte[n:])
        yr = yte[n:]
        base = float((hetero.forward_int8_layers(net, xr, None).argmax(axis=1) == yr).mean())
        for tag, r in (("best uniform", best_uni), ("best per layer", best_het)):
            if r is None:
                continue
            acc = float((hetero.forward_int8_layers(net, xr, r["units"]).argmax(axis=1)
                         == yr).mean())
            holdout.append({"tag": tag, "units": r["units"], "lut_mac": r["lut_mac"],
                            "acc": acc, "base_acc": base, "loss_pp": 100 * (base - acc),
                            "images": len(yr)})
            _log(stream, f"hold-out ({len(yr)} other test images): {tag} "
                 f"{100 * acc:.2f} % (exact int8 {100 * base:.2f} %)")
    summary = {"network": net.name, "images": n, "float_acc": float_acc, "holdout": holdout,
               "int8_acc": an.base_acc, "budget_pp": budget, "rho": rho, "strict": strict,
               "rho_resolved": rho_res, "n_pairs": len(sens), "n_resolved": len(res),
               "best_uniform": best_uni, "best": best_het, "saving": saving,
               "evaluated": len(rows), "generations": generations, "pop": pop, "seed": seed,
               "luts": luts, "macs": dict(zip(costs.layers, costs.macs.tolist(), strict=True)),
               "seconds": time.perf_counter() - t0, "energy": energy,
               "energy_products": energy_products, "energy_best_uniform": e_uni,
               "energy_best": e_het, "energy_saving": e_saving, "energy_front": efront,
               "energy_table": etab}
    if saving is not None:
        _log(stream, f"budget {budget} pp: best uniform {best_uni['units'][0]} "
             f"({best_uni['lut_mac']:.1f} LUT), best per-layer {best_het['lut_mac']:.1f} LUT: "
             f"saving {100 * saving:.1f} %")
    if e_saving is not None:
        _log(stream, f"budget {budget} pp, {energy} energy proxy: best uniform "
             f"{e_uni['energy_proxy']:.3f}, best per-layer {e_het['energy_proxy']:.3f}: "
             f"saving {100 * e_saving:.1f} %")
    if best_het is not None:
        req, sel = engine_request(best_het["units"], lanes)
        summary["engine"] = {"params": req, "sel": sel, "layers": list(costs.layers)}
    paths = _write(out, net.name, summary, sens, faults, stats, rows, front)
    if best_het is not None:
        text = engine_core(net.name, costs.layers, best_het["units"], lanes, budget)
        paths.append(_atomic(out / f"{net.name}_engine.core", text))
    return paths


def _atomic(path, text):
    from .report import atomic_write

    return atomic_write(path, text)


def engine_request(units, lanes=8):
    """Generator parameters (``approxnn:gen:myhdl``) of the layer engine for a per-layer
    assignment ``units`` (one unit per conv / dense layer), and the MODE.MUL of each layer.

    The MAC array holds every distinct unit once, in order of first use; exact int8 alone is
    the DSP-packed ``int8`` build, another single unit a uniform build. The buffers are those
    of the MNIST-sized engine (``cores.cnn.generate.MNIST_ENGINE``), which every layer of the
    stored networks fits."""
    from cores.cnn.generate import MNIST_ENGINE

    distinct = list(dict.fromkeys(units))
    sel = [distinct.index(u) for u in units]
    if len(distinct) == 1:
        mul = "int8" if distinct[0] == EXACT else distinct[0]
    else:
        mul = distinct
    params = {"core": "cnn:engine", "lanes": lanes, "mul": mul}
    params |= {k: MNIST_ENGINE[k] for k in ("ibuf", "wbuf", "cmax")}
    return params, sel


def engine_core(network, layers, units, lanes=8, budget=None):
    """Text of a FuseSoC core that generates the engine of ``units`` (see
    :func:`engine_request`) and runs ``network`` on it with each layer's MODE.MUL."""
    from cores.cnn.engine.engine import build
    from cores.common.fusesoc import parameter_decls, yaml_item

    params, sel = engine_request(units, lanes)
    _, top = build(**{k: v for k, v in params.items() if k != "core"})
    hetero = isinstance(params["mul"], list)
    plus = {"APPROXNN_NETWORK": network, "APPROXNN_IMAGES": 1}
    if hetero:
        plus["APPROXNN_HETERO_LAYERS"] = ",".join(map(str, sel))
    module = "verif.cnn.cocotb_engine_hetero" if hetero else "verif.cnn.cocotb_engine"
    chosen = "\n".join(f"#   {name}: MODE.MUL {s} = {u}"
                       for name, s, u in zip(layers, sel, units, strict=True))
    budget_txt = "" if budget is None else f" at the {budget} pp budget"
    return f"""CAPI=2:
# Written by `approxnn explore {network}`: the layer engine of the per-layer multipliers chosen
# {budget_txt.strip() or 'by the search'}, one MAC array holding every unit the layers use:
{chosen}
# `fusesoc run --target=sim approxnn:explore:{network}_engine` (with the approxnn repository as
# a FuseSoC library) runs the network on it, each layer with its MODE.MUL, against the golden
# model (refmodels.cnn.hetero); lint and synth (Yosys, xc7) as for the project's cores.
name: approxnn:explore:{network}_engine:1.0.0
description: "{network}: layer engine with the per-layer multipliers of approxnn explore"

filesets:
  gen:
    depend: ["^approxnn:gen:myhdl:1.0.0"]

generate:
  engine:
    generator: approxnn_myhdl
    parameters: {json.dumps(params)}

targets:
  default: &default
    filesets: [gen]
    generate: [engine]
    toplevel: {top}
  lint:
    <<: *default
    flow: lint
    flow_options: {{tool: verilator, verilator_options: [-Wall]}}
  sim:
    <<: *default
    flow: sim
    parameters: [{", ".join(yaml_item(f"{k}={v}") for k, v in plus.items())},
                 APPROXNN_FAIL_EXIT=true]
    flow_options: {{tool: icarus, cocotb_module: {module}}}
  synth:
    <<: *default
    flow: generic
    flow_options: {{tool: yosys, arch: xilinx, output_format: json,
                   yosys_synth_options: [-family, xc7]}}

{parameter_decls(list(plus))}"""


def _energy_figures(net, units, x, cache, seed, products, synth, stream, uid):
    """``{unit: {layer: E}}``: fanout-weighted toggles per product (``approxnn.energy``),
    from the explore cache where there (key: network, images, unit, layer, seed, products)."""
    from . import energy as en

    def key(u, k):
        return f"energy|{uid[u]}|{k}|{seed}|{products}"

    def get(u, k):
        return cache.get(key(u, k))

    def put(u, k, v):
        cache.put(key(u, k), v)
        cache.save()  # one unit's simulation is worth keeping at once

    if not synth:
        from refmodels.cnn import hetero

        layers = hetero.compute_layers(net)
        missing = [u for u in units if any(get(u, k) is None for k in layers)]
        if missing:
            raise ValueError(f"no energy figure for {', '.join(missing)} in the cache (run "
                             "without --no-synth, or --energy lut)")
    return en.energy_table(net, units, x, products=products, seed=seed, stream=stream,
                           get=get, put=put)


def _paired_loss_ci(an, units):
    """95 % interval (pp) of the loss against exact int8 on the analysis images, from the
    per-image change of correctness (normal approximation of the paired difference)."""
    import numpy as np

    ok0 = an.base_pred == an.y
    ok1 = an.logits(units).argmax(axis=1) == an.y
    d = ok0.astype(np.float64) - ok1
    h = 1.959963984540054 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return [100 * (d.mean() - h), 100 * (d.mean() + h)]


def _job_sens(an, unit, layer):
    return {"unit": unit, "layer": layer, "measured_drop": an.measured_drop(unit, layer)} \
        | an.predict(unit, layer)


def _job_fault(an, layer, site, model, trial, seed):
    from refmodels.cnn import resilience as rs

    return list(rs.fault_trial(an, layer, site, model, trial, seed))


def _job_stat(an, layer, unit, trials, seed):
    from refmodels.cnn import resilience as rs

    return rs.statistical_campaign(an.net, None, None, layer, unit, trials, seed, analysis=an)


def _runner(client, an, stream, t0):
    """``run(stage, items, cache, key, job, args, msg)``: the results of ``job(an, *args(it))``
    for every item in order, from the cache where there, else computed here or on the Dask
    workers (the analysis sent to each worker once); progress as jobs finish."""
    shared = []

    def run(stage, items, cache, key, job, args, msg):
        done = {it: cache.get(key(it)) for it in items}
        todo = [it for it in items if done[it] is None]
        if len(todo) < len(items):
            _log(stream, f"[{stage}] {len(items) - len(todo)} of {len(items)} from the cache")
        if client is None:
            results = ((it, job(an, *args(it))) for it in todo)
        else:
            from distributed import as_completed

            if not shared:
                shared.append(client.scatter(an, broadcast=True))
            futs = {client.submit(job, shared[0], *args(it), pure=False): it for it in todo}
            results = ((futs[f], f.result()) for f in as_completed(futs))
        try:
            for i, (it, r) in enumerate(results, 1):
                done[it] = r
                cache.put(key(it), r)
                cache.save_every()
                _progress(stream, stage, i, len(todo), t0, msg(it, r))
        finally:
            if todo:
                cache.save()  # also when interrupted: what finished is kept
        return [done[it] for it in items]

    return run


def _progress(stream, what, i, n, t0, msg):
    el = time.perf_counter() - t0
    stream.write(f"[{what} {i}/{n}] {msg}  elapsed {el:5.0f}s\n")
    stream.flush()


def _short(u):
    from .report import short_label

    return short_label(u)


def _assign(units):
    return " / ".join(_short(u) for u in units)


def _write(out, name, s, sens, faults, stats, rows, front):
    import csv
    import io

    from .report import atomic_write

    def table_csv(records, cols):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow({k: (";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
                        for k, v in r.items()})
        return buf.getvalue()

    from refmodels.cnn.resilience import PREDICTORS

    files = {
        f"{name}_assignments.csv": table_csv(
            sorted(rows, key=lambda r: r["lut_mac"]),
            ["units", "uniform", "lut_mac", "engine_luts", "energy_proxy", "acc", "loss_pp"]),
        f"{name}_sensitivity.csv": table_csv(sens, ["unit", "layer", "measured_drop",
                                                    *PREDICTORS]),
        f"{name}_faults.csv": table_csv(
            [r | {"acc_lo": r["acc_ci"][0], "acc_hi": r["acc_ci"][1],
                  "sdc_lo": r["sdc_wilson"][0], "sdc_hi": r["sdc_wilson"][1]} for r in faults],
            ["layer", "site", "model", "bit", "seed", "trials", "images", "base_acc", "acc",
             "acc_lo", "acc_hi", "sdc", "sdc_lo", "sdc_hi"]),
    }
    md = _markdown(s, sens, faults, stats, rows, front)
    pngs = {f"{name}_pareto.png": _plot_front(s, rows, front),
            f"{name}_sensitivity.png": _plot_sens(s, sens)}
    paths = [atomic_write(out / k, v) for k, v in files.items()]
    paths += [atomic_write(out / k, v) for k, v in pngs.items()]
    paths.append(atomic_write(out / f"{name}_explore.md", md))
    return paths


def _markdown(s, sens, faults, stats, rows, front):
    L = list(s["macs"])
    tot = sum(s["macs"].values())
    lines = [f"# Per-layer approximation of `{s['network']}`", "",
             f"{s['images']} test images (the first of the test split; one image = "
             f"{100 / s['images']:.2f} pp). float32 {100 * s['float_acc']:.2f} %, exact int8 "
             f"{100 * s['int8_acc']:.2f} %. Budget: loss <= {s['budget_pp']} pp against exact "
             f"int8{' for the upper end of its paired 95 % interval' if s['strict'] else ''}. "
             f"Search: NSGA-II, population {s['pop']}, {s['generations']} generations, "
             f"seed {s['seed']}; {s['evaluated']} assignments evaluated; "
             f"{s['seconds']:.0f} s.", "",
             "Layers: " + ", ".join(f"`{k}` {int(v):,} MACs ({100 * v / tot:.1f} %)"
                                     for k, v in s["macs"].items()) + ".", "",
             "Costs: `lut_mac` = sum over layers of the unit's LUTs (Yosys synth_xilinx "
             "-nodsp) x the layer's share of MACs; `engine` = LUTs of one multiplier of each "
             "distinct unit used (a MAC lane holding them all); " + _energy_text(s), "",
             "## Result at the budget", ""]
    bu, bh = s["best_uniform"], s["best"]
    if bu and bh:
        lines += ["| | assignment (" + " / ".join(L) + ") | lut_mac | engine LUT | energy "
                  "proxy | accuracy % | loss pp | loss 95 % |", "|---|---|---|---|---|---|---|---|"]
        ex = next((r for r in rows if r["uniform"] and r["units"][0] == EXACT), None)
        for tag, r in (("exact int8", ex), ("best uniform", bu), ("best per layer", bh)):
            if r:
                ci = r.get("loss_ci")
                ci = "-" if ci is None else f"{ci[0]:+.2f} .. {ci[1]:+.2f}"
                lines.append(f"| {tag} | {_assign(r['units'])} | {r['lut_mac']:.1f} | "
                             f"{r['engine_luts']:.0f} | {r['energy_proxy']:.3f} | "
                             f"{100 * r['acc']:.2f} | {r['loss_pp']:+.2f} | {ci} |")
        lines += ["", f"**LUT saving at <= {s['budget_pp']} pp against the best uniform "
                  f"assignment: {100 * s['saving']:.1f} %** (MAC-weighted multiplier LUTs). "
                  "The budget is checked on the analysis images, which also select the "
                  "assignment; `loss 95 %` is the interval of the paired per-image loss there.",
                  ""]
        if s["holdout"]:
            h0 = s["holdout"][0]
            lines += [f"Hold-out check on the {h0['images']} test images the search did not "
                      f"use (exact int8 {100 * h0['base_acc']:.2f} %): "
                      + "; ".join(f"{h['tag']} {100 * h['acc']:.2f} % ({h['loss_pp']:+.2f} pp)"
                                  for h in s["holdout"]) + ".", ""]
    else:
        lines += ["No assignment within the budget.", ""]
    eu, eh = s["energy_best_uniform"], s["energy_best"]
    if eu and eh:
        lines += [f"With the energy proxy as the cost: best uniform {_assign(eu['units'])} "
                  f"{eu['energy_proxy']:.3f}, best per layer {_assign(eh['units'])} "
                  f"{eh['energy_proxy']:.3f} ({eh['loss_pp']:+.2f} pp): **energy-proxy saving "
                  f"at <= {s['budget_pp']} pp against the best uniform assignment: "
                  f"{100 * s['energy_saving']:.1f} %**.", ""]
    eng = s.get("engine")
    if eng:
        req = eng["params"]
        mul = req["mul"] if isinstance(req["mul"], list) else [req["mul"]]
        lines += ["## Hardware of the chosen assignment", "",
                  f"`{s['network']}_engine.core`: a FuseSoC core whose generator request "
                  "(`approxnn:gen:myhdl`) builds the layer engine "
                  f"(P = {req['lanes']}, buffers {req['ibuf']} / {req['wbuf']}, {req['cmax']} "
                  "channels) with "
                  + (f"the {len(mul)} units below in every MAC lane; the host writes each "
                     "layer's unit index into MODE.MUL" if len(mul) > 1 else
                     f"one multiplier, `{mul[0]}`")
                  + ". `fusesoc run --target=sim approxnn:explore:"
                  f"{s['network']}_engine` runs the network on the RTL against the golden "
                  "model (sim), `--target=synth` gives its Yosys cost.", "",
                  "| layer | MODE.MUL | unit |", "|---|---|---|"]
        for layer, k in zip(eng["layers"], eng["sel"], strict=True):
            lines.append(f"| {layer} | {k} | `{mul[k]}` |")
        lines += [""]
    lines += ["## Pareto front (lut_mac vs loss)", "",
              "| assignment (" + " / ".join(L) + ") | lut_mac | engine LUT | energy proxy | "
              "accuracy % | loss pp |", "|---|---|---|---|---|---|"]
    for r in front:
        lines.append(f"| {_assign(r['units'])}{' (uniform)' if r['uniform'] else ''} | "
                     f"{r['lut_mac']:.1f} | {r['engine_luts']:.0f} | {r['energy_proxy']:.3f} | "
                     f"{100 * r['acc']:.2f} | {r['loss_pp']:+.2f} |")
    if s["energy"] == "toggle":
        lines += ["", "## Pareto front (energy proxy vs loss)", "",
                  "| assignment (" + " / ".join(L) + ") | energy proxy | lut_mac | accuracy % "
                  "| loss pp |", "|---|---|---|---|---|"]
        for r in s["energy_front"]:
            lines.append(f"| {_assign(r['units'])}{' (uniform)' if r['uniform'] else ''} | "
                         f"{r['energy_proxy']:.3f} | {r['lut_mac']:.1f} | "
                         f"{100 * r['acc']:.2f} | {r['loss_pp']:+.2f} |")
    lines += ["", "## Uniform assignments", "",
              "| unit | LUT | energy proxy | accuracy % | loss pp |", "|---|---|---|---|---|"]
    for r in sorted((r for r in rows if r["uniform"]), key=lambda r: r["lut_mac"]):
        lines.append(f"| {r['units'][0]} | {r['lut_mac']:.0f} | {r['energy_proxy']:.3f} | "
                     f"{100 * r['acc']:.2f} | {r['loss_pp']:+.2f} |")
    if s["energy_table"]:
        et = s["energy_table"]
        lines += ["", "## Switching activity per unit and layer", "",
                  f"Fanout-weighted toggles per product of the unit's netlist on "
                  f"{s['energy_products']} operand pairs of each layer (relative to exact in "
                  "brackets).", "", "| unit | " + " | ".join(L) + " |",
                  "|---|" + "---|" * len(L)]
        for u, row in et.items():
            lines.append(f"| {u} | " + " | ".join(
                f"{row[k]:.1f} ({row[k] / et[EXACT][k]:.2f})" for k in L) + " |")
    rho = s["rho"]
    lines += ["", "## Per-layer sensitivity: measured vs predicted", "",
              "Drop of each unit alone in one layer (others exact int8), in pp. Predictors "
              "(`refmodels/cnn/resilience.py`): `linear` = first-order margin change "
              "(gradient . emulated layer error), `pred_drop` = error mean and variance from "
              "the operand histograms carried to the logit margin, `taylor` = first-order "
              "loss sensitivity; `_layer` variants use the emulated layer error's moments.", "",
              "Spearman rank correlation with the measured drop: "
              + ", ".join(f"`{k}` **{v:.3f}**" for k, v in rho.items())
              + f" ({s['n_pairs']} unit-layer pairs). Over the {s['n_resolved']} pairs whose "
              "measured drop is resolved (at least two images either way; the others differ "
              "from exact int8 by one image or none, which no ranking can resolve): "
              + ", ".join(f"`{k}` **{v:.3f}**" for k, v in s["rho_resolved"].items()) + ".",
              "",
              "| unit | layer | measured pp | linear pp | pred_drop pp | taylor |",
              "|---|---|---|---|---|---|"]
    for r in sens:
        lines.append(f"| {r['unit']} | {r['layer']} | {100 * r['measured_drop']:+.2f} | "
                     f"{100 * r['linear']:+.2f} | {100 * r['pred_drop']:+.2f} | "
                     f"{r['taylor']:.4g} |")
    if faults:
        lines += ["", "## Fault campaigns", "",
                  "One fault per trial (weights: permanent for all images of the trial; "
                  "activations, accumulators, products: one per image), random bit. SDC = "
                  "prediction differs from the fault-free network; Wilson 95 % interval over "
                  "trials x images; accuracy with a bootstrap 95 % interval over trials.", "",
                  "| layer | site | model | trials | SDC % | SDC 95 % | accuracy % | acc 95 % |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in faults:
            lo, hi = r["sdc_wilson"]
            alo, ahi = r["acc_ci"]
            lines.append(f"| {r['layer']} | {r['site']} | {r['model']} | {r['trials']} | "
                         f"{100 * r['sdc']:.2f} | {100 * lo:.2f}-{100 * hi:.2f} | "
                         f"{100 * r['acc']:.2f} | {100 * alo:.2f}-{100 * ahi:.2f} |")
    if stats:
        lines += ["", "## Statistical error injection", "",
                  "Exact layer plus, for every product, an independent error drawn from the "
                  "unit's error distribution weighted by the layer's operand histograms.", "",
                  "| layer | unit | error mean | error std | drop pp | deterministic drop pp |",
                  "|---|---|---|---|---|---|"]
        md = {(r["unit"], r["layer"]): r["measured_drop"] for r in sens}
        for r in stats:
            lines.append(f"| {r['layer']} | {r['unit']} | {r['err_mean']:.2f} | "
                         f"{r['err_std']:.2f} | {100 * r['drop']:+.2f} | "
                         f"{100 * md[(r['unit'], r['layer'])]:+.2f} |")
    lines += ["", "Unit LUTs: " + ", ".join(f"`{u}` {v}" for u, v in s["luts"].items()) + "."]
    return "\n".join(lines) + "\n"


def _energy_text(s):
    if s["energy"] == "toggle":
        return ("`energy proxy` = sum over layers of MACs x E(unit, layer), relative to exact "
                "int8, where E is the fanout-weighted toggle count per product of the unit's "
                "Yosys 7-series netlist simulated (Icarus, zero delay) on "
                f"{s['energy_products']} real weight/activation pairs of that layer "
                "(`approxnn.energy`). **A relative switching-activity proxy, not a power "
                "figure**: no glitches, wire lengths, voltage, clock or static power. The "
                "search minimises it as a third objective.")
    return ("`energy proxy` = MACs x unit LUTs relative to exact int8 - a relative proxy "
            "without switching activity, not a power figure (it orders assignments as "
            "`lut_mac` does).")


def _png(fig):
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _plot_front(s, rows, front):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    base = 100 * s["int8_acc"]
    for ax, key, label in ((axes[0], "lut_mac", "MAC-weighted multiplier LUTs"),
                           (axes[1], "engine_luts", "engine LUTs (one of each unit used)")):
        ax.scatter([r[key] for r in rows], [100 * r["acc"] for r in rows], c="lightgray",
                   s=14, label="evaluated assignments")
        uni = [r for r in rows if r["uniform"]]
        ax.scatter([r[key] for r in uni], [100 * r["acc"] for r in uni], c="tab:blue",
                   marker="s", label="uniform")
        for r in uni:
            ax.annotate(_short(r["units"][0]), (r[key], 100 * r["acc"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points", color="tab:blue")
        if key == "lut_mac":
            ax.step([r[key] for r in front], [100 * r["acc"] for r in front], where="post",
                    c="tab:red", label="Pareto front")
            ax.scatter([r[key] for r in front], [100 * r["acc"] for r in front], c="tab:red",
                       s=20)
        ax.axhline(base, c="k", ls="--", lw=0.8, label="exact int8")
        ax.axhline(base - s["budget_pp"], c="tab:green", ls=":", lw=1,
                   label=f"budget -{s['budget_pp']} pp")
        ax.set_ylim(max(0.0, base - 15), base + 2)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy %")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{s['network']}: one multiplier per layer ({s['images']} images)")
    fig.tight_layout()
    return _png(fig)


def _plot_sens(s, sens):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    layers = list(s["macs"])
    for ax, key in ((axes[0], "linear"), (axes[1], "pred_drop")):
        for i, layer in enumerate(layers):
            sel = [r for r in sens if r["layer"] == layer]
            ax.scatter([100 * r[key] for r in sel], [100 * r["measured_drop"] for r in sel],
                       label=layer, color=f"C{i}")
        lim = [min(-1.0, *(100 * r[k] for r in sens for k in (key, "measured_drop"))),
               max(1.0, *(100 * r[k] for r in sens for k in (key, "measured_drop")))]
        ax.plot(lim, lim, c="gray", lw=0.8, ls="--")
        ax.set_xlabel(f"predicted drop pp ({key})")
        ax.set_ylabel("measured drop pp")
        ax.set_title(f"{key}: Spearman {s['rho'][key]:.3f}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{s['network']}: accuracy drop of each unit alone in each layer")
    fig.tight_layout()
    return _png(fig)
