"""Run test vectors (approxnn_host.vectors) on the CNN engine of a board and compare.

    python3 -m approxnn_host.selftest approxnn_cnn.bit vectors.npz    # on a PYNQ board

Loads the overlay (``approxnn_cnn.bit`` with ``approxnn_cnn.hwh`` beside it), runs every layer
through :class:`approxnn_host.cnn.CnnEngine` and compares the output with the golden model's,
bit for bit; prints one line per layer (outputs, engine cycles, wall time) and exits 1 on a
difference.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .cnn import CnnEngine
from .vectors import load


def run(engine: CnnEngine, vectors, out=print) -> int:
    """Layers through ``engine``; the number of layers whose output differs."""
    bad = 0
    for i, (lay, want) in enumerate(vectors):
        t0 = time.perf_counter()
        got = engine.run_layer(lay)
        ms = 1e3 * (time.perf_counter() - t0)
        ok = np.array_equal(got, want)
        bad += not ok
        out(f"layer {i}: {len(got)} outputs {'bit-exact' if ok else 'DIFFER'}, "
            f"{engine.cycles} engine cycles, {ms:.1f} ms")
    return bad


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python3 -m approxnn_host.selftest OVERLAY.bit VECTORS.npz",
              file=sys.stderr)
        return 2
    from pynq import Overlay, allocate  # noqa: PLC0415 - on the board only

    engine = CnnEngine(Overlay(argv[0]), allocate)
    bad = run(engine, load(argv[1]))
    print("all layers bit-exact" if not bad else f"{bad} layers differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
