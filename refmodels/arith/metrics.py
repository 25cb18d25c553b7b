"""Error metrics of arithmetic units (EvoApproxLib conventions, see the arith guide).

``error_metrics(spec)`` evaluates a unit exhaustively (all ``2**(2n)`` operand pairs) up to
width 8 and on a seeded uniform sample above; ``metrics_from_outputs`` computes the same dict
from result arrays (e.g. RTL simulation outputs). Keys:

========== ==============================================================================
mae        mean ``|O - M|``
mae_pct    MAE / 2**(2n) (multiplier) or MAE / 2**(n+1) (adder), in %
wce        max ``|O - M|``
wce_pct    WCE normalised like mae_pct, in %
mse        mean ``(O - M)**2``
ep_pct     % of pairs with ``O != M``
mre_pct    MRED: mean over pairs with ``M != 0`` of ``|O - M| / |M|``, in %
wcre_pct   max over pairs with ``M != 0`` of ``|O - M| / |M|``, in %
bias       mean ``(O - M)``
n_pairs    number of operand pairs evaluated
exhaustive True when all pairs were evaluated
========== ==============================================================================

``python -m refmodels.arith.metrics`` prints the Markdown table of all default built-in units
(8-bit, exhaustive, unsigned and signed).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

import numpy as np

from .registry import UnitError, UnitSpec, list_units, parse_unit

__all__ = [
    "EXHAUSTIVE_MAX_WIDTH",
    "error_metrics",
    "metrics_from_outputs",
    "metrics_table",
    "operand_pairs",
]

EXHAUSTIVE_MAX_WIDTH = 8


def operand_pairs(
    spec: UnitSpec, samples: int = 2**20, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(a, b, exhaustive): all pairs up to width 8, else ``samples`` uniform seeded pairs."""
    lo, hi = spec.operand_range()
    if spec.width <= EXHAUSTIVE_MAX_WIDTH:
        vals = np.arange(lo, hi + 1, dtype=np.int64)
        a, b = np.meshgrid(vals, vals, indexing="ij")
        return a.ravel(), b.ravel(), True
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    a = rng.integers(lo, hi, size=samples, dtype=np.int64, endpoint=True)
    b = rng.integers(lo, hi, size=samples, dtype=np.int64, endpoint=True)
    return a, b, False


def metrics_from_outputs(
    approx: Any, exact: Any, kind: str, width: int, exhaustive: bool = True
) -> dict[str, Any]:
    """Error metrics from approximate and exact result arrays of one unit."""
    if kind not in ("mul", "add"):
        raise UnitError(f"kind={kind!r} must be 'mul' or 'add'")
    o = np.asarray(approx).astype(np.int64).ravel()
    m = np.asarray(exact).astype(np.int64).ravel()
    if o.shape != m.shape:
        raise ValueError(f"approx and exact differ in size: {o.size} != {m.size}")
    if o.size == 0:
        raise ValueError("no results to evaluate")
    err = o - m
    aerr = np.abs(err).astype(np.float64)
    scale = float(2 ** (2 * width) if kind == "mul" else 2 ** (width + 1))
    nz = m != 0
    rel = aerr[nz] / np.abs(m[nz]).astype(np.float64)
    mae = float(aerr.mean())
    wce = int(np.abs(err).max())
    return {
        "mae": mae,
        "mae_pct": 100.0 * mae / scale,
        "wce": wce,
        "wce_pct": 100.0 * wce / scale,
        "mse": float(np.mean(aerr * aerr)),
        "ep_pct": 100.0 * float(np.count_nonzero(err)) / err.size,
        "mre_pct": 100.0 * float(rel.mean()) if rel.size else 0.0,
        "wcre_pct": 100.0 * float(rel.max()) if rel.size else 0.0,
        "bias": float(err.mean()),
        "n_pairs": int(err.size),
        "exhaustive": bool(exhaustive),
    }


def error_metrics(spec: str | UnitSpec, samples: int = 2**20, seed: int = 0) -> dict[str, Any]:
    """Error metrics of a unit: exhaustive for width <= 8, else ``samples`` seeded pairs."""
    spec = parse_unit(spec)
    a, b, exhaustive = operand_pairs(spec, samples, seed)
    return metrics_from_outputs(spec(a, b), spec.exact(a, b), spec.kind, spec.width, exhaustive)


_COLUMNS = (
    ("MAE%", "mae_pct", "{:.4g}"),
    ("WCE%", "wce_pct", "{:.4g}"),
    ("MRED%", "mre_pct", "{:.4g}"),
    ("EP%", "ep_pct", "{:.4g}"),
    ("WCRE%", "wcre_pct", "{:.4g}"),
    ("bias", "bias", "{:.4g}"),
    ("MSE", "mse", "{:.4g}"),
)


def metrics_table(specs: Iterable[str | UnitSpec], samples: int = 2**20, seed: int = 0) -> str:
    """Markdown table of the error metrics of several units."""
    lines = [
        "| unit | " + " | ".join(c[0] for c in _COLUMNS) + " | pairs |",
        "|---" * (len(_COLUMNS) + 2) + "|",
    ]
    for s in specs:
        spec = parse_unit(s)
        m = error_metrics(spec, samples, seed)
        cells = [fmt.format(m[key]) for _, key, fmt in _COLUMNS]
        pairs = f"{m['n_pairs']}" + ("" if m["exhaustive"] else " (sampled)")
        lines.append(f"| `{spec}` | " + " | ".join(cells) + f" | {pairs} |")
    return "\n".join(lines)


def default_specs(width: int = 8) -> list[UnitSpec]:
    """Every built-in unit with default parameters, unsigned then signed."""
    return [
        parse_unit(u.name, width=width, signed=s) for s in (0, 1) for u in list_units() if u.builtin
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m refmodels.arith.metrics",
        description="Markdown table of error metrics of arithmetic units.",
    )
    ap.add_argument("units", nargs="*", help="unit names (default: all built-in units)")
    ap.add_argument("--width", type=int, default=8, help="width for the default units")
    ap.add_argument("--samples", type=int, default=2**20, help="sample size above width 8")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    specs = [parse_unit(u) for u in args.units] if args.units else default_specs(args.width)
    print(metrics_table(specs, args.samples, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
