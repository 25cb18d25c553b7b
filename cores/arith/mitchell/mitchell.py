"""Mitchell logarithmic multiplier, unsigned core (width-1 fraction bits, floor).

With ``k`` the leading-one position of an operand, its normalised form is ``a << z`` where
``z = n-1-k`` is the number of leading zeros; dropping the leading one leaves the ``n-1``-bit
fraction ``x``. With ``s = x1 + x2`` and ``c = s[n-1]`` (fraction overflow)::

    m = s | 2^(n-1)   if c == 0   (1 + x1 + x2)
    m = s             if c == 1   (x1 + x2, one more power of two)
    P = (m << (n-1+c)) >> (z1+z2)

which equals ``((2^(n-1)+s) << (k1+k2)) >> (n-1)`` and ``(s << (k1+k2+1)) >> (n-1)`` of the
definition (floor in both cases); ``P = 0`` when either operand is 0. Every intermediate fits in
``2n`` bits.
"""

from myhdl import always_comb, block, concat, intbv

KIND = "mul"


@block
def core(a, b, y, width):
    n = width
    w = 2 * n
    f = n - 1  # fraction bits
    f1 = n  # f + 1

    @always_comb
    def logarithmic():
        # leading zeros, counted over positions 1..n-1 (an operand of 0 is handled at the end)
        za = intbv(0, min=0, max=n)
        zb = intbv(0, min=0, max=n)
        zsum = intbv(0, min=0, max=2 * n)
        for i in range(1, n):
            if (a >> i) == 0:
                za[:] = za + 1
            if (b >> i) == 0:
                zb[:] = zb + 1
        na = intbv(0)[n:]
        nb = intbv(0)[n:]
        na[:] = a << za
        nb[:] = b << zb
        na[f] = 0  # drop the leading ones: the fractions x1, x2
        nb[f] = 0
        s = intbv(0)[n:]
        s[:] = na + nb
        m = intbv(0)[w:]
        m[:] = concat(intbv(0)[n:], s)
        if not s[f]:
            m[f] = 1
            m[:] = m << f
        else:
            m[:] = m << f1
        zsum[:] = za + zb
        m[:] = m >> zsum
        if a == 0 or b == 0:
            m[:] = 0
        y.next = m

    return logarithmic
