"""MAC array of the CNN tensor processor: P lanes, one filter tap per cycle.

Every cycle one *tap* enters: an input activation code ``x`` (int8, broadcast to every lane) and
one int8 weight per lane (``w``, lane ``i`` in bits ``8i+7..8i``). Lane ``i`` accumulates in int32
(two's complement wrap) the products of its weights with the inputs, with the zero-point handling
the golden model defines for the multiplier in use:

* ``mul="int8"`` (exact, the TFLite reference path, :mod:`refmodels.cnn.tflite`)::

      acc_i = sum_taps w_i * (x - in_zp)

  ``d = x - in_zp`` (9 bits) is formed once for all lanes. With ``pack=True`` (default) two lanes
  share one DSP48E1: ``((w_{2j+1} << 16) + w_{2j}) * d`` is a 25 x 9 signed product whose bits
  15..0 are lane 2j's product (it fits 16 bits signed: |w * d| <= 128 * 255 < 2^15) and whose upper
  bits plus bit 15 are lane 2j+1's product. With ``pack=False`` every lane has its own multiplier.

* ``mul=<unit>`` (an 8-bit multiplier of cores/arith, e.g. ``"drum:k=4,signed=1"``; the golden
  model is :mod:`refmodels.cnn.approx` through the unit's lookup table)::

      signed unit:    acc_i = sum_taps mul(w_i, x)                 - in_zp * sum_taps w_i
      unsigned unit:  acc_i = sum_taps sign(w_i) mul(|w_i|, x+128) - (in_zp + 128) * sum_taps w_i

  The units are the cores/arith MyHDL blocks (LUT logic). Each lane also sums its weights; the
  zero-point term is subtracted once per result at the output by one shared shift-and-add
  multiplier (no DSP48E1).

* ``mul=[unit, unit, ...]`` (or the names joined by ``+``, e.g. ``"trunc:t=10+trunc:t=6"``):
  a *heterogeneous* array. Every lane holds one instance of each unit; the ``sel`` input (the
  engine's MODE.MUL, static during a layer) picks whose product the lane accumulates, with that
  unit's zero-point handling as above (``"int8"`` / ``"exact"`` in the list is the exact signed
  unit). The golden model is :func:`refmodels.cnn.hetero.forward_int8_layers` with unit
  ``sel`` in the layer. A ``sel`` at or beyond the number of units must not be used (the engine
  refuses such a layer).

A tap with ``in_pad = 1`` is a padded tap: it contributes neither a product nor a zero-point
term (TFLite skips padded taps). ``in_first`` marks the first tap of a sum, ``in_last`` the last;
``in_zp`` must be the same for all taps of a sum. After the last tap the P sums are moved to an
output bank and leave one lane per cycle (``out_lane`` 0..P-1, ``out_last`` on lane P-1), the
shape the requantisation unit consumes; accumulation of the next sum goes on meanwhile. The
output has no back-pressure. A tap with ``in_last = 1`` is accepted (``in_ready``) at most once
every P cycles, so that the output bank is free when the sum arrives there; other taps are always
accepted. Latency: the first lane of a sum leaves 5 cycles after its last tap was accepted.
"""

from __future__ import annotations

from myhdl import (
    ConcatSignal,
    ResetSignal,
    Signal,
    always,
    always_comb,
    always_seq,
    block,
    intbv,
    modbv,
)

MAX_LANES = 64
PROD_BITS = 18
ACC_BITS = 32
LATENCY_FIRST = 5  # cycles from the accepted last tap to out_valid of lane 0
MAX_UNITS = 8  # units of a heterogeneous array
SEL_BITS = 4  # width of the unit select (the engine's MODE.MUL field)


class MacConfigError(ValueError):
    """The MAC array cannot be generated with these parameters."""


def _s(bits):
    return Signal(intbv(0, min=-(1 << (bits - 1)), max=1 << (bits - 1)))


def _u(bits):
    return Signal(intbv(0)[bits:])


