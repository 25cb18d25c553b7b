"""Number formats of the Spike-by-Spike (SbS) golden model: weights and latent variables h.

Weight formats (weights are probabilities, ``0 <= W <= 1``, so no format has a sign bit)
=====================================================================================

``float32``
    IEEE-754 binary32; ``quantise`` is a cast, codes are the float32 values themselves.

``e<E>m<M>`` (unsigned custom float, e.g. ``e4m1``, the published hybrid format)
    Code word of ``E + M`` bits: ``code = (e << M) | m`` with exponent field ``e`` (E bits) and
    mantissa field ``m`` (M bits). Let ``EMAX = 2**E - 2``.

    * ``e <= EMAX``: ``value = (1 + m / 2**M) * 2**-e`` (no bias, no sub-normals).
      E4M1 covers 1.5 (e=0, m=1) down to 2**-14 (e=14, m=0).
    * ``e == 2**E - 1`` (exponent field all ones): the value is exactly 0 (any m).
      The canonical zero code is all ones, ``2**(E+M) - 1``.

    Rounding (``quantise``), on float64 input: round to nearest in the *linear* domain, ties to
    the larger magnitude. For ``w = f * 2**k`` with ``1 <= f < 2``: ``m = floor((f - 1) * 2**M
    + 1/2)``; ``m == 2**M`` carries into the exponent. Saturation: results above the largest
    code give the largest code. Underflow: ``w < 2**-EMAX / 2`` gives zero, otherwise results
    below ``2**-EMAX`` give the smallest code (``e = EMAX, m = 0``). Negative input, NaN and
    infinity are errors.

``log<E>`` (logarithmic, e.g. ``log4``: exponent only, ``W = 2**-e``)
    Identical to ``e<E>m0`` in code layout and decoding, but rounded to nearest in the *log*
    domain: with ``w = f * 2**k`` (``1 <= f < 2``) the result is ``2**(k+1)`` when ``f`` is
    above sqrt(2) (float64 comparison ``f > 1.4142135623730951``) and ``2**k`` otherwise.
    Saturation and underflow as above (``w < 2**-EMAX / 2`` gives zero).

Hardware view of a coded weight (used by the fixed-point datapath in ``model``): every
non-zero code is the integer ``WI = (2**M + m) << (EMAX - e)`` scaled by ``2**-(M + EMAX)``;
zero codes give ``WI = 0``. For E4M1 ``WI < 2**16``; for log4 ``WI = 1 << (14 - e)``, so
``h * W`` is a shift (log) or a shift plus one add (E4M1, M = 1).

Latent variables: see ``HFixed`` below and the module docstring of ``refmodels.sbs.model``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["FormatError", "WeightFormat", "parse_format", "HFixed", "round_half_up_div"]

_SQRT2 = 1.4142135623730951


class FormatError(ValueError):
    """A bad format name, parameter or value."""


@dataclass(frozen=True)
class WeightFormat:
    """A weight number format. ``kind`` is ``"float32"``, ``"cfloat"`` or ``"log"``."""

    kind: str
    e_bits: int = 0
    m_bits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("float32", "cfloat", "log"):
            raise FormatError(f"unknown weight format kind {self.kind!r}")
        if self.kind != "float32":
            if not 2 <= self.e_bits <= 6:
                raise FormatError(f"exponent bits must be 2..6, got {self.e_bits}")
            if not 0 <= self.m_bits <= 8:
                raise FormatError(f"mantissa bits must be 0..8, got {self.m_bits}")
            if self.kind == "log" and self.m_bits != 0:
                raise FormatError("a log format has no mantissa bits")

    # --- names and ranges -------------------------------------------------------------------
    @property
    def name(self) -> str:
        if self.kind == "float32":
            return "float32"
        if self.kind == "log":
            return f"log{self.e_bits}"
        return f"e{self.e_bits}m{self.m_bits}"

    def __str__(self) -> str:
        return self.name

    @property
    def is_float(self) -> bool:
        return self.kind == "float32"

    @property
    def bits(self) -> int:
        return 32 if self.is_float else self.e_bits + self.m_bits

    @property
    def emax(self) -> int:
        """Largest exponent field of a non-zero value (``2**E - 2``)."""
        return (1 << self.e_bits) - 2

    @property
    def zero_code(self) -> int:
        return (1 << self.bits) - 1

    @property
    def max_value(self) -> float:
        if self.is_float:
            return float(np.finfo(np.float32).max)
        return 1.0 + ((1 << self.m_bits) - 1) / (1 << self.m_bits)

    @property
    def min_value(self) -> float:
        """Smallest non-zero value."""
        if self.is_float:
            return float(np.finfo(np.float32).smallest_subnormal)
        return 2.0 ** -self.emax

    @property
    def wi_shift(self) -> int:
        """Fraction bits of the integer hardware weight ``WI`` (``M + EMAX``)."""
        self._need_coded()
        return self.m_bits + self.emax

    def _need_coded(self) -> None:
        if self.is_float:
            raise FormatError("float32 weights have no integer code")

    # --- conversions ------------------------------------------------------------------------
    def quantise(self, w) -> np.ndarray:
        """Codes (uint16) of the weights ``w`` (float32 values for ``float32``)."""
        w = np.asarray(w, dtype=np.float64)
        if not np.all(np.isfinite(w)):
            raise FormatError("weights must be finite")
        if np.any(w < 0):
            raise FormatError("weights must be non-negative")
        if self.is_float:
            return w.astype(np.float32)
        big_m = 1 << self.m_bits
        f, k = np.frexp(w)  # w = f * 2**k, 0.5 <= f < 1
        f = f * 2.0
        k = k - 1  # w = f * 2**k, 1 <= f < 2
        if self.kind == "log":
            k = np.where(f > _SQRT2, k + 1, k)
            m = np.zeros_like(k)
        else:
            m = np.floor((f - 1.0) * big_m + 0.5).astype(np.int64)
            carry = m >= big_m
            m = np.where(carry, 0, m)
            k = np.where(carry, k + 1, k)
        e = -k.astype(np.int64)
        # saturation at the top
        sat = e < 0
        e = np.where(sat, 0, e)
        m = np.where(sat, big_m - 1, m)
        # underflow at the bottom
        small = e > self.emax
        e = np.where(small, self.emax, e)
        m = np.where(small, 0, m)
        code = (e << self.m_bits) | m
        zero = (w < self.min_value / 2) | (w == 0)
        code = np.where(zero, self.zero_code, code)
        return code.astype(np.uint16)

    def decode(self, codes) -> np.ndarray:
        """float32 values of ``codes`` (exact: every code value is a float32)."""
        if self.is_float:
            return np.asarray(codes, dtype=np.float32)
        c = self._check_codes(codes)
        e = c >> self.m_bits
        m = c & ((1 << self.m_bits) - 1)
        val = (1.0 + m / (1 << self.m_bits)) * np.exp2(-e.astype(np.float64))
        val = np.where(e > self.emax, 0.0, val)
        return val.astype(np.float32)

    def to_int(self, codes) -> np.ndarray:
        """Hardware integer weight ``WI = (2**M + m) << (EMAX - e)`` (0 for zero codes)."""
        self._need_coded()
        c = self._check_codes(codes)
        e = c >> self.m_bits
        m = c & ((1 << self.m_bits) - 1)
        zero = e > self.emax
        e = np.where(zero, self.emax, e)
        wi = ((1 << self.m_bits) + m) << (self.emax - e)
        return np.where(zero, 0, wi).astype(np.int64)

    def round_trip(self, w) -> np.ndarray:
        """``decode(quantise(w))``: the weights as this format represents them (float32)."""
        return self.decode(self.quantise(w))

    def all_codes(self) -> np.ndarray:
        self._need_coded()
        return np.arange(1 << self.bits, dtype=np.uint16)

    def _check_codes(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.dtype.kind not in "iu":
            raise FormatError(f"codes of {self.name} must be integers, got {c.dtype}")
        c = c.astype(np.int64)
        if np.any((c < 0) | (c >= (1 << self.bits))):
            raise FormatError(f"codes of {self.name} must lie in 0..{(1 << self.bits) - 1}")
        return c


_FMT_RE = re.compile(r"^(?:(float32|fp32)|e(\d)m(\d)|log(\d))$")


def parse_format(text: str | WeightFormat) -> WeightFormat:
    """``"float32"``, ``"e4m1"``, ``"e5m2"``, ``"log4"`` ... -> ``WeightFormat``."""
    if isinstance(text, WeightFormat):
        return text
    mt = _FMT_RE.match(str(text).strip().lower())
    if not mt:
        raise FormatError(
            f"unknown weight format {text!r}; valid: float32, e<E>m<M> (e.g. e4m1), log<E> "
            "(e.g. log4)"
        )
    if mt.group(1):
        return WeightFormat("float32")
    if mt.group(4):
        return WeightFormat("log", int(mt.group(4)), 0)
    return WeightFormat("cfloat", int(mt.group(2)), int(mt.group(3)))


def round_half_up_div(num: int, den: int) -> int:
    """``floor(num / den + 1/2)`` for non-negative integers."""
    return (2 * num + den) // (2 * den)


@dataclass(frozen=True)
class HFixed:
    """Fixed-point representation of h and the constants of its update (see ``model``).

    ``frac_bits`` F: h is an unsigned integer H with value ``H * 2**-F``, stored in F bits
    (saturating at ``2**F - 1``). ``norm_bits`` S: precision of the constants
    ``C1 = round(2**S / (1 + eps))`` and ``CE = 2**S - C1``. ``p_bits`` PB: width of the
    normalised products and of the normalised divisor. ``theta_q``: the update happens only
    when the accumulated ``r`` (integer, LSB ``2**-(F + M + EMAX)``) is above ``theta_q``.
    """

    frac_bits: int = 24
    norm_bits: int = 17
    p_bits: int = 17
    theta_q: int = 0

    def __post_init__(self) -> None:
        if not 8 <= self.frac_bits <= 30:
            raise FormatError(f"frac_bits must be 8..30, got {self.frac_bits}")
        if not 8 <= self.norm_bits <= 24:
            raise FormatError(f"norm_bits must be 8..24, got {self.norm_bits}")
        if not 4 <= self.p_bits <= 24:
            raise FormatError(f"p_bits must be 4..24, got {self.p_bits}")
        if self.theta_q < 0:
            raise FormatError("theta_q must be >= 0")

    def eps_constants(self, eps: float) -> tuple[int, int]:
        """``(C1, CE)`` with ``C1 = floor(2**S / (1 + eps) + 1/2)`` and ``CE = 2**S - C1``."""
        if not (eps > 0 and math.isfinite(eps)):
            raise FormatError(f"eps must be positive, got {eps}")
        one = 1 << self.norm_bits
        c1 = math.floor(one / (1.0 + float(eps)) + 0.5)
        ce = one - c1
        if ce <= 0:
            raise FormatError(f"eps={eps} is below the resolution 2**-{self.norm_bits}")
        return c1, ce

    def quantise_h(self, h) -> np.ndarray:
        """``floor(h * 2**F + 1/2)`` clipped to ``0 .. 2**F - 1`` (int64)."""
        h = np.asarray(h, dtype=np.float64)
        q = np.floor(h * (1 << self.frac_bits) + 0.5)
        return np.clip(q, 0, (1 << self.frac_bits) - 1).astype(np.int64)

    def init_h(self, n_h: int) -> int:
        """Initial latent value ``floor(2**F / N_H)``."""
        return (1 << self.frac_bits) // n_h
