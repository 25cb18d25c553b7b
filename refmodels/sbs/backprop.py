"""Back-propagation training of SbS networks through the mean-field converged state.

Method (after Rotermund & Pawelzik 2019, "Back-propagation learning in deep Spike-By-Spike
networks"; own numpy formulation with hand-written gradients):

* Forward model. The converged h of an SbS layer (many spikes, small eps) is, for every IP with
  receptive-field input distribution ``v`` (``S`` channels, sum 1), the fixed point of the
  expected update: ``h(i) = h(i) sum_s v(s) W(s|i) / reco(s)`` with ``reco(s) = sum_j W(s|j)
  h(j)`` (the EM / KL-NMF fixed point). It is reached as SbS reaches it: from the uniform
  ``h = 1/N`` by ``iters`` iterations ``h <- h * (W^T (v / W h))`` (each iteration keeps
  ``sum(h) = 1`` exactly when ``sum(v) = 1``). A layer's input is the converged h of the layer
  below, as in the ``"layer"`` schedule of ``model.run``. Pool layers average their window
  (their exact fixed point).
* Loss: ``-log h_out(y)`` of the output IP (h is already a probability vector).
* Gradients: by hand, through the last ``bptt`` iterations of every layer (truncated
  back-propagation: the first ``iters - bptt`` iterations are treated as a constant start; near
  the fixed point this approximates the implicit gradient). For one iteration ``h' = h * g``,
  ``g = W^T q``, ``q = v / reco``, ``reco = W h`` and upstream gradient ``a = dL/dh'``::

      b      = a * h                     dL/dg
      dL/dW += q b^T + c h^T             with  c = -(W b) * q / reco   (dL/dreco)
      dL/dh  = a * g + W^T c
      dL/dv  = (W b) / reco

* Update: Adam on the gradient with respect to ``log W`` (``W * dL/dW``; every weight moves by
  a relative step, which suits probabilities spanning four decades), then, after every step,
  ``W`` is renormalised over ``s``, clipped below at ``floor`` (2**-13: the 4-bit exponent of
  E4M1 / log4 represents it) and renormalised again.
* Start: hidden conv / fc layers from the unsupervised EM weights of ``em.train_network``
  (a few epochs on a patch sample), the output layer from the class means; then ``epochs``
  passes of mini-batch back-propagation over all layers jointly.

* Quantisation-aware fine-tuning (``quantise="e4m1"``, started from a trained network): the
  forward pass and the gradients use the weights rounded to the format (``round_trip``), the
  step is applied to the float weights (straight-through estimator).

``train_backprop`` returns a ``Network`` (stored with ``model.save_network``).
"""

from __future__ import annotations

import json
import time

import numpy as np

from .em import W_FLOOR, train_network
from .formats import parse_format
from .model import Layer, Network, build_layers, encode_input

__all__ = ["forward", "backward", "train_backprop", "predict_meanfield", "init_weights"]



def _input_q(images, topology) -> np.ndarray:
    x = encode_input(images, tuple(topology[0]["shape"]), topology[0].get("encoding", "linear"))
    return x / np.maximum(x.sum(axis=-1, keepdims=True), 1e-30)


def _win(k: int, stride: int, n_out: int) -> slice:
    """Input positions seen at kernel offset k by the n_out output positions."""
    return slice(k, k + stride * (n_out - 1) + 1, stride)


def _patches(q: np.ndarray, lay: Layer) -> np.ndarray:
    """Receptive-field inputs (B, X, Y, K_X, K_Y, C), divided by K_X K_Y (contiguous copy)."""
    kx, ky = lay.kernel
    sx, sy = lay.stride
    ox, oy = lay.out_shape[:2]
    out = np.empty((q.shape[0], ox, oy, kx, ky, q.shape[3]))
    for a in range(kx):
        for b in range(ky):
            out[:, :, :, a, b] = q[:, _win(a, sx, ox), _win(b, sy, oy)]
    return out / (kx * ky)


def _unpatch(dv: np.ndarray, lay: Layer, in_shape) -> np.ndarray:
    """Adjoint of ``_patches``: gradient (B, X, Y, K_X, K_Y, C) -> gradient of q."""
    kx, ky = lay.kernel
    sx, sy = lay.stride
    ox, oy = lay.out_shape[:2]
    dq = np.zeros((dv.shape[0], *in_shape))
    for a in range(kx):
        for b in range(ky):
            dq[:, _win(a, sx, ox), _win(b, sy, oy)] += dv[:, :, :, a, b]
    return dq / (kx * ky)


