"""Unit registry: names, parameters and the :class:`UnitSpec` handle of every arithmetic unit.

A unit is named ``NAME:param=value,...,width=N,signed=0|1`` (see ``docs/architecture.md``).
:func:`parse_unit` turns such a string into a frozen, hashable :class:`UnitSpec`; missing
parameters take their defaults (``width=8``, ``signed=0`` and the unit-specific ones), bad input
raises :class:`UnitError` (a ``ValueError``) whose message lists the valid choices.

Built-in units have a MyHDL core; table units (``register_lut_unit``, ``load_lut_unit``) wrap
an imported ``2**n x 2**n`` result table indexed by operand codes and are used the same way.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import adders, multipliers

__all__ = [
    "BUILTIN_WIDTH_RANGE",
    "LUT_WIDTH_RANGE",
    "Param",
    "UnitDef",
    "UnitError",
    "UnitSpec",
    "list_units",
    "load_lut_unit",
    "parse_mul8",
    "parse_unit",
    "register_lut_unit",
    "unit_names",
    "unregister_lut_unit",
]

BUILTIN_WIDTH_RANGE = (4, 16)
LUT_WIDTH_RANGE = (2, 12)
KINDS = ("mul", "add")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class UnitError(ValueError):
    """Bad unit name, parameter or table; the message lists the valid choices."""


@dataclass(frozen=True)
class Param:
    """A unit-specific integer parameter whose default and bounds may depend on the width.

    ``default(width, given)`` receives the width and the parameters already fixed (declared
    earlier); ``lo(width)``/``hi(width)`` are the inclusive bounds; the ``*_text`` strings say
    the same in words for error messages and documentation.
    """

    name: str
    doc: str
    default: Callable[[int, Mapping[str, int]], int]
    lo: Callable[[int], int]
    hi: Callable[[int], int]
    default_text: str
    range_text: str

    def describe(self, width: int | None = None) -> str:
        if width is None:
            return f"{self.name} ({self.range_text}, default {self.default_text})"
        return (
            f"{self.name} ({self.lo(width)}..{self.hi(width)} for width={width}, "
            f"default {self.default_text})"
        )


@dataclass(frozen=True)
class UnitDef:
    """Definition of a unit kind: its name, parameters and unsigned/code-level model."""

    name: str
    kind: str
    description: str
    params: tuple[Param, ...] = ()
    model: Callable[..., np.ndarray] | None = None
    reference: str = ""
    builtin: bool = True
    check: Callable[[int, int, Mapping[str, int]], str | None] | None = None
    lut: np.ndarray | None = field(default=None, repr=False, compare=False)
    lut_width: int | None = None
    lut_signed: int | None = None
    #: the model takes ``signed=`` and handles two's complement operands itself (no
    #: sign-magnitude wrapper); its MyHDL core is a native signed circuit as well
    native_signed: bool = False

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def width_range(self) -> tuple[int, int]:
        if self.builtin:
            return BUILTIN_WIDTH_RANGE
        return (self.lut_width, self.lut_width)

    def describe_params(self, width: int | None = None) -> str:
        parts = [p.describe(width) for p in self.params]
        if self.builtin:
            lo, hi = BUILTIN_WIDTH_RANGE
            parts += [f"width ({lo}..{hi}, default 8)", "signed (0 or 1, default 0)"]
        else:
            parts += [f"width (= {self.lut_width})", f"signed (= {self.lut_signed})"]
        return ", ".join(parts)


def _const(v: int) -> Callable[[int], int]:
    return lambda w: v


def _gear_default_p(width: int, given: Mapping[str, int]) -> int:
    r = given.get("r", max(1, width // 4))
    start = max(1, width // 4)
    for p in list(range(start, width)) + list(range(start - 1, -1, -1)):
        if adders.gear_valid(width, r, p):
            return p
    return max(0, width - r)  # r + p = width: a single sub-adder (exact); range check reports r


def _gear_check(width: int, signed: int, params: Mapping[str, int]) -> str | None:
    r, p = params["r"], params["p"]
    if adders.gear_valid(width, r, p):
        return None
    pairs = ", ".join(f"({a}, {b})" for a, b in adders.gear_valid_pairs(width))
    return (
        f"(r, p) = ({r}, {p}) is not valid for width={width} "
        f"(need r >= 1, p >= 0, r + p <= width, (width - r - p) % r == 0); "
        f"valid (r, p) pairs: {pairs}"
    )


def _drum_check(width: int, signed: int, params: Mapping[str, int]) -> str | None:
    # With k = 2 the operand 2**(n-1) (the magnitude of -2**(n-1)) becomes 3 * 2**(n-2), and
    # (-2**(n-1))**2 would give 9 * 2**(2n-4), which does not fit a 2n-bit signed result.
    if signed and params["k"] < 3:
        return (
            f"k={params['k']} is not supported for signed units (the product of two "
            f"-2**(width-1) operands would overflow 2*width bits); valid k for signed "
            f"width={width}: 3..{width}"
        )
    return None


def _ctrunc_check(width: int, signed: int, params: Mapping[str, int]) -> str | None:
    t, k, c = params["t"], params["k"], params["c"]
    if k > t:
        return f"k={k} must not exceed t={t} (only dropped columns are compensated)"
    free = t - k
    if c >= (1 << free):
        return (
            f"c={c} must be below 2**(t-k) = {1 << free} (the constant fills the {free} free "
            f"low result bits); valid c for t={t}, k={k}: 0..{(1 << free) - 1}"
        )
    return None


def _bam_check(width: int, signed: int, params: Mapping[str, int]) -> str | None:
    msg = _ctrunc_check(width, signed, params)
    if msg:
        return msg
    if params["h"] > width - 1:
        return f"h={params['h']} must be below width={width} (at least one row is kept)"
    return None


#: the parameters of the broken-array family (bam, tern: the same function)
_BROKEN_ARRAY_PARAMS = (
    Param(
        "t",
        "partial-product columns dropped (vertical break level)",
        lambda w, g: w - 1,
        _const(0),
        lambda w: 2 * w - 2,
        "width-1",
        "0..2*width-2",
    ),
    Param(
        "h",
        "low partial-product rows dropped (horizontal break level)",
        lambda w, g: 0,
        _const(0),
        lambda w: w - 1,
        "0",
        "0..width-1",
    ),
    Param(
        "k",
        "top dropped columns replaced by the OR of their bits",
        lambda w, g: min(2, g["t"]),
        _const(0),
        lambda w: 2 * w - 2,
        "min(2, t)",
        "0..t",
    ),
    Param(
        "c",
        "constant correction in the low t-k result bits",
        lambda w, g: multipliers.ctrunc_default_c(w, g["t"], g["k"]),
        _const(0),
        lambda w: (1 << (2 * w - 2)) - 1,
        "2**(t-k-1), 0 when t=k",
        "0..2**(t-k)-1",
    ),
)


_BUILTINS: tuple[UnitDef, ...] = (
    UnitDef(
        "exact",
        "mul",
        "exact multiplier (a*b; signed: native two's complement product)",
        (),
        multipliers.exact_u,
        "",
        native_signed=True,
    ),
    UnitDef(
        "trunc",
        "mul",
        "broken-array multiplier: partial products a_i*b_j with i+j < t dropped",
        (
            Param(
                "t",
                "partial-product columns dropped",
                lambda w, g: w - 2,
                _const(0),
                lambda w: 2 * w - 2,
                "width-2",
                "0..2*width-2",
            ),
        ),
        multipliers.trunc_u,
        "broken-array / truncated multiplier (e.g. Farshchi et al., CADS 2013)",
    ),
    UnitDef(
        "mitchell",
        "mul",
        "Mitchell logarithmic multiplier (width-1 fraction bits, floor)",
        (),
        multipliers.mitchell_u,
        "J. N. Mitchell, IRE Trans. Electronic Computers EC-11(4), 1962",
    ),
    UnitDef(
        "drum",
        "mul",
        "DRUM: operands cut to k bits from the leading one, lowest kept bit forced to 1",
        (
            Param(
                "k",
                "kept bits per operand",
                lambda w, g: min(6, w),
                _const(2),
                lambda w: w,
                "min(6, width)",
                "2..width, 3..width when signed",
            ),
        ),
        multipliers.drum_u,
        "S. Hashemi, R. I. Bahar, S. Reda, ICCAD 2015",
        check=_drum_check,
    ),
    UnitDef(
        "kulkarni",
        "mul",
        "recursive multiplier from the 2x2 block with 3*3 = 7",
        (),
        multipliers.kulkarni_u,
        "P. Kulkarni, P. Gupta, M. Ercegovac, VLSI Design 2011",
    ),
    UnitDef(
        "etm",
        "mul",
        "error-tolerant multiplier: exact high parts, OR-chain low 2k result bits",
        (
            Param(
                "k",
                "bits in the non-multiplication part",
                lambda w, g: w // 2,
                _const(1),
                lambda w: w - 1,
                "width//2",
                "1..width-1",
            ),
        ),
        multipliers.etm_u,
        "K. Y. Kyaw, W. L. Goh, K. S. Yeo, IEEE EDSSC 2010",
    ),
    UnitDef(
        "roba",
        "mul",
        "rounding-based multiplier: Ar*b + a*Br - Ar*Br, ties rounded up",
        (),
        multipliers.roba_u,
        "R. Zendegani et al., IEEE TVLSI 25(2), 2017",
    ),
    UnitDef(
        "ctrunc",
        "mul",
        "compensated truncation in carry-chain rows: columns below t dropped, the top k of them "
        "replaced by the OR of their bits, constant c in the free low bits; native signed",
        (
            Param(
                "t",
                "partial-product columns dropped",
                lambda w, g: w - 1,
                _const(0),
                lambda w: 2 * w - 2,
                "width-1",
                "0..2*width-2",
            ),
            Param(
                "k",
                "top dropped columns replaced by the OR of their bits",
                lambda w, g: min(2, g["t"]),
                _const(0),
                lambda w: 2 * w - 2,
                "min(2, t)",
                "0..t",
            ),
            Param(
                "c",
                "constant correction in the low t-k result bits",
                lambda w, g: multipliers.ctrunc_default_c(w, g["t"], g["k"]),
                _const(0),
                lambda w: (1 << (2 * w - 2)) - 1,
                "2**(t-k-1), 0 when t=k",
                "0..2**(t-k)-1",
            ),
            Param(
                "g",
                "carry-chain row groups (hardware shape only)",
                lambda w, g: 2,
                _const(1),
                lambda w: w,
                "2",
                "1..width",
            ),
        ),
        multipliers.ctrunc,
        "this project; truncation with constant/variable correction after Schulte and "
        "Swartzlander (1993) and King and Swartzlander (1997)",
        check=_ctrunc_check,
        native_signed=True,
    ),
    UnitDef(
        "bam",
        "mul",
        "broken array in interleaved carry-chain groups: rows below h and columns below t "
        "dropped, the top k dropped columns replaced by the OR of their bits, constant c in the "
        "free low bits; rows dealt to g groups in turn; native signed",
        _BROKEN_ARRAY_PARAMS + (
            Param(
                "g",
                "interleaved carry-chain row groups (hardware shape only)",
                lambda w, g: 4,
                _const(1),
                lambda w: w,
                "4",
                "1..width",
            ),
        ),
        multipliers.bam,
        "this project; broken array after Mahdiani et al. (IEEE TCAS-I 2010) with the "
        "compensation of ctrunc",
        check=_bam_check,
        native_signed=True,
    ),
    UnitDef(
        "tern",
        "mul",
        "ternary-adder rows: the kept rows of bam (rows below h and columns below t dropped, "
        "OR columns k, constant c) summed three at a time on LUT6 + CARRY4; native signed",
        _BROKEN_ARRAY_PARAMS,
        multipliers.tern,
        "this project; ternary adders on LUT6 + CARRY4 after Parandeh-Afshar et al. "
        "(FPL 2008), with the compensation of ctrunc",
        check=_bam_check,
        native_signed=True,
    ),
    UnitDef(
        "cmp",
        "mul",
        "approximate compressor tree: columns below t dropped (OR columns k, constant c as in "
        "ctrunc), columns below l reduced by approximate 4:2 and 6:3 compressors (one LUT6 per "
        "output), exact 6:3 counters and full adders above, carry-chain final adder; native "
        "signed",
        (
            Param(
                "t",
                "partial-product columns dropped (vertical break level)",
                lambda w, g: w - 1,
                _const(0),
                lambda w: 2 * w - 2,
                "width-1",
                "0..2*width-2",
            ),
            Param(
                "k",
                "top dropped columns replaced by the OR of their bits",
                lambda w, g: min(2, g["t"]),
                _const(0),
                lambda w: 2 * w - 2,
                "min(2, t)",
                "0..t",
            ),
            Param(
                "c",
                "constant correction in the low t-k result bits",
                lambda w, g: multipliers.ctrunc_default_c(w, g["t"], g["k"]),
                _const(0),
                lambda w: (1 << (2 * w - 2)) - 1,
                "2**(t-k-1), 0 when t=k",
                "0..2**(t-k)-1",
            ),
            Param(
                "l",
                "low columns reduced by the approximate compressors",
                lambda w, g: w + 2,
                _const(0),
                lambda w: 2 * w,
                "width+2",
                "0..2*width",
            ),
        ),
        multipliers.cmp,
        "this project; approximate 4:2 compressors after Momeni et al. (IEEE TC 2015), sized "
        "to LUT6 as the generalised parallel counters of Parandeh-Afshar et al. (DATE 2008)",
        check=_ctrunc_check,
        native_signed=True,
    ),
    UnitDef(
        "add",
        "add",
        "exact ripple-carry adder",
        (),
        adders.add_u,
        "",
    ),
    UnitDef(
        "loa",
        "add",
        "lower-part OR adder: low l sum bits a_i|b_i, exact upper part",
        (
            Param(
                "l",
                "bits in the OR part",
                lambda w, g: w // 2,
                _const(1),
                lambda w: w,
                "width//2",
                "1..width",
            ),
            Param(
                "c",
                "1: upper carry-in a[l-1]&b[l-1]; 0: carry-in 0",
                lambda w, g: 1,
                _const(0),
                _const(1),
                "1",
                "0..1",
            ),
        ),
        adders.loa_u,
        "H. R. Mahdiani et al., IEEE TCAS-I 57(4), 2010",
    ),
    UnitDef(
        "gear",
        "add",
        "GeAr: sub-adders of r+p bits, r result bits each, p bits of carry prediction",
        (
            Param(
                "r",
                "result bits per sub-adder",
                lambda w, g: max(1, w // 4),
                _const(1),
                lambda w: w,
                "max(1, width//4)",
                "1..width",
            ),
            Param(
                "p",
                "carry-prediction bits per sub-adder",
                _gear_default_p,
                _const(0),
                lambda w: w - 1,
                "max(1, width//4), raised (or lowered) to the nearest valid value",
                "0..width-1",
            ),
        ),
        adders.gear_u,
        "M. Shafique, W. Ahmad, R. Hafiz, J. Henkel, DAC 2015",
        check=_gear_check,
    ),
)

_UNITS: dict[str, UnitDef] = {u.name: u for u in _BUILTINS}
_BUILTIN_NAMES = frozenset(_UNITS)


def unit_names(kind: str | None = None) -> list[str]:
    """Names of the registered units (built-in first, then table units), optionally by kind."""
    _check_kind_filter(kind)
    return [n for n, u in _UNITS.items() if kind is None or u.kind == kind]


def list_units(kind: str | None = None) -> list[UnitDef]:
    """Definitions of the registered units, optionally only ``"mul"`` or ``"add"`` ones."""
    _check_kind_filter(kind)
    return [u for u in _UNITS.values() if kind is None or u.kind == kind]


def _check_kind_filter(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise UnitError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def _get_def(name: str) -> UnitDef:
    try:
        return _UNITS[name]
    except KeyError:
        raise UnitError(f"unknown unit {name!r}; valid units: {', '.join(_UNITS)}") from None


def _as_int(unit: str, key: str, value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise UnitError(f"{unit}: {key}={value!r} is not an integer")


def _resolve(name: str, width: Any, signed: Any, given: Mapping[str, Any]) -> tuple:
    """Validate and complete a unit description; returns (def, width, signed, param_items)."""
    udef = _get_def(name)
    known = set(udef.param_names) | {"width", "signed"}
    for key in given:
        if key not in known:
            raise UnitError(
                f"{name}: unknown parameter {key!r}; valid parameters: {udef.describe_params()}"
            )
    if udef.builtin:
        w = 8 if width is None else _as_int(name, "width", width)
        s = 0 if signed is None else _as_int(name, "signed", signed)
        lo, hi = BUILTIN_WIDTH_RANGE
        if not lo <= w <= hi:
            raise UnitError(f"{name}: width={w} out of range {lo}..{hi}")
    else:
        w = udef.lut_width if width is None else _as_int(name, "width", width)
        s = udef.lut_signed if signed is None else _as_int(name, "signed", signed)
        if w != udef.lut_width:
            raise UnitError(
                f"{name}: table unit is defined only for width={udef.lut_width} (got width={w})"
            )
    if s not in (0, 1):
        raise UnitError(f"{name}: signed={s} must be 0 or 1")
    if not udef.builtin and s != udef.lut_signed:
        raise UnitError(
            f"{name}: table unit is defined only for signed={udef.lut_signed} (got signed={s})"
        )
    values: dict[str, int] = {}
    for p in udef.params:
        if p.name in given:
            v = _as_int(name, p.name, given[p.name])
        else:
            v = p.default(w, values)
        lo, hi = p.lo(w), p.hi(w)
        if not lo <= v <= hi:
            raise UnitError(f"{name}: {p.name}={v} out of range {lo}..{hi} for width={w}")
        values[p.name] = v
    if udef.check is not None:
        msg = udef.check(w, s, values)
        if msg:
            raise UnitError(f"{name}: {msg}")
    return udef, w, s, tuple(values.items())


@dataclass(frozen=True, init=False, repr=False)
class UnitSpec:
    """A fully specified arithmetic unit (frozen, hashable).

    Build one with :func:`parse_unit` or directly: ``UnitSpec("drum", width=8, signed=1, k=6)``
    or ``UnitSpec("drum", params={"k": 6})``. The constructor validates and fills in defaults.
    Parameters are stored in declared order as ``param_items``; ``params`` gives a dict copy.
    """

    name: str
    kind: str
    width: int
    signed: int
    param_items: tuple[tuple[str, int], ...]

    def __init__(
        self,
        name: str,
        kind: str | None = None,
        width: int | None = None,
        signed: int | None = None,
        params: Mapping[str, int] | None = None,
        **extra: int,
    ) -> None:
        given = dict(params or {})
        given.update(dict(extra.pop("param_items", ())))  # as passed by dataclasses.replace
        for k, v in extra.items():
            if k in given:
                raise UnitError(f"{name}: parameter {k!r} given twice")
            given[k] = v
        udef, w, s, items = _resolve(name, width, signed, given)
        if kind is not None and kind != udef.kind:
            raise UnitError(f"{name}: kind={kind!r} but the unit is a {udef.kind!r} unit")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", udef.kind)
        object.__setattr__(self, "width", w)
        object.__setattr__(self, "signed", s)
        object.__setattr__(self, "param_items", items)

    # ----------------------------------------------------------------- description
    @property
    def params(self) -> dict[str, int]:
        return dict(self.param_items)

    @property
    def unit(self) -> UnitDef:
        """The registered definition (raises UnitError if a table unit was unregistered)."""
        return _get_def(self.name)

    @property
    def description(self) -> str:
        return self.unit.description

    @property
    def builtin(self) -> bool:
        return self.name in _BUILTIN_NAMES

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.param_items]
        parts += [f"width={self.width}", f"signed={self.signed}"]
        return f"{self.name}:{','.join(parts)}"

    def __repr__(self) -> str:
        return f"UnitSpec({str(self)!r})"

    @property
    def out_width(self) -> int:
        return 2 * self.width if self.kind == "mul" else self.width + 1

    @property
    def module_name(self) -> str:
        if not self.builtin:
            return sanitize_identifier(self.name)
        parts = [self.name] + [f"{k}{v}" for k, v in self.param_items]
        parts += [f"w{self.width}", "s" if self.signed else "u"]
        return "_".join(parts)

    def operand_range(self) -> tuple[int, int]:
        """Inclusive (lo, hi) of operand values."""
        if self.signed:
            return (-(1 << (self.width - 1)), (1 << (self.width - 1)) - 1)
        return (0, (1 << self.width) - 1)

    def output_range(self) -> tuple[int, int]:
        """Inclusive (lo, hi) of values representable on ``out_width`` bits."""
        n = self.out_width
        if self.signed:
            return (-(1 << (n - 1)), (1 << (n - 1)) - 1)
        return (0, (1 << n) - 1)

    def replace(self, **changes: int) -> UnitSpec:
        """A copy with some of width, signed or unit parameters changed."""
        width = changes.pop("width", self.width)
        signed = changes.pop("signed", self.signed)
        params = self.params
        params.update(changes)
        return UnitSpec(self.name, width=width, signed=signed, params=params)

    # ----------------------------------------------------------------- models
    def _operands(self, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
        arrs = []
        lo, hi = self.operand_range()
        for label, x in (("a", a), ("b", b)):
            arr = np.asarray(x)
            if arr.dtype == bool:
                arr = arr.astype(np.int64)
            if not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(f"{self}: operand {label} must be integers, got {arr.dtype}")
            if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
                bad = arr[(arr < lo) | (arr > hi)].flat[0]
                raise ValueError(
                    f"{self}: operand {label} value {int(bad)} out of range {lo}..{hi}"
                )
            arrs.append(arr.astype(np.int64, copy=False))
        a64, b64 = np.broadcast_arrays(*arrs)
        return a64, b64

    def __call__(self, a: Any, b: Any) -> np.ndarray:
        """Golden model: operand values (int64 arrays, broadcast) -> int64 result values."""
        a64, b64 = self._operands(a, b)
        udef = self.unit
        if udef.lut is not None:
            mask = (1 << self.width) - 1
            out = udef.lut[a64 & mask, b64 & mask]
        elif udef.native_signed:
            out = udef.model(a64, b64, self.width, signed=bool(self.signed), **self.params)
        elif self.signed:
            wrap = multipliers.sign_magnitude if self.kind == "mul" else adders.twos_complement
            out = wrap(udef.model)(a64, b64, self.width, **self.params)
        else:
            out = udef.model(a64, b64, self.width, **self.params)
        return np.asarray(out, dtype=np.int64)

    def exact(self, a: Any, b: Any) -> np.ndarray:
        """The exact result (``a*b`` or ``a+b``) for the same operands."""
        a64, b64 = self._operands(a, b)
        return a64 * b64 if self.kind == "mul" else a64 + b64


def sanitize_identifier(name: str) -> str:
    """A Verilog identifier made from a unit name."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not re.match(r"[A-Za-z_]", ident):
        ident = "u_" + ident
    return ident


