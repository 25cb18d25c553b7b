"""Engine programs: a quantised CNN compiled for the CNN layer engine, and their execution.

A program is what a host needs to run a network on the engine and nothing else: a list of
steps in execution order, a buffer plan (every activation tensor at an offset of one int8
arena, space reused once a tensor is dead) and the arrays. Steps:

* ``engine``: one run of the engine - the layer description of the engine's registers (the
  attributes of ``verif.cnn.engine_env.Layer``: ``h w c oc fh fw sy sx pt pl oh ow zp_in zp_out
  act_min act_max mode depthwise``), the slice of the input tensor it reads (rows ``in_rows``,
  channels ``in_ch``) and the block of the output tensor it writes (rows ``out_rows``, channels
  ``out_ch``); arrays ``s<i>.wt``, ``s<i>.bias``, ``s<i>.mult``, ``s<i>.shift``, ``s<i>.fscale``
  (FullyConnected: MODE.FLOAT_SCALE) and ``s<i>.words`` (the weights packed for the engine's
  lanes). A layer whose output channels exceed the channel table or whose weights exceed the
  weight buffer runs in several channel groups, one whose input rows exceed the input buffer
  in several row bands (each band reads its rows plus the filter's halo);
* ``add``: TFLite's int8 Add on the host (the engine has none), its multipliers in ``params``;
* ``reshape``: a copy (NHWC data unchanged).

Stored as ``PROG.json`` + ``PROG.npz`` (no pickles). :func:`run` executes a program on any
object with ``run_layer(layer) -> int8 codes`` and ``cycles`` (the engine driver
:class:`approxnn_host.cnn.CnnEngine` on a board or on the simulation's PYNQ-API shim, or the
golden model's :class:`GoldenEngine`), so the same program runs on the golden model, in the
system simulation and on a board. :func:`compile_graph` (repository only) makes programs.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .layers import fc_shape

FORMAT = "approxnn-program-1"
SCALARS = ("h", "w", "c", "oc", "fh", "fw", "sy", "sx", "pt", "pl", "oh", "ow", "zp_in",
           "zp_out", "act_min", "act_max", "mode", "depthwise", "dm")
ARRAYS = ("wt", "bias", "mult", "shift", "fscale", "words")
#: engine register fields: 8-bit sizes, 4-bit filter / stride / pads
FIELD_MAX = {"h": 255, "w": 255, "c": 255, "oc": 255, "oh": 255, "ow": 255, "fh": 15,
             "fw": 15, "sy": 15, "sx": 15, "pt": 15, "pl": 15}
POOL_MODE = {"max_pool": 2, "avg_pool": 3}


class ProgramError(ValueError):
    """A network the engine cannot run, or a bad program file (one-line message)."""


def _tfl():
    try:
        from refmodels.cnn import tflite  # noqa: PLC0415 - in the repository
    except ImportError:
        from . import tflite  # noqa: PLC0415 - the copy on a board (refmodels/cnn/tflite.py)
    return tflite


# ------------------------------------------------------------------------------ the program


class Program:
    def __init__(self, meta: dict, arrays: dict):
        self.meta, self.arrays = meta, arrays

    @property
    def steps(self):
        return self.meta["steps"]

    @property
    def input_shape(self):
        return tuple(self.meta["buffers"][self.meta["input"]]["shape"])

    @property
    def output_shape(self):
        return tuple(self.meta["buffers"][self.meta["output"]]["shape"])

    def layer(self, i: int) -> SimpleNamespace:
        """The layer description of engine step ``i`` (without its input ``x``)."""
        st = self.steps[i]
        lay = SimpleNamespace(**st["layer"])
        lay.depthwise = bool(lay.depthwise)
        for k in ARRAYS:
            v = self.arrays.get(f"s{i}.{k}")
            setattr(lay, k, None if v is None or v.size == 0 else v)
        return lay

    def save(self, path) -> Path:
        base = Path(path)
        if base.suffix in (".json", ".npz"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
        jtmp = base.with_name(base.name + ".json.part")
        ntmp = base.with_name(base.name + ".part.npz")
        jtmp.write_text(json.dumps(self.meta, indent=1) + "\n")
        np.savez_compressed(ntmp, **self.arrays)
        ntmp.replace(base.with_suffix(".npz"))
        jtmp.replace(base.with_suffix(".json"))
        return base.with_suffix(".json")


def is_program(path) -> bool:
    p = Path(path)
    p = p if p.suffix == ".json" else p.with_suffix(".json")
    try:
        return json.loads(p.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return False


def load(path) -> Program:
    base = Path(path)
    if base.suffix in (".json", ".npz"):
        base = base.with_suffix("")
    jp, npz = base.with_suffix(".json"), base.with_suffix(".npz")
    try:
        meta = json.loads(jp.read_text())
    except FileNotFoundError:
        raise ProgramError(f"{jp}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProgramError(f"{jp}: not an engine program ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ProgramError(f"{jp}: not an engine program (no format {FORMAT!r})")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ProgramError(f"{npz}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ProgramError(f"{npz}: cannot read the arrays ({exc})") from None
    return Program(meta, arrays)


# ------------------------------------------------------------------------------ execution


class GoldenEngine:
    """The engine as the golden model (repository only): ``run_layer`` gives the layer's
    output from ``refmodels.cnn`` (``verif.cnn.engine_env.golden``: TFLite's reference kernels,
    or the approximate unit ``mul``), ``cycles`` the engine's cycle formula (no stalls).

    A run of a row band (``lay.origin``: the op's input height and padding, the band's first
    input and output rows) is computed as the whole op over an input that holds the band's
    rows in place, then cut to the band's output rows: the engine skips the taps outside the
    map, which is what the golden kernels do with TFLite's padding (an explicitly padded map
    would not be, for an approximate multiplier)."""

    def __init__(self, mul=None, lanes=4):
        self.mul, self.lanes, self.cycles = mul, lanes, 0

    def run_layer(self, lay):
        from verif.cnn.engine.layers import golden  # noqa: PLC0415 - repository only

        self.cycles = cycle_formula(lay, self.lanes)
        o = getattr(lay, "origin", None) or {"h": lay.h, "padding": "SAME" if lay.pt or lay.pl
                                             else "VALID", "lo": 0, "r0": 0}
        v = SimpleNamespace(**vars(lay))
        v.kind = ("maxpool" if lay.mode == 2 else "avgpool" if lay.mode == 3 else
                  "depthwise" if lay.depthwise else "fc" if lay.fscale is not None else "conv")
        x = np.full((1, o["h"], lay.w, lay.c), lay.zp_in, np.int64)
        x[:, o["lo"]: o["lo"] + lay.h] = np.asarray(lay.x, np.int64).reshape(1, lay.h, lay.w,
                                                                            lay.c)
        v.x, v.h, v.padding = x, o["h"], o["padding"]
        y = np.asarray(golden(v, self.mul), np.int64)
        y = y.reshape(1, -1, lay.ow, lay.oc)[:, o["r0"]: o["r0"] + lay.oh]
        return y.reshape(-1)


def cycle_formula(lay, lanes):
    """Engine cycles of a run without stalls (cores/cnn/engine/README.md)."""
    t = lay.fh * lay.fw
    if lay.mode in (2, 3):
        return 16 + lay.h * lay.w * lay.c + lay.oh * lay.ow * lay.c * (t + 1) + 4
    if not lay.depthwise:
        t *= lay.c
    g = lay.oc if lay.depthwise else -(-lay.oc // lanes)
    return (14 + lay.h * lay.w * lay.c + g * t + lay.oh * lay.ow * g * max(t + 1, lanes)
            + lanes + 11)


def run(prog: Program, engine, xq, on_step=None):
    """The program's int8 outputs for ``xq`` (N, *input shape) int8, one row per input, and
    per step the engine cycles (a list per image: step index -> cycles, host steps 0).
    ``on_step(image, step, cycles)`` is called after every step."""
    xq = np.asarray(xq)
    if xq.dtype != np.int8 or xq.shape[1:] != prog.input_shape:
        raise ProgramError(f"need int8 inputs of shape (N, "
                           f"{', '.join(map(str, prog.input_shape))}), got {xq.dtype} "
                           f"{xq.shape}")
    bufs = prog.meta["buffers"]
    arena = np.zeros(prog.meta["arena"], np.int8)

    def view(name):
        b = bufs[name]
        return arena[b["offset"]: b["offset"] + b["size"]].reshape(b["shape"])

    outs, cycles = [], []
    for n, x in enumerate(xq):
        view(prog.meta["input"])[...] = x
        cyc = []
        for i, st in enumerate(prog.steps):
            c = 0
            if st["kind"] == "engine":
                src = view(st["input"]).reshape(st["in_shape"])
                r0, r1 = st["in_rows"]
                c0, c1 = st["in_ch"]
                lay = prog.layer(i)
                lay.x = np.ascontiguousarray(src[r0:r1, :, c0:c1]).reshape(1, lay.h, lay.w,
                                                                            lay.c)
                lay.origin = st.get("origin")
                y = np.asarray(engine.run_layer(lay), np.int64)
                dst = view(st["output"]).reshape(st["out_shape"])
                o0, o1 = st["out_rows"]
                k0, k1 = st["out_ch"]
                dst[o0:o1, :, k0:k1] = y.reshape(o1 - o0, lay.ow, k1 - k0).astype(np.int8)
                c = int(engine.cycles)
            elif st["kind"] == "add":
                tfl = _tfl()
                a, b = (view(t) for t in st["inputs"])
                view(st["output"])[...] = tfl.add(a, b, st["params"], st["act_min"],
                                                  st["act_max"])
            else:  # reshape
                view(st["output"])[...] = view(st["input"]).reshape(
                    bufs[st["output"]]["shape"])
            cyc.append(c)
            if on_step is not None:
                on_step(n, i, c)
        outs.append(view(prog.meta["output"]).copy())
        cycles.append(cyc)
    return np.stack(outs), cycles


def cycles_per_op(prog: Program, cycles) -> dict:
    """Engine cycles per graph op (summed over its runs), for one image's list."""
    out = {}
    for st, c in zip(prog.steps, cycles, strict=True):
        out[st["op"]] = out.get(st["op"], 0) + int(c)
    return out


