"""Switching-activity energy proxy of the multiplier units on real layer data.

**A relative proxy, not a power figure.** For a unit U and a compute layer L of a network:

1. the operand stream of L: ``--products`` (weight, activation) pairs in the order a MAC lane
   of the engine takes them - for a randomly drawn (image, output position, output channel),
   the layer's in-image kernel taps one after the other (the int8 weight and the int8 input
   activation, as the signed unit's ``a`` and ``b``; for an unsigned unit |w| and x + 128, as
   the emulation does), blocks drawn until the stream is long enough (seeded);
2. the unit's Yosys 7-series netlist (``synth_xilinx -nodsp``, the flow of the LUT figures)
   simulated in Icarus on the streams of all layers one after the other, the toggles of every
   net bit read from the FST waveform with pywellen (:mod:`approxnn.eda.activity`);
3. ``E(U, L)`` = sum over net bits of toggles x fanout (cell input pins driven, +1 for an
   output bit), per product: *fanout-weighted toggles per product*. Fanout stands for the
   capacitance a toggle charges; the count is zero-delay (no glitches), has no wire lengths,
   voltage, frequency, clock or static power. It ranks units and assignments; it is no mW.

The energy proxy of an assignment (``approxnn explore``) is ``sum_L MACs_L E(U_L, L)``
divided by the same sum with the exact multiplier in every layer.

``python -m approxnn.energy [--network digits] [--units ...] [--products 2048] [--seed 0]``
prints ``E(U, L)`` for every unit and layer, relative to exact, beside the LUTs and a
random-operand figure, and Spearman's rank correlation between the proxy and the LUT (area)
proxy. ``python -m approxnn.energy_compare --evoapprox DIR`` computes the same proxy for
published circuits (an EvoApproxLib checkout) and its correlation with their published 45 nm
power (measured in ``scripts/approxnn/README.md``).

Results are cached (``approxnn.cache``) by netlist source, stream and code digest.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["layer_operands", "unit_energy", "verilog_energy", "energy_table", "main",
           "DEFAULT_PRODUCTS"]

DEFAULT_PRODUCTS = 2048
#: images the layer streams are drawn from (the first ones given)
STREAM_IMAGES = 100
EXACT = "exact:width=8,signed=1"


def _layer_inputs(net, x):
    """int8 input tensor of every compute layer for float images ``x``."""
    from refmodels.cnn import hetero

    xq = net.quantize_input(x)
    _, tr = hetero.forward_int8_layers(net, xq, None, trace=True)
    out, prev = {}, xq
    for L in net.layers:
        if L["type"] in ("conv2d", "dense"):
            out[L["name"]] = prev
        prev = tr[L["name"]]
    return out


def layer_operands(net, x, products=DEFAULT_PRODUCTS, seed=0):
    """``{layer: (w, act)}``: int8 operand streams (values) of ``products`` pairs per compute
    layer, in MAC-lane order (see the module docstring), from float images ``x``."""
    from refmodels.cnn import tflite as tfl

    if products < 2:
        raise ValueError(f"--products must be at least 2, got {products}")
    inputs = _layer_inputs(net, x)
    rng = np.random.default_rng(seed)
    out = {}
    for L in net.layers:
        nm = L["name"]
        if nm not in inputs:
            continue
        a = np.asarray(inputs[nm], np.int64)
        wq = np.asarray(net.arrays[nm + ".wq"], np.int64)
        ws, xs, n = [], [], 0
        while n < products:
            img = int(rng.integers(len(a)))
            c = int(rng.integers(wq.shape[0]))
            if L["type"] == "conv2d":
                co, fh, fw, ci = wq.shape
                cols, valid = tfl.patches(a[img : img + 1], fh, fw, L["stride"], L["padding"], 1)
                oh, ow = valid.shape[:2]
                p = int(rng.integers(oh * ow))
                py, px = divmod(p, ow)
                m = valid[py, px]  # (fh, fw): in-image taps
                w = wq[c][m].ravel()  # (taps, ci) -> tap-major, channel inner
                v = cols[0, py, px][m].ravel()
            else:
                w, v = wq[c], a[img]
            ws.append(w)
            xs.append(v)
            n += len(w)
        out[nm] = (np.concatenate(ws)[:products], np.concatenate(xs)[:products])
    return out


def _codes(spec, w, v):
    return _codes_signed(spec.signed, w, v)


def _codes_signed(signed, w, v):
    """Operand codes of an int8 (weight, activation) stream for a signed unit (two's
    complement) or an unsigned one (|w| and x + 128, as the emulation feeds it)."""
    if signed:
        return np.asarray(w) & 0xFF, np.asarray(v) & 0xFF
    return np.abs(w), np.asarray(v) + 128


def _digest_streams(streams) -> str:
    h = hashlib.sha256()
    for k in sorted(streams):
        h.update(k.encode())
        for arr in streams[k]:
            h.update(np.ascontiguousarray(arr, np.int64).tobytes())
    return h.hexdigest()


def unit_energy(unit, streams, *, workdir=None) -> dict:
    """``{"luts", "cells", "layers": {name: {"energy", "toggles"}}}`` of ``unit`` on the
    operand ``streams`` (``{name: (w, act)}``): fanout-weighted toggles per product and plain
    toggles per product. Cached."""
    from refmodels.arith import parse_unit

    from .characterize import _convert_fn

    spec = parse_unit(unit)
    if spec.kind != "mul" or spec.width != 8:
        raise ValueError(f"{unit}: the energy proxy takes 8-bit multipliers")
    tmp = Path(tempfile.mkdtemp(prefix=f"approxnn_energy_{spec.module_name}_"))
    try:
        vfile = _convert_fn()(spec, tmp / "rtl")
        return verilog_energy([vfile], spec.module_name, bool(spec.signed), streams,
                              workdir=workdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verilog_energy(files, top, signed, streams, *, ports=("a", "b", "y"), workdir=None) -> dict:
    """:func:`unit_energy` of a Verilog module ``top`` in ``files`` (operand ports
    ``ports[0]``, ``ports[1]``: 8 bits, result ``ports[2]``: 16 bits), fed with the operand
    codes of a ``signed`` or unsigned unit. Cached by the files' contents, ``top``, the ports,
    the streams and the code digest."""
    from . import cache
    from .eda import activity

    names = list(streams)
    key = cache.digest("activity", [Path(f) for f in files], top=top,
                       streams=_digest_streams(streams), code=activity.code_digest(),
                       signed=bool(signed), ports=list(ports))
    hit = cache.load_json(key)
    if hit is not None and set(hit.get("layers", {})) == set(names):
        return hit
    tmp = Path(tempfile.mkdtemp(prefix=f"approxnn_energy_{top}_"))
    try:
        nl = activity.netlist(files, top, 8, 16, Path(workdir or tmp) / "net", ports=ports)
        codes = [_codes_signed(signed, *streams[k]) for k in names]
        a = np.concatenate([c[0] for c in codes])
        b = np.concatenate([c[1] for c in codes])
        r = activity.toggles(nl, a, b, [len(c[0]) for c in codes])
        res = {"luts": nl.luts, "cells": nl.cells, "layers": {}}
        for i, k in enumerate(names):
            pairs = int(r["pairs"][i]) - (1 if i == 0 else 0)  # the first pair toggles nothing
            res["layers"][k] = {
                "energy": float((r["toggles"][i] * r["fanout"]).sum() / pairs),
                "toggles": float(r["toggles"][i].sum() / pairs)}
        cache.store_json(key, res)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def energy_table(net, units, x, *, products=DEFAULT_PRODUCTS, seed=0, stream=None,
                 get=None, put=None) -> dict:
    """``{unit: {layer: E}}`` for ``units`` on the layer streams of ``net`` (drawn from the
    first :data:`STREAM_IMAGES` images of ``x``). The simulated stream also holds a random
    segment (uniform int8 operands, the figure ``python -m approxnn.energy`` prints beside),
    so this and the command share their cached simulations. ``get(unit, layer)`` /
    ``put(unit, layer, E)``: an outer cache (e.g. ``approxnn explore``'s), consulted
    first."""
    stream = stream or sys.stderr
    streams = None
    out = {}
    t0 = time.perf_counter()
    from refmodels.cnn import hetero

    layers = hetero.compute_layers(net)
    todo = []
    for u in units:
        got = {k: get(u, k) for k in layers} if get else {}
        if get and all(v is not None for v in got.values()):
            out[u] = got
        else:
            todo.append(u)
    for i, u in enumerate(todo, 1):
        if streams is None:
            streams = layer_operands(net, x[:STREAM_IMAGES], products, seed) | \
                _random_streams(products, seed)
        r = unit_energy(u, streams)
        out[u] = {k: r["layers"][k]["energy"] for k in layers}
        if put:
            for k in layers:
                put(u, k, out[u][k])
        stream.write(f"[energy {i}/{len(todo)}] {u}: " + ", ".join(
            f"{k} {v:.1f}" for k, v in out[u].items())
            + f" weighted toggles/product  elapsed {time.perf_counter() - t0:5.0f}s\n")
        stream.flush()
    return out


def _random_streams(products, seed):
    rng = np.random.default_rng(seed)
    return {"random": (rng.integers(-128, 128, products), rng.integers(-128, 128, products))}


def main(argv=None) -> int:
    from refmodels.cnn.net import load_dataset
    from refmodels.cnn.resilience import spearman

    from .cnn_cmd import library_units, parse_units, resolve_network

    ap = argparse.ArgumentParser(prog="python -m approxnn.energy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="digits")
    ap.add_argument("--units", help="units (default: the 15-unit library and exact)")
    ap.add_argument("--products", type=int, default=DEFAULT_PRODUCTS,
                    help=f"products per layer ({DEFAULT_PRODUCTS})")
    ap.add_argument("--images", type=int, default=STREAM_IMAGES,
                    help=f"images the streams come from ({STREAM_IMAGES}; explore uses "
                    f"{STREAM_IMAGES})")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        net = resolve_network(a.network)
        units = parse_units(a.units) if a.units else library_units()
        units = [EXACT] + [u for u in units if u != EXACT]
        _, _, x, _ = load_dataset(net.topology["dataset"])
        x = x[: a.images]
        streams = layer_operands(net, x, a.products, a.seed)
        rand = _random_streams(a.products, a.seed)
    except ValueError as e:
        print(f"approxnn.energy: error: {e}", file=sys.stderr)
        return 2
    layers = list(streams)
    rows = []
    for i, u in enumerate(units, 1):
        r = unit_energy(u, streams | rand)
        rows.append((u, r))
        print(f"[{i}/{len(units)}] {u}", file=sys.stderr, flush=True)
    ex = rows[0][1]["layers"]
    print(f"{net.name}: fanout-weighted toggles per product, relative to exact "
          f"({a.products} products per layer, seed {a.seed}); a relative proxy, not power")
    head = f"{'unit':34} {'LUT':>5} " + " ".join(f"{k:>8}" for k in layers) + \
        f" {'random':>8} {'mean':>7}"
    print(head)
    means, lutv = [], []
    for u, r in rows:
        rel = [r["layers"][k]["energy"] / ex[k]["energy"] for k in layers]
        rr = r["layers"]["random"]["energy"] / ex["random"]["energy"]
        means.append(float(np.mean(rel)))
        lutv.append(r["luts"])
        print(f"{u:34} {r['luts']:5d} " + " ".join(f"{v:8.3f}" for v in rel)
              + f" {rr:8.3f} {means[-1]:7.3f}")
    rnd = [r["layers"]["random"]["energy"] for _, r in rows]
    print(f"Spearman (energy proxy, layer mean vs LUTs): {spearman(means, lutv):.3f}; "
          f"(random operands vs LUTs): {spearman(rnd, lutv):.3f}; "
          f"(layer data vs random operands): {spearman(means, rnd):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
