"""SbS resilience in the golden model (per-layer formats, approximate spike generator, h
precision), the per-layer format choice and ``approxnn explore sbs``."""

import csv
import json
import os

import numpy as np
import pytest
from approxnn import cli
from approxnn.sbs_explore import COST_FLOW, unit_config

from refmodels.sbs import resilience as rs
from refmodels.sbs.evaluate import heldout_split, load_named
from refmodels.sbs.fast import HAVE_NUMBA
from refmodels.sbs.formats import HFixed
from refmodels.sbs.model import run
from refmodels.sbs.rng import select_fixed


def test_approximate_selection_is_the_exact_one_on_reduced_inputs():
    # u_bits keeps the top bits of the word, h_shift narrows every h in the running sum:
    # the same as the exact selection on the masked word and the shifted latents
    rng = np.random.default_rng(0)
    h = rng.integers(0, 1 << 20, size=(50, 7))
    h[3] = 0
    u = rng.integers(0, 1 << 32, size=50, dtype=np.int64)
    got = select_fixed(h, u, u_bits=5, h_shift=6)
    want = select_fixed(h >> 6, u & 0xF8000000)
    assert np.array_equal(got, want) and got[3] == -1
    assert not np.array_equal(got, select_fixed(h, u))  # it does change spikes
    with pytest.raises(ValueError, match="u_bits must be 1..32"):
        select_fixed(h, u, u_bits=0)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_per_layer_formats_and_spike_approximation_fast_equals_numpy():
    # the compiled engine and the numpy model give the same bits with one format per layer
    # and an approximate spike generator per layer; one format per layer given as a list is
    # the uniform run when all entries are equal
    net, ds = load_named("digits")
    x, _ = heldout_split(ds)
    fm, sa = ["log3", "e4m1", "e3m1"], [(12, 2), (32, 0), (7, 5)]
    kw = dict(weights=fm, h=HFixed(), spike_approx=sa, return_all=True)
    a = run(net, x[:3], 12, impl="fast", **kw)[1]
    b = run(net, x[:3], 12, impl="vec", **kw)[1]
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    c = run(net, x[:3], 12, weights=["log4"] * 3, h=HFixed(), return_all=True)[1]
    d = run(net, x[:3], 12, weights="log4", h=HFixed(), return_all=True)[1]
    assert all(np.array_equal(p, q) for p, q in zip(c, d, strict=True))
    e = run(net, x[:3], 12, weights=fm, h=HFixed(), return_all=True)[1]
    assert not np.array_equal(a[-1], e[-1]) or not np.array_equal(a[0], e[0])
    with pytest.raises(ValueError, match="one weight format per layer"):
        run(net, x[:1], 2, weights=["e4m1"], h=HFixed())
    with pytest.raises(ValueError, match="needs the fixed-point h"):
        run(net, x[:1], 2, weights="e4m1", spike_approx=[(8, 0)] * 3)


def test_spearman_and_exact_formats():
    assert rs.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rs.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rs.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)
    net, _ = load_named("digits")
    ex = rs.exact_formats(net, rs.RTL_FORMATS)
    assert ex[1] == list(rs.RTL_FORMATS)  # pool weights 1/4: every format holds them
    assert "e4m1" not in ex[0] and "log2" not in ex[2]


def _costs(folder, net, luts):
    from cores.sbs.update.update import module_name

    cfg = unit_config(net)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sbs_costs.json").write_text(json.dumps({"flow": COST_FLOW, "units": {
        module_name(cfg[0], cfg[1], f, cfg[2], cfg[3]): {"luts": v, "ffs": 1, "dsps": 2,
                                                          "brams": 3, "carry4": 0}
        for f, v in luts.items()}}))


def test_explore_sbs_tiny_run_and_cache(tmp_path, capsys, monkeypatch):
    net, _ = load_named("digits")
    luts = {"e4m1": 300, "log4": 250, "log2": 100}
    _costs(tmp_path, net, luts)
    args = ["explore", "sbs", "digits", "--images", "40", "--T", "40", "--formats",
            "e4m1,log4,log2", "--u-bits", "4", "--h-shift", "12", "--frac-bits", "12",
            "--no-synth", "--budget", "3", "--out", str(tmp_path)]
    assert cli.main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "[formats 4/4]" in err and "Spearman" in err
    md = (tmp_path / "digits_sbs_explore.md").read_text()
    assert "## Result at the budget" in md and "Spearman rank correlation" in md
    rows = list(csv.DictReader((tmp_path / "digits_sbs_assignments.csv").open()))
    uni = {r["formats"].split(";")[0]: r for r in rows if r["uniform"] == "True"}
    assert set(uni) == set(luts) and float(uni["e4m1"]["loss_pp"]) == 0
    # measured accuracies are the golden model's
    x, y = heldout_split("digits")
    for r in rows[:3]:
        fm = r["formats"].split(";")
        assert int(r["cost"]) == sum(luts[f] for f in fm)
        h = run(net, x[:40], 40, seeds=0, weights=fm, h=HFixed())
        assert float(r["acc"]) == pytest.approx(float(np.mean(h.argmax(1) == y[:40])))
    chosen = [r for r in rows if float(r["loss_pp"]) <= 3]
    assert chosen and "**LUT saving at <= 3.0 pp" in md
    # a re-run measures nothing again
    monkeypatch.setattr(rs, "run", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("recomputed although cached")))
    assert cli.main(args) == 0
    with pytest.raises(AssertionError):  # the cache is per T
        cli.main([*args[:-2], "--T", "41", "--out", str(tmp_path)])


@pytest.mark.parametrize("args, msg", [
    (["sbs"], "give a network"),
    (["sbs", "digits", "--formats", "e5m1"], "2..4 exponent bits"),
    (["sbs", "digits", "--u-bits", "0"], "--u-bits: 0 is outside 1..31"),
    (["sbs", "digits", "--T", "0"], "--T must be at least 1"),
    (["digits", "extra"], "unexpected argument 'extra'"),
])
def test_explore_sbs_argument_errors(tmp_path, capsys, args, msg):
    rc = cli.main(["explore", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.skipif(not os.environ.get("APPROXNN_NIGHTLY"),
                    reason="nightly tier (a layer unit build and run per layer, minutes): "
                           "set APPROXNN_NIGHTLY=1")
def test_mixed_formats_on_the_rtl_bit_exact(tmp_path):
    # a per-layer configuration through the layer unit RTL, each layer on the build of its
    # format; the cocotb test compares every layer's h with the golden model bit for bit
    from approxnn.sbs_explore import verify_rtl

    net, _ = load_named("digits")
    rows = verify_rtl("digits", net, ["log4", "e3m1", "e4m1"], unit_config(net), images=1,
                      T=4, build_root=tmp_path)
    assert [r["format"] for r in rows] == ["log4", "e3m1", "e4m1"]
    for r in rows:
        assert r["passed"] and r["equal"], r["messages"]
        assert r["updates"] > 0
