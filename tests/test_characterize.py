"""Importer, characterisation, reports and the ``approxnn`` command (scripts/approxnn)."""

import csv
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from approxnn import characterize, importer, report
from approxnn.eda import synth

from refmodels import arith

needs_tools = pytest.mark.skipif(
    shutil.which("yosys") is None or shutil.which("iverilog") is None,
    reason="needs yosys and iverilog",
)

JSON_KEYS = {
    "unit", "mae_pct", "wce_pct", "mse", "ep_pct", "mre_pct", "bias", "luts", "ffs", "dsps",
    "carry4", "depth", "wcre_pct", "n_pairs", "exhaustive", "rtl_matches_model",
}


def _convert(spec, outdir):
    return characterize._convert_fn()(spec, outdir)


def make_external_netlist(tmp_path, unit, top, ports=("x1", "x2", "p"), flip_bit=None):
    """A gate-level netlist of a project unit under another module and port names (made with
    Yosys ``synth; write_verilog -noattr``), optionally with one output bit inverted."""
    spec = arith.parse_unit(unit)
    src = _convert(spec, tmp_path / f"rtl_{top}")
    pa, pb, py = ports
    n, m = spec.width, spec.out_width
    inner = "inner_y" if flip_bit is not None else py
    body = [f"  {spec.module_name} u (.a({pa}), .b({pb}), .y({inner}));"]
    if flip_bit is not None:
        mask = 1 << flip_bit
        body = [f"  wire [{m - 1}:0] inner_y;"] + body
        body.append(f"  assign {py} = inner_y ^ {m}'d{mask};")
    wrapper = tmp_path / f"{top}_wrap.v"
    wrapper.write_text(
        f"module {top}(input [{n - 1}:0] {pa}, input [{n - 1}:0] {pb}, "
        f"output [{m - 1}:0] {py});\n" + "\n".join(body) + "\nendmodule\n"
    )
    net = tmp_path / f"{top}.v"
    synth.run_yosys(
        [f'read_verilog "{src}"', f'read_verilog "{wrapper}"', f"hierarchy -top {top}",
         "synth -flatten", "opt_clean -purge", f'write_verilog -noattr "{net}"'],
        tmp_path / f"y_{top}", "netlist",
    )
    text = net.read_text()
    assert spec.module_name not in text  # flattened: only the external module is left
    return net


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "approxnn", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )


# ----------------------------------------------------------------------------- ports


def P(name, direction, width):
    return importer.PortInfo(name, direction, width, False)


def test_select_ports_discovers_and_infers_kind():
    ports = [P("A", "input", 8), P("B", "input", 8), P("O", "output", 16)]
    assert importer.select_ports(ports, "m", 8) == ("A", "B", "O", "mul", 16)
    ports = [P("x", "input", 8), P("y2", "input", 8), P("s", "output", 9)]
    assert importer.select_ports(ports, "m", 8) == ("x", "y2", "s", "add", 9)
    # named ports, swapped order
    assert importer.select_ports(ports, "m", 8, a="y2", b="x")[:2] == ("y2", "x")


def test_select_ports_errors():
    ports = [P("A", "input", 8), P("B", "input", 8), P("O", "output", 12)]
    with pytest.raises(importer.ImportErrorPorts, match="12 bits.*16.*9"):
        importer.select_ports(ports, "m", 8)
    with pytest.raises(importer.ImportErrorPorts, match="two 4-bit inputs"):
        importer.select_ports(ports, "m", 4)
    with pytest.raises(importer.ImportErrorPorts, match="no port named 'Q'"):
        importer.select_ports(ports, "m", 8, a="Q")
    clk = [P("clk", "input", 1)] + [P("A", "input", 8), P("B", "input", 8), P("O", "output", 16)]
    with pytest.raises(importer.ImportErrorPorts, match="combinational"):
        importer.select_ports(clk, "m", 8)
    three = [P("A", "input", 8), P("B", "input", 8), P("C", "input", 8), P("O", "output", 16)]
    with pytest.raises(importer.ImportErrorPorts, match="cannot tell"):
        importer.select_ports(three, "m", 8)


