"""Read an int8 TFLite model (``.tflite`` flatbuffer) into a :class:`refmodels.cnn.graph.Graph`.

The flatbuffer is parsed with the ``tflite`` package (the generated schema accessors; no
TensorFlow, no interpreter). Supported: CONV_2D, DEPTHWISE_CONV_2D (any depth multiplier),
FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, ADD, RESHAPE; fused activations NONE, RELU,
RELU6, RELU_N1_TO_1; int8 activations (one scale / zero point per tensor), int8 weights with
one scale per tensor or per output channel (zero point 0; FullyConnected too, as the
converter quantises Dense weights by default), int32 biases; Add of two computed tensors with
broadcasting (trailing dimensions aligned: per channel, per pixel, scalar). Anything else -
another operator, a float or int16 tensor, dilation, a grouped convolution, a constant Add
operand, shuffled FullyConnected weights, several subgraphs or model inputs - raises
:class:`TFLiteImportError` with a one-line message naming it.
"""

from __future__ import annotations

import numpy as np

from .graph import Graph, GraphError

__all__ = ["TFLiteImportError", "read_tflite", "load_tflite"]


class TFLiteImportError(GraphError):
    """A model that cannot be imported (one-line message naming the cause)."""


def _schema():
    try:
        import tflite  # noqa: PLC0415 - the flatbuffer schema package
    except ImportError:  # the schema module ai-edge-litert ships
        try:
            from ai_edge_litert import schema_py_generated as tflite  # noqa: PLC0415
        except ImportError:
            raise TFLiteImportError("reading .tflite needs the 'tflite' package "
                                    "(pip install tflite)") from None
    return tflite


ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
ACT_NAMES = {4: "TANH", 5: "SIGN_BIT"}
PADDING = {0: "SAME", 1: "VALID"}
TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING",
              6: "BOOL", 7: "INT16", 8: "COMPLEX64", 9: "INT8", 10: "FLOAT64"}
INT8, INT32 = 9, 2


def _op_name(S, code):
    for k, v in vars(S.BuiltinOperator).items():
        if not k.startswith("_") and v == code:
            return k
    return f"builtin operator {code}"


def _builtin_code(c) -> int:
    """The raw ``builtin_code`` field (vtable slot 10) of an OperatorCode: the ``tflite``
    package's ``BuiltinCode()`` answers the deprecated field below 127, where TFLite takes the
    larger of the two."""
    import flatbuffers  # noqa: PLC0415

    o = c._tab.Offset(10)
    return int(c._tab.Get(flatbuffers.number_types.Int32Flags, o + c._tab.Pos)) if o else 0


def _options(S, op, cls):
    tab = op.BuiltinOptions()
    o = getattr(S, cls)()
    if tab is None:
        return None
    o.Init(tab.Bytes, tab.Pos)
    return o


def read_tflite(data: bytes, name: str = "model") -> Graph:
    """The Graph of the int8 model in ``data`` (the bytes of a .tflite file)."""
    if len(data) < 8 or bytes(data[4:8]) != b"TFL3":
        raise TFLiteImportError("not a TFLite flatbuffer (no 'TFL3' identifier)")
    S = _schema()
    try:
        return _read(S, bytearray(data), name)
    except TFLiteImportError:
        raise
    except GraphError as exc:
        raise TFLiteImportError(str(exc)) from None
    except Exception as exc:  # a truncated or corrupt buffer fails inside the accessors
        raise TFLiteImportError(f"not a readable TFLite flatbuffer (truncated or corrupt: "
                                f"{type(exc).__name__})") from None


def load_tflite(path) -> Graph:
    from pathlib import Path  # noqa: PLC0415

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TFLiteImportError(f"{p}: {exc.strerror}") from None
    return read_tflite(data, p.stem)


