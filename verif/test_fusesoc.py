"""FuseSoC packaging: every arithmetic core has its targets, and `fusesoc run` works from the
repository root - including a failed cocotb test failing the run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from approxnn.eda.sim import REPO_ROOT, gpi_users, tool_env

CORES = sorted((REPO_ROOT / "cores").rglob("*.core"))
TARGETS = {"default", "lint", "sim", "synth", "synth_nodsp"}


def fusesoc(*args, tmp_path: Path, timeout=600):
    env = tool_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["GPI_USERS"] = gpi_users()
    cmd = [sys.executable, "-m", "fusesoc.main", "run", "--build-root", str(tmp_path), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_every_core_has_the_targets():
    assert len(CORES) >= 10
    for core in CORES:
        data = yaml.safe_load(core.read_text())
        assert TARGETS <= set(data["targets"]), core
        for f in data["filesets"]["rtl"]["files"]:
            assert (core.parent / f).exists(), f"{core}: {f} missing"


@pytest.mark.sim
def test_fusesoc_sim_passes_and_a_failed_test_fails_the_run(tmp_path):
    if shutil.which("iverilog") is None:
        pytest.skip("no Icarus Verilog")
    ok = fusesoc("--target=sim", "approxnn:arith:trunc", tmp_path=tmp_path / "ok")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "TESTS=2 PASS=2 FAIL=0" in ok.stdout
    # Verify the t=6 RTL against the t=4 model: the scoreboard must fail and so must the run.
    bad = fusesoc("--target=sim", "approxnn:arith:trunc",
                  "--APPROXNN_UNIT=trunc:t=4,width=8,signed=1", tmp_path=tmp_path / "bad")
    assert bad.returncode != 0
    assert "FAIL ArithExhaustiveTest" in bad.stderr + bad.stdout


@pytest.mark.synth
def test_fusesoc_lint_and_synth_run(tmp_path):
    if shutil.which("yosys") is None:
        pytest.skip("no Yosys")
    lint = fusesoc("--target=lint", "approxnn:arith:mitchell", tmp_path=tmp_path / "lint")
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
    syn = fusesoc("--target=synth_nodsp", "approxnn:arith:mitchell", tmp_path=tmp_path / "syn")
    assert syn.returncode == 0, syn.stdout[-2000:] + syn.stderr[-2000:]
    assert list((tmp_path / "syn").rglob("*.json")), "no netlist written"


@pytest.mark.sim
@pytest.mark.parametrize("sim_core, tests, lint_core", [
    # the SbS layer unit's cocotb tests (the digits network end to end, T=2; registers; the
    # maxima with reset during traffic) and the update unit's Verilator lint with its waivers
    ("approxnn:sbs:layer", 3, "approxnn:sbs:update"),
    # the CNN engine's five pyuvm tests (registers, directed and constrained-random layers,
    # the digits network on three images, stress / extremes / reset) on its default
    # configuration, and its lint
    ("approxnn:cnn:engine", 5, "approxnn:cnn:engine"),
], ids=["sbs", "cnn"])
def test_fusesoc_accelerator_sim_and_lint(sim_core, tests, lint_core, tmp_path):
    """The accelerator cores through FuseSoC: the sim target in Icarus and a lint target."""
    if shutil.which("iverilog") is None:
        pytest.skip("no Icarus Verilog")
    sim = fusesoc("--target=sim", sim_core, tmp_path=tmp_path / "sim")
    assert sim.returncode == 0, sim.stdout[-3000:] + sim.stderr[-3000:]
    assert f"TESTS={tests} PASS={tests} FAIL=0" in sim.stdout
    lint = fusesoc("--target=lint", lint_core, tmp_path=tmp_path / "lint")
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]