def parse_unit(text: str | UnitSpec, **overrides: Any) -> UnitSpec:
    """Parse ``NAME[:key=value,...]`` (or pass a UnitSpec through) into a validated UnitSpec.

    Keyword ``overrides`` (e.g. ``width=12``) replace values given in the text.
    """
    if isinstance(text, UnitSpec):
        return text.replace(**overrides) if overrides else text
    if not isinstance(text, str):
        raise UnitError(f"unit must be a string or UnitSpec, got {type(text).__name__}")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise UnitError(f"empty unit name in {text!r}; valid units: {', '.join(_UNITS)}")
    udef = _get_def(name)
    given: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or not key or not value:
                raise UnitError(
                    f"{name}: malformed parameter {item.strip()!r} in {text!r} "
                    f"(expected key=value); valid parameters: {udef.describe_params()}"
                )
            if key in given:
                raise UnitError(f"{name}: parameter {key!r} given twice in {text!r}")
            given[key] = value
    given.update(overrides)
    width = given.pop("width", None)
    signed = given.pop("signed", None)
    return UnitSpec(name, width=width, signed=signed, params=given)


# --------------------------------------------------------------------------- table units


def parse_mul8(text: str) -> UnitSpec:
    """An 8-bit multiplier for the int8 CNN paths: ``width=8`` and ``signed=1`` unless the text
    gives them; anything else than an 8-bit multiplier is refused with the valid names."""
    name = text.partition(":")[0].strip()
    muls = unit_names("mul")
    if name not in muls:
        raise UnitError(f"unknown multiplier {name!r}; valid multipliers: {', '.join(muls)} "
                        "(e.g. drum:k=6; width=8 and signed=1 are the defaults)")
    keys = {item.partition("=")[0].strip() for item in text.partition(":")[2].split(",")}
    over = {k: v for k, v in (("width", 8), ("signed", 1)) if k not in keys}
    spec = parse_unit(text, **over)
    if spec.kind != "mul" or spec.width != 8:
        raise UnitError(f"{spec}: the CNN int8 path needs an 8-bit multiplier (width=8)")
    return spec


