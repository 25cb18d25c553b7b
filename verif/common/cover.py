"""Cover-point helpers shared by the testbenches (cocotb-coverage): a cover point made once
per simulation, the holes of a set of cover items, and their report (log lines and the JSON
file ``APPROXNN_COVERAGE_FILE`` that verif.regress merges)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cocotb_coverage.coverage import CoverPoint

_POINTS: dict = {}


def cover_point(name, bins):
    """The sampler ``sample(value)`` of a cover point ``name`` with ``bins``, made once per
    simulation (several tests of one run share the coverage database; a second definition
    would count its bins twice). Its bins are fixed by the first call."""
    if name not in _POINTS:
        @CoverPoint(name, xf=lambda value: value, bins=list(bins))
        def sample(value):
            pass

        _POINTS[name] = sample
    return _POINTS[name]


def verdict_point(name):
    """A scoreboard's verdict cover item ``name``: sample it once per run with whether any
    result differed from the golden model. Bins ``match`` and ``mismatch``; the mismatch bin
    is the goal of the planted-fault runs only (scoreboard sensitivity), so it is never a
    hole of a passing run."""
    sample = cover_point(name, ["match", "mismatch"])
    return lambda mismatch: sample("mismatch" if mismatch else "match")


def log_coverage(logger, coverage_db, names, holes):
    """Report phase of a coverage collector: bins hit per cover item, then the holes; with
    ``APPROXNN_COVERAGE_FILE`` set, the bins also go into that JSON file (merged by
    verif.regress), added to the items earlier tests of the run wrote there."""
    for name in names:
        item = coverage_db[name]
        logger.info(f"coverage {name}: {item.coverage}/{item.size}")
    for hole in holes:
        logger.error(f"coverage goal not met: {hole}")
    out = os.environ.get("APPROXNN_COVERAGE_FILE")
    if out:
        path = Path(out)
        data = json.loads(path.read_text()) if path.exists() else {"unit": "cnn", "items": {}}
        for name in names:  # the database is cumulative over the tests of one run
            data["items"][name] = {str(k): int(v)
                                   for k, v in coverage_db[name].detailed_coverage.items()}
        path.write_text(json.dumps(data, indent=1))


def coverage_holes(coverage_db, names):
    """'name: a/b bins, missing [...]' for every cover item below 100 %."""
    holes = []
    for name in names:
        item = coverage_db[name]
        if item.coverage < item.size:
            missing = [k for k, v in item.detailed_coverage.items() if v < 1]
            holes.append(f"{name}: {item.coverage}/{item.size} bins, missing {missing[:12]}")
    return holes
