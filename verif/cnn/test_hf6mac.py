"""Hybrid-Float6 MAC array (cores/cnn/hf6mac) against refmodels.cnn.minifloat.

* P = 4 (the committed configuration) and P = 1 on Icarus, P = 2 on Verilator: the directed
  corners (rounding carry of the float32 conversion, exact cancellation, INT64_MIN, products
  shifted out) and constrained-random sums of float32 activations (zeros, subnormals, tiny,
  ordinary, large) and HF6 weight / bias codes, with random idle cycles; accumulators and
  float32 results bit for bit, fixed latency, coverage goal checked;
* a deliberately broken copy (one bit of out_y flipped on one result) and three mutants (ties
  rounded up instead of to even; HF6 subnormal weights decoded with exponent 0; left
  shifts of 39..63 places dropped instead of wrapped) must fail.
"""

import pytest
from approxnn.eda.sim import simulator_available

from verif.cnn.harness import run_block

pytestmark = [pytest.mark.sim,
              pytest.mark.skipif(not simulator_available("icarus"), reason="needs icarus")]


def _check(result):
    assert result.passed, "\n".join(result.messages) or f"no test ran ({result.xml})"


@pytest.mark.parametrize("lanes, count", [(4, 300), (1, 100)], ids=["p4", "p1"])
def test_hf6mac(lanes, count):
    _check(run_block("hf6mac", sim="icarus", params={"lanes": lanes}, count=count, seed=5))


@pytest.mark.skipif(not simulator_available("verilator"), reason="needs verilator")
def test_hf6mac_verilator():
    _check(run_block("hf6mac", sim="verilator", params={"lanes": 2}, count=100, seed=6))


def test_broken_hf6mac_is_caught():
    result = run_block("hf6mac", sim="icarus", params={"lanes": 2}, count=100, broken=57, seed=9)
    assert result.tests == 1 and result.failures == 1, result.messages
    assert "model" in result.messages[0], result.messages


#: plausible design errors, each visible only on some operands (P = 1: each line occurs once)
HF6_MUTANTS = {
    "ties_up_not_to_even": (
        "up = (hf6_lane0_t_b[39] && ((hf6_lane0_t_b[39-1:0] != 0) || hf6_lane0_t_b[40]));",
        "up = hf6_lane0_t_b[39];"),
    "subnormal_weight_exponent_zero": ("            ew = 1;", "            ew = 0;"),
    "no_wrap_of_left_shifts": ("hf6_lane0_zero3 <= ((se >= (135 + 64))",
                               "hf6_lane0_zero3 <= ((se >= (135 + 39))"),
}


@pytest.mark.parametrize("mutant", sorted(HF6_MUTANTS))
def test_hf6mac_mutants_are_caught(mutant):
    result = run_block("hf6mac", sim="icarus", params={"lanes": 1}, count=100, seed=13,
                       mutate=HF6_MUTANTS[mutant])
    assert result.failures == 1, f"mutant {mutant} survived"


@pytest.mark.parametrize("lanes", [0, 33, True, "4"])
def test_bad_lanes_are_refused(lanes):
    from cores.cnn.generate import build_block

    with pytest.raises(ValueError, match="lanes must be an integer in 1..32"):
        build_block("hf6mac", lanes=lanes)
