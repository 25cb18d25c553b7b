"""``approxnn sbs run NETWORK --backend golden|sim|pynq``: a stored SbS network end to end.

``golden``: the bit-exact fixed-point golden model (``refmodels.sbs.model.run``, the layer
unit's weight format and h representation). ``sim``: the SbS board target's system simulation
(verif/zynq/cocotb_sbs_network.py): the host driver on the PYNQ-API shim, every layer through
GP0, DDR and the AXI DMA models; each layer's final h is compared with the golden model bit
for bit and its cost printed (spike updates, simulated fabric cycles, latency at the target
clock, wall time). ``pynq``: the same driver on a board (needs the ``pynq`` package).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ("golden", "sim", "pynq")


def add_parser(sub):
    r = sub.add_parser("run", help="a stored SbS network end to end: golden model, system "
                       "simulation or a PYNQ board")
    r.add_argument("network", help="stored network (digits, mnist) or its .json")
    r.add_argument("--backend", default="golden", help="golden | sim | pynq (default golden)")
    r.add_argument("--T", type=int, default=8, help="spike steps per layer (default 8)")
    r.add_argument("--images", type=int, default=1, help="held-out test images (default 1)")
    r.add_argument("--seed", type=int, default=0, help="spike seed of image 0")
    r.add_argument("--sim", default="icarus", help="simulator (icarus, verilator)")
    r.add_argument("--build-dir", default="build/sbs_run", help="simulation build folder")
    r.add_argument("--overlay", default="approxnn_sbs.bit", help="--backend pynq: bitstream")


def _fits(net, params):
    for lay in net.layers:
        rows = int(np.prod(lay.weight_shape[:3]))
        if lay.n_h > params["n_max"] or lay.n_ip > params["ip_max"] or \
                rows > params["rows_max"] or lay.n_h % params["lanes"]:
            raise ValueError(f"layer {lay.index} ({lay.type}: {lay.n_h} latents, {lay.n_ip} "
                             f"IPs, {rows} rows) does not fit the board target's layer unit "
                             f"(N_MAX {params['n_max']}, IP_MAX {params['ip_max']}, ROWS_MAX "
                             f"{params['rows_max']}, P {params['lanes']})")


def run_sim(name, T, n, seed, sim="icarus", build_dir="build/sbs_run"):
    from approxnn.eda.rtlsim import SimError  # noqa: PLC0415
    from approxnn.eda.sim import run_cocotb  # noqa: PLC0415
    from cores.zynq import generate as zg  # noqa: PLC0415
    from verif.zynq.system import write_sim_top  # noqa: PLC0415

    t = zg.TOPS["layer"]
    srcs = [zg.ZYNQ_DIR / f for f in zg.files_of("layer") if f.endswith(".v")]
    top_v = next(s for s in srcs if s.name == f"{t['top']}.v")
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build) as tmp:
        tmp = Path(tmp)
        sim_top = write_sim_top(t["top"], top_v, tmp / "sim_top.v")
        env = {"APPROXNN_SBS_NETWORK": name, "APPROXNN_SBS_T": T, "APPROXNN_SBS_IMAGES": n,
               "APPROXNN_SEED": seed, "APPROXNN_REPORT": str(tmp / "r.json"),
               "PYTHONWARNINGS": "ignore::DeprecationWarning"}
        res = run_cocotb(sim, [*srcs, sim_top], f"sim_{t['top']}",
                         "verif.zynq.cocotb_sbs_network", build / f"sim_{sim}", extra_env=env,
                         seed=seed)
        if not res.passed or not (tmp / "r.json").is_file():
            raise SimError(f"the SbS system simulation failed ({res}); see its log in "
                           f"{build / f'sim_{sim}'}")
        return json.loads((tmp / "r.json").read_text())


def _pynq():
    try:
        import pynq  # noqa: PLC0415 - on a board only
    except ImportError:
        raise ValueError("--backend pynq needs the 'pynq' package: run on a PYNQ board image "
                         "with the approxnn_sbs overlay (fpga/README.md)") from None
    return pynq


def run_pynq(net, images, T, seeds, fmt, hf, overlay):
    pynq = _pynq()
    Overlay, allocate = pynq.Overlay, pynq.allocate
    from approxnn_host import sbs_network  # noqa: PLC0415
    from approxnn_host.sbs import SbsLayer  # noqa: PLC0415

    states, costs = sbs_network.run(SbsLayer(Overlay(overlay), allocate), net, images, T,
                                    seeds, fmt, hf)
    return {"costs": costs, "states": [[h.tolist() for h in s] for s in states]}


def cmd_run(args) -> int:
    from cores.zynq.generate import FREQ_HZ, TOPS  # noqa: PLC0415
    from refmodels.sbs.evaluate import load_named  # noqa: PLC0415
    from refmodels.sbs.formats import HFixed, parse_format  # noqa: PLC0415
    from refmodels.sbs.model import run  # noqa: PLC0415
    from refmodels.sbs.train import load_digits_split, load_mnist_split  # noqa: PLC0415

    if args.backend not in BACKENDS:
        raise ValueError(f"unknown backend {args.backend!r}; valid: {', '.join(BACKENDS)}")
    if args.T < 1 or args.images < 1:
        raise ValueError("--T and --images must be at least 1")
    if args.backend == "pynq":
        _pynq()
    params = TOPS["layer"]["params"]
    net, dataset = load_named(args.network)[:2]
    _fits(net, params)
    fmt, hf = parse_format(params["weights"]), HFixed()
    loader = load_digits_split if dataset == "digits" else load_mnist_split
    _, _, x_test, y_test = loader()
    images, labels = x_test[: args.images], y_test[: args.images]
    seeds = args.seed + np.arange(len(images))
    print(f"SbS {args.network}: {len(images)} held-out {dataset} images, T = {args.T}, weights "
          f"{fmt.name}, backend {args.backend}")
    t0 = time.perf_counter()
    _, want = run(net, images, args.T, seeds=seeds, weights=fmt, h=hf, return_all=True)
    t_golden = time.perf_counter() - t0
    if args.backend == "golden":
        states = [[want[li][b] for li in range(len(net.layers))] for b in range(len(images))]
        report = None
    else:
        t0 = time.perf_counter()
        if args.backend == "sim":
            report = run_sim(args.network, args.T, len(images), args.seed, args.sim,
                             args.build_dir)
        else:
            report = run_pynq(net, images, args.T, seeds, fmt, hf, args.overlay)
        wall = time.perf_counter() - t0
        states = [[np.asarray(h, np.int64) for h in s] for s in report["states"]]
    bad = []
    for b in range(len(images)):
        for li in range(len(net.layers)):
            got = np.asarray(states[b][li]).reshape(want[li][b].shape)
            if not np.array_equal(got, want[li][b]):
                bad.append(f"image {b} layer {li}: "
                           f"{int(np.sum(got != want[li][b]))} latents differ")
    classes = [int(np.argmax(np.asarray(s[-1]).reshape(-1))) for s in states]
    for b, c in enumerate(classes):
        print(f"image {b}: label {int(labels[b])}, class {c}")
    if args.backend != "golden":
        print(f"golden model: {'every layer h bit-exact' if not bad else bad[0]}")
    if report is not None:
        mhz = FREQ_HZ / 1e6
        costs = report["costs"]
        print(f"\n| layer | type | spike updates | fabric cycles | ms at {mhz:.0f} MHz |")
        print("|---|---|---|---|---|")
        tot = 0.0
        for li, lay in enumerate(net.layers):
            up = float(np.mean([c[li]["updates"] for c in costs]))
            cyc = [c[li]["cycles"] for c in costs]
            cy = float(np.mean(cyc)) if cyc[0] is not None else float("nan")
            tot += cy
            print(f"| {li} | {lay.type} | {up:,.0f} | {cy:,.0f} | {cy / mhz / 1e3:.3f} |")
        print(f"| total | | | {tot:,.0f} | {tot / mhz / 1e3:.3f} |\n")
        print(f"latency at {mhz:.0f} MHz: {tot / mhz / 1e3:.3f} ms per image (T = {args.T}; "
              "fabric cycles of the simulation, register and DMA set-up included, host "
              "spike drawing not)")
        cpu = sum(c.get("cpu_s", 0.0) for im in costs for c in im) / len(images)
        print(f"wall time: {wall / len(images):.1f} s per image ({args.backend}; {cpu:.1f} s "
              f"CPU of the simulator process); golden model {t_golden:.2f} s for all")
    if bad:
        print(f"approxnn: error: {bad[0]}", file=sys.stderr)
        return 1
    return 0
