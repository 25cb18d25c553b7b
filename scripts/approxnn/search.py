"""Structure-space search for LUT-efficient multipliers (``approxnn search``).

The space is the ``ctrunc`` family (:mod:`refmodels.arith.multipliers`): which partial-product
columns to drop (``t``), how many of the dropped columns to keep as an OR (``k``, a data-dependent
correction), which constant to add (``c``) and how many carry-chain row groups to use (``g``,
LUTs against logic depth). For every ``(t, k, g)`` the constant is chosen exhaustively on the
golden model (the ``c`` that minimises the chosen error metric), the error metrics are computed
exhaustively (8-bit: all 65,536 pairs) and the cost is a real Yosys run of the generated Verilog
(``synth_xilinx -nodsp``: LUTs, ``ltp`` depth, LUT levels, clock estimate), cached by the digest
of the netlist (:mod:`approxnn.cache`), so a repeated search only runs Yosys for new netlists.

The ``bam`` family (``family="bam"``) adds the rows to drop (``h``, the low rows of the array)
to the same space and deals the rows to its ``g`` groups in turn (see ``cores/arith/bam``); its
constant is chosen on the golden model with the rows dropped. The ``tern`` family is the same
space (``t``, ``h``, ``k``, best ``c``) built as ternary-adder rows (no ``g``); the ``cmp``
family (approximate compressor tree) searches ``t``, ``k`` and the approximate columns ``l``
(no ``h``, no ``g``), its constant chosen on the golden model with the compressors in place.

The result is every candidate with its figures and the Pareto front (fewest LUTs for a given
error), as a CSV file and a Markdown table.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

__all__ = ["FAMILIES", "best_constant", "candidates", "evaluate", "search"]

METRICS = {"mred": "mre_pct", "mae": "mae_pct"}
FAMILIES = ("ctrunc", "bam", "tern", "cmp")


def _pairs(width: int, signed: bool):
    n = 1 << width
    codes = np.arange(n, dtype=np.int64)
    vals = np.where(codes >= n // 2, codes - n, codes) if signed else codes
    a, b = (x.ravel() for x in np.meshgrid(vals, vals, indexing="ij"))
    return a, b


def best_constant(width: int, signed: bool, t: int, k: int, metric: str = "mred",
                  h: int = 0, l: int | None = None) -> int:  # noqa: E741
    """The constant ``c`` in ``0..2**(t-k)-1`` that minimises the metric (ties: smallest c),
    with the ``h`` low rows dropped (``bam``, ``tern``; 0 is ``ctrunc``), or with the
    approximate compressors in the ``l`` low columns (``cmp``, when ``l`` is given)."""
    from refmodels.arith.multipliers import bam, cmp

    if t - k <= 0:
        return 0
    a, b = _pairs(width, signed)
    exact = a * b
    if l is None:
        base = bam(a, b, width, t, h, k, 0, 1, signed)
    else:
        base = cmp(a, b, width, t, k, 0, l, signed)
    nz = exact != 0
    d0 = base - exact
    w = 1.0 / np.abs(exact[nz]) if metric == "mred" else None

    def err(c: int) -> float:
        d = np.abs(d0 + c)
        return float(np.mean(d[nz] * w)) if w is not None else float(np.mean(d))

    # coarse grid, then every value around the best coarse point (the error is convex in c
    # up to the rounding of the grid: a sum of absolute values of c - constant)
    top = 1 << (t - k)
    step = max(1, top // 64)
    best = min(range(0, top, step), key=lambda c: (err(c), c))
    window = range(max(0, best - step), min(top, best + step + 1))
    return int(min(window, key=lambda c: (err(c), c)))


def candidates(width: int, signed: bool, ts, ks, gs, metric: str = "mred",
               family: str = "ctrunc", hs=(0,), ls=(0,)) -> list[str]:
    """Unit strings of the space, each with its best constant (``hs``: ``bam`` and ``tern``
    only; ``ls``: ``cmp`` only; ``gs``: ``ctrunc`` and ``bam`` only)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(FAMILIES)}")
    out = []
    tail = f"width={width},signed={int(signed)}"
    for h in (hs if family in ("bam", "tern") else (0,)):
        if h >= width:
            continue
        for t in ts:
            for k in ks:
                if k > t:
                    continue
                if family == "cmp":
                    for l_ in dict.fromkeys(min(max(x, 0), 2 * width) for x in ls):
                        c = best_constant(width, signed, t, k, metric, l=l_)
                        out.append(f"cmp:t={t},k={k},c={c},l={l_},{tail}")
                    continue
                c = best_constant(width, signed, t, k, metric, h)
                if family == "tern":
                    out.append(f"tern:t={t},h={h},k={k},c={c},{tail}")
                    continue
                for g in gs:
                    rows = f"h={h}," if family == "bam" else ""
                    out.append(f"{family}:t={t},{rows}k={k},c={c},g={g},{tail}")
    return out


def evaluate(unit: str) -> dict:
    """Error metrics (golden model, exhaustive up to 8 bits) and cached Yosys cost of a unit."""
    from cores.arith.common import convert
    from refmodels.arith import error_metrics, parse_unit

    from .characterize import cached_cost

    spec = parse_unit(unit)
    m = error_metrics(spec)
    with tempfile.TemporaryDirectory(prefix="approxnn_search_") as tmp:
        vfile = convert(spec, Path(tmp) / "rtl")
        cost, hit = cached_cost([vfile], spec.module_name, Path(tmp))
    row = {"unit": str(spec), "kind": spec.kind, "width": spec.width,
           "signed": bool(spec.signed), "cached": hit}
    row |= {k: float(m[k]) for k in ("mae_pct", "wce_pct", "mre_pct", "wcre_pct", "ep_pct",
                                     "mse", "bias")}
    row |= cost
    return row


def search(width=8, signed=False, ts=range(4, 11), ks=range(0, 4), gs=(2, 4), metric="mred",
           jobs=2, stream=None, family="ctrunc",
           hs=(0,), ls=(0,)) -> tuple[list[dict], list[tuple[str, str]]]:
    """Evaluate the space; returns ``(rows, failures)``."""
    stream = stream or sys.stderr
    units = candidates(width, signed, ts, ks, gs, metric, family, hs, ls)
    rows, failures = [], []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = {pool.submit(evaluate, u): u for u in units}
        for i, fut in enumerate(as_completed(futs), 1):
            unit = futs[fut]
            try:
                rows.append(fut.result())
            except Exception as exc:  # reported, the search goes on
                failures.append((unit, f"{type(exc).__name__}: {exc}"))
            stream.write(f"[{i}/{len(units)}] {unit}  {time.perf_counter() - t0:5.0f}s\n")
            stream.flush()
    rows.sort(key=lambda r: (r["luts"], r[METRICS[metric]]))
    return rows, failures
