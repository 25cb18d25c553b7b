"""The committed Verilog and .core files equal a fresh generation."""

import subprocess
import sys

import pytest

from cores.arith import generate
from cores.arith.common import UNITS, convert


def test_committed_files_are_up_to_date(tmp_path):
    generate.generate(tmp_path)
    problems = generate.compare(tmp_path)
    assert not problems, "regenerate with `python -m cores.arith.generate`:\n" + "\n".join(problems)


def test_compare_detects_a_changed_file(tmp_path):
    generate.generate(tmp_path, ("drum",))
    victim = tmp_path / "drum" / generate.rtl_files("drum")[0]
    victim.write_text(victim.read_text().replace("endmodule", "endmodule // edited"))
    problems = generate.compare(tmp_path, units=("drum",))
    assert problems == [f"differs: cores/arith/drum/{generate.rtl_files('drum')[0]}"]


def test_conversion_is_reproducible(tmp_path):
    first = convert("gear:signed=1", tmp_path / "a", registered=True).read_bytes()
    convert("drum", tmp_path / "b")  # other conversions in between must not rename anything
    second = convert("gear:signed=1", tmp_path / "c", registered=True).read_bytes()
    assert first == second
    assert b"Date: (not recorded" in first


def test_core_files_name_every_rtl_file_and_target():
    for unit in UNITS:
        text = generate.core_text(unit)
        assert f"name: approxnn:arith:{unit}:{generate.VERSIONS[unit]}" in text
        for f in generate.rtl_files(unit):
            assert f"      - {f}\n" in text
        for target, _ in generate.TARGETS:
            assert f"\n  {target}:\n" in text


def test_check_cli_reports_up_to_date():
    proc = subprocess.run(
        [sys.executable, "-m", "cores.arith.generate", "--check", "exact"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_rejects_unknown_unit():
    with pytest.raises(SystemExit):
        generate.main(["--check", "nosuchunit"])
