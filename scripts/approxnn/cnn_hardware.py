"""``approxnn cnn hardware``: cycles of the layer engine from RTL simulation, cost from Yosys.

For every configuration (lanes P, multiplier) the layer engine of ``cores/cnn/engine`` is
converted from MyHDL and the trained ``digits`` network (conv1 8x8x1 -> 8, pool1 2x2, conv2
4x4x8 -> 16, both 3x3 SAME, pool2 2x2, fc 64 -> 10; every layer on the engine) runs on it in
Icarus through the end-to-end test of ``verif/cnn`` (``EngineNetworkCycles``: outputs checked
against ``Network.forward_int8`` on the ``"reference"`` rounding path (FullyConnected layers
run with MODE.FLOAT_SCALE: TFLite's reference FC rounding), or
``Network.forward_hf6`` for the HF6 engine, no stream idle
cycles, no output back-pressure). Cycles per layer are the engine's CYCLES register (START to
DONE) read in that simulation; the README formula is printed beside as a cross-check. MAC/cycle
= MACs of the layer / its cycles (pooling layers have none but take time); GOPS at 200 MHz =
2 * MAC/cycle * 0.2 (GFLOP/s for HF6). Yosys
``synth_xilinx -family xc7 -flatten`` (DSP48E1 allowed, and ``-nodsp``) gives the resources;
they are cached in ``<out>/hardware_synth.json`` (keyed by module name and a digest of the
generated Verilog) so a re-run does not synthesise an unchanged design again. The published
Hybrid-Float6 tensor processor (Nevarez et al., IEEE Access 2023) and the XC7Z020 capacity are
printed beside.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cores.cnn.generate import MNIST_ENGINE

CLOCK_MHZ = 200.0

#: published HF6 tensor processor (XC7Z007S, 200 MHz) and the XC7Z020 capacity
PUBLISHED_HF6 = {"name": "HF6 tensor processor (Nevarez et al. 2023), XC7Z007S @ 200 MHz",
                 "luts": 7313, "ffs": 10330, "dsps": 20, "bram36": 15, "mflops": 482}
XC7Z020 = {"luts": 53200, "ffs": 106400, "dsps": 220, "bram36": 140}

DEFAULT_CONFIGS = "4:int8,8:int8,16:int8,8:exact,8:drum:k=4,8:mitchell,8:trunc:t=6,4:hf6,8:hf6"

#: networks of refmodels/cnn/networks the report runs, and the engine buffers each needs
NETWORKS = {
    "digits": {"buffers": {}, "desc": "conv1 8x8x1 -> 8, pool1 2x2, conv2 4x4x8 -> 16 (both "
               "3x3 SAME), pool2 2x2, fc 64 -> 10"},
    # the committed MNIST-sized engine's buffers (cores/cnn/generate.py MNIST_ENGINE)
    "mnist": {"buffers": {k: MNIST_ENGINE[k] for k in ("ibuf", "wbuf", "cmax")},
              "desc": "LeNet: conv1 28x28x1 -> 6 and conv2 12x12x6 -> 16 (both 5x5 VALID), "
              "2x2 max pooling after each, fc1 256 -> 120, fc2 120 -> 84, fc3 84 -> 10 (fc1 and "
              "fc2 in two runs each: 64 output channels per run)"},
}


def parse_configs(text: str) -> list[dict]:
    """``"4:int8,8:drum:k=4,signed=1"`` -> engine parameter dicts (checked). A token that
    starts with ``<P>:`` opens a configuration; a following token without it (``signed=1``)
    belongs to the previous multiplier. Multipliers other than ``int8`` and ``hf6`` (the
    Hybrid-Float6 engine) are 8-bit units of ``cores/arith`` (``signed=1`` unless given). Bad
    names raise ValueError with the choices."""
    from cores.cnn.engine.engine import LANES, EngineConfigError, check_params

    items: list[list] = []
    for tok in re.split(r"[,\s]+", text.strip()):
        if not tok:
            continue
        m = re.match(r"^(\d+):(.+)$", tok)
        if m:
            items.append([int(m.group(1)), m.group(2)])
        elif items and "=" in tok:
            items[-1][1] += ("," if ":" in items[-1][1] else ":") + tok
        else:
            raise ValueError(f"bad configuration {tok!r}: write P:MULTIPLIER, e.g. 8:int8 or "
                             f"8:drum:k=4; lanes P in {LANES}")
    out = []
    for p, mul in items:
        mul = mul.strip().lower()
        if mul not in ("int8", "hf6"):
            from refmodels.arith import UnitError, parse_mul8

            try:
                mul = str(parse_mul8(mul))
            except (UnitError, ValueError) as exc:
                raise ValueError(f"{exc}; or int8 (exact, DSP48E1-packed), or hf6") from None
        try:
            prm = check_params(lanes=p, mul=mul)
        except EngineConfigError as exc:
            raise ValueError(f"{exc} (configuration {p}:{mul})") from None
        cfg = {"lanes": prm["lanes"], "mul": mul}
        if cfg not in out:
            out.append(cfg)
    if not out:
        raise ValueError("no configuration given; e.g. --configs 4:int8,8:drum:k=4")
    return out


def label(cfg: dict) -> str:
    mul = cfg["mul"]
    if mul == "int8":
        return "int8 packed"
    if mul == "hf6":
        return "HF6 (float32 x HF6)"
    name, _, params = mul.partition(":")
    if name == "exact":
        return "int8 unpacked"
    kept = [kv for kv in params.split(",") if kv and kv != "width=8"]
    return name + (":" + ",".join(kept) if kept else "")


def formula_cycles(layer: dict, lanes: int, hf6: bool = False) -> int:
    """The engine README's formulas: Conv2D / FullyConnected
    ``14 + H*W*C + G*T + OH*OW*G*max(T+1, P) + P + 11`` (int8 and HF6 alike: the HF6 MAC
    array, lane serialiser and activation take as long as the int8 MAC array and the
    requantisation); MaxPool ``16 + H*W*C + OH*OW*C*(T+1) + 4`` (T = FH*FW; ``+ 3`` on the HF6
    engine, whose float32 maximum has no clamp stage)."""
    h, w, c = layer["in"]
    oh, ow, oc = layer["out"]
    fh, fw = layer["filter"]
    if layer.get("kind") == "maxpool":
        return 16 + h * w * c + oh * ow * c * (fh * fw + 1) + 4 - int(hf6)
    t = fh * fw * c
    g = -(-oc // lanes)
    return 14 + h * w * c + g * t + oh * ow * g * max(t + 1, lanes) + lanes + 11


def engine_params(cfg: dict, network: str) -> dict:
    """The engine's generation parameters: lanes and multiplier, buffers for ``network``."""
    return {**cfg, **NETWORKS[network]["buffers"]}