def unit_list(mul):
    """The unit names of a heterogeneous ``mul`` (a list / tuple, or names joined by ``+``);
    None for a single multiplier."""
    if isinstance(mul, (list, tuple)):
        return [str(m) for m in mul]
    if isinstance(mul, str) and "+" in mul:
        return mul.split("+")
    return None


def _one_unit(mul, what="mul"):
    from cores.arith.common import MUL_UNITS  # noqa: PLC0415
    from refmodels.arith import UnitError, parse_mul8  # noqa: PLC0415

    try:
        spec = parse_mul8(mul)
    except UnitError as exc:
        raise MacConfigError(f"{what}: {exc} (or 'int8' for the exact DSP path)") from None
    if spec.name not in MUL_UNITS:
        raise MacConfigError(
            f"{what} {mul!r} is not a multiplier with a MyHDL core; valid: int8, "
            + ", ".join(MUL_UNITS)
        )
    return spec


def normalise(lanes=8, mul="int8", pack=True):
    """Validated parameters: ``{"lanes", "mul", "pack", "spec"}``; bad values raise
    :class:`MacConfigError` with the valid choices. A heterogeneous ``mul`` (a list of units)
    gives ``spec`` = the tuple of their specs and ``mul`` = their names joined by ``+``."""
    if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= MAX_LANES:
        raise MacConfigError(f"lanes must be an integer in 1..{MAX_LANES}, got {lanes!r}")
    names = unit_list(mul)
    if names is not None:
        names = [n.strip() for n in names]
        if len(names) == 1:
            return normalise(lanes, names[0], pack)
        if not 2 <= len(names) <= MAX_UNITS:
            raise MacConfigError(f"mul: a heterogeneous array takes 2..{MAX_UNITS} units, got "
                                 f"{len(names)}")
        specs = []
        for n in names:
            if n in ("int8", "exact"):
                n = "exact:signed=1"
            if not n or n == "hf6":
                raise MacConfigError(f"mul: {n!r} cannot be a unit of a heterogeneous array "
                                     "(8-bit multiplier units or int8)")
            specs.append(_one_unit(n, "mul unit"))
        canon = [str(s) for s in specs]
        dup = sorted({c for c in canon if canon.count(c) > 1})
        if dup:
            raise MacConfigError(f"mul: unit {dup[0]} is listed twice")
        return {"lanes": lanes, "mul": "+".join(canon), "pack": False, "spec": tuple(specs)}
    if not isinstance(mul, str) or not mul.strip():
        raise MacConfigError(f"mul must be 'int8' or a multiplier unit name, got {mul!r}")
    mul = mul.strip()
    if mul == "int8":
        return {"lanes": lanes, "mul": "int8", "pack": bool(pack), "spec": None}
    spec = _one_unit(mul)
    return {"lanes": lanes, "mul": str(spec), "pack": False, "spec": spec}


def units_of(p) -> int:
    """Number of units of an array (1 unless heterogeneous)."""
    return len(p["spec"]) if isinstance(p["spec"], tuple) else 1


def module_name(p) -> str:
    if isinstance(p["spec"], tuple):
        return f"cnn_mac_p{p['lanes']}_het_" + "_".join(s.module_name for s in p["spec"])
    if p["spec"] is None:
        return f"cnn_mac_p{p['lanes']}_int8" + ("" if p["pack"] else "_nopack")
    return f"cnn_mac_p{p['lanes']}_{p['spec'].module_name}"


def ports(lanes):
    """Fresh signals in port order: clk, rst, in_valid, in_ready, in_first, in_last, in_pad,
    x, w, in_zp, out_valid, out_lane, out_last, out_acc."""
    return (
        Signal(bool(0)),
        ResetSignal(0, active=1, isasync=False),
        Signal(bool(0)),
        Signal(bool(0)),
        Signal(bool(0)),
        Signal(bool(0)),
        Signal(bool(0)),
        _s(8),
        _u(8 * lanes),
        _s(8),
        Signal(bool(0)),
        _u(max(1, (lanes - 1).bit_length())),
        Signal(bool(0)),
        _s(ACC_BITS),
    )


