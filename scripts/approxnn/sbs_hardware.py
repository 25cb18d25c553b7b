"""Hardware figures of the SbS update unit: cycles from RTL simulation, cost from Yosys.

For every configuration (lanes P, weight format; N_MAX latents) the unit is generated from
MyHDL, its ``cycles`` cocotb test runs in Icarus (rows back to back, the hardware ROW_CYCLES
counter checked against the spacing of first beats seen on the stream) and Yosys
``synth_xilinx -family xc7`` gives LUT / FF / DSP48E1 / RAMB18 counts, with DSP slices allowed
(the default flow) and with ``-nodsp``. The published HLS units of Nevarez et al. (2021) are
printed beside them: ``10N + 9`` (FP32), ``2N + 11`` (E4M1), ``2N + 7`` (log) cycles for an
N-latent update; one conv unit 2,765 / 3,139 / 3,086 LUT, 19 DSP, 37 / 25 / 21 BRAM18.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PUBLISHED = {
    "float32": {"cycles": (10, 9), "luts": 2765, "dsps": 19, "bram18": 37},
    "e4m1": {"cycles": (2, 11), "luts": 3139, "dsps": 19, "bram18": 25},
    "log4": {"cycles": (2, 7), "luts": 3086, "dsps": 19, "bram18": 21},
}

DEFAULT_CONFIGS = ((1, "e4m1"), (4, "e4m1"), (8, "e4m1"), (1, "log4"), (4, "log4"),
                   (8, "log4"))


def parse_configs(text: str) -> list[tuple[int, str]]:
    """``"4:e4m1,8:log4"`` -> [(4, "e4m1"), (8, "log4")] (checked)."""
    from cores.sbs.update.update import UpdateConfigError, check_params

    out = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        p, sep, weights = part.partition(":")
        if not sep or not p.isdigit():
            raise ValueError(f"bad configuration {part!r}: write P:FORMAT, e.g. 4:e4m1")
        try:
            check_params(int(p), 1024, weights)
        except UpdateConfigError as exc:
            raise ValueError(str(exc)) from None
        out.append((int(p), weights.lower()))
    if not out:
        raise ValueError("no configuration given")
    return out


def measure(p: int, weights: str, n_max: int = 1024, synth: bool = True,
            workdir: Path | None = None) -> dict:
    """Cycles and cost of one configuration (runs Icarus, and Yosys twice when ``synth``)."""
    from approxnn.eda.synth import synthesize
    from verif.sbs.harness import BUILD_ROOT, generate_rtl, run_update

    workdir = Path(workdir or tempfile.mkdtemp(prefix="sbs_hw_")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    build = BUILD_ROOT / "hardware" / f"{weights}_p{p}_n{n_max}"
    cycles_file = build / "cycles.json"
    res = run_update(p, n_max, weights, testcase="cycles", build_dir=build, idle=0.0,
                     backpressure=0.0,
                     extra_env={"APPROXNN_CYCLES_FILE": cycles_file.resolve()})
    if not res.passed:
        raise RuntimeError(f"cycles test failed for P={p} {weights}: {res.messages}")
    cyc = json.loads(cycles_file.read_text())
    row = {"p": p, "weights": weights, "n_max": n_max, "constant": cyc["constant"],
           "cycles": {int(k): v for k, v in cyc["cycles"].items()}}
    if synth:
        path, top = generate_rtl(p, n_max, weights, workdir / "rtl")
        d = synthesize([path], top, nodsp=False, workdir=workdir / "dsp")
        nd = synthesize([path], top, nodsp=True, workdir=workdir / "nodsp")
        row.update(luts=d.luts, ffs=d.ffs, dsps=d.dsps, bram18=_bram18(d.cells),
                   carry4=d.carry4, nodsp_luts=nd.luts, nodsp_ffs=nd.ffs)
    return row


def measure_blocks(workdir: Path, T: int = 4) -> list[dict]:
    """Cost of the committed layer unit and spike generator, and the layer unit's measured
    cycles per update on the digits network (end-to-end test, ``T`` spike steps)."""
    from approxnn.eda.synth import synthesize
    from cores.sbs.generate import LAYER_CONFIGS, SBS_DIR, SPIKEGEN_CONFIGS
    from cores.sbs.spikegen.spikegen import module_name as sg_name
    from cores.sbs.update.update import module_name
    from verif.sbs.harness import BUILD_ROOT, run_layer

    workdir = Path(workdir).resolve()
    rows = []
    blocks = [("layer", module_name(*LAYER_CONFIGS[0]), "update", LAYER_CONFIGS[0]),
              ("spikegen", sg_name(*SPIKEGEN_CONFIGS[0]), "spikegen", SPIKEGEN_CONFIGS[0])]
    for kind, top, folder, cfg in blocks:
        path = SBS_DIR / folder / "rtl" / f"{top}.v"
        d = synthesize([path], top, nodsp=False, workdir=workdir / f"{kind}_dsp")
        row = {"block": kind, "module": top, "luts": d.luts, "ffs": d.ffs, "dsps": d.dsps,
               "bram18": _bram18(d.cells), "carry4": d.carry4}
        if kind == "layer":
            p, n_max, weights, ip_max, rows_max = cfg
            out = BUILD_ROOT / "hardware" / "layer_e2e.json"
            res = run_layer(p, n_max, weights, ip_max, rows_max, testcase="network_end_to_end",
                            T=T, idle=0.0, backpressure=0.0, result_file=out)
            if not res.passed:
                raise RuntimeError(f"layer end-to-end test failed: {res.messages}")
            e2e = json.loads(out.read_text())
            row.update(T=T, updates=e2e["updates"], cycles=e2e["cycles"],
                       cycles_per_update=round(e2e["cycles"] / max(1, e2e["updates"]), 1))
        rows.append(row)
    return rows


def _bram18(cells: dict) -> int:
    """RAMB18 equivalents: a RAMB36 counts two."""
    return sum(v * (2 if "36" in k else 1) for k, v in cells.items() if k.startswith("RAMB"))


def _measure_args(args):
    return measure(*args)


def report(configs, out_dir: Path, n_max: int = 1024, synth: bool = True, jobs: int = 2,
           log=sys.stderr) -> list[dict]:
    """Measure every configuration (``jobs`` in parallel) and write
    ``out_dir/hardware.{json,csv,md}``; returns the rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    work = [(p, w, n_max, synth, out_dir / "work" / f"{w}_p{p}") for p, w in configs]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for k, row in enumerate(pool.map(_measure_args, work), 1):
            print(f"[{k}/{len(work)}] P={row['p']} {row['weights']}: "
                  f"{row['constant']} + N/P cycles"
                  + (f", {row['luts']} LUT, {row['dsps']} DSP" if synth else ""), file=log)
            rows.append(row)
    blocks = measure_blocks(out_dir / "work" / "blocks") if synth else []
    for b in blocks:
        print(f"{b['block']}: {b['luts']} LUT, {b['dsps']} DSP, {b['bram18']} BRAM18"
              + (f", {b['cycles_per_update']} cycles per update on digits"
                 if "cycles_per_update" in b else ""), file=log)
    (out_dir / "hardware.json").write_text(
        json.dumps({"update": rows, "blocks": blocks}, indent=1) + "\n")
    _write_csv(rows, out_dir / "hardware.csv")
    (out_dir / "hardware.md").write_text(markdown(rows, blocks))
    return rows


