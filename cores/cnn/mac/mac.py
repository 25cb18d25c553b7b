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


class MacConfigError(ValueError):
    """The MAC array cannot be generated with these parameters."""


def _s(bits):
    return Signal(intbv(0, min=-(1 << (bits - 1)), max=1 << (bits - 1)))


def _u(bits):
    return Signal(intbv(0)[bits:])


def normalise(lanes=8, mul="int8", pack=True):
    """Validated parameters: ``{"lanes", "mul", "pack", "spec"}``; bad values raise
    :class:`MacConfigError` with the valid choices."""
    if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= MAX_LANES:
        raise MacConfigError(f"lanes must be an integer in 1..{MAX_LANES}, got {lanes!r}")
    if not isinstance(mul, str) or not mul.strip():
        raise MacConfigError(f"mul must be 'int8' or a multiplier unit name, got {mul!r}")
    mul = mul.strip()
    if mul == "int8":
        return {"lanes": lanes, "mul": "int8", "pack": bool(pack), "spec": None}
    from cores.arith.common import MUL_UNITS  # noqa: PLC0415
    from refmodels.arith import UnitError, parse_mul8  # noqa: PLC0415

    try:
        spec = parse_mul8(mul)
    except UnitError as exc:
        raise MacConfigError(f"mul: {exc} (or 'int8' for the exact DSP path)") from None
    if spec.name not in MUL_UNITS:
        raise MacConfigError(
            f"mul {mul!r} is not a multiplier with a MyHDL core; valid: int8, "
            + ", ".join(MUL_UNITS)
        )
    return {"lanes": lanes, "mul": str(spec), "pack": False, "spec": spec}


def module_name(p) -> str:
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
            out_lane, out_last, out_acc, lanes, mul, pack, spec):
    P = lanes
    approx = spec is not None
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
        if spec.signed:

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
        pbits = 16 if spec.signed else 17
        for i in range(P):
            prod = _s(pbits)
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
    """(factory, module name) of the MAC array; bad parameters raise MacConfigError."""
    p = normalise(lanes, mul, pack)

    def factory():
        return cnn_mac(*ports(p["lanes"]), lanes=p["lanes"], mul=p["mul"], pack=p["pack"],
                       spec=p["spec"])

    return factory, module_name(p)
