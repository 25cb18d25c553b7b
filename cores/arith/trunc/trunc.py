"""Truncated (broken-array) unsigned multiplier.

The partial-product bits ``a_i * b_j`` with ``i + j < t`` are left out of the array; no
compensation constant is added. Row ``i`` of the array is ``b << i`` when ``a_i`` is set; clearing
its bits below weight ``t`` removes exactly the dropped partial products of that row.
"""

from myhdl import always_comb, block, concat, intbv

KIND = "mul"


@block
def core(a, b, y, width, t):
    """``t``: number of dropped columns (0 = exact multiplier, ``2*width - 1`` or more drops all
    but the top column)."""
    n = width
    w = 2 * n

    @always_comb
    def broken_array():
        acc = intbv(0)[w:]
        row = intbv(0)[w:]
        row[:] = concat(intbv(0)[n:], b)
        for i in range(n):
            if a[i]:
                acc[:] = acc + ((row >> t) << t)
            row[:] = row << 1
        y.next = acc

    return broken_array