def layer_names(network: str) -> list[str]:
    """The layers of ``network`` that run on the engine, in order."""
    from refmodels.cnn.net import load_network

    return [L["name"] for L in load_network(network).layers
            if L["type"] in ("conv2d", "dense", "maxpool")]


def merge_runs(runs: list[dict], lanes: int, hf6: bool) -> list[dict]:
    """Per network layer of the first image: the engine runs of the layer (several when its
    output channels exceed the channel table) summed - cycles, MACs, formula."""
    layers: list[dict] = []
    for run in runs:
        if run["image"] != 0:
            continue
        if not layers or layers[-1]["name"] != run["layer"]:
            layers.append({"name": run["layer"], "kind": run["kind"], "in": run["in"],
                           "out": list(run["out"]), "filter": run["filter"], "runs": 0,
                           "macs": 0, "cycles": 0, "formula": 0})
            layers[-1]["out"][2] = 0
        lay = layers[-1]
        lay["runs"] += 1
        lay["out"][2] += run["out"][2]
        lay["macs"] += run["macs"]
        lay["cycles"] += run["cycles"]
        lay["formula"] += formula_cycles(run, lanes, hf6)
    return layers


def simulate(cfg: dict, build_root: Path, network: str = "digits", images: int = 1,
             seed: int = 1) -> dict:
    """Run ``network`` on ``images`` held-out images on the engine ``cfg`` in Icarus (every
    output checked against the golden model); per-layer cycles of the first image."""
    from approxnn.eda.sim import run_cocotb
    from cores.cnn.common import convert
    from cores.cnn.generate import BLOCKS, build_block

    factory, module = build_block("engine", **engine_params(cfg, network))
    build = Path(build_root).resolve() / f"{module}_{network}"
    src = convert(factory, module, build / "rtl")
    out = build / "cycles.json"
    if out.exists():
        out.unlink()
    env = {"APPROXNN_SEED": seed, "APPROXNN_IDLE": 0, "APPROXNN_IMAGES": images,
           "APPROXNN_NETWORK": network, "APPROXNN_CYCLES_FILE": str(out),
           **BLOCKS["engine"]["env"](cfg)}
    res = run_cocotb("icarus", [src], module, "verif.cnn.cocotb_engine_cycles", build / "sim",
                     testcase="EngineNetworkCycles", extra_env=env, seed=seed)
    if not res.passed or not out.exists():
        raise RuntimeError(f"engine network simulation failed for {module}: "
                           f"{'; '.join(res.messages) or res.xml}")
    data = json.loads(out.read_text())
    layers = merge_runs(data["layers"], cfg["lanes"], cfg["mul"] == "hf6")
    names = layer_names(network)
    if [lay["name"] for lay in layers] != names:
        raise RuntimeError(f"{module}: layers {[lay['name'] for lay in layers]}, "
                           f"expected {names}")
    return {"module": module, "layers": layers, "images": data["images"]}


