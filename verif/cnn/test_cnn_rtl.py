"""CNN blocks against the golden models (refmodels.cnn) through their pyuvm environments.

* requantisation unit: directed corners plus 20,000 (Icarus) / 5,000 (Verilator)
  constrained-random values with random idle cycles; functional coverage goal checked;
* MAC array: random dot products (300 for the default configurations) with padded taps,
  random zero points, output-bank stalls and random idle cycles, for the exact DSP-packed path
  (P = 8, odd P = 3, P = 1, unpacked), a signed and an unsigned approximate unit;
* layer engine: register tests (CAPS, channel table read-back, SLVERR) and a layer sequence
  (SAME / VALID / strided convolutions, FullyConnected, 1x1, partial channel groups,
  depthwise, MaxPool and AveragePool, every error code including misplaced tlast, a good
  layer after the errors), 40 constrained-random layers (shapes, strides, paddings, filters,
  depth multipliers, zero points, saturating scales; coverage goal checked), with random
  stream idle cycles and output back-pressure, on
  Icarus: int8 P = 4, DRUM P = 8, int8 P = 1, unsigned Mitchell P = 2, HF6 P = 4 and P = 1; on
  Verilator: int8 P = 4; the trained digits network (refmodels/cnn/networks) entirely on the
  engine for a held-out image (int8 P = 4 and HF6 P = 4): outputs equal Network.forward_int8 /
  forward_hf6;
* a deliberately broken copy (one output bit flipped on one output beat) must fail, and so must
  five mutants of the requantisation unit (no INT32_MIN saturation, negative ties rounded
  toward zero, rounding boundary off by one; float-scale mode: product not rounded to 53 bits,
  or rounded one bit too low), each visible only on a corner case, and three
  mutants of the HF6 engine's float32 stages.
"""

import json
import os

import pytest
from approxnn.eda.sim import simulator_available

from verif.cnn.harness import run_block
from verif.common.tiers import nightly

pytestmark = pytest.mark.sim

SIMS = [
    pytest.param(s, marks=pytest.mark.skipif(not simulator_available(s), reason=f"no {s}"))
    for s in ("icarus", "verilator")
]


def _check(result):
    assert result.passed, "\n".join(result.messages) or f"no test ran ({result.xml})"


@pytest.mark.parametrize("sim", SIMS)
def test_requant(sim):
    # Verilator spends its time in the build: fewer values there
    _check(run_block("requant", sim=sim, count=20000 if sim == "icarus" else 5000, seed=3))


@pytest.mark.parametrize(
    "params, count",
    [
        ({"lanes": 8, "mul": "int8"}, 300),
        ({"lanes": 3, "mul": "int8"}, 150),
        ({"lanes": 1, "mul": "int8"}, 150),
        ({"lanes": 4, "mul": "int8", "pack": False}, 100),
        ({"lanes": 8, "mul": "drum:k=4,signed=1"}, 300),
        ({"lanes": 3, "mul": "etm:signed=0"}, 150),
    ],
    ids=["int8_p8", "int8_p3", "int8_p1", "int8_nopack_p4", "drum4s_p8", "etm_u_p3"],
)
def test_mac(params, count):
    _check(run_block("mac", sim="icarus", count=count, params=params, seed=5))


def test_engine_int8():
    # the trained digits network on one held-out image (EngineNetworkTest) besides the
    # register and layer tests
    _check(run_block("engine", sim="icarus", params={"lanes": 4, "mul": "int8"}, seed=7,
                     extra_env={"APPROXNN_IMAGES": 1}))


@pytest.mark.skipif(not simulator_available("verilator"), reason="no verilator")
def test_engine_verilator():
    # the committed int8 configuration on the second simulator (the build takes most of it)
    _check(run_block("engine", sim="verilator", params={"lanes": 4, "mul": "int8"}, seed=5,
                     testcase=["EngineRegTest", "EngineLayerTest", "EngineRandomTest"]))


@pytest.mark.parametrize("mul", ["int8", "hf6"])
def test_engine_registers(mul):
    # every word of the register window against the register map (EngineRegTest)
    _check(run_block("engine", sim="icarus", params={"lanes": 4, "mul": mul}, seed=3,
                     testcase="EngineRegTest"))


def test_engine_stress_and_extremes():
    # shape extremes at the set-up field widths, mixed stress patterns that fill the output
    # FIFO (coverage: full and empty), reset mid-frame / mid-compute / mid-output
    _check(run_block("engine", sim="icarus", params={"lanes": 4, "mul": "int8"}, seed=5,
                     testcase="EngineStressTest"))


@pytest.mark.skipif(os.environ.get("APPROXNN_LONG") != "1",
                    reason="long: nightly / mutation runs (APPROXNN_LONG=1)")
def test_engine_stress_large_buffers():
    # a weight buffer of 1024 words: the pad x channels product past 8 bits becomes reachable
    _check(run_block("engine", sim="icarus", params={"lanes": 4, "mul": "int8", "wbuf": 1024},
                     seed=6, testcase="EngineStressTest"))


