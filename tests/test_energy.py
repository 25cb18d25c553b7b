"""Switching activity (``approxnn.eda.activity``) and the layer operand streams of the energy
proxy (``approxnn.energy``)."""

import csv
import re

import numpy as np
import pytest
from approxnn import energy
from approxnn.eda import activity

from refmodels.arith import parse_unit


def _hamming(v, width):
    d = np.bitwise_xor(v[1:], v[:-1])
    return sum(((d >> k) & 1) for k in range(width))


def test_netlist_toggles_match_the_golden_model(tmp_path):
    # the Yosys xc7 netlist of a 4-bit signed truncated multiplier simulated on a random
    # stream and a constant tail: the output read back from the FST waveform is the golden
    # model's, bit for bit, and the toggles of the ports are the Hamming distances of
    # consecutive operands / results, split by segment
    pytest.importorskip("pywellen")
    from approxnn.characterize import _convert_fn

    spec = parse_unit("trunc:t=3,width=4,signed=1")
    vfile = _convert_fn()(spec, tmp_path / "rtl")
    nl = activity.netlist([vfile], spec.module_name, 4, 8, tmp_path / "net")
    assert nl.luts > 0 and set(nl.fanout) >= {"a", "b", "y"}
    # every output bit that is not a constant drives the next stage
    assert all(f is None or f >= 1 for f in nl.fanout["y"])
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.integers(0, 16, 200), np.full(100, 5)])
    b = np.concatenate([rng.integers(0, 16, 200), np.full(100, 9)])
    r = activity.toggles(nl, a, b, [120, 80, 100])
    sv = lambda c: np.where(c >= 8, c - 16, c)  # noqa: E731
    y = spec(sv(a), sv(b)) & 0xFF
    assert np.array_equal(r["y"], y)
    tog = r["toggles"]
    assert tog.shape == (3, len(r["fanout"]))
    for port, v, w in (("a", a, 4), ("b", b, 4), ("y", y, 8)):
        cols = [i for i, nm in enumerate(r["names"]) if nm.startswith(port + "[")]
        hd = _hamming(v, w)
        assert tog[0, cols].sum() == hd[:119].sum()  # pairs 1..119
        assert tog[1, cols].sum() == hd[119:199].sum()
        assert tog[2, cols].sum() == hd[199:].sum()  # only the step into the constant tail
    # internal nets toggle too, and nothing toggles inside the constant tail after its first
    # pair: the last segment's activity is that single transition
    assert tog[0].sum() > tog[0, [i for i, nm in enumerate(r["names"])
                                  if nm[0] in "aby" and nm[1] == "["]].sum()
    r2 = activity.toggles(nl, a[200:], b[200:])
    assert r2["toggles"].sum() == 0


def test_toggles_bad_streams(tmp_path):
    nl = activity.Netlist(tmp_path / "x.v", "m", 4, 8, {}, 0, 0)
    with pytest.raises(ValueError, match="operand codes must be in 0..15"):
        activity.toggles(nl, [0, 16], [0, 0])
    with pytest.raises(ValueError, match="segments must be positive"):
        activity.toggles(nl, [0, 1, 2], [0, 1, 2], [2, 2])


def test_layer_operands_are_the_layers_weights_and_activations():
    # every (w, x) pair of a stream is a product the layer computes: the weight is one of its
    # int8 weights and the activation one of its int8 inputs; runs of the kernel's taps
    from refmodels.cnn.net import load_dataset, load_network

    net = load_network("digits")
    _, _, x, _ = load_dataset("digits")
    s = energy.layer_operands(net, x[:5], products=300, seed=1)
    assert list(s) == ["conv1", "conv2", "fc"]
    inputs = energy._layer_inputs(net, x[:5])
    for k, (w, v) in s.items():
        assert len(w) == len(v) == 300
        assert set(np.unique(w)) <= set(np.unique(net.arrays[k + ".wq"]))
        assert set(np.unique(v)) <= set(np.unique(inputs[k]))
    w, v = s["fc"]
    assert np.array_equal(w[:64], net.arrays["fc.wq"][int(np.flatnonzero(
        (net.arrays["fc.wq"] == w[:64]).all(axis=1))[0])])
    again = energy.layer_operands(net, x[:5], products=300, seed=1)  # seeded
    assert all(np.array_equal(p, q) for k in s for p, q in zip(s[k], again[k], strict=True))
    with pytest.raises(ValueError, match="--products must be at least 2"):
        energy.layer_operands(net, x[:5], products=1)


# ---------------------------------------------------------------- published-power comparison


