"""The wheel works outside the repository: built from the checkout, installed into a fresh
folder, and used from another working directory with nothing of the checkout on the path.

The third-party dependencies come from the project's virtual environment; every module of the
project itself is asserted to come from the installed wheel (its RTL, core files, register
descriptions and trained networks are package data).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: the block manifests under cores/ (CNN, SbS, arithmetic units, Vivado-ready tops)
N_CORE_MANIFESTS = len([*REPO.glob("cores/*/*/manifest.toml"),
                        *REPO.glob("cores/*/*/*.manifest.toml")])
pytestmark = pytest.mark.slow


def _snapshot(dest: Path) -> Path:
    """A copy of the checkout's tracked files (all files but the virtual environment and
    build output outside git): the wheel is built there, so that a build of this module in
    another test worker, or simulations writing into the checkout, cannot race with it."""
    try:
        files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], check=True,
                               capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__"))
        return dest
    for name in filter(None, files):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    pytest.importorskip("setuptools", minversion="77")
    tmp = tmp_path_factory.mktemp("wheel")
    src = _snapshot(tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("approxnn-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(tmp / "site"), str(wheel)], check=True, capture_output=True)
    work = tmp / "work"
    work.mkdir()
    return wheel, tmp / "site", work


def run(installed, *args):
    _, site, work = installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)


def test_wheel_ships_rtl_cores_registers_and_networks(installed):
    names = zipfile.ZipFile(installed[0]).namelist()
    for wanted in ("cores/cnn/engine/cnn_engine.rdl", "cores/cnn/engine/regs/cnn_engine.json",
                   "cores/cnn/engine/regs/cnn_engine.h", "cores/cnn/engine/engine.core",
                   "cores/sbs/update/lint.vlt", "cores/cnn/engine/manifest.toml",
                   "cores/sbs/update/layer.manifest.toml", "cores/arith/family.manifest.toml",
                   "cores/arith/drum/manifest.toml", "cores/zynq/engine/manifest.toml",
                   "refmodels/cnn/networks/digits.npz",
                   "refmodels/sbs/networks/digits.json"):
        assert wanted in names, wanted
    assert any(n.startswith("cores/cnn/engine/rtl/") and n.endswith(".v") for n in names)


def test_golden_models_and_registers_load_from_the_wheel(installed):
    code = ("import refmodels, cores, approxnn, verif, approxnn_host\n"
            "from refmodels.cnn.net import load_network as cnn\n"
            "from refmodels.sbs.model import load_network as sbs\n"
            "from refmodels.sbs.train import NET_DIR\n"
            "from cores.common import regmap\n"
            "import os\n"
            "cnn('digits'); sbs(os.path.join(NET_DIR, 'digits'))\n"
            "print(regmap.load('cnn_engine').id_value)\n"
            "from cores.common import manifest\n"
            # every block under cores/ (the board systems' manifests are under fpga/, which the
            # wheel does not ship)
            f"assert len(manifest.all_manifests()) == {N_CORE_MANIFESTS}, "
            "[m.name for m in manifest.all_manifests()]\n"
            "from cores.arith.generate import VERSIONS\n"
            "from verif.cnn.engine.layers import golden\n"
            "for m in (refmodels, cores, approxnn, verif, approxnn_host): print(m.__file__)\n")
    res = run(installed, "-c", code)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    from cores.common.regmap import load  # the checkout's model: the wheel ships the same

    assert int(lines[0]) == load("cnn_engine").id_value
    site = str(installed[1])
    assert all(path.startswith(site) for path in lines[1:]), lines


def test_commands_run_from_the_wheel(installed):
    res = run(installed, "-m", "approxnn", "units")
    assert res.returncode == 0 and "drum" in res.stdout, res.stderr
    res = run(installed, "-m", "approxnn", "sbs", "evaluate", "digits", "--T", "10", "--n", "4",
              "--formats", "float32", "--out", "sbs")
    assert res.returncode == 0, res.stderr
    assert (installed[2] / "sbs" / "digits_accuracy.csv").exists()
