"""Pooling unit (cores/cnn/pool) against refmodels.cnn.tflite.max_pool / avg_pool.

On Icarus and Verilator: directed windows (the average's rounding ties of both signs, 256 values
of -128 / 127) and constrained-random windows (1..256 values, padded taps, both modes, random
clamp ranges) with random idle cycles and the unit's back-pressure; results bit for bit, fixed
latency, coverage goal checked. A broken copy (one bit of y flipped on one result) and three
mutants (average ties rounded toward zero; negative averages off by one; padded taps counted)
must fail.
"""

import pytest
from approxnn.eda.sim import simulator_available

from verif.cnn.harness import run_block

pytestmark = [pytest.mark.sim,
              pytest.mark.skipif(not simulator_available("icarus"), reason="needs icarus")]


def test_pool():
    result = run_block("pool", sim="icarus", count=300, seed=5)
    assert result.passed, "\n".join(result.messages) or f"no test ran ({result.xml})"


@pytest.mark.skipif(not simulator_available("verilator"), reason="needs verilator")
def test_pool_verilator():
    result = run_block("pool", sim="verilator", count=300, seed=6)
    assert result.passed, "\n".join(result.messages) or f"no test ran ({result.xml})"


def test_broken_pool_is_caught():
    result = run_block("pool", sim="icarus", count=100, broken=57, seed=9)
    assert result.tests == 1 and result.failures == 1, result.messages
    assert "model" in result.messages[0], result.messages


POOL_MUTANTS = {
    "ties_toward_zero": ("h[8-1:0] = n[9-1:1];", "h[8-1:0] = (n - 1) >> 1;"),
    "negative_average_off_by_one": ("rr = ((~t) + 129);", "rr = ((~t) + 128);"),
    "padded_taps_counted": ("if ((!in_pad)) begin", "if (1'b1) begin"),
}


@pytest.mark.parametrize("mutant", sorted(POOL_MUTANTS))
def test_pool_mutants_are_caught(mutant):
    result = run_block("pool", sim="icarus", count=100, seed=13, mutate=POOL_MUTANTS[mutant])
    assert result.failures == 1, f"mutant {mutant} survived"
