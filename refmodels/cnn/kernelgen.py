"""Writes ``refmodels/cnn/_blocks.py``: the register-blocked inner kernels of the compiled int8
path (``refmodels.cnn.fast``), one function per (kind, lanes, positions).

    python -m refmodels.cnn.kernelgen [--check]

A block computes the accumulators of ``P`` output positions (consecutive output columns of one
conv row, or ``P`` images of a dense layer) for ``C`` consecutive output channels, for every
such group of positions of the layer in turn (one call per channel block: a call between
compiled functions costs about as much as a short block). Its
``P * C`` accumulators are plain local variables, so the compiler keeps them in vector
registers for the whole sum over the taps (numba cannot place a small array in registers, and a
loop over an array of accumulators stores and reloads it for every tap: about 6x slower on
LeNet's first conv layer).
Writing ``P * C`` statements by hand would be error-prone, hence this generator; the generated
module is committed (numba caches compiled code per source file) and
``refmodels/cnn/test_fast.py`` fails when it differs from what this script writes.

Kinds (``xf``: the input of one image (or of ``P`` images, dense) as a flat buffer padded with
the neutral value, ``bw`` its row width, ``ci`` its channels; tap ``k = (ky fw + kx) ci + i``):

* ``mac``: exact products, ``acc[p, c] = base[p, c] + sum_k xf[pos(p, k)] * wf[k, c]`` with
  ``xf = x - zero_point`` (float: every partial sum is an integer below 2**24 / 2**53, exact in
  any order);
* ``lut``: table products, ``acc[p, c] = base[p, c] + sum_k wf[k, x + 128, c]`` with
  ``wf`` the (K, 256, cp) product rows and ``xf = (x + 128) cp``, the offset of the row in its
  tap's table (integer accumulators, the type of ``base``).

``oh`` rows of ``owp`` positions (a multiple of ``P``), ``acc[(oy owp + ox) cp + c]``; ``cp``:
the padded channel count (row length of ``wf`` and of ``acc``), ``cb``: the first channel of
the block, ``bst``: the position stride of ``base`` (0: one base row for every position).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

OUT = Path(__file__).with_name("_blocks.py")
POSITIONS = 8  # positions P of every block
SHAPES = ((16, POSITIONS), (8, POSITIONS))  # (lanes C, positions P), widest first


def block(kind: str, lanes: int, pos: int) -> list[str]:
    """Source lines of one block function: every position block of the layer (``oh`` rows of
    ``owp`` positions) for the ``lanes`` channels from ``cb``."""
    if kind not in ("mac", "lut"):
        raise ValueError(f"unknown block kind {kind!r}")
    name = f"{kind}{lanes}x{pos}"
    doc = ("exact products" if kind == "mac" else "table products") + \
        f", {pos} positions x {lanes} channels at a time"
    acc = [[f"a{p}_{c}" for c in range(lanes)] for p in range(pos)]
    lines = ["", "", "@njit(cache=True, fastmath={'contract'})",
             f"def {name}(xf, bw, ci, sh, sw, fh, fw, oh, owp, wf, cp, cb, accf, basef, bst):",
             f'    """{doc} (module docstring)."""',
             *(["    ty = basef.dtype.type"] if kind == "lut" else []),
             "    step = np.uint64(sw * ci)",
             "    ucp = np.uint64(cp)",
             "    for oy in range(oh):",
             f"        for ox0 in range(0, owp, {pos}):",
             "            at = oy * owp + ox0",
             "            a0 = np.uint64(at * cp + cb)"]
    ind = " " * 12
    for p in range(pos):
        lines.append(f"{ind}q{p} = np.uint64((at + {p}) * bst + cb)")
        for c in range(lanes):
            lines.append(f"{ind}{acc[p][c]} = basef[q{p} + np.uint64({c})]")
    # the taps (kx, i) of one filter row are consecutive in the image buffer and in the
    # weights: one loop over them
    lines += [f"{ind}for ky in range(fh):",
              f"{ind}    xo = np.uint64(((oy * sh + ky) * bw + ox0 * sw) * ci)",
              f"{ind}    wo = np.uint64((ky * fw * ci * " + ("1" if kind == "mac" else "256")
              + ") * cp + cb)",
              f"{ind}    for _ in range(fw * ci):"]
    ind2 = ind + " " * 8
    if kind == "mac":
        for c in range(lanes):
            lines.append(f"{ind2}w{c} = wf[wo + np.uint64({c})]")
        for p in range(pos):
            lines.append(f"{ind2}x{p} = xf[xo + np.uint64({p}) * step]")
            for c in range(lanes):
                lines.append(f"{ind2}{acc[p][c]} += x{p} * w{c}")
        lines.append(f"{ind2}wo += ucp")
    else:
        for p in range(pos):
            lines.append(f"{ind2}r{p} = wo + np.uint64(xf[xo + np.uint64({p}) * step])")
            for c in range(lanes):
                lines.append(f"{ind2}{acc[p][c]} = ty({acc[p][c]} + wf[r{p} + np.uint64({c})])")
        lines.append(f"{ind2}wo += np.uint64(256) * ucp")
    lines.append(f"{ind2}xo += np.uint64(1)")
    for p in range(pos):
        lines.append(f"{ind}o{p} = a0 + np.uint64({p}) * ucp")
        for c in range(lanes):
            lines.append(f"{ind}accf[o{p} + np.uint64({c})] = {acc[p][c]}")
    return lines


def layer(kind: str) -> list[str]:
    """``{kind}_layer``: every channel block of every position, the widest lane count first
    (``cp`` is a multiple of the narrowest)."""
    args = "xf, bw, ci, sh, sw, fh, fw, oh, owp, wf, cp, accf, basef, bst"
    lines = ["", "", "@njit(cache=True)", f"def {kind}_layer({args}):",
             f'    """Every accumulator of the layer ({kind} blocks)."""',
             "    cb = np.int64(0)  # not a literal: one compiled block for every call"]
    for i, (lanes, pos) in enumerate(SHAPES):
        loop = "while" if i < len(SHAPES) - 1 else "if"
        lines += [f"    {loop} cb + {lanes} <= cp:",
                  f"        {kind}{lanes}x{pos}(xf, bw, ci, sh, sw, fh, fw, oh, owp, wf, cp, cb, "
                  "accf, basef, bst)",
                  f"        cb += {lanes}"]
    return lines


def source() -> str:
    head = ['"""Register-blocked inner kernels of ``refmodels.cnn.fast``.',
            "",
            "Generated by ``python -m refmodels.cnn.kernelgen`` (see its docstring); do not "
            "edit.",
            '"""',
            "",
            "# ruff: noqa: E501, PLR0913, PLR0915",
            "import numpy as np",
            "from numba import njit",
            "",
            f"POSITIONS = {POSITIONS}  # of a block (conv: output columns; dense: images)",
            f"LANES = {tuple(c for c, _ in SHAPES)}  # channel lanes of the blocks, widest first"]
    body = []
    for kind in ("mac", "lut"):
        for lanes, pos in SHAPES:
            body += block(kind, lanes, pos)
        body += layer(kind)
    return "\n".join(head + body) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="fail if the committed module differs from the generated one")
    args = ap.parse_args(argv)
    src = source()
    if args.check:
        if not OUT.exists() or OUT.read_text() != src:
            print(f"{OUT} is out of date: run python -m refmodels.cnn.kernelgen",
                  file=sys.stderr)
            return 1
        print(f"{OUT.name} is up to date")
        return 0
    OUT.write_text(src)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
