"""Register maps of the AXI4-Lite blocks, read from the files generated from their SystemRDL.

Each block's registers are described once, in ``<block>.rdl`` beside its MyHDL source.
``python -m cores.common.rdlgen`` compiles the description (systemrdl-compiler) and writes,
in the block's ``regs/`` folder, ``<block>.json`` (read here), a C header and IP-XACT, and the
register table of the block's README. Everything else - the MyHDL address decode, the
testbenches, host drivers - takes addresses, fields, access and reset values from here, so
this module needs nothing beyond the standard library.

Access codes (one per register and per field):

``R``     read-only; a write answers SLVERR and changes nothing
``W``     write-only command register; reads return 0
``RW``    read-write
``RW1C``  read-write, writing 1 to a bit clears it
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CORES_DIR = Path(__file__).resolve().parent.parent
#: block name -> the folder holding ``<block>.rdl`` and its generated ``regs/``
BLOCKS = {
    "sbs_update": CORES_DIR / "sbs" / "update",
    "sbs_layer": CORES_DIR / "sbs" / "update",
    "sbs_spikegen": CORES_DIR / "sbs" / "spikegen",
    "cnn_engine": CORES_DIR / "cnn" / "engine",
}
ACCESS = ("R", "W", "RW", "RW1C")


class RegMapError(KeyError):
    """An unknown block, register or field."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str
    reset: int | None
    desc: str

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int  # byte address of the first element
    access: str
    reset: int | None  # None: depends on the build (a configuration value)
    desc: str
    fields: tuple[Field, ...]
    count: int = 1  # array elements (channel tables)
    stride: int = 4

    @property
    def word(self) -> int:
        """Word index (byte address / 4) of the first element."""
        return self.offset // 4

    def address(self, index: int = 0) -> int:
        if not 0 <= index < self.count:
            raise RegMapError(f"{self.name}[{index}]: index out of range 0..{self.count - 1}")
        return self.offset + index * self.stride

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise RegMapError(f"{self.name} has no field {name!r}; fields: "
                          f"{', '.join(f.name for f in self.fields)}")

    def encode(self, **values: int) -> int:
        """The register word with the named fields set (others 0); values are checked."""
        word = 0
        for name, value in values.items():
            f = self.field(name)
            v = int(value)
            if v < 0:
                v += 1 << f.width  # two's complement fields (zero points, clamps)
            if not 0 <= v < 1 << f.width:
                raise ValueError(f"{self.name}.{name}={value} does not fit {f.width} bits")
            word |= v << f.lsb
        return word

    def decode(self, word: int) -> dict[str, int]:
        """Field name -> unsigned field value of a register word."""
        return {f.name: (word >> f.lsb) & ((1 << f.width) - 1) for f in self.fields}

    @property
    def writable_mask(self) -> int:
        """Bits that a write may change (fields that are not read-only)."""
        m = 0
        for f in self.fields:
            if f.access != "R":
                m |= f.mask
        return m


@dataclass(frozen=True)
class RegisterMap:
    block: str
    title: str
    desc: str
    size: int  # bytes of the address window the block decodes
    registers: tuple[Register, ...]

    def __getitem__(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise RegMapError(f"{self.block} has no register {name!r}; registers: "
                          f"{', '.join(r.name for r in self.registers)}")

    def __iter__(self):
        return iter(self.registers)

    def __contains__(self, name: str) -> bool:
        return any(r.name == name for r in self.registers)

    def offset(self, name: str) -> int:
        return self[name].offset

    def word(self, name: str) -> int:
        return self[name].word

    @property
    def words(self) -> dict[str, int]:
        """Register name -> word index of its first element."""
        return {r.name: r.word for r in self.registers}

    @property
    def offsets(self) -> dict[str, int]:
        return {r.name: r.offset for r in self.registers}

    @property
    def addr_bits(self) -> int:
        """Byte-address bits of the AXI4-Lite port (the window is 2**addr_bits bytes)."""
        return (self.size - 1).bit_length()

    @property
    def id_value(self) -> int:
        """Reset value of the identification register (block tag and register-map version)."""
        return self["ID"].reset

    @property
    def version(self) -> int:
        return self["ID"].field("VERSION").reset

    def at(self, offset: int) -> tuple[Register, int] | None:
        """(register, element index) mapped at byte ``offset``, or None."""
        for r in self.registers:
            if r.offset <= offset < r.offset + r.count * r.stride and \
                    (offset - r.offset) % r.stride == 0:
                return r, (offset - r.offset) // r.stride
        return None

    def table(self) -> str:
        """The register table of the block's README (markdown)."""
        rows = ["| address | name | access | reset | meaning |", "|---|---|---|---|---|"]
        for r in self.registers:
            if r.count > 1:
                addr = f"0x{r.offset:03X} + 4c"
                name = f"`{r.name}[c]`"
            else:
                addr = f"0x{r.offset:02X}"
                name = f"`{r.name}`"
            if r.reset is None:  # a table without reset (a memory) or a build parameter
                reset = "none" if r.count > 1 else "build"
            else:
                reset = f"0x{r.reset:X}"
            text = r.desc.rstrip(".") + "." if r.desc else ""
            if len(r.fields) == 1 and r.fields[0].name == "VALUE":
                f = r.fields[0]
                if f.width < 32:
                    text += f" Bits {f.msb}:{f.lsb}."
            else:
                parts = []
                for f in r.fields:
                    bits = f"{f.msb}" if f.width == 1 else f"{f.msb}:{f.lsb}"
                    extra = f" ({f.access})" if f.access != r.access else ""
                    parts.append(f"[{bits}] `{f.name}`{extra}: {f.desc}")
                text = (text + " " if text else "") + "; ".join(parts)
            rows.append(f"| {addr} | {name} | {r.access} | {reset} | {text.replace('|', '/')} |")
        return "\n".join(rows)


def _register(d: dict) -> Register:
    fields = tuple(Field(f["name"], f["lsb"], f["width"], f["access"], f["reset"], f["desc"])
                   for f in d["fields"])
    return Register(d["name"], d["offset"], d["access"], d["reset"], d["desc"], fields,
                    d.get("count", 1), d.get("stride", 4))


def json_path(block: str) -> Path:
    if block not in BLOCKS:
        raise RegMapError(f"unknown block {block!r}; blocks: {', '.join(BLOCKS)}")
    return BLOCKS[block] / "regs" / f"{block}.json"


def from_dict(d: dict) -> RegisterMap:
    return RegisterMap(d["block"], d["title"], d["desc"], d["size"],
                       tuple(_register(r) for r in d["registers"]))


@cache
def load(block: str) -> RegisterMap:
    """The register map of ``block`` (one of :data:`BLOCKS`)."""
    return from_dict(json.loads(json_path(block).read_text()))
