"""Interface record of the FuseSoC cores, so that a changed port list or register map cannot go
in without a version bump (the policy: docs/architecture.md, "FuseSoC cores and versions").

    python -m cores.common.versions            # compare; exit 1 and say what to do
    python -m cores.common.versions --update   # record the current versions and interfaces

The interface of a core is the port list (direction, width, name) of every module of its
``rtl`` fileset, read from the committed Verilog, and its register map (address, name,
access) where the block has one. ``cores/interfaces.json`` records, per core, the version and a
digest of that interface. When the digest differs while the version is the recorded one, the
check fails: bump the version in the block's manifest (``cores/*/*/manifest.toml``; an
arithmetic unit's sits in ``cores/arith/family.manifest.toml`` unless the unit sets its own)
(major for an incompatible change, minor for an addition), regenerate, and record with
``--update``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import yaml

CORES_DIR = Path(__file__).resolve().parent.parent
RECORD = CORES_DIR / "interfaces.json"

#: register maps: core -> its block in cores.common.regmap (generated from SystemRDL)
REGISTER_MAPS = {
    "approxnn:cnn:engine": "cnn_engine",
    "approxnn:sbs:update": "sbs_update",
    "approxnn:sbs:layer": "sbs_layer",
    "approxnn:sbs:spikegen": "sbs_spikegen",
}

_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(signed\s+)?"
                   r"(\[[^\]]+\]\s*)?(\w+)\s*;", re.M)


def ports(verilog: str) -> list[str]:
    """``direction [signed] [width] name`` of every port declaration, in file order."""
    return [" ".join(filter(None, (d, (s or "").strip(), (w or "").strip(), n)))
            for d, s, w, n in _PORT.findall(verilog)]


def registers(core: str) -> list[str]:
    if core not in REGISTER_MAPS:
        return []
    from cores.common import regmap  # noqa: PLC0415

    return [f"{r.offset:#06x} {r.name}[{r.count}] {r.access} "
            + ",".join(f"{f.name}:{f.lsb}:{f.width}:{f.access}" for f in r.fields)
            for r in regmap.load(REGISTER_MAPS[core])]


def cores() -> dict[str, dict]:
    """Every core with RTL: name -> {"version", "file"}."""
    out = {}
    for path in sorted(CORES_DIR.rglob("*.core")):
        data = yaml.safe_load(path.read_text())
        if "rtl" not in data.get("filesets", {}):
            continue
        name, version = data["name"].rsplit(":", 1)
        out[name] = {"version": version, "file": path, "rtl": data["filesets"]["rtl"]["files"]}
    return out


def interface(core: str, info: dict) -> list[str]:
    lines = []
    for rel in info["rtl"]:
        lines.append(f"module {Path(rel).stem}")
        lines += ports((info["file"].parent / rel).read_text())
    return lines + registers(core)


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def current() -> dict[str, dict]:
    return {name: {"version": info["version"], "interface": digest(interface(name, info))}
            for name, info in cores().items()}


def problems(record: dict | None = None) -> list[str]:
    """What differs between the record and the cores, as one line each."""
    if record is None:
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    now = current()
    out = []
    for name, cur in now.items():
        old = record.get(name)
        if old is None:
            out.append(f"{name}: not recorded (new core): record it with "
                       "`python -m cores.common.versions --update`")
        elif old["interface"] != cur["interface"] and old["version"] == cur["version"]:
            out.append(f"{name}: ports or register map changed but the version is still "
                       f"{cur['version']}: bump it (major: incompatible, minor: an addition) in "
                       "its manifest (cores/<family>/<block>/manifest.toml), regenerate, then "
                       "`python -m cores.common.versions --update`")
        elif old != cur:
            out.append(f"{name}: version {old['version']} -> {cur['version']} not recorded: "
                       "`python -m cores.common.versions --update`")
    out += [f"{name}: recorded but gone" for name in record if name not in now]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cores.common.versions",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="record versions and interfaces")
    args = ap.parse_args(argv)
    if args.update:
        RECORD.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
        print(f"recorded {RECORD}")
        return 0
    found = problems()
    for line in found:
        print(line)
    if not found:
        print("every core's version matches its recorded interface")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
