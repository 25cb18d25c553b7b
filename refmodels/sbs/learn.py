"""On-device learning of the output layer: the incremental SbS rule, end to end on spikes.

    python -m refmodels.sbs.learn [--network mnist] [--scenario new-class|noise]
                                  [--cls 9] [--noise 50] [--n-learn 200] [--T 250]
                                  [--epochs 1] [--gamma 0.05] [--n-test 1000]

The rule (``em.incremental_output_update``; Nevarez et al., MOCAST 2020) needs only what an
SbS accelerator already holds after inference: the converged h of the layer below the output
(``h_prev``, the output IP's input distribution) and the output h, here clamped to the label
(one-hot: supervised on device). Per batch of P patterns::

    reco(s) = sum_i W(s|i) h(i);  delta(s) = h_prev(s) - reco(s)
    Omega(s, i) += delta(s) h(i);  B = W + (gamma / P) Omega;  B < floor -> floor
    W(s|i) = B(s, i) / sum_s B(s, i)

Scenarios, both on the stored network and its held-out split, measured with spiking inference
(the compiled engine, float32 h and weights, xorshift spikes, pattern i seed i):

* ``new-class``: the output weights of class ``--cls`` are replaced by the uniform
  distribution (the device has never seen that class), then learnt on device from ``--n-learn``
  training images of that class only. The rule moves only the column of the clamped class, so
  the other classes keep their weights.
* ``noise``: the output layer adapts to input noise (``add_noise`` at ``--noise`` %): learnt
  on device from ``--n-learn`` noisy training images of every class, evaluated on the noisy
  held-out images, and on the clean ones (what the adaptation costs there).

``h_prev`` comes from the spiking run of the layers below (``run(..., return_all=True)``: the
final h of the layer under the output after T steps), as on the device. Prints accuracy
before / after.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .em import incremental_output_update
from .model import Network, add_noise, run

__all__ = ["output_inputs", "learn_output", "accuracy", "new_class_demo", "noise_demo"]


def output_inputs(net: Network, images, T: int, seed: int = 0) -> np.ndarray:
    """The output IP's input distribution after T spiking steps: the final h of the layer below
    the output, flattened over its map and divided by the map size (sums to 1), (B, S)."""
    if net.layers[-1].type != "output" or net.layers[-1].n_ip != 1:
        raise ValueError("the network must end with an output layer of one IP")
    _, states = run(net, images, T, seeds=seed, return_all=True)
    h = np.asarray(states[-2], dtype=np.float64).reshape(len(images), -1)
    return h / h.sum(axis=1, keepdims=True)


def learn_output(w, h_prev, labels, n_classes: int, *, epochs: int = 3, batch: int = 10,
                 gamma: float = 0.05, floor: float = 1e-6, seed: int = 0) -> np.ndarray:
    """The on-device rule over ``epochs`` passes of mini-batches; output h clamped to the
    label. ``w`` (S, N); returns the new (S, N) weights."""
    rs = np.random.default_rng(seed)
    w = np.asarray(w, dtype=np.float64)
    target = np.eye(n_classes)[np.asarray(labels)]
    for _ in range(epochs):
        order = rs.permutation(len(h_prev))
        for k in range(0, len(order), batch):
            idx = order[k : k + batch]
            w = incremental_output_update(w, h_prev[idx], target[idx], gamma, floor)
    return w


def _with_output(net: Network, w_flat) -> Network:
    lay = net.layers[-1]
    ws = [w if lay.has_weights else None for lay, w in zip(net.layers, net.weights, strict=True)]
    wf = np.asarray(w_flat, dtype=np.float64)
    ws[-1] = (wf / wf.sum(axis=0, keepdims=True)).reshape(lay.weight_shape).astype(np.float32)
    return Network(net.topology, ws, dict(net.meta))


def accuracy(net: Network, images, labels, T: int, seed: int = 0) -> np.ndarray:
    """Per-pattern correctness of spiking inference (float32), pattern i seed ``seed + i``."""
    return np.argmax(run(net, images, T, seeds=seed), axis=1) == np.asarray(labels)


def _split(name):
    from .evaluate import heldout_split, load_named
    from .train import load_digits_split, load_mnist_split

    net, ds = load_named(name)
    xtr, ytr, _, _ = (load_digits_split if ds == "digits" else load_mnist_split)()
    xte, yte = heldout_split(ds)
    return net, xtr, ytr, xte, yte


def new_class_demo(name: str = "mnist", cls: int = 9, n_learn: int = 200, T: int = 250,
                   epochs: int = 1, gamma: float = 0.05, n_test: int = 1000, log=print,
                   stream: str = "class") -> dict:
    """Forget class ``cls`` in the output weights, learn it back on device; accuracies.

    ``stream``: ``"class"``, the device sees ``n_learn`` patterns of the new class only;
    ``"all"``, it sees the first ``n_learn`` training patterns of every class (the new one
    among them), so every column moves towards its class mean."""
    if stream not in ("class", "all"):
        raise ValueError("stream must be 'class' or 'all'")
    net, xtr, ytr, xte, yte = _split(name)
    xte, yte = xte[:n_test], yte[:n_test]
    lay = net.layers[-1]
    if not 0 <= cls < lay.n_h:
        raise ValueError(f"--cls must lie in 0..{lay.n_h - 1}")
    w = net.weights[-1].reshape(-1, lay.n_h).astype(np.float64)
    w_forgot = w.copy()
    w_forgot[:, cls] = 1.0 / w.shape[0]
    if stream == "class":
        learn_x, learn_y = xtr[ytr == cls][:n_learn], np.full(min(n_learn, int(
            np.sum(ytr == cls))), cls)
    else:
        learn_x, learn_y = xtr[:n_learn], ytr[:n_learn]
    t0 = time.time()
    hp = output_inputs(net, learn_x, T, seed=10_000)
    w_new = learn_output(w_forgot, hp, learn_y, lay.n_h, epochs=epochs, gamma=gamma)
    log(f"on-device learning of class {cls}: {len(learn_x)} patterns x {epochs} epochs, "
        f"{time.time() - t0:.1f} s")
    mask = yte == cls
    out = {"scenario": "new-class", "stream": stream, "class": cls,
           "n_learn": int(len(learn_x)), "T": T,
           "epochs": epochs, "gamma": gamma, "n_test": int(len(yte)),
           "n_test_class": int(mask.sum())}
    for tag, wx in (("stored", w), ("before", w_forgot), ("after", w_new)):
        ok = accuracy(_with_output(net, wx), xte, yte, T)
        out[tag] = {"all": float(ok.mean()), "class": float(ok[mask].mean()),
                    "others": float(ok[~mask].mean())}
    return out


def noise_demo(name: str = "mnist", noise: float = 50.0, n_learn: int = 1000, T: int = 250,
               epochs: int = 1, gamma: float = 0.05, n_test: int = 1000, log=print) -> dict:
    """Adapt the output layer to input noise on device; accuracies on noisy and clean."""
    net, xtr, ytr, xte, yte = _split(name)
    xte, yte = xte[:n_test], yte[:n_test]
    lay = net.layers[-1]
    level = noise / 100
    learn_x, learn_y = add_noise(xtr[:n_learn], level, seed=7), ytr[:n_learn]
    noisy_te = add_noise(xte, level, seed=1)
    w = net.weights[-1].reshape(-1, lay.n_h).astype(np.float64)
    t0 = time.time()
    hp = output_inputs(net, learn_x, T, seed=10_000)
    w_new = learn_output(w, hp, learn_y, lay.n_h, epochs=epochs, gamma=gamma)
    log(f"on-device adaptation to {noise:g} % noise: {len(learn_x)} patterns x {epochs} "
        f"epochs, {time.time() - t0:.1f} s")
    out = {"scenario": "noise", "noise_pct": noise, "n_learn": int(len(learn_x)), "T": T,
           "epochs": epochs, "gamma": gamma, "n_test": int(len(yte))}
    for tag, wx in (("before", w), ("after", w_new)):
        netx = _with_output(net, wx)
        out[tag] = {"noisy": float(accuracy(netx, noisy_te, yte, T).mean()),
                    "clean": float(accuracy(netx, xte, yte, T).mean())}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="on-device learning of the SbS output layer")
    ap.add_argument("--network", default="mnist", help="stored network name or file")
    ap.add_argument("--scenario", default="new-class", choices=["new-class", "noise"])
    ap.add_argument("--cls", type=int, default=9, help="new-class: the class learnt on device")
    ap.add_argument("--stream", default="class", choices=["class", "all"],
                    help="new-class: learn from patterns of the new class only, or from a "
                    "stream of every class")
    ap.add_argument("--noise", type=float, default=50.0, help="noise: level in percent")
    ap.add_argument("--n-learn", type=int, default=None,
                    help="patterns learnt on device (default 200 new-class, 1000 noise)")
    ap.add_argument("--T", type=int, default=250, help="spike steps (default 250)")
    ap.add_argument("--epochs", type=int, default=1, help="passes over the patterns (default 1)")
    ap.add_argument("--gamma", type=float, default=0.05, help="learning rate (published 0.05)")
    ap.add_argument("--n-test", type=int, default=1000, help="held-out patterns evaluated")
    args = ap.parse_args(argv)
    try:
        if args.T < 1 or args.epochs < 1 or args.n_test < 1 or args.gamma <= 0:
            raise ValueError("--T, --epochs and --n-test must be at least 1, --gamma positive")
        if args.n_learn is not None and args.n_learn < 1:
            raise ValueError("--n-learn must be at least 1")
        if not 0 <= args.noise <= 100:
            raise ValueError("--noise must lie in 0..100")
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        if args.scenario == "new-class":
            r = new_class_demo(args.network, args.cls, args.n_learn or 200, args.T,
                               args.epochs, args.gamma, args.n_test, log=log,
                               stream=args.stream)
            src = "" if args.stream == "class" else " of every class"
            print(f"new class {r['class']}: learnt on device from {r['n_learn']} patterns{src}, "
                  f"T = {r['T']}, {r['n_test']} held-out patterns ({r['n_test_class']} of "
                  f"class {r['class']})")
            print("| output weights | all | class | other classes |\n|---|---|---|---|")
            for tag, what in (("stored", "stored (trained offline)"),
                              ("before", f"class {r['class']} forgotten (uniform)"),
                              ("after", "after on-device learning")):
                a = r[tag]
                print(f"| {what} | {a['all']:.1%} | {a['class']:.1%} | {a['others']:.1%} |")
        else:
            r = noise_demo(args.network, args.noise, args.n_learn or 1000, args.T,
                           args.epochs, args.gamma, args.n_test, log=log)
            print(f"adaptation to {r['noise_pct']:g} % input noise: learnt on device from "
                  f"{r['n_learn']} noisy patterns, T = {r['T']}, {r['n_test']} held-out "
                  "patterns")
            print("| output weights | noisy | clean |\n|---|---|---|")
            for tag in ("before", "after"):
                a = r[tag]
                print(f"| {tag} | {a['noisy']:.1%} | {a['clean']:.1%} |")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
