"""Yosys utilisation of the programmable logic of each board target, against the xc7z020.

    python -m fpga.utilisation [--out fpga]    # writes utilisation.md and utilisation.json

For every system of fpga/boards.py the accelerators' Vivado-ready tops (cores/zynq: the
wrapper and its core, the only RTL of the design that is not Xilinx IP) are synthesised with
Yosys ``synth_xilinx -family xc7 -flatten`` and their cells summed: LUTs (LUT1..6, plus the
LUTs of distributed RAM and shift registers), flip-flops, block RAM (RAMB36E1 = 1, RAMB18E1 =
1/2 BRAM36), DSP48E1. The Xilinx IP of the block design (processing_system7, axi_dma,
smartconnect, proc_sys_reset, xlconcat) is not available to Yosys and is NOT counted: Vivado's
utilisation report of the implemented design gives it. The fit limits (70 % of the LUTs, 80 %
of the block RAM) leave the room for it.

Clock estimate (an ESTIMATE, not a timing analysis): the longest register-to-register path in
cells, found by Yosys ``ltp`` on the mapped netlist with the sequential cells (flip-flops,
block and distributed RAM, shift registers, DSP48E1, buffers) removed, so that every path
starts and ends at a register. Its cells are priced by :data:`NS_CELL` - a LUT with its
routing, a CARRY4 entered from logic, a CARRY4 continuing a carry chain, a wide multiplexer -
plus :data:`NS_OVERHEAD` for clock-to-out and setup: round figures for a -1 part, not a
timing model. Paths through an unregistered DSP48E1 or a distributed-RAM read are cut, which
understates them; routing is not known before placement. Only Vivado's timing report after
place and route says whether a clock closes.
The run takes minutes: it is not in the default test suite (``APPROXNN_NIGHTLY=1`` runs
fpga/test_fpga.py::test_yosys_utilisation_fits).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from fpga.boards import SYSTEMS, System

FPGA_DIR = Path(__file__).resolve().parent
#: xc7z020 (all packages): the device the boards carry
DEVICE = {"name": "xc7z020", "LUT": 53_200, "FF": 106_400, "BRAM36": 140, "DSP48E1": 220}
LIMITS = {"LUT": 0.70, "BRAM36": 0.80}
#: ns per cell on the path: LUT and its net, CARRY4 entered from logic, CARRY4 after a
#: CARRY4 (the dedicated carry route), MUXF7 / MUXF8
NS_CELL = {"LUT": 0.6, "CARRY4": 0.5, "CARRY4_CHAIN": 0.12, "MUXF": 0.3}
NS_OVERHEAD = 1.0
#: LUTs of the distributed-RAM and shift-register primitives
LUTRAM_LUTS = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
               "RAM256X1S": 4, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2,
               "SRL16E": 1, "SRLC32E": 1}
SEQUENTIAL = "t:FD* t:RAMB* t:RAM* t:SRL* t:DSP48E1 t:BUFG t:IBUF t:OBUF"


def summarise(cells: dict[str, int]) -> dict:
    luts = sum(v for k, v in cells.items() if k.startswith("LUT") and k[3:].isdigit())
    lutram = sum(LUTRAM_LUTS.get(k, 0) * v for k, v in cells.items())
    return {
        "LUT": luts + lutram,
        "LUTRAM": lutram,
        "FF": sum(v for k, v in cells.items() if k.startswith("FD")),
        "BRAM36": cells.get("RAMB36E1", 0) + cells.get("RAMB18E1", 0) / 2,
        "DSP48E1": cells.get("DSP48E1", 0),
        "CARRY4": cells.get("CARRY4", 0),
    }


def synth_top(files: list[Path], top: str, workdir: Path) -> dict:
    """Cells and register-to-register depth of ``top``."""
    from approxnn.eda.synth import parse_ltp, parse_stat_json, run_yosys  # noqa: PLC0415

    script = [f'read_verilog "{f.resolve()}"' for f in files] + [
        f"synth_xilinx -family xc7 -flatten -top {top}",
        "tee -q -o stat.json stat -json",
        f"select -clear; delete {SEQUENTIAL}",
        "tee -q -o ltp.txt ltp -noff",
        "write_json comb.json",
    ]
    run_yosys(script, workdir, "utilisation", timeout=1800)
    cells = parse_stat_json((workdir / "stat.json").read_text(), top)
    ltp = (workdir / "ltp.txt").read_text()
    comb = json.loads((workdir / "comb.json").read_text())["modules"][top]["cells"]
    path = [comb[v]["type"] if v in comb else "?"
            for v in re.findall(r"\(via (.*?)\)\s*$", ltp, re.M)]
    return {"cells": cells, "depth": parse_ltp(ltp), "path": path}


def path_ns(path: list[str]) -> float:
    """The estimated delay of a register-to-register path of cell types."""
    ns = NS_OVERHEAD
    prev = None
    for t in path:
        if t == "CARRY4":
            ns += NS_CELL["CARRY4_CHAIN" if prev == "CARRY4" else "CARRY4"]
        elif t.startswith("MUXF"):
            ns += NS_CELL["MUXF"]
        else:
            ns += NS_CELL["LUT"]
        prev = t
    return ns


def system_utilisation(system: System, workdir: Path) -> dict:
    from cores.zynq.generate import TOPS, ZYNQ_DIR, files_of  # noqa: PLC0415

    total: dict[str, float] = {}
    depth, ns, worst = 0, 0.0, []
    parts = []
    for a in system.accels:
        files = [ZYNQ_DIR / f for f in files_of(a.top) if f.endswith(".v")]
        res = synth_top(files, TOPS[a.top]["top"], workdir / a.cell)
        s = summarise(res["cells"])
        a_ns = path_ns(res["path"])
        parts.append({"cell": a.cell, "top": TOPS[a.top]["top"], **s, "depth": res["depth"],
                      "path": res["path"], "est_ns": round(a_ns, 2)})
        for k, v in s.items():
            total[k] = total.get(k, 0) + v
        depth = max(depth, res["depth"])
        if a_ns > ns:
            ns, worst = a_ns, res["path"]
    util = {k: total[k] / DEVICE[k] for k in ("LUT", "FF", "BRAM36", "DSP48E1")}
    kinds = {t: worst.count(t) for t in sorted(set(worst))}
    return {"system": system.key, "title": system.title, "accels": parts, "total": total,
            "utilisation": util, "depth": depth, "path_cells": kinds, "est_ns": round(ns, 2),
            "est_mhz": round(1000 / ns, 1), "fclk_mhz": system.fclk_mhz,
            "fits": all(util[k] <= lim for k, lim in LIMITS.items())}


def table(results: list[dict]) -> str:
    lines = [
        "# Programmable-logic utilisation of the board targets (Yosys, xc7z020)",
        "",
        "Written by `python -m fpga.utilisation` (Yosys `synth_xilinx -family xc7 -flatten`).",
        "Counted: the accelerators' Vivado-ready tops (cores/zynq). Not counted: the Xilinx IP",
        "of the block design (processing_system7, axi_dma, smartconnect, proc_sys_reset,",
        "xlconcat), which Yosys cannot synthesise - see Vivado's utilisation report. Both boards",
        "of a system carry the same xc7z020 logic, so one row covers PYNQ-Z2 and ZedBoard.",
        f"Fit: LUT <= {LIMITS['LUT']:.0%} and BRAM <= {LIMITS['BRAM36']:.0%} of the device "
        f"({DEVICE['LUT']:,} LUT, {DEVICE['FF']:,} FF, {DEVICE['BRAM36']} BRAM36, "
        f"{DEVICE['DSP48E1']} DSP48E1).",
        "",
        "| system | cell | LUT (of which LUTRAM) | FF | BRAM36 | DSP48E1 | CARRY4 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for a in r["accels"]:
            lines.append(f"| {r['system']} | `{a['cell']}` ({a['top']}) | {a['LUT']:,} "
                         f"({a['LUTRAM']:,}) | {a['FF']:,} | {a['BRAM36']:g} | {a['DSP48E1']} "
                         f"| {a['CARRY4']:,} |")
        u = r["utilisation"]
        t = r["total"]
        lines.append(f"| **{r['system']}** | **total, % of xc7z020** | **{t['LUT']:,.0f} "
                     f"({u['LUT']:.1%})** | **{t['FF']:,.0f} ({u['FF']:.1%})** | "
                     f"**{t['BRAM36']:g} ({u['BRAM36']:.1%})** | **{t['DSP48E1']:.0f} "
                     f"({u['DSP48E1']:.1%})** | |")
    lines += [
        "",
        "| system | fits (LUT <= 70 %, BRAM <= 80 %) | slowest reg-to-reg path (cells) | "
        "clock ESTIMATE | FCLK_CLK0 |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        cells = ", ".join(f"{v} {k}" for k, v in r["path_cells"].items())
        lines.append(f"| {r['system']} | {'yes' if r['fits'] else 'NO'} | {cells} | "
                     f"~{r['est_mhz']:g} MHz ({r['est_ns']:g} ns) | {r['fclk_mhz']} MHz |")
    prices = ", ".join(f"{k} {v} ns" for k, v in NS_CELL.items())
    lines += [
        "",
        f"The clock ESTIMATE prices the cells of the longest register-to-register path ({prices})"
        f" plus {NS_OVERHEAD} ns clock-to-out and setup: round figures for a -1 part, not a "
        "timing analysis (see the docstring of fpga/utilisation.py). Timing closure needs "
        "Vivado.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fpga.utilisation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=FPGA_DIR, help="folder of the two files")
    ap.add_argument("--systems", nargs="*", default=list(SYSTEMS), choices=list(SYSTEMS))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = [system_utilisation(SYSTEMS[s], Path(tmp) / s) for s in args.systems]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "utilisation.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "utilisation.md").write_text(table(results))
    print(table(results))
    return 0 if all(r["fits"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
