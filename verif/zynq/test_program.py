"""End to end through the board targets' system simulations: engine programs of imported
TFLite models on the CNN system (host driver on the PYNQ-API shim), the stored networks on
the CNN and SbS systems (nightly tier: minutes)."""


import numpy as np
import pytest
from approxnn.eda.sim import simulator_available
from approxnn_host import program as P

from refmodels.cnn import graph_litert
from verif.common.tiers import nightly


@pytest.mark.sim
@pytest.mark.skipif(not graph_litert.available(), reason="needs ai-edge-litert (the writer)")
def test_tflite_model_runs_through_the_system_simulation(tmp_path):
    """A .tflite model made here (random weights; Conv2D, DepthwiseConv2D with depth
    multiplier, residual Add, Adds with broadcasting, Max/AveragePool, Reshape,
    FullyConnected; per-channel and per-tensor, FullyConnected too: the engine's channel
    tables hold one float64 scale per channel) imported from its file, compiled for small
    buffers (channel groups and row bands with halos) and run through the CNN system
    simulation by the host driver: bit-exact with the golden model and with LiteRT's
    reference kernels; every engine run counted."""
    if not simulator_available("icarus"):
        pytest.skip("no Icarus Verilog")
    from approxnn.cnn_run import run_sim

    from refmodels.cnn.tflite_import import load_tflite

    path = tmp_path / "m.tflite"
    path.write_bytes(graph_litert.to_tflite(graph_litert.example_graph(7)))
    g = load_tflite(path)
    prog = P.compile_graph(g, ibuf=48, wbuf=64, cmax=4)
    kinds = {(st["op"], st["kind"]) for st in prog.steps}
    assert {len(g.arrays[o["name"] + ".wscale"]) for o in g.ops
            if o["type"] == "fully_connected"} == {1, 3}  # per tensor, per channel
    assert len(prog.steps) > len(kinds)  # some ops in several runs
    x = np.random.default_rng(3).integers(-128, 128, (1, *g.input_shape)).astype(np.int8)
    y, report = run_sim(prog, x, build_dir=tmp_path / "sim", seed=2)
    want = g.run(x)
    assert np.array_equal(y, want)
    assert np.array_equal(y, graph_litert.run_reference(path.read_bytes(), x))
    cyc = report["images"][0]["cycles"]
    assert all((c > 0) == (st["kind"] == "engine") for st, c in zip(prog.steps, cyc,
                                                                   strict=True))
    # coverage: every kind of program step (each engine layer kind, row bands, channel groups,
    # the host's Add and Reshape) and every DMA channel of the system, ended by its interrupt
    cov = report["coverage"]
    assert cov["prog.step"] and all(cov["prog.step"].values()), cov["prog.step"]
    assert set(cov["sys.cnn.dma"]) == {"dma_xy.mm2s", "dma_xy.s2mm", "dma_w.mm2s"}
    assert all(cov["sys.cnn.dma"].values()), cov["sys.cnn.dma"]


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


def test_program_runs_from_the_board_bundle(tmp_path):
    """The files the board README copies (the driver package, the register model and
    refmodels/cnn/tflite.py for the host steps) run a saved program outside the repository
    (python -I): with an engine that answers the golden outputs of each run, the program's
    outputs equal the golden model's, the residual Add computed by the bundle's kernels."""
    import shutil
    import subprocess
    import sys

    from approxnn.eda.sim import REPO_ROOT

    pkg = tmp_path / "approxnn_host"
    pkg.mkdir()
    for f in (REPO_ROOT / "host" / "approxnn_host").glob("*.py"):
        shutil.copy(f, pkg)
    shutil.copy(REPO_ROOT / "refmodels" / "cnn" / "tflite.py", pkg)
    g = graph_litert.example_graph(2)
    prog = P.compile_graph(g, ibuf=64, cmax=4)
    prog.save(tmp_path / "prog")
    x = np.random.default_rng(5).integers(-128, 128, (3, *g.input_shape)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    # the engine's answers, run by run, recorded from the golden engine in the repository
    answers = []

    class Recorder(P.GoldenEngine):
        def run_layer(self, lay):
            y = super().run_layer(lay)
            answers.append(y)
            return y

    want, _ = P.run(prog, Recorder(), x)
    np.savez(tmp_path / "answers.npz", *answers)
    code = """if True:
        import sys; sys.path.insert(0, sys.argv[1])
        for name in ("refmodels", "cores", "verif"):  # not on a board (an installed
            sys.modules[name] = None                  # checkout must not be picked up)
        import numpy as np
        from approxnn_host import program
        assert program._tfl().__name__ == "approxnn_host.tflite"
        ans = np.load(sys.argv[1] + "/answers.npz")
        class Replay:
            cycles, i = 1, 0
            def run_layer(self, lay):
                self.i += 1
                return ans[f"arr_{self.i - 1}"]
        y, _ = program.run(program.load(sys.argv[1] + "/prog"), Replay(),
                           np.load(sys.argv[1] + "/x.npy"))
        np.save(sys.argv[1] + "/y.npy", y)
    """
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    assert np.array_equal(want, g.run(x))