# ---------------------------------------------------------------------------------------------
# Every operation has operands and result of one width (Verilator -Wall clean): products are
# as wide as the sum of their operand widths, sign extensions are explicit concatenations and
# the int32 sums are modbv (two's complement wrap in the MyHDL simulation as in Verilog).


def _sext(sig, bits):
    """``sig`` sign-extended to ``bits`` bits, as an unsigned bit pattern."""
    n = len(sig)
    if n == bits:
        return sig
    return ConcatSignal(*([sig(n - 1)] * (bits - n)), sig)


def _m(bits):
    return Signal(modbv(0)[bits:])


# product blocks: stage-A registers -> registered product (stage B)


@block
def exact_lane(clk, w, d, prod):
    """prod (17 bits) = w * d: one multiplier for one lane."""

    @always(clk.posedge)
    def mul():
        prod.next = w.signed() * d

    return mul


@block
def exact_pair(clk, hi25, lo25, d, prod_lo, prod_hi):
    """Two lanes on one 25 x 9 signed multiplier (one DSP48E1).

    ``hi25`` = w_hi * 2^16 and ``lo25`` = w_lo, both as 25-bit patterns; the packed operand
    is their sum. Bits 15..0 of the product are w_lo * d (|w_lo * d| < 2^15), the bits above
    plus bit 15 (the borrow the negative low product took) are w_hi * d."""
    packed = _s(25)
    p = _s(34)

    @always_comb
    def pack():
        packed.next = hi25.signed() + lo25.signed()

    @always(clk.posedge)
    def mul():
        p.next = packed * d

    @always_comb
    def split():
        h = modbv(0)[18:]
        h[:] = p[34:16] + p[15]
        prod_hi.next = h.signed()
        prod_lo.next = p[16:].signed()

    return pack, mul, split


@block
def approx_lane(clk, w, wsign, x, prod, spec):
    """prod = the unit's product with the golden model's operand mapping, registered:
    signed unit mul(w, x) (16 bits); unsigned unit sign(w) * mul(|w|, x + 128) (17 bits)."""
    from cores.arith.common import core_module, operand_signal, result_signal  # noqa: PLC0415
    from cores.arith.common import unit as unit_inst  # noqa: PLC0415

    a = operand_signal(spec)
    b = operand_signal(spec)
    y = result_signal(spec)
    unit = unit_inst(spec, core_module(spec.name), a, b, y)

    if spec.signed:

        @always_comb
        def operands():
            a.next = w.signed()
            b.next = x

        @always(clk.posedge)
        def product():
            prod.next = y

        return unit, operands, product

    y17 = ConcatSignal(intbv(0)[1:], y)

    @always_comb
    def operands():
        if wsign:
            a.next = ~w + 1
        else:
            a.next = w
        b.next = x[8:] ^ 0x80

    @always(clk.posedge)
    def product():
        if w == 0:  # sign(w) = 0: the golden model drops the unit's product (it may not be 0)
            prod.next = 0
        elif wsign:
            prod.next = -y17.signed()
        else:
            prod.next = y17.signed()

    return unit, operands, product


@block
def _unit_product(w, wsign, x, a, b, y, p, signed):
    """Operands of one unit of a heterogeneous lane and its product (17 bits, not registered),
    with the golden model's operand mapping as in :func:`approx_lane`."""
    if signed:  # mul(w, x)
        y17 = _sext(y, 17)

        @always_comb
        def operands():
            a.next = w.signed()
            b.next = x

        @always_comb
        def product():
            p.next = y17.signed()

        return operands, product

    y17 = ConcatSignal(intbv(0)[1:], y)

    @always_comb
    def operands():
        if wsign:
            a.next = ~w + 1
        else:
            a.next = w
        b.next = x[8:] ^ 0x80

    @always_comb
    def product():
        if w == 0:  # sign(w) = 0: the golden model drops the unit's product
            p.next = 0
        elif wsign:
            p.next = -y17.signed()
        else:
            p.next = y17.signed()

    return operands, product


