"""Per-layer multiplier assignment: int8 inference where each conv/dense layer may use its own
multiplier (heterogeneous approximation).

:func:`forward_int8_layers` is the bit-exact int8 path of
:meth:`refmodels.cnn.net.Network.forward_int8` with one multiplier per compute layer; it calls
the same kernels (:mod:`refmodels.cnn.tflite` for an exact layer, :mod:`refmodels.cnn.approx`
with the unit's lookup table otherwise) and the same output stage, so with one unit in every
layer it gives the uniform path's codes bit for bit. It can also start from an intermediate
tensor (``start``) and run hooks on a layer's weights, input and accumulators (the fault and
error injection of :mod:`refmodels.cnn.resilience`).

An assignment is a list with one entry per compute layer (in order), a dict layer name ->
unit (missing layers exact), or one unit for every layer. An entry is ``None`` / ``"exact"`` /
``"int8"`` (exact int8, the TFLite kernels), a unit name or an
:class:`refmodels.cnn.approx.ApproxMul`.
"""

from __future__ import annotations

import functools

import numpy as np

from . import approx as apx
from . import tflite as tfl

__all__ = [
    "EXACT_NAMES",
    "compute_layers",
    "layer_macs",
    "resolve_assignment",
    "forward_int8_layers",
    "layer_acc",
    "layer_output",
    "mul_of",
]

#: Entries meaning exact int8 arithmetic (the TFLite kernels).
EXACT_NAMES = (None, "exact", "int8", "none")


def compute_layers(net):
    """Names of the conv2d / dense layers, in order."""
    return [L["name"] for L in net.layers if L["type"] in ("conv2d", "dense")]


def layer_macs(net):
    """Multiply-accumulates per image of each compute layer (in-image taps only)."""
    out = {}
    for L in net.layers:
        if L["type"] == "conv2d":
            oh, ow, co = L["out_shape"]
            fh, fw = L["kernel"]
            ci = L["in_shape"][2]
            _, valid = tfl.patches(np.zeros((1, *L["in_shape"][:2], 1), np.int64), fh, fw,
                                   L["stride"], L["padding"], 1)
            out[L["name"]] = int(valid.sum()) * ci * co
        elif L["type"] == "dense":
            out[L["name"]] = int(L["in_shape"][0]) * int(L["units"])
    return out


@functools.lru_cache(maxsize=64)
def _mul_cached(name):
    return apx.ApproxMul.from_unit(name)


def mul_of(entry):
    """``None`` for exact int8, else the :class:`ApproxMul` of a unit name / ApproxMul.

    The exact signed unit (``exact:...,signed=1``) is mapped to ``None``: its lookup table gives
    the TFLite result bit for bit, and the TFLite kernels are faster.
    """
    if isinstance(entry, apx.ApproxMul):
        return entry
    if isinstance(entry, str) and entry.strip().lower() in EXACT_NAMES[1:]:
        return None
    if entry is None:
        return None
    from refmodels.arith import parse_mul8

    spec = parse_mul8(str(entry))
    if spec.name == "exact" and spec.signed and not spec.params:
        return None
    return _mul_cached(str(spec))


def resolve_assignment(net, units):
    """One ``ApproxMul`` or ``None`` per compute layer from a list, dict or single unit."""
    names = compute_layers(net)
    if isinstance(units, dict):
        unknown = sorted(set(units) - set(names))
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; compute layers: {names}")
        return [mul_of(units.get(n)) for n in names]
    if isinstance(units, (list, tuple)):
        if len(units) != len(names):
            raise ValueError(f"need {len(names)} units (one per layer {names}), got "
                             f"{len(units)}")
        return [mul_of(u) for u in units]
    m = mul_of(units)
    return [m] * len(names)


def layer_acc(net, L, a, s_in, zp_in, mul, wq=None):
    """Raw int64 accumulators of compute layer ``L`` on int8 input ``a`` through ``mul``
    (``None``: exact int8). ``wq`` replaces the stored int8 weights (fault injection)."""
    nm = L["name"]
    stored = wq is None
    wq = net.arrays[nm + ".wq"] if stored else wq
    if L["type"] == "conv2d":
        if mul is None:
            return tfl.conv2d_acc(a, wq, zp_in, L["stride"], L["padding"], 1)
        tables = net._tap_tables(nm, mul) if stored else None
        return apx.conv2d_acc(a, wq, zp_in, mul, L["stride"], L["padding"], 1, tables)
    if mul is None:
        return tfl.fully_connected_acc(a, wq, zp_in)
    tables = net._tap_tables(nm, mul) if stored else None
    return apx.fully_connected_acc(a, wq, zp_in, mul, tables)


