"""AXI4-Stream frame checker shared by the engines (MyHDL).

A frame has a length the receiver knows (an h load, a weight row, an input feature map); its
sender marks the last beat with ``tlast``. For every beat taken (``fire``) the checker compares
``tlast`` with ``last`` (the receiver's own count says this is the frame's last beat) and
raises one of three one-cycle flags:

``ok``     the last beat, with ``tlast``: the frame is complete;
``short``  ``tlast`` before the last beat: the frame ended early;
``long``   the last beat without ``tlast``: the frame goes on (the receiver discards the rest
           up to its ``tlast``).

The flags are combinational, so the receiver's control FSM acts on them in the cycle of the
beat; what it does (error bits, discarding) is its own.
"""

from __future__ import annotations

from myhdl import always_comb, block


@block
def frame_check(fire, tlast, last, ok, short, long):
    """Classify the beat taken this cycle (see the module docstring); ``ok`` may be None when
    the receiver needs only the errors."""
    if ok is None:

        @always_comb
        def classify_errors():
            short.next = fire and tlast and not last
            long.next = fire and last and not tlast

        return classify_errors

    @always_comb
    def classify():
        ok.next = fire and last and tlast
        short.next = fire and tlast and not last
        long.next = fire and last and not tlast

    return classify
