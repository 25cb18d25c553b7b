"""Vivado-ready top-level wrapper of an accelerator core, written from the core's port list.

MyHDL cannot emit Verilog attributes, so the interfaces a Vivado block design infers from a
module reference (``create_bd_cell -type module -reference``) are declared in a thin wrapper
around the converted core. The wrapper is generated: :func:`core_ports` reads the ports of the
converted core (names, directions, widths) from its Verilog, and :func:`wrapper_text` maps them
by name, so the core's port list is the one source:

``clk`` / ``rst``          -> ``aclk`` (clock interface, ``ASSOCIATED_BUSIF``, ``FREQ_HZ``) and
                              ``aresetn`` (active low; the core's reset is ``!aresetn``)
``s_axil_<ch>``            -> ``s_axi_<ch>`` (interface ``S_AXI``, AXI4-Lite)
``s_axis_<x>_<sig>``       -> ``s_axis_<x>_<sig>`` (interface ``S_AXIS_<X>``)
``m_axis_<y>_<sig>``       -> ``m_axis_<y>_<sig>`` (interface ``M_AXIS_<Y>``, with an all-ones
                              ``tkeep`` for the DMA's S2MM side)
``irq``                    -> ``irq`` (interrupt, level high)

A stream whose ``tdata`` is not a power of two of at least 8 bits is padded to the next one
(:func:`padded`): an input stream's extra high bits are ignored, an output stream's are 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: the AXI4-Lite channels of the core's register port, in the order the wrapper lists them
AXIL_CHANNELS = ("awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready",
                 "bresp", "bvalid", "bready", "araddr", "arvalid", "arready",
                 "rdata", "rresp", "rvalid", "rready")
STREAM_SIGNALS = ("tdata", "tkeep", "tvalid", "tready", "tlast")


class WrapperError(ValueError):
    """The core's ports cannot be mapped onto a Vivado-ready top."""


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" or "output"
    width: int


def core_ports(verilog: str, module: str) -> list[Port]:
    """The ports of ``module`` in converted Verilog, in declaration order."""
    m = re.search(rf"^module\s+{re.escape(module)}\s*\((.*?)\);", verilog, re.S | re.M)
    if not m:
        raise WrapperError(f"module {module} not found in the Verilog")
    names = [n.strip() for n in m.group(1).replace("\n", " ").split(",") if n.strip()]
    decl = {}
    for d in re.finditer(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                         r"(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;", verilog, re.M):
        hi, lo = d.group(2), d.group(3)
        width = int(hi) - int(lo) + 1 if hi is not None else 1
        decl.setdefault(d.group(4), Port(d.group(4), d.group(1), width))
    missing = [n for n in names if n not in decl]
    if missing:
        raise WrapperError(f"{module}: no direction found for {', '.join(missing)}")
    return [decl[n] for n in names]


def padded(width: int) -> int:
    """The AXI4-Stream width carrying ``width`` bits: a power of two, at least 8."""
    w = 8
    while w < width:
        w *= 2
    return w


def _streams(ports: list[Port]) -> dict[str, dict[str, Port]]:
    out: dict[str, dict[str, Port]] = {}
    for p in ports:
        m = re.fullmatch(r"([sm]_axis_\w+?)_(tdata|tvalid|tready|tlast|tkeep)", p.name)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = p
    return out


def interfaces(ports: list[Port]) -> dict[str, str]:
    """Bus interface name (as a block design sees it) -> port prefix on the wrapper."""
    names = {"S_AXI": "s_axi"}
    for prefix in _streams(ports):
        names[prefix.upper()] = prefix
    return names


