"""Exact unsigned multiplier: ``y = a * b`` (the reference point for the approximate ones)."""

from myhdl import always_comb, block

KIND = "mul"
NATIVE_SIGNED = True


@block
def core(a, b, y, width, signed=False):
    """``width``-bit operands ``a``, ``b`` (signed Signals when ``signed``: the product is then
    the native two's complement one, no sign-magnitude wrapper); ``2*width``-bit ``y``."""

    @always_comb
    def product():
        y.next = a * b

    return product
