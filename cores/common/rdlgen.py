"""Generate every register artefact from the blocks' SystemRDL descriptions.

For each block of :data:`cores.common.regmap.BLOCKS` the description ``<block>.rdl`` (beside the
block's MyHDL source) is compiled with systemrdl-compiler and turned into, in ``regs/``:

* ``<block>.json``  the register model read by :mod:`cores.common.regmap` (MyHDL decode,
  testbenches, host drivers);
* ``<block>.h``     a C header (PeakRDL-cheader) for bare-metal and Linux drivers;
* ``<block>.xml``   IP-XACT (IEEE 1685-2014, PeakRDL-ipxact) for vendor IP packaging;

and the register table between the ``<!-- regs:<block> -->`` and ``<!-- /regs:<block> -->``
markers of the block's README.

    python -m cores.common.rdlgen            # regenerate all
    python -m cores.common.rdlgen --check    # exit 1 and name every stale artefact

Only this module needs the SystemRDL tools (installed with the ``test`` extra); the generated
files are committed, so the cores and the tests read them without it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from cores.common.regmap import BLOCKS, from_dict, json_path

README_MARK = re.compile(r"(<!-- regs:(?P<block>\w+) -->\n).*?(<!-- /regs:(?P=block) -->)",
                         re.S)


def rdl_path(block: str) -> Path:
    """The .rdl holding ``block``'s addrmap (the SbS layer unit shares the update unit's)."""
    folder = BLOCKS[block]
    files = sorted(folder.glob("*.rdl"))
    if len(files) != 1:
        raise FileNotFoundError(f"{folder}: expected one .rdl file, found {len(files)}")
    return files[0]


def _access(fields) -> str:
    if any(f["access"] == "RW1C" for f in fields):
        return "RW1C"
    acc = {f["access"] for f in fields}
    if acc == {"R"}:
        return "R"
    if acc == {"W"}:
        return "W"
    return "RW"


def _field_access(f) -> str:
    from systemrdl.rdltypes import OnWriteType

    r, w = f.is_sw_readable, f.is_sw_writable
    if w and f.get_property("onwrite") == OnWriteType.woclr:
        return "RW1C"
    if r and w:
        return "RW"
    return "R" if r else "W"


def compile_block(block: str):
    """The elaborated top addrmap node of ``block``."""
    from systemrdl import RDLCompiler

    rdlc = RDLCompiler()
    rdlc.compile_file(str(rdl_path(block)))
    return rdlc.elaborate(top_def_name=block).top


def model_dict(top) -> dict:
    """The JSON register model of an elaborated addrmap."""
    regs = []
    for r in top.registers():
        fields = []
        for f in sorted(r.fields(), key=lambda f: f.lsb):
            fields.append({"name": f.inst_name, "lsb": f.lsb, "width": f.width,
                           "access": _field_access(f), "reset": f.get_property("reset"),
                           "desc": f.get_property("desc") or ""})
        reset = 0
        for f in fields:
            if f["reset"] is None:
                reset = None
                break
            reset |= f["reset"] << f["lsb"]
        entry = {"name": r.inst_name, "offset": r.raw_address_offset,
                 "access": _access(fields), "reset": reset,
                 "desc": r.get_property("desc") or r.get_property("name") or "",
                 "fields": fields}
        if r.is_array:
            (count,) = r.array_dimensions
            entry.update(count=count, stride=r.array_stride)
        regs.append(entry)
    size = 1 << (top.total_size - 1).bit_length()
    return {"block": top.inst_name, "title": top.get_property("name"),
            "desc": top.get_property("desc") or "", "size": size, "registers": regs}


def artefacts(block: str) -> dict[Path, str]:
    """Generated path -> contents, for every artefact of ``block`` (README excluded)."""
    from peakrdl_cheader.exporter import CHeaderExporter
    from peakrdl_ipxact import IPXACTExporter

    top = compile_block(block)
    out = {json_path(block): json.dumps(model_dict(top), indent=1) + "\n"}
    regs = json_path(block).parent
    with tempfile.TemporaryDirectory() as tmp:
        h = Path(tmp) / f"{block}.h"
        CHeaderExporter().export(top, str(h), generate_bitfields=False)
        out[regs / f"{block}.h"] = h.read_text()
        x = Path(tmp) / f"{block}.xml"
        IPXACTExporter(vendor="approxnn", library="approxnn", version="1.0").export(
            top, str(x), component_name=block)
        out[regs / f"{block}.xml"] = x.read_text()
    return out


def readme_update(text: str, block: str, table: str) -> str:
    """``text`` with the table of ``block`` between its markers (unchanged if none)."""
    def repl(m):
        if m.group("block") != block:
            return m.group(0)
        return f"{m.group(1)}{table}\n{m.group(3)}"

    return README_MARK.sub(repl, text)


def all_outputs() -> dict[Path, str]:
    outputs: dict[Path, str] = {}
    readmes: dict[Path, str] = {}
    for block in BLOCKS:
        arts = artefacts(block)
        outputs.update(arts)
        model = from_dict(json.loads(arts[json_path(block)]))
        readme = BLOCKS[block] / "README.md"
        text = readmes.get(readme, readme.read_text())
        if f"<!-- regs:{block} -->" not in text:
            raise RuntimeError(f"{readme}: no <!-- regs:{block} --> marker for the table")
        readmes[readme] = readme_update(text, block, model.table())
    outputs.update(readmes)
    return outputs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cores.common.rdlgen", description=__doc__
                                 .split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when a generated artefact is stale")
    args = ap.parse_args(argv)
    try:
        outputs = all_outputs()
    except ImportError as exc:
        print(f"rdlgen: {exc.name} is missing (pip install -e '.[test]')", file=sys.stderr)
        return 2
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"stale: {p} (run python -m cores.common.rdlgen)")
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(exist_ok=True)
        p.write_text(outputs[p])
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