def synthesise(cfg: dict, workdir: Path, network: str = "digits") -> dict:
    """Yosys figures of the engine ``cfg`` (DSP48E1 allowed, and ``-nodsp``)."""
    from approxnn.eda.synth import synthesize
    from cores.cnn.common import convert
    from cores.cnn.generate import build_block

    factory, module = build_block("engine", **engine_params(cfg, network))
    workdir = Path(workdir).resolve() / module
    src = convert(factory, module, workdir / "rtl")
    d = synthesize([src], module, nodsp=False, workdir=workdir / "dsp")
    nd = synthesize([src], module, nodsp=True, workdir=workdir / "nodsp")
    return {"module": module, "luts": d.luts, "ffs": d.ffs, "dsps": d.dsps,
            "carry4": d.carry4, "bram36": bram36(d.cells), "nodsp_luts": nd.luts,
            "nodsp_ffs": nd.ffs, "nodsp_dsps": nd.dsps}


def bram36(cells: dict) -> float:
    """RAMB36 equivalents: a RAMB18 counts one half."""
    return sum(v * (1.0 if "36" in k else 0.5) for k, v in cells.items()
               if k.startswith("RAMB"))


def rtl_key(cfg: dict, workdir: Path, network: str = "digits") -> str:
    """Cache key of an engine's Yosys figures: module name and a digest of its generated
    Verilog, so that a changed design is synthesised again."""
    import hashlib

    from cores.cnn.common import convert
    from cores.cnn.generate import build_block

    factory, module = build_block("engine", **engine_params(cfg, network))
    src = convert(factory, module, Path(workdir))
    return f"{module}@{hashlib.sha256(src.read_bytes()).hexdigest()[:12]}"


