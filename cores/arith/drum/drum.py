"""DRUM: dynamic range unbiased multiplier (Hashemi, Bahar, Reda, ICCAD 2015), unsigned core.

An operand ``x >= 2^k`` is cut to the ``k`` bits that start at its leading one and the lowest kept
bit is forced to 1; operands below ``2^k`` pass unchanged. The two ``k``-bit (or shorter) values
are multiplied exactly and the product is shifted back by the sum of the two cut amounts.
"""

from myhdl import always_comb, block, intbv

KIND = "mul"


@block
def core(a, b, y, width, k):
    """``k``: kept bits per operand (``k == width`` is the exact multiplier)."""
    n = width
    w = 2 * n

    @always_comb
    def segments():
        # cut amount = number of bit positions i in [k, n) at or below the leading one
        sa = intbv(0, min=0, max=n + 1)
        sb = intbv(0, min=0, max=n + 1)
        for i in range(k, n):
            if (a >> i) != 0:
                sa[:] = sa + 1
            if (b >> i) != 0:
                sb[:] = sb + 1
        xa = intbv(0)[n:]
        xb = intbv(0)[n:]
        xa[:] = a
        xb[:] = b
        if sa != 0:
            xa[:] = (a >> sa) | 1
        if sb != 0:
            xb[:] = (b >> sb) | 1
        p = intbv(0)[w:]
        p[:] = xa * xb
        sh = intbv(0, min=0, max=2 * n + 1)
        sh[:] = sa + sb
        y.next = p << sh

    return segments
