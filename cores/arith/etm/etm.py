"""Error-Tolerant Multiplier (Kyaw, Goh, Yeo, IEEE EDSSC 2010), unsigned core.

Each operand is split into a high part (``n-k`` bits, multiplication part) and a low part
(``k`` bits, non-multiplication part). One ``max(k, n-k)``-bit multiplier is shared:

* both high parts zero: the control block routes the low parts to the multiplier and the
  result is the exact ``a_lo * b_lo``;
* otherwise the multiplier computes ``a_hi * b_hi``, placed at bit ``2k``; the low ``2k`` result
  bits come from the non-multiplication part: result bit ``k + j`` is the OR of all operand bits
  at positions ``j .. k-1`` of both low parts (an OR chain from the top), and the low ``k``
  result bits all copy result bit ``k``.
"""

from myhdl import always_comb, block, intbv

KIND = "mul"


@block
def core(a, b, y, width, k):
    """``k``: bits in the non-multiplication part (1..width-1)."""
    n = width
    w = 2 * n
    h = max(k, n - k)  # width of the shared multiplier
    lo_mask = (1 << k) - 1
    all_low = (1 << k) - 1

    @always_comb
    def split():
        ah = intbv(0)[n:]
        bh = intbv(0)[n:]
        ah[:] = a >> k
        bh[:] = b >> k
        orv = intbv(0)[n:]
        orv[:] = (a | b) & lo_mask
        # shared multiplier with its input multiplexers
        zero_hi = bool(0)
        zero_hi = ah == 0 and bh == 0
        ma = intbv(0)[h:]
        mb = intbv(0)[h:]
        if zero_hi:
            ma[:] = a[h:]
            mb[:] = b[h:]
        else:
            ma[:] = ah[h:]
            mb[:] = bh[h:]
        prod = intbv(0)[w:]
        prod[:] = ma * mb
        # non-multiplication part
        low = intbv(0)[w:]
        for j in range(k):
            if (orv >> j) != 0:
                low[k + j] = 1
        if orv != 0:
            low[:] = low | all_low
        if zero_hi:
            y.next = prod
        else:
            y.next = (prod << (2 * k)) | low

    return split