# ----------------------------------------------------------------------------- importer


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_import_external_netlist_equals_project_model(tmp_path):
    unit = "drum:k=4,width=8,signed=0"
    net = make_external_netlist(tmp_path, unit, "ext_drum4")
    ports = importer.discover_ports([net], "ext_drum4")
    assert [(p.name, p.direction, p.width) for p in ports] == [
        ("x1", "input", 8), ("x2", "input", 8), ("p", "output", 16)]
    spec, lut, mod = importer.import_verilog(
        [net], "ext_drum4", 8, name="ext_drum4_t", save=tmp_path / "ext.npz"
    )
    try:
        assert mod.kind == "mul" and (mod.a, mod.b, mod.y) == ("x1", "x2", "p")
        np.testing.assert_array_equal(lut, arith.make_lut(unit))
        # registered: usable like a built-in unit
        again = arith.parse_unit("ext_drum4_t")
        a = np.array([0, 17, 200, 255])
        np.testing.assert_array_equal(again(a, a[::-1]), arith.parse_unit(unit)(a, a[::-1]))
        loaded = arith.load_lut_unit(tmp_path / "ext.npz", name="ext_drum4_loaded")
        np.testing.assert_array_equal(arith.make_lut(loaded), lut)
    finally:
        for nm in ("ext_drum4_t", "ext_drum4_loaded"):
            if nm in arith.unit_names():
                arith.unregister_lut_unit(nm)


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_import_signed_adder_with_named_ports(tmp_path):
    unit = "loa:l=3,width=6,signed=1"
    net = make_external_netlist(tmp_path, unit, "ext_loa", ports=("B", "A", "S"))
    spec, lut, mod = importer.import_verilog(
        [net], "ext_loa", 6, signed=True, a="B", b="A", y="S", name="ext_loa_t"
    )
    try:
        assert mod.kind == "add" and spec.signed == 1
        np.testing.assert_array_equal(lut, arith.make_lut(unit))
        assert lut.min() < 0
    finally:
        arith.unregister_lut_unit("ext_loa_t")


@pytest.mark.synth
@needs_tools
def test_import_rejects_wrong_width(tmp_path):
    net = make_external_netlist(tmp_path, "trunc:t=2,width=4", "ext_t4")
    with pytest.raises(importer.ImportErrorPorts, match="two 6-bit inputs"):
        importer.resolve_module([net], "ext_t4", 6)
    with pytest.raises(importer.ImportErrorPorts, match="needs 5"):
        importer.resolve_module([net], "ext_t4", 4, kind="add")


# ----------------------------------------------------------------------------- characterisation


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_characterize_unit_matches_model_metrics(tmp_path):
    res = characterize.characterize_unit("trunc:t=6,width=8", workdir=tmp_path)
    ref = arith.error_metrics("trunc:t=6,width=8")
    assert res["rtl_matches_model"] is True
    assert res["exhaustive"] is True and res["n_pairs"] == 65536
    for key in ("mae_pct", "wce_pct", "mre_pct", "ep_pct", "bias", "mse"):
        assert res[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-12)
    # cross-check figures of the arith guide
    assert res["mae_pct"] == pytest.approx(0.12, abs=0.005)
    assert res["mre_pct"] == pytest.approx(2.64, abs=0.005)
    assert res["luts"] > 0 and res["ffs"] == 0 and res["depth"] > 0
    assert res["dsps"] == 0  # no multiplication operator left to map onto a DSP48E1
    assert (tmp_path / "synth" / "synth_nodsp.log").is_file()


@pytest.mark.sim
@needs_tools
def test_characterize_sampled_wide_unit():
    res = characterize.characterize_unit("trunc:t=10,width=10", samples=5000, do_synth=False)
    assert res["exhaustive"] is False and res["n_pairs"] == 5000
    assert res["rtl_matches_model"] is True
    assert res["luts"] is None
    assert res["mae_pct"] > 0 and res["bias"] < 0  # truncation only drops partial products


