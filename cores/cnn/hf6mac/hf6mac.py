"""Hybrid-Float6 MAC array: float32 activations times HF6 weights, 64-bit Q.23 accumulation.

Every cycle one *tap* enters: a float32 activation ``a`` (IEEE-754 bit pattern, broadcast to
every lane) and one HF6 weight code per lane (``w``, lane ``i`` in bits ``6i+5..6i``: sign,
4-bit exponent with bias 7, 1-bit mantissa; exponent field 0 is subnormal). ``in_first`` marks
the first tap of a sum: lane ``i`` then starts from its HF6 bias code (``b``, same packing) as
the exact Q.23 value. ``in_last`` ends the sum. Arithmetic, bit for bit the golden model
``refmodels.cnn.minifloat`` (``hf6_product_fixed``, ``hf6_bias_fixed``, ``fixed_to_float32``,
``hf6_dot``):

* product: significand of ``a`` (24 bits, hidden bit, subnormals as such) times the 2-bit HF6
  significand - a multiplexer and one adder, no multiplier; exponent ``ea + ew``; the 26-bit
  product is shifted to Q.23 (``ea + ew - 135``: left with wrap mod 2**64, or right with
  truncation of the magnitude), then negated when the signs differ (two's complement, mod
  2**64);
* accumulation: 64-bit two's complement, wrapping (mod 2**64);
* result: the accumulator (``out_acc``, lane ``i`` in bits ``64i+63..64i``) and its float32
  value ``acc * 2**-23`` rounded to nearest, ties to even (``out_y``, lane ``i`` in bits
  ``32i+31..32i``).

Activations must be finite (exponent field 255 is not checked). There is no back-pressure: a
tap is accepted on every cycle with ``in_valid``. All P results of a sum leave together,
``out_valid`` for one cycle, ``LATENCY`` cycles after the last tap was accepted; sums may follow
each other without gaps.
"""

from __future__ import annotations

from myhdl import ConcatSignal, ResetSignal, Signal, always_comb, always_seq, block, intbv, modbv

from cores.cnn.common import CnnConfigError

MAX_LANES = 32
LATENCY = 8  # cycles from the accepted last tap to out_valid
SHIFT_ZERO = 135  # ea + ew at which the product is already in Q.23 (150 + 8 - 23)


def _u(bits, v=0):
    return Signal(intbv(v)[bits:])


def _m(bits):
    return Signal(modbv(0)[bits:])


def normalise(lanes=4):
    if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= MAX_LANES:
        raise CnnConfigError(f"lanes must be an integer in 1..{MAX_LANES}, got {lanes!r}")
    return {"lanes": lanes}


def module_name(p) -> str:
    return f"cnn_hf6mac_p{p['lanes']}"


def ports(lanes):
    """clk, rst, in_valid, in_first, in_last, a, w, b, out_valid, out_acc, out_y."""
    return (Signal(bool(0)), ResetSignal(0, active=1, isasync=False), Signal(bool(0)),
            Signal(bool(0)), Signal(bool(0)), _u(32), _u(6 * lanes), _u(6 * lanes),
            Signal(bool(0)), _u(64 * lanes), _u(32 * lanes))


