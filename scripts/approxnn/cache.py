"""Result cache of the characterisation, keyed by the digest of the Verilog netlist.

Simulated outputs and Yosys cost figures depend only on the Verilog text, the module, the
stimulus and the tool flow, so they are stored under a SHA-256 digest of exactly those (plus a
digest of the simulation and synthesis code, so that a change there invalidates everything).
Error metrics and the comparison with the golden model are always recomputed from the cached
outputs: a changed golden model is never hidden by the cache.

Location: ``$APPROXNN_CACHE`` if set, else ``~/.cache/approxnn``; ``APPROXNN_CACHE=off``
disables it. Entries are written atomically (temporary file and rename); a damaged entry is
ignored and recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "digest", "load_json", "store_json", "load_array", "store_array"]

_CODE_FILES = ("eda/rtlsim.py", "eda/synth.py")  # the tools whose figures are cached


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off."""
    env = os.environ.get("APPROXNN_CACHE")
    if env is not None and env.strip().lower() in ("off", "0", "none", ""):
        return None
    if env:
        return Path(env)
    return Path.home() / ".cache" / "approxnn"


def _code_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def digest(kind: str, files, **fields) -> str:
    """SHA-256 of ``kind``, the contents of ``files`` and the given fields (JSON)."""
    h = hashlib.sha256(kind.encode())
    h.update(_code_digest().encode())
    for f in files:
        data = Path(f).read_bytes()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    h.update(json.dumps(fields, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _path(key: str, suffix: str) -> Path | None:
    root = cache_dir()
    if root is None:
        return None
    return root / key[:2] / f"{key}{suffix}"


def _store(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # a cache that cannot be written only costs time


def load_json(key: str) -> dict | None:
    path = _path(key, ".json")
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def store_json(key: str, value: dict) -> None:
    path = _path(key, ".json")
    if path is not None:
        _store(path, json.dumps(value, sort_keys=True).encode())


def load_array(key: str) -> dict | None:
    path = _path(key, ".npz")
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError):
        return None


def store_array(key: str, **arrays) -> None:
    path = _path(key, ".npz")
    if path is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        _store(path, buf.getvalue())
