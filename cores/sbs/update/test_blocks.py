"""Directed tests of the SbS engine's sub-blocks (update.py), simulated in MyHDL.

The whole units are verified bit for bit against refmodels.sbs in verif/sbs; these tests drive
one sub-block alone: the divider against the reference reciprocal, the register file's decode
and interrupt logic, the address generator's pipeline and frame ends.
"""

from __future__ import annotations

import random

from myhdl import ResetSignal, Signal, block, delay, enum, instance, intbv

from cores.sbs.update import update as U
from refmodels.sbs.model import HFixed


def _u(n, v=0):
    return Signal(intbv(v)[n:])


STATES = enum("IDLE", "LOAD", "DISCARD_H", "PASS", "DRAIN", "DISCARD_W", "NORM", "SCALE",
              "DIV", "DUMP_RD", "DUMP_OUT", "LOAD_W", "DISCARD_LW")


def _cycle(clk):
    """One clock cycle: the inputs settle, a rising edge, the registers update."""
    yield delay(1)
    clk.next = 1
    yield delay(1)
    clk.next = 0


def _run(bench):
    tb = bench()
    tb.run_sim(quiet=True)
    tb.quit_sim()


def _reference_rq(r: int, c1: int) -> int:
    """Rq of refmodels.sbs.model.update_fixed_loop for the sum r."""
    hf = HFixed()
    sh = r.bit_length() - hf.p_bits
    rs = (r + (1 << (sh - 1))) >> sh if sh > 0 else r << -sh
    ce = (1 << hf.norm_bits) - c1
    return ((ce << hf.frac_bits) + (rs >> 1)) // rs


