"""``approxnn sbs``: train and evaluate the Spike-by-Spike (SbS) networks, report hardware.

Sub-commands::

    approxnn sbs train digits|mnist|mnist_published [--out DIR] [--method backprop|em]
                                    [--epochs E] [--n-train N] [--quantise e4m1|log4]
                                    [--noise-augment PCT] [--checkpoint-dir DIR] [--val-n N]
    approxnn sbs evaluate NETWORK [--T 10,100,1000] [--formats float32,e4m1,log4]
                                  [--noise 0,10,20,30,40,50] [--noise-T T] [--noise-formats F]
                                  [--rng xorshift]
                                  [--compare-rng] [--n N] [--offset K] [--seed S]
                                  [--out reports/sbs]
    approxnn sbs hardware [--configs 1:e4m1,4:log4,...] [--n-max 1024] [--no-synth]
                          [--jobs 2] [--out reports/sbs]

``NETWORK`` is ``digits``, ``mnist`` (the stored networks) or a network file (``.json``) whose
``meta.dataset`` names its data set. A format is a weight format (``float32``, ``e4m1``,
``log4``, any ``e<E>m<M>`` / ``log<E>``) run with float32 h, or a coded one with ``-fixed``
(``e4m1-fixed``: the fixed-point h datapath of the RTL). ``evaluate`` prints Markdown tables,
writes ``<name>_accuracy.csv``, ``<name>_accuracy.md``, ``<name>_vs_T.png`` and (with noise
levels) ``<name>_vs_noise.png`` to the report folder, and shows one progress line per run on
stderr. Bad input raises ValueError (``approxnn: error: ...``, exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["COMMAND", "add_parser", "run", "markdown_tables", "write_report"]

COMMAND = "sbs"


def _csv_list(text: str) -> list[str]:
    return [t for t in text.replace(",", " ").split() if t]


def _parse_ints(text: str, what: str) -> list[int]:
    out = []
    for t in _csv_list(text):
        try:
            v = int(t)
        except ValueError:
            raise ValueError(f"{what}: {t!r} is not an integer") from None
        if v < 1:
            raise ValueError(f"{what}: values must be positive integers, got {v}")
        out.append(v)
    if not out:
        raise ValueError(f"{what}: no value given")
    return out


def _parse_noise(text: str) -> list[float]:
    out = []
    for t in _csv_list(text):
        try:
            v = float(t)
        except ValueError:
            raise ValueError(f"--noise: {t!r} is not a number (percent)") from None
        if not 0 <= v <= 100:
            raise ValueError(f"--noise: {v} is outside 0..100 (percent)")
        out.append(v / 100.0)
    return out


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        COMMAND,
        help="Spike-by-Spike networks: train, evaluate (formats, T, noise), hardware",
        description="Train and evaluate the Spike-by-Spike golden-model networks; cycles and "
        "cost of the SbS cores.",
    )
    sub = p.add_subparsers(dest="sbs_command", metavar="SUBCOMMAND")

    t = sub.add_parser("train", help="train the digits or MNIST network (back-propagation)")
    t.add_argument("network", help="digits, mnist or mnist_published (the published topology)")
    t.add_argument("--out", default=None,
                   help="folder for <network>.json/.npz (default refmodels/sbs/networks)")
    t.add_argument("--method", default="backprop", help="backprop (default) or em")
    t.add_argument("--epochs", type=int, default=None, help="training epochs")
    t.add_argument("--n-train", type=int, default=None, help="first N training patterns")
    t.add_argument("--quantise", default=None, metavar="FORMAT",
                   help="quantisation-aware fine-tuning of the stored network for a coded "
                   "weight format (e4m1, log4); writes <network>_<FORMAT>.json/.npz")
    t.add_argument("--noise-augment", type=float, default=None, metavar="PCT",
                   help="fine-tune the stored network on the training images plus noisy "
                   "copies (levels up to PCT %%); writes <network>_noise<PCT>.json/.npz")
    t.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="write the network after every epoch to DIR (<network>_epNN.json/.npz)")
    t.add_argument("--val-n", type=int, default=0, metavar="N",
                   help="log the mean-field accuracy on the first N held-out patterns per epoch")

    e = sub.add_parser("evaluate", help="accuracy per weight format against T and noise")
    e.add_argument("network", help="digits, mnist or a network .json file")
    e.add_argument("--T", default="1000", help="spike steps, comma-separated (1000)")
    e.add_argument("--formats", default="float32,e4m1,log4",
                   help="comma-separated: float32, e4m1, log4, e4m1-fixed, log4-fixed, ...")
    e.add_argument("--noise", default="",
                   help="input noise levels in percent, comma-separated (e.g. 0,10,20,30,40,50)")
    e.add_argument("--noise-formats", default=None,
                   help="formats of the noise and RNG runs (default: --formats)")
    e.add_argument("--noise-T", type=int, default=None,
                   help="T of the noise and RNG runs (default: the largest --T)")
    e.add_argument("--rng", default="xorshift", help="spike generator: xorshift or mt19937")
    e.add_argument("--compare-rng", action="store_true",
                   help="also run the other spike generator (xorshift vs mt19937)")
    e.add_argument("--n", type=int, default=None, help="first N held-out test patterns")
    e.add_argument("--offset", type=int, default=0,
                   help="skip the first K held-out patterns (use --seed K to keep pattern i "
                   "on spike seed i)")
    e.add_argument("--seed", type=int, default=0, help="spike seed of pattern 0")
    e.add_argument("--batch", type=int, default=100, help="patterns per vectorised run")
    e.add_argument("--out", default="reports/sbs", help="report folder (reports/sbs)")
    from .sbs_hardware import add_parser as add_hardware

    add_hardware(sub)
    from .sbs_run import add_parser as add_run

    add_run(sub)
    return p


# ----------------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------------
def _pct(v) -> str:
    return "-" if v is None else f"{v * 100:.2f} %"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def markdown_tables(rows: list[dict], title: str, notes: list[str] | None = None) -> str:
    """Markdown: accuracy vs T, loss against float32, accuracy vs noise, RNG comparison."""
    configs = list(dict.fromkeys(r["config"] for r in rows))
    out = [f"# {title}", ""] + [*(notes or []), ""]
    tr = [r for r in rows if r["experiment"] == "T"]
    if tr:
        Ts = sorted({r["T"] for r in tr})
        acc = {(r["config"], r["T"]): r["accuracy"] for r in tr}
        out += ["## Accuracy against T (no input noise)", ""]
        out += _table(["format"] + [f"T={t}" for t in Ts],
                      [[c] + [_pct(acc.get((c, t))) for t in Ts] for c in configs])
        tmax = Ts[-1]
        ref = acc.get(("float32", tmax))
        if ref is not None and len(configs) > 1:
            out += ["", f"## Loss against float32 at T={tmax}", ""]
            out += _table(["format", "accuracy", "loss (pp)"],
                          [[c, _pct(acc.get((c, tmax))),
                            f"{(ref - acc[(c, tmax)]) * 100:+.2f}"]
                           for c in configs if (c, tmax) in acc])
        out.append("")
    nr = [r for r in rows if r["experiment"] == "noise"]
    if nr:
        levels = sorted({r["noise_pct"] for r in nr})
        nT = nr[0]["T"]
        acc = {(r["config"], r["noise_pct"]): r["accuracy"] for r in nr}
        out += [f"## Accuracy against input noise (T={nT})", ""]
        ncfg = list(dict.fromkeys(r["config"] for r in nr))
        out += _table(["format"] + [f"{lv:g} %" for lv in levels],
                      [[c] + [_pct(acc.get((c, lv))) for lv in levels] for c in ncfg])
        out.append("")
    rr = [r for r in rows if r["experiment"] == "rng"]
    kinds = list(dict.fromkeys(r["rng"] for r in rr))
    if len(kinds) > 1:
        rT = rr[0]["T"]
        acc = {(r["config"], r["rng"]): r["accuracy"] for r in rr}
        out += [f"## Spike generator (T={rT}, no noise)", ""]
        out += _table(["format", *kinds, "difference (pp)"],
                      [[c] + [_pct(acc.get((c, k))) for k in kinds]
                       + [f"{(acc[(c, kinds[1])] - acc[(c, kinds[0])]) * 100:+.2f}"]
                       for c in dict.fromkeys(r["config"] for r in rr)])
        out.append("")
    return "\n".join(out)


def _csv(rows: list[dict]) -> str:
    import csv
    import io

    cols = ["network", "experiment", "config", "T", "noise_pct", "rng", "n", "accuracy",
            "seconds"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _plot(rows: list[dict], experiment: str, xkey: str, xlabel: str, title: str, path: Path,
          logx: bool) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sel = [r for r in rows if r["experiment"] == experiment]
    for cfg in dict.fromkeys(r["config"] for r in sel):
        pts = sorted((r[xkey], r["accuracy"] * 100) for r in sel if r["config"] == cfg)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=cfg)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def write_report(rows: list[dict], outdir, name: str, title: str,
                 notes: list[str] | None = None) -> dict[str, Path]:
    """Write CSV, Markdown and the PNG plots; returns their paths by kind."""
    from .report import atomic_write

    outdir = Path(outdir)
    paths = {
        "csv": atomic_write(outdir / f"{name}_accuracy.csv", _csv(rows)),
        "md": atomic_write(outdir / f"{name}_accuracy.md", markdown_tables(rows, title, notes)),
    }
    if any(r["experiment"] == "T" for r in rows):
        rs = [r for r in rows if r["experiment"] == "T"]
        paths["png_T"] = _plot(rs, "T", "T", "spike steps T", f"{title}: accuracy against T",
                               outdir / f"{name}_vs_T.png", logx=True)
    if any(r["experiment"] == "noise" for r in rows):
        nT = next(r["T"] for r in rows if r["experiment"] == "noise")
        paths["png_noise"] = _plot(rows, "noise", "noise_pct", "input noise (%)",
                                   f"{title}: accuracy against noise (T={nT})",
                                   outdir / f"{name}_vs_noise.png", logx=False)
    return paths


# ----------------------------------------------------------------------------------------------
# sub-commands
# ----------------------------------------------------------------------------------------------
def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cmd_train(args) -> int:
    from refmodels.sbs.train import NET_DIR, NETWORKS, network_name, train_named

    # every argument is checked before the output folder is made or training starts
    if args.network not in NETWORKS:
        raise ValueError(f"unknown network {args.network!r}; valid: {', '.join(NETWORKS)}")
    if args.val_n < 0:
        raise ValueError(f"--val-n must be >= 0, got {args.val_n}")
    if args.method not in ("backprop", "em"):
        raise ValueError(f"unknown method {args.method!r}; valid: backprop, em")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    if args.n_train is not None and args.n_train < 10:
        raise ValueError(f"--n-train must be at least 10, got {args.n_train}")
    outdir = Path(args.out) if args.out else Path(NET_DIR)
    if outdir.exists() and not outdir.is_dir():
        raise ValueError(f"--out {outdir} exists and is not a folder")
    if args.quantise is not None:
        from refmodels.sbs.formats import parse_format

        if parse_format(args.quantise).is_float:
            raise ValueError("--quantise needs a coded weight format (e4m1, log4, ...)")
    if args.noise_augment is not None and not 0 < args.noise_augment <= 100:
        raise ValueError("--noise-augment must lie in (0, 100] (percent)")
    if (args.quantise is not None or args.noise_augment is not None) \
            and args.method != "backprop":
        raise ValueError("--quantise and --noise-augment fine-tune with --method backprop")
    stem = outdir / network_name(args.network, args.quantise, args.noise_augment)
    created = not outdir.exists()
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        _, meta = train_named(args.network, str(stem), method=args.method, epochs=args.epochs,
                              n_train=args.n_train, quantise=args.quantise,
                              noise_augment=None if args.noise_augment is None
                              else args.noise_augment / 100,
                              checkpoint_dir=args.checkpoint_dir, val_n=args.val_n, log=_log)
    except BaseException:
        if created and not any(outdir.iterdir()):  # leave no empty folder behind
            outdir.rmdir()
        raise
    print(f"{args.network}: {meta['n_train']} training patterns, {meta['train_seconds']} s; "
          f"mean-field accuracy on the {meta['n_test']} held-out patterns "
          f"{meta['meanfield_test_accuracy'] * 100:.2f} %")
    print(f"written {stem}.json and {stem}.npz")
    return 0


def _cmd_evaluate(args) -> int:
    import os

    from refmodels.sbs.evaluate import heldout_split, load_named, resolve_config, sweep
    from refmodels.sbs.rng import RNG_KINDS

    Ts = _parse_ints(args.T, "--T")
    configs = _csv_list(args.formats)
    if not configs:
        raise ValueError("--formats: no format given")
    for c in configs:
        resolve_config(c)
    noise_configs = _csv_list(args.noise_formats) if args.noise_formats is not None else None
    if noise_configs is not None:
        if not noise_configs:
            raise ValueError("--noise-formats: no format given")
        for c in noise_configs:
            resolve_config(c)
    noise = _parse_noise(args.noise) if args.noise else []
    if args.rng not in RNG_KINDS:
        raise ValueError(f"unknown rng {args.rng!r}; valid: {', '.join(RNG_KINDS)}")
    if args.noise_T is not None and args.noise_T < 1:
        raise ValueError("--noise-T must be a positive integer")
    if args.n is not None and args.n < 1:
        raise ValueError("--n must be a positive integer")
    if args.batch < 1:
        raise ValueError("--batch must be a positive integer")
    rngs = [args.rng] + ([k for k in RNG_KINDS if k != args.rng] if args.compare_rng else [])
    net, ds = load_named(args.network)
    x, y = heldout_split(ds)
    total = len(x)
    if not 0 <= args.offset < total:
        raise ValueError(f"--offset must lie in 0..{total - 1}")
    x, y = x[args.offset :], y[args.offset :]
    if args.n is not None:
        x, y = x[: args.n], y[: args.n]
    name = os.path.basename(args.network[:-5] if args.network.endswith(".json")
                            else args.network)
    _log(f"{name}: {len(x)} of {total} held-out {ds} patterns (from {args.offset}), formats "
         f"{', '.join(configs)}, "
         f"T {', '.join(map(str, Ts))}, rng {args.rng}")
    rows = sweep(net, x, y, Ts=Ts, configs=configs, noise=noise, noise_T=args.noise_T,
                 rngs=rngs, seed=args.seed, batch=args.batch, log=_log,
                 noise_configs=noise_configs)
    for r in rows:
        r["network"] = name
    notes = [f"Network `{name}` ({ds}), {len(x)} of the {total} held-out patterns from "
             f"{args.offset} (test split 20 %, seed 0), spike seeds {args.seed} + pattern index, "
             f"rng {args.rng}; input noise: `add_noise`, seed 1."]
    title = f"SbS {name}"
    paths = write_report(rows, args.out, name, title, notes)
    print(paths["md"].read_text())
    for kind, path in paths.items():
        print(f"{kind:>9}: {path}")
    return 0


def _cmd_hardware(args) -> int:
    from .sbs_hardware import run_cli

    return run_cli(args)


def _cmd_run(args) -> int:
    from .sbs_run import cmd_run

    return cmd_run(args)


_COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "hardware": _cmd_hardware,
             "run": _cmd_run}


def run(args) -> int:
    """Dispatch on ``args.sbs_command`` (one entry of ``_COMMANDS`` per sub-command)."""
    cmd = getattr(args, "sbs_command", None)
    if cmd is None:
        raise ValueError(f"give a sub-command: approxnn sbs {{{','.join(_COMMANDS)}}} ...")
    if cmd not in _COMMANDS:
        raise ValueError(f"unknown sbs sub-command {cmd!r}; valid: {', '.join(_COMMANDS)}")
    return _COMMANDS[cmd](args)