def _measure(args):
    cfg, build_root, synth_dir, do_synth, network, images = args
    t0 = time.perf_counter()
    row = {"lanes": cfg["lanes"], "mul": cfg["mul"], "label": label(cfg)}
    row.update(simulate(cfg, build_root, network, images))
    if do_synth:
        row["synth"] = synthesise(cfg, synth_dir, network)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def summarise(row: dict) -> dict:
    """Totals per inference, MAC/cycle and GOPS at 200 MHz of a measured row (in place)."""
    for lay in row["layers"]:
        lay["mac_per_cycle"] = round(lay["macs"] / lay["cycles"], 3)
        lay["gops"] = round(2 * lay["macs"] / lay["cycles"] * CLOCK_MHZ / 1000, 3)
    cyc = sum(lay["cycles"] for lay in row["layers"])
    macs = sum(lay["macs"] for lay in row["layers"])
    row.update(cycles=cyc, formula=sum(lay["formula"] for lay in row["layers"]), macs=macs,
               mac_per_cycle=round(macs / cyc, 3),
               gops=round(2 * macs / cyc * CLOCK_MHZ / 1000, 3),
               us_per_inference=round(cyc / CLOCK_MHZ, 2),
               peak_gops=round(2 * row["lanes"] * CLOCK_MHZ / 1000, 2))
    return row


def report_stem(network: str) -> str:
    return "hardware" if network == "digits" else f"hardware_{network}"


