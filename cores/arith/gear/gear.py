"""GeAr generic accuracy-configurable adder (Shafique et al., DAC 2015), unsigned bit patterns.

``count = (n - r - p) / r + 1`` sub-adders of ``r + p`` bits, each with carry-in 0; sub-adder
``i`` adds operand bits ``i*r .. i*r + r + p - 1``. The first one delivers its ``r + p`` sum
bits, each later one its top ``r`` sum bits (its low ``p`` bits only predict the carry into
them). The carry-out is the carry out of the last sub-adder.
"""

from myhdl import always_comb, block, concat, intbv

KIND = "add"


@block
def core(a, b, y, width, r, p):
    """``r``: result bits per sub-adder; ``p``: carry-prediction bits (``(width-r-p) % r == 0``)."""
    n = width
    w = n + 1
    length = r + p
    if r < 1 or p < 0 or length > n or (n - length) % r:
        raise ValueError(f"gear: invalid (r, p) = ({r}, {p}) for width={n}")
    count = (n - length) // r + 1
    seg_mask = (1 << length) - 1
    res_mask = (1 << r) - 1

    @always_comb
    def sub_adders():
        au = intbv(0)[w:]
        bu = intbv(0)[w:]
        au[:] = concat(False, a)
        bu[:] = concat(False, b)
        seg = intbv(0)[w:]
        res = intbv(0)[w:]
        pos = intbv(0, min=0, max=w + r)
        seg[:] = (au & seg_mask) + (bu & seg_mask)
        res[:] = seg & seg_mask
        for _ in range(1, count):
            au[:] = au >> r
            bu[:] = bu >> r
            pos[:] = pos + r
            seg[:] = (au & seg_mask) + (bu & seg_mask)
            res[:] = res | (((seg >> p) & res_mask) << (pos + p))
        res[n] = seg[length]
        y.next = res

    return sub_adders
