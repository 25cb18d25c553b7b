"""`approxnn sbs hardware`: cycles from RTL simulation, report files, bad input."""

import json

import pytest

from approxnn.cli import main
from approxnn.eda.sim import simulator_available
from approxnn.sbs_hardware import markdown, parse_configs


def test_parse_configs_accepts_and_refuses():
    assert parse_configs("4:e4m1, 1:LOG4") == [(4, "e4m1"), (1, "log4")]
    for bad in ("4e4m1", "3:e4m1", "4:e4m2", "x:log4", ""):
        with pytest.raises(ValueError):
            parse_configs(bad)


def test_bad_configuration_exits_2(capsys):
    assert main(["sbs", "hardware", "--configs", "5:e4m1"]) == 2
    assert "lanes P=5" in capsys.readouterr().err


def test_markdown_puts_published_figures_beside():
    row = {"p": 4, "weights": "e4m1", "constant": 23, "cycles": {32: 31}, "luts": 1}
    text = markdown([row])
    assert "| e4m1 | 4 | N/4 + 23 | 31 | 279 | 75 / 2059 |" in text


@pytest.mark.sim
def test_cycles_only_report(tmp_path, capsys):
    if not simulator_available("icarus"):
        pytest.skip("needs icarus")
    out = tmp_path / "hw"
    rc = main(["sbs", "hardware", "--configs", "2:log4", "--n-max", "32", "--no-synth",
               "--jobs", "1", "--out", str(out)])
    assert rc == 0
    data = json.loads((out / "hardware.json").read_text())
    row = data["update"][0]
    assert row["p"] == 2 and row["weights"] == "log4"
    # the cycles test itself asserts N/P + constant; the constant is the pipeline + divider
    assert all(c == row["constant"] + n // 2 for n, c in
               ((int(k), v) for k, v in row["cycles"].items()))
    assert (out / "hardware.md").exists() and (out / "hardware.csv").exists()
    assert "N/2 +" in capsys.readouterr().out