def report(configs, out_dir: Path, *, synth: bool = True, jobs: int = 1, network="digits",
           images: int = 1, log=sys.stderr) -> list[dict]:
    """Measure every configuration and write ``out_dir/hardware[_<network>].{json,csv,md,png}``."""
    from approxnn.report import atomic_write

    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; valid: {', '.join(NETWORKS)}")
    if images < 1:
        raise ValueError("--images must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = out_dir / "hardware_synth.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    work, keys = [], []
    for cfg in configs:
        key = rtl_key(cfg, out_dir / "work" / "keys", network)
        keys.append(key)
        need = synth and key not in cache
        work.append((cfg, out_dir / "work" / "sim", out_dir / "work" / "synth", need, network,
                     images))
    rows = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for k, (key, row) in enumerate(zip(keys, pool.map(_measure, work), strict=True), 1):
            if "synth" in row:
                cache[key] = row.pop("synth")
                atomic_write(cache_path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
            if key in cache:
                row["cost"] = cache[key]
            summarise(row)
            cost = row.get("cost")
            print(f"[{k}/{len(work)}] P={row['lanes']} {row['label']}: "
                  + ", ".join(f"{lay['name']} {lay['cycles']}" for lay in row["layers"])
                  + f" cycles, {row['mac_per_cycle']} MAC/cycle"
                  + (f", {cost['luts']} LUT, {cost['dsps']} DSP" if cost else "")
                  + f" ({time.perf_counter() - t0:.0f} s)", file=log, flush=True)
            rows.append(row)
    stem = report_stem(network)
    atomic_write(out_dir / f"{stem}.json", json.dumps(
        {"clock_mhz": CLOCK_MHZ, "network": network, "images": images,
         "buffers": NETWORKS[network]["buffers"], "published_hf6": PUBLISHED_HF6,
         "xc7z020": XC7Z020, "engines": rows}, indent=1) + "\n")
    atomic_write(out_dir / f"{stem}.csv", to_csv(rows))
    atomic_write(out_dir / f"{stem}.md", markdown(rows, network))
    plot(rows, out_dir / f"{stem}.png", network)
    return rows


def plot(rows, path: Path, network: str = "digits") -> Path:
    """Two panels: cycles per inference of every configuration, stacked by layer; throughput
    at 200 MHz against LUTs (engines with resources, and the published HF6 processor)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from approxnn.report import atomic_write

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    names = [f"P={r['lanes']}\n{r['label']}" for r in rows]
    bottom = [0] * len(rows)
    layers = [lay["name"] for lay in rows[0]["layers"]] if rows else []
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(layers):
        vals = [next(lay["cycles"] for lay in r["layers"] if lay["name"] == name) for r in rows]
        ax1.bar(range(len(rows)), vals, bottom=bottom, label=name, color=cmap(k % 10))
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax1.set_xticks(range(len(rows)), names, fontsize=7, rotation=45, ha="right")
    ax1.set_ylabel("cycles per inference (RTL simulation)")
    ax1.set_title(f"{network}: cycles per layer")
    ax1.legend(fontsize=8)
    ax1.grid(True, axis="y", alpha=0.3)
    seen: dict[float, int] = {}  # labels of equal throughput are stacked, not overprinted
    for r in rows:
        c = r.get("cost")
        if not c:
            continue
        hf = r["mul"] == "hf6"
        ax2.scatter(c["luts"], r["gops"], marker="s" if hf else "o",
                    c="tab:red" if hf else "tab:blue", zorder=3)
        k = seen[round(r["gops"], 2)] = seen.get(round(r["gops"], 2), -1) + 1
        ax2.annotate(f"P={r['lanes']} {r['label']}", (c["luts"], r["gops"]), fontsize=7,
                     xytext=(3, 3 - 10 * k), textcoords="offset points")
    p = PUBLISHED_HF6
    ax2.scatter(p["luts"], p["mflops"] / 1000, marker="*", s=160, c="k", zorder=3)
    ax2.annotate("published HF6 processor (Vivado, measured)", (p["luts"], p["mflops"] / 1000),
                 fontsize=7, xytext=(3, -10), textcoords="offset points")
    ax2.set_xlabel("LUTs (Yosys synth_xilinx -family xc7; published: Vivado)")
    ax2.set_ylabel("GOPS / GFLOP/s at 200 MHz")
    ax2.set_title("throughput against LUTs (squares: HF6 engines)")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


CSV_KEYS = ["lanes", "mul", "label", "module", "cycles", "formula", "macs", "mac_per_cycle",
            "gops", "peak_gops", "images", "luts", "ffs", "dsps", "carry4", "bram36",
            "nodsp_luts"]


def to_csv(rows) -> str:
    """One line per configuration; ``<layer>_cycles`` columns after the module name."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    per_layer = [f"{lay['name']}_cycles" for lay in rows[0]["layers"]] if rows else []
    keys = CSV_KEYS[:4] + per_layer + CSV_KEYS[4:]
    w.writerow(keys)
    for r in rows:
        flat = dict(r)
        flat.update({f"{lay['name']}_cycles": lay["cycles"] for lay in r["layers"]})
        flat.update(r.get("cost") or {})
        w.writerow([flat.get(k, "") for k in keys])
    return buf.getvalue()


def _pct(v, cap):
    return f"{v} ({100 * v / cap:.1f} %)"


def markdown(rows, network: str = "digits") -> str:
    images = rows[0].get("images", 1) if rows else 1
    bufs = NETWORKS[network]["buffers"]
    buf_text = f" (buffers {', '.join(f'{k}={v}' for k, v in bufs.items())})" if bufs else ""
    lines = [
        f"# CNN layer engine: cycles and cost ({network})", "",
        f"Trained `{network}` network ({NETWORKS[network]['desc']}), every layer on the layer "
        f"engine{buf_text}, "
        f"measured in RTL simulation (Icarus, CYCLES register START to DONE, no stream stalls) "
        f"on {images} held-out image{'s' if images > 1 else ''}, the outputs of every layer "
        "and image checked bit for bit against `Network.forward_int8` (rounding path "
        "`reference`: TFLite's reference kernels, the dense layers run with the engine's "
        "float-scale rescale), or "
        "`Network.forward_hf6` on the HF6 engine; cycles of the first image (they do not "
        "depend on the data). MAC/cycle = MACs / cycles (the pooling layers count in the "
        "cycles of an inference); GOPS at 200 MHz count 2 ops per MAC (GFLOP/s on the HF6 "
        "engine). `formula` is the engine README's cycle formula (cross-check).", "",
        "## Cycles per layer", "",
        "| P | multiplier | layer | MACs | cycles (RTL) | formula | MAC/cycle | GOPS @ 200 MHz |",
        "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for lay in r["layers"]:
            lines.append(f"| {r['lanes']} | {r['label']} | {lay['name']} | {lay['macs']} | "
                         f"{lay['cycles']} | {lay['formula']} | {lay['mac_per_cycle']} | "
                         f"{lay['gops']} |")
    lines += ["", "## Per inference and resources", "",
              "| P | multiplier | cycles / inference | formula | us @ 200 MHz | MAC/cycle | "
              "GOPS @ 200 MHz | peak GOPS | LUT | FF | DSP48E1 | BRAM36 | LUT (-nodsp) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r.get("cost") or {}
        res = [c.get(k, "-") for k in ("luts", "ffs", "dsps", "bram36", "nodsp_luts")]
        lines.append(f"| {r['lanes']} | {r['label']} | {r['cycles']} | {r['formula']} | "
                     f"{r['us_per_inference']} | {r['mac_per_cycle']} | {r['gops']} | "
                     f"{r['peak_gops']} | " + " | ".join(str(v) for v in res) + " |")
    p = PUBLISHED_HF6
    lines.append(f"| - | published HF6 tensor processor (XC7Z007S) | - | - | - | - | "
                 f"{p['mflops'] / 1000} GFLOP/s | - | {p['luts']} | {p['ffs']} | {p['dsps']} | "
                 f"{p['bram36']} | - |")
    z = XC7Z020
    lines.append(f"| - | XC7Z020 capacity | - | - | - | - | - | - | {z['luts']} | {z['ffs']} | "
                 f"{z['dsps']} | {z['bram36']} | - |")
    costed = [r for r in rows if r.get("cost")]
    if costed:
        lines += ["", "Share of the XC7Z020 (LUT / FF / DSP48E1 / BRAM36):", ""]
        for r in costed:
            c = r["cost"]
            lines.append(f"- P={r['lanes']} {r['label']}: " + ", ".join(
                _pct(c[k], z[k]) for k in ("luts", "ffs", "dsps", "bram36")))
    lines += ["", "Resources: Yosys `synth_xilinx -family xc7 -flatten` (DSP48E1 allowed; "
              "`-nodsp` LUTs beside), the whole engine (AXI4-Lite register file, buffers, MAC "
              "array, requantisation and pooling, or the HF6 MAC array, activation and float32 "
              "max pooling). The published processor's figures are Vivado's, on "
              "float32 activations with HF6 weights; its 482 MFLOP/s is a measured "
              "throughput, not a peak.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# `approxnn cnn hardware`


def add_parser(sub) -> None:
    h = sub.add_parser(
        "hardware", help="cycles per layer (RTL simulation) and Yosys cost of the layer engine",
        description="Generate the CNN layer engine for several lane counts and multipliers, "
        "run a trained network on it in Icarus (every layer's output checked against the "
        "golden model; cycles per layer), synthesise it with Yosys for xc7; writes "
        "hardware[_NETWORK].{json,csv,md,png} to --out and prints the Markdown.")
    h.add_argument("--configs", default=DEFAULT_CONFIGS,
                   help=f"P:MULTIPLIER list; MULTIPLIER is int8 (exact, two lanes per "
                   f"DSP48E1), hf6 (Hybrid-Float6: float32 activations, HF6 weights) or an "
                   f"8-bit unit (exact = int8 unpacked, drum:k=4, mitchell, ...); default "
                   f"{DEFAULT_CONFIGS}")
    h.add_argument("--network", default="digits", choices=sorted(NETWORKS),
                   help="trained network of refmodels/cnn/networks (digits)")
    h.add_argument("--images", type=int, default=1,
                   help="held-out images run through the RTL and checked (1)")
    h.add_argument("--no-synth", action="store_true",
                   help="cycles only (no Yosys; cached resources are still shown)")
    h.add_argument("--jobs", type=int, default=1, help="parallel configurations (1)")
    h.add_argument("--out", default="reports/cnn", help="report folder (reports/cnn)")


def run_cli(args) -> int:
    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if args.images < 1:
        raise ValueError("--images must be at least 1")
    configs = parse_configs(args.configs)
    print(f"CNN hardware: {len(configs)} engine configurations, {args.network} network, "
          f"{args.images} image(s)" + ("" if args.no_synth else ", with Yosys")
          + f" -> {args.out}", file=sys.stderr)
    rows = report(configs, Path(args.out), synth=not args.no_synth, jobs=args.jobs,
                  network=args.network, images=args.images)
    print((Path(args.out) / f"{report_stem(args.network)}.md").read_text())
    return 0 if rows else 1
