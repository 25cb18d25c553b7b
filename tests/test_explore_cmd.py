"""``approxnn explore``: argument errors and a tiny end-to-end run on digits."""

import csv
import json

import numpy as np
import pytest
from approxnn import cli, cnn_cmd

UNITS = {"exact:width=8,signed=1": 187, "trunc:t=6,width=8,signed=1": 142,
         "trunc:t=8,width=8,signed=1": 88}


def _costs(folder):
    folder.mkdir(parents=True, exist_ok=True)
    data = {"flow": cnn_cmd.SYNTH_FLOW,
            "units": {u: {"luts": v, "carry4": 0, "depth": 0, "muxf": 0}
                      for u, v in UNITS.items()}}
    (folder / "mul_costs.json").write_text(json.dumps(data))


TINY = ["--units", "trunc:t=8,trunc:t=6", "--images", "60", "--generations", "2", "--pop",
        "6", "--fault-trials", "1", "--stat-trials", "1", "--no-synth", "--energy", "lut"]


@pytest.mark.parametrize("args, msg", [
    (["--budget", "-1"], "--budget must be a non-negative"),
    (["--budget", "nan"], "--budget must be a non-negative"),
    (["--images", "0"], "--images must be at least 1"),
    (["--generations", "0"], "--generations must be at least 1"),
    (["--pop", "2"], "--pop must be at least 4"),
    (["--fault-trials", "-1"], "--fault-trials must be at least 0"),
    (["--fault-models", "flip,stuck"], "unknown model 'stuck'; valid: flip, sa0, sa1"),
    (["--units", "exact,nosuchmul"], "unknown multiplier 'nosuchmul'"),
    (["--units", "drum:k=4", "--no-synth"], "no LUT figure for"),
    (["--energy-products", "1"], "--energy-products must be at least 2"),
])
def test_argument_errors_exit_2(tmp_path, capsys, args, msg):
    out = tmp_path / "out"
    rc = cli.main(["explore", "digits", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and err.startswith("approxnn: error:") and err.count("\n") == 1, err
    assert not out.exists() or not any(p.suffix in (".md", ".csv", ".png")
                                       for p in out.iterdir())


def test_unknown_network_and_bad_folder(tmp_path, capsys):
    assert cli.main(["explore", "lenet5", "--out", str(tmp_path)]) == 2
    assert "unknown network 'lenet5'" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["explore", "digits", "--out", str(f / "sub")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_tiny_explore_run_and_cache(tmp_path, capsys, monkeypatch):
    _costs(tmp_path)
    rc = cli.main(["explore", "digits", *TINY, "--out", str(tmp_path)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "[sensitivity 6/6]" in cap.err and "[gen 2/2]" in cap.err
    for name in ("digits_explore.md", "digits_assignments.csv", "digits_sensitivity.csv",
                 "digits_faults.csv", "digits_pareto.png", "digits_sensitivity.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    assert (tmp_path / "digits_pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "digits_explore.md").read_text()
    assert "## Pareto front" in md and "Spearman" in md and "## Fault campaigns" in md
    assert "Hold-out check on the 300 test images the search did not use" in md
    rows = list(csv.DictReader((tmp_path / "digits_assignments.csv").open()))
    uniform = {r["units"].split(";")[0]: r for r in rows if r["uniform"] == "True"}
    assert set(uniform) == set(UNITS)  # every uniform assignment evaluated
    assert float(uniform["exact:width=8,signed=1"]["loss_pp"]) == 0
    # the accuracies are the golden model's, on the first 60 test images
    from refmodels.cnn import hetero
    from refmodels.cnn.net import load_dataset, load_network

    net = load_network("digits")
    _, _, x, y = load_dataset("digits")
    xq = net.quantize_input(x[:60])
    for r in rows[:5]:
        units = r["units"].split(";")
        acc = float((hetero.forward_int8_layers(net, xq, units).argmax(axis=1) == y[:60]).mean())
        assert float(r["acc"]) == pytest.approx(acc, abs=1e-12)
    # the engine of the chosen per-layer assignment as a FuseSoC core (generator request)
    _check_engine_core(tmp_path / "digits_engine.core", md)
    # a re-run takes every sensitivity, campaign and accuracy from the cache
    from refmodels.cnn import resilience

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    real_trial = resilience.fault_trial
    for name in ("measured_drop", "predict"):
        monkeypatch.setattr(resilience.Analysis, name, boom)
    monkeypatch.setattr(resilience, "fault_campaign", boom)
    monkeypatch.setattr(resilience, "fault_trial", boom)
    monkeypatch.setattr(resilience, "statistical_campaign", boom)
    before = (tmp_path / "digits_sensitivity.csv").read_text()
    assert cli.main(["explore", "digits", *TINY, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "digits_sensitivity.csv").read_text() == before
    cache = json.loads((tmp_path / "digits_cache.json").read_text())
    assert any("|fault|conv1|weights|flip|0|t0" in k for k in cache)
    assert np.isfinite(len(cache))
    # more fault trials: only the new trial of each (layer, site, model) is computed, and the
    # campaign figures are those of a fresh 2-trial campaign
    calls = []

    def count(an, *a, **k):
        calls.append(a)
        return real_trial(an, *a, **k)

    monkeypatch.setattr(resilience, "fault_trial", count)
    more = [a if a != "1" or TINY[i - 1] != "--fault-trials" else "2"
            for i, a in enumerate(TINY)]
    assert cli.main(["explore", "digits", *more, "--out", str(tmp_path)]) == 0
    assert sorted(calls) == sorted((layer, site, "flip", 1, 0) for layer in ("conv1", "conv2", "fc")
                                   for site in resilience.SITES)
    an = resilience.Analysis(net, x[:60], y[:60])
    fresh = resilience.fault_summary(
        an, "conv2", "acc", "flip", [real_trial(an, "conv2", "acc", "flip", t, 0)
                                     for t in range(2)], 0)
    with (tmp_path / "digits_faults.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if (r["layer"], r["site"]) == ("conv2", "acc"))
    assert int(row["trials"]) == 2
    assert float(row["sdc"]) == pytest.approx(fresh["sdc"], abs=1e-12)
    assert float(row["acc"]) == pytest.approx(fresh["acc"], abs=1e-12)
    # --strict: the chosen assignments meet the budget with the upper end of their interval
    assert cli.main(["explore", "digits", *TINY, "--strict", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "digits_explore.md").read_text()
    assert "for the upper end of its paired 95 % interval" in md
    for line in md.splitlines():
        if line.startswith(("| best uniform", "| best per layer")):
            hi = float(line.rstrip(" |").split("..")[-1])
            assert hi <= 0.5


def _check_engine_core(path, md):
    import yaml
    from approxnn.report import short_label

    from cores.cnn.engine.engine import build

    core = yaml.safe_load(path.read_text())
    req = core["generate"]["engine"]["parameters"]
    assert req["core"] == "cnn:engine" and req["lanes"] == 8
    params = {k: v for k, v in req.items() if k != "core"}
    assert core["targets"]["default"]["toplevel"] == build(**params)[1]
    sim = core["targets"]["sim"]
    plus = dict(p.split("=", 1) for p in sim["parameters"])
    assert plus["APPROXNN_NETWORK"] == "digits" and plus["APPROXNN_FAIL_EXIT"] == "true"
    if isinstance(req["mul"], list):  # several units: each layer's MODE.MUL
        assert sim["flow_options"]["cocotb_module"] == "verif.cnn.cocotb_engine_hetero"
        units = [req["mul"][int(s)] for s in plus["APPROXNN_HETERO_LAYERS"].split(",")]
        assert sorted(set(units)) == sorted(req["mul"])
    else:
        units = [req["mul"]] * 3
    line = next(ln for ln in md.splitlines() if ln.startswith("| best per layer"))
    names = ["exact" if u == "int8" else short_label(u) for u in units]
    assert f"| {' / '.join(names)} |" in line, line
    assert "## Hardware of the chosen assignment" in md and path.name in md


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(tmp_path, capsys):
    # a local cluster of one worker process: the sensitivity, fault and search results equal
    # those computed in this process (every job is seeded on its own)
    pytest.importorskip("distributed")
    args = ["explore", "digits", "--units", "trunc:t=8", "--images", "60", "--generations",
            "1", "--pop", "4", "--fault-trials", "1", "--stat-trials", "0", "--no-synth",
            "--energy", "lut"]
    for name, extra in (("serial", []), ("dask", ["--dask", "--workers", "1"])):
        _costs(tmp_path / name)
        assert cli.main([*args, "--out", str(tmp_path / name), *extra]) == 0
    assert "dask: 1 workers" in capsys.readouterr().err
    for f in ("digits_sensitivity.csv", "digits_faults.csv", "digits_assignments.csv"):
        assert (tmp_path / "serial" / f).read_text() == (tmp_path / "dask" / f).read_text()
    assert cli.main([*args, "--workers", "2", "--out", str(tmp_path)]) == 2
    assert "--workers is only valid with --dask" in capsys.readouterr().err


@pytest.mark.slow
def test_local_cluster_workers_keep_glibc_default_trimming(monkeypatch):
    # Dask's nannies would put MALLOC_TRIM_THRESHOLD_=65536 into every worker (it doubled the
    # explore jobs' CPU time, refmodels/cnn/README.md); the explore cluster leaves it out,
    # while Dask's default environment has it
    pytest.importorskip("distributed")
    import os

    from approxnn.explore_cmd import local_cluster
    from distributed import Client

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    for default_env, want in ((False, None), (True, "65536")):
        with local_cluster(1, default_env) as cl, Client(cl) as c:
            got = c.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(got.values()) == [want]
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # the nanny sets it here


def test_toggle_energy_objective_from_the_cache(tmp_path, capsys):
    # switching-activity figures (fanout-weighted toggles per product, per unit and layer) as
    # the explore cache holds them: the energy proxy of an assignment is sum MACs x E over
    # the all-exact sum, a third NSGA-II objective, reported with its own front and saving
    from approxnn.explore_cmd import _code_id, _net_id

    from refmodels.cnn import hetero
    from refmodels.cnn.net import load_network

    _costs(tmp_path)
    net = load_network("digits")
    layers = hetero.compute_layers(net)
    macs = hetero.layer_macs(net)
    e = {"exact:width=8,signed=1": [100.0, 120.0, 90.0],
         "trunc:t=6,width=8,signed=1": [70.0, 60.0, 80.0],
         "trunc:t=8,width=8,signed=1": [30.0, 50.0, 20.0]}
    args = ["explore", "digits", "--units", "trunc:t=8,trunc:t=6", "--images", "60",
            "--generations", "1", "--pop", "4", "--fault-trials", "0", "--stat-trials", "0",
            "--no-synth", "--out", str(tmp_path)]
    assert cli.main(args) == 2  # no figures cached and no simulation allowed
    err = capsys.readouterr().err
    assert "no energy figure for exact:width=8,signed=1, trunc:t=8" in err and "--energy lut" in err
    assert not (tmp_path / "digits_explore.md").exists()
    pre = f"{_net_id(net)}|n60|c{_code_id()}|energy"
    (tmp_path / "digits_cache.json").write_text(json.dumps(
        {f"{pre}|{u}|{k}|0|2048": v[i] for u, v in e.items() for i, k in enumerate(layers)}))
    assert cli.main(args) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "digits_assignments.csv").open()))
    ex = sum(macs[k] * e["exact:width=8,signed=1"][i] for i, k in enumerate(layers))
    for r in rows:
        units = r["units"].split(";")
        pairs = enumerate(zip(units, layers, strict=True))
        want = sum(macs[k] * e[u][i] for i, (u, k) in pairs) / ex
        assert float(r["energy_proxy"]) == pytest.approx(want, rel=1e-9)
    md = (tmp_path / "digits_explore.md").read_text()
    assert "## Pareto front (energy proxy vs loss)" in md
    assert "not a power figure" in md and "## Switching activity per unit and layer" in md


def test_interrupted_run_keeps_its_results_and_resumes(tmp_path, capsys, monkeypatch):
    # the cache is written as jobs finish: a run interrupted in the sensitivity stage keeps
    # the jobs done, and the next run computes only the others (and gives the same table)
    from refmodels.cnn import resilience

    _costs(tmp_path)
    args = ["explore", "digits", "--units", "trunc:t=8,trunc:t=6", "--images", "40",
            "--generations", "1", "--pop", "4", "--fault-trials", "0", "--stat-trials", "0",
            "--no-synth", "--energy", "lut"]
    real = resilience.Analysis.measured_drop
    calls = []

    def flaky(self, unit, layer):
        calls.append((unit, layer))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, unit, layer)

    monkeypatch.setattr(resilience.Analysis, "measured_drop", flaky)
    assert cli.main([*args, "--out", str(tmp_path)]) == 130
    cache = json.loads((tmp_path / "digits_cache.json").read_text())
    assert sum("|sens|" in k for k in cache) == 3
    calls.clear()
    assert cli.main([*args, "--out", str(tmp_path)]) == 0
    assert len(calls) == 3  # 6 unit-layer pairs, 3 from the cache
    _costs(tmp_path / "fresh")
    monkeypatch.setattr(resilience.Analysis, "measured_drop", real)
    assert cli.main([*args, "--out", str(tmp_path / "fresh")]) == 0
    assert (tmp_path / "fresh" / "digits_sensitivity.csv").read_text() == \
        (tmp_path / "digits_sensitivity.csv").read_text()