def _published(tmp_path, name, power, area=None, unit=None, text=None):
    """A circuit saved as ``name.v`` with a published-power header, as the files of a circuit
    library carry it: a project unit's generated Verilog, or ``text``."""
    from approxnn.characterize import _convert_fn

    if unit is not None:
        text = _convert_fn()(parse_unit(unit), tmp_path / "gen" / name).read_text()
    head = f"// PDK45_PWR = {power} mW\n" + (f"// PDK45_AREA = {area} um2\n" if area else "")
    out = tmp_path / "lib" / f"{name}.v"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head + text)
    return out


def test_find_circuits_reads_headers_and_leaves_out_the_rest(tmp_path):
    from approxnn import energy_compare as ec

    lib = tmp_path / "lib" / "sub"
    lib.mkdir(parents=True)
    (lib / "mul8s_X1.v").write_text("// PDK45_PWR = 0.301 mW\n// PDK45_AREA = 558.9 um2\n"
                                    "module helper(input a, output y); endmodule\n"
                                    "module mul8s_X1 (A, B, O); endmodule\n")
    (lib / "mul8u_X2.v").write_text("// PDK45_PWR = 0.0041 mW\nmodule other (A, B, O); endmodule\n")
    (lib / "mul8u_X2_pdk45.v").write_text("// PDK45_PWR = 0.0041 mW\nmodule x (); endmodule\n")
    (lib / "mul8u_X3.v").write_text("module mul8u_X3 (A, B, O); endmodule\n")
    found, skipped = ec.find_circuits(tmp_path / "lib")
    assert [(c.top, c.signed, c.power_mw, c.area_um2) for c in found] == [
        ("mul8s_X1", True, 0.301, 558.9), ("other", False, 0.0041, None)]
    assert sorted(why for _, why in skipped) == ["cell netlist (*_pdk45.v)", "no PDK45_PWR line"]
    with pytest.raises(ValueError, match="is not a folder"):
        ec.find_circuits(tmp_path / "missing")


def test_energy_compare_on_two_project_circuits(tmp_path, capsys):
    # two project circuits given the header of a published library: an exact multiplier
    # written as A * B with the library's port names (A, B, O) and the generated truncated
    # t=10 unit. The command finds their ports through the Verilog import; the truncated
    # unit's proxy and LUTs equal the built-in unit's on the same streams, and the exact
    # multiplier switches more
    pytest.importorskip("pywellen")
    from approxnn import energy_compare as ec

    from refmodels.cnn.net import load_dataset, load_network

    _published(tmp_path, "mul8u_ex", 0.391, 709.6, text=(
        "module mul8u_ex (A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n"
        "  output [15:0] O;\n  assign O = A * B;\nendmodule\n"))
    st = parse_unit("trunc:t=10,width=8,signed=0")
    _published(tmp_path, st.module_name, 0.02, unit=str(st))
    out = tmp_path / "out" / "table.csv"
    rc = ec.main(["--evoapprox", str(tmp_path / "lib"), "--products", "48", "--csv", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    rows = {r["circuit"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"mul8u_ex", st.module_name}
    ex, tr = rows["mul8u_ex"], rows[st.module_name]
    assert (ex["signed"], float(ex["power"]), float(ex["area"])) == ("0", 0.391, 709.6)
    assert float(ex["e_random"]) > float(tr["e_random"]) > 0
    assert int(ex["luts"]) > int(tr["luts"])
    assert re.search(r"proxy \(random operands\) vs PDK45 power +1\.000 / +1\.000 +\(n = 2\)",
                     text), text
    # the same figures as the built-in unit's proxy on the same streams
    net = load_network("digits")
    _, _, x, _ = load_dataset("digits")
    streams = energy.layer_operands(net, x[:energy.STREAM_IMAGES], 48, 0) | \
        energy._random_streams(48, 0)
    ref = energy.unit_energy("trunc:t=10,width=8,signed=0", streams)
    # (the CSV holds Python's shortest round-trip repr of each float: equality is exact)
    assert float(tr["e_random"]) == ref["layers"]["random"]["energy"]
    assert float(tr["e_layers"]) == float(
        np.mean([ref["layers"][k]["energy"] for k in ("conv1", "conv2", "fc")]))
    assert int(tr["luts"]) == ref["luts"]


def test_energy_compare_bad_input(tmp_path, capsys):
    from approxnn import energy_compare as ec

    (tmp_path / "empty").mkdir()
    out = tmp_path / "t.csv"
    assert ec.main(["--evoapprox", str(tmp_path / "empty"), "--csv", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Verilog file with a '// PDK45_PWR" in err[0]
    assert ec.main(["--evoapprox", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert ec.main(["--evoapprox", str(tmp_path / "empty"),
                    "--csv", str(tmp_path / "afile" / "x.csv")]) == 2
    assert "a parent of" in capsys.readouterr().err
    assert ec.main(["--evoapprox", str(tmp_path / "empty"), "--products", "1"]) == 2
    assert not out.exists()
