"""Verilator -Wall lint of the committed CNN-block Verilog and of other configurations."""

import pytest
from approxnn.eda.lint import lint
from approxnn.eda.sim import simulator_available

from cores.cnn import generate
from cores.cnn.common import convert
from verif.common.tiers import nightly

COMMITTED = [generate.CNN_DIR / b / f for b in generate.BLOCKS for f in generate.rtl_files(b)]
OTHERS = [
    {"lanes": 1, "mul": "int8"},
    {"lanes": 3, "mul": "int8"},
    {"lanes": 3, "mul": "int8", "pack": False},
    {"lanes": 1, "mul": "mitchell:signed=1"},
    {"lanes": 3, "mul": "etm:signed=0"},
    {"lanes": 3, "mul": "trunc:t=6+exact+mitchell:signed=0"},  # heterogeneous, mixed signedness
]
ENGINES = [
    {"lanes": 1, "mul": "int8"},
    {"lanes": 8, "mul": "drum:k=4,signed=1", "cmax": 64},
    {"lanes": 2, "mul": "mitchell:signed=0", "cmax": 2, "ibuf": 4096, "wbuf": 64},
    {"lanes": 1, "mul": "hf6", "cmax": 64},
    # P = 16 HF6: the largest conversion (about 15 s), nightly
    pytest.param({"lanes": 16, "mul": "hf6", "cmax": 16}, marks=nightly, id="16_hf6_16"),
    {"lanes": 2, "mul": ["trunc:t=8", "drum:k=4"], "cmax": 2, "ibuf": 16, "wbuf": 4},
]
pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="needs verilator")


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_rtl_is_lint_clean(path):
    assert path.exists(), f"{path} missing: run python -m cores.cnn.generate"
    msg = lint(path)
    assert not msg, f"{path.name}:\n{msg}"


@pytest.mark.parametrize("params", OTHERS, ids=lambda p: "_".join(map(str, p.values())))
def test_other_configurations_are_lint_clean(params, tmp_path):
    factory, name = generate.build_block("mac", **params)
    path = convert(factory, name, tmp_path)
    msg = lint(path)
    assert not msg, f"{path.name}:\n{msg}"


@pytest.mark.parametrize("params", ENGINES, ids=lambda p: "_".join(map(str, p.values())))
def test_other_engines_are_lint_clean(params, tmp_path):
    factory, name = generate.build_block("engine", **params)
    path = convert(factory, name, tmp_path)
    msg = lint(path)
    assert not msg, f"{path.name}:\n{msg}"
