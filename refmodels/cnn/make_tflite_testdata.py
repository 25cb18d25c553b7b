"""Make the small int8 ``.tflite`` models of the TFLite oracle test (``test_tflite_oracle.py``).

Each model is a few Keras layers converted with the TensorFlow Lite converter: representative
dataset, full int8 (int8 input and output, ``TFLITE_BUILTINS_INT8``). The files and a JSON
description of every operator (type, stride, padding, fused activation, depth multiplier,
quantisation mode) land in ``refmodels/cnn/tflite_testdata/``; the models are committed, so the
test needs only the LiteRT interpreter (``ai-edge-litert``), never TensorFlow.

Run it only to remake the data (TensorFlow is not a project dependency; install ``tensorflow``
CPU in any environment)::

    python -m refmodels.cnn.make_tflite_testdata [--out DIR]

``relu6_tie``: after conversion the output scale of the conv is replaced (the four bytes of the
float32 in the flatbuffer, found exactly once) by a scale ``s`` for which the float32 quotient
``6.0f / s`` is exactly 62.5 while the float64 quotient is just below, so the ReLU6 clamp bound
depends on the arithmetic used to compute it (TFLite: float32, 63; float64: 62).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent / "tflite_testdata"
SEED = 20261201


def _model(tf, name, input_shapes, build):
    keras = tf.keras
    inputs = [keras.Input(shape=s, batch_size=1, name=f"in{i}") for i, s in
              enumerate(input_shapes)]
    out = build(keras.layers, *inputs)
    return keras.Model(inputs, out, name=name)


def _randomise(model, rng):
    """Weights from the default initialiser, biases drawn (non-zero) so every path is used."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = [w if w.ndim > 1 else rng.uniform(-0.3, 0.3, w.shape).astype(np.float32)
               for w in ws]
        # spread the per-channel weight magnitudes so per-channel scales differ
        k = new[0]
        k = k * rng.uniform(0.3, 1.5, k.shape[-1]).astype(np.float32)
        new[0] = k.astype(np.float32)
        layer.set_weights(new)


