"""The cover items of directed sequences (verif/common/coverage.py): a bin of the goal that was
not hit fails the check with its name; the bins go into the coverage file the regression
merges."""

import json

import pytest

from verif.common.coverage import DirectedCover


def test_a_bin_not_hit_fails_the_goal(tmp_path, monkeypatch):
    out = tmp_path / "coverage.json"
    monkeypatch.setenv("APPROXNN_COVERAGE_FILE", str(out))
    cover = DirectedCover("selftest.points", ["a", "b", "c"], unit="selftest")
    cover.hit("a")
    cover.hit("c")
    with pytest.raises(ValueError, match="no bin 'd'"):
        cover.hit("d")
    with pytest.raises(AssertionError, match=r"bins \['b'\] not hit"):
        cover.check()
    cover.check(["a", "c"])  # a goal of the bins this run can reach
    data = json.loads(out.read_text())
    assert data["items"]["selftest.points"] == {"a": 1, "b": 0, "c": 1}
