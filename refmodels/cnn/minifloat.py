"""Generic minifloat formats and the Hybrid-Float6 (HF6) multiply-accumulate.

``MiniFloat(ebits, mbits, signed, bias, subnormals, special, overflow)`` describes a binary
floating-point format of ``signed + ebits + mbits`` bits; code = sign | exponent | mantissa.

* ``bias`` defaults to ``2**(ebits-1) - 1``; normal value ``2**(e - bias) * (1 + m / 2**mbits)``
  for exponent field ``e >= 1``.
* ``subnormals=True``: exponent field 0 holds ``2**(1 - bias) * m / 2**mbits``. With
  ``subnormals=False`` every code of exponent field 0 decodes to zero and the encoder rounds
  magnitudes below the smallest normal on the grid ``{0, 2**(1-bias)}`` (ties to 0).
* ``special``: ``"ieee"`` (top exponent field: mantissa 0 = infinity, else NaN; canonical NaN has
  the top mantissa bit set), ``"fn"`` (no infinity; only the all-ones exponent and mantissa is
  NaN, like float8_e4m3fn) or ``"finite"`` (every code is a number, like float6_e3m2fn).
* ``overflow``: ``"special"`` (a rounded magnitude above the largest finite value becomes
  infinity, or NaN when the format has no infinity) or ``"saturate"`` (it becomes the largest
  finite value; +-inf input also saturates unless the format has infinities). Default:
  ``"special"`` unless ``special == "finite"``, which only allows ``"saturate"``.

Encoding rounds to nearest, ties to even, in one step from float64 (so float32 input is rounded
once); the overflow test is made after rounding. NaN input gives the canonical NaN (sign kept),
and is an error for formats without NaN; negative input is an error for unsigned formats.

Hybrid-Float6 (weights and biases; activations stay float32): ``HF6 = MiniFloat(4, 1,
bias=7, subnormals=True, special="finite")``: sign + 4-bit exponent + 1-bit mantissa, all 64
codes finite, largest 384, exponent field 0 gives the subnormals 0 and 2**-7 (so the rounding
error below the smallest normal 2**-6 is at most 2**-8 = 2**-(bias+1)); overflow saturates.

HF6 MAC (:func:`hf6_product_fixed`, :func:`hf6_dot`): each product activation x weight is
formed exactly from the float32 fields (24-bit significand times the 2-bit HF6 significand) and
converted to a 64-bit two's complement fixed-point number with 23 fraction bits: bits below
2**-23 are dropped from the magnitude (truncation toward zero), the sign is applied afterwards
and bits above 2**63 wrap (mod 2**64, like a 64-bit datapath). The HF6 bias enters the
accumulator as its exact fixed-point value. Products and bias are summed modulo 2**64. The
accumulator is converted back to float32 by :func:`fixed_to_float32`: value ``acc * 2**-23``
rounded to nearest, ties to even, in one step. Float32 subnormal activations are handled as
such; inf and NaN activations are an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "MiniFloat",
    "HF6",
    "FORMATS",
    "hf6_product_fixed",
    "hf6_product_fixed_fast",
    "hf6_dot",
    "hf6_bias_fixed",
    "fixed_to_float32",
    "FRAC_BITS",
]

SPECIALS = ("ieee", "fn", "finite")
OVERFLOWS = ("special", "saturate")


@dataclass(frozen=True)
class MiniFloat:
    ebits: int
    mbits: int
    signed: bool = True
    bias: int | None = None
    subnormals: bool = True
    special: str = "ieee"
    overflow: str | None = None
    _table: np.ndarray = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not (1 <= self.ebits <= 8 and 0 <= self.mbits <= 10):
            raise ValueError("need 1 <= ebits <= 8 and 0 <= mbits <= 10")
        if self.special not in SPECIALS:
            raise ValueError(f"special must be one of {SPECIALS}, got {self.special!r}")
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.ebits - 1) - 1)
        ov = self.overflow
        if ov is None:
            ov = "saturate" if self.special == "finite" else "special"
        if ov not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {OVERFLOWS}, got {ov!r}")
        if self.special == "finite" and ov != "saturate":
            raise ValueError("a format without inf/NaN can only saturate")
        if self.special == "fn" and self.ebits == 1 and self.mbits == 0:
            raise ValueError("format has no finite non-zero value")
        if self.special == "ieee" and self.ebits < 2:
            raise ValueError("an ieee-style format needs ebits >= 2")
        object.__setattr__(self, "overflow", ov)
        object.__setattr__(self, "_table", self._decode_table())

    # ---------------------------------------------------------------- properties
    @property
    def bits(self):
        return int(self.signed) + self.ebits + self.mbits

    @property
    def emin(self):
        """Unbiased exponent of the smallest normal."""
        return 1 - self.bias

    @property
    def max_field(self):
        """Largest exponent field holding finite numbers."""
        return 2**self.ebits - 2 if self.special == "ieee" else 2**self.ebits - 1

    @property
    def max_value(self):
        top_m = 2**self.mbits - 1
        if self.special == "fn":
            top_m -= 1
            if top_m < 0:  # whole top binade is NaN
                return float(2.0 ** (self.max_field - 1 - self.bias) * (2 - 2.0**-self.mbits))
        return float(2.0 ** (self.max_field - self.bias) * (1 + top_m / 2**self.mbits))

    @property
    def has_inf(self):
        return self.special == "ieee"

    @property
    def has_nan(self):
        return self.special != "finite"

    def __str__(self):
        s = "s" if self.signed else "u"
        return (f"e{self.ebits}m{self.mbits}{s}_b{self.bias}"
                f"{'' if self.subnormals else '_nosub'}_{self.special}_{self.overflow}")

    # ---------------------------------------------------------------- codes
    def _fields(self, code):
        code = np.asarray(code, np.int64)
        m = code & (2**self.mbits - 1)
        e = (code >> self.mbits) & (2**self.ebits - 1)
        s = (code >> (self.mbits + self.ebits)) & 1 if self.signed else np.zeros_like(code)
        return s, e, m

    def _decode_table(self):
        codes = np.arange(2**self.bits, dtype=np.int64)
        s, e, m = self._fields(codes)
        M = 2**self.mbits
        normal = np.ldexp(1.0 + m / M, (e - self.bias).astype(np.int32))
        sub = np.ldexp(m / M, self.emin) if self.subnormals else np.zeros(len(codes))
        v = np.where(e == 0, sub, normal)
        top = e == 2**self.ebits - 1
        if self.special == "ieee":
            v = np.where(top & (m == 0), np.inf, v)
            v = np.where(top & (m != 0), np.nan, v)
        elif self.special == "fn":
            v = np.where(top & (m == M - 1), np.nan, v)
        return np.where(s == 1, -v, v)

    def decode(self, code):
        """Codes (ints in [0, 2**bits)) -> float64 values."""
        code = np.asarray(code)
        if code.dtype.kind not in "iu":
            raise TypeError("codes must be integers")
        c = code.astype(np.int64)
        if c.size and (c.min() < 0 or c.max() >= 2**self.bits):
            raise ValueError(f"code out of range [0, {2**self.bits})")
        return self._table[c]

    def values(self):
        """Decode table of all codes (float64, read-only copy)."""
        return self._table.copy()

    def nan_code(self, sign=0):
        if not self.has_nan:
            raise ValueError(f"{self} has no NaN")
        e = 2**self.ebits - 1
        m = 2**self.mbits - 1 if self.special == "fn" else 1 << max(self.mbits - 1, 0)
        return (int(sign) << (self.ebits + self.mbits) if self.signed else 0) | (
            e << self.mbits) | m

    def encode(self, x):
        """float values -> codes (int64), round to nearest even with the overflow policy."""
        x = np.asarray(x, dtype=np.float64)
        sign = np.signbit(x).astype(np.int64)
        nan = np.isnan(x)
        if nan.any() and not self.has_nan:
            raise ValueError(f"NaN cannot be encoded in {self}")
        if not self.signed and np.any((x < 0) | (nan & (sign == 1))):
            raise ValueError(f"negative value in unsigned format {self}")
        if not self.signed:
            sign = np.zeros_like(sign)
        a = np.where(nan, 0.0, np.abs(x))
        inf = np.isinf(a)
        af = np.where(inf, 0.0, a)
        _, ex = np.frexp(af)
        u = ex.astype(np.int64) - 1  # unbiased exponent of af (af > 0)
        qexp = np.maximum(u, self.emin) - self.mbits
        if not self.subnormals:
            qexp = np.where(u < self.emin, self.emin, qexp)
        n = np.rint(np.ldexp(af, (-qexp).astype(np.int32)))  # exact scaling; RNE
        v = np.ldexp(n, qexp.astype(np.int32))
        over = (v > self.max_value) | inf
        # code of a representable magnitude v
        _, ev = np.frexp(v)
        uv = ev.astype(np.int64) - 1
        is_norm = v >= 2.0**self.emin
        efield = np.where(is_norm, uv + self.bias, 0)
        mant = np.where(is_norm,
                        np.ldexp(v, (self.mbits - uv).astype(np.int32)) - 2**self.mbits,
                        np.ldexp(v, self.mbits - self.emin))
        mag = (efield << self.mbits) | mant.astype(np.int64)
        mag = np.where(v == 0, 0, mag)
        maxcode = int(np.flatnonzero(self._table[: 2 ** (self.ebits + self.mbits)]
                                     == self.max_value)[0])
        if self.has_inf:
            inf_code = (2**self.ebits - 1) << self.mbits
            over_code = inf_code if self.overflow == "special" else maxcode
            mag = np.where(inf, inf_code, np.where(over, over_code, mag))
        elif self.overflow == "special":
            mag = np.where(over, self.nan_code(0), mag)
        else:
            mag = np.where(over, maxcode, mag)
        if self.has_nan:
            mag = np.where(nan, self.nan_code(0), mag)
        sbit = self.ebits + self.mbits
        return np.where(self.signed, mag | (sign << sbit), mag).astype(np.int64)

    def round(self, x):
        """Quantise float values to the nearest representable value (float64)."""
        return self.decode(self.encode(x))


HF6 = MiniFloat(4, 1, signed=True, bias=7, subnormals=True, special="finite")

# the standard formats (names as in ml_dtypes)
FORMATS = {
    "float8_e4m3fn": MiniFloat(4, 3, special="fn"),
    "float8_e5m2": MiniFloat(5, 2, special="ieee"),
    "float6_e3m2fn": MiniFloat(3, 2, special="finite"),
    "float6_e2m3fn": MiniFloat(2, 3, special="finite"),
    "float4_e2m1fn": MiniFloat(2, 1, special="finite"),
    "hf6": HF6,
}

# ------------------------------------------------------------------------------------ HF6 MAC

FRAC_BITS = 23
_MASK64 = (1 << 64) - 1


def _f32_fields(a):
    a = np.asarray(a)
    if a.dtype != np.float32:
        raise TypeError(f"activations must be float32, got {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError("activations must be finite")
    b = a.view(np.uint32).astype(np.int64)
    s = b >> 31
    e = (b >> 23) & 0xFF
    f = b & 0x7FFFFF
    sig = np.where(e > 0, f | (1 << 23), f)
    return s, np.maximum(e, 1), sig


def _hf6_fields(code):
    s, e, m = HF6._fields(_check_hf6(code))
    sig = np.where(e > 0, 2 | m, m)  # significand in units of 2**-1
    return s, np.maximum(e, 1), sig


def _check_hf6(code):
    c = np.asarray(code)
    if c.dtype.kind not in "iu":
        raise TypeError("HF6 codes must be integers")
    c = c.astype(np.int64)
    if c.size and (c.min() < 0 or c.max() > 63):
        raise ValueError("HF6 code out of range [0, 63]")
    return c


def hf6_product_fixed(a, w_code):
    """Bit-level HF6 product: float32 activation x HF6 weight code -> int64 fixed (Q.23).

    value = sig_a * 2**(ea - 150) * sig_w * 2**(ew - 8); fixed = value * 2**23 with the
    magnitude truncated and wrapped to 64 bits, then the sign applied (mod 2**64).
    """
    sa, ea, ma = _f32_fields(a)
    sw, ew, mw = _hf6_fields(w_code)
    p = (ma * mw).astype(np.uint64)  # < 2**26
    sh = ea + ew - (150 + 8 - FRAC_BITS)
    sh, p = np.broadcast_arrays(sh, p)
    left = np.clip(sh, 0, 63).astype(np.uint64)
    right = np.clip(-sh, 0, 63).astype(np.uint64)
    mag = np.where(sh >= 64, np.uint64(0),
                   np.where(sh >= 0, p << left, p >> right))
    neg = (sa ^ sw).astype(bool)
    out = np.where(neg, (~mag) + np.uint64(1), mag)  # two's complement negate (wraps)
    return np.asarray(out, np.uint64).view(np.int64)


def hf6_product_fixed_fast(a, w_values):
    """Same as :func:`hf6_product_fixed` for products with abs(value) < 2**40 (no wrap):

    trunc(float64(a) * w * 2**23), exact in float64 (26 significant bits).
    """
    p = np.asarray(a, np.float64) * np.asarray(w_values, np.float64) * float(2**FRAC_BITS)
    if p.size and np.abs(p).max() >= 2.0**62:
        raise OverflowError("HF6 product outside the fast path's range")
    return np.trunc(p).astype(np.int64)


def hf6_bias_fixed(code):
    """Exact Q.23 value of HF6 bias codes (int64)."""
    v = HF6.decode(_check_hf6(code))
    return np.rint(v * 2.0**FRAC_BITS).astype(np.int64)


def fixed_to_float32(acc, frac_bits=FRAC_BITS):
    """int64 fixed point (``frac_bits`` fraction bits) -> float32, round to nearest even, once."""
    acc = np.asarray(acc)
    if acc.dtype != np.int64:
        raise TypeError("accumulator must be int64")
    neg = acc < 0
    mag = np.where(neg, (~acc.view(np.uint64)) + np.uint64(1), acc.view(np.uint64))
    _, b = np.frexp(mag.astype(np.float64))  # bit length, maybe one too many after rounding
    b = b.astype(np.int64)
    big = np.where(b > 0, b - 1, 0).astype(np.uint64)
    b = np.where((b > 0) & ((mag >> big) == 0), b - 1, b)
    r = np.maximum(b - 24, 0)
    ru = r.astype(np.uint64)
    q = mag >> ru
    rem = mag & ((np.uint64(1) << ru) - np.uint64(1))
    half = np.where(r > 0, np.uint64(1) << np.maximum(r - 1, 0).astype(np.uint64), np.uint64(0))
    up = (r > 0) & ((rem > half) | ((rem == half) & ((q & np.uint64(1)) == 1)))
    q = q + up.astype(np.uint64)
    val = np.ldexp(q.astype(np.float64), (r - frac_bits).astype(np.int32))  # exact
    val = np.where(neg, -val, val)
    return val.astype(np.float32)


def hf6_dot(a, w_codes, bias_codes=None, chunk=1 << 20):
    """HF6 dot products: a (P, K) float32, w_codes (K, C) -> (P, C) float32.

    acc = bias + sum_k product(a[p, k], w[k, c]) in 64-bit Q.23 (mod 2**64), then rounded to
    float32. Uses the float64 fast path when no product can reach 2**40 and the bit-level path
    otherwise; both give the same int64 products.
    """
    a = np.asarray(a)
    if a.dtype != np.float32:
        raise TypeError("activations must be float32")
    w_codes = _check_hf6(w_codes)
    if a.ndim != 2 or w_codes.ndim != 2 or a.shape[1] != w_codes.shape[0]:
        raise ValueError(f"need a (P, K) and w (K, C); got {a.shape}, {w_codes.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("activations must be finite")
    P, K = a.shape
    C = w_codes.shape[1]
    wv = HF6.decode(w_codes)
    fast = (np.abs(a).max(initial=0.0) * HF6.max_value) < 2.0**39
    acc = np.zeros((P, C), np.int64)
    if bias_codes is not None:
        acc += hf6_bias_fixed(np.broadcast_to(bias_codes, (C,)))
    rows = max(1, chunk // max(1, K * C))
    with np.errstate(over="ignore"):
        for i in range(0, P, rows):
            blk = a[i : i + rows]
            if fast:
                prod = hf6_product_fixed_fast(blk[:, :, None], wv[None, :, :])
            else:
                prod = hf6_product_fixed(blk[:, :, None], w_codes[None, :, :])
            acc[i : i + rows] += prod.sum(axis=1, dtype=np.int64)
    return fixed_to_float32(acc)
