"""A quantised int8 CNN as a small graph: the in-memory form of imported TFLite models.

:class:`refmodels.cnn.net.Network` is a sequential chain; a model with a residual Add needs a
tensor read twice, so an imported model is a :class:`Graph`: named int8 activation tensors
(shape without the batch, one scale / zero point each) and a list of operators in execution
order, each reading named tensors and writing one. Operator types and their fields:

* ``conv2d``: ``stride`` [sh, sw], ``padding`` SAME|VALID, ``activation``; arrays
  ``<op>.w`` int8 (out, fh, fw, in), ``<op>.b`` int32, ``<op>.wscale`` float32 (per output
  channel, or one value: per tensor);
* ``depthwise_conv2d``: the same and ``depth_multiplier``; ``<op>.w`` (1, fh, fw, in * dm);
* ``fully_connected``: ``activation``; ``<op>.w`` (out, in), ``<op>.b``, ``<op>.wscale``;
* ``max_pool`` / ``avg_pool``: ``pool`` [ph, pw], ``stride``, ``padding``, ``activation``;
* ``add``: two inputs, ``activation``; the shapes broadcast as in TFLite (trailing dimensions
  aligned, a dimension of 1 repeated: per channel ``[1, 1, C]``, scalar ``[1]``), the output
  has the broadcast shape;
* ``reshape``: the output tensor's shape (the NHWC data unchanged).

:meth:`Graph.run` is the golden model: TFLite's reference kernels (``refmodels.cnn.tflite``,
rounding path ``"reference"``, the interpreter's BUILTIN_REF op resolver) op by op. The derived
integer parameters (per-channel ``(M, shift)``, the reference FullyConnected's float64 scale,
clamp bounds, Add's multipliers) are computed from the scales as TFLite's Prepare does
(:meth:`Graph.params`). Stored as ``<name>.json`` + ``<name>.npz`` (no pickles), like a Network.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import tflite as tfl

OP_TYPES = ("conv2d", "depthwise_conv2d", "fully_connected", "max_pool", "avg_pool", "add",
            "reshape")
WEIGHTED = ("conv2d", "depthwise_conv2d", "fully_connected")

__all__ = ["Graph", "GraphError", "OP_TYPES", "from_network", "load_graph"]


class GraphError(ValueError):
    """A graph that cannot be built or run (one-line message)."""


class Graph:
    """``tensors``: name -> {shape, scale, zero_point}; ``ops``: list of dicts (``type``,
    ``name``, ``inputs``, ``output`` and the type's fields); ``inputs`` / ``outputs``: tensor
    names; ``arrays``: name -> ndarray."""

    def __init__(self, name, tensors, ops, inputs, outputs, arrays):
        self.name = name
        self.tensors = {k: dict(v) for k, v in tensors.items()}
        self.ops = [dict(o) for o in ops]
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.arrays = dict(arrays)
        self._check()

    # ---- structure
    def _check(self):
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise GraphError(f"one input and one output tensor supported, got "
                             f"{len(self.inputs)} and {len(self.outputs)}")
        known = set(self.inputs)
        for o in self.ops:
            if o["type"] not in OP_TYPES:
                raise GraphError(f"op {o['name']}: unknown type {o['type']!r}")
            for t in o["inputs"]:
                if t not in known:
                    raise GraphError(f"op {o['name']}: input {t!r} is not computed before it")
            known.add(o["output"])
            if o["type"] == "add":
                shp = [tuple(self.tensors[t]["shape"]) for t in o["inputs"]]
                try:
                    bs = np.broadcast_shapes(*shp)
                except ValueError:
                    bs = None
                if len(shp) != 2 or bs != tuple(self.tensors[o["output"]]["shape"]):
                    raise GraphError(f"op {o['name']}: Add of shapes {shp} cannot give "
                                     f"{self.tensors[o['output']]['shape']}")
            if o["type"] in WEIGHTED:
                for s in (".w", ".b", ".wscale"):
                    if o["name"] + s not in self.arrays:
                        raise GraphError(f"op {o['name']}: array {o['name'] + s} missing")
        if self.outputs[0] not in known:
            raise GraphError(f"output {self.outputs[0]!r} is never computed")

    @property
    def input_shape(self):
        return tuple(self.tensors[self.inputs[0]]["shape"])

    @property
    def output_shape(self):
        return tuple(self.tensors[self.outputs[0]]["shape"])

    def quant(self, t):
        q = self.tensors[t]
        return float(q["scale"]), int(q["zero_point"])

    def params(self, op):
        """The integers an op is run with (TFLite's Prepare): ``zp_in``, ``zp_out``,
        ``act_min`` / ``act_max``; weighted ops ``mult`` / ``shift`` per channel (and
        ``scale``: the reference FullyConnected's float64 scale); Add its multipliers."""
        s_in, zp_in = self.quant(op["inputs"][0])
        s_out, zp_out = self.quant(op["output"])
        p = {"zp_in": zp_in, "zp_out": zp_out}
        act = op.get("activation", "NONE")
        p["act_min"], p["act_max"] = tfl.activation_range(act, s_out, zp_out)
        t = op["type"]
        if t in WEIGHTED:
            nm = op["name"]
            oc = self.arrays[nm + ".w"].shape[0 if t != "depthwise_conv2d" else 3]
            ws = np.broadcast_to(np.asarray(self.arrays[nm + ".wscale"], np.float32), (oc,))
            p["mult"], p["shift"] = tfl.conv_multipliers(s_in, ws, s_out)
            p["scale"] = tfl.fc_scale(s_in, ws, s_out) if t == "fully_connected" else None
        elif t == "add":
            s2, zp2 = self.quant(op["inputs"][1])
            p["add"] = tfl.add_params(s_in, zp_in, s2, zp2, s_out, zp_out)
        return p

    # ---- golden model
    def run(self, xq, trace=False):
        """int8 codes of the output for ``xq`` (N, *input_shape) int8; with ``trace`` also a
        dict tensor name -> int8 array of every tensor."""
        xq = np.asarray(xq)
        if xq.dtype != np.int8 or xq.shape[1:] != self.input_shape:
            raise GraphError(f"need int8 input of shape (N, {', '.join(map(str, self.input_shape))}"
                             f"), got {xq.dtype} {xq.shape}")
        vals = {self.inputs[0]: xq}
        for o in self.ops:
            vals[o["output"]] = self.run_op(o, [vals[t] for t in o["inputs"]])
        out = vals[self.outputs[0]]
        return (out, vals) if trace else out

    def run_op(self, o, xs):
        t, nm, n = o["type"], o["name"], len(xs[0])
        p = self.params(o)
        lo, hi = p["act_min"], p["act_max"]
        a = xs[0]
        if t == "conv2d":
            y = tfl.conv2d(a, self.arrays[nm + ".w"], self.arrays[nm + ".b"], p["zp_in"],
                           p["zp_out"], p["mult"], p["shift"], tuple(o["stride"]), o["padding"],
                           1, lo, hi)
        elif t == "depthwise_conv2d":
            y = tfl.depthwise_conv2d(a, self.arrays[nm + ".w"], self.arrays[nm + ".b"],
                                     p["zp_in"], p["zp_out"], p["mult"], p["shift"],
                                     o["depth_multiplier"], tuple(o["stride"]), o["padding"], 1,
                                     lo, hi)
        elif t == "fully_connected":
            y = tfl.fully_connected(a.reshape(n, -1), self.arrays[nm + ".w"],
                                    self.arrays[nm + ".b"], p["zp_in"], p["zp_out"], p["mult"],
                                    p["shift"], lo, hi, scale=p["scale"])
        elif t in ("max_pool", "avg_pool"):
            f = tfl.max_pool if t == "max_pool" else tfl.avg_pool
            y = f(a, tuple(o["pool"]), tuple(o["stride"]), o["padding"], lo, hi)
        elif t == "add":  # trailing dimensions aligned, the batch first
            r = max(a.ndim, xs[1].ndim)
            a, b = (v.reshape(n, *(1,) * (r - v.ndim), *v.shape[1:]) for v in xs)
            y = tfl.add(a, b, p["add"], lo, hi)
        else:  # reshape
            y = a
        return np.asarray(y, np.int8).reshape(n, *self.tensors[o["output"]]["shape"])

    # ---- storage
    def to_dict(self):
        return {"name": self.name, "format": "approxnn-graph-1", "inputs": self.inputs,
                "outputs": self.outputs, "tensors": self.tensors, "ops": self.ops}

    def save(self, path):
        """Write ``<path>.json`` and ``<path>.npz`` (``path`` without a suffix, or ending in
        .json); each file appears only complete."""
        base = Path(path)
        if base.suffix in (".json", ".npz"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
        jtmp = base.with_name(base.name + ".json.part")
        ntmp = base.with_name(base.name + ".part.npz")
        jtmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        np.savez_compressed(ntmp, **self.arrays)
        ntmp.replace(base.with_suffix(".npz"))
        jtmp.replace(base.with_suffix(".json"))
        return base.with_suffix(".json")


def load_graph(path):
    """A Graph from ``<path>.json`` + ``<path>.npz`` (no pickles)."""
    base = Path(path)
    if base.suffix in (".json", ".npz"):
        base = base.with_suffix("")
    jp, npz = base.with_suffix(".json"), base.with_suffix(".npz")
    try:
        d = json.loads(jp.read_text())
    except FileNotFoundError:
        raise GraphError(f"{jp}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphError(f"{jp}: not a graph description ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != "approxnn-graph-1":
        raise GraphError(f"{jp}: not a graph description (no format 'approxnn-graph-1')")
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise GraphError(f"{npz}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise GraphError(f"{npz}: cannot read the arrays ({exc})") from None
    try:
        return Graph(d["name"], d["tensors"], d["ops"], d["inputs"], d["outputs"], arrays)
    except KeyError as exc:
        raise GraphError(f"{jp}: field {exc} missing") from None


def from_network(net):
    """The graph of a quantised sequential :class:`refmodels.cnn.net.Network` (conv2d ->
    conv2d, maxpool -> max_pool, flatten -> reshape, dense -> fully_connected); its
    :meth:`Graph.run` equals ``net.forward_int8(..., rounding="reference")``."""
    if "quant" not in net.topology:
        raise GraphError(f"network {net.name} is not quantised")
    q = net.topology["quant"]
    tensors = {"input": {"shape": list(net.topology["input"]), **q["input"]}}
    ops, arrays = [], {}
    cur = "input"
    for L in net.layers:
        t, nm = L["type"], L["name"]
        qcur = {k: tensors[cur][k] for k in ("scale", "zero_point")}
        if t in ("conv2d", "dense"):
            qo = {k: q[nm][k] for k in ("scale", "zero_point")}
            for s in ("w", "b", "wscale"):
                arrays[f"{nm}.{s}"] = net.arrays[nm + {"w": ".wq", "b": ".bq",
                                                       "wscale": ".wscale"}[s]]
            op = {"type": "conv2d" if t == "conv2d" else "fully_connected", "name": nm,
                  "inputs": [cur], "output": nm, "activation": L["activation"]}
            if t == "conv2d":
                op.update(stride=list(L["stride"]), padding=L["padding"])
        else:
            qo = qcur
            if t == "maxpool":
                op = {"type": "max_pool", "name": nm, "inputs": [cur], "output": nm,
                      "pool": list(L["pool"]), "stride": list(L["pool"]), "padding": "VALID",
                      "activation": "NONE"}
            else:
                op = {"type": "reshape", "name": nm, "inputs": [cur], "output": nm}
        tensors[nm] = {"shape": list(L["out_shape"]), **qo}
        ops.append(op)
        cur = nm
    return Graph(net.name, tensors, ops, ["input"], [cur], arrays)
