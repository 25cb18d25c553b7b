"""Parameters of the heterogeneous MAC array / engine (several multiplier units, MODE.MUL), the
FuseSoC generator request with a unit list, and the unchanged uniform builds. (The RTL itself is
verified in verif/cnn/test_engine_hetero.py, its lint in test_lint.py.)"""

import pytest
import yaml

from cores.cnn.engine.engine import EngineConfigError, check_params
from cores.cnn.engine.engine import build as engine_build
from cores.cnn.mac.mac import MAX_UNITS, MacConfigError, normalise
from cores.cnn.mac.mac import build as mac_build
from cores.common import fusesoc_gen, regmap


def test_a_unit_list_is_canonical_in_order_and_named_after_its_units():
    p = normalise(4, ["trunc:t=10", "int8", "mitchell:signed=0"])
    assert p["mul"] == "trunc:t=10,width=8,signed=1+exact:width=8,signed=1+" \
        "mitchell:width=8,signed=0"
    assert [s.signed for s in p["spec"]] == [1, 1, 0]
    assert normalise(4, p["mul"]) == p  # the joined string gives the same build
    assert mac_build(4, p["mul"])[1] == \
        "cnn_mac_p4_het_trunc_t10_w8_s_exact_w8_s_mitchell_w8_u"
    assert engine_build(8, ["trunc:t=6", "trunc:t=4"], 4096, 4096, 64)[1] == \
        "cnn_engine_p8_het_trunc_t6_w8_s_trunc_t4_w8_s_i4096_w4096_c64"


def test_one_unit_in_a_list_is_the_uniform_build():
    assert normalise(8, ["drum:k=4"]) == normalise(8, "drum:k=4")
    assert normalise(8, ["int8"])["spec"] is None  # the DSP-packed exact path
    assert check_params(4, ["int8"])["mul"] == "int8"


@pytest.mark.parametrize("mul, message", [
    (["trunc:t=6", "trunc:t=6,signed=1"], "unit trunc:t=6,width=8,signed=1 is listed twice"),
    (["exact", "int8"], "listed twice"),
    (["trunc:t=6", "hf6"], "'hf6' cannot be a unit of a heterogeneous array"),
    (["trunc:t=6", "loa"], "unknown multiplier 'loa'"),
    (["trunc:t=6", "nosuch"], "mul unit"),
    (["trunc:t=6", ""], "cannot be a unit"),
    ([f"trunc:t={t}" for t in range(2, 3 + MAX_UNITS)], f"takes 2..{MAX_UNITS} units"),
])
def test_bad_unit_lists_are_refused_with_the_reason(mul, message):
    with pytest.raises(MacConfigError) as exc:
        normalise(4, mul)
    assert message in str(exc.value)
    with pytest.raises(EngineConfigError):
        check_params(4, mul)


def test_the_register_map_has_the_unit_select():
    m = regmap.load("cnn_engine")
    f = m["MODE"].field("MUL")
    assert (f.lsb, f.width) == (16, 4)
    assert m.version == 3


def test_the_generator_builds_a_heterogeneous_variant_with_its_own_tests(tmp_path):
    req = {"vlnv": "me:demo:het:1.0.0", "gapi": "1.0", "files_root": ".",
           "parameters": {"core": "cnn:engine", "lanes": 1, "mul": ["trunc:t=8", "exact"],
                          "ibuf": 16, "wbuf": 4, "cmax": 2}}
    written = fusesoc_gen.generate(req, tmp_path)
    top = "cnn_engine_p1_het_trunc_t8_w8_s_exact_w8_s_i16_w4_c2"
    assert {p.name for p in written} == {"cocotb.mk", "engine.core", f"{top}.v"}
    core = yaml.safe_load((tmp_path / "engine.core").read_text())
    assert core["targets"]["default"]["toplevel"] == top
    assert "APPROXNN_ENGINE_MUL=trunc:t=8,width=8,signed=1+exact:width=8,signed=1" in \
        core["targets"]["default"]["parameters"]
    assert core["targets"]["sim"]["flow_options"]["cocotb_module"] == \
        "verif.cnn.cocotb_engine_hetero"
    with pytest.raises(ValueError, match="listed twice"):
        req["parameters"]["mul"] = ["exact", "exact"]
        fusesoc_gen.generate(req, tmp_path / "bad")
