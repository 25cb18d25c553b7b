"""Quantisation-aware fine-tuning of int8 networks with the (approximate) multiplier in the loop.

The forward pass of every training step IS the bit-exact int8 inference path
(:meth:`refmodels.cnn.net.Network.forward_int8`, with the multiplier's lookup table when one is
given): each layer's output value is the dequantised int8 code that path produces. The backward
pass is float (straight-through estimator): every conv/dense layer is differentiated as the float
layer with the dequantised int8 weights and biases, evaluated at the dequantised int8 input, and
the error of the int8 / approximate arithmetic is treated as a constant. The gradients update
float shadow weights, which are re-quantised (per-channel int8, int32 biases) before every step.

The activation quantisation (scale, zero point of every tensor) of the starting network is kept
fixed, so the arithmetic of the fine-tuned network is defined by the same parameters plus new
weights and biases. The starting weights are epoch 0; the epoch with the best accuracy on a
validation slice of the training images (never the test images) is returned.
"""

from __future__ import annotations

import copy
import re
import time

import numpy as np

from .approx import ApproxMul
from .net import Network, load_dataset

__all__ = ["FT_DEFAULTS", "copy_network", "ste_step", "finetune_int8", "unit_tag"]

#: Fine-tuning schedule per data set (epochs, Adam learning rate with a cosine decay).
FT_DEFAULTS = {"digits": {"epochs": 10, "lr": 1e-3}, "mnist": {"epochs": 5, "lr": 5e-4}}


def copy_network(net, name=None):
    """An independent copy (topology and arrays)."""
    topo = copy.deepcopy(net.topology)
    if name is not None:
        topo["name"] = name
    return Network(topo, {k: v.copy() for k, v in net.arrays.items()})


def unit_tag(mul):
    """A file-name friendly tag of a multiplier: ``drum:k=4,width=8,signed=1`` -> ``drum_k4_s``."""
    if mul is None:
        return "int8"
    name = mul.name if isinstance(mul, ApproxMul) else str(mul)
    base, _, rest = name.partition(":")
    parts = [base]
    signed = "s"
    for item in rest.split(","):
        k, _, v = item.partition("=")
        if k == "signed":
            signed = "s" if v == "1" else "u"
        elif k and k != "width":
            parts.append(f"{k}{v}")
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts + [signed]))


def _dequant_arrays(net):
    """Float arrays equal to the int8 weights / int32 biases times their scales."""
    q = net.topology["quant"]
    s_in = q["input"]["scale"]
    out = {}
    for L in net.layers:
        if L["type"] not in ("conv2d", "dense"):
            continue
        nm = L["name"]
        wq = net.arrays[nm + ".wq"].astype(np.float64)
        ws = net.arrays[nm + ".wscale"].astype(np.float64)
        if L["type"] == "dense":
            ws = np.broadcast_to(ws, (L["units"],))
        shp = (-1,) + (1,) * (wq.ndim - 1)
        out[nm + ".w"] = (wq * ws.reshape(shp)).astype(np.float32)
        out[nm + ".b"] = (net.arrays[nm + ".bq"] * (s_in * ws)).astype(np.float32)
        s_in = q[nm]["scale"]
    return out


def ste_step(net, x, y, mul=None):
    """One straight-through step on images ``x`` (float, [0, 1]) with labels ``y``.

    ``net`` holds float shadow weights (``.w``, ``.b``) and its activation quantisation; its
    int8 arrays are refreshed from the shadow weights. Returns ``(loss, grads, logits)``, the
    logits being the dequantised int8 outputs of the bit-exact path.
    """
    from .train import softmax_ce

    net.quantize_weights(hf6=False)
    q = net.topology["quant"]
    xq = net.quantize_input(x)
    out_q, trace = net.forward_int8(xq, mul, trace=True, batch=len(xq))
    s, zp = q["input"]["scale"], q["input"]["zero_point"]
    a = ((xq.astype(np.float32) - zp) * np.float32(s)).astype(np.float32)
    shadow = {p: net.arrays[p] for p in net.param_names()}
    net.arrays.update(_dequant_arrays(net))
    try:
        cache = []
        for L in net.layers:
            _, c = net.forward(a, keep=True, layers=[L])
            cache.extend(c)
            if L["type"] in ("conv2d", "dense"):
                s, zp = q[L["name"]]["scale"], q[L["name"]]["zero_point"]
            a = ((trace[L["name"]].astype(np.float32) - zp) * np.float32(s)).astype(np.float32)
        loss, d = softmax_ce(a, y)
        grads = net.backward(d, cache)
    finally:
        net.arrays.update(shadow)
    return loss, grads, a