@block
def hf6_lane(clk, rst, v2, f2, l2, sa2, ea2, ma2, w1, b1, acc_out, y_out):
    """One lane: its weight / bias codes of stage 1 (slices of the input word), the decoded
    activation of stage 2, its registered results."""
    w = _u(6)
    b = _u(6)
    # stage 3: product, exponent sum, bias magnitude
    p3 = _u(64)
    lsh3 = _u(9)
    rsh3 = _u(9)
    left3 = Signal(bool(0))
    zero3 = Signal(bool(0))
    n3 = Signal(bool(0))
    bm3 = _u(64)
    bn3 = Signal(bool(0))
    # stage 4: signed product and bias
    mag4 = _m(64)
    n4 = Signal(bool(0))
    bias4 = _m(64)
    # stage 5: two's complement product
    prod5 = _m(64)
    bias5 = _m(64)
    acc = _m(64)
    fin = _m(64)
    # output conversion
    mag_a = _m(64)
    sg_a = Signal(bool(0))
    acc_a = _u(64)
    t_b = _m(64)
    pos_b = _u(6)
    nz_b = Signal(bool(0))
    sg_b = Signal(bool(0))
    acc_b = _u(64)
    v3, f3, l3, v4, f4, l4, v5, f5, l5 = (Signal(bool(0)) for _ in range(9))

    @always_seq(clk.posedge, reset=rst)
    def stage2():
        w.next = w1
        b.next = b1

    @always_seq(clk.posedge, reset=rst)
    def stage3():
        v3.next = v2
        f3.next = f2
        l3.next = l2
        # HF6 weight fields: significand 2|m (normal) or m (subnormal), exponent max(e, 1)
        ew = intbv(0)[9:]
        ew[4:] = w[5:1]
        sig = intbv(0)[2:]
        sig[0] = w[0]
        sig[1] = w[5:1] != 0
        if w[5:1] == 0:
            ew[:] = 1
        # shift of the product to Q.23: ea + ew - 135, left (wrapping) or right
        se = intbv(0)[9:]
        se[:] = ea2 + ew
        d = modbv(0)[9:]
        d[:] = se + 377  # se - 135 (mod 2**9)
        r = modbv(0)[9:]
        r[:] = ~se + 136  # 135 - se (mod 2**9)
        lsh3.next = d
        rsh3.next = r
        left3.next = se >= SHIFT_ZERO
        # left by 64 or more, or right by 32 or more (the product has 26 bits): zero
        zero3.next = se >= SHIFT_ZERO + 64 or (se < SHIFT_ZERO and r >= 32)
        n3.next = sa2 ^ w[5]
        # 24 x 2-bit significand product: a multiplexer and an add
        pa = intbv(0)[64:]
        pb = intbv(0)[64:]
        if sig[0]:
            pa[24:] = ma2
        if sig[1]:
            pb[25:1] = ma2
        p3.next = pa + pb
        # bias: sig << (e + 15) (exact Q.23 value of the HF6 code)
        eb = intbv(0)[6:]
        eb[4:] = b[5:1]
        bs = intbv(0)[64:]
        bs[0] = b[0]
        bs[1] = b[5:1] != 0
        if b[5:1] == 0:
            eb[:] = 1
        bm3.next = bs << (eb + 15)
        bn3.next = b[5]

    @always_seq(clk.posedge, reset=rst)
    def stage4():
        v4.next = v3
        f4.next = f3
        l4.next = l3
        n4.next = n3
        if zero3:
            mag4.next = 0
        elif left3:
            mag4.next = p3 << lsh3
        else:
            mag4.next = p3 >> rsh3
        if bn3:
            bias4.next = ~bm3 + 1
        else:
            bias4.next = bm3

    @always_seq(clk.posedge, reset=rst)
    def stage5():
        v5.next = v4
        f5.next = f4
        l5.next = l4
        bias5.next = bias4
        if n4:
            prod5.next = ~mag4 + 1
        else:
            prod5.next = mag4

    @always_seq(clk.posedge, reset=rst)
    def accumulate():
        if v5:
            if f5:
                acc.next = bias5 + prod5
                if l5:
                    fin.next = bias5 + prod5
            else:
                acc.next = acc + prod5
                if l5:
                    fin.next = acc + prod5

    @always_seq(clk.posedge, reset=rst)
    def to_float_a():
        # stage A: sign and magnitude (|INT64_MIN| = 2**63 fits 64 unsigned bits)
        acc_a.next = fin
        sg_a.next = fin[63]
        if fin[63]:
            mag_a.next = ~fin + 1
        else:
            mag_a.next = fin

    @always_seq(clk.posedge, reset=rst)
    def to_float_b():
        # stage B: position of the leading one (binary search) and normalisation (leading
        # one to bit 63)
        x = intbv(0)[64:]
        x[:] = mag_a
        n = intbv(0)[6:]
        if x[64:32] != 0:
            n[5] = 1
            x[:] = x >> 32
        if x[32:16] != 0:
            n[4] = 1
            x[:] = x >> 16
        if x[16:8] != 0:
            n[3] = 1
            x[:] = x >> 8
        if x[8:4] != 0:
            n[2] = 1
            x[:] = x >> 4
        if x[4:2] != 0:
            n[1] = 1
            x[:] = x >> 2
        if x[1]:
            n[0] = 1
        pos_b.next = n
        nz_b.next = mag_a != 0
        k = intbv(0)[6:]
        k[:] = ~n  # 63 - n
        t_b.next = mag_a << k
        sg_b.next = sg_a
        acc_b.next = acc_a

    @always_seq(clk.posedge, reset=rst)
    def to_float_c():
        # stage C: round to 24 significant bits, nearest even; pack float32
        q = intbv(0)[25:]
        q[24:] = t_b[64:40]
        up = t_b[39] and (t_b[39:0] != 0 or t_b[40])
        if up:
            q[:] = q + 1
        ex = intbv(0)[8:]
        ex[6:] = pos_b
        ex[:] = ex + 104  # biased exponent of 2**(pos - 23)
        y = intbv(0)[32:]
        y[31] = sg_b
        if q[24]:
            y[31:23] = ex + 1
        else:
            y[31:23] = ex
            y[23:] = q[23:]
        if not nz_b:
            y[:] = 0
        y_out.next = y
        acc_out.next = acc_b

    return stage2, stage3, stage4, stage5, accumulate, to_float_a, to_float_b, to_float_c


