"""Check a block-design script without Vivado: run it in ``tclsh`` against the stub of the
Vivado commands (fpga/vivado_stub.tcl) and check what it recorded.

    python -m fpga.bdcheck [FOLDER...]     # default: every fpga/<system>_<board>/

Checks: every module reference is a Vivado-ready top of cores/zynq and every pin and interface
the script names exists on it (read from its Verilog, interfaces from its X_INTERFACE_INFO
attributes) with the right width - the DMA stream widths equal the top's TDATA widths -, every
port of the top is connected, the Xilinx IP pins and interfaces exist for the configuration
set (a DMA channel that is not included, a SmartConnect port beyond NUM_SI / NUM_MI, a
concat input beyond NUM_PORTS), one clock (FCLK_CLK0 at the top's FREQ_HZ), the resets from
proc_sys_reset, the interrupts into IRQ_F2P, the address map (every control port and DMA
master mapped, no overlap) and the processing system's board preset.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fpga.generate import FPGA_DIR, top_ports

STUB = FPGA_DIR / "vivado_stub.tcl"

# Xilinx IP as the scripts use it: plain pins (name -> width) and interfaces
PS7_PINS = {"FCLK_CLK0": 1, "FCLK_RESET0_N": 1, "M_AXI_GP0_ACLK": 1, "S_AXI_HP0_ACLK": 1}
PS7_INTF = {"DDR": None, "FIXED_IO": None, "M_AXI_GP0": "PCW_USE_M_AXI_GP0",
            "S_AXI_HP0": "PCW_USE_S_AXI_HP0"}
DMA_PINS = {"s_axi_lite_aclk": None, "m_axi_mm2s_aclk": "mm2s", "m_axi_s2mm_aclk": "s2mm",
            "axi_resetn": None, "mm2s_introut": "mm2s", "s2mm_introut": "s2mm"}
DMA_INTF = {"S_AXI_LITE": None, "M_AXI_MM2S": "mm2s", "M_AXIS_MM2S": "mm2s",
            "M_AXI_S2MM": "s2mm", "S_AXIS_S2MM": "s2mm"}
RST_PINS = {"slowest_sync_clk", "ext_reset_in", "peripheral_aresetn", "interconnect_aresetn"}
IRQ_F2P_LINES = 16


@dataclass
class Record:
    cells: dict = field(default_factory=dict)  # name -> (kind, vlnv or module)
    props: dict = field(default_factory=dict)  # object -> {key: value}
    ports: dict = field(default_factory=dict)  # name -> (kind, dir or vlnv)
    intf_nets: list = field(default_factory=list)  # (net, a, b)
    nets: list = field(default_factory=list)  # (net, [pins])
    addrs: list = field(default_factory=list)  # (space, segment, offset, range)
    automation: list = field(default_factory=list)
    steps: list = field(default_factory=list)


def parse(text: str) -> Record:
    r = Record()
    for line in text.splitlines():
        f = line.split("\t")
        kind = f[0]
        if kind == "CELL":
            r.cells[f[3]] = (f[1], f[2])
        elif kind == "PROP":
            r.props.setdefault(f[1], {})[f[2]] = f[3]
        elif kind == "PORT":
            r.ports[f[2]] = (f[1], f[3])
        elif kind == "INTF_NET":
            r.intf_nets.append((f[1], f[2], f[3]))
        elif kind == "NET":
            r.nets.append((f[1], f[2:]))
        elif kind == "ADDR":
            r.addrs.append((f[1], f[2], int(f[3], 0), int(f[4], 0)))
        elif kind == "AUTOMATION":
            r.automation.append((f[1], f[2], f[3]))
        elif kind == "STEP":
            r.steps.append(f[1])
        else:
            raise ValueError(f"unknown record line: {line!r}")
    return r


def run_stub(script: Path, board_part: str = "") -> Record:
    """Source ``script`` in tclsh with the stub; the record (raises on a Tcl error)."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise RuntimeError("tclsh not found (apt-get install tcl)")
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "record.tsv"
        proc = subprocess.run([tclsh, str(STUB), str(rec), board_part, str(script)],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"tclsh {script.name}: {proc.stderr.strip()}")
        return parse(rec.read_text())


def _module_tops() -> dict:
    """Module name -> parsed ports of every Vivado-ready top of cores/zynq."""
    from cores.zynq.generate import TOPS, ZYNQ_DIR  # noqa: PLC0415

    out = {}
    for key, t in TOPS.items():
        path = ZYNQ_DIR / key / "rtl" / f"{t['top']}.v"
        if path.exists():
            out[t["top"]] = top_ports(path.read_text(), t["top"])
    return out


