"""Bit-exact golden models of the approximate multipliers.

Every ``*_u`` function below is the *unsigned* core: it takes int64 numpy arrays of n-bit
unsigned operands (``0 <= a, b < 2**n``), the width ``n`` and the unit parameters, and returns
the int64 product, which always fits in ``2*n`` bits. All functions are vectorised over the
operand arrays (loops run only over bit positions, never over operand pairs).

Signed units are built with :func:`sign_magnitude`: both operands are replaced by their
magnitudes (``|-2**(n-1)| = 2**(n-1)`` still fits in n unsigned bits), the unsigned unit of the
same width multiplies them, and the result is negated when the operand signs differ.

Definitions
-----------
exact
    ``a * b``.
trunc [t]
    Broken-array multiplier: the partial-product bits ``a_i & b_j`` with ``i + j < t`` are
    dropped, the rest are summed exactly; no compensation constant.
mitchell
    Mitchell's logarithmic multiplier (J. N. Mitchell, IRE Trans. Electronic Computers, 1962)
    in fixed point with ``n-1`` fraction bits. With ``k`` the leading-one position,
    ``x = (a - 2**k) << (n-1-k)`` and ``s = x1 + x2``: if ``s < 2**(n-1)`` the product is
    ``((2**(n-1) + s) << (k1+k2)) >> (n-1)``, otherwise ``(s << (k1+k2+1)) >> (n-1)`` (floor in
    both cases); 0 when either operand is 0. The fraction sum is exact (no bits are lost before
    the final shift), so the model equals ``floor`` of the real-valued Mitchell product.
drum [k]
    Dynamic Range Unbiased Multiplier (S. Hashemi, R. I. Bahar, S. Reda, ICCAD 2015). An operand
    ``>= 2**k`` whose leading one is at position ``t`` keeps only bits ``t .. t-k+1``, the lowest
    kept bit is forced to 1, and the k x k product is shifted back by both cut amounts. Operands
    below ``2**k`` pass unchanged.
kulkarni
    Recursive multiplier made of the 2x2 block of P. Kulkarni, P. Gupta, M. Ercegovac (VLSI
    Design 2011), exact except ``3 x 3 = 7``. Composing the blocks recursively with exact adders
    equals summing the block products of every pair of 2-bit digits ``(a_i, b_j)`` shifted by
    ``2*(i+j)``. Odd widths are zero-extended to the next even width (which changes nothing in
    the value, only in the structure).
etm [k]
    Error-Tolerant Multiplier of K. Y. Kyaw, W. L. Goh, K. S. Yeo, "Low-power high-speed
    multiplier for error-tolerant application", IEEE EDSSC 2010. Each operand is split into the
    high ``n-k`` bits (multiplication part) and the low ``k`` bits (non-multiplication part).

    * When the high parts of *both* operands are zero, the control block routes the low parts
      to the multiplier and the result is the exact product ``a_lo * b_lo`` (which is then the
      exact ``a * b``). Hardware realising this needs a multiplier of ``max(k, n-k)`` bits.
    * Otherwise the result is ``(a_hi * b_hi) << 2k`` (exact product of the high parts) and the
      low ``2k`` result bits come from the non-multiplication part without any multiplication:
      the operand bit pairs ``(a_j, b_j)`` are scanned from ``j = k-1`` down to 0; result bit
      ``k + j`` is 1 as soon as some pair at or above ``j`` holds a 1 (an OR chain from the top),
      and the low ``k`` result bits all copy result bit ``k`` (so they are all ones when any low
      operand bit is set). Equivalently, with ``L`` the leading-one position of
      ``a_lo | b_lo``, the low field is ``2**(k+L+1) - 1`` (0 when ``a_lo | b_lo == 0``).
      The cross terms ``a_hi*b_lo + a_lo*b_hi`` are not computed at all.
roba
    Rounding-Based Approximate multiplier of R. Zendegani, M. Kamal, M. Bahadori,
    A. Afzali-Kusha, M. Pedram, IEEE TVLSI 25(2), 2017: ``a*b ~ Ar*b + a*Br - Ar*Br`` where
    ``Ar``, ``Br`` are the operands rounded to the nearest power of two; the neglected term is
    ``(a - Ar)(b - Br)``. Tie rule from the paper: a value ``3 * 2**(p-2)`` lies halfway between
    ``2**(p-1)`` and ``2**p``; both give the same error and the paper picks the larger one,
    ``2**p``, because it makes the rounding logic simpler. So with ``k`` the leading-one
    position, ``Ar = 2**(k+1)`` when bit ``k-1`` is set, else ``2**k`` (``Ar = 1`` for ``a = 1``,
    ``Ar = 0`` for ``a = 0``). Signed operands use this project's sign-magnitude wrapper, not the
    paper's one's-complement signed variant.
ctrunc [t, k, c, g]
    Compensated truncation in carry-chain rows, designed for LUT6 + CARRY4 fabric. The
    partial-product bits ``a_i & b_j`` with ``i + j >= t`` are summed exactly; of the dropped
    columns, the top ``k`` (``t-k .. t-1``) are each replaced by the OR of their partial-product
    bits (an approximate n:1 column compressor, a data-dependent correction), and the constant
    ``c < 2**(t-k)`` fills the free low result bits (a constant correction that costs no logic).
    ``g`` only shapes the hardware (the rows are accumulated in ``g`` carry-chain groups whose
    sums are added at the end); it does not change the function. *Signed* ``ctrunc`` is a native
    two's complement array, not the sign-magnitude wrapper: the partial-product bits of row
    ``n-1`` and of column ``b_{n-1}`` carry weight ``-2**(i+j)`` (Baugh-Wooley's sign rows,
    subtracted instead of inverted), ``a_{n-1} b_{n-1}`` carries ``+2**(2n-2)``, truncation
    drops signed bits by column in the same way, the OR columns and ``c`` are added
    positively, and the sum is taken modulo ``2**(2n)`` as a two's complement value.
bam [t, h, k, c, g]
    Broken-array multiplier in interleaved carry-chain groups, the row-dropping member of the
    ``ctrunc`` family. A partial-product bit ``a_i & b_j`` is kept iff ``i >= h`` (the ``h``
    low rows are dropped, Mahdiani's horizontal break level) and ``i + j >= t`` (the vertical
    break level); the top ``k`` columns below ``t`` are each replaced by the OR of their bits from
    the kept rows ``i >= h``, and the constant ``c < 2**(t-k)`` fills the free low bits, as in
    ``ctrunc``. ``g`` only shapes the hardware: the kept rows are dealt to ``g`` carry-chain
    groups in turn (row ``r`` of the list to group ``r mod g``), which keeps every group's rows
    spread over the whole array; the groups are summed at the end. Signed ``bam`` is the same
    native two's complement array as signed ``ctrunc`` (row ``h`` dropping removes the bits
    ``a_i b_j``, ``i < h``, of the sign row ``b_{n-1}`` too); ``bam:h=0`` computes the same
    function as ``ctrunc`` with the same ``t, k, c``.
tern [t, h, k, c]
    Ternary-adder rows: the function of ``bam`` with the same ``t, h, k, c`` (the kept
    partial-product rows are the same), built differently: the kept rows (and, signed, the
    inverted sign rows with their Baugh-Wooley constant) are summed three at a time in a tree
    of ternary adders ``x + y + z = (x ^ y ^ z) + 2 maj(x, y, z)``, each on one carry chain.
cmp [t, k, c, l]
    Approximate compressor tree (:mod:`refmodels.arith.compressors`): the partial-product bits
    ``a_i & b_j`` with ``i + j >= t`` (signed: modified Baugh-Wooley, sign-row bits inverted
    plus a constant) are reduced column by column in Wallace stages; the columns below ``l``
    use approximate 4:2 and 6:3 compressors that OR their inputs in pairs, the others exact 6:3
    counters and full adders (every compressor output a function of at most six inputs, one
    LUT6); the two rows left are added exactly. The OR columns ``k`` and the constant ``c`` of
    the low ``t`` result bits are those of ``ctrunc``; ``l <= t`` gives the function of
    ``ctrunc`` with the same ``t, k, c``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "bit_length",
    "bam",
    "cmp",
    "ctrunc",
    "ctrunc_default_c",
    "drum_u",
    "etm_u",
    "exact_u",
    "kulkarni_u",
    "mitchell_u",
    "roba_u",
    "sign_magnitude",
    "tern",
    "trunc_u",
]


def bit_length(x: np.ndarray, width: int) -> np.ndarray:
    """Number of significant bits of each non-negative value (0 for 0), values < 2**(width+1)."""
    x = np.asarray(x, dtype=np.int64)
    n = np.zeros(x.shape, dtype=np.int64)
    for i in range(width + 1):
        n += (x >> i) > 0
    return n


def exact_u(a: np.ndarray, b: np.ndarray, width: int, signed: bool = False) -> np.ndarray:
    return a * b


def trunc_u(a: np.ndarray, b: np.ndarray, width: int, t: int) -> np.ndarray:
    out = np.zeros(np.broadcast(a, b).shape, dtype=np.int64)
    for i in range(width):
        # row i of the partial-product array keeps the bits b_j with j >= t - i
        kept = b & ~((1 << max(0, t - i)) - 1)
        out += (((a >> i) & 1) * kept) << i
    return out


def mitchell_u(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    f = width - 1
    k1 = np.maximum(bit_length(a, width) - 1, 0)
    k2 = np.maximum(bit_length(b, width) - 1, 0)
    x1 = (a - (np.int64(1) << k1)) << (f - k1)
    x2 = (b - (np.int64(1) << k2)) << (f - k2)
    s = x1 + x2
    small = s < (1 << f)
    p = np.where(small, ((1 << f) + s) << (k1 + k2), s << (k1 + k2 + 1)) >> f
    return np.where((a == 0) | (b == 0), 0, p)


def _drum_cut(x: np.ndarray, width: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """DRUM operand reduction: (k-bit segment with lowest bit forced to 1, shift amount)."""
    shift = np.maximum(bit_length(x, width) - k, 0)
    seg = np.where(shift > 0, (x >> shift) | 1, x)
    return seg, shift


def drum_u(a: np.ndarray, b: np.ndarray, width: int, k: int) -> np.ndarray:
    sa, ha = _drum_cut(a, width, k)
    sb, hb = _drum_cut(b, width, k)
    return (sa * sb) << (ha + hb)


def _kulkarni_block(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = x * y
    return np.where(p == 9, 7, p)


def kulkarni_u(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    digits = (width + 1) // 2
    out = np.zeros(np.broadcast(a, b).shape, dtype=np.int64)
    for i in range(digits):
        ai = (a >> (2 * i)) & 3
        for j in range(digits):
            out += _kulkarni_block(ai, (b >> (2 * j)) & 3) << (2 * (i + j))
    return out


def etm_u(a: np.ndarray, b: np.ndarray, width: int, k: int) -> np.ndarray:
    mask = (1 << k) - 1
    ah, bh = a >> k, b >> k
    low_or = (a | b) & mask
    lead = bit_length(low_or, k)  # L + 1, 0 when no low bit is set
    low_field = (np.int64(1) << np.where(lead > 0, k + lead, 0)) - 1
    approx = ((ah * bh) << (2 * k)) | low_field
    return np.where((ah == 0) & (bh == 0), a * b, approx)


def _roba_round(x: np.ndarray, width: int) -> np.ndarray:
    k = np.maximum(bit_length(x, width) - 1, 0)
    below = np.where(k > 0, (x >> np.maximum(k - 1, 0)) & 1, 0)
    return np.where(x == 0, 0, np.int64(1) << (k + below))


def roba_u(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    ar = _roba_round(a, width)
    br = _roba_round(b, width)
    return ar * b + a * br - ar * br


def sign_magnitude(core: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Signed version of an unsigned multiplier core (sign-magnitude wrapper)."""

    def signed_model(a: np.ndarray, b: np.ndarray, width: int, **params: int) -> np.ndarray:
        p = core(np.abs(a), np.abs(b), width, **params)
        return np.where((a < 0) != (b < 0), -p, p)

    signed_model.__name__ = f"signed_{core.__name__}"
    signed_model.__doc__ = f"Sign-magnitude signed wrapper around {core.__name__}."
    return signed_model


