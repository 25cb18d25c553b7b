"""Train, quantise and store the project's reference CNNs, and print their accuracy table.

``python -m refmodels.cnn.train [digits] [mnist] [--epochs N] [--table-only]``

Float training is plain numpy (:mod:`refmodels.cnn.net` layers, Adam, softmax cross-entropy),
single-threaded friendly. Post-training quantisation calibrates on training images.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

from .minifloat import HF6
from .net import NETWORK_DIR, Network, load_dataset, load_network

TOPOLOGIES = {
    "digits": {
        "name": "digits",
        "dataset": "digits",
        "input": [8, 8, 1],
        "layers": [
            {"type": "conv2d", "name": "conv1", "filters": 8, "kernel": [3, 3],
             "padding": "SAME", "activation": "RELU"},
            {"type": "maxpool", "name": "pool1", "pool": [2, 2]},
            {"type": "conv2d", "name": "conv2", "filters": 16, "kernel": [3, 3],
             "padding": "SAME", "activation": "RELU"},
            {"type": "maxpool", "name": "pool2", "pool": [2, 2]},
            {"type": "flatten", "name": "flatten"},
            {"type": "dense", "name": "fc", "units": 10, "activation": "NONE"},
        ],
    },
    "mnist": {
        "name": "mnist",
        "dataset": "mnist",
        "input": [28, 28, 1],
        "layers": [
            {"type": "conv2d", "name": "conv1", "filters": 6, "kernel": [5, 5],
             "padding": "VALID", "activation": "RELU"},
            {"type": "maxpool", "name": "pool1", "pool": [2, 2]},
            {"type": "conv2d", "name": "conv2", "filters": 16, "kernel": [5, 5],
             "padding": "VALID", "activation": "RELU"},
            {"type": "maxpool", "name": "pool2", "pool": [2, 2]},
            {"type": "flatten", "name": "flatten"},
            {"type": "dense", "name": "fc1", "units": 120, "activation": "RELU"},
            {"type": "dense", "name": "fc2", "units": 84, "activation": "RELU"},
            {"type": "dense", "name": "fc3", "units": 10, "activation": "NONE"},
        ],
    },
}

EPOCHS = {"digits": 40, "mnist": 20}

APPROX_UNITS = [
    "drum:k=6,width=8,signed=1",
    "drum:k=4,width=8,signed=1",
    "trunc:t=6,width=8,signed=1",
    "mitchell:width=8,signed=1",
    "drum:k=4,width=8,signed=0",
]


def softmax_ce(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
    d = p
    d[np.arange(len(y)), y] -= 1
    return float(loss), (d / len(y)).astype(np.float32)


def fit(net, xtr, ytr, epochs, batch=32, lr=2e-3, seed=0, weight_quantizer=None,
        x_val=None, y_val=None, log=print, tag=""):
    """Adam on softmax cross-entropy with a cosine learning-rate schedule.

    ``weight_quantizer`` (e.g. ``HF6.round``): quantisation-aware training with a
    straight-through estimator - forward/backward use the quantised weights and biases, the
    update goes to the float shadow weights.
    """
    rng = np.random.default_rng(seed)
    params = net.param_names()
    m = {p: np.zeros_like(net.arrays[p]) for p in params}
    v = {p: np.zeros_like(net.arrays[p]) for p in params}
    b1, b2, step = 0.9, 0.999, 0
    t0 = time.time()
    for ep in range(epochs):
        order = rng.permutation(len(xtr))
        lr_ep = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))
        tot = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            shadow = {}
            if weight_quantizer is not None:
                for p in params:
                    shadow[p] = net.arrays[p]
                    net.arrays[p] = weight_quantizer(shadow[p]).astype(np.float32)
            out, cache = net.forward(xtr[idx], keep=True)
            loss, d = softmax_ce(out, ytr[idx])
            tot += loss * len(idx)
            g = net.backward(d, cache)
            net.arrays.update(shadow)
            step += 1
            for p in params:
                m[p] = b1 * m[p] + (1 - b1) * g[p]
                v[p] = b2 * v[p] + (1 - b2) * g[p] ** 2
                mh = m[p] / (1 - b1**step)
                vh = v[p] / (1 - b2**step)
                net.arrays[p] = (net.arrays[p] - lr_ep * mh / (np.sqrt(vh) + 1e-8)).astype(
                    np.float32)
        if log and (ep % 5 == 4 or ep == epochs - 1):
            msg = f"{tag} epoch {ep + 1}/{epochs} loss {tot / len(xtr):.4f}"
            if x_val is not None:
                shadow = {p: net.arrays[p] for p in params}
                if weight_quantizer is not None:
                    for p in params:
                        net.arrays[p] = weight_quantizer(shadow[p]).astype(np.float32)
                msg += f" test acc {net.accuracy(x_val, y_val, 'float'):.4f}"
                net.arrays.update(shadow)
            log(msg + f" ({time.time() - t0:.0f} s)")
    return net


def train(name, epochs=None, batch=32, lr=2e-3, seed=0, log=print):
    """Train the float network ``name``; returns (network, data split)."""
    topo = copy.deepcopy(TOPOLOGIES[name])
    net = Network(topo)
    net.init_params(seed)
    xtr, ytr, xte, yte = load_dataset(topo["dataset"])
    epochs = EPOCHS[name] if epochs is None else epochs
    fit(net, xtr, ytr, epochs, batch, lr, seed, None, xte, yte, log, name)
    return net, (xtr, ytr, xte, yte)


def finetune_hf6(net, epochs=6, lr=3e-4, seed=1, log=print):
    """HF6 quantisation-aware fine-tuning of a trained network; returns ``<name>_hf6qat``."""
    topo = copy.deepcopy(net.topology)
    topo.pop("quant", None)
    topo["name"] = net.name + "_hf6qat"
    ft = Network(topo, {p: net.arrays[p].copy() for p in net.param_names()})
    xtr, ytr, xte, yte = load_dataset(topo["dataset"])
    fit(ft, xtr, ytr, epochs, 32, lr, seed, HF6.round, xte, yte, log, topo["name"])
    return ft


def accuracy_table(names=("digits", "mnist"), units=APPROX_UNITS, directory=NETWORK_DIR):
    """Rows (network, arithmetic, test accuracy) for the stored networks."""
    rows = []
    for name in names:
        net = load_network(name, directory)
        _, _, xte, yte = load_dataset(net.topology["dataset"])
        rows.append((name, "float32", net.accuracy(xte, yte, "float")))
        rows.append((name, "int8 exact (TFLite)", net.accuracy(xte, yte, "int8")))
        rows.append((name, "HF6 (E4M1 weights, fp32 act)", net.accuracy(xte, yte, "hf6")))
        if (Path(directory) / f"{name}_hf6qat.json").exists():
            qat = load_network(f"{name}_hf6qat", directory)
            rows.append((name, "HF6 + QAT fine-tuning", qat.accuracy(xte, yte, "hf6")))
        for u in units:
            rows.append((name, f"int8 {u}", net.accuracy(xte, yte, "int8", u)))
    return rows


def format_table(rows):
    lines = ["| network | arithmetic | test accuracy |", "|---|---|---|"]
    lines += [f"| {n} | {a} | {100 * acc:.2f} % |" for n, a, acc in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"networks (default: all of {sorted(TOPOLOGIES)})")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--table-only", action="store_true", help="evaluate the stored networks")
    ap.add_argument("--reuse", action="store_true",
                    help="start from the stored float weights instead of training")
    ap.add_argument("--no-qat", action="store_true", help="skip the HF6 QAT fine-tuning")
    ap.add_argument("--out", default=str(NETWORK_DIR))
    args = ap.parse_args(argv)
    names = args.names or ["digits", "mnist"]
    bad = [n for n in names if n not in TOPOLOGIES]
    if bad:
        ap.error(f"unknown network(s) {bad}; valid: {sorted(TOPOLOGIES)}")
    if not args.table_only:
        for name in names:
            if args.reuse:
                net = load_network(name, args.out)
                xtr = load_dataset(net.topology["dataset"])[0]
            else:
                net, (xtr, _, _, _) = train(name, args.epochs)
            net.quantize(xtr[:1000])
            net.save(args.out)
            print(f"saved {name} to {args.out}")
            if not args.no_qat:
                ft = finetune_hf6(net)
                ft.quantize(xtr[:1000])
                ft.save(args.out)
                print(f"saved {ft.name} to {args.out}")
    print(format_table(accuracy_table(names, directory=args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
