"""The FuseSoC generator approxnn_myhdl without FuseSoC: what a generated core exports, and
one-line errors that name the bad parameter and its valid values."""

import subprocess
import sys

import pytest
import yaml

from cores.common import fusesoc_gen


def request(**params):
    return {"vlnv": "me:demo:top-gen:1.0.0", "gapi": "1.0", "files_root": ".",
            "parameters": params}


def test_a_generated_sbs_layer_exports_rtl_waivers_sim_support_and_plusargs(tmp_path):
    written = fusesoc_gen.generate(request(core="approxnn:sbs:layer", lanes=4, n_max=64,
                                           weights="log4", ip_max=64, rows_max=256), tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["cocotb.mk", "layer.core", "lint.vlt", "sbs_layer_log4_p4_n64_ip64_r256.v"]
    core = yaml.safe_load((tmp_path / "layer.core").read_text())
    assert core["name"] == "me:demo:top-gen:1.0.0"
    default = core["targets"]["default"]
    assert default["filesets"] == ["rtl", "waivers", "cocotb"]
    assert default["toplevel"] == "sbs_layer_log4_p4_n64_ip64_r256"
    assert "APPROXNN_SBS_P=4" in default["parameters"]
    assert "APPROXNN_SBS_ROWSMAX=256" in default["parameters"]
    assert core["filesets"]["waivers"]["file_type"] == "vlt"
    assert core["filesets"]["cocotb"]["files"] == [{"cocotb.mk": {"copyto": "GNUmakefile"}}]
    for target in ("lint", "sim", "sim_verilator", "synth", "synth_nodsp"):
        assert target in core["targets"]


def test_a_generated_arith_unit_has_both_modules(tmp_path):
    written = fusesoc_gen.generate(request(core="arith:drum", k=4, signed=1), tmp_path)
    assert sorted(p.name for p in written if p.suffix == ".v") == [
        "drum_k4_w8_s.v", "drum_k4_w8_s_reg.v"]
    core = yaml.safe_load((tmp_path / "drum.core").read_text())
    assert core["targets"]["sim"]["toplevel"] == "drum_k4_w8_s_reg"
    assert "APPROXNN_UNIT=drum:k=4,width=8,signed=1" in core["targets"]["default"]["parameters"]


@pytest.mark.parametrize("params, message", [
    ({"core": "cnn:engine", "lanes": 3}, "lanes must be one of (1, 2, 4, 8, 16), got 3"),
    ({"core": "cnn:engine", "ibuf": 1000},
     "ibuf must be a power of two in 16..65536, got 1000"),
    ({"core": "cnn:engine", "mul": "drum:k=40"}, "k=40 out of range"),
    ({"core": "cnn:engine", "lane": 8},
     "cnn:engine has no parameter lane; valid: lanes, mul, ibuf, wbuf, cmax"),
    ({"core": "cnn:nosuch"}, "unknown CNN block 'nosuch'"),
    ({"core": "sbs:update", "lanes": 3}, "lanes must be one of (1, 2, 4, 8, 16), got 3"),
    ({"core": "sbs:layer", "rows_max": 100},
     "rows_max must be a power of two in 1..65536, got 100"),
    ({"core": "sbs:update", "n_max": "64"}, "n_max must be a power of two in 8..4096, got '64'"),
    ({"core": "sbs:spikegen", "n_max": 256}, "n_max must be a power of two in 2..128, got 256"),
    ({"core": "sbs:update", "weights": "e5m1"}, "the RTL supports 2..4 exponent bits"),
    ({"core": "arith:drum", "k": 40}, "drum: k=40 out of range 2..8 for width=8"),
    ({"core": "arith"}, "core arith needs a unit"),
    ({"core": "vhdl:thing"}, "the family must be arith, cnn or sbs"),
    ({"lanes": 8}, "parameter core is missing"),
])
def test_bad_parameters_are_named_with_their_valid_values(params, message, tmp_path):
    with pytest.raises(ValueError) as exc:
        fusesoc_gen.generate(request(**params), tmp_path)
    assert message in str(exc.value)


def test_the_script_fails_with_one_line(tmp_path):
    req = tmp_path / "in.yml"
    req.write_text(yaml.safe_dump(request(core="cnn:engine", cmax=128)))
    res = subprocess.run([sys.executable, fusesoc_gen.__file__, str(req)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr == ("approxnn_myhdl: cmax must be a power of two in 4..64, got 128\n")
    assert not list(tmp_path.glob("*.core"))
