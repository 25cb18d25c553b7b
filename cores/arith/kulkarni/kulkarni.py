"""Kulkarni recursive multiplier, unsigned core.

The 2x2 block (Kulkarni, Gupta, Ercegovac, VLSI Design 2011) is exact except ``3 x 3 = 7``:
with operand digits ``x = x1 x0`` and ``y = y1 y0`` its three output bits are
``p2 = x1 & y1``, ``p1 = (x1 & y0) | (x0 & y1)``, ``p0 = x0 & y0``. The multiplier sums the
block of every pair of 2-bit digits ``(a_i, b_j)`` shifted by ``2*(i+j)`` with exact adders;
odd widths are zero-extended to the next even width.
"""

from myhdl import Signal, always_comb, block, concat, intbv

KIND = "mul"


@block
def core(a, b, y, width):
    n = width
    m = n + (n % 2)  # even width
    d = m // 2  # digits per operand
    w = 2 * m

    gens = []
    if m == n:
        ae, be = a, b
    else:
        ae = Signal(intbv(0)[m:])
        be = Signal(intbv(0)[m:])

        @always_comb
        def zero_extend():
            ae.next = concat(False, a)
            be.next = concat(False, b)

        gens.append(zero_extend)

    @always_comb
    def blocks():
        acc = intbv(0)[w:]
        blk = intbv(0)[w:]
        row_shift = intbv(0, min=0, max=w)
        sh = intbv(0, min=0, max=w)
        for i in range(d):
            sh[:] = row_shift
            for j in range(d):
                blk[:] = 0
                blk[2] = ae[2 * i + 1] & be[2 * j + 1]
                blk[1] = (ae[2 * i + 1] & be[2 * j]) | (ae[2 * i] & be[2 * j + 1])
                blk[0] = ae[2 * i] & be[2 * j]
                acc[:] = acc + (blk << sh)
                if j < d - 1:
                    sh[:] = sh + 2
            if i < d - 1:
                row_shift[:] = row_shift + 2
        y.next = acc[2 * n :]

    gens.append(blocks)
    return gens
