"""End to end through the board targets' system simulations: engine programs of imported
TFLite models on the CNN system (host driver on the PYNQ-API shim), the stored networks on
the CNN and SbS systems (nightly tier: minutes)."""

import os

import numpy as np
import pytest
from approxnn.eda.sim import simulator_available

from host.approxnn_host import program as P
from refmodels.cnn import graph_litert

nightly = pytest.mark.skipif(not os.environ.get("APPROXNN_NIGHTLY"),
                             reason="nightly tier: set APPROXNN_NIGHTLY=1")


@pytest.mark.sim
@pytest.mark.skipif(not graph_litert.available(), reason="needs ai-edge-litert (the writer)")
def test_tflite_model_runs_through_the_system_simulation(tmp_path):
    """A .tflite model made here (random weights; Conv2D, DepthwiseConv2D with depth
    multiplier, residual Add, Max/AveragePool, Reshape, FullyConnected; per-channel and
    per-tensor) imported from its file, compiled for small buffers (channel groups and row
    bands with halos) and run through the CNN system simulation by the host driver: bit-exact
    with the golden model and with LiteRT's reference kernels; every engine run counted."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from approxnn.cnn_run import run_sim

    from refmodels.cnn.tflite_import import load_tflite

    path = tmp_path / "m.tflite"
    path.write_bytes(graph_litert.to_tflite(graph_litert.example_graph(7)))
    g = load_tflite(path)
    prog = P.compile_graph(g, ibuf=48, wbuf=64, cmax=4)
    kinds = {(st["op"], st["kind"]) for st in prog.steps}
    assert len(prog.steps) > len(kinds)  # some ops in several runs
    x = np.random.default_rng(3).integers(-128, 128, (1, *g.input_shape)).astype(np.int8)
    y, report = run_sim(prog, x, build_dir=tmp_path / "sim", seed=2)
    want = g.run(x)
    assert np.array_equal(y, want)
    assert np.array_equal(y, graph_litert.run_reference(path.read_bytes(), x))
    cyc = report["images"][0]["cycles"]
    assert all((c > 0) == (st["kind"] == "engine") for st, c in zip(prog.steps, cyc,
                                                                   strict=True))


@nightly
@pytest.mark.slow
@pytest.mark.sim
def test_lenet_through_the_system_simulation(tmp_path):
    """The stored MNIST LeNet, compiled for the board target's engine, through the CNN system
    simulation: bit-exact with ``Network.forward_int8`` (TFLite's reference kernels)."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from approxnn.cnn_run import _images, _program, resolve, run_sim

    m = resolve("mnist")
    prog = _program(m)
    xq, _ = _images(m, prog.input_shape, 1, 0)
    y, report = run_sim(prog, xq, build_dir=tmp_path / "sim")
    assert np.array_equal(y, m.net.forward_int8(xq, rounding="reference"))
    assert sum(report["images"][0]["cycles"]) > 50_000


@nightly
@pytest.mark.slow
@pytest.mark.sim
def test_sbs_mnist_through_the_system_simulation(tmp_path, capsys):
    """The stored SbS MNIST network through the SbS system simulation (T = 1): every layer's
    h bit-exact with the golden model."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from approxnn.cli import main

    rc = main(["sbs", "run", "mnist", "--backend", "sim", "--T", "1", "--images", "1",
               "--build-dir", str(tmp_path / "sim")])
    out = capsys.readouterr().out
    assert rc == 0 and "every layer h bit-exact" in out, out


@nightly
@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.skipif(not graph_litert.available(), reason="needs ai-edge-litert (the writer)")
def test_approximate_unit_through_the_system_simulation(tmp_path, capsys):
    """``approxnn cnn run --unit``: an engine top converted with the approximate multiplier
    runs a TFLite model bit-exact with the approximate golden model (which differs from the
    exact one on this model)."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from approxnn.cli import main

    path = tmp_path / "m.tflite"
    path.write_bytes(graph_litert.to_tflite(graph_litert.example_graph(1)))
    rc = main(["cnn", "run", str(path), "--backend", "sim", "--images", "2", "--unit",
               "drum:k=4,width=8,signed=1", "--build-dir", str(tmp_path / "sim")])
    out = capsys.readouterr().out
    assert rc == 0 and "golden model: bit-exact (2 inputs)" in out, out