def _ctrunc_sum(a_bits, b_bits, width: int, t: int, k: int, c: int, signed: bool,
                h: int = 0) -> np.ndarray:
    n = width
    out = np.zeros(np.broadcast(a_bits[0], b_bits[0]).shape, dtype=np.int64) + c
    for col in range(max(0, t - k), min(t, 2 * n - 1)):
        ored = np.zeros_like(out)
        for i in range(max(h, col - n + 1), min(n, col + 1)):
            ored |= a_bits[i] & b_bits[col - i]
        out += ored << col
    for i in range(h, n):
        for j in range(max(0, t - i), n):
            pp = (a_bits[i] & b_bits[j]) << (i + j)
            negative = signed and ((i == n - 1) != (j == n - 1))
            out += -pp if negative else pp
    mod = np.int64(1) << (2 * n)
    out %= mod
    if signed:
        out = np.where(out >= mod >> 1, out - mod, out)
    return out


def ctrunc(a: np.ndarray, b: np.ndarray, width: int, t: int, k: int, c: int, g: int,
           signed: bool = False) -> np.ndarray:
    """Compensated truncation (see the module docstring). ``a``, ``b`` are operand *values*
    (two's complement when ``signed``); works natively on signed operands."""
    mask = (1 << width) - 1
    ac, bc = np.asarray(a) & mask, np.asarray(b) & mask
    a_bits = [(ac >> i) & 1 for i in range(width)]
    b_bits = [(bc >> j) & 1 for j in range(width)]
    return _ctrunc_sum(a_bits, b_bits, width, t, k, c, signed)