def _convert(tf, model, input_shapes, rng, per_tensor_dense=False):
    def rep():
        for _ in range(64):
            # inputs of different ranges, so a two-input op sees two scales
            yield [(rng.uniform(-1.5, 2.5, (1,) + tuple(s)) * (1 + 1.7 * i)).astype(np.float32)
                   for i, s in enumerate(input_shapes)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    if per_tensor_dense:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return conv.convert()


def _conv(L, k, s, pad, act, ch=6, init="glorot_uniform"):
    return L.Conv2D(ch, k, strides=s, padding=pad.lower(), activation=act,
                    kernel_initializer=init)


# name -> (input shapes, builder, [op descriptions], per-tensor dense)
def specs():
    S = {}

    def conv_case(name, k, s, pad, act, hw=9, cin=3, init="glorot_uniform"):
        S[name] = ([(hw, hw, cin)], lambda L, x: _conv(L, k, s, pad, act, init=init)(x),
                   [{"op": "CONV_2D", "stride": s, "padding": pad, "activation":
                     (act or "none").upper()}], False)

    conv_case("conv_k1_s1_same", 1, 1, "SAME", None)
    conv_case("conv_k3_s1_same_relu", 3, 1, "SAME", "relu")
    conv_case("conv_k3_s2_valid", 3, 2, "VALID", None, hw=10)
    conv_case("conv_k5_s1_valid_relu6", 5, 1, "VALID", "relu6")
    conv_case("conv_k5_s2_same_relu6", 5, 2, "SAME", "relu6", hw=10)
    conv_case("conv_k3_s3_same", 3, 3, "SAME", None, hw=10, cin=4)
    # large weights: the outputs reach the ReLU6 bound at the patched output scale
    conv_case("relu6_tie", 3, 1, "SAME", "relu6", init="ones")

    def dw_case(name, k, s, pad, dm, act):
        S[name] = ([(8, 8, 3)], lambda L, x: L.DepthwiseConv2D(
            k, strides=s, padding=pad.lower(), depth_multiplier=dm, activation=act)(x),
            [{"op": "DEPTHWISE_CONV_2D", "stride": s, "padding": pad, "depth_multiplier": dm,
              "activation": (act or "none").upper()}], False)

    dw_case("dw_k3_dm1_same", 3, 1, "SAME", 1, None)
    dw_case("dw_k3_dm2_valid_relu", 3, 1, "VALID", 2, "relu")
    dw_case("dw_k5_dm3_s2_same_relu6", 5, 2, "SAME", 3, "relu6")

    def fc_case(name, per_tensor, act):
        S[name] = ([(40,)], lambda L, x: L.Dense(12, activation=act)(x),
                   [{"op": "FULLY_CONNECTED", "activation": (act or "none").upper(),
                     "weights": "per-tensor" if per_tensor else "per-channel"}], per_tensor)

    fc_case("fc_per_channel", False, None)
    fc_case("fc_per_channel_relu", False, "relu")
    fc_case("fc_per_tensor", True, None)
    fc_case("fc_per_tensor_relu6", True, "relu6")

    def pool_case(name, kind, p, s, pad):
        layer = "MaxPooling2D" if kind == "MAX_POOL_2D" else "AveragePooling2D"
        S[name] = ([(9, 9, 4)], lambda L, x: getattr(L, layer)(p, s, pad.lower())(x),
                   [{"op": kind, "pool": p, "stride": s, "padding": pad}], False)

    pool_case("maxpool_2_valid", "MAX_POOL_2D", 2, 2, "VALID")
    pool_case("maxpool_3_s2_same", "MAX_POOL_2D", 3, 2, "SAME")
    pool_case("avgpool_2_valid", "AVERAGE_POOL_2D", 2, 2, "VALID")
    pool_case("avgpool_3_s2_same", "AVERAGE_POOL_2D", 3, 2, "SAME")

    S["add"] = ([(5, 5, 4), (5, 5, 4)], lambda L, a, b: L.Add()([a, b]),
                [{"op": "ADD", "activation": "NONE"}], False)
    S["add_relu"] = ([(5, 5, 4), (5, 5, 4)], lambda L, a, b: L.ReLU()(L.Add()([a, b])),
                     [{"op": "ADD", "activation": "RELU"}], False)

    # a small network: every op's inputs and outputs are compared (preserved tensors)
    def lenet(L, x):
        y = L.Conv2D(4, 3, padding="same", activation="relu")(x)
        y = L.MaxPooling2D(2)(y)
        y = L.DepthwiseConv2D(3, padding="valid", depth_multiplier=2, activation="relu6")(y)
        y = L.AveragePooling2D(2, padding="same")(y)
        y = L.Flatten()(y)
        y = L.Dense(16, activation="relu")(y)
        return L.Dense(10)(y)

    S["small_net"] = ([(12, 12, 1)], lenet, [
        {"op": "CONV_2D", "stride": 1, "padding": "SAME", "activation": "RELU"},
        {"op": "MAX_POOL_2D", "pool": 2, "stride": 2, "padding": "VALID"},
        {"op": "DEPTHWISE_CONV_2D", "stride": 1, "padding": "VALID", "depth_multiplier": 2,
         "activation": "RELU6"},
        {"op": "AVERAGE_POOL_2D", "pool": 2, "stride": 2, "padding": "SAME"},
        {"op": "RESHAPE"},
        {"op": "FULLY_CONNECTED", "activation": "RELU", "weights": "per-channel"},
        {"op": "FULLY_CONNECTED", "activation": "NONE", "weights": "per-channel"},
    ], False)
    return S


TIE_QUOTIENT = 62.5


def tie_scale(target=TIE_QUOTIENT):
    """A float32 scale s with float32(6.0f / s) == target (an x.5) exactly and the float64
    quotient 6 / s just below it, so a float64 computation of the ReLU6 bound rounds down where
    TFLite's float32 one rounds up (for 62.5: s = 0.096f, bounds 63 and 62)."""
    s0 = np.float32(6.0 / target)
    for k in range(-1000, 1001):
        s = np.float32(np.float64(s0) + k * np.float64(np.spacing(s0)))
        if np.float32(6.0) / s == np.float32(target) and 6.0 / float(s) < target:
            return s
    raise RuntimeError(f"no tie scale for {target}")


def _patch_scale(buf, old, new):
    old_b = np.float32(old).tobytes()
    if buf.count(old_b) != 1:
        raise RuntimeError(f"output scale {old} occurs {buf.count(old_b)} times in the model")
    return buf.replace(old_b, np.float32(new).tobytes())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    try:
        import tensorflow as tf
    except ImportError:
        print("error: this script needs TensorFlow (pip install tensorflow-cpu)", file=sys.stderr)
        return 2
    tf.keras.utils.set_random_seed(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    meta = {"generator": "python -m refmodels.cnn.make_tflite_testdata",
            "tensorflow": tf.__version__, "models": {}}
    for name, (shapes, build, ops, per_tensor) in specs().items():
        model = _model(tf, name, shapes, build)
        _randomise(model, rng)
        buf = _convert(tf, model, shapes, rng, per_tensor)
        entry = {"inputs": [list(s) for s in shapes], "ops": ops}
        if name == "relu6_tie":
            interp = tf.lite.Interpreter(model_content=buf)
            out = interp.get_output_details()[0]
            old = out["quantization"][0]
            new = tie_scale()
            buf = _patch_scale(buf, old, new)
            entry["output_scale_patched"] = {"from": float(old), "to": float(new)}
        (args.out / f"{name}.tflite").write_bytes(buf)
        meta["models"][name] = entry
        print(f"{name}: {len(buf)} bytes")
    (args.out / "models.json").write_text(json.dumps(meta, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