@block
def _pick(sel, k, a, b, out):
    """out = b when sel == k, else a (one step of a lane's product selection)."""

    @always_comb
    def pick():
        if sel == k:
            out.next = b
        else:
            out.next = a

    return pick


@block
def multi_lane(clk, w, wsign, x, sel, prod, specs):
    """prod (17 bits) = the product of unit ``sel`` of ``specs`` (one instance of each unit in
    the lane, operands as :func:`approx_lane`), registered."""
    from cores.arith.common import core_module, operand_signal, result_signal  # noqa: PLC0415
    from cores.arith.common import unit as unit_inst  # noqa: PLC0415

    insts = []
    cur = None
    for k, spec in enumerate(specs):
        a, b, y = operand_signal(spec), operand_signal(spec), result_signal(spec)
        p = _s(17)
        insts += [unit_inst(spec, core_module(spec.name), a, b, y),
                  _unit_product(w, wsign, x, a, b, y, p, bool(spec.signed))]
        if cur is None:
            cur = p
        else:
            nxt = _s(17)
            insts.append(_pick(sel, k, cur, p, nxt))
            cur = nxt

    @always(clk.posedge)
    def product():
        prod.next = cur

    return insts, product


@block
def select_register(clk, rst, reg_wr, reg_err, reg_addr, reg_wdata, sel, bad, word, lsb,
                    units):
    """The unit select of a heterogeneous engine (MODE.MUL, bits lsb+3..lsb of register word
    ``word``): stored on a write, ``bad`` while it names no unit of the build (``units``)."""

    @always_seq(clk.posedge, reset=rst)
    def store():
        if reg_wr and not reg_err and reg_addr == word:
            sel.next = reg_wdata[lsb + SEL_BITS:lsb]

    @always_comb
    def check():
        bad.next = sel >= units

    return store, check


# accumulator lanes and the output bank


@block
def exact_acc_lane(clk, vb, fb, prod32, load, shift_en, sh_in_acc, sh_acc):
    """int32 accumulator of one lane and its cell of the output bank (which shifts towards
    lane 0: ``sh_in_acc`` is the next lane's cell)."""
    acc = _m(ACC_BITS)
    acc_n = _m(ACC_BITS)

    @always_comb
    def next_sum():
        a = modbv(0)[ACC_BITS:]
        if fb:
            a[:] = prod32
        else:
            a[:] = acc + prod32
        acc_n.next = a

    @always(clk.posedge)
    def registers():
        if vb:
            acc.next = acc_n
        if load:
            sh_acc.next = acc_n
        elif shift_en:
            sh_acc.next = sh_in_acc

    return next_sum, registers


@block
def approx_acc_lane(clk, vb, fb, pb, prod32, w32, load, shift_en, sh_in_acc, sh_in_ws, sh_acc,
                    sh_ws):
    """As :func:`exact_acc_lane`, plus the sum of the lane's weights over in-image taps;
    padded taps add nothing."""
    acc = _m(ACC_BITS)
    ws = _m(ACC_BITS)
    acc_n = _m(ACC_BITS)
    ws_n = _m(ACC_BITS)

    @always_comb
    def next_sum():
        a = modbv(0)[ACC_BITS:]
        s = modbv(0)[ACC_BITS:]
        if fb:
            a[:] = 0
            s[:] = 0
        else:
            a[:] = acc
            s[:] = ws
        if not pb:
            a[:] = a + prod32
            s[:] = s + w32
        acc_n.next = a
        ws_n.next = s

    @always(clk.posedge)
    def registers():
        if vb:
            acc.next = acc_n
            ws.next = ws_n
        if load:
            sh_acc.next = acc_n
            sh_ws.next = ws_n
        elif shift_en:
            sh_acc.next = sh_in_acc
            sh_ws.next = sh_in_ws

    return next_sum, registers