def _em(v: np.ndarray, w: np.ndarray, iters: int) -> np.ndarray:
    h = np.full((v.shape[0], w.shape[1]), 1.0 / w.shape[1])
    for _ in range(iters):
        h = h * ((v / np.maximum(h @ w.T, 1e-30)) @ w)
    return h


def forward(layers, weights, q0: np.ndarray, iters: int, bptt: int):
    """Mean-field pass; returns (output h (B, N), cache for ``backward``)."""
    q = q0
    cache = []
    for lay, w in zip(layers, weights, strict=True):
        v = _patches(q, lay)
        shp = v.shape
        if lay.type == "pool":
            qn = v.sum(axis=(3, 4))
            cache.append((lay, q.shape, shp, None, None))
        else:
            vf = v.reshape(-1, w.shape[0])
            h = _em(vf, w, iters - bptt)
            hs = []
            for _ in range(bptt):
                hs.append(h)
                h = h * ((vf / np.maximum(h @ w.T, 1e-30)) @ w)
            qn = h.reshape(*shp[:3], lay.n_h)
            cache.append((lay, q.shape, shp, vf, hs))
        q = qn
    return q.reshape(q.shape[0], -1), cache


def backward(weights, cache, dout: np.ndarray):
    """Gradients dL/dW (list, None for pools) for dL/dh_out = ``dout`` (B, N)."""
    grads = [None] * len(weights)
    dq = dout.reshape(dout.shape[0], 1, 1, -1)
    for li in range(len(cache) - 1, -1, -1):
        lay, in_shape, shp, vf, hs = cache[li]
        need_dv = li > 0
        if lay.type == "pool":
            dv = np.broadcast_to(dq[:, :, :, None, None, :], shp)
        else:
            w = weights[li]
            a = dq.reshape(-1, lay.n_h)
            gw = np.zeros_like(w)
            dvf = np.zeros_like(vf) if need_dv else None
            for h in reversed(hs):
                reco = np.maximum(h @ w.T, 1e-30)
                q = vf / reco
                g = q @ w
                b = a * h
                wb = b @ w.T
                c = -wb * q / reco
                gw += q.T @ b + c.T @ h
                if need_dv:
                    dvf += wb / reco
                a = a * g + c @ w
            grads[li] = gw
            dv = dvf.reshape(shp) if need_dv else None
        if need_dv:
            dq = _unpatch(dv, lay, in_shape[1:])
    return grads


def _renorm(w: np.ndarray, floor: float) -> np.ndarray:
    w = w / w.sum(axis=0, keepdims=True)
    w = np.maximum(w, floor)
    return w / w.sum(axis=0, keepdims=True)


def predict_meanfield(net_or_layers, weights, images, topology, iters: int = 30,
                      batch: int = 250) -> np.ndarray:
    """Mean-field output h (B, n_classes) of float64 weights (S, N) per layer."""
    layers = net_or_layers
    out = []
    for k in range(0, len(images), batch):
        q0 = _input_q(images[k : k + batch], topology)
        h, _ = forward(layers, weights, q0, iters, 0)
        out.append(h)
    return np.concatenate(out)


def init_weights(topology, images, labels, seed: int, floor: float, em_epochs: int,
                 max_patches: int, log=print):
    """Unsupervised EM hidden layers and class-mean output layer (``em.train_network``)."""
    net = train_network(topology, images, labels, epochs=em_epochs, out_epochs=0, seed=seed,
                        floor=floor, max_patches=max_patches, log=log)
    return [w.reshape(-1, lay.n_h).astype(np.float64) if lay.has_weights else None
            for lay, w in zip(net.layers, net.weights, strict=True)]


