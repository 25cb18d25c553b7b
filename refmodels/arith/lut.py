"""Operand codes and result tables.

An operand *code* is the unsigned n-bit pattern of an operand value (two's complement for signed
units). ``make_lut(spec)[i, j] = spec(from_code(i), from_code(j))``: the table that network
emulation (TFApprox / AdaPT style) indexes with the operand codes. For a signed unit the table
is filled from the signed values of the codes, never by assuming ``mul(-a, -b) = mul(a, b)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .registry import UnitError, UnitSpec, parse_unit

__all__ = ["MAX_LUT_WIDTH", "from_code", "make_lut", "to_code"]

MAX_LUT_WIDTH = 12


def to_code(values: Any, width: int) -> np.ndarray:
    """Operand values (signed or unsigned, ``-2**(w-1) .. 2**w - 1``) -> n-bit codes."""
    v = np.asarray(values)
    if v.dtype == bool or not np.issubdtype(v.dtype, np.integer):
        raise ValueError(f"to_code: values must be integers, got {v.dtype}")
    lo, hi = -(1 << (width - 1)), (1 << width) - 1
    if v.size and (int(v.min()) < lo or int(v.max()) > hi):
        raise ValueError(f"to_code: values out of range {lo}..{hi} for width={width}")
    return v.astype(np.int64) & ((1 << width) - 1)


def from_code(codes: Any, width: int, signed: int | bool) -> np.ndarray:
    """n-bit codes (``0 .. 2**w - 1``) -> operand values (two's complement when signed)."""
    c = np.asarray(codes)
    if c.dtype == bool or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"from_code: codes must be integers, got {c.dtype}")
    if c.size and (int(c.min()) < 0 or int(c.max()) > (1 << width) - 1):
        raise ValueError(f"from_code: codes out of range 0..{(1 << width) - 1} for width={width}")
    c = c.astype(np.int64)
    if signed:
        return np.where(c >= (1 << (width - 1)), c - (1 << width), c)
    return c


def make_lut(spec: str | UnitSpec) -> np.ndarray:
    """The ``2**n x 2**n`` int64 result table of a unit, indexed by operand codes."""
    spec = parse_unit(spec)
    if spec.width > MAX_LUT_WIDTH:
        raise UnitError(
            f"{spec}: tables are limited to width <= {MAX_LUT_WIDTH} "
            f"(a width={spec.width} table has {1 << (2 * spec.width)} entries)"
        )
    if spec.unit.lut is not None:
        return spec.unit.lut.copy()
    size = 1 << spec.width
    values = from_code(np.arange(size, dtype=np.int64), spec.width, spec.signed)
    table = np.empty((size, size), dtype=np.int64)
    rows = max(1, (1 << 20) // size)  # bound the temporary arrays to about 1 Mi entries
    for start in range(0, size, rows):
        stop = min(size, start + rows)
        table[start:stop] = spec(values[start:stop, None], values[None, :])
    return table


def save_lut_unit(spec: str | UnitSpec, path: str | Path) -> Path:
    """Store a unit's result table in an ``.npz`` file (arrays lut, width, signed, kind, name).

    Works for any unit: a built-in unit is tabulated with ``make_lut``.
    """
    spec = parse_unit(spec)
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez_compressed(
            fh,
            lut=make_lut(spec),
            width=np.array(spec.width, dtype=np.int64),
            signed=np.array(spec.signed, dtype=np.int64),
            kind=np.array(spec.kind),
            name=np.array(spec.name if not spec.builtin else spec.module_name),
            description=np.array(spec.description),
        )
    return path