def bam(a: np.ndarray, b: np.ndarray, width: int, t: int, h: int, k: int, c: int, g: int,
        signed: bool = False) -> np.ndarray:
    """Broken array in interleaved groups (see the module docstring); ``h`` low rows dropped,
    otherwise :func:`ctrunc`. Works natively on signed operands."""
    mask = (1 << width) - 1
    ac, bc = np.asarray(a) & mask, np.asarray(b) & mask
    a_bits = [(ac >> i) & 1 for i in range(width)]
    b_bits = [(bc >> j) & 1 for j in range(width)]
    return _ctrunc_sum(a_bits, b_bits, width, t, k, c, signed, h)


def tern(a: np.ndarray, b: np.ndarray, width: int, t: int, h: int, k: int, c: int,
         signed: bool = False) -> np.ndarray:
    """Ternary-adder rows (see the module docstring): the function of :func:`bam`."""
    return bam(a, b, width, t, h, k, c, 1, signed)


def cmp(a: np.ndarray, b: np.ndarray, width: int, t: int, k: int, c: int, l: int,  # noqa: E741
        signed: bool = False) -> np.ndarray:
    """Approximate compressor tree (see the module docstring and
    :mod:`refmodels.arith.compressors`). Works natively on signed operands."""
    from .compressors import evaluate

    n = width
    mask = (1 << n) - 1
    ac, bc = np.asarray(a) & mask, np.asarray(b) & mask
    a_bits = [(ac >> i) & 1 for i in range(n)]
    b_bits = [(bc >> j) & 1 for j in range(n)]
    out = evaluate(a_bits, b_bits, n, t, l, signed) + c  # the tree has zeros below column t
    for col in range(max(0, t - k), min(t, 2 * n - 1)):
        ored = np.zeros_like(out)
        for i in range(max(0, col - n + 1), min(n, col + 1)):
            ored |= a_bits[i] & b_bits[col - i]
        out += ored << col
    mod = np.int64(1) << (2 * n)
    out %= mod
    if signed:
        out = np.where(out >= mod >> 1, out - mod, out)
    return out


def ctrunc_default_c(width: int, t: int, k: int) -> int:
    """Default constant of ``ctrunc``: half of the free low range, ``2**(t-k-1)`` (0 if none)."""
    return 1 << (t - k - 1) if t - k >= 1 else 0
