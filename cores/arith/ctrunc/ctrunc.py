"""Compensated truncation in carry-chain rows (``ctrunc``), unsigned and native signed.

The partial-product bits ``a_i & b_j`` with ``i + j >= t`` are accumulated row by row in the
form ``acc_next = acc + row_i if a_i else acc``: the multiplexer *after* the adder keeps every
row on its own carry chain (Yosys maps each row onto LUT6 + CARRY4 with the row bit and the
previous multiplexer inside the adder LUT, instead of merging all rows into one carry-save tree).
The rows are accumulated in ``g`` independent groups whose sums are added at the end (``g``
trades LUTs for logic depth). The top ``k`` dropped columns become the OR of their
partial-product bits and the constant ``c`` fills the remaining low bits, so neither needs an
adder.

Signed (``signed=True``) is a native two's complement array: rows ``0..n-2`` hold the
``n-1`` low bits of ``b``; the sign rows ``a_{n-1} b[n-2:0]`` and ``b_{n-1} a[n-2:0]`` (weight
``2**(n-1)``) are *subtracted* and ``a_{n-1} b_{n-1}`` is added at weight ``2**(2n-2)``; the
accumulators wrap modulo ``2**(2n)`` (``modbv``), which is the two's complement result.
"""

from myhdl import ConcatSignal, Signal, always_comb, block, concat, intbv, modbv

KIND = "mul"
NATIVE_SIGNED = True


def rows(n: int, t: int, signed: bool):
    """Rows as ``(sel, bit, opnd, shift, low, subtract)``: when bit ``bit`` of operand ``sel``
    is set, ``((opnd >> low) << low) << shift`` is added (subtracted) where ``opnd`` is the
    other operand (its ``n-1`` low bits in the signed array)."""
    if not signed:
        return [("a", i, "b", i, max(0, t - i), False) for i in range(n)]
    out = [("a", i, "b", i, max(0, t - i), False) for i in range(n - 1)]
    out.append(("a", n - 1, "b", n - 1, max(0, t - n + 1), True))
    out.append(("b", n - 1, "a", n - 1, max(0, t - n + 1), True))
    return out


def groups(n: int, t: int, g: int, signed: bool):
    """The rows split into ``g`` contiguous groups (sizes differ by at most one, the larger
    groups last)."""
    rs = rows(n, t, signed)
    g = min(g, len(rs))
    out, start = [], 0
    for k in range(g):
        size = len(rs) // g + (1 if k >= g - len(rs) % g else 0)
        out.append(rs[start : start + size])
        start += size
    return out


@block
def row_step(prev, nxt, sel, bit, opnd, m, shift, low, sub, w):
    """``nxt = prev +/- (((opnd >> low) << low) << shift)`` when ``sel[bit]``, else ``prev``;
    ``prev`` is a Signal, or None for the first row of a group (which starts from 0). The
    accumulators are ``modbv``: the signed array wraps modulo ``2**w`` as the Verilog does."""
    if prev is None and not sub:

        @always_comb
        def step():
            r = intbv(0)[w:]
            r[:] = concat(intbv(0)[w - m :], opnd)
            r[:] = (r >> low) << low
            if sel[bit]:
                nxt.next = r << shift
            else:
                nxt.next = 0

    elif prev is None:

        @always_comb
        def step():
            r = intbv(0)[w:]
            r[:] = concat(intbv(0)[w - m :], opnd)
            r[:] = (r >> low) << low
            if sel[bit]:
                nxt.next = -(r << shift)
            else:
                nxt.next = 0

    elif not sub:

        @always_comb
        def step():
            r = intbv(0)[w:]
            r[:] = concat(intbv(0)[w - m :], opnd)
            r[:] = (r >> low) << low
            if sel[bit]:
                nxt.next = prev + (r << shift)
            else:
                nxt.next = prev

    else:

        @always_comb
        def step():
            r = intbv(0)[w:]
            r[:] = concat(intbv(0)[w - m :], opnd)
            r[:] = (r >> low) << low
            if sel[bit]:
                nxt.next = prev - (r << shift)
            else:
                nxt.next = prev

    return step


@block
def add2(x, y_in, s):
    @always_comb
    def add():
        s.next = x + y_in

    return add


@block
def column_or(a, b, o, lo, hi, col):
    """``o`` = OR of ``a[i] & b[col-i]`` for ``lo <= i < hi``."""

    @always_comb
    def orcol():
        hit = False
        for i in range(lo, hi):
            if a[i] and b[col - i]:
                hit = True
        o.next = hit

    return orcol


@block
def core(a, b, y, width, t, k, c, g, signed=False):
    """``a``, ``b``: ``width``-bit operands (signed Signals when ``signed``); ``y``: the
    ``2*width``-bit result. Parameters as in :func:`refmodels.arith.multipliers.ctrunc`."""
    n = width
    w = 2 * n
    insts = []

    ua = Signal(intbv(0)[n:])
    ub = Signal(intbv(0)[n:])

    @always_comb
    def patterns():
        ua.next = a[n:]
        ub.next = b[n:]

    insts.append(patterns)
    sel = {"a": ua, "b": ub}
    opnd = {"a": ua, "b": ub}
    m = n
    if signed:  # the rows of the signed array hold the n-1 low bits of the other operand
        la = Signal(intbv(0)[n - 1 :])
        lb = Signal(intbv(0)[n - 1 :])

        @always_comb
        def low_bits():
            la.next = ua[n - 1 :]
            lb.next = ub[n - 1 :]

        insts.append(low_bits)
        opnd = {"a": la, "b": lb}
        m = n - 1

    parts = []
    for grp in groups(n, t, g, signed):
        prev = None
        for sel_name, bit, op_name, shift, low, sub in grp:
            nxt = Signal(modbv(0)[w:])
            insts.append(row_step(prev, nxt, sel[sel_name], bit, opnd[op_name], m, shift,
                                  low, sub, w))
            prev = nxt
        parts.append(prev)
    if signed:  # a_{n-1} b_{n-1} at column 2n-2
        tb = Signal(bool(0))

        @always_comb
        def top_bit():
            tb.next = ua[n - 1] and ub[n - 1]

        insts.append(top_bit)
        parts.append(ConcatSignal(intbv(0)[1:], tb, intbv(0)[w - 2 :]))
    acc = parts[0]
    for p in parts[1:]:
        s = Signal(modbv(0)[w:])
        insts.append(add2(acc, p, s))
        acc = s

    # the sum has zeros below column t: the OR columns and the constant are ORed in
    ors = []
    for col in range(max(0, t - k), t):
        o = Signal(bool(0))
        insts.append(column_or(ua, ub, o, max(0, col - n + 1), min(n, col + 1), col))
        ors.append(o)
    free = t - k
    pat = Signal(intbv(0)[w:])
    if t > 0:
        pieces = [intbv(0)[w - t :]] + list(reversed(ors))
        if free > 0:
            pieces.append(intbv(c)[free:])
        low = ConcatSignal(*pieces)

        @always_comb
        def assemble():
            pat.next = acc | low

    else:

        @always_comb
        def assemble():
            pat.next = acc

    insts.append(assemble)

    if signed:

        @always_comb
        def result():
            y.next = pat.signed()

    else:

        @always_comb
        def result():
            y.next = pat

    insts.append(result)
    return insts
