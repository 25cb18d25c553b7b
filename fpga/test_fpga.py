"""The board targets under fpga/, checked without Vivado: the committed folders equal a fresh
generation; each block-design script runs in tclsh against the Vivado stub and is consistent
with the Verilog tops; the checks catch plausible errors; `fusesoc run --setup` writes the
Vivado project."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cores.zynq import generate as zgen
from fpga import bdcheck, generate
from fpga.boards import BOARDS, SYSTEMS
from verif.common.tiers import nightly

FOLDERS = [generate.FPGA_DIR / generate.folder(s, b) for s, b in generate.targets()]
needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="needs tclsh (tcl)")


def test_committed_board_targets_are_up_to_date(tmp_path):
    generate.generate(tmp_path)
    problems = generate.compare(tmp_path)
    assert not problems, "regenerate with `python -m fpga.generate`:\n" + "\n".join(problems)


def test_every_system_is_on_both_boards():
    assert {"pynq_z2", "zedboard"} <= set(BOARDS)
    assert len(FOLDERS) == len(SYSTEMS) * len(BOARDS) >= 2
    assert BOARDS["pynq_z2"].part == "xc7z020clg400-1"
    assert BOARDS["zedboard"].part == "xc7z020clg484-1"


@needs_tclsh
@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_block_design_is_consistent(folder):
    assert bdcheck.check_folder(folder) == []


def _mutant(tmp_path, old, new, board="pynq_z2"):
    src = generate.FPGA_DIR / f"cnn_{board}" / "approxnn_cnn_bd.tcl"
    text = src.read_text()
    assert old in text, old
    dst = tmp_path / src.name
    dst.write_text(text.replace(old, new, 1))
    return bdcheck.check(bdcheck.run_stub(dst), "")


MUTANTS = [
    # a stream interface the top does not have
    ("[get_bd_intf_pins engine/S_AXIS_X]", "[get_bd_intf_pins engine/S_AXIS_Q]",
     "engine/S_AXIS_Q: cnn_engine_axi has no interface S_AXIS_Q"),
    # the DMA stream narrower than the top's TDATA
    ("CONFIG.c_m_axis_mm2s_tdata_width {32}", "CONFIG.c_m_axis_mm2s_tdata_width {16}",
     "dma_w c_m_axis_mm2s_tdata_width = 16, engine/S_AXIS_W TDATA is 32 bits"),
    # the accelerator's interrupt left out of the concat
    ("connect_bd_net -net irq_0 [get_bd_pins engine/irq] [get_bd_pins irq_concat/In0] ",
     "connect_bd_net -net irq_0 ", "engine/irq: port not connected"),
    # an S2MM channel used on a DMA without it
    ("CONFIG.c_include_s2mm {1}", "CONFIG.c_include_s2mm {0}",
     "dma_xy/S_AXIS_S2MM: no such interface on dma_xy"),
    # overlapping control windows
    ("-offset 0x40400000", "-offset 0x40000000", "address overlap"),
    # a reset from the wrong source
    ("[get_bd_pins rst_ps7/peripheral_aresetn] [get_bd_pins engine/aresetn]",
     "[get_bd_pins rst_ps7/peripheral_aresetn]", "engine/aresetn: port not connected"),
    # a pin the top does not have
    ("[get_bd_pins engine/aclk]", "[get_bd_pins engine/clk]", "cnn_engine_axi has no port clk"),
    # a concat narrower than the interrupts
    ("CONFIG.NUM_PORTS {4}", "CONFIG.NUM_PORTS {3}", "irq_concat/In3: no such pin"),
]


@needs_tclsh
@pytest.mark.parametrize("old, new, message", MUTANTS, ids=[m[2][:30] for m in MUTANTS])
def test_block_design_errors_are_caught(tmp_path, old, new, message):
    problems = _mutant(tmp_path, old, new)
    assert any(message in p for p in problems), problems


@needs_tclsh
def test_unknown_vivado_command_fails_the_run(tmp_path):
    with pytest.raises(RuntimeError, match="not in the stub: create_bd_frobnicator"):
        _mutant(tmp_path, "validate_bd_design\n", "create_bd_frobnicator x\n")


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_fusesoc_setup_writes_the_vivado_project(folder, tmp_path):
    core = f"approxnn:fpga:{folder.name}"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run([sys.executable, "-m", "fusesoc.main", "run", "--build-root",
                           str(tmp_path), "--setup", "--target=vivado", core],
                          cwd=generate.REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    system, board = next((s, b) for s, b in generate.targets()
                         if generate.folder(s, b) == folder.name)
    fv = generate.MANIFESTS[system.key].version  # the board core's version (its manifest)
    work = tmp_path / f"approxnn_fpga_{folder.name}_{fv}" / "vivado"
    tcl = (work / f"approxnn_fpga_{folder.name}_{fv}.tcl").read_text()
    design = generate.overlay_name(system)
    assert f"set_property part {board.part} [current_project]" in tcl
    assert ("board_part" in tcl) == bool(board.board_part)
    for a in system.accels:  # the top and its core, from the accelerator's core
        zv = zgen.MANIFESTS[a.top].version
        for f in zgen.files_of(a.top):
            if f.endswith(".v"):
                assert f"read_verilog {{src/approxnn_zynq_{a.top}_{zv}/{f[len(a.top) + 1:]}}}" \
                    in tcl, f
    assert f"source {{src/approxnn_fpga_{folder.name}_{fv}/{design}_bd.tcl}}" in tcl
    assert f"read_xdc {{src/approxnn_fpga_{folder.name}_{fv}/{design}.xdc}}" in tcl
    assert f"set_property top {design}_wrapper [current_fileset]" in tcl
    # the hook the block design names is copied beside it
    assert list(work.glob("src/*/pynq_outputs.tcl"))
    assert (work / "Makefile").exists()


def test_committed_utilisation_fits_and_matches_its_table():
    import json  # noqa: PLC0415

    from fpga import utilisation  # noqa: PLC0415

    results = json.loads((generate.FPGA_DIR / "utilisation.json").read_text())
    assert {r["system"] for r in results} == set(SYSTEMS)
    assert (generate.FPGA_DIR / "utilisation.md").read_text() == utilisation.table(results)
    for r in results:
        u = r["utilisation"]
        assert u["LUT"] <= utilisation.LIMITS["LUT"]
        assert u["BRAM36"] <= utilisation.LIMITS["BRAM36"]
        assert r["fits"] and r["total"]["DSP48E1"] > 0 and r["est_mhz"] > 0
        # the estimate is the model applied to the slowest path of the system's accelerators
        assert r["est_ns"] == max(round(utilisation.path_ns(a["path"]), 2)
                                  for a in r["accels"])


@pytest.mark.slow
@pytest.mark.synth
@nightly  # minutes of Yosys
def test_yosys_utilisation_fits(tmp_path):
    """A fresh Yosys run of every system gives the committed figures, and they fit."""
    import json  # noqa: PLC0415

    from fpga import utilisation  # noqa: PLC0415

    assert utilisation.main(["--out", str(tmp_path)]) == 0
    fresh = json.loads((tmp_path / "utilisation.json").read_text())
    committed = json.loads((generate.FPGA_DIR / "utilisation.json").read_text())
    for f, c in zip(fresh, committed, strict=True):
        assert f["total"] == c["total"], \
            f"{f['system']}: regenerate with python -m fpga.utilisation"