# ------------------------------------------------------------------------------ compiling


def compile_graph(graph, lanes=4, ibuf=4096, wbuf=4096, cmax=64) -> Program:
    """The engine program of ``graph`` (a :class:`refmodels.cnn.graph.Graph`) for an engine
    with ``lanes`` MAC lanes, an input buffer of ``ibuf`` activations, a weight buffer of
    ``wbuf`` words and ``cmax`` channel-table entries (the CAPS of the build)."""
    tfl = _tfl()
    steps, arrays = [], {}
    shapes = {t: list(d["shape"]) for t, d in graph.tensors.items()}
    for o in graph.ops:
        t, nm = o["type"], o["name"]
        x, y = o["inputs"][0], o["output"]
        if t == "add":
            p = graph.params(o)
            steps.append({"op": nm, "kind": "add", "inputs": list(o["inputs"]), "output": y,
                          "params": p["add"], "act_min": int(p["act_min"]),
                          "act_max": int(p["act_max"])})
            continue
        if t == "reshape":
            steps.append({"op": nm, "kind": "reshape", "input": x, "output": y})
            continue
        p = graph.params(o)
        xs = shapes[x]
        base = {"zp_in": p["zp_in"], "zp_out": p["zp_out"], "act_min": int(p["act_min"]),
                "act_max": int(p["act_max"]), "dm": 1}
        if t == "fully_connected":
            w = graph.arrays[nm + ".w"]
            oc, k = w.shape
            h, wd, c = fc_shape(k)
            wt = w.reshape(oc, h, wd, c)
            lay = dict(base, h=h, w=wd, c=c, fh=h, fw=wd, sy=1, sx=1, pt=0, pl=0, oh=1, ow=1,
                       mode=0, depthwise=0)
            in_shape, out_shape = [h, wd, c], [1, 1, oc]
            fscale, padding = np.asarray(p["scale"], np.float64), "VALID"
        elif t in ("conv2d", "depthwise_conv2d", "max_pool", "avg_pool"):
            h, wd, c = xs
            if t in POOL_MODE:
                fh, fw = o["pool"]
                wt = None
            else:
                wt = graph.arrays[nm + ".w"]
                fh, fw = wt.shape[1:3]
            sy, sx = o["stride"]
            oh, pt, _ = tfl.compute_padding(h, fh, sy, 1, o["padding"])
            ow, pl, _ = tfl.compute_padding(wd, fw, sx, 1, o["padding"])
            dm = o.get("depth_multiplier", 1)
            dw = t == "depthwise_conv2d"
            mode = POOL_MODE.get(t, 0) | (1 if dw else 0) | ((dm << 8) if dw and dm > 1 else 0)
            lay = dict(base, h=h, w=wd, c=c, fh=fh, fw=fw, sy=sy, sx=sx, pt=pt, pl=pl, oh=oh,
                       ow=ow, mode=mode, depthwise=int(dw), dm=dm)
            if t in POOL_MODE:
                lay.update(zp_in=0, zp_out=0)
            in_shape = [h, wd, c]
            out_shape = [oh, ow, c * dm if (dw or t in POOL_MODE) else wt.shape[0]]
            fscale, padding = None, o["padding"]
        else:
            raise ProgramError(f"op {nm}: type {t} has no engine mapping")
        bias = np.asarray(graph.arrays.get(nm + ".b", np.zeros(0)), np.int64)
        mult = np.asarray(p.get("mult", np.zeros(0)), np.int64)
        shift = np.asarray(p.get("shift", np.zeros(0)), np.int64)
        for run in _split(nm, t, lay, wt, lanes, ibuf, wbuf, cmax):
            i = len(steps)
            L, (r0, r1), (c0, c1), (o0, o1), (k0, k1) = run
            steps.append({"op": nm, "kind": "engine", "input": x, "output": y,
                          "in_rows": [r0, r1], "in_ch": [c0, c1], "out_rows": [o0, o1],
                          "out_ch": [k0, k1], "layer": {k: int(v) for k, v in L.items()},
                          "in_shape": in_shape, "out_shape": out_shape,
                          "origin": {"h": in_shape[0], "padding": padding, "lo": r0,
                                     "r0": o0}})
            if wt is not None:
                wpart = wt[..., k0:k1] if L["depthwise"] else wt[k0:k1]
                arrays[f"s{i}.wt"] = np.asarray(wpart, np.int8)
                arrays[f"s{i}.bias"] = bias[k0:k1]
                arrays[f"s{i}.mult"], arrays[f"s{i}.shift"] = mult[k0:k1], shift[k0:k1]
                if fscale is not None:
                    arrays[f"s{i}.fscale"] = fscale[k0:k1]
                from .cnn import pack_weights  # noqa: PLC0415

                arrays[f"s{i}.words"] = pack_weights(wpart, k1 - k0, lanes, L["depthwise"])
    meta = {"format": FORMAT, "name": graph.name,
            "engine": {"lanes": lanes, "ibuf": ibuf, "wbuf": wbuf, "cmax": cmax},
            "input": graph.inputs[0], "output": graph.outputs[0], "steps": steps}
    meta["buffers"], meta["arena"] = _plan(graph, steps, shapes)
    return Program(meta, arrays)


