"""How the switching-activity energy proxy ranks circuits against their published 45 nm power.

``python -m approxnn.energy_compare --evoapprox DIR [--network digits] [--products 2048]
[--seed 0] [--csv FILE]``

``DIR`` is a folder of an EvoApproxLib checkout (or any folder of such files, searched
recursively): gate-level Verilog of 8x8 multipliers whose header states the published figures,
``// PDK45_PWR = 0.391 mW`` and ``// PDK45_AREA = 709.6 um2`` (files without a power line,
``*_pdk45.v`` cell netlists and modules that are not 8x8 -> 16-bit two-operand circuits are left
out and counted). For every circuit:

1. the top module is the one named like the file (else the file's first module); its operand
   and result ports are found with Yosys (:mod:`approxnn.importer`, the ``--verilog`` import);
2. signedness follows EvoApproxLib's names (``mul8s_``: signed, otherwise unsigned);
3. the proxy of :mod:`approxnn.energy` is computed on exactly the operand streams of the
   built-in units (the compute layers of ``--network``, in MAC-lane order, plus uniform random
   operands; an unsigned circuit gets |w| and x + 128 as the emulation feeds it), from the
   circuit's Yosys 7-series netlist simulated in Icarus; cached;
4. printed: published power and area, the netlist's LUTs, the proxy on uniform random operands
   and on the layer data (mean over the layers), and per group (unsigned, signed, all) the
   Spearman and Pearson correlations of each proxy with the published power, of the LUTs with
   the published power and area, and of the proxy with the LUTs.

The proxy is a relative figure (fanout-weighted toggles per product of an FPGA netlist, zero
delay); the published power is a 45 nm ASIC figure of the circuit's own gate netlist. The
correlation says how far the FPGA-side proxy ranks circuits as the ASIC power does.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Circuit", "find_circuits", "circuit_energy", "correlations", "main"]

_PWR = re.compile(r"^\s*//\s*PDK45_PWR\s*=\s*([0-9.eE+-]+)\s*mW", re.MULTILINE)
_AREA = re.compile(r"^\s*//\s*PDK45_AREA\s*=\s*([0-9.eE+-]+)\s*um2", re.MULTILINE)
_MODULE = re.compile(r"^\s*module\s+([A-Za-z_][A-Za-z0-9_$]*)", re.MULTILINE)


@dataclass
class Circuit:
    """One published circuit: file, top module, signedness and published figures."""

    path: Path
    top: str
    signed: bool
    power_mw: float
    area_um2: float | None
    result: dict = field(default_factory=dict)


def find_circuits(folder) -> tuple[list[Circuit], list[tuple[Path, str]]]:
    """Circuits with a published power line under ``folder`` (sorted by path) and the
    ``(file, reason)`` of the Verilog files left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--evoapprox: {folder} is not a folder")
    found, skipped = [], []
    for f in sorted(folder.rglob("*.v")):
        if f.stem.endswith("_pdk45"):
            skipped.append((f, "cell netlist (*_pdk45.v)"))
            continue
        text = f.read_text(errors="replace")
        m = _PWR.search(text)
        if not m:
            skipped.append((f, "no PDK45_PWR line"))
            continue
        mods = _MODULE.findall(text)
        if not mods:
            skipped.append((f, "no module"))
            continue
        top = f.stem if f.stem in mods else mods[0]
        a = _AREA.search(text)
        found.append(Circuit(f, top, top.lower().startswith("mul8s"), float(m.group(1)),
                             float(a.group(1)) if a else None))
    return found, skipped


