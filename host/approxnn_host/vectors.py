"""Test vectors for a board: layers with the golden model's outputs, in one ``.npz`` file.

    python -m approxnn_host.vectors OUT.npz [--layers N] [--seed S]   # in the repository
    python3 -m approxnn_host.selftest approxnn_cnn.bit OUT.npz               # on the board

Written in the repository (the golden model ``refmodels.cnn`` is there), read on the board by
:mod:`approxnn_host.selftest`, which needs only numpy and pynq. The file holds, per layer
``L<i>_``, the scalar fields of the layer description, its arrays and ``y`` the expected int8
output (no pickles).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

SCALARS = ("h", "w", "c", "oc", "fh", "fw", "sy", "sx", "pt", "pl", "oh", "ow", "zp_in",
           "zp_out", "act_min", "act_max", "mode", "depthwise")
ARRAYS = ("x", "wt", "bias", "mult", "shift")


def save(path, layers, outputs) -> None:
    data = {"count": np.array(len(layers))}
    for i, (lay, y) in enumerate(zip(layers, outputs, strict=True)):
        for k in SCALARS:
            data[f"L{i}_{k}"] = np.array(int(getattr(lay, k)))
        for k in ARRAYS:
            v = getattr(lay, k)
            data[f"L{i}_{k}"] = np.zeros(0, np.int64) if v is None else np.asarray(v, np.int64)
        data[f"L{i}_y"] = np.asarray(y, np.int64)
    tmp = Path(str(path) + ".part.npz")
    np.savez(tmp, **data)
    tmp.replace(path)


def load(path) -> list[tuple[SimpleNamespace, np.ndarray]]:
    with np.load(path, allow_pickle=False) as f:
        out = []
        for i in range(int(f["count"])):
            lay = SimpleNamespace(**{k: int(f[f"L{i}_{k}"]) for k in SCALARS})
            lay.depthwise = bool(lay.depthwise)
            for k in ARRAYS:
                v = f[f"L{i}_{k}"]
                setattr(lay, k, None if v.size == 0 else v)
            out.append((lay, f[f"L{i}_y"]))
    return out


def make(count: int, seed: int):
    """``count`` layers of the kinds in turn and the golden model's outputs (repository only:
    the layer generator and the golden model of the engine's testbench)."""
    from verif.cnn.engine.layers import golden, make_layer  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    kinds = [("conv_same", (8, 8, 3, 6, 3, 3, 1, 1, "SAME"), {}),
             ("depthwise_dm", (6, 6, 2, 4, 3, 3, 1, 1, "SAME"), {"dm": 2}),
             ("fc", (1, 1, 64, 10, 1, 1, 1, 1, "VALID"), {}),
             ("maxpool", (8, 8, 4, 4, 2, 2, 2, 2, "VALID"), {})]
    layers = []
    for i in range(count):
        kind, args, kw = kinds[i % len(kinds)]
        layers.append(make_layer(rng, kind, *args, **kw))
    return layers, [golden(lay, None) for lay in layers]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m approxnn_host.vectors",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.layers < 1:
        print("vectors: --layers must be at least 1", file=sys.stderr)
        return 2
    layers, outputs = make(args.layers, args.seed)
    save(args.out, layers, outputs)
    print(f"wrote {args.out}: {len(layers)} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