def layer_output(net, L, acc, s_in, single_rounding=False, rounding="reference"):
    """int8 output of compute layer ``L`` from its accumulators (bias, rescale, clamp)."""
    m, sh, qo, lo, hi = net._qparams(L, s_in, rounding)
    fcs = net._eff_scale(L, s_in, rounding)
    kind = "conv2d" if L["type"] == "conv2d" else "fully_connected"
    return tfl.requantize_layer(kind, acc, net.arrays[L["name"] + ".bq"], m, sh,
                                qo["zero_point"], lo, hi, single_rounding, rounding, fcs)


def _in_params(net):
    """(scale, zero point) of each layer's input tensor, by layer index."""
    q = net.topology["quant"]
    s, zp = q["input"]["scale"], q["input"]["zero_point"]
    out = []
    for L in net.layers:
        out.append((s, zp))
        if L["type"] in ("conv2d", "dense"):
            s, zp = q[L["name"]]["scale"], q[L["name"]]["zero_point"]
    return out


def forward_int8_layers(net, xq, units, *, single_rounding=False, rounding="reference",
                        batch=256, trace=False, start=0, hooks=None):
    """int8 inference with one multiplier per compute layer (see the module docstring).

    ``xq``: int8 network input, or with ``start`` > 0 the int8 input of layer index ``start``
    (an entry of a ``trace``). ``hooks``: optional object with any of the methods
    ``weights(L, wq) -> wq``, ``input(L, a, b0) -> a``, ``acc(L, acc, ctx) -> acc``
    (``ctx``: dict with the layer input ``a``, weights ``wq``, ``mul``, ``zp_in``, ``bias``,
    ``b0`` the index of the batch's first image), called for every compute layer.

    Returns the int8 codes of the last layer; with ``trace`` also a dict layer name -> int8
    output of every layer from ``start`` on.
    """
    tfl.check_rounding(rounding)
    if "quant" not in net.topology:
        raise ValueError("network is not quantised; call quantize() first")
    muls = resolve_assignment(net, units)
    xq = np.asarray(xq)
    if start == 0 and (xq.dtype != np.int8 or xq.shape[1:] != tuple(net.topology["input"])):
        raise ValueError(f"need int8 input of shape (N, {net.topology['input']}), got "
                         f"{xq.dtype} {xq.shape}")
    inp = _in_params(net)
    cidx = {n: i for i, n in enumerate(compute_layers(net))}
    wqs = {}
    for L in net.layers[start:]:
        if L["type"] in ("conv2d", "dense") and hooks is not None and hasattr(hooks, "weights"):
            w0 = net.arrays[L["name"] + ".wq"]
            w1 = hooks.weights(L, w0)
            if w1 is not w0:
                wqs[L["name"]] = np.asarray(w1, np.int64)
    outs, traces = [], []
    for b0 in range(0, len(xq), batch):
        a = xq[b0 : b0 + batch]
        tr = {}
        for li in range(start, len(net.layers)):
            L = net.layers[li]
            t, nm = L["type"], L["name"]
            if t in ("conv2d", "dense"):
                s_in, zp_in = inp[li]
                if hooks is not None and hasattr(hooks, "input"):
                    a = hooks.input(L, a, b0)
                mul = muls[cidx[nm]]
                acc = layer_acc(net, L, a, s_in, zp_in, mul, wqs.get(nm))
                if hooks is not None and hasattr(hooks, "acc"):
                    acc = hooks.acc(L, acc, {"a": a, "wq": wqs.get(nm, net.arrays[nm + ".wq"]),
                                             "mul": mul, "zp_in": zp_in, "b0": b0,
                                             "bias": net.arrays[nm + ".bq"]})
                a = layer_output(net, L, acc, s_in, single_rounding, rounding)
            elif t == "maxpool":
                a = tfl.max_pool(a, L["pool"], L["pool"], "VALID")
            elif t == "flatten":
                a = a.reshape(a.shape[0], -1)
            if trace:
                tr[nm] = a
        outs.append(a)
        traces.append(tr)
    out = np.concatenate(outs)
    if not trace:
        return out
    return out, {k: np.concatenate([t[k] for t in traces]) for k in traces[0]}
