"""TFLite int8 requantisation unit (the output stage of Conv2D / DepthwiseConv2D / FC).

One value per cycle, fully pipelined, latency :data:`LATENCY` cycles, two rescale modes::

    x   = acc + bias                                   (int32, wraps)
    fc = 0: r = MultiplyByQuantizedMultiplier(x, M, shift)   (default double-rounding build)
              = RoundingDivideByPOT(SRDHM(x << max(shift, 0), M), max(-shift, 0))
    fc = 1: r = round(double(x) * scale)               (TFLite's reference FullyConnected:
              the float64 product rounded to 53 bits, ties to even, then ties away from zero)
    y   = clamp(r + out_zp, act_min, act_max)          (int8)

Golden models: :func:`refmodels.cnn.tflite.requantize` (fixed point) and
:func:`refmodels.cnn.tflite.requantize_fc` with ``scale`` (float scale), whose integer form
:func:`refmodels.cnn.tflite.multiply_by_scale_fixed` this datapath follows step by step.
The parameters travel with every value, so per-channel parameters cost nothing here (the
layer engine presents the channel's entries with the value). With ``fc`` the float64 scale
comes as its IEEE-754 bit pattern: bits 31:0 on ``mult``, bits 63:32 on ``scale_hi``.
Stages:

1. input register; ``acc + bias`` (32-bit wrap) and the left / right shift amounts;
2. one 32-bit left shifter: ``x << left`` (two's complement wrap, as the C code on the targets
   does), or (fc) ``|x|`` normalised to bit 31 with its leading-zero count ``s``; the
   multiplier operands (fc: the 53-bit significand, hidden bit included) and
   ``n = 1044 + s - E`` (``E`` the biased exponent);
3. one 33 x 54 signed product (DSP48E1 blocks on 7-series), shared by both modes, and the
   INT32_MIN x INT32_MIN flag;
4. SaturatingRoundingDoublingHighMul: ``floor((x*M + 2^30) / 2^31)``, which equals gemmlowp's
   nudge-then-truncate for both signs of the product; the doubled INT32_MIN case saturates.
   fc: the product (in [2^83, 2^85)) rounded to its 53 leading bits, ties to even; only bits
   53..42 of the rounded value R are kept (its top bits plus the carry of the round bit
   through 42 one bits; such a carry implies an odd LSB, which a tie rounds up anyway, so no
   sticky bits are needed);
5. RoundingDivideByPOT: ``(q >> e) + (rem > (mask >> 1) + (q < 0))``. fc: the value is
   ``R * 2^-n`` with ``n`` one less when the product's bit 84 is set;
   ``|r| = ((R >> (n - 1)) + 1) >> 1`` for 43 <= n <= 54, 1024 (saturated) for n <= 42, 0
   for n >= 55, a zero ``x`` or a zero / subnormal scale; the sign is ``sign(x)`` xor the
   scale's sign;
6. ``+ out_zp`` in 33 bits, clamp to ``[act_min, act_max]``, int8 output register.

Ports (all synchronous to ``clk``, ``rst`` synchronous active high, clears the valid pipe):

=========== ===== ======== ================================================================
port        dir   bits     meaning
=========== ===== ======== ================================================================
in_valid    in    1        a value is presented
acc         in    s32      accumulator
bias        in    s32      bias of the value's channel (acc + bias wraps to 32 bits)
mult        in    s32      quantised multiplier M (TFLite: 0 or [2^30, 2^31)); fc: bits
                           31:0 of the float64 scale
shift       in    s6       shift, -31..+31 (TFLite gives -31..+30); not used with fc
fc          in    1        rescale with the float64 scale (TFLite's reference FC)
scale_hi    in    u32      fc: bits 63:32 of the float64 scale (sign, exponent, significand
                           bits 51:32); a finite scale (exponent 2047 saturates)
out_zp      in    s8       output zero point
act_min     in    s8       activation clamp, lower bound
act_max     in    s8       activation clamp, upper bound (act_min <= act_max)
out_valid   out   1        ``y`` holds a result, LATENCY cycles after its in_valid
y           out   s8       requantised value
=========== ===== ======== ================================================================
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

LATENCY = 6
MODULE = "cnn_requant"

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
FC_SAT = 1024  # |r| of the float-scale rescale at or beyond which it saturates


def _s(bits):
    return Signal(intbv(0, min=-(1 << (bits - 1)), max=1 << (bits - 1)))


def _u(bits, v=0):
    return Signal(intbv(v)[bits:])


def ports():
    """Fresh signals in port order: clk, rst, in_valid, acc, bias, mult, shift, fc, scale_hi,
    out_zp, act_min, act_max, out_valid, y."""
    return (
        Signal(bool(0)),
        ResetSignal(0, active=1, isasync=False),
        Signal(bool(0)),
        _s(32),
        _s(32),
        _s(32),
        _s(6),
        Signal(bool(0)),
        _u(32),
        _s(8),
        _s(8),
        _s(8),
        Signal(bool(0)),
        _s(8),
    )


def _sext(sig, bits):
    """``sig`` sign-extended to ``bits`` bits (an unsigned bit pattern, width-exact in Verilog)."""
    n = len(sig)
    return ConcatSignal(*([sig(n - 1)] * (bits - n)), sig)


@block
def cnn_requant(clk, rst, in_valid, acc, bias, mult, shift, fc, scale_hi, out_zp, act_min,
                act_max, out_valid, y):
    # Every operation below has operands and result of one width (Verilator -Wall clean);
    # modbv variables give the two's complement wrap in the MyHDL simulation too.
    # valid pipeline
    v1, v2, v3, v4, v5 = (Signal(bool(0)) for _ in range(5))
    # stage 1
    x1 = _s(32)
    left1 = _u(5)
    right1 = _u(6)
    m1 = _s(32)
    fc1 = Signal(bool(0))
    sh1 = _u(32)  # bits 63:32 of the float64 scale (fc)
    # stage 2: the multiplier operands (fc: |x| normalised, the 53-bit significand)
    a2 = _s(33)
    b2 = _s(54)
    right2 = _u(6)
    fc2, zero2, neg2 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    nb2 = _s(12)  # fc: 1044 + leading zeros - biased exponent
    # stage 3
    ab3 = _s(87)
    sat3 = Signal(bool(0))
    right3 = _u(6)
    fc3, zero3, neg3 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    nb3 = _s(12)
    unused_ab3 = Signal(bool(0))  # product bits no path needs
    ones42 = _u(42, (1 << 42) - 1)  # constants
    ones22 = _u(22, (1 << 22) - 1)
    ones20 = _u(20, (1 << 20) - 1)
    c1044 = _u(12, 1044)
    # stage 4
    q4 = _s(32)
    right4 = _u(6)
    t4 = _u(12)  # fc: the product rounded to 53 bits, bits 53..42
    n4 = _s(12)  # fc: the product is that 53-bit value times 2^-n4
    fc4, zero4, neg4 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    # stage 5
    r5 = _s(32)
    r5c = _s(11)  # r5 limited to [-512, 511]: beyond, the clamp result is the same
    # output parameters travel with the value
    zp1, zp2, zp3, zp4, zp5 = (_s(8) for _ in range(5))
    lo1, lo2, lo3, lo4, lo5 = (_s(8) for _ in range(5))
    hi1, hi2, hi3, hi4, hi5 = (_s(8) for _ in range(5))
    zp5x = _sext(zp5, 11)
    lo5x = _sext(lo5, 11)
    hi5x = _sext(hi5, 11)

    @always_seq(clk.posedge, reset=rst)
    def valid_pipe():
        v1.next = in_valid
        v2.next = v1
        v3.next = v2
        v4.next = v3
        v5.next = v4
        out_valid.next = v5

    @always(clk.posedge)
    def stage1():
        s = modbv(0)[32:]
        ns = modbv(0)[6:]
        s[:] = acc + bias
        x1.next = s.signed()
        ns[:] = -shift
        if shift > 0:
            left1.next = shift[5:]
            right1.next = 0
        else:
            left1.next = 0
            right1.next = ns
        m1.next = mult
        fc1.next = fc
        sh1.next = scale_hi
        zp1.next = out_zp
        lo1.next = act_min
        hi1.next = act_max

    @always(clk.posedge)
    def stage2():
        # one 32-bit left shifter: by `left` (x << left, wrapping), or (fc) |x| shifted until
        # its bit 31 is set, counting the leading zeros in `lz`
        t = modbv(0)[32:]
        lz = intbv(0)[12:]
        e = intbv(0)[12:]
        nb = modbv(0)[12:]
        aa = intbv(0)[33:]
        bb = intbv(0)[54:]
        t[:] = x1[32:]
        if fc1 and x1 < 0:
            t[:] = ~t
            t[:] = t + 1
        if (fc1 and t[32:16] == 0) or (not fc1 and left1[4]):
            t[:] = t << 16
            lz[4] = 1
        if (fc1 and t[32:24] == 0) or (not fc1 and left1[3]):
            t[:] = t << 8
            lz[3] = 1
        if (fc1 and t[32:28] == 0) or (not fc1 and left1[2]):
            t[:] = t << 4
            lz[2] = 1
        if (fc1 and t[32:30] == 0) or (not fc1 and left1[1]):
            t[:] = t << 2
            lz[1] = 1
        if (fc1 and not t[31]) or (not fc1 and left1[0]):
            t[:] = t << 1
            lz[0] = 1
        # operands: fc: zero-extended |x| << lz and {0, 1, significand bits 51..0};
        # else the sign-extended x << left and M
        aa[32:] = t
        aa[32] = t[31] and not fc1
        bb[32:] = m1[32:]
        if fc1:
            bb[52:32] = sh1[20:]
            bb[52] = 1
        elif m1[31]:
            bb[54:32] = ones22
        a2.next = aa.signed()
        b2.next = bb.signed()
        e[11:] = sh1[31:20]
        nb[:] = c1044 + lz
        nb[:] = nb - e
        nb2.next = nb.signed()
        zero2.next = x1 == 0 or sh1[31:20] == 0
        neg2.next = x1[31] ^ sh1[31]
        fc2.next = fc1
        right2.next = right1
        zp2.next = zp1
        lo2.next = lo1
        hi2.next = hi1

    @always(clk.posedge)
    def stage3():
        ab3.next = a2 * b2
        # INT32_MIN x INT32_MIN, compared as bit patterns (only in the fixed-point mode)
        sat3.next = (not fc2) and a2[31] and (a2[31:] == 0) and b2[31] and (b2[31:] == 0)
        right3.next = right2
        fc3.next = fc2
        zero3.next = zero2
        neg3.next = neg2
        nb3.next = nb2
        zp3.next = zp2
        lo3.next = lo2
        hi3.next = hi2

    @always_comb
    def unused_bits():
        unused_ab3.next = ab3[86] ^ ab3[85] ^ (ab3[30:] != 0)

    @always(clk.posedge)
    def stage4():
        # fixed point: floor((ab + 2^30) / 2^31) = (ab >> 31) + bit 30 of ab; it fits 32 bits
        # unless saturated
        q = modbv(0)[32:]
        q[:] = ab3[63:31] + ab3[30]
        if sat3:  # INT32_MAX, built from bits (MyHDL would size the constant 33 bits)
            q[:] = 0
            q[:] = ~q
            q[31] = 0
        q4.next = q.signed()
        # float scale: the product in [2^83, 2^85) rounded to its 53 leading bits, ties to
        # even; only bits 53..42 of the rounded value R are kept: its top bits plus the carry
        # of the rounding increment (the round bit) through the 42 bits below. That carry
        # needs those 42 bits all one, the LSB among them: an odd LSB rounds up on a tie as
        # above one, so neither the sticky bits nor the tie test change the kept bits
        kh = intbv(0)[12:]
        ones = False
        inc = False
        t = intbv(0)[12:]
        if ab3[84]:  # R = ab >> 32 (+1)
            kh[11:] = ab3[85:74]
            ones = ab3[74:32] == ones42
            inc = ab3[31]
        else:  # R = ab >> 31 (+1)
            kh[11:] = ab3[84:73]
            ones = ab3[73:31] == ones42
            inc = ab3[30]
        t[:] = kh
        if inc and ones:
            t[:] = kh + 1
        t4.next = t
        if ab3[84]:
            n4.next = nb3 - 1
        else:
            n4.next = nb3
        fc4.next = fc3
        zero4.next = zero3
        neg4.next = neg3
        right4.next = right3
        zp4.next = zp3
        lo4.next = lo3
        hi4.next = hi3

    @always(clk.posedge)
    def stage5():
        one = intbv(0)[32:]
        mask = intbv(0)[32:]
        rem = intbv(0)[32:]
        thr = intbv(0)[32:]
        sh = intbv(0, min=-(1 << 31), max=1 << 31)
        j = modbv(0)[4:]
        u = intbv(0)[12:]
        mag = modbv(0)[12:]
        w = modbv(0)[32:]
        if fc4:
            # round half away from zero at bit n of R: ((R >> (n - 1)) + 1) >> 1 from the
            # top bits t4 = R >> 42 (43 <= n <= 54); n <= 42 saturates, n >= 55 gives 0
            j[:] = n4[4:] + 5  # n - 43 modulo 16
            u[:] = t4 >> j
            u[:] = u + 1  # at most 2049
            mag[11:] = u[12:1]
            if zero4 or n4 >= 55:
                mag[:] = 0
            elif n4 <= 42:
                mag[:] = FC_SAT
            if neg4:
                mag[:] = ~mag
                mag[:] = mag + 1
            w[12:] = mag
            if mag[11]:
                w[32:12] = ones20
            r5.next = w.signed()
        else:
            one[:] = 1
            mask[:] = (one << right4) - 1
            rem[:] = q4[32:] & mask
            thr[:] = mask >> 1
            if q4 < 0:
                thr[:] = thr + 1
            sh[:] = q4 >> right4
            if rem > thr:
                r5.next = sh + 1
            else:
                r5.next = sh
        zp5.next = zp4
        lo5.next = lo4
        hi5.next = hi4

    @always_comb
    def limit():
        if r5 > 511:
            r5c.next = 511
        elif r5 < -512:
            r5c.next = -512
        else:
            r5c.next = r5[11:].signed()

    @always(clk.posedge)
    def stage6():
        o = intbv(0, min=-(1 << 10), max=1 << 10)
        o[:] = r5c + zp5x.signed()
        if o < lo5x.signed():
            y.next = lo5
        elif o > hi5x.signed():
            y.next = hi5
        else:
            y.next = o[8:].signed()

    return (valid_pipe, stage1, stage2, stage3, unused_bits, stage4, stage5, limit, stage6)


def build():
    """(factory, module name) of the requantisation unit (it has no parameters)."""
    return (lambda: cnn_requant(*ports())), MODULE
