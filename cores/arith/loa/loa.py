"""Lower-part OR adder (Mahdiani et al., IEEE TCAS-I 2010), unsigned bit patterns.

The low ``l`` sum bits are ``a_i | b_i``; the upper ``n-l`` bits come from an exact adder whose
carry-in is ``a[l-1] & b[l-1]`` (``c = 1``) or 0 (``c = 0``). With ``l = n`` the upper adder is
empty and its carry-in is the carry-out.
"""

from myhdl import always_comb, block, concat, intbv

KIND = "add"


@block
def core(a, b, y, width, l, c):
    """``l``: width of the OR part (1..width); ``c``: 1 = carry generator, 0 = carry-in 0."""
    n = width
    w = n + 1
    low_mask = (1 << l) - 1

    @always_comb
    def lower_or():
        au = intbv(0)[w:]
        bu = intbv(0)[w:]
        au[:] = concat(False, a)
        bu[:] = concat(False, b)
        cin = intbv(0)[w:]
        if c == 1:
            cin[0] = a[l - 1] & b[l - 1]
        hi = intbv(0)[w:]
        hi[:] = (au >> l) + (bu >> l) + cin
        y.next = (hi << l) | ((au | bu) & low_mask)

    return lower_or
