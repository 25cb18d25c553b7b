"""Oracle test: ``refmodels.cnn.tflite`` against TFLite's own kernels, op by op.

The converter-made int8 models in ``tflite_testdata/`` (made by ``make_tflite_testdata.py``)
run in the LiteRT interpreter (``ai-edge-litert``) with every intermediate tensor preserved.
For every operator, the interpreter's own input tensors, weights, biases and quantisation
parameters are fed to the golden model, whose output must equal the interpreter's output
tensor element for element (0 mismatches):

* BUILTIN_REF op resolver (TFLite's reference kernels) against ``rounding="reference"``;
* BUILTIN_WITHOUT_DEFAULT_DELEGATES (the optimized kernels, no XNNPACK) against
  ``rounding="optimized"``.

The XNNPACK delegate (BUILTIN, LiteRT's default) runs a model as one delegated node, so its
intermediate tensors are not kept: there the golden model is chained op by op from the model's
input (``rounding="xnnpack"``) and the model's output must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from refmodels.cnn import tflite as tfl

litert = pytest.importorskip(
    "ai_edge_litert.interpreter",
    reason="ai-edge-litert (the LiteRT interpreter, test dependency) is not importable")

# LiteRT warns that kept intermediate tensors are meant for debugging: that is their use here
pytestmark = pytest.mark.filterwarnings("ignore:.*experimental_preserve_all_tensors:UserWarning")

DATA = Path(__file__).resolve().parent / "tflite_testdata"
META = json.loads((DATA / "models.json").read_text())
MODELS = sorted(META["models"])
IMAGES = 24  # random int8 inputs per model ...
IMAGES_FC = 400  # ... and per FullyConnected model (few outputs each, rare ties)


def _q(detail):
    qp = detail["quantization_parameters"]
    return np.asarray(qp["scales"], np.float32), np.asarray(qp["zero_points"], np.int64)


def run_model(name, resolver, seed=0):
    """Yield (op name, interpreter inputs, output detail, output) per op per image."""
    it = litert.Interpreter(model_path=str(DATA / f"{name}.tflite"),
                            experimental_op_resolver_type=resolver,
                            experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    rng = np.random.default_rng(seed)
    ops = it._get_ops_details()
    fc = any(op["op_name"] == "FULLY_CONNECTED" for op in ops)
    for _ in range(IMAGES_FC if fc else IMAGES):
        for d in it.get_input_details():
            it.set_tensor(d["index"], rng.integers(-128, 128, d["shape"]).astype(np.int8))
        it.invoke()
        for k, op in enumerate(ops):
            ins = [(details[i], it.get_tensor(i)) for i in op["inputs"] if i >= 0]
            out = details[op["outputs"][0]]
            yield k, op["op_name"], ins, out, it.get_tensor(out["index"])


def golden(op, spec, ins, out, rounding):
    """The golden model's output for one TFLite op from the interpreter's tensors."""
    s_out, zp_out = _q(out)
    s_out, zp_out = float(s_out[0]), int(zp_out[0])
    (xd, x) = ins[0]
    s_in, zp_in = _q(xd)
    s_in, zp_in = float(s_in[0]), int(zp_in[0])
    act = spec.get("activation", "NONE")
    lo, hi = tfl.activation_range(act, s_out, zp_out, rounding=rounding)
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        (wd, w), (_, b) = ins[1], ins[2]
        sw, _ = _q(wd)
        oc = w.shape[0] if op != "DEPTHWISE_CONV_2D" else w.shape[3]
        sw = np.broadcast_to(sw, (oc,))
        m, sh = tfl.conv_multipliers(s_in, sw, s_out)
        kind = {"CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "depthwise_conv2d",
                "FULLY_CONNECTED": "fully_connected"}[op]
        sc = tfl.layer_scale(s_in, sw, s_out, kind, rounding)
        if op == "CONV_2D":
            return tfl.conv2d(x, w, b, zp_in, zp_out, m, sh, spec["stride"], spec["padding"],
                              1, lo, hi, rounding=rounding, scale=sc)
        if op == "DEPTHWISE_CONV_2D":
            return tfl.depthwise_conv2d(x, w, b, zp_in, zp_out, m, sh,
                                        spec["depth_multiplier"], spec["stride"],
                                        spec["padding"], 1, lo, hi, rounding=rounding, scale=sc)
        return tfl.fully_connected(x.reshape(-1, w.shape[1]), w, b, zp_in, zp_out, m, sh, lo,
                                   hi, rounding=rounding, scale=sc)
    if op == "MAX_POOL_2D":
        return tfl.max_pool(x, spec["pool"], spec["stride"], spec["padding"], lo, hi)
    if op == "AVERAGE_POOL_2D":
        return tfl.avg_pool(x, spec["pool"], spec["stride"], spec["padding"], lo, hi)
    if op == "ADD":
        (x2d, x2) = ins[1]
        s2, zp2 = _q(x2d)
        p = tfl.add_params(s_in, zp_in, float(s2[0]), int(zp2[0]), s_out, zp_out)
        return tfl.add(x, x2, p, lo, hi, rounding=rounding)
    if op == "RESHAPE":
        return x.reshape(out["shape"])
    raise AssertionError(f"op {op} has no golden model")


def compare(name, resolver, rounding):
    """{op index: [op name, mismatching elements, elements]} for one model."""
    specs = META["models"][name]["ops"]
    stats = {}
    for k, op, ins, out, got in run_model(name, resolver):
        spec = specs[k]
        assert spec["op"] == op, f"{name}: op {k} is {op}, models.json says {spec['op']}"
        want = np.asarray(golden(op, spec, ins, out, rounding)).reshape(got.shape)
        st = stats.setdefault(k, [op, 0, 0])
        st[1] += int(np.count_nonzero(want.astype(np.int64) != got.astype(np.int64)))
        st[2] += got.size
    return stats


def compare_chained(name, resolver, rounding, seed=1):
    """(mismatching elements, elements) of the model outputs, the golden model chained op by op
    from the model input (for a delegate that keeps no intermediate tensor)."""
    path = str(DATA / f"{name}.tflite")
    it = litert.Interpreter(model_path=path, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    ref = litert.Interpreter(model_path=path,
                             experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    details = {d["index"]: d for d in ref.get_tensor_details()}
    ops = ref._get_ops_details()
    specs = META["models"][name]["ops"]
    rng = np.random.default_rng(seed)
    bad = total = 0
    fc = any(op["op_name"] == "FULLY_CONNECTED" for op in ops)
    for _ in range(IMAGES_FC if fc else IMAGES):
        vals = {}
        for d in it.get_input_details():
            v = rng.integers(-128, 128, d["shape"]).astype(np.int8)
            it.set_tensor(d["index"], v)
            vals[d["index"]] = v
        it.invoke()
        for k, op in enumerate(ops):
            assert specs[k]["op"] == op["op_name"]
            ins = [(details[i], vals[i] if i in vals else ref.get_tensor(i))
                   for i in op["inputs"] if i >= 0]
            out = details[op["outputs"][0]]
            vals[out["index"]] = np.asarray(golden(op["op_name"], specs[k], ins, out, rounding)
                                            ).reshape(out["shape"])
        for d in it.get_output_details():
            got = it.get_tensor(d["index"])
            bad += int(np.count_nonzero(vals[d["index"]].astype(np.int64) != got))
            total += got.size
    return bad, total


def _report(stats):
    return ", ".join(f"{op} {bad}/{n}" for op, bad, n in stats.values())


@pytest.mark.parametrize("name", MODELS)
def test_reference_kernels(name):
    """Golden model (rounding="reference") == TFLite BUILTIN_REF, every op, every element."""
    stats = compare(name, litert.OpResolverType.BUILTIN_REF, "reference")
    assert all(bad == 0 for _, bad, _ in stats.values()), f"{name}: {_report(stats)}"
    assert sum(n for *_, n in stats.values()) > 0


@pytest.mark.parametrize("name", MODELS)
def test_optimized_kernels(name):
    """Golden model (rounding="optimized") == TFLite optimized kernels without delegates."""
    stats = compare(name, litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "optimized")
    assert all(bad == 0 for _, bad, _ in stats.values()), f"{name}: {_report(stats)}"


@pytest.mark.parametrize("name", MODELS)
def test_xnnpack_delegate(name):
    """Golden model (rounding="xnnpack") chained from the input == the XNNPACK delegate."""
    bad, total = compare_chained(name, litert.OpResolverType.BUILTIN, "xnnpack")
    assert bad == 0 and total > 0, f"{name}: {bad}/{total}"


def test_testdata_covers_the_ops():
    """The stored models exercise what the brief of the oracle asks for."""
    ops = [o for m in META["models"].values() for o in m["ops"]]
    kinds = {o["op"] for o in ops}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
            "AVERAGE_POOL_2D", "ADD"} <= kinds
    conv = [o for o in ops if o["op"] == "CONV_2D"]
    assert {o["padding"] for o in conv} == {"SAME", "VALID"}
    assert {o["stride"] for o in conv} >= {1, 2}
    assert {o["activation"] for o in conv} >= {"NONE", "RELU", "RELU6"}
    assert {o["depth_multiplier"] for o in ops if o["op"] == "DEPTHWISE_CONV_2D"} == {1, 2, 3}
    assert {o["weights"] for o in ops if o["op"] == "FULLY_CONNECTED"} == {"per-channel",
                                                                           "per-tensor"}
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 1 << 20


def test_relu6_tie_model_needs_float32_bounds():
    """The patched model's ReLU6 bound differs between float32 (TFLite) and float64, and the
    model's outputs reach it, so test_reference_kernels[relu6_tie] checks the float32 bound."""
    s = zp = None
    top = []
    for *_, out, got in run_model("relu6_tie", litert.OpResolverType.BUILTIN_REF):
        s, zp = float(out["quantization"][0]), int(out["quantization"][1])
        top.append(int(got.max()))
    assert tfl.activation_range("RELU6", s, zp)[1] == zp + 63
    assert zp + int(np.floor(6.0 / s + 0.5)) == zp + 62  # the float64 quotient
    assert tfl.activation_range("RELU6", s, zp, rounding="xnnpack")[1] == zp + 62  # half even
    assert max(top) == zp + 63


def test_fc_rounding_paths_are_told_apart():
    """The stored models separate the paths: the fixed-point (gemmlowp) rescale misses TFLite's
    reference FC on some element, the reference Conv2D misses the optimized kernel (ties of the
    final shift) and the XNNPACK delegate (float32 rescale; the ReLU6 bound of relu6_tie)."""
    ref, opt = litert.OpResolverType.BUILTIN_REF, \
        litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    fc_bad = sum(bad for name in ("fc_per_channel", "small_net")
                 for op, bad, _ in compare(name, ref, "gemmlowp").values()
                 if op == "FULLY_CONNECTED")
    assert fc_bad > 0
    conv_bad = sum(bad for op, bad, _ in compare("conv_k1_s1_same", opt, "reference").values())
    assert conv_bad > 0
    xnn = litert.OpResolverType.BUILTIN
    assert compare_chained("conv_k1_s1_same", xnn, "reference")[0] > 0
    assert compare_chained("relu6_tie", xnn, "reference")[0] > 0  # the ReLU6 bound