def train_backprop(topology, images, labels, *, epochs: int = 10, batch: int = 50,
                   lr: float = 0.02, iters: int = 30, bptt: int = 10, seed: int = 0,
                   floor: float = W_FLOOR, em_epochs: int = 2, max_patches: int = 20000,
                   lr_decay: float = 0.8, val=None, log=print, start: Network | None = None,
                   quantise: str | None = None, on_epoch=None) -> Network:
    """Train every weight of ``topology`` by back-propagation (see module docstring).

    ``val``: optional (images, labels) whose mean-field accuracy is logged after each epoch.
    ``start``: a network to fine-tune instead of the EM start. ``quantise``: a coded weight
    format (``e4m1``, ``log4``): quantisation-aware training, the forward pass and the gradients
    use the weights rounded to that format, the update is applied to the float weights
    (straight-through); the stored float32 weights are meant to be run in that format.
    ``on_epoch(epoch, network)``: called after every epoch (1-based) with the network so far
    (checkpoints).
    """
    if not 0 <= bptt <= iters or iters < 1:
        raise ValueError("need 0 <= bptt <= iters and iters >= 1")
    if epochs < 0 or batch < 1 or lr <= 0:
        raise ValueError("epochs >= 0, batch >= 1 and lr > 0 required")
    layers = build_layers(topology)
    labels = np.asarray(labels, dtype=np.int64)
    images = np.asarray(images, dtype=np.float64)
    rs = np.random.default_rng(seed)
    t0 = time.time()
    if start is not None:
        if start.topology != json.loads(json.dumps(topology)):
            raise ValueError("the start network has another topology")
        ws = [w.reshape(-1, lay.n_h).astype(np.float64) if lay.has_weights else None
              for lay, w in zip(start.layers, start.weights, strict=True)]
    else:
        ws = init_weights(topology, images, labels, seed, floor, em_epochs, max_patches, log=log)
        log(f"init (EM hidden, class-mean output) {time.time() - t0:.1f} s")
    qfmt = None
    if quantise is not None:
        qfmt = parse_format(quantise)
        if qfmt.is_float:
            raise ValueError("quantise needs a coded weight format (e4m1, log4, ...)")

    def fwd_weights(wl):
        if qfmt is None:
            return wl
        return [None if w is None else qfmt.round_trip(w).astype(np.float64) for w in wl]

    mw = [None if w is None else np.zeros_like(w) for w in ws]
    vw = [None if w is None else np.zeros_like(w) for w in ws]
    b1, b2, step = 0.9, 0.999, 0
    n = len(images)
    for ep in range(epochs):
        te = time.time()
        order = rs.permutation(n)
        loss_sum = 0.0
        rate = lr * lr_decay**ep
        for k in range(0, n, batch):
            idx = order[k : k + batch]
            q0 = _input_q(images[idx], topology)
            wf = fwd_weights(ws)
            hout, cache = forward(layers, wf, q0, iters, bptt)
            hy = np.maximum(hout[np.arange(len(idx)), labels[idx]], 1e-30)
            loss_sum += float(-np.log(hy).sum())
            dout = np.zeros_like(hout)
            dout[np.arange(len(idx)), labels[idx]] = -1.0 / hy / len(idx)
            grads = backward(wf, cache, dout)
            step += 1
            for li, g in enumerate(grads):
                if g is None:
                    continue
                gl = g * ws[li]  # gradient with respect to log W
                mw[li] = b1 * mw[li] + (1 - b1) * gl
                vw[li] = b2 * vw[li] + (1 - b2) * gl * gl
                mh = mw[li] / (1 - b1**step)
                vh = vw[li] / (1 - b2**step)
                ws[li] = _renorm(ws[li] * np.exp(-rate * mh / (np.sqrt(vh) + 1e-8)), floor)
        msg = f"epoch {ep + 1}/{epochs}: loss {loss_sum / n:.4f}, {time.time() - te:.1f} s"
        if val is not None:
            hv = predict_meanfield(layers, fwd_weights(ws), val[0], topology, iters)
            msg += f", mean-field val accuracy {np.mean(np.argmax(hv, 1) == val[1]):.4f}"
        log(msg)
        if on_epoch is not None:
            on_epoch(ep + 1, _to_network(topology, layers, ws))
    return _to_network(topology, layers, ws)


def _to_network(topology, layers, ws) -> Network:
    out = [None if w is None else w.reshape(lay.weight_shape).astype(np.float32)
           for lay, w in zip(layers, ws, strict=True)]
    # float32 cast: renormalise once more in float64 so every latent sums to 1 within 1e-6
    out = [None if w is None else (w / w.sum(axis=(0, 1, 2), dtype=np.float64)).astype(np.float32)
           for w in out]
    return Network(topology, out)