def test_engine_hf6():
    # the HF6 build: registers, the layer sequence in float32 / HF6 and the digits network
    # (Network.forward_hf6) on one held-out image
    _check(run_block("engine", sim="icarus", params={"lanes": 4, "mul": "hf6"}, seed=7,
                     extra_env={"APPROXNN_IMAGES": 1}))


@pytest.mark.parametrize(
    "params",
    # nightly: the default suite runs the engine through test_engine_int8 / test_engine_hf6
    # (P = 4), the heterogeneous engine (P = 4, three approximate and exact units) and the
    # FuseSoC generator's variant (P = 2, Mitchell; its register test)
    [pytest.param({"lanes": 8, "mul": "drum:k=4,signed=1"}, id="drum4s_p8", marks=nightly),
     pytest.param({"lanes": 1, "mul": "int8"}, id="int8_p1", marks=nightly),
     pytest.param({"lanes": 2, "mul": "mitchell:signed=0", "cmax": 8}, id="mitchell_u_p2",
                  marks=nightly),
     pytest.param({"lanes": 1, "mul": "hf6", "cmax": 8}, id="hf6_p1", marks=nightly)],
)
def test_engine_configurations(params):
    _check(run_block("engine", sim="icarus", params=params, seed=11,
                     testcase=["EngineRegTest", "EngineLayerTest", "EngineRandomTest"]))


@pytest.mark.parametrize(
    "block, params",
    [("requant", {}), ("mac", {"lanes": 4}), ("engine", {"lanes": 4}),
     ("engine", {"lanes": 4, "mul": "hf6"})],
)
def test_broken_block_is_caught(block, params, tmp_path):
    cov = tmp_path / "coverage.json"
    result = run_block(block, sim="icarus", count=300, params=params, broken=57, seed=9,
                       testcase="EngineLayerTest" if block == "engine" else None,
                       extra_env={"APPROXNN_COVERAGE_FILE": cov})
    assert result.tests == 1 and result.failures == 1, result.messages
    # caught by the scoreboard, or by the stream checker when the flipped bit shows up
    # while a beat waits for tready (data changed before the handshake)
    msg = result.messages[0]
    assert "model" in msg or "rule tdata-unstable" in msg, result.messages
    if block in VERDICT:  # the testpoint's cover item: the scoreboard's mismatch bin
        items = json.loads(cov.read_text())["items"]
        assert items[VERDICT[block]] == {"match": 0, "mismatch": 1}, items.get(VERDICT[block])


#: the scoreboard-verdict cover item of the blocks whose broken copy is run
VERDICT = {"requant": "rq.sb.verdict", "mac": "mac.sb.verdict"}


#: plausible design errors of the requantisation unit, each only visible on a corner case
REQUANT_MUTANTS = {
    "no_saturation": ("    if (sat3) begin", "    if (1'b0) begin"),
    "ties_toward_zero_for_negatives": ("        thr = (thr + 1);", "        thr = thr;"),
    "rounding_boundary_off_by_one": ("    if ((rem > thr)) begin",
                                     "    if ((rem > (thr + 1))) begin"),
    # float-scale (reference FullyConnected) mode: the float64 product's rounding to 53 bits
    # left out, or done one bit too low
    "fc_product_not_rounded": ("    if ((inc && ones)) begin", "    if (1'b0) begin"),
    "fc_product_rounded_one_bit_low": ("inc = ab3[31];", "inc = ab3[30];"),
}


#: plausible design errors of the HF6 engine's float32 stages
HF6_ENGINE_MUTANTS = {
    "relu6_not_clamped": ("else if (((engine_regfile0_quant == 2) && "
                          "(_hf6_datapath0_mo_y > 32'h40c00000)))", "else if (1'b0)"),
    "max_pool_negatives_unordered": ("key_x = (~engine_buffers0_x_q);",
                                     "key_x = engine_buffers0_x_q;"),
    "padded_taps_not_zero": ("_hf6_datapath0_a_in = 0;",
                             "_hf6_datapath0_a_in = engine_buffers0_x_q;"),
}


@pytest.mark.parametrize("mutant", sorted(HF6_ENGINE_MUTANTS))
def test_hf6_engine_mutants_are_caught(mutant):
    result = run_block("engine", sim="icarus", params={"lanes": 4, "mul": "hf6"}, seed=13,
                       mutate=HF6_ENGINE_MUTANTS[mutant], testcase="EngineLayerTest")
    assert result.failures == 1, f"mutant {mutant} survived"


@pytest.mark.parametrize("mutant", sorted(REQUANT_MUTANTS))
def test_requant_mutants_are_caught(mutant):
    # only the directed corners and 500 random values: the corners must expose each mutant
    result = run_block("requant", sim="icarus", count=500, seed=13,
                       mutate=REQUANT_MUTANTS[mutant])
    assert result.failures == 1, f"mutant {mutant} survived"
