"""Register maps as data, and a register sweep that checks a block against its map.

A :class:`RegisterMap` is the window size and, per mapped word, a :class:`Reg`: access, reset
value, the bits that hold what is written, the values a checked register accepts. It is built
from the register models generated from SystemRDL (:mod:`verif.common.regmaps`); any other
register description (SystemRDL, IP-XACT) only has to produce the same object.

:func:`sweep` (an AXI4-Lite :class:`~verif.common.axi.RegAgent`) checks, in this order:

1. reset values of every register that has one, and (``fresh``: nothing was written since the
   simulation started) the initial value of every register without reset that has one (a
   memory's power-up contents), read before any write;
2. every writable, side-effect-free register written with a distinct legal value;
3. every word of the window read (OKAY where mapped and readable, else SLVERR; the value
   of a non-volatile register equal to the expected one) and written (SLVERR on unmapped and
   read-only words with a distinct pattern; OKAY on writable words with their current value,
   0 on command registers);
4. a partial-strobe write (``wstrb`` not all ones: SLVERR) to every writable register, with a
   value that differs in every byte, the strobe patterns in turn;
5. every readable non-volatile register read back, four reads in flight at a time: nothing
   above may have changed it (a write to an unmapped word that aliases onto a mapped one, a
   read-only register that took a write, a partial write that was performed).

It returns the list of problems (empty: the block matches its map). ``cover`` (optional) is
called with ``(word class, access)`` for every access made (:func:`reg_class`,
:data:`SWEEP_ACCESSES`); :func:`sweep_bins` gives the pairs a map calls for, the goal of a
cover item of the sweep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import cocotb
from cocotbext.axi import AxiResp

FULL = 0xFFFFFFFF
#: partial writes as (first byte lane, bytes): every contiguous strobe pattern but all-ones
#: (wstrb 0x1, 0x2, 0x4, 0x8, 0x3, 0x6, 0xC, 0x7, 0xE), applied in turn; the bus master
#: issues a write of ``bytes`` bytes at byte address ``4 * word + lane``
PARTIAL_STROBES = ((0, 1), (1, 1), (2, 1), (3, 1), (0, 2), (1, 2), (2, 2), (0, 3), (1, 3))


@dataclass(frozen=True)
class Reg:
    """One mapped 32-bit word.

    ``access``: ``R`` (writes answered SLVERR), ``RW``, ``W`` (reads answer OKAY with 0 or
    with pending commands), ``RW1C`` (write one to clear). ``reset``: value after reset (None:
    not specified, e.g. a RAM). ``initial``: of a register without reset, its value at power-up
    (FPGA configuration, simulation start: a memory initial value), which a reset leaves alone.
    ``mask``: the bits that keep a written value (the others read 0). ``legal``: for a
    checked register, values it accepts (others may be refused with SLVERR); empty: any value.
    ``volatile``: may change by itself (status, counters, commands pending). ``command``: a
    write does something (start, clear): the sweep writes 0 only."""

    name: str
    access: str = "RW"
    reset: int | None = None
    initial: int | None = None
    mask: int = FULL
    legal: tuple = ()
    volatile: bool = False
    command: bool = False

    @property
    def readable(self) -> bool:
        return True

    @property
    def writable(self) -> bool:
        return self.access in ("RW", "W", "RW1C")

    @property
    def storage(self) -> bool:
        """Holds what is written (read-back equals the value & mask)."""
        return self.access == "RW" and not self.command and not self.volatile


@dataclass
class RegisterMap:
    """``window_words`` 32-bit words at byte addresses ``4 * word``; ``regs``: word -> Reg."""

    name: str
    window_words: int
    regs: dict[int, Reg] = field(default_factory=dict)

    def add(self, word: int, reg: Reg) -> None:
        if not 0 <= word < self.window_words:
            raise ValueError(f"{self.name}: word {word} outside the window")
        if word in self.regs:
            raise ValueError(f"{self.name}: word {word} mapped twice")
        self.regs[word] = reg

    def expected_response(self, word: int, write: bool) -> AxiResp:
        reg = self.regs.get(word)
        if reg is None or (write and not reg.writable):
            return AxiResp.SLVERR
        return AxiResp.OKAY


def _fill_value(reg: Reg, rng: random.Random, used: set) -> int:
    """A legal value for ``reg`` that reads back differently from values used so far (when the
    register has room for that)."""
    for _ in range(64):
        v = rng.choice(reg.legal) if reg.legal else rng.getrandbits(32)
        if (v & reg.mask) not in used:
            return v
    return v


#: the sweep's accesses, in its order: a read right after reset / at power-up, a legal value
#: written, the read and the write of the full-window pass, a partial-strobe write, the read
#: back after everything (four in flight)
SWEEP_ACCESSES = ("reset", "power_up", "fill", "read", "write", "partial", "read_back")


def reg_class(rmap: RegisterMap, word: int) -> str:
    """The class of a word for coverage: ``unmapped``, ``table`` (no reset value: a memory),
    ``command``, ``rw1c``, ``ro``, ``wo`` or ``rw``."""
    reg = rmap.regs.get(word)
    if reg is None:
        return "unmapped"
    if reg.reset is None:
        return "table"
    if reg.command:
        return "command"
    return {"RW1C": "rw1c", "R": "ro", "W": "wo"}.get(reg.access, "rw")


def sweep_bins(rmap: RegisterMap, fresh: bool = False) -> list[tuple[str, str]]:
    """(class, access) pairs a sweep of ``rmap`` must perform, from the register map's own
    description (the coverage model; :func:`sweep` samples what it did): every class read and
    written in the full-window pass; reset values of the classes that have them; power-up
    values of memories in a fresh simulation; legal values filled into the storage registers;
    every known value read back at the end; partial strobes on every writable, non-command
    class."""
    out = []
    for cls in ("rw", "wo", "ro", "rw1c", "command", "table", "unmapped"):
        regs = [r for w, r in rmap.regs.items() if reg_class(rmap, w) == cls]
        if cls == "unmapped":
            if rmap.window_words > len(rmap.regs):
                out += [(cls, "read"), (cls, "write")]
            continue
        if not regs:
            continue
        want = {"read", "write"}
        if any(r.reset is not None for r in regs):
            want.add("reset")
        if fresh and any(r.reset is None and r.initial is not None for r in regs):
            want.add("power_up")
        if any(r.storage for r in regs):
            want.add("fill")
        if any(r.storage or not r.volatile and (r.reset is not None
                                                or fresh and r.initial is not None)
               for r in regs):
            want.add("read_back")
        if any(r.writable and not r.command for r in regs):
            want.add("partial")
        out += [(cls, a) for a in SWEEP_ACCESSES if a in want]
    return out


async def sweep(regs, rmap: RegisterMap, seed: int = 1, log=None, fresh: bool = False,
                cover=None) -> list[str]:
    """Check the block behind ``regs`` (RegAgent) against ``rmap``; returns the problems.
    ``fresh``: no register was written since the simulation started (power-up values hold).
    ``cover``: called with ``(class, access)`` (:func:`reg_class`, :data:`SWEEP_ACCESSES`)
    for every access made (the bins of :func:`sweep_bins`)."""
    rng = random.Random(seed)
    problems: list[str] = []
    expect: dict[int, int] = {}

    def hit(word, access):
        if cover is not None:
            cover((reg_class(rmap, word), access))

    def where(word):
        reg = rmap.regs.get(word)
        return f"{rmap.name} word {word} (0x{4 * word:x}{', ' + reg.name if reg else ''})"

    # 1. reset values (and power-up values of registers without reset), before any write
    for word, reg in sorted(rmap.regs.items()):
        want = reg.reset if reg.reset is not None else reg.initial if fresh else None
        if want is None:
            continue
        got, resp = await regs.read(4 * word)  # X in rdata fails here (and in the checker)
        hit(word, "reset" if reg.reset is not None else "power_up")
        if resp != AxiResp.OKAY or got != want:
            when = "after reset" if reg.reset is not None else "unwritten since power-up,"
            problems.append(f"{where(word)}: {when} reads 0x{got:x} ({resp.name}), "
                            f"want 0x{want:x}")
        if not reg.volatile:
            expect[word] = want
    # 2. distinct values in every storage register
    used: set = set()
    for word, reg in sorted(rmap.regs.items()):
        if not reg.storage:
            continue
        v = _fill_value(reg, rng, used)
        resp = await regs.write(4 * word, v)
        hit(word, "fill")
        if resp != AxiResp.OKAY:
            problems.append(f"{where(word)}: write of legal value 0x{v:x} answered {resp.name}")
            continue
        expect[word] = v & reg.mask
        used.add(v & reg.mask)
    # 3. every word of the window: read, then write
    for word in range(rmap.window_words):
        reg = rmap.regs.get(word)
        got, resp = await regs.read(4 * word)
        hit(word, "read")
        want_resp = rmap.expected_response(word, write=False)
        if resp != want_resp:
            problems.append(f"{where(word)}: read answered {resp.name}, want {want_resp.name}")
        elif reg is not None and word in expect and got != expect[word]:
            problems.append(f"{where(word)}: reads 0x{got:x}, want 0x{expect[word]:x}")
        if reg is not None and reg.writable:
            value = expect.get(word, 0) if reg.storage else 0
        else:
            value = (0xA5A5A5A5 ^ (word * 0x01010101)) & FULL
        resp = await regs.write(4 * word, value)
        hit(word, "write")
        want_resp = rmap.expected_response(word, write=True)
        if resp != want_resp:
            problems.append(f"{where(word)}: write of 0x{value:x} answered {resp.name}, want "
                            f"{want_resp.name}")
    # 4. partial strobes: refused and not performed
    k = 0
    for word, reg in sorted(rmap.regs.items()):
        if not reg.writable or reg.command:
            continue
        lane, nbytes = PARTIAL_STROBES[k % len(PARTIAL_STROBES)]
        strobe = ((1 << nbytes) - 1) << lane
        k += 1
        old = expect.get(word, 0)
        value = (~old) & FULL
        if reg.legal:  # a legal value differing from the current one, where there is one
            value = next((v for v in reg.legal if v != old), value)
        data = int(value).to_bytes(4, "little")[lane:lane + nbytes]
        resp = (await regs.master.write(4 * word + lane, data)).resp
        hit(word, "partial")
        if resp != AxiResp.SLVERR:
            problems.append(f"{where(word)}: write with wstrb 0x{strobe:x} answered "
                            f"{resp.name}, want SLVERR")
    # 5. nothing changed; read back four at a time in flight (reads pipelined on the bus:
    # a new read must not be taken while a response waits for rready)
    items = sorted(expect.items())
    for i in range(0, len(items), 4):
        group = items[i:i + 4]
        tasks = [cocotb.start_soon(regs.read(4 * word)) for word, _ in group]
        for (word, want), task in zip(group, tasks, strict=True):
            got, resp = await task
            hit(word, "read_back")
            if resp != AxiResp.OKAY or got != want:
                problems.append(f"{where(word)}: reads 0x{got:x} ({resp.name}) after the "
                                f"sweep, want 0x{want:x} (changed by a refused or unmapped "
                                "write, or a pipelined read answered wrongly)")
    if log is not None:
        log.info(f"register sweep of {rmap.name}: {rmap.window_words} words, "
                 f"{len(rmap.regs)} mapped, {len(problems)} problem(s)")
    return problems
