"""A quantised ``Network`` as a ``.tflite`` flatbuffer, and LiteRT (TFLite) inference of it.

Used by ``refmodels.cnn.bench`` to time TFLite's own kernels on the same network and images.
Needs the optional package ``ai-edge-litert`` (which ships the flatbuffer schema); nothing in
the golden models depends on it.

The model holds exactly the integers of the golden model: int8 input (the network's input
scale / zero point), per-channel int8 Conv2D filters (OHWI) with fused RELU / RELU6 / NONE,
MaxPool2D, a Reshape for ``flatten`` (NHWC order, as the golden model), per-tensor int8
FullyConnected weights, int32 biases, the per-layer activation scales and zero points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["available", "to_tflite", "LiteRT"]


def available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
        import ai_edge_litert.schema_py_generated  # noqa: F401
        import flatbuffers  # noqa: F401
    except ImportError:
        return False
    return True


def to_tflite(net, batch: int = 1) -> bytes:
    """The flatbuffer (bytes) of the quantised ``net`` with a fixed batch size."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    if "quant" not in net.topology:
        raise ValueError("network is not quantised")
    q = net.topology["quant"]
    buffers = [S.BufferT()]  # buffer 0: the empty buffer
    tensors = []
    ops = []
    codes = []

    def buffer(arr=None):
        b = S.BufferT()
        if arr is not None:
            b.data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
        buffers.append(b)
        return len(buffers) - 1

    def tensor(name, shape, ttype, scale=None, zp=None, data=None, qdim=0):
        t = S.TensorT()
        t.name = name
        t.shape = np.asarray(shape, np.int32)
        t.type = ttype
        t.buffer = buffer(data) if data is not None else 0
        if scale is not None:
            qp = S.QuantizationParametersT()
            qp.scale = np.atleast_1d(np.asarray(scale, np.float32))
            qp.zeroPoint = np.atleast_1d(np.asarray(zp, np.int64))
            qp.quantizedDimension = qdim
            t.quantization = qp
        tensors.append(t)
        return len(tensors) - 1

    def opcode(code, version):
        for i, c in enumerate(codes):
            if c.builtinCode == code and c.version == version:
                return i
        c = S.OperatorCodeT()
        c.builtinCode = code
        c.deprecatedBuiltinCode = min(code, 127)
        c.version = version
        codes.append(c)
        return len(codes) - 1

    def op(code, version, inputs, outputs, opt_type, opts):
        o = S.OperatorT()
        o.opcodeIndex = opcode(code, version)
        o.inputs = np.asarray(inputs, np.int32)
        o.outputs = np.asarray(outputs, np.int32)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opts
        ops.append(o)

    acts = {"NONE": S.ActivationFunctionType.NONE, "RELU": S.ActivationFunctionType.RELU,
            "RELU6": S.ActivationFunctionType.RELU6}
    shape = [batch, *net.topology["input"]]
    cur = tensor("input", shape, S.TensorType.INT8, q["input"]["scale"],
                 q["input"]["zero_point"])
    first = cur
    s_in = q["input"]["scale"]
    for L in net.layers:
        t, nm = L["type"], L["name"]
        if t in ("conv2d", "dense"):
            qo = q[nm]
            wq = net.arrays[nm + ".wq"]
            bq = net.arrays[nm + ".bq"].astype(np.int32)
            ws = np.asarray(net.arrays[nm + ".wscale"], np.float32)
            bscale = (np.float32(s_in) * ws).astype(np.float32)
            act = acts[str(L.get("activation", "NONE")).upper()]
            if t == "conv2d":
                co, fh, fw, _ = wq.shape
                wt = tensor(nm + ".w", wq.shape, S.TensorType.INT8, ws, np.zeros(co), wq)
                bt = tensor(nm + ".b", bq.shape, S.TensorType.INT32, bscale, np.zeros(co), bq)
                st = L.get("stride", [1, 1])
                pad = S.Padding.SAME if L["padding"] == "SAME" else S.Padding.VALID
                oh = (shape[1] + st[0] - 1) // st[0] if pad == S.Padding.SAME else (
                    (shape[1] - fh) // st[0] + 1)
                ow = (shape[2] + st[1] - 1) // st[1] if pad == S.Padding.SAME else (
                    (shape[2] - fw) // st[1] + 1)
                shape = [batch, oh, ow, co]
                out = tensor(nm, shape, S.TensorType.INT8, qo["scale"], qo["zero_point"])
                o = S.Conv2DOptionsT()
                o.padding, o.strideH, o.strideW = pad, st[0], st[1]
                o.dilationHFactor = o.dilationWFactor = 1
                o.fusedActivationFunction = act
                op(S.BuiltinOperator.CONV_2D, 3, [cur, wt, bt], [out],
                   S.BuiltinOptions.Conv2DOptions, o)
            else:
                co = wq.shape[0]
                wt = tensor(nm + ".w", wq.shape, S.TensorType.INT8, ws[:1], [0], wq)
                bt = tensor(nm + ".b", bq.shape, S.TensorType.INT32, bscale[:1], [0], bq)
                shape = [batch, co]
                out = tensor(nm, shape, S.TensorType.INT8, qo["scale"], qo["zero_point"])
                o = S.FullyConnectedOptionsT()
                o.fusedActivationFunction = act
                op(S.BuiltinOperator.FULLY_CONNECTED, 4, [cur, wt, bt], [out],
                   S.BuiltinOptions.FullyConnectedOptions, o)
            cur, s_in = out, qo["scale"]
        elif t == "maxpool":
            ph, pw = L["pool"]
            shape = [batch, shape[1] // ph, shape[2] // pw, shape[3]]
            qt = tensors[cur].quantization
            out = tensor(nm, shape, S.TensorType.INT8, qt.scale, qt.zeroPoint)
            o = S.Pool2DOptionsT()
            o.padding = S.Padding.VALID
            o.strideH, o.strideW, o.filterHeight, o.filterWidth = ph, pw, ph, pw
            op(S.BuiltinOperator.MAX_POOL_2D, 2, [cur], [out], S.BuiltinOptions.Pool2DOptions,
               o)
            cur = out
        elif t == "flatten":
            shape = [batch, int(np.prod(shape[1:]))]
            qt = tensors[cur].quantization
            out = tensor(nm, shape, S.TensorType.INT8, qt.scale, qt.zeroPoint)
            o = S.ReshapeOptionsT()
            o.newShape = np.asarray(shape, np.int32)
            op(S.BuiltinOperator.RESHAPE, 1, [cur], [out], S.BuiltinOptions.ReshapeOptions, o)
            cur = out
        else:
            raise ValueError(f"layer type {t!r} cannot be exported")
    sg = S.SubGraphT()
    sg.tensors, sg.operators = tensors, ops
    sg.inputs, sg.outputs = np.asarray([first], np.int32), np.asarray([cur], np.int32)
    sg.name = "main"
    m = S.ModelT()
    m.version = 3
    m.operatorCodes, m.subgraphs, m.buffers = codes, [sg], buffers
    m.description = f"approxnn {net.name}"
    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


class LiteRT:
    """A LiteRT interpreter of ``net`` for batches of ``batch`` images.

    ``delegates=False`` (default): TFLite's built-in optimised kernels without the default
    XNNPACK delegate; ``True``: the default set-up (XNNPACK)."""

    def __init__(self, net, batch=1, threads=1, delegates=False):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kind = (OpResolverType.AUTO if delegates
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.batch = batch
        self.it = Interpreter(model_content=to_tflite(net, batch), num_threads=threads,
                              experimental_op_resolver_type=kind)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]

    def __call__(self, xq):
        """int8 codes of the last layer for ``xq`` (N, H, W, C) int8, N a multiple of batch."""
        xq = np.asarray(xq, np.int8)
        if len(xq) % self.batch:
            raise ValueError(f"the number of images must be a multiple of {self.batch}")
        outs = []
        for i in range(0, len(xq), self.batch):
            self.it.set_tensor(self.inp, xq[i : i + self.batch])
            self.it.invoke()
            outs.append(self.it.get_tensor(self.out).copy())
        return np.concatenate(outs)
