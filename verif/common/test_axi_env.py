"""The AXI blocks' base runs a directed pyuvm test through its BFM and reports a failed check
as a failed test with the check's message (a planted check on ``proto_dut``)."""

from pathlib import Path

import pytest
from approxnn.eda.sim import REPO_ROOT, run_cocotb, simulator_available

pytestmark = pytest.mark.sim

HERE = Path(__file__).resolve().parent / "selftest"


@pytest.mark.skipif(not simulator_available("icarus"), reason="no icarus")
def test_a_failed_directed_check_fails_its_test():
    res = run_cocotb("icarus", [HERE / "proto_dut.v"], "proto_dut",
                     "verif.common.selftest.cocotb_axi_env",
                     REPO_ROOT / "build" / "verif" / "axi_env")
    assert res.tests == 2, res.messages
    assert res.failures == 1, res.messages
    failed = {m.split(":", 1)[0]: m for m in res.messages}
    assert "store_reads_back" not in failed, failed
    assert "planted check: the store reads 5, the check wants 6" in failed.get(
        "planted_check_fails", ""), res.messages
