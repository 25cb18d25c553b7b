"""Verilator -Wall lint of the committed Vivado-ready tops (each wrapper with its core)."""

import pytest
from approxnn.eda.lint import lint
from approxnn.eda.sim import simulator_available

from cores.zynq import generate

FILES = [generate.ZYNQ_DIR / f for t in generate.TOPS for f in generate.files_of(t)
         if f.endswith(".v")]
pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="needs verilator")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_committed_rtl_is_lint_clean(path):
    assert path.exists(), f"{path} missing: run python -m cores.zynq.generate"
    msg = lint(path)
    assert not msg, f"{path.name}:\n{msg}"