def _write_csv(rows, path: Path) -> None:
    keys = ["p", "weights", "n_max", "constant", "luts", "ffs", "dsps", "bram18", "carry4",
            "nodsp_luts", "nodsp_ffs"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(keys + ["cycles"])
        for r in rows:
            w.writerow([r.get(k, "") for k in keys]
                       + [" ".join(f"{n}:{c}" for n, c in sorted(r["cycles"].items()))])


def markdown(rows, blocks=()) -> str:
    lines = ["# SbS update unit: cycles and cost", "",
             "Cycles per update measured in RTL simulation (Icarus, rows back to back); cost "
             "from Yosys `synth_xilinx -family xc7` (DSP48E1 allowed; `-nodsp` LUTs beside).",
             "", "| weights | P | cycles per update | N=32 | N=1024 | published (HLS) N=32 / "
             "N=1024 | LUT | FF | DSP | BRAM18 | LUT with -nodsp |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = PUBLISHED[r["weights"]]["cycles"] if r["weights"] in PUBLISHED else (None, None)
        ours = [r["constant"] + n // r["p"] for n in (32, 1024)]
        pub = f"{a * 32 + b} / {a * 1024 + b}" if a else "-"
        cost = [r.get(k, "-") for k in ("luts", "ffs", "dsps", "bram18", "nodsp_luts")]
        lines.append(f"| {r['weights']} | {r['p']} | N/{r['p']} + {r['constant']} | {ours[0]} "
                     f"| {ours[1]} | {pub} | " + " | ".join(str(c) for c in cost) + " |")
    lines += ["", "Published conv processing unit (Zynq-7020, Vivado HLS): FP32 / E4M1 / log "
              "2,765 / 3,139 / 3,086 LUT, 19 DSP each, 37 / 25 / 21 BRAM18.", ""]
    if blocks:
        lines += ["| block | module | LUT | FF | DSP | BRAM18 | measured |",
                  "|---|---|---|---|---|---|---|"]
        for b in blocks:
            meas = (f"{b['cycles_per_update']} cycles per update, digits network, T={b['T']} "
                    f"({b['updates']} updates)" if "cycles_per_update" in b else "-")
            lines.append(f"| {b['block']} | `{b['module']}` | {b['luts']} | {b['ffs']} | "
                         f"{b['dsps']} | {b['bram18']} | {meas} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# `approxnn sbs hardware`


def add_parser(sub) -> None:
    """Add the ``hardware`` sub-command to the ``approxnn sbs`` sub-parsers ``sub``."""
    h = sub.add_parser(
        "hardware", help="cycles per update (RTL simulation) and Yosys cost of the SbS units",
        description="Generate the SbS update unit for several lane counts and weight formats, "
        "measure cycles per update in Icarus and synthesise with Yosys for xc7; also the "
        "committed layer unit (cycles per update on the digits network) and the spike "
        "generator. Writes hardware.{json,csv,md} to --out.")
    h.add_argument("--configs", default=",".join(f"{p}:{w}" for p, w in DEFAULT_CONFIGS),
                   help="P:FORMAT list (default 1:e4m1,4:e4m1,8:e4m1,1:log4,4:log4,8:log4)")
    h.add_argument("--n-max", type=int, default=1024, help="latents of the update unit (1024)")
    h.add_argument("--no-synth", action="store_true", help="cycles only (no Yosys)")
    h.add_argument("--jobs", type=int, default=2, help="parallel configurations (2)")
    h.add_argument("--out", default="reports/sbs", help="report folder (reports/sbs)")


def run_cli(args) -> int:
    from cores.sbs.update.update import UpdateConfigError, check_params

    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    configs = parse_configs(args.configs)
    for p, weights in configs:
        try:
            check_params(p, args.n_max, weights)
        except UpdateConfigError as exc:
            raise ValueError(str(exc)) from None
    print(f"SbS hardware: {len(configs)} update-unit configurations, N_MAX={args.n_max}"
          + ("" if args.no_synth else ", with Yosys") + f" -> {args.out}", file=sys.stderr)
    rows = report(configs, Path(args.out), n_max=args.n_max, synth=not args.no_synth,
                  jobs=args.jobs)
    print((Path(args.out) / "hardware.md").read_text())
    return 0 if rows else 1
