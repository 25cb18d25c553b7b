"""Shared MyHDL plumbing of the arithmetic cores.

Every unit folder ``cores/arith/<unit>/<unit>.py`` defines two names:

``KIND``
    ``"mul"`` or ``"add"``.
``core(a, b, y, width, **params)``
    a MyHDL block with the *unsigned* combinational logic of the unit. For a multiplier ``a`` and
    ``b`` are ``width``-bit magnitudes and ``y`` is the ``2*width``-bit product; for an adder
    ``a`` and ``b`` are the operand bit patterns and ``y`` is ``{carry_out, sum}``
    (``width + 1`` bits).

This module wraps a core into the project's port conventions (docs/architecture.md):

* :func:`unit_block` - combinational block with ports ``a``, ``b``, ``y``; signed units get signed
  ports, multipliers use a sign-magnitude wrapper around the unsigned core, adders put
  ``a[n-1] ^ b[n-1] ^ carry_out`` on top of the sum bits;
* :func:`unit_block_reg` - the same logic between an input and an output register (latency 2,
  one operand pair per cycle, synchronous active-high reset);
* :func:`convert` - Verilog (or VHDL) of either, module named ``spec.module_name`` (``_reg``
  appended for the registered one), with a reproducible header.

``spec`` is a :class:`refmodels.arith.UnitSpec` or a unit string such as ``"drum:k=4,signed=1"``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from approxnn.eda.myhdl import HDLS
from approxnn.eda.myhdl import convert as myhdl_convert
from myhdl import ResetSignal, Signal, always_comb, always_seq, block, intbv

#: Units that have a MyHDL core, in the order of the documentation.
MUL_UNITS = (
    "exact", "trunc", "mitchell", "drum", "kulkarni", "etm", "roba", "ctrunc", "bam", "tern",
    "cmp",
)
ADD_UNITS = ("add", "loa", "gear")
UNITS = MUL_UNITS + ADD_UNITS

MIN_WIDTH = 4
MAX_WIDTH = 16
#: cycles from in_valid to out_valid of the registered block (an input and an output register;
#: the family's manifest, cores/arith/family.manifest.toml, states it for the testbench)
LATENCY = 2


class CoreError(ValueError):
    """A unit cannot be turned into hardware (unknown unit, unsupported width...)."""


def as_spec(spec):
    """Return a ``UnitSpec`` for ``spec`` (a ``UnitSpec`` or a unit string)."""
    if isinstance(spec, str):
        from refmodels.arith import parse_unit

        return parse_unit(spec)
    return spec


def core_module(name: str):
    """Import and return the Python module ``cores.arith.<name>.<name>``."""
    if name not in UNITS:
        raise CoreError(
            f"no MyHDL core for unit {name!r}; cores exist for: {', '.join(UNITS)}"
        )
    return importlib.import_module(f"cores.arith.{name}.{name}")


def _checked(spec):
    spec = as_spec(spec)
    mod = core_module(spec.name)
    if not MIN_WIDTH <= spec.width <= MAX_WIDTH:
        raise CoreError(
            f"{spec}: width {spec.width} outside the supported range {MIN_WIDTH}..{MAX_WIDTH}"
        )
    if mod.KIND != spec.kind:
        raise CoreError(f"{spec}: core kind {mod.KIND!r} does not match spec kind {spec.kind!r}")
    return spec, mod


def _value_signal(nbits: int, signed: bool):
    if signed:
        return Signal(intbv(0, min=-(1 << (nbits - 1)), max=1 << (nbits - 1)))
    return Signal(intbv(0)[nbits:])


def operand_signal(spec):
    """A fresh ``Signal`` shaped like an operand of ``spec`` (signed when the unit is)."""
    spec = as_spec(spec)
    return _value_signal(spec.width, bool(spec.signed))


def result_signal(spec):
    """A fresh ``Signal`` shaped like the result of ``spec`` (``spec.out_width`` bits)."""
    spec = as_spec(spec)
    return _value_signal(spec.out_width, bool(spec.signed))


@block
def sign_mag(a, b, y, width, core, params):
    """Sign-magnitude wrapper: |a| x |b| on the unsigned core, negated if the signs differ."""
    n = width
    ma = Signal(intbv(0)[n:])
    mb = Signal(intbv(0)[n:])
    pm = Signal(intbv(0)[2 * n :])
    # The product as a 2n-bit pattern; read back as a signed value below, so that the MyHDL
    # simulation and the Verilog agree (a two's complement wrap) for every magnitude.
    pat = Signal(intbv(0)[2 * n :])

    @always_comb
    def magnitudes():
        # -(-2^(n-1)) = 2^(n-1) fits the n-bit unsigned magnitude
        if a < 0:
            ma.next = -a
        else:
            ma.next = a
        if b < 0:
            mb.next = -b
        else:
            mb.next = b

    unsigned_core = core(ma, mb, pm, n, **params)

    @always_comb
    def negate():
        pat.next = pm
        if a[n - 1] != b[n - 1]:
            if pm != 0:
                pat.next = ~pm + 1

    @always_comb
    def result():
        y.next = pat.signed()

    return magnitudes, unsigned_core, negate, result


@block
def twos_compl(a, b, y, width, core, params):
    """Two's complement adder: the core adds the bit patterns; the top bit is rebuilt."""
    n = width
    ua = Signal(intbv(0)[n:])
    ub = Signal(intbv(0)[n:])
    s = Signal(intbv(0)[n + 1 :])
    pat = Signal(intbv(0)[n + 1 :])

    @always_comb
    def patterns():
        ua.next = a[n:]
        ub.next = b[n:]

    unsigned_core = core(ua, ub, s, n, **params)

    @always_comb
    def top_bit():
        pat.next[n] = a[n - 1] ^ b[n - 1] ^ s[n]
        pat.next[n:] = s[n:]

    @always_comb
    def result():
        y.next = pat.signed()

    return patterns, unsigned_core, top_bit, result


