"""Functional coverage helpers of the testbenches (cocotb-coverage): the holes of cover items,
their report (and the JSON file ``verif.regress`` merges), and the cover items of directed
sequences.

* :func:`cover_point` - a cover point made once per simulation; :func:`verdict_point` - a
  scoreboard's match / mismatch verdict.
* :func:`coverage_holes` / :func:`log_coverage` - used by the coverage collectors' check and
  report phases.
* :class:`DirectedCover` - a cover item that a directed sequence samples as its steps observe
  the DUT (a refusal seen, a reset that landed at a point, a size measured); :meth:`check`
  fails the sequence when a bin of its goal was not hit, and writes the bins to
  ``APPROXNN_COVERAGE_FILE`` when set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cocotb_coverage.coverage import CoverPoint, coverage_db

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


def coverage_holes(db, names):
    """'name: a/b bins, missing [...]' for every cover item below 100 %."""
    holes = []
    for name in names:
        item = db[name]
        if item.coverage < item.size:
            missing = [k for k, v in item.detailed_coverage.items() if v < 1]
            holes.append(f"{name}: {item.coverage}/{item.size} bins, missing {missing[:12]}")
    return holes


def write_coverage(names, unit: str = "", extra: dict | None = None) -> None:
    """With ``APPROXNN_COVERAGE_FILE`` set, the bins of ``names`` (and ``extra``: item -> bin
    -> hits) go into that JSON file (merged by verif.regress), added to the items earlier
    tests of the run wrote there (the database is cumulative over the tests of one run)."""
    out = os.environ.get("APPROXNN_COVERAGE_FILE")
    if not out:
        return
    path = Path(out)
    data = json.loads(path.read_text()) if path.exists() else {"unit": unit, "items": {}}
    for name in names:
        data["items"][name] = {str(k): int(v)
                               for k, v in coverage_db[name].detailed_coverage.items()}
    data["items"].update(extra or {})
    path.write_text(json.dumps(data, indent=1))


def log_coverage(logger, db, names, holes, unit: str = "cnn", extra: dict | None = None):
    """Report phase of a coverage collector: bins hit per cover item, then the holes; the bins
    also go into ``APPROXNN_COVERAGE_FILE`` (:func:`write_coverage`)."""
    for name in names:
        item = db[name]
        logger.info(f"coverage {name}: {item.coverage}/{item.size}")
    for hole in holes:
        logger.error(f"coverage goal not met: {hole}")
    write_coverage(names, unit, extra)


class DirectedCover:
    """Cover item ``name`` with ``bins``, sampled by a directed sequence (:meth:`hit`); the goal
    (:meth:`check`) is every bin of ``goal`` (default: all) hit in this run."""

    def __init__(self, name: str, bins, unit: str = ""):
        self.name, self.bins, self.unit = name, list(bins), unit
        self._sample = cover_point(name, self.bins)

    def hit(self, what: str) -> None:
        if what not in self.bins:
            raise ValueError(f"{self.name}: no bin {what!r} (bins {self.bins})")
        self._sample(what)

    def check(self, goal=None) -> None:
        hits = coverage_db[self.name].detailed_coverage
        write_coverage([self.name], self.unit)
        missing = [b for b in (self.bins if goal is None else goal) if not hits.get(b)]
        assert not missing, f"coverage goal of {self.name} not met: bins {missing} not hit"
