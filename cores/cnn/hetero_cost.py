"""Yosys cost of heterogeneous multiplier configurations of the CNN MAC array and engine.

    python -m cores.cnn.hetero_cost [--units trunc:t=10+trunc:t=8+trunc:t=6+trunc:t=4]
                                    [--lanes 8] [--engine-params ibuf=1024,wbuf=512,cmax=16]
                                    [--no-engine] [--nodsp] [--json FILE]

Two ways to give a layer engine a choice of multiplier per layer are measured side by side
(``synth_xilinx -family xc7 -flatten``, DSP48E1 allowed; ``--nodsp`` adds the ``-nodsp``
flow):

* **lanes** (the built design, :mod:`cores.cnn.mac.mac` with a list of units): every lane holds
  one instance of each unit and a product multiplexer; one set of accumulators, weight sums,
  output bank and zero-point stage;
* **arrays** (:func:`arrays_mac`, built here only to be measured): one complete uniform MAC
  array per unit, the taps offered to the selected one, its outputs multiplexed.

Then the whole engine with the unit list against the uniform engines of each member unit and
against exact int8 (DSP-packed, and the exact unit in LUTs). Prints the Markdown tables of the
engine README.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from myhdl import Signal, always_comb, block, intbv

from cores.cnn.mac.mac import SEL_BITS, cnn_mac, module_name, normalise, ports

#: the unit list of the LeNet / MNIST per-layer choice of `approxnn explore mnist --budget 0.5`
MNIST_UNITS = "trunc:t=10+trunc:t=8+trunc:t=6+trunc:t=4"


@block
def _out_mux(sel, k, valid_a, lane_a, last_a, acc_a, valid_b, lane_b, last_b, acc_b,
             valid, lane, last, acc):
    @always_comb
    def mux():
        if sel == k:
            valid.next = valid_b
            lane.next = lane_b
            last.next = last_b
            acc.next = acc_b
        else:
            valid.next = valid_a
            lane.next = lane_a
            last.next = last_a
            acc.next = acc_a

    return mux


@block
def _gate(sel, k, in_valid, ready_k, valid_k, ready_a, ready):
    @always_comb
    def gate():
        valid_k.next = in_valid and sel == k
        if sel == k:
            ready.next = ready_k
        else:
            ready.next = ready_a

    return gate


@block
def arrays_mac(clk, rst, in_valid, in_ready, in_first, in_last, in_pad, x, w, in_zp, out_valid,
               out_lane, out_last, out_acc, sel, lanes, units):
    """The 'several arrays' alternative: one uniform MAC array per unit (same ports as the
    heterogeneous array), taps to array ``sel``, its results out."""
    insts = []
    prev = None
    for k, u in enumerate(units):
        p = normalise(lanes, u)
        (_, _, v_k, r_k, *_rest) = ports(lanes)
        o = ports(lanes)[10:]  # out_valid, out_lane, out_last, out_acc
        insts.append(cnn_mac(clk, rst, v_k, r_k, in_first, in_last, in_pad, x, w, in_zp, *o,
                             lanes=lanes, mul=p["mul"], pack=True, spec=p["spec"]))
        ready = Signal(bool(0))
        insts.append(_gate(sel, k, in_valid, r_k, v_k, prev[0] if prev else r_k, ready))
        if prev is None:
            prev = (ready, *o)
        else:
            nxt = ports(lanes)[10:]
            insts.append(_out_mux(sel, k, *prev[1:], *o, *nxt))
            prev = (ready, *nxt)

    rdy, ov, ol, olast, oacc = prev

    @always_comb
    def outputs():
        in_ready.next = rdy
        out_valid.next = ov
        out_lane.next = ol
        out_last.next = olast
        out_acc.next = oacc

    return insts, outputs


def arrays_build(lanes, units):
    """(factory, module name) of :func:`arrays_mac`."""
    names = normalise(lanes, units)["mul"].split("+")
    het = normalise(lanes, units)

    def factory():
        return arrays_mac(*ports(lanes), Signal(intbv(0)[SEL_BITS:]), lanes=lanes,
                          units=names)

    return factory, module_name(het).replace("_het_", "_arrays_")


def _synth(factory, name, flows=("dsp", "nodsp")) -> dict:
    from approxnn.eda.synth import synthesize  # noqa: PLC0415

    from cores.cnn.common import convert  # noqa: PLC0415

    out = {"module": name}
    with tempfile.TemporaryDirectory(prefix="cnn_het_") as tmp:
        src = convert(factory, name, Path(tmp))
        for flow in flows:
            r = synthesize([src], name, nodsp=flow == "nodsp", workdir=Path(tmp) / flow)
            pre = "" if flow == "dsp" else "nodsp_"
            out.update({f"{pre}luts": r.luts, f"{pre}ffs": r.ffs, f"{pre}dsps": r.dsps,
                        f"{pre}carry4": r.carry4, f"{pre}brams": r.brams})
    return out


def measure(units=MNIST_UNITS, lanes=8, engine_params=None, engine=True, stream=None,
            done=None, flows=("dsp",), save=None):
    """Rows (dicts) of the comparison; ``done``: rows measured before (by module name), not
    synthesised again; ``save(done)`` is called after every synthesis."""
    from cores.cnn.generate import build_block  # noqa: PLC0415

    stream = stream or sys.stderr
    members = normalise(lanes, units)["mul"].split("+")
    done = dict(done or {})
    jobs = [("mac", "lanes", lambda: build_block("mac", lanes=lanes, mul=units)),
            ("mac", "arrays", lambda: arrays_build(lanes, units))]
    jobs += [("mac", "uniform", lambda u=u: build_block("mac", lanes=lanes, mul=u))
             for u in members]
    jobs += [("mac", "int8", lambda: build_block("mac", lanes=lanes, mul="int8"))]
    if engine:
        ep = dict(engine_params or {})
        jobs += [("engine", "lanes", lambda: build_block("engine", lanes=lanes, mul=units,
                                                         **ep))]
        jobs += [("engine", "uniform", lambda u=u: build_block("engine", lanes=lanes, mul=u,
                                                               **ep)) for u in members]
        jobs += [("engine", "int8", lambda: build_block("engine", lanes=lanes, mul="int8", **ep))]
        if "exact:width=8,signed=1" not in members:
            jobs += [("engine", "uniform", lambda: build_block(
                "engine", lanes=lanes, mul="exact:signed=1", **ep))]
    rows = []
    for what, style, make in jobs:
        factory, name = make()
        r = done.get(name, {})
        todo = [f for f in flows if ("luts" if f == "dsp" else "nodsp_luts") not in r]
        if todo:
            stream.write(f"synthesising {name} ({', '.join(todo)}) ...\n")
            stream.flush()
            r = {**r, **_synth(factory, name, todo)}
            done[name] = r
            if save:
                save(done)
        rows.append({"block": what, "style": style, **r})
    return rows


def markdown(rows) -> str:
    head = ("| block | design | module | LUT | FF | DSP48E1 | CARRY4 | LUT (`-nodsp`) |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r['block']} | {r['style']} | `{r['module']}` | {r['luts']} | "
                     f"{r['ffs']} | {r['dsps']} | {r['carry4']} | {r.get('nodsp_luts', '-')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cores.cnn.hetero_cost",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--units", default=MNIST_UNITS, help=f"units joined by + ({MNIST_UNITS})")
    ap.add_argument("--lanes", type=int, default=8, help="P (8)")
    ap.add_argument("--engine-params", default="",
                    help="engine buffers, e.g. ibuf=4096,wbuf=4096,cmax=64 (default: the "
                    "engine's defaults, 1024 / 512 / 16)")
    ap.add_argument("--no-engine", action="store_true", help="MAC arrays only")
    ap.add_argument("--nodsp", action="store_true", help="also the -nodsp flow")
    ap.add_argument("--json", type=Path, help="keep the figures in FILE (re-used by later runs)")
    args = ap.parse_args(argv)
    try:
        ep = {}
        for kv in filter(None, args.engine_params.split(",")):
            k, eq, v = kv.partition("=")
            if not eq or not v.isdigit():
                raise ValueError(f"--engine-params: {kv!r} is not NAME=NUMBER")
            ep[k] = int(v)
        normalise(args.lanes, args.units)
    except ValueError as exc:
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 2
    done = {}
    if args.json and args.json.is_file():
        done = {r["module"]: r for r in json.loads(args.json.read_text())}
    def save(d):
        if args.json:
            tmp = args.json.with_suffix(".tmp")
            tmp.write_text(json.dumps(list(d.values()), indent=1) + "\n")
            tmp.replace(args.json)

    rows = measure(args.units, args.lanes, ep, engine=not args.no_engine, done=done,
                   flows=("dsp", "nodsp") if args.nodsp else ("dsp",), save=save)
    sys.stdout.write(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
