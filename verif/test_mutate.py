"""The mutation tool's catalogue and plumbing (no simulation: the mutants themselves run in the
nightly tier, ``python -m verif.mutate``)."""

import re
from pathlib import Path

import pytest
from approxnn.eda.sim import REPO_ROOT

from verif.mutate import (
    BLOCK_TESTS,
    CATALOGUE,
    check_catalogue,
    classify,
    main,
    mechanism,
    score,
    verdict,
    write_report,
)


def test_catalogue_applies_and_spans_every_block():
    assert check_catalogue() == []
    assert len(CATALOGUE) >= 40
    blocks = {m.block for m in CATALOGUE}
    assert blocks == set(BLOCK_TESTS)  # every block has mutants, every mutant a block
    prefixes = {b.split("_")[0] for b in blocks}
    assert {"arith", "cnn", "sbs", "axil"} <= prefixes
    for m in CATALOGUE:
        if m.equivalent:
            assert len(m.equivalent) > 20, f"{m.name}: say why it is equivalent"


def test_block_tests_name_existing_tests():
    for block, nodes in BLOCK_TESTS.items():
        for node in nodes:
            path, _, name = node.partition("::")
            assert (REPO_ROOT / path).is_file(), f"{block}: {path}"
            if name:
                func = re.sub(r"\[.*\]$", "", name)
                assert f"def {func}(" in (REPO_ROOT / path).read_text(), f"{block}: {node}"


def test_classify_outcomes():
    assert classify(0, "5 passed", False)[0] == "survived"
    assert classify(1, "E   AssertionError: layer 3: 2 outputs differ, RTL 4, model 5",
                    False)[0] == "killed"
    out = "E   AssertionError: protocol violation on m_axis_y: signal m_axis_y_tdata"
    assert classify(1, out, False)[0] == "killed"
    assert classify(1, "E   WatchdogError: watchdog: no handshake on any interface",
                    False)[0] == "timeout"
    assert classify(1, "", True)[0] == "timeout"
    assert classify(1, "E   myhdl.AlwaysCombError: sensitivity list is empty",
                    False)[0] == "invalid"
    assert classify(4, "ERROR: file or directory not found", False)[0] == "invalid"


def test_score_and_report(tmp_path: Path):
    rows = [dict(name="a", block="b1", outcome="killed", what="w", detail="", seconds=1),
            dict(name="b", block="b1", outcome="survived", what="w", detail="", seconds=1),
            dict(name="c", block="b1", outcome="equivalent", what="w", detail="why", seconds=0),
            dict(name="d", block="b2", outcome="timeout", what="w", detail="", seconds=1)]
    s = score(rows)
    assert s["b1"]["score"] == 50.0 and s["b2"]["score"] == 0.0
    write_report(rows, tmp_path)
    md = (tmp_path / "mutants.md").read_text()
    assert "| b1 | 3 | 1 | 0 | 0 | 1 | 0 | 1 | 50.0 % |" in md
    assert "| **total** | 4 | 1 | 0 | 1 | 1 | 0 | 1 | 33.3 % |" in md
    assert "| c | b1 | w | why |" in md  # the equivalent with its reason
    assert "**FAIL**" in md


def test_verdict_needs_the_score_and_no_timeout(tmp_path: Path):
    def rows(outcomes):
        return [dict(name=f"m{i}", block="b", outcome=o, what="w", detail="", seconds=1,
                     by=mechanism(o, "")) for i, o in enumerate(outcomes)]

    assert verdict(rows(["killed"] * 19 + ["equivalent"])) == []
    assert verdict(rows(["killed"] * 19 + ["survived"])) == []  # 95.0 %
    assert "score by comparison 94.4 %" in verdict(rows(["killed"] * 17 + ["survived"]))[0]
    assert "killed only by a timeout: m19" in verdict(rows(["killed"] * 19 + ["timeout"]))[0]
    assert "invalid" not in verdict(rows(["killed"] * 19 + ["invalid"]))  # 95 %, no timeout
    assert mechanism("killed", "E   ProtocolError: protocol violation on s_axil") == "checker"
    assert mechanism("killed", "E   AssertionError: 2 outputs differ") == "scoreboard"
    assert mechanism("timeout", "E   WatchdogError: watchdog: no handshake") == "watchdog"
    assert mechanism("timeout", "") == "time limit"
    assert mechanism("invalid", "myhdl.ConversionError") == "lint/build"


def test_render_rewrites_a_run_with_mechanisms_from_its_logs(tmp_path: Path):
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    rows = [dict(name="a", block="b", outcome="killed", by="scoreboard", what="w", detail="d",
                 seconds=3)]
    write_report(rows, run)
    (run / "logs" / "a.log").write_text("E   ProtocolError: protocol violation on m_axis_y")
    assert main(["--render", str(run / "mutants.json"), "--out", str(tmp_path / "pub"),
                 "--stem", "report"]) == 0
    md = (tmp_path / "pub" / "report.md").read_text()
    assert "| a | b | killed | checker | 3 |" in md and "**pass**" in md
    with pytest.raises(SystemExit) as e:
        main(["--render", str(tmp_path / "missing.json")])
    assert e.value.code == 2


def test_bad_arguments_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--block", "nosuchblock"])
    assert e.value.code == 2
    assert "unknown block" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--only", "nosuchmutant"])
    assert main(["--list", "--block", "axil_bridge"]) == 0
    assert "axil_partial_strobe_writes" in capsys.readouterr().out


def test_committed_report_is_consistent():
    # the committed report of a full run (verif/mutation/report.json): its mutants are
    # catalogue mutants of the same block, its totals and verdict follow from its rows
    import json  # noqa: PLC0415

    from verif.mutate import _tally  # noqa: PLC0415

    data = json.loads((REPO_ROOT / "verif" / "mutation" / "report.json").read_text())
    blocks = {m.name: m.block for m in CATALOGUE}
    for r in data["results"]:
        assert blocks.get(r["name"]) == r["block"], r["name"]
    assert data["total"] == _tally(data["results"])
    assert data["blocks"] == score(data["results"])
    assert data["verdict"] == (verdict(data["results"], data["min_score"]) or "pass")
    md = (REPO_ROOT / "verif" / "mutation" / "report.md").read_text()
    assert f"**Score by comparison: {data['total']['score']} %**" in md