@block
def unit(spec, mod, a, b, y):
    params = dict(spec.params)
    if getattr(mod, "NATIVE_SIGNED", False):
        return mod.core(a, b, y, spec.width, signed=bool(spec.signed), **params)
    if not spec.signed:
        return mod.core(a, b, y, spec.width, **params)
    if spec.kind == "mul":
        return sign_mag(a, b, y, spec.width, mod.core, params)
    return twos_compl(a, b, y, spec.width, mod.core, params)


def unit_block(spec, a=None, b=None, y=None):
    """Combinational block of ``spec`` with ports ``a``, ``b``, ``y``.

    Signals that are not given are created with :func:`operand_signal` / :func:`result_signal`;
    given ones must have the same width and signedness. Returns a MyHDL block instance.
    """
    spec, mod = _checked(spec)
    a = operand_signal(spec) if a is None else a
    b = operand_signal(spec) if b is None else b
    y = result_signal(spec) if y is None else y
    return unit(spec, mod, a, b, y)


def reg_ports(spec):
    """Fresh signals ``(clk, rst, in_valid, a, b, out_valid, y)`` of the registered block."""
    spec = as_spec(spec)
    return (
        Signal(bool(0)),
        ResetSignal(0, active=1, isasync=False),
        Signal(bool(0)),
        operand_signal(spec),
        operand_signal(spec),
        Signal(bool(0)),
        result_signal(spec),
    )


def unit_block_reg(spec, ports=None):
    """Registered block of ``spec``: ``clk, rst, in_valid, a, b, out_valid, y``.

    Inputs and outputs are registered (latency 2 cycles, one operand pair accepted per cycle);
    ``rst`` is synchronous and active high and clears the valid pipeline and the registers.
    ``ports`` is the 7-tuple of signals (see :func:`reg_ports`), created when omitted.
    """
    spec, mod = _checked(spec)
    ports = reg_ports(spec) if ports is None else ports

    @block
    def unit_reg(clk, rst, in_valid, a, b, out_valid, y):
        a_q = operand_signal(spec)
        b_q = operand_signal(spec)
        v_q = Signal(bool(0))
        y_c = result_signal(spec)

        comb = unit(spec, mod, a_q, b_q, y_c)

        @always_seq(clk.posedge, reset=rst)
        def registers():
            a_q.next = a
            b_q.next = b
            v_q.next = in_valid
            y.next = y_c
            out_valid.next = v_q

        return comb, registers

    return unit_reg(*ports)


def module_name(spec, registered: bool = False) -> str:
    spec = as_spec(spec)
    return spec.module_name + ("_reg" if registered else "")


def convert(spec, outdir, registered: bool = False, hdl: str = "Verilog") -> Path:
    """Convert ``spec`` to ``hdl`` ("Verilog" or "VHDL") in ``outdir``; return the file path.

    The module (entity) is named ``spec.module_name``, plus ``_reg`` for the registered block.
    For VHDL MyHDL also writes its support package ``pck_myhdl_*.vhd`` into ``outdir``.
    Repeated conversions of the same spec produce byte-identical files.
    """
    spec, _ = _checked(spec)
    if hdl not in HDLS:
        raise CoreError(f"hdl must be 'Verilog' or 'VHDL', not {hdl!r}")
    block = unit_block_reg if registered else unit_block
    return myhdl_convert(lambda: block(spec), module_name(spec, registered), outdir, hdl=hdl)
