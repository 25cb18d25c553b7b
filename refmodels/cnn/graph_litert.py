"""A :class:`refmodels.cnn.graph.Graph` as a ``.tflite`` flatbuffer, LiteRT's reference
interpreter on it, and a small random int8 graph with every supported op (a model that is not
in the repository, for tests and examples).

Writing and interpreting need the optional package ``ai-edge-litert`` (its flatbuffer schema
and interpreter); importing models does not (:mod:`refmodels.cnn.tflite_import`).
"""

from __future__ import annotations

import numpy as np

from .graph import Graph

__all__ = ["available", "to_tflite", "reference_interpreter", "run_reference", "example_graph"]

#: builtin operator -> (schema name, version of its int8 kernel)
OPS = {"conv2d": ("CONV_2D", 3), "depthwise_conv2d": ("DEPTHWISE_CONV_2D", 3),
       "fully_connected": ("FULLY_CONNECTED", 4), "max_pool": ("MAX_POOL_2D", 2),
       "avg_pool": ("AVERAGE_POOL_2D", 2), "add": ("ADD", 2), "reshape": ("RESHAPE", 1)}


def available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
        import ai_edge_litert.schema_py_generated  # noqa: F401
        import flatbuffers  # noqa: F401
    except ImportError:
        return False
    return True


