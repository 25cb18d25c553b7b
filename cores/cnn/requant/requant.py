"""TFLite int8 requantisation unit (the output stage of Conv2D / DepthwiseConv2D / FC).

One value per cycle, fully pipelined, latency :data:`LATENCY` cycles::

    x   = acc + bias                                   (int32, wraps)
    r   = MultiplyByQuantizedMultiplier(x, M, shift)   (default double-rounding build)
        = RoundingDivideByPOT(SRDHM(x << max(shift, 0), M), max(-shift, 0))
    y   = clamp(r + out_zp, act_min, act_max)          (int8)

The golden model is :func:`refmodels.cnn.tflite.requantize`. ``M`` and ``shift`` travel with
every value, so per-channel parameters cost nothing here (the layer engine presents the
channel's pair with the value). Stages:

1. input register; ``acc + bias`` (32-bit wrap) and the left / right shift amounts;
2. ``x << left`` in 32 bits (two's complement wrap, as the C code on the targets does);
3. the 32 x 32 signed product (DSP48E1 blocks on 7-series) and the INT32_MIN x INT32_MIN flag;
4. SaturatingRoundingDoublingHighMul: ``floor((x*M + 2^30) / 2^31)``, which equals gemmlowp's
   nudge-then-truncate for both signs of the product; the doubled INT32_MIN case saturates;
5. RoundingDivideByPOT: ``(q >> e) + (rem > (mask >> 1) + (q < 0))``;
6. ``+ out_zp`` in 33 bits, clamp to ``[act_min, act_max]``, int8 output register.

Ports (all synchronous to ``clk``, ``rst`` synchronous active high, clears the valid pipe):

=========== ===== ======== ================================================================
port        dir   bits     meaning
=========== ===== ======== ================================================================
in_valid    in    1        a value is presented
acc         in    s32      accumulator
bias        in    s32      bias of the value's channel (acc + bias wraps to 32 bits)
mult        in    s32      quantised multiplier M (TFLite: 0 or [2^30, 2^31))
shift       in    s6       shift, -31..+31 (TFLite gives -31..+30)
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


def _s(bits):
    return Signal(intbv(0, min=-(1 << (bits - 1)), max=1 << (bits - 1)))


def _u(bits):
    return Signal(intbv(0)[bits:])


def ports():
    """Fresh signals in port order: clk, rst, in_valid, acc, bias, mult, shift, out_zp,
    act_min, act_max, out_valid, y."""
    return (
        Signal(bool(0)),
        ResetSignal(0, active=1, isasync=False),
        Signal(bool(0)),
        _s(32),
        _s(32),
        _s(32),
        _s(6),
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
def cnn_requant(clk, rst, in_valid, acc, bias, mult, shift, out_zp, act_min, act_max,
                out_valid, y):
    # Every operation below has operands and result of one width (Verilator -Wall clean);
    # modbv variables give the two's complement wrap in the MyHDL simulation too.
    # valid pipeline
    v1, v2, v3, v4, v5 = (Signal(bool(0)) for _ in range(5))
    # stage 1
    x1 = _s(32)
    left1 = _u(5)
    right1 = _u(6)
    m1 = _s(32)
    # stage 2
    xl2 = _s(32)
    right2 = _u(6)
    m2 = _s(32)
    # stage 3
    ab3 = _s(64)
    sat3 = Signal(bool(0))
    right3 = _u(6)
    unused_ab3 = Signal(bool(0))  # product bits the doubling high multiply does not need
    # stage 4
    q4 = _s(32)
    right4 = _u(6)
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
        zp1.next = out_zp
        lo1.next = act_min
        hi1.next = act_max

    @always(clk.posedge)
    def stage2():
        t = modbv(0)[32:]
        t[:] = x1[32:] << left1
        xl2.next = t.signed()
        right2.next = right1
        m2.next = m1
        zp2.next = zp1
        lo2.next = lo1
        hi2.next = hi1

    @always(clk.posedge)
    def stage3():
        ab3.next = xl2 * m2
        # INT32_MIN x INT32_MIN, compared as bit patterns
        sat3.next = xl2[31] and (xl2[31:] == 0) and m2[31] and (m2[31:] == 0)
        right3.next = right2
        zp3.next = zp2
        lo3.next = lo2
        hi3.next = hi2

    @always_comb
    def unused_bits():
        unused_ab3.next = ab3[63] ^ (ab3[30:] != 0)

    @always(clk.posedge)
    def stage4():
        # floor((ab + 2^30) / 2^31) = (ab >> 31) + bit 30 of ab; it fits 32 bits unless
        # saturated
        q = modbv(0)[32:]
        q[:] = ab3[63:31] + ab3[30]
        if sat3:  # INT32_MAX, built from bits (MyHDL would size the constant 33 bits)
            q[:] = 0
            q[:] = ~q
            q[31] = 0
        q4.next = q.signed()
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
