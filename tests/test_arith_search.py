"""LUT levels and clock estimate, Pareto fronts and the depth-limited choice, the structure
search of the ctrunc family (scripts/approxnn: eda/synth.py, report.py, search.py)."""

import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest
from approxnn import report, search
from approxnn.eda import synth

from refmodels.arith import UnitSpec
from verif.common.tiers import nightly


def test_path_figures_lut_levels_and_clock():
    # a -> LUT2 -> CARRY4 (S0 .. CO3) -> LUT1 -> y[1]; CARRY4 O0 -> y[0]
    cells = {
        "l2": {"type": "LUT2", "port_directions": {"I0": "input", "I1": "input",
                                                    "O": "output"},
               "connections": {"I0": [2], "I1": [3], "O": [4]}},
        "c4": {"type": "CARRY4",
               "port_directions": {"CI": "input", "CYINIT": "input", "DI": "input",
                                   "S": "input", "O": "output", "CO": "output"},
               "connections": {"CI": ["0"], "CYINIT": ["0"], "DI": [2, "0", "0", "0"],
                               "S": [4, "0", "0", "0"], "O": [5, 6, 7, 8],
                               "CO": [9, 10, 11, 12]}},
        "l1": {"type": "LUT1", "port_directions": {"I0": "input", "O": "output"},
               "connections": {"I0": [12], "O": [13]}},
    }
    net = {"modules": {"m": {"ports": {"a": {"direction": "input", "bits": [2]},
                                       "b": {"direction": "input", "bits": [3]},
                                       "y": {"direction": "output", "bits": [5, 13]}},
                             "cells": cells}}}
    levels, clock = synth.path_figures(net, "m")
    assert levels == 2
    lut = synth.T_NET + synth.T_LUT
    carry = synth.T_NET + synth.T_CARRY_IN + 3 * synth.T_CARRY_STEP  # S0 to CO3
    expected = synth.T_CLK_TO_OUT + lut + carry + lut + synth.T_NET + synth.T_SETUP
    assert clock == pytest.approx(expected, abs=1e-3)
    # a longer chain is slower but has no more LUT levels
    cells["c4"]["connections"]["S"] = ["0", "0", "0", 4]
    levels2, clock2 = synth.path_figures(net, "m")
    assert levels2 == 2 and clock2 < clock
    with pytest.raises(synth.YosysError):
        synth.path_figures(net, "other")


def _row(unit, luts, mre, mae, depth, signed=False, kind="mul"):
    return {"unit": unit, "kind": kind, "width": 8, "signed": signed, "luts": luts,
            "mre_pct": mre, "mae_pct": mae, "depth": depth, "lut_levels": 3, "clock_ns": 5.0}


ROWS = [
    _row("exact:width=8,signed=0", 114, 0.0, 0.0, 9),
    _row("ctrunc:t=7,width=8,signed=0", 58, 1.98, 0.15, 11),
    _row("ctrunc:t=7,g=4,width=8,signed=0", 70, 1.98, 0.15, 8),
    _row("trunc:t=6,width=8,signed=0", 71, 2.64, 0.12, 24),
    _row("drum:width=8,signed=0", 117, 1.3, 0.35, 12),
    _row("exact:width=8,signed=1", 166, 0.0, 0.0, 9, signed=True),
    _row("loa:width=8,signed=0", 9, 0.5, 0.5, 3, kind="add"),
]


def test_choose_under_limits():
    pick = report.choose(ROWS, max_mred=2.0)
    assert [r["unit"] for r in pick][:2] == ["ctrunc:t=7,width=8,signed=0",
                                             "ctrunc:t=7,g=4,width=8,signed=0"]
    assert report.choose(ROWS, max_mred=2.0, max_depth=9)[0]["luts"] == 70
    assert report.choose(ROWS, max_mae=0.13)[0]["unit"] == "trunc:t=6,width=8,signed=0"
    assert report.choose(ROWS, max_mred=0.5, max_depth=5) == []
    assert [r["unit"] for r in report.choose(ROWS, signed=True)] == ["exact:width=8,signed=1"]


