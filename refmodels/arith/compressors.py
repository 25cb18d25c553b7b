"""The compressor tree of the ``cmp`` multiplier, shared by its golden model and its core.

:func:`plan` lays out the partial-product bits of an ``n x n`` array column by column and
reduces every column to at most two bits in Wallace stages. In each stage a column's bits are
taken in order, signal bits before constant ones:

* columns ``col < l`` (the approximate region), on signal bits only: groups of six go to an
  approximate 6:3 compressor ``a63`` and groups of four to an approximate 4:2 compressor
  ``a42``. Both OR their inputs in pairs (``p = x1|x2`` ...) and count the pairs exactly: ``a42``
  gives ``p ^ q`` (column ``col``) and ``p & q`` (``col+1``), ``a63`` gives ``p ^ q ^ r`` and the
  majority of ``p, q, r``. The error is the lost count when both bits of a pair are set.
* every column, on what is left: groups of six go to an exact 6:3 counter ``c63`` (the three
  bits of their count at ``col``, ``col+1``, ``col+2``), groups of three (with constants too) to
  an exact full adder ``fa``.

Every compressor output is a function of at most six inputs, so each fits one LUT6. Outputs
above column ``2n-1`` are dropped (the result is taken modulo ``2**(2n)``). The two rows left are
added on the carry chain.

The array is truncated at column ``t`` (bits ``a_i b_j`` with ``i + j < t`` dropped). Signed
operands use the modified Baugh-Wooley form: a negative bit ``-a_i b_j 2**p`` of the sign rows
becomes the inverted bit ``~(a_i b_j)`` plus the constant ``-2**p``; the constants of the kept
bits are summed modulo ``2**(2n)`` and their ones enter the tree as constant bits.

Bits are named by their index in ``plan()["bits"]``: ``("pp", i, j, inverted)``, ``("one",)``
or ``("out", op, k)`` (output ``k`` of operation ``op``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["plan", "evaluate", "OPS"]

#: operation kinds: (inputs, output column offsets)
OPS = {"fa": (3, (0, 1)), "c63": (6, (0, 1, 2)), "a42": (4, (0, 1)), "a63": (6, (0, 1))}


@lru_cache(maxsize=256)
def plan(n: int, t: int, l: int, signed: bool) -> dict:  # noqa: E741
    """The tree of ``cmp`` (see the module docstring): ``bits`` (the source of every bit),
    ``ops`` (``(kind, col, inputs, outputs)`` in evaluation order), ``stages`` (operations per
    stage) and ``rows`` (two lists of ``2n`` bit indices or None)."""
    w = 2 * n
    bits: list[tuple] = []
    cols: list[list[int]] = [[] for _ in range(w)]
    const = 0
    for i in range(n):
        for j in range(n):
            if i + j < t:
                continue
            neg = signed and ((i == n - 1) != (j == n - 1))
            bits.append(("pp", i, j, neg))
            cols[i + j].append(len(bits) - 1)
            if neg:
                const -= 1 << (i + j)
    const %= 1 << w
    for col in range(w):
        if const >> col & 1:
            bits.append(("one",))
            cols[col].append(len(bits) - 1)

    def is_const(b):
        return bits[b][0] == "one"

    ops: list[tuple] = []
    stages = 0
    while max(len(c) for c in cols) > 2:
        stages += 1
        new: list[list[int]] = [[] for _ in range(w + 2)]
        for col in range(w):
            sig = [b for b in cols[col] if not is_const(b)]
            rest = [b for b in cols[col] if is_const(b)]
            if len(cols[col]) <= 2:
                new[col] += cols[col]
                continue
            take = []
            if col < l:
                while len(sig) >= 4:
                    size = 6 if len(sig) >= 6 else 4
                    take.append(("a63" if size == 6 else "a42", sig[:size]))
                    sig = sig[size:]
            pool = sig + rest
            while len(pool) >= 6 and col >= l:
                take.append(("c63", pool[:6]))
                pool = pool[6:]
            while len(pool) >= 3:
                take.append(("fa", pool[:3]))
                pool = pool[3:]
            new[col] += pool
            for kind, ins in take:
                outs = []
                for k, off in enumerate(OPS[kind][1]):
                    bits.append(("out", len(ops), k))
                    outs.append(len(bits) - 1)
                    new[col + off].append(len(bits) - 1)
                ops.append((kind, col, tuple(ins), tuple(outs)))
        cols = new[:w]
    rows = tuple(tuple(c[r] if len(c) > r else None for c in cols) for r in (0, 1))
    return {"bits": tuple(bits), "ops": tuple(ops), "stages": stages, "rows": rows}


def _maj(x, y, z):
    return (x & y) | (x & z) | (y & z)


def op_outputs(kind: str, xs):
    """The outputs of one compressor (numpy arrays or ints of 0/1), lowest column first."""
    if kind == "fa":
        return xs[0] ^ xs[1] ^ xs[2], _maj(*xs)
    if kind == "c63":
        s1, c1 = xs[0] ^ xs[1] ^ xs[2], _maj(*xs[:3])
        s2, c2 = xs[3] ^ xs[4] ^ xs[5], _maj(*xs[3:])
        return s1 ^ s2, c1 ^ c2 ^ (s1 & s2), _maj(c1, c2, s1 & s2)
    pairs = [xs[k] | xs[k + 1] for k in range(0, len(xs), 2)]
    if kind == "a42":
        return pairs[0] ^ pairs[1], pairs[0] & pairs[1]
    return pairs[0] ^ pairs[1] ^ pairs[2], _maj(*pairs)


def evaluate(a_bits, b_bits, n: int, t: int, l: int, signed: bool) -> np.ndarray:  # noqa: E741
    """The sum of the two rows left by the tree, modulo ``2**(2n)`` (int64 arrays)."""
    p = plan(n, t, l, signed)
    shape = np.broadcast(a_bits[0], b_bits[0]).shape
    vals: list = [None] * len(p["bits"])
    for k, src in enumerate(p["bits"]):
        if src[0] == "pp":
            v = a_bits[src[1]] & b_bits[src[2]]
            vals[k] = 1 - v if src[3] else v
        elif src[0] == "one":
            vals[k] = np.ones(shape, dtype=np.int64)
    for kind, _col, ins, outs in p["ops"]:
        for o, v in zip(outs, op_outputs(kind, [vals[i] for i in ins]), strict=True):
            vals[o] = v
    total = np.zeros(shape, dtype=np.int64)
    for row in p["rows"]:
        for col, b in enumerate(row):
            if b is not None:
                total += vals[b] << col
    return total % (np.int64(1) << (2 * n))
