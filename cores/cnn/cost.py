"""Yosys cost of CNN-block configurations on 7-series (Zynq-7000).

    python -m cores.cnn.cost                      # the table of the block READMEs
    python -m cores.cnn.cost mac lanes=16 mul=int8 [pack=0]
    python -m cores.cnn.cost requant

Each configuration is converted from MyHDL and synthesised with ``synth_xilinx -family xc7
-flatten``, once with DSP48E1 blocks allowed (the ``synth`` target) and once with ``-nodsp``
(the ``synth_nodsp`` target, the flow for the approximate configurations: Yosys would otherwise
map the small ``*`` inside some units, e.g. DRUM's k x k core, to DSP48E1 blocks). Figures: LUTs
(all sizes), flip-flops, DSP48E1 and CARRY4.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

#: (block, parameters) rows of the README tables
TABLE = [
    ("requant", {}),
    ("mac", {"lanes": 4, "mul": "int8"}),
    ("mac", {"lanes": 8, "mul": "int8"}),
    ("mac", {"lanes": 16, "mul": "int8"}),
    ("mac", {"lanes": 8, "mul": "int8", "pack": False}),
    ("mac", {"lanes": 8, "mul": "exact:signed=1"}),
    ("mac", {"lanes": 8, "mul": "drum:k=4,signed=1"}),
    ("mac", {"lanes": 8, "mul": "mitchell:signed=1"}),
    ("mac", {"lanes": 8, "mul": "trunc:t=6,signed=1"}),
    ("mac", {"lanes": 8, "mul": "mitchell:signed=0"}),
    ("mac", {"lanes": 4, "mul": "drum:k=4,signed=1"}),
    ("mac", {"lanes": 16, "mul": "drum:k=4,signed=1"}),
]


def cost(block: str, flows=("dsp", "nodsp"), **params) -> dict:
    """Synthesis figures of one configuration (module name included); ``flows`` picks the
    runs: "dsp" (keys luts, ffs, dsps, carry4) and "nodsp" (keys nodsp_*)."""
    from approxnn.eda.synth import synthesize  # noqa: PLC0415

    from cores.cnn.common import convert  # noqa: PLC0415
    from cores.cnn.generate import build_block  # noqa: PLC0415

    factory, name = build_block(block, **params)
    with tempfile.TemporaryDirectory(prefix="cnn_cost_") as tmp:
        src = convert(factory, name, Path(tmp))
        out = {"module": name}
        if "dsp" in flows:
            res = synthesize([src], name, nodsp=False, workdir=Path(tmp) / "yosys")
            out.update(luts=res.luts, ffs=res.ffs, dsps=res.dsps, carry4=res.carry4,
                       brams=res.brams)
        if "nodsp" in flows:
            nd = synthesize([src], name, nodsp=True, workdir=Path(tmp) / "yosys_nodsp")
            out.update(nodsp_luts=nd.luts, nodsp_ffs=nd.ffs, nodsp_dsps=nd.dsps,
                       nodsp_carry4=nd.carry4)
    return out


def _parse(args):
    """``key=value`` words -> parameters (ints where the value is a number); ValueError on a
    word without ``=``."""
    params = {}
    for a in args:
        k, eq, v = a.partition("=")
        if not eq or not k:
            raise ValueError(f"parameter {a!r} is not key=value (e.g. lanes=8 mul=int8)")
        params[k] = int(v) if v.lstrip("-").isdigit() else v
    if "pack" in params:
        params["pack"] = bool(params["pack"])
    return params


def build_parser():
    import argparse  # noqa: PLC0415

    from cores.cnn.generate import BLOCKS  # noqa: PLC0415

    ap = argparse.ArgumentParser(
        prog="python -m cores.cnn.cost",
        description="Yosys cost (synth_xilinx -family xc7, with and without DSP48E1) of CNN "
        "blocks. Without arguments: the table of the block READMEs.",
        epilog="examples: python -m cores.cnn.cost mac lanes=16 mul=int8 pack=0; "
        "python -m cores.cnn.cost requant")
    ap.add_argument("block", nargs="?", choices=sorted(BLOCKS), metavar="BLOCK",
                    help=f"one block: {', '.join(sorted(BLOCKS))}")
    ap.add_argument("params", nargs="*", metavar="KEY=VALUE", help="block parameters")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.block is None and args.params:
        ap.error("parameters need a BLOCK")
    try:
        rows = [(args.block, _parse(args.params))] if args.block else TABLE
        if args.block:  # bad parameters are refused before any synthesis
            from cores.cnn.generate import build_block  # noqa: PLC0415

            build_block(args.block, **rows[0][1])
    except ValueError as exc:
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 2
    except TypeError as exc:  # an unknown keyword of the block's build()
        print(f"{ap.prog}: error: bad parameters for {args.block}: {exc}", file=sys.stderr)
        return 2
    from approxnn.eda.synth import YosysError  # noqa: PLC0415

    print("| module | LUT | FF | DSP48E1 | CARRY4 | RAMB | LUT (-nodsp) | CARRY4 (-nodsp) |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for block, params in rows:
            c = cost(block, **params)
            print(f"| `{c['module']}` | {c['luts']} | {c['ffs']} | {c['dsps']} | "
                  f"{c['carry4']} | {c['brams']} | "
                  f"{c['nodsp_luts']} | {c['nodsp_carry4']} |", flush=True)
    except KeyboardInterrupt:
        print(f"{ap.prog}: interrupted", file=sys.stderr)
        return 130
    except (YosysError, OSError) as exc:  # a tool failure: one line, exit 1
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
