"""TFLite import (refmodels/cnn/tflite_import.py), the graph golden model and engine programs.

Most models are made here (random weights, every supported op, per-channel and per-tensor
quantisation, Add with broadcasting): none of them is in the repository. The converter-made
models of ``tflite_testdata/`` are imported as they are."""

import json
from pathlib import Path

import numpy as np
import pytest
from approxnn_host import program as P

from refmodels.cnn import graph_litert
from refmodels.cnn.graph import from_network, load_graph
from refmodels.cnn.net import load_dataset, load_network
from refmodels.cnn.tflite_import import TFLiteImportError, read_tflite

needs_litert = pytest.mark.skipif(not graph_litert.available(),
                                  reason="needs ai-edge-litert (writer and reference)")


def _inputs(g, n, seed):
    return np.random.default_rng(seed).integers(-128, 128, (n, *g.input_shape)).astype(np.int8)


@needs_litert
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imported_model_equals_litert_reference_kernels(seed):
    """Write a random model as .tflite, import it, run it: the golden model equals LiteRT's
    BUILTIN_REF interpreter bit for bit, and the import is the graph that was written."""
    g = graph_litert.example_graph(seed)
    model = graph_litert.to_tflite(g)
    back = read_tflite(model, "m")
    assert [o["type"] for o in back.ops] == [o["type"] for o in g.ops]
    assert {o["type"] for o in back.ops} == {"conv2d", "depthwise_conv2d", "add", "max_pool",
                                             "avg_pool", "reshape", "fully_connected"}
    assert any(len(back.arrays[o["name"] + ".wscale"]) > 1 for o in back.ops
               if o["type"] in ("conv2d", "depthwise_conv2d"))  # per channel
    assert any(len(back.arrays[o["name"] + ".wscale"]) == 1 for o in back.ops
               if o["type"] in ("conv2d", "depthwise_conv2d"))  # per tensor
    assert any(o.get("depth_multiplier") == 2 for o in back.ops)
    fcs = [len(back.arrays[o["name"] + ".wscale"]) for o in back.ops
           if o["type"] == "fully_connected"]
    assert 1 in fcs and 3 in fcs  # per tensor and per channel
    adds = [[back.tensors[t]["shape"] for t in o["inputs"]] for o in back.ops
            if o["type"] == "add"]
    assert adds == [[[7, 6, 4], [7, 6, 4]], [[2, 2, 6], [1, 1, 6]], [[3], [1]]]
    x = _inputs(g, 16, seed)
    want = graph_litert.run_reference(model, x)
    got, trace = back.run(x, trace=True)
    assert np.array_equal(got, want)
    assert np.array_equal(got, g.run(x))
    # the outputs vary: a wrong kernel would show
    assert len(np.unique(got)) > 5 and all(len(np.unique(v)) > 3 for v in trace.values())


def test_graph_of_a_stored_network_equals_its_int8_path():
    net = load_network("digits")
    g = from_network(net)
    xq = net.quantize_input(load_dataset("digits")[2][:40])
    assert np.array_equal(g.run(xq), net.forward_int8(xq, rounding="reference", impl="ref"))


def test_graph_save_load_round_trip(tmp_path):
    g = graph_litert.example_graph(4)
    g.save(tmp_path / "net")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.npz"]
    back = load_graph(tmp_path / "net")
    x = _inputs(g, 4, 0)
    assert np.array_equal(back.run(x), g.run(x))


# ------------------------------------------------------------------------------ converter models

DATA = Path(__file__).resolve().parent / "tflite_testdata"
STORED = json.loads((DATA / "models.json").read_text())["models"]


@needs_litert
@pytest.mark.parametrize("name", sorted(STORED))
def test_converter_model_imports_and_runs_bit_exact(name):
    """Every converter-made model of tflite_testdata (per-channel FullyConnected, as the
    converter quantises Dense weights by default, included): the import's golden run equals
    LiteRT's BUILTIN_REF interpreter bit for bit, and its engine program on the golden engine
    (small channel table and buffers: channel groups, row bands) equals the golden run. Models
    with two inputs (the Add tests) are refused with a one-line error naming the cause."""
    model = (DATA / f"{name}.tflite").read_bytes()
    spec = STORED[name]
    if len(spec["inputs"]) > 1:
        with pytest.raises(TFLiteImportError) as e:
            read_tflite(model, name)
        assert "model with 2 inputs" in str(e.value) and "\n" not in str(e.value)
        return
    g = read_tflite(model, name)
    assert [o["type"] for o in g.ops if o["type"] != "reshape"] == [
        {"CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "depthwise_conv2d",
         "FULLY_CONNECTED": "fully_connected", "MAX_POOL_2D": "max_pool",
         "AVERAGE_POOL_2D": "avg_pool"}[o["op"]] for o in spec["ops"] if o["op"] != "RESHAPE"]
    for o, s in zip([o for o in g.ops if o["type"] == "fully_connected"],
                    [s for s in spec["ops"] if s["op"] == "FULLY_CONNECTED"], strict=True):
        n = len(g.arrays[o["name"] + ".wscale"])
        assert (n > 1) == (s["weights"] == "per-channel")
    fc = any(o["type"] == "fully_connected" for o in g.ops)
    x = _inputs(g, 200 if fc else 12, 7)  # FullyConnected: few outputs each, rare ties
    got = g.run(x)
    assert np.array_equal(got, graph_litert.run_reference(model, x))
    assert len(np.unique(got)) > 3
    prog = P.compile_graph(g, ibuf=160, wbuf=128, cmax=4)
    k = 4
    assert np.array_equal(P.run(prog, P.GoldenEngine(), x[:k])[0], got[:k])


