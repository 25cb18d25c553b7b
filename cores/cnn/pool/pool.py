"""Pooling unit of the CNN tensor processor: TFLite int8 MaxPool / AveragePool of one window.

The taps of one pooling window arrive one per cycle (``x``, int8; ``in_first`` on the first,
``in_last`` on the last); a tap with ``in_pad`` lies outside the image and is skipped (TFLite
pools over the in-image part of a window only; a window needs at least one in-image tap). The
unit returns one int8 per window, bit for bit ``refmodels.cnn.tflite.max_pool`` / ``avg_pool``:

* ``mode = 0`` MaxPool: the largest value, clamped to ``[act_min, act_max]``;
* ``mode = 1`` AveragePool: ``acc = sum x``, ``n`` values; ``(acc + n/2) / n`` if ``acc > 0``
  else ``(acc - n/2) / n`` (C division: rounding to nearest, ties away from zero), clamped.

Internally the codes are kept offset by 128 (``x ^ 0x80``, unsigned, order preserving). The
average divides ``|acc| + floor(n/2)`` by ``n`` with a restoring divider, one quotient bit per
cycle (17 cycles); meanwhile ``in_ready`` is low. MaxPool windows may follow each other without
a gap (``in_ready`` stays high). A window holds 1..``MAX_TAPS`` in-image values. ``mode``,
``act_min``, ``act_max`` are read with the last tap of a window. Latency: ``out_valid`` rises
at the 1st clock edge after the one that accepted the last tap of a MaxPool window, at the 19th
for an AveragePool window; ``in_ready`` returns with an AveragePool result.
"""

from __future__ import annotations

from myhdl import ResetSignal, Signal, always_comb, always_seq, block, intbv, modbv

MAX_TAPS = 256
DIV_STEPS = 17  # quotient bits: (|acc| + n/2) < 2**17


def _u(bits):
    return Signal(intbv(0)[bits:])


def module_name(p=None) -> str:
    return "cnn_pool"


def ports():
    """clk, rst, in_valid, in_ready, in_first, in_last, in_pad, x, mode, act_min, act_max,
    out_valid, y (x, act_min, act_max, y as int8 bit patterns)."""
    return (Signal(bool(0)), ResetSignal(0, active=1, isasync=False), Signal(bool(0)),
            Signal(bool(0)), Signal(bool(0)), Signal(bool(0)), Signal(bool(0)), _u(8),
            Signal(bool(0)), _u(8), _u(8), Signal(bool(0)), _u(8))


@block
def cnn_pool(clk, rst, in_valid, in_ready, in_first, in_last, in_pad, x, mode, act_min,
             act_max, out_valid, y):
    usum = _u(16)  # sum of the offset codes (<= 255 * 256)
    n = _u(9)  # values in the window (1..256)
    mx = _u(8)  # largest offset code
    busy = Signal(bool(0))
    fin = Signal(bool(0))  # window complete: choose the result path
    div = Signal(bool(0))
    steps = _u(5)
    rem = _u(9)
    dvd = _u(17)  # dividend, shifted left; quotient bits come in at the bottom
    neg = Signal(bool(0))
    lo = _u(8)
    hi = _u(8)
    res = _u(9)  # offset result before the clamp (0..256)
    clamp = Signal(bool(0))

    @always_comb
    def ready():
        in_ready.next = not busy

    @always_seq(clk.posedge, reset=rst)
    def run():
        out_valid.next = 0
        clamp.next = 0
        xo = intbv(0)[8:]
        xo[:] = x ^ 0x80
        xw = intbv(0)[16:]
        xw[8:] = xo
        if in_valid and not busy:
            # a window starts from sum 0, count 0 and max -128 (offset code 0)
            su = intbv(0)[16:]
            nn = intbv(0)[9:]
            mm = intbv(0)[8:]
            if not in_first:
                su[:] = usum
                nn[:] = n
                mm[:] = mx
            if not in_pad:
                su[:] = su + xw
                nn[:] = nn + 1
                if xo > mm:
                    mm[:] = xo
            usum.next = su
            n.next = nn
            mx.next = mm
            if in_last:
                lo.next = act_min ^ 0x80
                hi.next = act_max ^ 0x80
                if mode:
                    busy.next = 1
                    fin.next = 1
                else:
                    # MaxPool: the result goes straight to the clamp; no busy cycle, so
                    # windows may follow back to back
                    rm = intbv(0)[9:]
                    rm[8:] = mm
                    res.next = rm
                    clamp.next = 1
        elif fin:
            # AveragePool: |acc| + n/2 with acc = usum - 128 n
            fin.next = 0
            m = intbv(0)[17:]
            m[16:] = n << 7
            us = intbv(0)[17:]
            us[16:] = usum
            h = intbv(0)[17:]
            h[8:] = n[9:1]
            d = modbv(0)[17:]
            if us >= m:
                d[:] = us + ~m + 1
                neg.next = 0
            else:
                d[:] = m + ~us + 1
                neg.next = 1
            dvd.next = d + h
            rem.next = 0
            steps.next = 0
            div.next = 1
        elif div:
            r = intbv(0)[10:]
            r[10:1] = rem
            r[0] = dvd[16]
            nw = intbv(0)[10:]
            nw[9:] = n
            q = intbv(0)[17:]
            q[17:1] = dvd[16:]
            if r >= nw:
                r[:] = r - nw
                q[0] = 1
            rem.next = r[9:]
            dvd.next = q
            if steps == DIV_STEPS - 1:
                div.next = 0
                # quotient in q (<= 128): offset result 128 - q or 128 + q
                t = intbv(0)[9:]
                t[:] = q[9:]
                rr = modbv(0)[9:]
                if neg:
                    rr[:] = ~t + 129  # 128 - t (mod 2**9)
                else:
                    rr[:] = t + 128
                res.next = rr
                clamp.next = 1
            steps.next = steps + 1
        if clamp:
            v = intbv(0)[8:]
            hw = intbv(0)[9:]
            hw[8:] = hi
            lw = intbv(0)[9:]
            lw[8:] = lo
            if res > hw:
                v[:] = hi
            elif res < lw:
                v[:] = lo
            else:
                v[:] = res[8:]
            y.next = v ^ 0x80
            out_valid.next = 1
            if busy:  # an AveragePool result: the next window may come
                busy.next = 0

    return ready, run


def build():
    def factory():
        return cnn_pool(*ports())

    return factory, module_name()
