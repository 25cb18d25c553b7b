"""The protocol checkers fire: each rule broken on purpose by ``proto_dut`` fails its test with
the rule, the signal and the cycle in the message, and the well-behaved mode passes."""

from pathlib import Path

import pytest
from approxnn.eda.sim import REPO_ROOT, run_cocotb, simulator_available

pytestmark = pytest.mark.sim

HERE = Path(__file__).resolve().parent / "selftest"

#: mode -> (rule, signal) the checker must report
EXPECTED = {
    1: ("tvalid-withdrawn", "m_axis_o_tvalid"),
    2: ("tdata-unstable", "m_axis_o_tdata"),
    3: ("tlast-unstable", "m_axis_o_tlast"),
    4: ("control-x", "m_axis_o_tvalid"),
    5: ("response-without-request", "s_axil_bvalid"),
    6: ("response-withdrawn", "s_axil_bvalid"),
    7: ("rdata-x", "s_axil_rdata"),
    8: ("response-without-request", "s_axil_rvalid"),
    10: ("tdata-x", "m_axis_o_tdata"),
}


@pytest.mark.skipif(not simulator_available("icarus"), reason="no icarus")
def test_checkers_fire_on_each_broken_rule():
    res = run_cocotb("icarus", [HERE / "proto_dut.v"], "proto_dut",
                     "verif.common.selftest.cocotb_protocol",
                     REPO_ROOT / "build" / "verif" / "protocol")
    assert res.tests == 11, res.messages
    failed = {m.split(":", 1)[0]: m for m in res.messages}
    assert "mode_0" not in failed, failed["mode_0"]
    for mode, (rule, signal) in EXPECTED.items():
        msg = failed.get(f"mode_{mode}", "")
        assert f"rule {rule}" in msg and f"signal {signal}" in msg and "cycle " in msg, \
            f"mode {mode}: {msg or 'passed'}"
    assert "watchdog: no handshake" in failed.get("mode_9", ""), failed.get("mode_9")
    assert res.failures == 10
