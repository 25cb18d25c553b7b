"""The ``approxnn`` command.

Sub-commands::

    approxnn units                          list the unit registry (parameters and ranges)
    approxnn lut UNIT -o FILE.npy           write a unit's 2^n x 2^n int64 result table
    approxnn characterize UNIT [--json]     error metrics of the simulated RTL + Yosys cost
    approxnn characterize --verilog FILE --top MODULE --width N [--signed]
                          [--a A --b B --y Y] [--name NAME] [--save FILE.npz] [--model UNIT]
    approxnn characterize --all [--out reports/arith] [--widths 8]
    approxnn search [--width 8] [--signed] [--family ctrunc|bam|tern|cmp] [--h 0-2] [--l 8,10]
                    [--t 4-10] [--k 0-3] [--g 2,4] [--metric mred]
    approxnn choose [--csv reports/arith/arith.csv] [--signed] --max-mred 2 [--max-depth 9]
    approxnn cnn ... / approxnn sbs ...     reference networks (cnn_cmd.py, sbs_cmd.py)
    approxnn explore NETWORK --budget 0.5   one multiplier per CNN layer (explore_cmd.py)

A UNIT is a registry name such as ``drum:k=6,width=8,signed=1`` or a table file written by
``--save`` (``FILE.npz``). Exit codes: 0 success; 1 a tool failed, or the RTL differs from the
golden model (``rtl_matches_model`` false); 2 bad usage, a bad unit name, a missing file or ports
that do not fit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser"]


class UsageError(Exception):
    """A bad argument: printed as ``approxnn: error: ...`` with exit code 2."""


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _widths(text: str) -> list[int]:
    try:
        ws = [int(w) for w in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be integers, got {text!r}") from None
    if not ws:
        raise argparse.ArgumentTypeError("no width given")
    return ws


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="approxnn",
        description="Approximate-computing NN accelerator IP for Zynq-7000: the arithmetic "
        "unit registry, lookup tables and RTL characterisation (Icarus + Yosys); the "
        "Spike-by-Spike and CNN networks and their hardware (sbs, cnn).",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"approxnn {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    u = sub.add_parser("units", help="list the unit registry with parameters and ranges")
    u.add_argument("--kind", choices=["mul", "add"], help="only multipliers or adders")
    u.add_argument("--json", action="store_true", help="print JSON instead of text")

    lut = sub.add_parser("lut", help="write the result table of a unit (np.save, int64)")
    lut.add_argument("unit", help="unit name, e.g. drum:k=6,signed=1 (or a saved .npz table)")
    lut.add_argument("-o", "--output", required=True, help="output .npy file")

    c = sub.add_parser(
        "characterize",
        help="error metrics of the simulated RTL and FPGA cost of a unit",
        description="Characterise a registry unit, an external Verilog module (--verilog) or "
        "the whole built-in library (--all). Metrics come from the RTL simulated in Icarus "
        "(exhaustive up to 8-bit operands); cost from Yosys synth_xilinx (LUTs with -nodsp, "
        "DSP48E1 count of the default flow).",
    )
    c.add_argument("unit", nargs="?", help="unit name, e.g. drum:k=6,width=8,signed=1")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--all", action="store_true", help="characterise the built-in library")
    c.add_argument("--out", default="reports/arith", help="report folder for --all")
    c.add_argument("--widths", type=_widths, default=[8], help="operand widths for --all")
    c.add_argument("--jobs", type=int, default=2, help="worker processes for --all (2)")
    c.add_argument("--update-readmes", action="store_true",
                   help="with --all: also write the figures into cores/arith/<unit>/README.md")
    c.add_argument("--samples", type=int, default=1 << 16,
                   help="sampled operand pairs above 8-bit operands (65536)")
    c.add_argument("--seed", type=int, default=0, help="seed of the operand sample")
    c.add_argument("--no-synth", action="store_true", help="skip Yosys (metrics only)")
    c.add_argument("--workdir", help="keep generated files, simulation and Yosys logs here")
    g = c.add_argument_group("external Verilog module")
    g.add_argument("--verilog", nargs="+", metavar="FILE", help="Verilog file(s) to import")
    g.add_argument("--top", help="module to import")
    g.add_argument("--width", type=int, help="operand width in bits")
    g.add_argument("--signed", action="store_true", help="operands and result are signed")
    g.add_argument("--no-signedness-check", action="store_true",
                   help="import even when --signed (or its absence) contradicts the circuit's "
                        "port declarations or behaviour")
    g.add_argument("--a", help="first operand port (default: discovered)")
    g.add_argument("--b", help="second operand port (default: discovered)")
    g.add_argument("--y", help="result port (default: the only output)")
    g.add_argument("--kind", choices=["mul", "add"], help="unit kind (default: from --y width)")
    g.add_argument("--name", help="registry name of the imported unit (default: module name)")
    g.add_argument("--save", metavar="FILE.npz", help="save the imported table unit")
    g.add_argument("--model", metavar="UNIT",
                   help="reference unit to compare the module with (rtl_matches_model)")
    se = sub.add_parser(
        "search",
        help="structure-space search of the ctrunc / bam / tern / cmp multiplier families "
        "(Yosys cost, cached)",
        description="Search which columns to drop (t), which low rows to drop (h, --family "
        "bam / tern), the approximate compressor columns (l, --family cmp), how many dropped "
        "columns to keep as an "
        "OR (k), the best constant (c) and the number of carry-chain row groups (g); every "
        "candidate is synthesised with Yosys (cached by netlist digest) and scored exhaustively "
        "on the golden model. Prints the Pareto front and writes every candidate to a CSV.",
    )
    se.add_argument("--width", type=int, default=8, help="operand width (8)")
    se.add_argument("--signed", action="store_true", help="native two's complement units")
    se.add_argument("--t", type=_int_list, default=list(range(4, 11)),
                    help="dropped columns to try, e.g. 4-10 or 5,6,7 (4-10)")
    se.add_argument("--k", type=_int_list, default=list(range(0, 4)),
                    help="OR-compensated columns to try (0-3)")
    se.add_argument("--g", type=_int_list, default=[2, 4], help="row groups to try (2,4)")
    se.add_argument("--family", choices=["ctrunc", "bam", "tern", "cmp"], default="ctrunc",
                    help="ctrunc (contiguous row groups), bam (rows dropped, interleaved "
                    "groups), tern (ternary-adder rows) or cmp (approximate compressor tree) "
                    "(ctrunc)")
    se.add_argument("--h", type=_int_list, default=[0, 1, 2],
                    help="low rows to drop, --family bam / tern only (0-2)")
    se.add_argument("--l", type=_int_list, default=[0, 8, 10, 12],
                    help="low columns on approximate compressors, --family cmp only "
                    "(0,8,10,12)")
    se.add_argument("--metric", choices=["mred", "mae"], default="mred",
                    help="metric that picks the constant and the front (mred)")
    se.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    se.add_argument("--out", default=None,
                    help="CSV of every candidate (default reports/arith/search_w<W>_<u|s>.csv)")
    ch = sub.add_parser(
        "choose",
        help="cheapest units of a characterisation report under error and depth limits",
    )
    ch.add_argument("--csv", default="reports/arith/arith.csv",
                    help="report of `characterize --all` or `search` (reports/arith/arith.csv)")
    ch.add_argument("--width", type=int, default=8)
    ch.add_argument("--kind", choices=["mul", "add"], default="mul")
    ch.add_argument("--signed", action="store_true")
    ch.add_argument("--max-mred", type=float, help="MRED limit, %%")
    ch.add_argument("--max-mae", type=float, help="MAE limit, %% of the output range")
    ch.add_argument("--max-depth", type=float, help="logic depth limit (Yosys ltp cells)")
    ch.add_argument("--max-clock", type=float, help="clock estimate limit, ns")
    ch.add_argument("-n", type=int, default=5, help="how many units to list (5)")
    for mod in _plugins():
        mod.add_parser(sub)
    return p


def _int_list(text: str) -> list[int]:
    out = []
    try:
        for part in text.replace(" ", "").split(","):
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                out += list(range(int(lo), int(hi) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        msg = f"expected integers like 4-10 or 2,4; got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not out:
        raise argparse.ArgumentTypeError("no value given")
    return out


#: Modules of ``approxnn`` that bring a sub-command of their own. Each defines ``COMMAND`` (its
#: name), ``add_parser(subparsers)`` and ``run(args) -> int`` (the exit code).
PLUGINS = ("cnn_cmd", "sbs_cmd", "explore_cmd")


def _plugins():
    import importlib

    return [importlib.import_module(f"{__package__}.{name}") for name in PLUGINS]


def _cmd_units(args) -> int:
    from refmodels import arith

    units = arith.list_units(args.kind)
    if args.json:
        data = [
            {
                "name": u.name,
                "kind": u.kind,
                "builtin": u.builtin,
                "description": u.description,
                "parameters": u.describe_params(),
                "width_range": list(u.width_range()),
            }
            for u in units
        ]
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'unit':<10} {'kind':<4} parameters")
    for u in units:
        print(f"{u.name:<10} {u.kind:<4} {u.describe_params()}")
        if u.description:
            print(f"{'':<16}{u.description}")
    print("\nName a unit as NAME:param=value,...,width=N,signed=0|1, e.g. drum:k=6,signed=1")
    return 0


def _cmd_lut(args) -> int:
    from refmodels import arith

    from .characterize import resolve_unit
    from .report import atomic_write

    spec = resolve_unit(args.unit)
    out = Path(args.output)
    if out.suffix != ".npy":
        raise UsageError(f"output file must end in .npy (np.save format), got {out}")
    _check_parent(out, "-o")
    lut = np.ascontiguousarray(arith.make_lut(spec), dtype=np.int64)
    import io

    buf = io.BytesIO()
    np.save(buf, lut, allow_pickle=False)
    atomic_write(out, buf.getvalue())
    print(f"{spec}: {lut.shape[0]}x{lut.shape[1]} int64 table -> {out}", file=sys.stderr)
    return 0


def _check_parent(path: Path, option: str) -> None:
    """The folder of an output file must exist (it is not created behind the user's back)."""
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, not a folder")
    if not parent.exists():
        raise UsageError(f"{option} {path}: folder {parent} does not exist")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder")


def _check_outdir(path: Path) -> None:
    """A report folder must be a folder, or creatable under a writable existing folder."""
    import os

    if path.exists():
        if not path.is_dir():
            raise UsageError(f"--out {path} is a file, not a folder")
        if not os.access(path, os.W_OK):
            raise UsageError(f"--out {path}: folder is not writable")
        return
    anc = path.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"--out {path}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK):
        raise UsageError(f"--out {path}: cannot create it, {anc} is not writable")


def _cmd_search(args) -> int:
    from refmodels.arith import UnitSpec

    from . import report, search

    UnitSpec(args.family, width=args.width, signed=int(args.signed))  # validates the width
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    out = Path(args.out or
               f"reports/arith/search{'' if args.family == 'ctrunc' else '_' + args.family}"
               f"_w{args.width}_{'s' if args.signed else 'u'}.csv")
    if out.suffix != ".csv":
        raise UsageError(f"--out {out}: the candidates are written as CSV, name it FILE.csv")
    _check_outdir(out.parent)
    rows, failures = search.search(args.width, args.signed, args.t, args.k, args.g,
                                   args.metric, args.jobs, family=args.family, hs=args.h,
                                   ls=args.l)
    for unit, err in failures:
        print(f"FAILED {unit}: {err}", file=sys.stderr)
    if rows:
        report.atomic_write(out, report.to_csv(rows))
        metric = search.METRICS[args.metric]
        front = report._front_rows(rows, metric)
        print("\n".join(report._table(front)))
        print(f"{len(rows)} candidates, {len(front)} on the front; all in {out}")
    return 1 if failures or not rows else 0


def _cmd_choose(args) -> int:
    import csv

    from . import report

    path = Path(args.csv)
    if not path.is_file():
        raise FileNotFoundError(f"report not found: {path} (run `approxnn characterize --all`)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["width"] = int(r.get("width") or 0)
    picks = report.choose(rows, kind=args.kind, width=args.width, signed=args.signed,
                          max_mred=args.max_mred, max_mae=args.max_mae,
                          max_depth=args.max_depth, max_clock=args.max_clock)
    if not picks:
        print("no unit meets these limits", file=sys.stderr)
        return 1
    print("\n".join(report._table(picks[: args.n])))
    return 0


def _print_result(res: dict, as_json: bool) -> None:
    from .characterize import format_result

    if as_json:
        print(json.dumps(res, default=_json_default))
    else:
        print(format_result(res))


def _cmd_characterize(args, parser) -> int:
    from . import characterize as ch

    modes = sum(bool(x) for x in (args.unit, args.verilog, args.all))
    if modes != 1:
        raise UsageError("give exactly one of UNIT, --verilog FILE or --all")
    ext_opts = [o for o in ("top", "width", "a", "b", "y", "kind", "name", "save", "model")
                if getattr(args, o) is not None] + (["signed"] if args.signed else []) + (
                ["no-signedness-check"] if args.no_signedness_check else [])
    if not args.verilog and ext_opts:
        raise UsageError(f"--{ext_opts[0]} is only valid with --verilog")
    if args.samples < 1:
        raise UsageError("--samples must be positive")
    if args.all:
        from refmodels.arith.registry import BUILTIN_WIDTH_RANGE

        if args.json:
            raise UsageError("--json is not available with --all (see the CSV report)")
        if args.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        lo, hi = BUILTIN_WIDTH_RANGE
        bad_w = [w for w in args.widths if not lo <= w <= hi]
        if bad_w:
            raise UsageError(f"--widths: {bad_w[0]} is out of range, built-in units have "
                             f"widths {lo}..{hi}")
        _check_outdir(Path(args.out))
        rows, failures, paths, seconds = ch.characterize_all(
            args.out, args.widths, jobs=args.jobs, samples=args.samples, seed=args.seed,
            do_synth=not args.no_synth,
        )
        for unit, err in failures:
            print(f"FAILED {unit}: {err}", file=sys.stderr)
        bad = [r["unit"] for r in rows if r.get("rtl_matches_model") is False]
        for unit in bad:
            print(f"MISMATCH {unit}: RTL differs from the golden model", file=sys.stderr)
        if "md" in paths:
            print(Path(paths["md"]).read_text())
        print(f"{len(rows)} units characterised in {seconds:.1f} s, {len(failures)} failed")
        for kind, path in paths.items():
            print(f"{kind:>4}: {path}")
        if args.update_readmes and rows:
            from cores.arith.generate import ARITH_DIR

            from .report import update_block_readmes

            note = ("Width 8, from `approxnn characterize --all --update-readmes` (RTL simulated "
                    "exhaustively in Icarus; Yosys `synth_xilinx -family xc7 -nodsp`, DSP from "
                    "the default flow).")
            for path in update_block_readmes(rows, ARITH_DIR, note):
                print(f"updated {path}")
        return 1 if failures or bad or not rows else 0
    if args.verilog:
        if not args.top or args.width is None:
            raise UsageError("--verilog needs --top MODULE and --width N")
        if args.save is not None:
            if Path(args.save).suffix != ".npz":
                raise UsageError(f"--save {args.save}: the table is written as .npz, name the "
                                 "file FILE.npz")
            _check_parent(Path(args.save), "--save")
        res = ch.characterize_verilog(
            args.verilog, args.top, args.width, signed=args.signed, a=args.a, b=args.b,
            y=args.y, kind=args.kind, name=args.name, save=args.save, model=args.model,
            do_synth=not args.no_synth, workdir=args.workdir,
            check_signed=not args.no_signedness_check,
        )
    else:
        res = ch.characterize_unit(
            args.unit, samples=args.samples, seed=args.seed, do_synth=not args.no_synth,
            workdir=args.workdir,
        )
    _print_result(res, args.json)
    return 0 if res.get("rtl_matches_model") is not False else 1


def _terminate(signum, frame):
    # a SIGTERM ends the run like Ctrl-C: the temporary folders are removed on the way out
    raise KeyboardInterrupt


def main(argv=None) -> int:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from refmodels.arith import UnitError

    from .eda.rtlsim import SimError
    from .eda.synth import YosysError
    from .importer import ImportErrorPorts

    try:
        if args.command == "units":
            return _cmd_units(args)
        if args.command == "lut":
            return _cmd_lut(args)
        if args.command == "characterize":
            return _cmd_characterize(args, parser)
        if args.command == "search":
            return _cmd_search(args)
        if args.command == "choose":
            return _cmd_choose(args)
        for mod in _plugins():
            if args.command == mod.COMMAND:
                return mod.run(args)
    except (UsageError, UnitError, ImportErrorPorts, FileNotFoundError, ValueError) as exc:
        print(f"approxnn: error: {exc}", file=sys.stderr)
        return 2
    except (SimError, YosysError) as exc:
        print(f"approxnn: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("approxnn: interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
