"""Exact adder: ``y = {carry_out, a + b}``."""

from myhdl import always_comb, block

KIND = "add"


@block
def core(a, b, y, width):
    """``width``-bit operand patterns ``a``, ``b``; ``width+1``-bit ``y``."""

    @always_comb
    def ripple():
        y.next = a + b

    return ripple