def top_ports(ports: list[Port]) -> list[Port]:
    """The ports of the wrapper (the names and widths a block design connects)."""
    by = {p.name: p for p in ports}
    for need in ("clk", "rst", "irq", *(f"s_axil_{c}" for c in AXIL_CHANNELS)):
        if need not in by:
            raise WrapperError(f"the core has no port {need}")
    out = [Port("aclk", "input", 1), Port("aresetn", "input", 1)]
    out += [Port(f"s_axi_{c}", by[f"s_axil_{c}"].direction, by[f"s_axil_{c}"].width)
            for c in AXIL_CHANNELS]
    for prefix, sigs in _streams(ports).items():
        if "tdata" not in sigs or "tvalid" not in sigs or "tready" not in sigs:
            raise WrapperError(f"stream {prefix} lacks tdata, tvalid or tready")
        master = prefix.startswith("m_")
        for s in STREAM_SIGNALS:
            if s == "tdata":
                out.append(Port(f"{prefix}_tdata", sigs[s].direction, padded(sigs[s].width)))
            elif s == "tkeep":
                if master:
                    out.append(Port(f"{prefix}_tkeep", "output",
                                    padded(sigs["tdata"].width) // 8))
            elif s in sigs:
                out.append(Port(f"{prefix}_{s}", sigs[s].direction, 1))
    out.append(Port("irq", "output", 1))
    return out


def _range(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def wrapper_text(verilog: str, module: str, top: str, freq_hz: int, generator: str) -> str:
    """The wrapper ``top`` around ``module`` (whose converted Verilog is ``verilog``)."""
    ports = core_ports(verilog, module)
    tops = top_ports(ports)
    streams = _streams(ports)
    busif = ":".join(interfaces(ports))
    addr_w = next(p.width for p in tops if p.name == "s_axi_awaddr")
    attr: dict[str, list[str]] = {
        "aclk": ['X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK"',
                 f'X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF {busif}, '
                 f'ASSOCIATED_RESET aresetn, FREQ_HZ {freq_hz}"'],
        "aresetn": ['X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST"',
                    'X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW"'],
        "irq": ['X_INTERFACE_INFO = "xilinx.com:signal:interrupt:1.0 irq INTERRUPT"',
                'X_INTERFACE_PARAMETER = "SENSITIVITY LEVEL_HIGH"'],
    }
    for c in AXIL_CHANNELS:
        attr[f"s_axi_{c}"] = [f'X_INTERFACE_INFO = "xilinx.com:interface:aximm:1.0 S_AXI '
                              f'{c.upper()}"']
    attr["s_axi_awaddr"].append(
        f'X_INTERFACE_PARAMETER = "PROTOCOL AXI4LITE, DATA_WIDTH 32, ADDR_WIDTH {addr_w}, '
        f'FREQ_HZ {freq_hz}"')
    for prefix, sigs in streams.items():
        bus = prefix.upper()
        for s in STREAM_SIGNALS:
            attr[f"{prefix}_{s}"] = [f'X_INTERFACE_INFO = "xilinx.com:interface:axis:1.0 '
                                     f'{bus} {s.upper()}"']
        nbytes = padded(sigs["tdata"].width) // 8
        keep = 1 if prefix.startswith("m_") else 0
        attr[f"{prefix}_tdata"].append(
            f'X_INTERFACE_PARAMETER = "TDATA_NUM_BYTES {nbytes}, HAS_TLAST '
            f'{int("tlast" in sigs)}, HAS_TKEEP {keep}, HAS_TSTRB 0, FREQ_HZ {freq_hz}"')
    lines = [
        f"// Vivado-ready top of {module}: AXI4-Lite slave S_AXI, AXI4-Stream ports padded to",
        "// powers of two, aclk / aresetn (active low), level-high irq, and the interface",
        "// attributes a block design infers them from.",
        f"// Generated by `{generator}` from the port list of {module}.",
        "// Do not edit: change the template (cores/zynq/wrapper.py) and regenerate.",
        "`timescale 1ns/10ps",
        "`default_nettype none",
        f"module {top} (",
    ]
    decl = []
    for p in tops:
        a = "".join(f"(* {x} *) " for x in attr.get(p.name, []))
        decl.append(f"    {a}{p.direction} wire {_range(p.width)}{p.name}")
    lines.append(",\n".join(decl))
    lines.append(");")
    lines.append("")
    conns = [".clk(aclk)", ".rst(!aresetn)"]
    for p in ports:
        if p.name in ("clk", "rst"):
            continue
        if p.name.startswith("s_axil_"):
            conns.append(f".{p.name}(s_axi_{p.name[len('s_axil_'):]})")
        elif p.name.endswith("_tdata") and p.name[:-6] in streams and \
                padded(p.width) != p.width:
            if p.direction == "input":
                conns.append(f".{p.name}({p.name}[{p.width - 1}:0])")
            else:
                conns.append(f".{p.name}({p.name}_core)")
        else:
            conns.append(f".{p.name}({p.name})")
    pads = [f"{p.name}[{padded(p.width) - 1}:{p.width}]" for prefix, sigs in streams.items()
            for p in (sigs["tdata"],) if p.direction == "input" and padded(p.width) != p.width]
    if pads:
        lines.append("// the padding bits of the input streams are ignored")
        lines.append(f"wire unused_pad = &{{1'b0, {', '.join(pads)}, 1'b0}};")
    for prefix, sigs in streams.items():
        d = sigs["tdata"]
        if d.direction == "output" and padded(d.width) != d.width:
            lines.append(f"wire {_range(d.width)}{d.name}_core;")
            lines.append(f"assign {d.name} = {{{padded(d.width) - d.width}'d0, {d.name}_core}};")
        if prefix.startswith("m_"):
            nb = padded(d.width) // 8
            lines.append(f"assign {prefix}_tkeep = {nb}'b{'1' * nb};")
    lines.append("")
    lines.append(f"{module} core (")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines.append(");")
    lines.append("")
    lines.append("endmodule")
    lines.append("`default_nettype wire")
    return "\n".join(lines) + "\n"


def shim_text(verilog: str, module: str, top: str) -> str:
    """A test adapter ``<top>_shim`` with the core's own ports (``clk``, ``rst``,
    ``s_axil_*``, the streams at their core widths) around the wrapper ``top``, so that the
    core's testbenches run unchanged through the wrapper: its reset inversion, its renaming,
    its stream padding."""
    ports = core_ports(verilog, module)
    streams = _streams(ports)
    lines = [f"// Test adapter: the ports of {module} around the Vivado-ready top {top}.",
             "`timescale 1ns/10ps",
             "`default_nettype none",
             f"module {top}_shim ({', '.join(p.name for p in ports)});"]
    for p in ports:
        lines.append(f"{p.direction} wire {_range(p.width)}{p.name};")
    conns = [".aclk(clk)", ".aresetn(!rst)"]
    for p in top_ports(ports):
        n = p.name
        if n in ("aclk", "aresetn"):
            continue
        if n.startswith("s_axi_"):
            conns.append(f".{n}(s_axil_{n[len('s_axi_'):]})")
        elif n.endswith("_tkeep"):
            # (not named <prefix>_tkeep: the testbenches' stream models would take it up)
            lines.append(f"wire {_range(p.width)}keep_{n[:-6]};")
            conns.append(f".{n}(keep_{n[:-6]})")
        elif n.endswith("_tdata") and n[:-6] in streams:
            w = streams[n[:-6]]["tdata"].width
            if p.width == w:
                conns.append(f".{n}({n})")
            elif p.direction == "input":
                conns.append(f".{n}({{{p.width - w}'d0, {n}}})")
            else:
                lines.append(f"wire {_range(p.width)}{n}_wide;")
                lines.append(f"assign {n} = {n}_wide[{w - 1}:0];")
                conns.append(f".{n}({n}_wide)")
        else:
            conns.append(f".{n}({n})")
    lines.append(f"{top} top (")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines.append(");")
    lines.append("endmodule")
    lines.append("`default_nettype wire")
    return "\n".join(lines) + "\n"