def check(r: Record, board_part: str = "", tops: dict | None = None) -> list[str]:
    """Problems of a recorded block design ([] when it is consistent)."""
    tops = _module_tops() if tops is None else tops
    problems: list[str] = []
    err = problems.append

    def cfg(cell, key, default=None):
        return r.props.get(f"cell:{cell}", {}).get(f"CONFIG.{key}", default)

    def ip_kind(cell):
        kind, what = r.cells[cell]
        return what.split(":")[2] if kind == "ip" else "module"

    # -- pins and interfaces exist, with widths
    width: dict[str, int | None] = {}

    def pin(name: str, intf: bool) -> None:
        if name.startswith("/"):
            if name[1:] not in r.ports:
                err(f"{name}: no such external port")
            width[name] = 1
            return
        cell, _, p = name.partition("/")
        if cell not in r.cells:
            err(f"{name}: no cell {cell}")
            return
        k = ip_kind(cell)
        if k == "module":
            top = tops.get(r.cells[cell][1])
            if top is None:
                err(f"{cell}: module {r.cells[cell][1]} is not a top of cores/zynq")
                return
            if intf:
                if p not in top["intf"]:
                    err(f"{name}: {r.cells[cell][1]} has no interface {p} "
                        f"(has {', '.join(sorted(top['intf']))})")
            elif p not in top["ports"]:
                err(f"{name}: {r.cells[cell][1]} has no port {p}")
            else:
                width[name] = top["ports"][p][1]
            return
        ok = True
        if k == "processing_system7":
            if intf:
                ok = p in PS7_INTF and (PS7_INTF[p] is None or cfg(cell, PS7_INTF[p]) == "1")
            else:
                ok = p in PS7_PINS or p == "IRQ_F2P" and cfg(cell, "PCW_USE_FABRIC_INTERRUPT") \
                    == "1" and cfg(cell, "PCW_IRQ_F2P_INTR") == "1"
        elif k == "axi_dma":
            table = DMA_INTF if intf else DMA_PINS
            need = table.get(p, "missing")
            ok = need is None or need in ("mm2s", "s2mm") and \
                cfg(cell, f"c_include_{need}") == "1"
            if cfg(cell, "c_include_sg") != "0":
                err(f"{cell}: not in simple mode (c_include_sg must be 0)")
        elif k == "smartconnect":
            m = re.fullmatch(r"([SM])(\d\d)_AXI", p)
            if intf and m:
                n = int(cfg(cell, "NUM_SI" if m.group(1) == "S" else "NUM_MI", "1"))
                ok = int(m.group(2)) < n
            else:
                ok = not intf and p in ("aclk", "aresetn")
        elif k == "proc_sys_reset":
            ok = not intf and p in RST_PINS
        elif k == "xlconcat":
            m = re.fullmatch(r"In(\d+)", p)
            n = int(cfg(cell, "NUM_PORTS", "2"))
            ok = not intf and (p == "dout" or m is not None and int(m.group(1)) < n)
            if m:
                width[name] = 1
        else:
            ok = False
        if not ok:
            err(f"{name}: no such {'interface' if intf else 'pin'} on {cell} "
                f"({r.cells[cell][1]} as configured)")

    used_intf: dict[str, str] = {}
    for net, a, b in r.intf_nets:
        for x in (a, b):
            pin(x, True)
            if x in used_intf:
                err(f"{x}: connected twice ({used_intf[x]}, {net})")
            used_intf[x] = net
    used_pin: dict[str, str] = {}
    for net, pins in r.nets:
        for x in pins:
            pin(x, False)
            if x in used_pin:
                err(f"{x}: on two nets ({used_pin[x]}, {net})")
            used_pin[x] = net
        ws = {width[x] for x in pins if width.get(x) is not None}
        if len(ws) > 1:
            err(f"net {net}: pins of different widths {sorted(ws)}")
    net_of = used_pin

    # -- the accelerator tops: every interface and port connected; streams as wide as the DMA
    for cell, (kind, module) in r.cells.items():
        if kind != "module" or module not in tops:
            continue
        top = tops[module]
        for bus, info in top["intf"].items():
            if f"{cell}/{bus}" not in used_intf:
                err(f"{cell}/{bus}: interface not connected")
            if info["kind"] == "axis":
                w = top["ports"][info["signals"]["TDATA"]][1]
                if w < 8 or w & (w - 1) or w > 1024:
                    err(f"{cell}/{bus}: TDATA {w} bits is not a power of two in 8..1024")
        in_intf = {p for info in top["intf"].values() for p in info["signals"].values()}
        for p in top["ports"]:
            if p not in in_intf and f"{cell}/{p}" not in used_pin:
                err(f"{cell}/{p}: port not connected")
    for net, a, b in r.intf_nets:
        for dma_pin, mod_pin in ((a, b), (b, a)):
            dcell, _, dp = dma_pin.partition("/")
            mcell, _, mp = mod_pin.partition("/")
            if dcell in r.cells and mcell in r.cells and ip_kind(dcell) == "axi_dma" and \
                    ip_kind(mcell) == "module" and r.cells[mcell][1] in tops:
                top = tops[r.cells[mcell][1]]
                if mp not in top["intf"]:
                    continue
                key = {"M_AXIS_MM2S": "c_m_axis_mm2s_tdata_width",
                       "S_AXIS_S2MM": "c_s_axis_s2mm_tdata_width"}.get(dp)
                if key is None:
                    continue
                want = top["ports"][top["intf"][mp]["signals"]["TDATA"]][1]
                got = int(cfg(dcell, key, "32"))
                if got != want:
                    err(f"{net}: {dcell} {key} = {got}, {mod_pin} TDATA is {want} bits")

    # -- clock, resets, interrupts
    ps = [c for c in r.cells if ip_kind(c) == "processing_system7"]
    if len(ps) != 1:
        err(f"expected one processing_system7, found {len(ps)}")
        return problems
    ps = ps[0]
    clk_net = net_of.get(f"{ps}/FCLK_CLK0")
    rst = [c for c in r.cells if ip_kind(c) == "proc_sys_reset"]
    if len(rst) != 1:
        err(f"expected one proc_sys_reset, found {len(rst)}")
        return problems
    rst = rst[0]
    if net_of.get(f"{rst}/slowest_sync_clk") != clk_net:
        err("proc_sys_reset is not clocked by FCLK_CLK0")
    if net_of.get(f"{rst}/ext_reset_in") != net_of.get(f"{ps}/FCLK_RESET0_N"):
        err("proc_sys_reset ext_reset_in is not FCLK_RESET0_N")
    fclk = float(cfg(ps, "PCW_FPGA0_PERIPHERAL_FREQMHZ", "0"))
    for cell, (kind, module) in r.cells.items():
        if kind == "module" and module in tops:
            if net_of.get(f"{cell}/aclk") != clk_net:
                err(f"{cell}/aclk is not on FCLK_CLK0")
            if net_of.get(f"{cell}/aresetn") != net_of.get(f"{rst}/peripheral_aresetn"):
                err(f"{cell}/aresetn is not proc_sys_reset's peripheral_aresetn")
            m = re.search(r"FREQ_HZ (\d+)", _aclk_param(module))
            if m and abs(int(m.group(1)) - fclk * 1e6) > 1:
                err(f"{cell}: aclk FREQ_HZ {m.group(1)}, FCLK_CLK0 {fclk} MHz")
        k = ip_kind(cell)
        clocks = {"axi_dma": [p for p, need in DMA_PINS.items() if p.endswith("aclk") and
                              (need is None or cfg(cell, f"c_include_{need}") == "1")],
                  "smartconnect": ["aclk"]}.get(k, [])
        for p in clocks:
            if net_of.get(f"{cell}/{p}") != clk_net:
                err(f"{cell}/{p} is not on FCLK_CLK0")
        if k == "axi_dma" and net_of.get(f"{cell}/axi_resetn") != \
                net_of.get(f"{rst}/peripheral_aresetn"):
            err(f"{cell}/axi_resetn is not peripheral_aresetn")
        if k == "smartconnect" and net_of.get(f"{cell}/aresetn") != \
                net_of.get(f"{rst}/interconnect_aresetn"):
            err(f"{cell}/aresetn is not interconnect_aresetn")
    for p in ("M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK"):
        if net_of.get(f"{ps}/{p}") != clk_net:
            err(f"{ps}/{p} is not on FCLK_CLK0")
    concat = [c for c in r.cells if ip_kind(c) == "xlconcat"]
    if len(concat) != 1:
        err(f"expected one xlconcat for IRQ_F2P, found {len(concat)}")
    else:
        c = concat[0]
        n = int(cfg(c, "NUM_PORTS", "2"))
        if n > IRQ_F2P_LINES:
            err(f"{n} interrupts, IRQ_F2P has {IRQ_F2P_LINES}")
        for i in range(n):
            if f"{c}/In{i}" not in net_of:
                err(f"{c}/In{i} not connected")
        if net_of.get(f"{c}/dout") is None or net_of.get(f"{c}/dout") != \
                net_of.get(f"{ps}/IRQ_F2P"):
            err("the interrupt concat does not drive IRQ_F2P")
        irq_sources = [x for x in net_of if x.endswith("/irq") or x.endswith("_introut")]
        for x in irq_sources:
            net = net_of[x]
            if not any(net_of.get(f"{c}/In{i}") == net for i in range(n)):
                err(f"{x}: interrupt not into IRQ_F2P")

    # -- addresses
    gp0 = []
    for space, seg, off, rng in r.addrs:
        if rng & (rng - 1) or off % rng:
            err(f"{seg}: range 0x{rng:x} at 0x{off:x} is not an aligned power of two")
        if space == f"{ps}/Data":
            if not 0x4000_0000 <= off < 0x8000_0000:
                err(f"{seg}: 0x{off:x} outside the GP0 window")
            gp0.append((off, off + rng, seg))
    gp0.sort()
    for (_, a1, s0), (b0, _, s1) in zip(gp0, gp0[1:], strict=False):
        if b0 < a1:
            err(f"address overlap: {s0} and {s1}")
    mapped = {seg.rsplit("/", 1)[0] for _, seg, _, _ in r.addrs}
    spaces = {space for space, _, _, _ in r.addrs}
    for cell, (kind, _) in r.cells.items():
        if kind == "module" and f"{cell}/S_AXI" not in mapped:
            err(f"{cell}/S_AXI has no address")
        if ip_kind(cell) == "axi_dma":
            if f"{cell}/S_AXI_LITE" not in mapped:
                err(f"{cell}/S_AXI_LITE has no address")
            for ch in ("mm2s", "s2mm"):
                if cfg(cell, f"c_include_{ch}") == "1" and \
                        f"{cell}/Data_{ch.upper()}" not in spaces:
                    err(f"{cell}: {ch.upper()} master has no DDR mapping")

    # -- board preset and steps
    preset = any("apply_board_preset \"1\"" in c for _, c, _ in r.automation)
    if board_part and not preset:
        err("board part given but the board preset is not applied")
    if not board_part and cfg(ps, "PCW_UIPARAM_DDR_PARTNO") is None:
        err("no board part and no DDR configuration of the processing system")
    for s in ("validate_bd_design", "save_bd_design", "make_wrapper", "add_files"):
        if s not in r.steps:
            err(f"the script does not call {s}")
    if "STEPS.WRITE_BITSTREAM.TCL.POST" not in r.props.get("run:impl_1", {}):
        err("no post-bitstream hook for the PYNQ overlay files")
    return problems


