#!/usr/bin/env bash
# The full test suite (installs what is missing first, see scripts/bootstrap.sh).
#   bash scripts/test.sh            everything: ruff, then all pytest tests (they include the
#                                   Verilator -Wall lint of the committed RTL)
#   bash scripts/test.sh lint|unit|sim|synth
# pytest runs on 2 workers (pytest-xdist) and writes build/test-results.xml (JUnit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
group=${1:-all}
py=.venv/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p build
case "$group" in
  lint)  $py -m ruff check . && $py -m verif.lint ;;
  unit)  $py -m pytest -q -n 2 -m "not sim and not synth" --junitxml=build/test-unit.xml ;;
  sim)   $py -m pytest -q -n 2 -m "sim" --junitxml=build/test-sim.xml ;;
  synth) $py -m pytest -q -n 2 -m "synth and not sim" --junitxml=build/test-synth.xml ;;
  all)
    $py -m ruff check .
    $py -m pytest -q -n 2 --durations=15 --junitxml=build/test-results.xml ;;
  *) echo "usage: $0 [all|lint|unit|sim|synth]" >&2; exit 2 ;;
esac
