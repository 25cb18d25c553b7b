"""Characterisation of arithmetic units: error metrics of the simulated RTL and FPGA cost.

For a built-in unit the combinational Verilog is generated from its MyHDL core
(:func:`cores.arith.convert`), simulated in Icarus over all operand pairs (``width <= 8``) or a
seeded sample (:mod:`approxnn.eda.rtlsim`), the error metrics of the *simulated outputs* are
computed against the exact results with :func:`refmodels.arith.metrics_from_outputs`, the
outputs are compared bit for bit with the golden model (``rtl_matches_model``), and the module
is synthesised with Yosys (:func:`approxnn.eda.synth.synth_cost`).

Cost figures: ``luts``, ``carry4``, ``depth``, ``ffs`` come from ``synth_xilinx -nodsp`` (the
main figure, comparable between units and with the project guide); ``dsps`` is the number of
DSP48E1 slices the default flow (DSP inference allowed) uses, and ``dsp_luts`` the LUTs left
beside them.

For an external Verilog module (:mod:`approxnn.importer`) the simulated table is the unit; it is
compared with a reference model only when one is given (``model=``), otherwise
``rtl_matches_model`` is ``None``. Table units without RTL (loaded from ``.npz``) get metrics
only; their cost fields are ``None``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from . import cache, importer
from .eda import rtlsim, synth

__all__ = [
    "RESULT_KEYS",
    "resolve_unit",
    "characterize_unit",
    "characterize_verilog",
    "library_units",
    "characterize_all",
    "format_result",
]

#: Keys of every characterisation result, in display order.
RESULT_KEYS = [
    "unit", "kind", "width", "signed", "module",
    "mae_pct", "wce_pct", "mre_pct", "wcre_pct", "ep_pct", "mse", "bias",
    "luts", "carry4", "depth", "ffs", "dsps", "dsp_luts", "muxf",
    "rtl_matches_model", "n_pairs", "exhaustive", "sim_s", "synth_s", "seconds",
]

_METRIC_KEYS = ("mae_pct", "wce_pct", "mre_pct", "wcre_pct", "ep_pct", "mse", "bias")


def resolve_unit(text):
    """A UnitSpec from a unit string, or from an ``.npz`` table file (loaded and registered)."""
    from refmodels import arith

    if isinstance(text, str) and text.endswith(".npz"):
        if not Path(text).is_file():
            raise FileNotFoundError(f"table file not found: {text}")
        return arith.load_lut_unit(text)
    return arith.parse_unit(text)


def _values(spec, codes: np.ndarray) -> np.ndarray:
    """Operand values of int64 operand codes (two's complement when the unit is signed)."""
    from refmodels.arith import from_code

    return from_code(codes, spec.width, spec.signed)


def _metrics(spec, a, b, out, exhaustive: bool) -> dict:
    """Error metrics of the outputs ``out`` for operand values ``a``, ``b`` of ``spec``."""
    from refmodels import arith

    m = arith.metrics_from_outputs(out, spec.exact(a, b), spec.kind, spec.width, exhaustive)
    return {key: float(m[key]) for key in _METRIC_KEYS}


def _convert_fn():
    """``cores.arith.convert`` (Verilog generator of the built-in units)."""
    try:
        from cores.arith import convert
    except ImportError:
        from cores.arith.common import convert
    return convert


def _base(spec) -> dict:
    return {
        "unit": str(spec),
        "kind": spec.kind,
        "width": spec.width,
        "signed": bool(spec.signed),
        "module": spec.module_name,
    }


def _finish(res: dict, t0: float) -> dict:
    res["seconds"] = round(time.perf_counter() - t0, 3)
    return {k: res.get(k) for k in RESULT_KEYS} | {
        k: v for k, v in res.items() if k not in RESULT_KEYS
    }


def _no_cost(res: dict) -> None:
    for k in ("luts", "carry4", "depth", "ffs", "dsps", "dsp_luts", "muxf", "synth_s"):
        res.setdefault(k, None)


_COST_KEYS = ("luts", "carry4", "depth", "lut_levels", "clock_ns", "fmax_mhz", "ffs", "dsps",
              "dsp_luts", "muxf", "synth_s")


def cached_cost(files, top: str, workdir: Path) -> tuple[dict, bool]:
    """Yosys cost of ``top`` (:func:`approxnn.eda.synth.synth_cost`), cached by the digest of the
    netlist text; returns ``(cost, from_cache)``."""
    key = cache.digest("cost", files, top=top, flow=synth.FLOW_VERSION)
    hit = cache.load_json(key)
    if hit is not None and all(k in hit for k in _COST_KEYS):
        return hit, True
    cost = synth.synth_cost(files, top, workdir=Path(workdir) / "synth")
    cost = {k: cost[k] for k in _COST_KEYS}
    cache.store_json(key, cost)
    return cost, False


def _add_cost(res: dict, do_synth: bool, files, top: str, workdir: Path) -> None:
    """Yosys cost figures of ``top`` into ``res`` (null figures when ``do_synth`` is off)."""
    if not do_synth:
        _no_cost(res)
        return
    cost, hit = cached_cost(files, top, workdir)
    res |= cost
    res["cached"] = bool(res.get("cached", True)) and hit


def cached_simulation(files, top, width, out_width, *, signed, workdir, **kw):
    """:func:`approxnn.eda.rtlsim.simulate_pairs`, cached by the digest of the Verilog text and the
    stimulus parameters; returns ``(SimResult, from_cache)``."""
    key = cache.digest("sim", files, top=top, width=width, out_width=out_width,
                       signed=bool(signed), **{k: v for k, v in kw.items() if k != "pairs"})
    hit = cache.load_array(key)
    if hit is not None and {"a", "b", "y"} <= set(hit) and "pairs" not in kw:
        res = rtlsim.SimResult(hit["a"], hit["b"], hit["y"], bool(hit["exhaustive"]), 0.0)
        return res, True
    sim = rtlsim.simulate_pairs(files, top, width, out_width, signed=signed, workdir=workdir,
                                **kw)
    if "pairs" not in kw:
        cache.store_array(key, a=sim.a_codes, b=sim.b_codes, y=sim.y,
                          exhaustive=np.array(sim.exhaustive))
    return sim, False


def characterize_unit(
    unit,
    *,
    samples: int = rtlsim.DEFAULT_SAMPLES,
    seed: int = 0,
    exhaustive: bool | None = None,
    do_synth: bool = True,
    workdir: str | Path | None = None,
) -> dict:
    """Characterise a registry unit (a unit string, UnitSpec or ``.npz`` table file).

    Returns a dict with the keys of :data:`RESULT_KEYS` (see the module docstring).
    ``workdir`` keeps the generated Verilog, the simulation and Yosys files (a temporary folder,
    removed afterwards, when None).
    """
    from refmodels import arith

    t0 = time.perf_counter()
    spec = resolve_unit(unit)
    res = _base(spec)
    if not spec.builtin:
        # A table without RTL: metrics of the table itself.
        n = 1 << spec.width
        codes = np.arange(n * n, dtype=np.int64)
        a, b = _values(spec, codes >> spec.width), _values(spec, codes & (n - 1))
        out = arith.make_lut(spec).reshape(-1)
        res |= _metrics(spec, a, b, out, True)
        res |= {"rtl_matches_model": None, "n_pairs": int(n * n), "exhaustive": True,
                "sim_s": None, "note": "table unit without RTL: no simulation or synthesis"}
        _no_cost(res)
        return _finish(res, t0)

    convert = _convert_fn()

    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_char_{spec.module_name}_")
        workdir = tmp
    try:
        return _characterize_builtin(spec, res, convert, Path(workdir), exhaustive, samples,
                                     seed, do_synth, t0)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _characterize_builtin(spec, res, convert, workdir, exhaustive, samples, seed, do_synth, t0):
    rtl_dir = workdir / "rtl"
    vfile = convert(spec, rtl_dir)
    sim, hit = cached_simulation(
        [vfile], spec.module_name, spec.width, spec.out_width, signed=bool(spec.signed),
        exhaustive=exhaustive, samples=samples, seed=seed, workdir=workdir / "sim",
    )
    res["cached"] = hit
    a, b = _values(spec, sim.a_codes), _values(spec, sim.b_codes)
    model = spec(a, b)
    res |= _metrics(spec, a, b, sim.y, sim.exhaustive)
    res |= {
        "rtl_matches_model": bool(np.array_equal(model, sim.y)),
        "n_pairs": sim.n_pairs,
        "exhaustive": sim.exhaustive,
        "sim_s": sim.seconds,
    }
    if not res["rtl_matches_model"]:
        bad = int(np.flatnonzero(model != sim.y)[0])
        res["mismatches"] = int(np.count_nonzero(model != sim.y))
        res["first_mismatch"] = {
            "a": int(a[bad]), "b": int(b[bad]), "rtl": int(sim.y[bad]), "model": int(model[bad])
        }
    _add_cost(res, do_synth, [vfile], spec.module_name, workdir)
    return _finish(res, t0)


def characterize_verilog(
    files,
    top: str,
    width: int,
    *,
    signed: bool = False,
    a: str | None = None,
    b: str | None = None,
    y: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    save: str | Path | None = None,
    model=None,
    do_synth: bool = True,
    workdir: str | Path | None = None,
    check_signed: bool = True,
) -> dict:
    """Import and characterise an external combinational module (see :mod:`approxnn.importer`).

    ``model``: an optional reference unit (string, UnitSpec or ``.npz``) to compare the
    simulated outputs with (``rtl_matches_model``); without it that key is ``None``.
    ``check_signed``: refuse a ``signed`` flag that contradicts the circuit.
    """
    t0 = time.perf_counter()
    files = [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    if save is not None and Path(save).suffix != ".npz":
        raise ValueError(f"--save needs a .npz file name (the table format), got {save}")
    ref = resolve_unit(model) if model is not None else None
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix=f"approxnn_import_{top}_")
        workdir = tmp
    try:
        return _characterize_external(
            files, top, width, signed, a, b, y, kind, name, save, ref, do_synth,
            Path(workdir), check_signed, t0)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _characterize_external(files, top, width, signed, a, b, y, kind, name, save, ref, do_synth,
                           workdir, check_signed, t0):
    from refmodels import arith

    t_sim = time.perf_counter()
    spec, lut, mod = importer.import_verilog(
        files, top, width, signed=signed, a=a, b=b, y=y, kind=kind, name=name, save=save,
        workdir=workdir, check_signed=check_signed,
    )
    sim_s = round(time.perf_counter() - t_sim, 3)
    n = 1 << width
    codes = np.arange(n * n, dtype=np.int64)
    av, bv = _values(spec, codes >> width), _values(spec, codes & (n - 1))
    out = lut.reshape(-1)
    res = _base(spec) | {"module": top}
    res |= _metrics(spec, av, bv, out, True)
    match = None
    if ref is not None:
        if (ref.kind, ref.width, bool(ref.signed)) != (spec.kind, spec.width, bool(spec.signed)):
            raise arith.UnitError(
                f"reference model {ref} does not fit the imported module ({spec.kind}, "
                f"width={spec.width}, signed={int(spec.signed)})"
            )
        model_out = ref(av, bv)
        match = bool(np.array_equal(model_out, out))
        if not match:
            res["mismatches"] = int(np.count_nonzero(model_out != out))
        res["model"] = str(ref)
    res |= {
        "rtl_matches_model": match,
        "n_pairs": int(n * n),
        "exhaustive": True,
        "sim_s": sim_s,
        "ports": {"a": mod.a, "b": mod.b, "y": mod.y},
    }
    if save is not None:
        res["saved"] = str(save)
    _add_cost(res, do_synth, files, top, workdir)
    return _finish(res, t0)


# --------------------------------------------------------------------------- library run


def library_units(widths=(8,)) -> list[str]:
    """The built-in units characterised by ``characterize --all``: every unit with its
    default parameters plus a few sweeps, unsigned and signed, for each width (deduplicated)."""
    from refmodels import arith

    variants = {
        "exact": [{}],
        "trunc": [{}, {"t": 4}, {"t": 6}, {"t": 8}],
        "mitchell": [{}],
        "drum": [{}, {"k": 4}, {"k": 6}],
        "kulkarni": [{}],
        "etm": [{}, {"k": 4}],
        "roba": [{}],
        # LUT6 + CARRY4 family: constants from `approxnn search` (MRED-best, and MAE-best
        # where it differs); g=4 is the shallow form of the same function
        "ctrunc": {
            0: [{"t": 6, "k": 2, "c": 10}, {"t": 7, "k": 2, "c": 20},
                {"t": 7, "k": 2, "c": 20, "g": 3}, {"t": 7, "k": 2, "c": 20, "g": 4},
                {"t": 8, "k": 3, "c": 21, "g": 3}, {"t": 8, "k": 3, "c": 31, "g": 3},
                {"t": 9, "k": 2, "c": 68, "g": 3}, {"t": 9, "k": 3, "c": 40, "g": 3},
                {"t": 9, "k": 3, "c": 63, "g": 3}, {"t": 10, "k": 3, "c": 69, "g": 3},
                {"t": 10, "k": 3, "c": 127, "g": 3}],
            1: [{"t": 3, "k": 1, "c": 2}, {"t": 4, "k": 2, "c": 2}, {"t": 5, "k": 3, "c": 3},
                {"t": 5, "k": 3, "c": 3, "g": 3}, {"t": 6, "k": 3, "c": 7},
                {"t": 7, "k": 3, "c": 15}],
        },
        # rows dealt to interleaved groups (and low rows dropped): the depth-limited points of
        # `approxnn search --family bam`; t=7,k=2,c=20,g=4 is the 60 % unit at exact's depth
        "bam": {
            0: [{"t": 6, "k": 2, "c": 10, "g": 4}, {"t": 6, "k": 3, "c": 4, "g": 4},
                {"t": 7, "k": 2, "c": 20, "g": 4}, {"t": 7, "k": 2, "c": 20, "g": 3},
                {"t": 7, "k": 3, "c": 10, "g": 4}, {"t": 8, "k": 3, "c": 21, "g": 4},
                {"t": 8, "h": 1, "k": 3, "c": 24, "g": 4}, {"t": 8, "k": 2, "c": 40, "g": 4}],
            1: [{"t": 4, "k": 2, "c": 2, "g": 4}, {"t": 5, "k": 3, "c": 3, "g": 4},
                {"t": 6, "k": 3, "c": 7, "g": 4}, {"t": 7, "k": 2, "c": 31, "g": 4},
                {"t": 7, "k": 3, "c": 15, "g": 4}],
        },
        # the same functions as bam's points, built as ternary-adder rows
        "tern": {
            0: [{"t": 6, "k": 2, "c": 10}, {"t": 6, "k": 3, "c": 4}, {"t": 7, "k": 2, "c": 20},
                {"t": 7, "k": 3, "c": 10}, {"t": 8, "k": 3, "c": 21}, {"t": 8, "k": 2, "c": 40},
                {"t": 9, "k": 2, "c": 68}],
            1: [{"t": 3, "k": 1, "c": 2}, {"t": 4, "k": 0, "c": 12}, {"t": 4, "k": 2, "c": 2},
                {"t": 5, "k": 3, "c": 3}, {"t": 6, "k": 3, "c": 7}, {"t": 7, "k": 2, "c": 31}],
        },
        # compressor trees: l <= t is the exact tree under ctrunc's truncation, l > t puts
        # approximate 4:2 / 6:3 compressors into the low kept columns
        "cmp": {
            0: [{"t": 6, "k": 2, "c": 10, "l": 0}, {"t": 7, "k": 2, "c": 20, "l": 0},
                {"t": 8, "k": 2, "c": 40, "l": 0}, {"t": 5, "k": 2, "c": 4, "l": 9},
                {"t": 6, "k": 2, "c": 10, "l": 9}, {"t": 7, "k": 2, "c": 20, "l": 9}],
            1: [{"t": 4, "k": 2, "c": 2, "l": 0}, {"t": 6, "k": 3, "c": 7, "l": 0},
                {"t": 4, "k": 2, "c": 2, "l": 6}],
        },
        "add": [{}],
        "loa": [{}, {"l": 2}, {"l": 4}, {"l": 4, "c": 0}],
        "gear": [{}, {"r": 2, "p": 2}, {"r": 2, "p": 4}, {"r": 1, "p": 3}, {"r": 4, "p": 0}],
    }
    out, seen = [], set()
    names = arith.unit_names()
    for w in widths:
        for signed in (0, 1):
            for name in names:
                choice = variants.get(name, [{}])
                if isinstance(choice, dict):
                    choice = choice[signed]
                for params in choice:
                    try:
                        spec = arith.UnitSpec(name, width=w, signed=signed, params=params)
                    except arith.UnitError:
                        continue  # a sweep value that does not exist at this width
                    if not spec.builtin or str(spec) in seen:
                        continue
                    seen.add(str(spec))
                    out.append(str(spec))
    return out


def _worker(unit: str, samples: int, seed: int, do_synth: bool = True):
    try:
        return unit, characterize_unit(unit, samples=samples, seed=seed,
                                       do_synth=do_synth), None
    except Exception as exc:  # reported by the parent, the run goes on
        return unit, None, f"{type(exc).__name__}: {exc}"


def _progress(i: int, n: int, unit: str, t0: float, stream) -> None:
    el = time.perf_counter() - t0
    eta = el / i * (n - i) if i else 0.0
    line = f"[{i}/{n}] {unit}  elapsed {el:5.0f}s  eta {eta:5.0f}s"
    if stream.isatty():
        stream.write("\r\033[K" + line)
        if i == n:
            stream.write("\n")
    else:
        stream.write(line + "\n")
    stream.flush()


def characterize_all(
    outdir: str | Path = "reports/arith",
    widths=(8,),
    *,
    jobs: int = 2,
    samples: int = rtlsim.DEFAULT_SAMPLES,
    seed: int = 0,
    units: list[str] | None = None,
    stream=None,
    do_synth: bool = True,
) -> tuple[list[dict], list[tuple[str, str]], dict, float]:
    """Characterise the library (:func:`library_units`) over ``jobs`` worker processes and
    write ``arith.csv``, ``arith.md`` and ``arith_pareto.png`` into ``outdir``.

    Returns ``(rows, failures, paths, seconds)``; ``failures`` lists ``(unit, error)``.
    """
    from . import report

    stream = stream or sys.stderr
    units = units if units is not None else library_units(widths)
    done: list[tuple[int, dict]] = []
    failures = []
    t0 = time.perf_counter()
    if jobs <= 1:
        results = (_worker(u, samples, seed, do_synth) for u in units)
        for i, (unit, row, err) in enumerate(results, 1):
            (done.append((i, row)) if row else failures.append((unit, err)))
            _progress(i, len(units), unit, t0, stream)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = {pool.submit(_worker, u, samples, seed, do_synth): k
                    for k, u in enumerate(units)}
            for i, fut in enumerate(as_completed(futs), 1):
                unit, row, err = fut.result()
                (done.append((futs[fut], row)) if row else failures.append((unit, err)))
                _progress(i, len(units), unit, t0, stream)
    rows = [row for _, row in sorted(done, key=lambda kv: kv[0])]
    seconds = time.perf_counter() - t0
    paths = {}
    if rows:
        notes = [
            "Error metrics: RTL (generated Verilog) simulated in Icarus over all operand pairs "
            "(sampled above 8 bits: see n_pairs in the CSV), compared with the exact result. "
            "MAE/WCE in % of 2^(2n) (multipliers) or 2^(n+1) (adders); MRED/WCRE over pairs "
            "with a nonzero exact result; EP = share of pairs with an error.",
            "Cost: Yosys `synth_xilinx -family xc7 -flatten -noiopad -nodsp`; LUT = LUT1..LUT6 "
            "summed; depth = cells on the longest path (`ltp -noff`); DSP = DSP48E1 slices "
            "of the default flow (DSP inference allowed). RTL = model: simulated outputs equal "
            "the golden model bit for bit.",
        ]
        paths = report.write_reports(rows, outdir, notes=notes)
    return rows, failures, paths, seconds


def format_result(res: dict) -> str:
    """A two-column text table of one characterisation result."""
    labels = {
        "mae_pct": "MAE %", "wce_pct": "WCE %", "mre_pct": "MRED %", "wcre_pct": "WCRE %",
        "ep_pct": "EP %", "mse": "MSE", "bias": "bias", "luts": "LUTs (-nodsp)",
        "carry4": "CARRY4", "depth": "logic depth", "ffs": "FFs", "dsps": "DSP48E1 (default)",
        "dsp_luts": "LUTs beside DSPs", "muxf": "MUXF7/8", "rtl_matches_model": "RTL = model",
        "n_pairs": "operand pairs", "exhaustive": "exhaustive", "sim_s": "simulation s",
        "synth_s": "synthesis s", "seconds": "total s",
    }
    lines = []
    for key in RESULT_KEYS + [k for k in res if k not in RESULT_KEYS]:
        if key not in res:
            continue
        v = res[key]
        if isinstance(v, float):
            v = f"{v:.6g}"
        elif v is None:
            v = "-"
        elif isinstance(v, dict):
            v = ", ".join(f"{k}={x}" for k, x in v.items())
        lines.append(f"{labels.get(key, key):<20} {v}")
    return "\n".join(lines)
