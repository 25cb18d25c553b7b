"""Exact unsigned multiplier: ``y = a * b`` (the reference point for the approximate ones)."""

from myhdl import always_comb, block

KIND = "mul"


@block
def core(a, b, y, width):
    """``width``-bit magnitudes ``a``, ``b``; ``2*width``-bit product ``y``."""

    @always_comb
    def product():
        y.next = a * b

    return product