def register_lut_unit(
    name: str,
    lut: Any,
    width: int,
    signed: int,
    kind: str,
    description: str = "",
) -> UnitSpec:
    """Register a unit whose model is a result table ``lut[code_a, code_b]``.

    The table must be an integer array of shape ``(2**width, 2**width)`` indexed by operand
    codes (unsigned bit patterns) whose values fit in ``out_width`` bits (signed or not).
    Registering an existing table unit's name again replaces it; built-in names are refused.
    Returns the unit's UnitSpec.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UnitError(
            f"invalid table unit name {name!r}: use letters, digits, '_', '.', '-' "
            "and start with a letter or '_'"
        )
    if name in _BUILTIN_NAMES:
        raise UnitError(
            f"table unit name {name!r} clashes with a built-in unit; built-in units: "
            f"{', '.join(sorted(_BUILTIN_NAMES))}"
        )
    if kind not in KINDS:
        raise UnitError(f"{name}: kind={kind!r} must be one of {', '.join(KINDS)}")
    w = _as_int(name, "width", width)
    s = _as_int(name, "signed", signed)
    lo, hi = LUT_WIDTH_RANGE
    if not lo <= w <= hi:
        raise UnitError(f"{name}: width={w} out of range {lo}..{hi} for table units")
    if s not in (0, 1):
        raise UnitError(f"{name}: signed={s} must be 0 or 1")
    arr = np.asarray(lut)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise UnitError(f"{name}: table must hold integers, got dtype {arr.dtype}")
    size = 1 << w
    if arr.shape != (size, size):
        raise UnitError(
            f"{name}: table shape {arr.shape} does not match width={w} (need {(size, size)})"
        )
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise UnitError(f"{name}: table values do not fit in int64")
    table = np.array(arr, dtype=np.int64, copy=True)
    out_w = 2 * w if kind == "mul" else w + 1
    olo, ohi = (-(1 << (out_w - 1)), (1 << (out_w - 1)) - 1) if s else (0, (1 << out_w) - 1)
    if table.min() < olo or table.max() > ohi:
        raise UnitError(
            f"{name}: table values {int(table.min())}..{int(table.max())} do not fit in "
            f"{out_w} {'signed' if s else 'unsigned'} bits ({olo}..{ohi})"
        )
    table.flags.writeable = False
    _UNITS[name] = UnitDef(
        name,
        kind,
        description or f"table unit ({kind}, width={w}, signed={s})",
        (),
        None,
        "imported table",
        builtin=False,
        lut=table,
        lut_width=w,
        lut_signed=s,
    )
    return UnitSpec(name)


def unregister_lut_unit(name: str) -> None:
    """Remove a table unit from the registry (built-in units cannot be removed)."""
    if name in _BUILTIN_NAMES:
        raise UnitError(f"{name!r} is a built-in unit and cannot be removed")
    _get_def(name)
    del _UNITS[name]


def _scalar_str(data: Any, key: str, path: Path) -> str:
    arr = data[key]
    if arr.shape != () or arr.dtype.kind not in "US":
        raise UnitError(f"{path}: array {key!r} must be a scalar string, got {arr.dtype}")
    v = arr[()]
    return v.decode() if isinstance(v, bytes) else str(v)


def _scalar_int(data: Any, key: str, path: Path) -> int:
    arr = data[key]
    if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
        raise UnitError(f"{path}: array {key!r} must be a scalar integer, got {arr.dtype}")
    return int(arr[()])


def load_lut_unit(path: str | Path, name: str | None = None) -> UnitSpec:
    """Read an ``.npz`` table written by :func:`save_lut_unit` and register it.

    ``name`` overrides the name stored in the file (or, when the file has none, its stem).
    Pickled content is never loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise UnitError(f"{path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise UnitError(f"{path}: not an .npz archive (a single array was found)")
        with loaded as data:
            missing = [k for k in ("lut", "width", "signed", "kind") if k not in data.files]
            if missing:
                raise UnitError(
                    f"{path}: malformed table file, missing array(s) {', '.join(missing)} "
                    "(need lut, width, signed, kind)"
                )
            lut = data["lut"]
            width = _scalar_int(data, "width", path)
            signed = _scalar_int(data, "signed", path)
            kind = _scalar_str(data, "kind", path)
            stored = _scalar_str(data, "name", path) if "name" in data.files else None
            desc = _scalar_str(data, "description", path) if "description" in data.files else ""
    except UnitError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        # not a zip file, pickled or object arrays, truncated data, ...
        raise UnitError(f"{path}: cannot read table file: {exc}") from exc
    unit_name = name or stored or sanitize_identifier(path.stem)
    return register_lut_unit(unit_name, lut, width, signed, kind, desc)
