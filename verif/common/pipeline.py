"""Functional coverage of a fixed-latency pipeline's input timing, shared by the testbenches of
the arithmetic units' registered form and of the CNN requantisation unit (no simulator needed).

Two cover items per pipeline, sampled from the cycles at which input beats were accepted:

* ``<prefix>.gap``: the idle cycles before a beat, after the batch's first: ``0`` (back to
  back), ``1``, ``2+``;
* ``<prefix>.in_flight``: how many earlier beats are still inside the pipeline when a beat
  enters (their results not out yet): ``0`` .. ``latency - 1``; ``latency - 1`` means every
  stage is busy.

Together they say that the latency, count and order checks of the scoreboard ran on a full
pipeline, on an emptying one and across idle cycles of each length class, not only on one
timing pattern.
"""

from __future__ import annotations

import numpy as np

GAP_BINS = ("0", "1", "2+")


def gap_class(gap: int) -> str:
    return "0" if gap == 0 else "1" if gap == 1 else "2+"


def in_flight_bins(latency: int) -> list[int]:
    return list(range(latency))


def pipeline_bins(cycles, latency: int) -> tuple[set[str], set[int]]:
    """(gap classes, in-flight counts) of input beats accepted at ``cycles`` (ascending) by a
    pipeline whose results leave ``latency`` cycles after their inputs."""
    c = np.asarray(cycles, dtype=np.int64)
    if c.size == 0:
        return set(), set()
    if np.any(np.diff(c) <= 0):
        raise ValueError("input cycles must be strictly ascending (one beat per cycle)")
    gaps = {gap_class(int(g)) for g in np.unique(np.diff(c) - 1)}
    # beats j < i still inside when beat i enters: c[j] + latency > c[i]
    first = np.searchsorted(c, c - latency + 1, side="left")
    inside = np.arange(c.size) - first
    return gaps, {int(v) for v in np.unique(inside)}
