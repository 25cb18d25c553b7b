"""The layer-wise (EM / mean-field) training of SbS networks and the on-device incremental
learning rule of the output layer; the method is described in :mod:`refmodels.sbs.train`.
Used by :mod:`refmodels.sbs.train` (``--method em``) and as the start of
:mod:`refmodels.sbs.backprop`.
"""

from __future__ import annotations

import time

import numpy as np

from .model import Layer, Network, build_layers, encode_input, pool_weights

W_FLOOR = 2.0**-13


def _patches(q: np.ndarray, lay: Layer) -> np.ndarray:
    """Receptive-field inputs v (B, X, Y, S), each summing to 1."""
    kx, ky = lay.kernel
    sx, sy = lay.stride
    win = np.lib.stride_tricks.sliding_window_view(q, (kx, ky), axis=(1, 2))
    win = win[:, ::sx, ::sy]  # (B, X, Y, C, kx, ky)
    win = np.moveaxis(win, 3, -1)  # (B, X, Y, kx, ky, C)
    b, x, y = win.shape[:3]
    return win.reshape(b, x, y, -1) / (kx * ky)


def meanfield(v: np.ndarray, w: np.ndarray, iters: int = 30) -> np.ndarray:
    """Converged h (..., N) for inputs v (..., S) and weights w (S, N) (EM fixed point)."""
    h = np.full((*v.shape[:-1], w.shape[1]), 1.0 / w.shape[1])
    for _ in range(iters):
        reco = h @ w.T
        h = h * ((v / np.maximum(reco, 1e-30)) @ w)
        h /= h.sum(axis=-1, keepdims=True)
    return h


def meanfield_network(net: Network, images, iters: int = 30, upto: int | None = None):
    """Mean-field h of every layer (list) for the images (float64)."""
    x = encode_input(images, net.input_shape, net.encoding)
    q = x / np.maximum(x.sum(axis=-1, keepdims=True), 1e-30)
    out = []
    for lay, w in zip(net.layers[:upto], net.weights[:upto], strict=True):
        v = _patches(q, lay)
        q = meanfield(v, w.reshape(-1, lay.n_h).astype(np.float64), iters)
        out.append(q)
    return out


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------
def _normalise(w: np.ndarray, floor: float) -> np.ndarray:
    w = w / w.sum(axis=0, keepdims=True)
    w = np.maximum(w, floor)
    return w / w.sum(axis=0, keepdims=True)


def _train_hidden(v: np.ndarray, n_h: int, epochs: int, rs, floor: float, batch: int = 2000):
    """Unsupervised EM (KL-NMF) weights (S, N) for receptive-field inputs v (M, S)."""
    s = v.shape[1]
    w = _normalise(rs.random((s, n_h)) + 0.5, floor)
    for _ in range(epochs):
        idx = rs.permutation(v.shape[0])
        for k in range(0, len(idx), batch):
            vb = v[idx[k : k + batch]]
            h = meanfield(vb, w, 20)
            reco = np.maximum(h @ w.T, 1e-30)
            w = w * ((vb / reco).T @ h) / np.maximum(h.sum(axis=0), 1e-30)
            w = _normalise(w, floor)
    return w


def _train_output(v, y, n_cls: int, epochs: int, lr: float, floor: float, beta: float = 20.0):
    """Supervised output weights (S, n_cls): class means, then discriminative refinement."""
    w = np.stack([v[y == c].mean(axis=0) for c in range(n_cls)], axis=1)
    w = _normalise(w, floor)
    onehot = np.eye(n_cls)[y]
    for _ in range(epochs):
        z = beta * (v @ np.log(w))
        z -= z.max(axis=1, keepdims=True)
        post = np.exp(z)
        post /= post.sum(axis=1, keepdims=True)
        grad = v.T @ (onehot - post) / len(v)  # d mean log posterior / d log W
        w = _normalise(w * np.exp(lr * beta * grad), floor)
    return w


def train_network(topology, images, labels, *, epochs: int = 3, out_epochs: int = 100,
                  lr: float = 1.0, seed: int = 0, floor: float = W_FLOOR,
                  max_patches: int = 60000, log=print) -> Network:
    """Train all weights of ``topology`` layer by layer (see module docstring)."""
    layers = build_layers(topology)
    rs = np.random.default_rng(seed)
    x = encode_input(images, tuple(topology[0]["shape"]), topology[0].get("encoding", "linear"))
    q = x / np.maximum(x.sum(axis=-1, keepdims=True), 1e-30)
    weights = []
    for lay in layers:
        t0 = time.time()
        v = _patches(q, lay)  # a strided view: no copy
        flat = v.reshape(-1, v.shape[-1]) if lay.type == "output" else None
        if lay.type == "pool":
            w = pool_weights(lay).astype(np.float64)
            weights.append(None)
        elif lay.type == "output":
            w = _train_output(flat, np.asarray(labels), lay.n_h, out_epochs, lr, floor)
            weights.append(w.reshape(lay.weight_shape).astype(np.float32))
        else:
            n_all = int(np.prod(v.shape[:3]))
            pick = rs.choice(n_all, min(max_patches, n_all), replace=False)
            sub = v.reshape(-1, v.shape[-1])[pick] if n_all * v.shape[-1] < 4e7 else np.stack(
                [v[np.unravel_index(i, v.shape[:3])] for i in pick])
            w = _train_hidden(sub, lay.n_h, epochs, rs, floor)
            weights.append(w.reshape(lay.weight_shape).astype(np.float32))
        wf = w.reshape(-1, lay.n_h)
        q = np.concatenate([meanfield(v[k : k + 250], wf, 30) for k in range(0, len(v), 250)])
        log(f"layer {lay.index} {lay.type}: trained in {time.time() - t0:.1f} s")
    return Network(topology, weights)


# ----------------------------------------------------------------------------------------------
# on-device incremental learning (output layer)
# ----------------------------------------------------------------------------------------------
def incremental_output_update(w, h_prev, h, gamma: float = 0.05, floor: float = 1e-6):
    """One batch of the on-device rule: W (S, N); h_prev (P, S); h (P, N) -> new W (S, N).

    ``reco(s) = sum_i W(s|i) h(i)``, ``delta(s) = h_prev(s) - reco(s)``,
    ``Omega(s, i) = sum over patterns of delta(s) h(i)``, ``B = W + (gamma / P) Omega``,
    entries below ``floor`` set to ``floor``, ``W(s|i) = B(s, i) / sum_s B(s, i)``.
    """
    w = np.asarray(w, dtype=np.float64)
    h_prev = np.atleast_2d(np.asarray(h_prev, dtype=np.float64))
    h = np.atleast_2d(np.asarray(h, dtype=np.float64))
    if h_prev.shape[1] != w.shape[0] or h.shape[1] != w.shape[1] or len(h) != len(h_prev):
        raise ValueError("shapes: W (S, N), h_prev (P, S), h (P, N)")
    if gamma <= 0 or floor <= 0:
        raise ValueError("gamma and floor must be positive")
    delta = h_prev - h @ w.T
    omega = delta.T @ h
    b = w + (gamma / len(h)) * omega
    b = np.maximum(b, floor)
    return b / b.sum(axis=0, keepdims=True)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