# ------------------------------------------------------------------------------ bad models


def _mutated(edit):
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromPackedBuf(bytearray(graph_litert.to_tflite(
        graph_litert.example_graph(0))), 0)
    edit(S, m)
    import flatbuffers

    b = flatbuffers.Builder(1 << 16)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _op(S, m, code):
    sg = m.subgraphs[0]
    return next(o for o in sg.operators if m.operatorCodes[o.opcodeIndex].builtinCode == code)


@needs_litert
@pytest.mark.parametrize("edit, message", [
    (lambda S, m: setattr(next(c for c in m.operatorCodes
                               if c.builtinCode == S.BuiltinOperator.ADD), "builtinCode",
                          S.BuiltinOperator.MUL), "MUL unsupported"),
    (lambda S, m: setattr(_op(S, m, S.BuiltinOperator.CONV_2D).builtinOptions,
                          "dilationHFactor", 2), "dilation 2x1 unsupported"),
    (lambda S, m: setattr(_op(S, m, S.BuiltinOperator.FULLY_CONNECTED).builtinOptions,
                          "fusedActivationFunction", S.ActivationFunctionType.TANH),
     "fused activation TANH unsupported"),
    (lambda S, m: [setattr(t, "type", S.TensorType.FLOAT32) for t in m.subgraphs[0].tensors
                   if t.buffer == 0], "float model"),
    (lambda S, m: [setattr(t, "shape", np.asarray([1, 2], np.int32))
                   for t in m.subgraphs[0].tensors if t.name in (b"fcb", "fcb")],
     "shapes [3] + [2] -> [3] do not broadcast"),
], ids=["op", "dilation", "activation", "float", "add_shapes"])
def test_unsupported_models_are_named_in_one_line(edit, message):
    with pytest.raises(TFLiteImportError) as e:
        read_tflite(_mutated(edit))
    assert message in str(e.value) and "\n" not in str(e.value)