@block
def cnn_hf6mac(clk, rst, in_valid, in_first, in_last, a, w, b, out_valid, out_acc, out_y,
               lanes=4):
    """HF6 MAC array, ``lanes`` lanes (see the module docstring)."""
    v1, f1, l1, v2, f2, l2 = (Signal(bool(0)) for _ in range(6))
    a1 = _u(32)
    w1 = _u(6 * lanes)
    b1 = _u(6 * lanes)
    sa2 = Signal(bool(0))
    ea2 = _u(9)
    ma2 = _u(24)
    vo = _u(LATENCY - 2)

    @always_seq(clk.posedge, reset=rst)
    def stage1():
        v1.next = in_valid
        f1.next = in_first and in_valid
        l1.next = in_last and in_valid
        a1.next = a
        w1.next = w
        b1.next = b

    @always_seq(clk.posedge, reset=rst)
    def stage2():
        # float32 fields: significand with the hidden bit (none for subnormals), max(e, 1)
        v2.next = v1
        f2.next = f1
        l2.next = l1
        sa2.next = a1[31]
        m = intbv(0)[24:]
        m[23:] = a1[23:]
        e = intbv(0)[9:]
        e[8:] = a1[31:23]
        if a1[31:23] == 0:
            e[:] = 1
        else:
            m[23] = 1
        ea2.next = e
        ma2.next = m

    @always_seq(clk.posedge, reset=rst)
    def valid_pipe():
        # one bit per cycle of the lanes' pipeline (a single register: a reproducible
        # conversion)
        sr = intbv(0)[LATENCY - 2 :]
        sr[LATENCY - 2 : 1] = vo[LATENCY - 3 :]
        sr[0] = v2 and l2
        vo.next = sr

    @always_seq(clk.posedge, reset=rst)
    def valid_out():
        out_valid.next = vo[LATENCY - 3]

    accs = [_u(64) for _ in range(lanes)]
    ys = [_u(32) for _ in range(lanes)]
    insts = [stage1, stage2, valid_pipe, valid_out]
    for i in range(lanes):
        insts.append(hf6_lane(clk, rst, v2, f2, l2, sa2, ea2, ma2, w1(6 * i + 6, 6 * i),
                              b1(6 * i + 6, 6 * i), accs[i], ys[i]))
    acc_cat = ConcatSignal(*reversed(accs)) if lanes > 1 else accs[0]
    y_cat = ConcatSignal(*reversed(ys)) if lanes > 1 else ys[0]

    @always_comb
    def outputs():
        out_acc.next = acc_cat
        out_y.next = y_cat

    insts.append(outputs)
    return insts


def build(lanes=4):
    """(factory, module name) of the HF6 MAC array; bad parameters raise CnnConfigError."""
    p = normalise(lanes)

    def factory():
        return cnn_hf6mac(*ports(p["lanes"]), lanes=p["lanes"])

    return factory, module_name(p)