def test_fronts_markdown_names_fronts_and_target():
    text = "\n".join(report.fronts_markdown(ROWS))
    assert "Pareto front, 8-bit unsigned multipliers: MRED against LUTs" in text
    assert "Pareto front, 8-bit unsigned multipliers: MAE against LUTs" in text
    assert "Pareto front, 8-bit signed multipliers: MRED against LUTs" in text
    mred_front = text.split("MRED against LUTs")[1].split("## ")[0]
    assert "trunc:t=6" not in mred_front and "ctrunc:t=7,width" in mred_front
    mae_front = text.split("MAE against LUTs")[1].split("## ")[0]
    assert "trunc:t=6" in mae_front  # lower MAE than ctrunc for fewer LUTs than exact
    assert "any depth: `ctrunc:t=7,width=8,signed=0`, 58 LUT (50.9% of exact, meets" in text
    assert "depth <= 9 (exact's): `ctrunc:t=7,g=4,width=8,signed=0`, 70 LUT (61.4% of exact, " \
           "misses" in text


def test_cli_choose(tmp_path):
    path = tmp_path / "r.csv"
    rows = [dict(r, ep_pct=0, wce_pct=0) for r in ROWS]
    path.write_text(report.to_csv(rows))
    proc = subprocess.run([sys.executable, "-m", "approxnn", "choose", "--csv", path,
                           "--max-mred", "2", "--max-depth", "9"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ctrunc")]
    assert lines and lines[0].startswith("| ctrunc:t=7,g=4")
    proc = subprocess.run([sys.executable, "-m", "approxnn", "choose", "--csv", path,
                           "--max-mred", "0.1", "--max-depth", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no unit" in proc.stderr


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("metric", ["mred", "mae"])
def test_best_constant_is_the_brute_force_optimum(signed, metric):
    from refmodels.arith.multipliers import ctrunc

    a, b = search._pairs(4, signed)
    exact = a * b
    nz = exact != 0
    for t, k in ((3, 1), (5, 2), (6, 0)):
        def err(c, t=t, k=k):
            d = np.abs(ctrunc(a, b, 4, t, k, c, 1, signed) - exact)
            return np.mean(d[nz] / np.abs(exact[nz])) if metric == "mred" else np.mean(d)

        errs = [err(c) for c in range(1 << (t - k))]
        c = search.best_constant(4, signed, t, k, metric)
        assert err(c) == pytest.approx(min(errs), rel=1e-12)
        UnitSpec("ctrunc", width=4, signed=int(signed), t=t, k=k, c=c)  # valid


@pytest.mark.sim
@pytest.mark.synth
@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs yosys")
def test_cli_search_small_space(tmp_path):
    out = tmp_path / "s.csv"
    cmd = [sys.executable, "-m", "approxnn", "search", "--width", "4", "--t", "3",
           "--k", "1", "--g", "1,2", "--jobs", "1", "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(int(r["luts"]) > 0 for r in rows)
    assert "on the front" in proc.stdout
    # same netlists again: every cost comes from the cache
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    with open(out) as fh:
        assert [r["luts"] for r in csv.DictReader(fh)] == [r["luts"] for r in rows]


@pytest.mark.parametrize("signed", [False, True])
def test_bam_candidates_drop_rows_with_their_best_constant(signed):
    from refmodels.arith.multipliers import bam

    units = search.candidates(4, signed, [3, 5], [1], [2], "mae", family="bam", hs=[0, 2, 4])
    # h=4 would drop every row of a 4-bit array: not offered
    assert len(units) == 4 and all(u.startswith("bam:") for u in units)
    assert sorted({u.split(",")[1] for u in units}) == ["h=0", "h=2"]
    a, b = search._pairs(4, signed)
    exact = a * b
    for u in units:
        from refmodels.arith import parse_unit

        spec = parse_unit(u)
        p = spec.params
        errs = [np.mean(np.abs(bam(a, b, 4, p["t"], p["h"], p["k"], c, 1, signed) - exact))
                for c in range(1 << (p["t"] - p["k"]))]
        assert errs[p["c"]] == pytest.approx(min(errs), rel=1e-12)
    # the ctrunc family ignores h; an unknown family is refused
    plain = search.candidates(4, signed, [3], [1], [2], hs=[0, 2])
    assert len(plain) == 1 and plain[0].startswith("ctrunc:t=3,k=1,")
    with pytest.raises(ValueError, match="unknown family"):
        search.candidates(4, signed, [3], [1], [2], family="wallace")


@pytest.mark.parametrize("signed", [False, True])
def test_tern_and_cmp_candidates(signed):
    from refmodels.arith import parse_unit
    from refmodels.arith.multipliers import cmp

    # tern: bam's space without groups (the g list is ignored, one unit per t, h, k)
    tern = search.candidates(4, signed, [3, 5], [1], [2, 4], family="tern", hs=[0, 2])
    assert len(tern) == 4 and all(u.startswith("tern:") and ",g=" not in u for u in tern)
    # cmp: one unit per t, k and distinct l (clipped to 0..2*width), no h, no g; the constant
    # is the best one with the approximate compressors in place
    units = search.candidates(4, signed, [3], [1], [2, 4], "mae", family="cmp", hs=[0, 2],
                              ls=[0, 6, 6, 99])
    assert [parse_unit(u).params["l"] for u in units] == [0, 6, 8]
    a, b = search._pairs(4, signed)
    for u in units:
        p = parse_unit(u).params
        errs = [np.mean(np.abs(cmp(a, b, 4, p["t"], p["k"], c, p["l"], signed) - a * b))
                for c in range(1 << (p["t"] - p["k"]))]
        assert errs[p["c"]] == pytest.approx(min(errs), rel=1e-12)


@pytest.mark.sim
@pytest.mark.synth
@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs yosys")
def test_bam_meets_the_lut_and_depth_target(tmp_path):
    """The 60 % unit: MRED <= 2 % (exhaustive, golden model), at most 60 % of the LUTs of the
    exact ``a*b`` and no deeper, both synthesised side by side in the same Yosys flow."""
    from cores.arith.common import convert
    from refmodels.arith import error_metrics, parse_unit

    exact_v = tmp_path / "exact_mul.v"
    exact_v.write_text("module exact_mul(input [7:0] a, input [7:0] b, output [15:0] y);\n"
                       "assign y = a * b;\nendmodule\n")
    exact = synth.synthesize([exact_v], "exact_mul", workdir=tmp_path / "ex")
    spec = parse_unit("bam:t=7,k=2,c=20,g=4")
    unit = synth.synthesize([convert(spec, tmp_path / "rtl")], spec.module_name,
                            workdir=tmp_path / "bam")
    assert error_metrics(spec)["mre_pct"] <= 2.0
    assert unit.luts <= 0.6 * exact.luts, (unit.luts, exact.luts)
    assert unit.depth <= exact.depth, (unit.depth, exact.depth)


@pytest.mark.sim
@pytest.mark.synth
@nightly
@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs yosys")
@pytest.mark.parametrize("unit", ["tern:t=4,k=2,c=2,signed=1", "tern:t=7,k=2,c=20"])
def test_tern_meets_the_lut_and_depth_target(unit, tmp_path):
    """The 60 % target met by ternary-adder rows, signed (against the signed ``a*b``) and
    unsigned: MRED <= 2 %, at most 60 % of the exact LUTs, no deeper (nightly: two Yosys runs
    each)."""
    from cores.arith.common import convert
    from refmodels.arith import error_metrics, parse_unit

    spec = parse_unit(unit)
    sig = "signed " if spec.signed else ""
    exact_v = tmp_path / "exact_mul.v"
    exact_v.write_text(f"module exact_mul(input {sig}[7:0] a, input {sig}[7:0] b, "
                       f"output {sig}[15:0] y);\nassign y = a * b;\nendmodule\n")
    exact = synth.synthesize([exact_v], "exact_mul", workdir=tmp_path / "ex")
    got = synth.synthesize([convert(spec, tmp_path / "rtl")], spec.module_name,
                           workdir=tmp_path / "tern")
    assert error_metrics(spec)["mre_pct"] <= 2.0
    assert got.luts <= 0.6 * exact.luts, (got.luts, exact.luts)
    assert got.depth <= exact.depth, (got.depth, exact.depth)
