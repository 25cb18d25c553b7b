"""``approxnn cnn import / compile / run`` and ``approxnn sbs run`` as a user calls them: the
golden backend against LiteRT's reference kernels, files written whole or not at all, and
one-line errors for bad input."""

import numpy as np
import pytest

from approxnn.cli import main
from refmodels.cnn import graph_litert

needs_litert = pytest.mark.skipif(not graph_litert.available(),
                                  reason="needs ai-edge-litert (writer and reference)")


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(graph_litert.to_tflite(graph_litert.example_graph(11)))
    return path


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("approxnn: error: "), err
    return err[0]


@needs_litert
def test_import_compile_and_golden_run_equal_the_reference(model, tmp_path, capsys):
    assert main(["cnn", "import", str(model), "-o", str(tmp_path / "net")]) == 0
    assert main(["cnn", "compile", str(tmp_path / "net"), "-o", str(tmp_path / "prog"),
                 "--ibuf", "64", "--cmax", "4"]) == 0
    out = capsys.readouterr().out
    assert "engine runs" in out and (tmp_path / "prog.npz").is_file()
    x = np.random.default_rng(0).integers(-128, 128, (6, 7, 6, 2)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    want = graph_litert.run_reference(model.read_bytes(), x)
    for src in (model, tmp_path / "net.json", tmp_path / "prog"):
        y_path = tmp_path / f"y_{src.stem}.npy"
        assert main(["cnn", "run", str(src), "--inputs", str(tmp_path / "x.npy"),
                     "--backend", "golden", "--out", str(y_path)]) == 0
        y = np.load(y_path, allow_pickle=False)
        assert y.dtype == np.int8 and np.array_equal(y, want), src
    assert "BUILTIN_REF): bit-exact" in capsys.readouterr().out


@needs_litert
def test_bad_inputs_give_one_line_errors_and_write_nothing(model, tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(model.read_bytes()[:300])
    assert main(["cnn", "import", str(bad), "-o", str(tmp_path / "net")]) == 2
    assert "truncated or corrupt" in _error_line(capsys)
    np.save(tmp_path / "xf.npy", np.zeros((2, 7, 6, 2), np.float32))
    np.save(tmp_path / "xs.npy", np.zeros((2, 6, 7, 2), np.int8))
    for x, msg in (("xf.npy", "must be int8"), ("xs.npy", "the model takes (N, 7, 6, 2)")):
        rc = main(["cnn", "run", str(model), "--inputs", str(tmp_path / x), "--backend",
                   "golden", "--out", str(tmp_path / "y.npy")])
        assert rc == 2 and msg in _error_line(capsys)
    rc = main(["cnn", "run", str(model), "--backend", "pynq"])
    assert rc == 2 and "needs the 'pynq' package" in _error_line(capsys)
    rc = main(["cnn", "compile", str(model), "-o", str(tmp_path / "p"), "--wbuf", "8"])
    assert rc == 2 and "exceed the weight buffer" in _error_line(capsys)
    rc = main(["sbs", "run", "mnist", "--backend", "pynq"])
    assert rc == 2 and "needs the 'pynq' package" in _error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tflite", "model.tflite",
                                                          "xf.npy", "xs.npy"]
