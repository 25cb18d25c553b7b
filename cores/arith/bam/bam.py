"""Broken array in interleaved carry-chain groups (``bam``), unsigned and native signed.

The kept partial-product bits (``a_i & b_j`` with ``i >= h`` and ``i + j >= t``) are
accumulated row by row in the ``ctrunc`` form ``acc_next = acc + row_i if a_i else acc`` (the
multiplexer after the adder keeps every row on its own LUT6 + CARRY4 chain, about one LUT per
kept bit). The kept rows are dealt to ``g`` groups in turn (row ``r`` of the list to group
``r mod g``): each group then holds rows from the whole array, so the groups finish at about
the same time and the carry chains of a group overlap less; the group sums are added at the
end. Compared with ``ctrunc``'s contiguous groups this gives the same function with a shorter
longest path for the same LUTs. The OR columns and the constant are ORed into the free low bits
as in ``ctrunc``.

Signed (``signed=True``): the native two's complement array of ``ctrunc`` (sign rows
subtracted, ``a_{n-1} b_{n-1}`` added at weight ``2**(2n-2)``, modulo ``2**(2n)``).
"""

from myhdl import ConcatSignal, Signal, always_comb, block, intbv, modbv

from cores.arith.ctrunc.ctrunc import add2, column_or, row_step

KIND = "mul"
NATIVE_SIGNED = True


def rows(n: int, t: int, h: int, signed: bool):
    """Kept rows as ``(sel, bit, opnd, shift, low, subtract)`` (see
    :func:`cores.arith.ctrunc.ctrunc.rows`); rows without a kept bit are left out."""
    m = n - 1 if signed else n
    last = n - 1 if signed else n
    out = [("a", i, "b", i, max(0, t - i), False) for i in range(h, last)]
    if signed:
        out.append(("a", n - 1, "b", n - 1, max(0, t - n + 1), True))
        out.append(("b", n - 1, "a", n - 1, max(h, t - n + 1), True))
    return [r for r in out if r[4] < m]


def groups(n: int, t: int, h: int, g: int, signed: bool):
    """The kept rows dealt to ``min(g, rows)`` groups in turn."""
    rs = rows(n, t, h, signed)
    g = max(1, min(g, len(rs)))
    return [rs[k::g] for k in range(g)] if rs else []


@block
def core(a, b, y, width, t, h, k, c, g, signed=False):
    """``a``, ``b``: ``width``-bit operands (signed Signals when ``signed``); ``y``: the
    ``2*width``-bit result. Parameters as in :func:`refmodels.arith.multipliers.bam`."""
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
    for grp in groups(n, t, h, g, signed):
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
    if not parts:
        parts.append(Signal(modbv(0)[w:]))
    acc = parts[0]
    for p in parts[1:]:
        s = Signal(modbv(0)[w:])
        insts.append(add2(acc, p, s))
        acc = s

    # the sum has zeros below column t: the OR columns and the constant are ORed in
    ors = []
    for col in range(max(0, t - k), t):
        lo, hi = max(h, col - n + 1), min(n, col + 1)
        if lo >= hi:
            ors.append(intbv(0)[1:])
            continue
        o = Signal(bool(0))
        insts.append(column_or(ua, ub, o, lo, hi, col))
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