def finetune_int8(net, mul=None, *, epochs=None, lr=None, batch=64, seed=0, data=None,
                  val_fraction=0.1, max_images=None, name=None, log=None):
    """Fine-tune a quantised network for int8 inference through ``mul`` (None: exact TFLite
    arithmetic; a unit name or :class:`ApproxMul`: that multiplier in every conv/dense).

    ``epochs`` / ``lr``: default from :data:`FT_DEFAULTS` for the network's data set.
    ``data``: ``(x_train, y_train)`` (default: the network's training split); the last
    ``val_fraction`` of it is held out to pick the best epoch (epoch 0 = the starting weights,
    so the held-out accuracy never drops). ``max_images`` limits the training images.
    Returns ``(network, info)``: a new quantised network (HF6 codes refreshed too) named
    ``name`` (default ``<net>_ft_<unit tag>``) and a dict with the per-epoch history.
    """
    if "quant" not in net.topology:
        raise ValueError("network is not quantised; call quantize() first")
    if mul is not None and not isinstance(mul, ApproxMul):
        mul = ApproxMul.from_unit(mul)
    dflt = FT_DEFAULTS.get(net.topology.get("dataset"), FT_DEFAULTS["mnist"])
    epochs = dflt["epochs"] if epochs is None else int(epochs)
    lr = dflt["lr"] if lr is None else float(lr)
    if data is None:
        xtr, ytr = load_dataset(net.topology["dataset"])[:2]
    else:
        xtr, ytr = data
    n_val = int(round(len(xtr) * val_fraction))
    x_val, y_val = xtr[len(xtr) - n_val :], ytr[len(ytr) - n_val :]
    x_fit, y_fit = xtr[: len(xtr) - n_val], ytr[: len(ytr) - n_val]
    if max_images is not None:
        x_fit, y_fit = x_fit[:max_images], y_fit[:max_images]
    ft = copy_network(net, name or f"{net.name}_ft_{unit_tag(mul)}")
    params = ft.param_names()

    def val_acc():
        if not n_val:
            return float("nan")
        ft.quantize_weights(hf6=False)
        return ft.accuracy(x_val, y_val, "int8", mul)

    best_acc = val_acc()
    best = {p: ft.arrays[p].copy() for p in params}
    history = [{"epoch": 0, "val_acc": best_acc, "loss": None}]
    rng = np.random.default_rng(seed)
    m = {p: np.zeros_like(ft.arrays[p]) for p in params}
    v = {p: np.zeros_like(ft.arrays[p]) for p in params}
    b1, b2, step = 0.9, 0.999, 0
    t0 = time.time()
    for ep in range(epochs):
        lr_ep = lr * 0.5 * (1 + np.cos(np.pi * ep / max(1, epochs)))
        order = rng.permutation(len(x_fit))
        tot = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss, g, _ = ste_step(ft, x_fit[idx], y_fit[idx], mul)
            tot += loss * len(idx)
            step += 1
            for p in params:
                m[p] = b1 * m[p] + (1 - b1) * g[p]
                v[p] = b2 * v[p] + (1 - b2) * g[p] ** 2
                mh = m[p] / (1 - b1**step)
                vh = v[p] / (1 - b2**step)
                ft.arrays[p] = (ft.arrays[p] - lr_ep * mh / (np.sqrt(vh) + 1e-8)).astype(
                    np.float32)
        acc = val_acc()
        history.append({"epoch": ep + 1, "val_acc": acc, "loss": tot / max(1, len(x_fit))})
        if log:
            log(f"{ft.name} epoch {ep + 1}/{epochs} loss {tot / max(1, len(x_fit)):.4f} "
                f"val acc {acc:.4f} ({time.time() - t0:.0f} s)")
        if acc > best_acc:
            best_acc = acc
            best = {p: ft.arrays[p].copy() for p in params}
    ft.arrays.update(best)
    ft.quantize_weights(hf6=True)
    info = {"unit": None if mul is None else mul.name, "epochs": epochs, "lr": lr,
            "batch": batch, "train_images": int(len(x_fit)), "val_images": int(n_val),
            "best_val_acc": best_acc,
            "best_epoch": max(history, key=lambda h: (h["val_acc"], -h["epoch"]))["epoch"],
            "history": history, "seconds": round(time.time() - t0, 1)}
    return ft, info
