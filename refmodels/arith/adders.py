"""Bit-exact golden models of the approximate adders.

Every ``*_u`` function takes int64 numpy arrays of operand *codes* (n-bit unsigned bit patterns,
``0 <= a, b < 2**n``), the width ``n`` and the unit parameters, and returns
``carry_out * 2**n + sum_bits`` (an ``n+1``-bit unsigned value). The adders act on bit patterns
only, so the signed version (:func:`twos_complement`) runs the same circuit on the two's
complement codes and reads the ``n+1``-bit result as two's complement, with the top bit
``a[n-1] ^ b[n-1] ^ carry_out`` (the sign extension of the exact sum when the circuit is exact).

Definitions
-----------
add
    Exact ripple-carry adder.
loa [l, c]
    Lower-part OR adder (H. R. Mahdiani, A. Ahmadi, S. M. Fakhraie, C. Lucas, IEEE TCAS-I 57(4),
    2010). The lower ``l`` sum bits are ``a_i | b_i``; the upper ``n-l`` bits are an exact adder
    whose carry-in is ``a[l-1] & b[l-1]`` when ``c = 1`` (Mahdiani's carry generator) or 0 when
    ``c = 0`` (the variant used by some libraries). When ``l = n`` the upper adder is empty and
    its carry-in becomes the carry-out.
gear [r, p]
    Generic Accuracy-configurable adder GeAr (M. Shafique, W. Ahmad, R. Hafiz, J. Henkel,
    DAC 2015). ``k = (n - r - p) / r + 1`` sub-adders of length ``r + p``, all with carry-in 0;
    sub-adder ``i`` adds operand bits ``i*r .. i*r + r + p - 1``. The first one produces its
    ``r + p`` low sum bits; each later one produces ``r`` sum bits (its top ``r``) and uses its
    ``p`` lower bits only to predict the carry into them. The carry-out is the carry out of the
    last sub-adder. Valid when ``r >= 1``, ``p >= 0``, ``r + p <= n`` and ``(n - r - p) % r == 0``;
    ``r + p = n`` is the exact adder.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["add_u", "gear_u", "gear_valid", "gear_valid_pairs", "loa_u", "twos_complement"]


def add_u(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    return a + b


def loa_u(a: np.ndarray, b: np.ndarray, width: int, l: int, c: int) -> np.ndarray:
    low_mask = (1 << l) - 1
    low = (a | b) & low_mask
    if c:
        cin = ((a & b) >> (l - 1)) & 1
    else:
        cin = np.zeros_like(a & b)
    high = (a >> l) + (b >> l) + cin
    return (high << l) | low


def gear_valid(width: int, r: int, p: int) -> bool:
    return r >= 1 and p >= 0 and r + p <= width and (width - r - p) % r == 0


def gear_valid_pairs(width: int) -> list[tuple[int, int]]:
    return [(r, p) for r in range(1, width + 1) for p in range(0, width) if gear_valid(width, r, p)]


def gear_u(a: np.ndarray, b: np.ndarray, width: int, r: int, p: int) -> np.ndarray:
    if not gear_valid(width, r, p):
        raise ValueError(f"gear: invalid (r, p) = ({r}, {p}) for width={width}")
    length = r + p
    seg_mask = (1 << length) - 1
    count = (width - length) // r + 1
    out = np.zeros(np.broadcast(a, b).shape, dtype=np.int64)
    s = (a & seg_mask) + (b & seg_mask)
    out |= s & seg_mask
    for i in range(1, count):
        lo = i * r
        s = ((a >> lo) & seg_mask) + ((b >> lo) & seg_mask)
        out |= ((s >> p) & ((1 << r) - 1)) << (lo + p)
    cout = (s >> length) & 1
    return out | (cout << width)


def twos_complement(core: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Signed version of an adder core: same circuit on two's complement codes."""

    def signed_model(a: np.ndarray, b: np.ndarray, width: int, **params: int) -> np.ndarray:
        mask = (1 << width) - 1
        ca, cb = a & mask, b & mask
        raw = core(ca, cb, width, **params)
        sum_bits = raw & mask
        cout = (raw >> width) & 1
        top = (((ca ^ cb) >> (width - 1)) & 1) ^ cout
        return sum_bits - (top << width)

    signed_model.__name__ = f"signed_{core.__name__}"
    signed_model.__doc__ = f"Two's complement signed wrapper around {core.__name__}."
    return signed_model