@block
def cnn_mac(clk, rst, in_valid, in_ready, in_first, in_last, in_pad, x, w, in_zp, out_valid,
            out_lane, out_last, out_acc, lanes, mul, pack, spec, sel=None):
    # spec: None (exact int8), a unit's spec, or a tuple of specs (heterogeneous: sel picks
    # the unit). (No docstring: the converter would copy it into the committed Verilog.)
    P = lanes
    approx = spec is not None
    specs = spec if isinstance(spec, tuple) else (spec,)
    multi = len(specs) > 1
    if multi and sel is None:
        raise MacConfigError("a heterogeneous MAC array needs its unit select signal")
    uns = [not s.signed for s in specs] if approx else []
    insts = []

    # ---- input stage (A) and acceptance rule
    since = Signal(intbv(P, min=0, max=P + 1))
    take = Signal(bool(0))
    va, fa, la = (Signal(bool(0)) for _ in range(3))
    wa = _u(8 * P)

    @always_comb
    def ready():
        in_ready.next = (not in_last) or since >= P
        take.next = in_valid and ((not in_last) or since >= P)

    @always_seq(clk.posedge, reset=rst)
    def control_a():
        va.next = take
        if take and in_last:
            since.next = 1
        elif since < P:
            since.next = since + 1

    @always(clk.posedge)
    def stage_a():
        fa.next = in_first
        la.next = in_last
        wa.next = w

    insts += [ready, control_a, stage_a]

    # ---- product stage (B)
    vb, fb, lb = (Signal(bool(0)) for _ in range(3))

    @always_seq(clk.posedge, reset=rst)
    def control_b():
        vb.next = va

    @always(clk.posedge)
    def stage_b():
        fb.next = fa
        lb.next = la

    insts += [control_b, stage_b]

    wsl = [wa(8 * i + 8, 8 * i) for i in range(P)]
    wsg = [wa(8 * i + 7) for i in range(P)]
    prod32 = []
    if approx:
        pa, pb = Signal(bool(0)), Signal(bool(0))
        x_a = _s(8)
        zpa, zpb = _m(9), _m(9)
        wb = _u(8 * P)
        zp9 = _sext(in_zp, 9)
        if any(uns) and not all(uns):  # mixed: the selected unit's input offset
            UNS = tuple(int(u) for u in uns) + (0,) * ((1 << SEL_BITS) - len(uns))
            offset = Signal(bool(0))

            @always_comb
            def unit_offset():
                offset.next = UNS[int(sel)]

            @always(clk.posedge)
            def stage_a_path():
                pa.next = in_pad
                x_a.next = x
                if offset:
                    zpa.next = zp9 + 128
                else:
                    zpa.next = zp9

            insts.append(unit_offset)

        elif not uns[0]:

            @always(clk.posedge)
            def stage_a_path():
                pa.next = in_pad
                x_a.next = x
                zpa.next = zp9

        else:

            @always(clk.posedge)
            def stage_a_path():
                pa.next = in_pad
                x_a.next = x
                zpa.next = zp9 + 128  # unsigned unit: the input enters as x + 128

        @always(clk.posedge)
        def stage_b_path():
            pb.next = pa
            zpb.next = zpa
            wb.next = wa

        insts += [stage_a_path, stage_b_path]
        pbits = 17 if multi or uns[0] else 16
        for i in range(P):
            prod = _s(pbits)
            if multi:
                insts.append(multi_lane(clk, wsl[i], wsg[i], x_a, sel, prod, specs))
            else:
                insts.append(approx_lane(clk, wsl[i], wsg[i], x_a, prod, spec))
            prod32.append(_sext(prod, ACC_BITS))
    else:
        da = _s(9)
        x9 = _sext(x, 9)
        zp9 = _sext(in_zp, 9)

        @always(clk.posedge)
        def stage_a_path():
            if in_pad:
                da.next = 0
            else:
                da.next = x9.signed() - zp9.signed()

        insts.append(stage_a_path)
        if pack:
            for j in range(P // 2):
                lo, hi = 2 * j, 2 * j + 1
                hi25 = ConcatSignal(wsg[hi], wsl[hi], intbv(0)[16:])
                lo25 = _sext(wsl[lo], 25)
                p_lo, p_hi = _s(16), _s(18)
                insts.append(exact_pair(clk, hi25, lo25, da, p_lo, p_hi))
                prod32 += [_sext(p_lo, ACC_BITS), _sext(p_hi, ACC_BITS)]
        for i in range(len(prod32), P):
            prod = _s(17)
            insts.append(exact_lane(clk, wsl[i], da, prod))
            prod32.append(_sext(prod, ACC_BITS))

    # ---- accumulate stage (C) and the output bank
    load = Signal(bool(0))
    shift_en = Signal(bool(0))
    cnt = Signal(intbv(0, min=0, max=P + 1))
    idx = _m(len(out_lane))
    sh_acc = [_m(ACC_BITS) for _ in range(P)]
    sh_ws = [_m(ACC_BITS) for _ in range(P)]
    for i in range(P):
        nxt = min(i + 1, P - 1)  # the last cell shifts in itself (its value is not used)
        if approx:
            w32 = _sext(wb(8 * i + 8, 8 * i), ACC_BITS) if P > 1 else _sext(wb, ACC_BITS)
            insts.append(approx_acc_lane(clk, vb, fb, pb, prod32[i], w32, load, shift_en,
                                         sh_acc[nxt], sh_ws[nxt], sh_acc[i], sh_ws[i]))
        else:
            insts.append(exact_acc_lane(clk, vb, fb, prod32[i], load, shift_en, sh_acc[nxt],
                                        sh_acc[i]))
    head_acc = sh_acc[0]
    head_ws = sh_ws[0]

    @always_comb
    def bank_control():
        load.next = vb and lb
        shift_en.next = cnt != 0

    @always_seq(clk.posedge, reset=rst)
    def drain():
        if vb and lb:
            cnt.next = P
        elif cnt != 0:
            cnt.next = cnt - 1
        if vb and lb:
            idx.next = 0
        elif cnt != 0:
            idx.next = idx + 1
        out_valid.next = cnt != 0
        out_last.next = cnt == 1
        out_lane.next = idx

    insts += [bank_control, drain]

    if approx:
        zsh = _m(9)

        @always(clk.posedge)
        def zp_bank():
            if vb and lb:
                zsh.next = zpb

        @always(clk.posedge)
        def out_stage():
            # acc - zp * wsum mod 2^32 by shift-and-add (9-bit two's complement zp), one
            # for all lanes
            c = modbv(0)[ACC_BITS:]
            t = modbv(0)[ACC_BITS:]
            o = modbv(0)[ACC_BITS:]
            c[:] = 0
            t[:] = head_ws
            for j in range(8):
                if zsh[j]:
                    c[:] = c + t
                t[:] = t << 1
            o[:] = head_acc - c
            if zsh[8]:
                o[:] = o + t
            out_acc.next = o.signed()

        insts += [zp_bank, out_stage]
    else:

        @always(clk.posedge)
        def out_stage():
            out_acc.next = head_acc.signed()

        insts.append(out_stage)

    return insts


def build(lanes=8, mul="int8", pack=True):
    """(factory, module name) of the MAC array; bad parameters raise MacConfigError. A
    heterogeneous array has one more port, ``sel`` (SEL_BITS bits), after ``out_acc``."""
    p = normalise(lanes, mul, pack)
    extra = {"sel": _u(SEL_BITS)} if units_of(p) > 1 else {}

    def factory():
        return cnn_mac(*ports(p["lanes"]), lanes=p["lanes"], mul=p["mul"], pack=p["pack"],
                       spec=p["spec"], **extra)

    return factory, module_name(p)
