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

from approxnn.eda.sim import SIMULATORS, run_cocotb, simulator_available

from refmodels.arith import UnitError, parse_unit
from verif.arith.harness import BUILD_ROOT, generate_rtl, safe_name


def _progress(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verif.bench", description=__doc__)
    ap.add_argument("--unit", default="drum:k=6,width=8,signed=1")
    ap.add_argument("--sims", default=",".join(SIMULATORS))
    args = ap.parse_args(argv)
    try:
        spec = parse_unit(args.unit)
    except UnitError as exc:
        ap.error(str(exc))
    if spec.width > 8:
        ap.error("the exhaustive benchmark needs width <= 8")
    sims = [s.strip() for s in args.sims.split(",") if s.strip()]
    bad = [s for s in sims if s not in SIMULATORS]
    if bad or not sims:
        ap.error(f"unknown simulator {bad[0] if bad else args.sims!r}; valid: "
                 f"{', '.join(SIMULATORS)}")
    pairs = 1 << (2 * spec.width)
    rows = []
    for sim in sims:
        if not simulator_available(sim):
            print(f"skip {sim}: not installed")
            continue
        base = BUILD_ROOT / "bench" / f"{safe_name(str(spec))}_{sim}"
        _progress(f"{sim}: generating the RTL of {spec}")
        rtl = generate_rtl(spec, base / "rtl")
        env = {"APPROXNN_UNIT": str(spec), "APPROXNN_SEED": 1}
        top = f"{spec.module_name}_reg"
        _progress(f"{sim}: build and streamed pyuvm check of {pairs:,} pairs ...")
        t0 = time.time()
        stream = run_cocotb(sim, [rtl], top, "verif.arith.cocotb_arith", base / "stream",
                            testcase="ArithExhaustiveTest", extra_env=env)
        total = time.time() - t0
        _progress(f"{sim}: streamed check done in {total:.1f} s; per-pair round trip of "
                  f"{pairs:,} pairs ...")
        t1 = time.time()
        per = run_cocotb(sim, [rtl], top, "verif.arith.cocotb_perpair", base / "perpair",
                         extra_env=env)
        _progress(f"{sim}: per-pair run done in {time.time() - t1:.1f} s")
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
