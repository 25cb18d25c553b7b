"""``approxnn explore sbs NETWORK``: resilience of a Spike-by-Spike network (weight formats,
spike generator, precision of h) and the choice of a weight format per layer under an accuracy
budget, with the layer unit's Yosys cost per format and an RTL check of the chosen
configuration.

::

    approxnn explore sbs NETWORK [--budget 0.5] [--images N] [--T T] [--seed S]
                         [--formats e4m1,log4,...] [--u-bits 16,8] [--h-shift 8]
                         [--frac-bits 20,16] [--out reports/explore] [--no-synth]
                         [--verify-rtl N] [--rtl-T 4] [--rtl-jobs 1]

Steps (progress on stderr): the layer unit's LUTs per weight format (Yosys ``synth_xilinx``
of ``cores.sbs.update.top_layer`` sized for the network, cached in ``<out>/sbs_costs.json``);
the accuracy drop of every format in every weighted layer (measured on the compiled engine,
fixed-point h, and predicted from the mean-field fixed point) with their Spearman
correlation; the spike-generator approximations per layer; the precision of h; the choice of
one format per layer at minimum LUTs within the budget (``refmodels.sbs.resilience.choose``);
with ``--verify-rtl N``, N images of the chosen configuration through the layer unit RTL, each
layer on a build of its own format, every layer's h compared with the golden model bit for bit.
Writes ``<network>_sbs_explore.md``, ``<network>_sbs_sensitivity.csv``,
``<network>_sbs_assignments.csv`` and ``<network>_sbs_pareto.png`` into ``--out``; measured
accuracies are cached in ``<out>/<network>_sbs_cache.json`` by network contents, images, T,
seed and configuration, so a re-run or an extension only measures what is new.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from pathlib import Path

DEFAULT_OUT = "reports/explore"
#: analysis images / spike steps per data set (the first held-out images)
DEFAULTS = {"digits": (359, 250), "mnist": (300, 500)}
COST_FLOW = "synth_xilinx -family xc7 -flatten -noiopad (DSP48E1 allowed); top_layer"

__all__ = ["add_arguments", "run", "explore_sbs", "layer_unit_costs", "unit_config",
           "verify_rtl"]


def add_arguments(p):
    """The SbS options of ``approxnn explore`` (``--budget``, ``--images``, ``--seed``,
    ``--out`` and ``--no-synth`` are shared with the CNN flow)."""
    p.add_argument("--T", type=int, help="spike steps (digits 250, mnist 500)")
    p.add_argument("--formats", help="weight formats (default: the layer unit's, "
                   "e4m1,e4m0,log4,e3m1,e3m0,log3,e2m1,log2)")
    p.add_argument("--u-bits", default="16,8,4",
                   help="spike generator: random-word bits kept (16,8,4)")
    p.add_argument("--h-shift", default="8,12",
                   help="spike generator: running-sum bits dropped (8,12)")
    p.add_argument("--frac-bits", default="20,18,16",
                   help="precision of h: fraction bits F tried (20,18,16; the RTL has 24)")
    p.add_argument("--verify-rtl", type=int, default=0, metavar="N",
                   help="run N images of the chosen configuration on the layer unit RTL "
                   "(Icarus; one build per layer format), bit for bit against the golden "
                   "model (0: skip)")
    p.add_argument("--rtl-T", type=int, default=4, help="spike steps of the RTL check (4)")
    p.add_argument("--rtl-jobs", type=int, default=1,
                   help="layers simulated at a time in the RTL check (1)")


def _ints(text, what, lo, hi):
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{what} must be comma-separated integers, got {text!r}") from None
    bad = [v for v in vals if not lo <= v <= hi]
    if bad:
        raise ValueError(f"--{what}: {bad[0]} is outside {lo}..{hi}")
    return vals


def unit_config(net):
    """(P, N_MAX, IP_MAX, ROWS_MAX) of a layer unit every layer of ``net`` fits: P = 2,
    N_MAX 32, the IPs and weight rows rounded up to powers of two."""
    import numpy as np

    n_max = max(lay.n_h for lay in net.layers)
    ips = max(lay.n_ip for lay in net.layers)
    rows = max(int(np.prod(lay.weight_shape[:3])) for lay in net.layers)
    p2 = lambda v: 1 << max(0, int(v - 1).bit_length())  # noqa: E731
    return 2, max(32, p2(n_max)), p2(ips), p2(rows)


def layer_unit_costs(formats, cfg, cache_path, *, synth=True, stream=None,
                     require=None) -> dict:
    """LUT / FF / DSP48E1 / BRAM of the layer unit ``cfg`` = (P, N_MAX, IP_MAX, ROWS_MAX) built
    with each weight format (Yosys, DSPs allowed), from the JSON cache where there.
    ``require``: the formats that must have a figure (default: all); the others are left
    out of the result when missing (``synth`` false)."""
    import shutil
    import tempfile

    from .eda.synth import synthesize
    from .report import atomic_write

    stream = stream or sys.stderr
    cache_path = Path(cache_path)
    data = {"flow": COST_FLOW, "units": {}}
    if cache_path.is_file():
        try:
            loaded = json.loads(cache_path.read_text())
            if loaded.get("flow") == COST_FLOW:
                data = loaded
        except ValueError:
            pass
    from cores.sbs.update.update import module_name

    names = {f: module_name(cfg[0], cfg[1], f, cfg[2], cfg[3]) for f in formats}
    todo = [f for f in formats if names[f] not in data["units"]]
    if todo and synth:
        from verif.sbs.harness import generate_layer_rtl

        t0 = time.perf_counter()
        for i, f in enumerate(todo, 1):
            tmp = Path(tempfile.mkdtemp(prefix=f"approxnn_sbscost_{f}_"))
            try:
                path, top = generate_layer_rtl(cfg[0], cfg[1], f, cfg[2], cfg[3], tmp / "rtl")
                r = synthesize([path], top, nodsp=False, workdir=tmp / "synth", timeout=3600)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            data["units"][names[f]] = {"luts": r.luts, "ffs": r.ffs, "dsps": r.dsps,
                                       "brams": r.brams, "carry4": r.carry4}
            atomic_write(cache_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
            stream.write(f"[synth {i}/{len(todo)}] {names[f]}: {r.luts} LUT, {r.dsps} DSP, "
                         f"{r.brams} BRAM  elapsed {time.perf_counter() - t0:5.0f}s\n")
            stream.flush()
    need = formats if require is None else require
    missing = [f for f in formats if names[f] not in data["units"]]
    if [f for f in missing if f in need]:
        raise ValueError(f"no layer-unit cost for "
                         f"{', '.join(f for f in missing if f in need)} in {cache_path} "
                         "(run without --no-synth)")
    return {f: data["units"][names[f]] for f in formats if f not in missing}


def _verify_layer(network, formats, li, cfg, images, T, seed, sim, root):
    """One layer of ``verify_rtl`` (a process of its own when run in parallel)."""
    import tempfile

    from approxnn.eda.sim import run_cocotb
    from verif.sbs.harness import generate_layer_rtl

    f = formats[li]
    t0 = time.perf_counter()
    bdir = Path(root) / f"{f}_p{cfg[0]}_n{cfg[1]}_ip{cfg[2]}_r{cfg[3]}_{sim}_layer{li}"
    path, top = generate_layer_rtl(cfg[0], cfg[1], f, cfg[2], cfg[3], bdir / "rtl")
    with tempfile.TemporaryDirectory() as td:
        res_file = Path(td) / "result.json"
        env = {"APPROXNN_SBS_P": cfg[0], "APPROXNN_SBS_NMAX": cfg[1],
               "APPROXNN_SBS_IPMAX": cfg[2], "APPROXNN_SBS_ROWSMAX": cfg[3],
               "APPROXNN_SBS_WEIGHTS": f, "APPROXNN_SBS_NETWORK": network,
               "APPROXNN_SBS_T": T, "APPROXNN_SBS_IMAGES": images, "APPROXNN_SEED": seed,
               "APPROXNN_SBS_FORMATS": ",".join(formats), "APPROXNN_SBS_LAYER": li,
               "APPROXNN_SBS_RESULT": res_file}
        res = run_cocotb(sim, [path], top, "verif.sbs.cocotb_layer_mixed", bdir / "sim",
                         testcase="mixed_layer", extra_env=env, seed=seed)
        data = json.loads(res_file.read_text()) if res_file.is_file() else {}
    return {"layer": li, "format": f, "passed": res.passed, "equal": bool(data.get("equal")),
            "updates": data.get("updates"), "cycles": data.get("cycles"),
            "results": data.get("results"), "seconds": round(time.perf_counter() - t0, 1),
            "messages": res.messages}


def verify_rtl(network, net, formats, cfg, *, images=1, T=8, seed=0, sim="icarus",
               build_root=None, jobs=1, stream=None) -> list[dict]:
    """Run ``images`` test images of the per-layer configuration ``formats`` on the layer unit
    RTL (``cfg`` = (P, N_MAX, IP_MAX, ROWS_MAX)), each layer on a build of its own format
    (``verif/sbs/cocotb_layer_mixed.py``; ``jobs`` layers at a time, in separate processes);
    every layer's final h is compared with the golden model bit for bit. Returns one dict
    per layer (``passed``, ``equal``, ``updates``, ``cycles``, ``seconds``, ``messages``)."""
    from verif.sbs.harness import BUILD_ROOT

    stream = stream or sys.stderr
    root = Path(build_root or BUILD_ROOT / "mixed")
    formats = list(formats)
    args = [(network, formats, li, cfg, images, T, seed, sim, str(root))
            for li in range(len(formats))]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, len(args))) as ex:
            rows = list(ex.map(_verify_layer, *zip(*args, strict=True)))
    else:
        rows = [_verify_layer(*a) for a in args]
    for r in rows:
        r["type"] = net.layers[r["layer"]].type
        stream.write(f"[rtl {r['layer'] + 1}/{len(formats)}] layer {r['layer']} ({r['type']}) "
                     f"on the {r['format']} build: "
                     f"{'bit-exact' if r['passed'] and r['equal'] else 'FAILED'}, "
                     f"{r['updates']} updates, {r['cycles']} cycles, {r['seconds']} s\n")
    stream.flush()
    return rows


def _rtl_code() -> str:
    import importlib.util

    h = hashlib.sha1()
    for mod in ("cores.sbs.update.update", "verif.sbs.cocotb_layer_mixed"):
        h.update(Path(importlib.util.find_spec(mod).origin).read_bytes())
    return h.hexdigest()[:10]


def _net_id(net) -> str:
    h = hashlib.sha1(json.dumps(net.topology, sort_keys=True).encode())
    for w in net.weights:
        h.update(w.tobytes())
    return h.hexdigest()[:12]


def _log(stream, msg):
    stream.write(msg + "\n")
    stream.flush()


def run(args) -> int:
    from refmodels.sbs.evaluate import NETWORKS, heldout_split, load_named
    from refmodels.sbs.formats import parse_format
    from refmodels.sbs.resilience import RTL_FORMATS

    from .cnn_cmd import _check_folder

    if args.sbs_network is None:
        raise ValueError(f"approxnn explore sbs NETWORK: give a network ({', '.join(NETWORKS)} "
                         "or a .json file)")
    if not (math.isfinite(args.budget) and args.budget >= 0):
        raise ValueError(f"--budget must be a non-negative number of pp, got {args.budget}")
    for opt, lo in (("images", 1), ("T", 1), ("verify_rtl", 0), ("rtl_T", 1), ("rtl_jobs", 1)):
        v = getattr(args, opt)
        if v is not None and v < lo:
            raise ValueError(f"--{opt.replace('_', '-')} must be at least {lo}, got {v}")
    formats = RTL_FORMATS
    if args.formats:
        from cores.sbs.update.update import UpdateConfigError, check_params

        formats = []
        for f in args.formats.split(","):
            f = f.strip()
            if not f:
                continue
            try:
                name = parse_format(f).name
                check_params(2, 32, name)
            except (ValueError, UpdateConfigError) as exc:
                raise ValueError(f"--formats: {exc}") from None
            if name not in formats:
                formats.append(name)
        formats = tuple(formats)
    u_bits = _ints(args.u_bits, "u-bits", 1, 31)
    h_shift = _ints(args.h_shift, "h-shift", 1, 23)
    frac_bits = _ints(args.frac_bits, "frac-bits", 8, 30)
    _check_folder(args.out)
    net, ds = load_named(args.sbs_network)
    xte, yte = heldout_split(ds)
    n0, T0 = DEFAULTS[ds]
    n = min(len(yte), args.images or n0)
    paths = explore_sbs(args.sbs_network, net, xte[:n], yte[:n], T=args.T or T0,
                        seed=args.seed, budget=args.budget, formats=formats, u_bits=u_bits,
                        h_shift=h_shift, frac_bits=frac_bits, out=Path(args.out),
                        synth=not args.no_synth, verify=args.verify_rtl, rtl_T=args.rtl_T,
                        rtl_jobs=args.rtl_jobs)
    for p in paths:
        print(f"wrote {p}")
    return 0


def explore_sbs(network, net, x, y, *, T, seed=0, budget=0.5, formats=None, u_bits=(16, 8, 4),
                h_shift=(8, 12), frac_bits=(20, 18, 16), out=Path(DEFAULT_OUT), synth=True,
                verify=0, rtl_T=4, rtl_jobs=1, stream=None):
    """The whole SbS flow (module docstring); returns the written paths."""
    from refmodels.sbs import resilience as rs

    from .report import atomic_write

    stream = stream or sys.stderr
    formats = tuple(formats or rs.RTL_FORMATS)
    base = "e4m1"
    if base not in formats:
        formats = (base, *formats)
    out = Path(out)
    t0 = time.perf_counter()
    cfg = unit_config(net)
    costs = layer_unit_costs(formats, cfg, out / "sbs_costs.json", synth=synth, stream=stream,
                             require=None if synth else (base,))
    luts = {f: costs[f]["luts"] for f in formats if f in costs}
    uncosted = [f for f in formats if f not in costs]
    if uncosted:
        _log(stream, f"no layer-unit cost cached for {', '.join(uncosted)} (--no-synth): "
             "analysed, left out of the choice")
    name = Path(str(network)).stem
    cache_path = out / f"{name}_sbs_cache.json"
    prefix = f"{_net_id(net)}|n{len(y)}|T{T}|s{seed}"
    data = {}
    if cache_path.is_file():
        try:
            data = json.loads(cache_path.read_text())
        except ValueError:
            data = {}
    results = data.setdefault(prefix, {})
    cached = len(results)

    def save():
        atomic_write(cache_path, json.dumps(data, indent=0, sort_keys=True) + "\n")

    an = rs.SbsAnalysis(net, x, y, T, seed=seed, base=base, results=results)
    _log(stream, f"{name}: {len(y)} images, T = {T}, reference all-{base} fixed point "
         f"{100 * an.base_acc:.2f} % ({cached} accuracies from the cache); layer unit "
         f"P={cfg[0]} N_MAX={cfg[1]} IP_MAX={cfg[2]} ROWS_MAX={cfg[3]}: "
         + ", ".join(f"{f} {v} LUT" for f, v in luts.items()))
    exact = rs.exact_formats(net, formats)
    weighted = [li for li in range(an.L) if set(exact[li]) != set(formats)]
    try:
        # 1. weight formats per layer: measured and predicted
        sens, k = [], 0
        items = [(li, f) for li in weighted for f in formats if f != base]
        for li, f in items:
            k += 1
            r = {"layer": li, "type": net.layers[li].type, "format": f,
                 "measured_drop": an.format_drop(li, f)} | an.predict(li, f)
            sens.append(r)
            save()
            _log(stream, f"[formats {k}/{len(items)}] layer {li} ({r['type']}) {f}: measured "
                 f"{r['measured_drop']:+.2f} pp, mean-field {r['mf_drop']:+.2f} pp, "
                 f"ce {r['mf_ce']:+.4f}  elapsed {time.perf_counter() - t0:5.0f}s")
        save()
        meas = [r["measured_drop"] for r in sens]
        rho = {p: rs.spearman(meas, [r[p] for r in sens]) for p in ("mf_drop", "mf_ce", "mf_kl")}
        _log(stream, "Spearman (predicted vs measured drop): "
             + ", ".join(f"{p} {v:.3f}" for p, v in rho.items()))
        # 2. spike generator, per layer
        spikes = []
        items = [(li, u, 0) for li in range(an.L) for u in u_bits] + \
            [(li, 32, d) for li in range(an.L) for d in h_shift]
        for i, (li, u, d) in enumerate(items, 1):
            drop = an.spike_drop(li, u, d)
            spikes.append({"layer": li, "type": net.layers[li].type, "u_bits": u,
                           "h_shift": d, "measured_drop": drop})
            save()
            _log(stream, f"[spikes {i}/{len(items)}] layer {li} input spikes, u_bits {u}, "
                 f"h_shift {d}: {drop:+.2f} pp")
        save()
        # 3. precision of h
        hprec = []
        for i, fb in enumerate(frac_bits, 1):
            drop = an.h_drop(fb)
            hprec.append({"frac_bits": fb, "measured_drop": drop})
            save()
            _log(stream, f"[h {i}/{len(frac_bits)}] F = {fb}: {drop:+.2f} pp")
        save()
        # 4. one format per layer
        drops = {(r["layer"], r["format"]): r["measured_drop"] for r in sens}
        def logsave(m):
            _log(stream, m)
            save()

        best, rows = rs.choose(an, luts, budget, drops, formats=tuple(luts), log=logsave)
        save()
    finally:
        save()
    uni = [r for r in rows if r["uniform"] and r["loss_pp"] <= budget + 1e-9]
    best_uni = min(uni, key=lambda r: (r["cost"], r["loss_pp"])) if uni else None
    saving = None
    if best and best_uni:
        saving = 1.0 - best["cost"] / best_uni["cost"]
        _log(stream, f"budget {budget} pp: best uniform {best_uni['formats'][0]} "
             f"({best_uni['cost']} LUT), per layer {'/'.join(best['formats'])} "
             f"({best['cost']} LUT): saving {100 * saving:.1f} %")
    rtl = []
    if verify and best:
        # a passing check is cached by configuration, images, T, seed and a digest of the
        # RTL's MyHDL source and of the testbench
        rkey = f"{'/'.join(best['formats'])}|{verify}|{rtl_T}|{_rtl_code()}"
        rcache = data.setdefault(prefix + "|rtl", {})
        rtl = rcache.get(rkey) or []
        if rtl:
            _log(stream, f"RTL check of {'/'.join(best['formats'])}: from the cache")
        else:
            rtl = verify_rtl(network, net, best["formats"], cfg, images=verify, T=rtl_T,
                             seed=seed, jobs=rtl_jobs, stream=stream)
            if all(r["passed"] and r["equal"] for r in rtl):
                rcache[rkey] = rtl
                save()
    summary = {"network": name, "images": len(y), "T": T, "seed": seed, "base": base,
               "base_acc": an.base_acc, "budget": budget, "cfg": cfg, "costs": costs,
               "luts": luts, "rho": rho, "best": best, "best_uniform": best_uni,
               "saving": saving, "rtl": rtl, "rtl_T": rtl_T, "rtl_images": verify,
               "seconds": time.perf_counter() - t0, "layers": [lay.type for lay in net.layers],
               "weighted": weighted, "uncosted": uncosted}
    return _write(out, name, summary, sens, spikes, hprec, rows)


def _write(out, name, s, sens, spikes, hprec, rows):
    import csv
    import io

    from .report import atomic_write

    def table(records, cols):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow({k: (";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
                        for k, v in r.items()})
        return buf.getvalue()

    paths = [
        atomic_write(out / f"{name}_sbs_sensitivity.csv", table(
            sens, ["layer", "type", "format", "measured_drop", "mf_drop", "mf_ce", "mf_kl"])),
        atomic_write(out / f"{name}_sbs_assignments.csv", table(
            sorted(rows, key=lambda r: r["cost"]),
            ["formats", "uniform", "cost", "acc", "loss_pp"])),
        atomic_write(out / f"{name}_sbs_pareto.png", _plot(s, rows)),
        atomic_write(out / f"{name}_sbs_explore.md", _markdown(s, sens, spikes, hprec, rows)),
    ]
    return paths


def _markdown(s, sens, spikes, hprec, rows):
    L = [f"{i}:{t}" for i, t in enumerate(s["layers"])]
    one = 100.0 / s["images"]
    lines = [f"# Per-layer weight formats of the SbS network `{s['network']}`", "",
             f"{s['images']} held-out images (the first; one image = {one:.2f} pp), T = "
             f"{s['T']} spike steps, xorshift spikes with seed {s['seed']} + image index (every "
             f"configuration sees the same spike streams), fixed-point h datapath of the RTL "
             f"(F = 24) on the compiled engine. Reference: every layer in {s['base'].upper()}, "
             f"exact spike generator: **{100 * s['base_acc']:.2f} %**. Budget: loss <= "
             f"{s['budget']} pp against it. {s['seconds']:.0f} s.", "",
             "Cost: LUTs of the SbS layer unit (`cores/sbs/update`, `top_layer` with P = "
             f"{s['cfg'][0]}, N_MAX = {s['cfg'][1]}, IP_MAX = {s['cfg'][2]}, ROWS_MAX = "
             f"{s['cfg'][3]}: every layer of the network fits) built with each format, Yosys "
             "`synth_xilinx -family xc7` with DSP48E1 allowed; a configuration costs one unit "
             "per layer (the sum). Layer-unit cost per format: "
             + ", ".join(f"{f} {c['luts']} LUT / {c['ffs']} FF / {c['dsps']} DSP / "
                         f"{c['brams']} BRAM" for f, c in s["costs"].items()) + "."
             + (f" No cost figure for {', '.join(s['uncosted'])} (not synthesised): analysed "
                "below, left out of the choice." if s["uncosted"] else ""), "",
             "## Result at the budget", ""]
    bu, bh = s["best_uniform"], s["best"]
    if bh:
        lines += ["| | formats (" + " / ".join(L) + ") | LUT | accuracy % | loss pp |",
                  "|---|---|---|---|---|"]
        ref = next((r for r in rows if r["uniform"] and r["formats"][0] == s["base"]), None)
        for tag, r in (("reference", ref), ("best uniform", bu), ("best per layer", bh)):
            if r:
                lines.append(f"| {tag} | {' / '.join(r['formats'])} | {r['cost']} | "
                             f"{100 * r['acc']:.2f} | {r['loss_pp']:+.2f} |")
        if s["saving"] is not None:
            lines += ["", f"**LUT saving at <= {s['budget']} pp against the best uniform "
                      f"assignment: {100 * s['saving']:.1f} %.**"]
        lines.append("")
    else:
        lines += ["No combination of the candidate formats meets the budget.", ""]
    if s["rtl"]:
        ok = all(r["passed"] and r["equal"] for r in s["rtl"])
        lines += ["## RTL check of the chosen configuration", "",
                  f"{s['rtl_images']} image{'s' if s['rtl_images'] != 1 else ''}, T = "
                  f"{s['rtl_T']}: each layer on a layer unit built "
                  "with its own format (Icarus, `verif/sbs/cocotb_layer_mixed.py`), its input "
                  "the golden model's h of the layer below, its final h compared with the "
                  "golden model run with the per-layer formats: "
                  f"**{'bit-exact in every layer' if ok else 'FAILED'}**.", "",
                  "| layer | format | result | updates | cycles | seconds |",
                  "|---|---|---|---|---|---|"]
        for r in s["rtl"]:
            lines.append(f"| {r['layer']} ({r['type']}) | {r['format']} | "
                         f"{'bit-exact' if r['passed'] and r['equal'] else 'FAILED'} | "
                         f"{r['updates']} | {r['cycles']} | {r['seconds']} |")
        lines.append("")
    lines += ["## Evaluated configurations", "",
              "Measured in order of cost (candidates per layer: formats whose single-layer "
              "drop is small; layers whose weights a format represents exactly take the "
              "cheapest such format), then the uniform ones.", "",
              "| formats | uniform | LUT | accuracy % | loss pp |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["cost"]):
        lines.append(f"| {' / '.join(r['formats'])} | {'yes' if r['uniform'] else ''} | "
                     f"{r['cost']} | {100 * r['acc']:.2f} | {r['loss_pp']:+.2f} |")
    rho = s["rho"]
    lines += ["", "## Weight format per layer: measured vs predicted sensitivity", "",
              "Drop of each format alone in one layer (the others in the reference format). "
              "Predictors (`refmodels/sbs/resilience.py`), from the effect on h's fixed point: "
              "the mean-field converged state with the layer's weights rounded: `mf_drop` "
              "(its accuracy drop, pp), `mf_ce` (increase of -log h_out(label)), `mf_kl` (KL "
              "divergence of the output h from the reference's).", "",
              "Spearman rank correlation with the measured drop: "
              + ", ".join(f"`{k}` **{v:.3f}**" for k, v in rho.items())
              + f" ({len(sens)} layer-format pairs).", "",
              "| layer | format | measured pp | mf_drop pp | mf_ce | mf_kl |",
              "|---|---|---|---|---|---|"]
    for r in sens:
        lines.append(f"| {r['layer']} ({r['type']}) | {r['format']} | "
                     f"{r['measured_drop']:+.2f} | {r['mf_drop']:+.2f} | {r['mf_ce']:.4f} | "
                     f"{r['mf_kl']:.4f} |")
    lines += ["", "## Spike generator", "",
              "The generator that draws a layer's input spikes, approximated in that layer "
              "only (`refmodels/sbs/rng.py`): `u_bits` = top bits of the 32-bit random word "
              "kept (the selection multiply narrows from 32 x 31 bits), `h_shift` = bits "
              "dropped from every h in the running sum (a narrower adder).", "",
              "| layer (its input spikes) | u_bits | h_shift | drop pp |", "|---|---|---|---|"]
    for r in spikes:
        lines.append(f"| {r['layer']} ({r['type']}) | {r['u_bits']} | {r['h_shift']} | "
                     f"{r['measured_drop']:+.2f} |")
    lines += ["", "## Precision of h", "",
              "Fraction bits F of every h (`HFixed(frac_bits=F)`, the whole network; the RTL "
              "has F = 24).", "", "| F | drop pp |", "|---|---|"]
    for r in hprec:
        lines.append(f"| {r['frac_bits']} | {r['measured_drop']:+.2f} |")
    return "\n".join(lines) + "\n"


def _plot(s, rows):
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.scatter([r["cost"] for r in rows], [100 * r["acc"] for r in rows], c="lightgray",
               s=16, label="per-layer configurations")
    uni = [r for r in rows if r["uniform"]]
    ax.scatter([r["cost"] for r in uni], [100 * r["acc"] for r in uni], c="tab:blue",
               marker="s", label="uniform")
    for r in uni:
        ax.annotate(r["formats"][0], (r["cost"], 100 * r["acc"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points", color="tab:blue")
    if s["best"]:
        ax.scatter([s["best"]["cost"]], [100 * s["best"]["acc"]], c="tab:red", s=40,
                   label="chosen (" + "/".join(s["best"]["formats"]) + ")")
    base = 100 * s["base_acc"]
    ax.axhline(base, c="k", ls="--", lw=0.8, label=f"all {s['base']}")
    ax.axhline(base - s["budget"], c="tab:green", ls=":", lw=1,
               label=f"budget -{s['budget']} pp")
    ax.set_ylim(max(0.0, base - 20), base + 3)
    ax.set_xlabel("LUTs (one layer unit per layer)")
    ax.set_ylabel("accuracy %")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"SbS {s['network']}: weight format per layer ({s['images']} images, "
                 f"T = {s['T']})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
