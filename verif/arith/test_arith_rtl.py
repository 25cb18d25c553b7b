"""RTL of every built-in arithmetic unit against its golden model, through the pyuvm
environment, on Icarus and on Verilator.

* width 8, default parameters, unsigned and signed: all 65,536 operand pairs on Icarus for
  every unit, and on Verilator for :data:`VERILATOR_UNITS` (every unit with
  ``APPROXNN_NIGHTLY=1``; the nightly regression ``verif.regress`` runs every unit on both)
  (ArithExhaustiveTest);
* widths 4, 12 and 16: corner pairs plus constrained-random pairs with random idle cycles
  (ArithRandomTest), on Icarus;
* a deliberately broken unit (one output bit flipped for a single operand pair) must fail.
"""

import json

import numpy as np
import pytest
from approxnn.eda.sim import simulator_available

from refmodels.arith import list_units, parse_unit
from verif.arith.harness import run_unit
from verif.common.tiers import NIGHTLY

pytestmark = pytest.mark.sim

BUILTIN = [u.name for u in list_units() if u.builtin]
#: units checked exhaustively on Verilator in the default suite (the same testbench as on
#: Icarus; a plain array and a carry-chain design)
VERILATOR_UNITS = ("exact", "ctrunc")
#: units run here only in the nightly tier (their quick golden-vs-RTL check in the default
#: suite is cores/arith/test_rtl_exhaustive.py::test_quick_random)
NIGHTLY_UNITS = ("bam", "tern", "cmp")
SIMS = [
    pytest.param(s, marks=pytest.mark.skipif(not simulator_available(s), reason=f"no {s}"))
    for s in ("icarus", "verilator")
]


def _check(result):
    assert result.passed, "\n".join(result.messages) or f"no test ran ({result.xml})"


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("unit", BUILTIN)
def test_exhaustive_w8(unit, signed, sim):
    if sim == "verilator" and unit not in VERILATOR_UNITS and not NIGHTLY:
        pytest.skip("nightly tier (APPROXNN_NIGHTLY=1): Verilator here for "
                    + ", ".join(VERILATOR_UNITS))
    if unit in NIGHTLY_UNITS and not NIGHTLY:
        pytest.skip("nightly tier (APPROXNN_NIGHTLY=1)")
    _check(run_unit(f"{unit}:width=8,signed={signed}", sim=sim, test="ArithExhaustiveTest"))


@pytest.mark.parametrize("width", [4, 12, 16])
@pytest.mark.parametrize("unit", BUILTIN)
def test_random_wide(unit, width):
    if unit in NIGHTLY_UNITS and not NIGHTLY:
        pytest.skip("nightly tier (APPROXNN_NIGHTLY=1)")
    signed = (width // 4 + len(unit)) % 2  # both signednesses over the grid, one run each
    _check(
        run_unit(
            f"{unit}:width={width},signed={signed}",
            sim="icarus",
            test="ArithRandomTest",
            count=3000,
            seed=width,
        )
    )


@pytest.mark.parametrize("sim", SIMS)
def test_broken_unit_is_caught(sim, tmp_path):
    spec = parse_unit("drum:k=4,width=8,signed=1")
    rng = np.random.default_rng(7)
    a, b = (int(v) for v in rng.integers(-128, 128, 2))
    cov = tmp_path / "coverage.json"
    result = run_unit(spec, sim=sim, broken=(a, b), test="ArithExhaustiveTest",
                      coverage_file=cov)
    assert result.tests == 1 and result.failures == 1
    assert f"a={a} b={b}" in result.messages[0], result.messages
    # the testpoint's cover item: the scoreboard's mismatch bin, hit by the planted fault only
    items = json.loads(cov.read_text())["items"]
    assert items["arith.sb.verdict"] == {"match": 0, "mismatch": 1}
    # a passing run's pipeline timing bins, as the regression merges them
    assert set(items["arith.pipe.in_flight"]) == {"0", "1"}
