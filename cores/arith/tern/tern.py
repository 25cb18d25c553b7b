"""Ternary-adder rows (``tern``), unsigned and native signed.

The kept partial-product rows of ``bam`` (``a_i & b_j`` with ``i >= h`` and ``i + j >= t``)
are summed three at a time in a tree of ternary adders. Each ternary add is written as
``s = (x ^ y ^ z) + (maj(x, y, z) << 1)``: the sum and majority bits go into the LUTs in front
of one carry chain, so Yosys maps it onto LUT6 + CARRY4 (written ``x + y + z``, Yosys merges the
whole tree into one carry-save multi-operand adder, which costs more LUTs). A group of two is a
plain two-input adder.

Signed (``signed=True``): the native two's complement array of ``ctrunc``; the two sign rows
are not subtracted but inverted over their own bits, ``-P = (P ^ M) + (~M + 1)`` modulo
``2**(2n)`` (``M`` the mask of the row's bits), and the constants of both rows are one more
tree operand; ``a_{n-1} b_{n-1}`` is added at weight ``2**(2n-2)``. The OR columns and the
constant are ORed into the free low bits as in ``ctrunc`` (the sum has zeros below column t).
"""

from myhdl import ConcatSignal, Signal, always_comb, block, concat, intbv, modbv

from cores.arith.bam.bam import rows
from cores.arith.ctrunc.ctrunc import column_or

KIND = "mul"
NATIVE_SIGNED = True


def operands(n: int, t: int, h: int, signed: bool):
    """The tree operands: the kept rows as ``(sel, bit, opnd, shift, low, mask)`` (``mask``
    non-zero: the row's bits are inverted under it), then ``("top",)`` (signed) and the constant
    ``("const", K)`` when it is not zero; and the number of tree levels."""
    w = 2 * n
    m = n - 1 if signed else n
    out, const = [], 0
    for sel, bit, opnd, shift, low, sub in rows(n, t, h, signed):
        mask = 0
        if sub:
            mask = ((((1 << m) - 1) >> low) << low) << shift
            const += ((~mask) & ((1 << w) - 1)) + 1
        out.append((sel, bit, opnd, shift, low, mask))
    if signed:
        out.append(("top",))
    const %= 1 << w
    if const:
        out.append(("const", const))
    return out


@block
def row_value(v, sel, bit, opnd, m, shift, low, mask, w):
    """``v = ((opnd >> low) << low) << shift`` when ``sel[bit]``, else 0; XOR ``mask``."""

    @always_comb
    def row():
        r = intbv(0)[w:]
        r[:] = concat(intbv(0)[w - m :], opnd)
        r[:] = (r >> low) << low
        if sel[bit]:
            v.next = (r << shift) ^ mask
        else:
            v.next = mask

    return row


@block
def top_bit(tb, ua, ub, n):
    """``tb = a_{n-1} & b_{n-1}``."""

    @always_comb
    def top():
        tb.next = ua[n - 1] and ub[n - 1]

    return top


@block
def add3(x, y, z, s):
    """``s = x + y + z`` as ``(x ^ y ^ z) + (maj(x, y, z) << 1)`` (one carry chain)."""
    w = len(s)
    sm = Signal(modbv(0)[w:])
    cy = Signal(modbv(0)[w:])

    @always_comb
    def compress():
        sm.next = x ^ y ^ z
        cy.next = ((x & y) | (x & z) | (y & z)) << 1

    @always_comb
    def add():
        s.next = sm + cy

    return compress, add


@block
def add3c(x, y, k, s):
    """``s = x + y + k`` for a constant ``k`` (the majority with a constant is an AND or OR)."""
    w = len(s)
    sm = Signal(modbv(0)[w:])
    cy = Signal(modbv(0)[w:])

    @always_comb
    def compress():
        sm.next = x ^ y ^ k
        cy.next = ((x & y) | (x & k) | (y & k)) << 1

    @always_comb
    def add():
        s.next = sm + cy

    return compress, add


@block
def add2c(x, y, s):
    """``s = x + y``; ``y`` a Signal or an int constant."""

    @always_comb
    def add():
        s.next = x + y

    return add


@block
def core(a, b, y, width, t, h, k, c, signed=False):
    """``a``, ``b``: ``width``-bit operands (signed Signals when ``signed``); ``y``: the
    ``2*width``-bit result. Parameters as in :func:`refmodels.arith.multipliers.tern`."""
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

    items = []  # Signals, or ints for the constant
    for op in operands(n, t, h, signed):
        if op[0] == "const":
            items.append(op[1])
        elif op[0] == "top":  # a_{n-1} b_{n-1} at column 2n-2
            tb = Signal(bool(0))
            insts.append(top_bit(tb, ua, ub, n))
            items.append(ConcatSignal(intbv(0)[1:], tb, intbv(0)[w - 2 :]))
        else:
            sel_name, bit, op_name, shift, low, mask = op
            v = Signal(modbv(0)[w:])
            insts.append(row_value(v, sel[sel_name], bit, opnd[op_name], m, shift, low, mask,
                                   w))
            items.append(v)
    while len(items) > 1:
        nxt = []
        for i in range(0, len(items), 3):
            grp = items[i : i + 3]
            if len(grp) == 1:
                nxt.append(grp[0])
                continue
            sigs = [x for x in grp if not isinstance(x, int)]
            consts = [x for x in grp if isinstance(x, int)]
            s = Signal(modbv(0)[w:])
            if len(sigs) == 3:
                insts.append(add3(*sigs, s))
            elif len(sigs) == 2 and consts:
                insts.append(add3c(*sigs, consts[0], s))
            else:
                insts.append(add2c(sigs[0], (sigs + consts)[1], s))
            nxt.append(s)
        items = nxt
    acc = items[0]  # never the constant alone: signed trees always hold the top bit

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