@needs_litert
def test_truncated_and_foreign_files():
    model = graph_litert.to_tflite(graph_litert.example_graph(0))
    for cut in (len(model) // 2, 40, 12):
        with pytest.raises(TFLiteImportError, match="truncated or corrupt|not a TFLite"):
            read_tflite(model[:cut])
    with pytest.raises(TFLiteImportError, match="no 'TFL3' identifier"):
        read_tflite(b"PK\x03\x04 not a model at all")


# ------------------------------------------------------------------------------ programs


@pytest.mark.parametrize("cfg", [{}, {"ibuf": 40, "wbuf": 32, "cmax": 2},
                                 {"lanes": 1, "ibuf": 40, "wbuf": 64, "cmax": 4}],
                         ids=["fits", "small", "one_lane"])
def test_program_on_the_golden_engine_equals_the_graph(cfg, tmp_path):
    """Channel groups (channel table, weight buffer) and row bands with halos (input buffer)
    change the runs, not the result; the program survives its file format."""
    g = graph_litert.example_graph(5)
    prog = P.compile_graph(g, **cfg)
    runs = sum(st["kind"] == "engine" for st in prog.steps)
    assert runs == 10 if not cfg else runs > 20
    prog.save(tmp_path / "p")
    prog = P.load(tmp_path / "p")
    for i, st in enumerate(prog.steps):
        if st["kind"] == "engine":
            lay = st["layer"]
            assert lay["oc"] <= prog.meta["engine"]["cmax"]
            assert lay["h"] * lay["w"] * lay["c"] <= prog.meta["engine"]["ibuf"]
            assert len(prog.arrays.get(f"s{i}.words", [])) <= 4 * 4096
    x = _inputs(g, 6, 1)
    fc2 = [prog.arrays[f"s{i}.fscale"] for i, st in enumerate(prog.steps)
           if st["op"] == "fc2"]  # per-channel float scales, split with the channel groups
    assert len(np.unique(np.concatenate(fc2))) == 3
    y, cycles = P.run(prog, P.GoldenEngine(lanes=prog.meta["engine"]["lanes"]), x)
    assert np.array_equal(y, g.run(x))
    assert all(c > 0 for st, c in zip(prog.steps, cycles[0], strict=True)
               if st["kind"] == "engine")


def test_program_bands_with_an_approximate_unit():
    """Row bands and channel groups give the whole layer's outputs with an approximate
    multiplier too (taps outside the map skipped, not multiplied by a padding value)."""
    from refmodels.cnn.approx import ApproxMul

    g = graph_litert.example_graph(6)
    mul = ApproxMul.from_unit("drum:k=4,width=8,signed=1")
    x = _inputs(g, 4, 2)
    whole = P.run(P.compile_graph(g), P.GoldenEngine(mul), x)[0]
    split = P.run(P.compile_graph(g, ibuf=40, wbuf=32, cmax=2), P.GoldenEngine(mul), x)[0]
    assert np.array_equal(split, whole)
    assert not np.array_equal(whole, g.run(x))  # the unit is approximate on this model
    # SAME-padded layers in bands against the network's own approximate path
    net = load_network("digits")
    xq = net.quantize_input(load_dataset("digits")[2][:8])
    prog = P.compile_graph(from_network(net), ibuf=128, cmax=4)
    assert len(prog.steps) > 12
    assert np.array_equal(P.run(prog, P.GoldenEngine(mul), xq)[0],
                          net.forward_int8(xq, mul=mul, rounding="reference", impl="ref"))


def test_program_errors():
    g = graph_litert.example_graph(0)
    with pytest.raises(P.ProgramError, match="exceed the weight buffer"):
        P.compile_graph(g, wbuf=16)
    with pytest.raises(P.ProgramError, match="input buffer holds 16"):
        P.compile_graph(g, ibuf=16)
    prog = P.compile_graph(g)
    with pytest.raises(P.ProgramError, match="need int8 inputs"):
        P.run(prog, P.GoldenEngine(), np.zeros((1, 7, 6, 2), np.float32))


@needs_litert
def test_add_broadcasts_a_lower_rank_operand():
    """Add of [4, 4, 3] and a FullyConnected's [3] (trailing dimensions aligned, the operands
    in both orders): import + golden run equal BUILTIN_REF bit for bit, and so does the engine
    program (the Add a host step)."""
    from refmodels.cnn.graph import Graph

    rng = np.random.default_rng(3)
    q = {"scale": 0.05, "zero_point": 3}
    tensors = {"input": {"shape": [4, 4, 3], **q}, "conv": {"shape": [4, 4, 3], **q},
               "flat": {"shape": [48], **q}, "fc": {"shape": [3], "scale": 0.08,
                                                    "zero_point": -5},
               "a": {"shape": [4, 4, 3], "scale": 0.1, "zero_point": 1},
               "b": {"shape": [4, 4, 3], "scale": 0.12, "zero_point": -2}}
    arrays = {"conv.w": rng.integers(-127, 128, (3, 1, 1, 3)).astype(np.int8),
              "conv.b": rng.integers(-500, 500, 3).astype(np.int32),
              "conv.wscale": np.float32([0.004, 0.006, 0.005]),
              "fc.w": rng.integers(-127, 128, (3, 48)).astype(np.int8),
              "fc.b": rng.integers(-500, 500, 3).astype(np.int32),
              "fc.wscale": np.float32([0.0011, 0.0009, 0.0013])}
    ops = [{"type": "conv2d", "name": "conv", "inputs": ["input"], "output": "conv",
            "stride": [1, 1], "padding": "SAME", "activation": "NONE"},
           {"type": "reshape", "name": "flat", "inputs": ["conv"], "output": "flat"},
           {"type": "fully_connected", "name": "fc", "inputs": ["flat"], "output": "fc",
            "activation": "NONE"},
           {"type": "add", "name": "a", "inputs": ["conv", "fc"], "output": "a",
            "activation": "NONE"},
           {"type": "add", "name": "b", "inputs": ["fc", "a"], "output": "b",
            "activation": "RELU"}]
    g = Graph("bc", tensors, ops, ["input"], ["b"], arrays)
    model = graph_litert.to_tflite(g)
    back = read_tflite(model, "bc")
    x = _inputs(g, 32, 4)
    got, trace = back.run(x, trace=True)
    assert np.array_equal(got, graph_litert.run_reference(model, x))
    assert len(np.unique(trace["a"])) > 20 and len(np.unique(got)) > 20
    assert np.array_equal(P.run(P.compile_graph(back), P.GoldenEngine(), x[:4])[0], got[:4])
