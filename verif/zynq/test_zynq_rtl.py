"""The Vivado-ready accelerator tops (cores/zynq) in simulation, through their wrapper ports,
and the board targets' programmable logic in system simulations (CNN and SbS).

The cores' own test suites run through the tops as well (minutes: only with
``APPROXNN_NIGHTLY=1``, the nightly tier)."""


import pytest
from approxnn.eda.sim import REPO_ROOT, run_cocotb, simulator_available

from cores.zynq import generate
from cores.zynq.wrapper import shim_text, wrapper_text
from verif.common.tiers import nightly

BUILD = REPO_ROOT / "build" / "verif" / "zynq"




def _sources(name):
    return [generate.ZYNQ_DIR / f for f in generate.files_of(name) if f.endswith(".v")]


def _shim(name, tmp_path):
    """The sources of top ``name`` plus the adapter with the core's own ports."""
    t = generate.TOPS[name]
    _, module = generate.build_core(name)
    top_v = generate.ZYNQ_DIR / name / "rtl" / f"{t['top']}.v"  # the wrapper and the core
    shim = tmp_path / f"{t['top']}_shim.v"
    shim.write_text(shim_text(top_v.read_text(), module, t["top"]))
    return [*_sources(name), shim], f"{t['top']}_shim"


@nightly
@pytest.mark.slow
@pytest.mark.sim
def test_engine_tests_pass_through_the_top(tmp_path):
    """The engine's own pyuvm tests through a Vivado-ready top: the register map and the
    directed layers of every kind and every error code, bit for bit against the golden model,
    on the committed default engine (the configuration those tests size their layers for)
    wrapped by the same template; then the digits network through the committed MNIST-sized
    top."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from cores.cnn.engine.engine import build  # noqa: PLC0415

    _, module = build()
    core_v = REPO_ROOT / "cores" / "cnn" / "engine" / "rtl" / f"{module}.v"
    wrap = tmp_path / "cnn_engine_default_axi.v"
    wrap.write_text(wrapper_text(core_v.read_text(), module, "cnn_engine_default_axi",
                                 generate.FREQ_HZ, "test"))
    shim = tmp_path / "shim.v"
    shim.write_text(shim_text(core_v.read_text(), module, "cnn_engine_default_axi"))
    env = {"APPROXNN_ENGINE_LANES": 4, "APPROXNN_ENGINE_MUL": "int8", "APPROXNN_SEED": 7}
    result = run_cocotb("icarus", [core_v, wrap, shim], "cnn_engine_default_axi_shim",
                        "verif.cnn.cocotb_engine", tmp_path / "sim", seed=7,
                        testcase=["EngineRegTest", "EngineLayerTest"], extra_env=env)
    assert result.passed and result.tests == 2, result
    sources, top = _shim("engine", tmp_path)
    result = run_cocotb("icarus", sources, top, "verif.cnn.cocotb_engine", tmp_path / "net",
                        seed=7, testcase="EngineNetworkTest",
                        extra_env={**env, "APPROXNN_IMAGES": 1, "APPROXNN_NETWORK": "digits"})
    assert result.passed and result.tests == 1, result


@pytest.mark.sim
def test_engine_top():
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    t = generate.TOPS["engine"]
    result = run_cocotb("icarus", _sources("engine"), t["top"], t["test_module"],
                        BUILD / "engine", seed=3,
                        extra_env={"APPROXNN_ENGINE_LANES": t["params"]["lanes"]})
    assert result.passed, result
    assert result.tests == 2


#: plausible errors of the interrupt logic: (name, Verilog in the core, replacement)
IRQ_MUTANTS = [
    ("unmasked", "assign irq = ((engine_regfile0_irq_st & engine_regfile0_irq_en) != 0);",
     "assign irq = (engine_regfile0_irq_st != 0);"),
    pytest.param("no_clear", "st = (st & (~reg_wdata[2-1:0]));", "st = st;",
                 marks=[nightly, pytest.mark.slow], id="no_clear"),
]


@pytest.mark.sim
@pytest.mark.parametrize("name, old, new", IRQ_MUTANTS, ids=["unmasked", "no_clear"])
def test_engine_top_interrupt_mutants_are_caught(name, old, new, tmp_path):
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    t = generate.TOPS["engine"]
    sources = []
    for src in _sources("engine"):
        text = src.read_text()
        if old in text:
            assert text.count(old) == 1
            text = text.replace(old, new)
        dst = tmp_path / src.name
        dst.write_text(text)
        sources.append(dst)
    assert sum(old in s.read_text() for s in _sources("engine")) == 1
    result = run_cocotb("icarus", sources, t["top"], t["test_module"], tmp_path / "sim", seed=3,
                        testcase="top_interrupt_registers",
                        extra_env={"APPROXNN_ENGINE_LANES": t["params"]["lanes"]})
    assert result.tests == 1 and result.failures == 1, result


@pytest.mark.sim
def test_layer_top(tmp_path):
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    t = generate.TOPS["layer"]
    result = run_cocotb("icarus", _sources("layer"), t["top"], t["test_module"],
                        tmp_path / "sim", seed=3)
    assert result.passed and result.tests == 1, result


@nightly
@pytest.mark.slow
@pytest.mark.sim
def test_layer_tests_pass_through_the_top(tmp_path):
    """The layer unit's own cocotb tests (layer registers; the digits network end to end, every
    layer's h bit for bit against the golden model) through the Vivado-ready top."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    m = generate.MANIFESTS["layer"]
    settings = m.core_manifest().testbench_settings(m.committed[0])  # the core's plusargs
    sources, top = _shim("layer", tmp_path)
    result = run_cocotb("icarus", sources, top, "verif.sbs.cocotb_layer", tmp_path / "sim",
                        seed=3, testcase=["layer_registers", "network_end_to_end"],
                        extra_env={**settings,
                                   "APPROXNN_SBS_T": 2, "APPROXNN_SBS_IMAGES": 1,
                                   "APPROXNN_SEED": 3})
    assert result.passed and result.tests == 2, result


