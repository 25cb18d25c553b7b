"""Reset during traffic: assert ``rst`` when a condition on the traffic holds.

:func:`reset_when` watches a running job (a cocotb task), and at the first clock edge where
``cond()`` is true it cancels the job, asserts ``rst`` for a few cycles and empties the
testbench agents (cocotbext-axi stream sources keep their queues over a reset). The caller then
runs a full job and compares it with the golden model. The stream beat counts of the protocol
checkers (:func:`beats`) tell where the traffic is: mid-frame (an input frame partly sent),
mid-compute (inputs in, no output yet), mid-output (some output beats out).
"""

from __future__ import annotations

from cocotb.triggers import ClockCycles, RisingEdge

from verif.common import protocol

POINTS = ("mid_frame", "mid_compute", "mid_output")


def beats(prefix: str) -> int:
    chk = protocol.active()
    if chk is None:
        raise RuntimeError("reset points need the protocol checkers (APPROXNN_CHECKERS=1)")
    return chk.beats(prefix)


async def reset_when(dut, job, cond, agents=(), max_cycles: int = 200000,
                     cycles: int = 3) -> bool:
    """Cancel ``job`` and reset the DUT when ``cond()`` first holds (checked every cycle) or
    when ``job`` ends or ``max_cycles`` pass; True when the condition held (the reset landed
    where it was meant to)."""
    landed = False
    for _ in range(max_cycles):
        await RisingEdge(dut.clk)
        if cond():
            landed = True
            break
        if job.done():
            break
    job.cancel()
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    for agent in agents:
        agent.clear()
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    return landed
