"""``approxnn cnn import / compile / run``: TFLite models in, engine programs, end to end on the
golden model, the system simulation of the board target, or a board.

    approxnn cnn import MODEL.tflite [-o NET]
    approxnn cnn compile NET|MODEL.tflite -o PROG
    approxnn cnn run MODEL --backend golden|sim|pynq [--unit U] [--images N]
    approxnn cnn run MODEL --inputs X.npy --backend golden|sim|pynq --out Y.npy

MODEL / NET: a ``.tflite`` file, an imported graph (``NET.json`` + ``NET.npz``), an engine
program (``PROG.json`` + ``PROG.npz``) or a stored network name (``mnist``, ``digits``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ("golden", "sim", "pynq")

__all__ = ["add_parsers", "cmd_import", "cmd_compile", "cmd_run", "resolve", "run_sim"]


# ------------------------------------------------------------------------------ models


class Model:
    """What a MODEL argument names: the graph (None for a bare program), the program, the
    stored network (for its data set), the .tflite bytes (None if not a .tflite)."""

    def __init__(self, graph=None, program=None, net=None, tflite=None, label=""):
        self.graph, self.program, self.net, self.tflite, self.label = (graph, program, net,
                                                                       tflite, label)


def engine_params():
    """(lanes, ibuf, wbuf, cmax) of the board target's engine (cores/zynq)."""
    from cores.zynq.generate import TOPS  # noqa: PLC0415

    p = TOPS["engine"]["params"]
    return p["lanes"], p["ibuf"], p["wbuf"], p["cmax"]


def resolve(model: str) -> Model:
    from approxnn_host import program as P  # noqa: PLC0415

    from refmodels.cnn.graph import from_network, load_graph  # noqa: PLC0415
    from refmodels.cnn.net import NETWORK_DIR, load_network  # noqa: PLC0415
    from refmodels.cnn.tflite_import import load_tflite  # noqa: PLC0415

    p = Path(model)
    if p.suffix == ".tflite":
        g = load_tflite(p)
        return Model(graph=g, tflite=p.read_bytes(), label=p.name)
    js = p if p.suffix == ".json" else p.with_suffix(".json")
    if js.is_file():
        if P.is_program(js):
            return Model(program=P.load(js), label=js.name)
        return Model(graph=load_graph(js), label=js.name)
    if (NETWORK_DIR / f"{model}.json").is_file() and "/" not in model:
        net = load_network(model)
        if "quant" not in net.topology:
            raise ValueError(f"network {model} is not quantised")
        return Model(graph=from_network(net), net=net, label=f"stored network {model}")
    if p.exists():
        raise ValueError(f"{model}: not a .tflite file, a graph or an engine program")
    raise FileNotFoundError(f"{model}: no such file or stored network")


def _program(m: Model, engine=None):
    from approxnn_host import program as P  # noqa: PLC0415

    if m.program is not None:
        return m.program
    lanes, ibuf, wbuf, cmax = engine or engine_params()
    return P.compile_graph(m.graph, lanes=lanes, ibuf=ibuf, wbuf=wbuf, cmax=cmax)


# ------------------------------------------------------------------------------ import / compile


def _summary(g) -> str:
    kinds = {}
    for o in g.ops:
        kinds[o["type"]] = kinds.get(o["type"], 0) + 1
    ops = ", ".join(f"{n} {k}" for k, n in kinds.items())
    return (f"{g.name}: input {list(g.input_shape)}, output {list(g.output_shape)}, "
            f"{len(g.ops)} ops ({ops})")


def cmd_import(args) -> int:
    from refmodels.cnn.tflite_import import load_tflite  # noqa: PLC0415

    src = Path(args.model)
    g = load_tflite(src)
    out = Path(args.output) if args.output else Path(src.stem)
    path = g.save(out)
    print(_summary(g))
    print(f"wrote {path} and {path.with_suffix('.npz')}")
    return 0


def cmd_compile(args) -> int:
    m = resolve(args.model)
    if m.graph is None:
        raise ValueError(f"{args.model} is already an engine program")
    prog = _program(m, (args.lanes, args.ibuf, args.wbuf, args.cmax))
    path = prog.save(args.output)
    runs = sum(st["kind"] == "engine" for st in prog.steps)
    host = len(prog.steps) - runs
    print(f"{m.graph.name}: {len(m.graph.ops)} ops -> {runs} engine runs, {host} host steps; "
          f"arena {prog.meta['arena']} bytes (P = {args.lanes}, ibuf {args.ibuf}, wbuf "
          f"{args.wbuf}, cmax {args.cmax})")
    print(f"wrote {path} and {path.with_suffix('.npz')}")
    return 0


# ------------------------------------------------------------------------------ backends