def circuit_energy(c: Circuit, streams, *, workdir=None) -> dict:
    """The proxy of circuit ``c`` on ``streams`` (:func:`approxnn.energy.verilog_energy`):
    its operand and result ports found as the ``--verilog`` import finds them, the module
    synthesised as it is (the flow of its LUT figure)."""
    from . import importer
    from .energy import verilog_energy

    tmp = Path(tempfile.mkdtemp(prefix=f"approxnn_evo_{c.top}_"))
    try:
        mod = importer.resolve_module([c.path], c.top, 8, kind="mul", workdir=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verilog_energy([c.path], c.top, c.signed, streams, ports=(mod.a, mod.b, mod.y),
                          workdir=workdir)


def _pearson(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def correlations(rows) -> dict:
    """``{name: (spearman, pearson, n)}`` over ``rows`` (dicts with ``power``, ``area``,
    ``luts``, ``e_random``, ``e_layers``)."""
    from refmodels.cnn.resilience import spearman

    pairs = {
        "proxy (random operands) vs PDK45 power": ("e_random", "power"),
        "proxy (layer data) vs PDK45 power": ("e_layers", "power"),
        "LUTs vs PDK45 power": ("luts", "power"),
        "LUTs vs PDK45 area": ("luts", "area"),
        "proxy (random operands) vs LUTs": ("e_random", "luts"),
        "proxy (layer data) vs LUTs": ("e_layers", "luts"),
    }
    out = {}
    for name, (x, y) in pairs.items():
        sel = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
        xs, ys = [r[x] for r in sel], [r[y] for r in sel]
        out[name] = (spearman(xs, ys), _pearson(xs, ys), len(sel))
    return out


def _fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def main(argv=None) -> int:
    from refmodels.cnn.net import load_dataset

    from .cnn_cmd import resolve_network
    from .energy import DEFAULT_PRODUCTS, STREAM_IMAGES, _random_streams, layer_operands

    ap = argparse.ArgumentParser(prog="python -m approxnn.energy_compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evoapprox", required=True, metavar="DIR",
                    help="folder of published circuits (an EvoApproxLib checkout)")
    ap.add_argument("--network", default="digits",
                    help="network whose layer operands feed the circuits (digits)")
    ap.add_argument("--products", type=int, default=DEFAULT_PRODUCTS,
                    help=f"products per layer and of random operands ({DEFAULT_PRODUCTS})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", metavar="FILE", help="write the per-circuit table as CSV")
    a = ap.parse_args(argv)
    try:
        if a.csv and Path(a.csv).is_dir():
            raise ValueError(f"--csv: {a.csv} is a folder")
        if a.csv and any(p.exists() and not p.is_dir() for p in Path(a.csv).parents):
            raise ValueError(f"--csv: a parent of {a.csv} is a file")
        circuits, skipped = find_circuits(a.evoapprox)
        if not circuits:
            raise ValueError(f"--evoapprox: no Verilog file with a '// PDK45_PWR = ... mW' "
                             f"line under {a.evoapprox}")
        net = resolve_network(a.network)
        _, _, x, _ = load_dataset(net.topology["dataset"])
        streams = layer_operands(net, x[:STREAM_IMAGES], a.products, a.seed) | \
            _random_streams(a.products, a.seed)
    except ValueError as e:
        print(f"approxnn.energy_compare: error: {e}", file=sys.stderr)
        return 2
    layers = [k for k in streams if k != "random"]
    rows, failed = [], []
    t0 = time.perf_counter()
    for i, c in enumerate(circuits, 1):
        try:
            r = circuit_energy(c, streams)
        except Exception as e:  # a circuit that cannot be imported is reported, not fatal
            failed.append((c.path, str(e).splitlines()[0] if str(e) else type(e).__name__))
            print(f"[{i}/{len(circuits)}] {c.top}: left out ({failed[-1][1]})", file=sys.stderr,
                  flush=True)
            continue
        rows.append({
            "circuit": c.top, "signed": int(c.signed), "power": c.power_mw, "area": c.area_um2,
            "luts": r["luts"], "e_random": r["layers"]["random"]["energy"],
            "e_layers": float(np.mean([r["layers"][k]["energy"] for k in layers])),
            "file": str(c.path)})
        print(f"[{i}/{len(circuits)}] {c.top}: {rows[-1]['e_random']:.1f} weighted toggles/"
              f"product (random)  elapsed {time.perf_counter() - t0:5.0f}s", file=sys.stderr,
              flush=True)
    if not rows:
        print("approxnn.energy_compare: error: no circuit could be simulated", file=sys.stderr)
        return 1
    print(f"Energy proxy (fanout-weighted toggles per product, Yosys xc7 netlist, Icarus, zero "
          f"delay) vs published PDK45 power; {net.name} layers {', '.join(layers)} and uniform "
          f"random operands, {a.products} products each, seed {a.seed}")
    print(f"{'circuit':34} {'s':>1} {'PDK45 mW':>8} {'um2':>6} {'LUT':>4} {'random':>7} "
          f"{'layers':>7}")
    for r in sorted(rows, key=lambda r: (r["signed"], r["power"])):
        print(f"{r['circuit']:34} {r['signed']:1d} {r['power']:8.4f} {_fmt(r['area'], '6.1f')} "
              f"{r['luts']:4d} {r['e_random']:7.1f} {r['e_layers']:7.1f}")
    groups = [("unsigned", [r for r in rows if not r["signed"]]),
              ("signed", [r for r in rows if r["signed"]]), ("all", rows)]
    for gname, grows in groups:
        if len(grows) < 2:
            continue
        print(f"{gname} ({len(grows)} circuits): Spearman / Pearson")
        for name, (s, p, n) in correlations(grows).items():
            print(f"  {name:42} {_fmt(s, '6.3f')} / {_fmt(p, '6.3f')}  (n = {n})")
    if skipped:
        print(f"left out: {len(skipped)} file(s) without a published power or cell netlists")
    if failed:
        print(f"left out: {len(failed)} circuit(s) that could not be imported: "
              + "; ".join(f"{Path(f).name}: {why}" for f, why in failed))
    if a.csv:
        out = Path(a.csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        tmp.replace(out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