def _aclk_param(module: str) -> str:
    from cores.zynq.generate import TOPS, ZYNQ_DIR  # noqa: PLC0415

    for key, t in TOPS.items():
        if t["top"] == module:
            text = (ZYNQ_DIR / key / "rtl" / f"{module}.v").read_text()
            m = re.search(r'X_INTERFACE_PARAMETER = "(ASSOCIATED_BUSIF[^"]*)"', text)
            return m.group(1) if m else ""
    return ""


def check_folder(folder: Path) -> list[str]:
    """Run and check the block-design script of a board-target folder."""
    import yaml  # noqa: PLC0415

    core = next(Path(folder).glob("*.core"))
    opts = yaml.safe_load(core.read_text())["targets"]["vivado"]["flow_options"]
    board_part = opts.get("board_part", "")
    script = next(Path(folder).glob("*_bd.tcl"))
    return check(run_stub(script, board_part), board_part)


def main(argv=None) -> int:
    folders = [Path(a) for a in (argv if argv is not None else sys.argv[1:])] or sorted(
        p.parent for p in FPGA_DIR.glob("*/*_bd.tcl"))
    bad = 0
    for f in folders:
        problems = check_folder(f)
        bad += bool(problems)
        print(f"{f.name}: " + ("ok" if not problems else f"{len(problems)} problems"))
        for p in problems:
            print(f"  {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
