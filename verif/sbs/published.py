"""The published MNIST network through the RTL, layer after layer, and its cycle counts.

    python -m verif.sbs.published [--T 2] [--images 3] [--sim verilator] [--out FILE.json]

Runs ``verif.sbs.harness.run_published``: the first held-out MNIST test images through the
two layer units sized for the published network (conv / pool unit
``sbs_layer_e4m1_p2_n64_ip1024_r1024``: layers 0-3; fc / output unit
``sbs_layer_e4m1_p2_n1024_ip2_r1024``, generated: layers 4-5), every layer's h compared with
the golden model (``refmodels.sbs.model.run``, E4M1 weights, fixed-point h) bit for bit.
Prints the updates and cycles per layer, the cycles per spike step and image and the time at
200 MHz beside the published 1.67 ms per spike step (E4M1, Zynq-7020, Nevarez 2021).
No idle cycles or back-pressure on the streams, so the cycles are those of the units.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CLOCK_HZ = 200e6
PUBLISHED_MS_PER_STEP = 1.67


def summarise(figures: dict) -> list[str]:
    """Lines of the report: per layer and in total, per spike step and image."""
    T, n_img = figures["T"], figures["images"]
    lines = [f"published MNIST network, T = {T}, {n_img} image(s), 200 MHz", "",
             "| unit | layer | type | updates / step | cycles / step | cycles / update |",
             "|---|---|---|---|---|---|"]
    total = 0.0
    for unit in figures["units"]:
        by_layer: dict[int, list[int]] = {}
        for row in unit["per_layer"]:
            acc = by_layer.setdefault(row["layer"], [0, 0, row["type"]])
            acc[0] += row["updates"]
            acc[1] += row["cycles"]
        for li, (up, cyc, typ) in sorted(by_layer.items()):
            per_up, per_cyc = up / T / n_img, cyc / T / n_img
            total += per_cyc
            lines.append(f"| {unit['module']} | {li} | {typ} | {per_up:,.0f} | {per_cyc:,.0f} | "
                         f"{cyc / max(up, 1):.1f} |")
    ms = total / CLOCK_HZ * 1e3
    lines += ["", f"cycles per spike step and image: {total:,.0f} = {ms:.2f} ms at 200 MHz "
              f"(published E4M1 design: {PUBLISHED_MS_PER_STEP} ms; ratio "
              f"{ms / PUBLISHED_MS_PER_STEP:.2f}x)",
              f"per image at T = 1000 spike steps: {ms:.2f} s"]
    for unit in figures["units"]:
        for r in unit["results"]:
            lines.append(f"{unit['module']}: image {r['image']} label {r['label']}, "
                         f"argmax of its last layer {r['class']} (golden model: the same)")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--T", type=int, default=2, help="spike steps (default 2)")
    ap.add_argument("--images", type=int, default=1, help="held-out test images (default 1)")
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("--out", default=None, help="write the figures (JSON) here")
    args = ap.parse_args(argv)
    if args.T < 1 or args.images < 1:
        print("error: --T and --images must be at least 1", file=sys.stderr)
        return 2
    from verif.sbs.harness import run_published  # noqa: PLC0415

    ok, messages, figures = run_published(T=args.T, images=args.images, sim=args.sim)
    if not ok:
        print("FAILED: " + "; ".join(messages[-5:]), file=sys.stderr)
        return 1
    print("\n".join(summarise(figures)))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
