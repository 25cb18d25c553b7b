"""Make the simulator process exit non-zero when a cocotb test failed.

edalize (the FuseSoC back end) launches the simulator itself and judges the run by its exit
status only, while cocotb 2 always lets the simulator exit 0. A cocotb test module that calls
:func:`install` registers a shutdown hook which, when the plusarg ``+APPROXNN_FAIL_EXIT`` is
given, reads the results file cocotb has just written and ends the process with status 1 if
any test failed. The FuseSoC ``sim`` targets pass that plusarg.
"""

from __future__ import annotations

import os
import sys

import cocotb
from approxnn.eda.sim import read_results


def _check_and_exit() -> None:
    result = read_results(os.environ.get("COCOTB_RESULTS_FILE", "results.xml"))
    if not result.passed:
        for msg in result.messages:
            print(f"FAIL {msg}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def install() -> None:
    if not cocotb.plusargs.get("APPROXNN_FAIL_EXIT"):
        return
    from cocotb import _shutdown  # noqa: PLC0415 - cocotb 2 has no public hook for this

    _shutdown.register(_check_and_exit)
