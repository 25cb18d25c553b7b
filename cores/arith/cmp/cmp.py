"""Approximate compressor tree (``cmp``), unsigned and native signed.

The tree is :func:`refmodels.arith.compressors.plan`, shared with the golden model: the kept
partial-product bits (signed: modified Baugh-Wooley, sign-row bits inverted, constant ones) are
reduced column by column in Wallace stages by approximate 4:2 / 6:3 compressors (columns below
``l``: inputs ORed in pairs, the pairs counted) and exact 6:3 counters and full adders. Each
compressor is one block whose every output is a function of at most six inputs (one LUT6 each);
the two rows left are added on the carry chain, and the OR columns and the constant are ORed
into the free low bits as in ``ctrunc``.
"""

from myhdl import ConcatSignal, Signal, always_comb, block, intbv, modbv

from cores.arith.ctrunc.ctrunc import column_or
from refmodels.arith.compressors import plan

KIND = "mul"
NATIVE_SIGNED = True


@block
def pp_bit(o, a, b, i, j, inv):
    """``o = a[i] & b[j]``, inverted when ``inv``."""
    if inv:

        @always_comb
        def nand():
            o.next = not (a[i] and b[j])

        return nand

    @always_comb
    def and2():
        o.next = a[i] and b[j]

    return and2


@block
def one_bit(o, a):
    """A constant 1 (written on an input so that the converter gives it a driver; Yosys folds
    it)."""

    @always_comb
    def one():
        o.next = a[0] or not a[0]

    return one


@block
def fa(x1, x2, x3, s, c):
    @always_comb
    def full_add():
        s.next = x1 ^ x2 ^ x3
        c.next = (x1 & x2) | (x1 & x3) | (x2 & x3)

    return full_add


@block
def c63(x1, x2, x3, x4, x5, x6, o0, o1, o2):
    """Exact 6:3 counter: the three bits of ``x1 + ... + x6`` (two full adders and their
    combination, all inside the three output functions)."""
    s1, k1, s2, k2 = (Signal(bool(0)) for _ in range(4))

    @always_comb
    def halves():
        s1.next = x1 ^ x2 ^ x3
        k1.next = (x1 & x2) | (x1 & x3) | (x2 & x3)
        s2.next = x4 ^ x5 ^ x6
        k2.next = (x4 & x5) | (x4 & x6) | (x5 & x6)

    @always_comb
    def count():
        o0.next = s1 ^ s2
        o1.next = k1 ^ k2 ^ (s1 & s2)
        o2.next = (k1 & k2) | (k1 & s1 & s2) | (k2 & s1 & s2)

    return halves, count


@block
def a42(x1, x2, x3, x4, s, c):
    """Approximate 4:2 compressor: ``(x1|x2) + (x3|x4)``."""
    p, q = Signal(bool(0)), Signal(bool(0))

    @always_comb
    def pairs():
        p.next = x1 | x2
        q.next = x3 | x4

    @always_comb
    def comp():
        s.next = p ^ q
        c.next = p & q

    return pairs, comp


@block
def a63(x1, x2, x3, x4, x5, x6, s, c):
    """Approximate 6:3 compressor: ``(x1|x2) + (x3|x4) + (x5|x6)`` (at most 3: two outputs)."""
    p, q, r = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))

    @always_comb
    def pairs():
        p.next = x1 | x2
        q.next = x3 | x4
        r.next = x5 | x6

    @always_comb
    def comp():
        s.next = p ^ q ^ r
        c.next = (p & q) | (p & r) | (q & r)

    return pairs, comp


BLOCKS = {"fa": fa, "c63": c63, "a42": a42, "a63": a63}


@block
def add2(x, y_in, s):
    @always_comb
    def add():
        s.next = x + y_in

    return add


@block
def core(a, b, y, width, t, k, c, l, signed=False):  # noqa: E741
    """``a``, ``b``: ``width``-bit operands (signed Signals when ``signed``); ``y``: the
    ``2*width``-bit result. Parameters as in :func:`refmodels.arith.multipliers.cmp`."""
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

    p = plan(n, t, l, bool(signed))
    sig = [Signal(bool(0)) for _ in p["bits"]]
    for idx, src in enumerate(p["bits"]):
        if src[0] == "pp":
            insts.append(pp_bit(sig[idx], ua, ub, src[1], src[2], src[3]))
        elif src[0] == "one":
            insts.append(one_bit(sig[idx], ua))
    for kind, _col, ins, outs in p["ops"]:
        insts.append(BLOCKS[kind](*[sig[i] for i in ins], *[sig[o] for o in outs]))

    rows = []
    for row in p["rows"]:
        pieces = [intbv(0)[1:] if bidx is None else sig[bidx] for bidx in reversed(row)]
        rows.append(ConcatSignal(*pieces))
    acc = Signal(modbv(0)[w:])
    insts.append(add2(rows[0], rows[1], acc))

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
