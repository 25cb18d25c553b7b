"""The boards and systems of the Zynq-7000 targets: one row per board, one entry per system.

A board target is a system (the accelerators of the programmable logic and how the DMA feeds
them; its manifest ``fpga/<system>.manifest.toml``) on a board (a :data:`BOARDS` row).
``python -m fpga.generate`` writes one folder per system and each board its manifest commits;
a new Zynq-7000 board is one more :data:`BOARDS` row and one more ``committed`` entry in the
system manifests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cores.zynq.generate import FREQ_HZ

#: the Vivado release the block-design scripts are written for (the release of PYNQ 3.0 images)
VIVADO_VERSION = "2022.1"
#: Xilinx IP the block designs instantiate (the VLNVs of that release)
IP_VLNV = {
    "ps7": "xilinx.com:ip:processing_system7:5.5",
    "axi_dma": "xilinx.com:ip:axi_dma:7.1",
    "smartconnect": "xilinx.com:ip:smartconnect:1.0",
    "proc_sys_reset": "xilinx.com:ip:proc_sys_reset:5.0",
    "xlconcat": "xilinx.com:ip:xlconcat:2.1",
}


@dataclass(frozen=True)
class Board:
    key: str  # folder suffix
    name: str
    part: str
    #: Vivado board part; "" when the board files are not shipped with Vivado (the processing
    #: system is then configured from :attr:`ps_config`, the board's preset values)
    board_part: str
    ps_config: dict[str, str]
    led: tuple[str, str]  # (package pin, I/O standard) of the LED that shows the interrupt
    url: str


# Processing-system values of the board presets: input clock, DDR3 device and bus, bank
# voltages and the MIO peripherals a PYNQ image uses (UART console, SD card, Ethernet, USB).
_COMMON_PS = {
    "PCW_PRESET_BANK0_VOLTAGE": "LVCMOS 3.3V",
    "PCW_PRESET_BANK1_VOLTAGE": "LVCMOS 1.8V",
    "PCW_SD0_PERIPHERAL_ENABLE": "1",
    "PCW_SD0_SD0_IO": "MIO 40 .. 45",
    "PCW_ENET0_PERIPHERAL_ENABLE": "1",
    "PCW_ENET0_ENET0_IO": "MIO 16 .. 27",
    "PCW_ENET0_GRP_MDIO_ENABLE": "1",
    "PCW_ENET0_GRP_MDIO_IO": "MIO 52 .. 53",
    "PCW_USB0_PERIPHERAL_ENABLE": "1",
    "PCW_USB0_USB0_IO": "MIO 28 .. 39",
}

BOARDS = {
    "pynq_z2": Board(
        key="pynq_z2", name="PYNQ-Z2", part="xc7z020clg400-1", board_part="",
        ps_config={
            "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "50",
            "PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125",
            "PCW_UIPARAM_DDR_BUS_WIDTH": "16 Bit",
            "PCW_UART0_PERIPHERAL_ENABLE": "1",
            "PCW_UART0_UART0_IO": "MIO 14 .. 15",
            **_COMMON_PS,
        },
        led=("R14", "LVCMOS33"),
        url="https://www.tulembedded.com/FPGA/ProductsPYNQ-Z2.html",
    ),
    "zedboard": Board(
        key="zedboard", name="ZedBoard", part="xc7z020clg484-1",
        board_part="avnet.com:zedboard:part0:1.4",
        ps_config={
            "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "33.333333",
            "PCW_UIPARAM_DDR_PARTNO": "MT41K128M16 JT-125",
            "PCW_UIPARAM_DDR_BUS_WIDTH": "32 Bit",
            "PCW_UART1_PERIPHERAL_ENABLE": "1",
            "PCW_UART1_UART1_IO": "MIO 48 .. 49",
            **_COMMON_PS,
        },
        led=("T22", "LVCMOS33"),
        url="https://digilent.com/reference/programmable-logic/zedboard/start",
    ),
}


@dataclass(frozen=True)
class Dma:
    """One AXI DMA in simple mode: MM2S feeds ``mm2s`` (an accelerator stream interface),
    S2MM drains ``s2mm`` (or None: no S2MM channel); widths from the accelerator's top."""

    name: str
    mm2s: str | None
    s2mm: str | None


@dataclass(frozen=True)
class Accel:
    cell: str  # block-design cell name
    top: str  # zynq top (cores/zynq/<top>/), the module reference
    offset: int  # control-register base address on GP0
    dmas: tuple[Dma, ...]


@dataclass(frozen=True)
class System:
    key: str
    title: str
    accels: tuple[Accel, ...]
    fclk_mhz: int = FREQ_HZ // 1_000_000  # the fabric clock the tops are built for
    notes: list[str] = field(default_factory=list)


def check_board(board: str) -> dict:
    """A board system's configuration check (its manifest's ``check``): the board is a row of
    :data:`BOARDS`."""
    if board not in BOARDS:
        raise ValueError(f"board {board!r} is not in fpga/boards.py BOARDS; valid: "
                         f"{', '.join(BOARDS)}")
    return {"board": board}


def _system(m) -> System:
    """The :class:`System` a board system's manifest (fpga/<system>.manifest.toml) describes."""
    accels = tuple(Accel(cell=a["cell"], top=a["top"], offset=a["offset"],
                         dmas=tuple(Dma(d["name"], mm2s=d.get("mm2s"), s2mm=d.get("s2mm"))
                                    for d in a["dmas"]))
                   for a in m.accels)
    return System(key=m.block, title=m.description, accels=accels)


def _manifests():
    from cores.common import manifest  # noqa: PLC0415

    return {m.block: m for m in manifest.all_manifests() if m.family == "fpga"}


#: system -> its manifest (fpga/<system>.manifest.toml: version, title, accelerators and their
#: DMAs, the boards it is built for, the system simulation)
MANIFESTS = _manifests()
SYSTEMS = {key: _system(m) for key, m in MANIFESTS.items()}

#: control-register bases of the DMAs, in the order the systems list them
DMA_BASE = 0x4040_0000
DMA_STRIDE = 0x1_0000
WINDOW = 0x1_0000  # GP0 window of every slave (64 KiB)
