"""Rounding-based approximate multiplier RoBA (Zendegani et al., IEEE TVLSI 2017), unsigned core.

``a*b ~ Ar*b + a*Br - Ar*Br`` with ``Ar``, ``Br`` the operands rounded to the nearest power of
two (a tie ``3 * 2^(k-1)`` rounds up): with ``k`` the leading-one position, ``Ar = 2^(k+1)`` when
bit ``k-1`` is set, else ``2^k``; ``Ar = 0`` for ``a = 0``. The three products are shifts, so the
unit is two barrel shifters, a one-hot term and a three-operand adder.
"""

from myhdl import always_comb, block, concat, intbv

KIND = "mul"


@block
def core(a, b, y, width):
    n = width
    # The result fits in 2n bits and the adder works modulo 2^(2n), so every intermediate is kept
    # on 2n bits (Ar*Br = 2^(2n) wraps to 0 there, which the sum needs anyway).
    w = 2 * n

    @always_comb
    def rounding():
        # rounded exponent = number of i in 1..n for which a rounds to 2^i or more:
        # a >= 2 for i = 1, a >= 3 * 2^(i-2) for i >= 2 (ties round up)
        ra = intbv(0, min=0, max=n + 1)
        rb = intbv(0, min=0, max=n + 1)
        if (a >> 1) != 0:
            ra[:] = 1
        if (b >> 1) != 0:
            rb[:] = 1
        for i in range(2, n + 1):
            if (a >> (i - 2)) >= 3:
                ra[:] = ra + 1
            if (b >> (i - 2)) >= 3:
                rb[:] = rb + 1
        aw = intbv(0)[w:]
        bw = intbv(0)[w:]
        aw[:] = concat(intbv(0)[w - n :], a)
        bw[:] = concat(intbv(0)[w - n :], b)
        one = intbv(1)[w:]
        rsum = intbv(0, min=0, max=2 * n + 1)
        rsum[:] = ra + rb
        t = intbv(0)[w:]
        if a != 0 and b != 0:
            t[:] = (bw << ra) + (aw << rb) - (one << rsum)
        y.next = t

    return rounding