def engine_sources(unit, build_dir: Path):
    """(Verilog sources, top module) of the board target's engine top with multiplier
    ``unit`` (None: the committed int8 top; otherwise converted once into ``build_dir``)."""
    from cores.zynq import generate as zg  # noqa: PLC0415

    t = zg.TOPS["engine"]
    if unit in (None, "int8"):
        return [zg.ZYNQ_DIR / f for f in zg.files_of("engine") if f.endswith(".v")], t["top"]
    from cores.cnn.common import convert  # noqa: PLC0415
    from cores.zynq.wrapper import wrapper_text  # noqa: PLC0415

    factory, module = zg._engine(**dict(t["params"], mul=unit))
    out = Path(build_dir) / module
    top_v = out / f"{t['top']}.v"
    if not top_v.is_file():
        out.mkdir(parents=True, exist_ok=True)
        core = convert(factory, module, out).read_text()
        text = wrapper_text(core, module, t["top"], zg.FREQ_HZ, zg.GENERATOR) + "\n" + core
        tmp = top_v.with_suffix(".part")
        tmp.write_text(text)
        tmp.replace(top_v)
    return [top_v], t["top"]


def run_sim(prog, xq, unit=None, sim="icarus", build_dir="build/cnn_run", seed=1):
    """The program through the CNN system simulation: (outputs, report dict)."""
    from approxnn.eda.sim import run_cocotb  # noqa: PLC0415
    from verif.zynq.system import write_sim_top  # noqa: PLC0415

    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    srcs, top = engine_sources(unit, build / "rtl")
    top_v = next(s for s in srcs if s.name == f"{top}.v")
    with tempfile.TemporaryDirectory(dir=build) as tmp:
        tmp = Path(tmp)
        sim_top = write_sim_top(top, top_v, tmp / "sim_top.v")
        prog.save(tmp / "prog")
        np.save(tmp / "x.npy", np.asarray(xq, np.int8))
        env = {"APPROXNN_PROGRAM": str(tmp / "prog.json"), "APPROXNN_INPUTS": str(tmp / "x.npy"),
               "APPROXNN_OUTPUTS": str(tmp / "y.npy"), "APPROXNN_REPORT": str(tmp / "r.json"),
               "APPROXNN_ENGINE_LANES": prog.meta["engine"]["lanes"], "APPROXNN_SEED": seed,
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        tag = "int8" if unit in (None, "int8") else srcs[0].parent.name
        res = run_cocotb(sim, [*srcs, sim_top], f"sim_{top}", "verif.zynq.cocotb_program",
                         build / f"sim_{sim}_{tag}", extra_env=env, seed=seed)
        if not res.passed or not (tmp / "y.npy").is_file():
            from approxnn.eda.rtlsim import SimError  # noqa: PLC0415

            raise SimError(f"the system simulation failed ({res}); see its log in "
                               f"{build / f'sim_{sim}_{tag}'}")
        return (np.load(tmp / "y.npy", allow_pickle=False),
                json.loads((tmp / "r.json").read_text()))


def _pynq():
    try:
        import pynq  # noqa: PLC0415 - on a board only
    except ImportError:
        raise ValueError("--backend pynq needs the 'pynq' package: run on a PYNQ board image "
                         "with the approxnn_cnn overlay (fpga/README.md)") from None
    return pynq


def run_pynq(prog, xq, overlay):
    pynq = _pynq()
    Overlay, allocate = pynq.Overlay, pynq.allocate
    from approxnn_host import program as P  # noqa: PLC0415
    from approxnn_host.cnn import CnnEngine  # noqa: PLC0415

    drv = CnnEngine(Overlay(overlay), allocate)
    eng = prog.meta["engine"]
    if drv.lanes != eng["lanes"] or drv.cmax < eng["cmax"]:
        raise ValueError(f"the program is for P = {eng['lanes']}, cmax = {eng['cmax']}; the "
                         f"overlay's engine has P = {drv.lanes}, cmax = {drv.cmax}")
    images, t0 = [], time.perf_counter()
    y, cycles = P.run(prog, drv, xq)
    wall = (time.perf_counter() - t0) / max(1, len(xq))
    for c in cycles:
        images.append({"cycles": c, "wall_s": wall})
    return y, {"images": images}


def golden_outputs(m: Model, prog, xq, mul):
    """The golden model's outputs: TFLite's reference kernels op by op on the graph (exact),
    or the program on the golden engine with the approximate unit ``mul``."""
    from approxnn_host import program as P  # noqa: PLC0415

    if mul is None and m.graph is not None:
        return m.graph.run(xq)
    amul = None
    if mul is not None:
        from refmodels.cnn.approx import ApproxMul  # noqa: PLC0415

        amul = ApproxMul.from_unit(mul)
    return P.run(prog, P.GoldenEngine(amul, prog.meta["engine"]["lanes"]), xq)[0]


def reference_outputs(m: Model, xq):
    """LiteRT's reference interpreter (BUILTIN_REF) on the model, or None where
    ai-edge-litert is not installed."""
    from refmodels.cnn import graph_litert  # noqa: PLC0415

    if not graph_litert.available() or m.graph is None:
        return None
    model = m.tflite if m.tflite is not None else graph_litert.to_tflite(m.graph)
    return graph_litert.run_reference(model, xq)


# ------------------------------------------------------------------------------ run


def _load_inputs(path, shape):
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a .npy array ({exc})") from None
    if x.dtype != np.int8:
        raise ValueError(f"{path}: inputs must be int8 codes (NHWC), got {x.dtype}")
    if x.shape == tuple(shape):
        x = x[None]
    if x.shape[1:] != tuple(shape):
        raise ValueError(f"{path}: shape {x.shape}, the model takes (N, "
                         f"{', '.join(map(str, shape))})")
    return x


def _images(m: Model, shape, n, seed):
    """``n`` test inputs: the held-out images of a stored network's data set, else random
    int8 codes (seeded)."""
    if m.net is not None:
        from refmodels.cnn.net import load_dataset  # noqa: PLC0415

        _, _, xt, _ = load_dataset(m.net.topology["dataset"])
        return m.net.quantize_input(xt[:n]), f"{n} held-out {m.net.topology['dataset']} images"
    rng = np.random.default_rng(seed)
    return (rng.integers(-128, 128, (n, *shape)).astype(np.int8),
            f"{n} random int8 inputs (seed {seed})")


def _save_npy(path, arr):
    path = Path(path)
    tmp = path.with_name(path.name + ".part.npy")
    np.save(tmp, arr)
    tmp.replace(path)


def cmd_run(args) -> int:
    if args.backend not in BACKENDS:
        raise ValueError(f"unknown backend {args.backend!r}; valid: {', '.join(BACKENDS)}")
    if (args.inputs is None) != (args.out is None):
        raise ValueError("--inputs and --out go together")
    if args.backend == "pynq":
        _pynq()
    mul = None if args.unit in (None, "int8", "exact") else args.unit
    if mul is not None:
        from refmodels.cnn.approx import ApproxMul  # noqa: PLC0415

        ApproxMul.from_unit(mul)  # a bad unit name fails here, before any simulation
    m = resolve(args.model)
    prog = _program(m)
    shape = prog.input_shape
    if args.inputs is not None:
        xq = _load_inputs(args.inputs, shape)
        what = f"{len(xq)} inputs from {args.inputs}"
    else:
        if args.images < 1:
            raise ValueError("--images must be at least 1")
        xq, what = _images(m, shape, args.images, args.seed)
    print(f"{m.label}: {what}, backend {args.backend}, unit {mul or 'exact int8'}")
    t0 = time.perf_counter()
    if args.backend == "golden":
        y = golden_outputs(m, prog, xq, mul)
        report = None
    elif args.backend == "sim":
        y, report = run_sim(prog, xq, mul, args.sim, args.build_dir, args.seed)
    else:
        y, report = run_pynq(prog, xq, args.overlay)
    wall = time.perf_counter() - t0
    problems = []
    if args.backend != "golden":
        want = golden_outputs(m, prog, xq, mul)
        bad = int(np.sum(np.any(y.reshape(len(y), -1) != want.reshape(len(want), -1), axis=1)))
        print(f"golden model: {'bit-exact' if not bad else f'{bad} of {len(y)} outputs DIFFER'}"
              f" ({len(xq)} inputs)")
        if bad:
            problems.append("the backend differs from the golden model")
    if mul is None and not args.no_reference and m.graph is None:
        print("LiteRT reference interpreter: not compared (an engine program holds no model)")
    elif mul is None and not args.no_reference:
        ref = reference_outputs(m, xq)
        if ref is None:
            print("LiteRT reference interpreter: not installed (pip install ai-edge-litert), "
                  "not compared")
        else:
            bad = int(np.sum(np.any(y.reshape(len(y), -1) != ref.reshape(len(ref), -1),
                                    axis=1)))
            print(f"LiteRT reference interpreter (BUILTIN_REF): "
                  f"{'bit-exact' if not bad else f'{bad} outputs DIFFER'}")
            if bad:
                problems.append("the backend differs from LiteRT's reference kernels")
    if report is not None:
        _print_cycles(prog, report)
    if m.net is not None and args.inputs is None:
        from refmodels.cnn.net import load_dataset  # noqa: PLC0415

        yt = load_dataset(m.net.topology["dataset"])[3][: len(y)]
        acc = float(np.mean(np.argmax(y.reshape(len(y), -1), axis=1) == yt))
        print(f"top-1 on these images: {acc * 100:.1f} %")
    print(f"wall time {wall:.1f} s ({wall / len(xq):.2f} s per input)")
    if problems:
        print(f"approxnn: error: {problems[0]}", file=sys.stderr)
        return 1
    if args.out is not None:
        _save_npy(args.out, np.asarray(y, np.int8).reshape(len(y), *prog.output_shape))
        print(f"wrote {args.out}: {len(y)} rows of {list(prog.output_shape)} int8")
    return 0


def _print_cycles(prog, report):
    from approxnn_host.program import cycles_per_op  # noqa: PLC0415

    from cores.zynq.generate import FREQ_HZ  # noqa: PLC0415

    imgs = report["images"]
    per = [cycles_per_op(prog, im["cycles"]) for im in imgs]
    ops = list(per[0])
    runs = {}
    for st in prog.steps:
        runs[st["op"]] = runs.get(st["op"], 0) + (st["kind"] == "engine")
    mhz = FREQ_HZ / 1e6
    print(f"\n| op | engine runs | engine cycles | us at {mhz:.0f} MHz |")
    print("|---|---|---|---|")
    total = 0.0
    for op in ops:
        c = float(np.mean([p[op] for p in per]))
        total += c
        print(f"| {op} | {runs[op]} | {c:,.0f} | {c / mhz:,.1f} |")
    print(f"| total | {sum(runs.values())} | {total:,.0f} | {total / mhz:,.1f} |\n")
    line = f"latency at {mhz:.0f} MHz: {total / mhz / 1e3:.3f} ms per input (engine cycles"
    if "fabric_cycles" in imgs[0]:
        fab = float(np.mean([im["fabric_cycles"] for im in imgs]))
        line += f"; {fab:,.0f} simulated fabric cycles with the register and DMA set-up = " \
                f"{fab / mhz / 1e3:.3f} ms"
    print(line + ")")
    cpu = [im["cpu_s"] for im in imgs if "cpu_s" in im]
    print(f"simulation wall time: {np.mean([im['wall_s'] for im in imgs]):.1f} s per input"
          + (f" ({np.mean(cpu):.1f} s CPU of the simulator process)" if cpu else ""))


# ------------------------------------------------------------------------------ parsers


def add_parsers(sub):
    i = sub.add_parser("import", help="read an int8 .tflite model into a graph (NET.json/.npz)")
    i.add_argument("model", help="MODEL.tflite")
    i.add_argument("-o", "--output", default=None,
                   help="NET path without suffix (default: the model's name, here)")
    c = sub.add_parser("compile", help="compile a graph, .tflite or stored network into an "
                       "engine program (PROG.json/.npz)")
    c.add_argument("model", help="NET (graph), MODEL.tflite or a stored network name")
    c.add_argument("-o", "--output", required=True, help="PROG path without suffix")
    lanes, ibuf, wbuf, cmax = engine_params()
    c.add_argument("--lanes", type=int, default=lanes, help=f"engine P (default {lanes})")
    c.add_argument("--ibuf", type=int, default=ibuf, help=f"input buffer (default {ibuf})")
    c.add_argument("--wbuf", type=int, default=wbuf, help=f"weight buffer (default {wbuf})")
    c.add_argument("--cmax", type=int, default=cmax, help=f"channel table (default {cmax})")
    r = sub.add_parser("run", help="run a model end to end: golden model, system simulation "
                       "or a PYNQ board")
    r.add_argument("model", help="MODEL.tflite, NET, PROG or a stored network name")
    r.add_argument("--backend", default="golden", help="golden | sim | pynq (default golden)")
    r.add_argument("--unit", default=None,
                   help="multiplier of the engine (e.g. drum:k=4,width=8,signed=1; default "
                   "exact int8); sim builds an engine top with it")
    r.add_argument("--images", type=int, default=1,
                   help="test inputs when no --inputs (stored network: held-out images; "
                   "otherwise random int8)")
    r.add_argument("--inputs", default=None, help="X.npy: int8 inputs (N, *input shape)")
    r.add_argument("--out", default=None, help="Y.npy: int8 outputs, one row per input")
    r.add_argument("--seed", type=int, default=1, help="seed of random inputs / stalls")
    r.add_argument("--sim", default="icarus", help="simulator of --backend sim (icarus, "
                   "verilator)")
    r.add_argument("--build-dir", default="build/cnn_run", help="simulation build folder")
    r.add_argument("--overlay", default="approxnn_cnn.bit", help="--backend pynq: bitstream")
    r.add_argument("--no-reference", action="store_true",
                   help="skip the LiteRT reference interpreter comparison")