# ----------------------------------------------------------------------------- CLI


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_cli_characterize_json_keys():
    proc = run_cli("characterize", "trunc:t=4,width=6,signed=1", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert JSON_KEYS <= set(res)
    assert res["unit"] == "trunc:t=4,width=6,signed=1"
    assert res["rtl_matches_model"] is True
    assert res["luts"] > 0 and isinstance(res["dsps"], int)
    ref = arith.error_metrics("trunc:t=4,width=6,signed=1")
    assert res["mre_pct"] == pytest.approx(ref["mre_pct"])


def test_cli_bad_unit_name():
    proc = run_cli("characterize", "nosuchunit:k=3", "--json")
    assert proc.returncode == 2
    assert "unknown unit 'nosuchunit'" in proc.stderr and "drum" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("lut", "drum:k=99", "-o", "never.npy")
    assert proc.returncode == 2 and "k=99" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_usage_errors():
    proc = run_cli("characterize")
    assert proc.returncode == 2 and "exactly one" in proc.stderr
    proc = run_cli("characterize", "drum", "--top", "x")
    assert proc.returncode == 2 and "--verilog" in proc.stderr


def test_cli_lut_and_units(tmp_path):
    out = tmp_path / "t.npy"
    proc = run_cli("lut", "etm:k=3,width=6,signed=1", "-o", out)
    assert proc.returncode == 0, proc.stderr
    lut = np.load(out, allow_pickle=False)
    assert lut.dtype == np.int64 and lut.shape == (64, 64)
    np.testing.assert_array_equal(lut, arith.make_lut("etm:k=3,width=6,signed=1"))
    assert [p.name for p in tmp_path.iterdir()] == ["t.npy"]  # no temporary left behind
    proc = run_cli("units")
    assert proc.returncode == 0
    for name in arith.unit_names():
        assert name in proc.stdout
    assert "default" in proc.stdout


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_cli_external_module_wrong_bit_detected(tmp_path):
    unit = "drum:k=3,width=6"
    good = make_external_netlist(tmp_path, unit, "ext_good")
    bad = make_external_netlist(tmp_path, unit, "ext_bad", flip_bit=4)
    npz = tmp_path / "good.npz"
    pg = run_cli("characterize", "--verilog", good, "--top", "ext_good", "--width", 6,
                 "--model", unit, "--save", npz, "--json")
    assert pg.returncode == 0, pg.stderr
    rg = json.loads(pg.stdout)
    assert JSON_KEYS <= set(rg)
    assert rg["rtl_matches_model"] is True and rg["luts"] > 0
    ref = arith.error_metrics(unit)
    assert rg["mae_pct"] == pytest.approx(ref["mae_pct"])
    pb = run_cli("characterize", "--verilog", bad, "--top", "ext_bad", "--width", 6,
                 "--model", unit, "--json", "--no-synth")
    assert pb.returncode == 1
    rb = json.loads(pb.stdout)
    assert rb["rtl_matches_model"] is False and rb["mismatches"] > 0
    assert rb["mae_pct"] != pytest.approx(rg["mae_pct"])
    assert rb["ep_pct"] != pytest.approx(rg["ep_pct"])
    # the saved table is a unit for later commands
    out = tmp_path / "good.npy"
    pl = run_cli("lut", npz, "-o", out)
    assert pl.returncode == 0, pl.stderr
    np.testing.assert_array_equal(np.load(out, allow_pickle=False), arith.make_lut(unit))
    pc = run_cli("characterize", npz, "--json")
    assert pc.returncode == 0, pc.stderr
    rc = json.loads(pc.stdout)
    assert rc["mae_pct"] == pytest.approx(ref["mae_pct"]) and rc["luts"] is None


@pytest.mark.synth
@needs_tools
def test_cli_external_port_mismatch_is_usage_error(tmp_path):
    net = make_external_netlist(tmp_path, "trunc:t=2,width=4", "ext_t4b")
    proc = run_cli("characterize", "--verilog", net, "--top", "ext_t4b", "--width", 5)
    assert proc.returncode == 2
    assert "two 5-bit inputs" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- reports


def test_short_label():
    assert report.short_label("drum:k=4,width=8,signed=1") == "drum k=4"
    assert report.short_label("exact:width=8,signed=0") == "exact"


def test_pareto_front():
    pts = [(10, 5.0), (20, 1.0), (15, 6.0), (30, 0.0), (25, 1.0), (5, 9.0)]
    assert sorted(report.pareto_front(pts)) == [0, 1, 3, 5]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "r.csv"
    report.atomic_write(target, "old\n")

    with pytest.raises(TypeError):
        report.atomic_write(target, 12345)  # not bytes/str: fails while writing
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_write_reports(tmp_path):
    rows = [
        {"unit": f"u{i}:width=8,signed={s}", "kind": k, "width": 8, "signed": bool(s),
         "mae_pct": e, "wce_pct": 2 * e, "mre_pct": 3 * e, "wcre_pct": 4 * e, "ep_pct": 50.0,
         "mse": 1.0, "bias": -0.5, "luts": lut, "carry4": 1, "depth": 4, "dsps": 0, "ffs": 0,
         "rtl_matches_model": True, "n_pairs": 65536, "exhaustive": True}
        for i, (k, s, e, lut) in enumerate(
            [("mul", 0, 0.0, 114), ("mul", 0, 0.5, 60), ("mul", 1, 0.2, 150), ("add", 0, 0.1, 4)]
        )
    ]
    paths = report.write_reports(rows, tmp_path / "rep")
    with open(paths["csv"]) as fh:
        got = list(csv.DictReader(fh))
    assert [r["unit"] for r in got] == [r["unit"] for r in rows]
    assert got[1]["luts"] == "60"
    md = paths["md"].read_text()
    assert "## Multipliers, 8-bit operands" in md and "## Adders, 8-bit operands" in md
    fronts, table = md.split("## Multipliers, 8-bit operands")
    assert len(re.findall(r"^\| u\d:", table, flags=re.M)) == 4
    assert "Pareto front, 8-bit unsigned multipliers: MRED against LUTs" in fronts
    assert "Pareto front, 8-bit signed multipliers: MAE against LUTs" in fronts
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_characterize_all_small_parallel(tmp_path):
    units = ["trunc:t=2,width=4,signed=0", "loa:l=2,width=4,signed=1", "nosuch"]
    lines = []

    class Stream:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass

        def isatty(self):
            return False

    rows, failures, paths, seconds = characterize.characterize_all(
        tmp_path / "rep", units=units, jobs=2, stream=Stream()
    )
    assert [r["unit"] for r in rows] == [str(arith.parse_unit(u)) for u in units[:2]]
    assert failures and failures[0][0] == "nosuch" and "unknown unit" in failures[0][1]
    assert all(r["rtl_matches_model"] for r in rows)
    assert {p.name for p in (tmp_path / "rep").iterdir()} == {
        "arith.csv", "arith.md", "arith_pareto.png"}
    assert any("[3/3]" in s for s in lines)


def test_library_units_cover_registry():
    units = characterize.library_units((8,))
    assert len(units) == len(set(units))
    names = {u.split(":")[0] for u in units}
    assert names == {u.name for u in arith.list_units() if u.builtin}
    assert "drum:k=4,width=8,signed=1" in units and "trunc:t=8,width=8,signed=0" in units


def test_update_block_readmes_replaces_only_the_figures_section(tmp_path):
    from approxnn.report import update_block_readmes

    d = tmp_path / "drum"
    d.mkdir()
    readme = d / "README.md"
    readme.write_text(
        "# DRUM\nintro\n<!-- FIGURES: generated -->\nold\n<!-- END FIGURES -->\ntail\n"
    )
    rows = [{"unit": "drum:k=6,width=8,signed=0", "mae_pct": 0.355, "luts": 117},
            {"unit": "loa:l=4,c=1,width=8,signed=0", "mae_pct": 0.56, "luts": 9}]
    assert update_block_readmes(rows, tmp_path, "note") == [readme]
    text = readme.read_text()
    assert text.startswith("# DRUM\nintro\n<!-- FIGURES: generated -->\nnote\n")
    assert "old" not in text and "drum:k=6,width=8,signed=0" in text and "loa:" not in text
    assert text.endswith("<!-- END FIGURES -->\ntail\n")
    assert update_block_readmes(rows, tmp_path, "note") == []  # idempotent


# ----------------------------------------------------------------------------- robustness


def run_cli_env(*args, tmpdir=None, **env):
    import os

    full = dict(os.environ, **{k: str(v) for k, v in env.items()})
    if tmpdir is not None:
        full["TMPDIR"] = str(tmpdir)
    return subprocess.run(
        [sys.executable, "-m", "approxnn", *map(str, args)],
        capture_output=True, text=True, timeout=300, env=full,
    )


def _one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("approxnn: error:"), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("width", ["0", "1", "64", "-3"])
def test_all_rejects_bad_widths_at_once(width, tmp_path):
    proc = run_cli("characterize", "--all", "--widths", width, "--out", tmp_path / "rep")
    _one_line_error(proc, "--widths", "4..16")
    assert not (tmp_path / "rep").exists()


def test_all_checks_out_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("characterize", "--all", "--out", blocker)
    _one_line_error(proc, "is a file")
    proc = run_cli("characterize", "--all", "--out", blocker / "sub")
    _one_line_error(proc, "is a file")


def test_all_no_synth_runs_no_yosys(tmp_path, monkeypatch):
    def no_yosys(*a, **k):
        raise AssertionError("Yosys must not run with do_synth=False")

    monkeypatch.setattr(synth, "synth_cost", no_yosys)
    monkeypatch.setattr(synth, "synthesize", no_yosys)
    if shutil.which("iverilog") is None:
        pytest.skip("needs iverilog")
    rows, failures, _, _ = characterize.characterize_all(
        tmp_path / "rep", units=["trunc:t=2,width=4"], jobs=1, do_synth=False,
        stream=io.StringIO(),
    )
    assert not failures and rows[0]["luts"] is None and rows[0]["rtl_matches_model"] is True


def test_lut_output_folder_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("lut", "trunc:width=4", "-o", blocker / "t.npy")
    _one_line_error(proc, "is a file")
    proc = run_cli("lut", "trunc:width=4", "-o", tmp_path / "missing" / "t.npy")
    _one_line_error(proc, "does not exist")
    assert not (tmp_path / "missing").exists()


def test_missing_npz_is_a_missing_file(tmp_path):
    proc = run_cli("characterize", tmp_path / "nothere.npz")
    _one_line_error(proc, "not found", "nothere.npz")
    assert "unknown unit" not in proc.stderr


def test_save_must_be_npz(tmp_path):
    src = tmp_path / "m.v"
    src.write_text("module m(input [3:0] a, input [3:0] b, output [7:0] y);\n"
                   "assign y = a * b;\nendmodule\n")
    proc = run_cli("characterize", "--verilog", src, "--top", "m", "--width", 4,
                   "--save", tmp_path / "table.txt")
    _one_line_error(proc, ".npz")
    assert not (tmp_path / "table.txt").exists()


@pytest.mark.synth
@needs_tools
@pytest.mark.parametrize("case", ["syntax", "empty", "top"])
def test_bad_external_verilog_is_one_line_and_leaves_no_temp(case, tmp_path):
    src = tmp_path / "m.v"
    text = {"syntax": "module m(input [3:0] a, input [3:0] b, output [7:0] y);\n"
                      "assign y = a * ;\nendmodule\n",
            "empty": "",
            "top": "module m(input [3:0] a, input [3:0] b, output [7:0] y);\n"
                   "assign y = a * b;\nendmodule\n"}[case]
    src.write_text(text)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    top = "other" if case == "top" else "m"
    proc = run_cli_env("characterize", "--verilog", src, "--top", top, "--width", 4,
                       tmpdir=tmpdir)
    _one_line_error(proc, str(src))
    assert list(tmpdir.iterdir()) == []


# ----------------------------------------------------------------------------- import fixes


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_import_behavioural_verilog_with_always_blocks(tmp_path):
    # the project's own generated RTL: always blocks, which need `proc` before port discovery
    unit = "trunc:t=3,width=5"
    src = _convert(arith.parse_unit(unit), tmp_path)
    assert "always @" in src.read_text()
    spec, lut, mod = importer.import_verilog([src], arith.parse_unit(unit).module_name, 5,
                                             name="beh_trunc_t")
    try:
        np.testing.assert_array_equal(lut, arith.make_lut(unit))
    finally:
        arith.unregister_lut_unit("beh_trunc_t")


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_signedness_contradiction_is_refused(tmp_path):
    src = tmp_path / "mu.v"
    src.write_text("module mu(input [5:0] a, input [5:0] b, output [11:0] y);\n"
                   "assign y = a * b;\nendmodule\n")
    proc = run_cli("characterize", "--verilog", src, "--top", "mu", "--width", 6, "--signed",
                   "--no-synth")
    _one_line_error(proc, "does not behave as a signed", "drop --signed")
    ok = run_cli("characterize", "--verilog", src, "--top", "mu", "--width", 6, "--no-synth",
                 "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["mae_pct"] == 0
    forced = run_cli("characterize", "--verilog", src, "--top", "mu", "--width", 6, "--signed",
                     "--no-synth", "--no-signedness-check", "--json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["mae_pct"] > 10
    # ports declared signed, imported as unsigned
    ss = tmp_path / "ms.v"
    ss.write_text("module ms(input signed [5:0] a, input signed [5:0] b, "
                  "output signed [11:0] y);\nassign y = a * b;\nendmodule\n")
    proc = run_cli("characterize", "--verilog", ss, "--top", "ms", "--width", 6, "--no-synth")
    _one_line_error(proc, "declared signed", "--signed")
    good = run_cli("characterize", "--verilog", ss, "--top", "ms", "--width", 6, "--signed",
                   "--no-synth", "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["mae_pct"] == 0


# ----------------------------------------------------------------------------- cache


@pytest.mark.sim
@pytest.mark.synth
@needs_tools
def test_cache_by_netlist_digest(tmp_path):
    first = characterize.characterize_unit("ctrunc:t=3,k=1,width=5")
    assert first["cached"] is False and first["rtl_matches_model"] is True
    again = characterize.characterize_unit("ctrunc:t=3,k=1,width=5")
    assert again["cached"] is True
    for key in ("luts", "depth", "lut_levels", "clock_ns", "mae_pct", "mre_pct", "n_pairs"):
        assert again[key] == first[key]
    other = characterize.characterize_unit("ctrunc:t=3,k=2,width=5")
    assert other["cached"] is False  # another netlist, another digest
    # the model comparison is recomputed from the cached outputs: a damaged entry is caught
    from approxnn import cache

    entries = sorted(cache.cache_dir().rglob("*.npz"))
    for path in entries:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["y"] = arrays["y"].copy()
        arrays["y"][5] += 1
        np.savez_compressed(path, **arrays)
    bad = characterize.characterize_unit("ctrunc:t=3,k=1,width=5")
    assert bad["cached"] is True and bad["rtl_matches_model"] is False


@pytest.mark.sim
@needs_tools
def test_terminated_run_leaves_no_temp(tmp_path):
    import os
    import signal
    import time

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "approxnn", "characterize", "trunc:width=8", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(tmpdir.iterdir()):
        time.sleep(0.05)  # wait until the run has made its work folder
    assert any(tmpdir.iterdir()), "the run never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err
    assert list(tmpdir.iterdir()) == []
