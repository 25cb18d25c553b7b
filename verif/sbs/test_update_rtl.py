"""pytest front-end of the SbS update unit's verification (cocotb + pyuvm on Icarus/Verilator)."""

from pathlib import Path

import pytest
from approxnn.eda.sim import simulator_available

from verif.sbs.harness import BUILD_ROOT, generate_rtl, run_update

pytestmark = pytest.mark.sim

CONFIGS = [(1, 16, "e4m1"), (2, 32, "log4"), (4, 64, "e4m1"), (8, 64, "log4"), (4, 32, "e3m1")]


def _need(sim):
    if not simulator_available(sim):
        pytest.skip(f"{sim} not available")


def _ok(res):
    assert res.passed, "\n".join(res.messages) or f"no test ran ({res.xml})"


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c[2]}_p{c[0]}_n{c[1]}")
def test_update_unit_icarus(cfg):
    _need("icarus")
    p, n_max, weights = cfg
    res = run_update(p, n_max, weights, sim="icarus", seed=sum(cfg[:2]), count=10)
    _ok(res)
    assert res.tests == 5


def test_update_unit_stress():
    # the random scenarios under the "mixed" stress pattern: bursty idle and back-pressure,
    # full stops of 64 cycles and more (the unit has no FIFO to cover)
    _need("icarus")
    res = run_update(2, 16, "e4m1", sim="icarus", seed=3, count=8,
                     testcase="UpdateRandomTest", extra_env={"APPROXNN_STRESS": "mixed"})
    _ok(res)


@pytest.mark.parametrize("cfg", [(4, 64, "e4m1"), (2, 32, "log4")],
                         ids=lambda c: f"{c[2]}_p{c[0]}_n{c[1]}")
def test_update_unit_verilator(cfg):
    _need("verilator")
    p, n_max, weights = cfg
    res = run_update(p, n_max, weights, sim="verilator", seed=7, count=10)
    _ok(res)


def broken_copy(p, n_max, weights, outdir: Path, beat: int) -> tuple[list[Path], str]:
    """The generated unit plus a wrapper that inverts bit 0 of ``m_axis_h_tdata`` on output
    beat number ``beat`` (counting accepted beats from reset)."""
    from cores.sbs.update.update import OUTPUTS, ports

    path, inner = generate_rtl(p, n_max, weights, outdir)
    decls, conns = [], []
    for name, sig in ports(p, n_max, weights).items():
        rng = f"[{len(sig) - 1}:0] " if len(sig) > 1 else ""
        decls.append(f"    {'output' if name in OUTPUTS else 'input'} wire {rng}{name}")
        conns.append(f".{name}({name}_i)" if name == "m_axis_h_tdata" else f".{name}({name})")
    width = len(ports(p, n_max, weights)["m_axis_h_tdata"])
    text = f"""// Deliberately faulty copy of {inner}: m_axis_h_tdata bit 0 inverted on beat {beat}.
module broken_{inner} (
{(',' + chr(10)).join(decls)}
);
    wire [{width - 1}:0] m_axis_h_tdata_i;
    reg [31:0] beats = 0;
    always @(posedge clk) if (m_axis_h_tvalid && m_axis_h_tready) beats <= beats + 1;
    assign m_axis_h_tdata = m_axis_h_tdata_i ^ (beats == {beat});
    {inner} dut ({", ".join(conns)});
endmodule
"""
    wrapper = outdir / f"broken_{inner}.v"
    wrapper.write_text(text)
    return [path, wrapper], f"broken_{inner}"


def test_scoreboard_catches_a_wrong_latent():
    _need("icarus")
    build = BUILD_ROOT / "broken"
    sources, top = broken_copy(2, 16, "e4m1", build / "rtl", beat=5)
    res = run_update(2, 16, "e4m1", sim="icarus", testcase="UpdateRandomTest", count=4,
                     build_dir=build, sources=sources, top=top)
    assert res.tests == 1 and res.failures == 1
    assert any("latents differ" in m or "problem" in m for m in res.messages), res.messages