def _read(S, buf, name):
    m = S.Model.GetRootAs(buf, 0)
    if m.SubgraphsLength() != 1:
        raise TFLiteImportError(f"{m.SubgraphsLength()} subgraphs: one supported")
    sg = m.Subgraphs(0)
    codes = []
    for i in range(m.OperatorCodesLength()):
        c = m.OperatorCodes(i)
        codes.append(max(_builtin_code(c), int(c.DeprecatedBuiltinCode())))
    B = S.BuiltinOperator
    kinds = {B.CONV_2D: "conv2d", B.DEPTHWISE_CONV_2D: "depthwise_conv2d",
             B.FULLY_CONNECTED: "fully_connected", B.MAX_POOL_2D: "max_pool",
             B.AVERAGE_POOL_2D: "avg_pool", B.ADD: "add", B.RESHAPE: "reshape"}

    raw = [sg.Tensors(i) for i in range(sg.TensorsLength())]
    names, seen = [], set()
    for i, t in enumerate(raw):
        nm = (t.Name() or b"").decode("utf-8", "replace") or f"t{i}"
        if nm in seen:
            nm = f"{nm}#{i}"
        seen.add(nm)
        names.append(nm)

    def tname(i):
        return names[i]

    def const(i):
        b = m.Buffers(raw[i].Buffer())
        if b is None or b.DataLength() == 0:
            return None
        return b.DataAsNumpy().tobytes()

    def quant(i, what):
        t = raw[i]
        q = t.Quantization()
        if q is None or q.ScaleLength() == 0:
            raise TFLiteImportError(f"tensor {tname(i)!r} ({what}) is not quantised")
        return (q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64),
                int(q.QuantizedDimension()))

    tensors = {}

    def activation(i, what):
        t = raw[i]
        if t.Type() != INT8:
            kind = "float model" if t.Type() == 0 else "unsupported tensor type"
            raise TFLiteImportError(f"{kind}: tensor {tname(i)!r} ({what}) is "
                                    f"{TYPE_NAMES.get(t.Type(), t.Type())}; only int8 models "
                                    "are supported")
        if const(i) is not None:
            raise TFLiteImportError(f"tensor {tname(i)!r} ({what}) is a constant: only "
                                    "computed tensors supported there")
        scale, zp, _ = quant(i, what)
        if len(scale) != 1:
            raise TFLiteImportError(f"tensor {tname(i)!r} ({what}): per-channel activation "
                                    "quantisation unsupported")
        shape = [int(v) for v in t.ShapeAsNumpy()] if t.ShapeLength() else []
        if len(shape) < 2 or shape[0] != 1:
            raise TFLiteImportError(f"tensor {tname(i)!r} ({what}): shape {shape}, need a "
                                    "batch dimension of 1 first")
        d = {"shape": shape[1:], "scale": float(scale[0]), "zero_point": int(zp[0])}
        if tname(i) in tensors and tensors[tname(i)] != d:
            raise TFLiteImportError(f"tensor {tname(i)!r}: inconsistent")
        tensors[tname(i)] = d
        return tname(i)

    def weights(i, what, oc_axis, oc):
        t = raw[i]
        if t.Type() != INT8:
            raise TFLiteImportError(f"{what} {tname(i)!r} is "
                                    f"{TYPE_NAMES.get(t.Type(), t.Type())}: int8 weights "
                                    "supported")
        data = const(i)
        if data is None:
            raise TFLiteImportError(f"{what} {tname(i)!r} is not a constant")
        shape = [int(v) for v in t.ShapeAsNumpy()]
        w = np.frombuffer(data, np.int8).reshape(shape).copy()
        scale, zp, qdim = quant(i, what)
        if np.any(zp != 0):
            raise TFLiteImportError(f"{what} {tname(i)!r}: non-zero weight zero point")
        if len(scale) not in (1, oc) or (len(scale) > 1 and qdim != oc_axis):
            raise TFLiteImportError(f"{what} {tname(i)!r}: {len(scale)} scales on dimension "
                                    f"{qdim}; per tensor or per output channel supported")
        if np.any(scale <= 0):
            raise TFLiteImportError(f"{what} {tname(i)!r}: a scale <= 0")
        return w, scale

    def bias(i, oc, what):
        if i < 0:
            return np.zeros(oc, np.int32)
        t = raw[i]
        if t.Type() != INT32:
            raise TFLiteImportError(f"{what} bias {tname(i)!r} is "
                                    f"{TYPE_NAMES.get(t.Type(), t.Type())}: int32 supported")
        data = const(i)
        if data is None:
            raise TFLiteImportError(f"{what} bias {tname(i)!r} is not a constant")
        b = np.frombuffer(data, np.int32).copy()
        if b.size != oc:
            raise TFLiteImportError(f"{what} bias {tname(i)!r}: {b.size} values, {oc} "
                                    "channels")
        return b

    def fused(code, what):
        if code not in ACT:
            raise TFLiteImportError(f"{what}: fused activation "
                                    f"{ACT_NAMES.get(code, code)} unsupported")
        return ACT[code]

    if sg.InputsLength() != 1 or sg.OutputsLength() != 1:
        raise TFLiteImportError(f"model with {sg.InputsLength()} inputs and "
                                f"{sg.OutputsLength()} outputs: one each supported")
    inp = activation(int(sg.Inputs(0)), "model input")
    ops, arrays = [], {}
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        code = codes[op.OpcodeIndex()]
        if code == B.CUSTOM or code not in kinds:
            cname = (m.OperatorCodes(op.OpcodeIndex()).CustomCode() or b"?").decode() \
                if code == B.CUSTOM else _op_name(S, code)
            raise TFLiteImportError(f"operator {k}: {cname} unsupported (supported: CONV_2D, "
                                    "DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D, "
                                    "AVERAGE_POOL_2D, ADD, RESHAPE)")
        kind = kinds[code]
        what = f"operator {k} ({_op_name(S, code)})"
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if len(outs) != 1 or not ins:
            raise TFLiteImportError(f"{what}: {len(ins)} inputs, {len(outs)} outputs")
        nm = f"{kind}{k}"
        x = activation(ins[0], f"{what} input")
        y = activation(outs[0], f"{what} output")
        o = {"type": kind, "name": nm, "inputs": [x], "output": y}
        xs = tensors[x]["shape"]
        if kind in ("conv2d", "depthwise_conv2d"):
            cls = "Conv2DOptions" if kind == "conv2d" else "DepthwiseConv2DOptions"
            opt = _options(S, op, cls)
            if opt is None:
                raise TFLiteImportError(f"{what}: options missing")
            if opt.DilationHFactor() != 1 or opt.DilationWFactor() != 1:
                raise TFLiteImportError(f"{what}: dilation {opt.DilationHFactor()}x"
                                        f"{opt.DilationWFactor()} unsupported (1 only)")
            if len(xs) != 3:
                raise TFLiteImportError(f"{what}: input shape {xs}, need H x W x C")
            if kind == "conv2d":
                shp = [int(v) for v in raw[ins[1]].ShapeAsNumpy()]
                oc = shp[0]
                w, sc = weights(ins[1], f"{what} filter", 0, oc)
                if w.shape[3] != xs[2]:
                    raise TFLiteImportError(f"{what}: grouped convolution ({xs[2]} input "
                                            f"channels, filter depth {w.shape[3]}) unsupported")
            else:
                shp = [int(v) for v in raw[ins[1]].ShapeAsNumpy()]
                oc = shp[3]
                w, sc = weights(ins[1], f"{what} filter", 3, oc)
                if oc % xs[2]:
                    raise TFLiteImportError(f"{what}: {oc} output channels for {xs[2]} input "
                                            "channels")
                dm = oc // xs[2]
                if opt.DepthMultiplier() not in (0, dm):
                    raise TFLiteImportError(f"{what}: depth multiplier option "
                                            f"{opt.DepthMultiplier()} against {dm} from shapes")
                o["depth_multiplier"] = dm
            o.update(stride=[int(opt.StrideH()), int(opt.StrideW())],
                     padding=PADDING[opt.Padding()],
                     activation=fused(opt.FusedActivationFunction(), what))
            arrays[nm + ".w"], arrays[nm + ".wscale"] = w, sc
            arrays[nm + ".b"] = bias(ins[2] if len(ins) > 2 else -1, oc, what)
        elif kind == "fully_connected":
            opt = _options(S, op, "FullyConnectedOptions")
            act = "NONE"
            if opt is not None:
                if opt.WeightsFormat() != 0:
                    raise TFLiteImportError(f"{what}: weights format {opt.WeightsFormat()} "
                                            "(shuffled) unsupported")
                act = fused(opt.FusedActivationFunction(), what)
            shp = [int(v) for v in raw[ins[1]].ShapeAsNumpy()]
            if len(shp) != 2:
                raise TFLiteImportError(f"{what}: weights of shape {shp}")
            oc = shp[0]
            w, sc = weights(ins[1], f"{what} weights", 0, oc)
            if int(np.prod(xs)) != w.shape[1]:
                raise TFLiteImportError(f"{what}: {int(np.prod(xs))} inputs per image, weights "
                                        f"for {w.shape[1]} (batched FullyConnected "
                                        "unsupported)")
            o["activation"] = act
            arrays[nm + ".w"], arrays[nm + ".wscale"] = w, sc
            arrays[nm + ".b"] = bias(ins[2] if len(ins) > 2 else -1, oc, what)
        elif kind in ("max_pool", "avg_pool"):
            opt = _options(S, op, "Pool2DOptions")
            if opt is None:
                raise TFLiteImportError(f"{what}: options missing")
            if len(xs) != 3:
                raise TFLiteImportError(f"{what}: input shape {xs}, need H x W x C")
            if tensors[x]["scale"] != tensors[y]["scale"] or \
                    tensors[x]["zero_point"] != tensors[y]["zero_point"]:
                raise TFLiteImportError(f"{what}: output quantisation differs from the "
                                        "input's (requantising pooling unsupported)")
            o.update(pool=[int(opt.FilterHeight()), int(opt.FilterWidth())],
                     stride=[int(opt.StrideH()), int(opt.StrideW())],
                     padding=PADDING[opt.Padding()],
                     activation=fused(opt.FusedActivationFunction(), what))
        elif kind == "add":
            if len(ins) != 2:
                raise TFLiteImportError(f"{what}: {len(ins)} inputs")
            x2 = activation(ins[1], f"{what} input 2")
            x2s = tensors[x2]["shape"]
            try:  # broadcasting as TFLite's (and numpy's): trailing dimensions aligned
                bs = [int(v) for v in np.broadcast_shapes(tuple(xs), tuple(x2s))]
            except ValueError:
                bs = None
            if bs is None or tensors[y]["shape"] != bs:
                raise TFLiteImportError(f"{what}: shapes {xs} + {x2s} -> "
                                        f"{tensors[y]['shape']} do not broadcast")
            opt = _options(S, op, "AddOptions")
            o["inputs"].append(x2)
            o["activation"] = fused(opt.FusedActivationFunction(), what) if opt else "NONE"
        else:  # reshape
            if int(np.prod(tensors[y]["shape"])) != int(np.prod(xs)):
                raise TFLiteImportError(f"{what}: {xs} to {tensors[y]['shape']}")
            o["inputs"] = [x]
        ops.append(o)
    out = tname(int(sg.Outputs(0)))
    if out not in tensors or out == inp:
        raise TFLiteImportError(f"model output {out!r} is not computed by a supported op")
    for o in ops:
        if o["type"] in ("conv2d", "depthwise_conv2d", "max_pool", "avg_pool"):
            _check_out_shape(o, tensors, arrays)
    return Graph(name, tensors, ops, [inp], [out], arrays)


def _check_out_shape(o, tensors, arrays):
    from . import tflite as tfl  # noqa: PLC0415

    h, w, _ = tensors[o["inputs"][0]]["shape"]
    if o["type"] in ("max_pool", "avg_pool"):
        fh, fw = o["pool"]
    else:
        fh, fw = arrays[o["name"] + ".w"].shape[1:3]
    if min(fh, fw, *o["stride"]) < 1:
        raise TFLiteImportError(f"op {o['name']}: a zero window or stride")
    oh = tfl.compute_padding(h, fh, o["stride"][0], 1, o["padding"])[0]
    ow = tfl.compute_padding(w, fw, o["stride"][1], 1, o["padding"])[0]
    got = tensors[o["output"]]["shape"]
    if list(got[:2]) != [oh, ow]:
        raise TFLiteImportError(f"op {o['name']}: output shape {got}, computed {oh}x{ow}")
