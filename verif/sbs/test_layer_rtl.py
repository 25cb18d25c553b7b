"""pytest front-end of the SbS layer unit: the digits network end to end through the RTL."""

import json
import os

import pytest
from approxnn.eda.sim import simulator_available

from verif.common.tiers import nightly
from verif.sbs.harness import run_layer

pytestmark = pytest.mark.sim


def _need(sim):
    if not simulator_available(sim):
        pytest.skip(f"{sim} not available")


def test_layer_registers_icarus():
    _need("icarus")
    res = run_layer(testcase="layer_registers")
    assert res.passed, res.messages


def test_layer_maxima_and_reset_icarus():
    # N_H, IPs and rows at the build's maxima, then reset mid-frame / -compute / -output
    _need("icarus")
    res = run_layer(testcase="layer_maxima_and_reset", seed=4)
    assert res.passed, res.messages


@pytest.mark.parametrize("sim, weights, T", [
    ("icarus", "e4m1", 4),
    # log4 on Verilator: nightly (the default suite runs log4 and Verilator on the update unit)
    pytest.param("verilator", "log4", 12, marks=nightly)])
def test_digits_network_end_to_end(sim, weights, T, tmp_path):
    """Every layer's final h equals the golden model bit for bit (the test compares them) and
    the RTL reports how many updates it made."""
    _need(sim)
    out = tmp_path / "result.json"
    res = run_layer(weights=weights, sim=sim, testcase="network_end_to_end", T=T, images=1,
                    result_file=out)
    assert res.passed, res.messages
    data = json.loads(out.read_text())
    assert data["T"] == T and len(data["results"]) == 1
    assert data["updates"] > 0 and data["cycles"] > data["updates"]


@pytest.mark.skipif(not os.environ.get("APPROXNN_NIGHTLY"),
                    reason="nightly tier (minutes of Verilator): set APPROXNN_NIGHTLY=1")
def test_published_network_through_its_two_units():
    """The published MNIST network, layers 0-3 on the conv unit and 4-5 on the fc unit: every
    layer's h equals the golden model bit for bit (the cocotb test compares them)."""
    _need("verilator")
    from verif.sbs.harness import run_published

    ok, messages, fig = run_published(T=1, images=1)
    assert ok, messages
    assert [u["layers"] for u in fig["units"]] == [[0, 3], [4, 5]]
    assert all(row["updates"] > 0 for u in fig["units"] for row in u["per_layer"])
