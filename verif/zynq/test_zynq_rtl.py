"""The Vivado-ready accelerator tops (cores/zynq) in simulation, through their wrapper ports."""

import pytest

from cores.zynq import generate
from verif.tools import REPO_ROOT, run_cocotb, simulator_available

BUILD = REPO_ROOT / "build" / "verif" / "zynq"


def _sources(name):
    return [generate.ZYNQ_DIR / f for f in generate.files_of(name) if f.endswith(".v")]


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
    ("unmasked", "assign irq = ((irq_st & irq_en) != 0);", "assign irq = (irq_st != 0);"),
    ("no_clear", "st = (st & (~reg_wdata[2-1:0]));", "st = st;"),
]


@pytest.mark.sim
@pytest.mark.parametrize("mutant", IRQ_MUTANTS, ids=[m[0] for m in IRQ_MUTANTS])
def test_engine_top_interrupt_mutants_are_caught(mutant, tmp_path):
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    _, old, new = mutant
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
