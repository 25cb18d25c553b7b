"""The committed CNN-block Verilog and .core files equal a fresh generation; bad parameters
are refused at generation time with a clear message."""

import subprocess
import sys

import pytest

from cores.cnn import generate
from cores.cnn.common import convert
from cores.cnn.mac.mac import MacConfigError, build


def test_committed_files_are_up_to_date(tmp_path):
    generate.generate(tmp_path)
    problems = generate.compare(tmp_path)
    assert not problems, "regenerate with `python -m cores.cnn.generate`:\n" + "\n".join(problems)


def test_compare_detects_a_changed_file(tmp_path):
    generate.generate(tmp_path, ("requant",))
    victim = tmp_path / "requant" / "rtl" / "cnn_requant.v"
    victim.write_text(victim.read_text().replace("endmodule", "endmodule // edited"))
    assert generate.compare(tmp_path, blocks=("requant",)) == [
        "differs: cores/cnn/requant/rtl/cnn_requant.v"
    ]


def test_conversion_is_reproducible(tmp_path):
    f, name = build(lanes=3, mul="drum:k=4,signed=0")
    first = convert(f, name, tmp_path / "a").read_bytes()
    g, other = build(lanes=2)
    convert(g, other, tmp_path / "b")  # another conversion in between renames nothing
    second = convert(f, name, tmp_path / "c").read_bytes()
    assert first == second
    assert b"Date: (not recorded" in first


def test_core_files_name_every_rtl_file_and_target():
    for block in generate.BLOCKS:
        text = generate.core_text(block)
        assert f"name: approxnn:cnn:{block}:{generate.VERSION}" in text
        for f in generate.rtl_files(block):
            assert f"      - {f}\n" in text
        for target in ("default", "lint", "sim", "synth", "synth_nodsp"):
            assert f"\n  {target}:\n" in text


def test_check_cli_reports_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "cores.cnn.generate", "--check", "requant"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lanes": 0}, "lanes must be an integer in 1..64"),
        ({"lanes": 65}, "lanes must be an integer in 1..64"),
        ({"lanes": 2.5}, "lanes must be an integer"),
        ({"mul": "nosuch"}, "unknown multiplier 'nosuch'"),
        ({"mul": "loa"}, "unknown multiplier .loa.; valid multipliers"),
        ({"mul": "drum:k=4,width=6"}, "needs an 8-bit multiplier"),
        ({"mul": ""}, "mul must be 'int8' or a multiplier unit name"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(MacConfigError, match=message):
        build(**params)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lanes": 3}, "lanes must be one of"),
        ({"mul": "nosuch"}, "unknown multiplier 'nosuch'"),
        ({"ibuf": 1000}, "ibuf must be a power of two"),
        ({"wbuf": 2}, "wbuf must be a power of two"),
        ({"lanes": 8, "cmax": 4}, "cmax must be a power of two in 8..64"),
        ({"cmax": 128}, "cmax must be a power of two"),
    ],
)
def test_bad_engine_parameters_are_refused(params, message):
    from cores.cnn.engine.engine import EngineConfigError

    with pytest.raises(EngineConfigError, match=message):
        generate.build_block("engine", **params)


def test_unknown_block_is_refused():
    with pytest.raises(ValueError, match="unknown CNN block 'conv'"):
        generate.build_block("conv")
    with pytest.raises(TypeError):
        generate.build_block("requant", lanes=4)
