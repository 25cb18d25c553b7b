"""Stress patterns for AXI4-Stream sources (idle cycles) and sinks (back-pressure), as reusable
pause generators (one bool per clock cycle: True = hold tvalid / tready low).

Patterns, by name (``APPROXNN_STRESS`` selects one for the streaming tests that use
:class:`~verif.common.axi.StreamAgents`):

* ``iid:P`` - each cycle paused with probability P (the former default);
* ``iidb:P`` - i.i.d. at P for 200-2,000 cycles, then a full stop of four times
  ``fifo_depth`` cycles or a few on/off periods, and again (the CNN pipeline blocks' default);
* ``bursty`` - on/off periods: runs of 1-40 active cycles, then stalls of 10-300 cycles;
* ``stop:N`` - a full stop of N cycles, then i.i.d. 0.2 for a while, and again;
* ``mixed`` - segments of the above drawn in turn, including full stops of four times
  ``fifo_depth`` cycles (what fills an output FIFO), i.i.d. segments at 0.1-0.9 and
  free-running segments with no pause at all.

Every generator is endless and driven by its own ``random.Random``: the same seed gives the
same pattern.
"""

from __future__ import annotations

import random

PATTERNS = ("iid", "iidb", "bursty", "stop", "mixed")


def iid(rng: random.Random, prob: float):
    while True:
        yield prob > 0 and rng.random() < prob


def bursty(rng: random.Random, on=(1, 40), off=(10, 300)):
    while True:
        for _ in range(rng.randint(*on)):
            yield False
        for _ in range(rng.randint(*off)):
            yield True


def stops(rng: random.Random, length: int, between=(50, 400), prob=0.2):
    while True:
        for _ in range(length):
            yield True
        for _ in range(rng.randint(*between)):
            yield rng.random() < prob


def mixed(rng: random.Random, fifo_depth: int = 16):
    while True:
        kind = rng.choice(("stop", "iid", "bursty", "free"))
        if kind == "stop":
            for _ in range(4 * fifo_depth + rng.randint(0, 2 * fifo_depth)):
                yield True
        elif kind == "iid":
            p = rng.uniform(0.1, 0.9)
            for _ in range(rng.randint(20, 400)):
                yield rng.random() < p
        elif kind == "bursty":
            for _ in range(rng.randint(2, 6)):
                for _ in range(rng.randint(1, 40)):
                    yield False
                for _ in range(rng.randint(10, 300)):
                    yield True
        else:
            for _ in range(rng.randint(10, 200)):
                yield False


def iid_bursts(rng: random.Random, prob: float, fifo_depth: int = 16):
    """i.i.d. pauses at ``prob`` for 200-2,000 cycles, then a full stop of four times
    ``fifo_depth`` or 1-3 on/off periods (stalls of 10-300 cycles), and again: mostly the
    i.i.d. stimulus, with the long stalls a streaming block must also survive."""
    while True:
        for _ in range(rng.randint(200, 2000)):
            yield prob > 0 and rng.random() < prob
        if rng.random() < 0.5:
            for _ in range(4 * fifo_depth):
                yield True
        else:
            for _ in range(rng.randint(1, 3)):
                for _ in range(rng.randint(1, 40)):
                    yield False
                for _ in range(rng.randint(10, 300)):
                    yield True


def make(spec: str, rng: random.Random, fifo_depth: int = 16):
    """A pause generator from a pattern name: ``iid:0.3``, ``bursty``, ``stop:64``,
    ``mixed``."""
    name, _, arg = spec.partition(":")
    if name == "iid":
        return iid(rng, float(arg or 0.3))
    if name == "bursty":
        return bursty(rng)
    if name == "iidb":
        return iid_bursts(rng, float(arg or 0.3), fifo_depth)
    if name == "stop":
        return stops(rng, int(arg or 4 * fifo_depth))
    if name == "mixed":
        return mixed(rng, fifo_depth)
    raise ValueError(f"unknown stress pattern {spec!r}; choose from iid:P, iidb:P, bursty, "
                     "stop:N, mixed")
