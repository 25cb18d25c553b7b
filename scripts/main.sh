#!/usr/bin/env bash
# The main job on built-in defaults: characterise the whole approximate-arithmetic library
# (RTL simulation of every unit, error metrics, Yosys cost for 7-series) and write the report
# to reports/arith/ (library.csv, library.md, pareto.png). Installs what is missing first.
# Extra arguments go to `approxnn characterize --all` (e.g. --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/approxnn characterize --all "$@"
