"""Benchmark: an exhaustive 8-bit check (65,536 pairs) of one unit's RTL, streamed through the
pyuvm environment (one pair per clock) against one Python round trip per pair, on Icarus and
Verilator, measured side by side in one run.

    python -m verif.bench [--unit drum:k=6,width=8,signed=1] [--sims icarus,verilator]

Times are the test wall times cocotb records (simulator build excluded, printed separately).
"""

from __future__ import annotations

import argparse
import sys
import time

from refmodels.arith import parse_unit
from verif.arith.harness import BUILD_ROOT, generate_rtl, safe_name
from verif.tools import SIMULATORS, run_cocotb, simulator_available


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--unit", default="drum:k=6,width=8,signed=1")
    ap.add_argument("--sims", default=",".join(SIMULATORS))
    args = ap.parse_args(argv)
    spec = parse_unit(args.unit)
    if spec.width > 8:
        ap.error("the exhaustive benchmark needs width <= 8")
    pairs = 1 << (2 * spec.width)
    rows = []
    for sim in args.sims.split(","):
        if not simulator_available(sim):
            print(f"skip {sim}: not installed")
            continue
        base = BUILD_ROOT / "bench" / f"{safe_name(str(spec))}_{sim}"
        rtl = generate_rtl(spec, base / "rtl")
        env = {"APPROXNN_UNIT": str(spec), "APPROXNN_SEED": 1}
        top = f"{spec.module_name}_reg"
        t0 = time.time()
        stream = run_cocotb(sim, [rtl], top, "verif.arith.cocotb_arith", base / "stream",
                            testcase="ArithExhaustiveTest", extra_env=env)
        total = time.time() - t0
        per = run_cocotb(sim, [rtl], top, "verif.arith.cocotb_perpair", base / "perpair",
                         extra_env=env)
        for name, res in (("stream", stream), ("per-pair", per)):
            if not res.passed:
                print(f"{sim} {name} FAILED: {res.messages}")
                return 1
        rows.append((sim, stream.seconds, per.seconds, total - stream.seconds))
    print(f"\nexhaustive check of {spec} ({pairs} pairs)\n")
    print("| simulator | streamed pyuvm (s) | pairs/s | per-pair round trip (s) | pairs/s "
          "| speed-up | build+startup (s) |")
    print("|---|---|---|---|---|---|---|")
    for sim, s, p, b in rows:
        print(f"| {sim} | {s:.2f} | {pairs / s:,.0f} | {p:.2f} | {pairs / p:,.0f} | "
              f"{p / s:.1f}x | {b:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