def to_tflite(g: Graph) -> bytes:
    """The flatbuffer (bytes) of ``g`` with batch 1: the exact integers of the graph."""
    import flatbuffers  # noqa: PLC0415
    from ai_edge_litert import schema_py_generated as S  # noqa: PLC0415

    buffers = [S.BufferT()]
    tensors, ops, codes, index = [], [], [], {}

    def tensor(name, shape, ttype, scale, zp, data=None, qdim=0):
        t = S.TensorT()
        t.name, t.shape, t.type = name, np.asarray(shape, np.int32), ttype
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        qp = S.QuantizationParametersT()
        qp.scale = np.atleast_1d(np.asarray(scale, np.float32))
        qp.zeroPoint = np.atleast_1d(np.asarray(zp, np.int64))
        qp.quantizedDimension = qdim
        t.quantization = qp
        tensors.append(t)
        return len(tensors) - 1

    def act_tensor(name):
        if name not in index:
            d = g.tensors[name]
            index[name] = tensor(name, [1, *d["shape"]], S.TensorType.INT8, d["scale"],
                                 d["zero_point"])
        return index[name]

    def opcode(kind):
        sname, version = OPS[kind]
        code = getattr(S.BuiltinOperator, sname)
        for i, c in enumerate(codes):
            if c.builtinCode == code:
                return i
        c = S.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), version
        codes.append(c)
        return len(codes) - 1

    acts = {"NONE": S.ActivationFunctionType.NONE, "RELU": S.ActivationFunctionType.RELU,
            "RELU6": S.ActivationFunctionType.RELU6,
            "RELU_N1_TO_1": S.ActivationFunctionType.RELU_N1_TO_1}
    pads = {"SAME": S.Padding.SAME, "VALID": S.Padding.VALID}
    act_tensor(g.inputs[0])
    for o in g.ops:
        t, nm = o["type"], o["name"]
        ins = [act_tensor(x) for x in o["inputs"]]
        out = act_tensor(o["output"])
        opt_type, opts = S.BuiltinOptions.NONE, None
        if t in ("conv2d", "depthwise_conv2d", "fully_connected"):
            w = g.arrays[nm + ".w"]
            b = np.asarray(g.arrays[nm + ".b"], np.int32)
            ws = np.asarray(g.arrays[nm + ".wscale"], np.float32)
            s_in = np.float32(g.tensors[o["inputs"][0]]["scale"])
            qdim = 3 if t == "depthwise_conv2d" else 0
            ins.append(tensor(nm + ".w", w.shape, S.TensorType.INT8, ws, np.zeros(len(ws)), w,
                              qdim))
            ins.append(tensor(nm + ".b", b.shape, S.TensorType.INT32, s_in * ws,
                              np.zeros(len(ws)), b))
            if t == "conv2d":
                opts, opt_type = S.Conv2DOptionsT(), S.BuiltinOptions.Conv2DOptions
            elif t == "depthwise_conv2d":
                opts = S.DepthwiseConv2DOptionsT()
                opt_type = S.BuiltinOptions.DepthwiseConv2DOptions
                opts.depthMultiplier = o["depth_multiplier"]
            else:
                opts = S.FullyConnectedOptionsT()
                opt_type = S.BuiltinOptions.FullyConnectedOptions
            if t != "fully_connected":
                opts.padding = pads[o["padding"]]
                opts.strideH, opts.strideW = o["stride"]
                opts.dilationHFactor = opts.dilationWFactor = 1
            opts.fusedActivationFunction = acts[o["activation"]]
        elif t in ("max_pool", "avg_pool"):
            opts, opt_type = S.Pool2DOptionsT(), S.BuiltinOptions.Pool2DOptions
            opts.padding = pads[o["padding"]]
            opts.strideH, opts.strideW = o["stride"]
            opts.filterHeight, opts.filterWidth = o["pool"]
            opts.fusedActivationFunction = acts[o["activation"]]
        elif t == "add":
            opts, opt_type = S.AddOptionsT(), S.BuiltinOptions.AddOptions
            opts.fusedActivationFunction = acts[o["activation"]]
        else:
            opts, opt_type = S.ReshapeOptionsT(), S.BuiltinOptions.ReshapeOptions
            opts.newShape = np.asarray([1, *g.tensors[o["output"]]["shape"]], np.int32)
        op = S.OperatorT()
        op.opcodeIndex = opcode(t)
        op.inputs, op.outputs = np.asarray(ins, np.int32), np.asarray([out], np.int32)
        op.builtinOptionsType, op.builtinOptions = opt_type, opts
        ops.append(op)
    sg = S.SubGraphT()
    sg.tensors, sg.operators, sg.name = tensors, ops, "main"
    sg.inputs = np.asarray([index[g.inputs[0]]], np.int32)
    sg.outputs = np.asarray([index[g.outputs[0]]], np.int32)
    m = S.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, codes, [sg], buffers
    m.description = f"approxnn graph {g.name}"
    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def reference_interpreter(model: bytes):
    """LiteRT's interpreter with the BUILTIN_REF op resolver (TFLite's reference kernels)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415

    it = Interpreter(model_content=bytes(model),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def run_reference(model: bytes, xq) -> np.ndarray:
    """The model's int8 outputs for ``xq`` (N, ...) on the reference interpreter, one row per
    input (the model's batch is 1)."""
    it = reference_interpreter(model)
    i = it.get_input_details()[0]
    o = it.get_output_details()[0]
    outs = []
    for x in np.asarray(xq):
        it.set_tensor(i["index"], x[None].astype(i["dtype"]))
        it.invoke()
        outs.append(it.get_tensor(o["index"])[0].copy())
    return np.stack(outs)


def example_graph(seed: int = 0, name: str = "example") -> Graph:
    """A random-weight int8 graph over a 7 x 6 x 2 input with every supported op: Conv2D
    (per-channel, RELU), DepthwiseConv2D (per-channel) and a residual Add (RELU), MaxPool,
    DepthwiseConv2D with depth multiplier 2 (per-tensor, RELU_N1_TO_1), AveragePool (SAME),
    a 1 x 1 Conv2D (per-tensor, RELU6), a global AveragePool added back per channel (Add
    with broadcasting), Reshape, FullyConnected (per-tensor, RELU), then two FullyConnected
    (per-channel, as the converter quantises Dense weights) whose 3 and 1 outputs are added
    (a scalar broadcast).

    Output scales and zero points are calibrated on random inputs, as a converter does (the
    real range of each op's output, 0 included, over 255 codes); the weights of the RELU6 and
    RELU_N1_TO_1 layers are scaled so that the clamp cuts."""
    from . import tflite as tfl  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    tensors = {"input": {"shape": [7, 6, 2], "scale": 0.02,
                         "zero_point": int(rng.integers(-20, 20))}}
    ops, arrays = [], {}
    calib = rng.integers(-128, 128, (32, 7, 6, 2)).astype(np.int8)

    def codes(t):
        if t == "input":
            return calib
        return Graph(name, tensors, ops, ["input"], [t], arrays).run(calib)

    def calibrate(real):
        lo, hi = min(float(real.min()), 0.0), max(float(real.max()), 0.0)
        sc = np.float32((hi - lo) / 255.0 if hi > lo else 1.0)
        zp = int(np.clip(tfl.round_half_away(-128 - lo / float(sc)), -128, 127))
        return float(sc), zp

    clip = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0),
            "RELU_N1_TO_1": (-1.0, 1.0)}

    def weighted(kind, nm, x, shape_out, w_shape, per_channel, act, **opt):
        s_in, zp_in = tensors[x]["scale"], tensors[x]["zero_point"]
        oc = w_shape[3] if kind == "depthwise_conv2d" else w_shape[0]
        w = rng.integers(-127, 128, w_shape).astype(np.int8)
        ws = (rng.uniform(0.5, 2.0, oc if per_channel else 1) / 127.0).astype(np.float32)
        b = rng.integers(-(1 << 11), 1 << 11, oc).astype(np.int32)
        xc = codes(x)
        if kind == "conv2d":
            acc = tfl.conv2d_acc(xc, w, zp_in, tuple(opt["stride"]), opt["padding"])
        elif kind == "depthwise_conv2d":
            acc = tfl.depthwise_conv2d_acc(xc, w, zp_in, opt["depth_multiplier"],
                                           tuple(opt["stride"]), opt["padding"])
        else:
            acc = tfl.fully_connected_acc(xc.reshape(len(xc), -1), w, zp_in)
        real = (acc + b) * (s_in * np.broadcast_to(ws, (oc,)).astype(np.float64))
        lo, hi = clip[act]
        if np.isfinite(hi):  # the clamp cuts the top quarter of the range
            ws = (ws * np.float32(hi / (0.75 * float(np.abs(real).max())))).astype(np.float32)
            real = (acc + b) * (s_in * np.broadcast_to(ws, (oc,)).astype(np.float64))
        arrays[nm + ".w"], arrays[nm + ".wscale"], arrays[nm + ".b"] = w, ws, b
        sc, zp = calibrate(np.clip(real, lo, hi))
        tensors[nm] = {"shape": shape_out, "scale": sc, "zero_point": zp}
        ops.append({"type": kind, "name": nm, "inputs": [x], "output": nm, "activation": act,
                    **opt})
        return nm

    def passthrough(kind, nm, x, shape_out, **opt):
        tensors[nm] = {"shape": shape_out, "scale": tensors[x]["scale"],
                       "zero_point": tensors[x]["zero_point"]}
        ops.append({"type": kind, "name": nm, "inputs": [x], "output": nm, **opt})
        return nm

    def added(nm, x1, x2, act):
        """An Add (broadcasting as TFLite: trailing dimensions aligned) calibrated on its
        real sum."""
        v = [(codes(t).astype(np.float64) - tensors[t]["zero_point"]) * tensors[t]["scale"]
             for t in (x1, x2)]
        r = max(a.ndim for a in v)
        v = [a.reshape(len(a), *(1,) * (r - a.ndim), *a.shape[1:]) for a in v]
        real = v[0] + v[1]
        sc, zp = calibrate(np.clip(real, *clip[act]))
        tensors[nm] = {"shape": list(real.shape[1:]), "scale": sc, "zero_point": zp}
        ops.append({"type": "add", "name": nm, "inputs": [x1, x2], "output": nm,
                    "activation": act})
        return nm

    c1 = weighted("conv2d", "conv1", "input", [7, 6, 4], (4, 3, 3, 2), True, "RELU",
                  stride=[1, 1], padding="SAME")
    d1 = weighted("depthwise_conv2d", "dw1", c1, [7, 6, 4], (1, 3, 3, 4), True, "NONE",
                  stride=[1, 1], padding="SAME", depth_multiplier=1)
    a1 = added("add1", c1, d1, "RELU")
    p1 = passthrough("max_pool", "pool1", a1, [3, 3, 4], pool=[2, 2], stride=[2, 2],
                     padding="VALID", activation="NONE")
    d2 = weighted("depthwise_conv2d", "dw2", p1, [2, 2, 8], (1, 2, 2, 8), False,
                  "RELU_N1_TO_1", stride=[1, 1], padding="VALID", depth_multiplier=2)
    p2 = passthrough("avg_pool", "pool2", d2, [2, 2, 8], pool=[2, 2], stride=[1, 1],
                     padding="SAME", activation="NONE")
    c2 = weighted("conv2d", "conv2", p2, [2, 2, 6], (6, 1, 1, 8), False, "RELU6",
                  stride=[1, 1], padding="SAME")
    gp = passthrough("avg_pool", "gpool", c2, [1, 1, 6], pool=[2, 2], stride=[2, 2],
                     padding="VALID", activation="NONE")
    a2 = added("add2", c2, gp, "NONE")  # per-channel broadcast
    r = passthrough("reshape", "flatten", a2, [24])
    fc = weighted("fully_connected", "fc", r, [5], (5, 24), False, "RELU")
    f2 = weighted("fully_connected", "fc2", fc, [3], (3, 5), True, "NONE")
    fb = weighted("fully_connected", "fcb", fc, [1], (1, 5), True, "NONE")
    out = added("add3", f2, fb, "NONE")  # scalar broadcast
    return Graph(name, tensors, ops, ["input"], [out], arrays)
