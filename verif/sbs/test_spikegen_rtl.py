"""pytest front-end of the SbS spike generator's cocotb tests."""

import pytest
from approxnn.eda.sim import run_cocotb, simulator_available

from verif.sbs.harness import BUILD_ROOT

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("sim, n_max, src_max", [("icarus", 16, 16), ("icarus", 2, 1),
                                                  ("verilator", 32, 64)])
def test_spikegen(sim, n_max, src_max):
    if not simulator_available(sim):
        pytest.skip(f"{sim} not available")
    from cores.common import convert_block
    from cores.sbs.spikegen.spikegen import module_name, top

    build = BUILD_ROOT / f"spikegen_n{n_max}_s{src_max}_{sim}"
    name = module_name(n_max, src_max)
    path = convert_block(lambda: top(n_max, src_max), name, build / "rtl")
    env = {"APPROXNN_SBS_NMAX": n_max, "APPROXNN_SBS_SRCMAX": src_max, "APPROXNN_SEED": 5,
           "APPROXNN_COUNT": 5}
    res = run_cocotb(sim, [path], name, "verif.sbs.cocotb_spikegen", build / "sim",
                     extra_env=env, seed=5)
    assert res.passed, res.messages
    assert res.tests == 3
