"""The simulation top of a board target's programmable logic: the accelerator's Vivado-ready
top with its ports passed through, plus the ``ddr_*`` AXI4 bus (64 bits, as the processing
system's HP0) on which the DMA models' AXI master and the ``AxiRam`` that stands for DDR meet
(both are cocotb models: the bus is a set of top-level signals each drives its half of)."""

from __future__ import annotations

from pathlib import Path

from fpga.generate import top_ports

#: the AXI4 signals of the DDR bus and their widths (64-bit data, 32-bit address)
DDR_BUS = {"awid": 4, "bid": 4, "arid": 4, "rid": 4,
           "awaddr": 32, "awlen": 8, "awsize": 3, "awburst": 2, "awvalid": 1, "awready": 1,
           "wdata": 64, "wstrb": 8, "wlast": 1, "wvalid": 1, "wready": 1,
           "bresp": 2, "bvalid": 1, "bready": 1,
           "araddr": 32, "arlen": 8, "arsize": 3, "arburst": 2, "arvalid": 1, "arready": 1,
           "rdata": 64, "rresp": 2, "rlast": 1, "rvalid": 1, "rready": 1}


def _rng(w):
    return f"[{w - 1}:0] " if w > 1 else ""


def sim_top_text(top: str, verilog: str) -> str:
    ports = top_ports(verilog, top)["ports"]
    names = list(ports) + [f"ddr_{s}" for s in DDR_BUS]
    lines = ["`timescale 1ns/10ps", f"module sim_{top} ({', '.join(names)});"]
    for n, (d, w) in ports.items():
        lines.append(f"{d} wire {_rng(w)}{n};")
    for s, w in DDR_BUS.items():
        lines.append(f"input wire {_rng(w)}ddr_{s};")
    lines.append(f"{top} accel ({', '.join(f'.{n}({n})' for n in ports)});")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def write_sim_top(top: str, top_v: Path, out: Path) -> Path:
    out.write_text(sim_top_text(top, Path(top_v).read_text()))
    return out
