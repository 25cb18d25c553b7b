"""The register descriptions (SystemRDL) and everything generated from them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from cores.common import regmap
from cores.common.regmap import BLOCKS, RegMapError


def test_generated_artefacts_are_current():
    """JSON models, C headers, IP-XACT and README tables equal a fresh generation."""
    pytest.importorskip("systemrdl", reason="systemrdl-compiler is in the test extra")
    from cores.common import rdlgen

    stale = [str(p) for p, text in rdlgen.all_outputs().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, f"stale (run python -m cores.common.rdlgen): {stale}"


@pytest.mark.parametrize("block", list(BLOCKS))
def test_every_block_has_an_id_register(block):
    rm = regmap.load(block)
    ident = rm["ID"]
    assert ident.access == "R" and ident.reset is not None
    tag = ident.field("TAG").reset.to_bytes(3, "big").decode("ascii")
    assert re.fullmatch(r"[A-Z]{3}", tag), tag
    assert rm.id_value == (ident.field("TAG").reset << 8) | rm.version
    assert rm.version >= 1


@pytest.mark.parametrize("block", list(BLOCKS))
def test_registers_are_word_aligned_and_disjoint(block):
    rm = regmap.load(block)
    used = {}
    for r in rm:
        assert r.access in regmap.ACCESS, r
        for i in range(r.count):
            a = r.address(i)
            assert a % 4 == 0 and a < rm.size, (r.name, a)
            assert a not in used, f"{r.name}[{i}] overlaps {used[a]}"
            used[a] = r.name
        bits = 0
        for f in r.fields:
            assert not bits & f.mask, f"{r.name}.{f.name} overlaps another field"
            bits |= f.mask
            assert f.msb < 32


def test_field_encode_and_decode():
    rm = regmap.load("cnn_engine")
    q = rm["QUANT"]
    word = q.encode(IN_ZP=-128, OUT_ZP=5, ACT_MIN=-128, ACT_MAX=127)
    assert word == 0x7F800580
    assert q.decode(word) == {"IN_ZP": 0x80, "OUT_ZP": 5, "ACT_MIN": 0x80, "ACT_MAX": 0x7F}
    with pytest.raises(ValueError, match="does not fit 4 bits"):
        rm["FILTER"].encode(FH=16)
    with pytest.raises(RegMapError, match="no field 'XX'"):
        q.encode(XX=1)
    with pytest.raises(RegMapError, match="no register 'NOPE'"):
        rm["NOPE"]
    with pytest.raises(RegMapError, match="unknown block"):
        regmap.load("nope")
    assert rm.at(rm["BIAS"].address(5)) == (rm["BIAS"], 5)
    assert rm.at(0x3FC) == (rm["SHIFT"], 63)
    assert rm.at(0x4FC) == (rm["SCALE_HI"], 63) and rm.at(0x500) is None
    assert rm.addr_bits == 11 and rm.version == 3
    assert rm.at(rm.offset("ID") + 4) is None
    with pytest.raises(RegMapError, match="out of range"):
        rm["BIAS"].address(64)


def test_reset_values_agree_with_the_golden_model():
    from refmodels.sbs.model import HFixed

    for block in ("sbs_update", "sbs_layer"):
        assert regmap.load(block)["C1"].reset == HFixed().eps_constants(0.1)[0]


def test_layer_unit_extends_the_update_unit():
    upd, lay = regmap.load("sbs_update"), regmap.load("sbs_layer")
    for r in upd:
        if r.name == "ID":  # same tag; the layer map (with the interrupt registers) is newer
            assert lay["ID"].field("TAG") == r.field("TAG") and lay.version == upd.version + 1
            continue
        assert lay[r.name] == r
    assert {r.name for r in lay} - {r.name for r in upd} == {
        "N_IP", "N_ROWS", "CONFIG2", "IRQ_ENABLE", "IRQ_STATUS"}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
@pytest.mark.parametrize("block", list(BLOCKS))
def test_c_header_offsets_match_the_model(block, tmp_path):
    """The generated C header compiles, and its struct puts every register where the model
    (and so the RTL decode) has it."""
    rm = regmap.load(block)
    regs = regmap.json_path(block).parent
    lines = [f'#include "{block}.h"', "#include <stdio.h>", "#include <stddef.h>",
             "int main(void) {"]
    for r in rm:
        lines.append(f'  printf("{r.name} %zu\\n", offsetof({block}_t, {r.name}));')
    lines += ["  return 0;", "}"]
    (tmp_path / "t.c").write_text("\n".join(lines) + "\n")
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-I", str(regs), "-o", str(exe),
                    str(tmp_path / "t.c")], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    got = {name: int(off) for name, off in (line.split() for line in out.splitlines())}
    assert got == rm.offsets


@pytest.mark.parametrize("block", list(BLOCKS))
def test_ipxact_matches_the_model(block):
    ns = {"ipxact": "http://www.accellera.org/XMLSchema/IPXACT/1685-2014"}
    root = ET.parse(regmap.json_path(block).with_suffix(".xml")).getroot()
    found = {}
    for reg in root.iterfind(".//ipxact:register", ns):
        name = reg.find("ipxact:name", ns).text
        found[name] = int(reg.find("ipxact:addressOffset", ns).text.replace("'h", ""), 16)
    assert found == regmap.load(block).offsets


def test_json_models_are_plain_data():
    for block in BLOCKS:
        d = json.loads(regmap.json_path(block).read_text())
        assert d["block"] == block and d["size"] & (d["size"] - 1) == 0