def _split(nm, t, lay, wt, lanes, ibuf, wbuf, cmax):
    """The runs of one engine layer: (layer dict, input rows, input channels, output rows,
    output channels)."""
    for k, top in FIELD_MAX.items():
        if k in ("oc",):
            continue
        if lay[k] > top:
            raise ProgramError(f"op {nm}: {k.upper()} = {lay[k]} exceeds the engine's field "
                               f"(at most {top})")
    if min(lay["sy"], lay["sx"], lay["fh"], lay["fw"]) < 1:
        raise ProgramError(f"op {nm}: a zero filter or stride")
    dw, pool = bool(lay["depthwise"]), t in POOL_MODE
    dm = lay["dm"] if dw else 1
    oc_total = lay["c"] * dm if (dw or pool) else (wt.shape[0])
    taps = lay["fh"] * lay["fw"]
    # channels per run: the channel table, the weight buffer, the 8-bit field
    if dw or pool:  # input channels per run (OUT_C = C * DM)
        per = min(cmax // dm, 255 // dm, wbuf // max(1, taps * dm) if dw else 255,
                  ibuf // (min(lay["fh"], lay["h"]) * lay["w"]))  # a band's rows fit ibuf
        step_in = max(per, 0)
        if step_in < 1:
            raise ProgramError(f"op {nm}: one channel ({dm} filters, {lay['fh']} rows of "
                               f"{lay['w']}) does not fit the weight buffer ({wbuf} words), "
                               f"the channel table ({cmax}) or the input buffer ({ibuf})")
    else:
        groups = wbuf // (taps * lay["c"])
        per = min(cmax, 255, groups * lanes)
        if per < 1:
            raise ProgramError(f"op {nm}: one channel group's {taps * lay['c']} weight words "
                               f"exceed the weight buffer ({wbuf} words)")
        step_in = None
    out_groups = []
    if step_in is None:
        for k0 in range(0, oc_total, per):
            out_groups.append(((0, lay["c"]), (k0, min(oc_total, k0 + per))))
    else:
        for c0 in range(0, lay["c"], step_in):
            c1 = min(lay["c"], c0 + step_in)
            out_groups.append(((c0, c1), (c0 * dm, c1 * dm)))
    runs = []
    for (c0, c1), (k0, k1) in out_groups:
        cin = c1 - c0
        # output rows per band: their input rows (with the halo) must fit the input buffer
        bands, r = [], 0
        while r < lay["oh"]:
            best = None
            for r1 in range(lay["oh"], r, -1):
                lo = max(0, r * lay["sy"] - lay["pt"])
                hi = min(lay["h"], (r1 - 1) * lay["sy"] - lay["pt"] + lay["fh"])
                if (hi - lo) * lay["w"] * cin <= ibuf:
                    best = (r1, lo, hi)
                    break
            if best is None:
                raise ProgramError(f"op {nm}: one output row needs "
                                   f"{lay['fh'] * lay['w'] * cin} input activations, the input "
                                   f"buffer holds {ibuf}")
            bands.append((r, *best))
            r = best[0]
        for r0, r1, lo, hi in bands:
            L = dict(lay, h=hi - lo, c=cin, oc=k1 - k0, oh=r1 - r0,
                     pt=max(0, lay["pt"] - r0 * lay["sy"]))
            runs.append((L, (lo, hi), (c0, c1), (r0, r1), (k0, k1)))
    return runs


def _plan(graph, steps, shapes):
    """Offsets of the tensors in one arena: first fit, a tensor's space free after its last
    reader (64-byte aligned)."""
    order = [graph.inputs[0]]
    last = {graph.inputs[0]: -1}
    for i, st in enumerate(steps):
        for t in st.get("inputs", [st.get("input")]):
            last[t] = i
        if st["output"] not in last:
            order.append(st["output"])
            last[st["output"]] = i
    last[graph.outputs[0]] = len(steps)
    first = {graph.inputs[0]: -1}
    for i, st in enumerate(steps):
        first.setdefault(st["output"], i)
    live, bufs, arena = [], {}, 0
    for t in order:
        size = int(np.prod(shapes[t]))
        live = [(o, s, e) for o, s, e in live if last[e] >= first[t]]
        pos = 0
        for o, s, _ in sorted(live):
            if pos + size <= o:
                break
            pos = max(pos, -(-(o + s) // 64) * 64)
        live.append((pos, size, t))
        bufs[t] = {"offset": pos, "size": size, "shape": shapes[t]}
        arena = max(arena, pos + size)
    return bufs, arena


# ------------------------------------------------------------------------------ on a board


def main(argv=None) -> int:
    """``python3 -m approxnn_host.program OVERLAY.bit PROG.json X.npy Y.npy`` on a PYNQ board:
    the program's outputs for the int8 inputs in X.npy written to Y.npy, the engine cycles
    per op printed."""
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4:
        print("usage: python3 -m approxnn_host.program OVERLAY.bit PROG.json X.npy Y.npy",
              file=sys.stderr)
        return 2
    try:
        prog = load(argv[1])
        x = np.load(argv[2], allow_pickle=False)
        if x.shape == prog.input_shape:
            x = x[None]
        from pynq import Overlay, allocate  # noqa: PLC0415 - on the board only

        from .cnn import CnnEngine  # noqa: PLC0415

        t0 = time.perf_counter()
        y, cycles = run(prog, CnnEngine(Overlay(argv[0]), allocate), x)
        wall = time.perf_counter() - t0
    except (ProgramError, OSError, ValueError, ImportError) as exc:
        print(f"approxnn_host.program: error: {exc}", file=sys.stderr)
        return 2
    tmp = argv[3] + ".part.npy"
    np.save(tmp, y)
    Path(tmp).replace(argv[3])
    for op, c in cycles_per_op(prog, cycles[0]).items():
        print(f"{op}: {c} engine cycles")
    print(f"{len(x)} inputs, {wall / len(x) * 1e3:.2f} ms per input (wall); wrote {argv[3]}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