def test_divider_matches_reference_reciprocal():
    rw, div_step = 50, 2
    clk, rst = Signal(bool(0)), ResetSignal(0, active=1, isasync=False)
    state = Signal(STATES.IDLE)
    skip, v5, div_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    r_beat, r = _u(rw), _u(rw)
    c1 = _u(17)
    sh_r, sh_l, rq = _u(6), _u(5), _u(U.RQ)
    rng = random.Random(9)
    sums = [1, 3, (1 << 17) - 1, 1 << 17, (1 << 18) + 1, (1 << 49) - 1, 0x2AAAAAAAAAAAA]
    sums += [rng.randrange(1, 1 << rng.randrange(2, 50)) for _ in range(40)]
    got = []

    @block
    def bench():
        dut = U.sbs_divider(clk, rst, STATES, state, skip, v5, r_beat, r, c1, sh_r, sh_l, rq,
                            div_last, div_step)

        @instance
        def drive():
            for i, total in enumerate(sums):
                c1.next = 65536 + (i * 7919) % 65536
                state.next = STATES.IDLE  # clears r
                yield from _cycle(clk)
                # two beats of the pipeline's S6 make up the sum
                part = total // 3
                state.next = STATES.PASS
                for beat in (part, total - part):
                    v5.next, r_beat.next = True, beat
                    yield from _cycle(clk)
                v5.next = False
                yield from _cycle(clk)
                assert int(r) == total
                state.next = STATES.NORM
                yield from _cycle(clk)
                state.next = STATES.SCALE
                yield from _cycle(clk)
                state.next = STATES.DIV
                n = 0
                while True:
                    last = bool(div_last)
                    yield from _cycle(clk)
                    n += 1
                    if last:
                        break
                got.append((total, int(c1), int(rq), n))
            state.next = STATES.IDLE

        return dut, drive

    _run(bench)
    assert len(got) == len(sums)
    for total, c1v, rqv, n in got:
        assert rqv == _reference_rq(total, c1v), (total, c1v)
        assert n == -(-26 // div_step)  # quotient bits / bits per cycle


def test_register_file_decode_writes_and_interrupts():
    """Layer-unit register file: reads, refused writes (SLVERR), the CTRL / ERROR strobes, the
    IRQ_STATUS events (BUSY falls, an ERROR bit is set) and write-1-to-clear."""
    p, n_max, ip_max, rows_max = 2, 32, 8, 4
    regs = U.LAYER_REGMAP
    clk, rst = Signal(bool(0)), ResetSignal(0, active=1, isasync=False)
    reg_addr = _u(regs.addr_bits - 2)
    reg_wr, reg_err = Signal(bool(0)), Signal(bool(0))
    reg_wdata, reg_rdata = _u(32), _u(32)
    wr_ctrl, wr_error = Signal(bool(0)), Signal(bool(0))
    cmd = [Signal(bool(0)) for _ in range(3)]
    state_code, busy, pending, error = _u(4), Signal(bool(0)), Signal(bool(0)), _u(5)
    counters = [_u(32, v) for v in (11, 22, 33, 44)]
    n_h, c1, theta = _u(6, n_max), _u(17, 100000), _u(64)
    n_ip, n_rows, irq = _u(4, 1), _u(3, rows_max), Signal(bool(0))
    log = []

    @block
    def bench():
        dut = U.sbs_regfile(clk, rst, reg_addr, reg_wr, reg_wdata, reg_rdata, reg_err,
                            wr_ctrl, wr_error, *cmd, state_code, busy, pending, error,
                            *counters, n_h, c1, theta, n_ip, n_rows, irq, p, n_max, ip_max,
                            rows_max, 0x12345678, 0xC0FFEE, 0x0203)

        def access(name, value=None):
            """One register access: (read data, SLVERR, CTRL strobe, ERROR strobe)."""
            reg_addr.next = regs.word(name)
            reg_wr.next = value is not None
            reg_wdata.next = value or 0
            yield delay(1)
            res = (int(reg_rdata), bool(reg_err), bool(wr_ctrl), bool(wr_error))
            yield from _cycle(clk)
            reg_wr.next = False
            return res

        @instance
        def drive():
            log.append(("ID", (yield from access("ID"))))
            log.append(("ID<-", (yield from access("ID", 1))))
            log.append(("CONFIG2", (yield from access("CONFIG2"))))
            log.append(("N_H<-7", (yield from access("N_H", 7))))  # not a multiple of P
            log.append(("N_H<-16", (yield from access("N_H", 16))))
            log.append(("N_H", (yield from access("N_H"))))
            busy.next = True
            log.append(("C1<-busy", (yield from access("C1", 70000))))
            log.append(("THETA_LO<-busy", (yield from access("THETA_LO", 5))))
            busy.next = False
            log.append(("C1<-", (yield from access("C1", 70000))))
            log.append(("C1<-low", (yield from access("C1", 65535))))
            log.append(("THETA_HI<-", (yield from access("THETA_HI", 0xABCD))))
            log.append(("N_IP<-9", (yield from access("N_IP", ip_max + 1))))
            log.append(("N_IP<-8", (yield from access("N_IP", ip_max))))
            log.append(("N_ROWS<-0", (yield from access("N_ROWS", 0))))
            log.append(("CTRL<-", (yield from access("CTRL", 1))))
            log.append(("ERROR<-", (yield from access("ERROR", 3))))
            log.append(("UPDATES<-", (yield from access("UPDATES", 0))))
            log.append(("SKIPPED", (yield from access("SKIPPED"))))
            log.append(("hole", (yield from access("IRQ_STATUS"))))
            # interrupts: enable both, BUSY falls, then an error bit rises
            yield from access("IRQ_ENABLE", 3)
            busy.next = True
            yield from _cycle(clk)
            busy.next = False
            yield from _cycle(clk)
            yield from _cycle(clk)
            log.append(("irq_busy", (int(irq), (yield from access("IRQ_STATUS"))[0])))
            yield from access("IRQ_STATUS", 1)  # write 1 to clear
            log.append(("irq_clear", (int(irq), (yield from access("IRQ_STATUS"))[0])))
            error.next = 4
            yield from _cycle(clk)
            yield from _cycle(clk)
            log.append(("irq_error", (int(irq), (yield from access("IRQ_STATUS"))[0])))
            yield from access("IRQ_ENABLE", 1)  # ERROR masked: irq drops
            log.append(("irq_masked", int(irq)))
            log.append(("regs", (int(n_h), int(c1), int(theta), int(n_ip), int(n_rows))))

        return dut, drive

    _run(bench)
    got = dict(log)
    assert got["ID"] == (0x12345678, False, False, False)
    assert got["ID<-"][1] and got["CONFIG2"][:2] == (0x0203, False)
    assert got["N_H<-7"][1] and not got["N_H<-16"][1] and got["N_H"][0] == 16
    assert got["C1<-busy"][1] and got["THETA_LO<-busy"][1]  # refused while busy
    assert not got["C1<-"][1] and got["C1<-low"][1]  # C1 >= 65536
    assert got["N_IP<-9"][1] and not got["N_IP<-8"][1] and got["N_ROWS<-0"][1]
    assert got["CTRL<-"][1:] == (False, True, False)  # the strobe goes to the FSM
    assert got["ERROR<-"][1:] == (False, False, True)
    assert got["UPDATES<-"][1] and got["SKIPPED"][0] == 22  # counters are read-only
    assert got["irq_busy"] == (1, 1) and got["irq_clear"] == (0, 0)
    assert got["irq_error"] == (1, 2) and got["irq_masked"] == 0
    assert got["regs"] == (16, 70000, 0xABCD << 32, ip_max, rows_max)


def test_address_generator_pipeline_and_frame_ends():
    """h bank address {ip, beat}, the frame ends, the weight address (layer unit) and the
    pipeline: a beat issued reaches the write-back stage (v4, a4) 5 cycles later, r (v5) 6."""
    p, ip_max = 2, 4
    clk, rst = Signal(bool(0)), ResetSignal(0, active=1, isasync=False)
    state = Signal(STATES.IDLE)
    flush, issue = Signal(bool(0)), Signal(bool(0))
    beat, n_h = _u(4), _u(6, 8)  # 8 latents: beats 0..3
    ip_sel, n_ip, row_sel, n_rows = _u(2), _u(3, 3), _u(2), _u(3, 2)
    w_valid = Signal(bool(0))
    raddr, w_raddr, a4 = _u(6), _u(6), _u(6)
    flags = [Signal(bool(0)) for _ in range(4)]  # at_last, h_last, lw_last, last_ip
    w_we, w_sel1, v4, v5, v_any = (Signal(bool(0)) for _ in range(5))
    trace = []

    @block
    def bench():
        dut = U.sbs_addrgen(clk, rst, STATES, state, flush, beat, n_h, ip_sel, n_ip, row_sel,
                            n_rows, w_valid, issue, raddr, *flags, w_we, w_sel1, w_raddr, v4, v5,
                            v_any, a4, p, ip_max, True)

        @instance
        def drive():
            for ip in range(3):
                for b in range(4):
                    ip_sel.next, beat.next, row_sel.next = ip, b, ip % 2
                    yield delay(1)
                    trace.append(("flags", ip, b, [int(f) for f in flags], int(raddr),
                                  int(w_raddr)))
            # issue beats 0..3 of IP 2 on cycles 0..3, then watch the pipeline
            state.next = STATES.PASS
            for t in range(12):
                issue.next = t < 4
                ip_sel.next, beat.next = 2, min(t, 3)
                yield delay(1)
                trace.append(("pipe", t, int(v4), int(v5), int(v_any), int(a4), int(w_sel1)))
                yield from _cycle(clk)
            state.next = STATES.LOAD_W
            w_valid.next = True
            yield delay(1)
            trace.append(("load_w", int(w_we)))

        return dut, drive

    _run(bench)
    for row in (r for r in trace if r[0] == "flags"):
        _, ip, b, (at_last, h_last, lw_last, last_ip), ra, wra = row
        assert at_last == (b == 3) and last_ip == (ip == 2)
        assert h_last == (b == 3 and ip == 2) and lw_last == (b == 3 and ip % 2 == 1)
        assert ra == (ip << 4) | b and wra == ((ip % 2) << 4) | b
    pipe = {r[1]: r[2:] for r in trace if r[0] == "pipe"}
    for t, (v4_, v5_, v_any_, a4_, sel) in pipe.items():
        assert v4_ == (5 <= t <= 8), t
        assert v5_ == (6 <= t <= 9), t
        assert v_any_ == (1 <= t <= 9), t
        if v4_:
            assert a4_ == (2 << 4) | (t - 5)
        assert sel == (t >= 1)  # weight bank select: PASS registered one cycle later
    assert trace[-1] == ("load_w", 1)
