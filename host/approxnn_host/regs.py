"""The register models of the accelerators, generated from their SystemRDL descriptions.

In the repository they come from ``cores.common.regmap`` (``cores/*/*/regs/<block>.json``). On a
board, copy ``cores/common/regmap.py`` and the block's ``<block>.json`` into this package's
folder (see fpga/README.md): the same model is then read from there.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_regmap(block: str, path: str | Path | None = None):
    """The :class:`RegisterMap` of ``block``: from ``path``, from the repository, or from
    ``<block>.json`` beside this module."""
    try:
        from cores.common import regmap  # noqa: PLC0415 - in the repository
    except ImportError:
        from . import regmap  # noqa: PLC0415 - the copy on a board
    if path is None and (HERE / f"{block}.json").exists():
        path = HERE / f"{block}.json"
    if path is not None:
        return regmap.from_dict(json.loads(Path(path).read_text()))
    return regmap.load(block)