@pytest.mark.sim
def test_cnn_system_layers_through_dma(tmp_path):
    """The CNN board target's programmable logic with the processing system, DDR and the AXI
    DMAs as bus models: layers through DDR, bit for bit, ended by interrupts; then the host
    driver, unchanged, on the PYNQ-API shim."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from verif.zynq.system import write_sim_top  # noqa: PLC0415

    t = generate.TOPS["engine"]
    srcs = _sources("engine")
    top_v = next(s for s in srcs if s.name == f"{t['top']}.v")
    sim = write_sim_top(t["top"], top_v, tmp_path / "sim_top.v")
    result = run_cocotb("icarus", [*srcs, sim], f"sim_{t['top']}", "verif.zynq.cocotb_system",
                        tmp_path / "sim", seed=5,
                        extra_env={"APPROXNN_ENGINE_LANES": t["params"]["lanes"]})
    assert result.passed and result.tests == 2, result


@pytest.mark.sim
def test_sbs_system_layer_through_dma(tmp_path):
    """The SbS board target's programmable logic with GP0, DDR and its three AXI DMAs as bus
    models: weights, h and spikes in, h out, every step ended by interrupts, bit for bit; then
    the SbS host driver, unchanged, on the PYNQ-API shim."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from verif.zynq.system import write_sim_top  # noqa: PLC0415

    t = generate.TOPS["layer"]
    srcs = _sources("layer")
    top_v = next(s for s in srcs if s.name == f"{t['top']}.v")
    sim = write_sim_top(t["top"], top_v, tmp_path / "sim_top.v")
    result = run_cocotb("icarus", [*srcs, sim], f"sim_{t['top']}",
                        "verif.zynq.cocotb_system_sbs", tmp_path / "sim", seed=5)
    assert result.passed and result.tests == 2, result
