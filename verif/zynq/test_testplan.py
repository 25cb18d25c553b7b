"""The Zynq testplan names only cover items that exist (tests and pytest functions are checked
both ways in verif/common/test_testplan.py)."""

from pathlib import Path

import yaml

from fpga.boards import SYSTEMS
from verif.zynq.coverage import dma_bins, irq_bin, irq_bins

HERE = Path(__file__).parent


def test_testplan_refers_to_existing_items():
    plan = yaml.safe_load((HERE / "testplan.yml").read_text())
    src = "".join(p.read_text() for p in HERE.glob("cocotb_*.py"))
    dma_items = {f"sys.{key}.dma" for key in SYSTEMS}  # verif/zynq/coverage.py dma_cover
    assert plan["testpoints"], "empty testplan"
    for tp in plan["testpoints"]:
        assert tp["desc"].strip() and tp["stage"] in {"V1", "V2", "V3"}
        for cg in tp.get("covergroups", []):
            assert f'"{cg}"' in src or cg in dma_items, f"{tp['name']}: no cover item {cg}"


def test_cover_item_bins_follow_the_manifests_and_the_register_fields():
    # the DMA channels of each system are its manifest's
    assert dma_bins(SYSTEMS["cnn"]) == ["dma_xy.mm2s", "dma_xy.s2mm", "dma_w.mm2s"]
    assert dma_bins(SYSTEMS["sbs"]) == ["dma_h.mm2s", "dma_h.s2mm", "dma_w.mm2s", "dma_s.mm2s"]
    events = {"DONE": 1, "ERROR": 2}
    assert irq_bin(0, 0, 0, events) == "none en=none irq=0"
    assert irq_bin(3, 2, 1, events) == "DONE|ERROR en=ERROR irq=1"
    bins = irq_bins("DONE")
    assert len(bins) == len(set(bins)) == 6 and "DONE|ERROR en=ERROR irq=1" in bins
    assert "ERROR en=ERROR irq=1" in irq_bins("IDLE", error_ends_run=False)
    # every bin is a state the pin must show: irq = status & enable != 0
    for b in bins + irq_bins("IDLE", error_ends_run=False):
        status, enable, level = b.split(" ")
        set_ = {e for e in status.split("|") if e != "none"}
        on = {e for e in enable[3:].split("|") if e != "none"}
        assert level == f"irq={int(bool(set_ & on))}", b
