"""Verilator -Wall lint of every committed Verilog file and of other widths (no waivers)."""

from pathlib import Path

import pytest
from approxnn.eda.lint import lint
from approxnn.eda.sim import simulator_available

from cores.arith.common import UNITS, convert
from cores.arith.generate import ARITH_DIR, rtl_files
from verif.common.tiers import nightly

COMMITTED = [ARITH_DIR / unit / f for unit in UNITS for f in rtl_files(unit)]
pytestmark = pytest.mark.skipif(not simulator_available("verilator"), reason="needs verilator")


def _assert_clean(path: Path):
    msg = lint(path)
    assert not msg, f"{path.name}:\n{msg}"


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_rtl_is_lint_clean(path):
    assert path.exists(), f"{path} missing: run python -m cores.arith.generate"
    _assert_clean(path)


#: the largest conversions (the 16-bit compressor tree has hundreds of blocks): nightly tier
LONG_LINT = ("cmp",)


@pytest.mark.parametrize("unit", [pytest.param(u, marks=nightly) if u in LONG_LINT else u
                                  for u in UNITS])
def test_other_widths_are_lint_clean(unit, tmp_path):
    # odd, minimum and maximum widths, signed, registered
    for text in (f"{unit}:width=5,signed=1", f"{unit}:width=16", f"{unit}:width=4,signed=1"):
        _assert_clean(convert(text, tmp_path, registered=True))
