"""Directed tests of the CNN engine's sub-blocks (engine.py), simulated in MyHDL.

The whole engine is verified bit for bit against refmodels.cnn in verif/cnn; these tests drive
one sub-block alone: the address generator against the loops of a direct convolution, the
set-up products and CHECK codes against their formulas, the output stage's FIFO, counts and
room check, and the channel tables' decode.
"""

from __future__ import annotations

from myhdl import ResetSignal, Signal, block, delay, enum, instance, intbv, modbv

from cores.cnn.engine import engine as E


def _u(n, v=0):
    return Signal(intbv(v)[n:])


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


STATES = enum("IDLE", "SETUP", "CHECK", "LOAD_X", "LOAD_W", "SUM_START", "TAPS", "FLUSH",
              "DRAIN")


def _reference_taps(L, ibuf, wbuf):
    """(i_ra, pad, w_ra, first, last) of every tap, in issue order, by direct loops."""
    out = []
    T = L["FH"] * L["FW"] * (1 if L["chanwise"] else L["C"])
    for oy in range(L["OH"]):
        for ox in range(L["OW"]):
            for g in range(L["G"]):
                for t in range(T):
                    if L["chanwise"]:
                        ky, kx, ci = t // L["FW"], t % L["FW"], g // L["dm"]
                    else:
                        ky, kx, ci = t // (L["FW"] * L["C"]), (t // L["C"]) % L["FW"], t % L["C"]
                    iy = oy * L["SY"] - L["PT"] + ky
                    ix = ox * L["SX"] - L["PL"] + kx
                    pad = not (0 <= iy < L["H"] and 0 <= ix < L["W"])
                    addr = ((iy * L["W"] + ix) * L["C"] + ci) % (1 << 24) % ibuf
                    out.append((0 if pad else addr, pad, (g * T + t) % wbuf, t == 0, t == T - 1))
    return out


def _addrgen_taps(L, ibuf, wbuf):
    IB, WB = (ibuf - 1).bit_length(), (wbuf - 1).bit_length()
    clk, rst = Signal(bool(0)), ResetSignal(0, active=1, isasync=False)
    ag_init, ag_sum, ag_step = (Signal(bool(0)) for _ in range(3))
    sig = {k: _u(8, L[k]) for k in ("H", "W", "C", "OH", "OW")}
    sig.update({k: _u(4, L[k]) for k in ("FW", "SY", "SX", "PT", "PL")})
    C, W = L["C"], L["W"]
    T = L["FH"] * L["FW"] * (1 if L["chanwise"] else C)
    WC, SXC, PLC = _u(16, W * C), _u(12, L["SX"] * C), _u(12, L["PL"] * C)
    SYWC, PTWC, Ts = _u(20, L["SY"] * W * C), _u(20, L["PT"] * W * C), _u(16, T)
    glast, dm16 = _u(4, L["G"] - 1), _u(16, L["dm"])
    chanwise, pool = Signal(bool(L["chanwise"])), Signal(bool(0))
    g = Signal(modbv(0)[4:])
    tap_last, pos_end = Signal(bool(0)), Signal(bool(0))
    xa_c = Signal(modbv(0)[24:])
    i_ra, w_ra = _u(IB), _u(WB)
    m_valid, pl_valid, m_first, m_last, m_pad = (Signal(bool(0)) for _ in range(5))
    seen, ends = [], []

    @block
    def bench():
        dut = E.tap_addrgen(clk, rst, ag_init, ag_sum, ag_step, sig["H"], sig["W"], sig["C"],
                            sig["OH"], sig["OW"], sig["FW"], sig["SY"], sig["SX"], sig["PT"],
                            sig["PL"], WC, SXC, PLC, SYWC, PTWC, Ts, glast, dm16, chanwise, pool,
                            g, tap_last, pos_end, xa_c, i_ra, w_ra, m_valid, pl_valid, m_first,
                            m_last, m_pad, IB, WB)

        @instance
        def drive():
            ag_init.next = True
            yield from _cycle(clk)
            ag_init.next = False
            ra = None
            done = False
            while not done:
                ag_sum.next = True
                yield from _cycle(clk)
                ag_sum.next = False
                ag_step.next = True
                while True:
                    yield delay(1)
                    last, end = bool(tap_last), bool(pos_end)
                    if last:
                        ends.append(end)
                    yield from _cycle(clk)
                    # stage 1 holds this tap's addresses, stage 2 its flags one cycle later
                    if ra is not None:
                        seen[-1] = (ra[0], bool(m_pad), ra[1], bool(m_first), bool(m_last))
                    seen.append(None)
                    ra = (int(i_ra), int(w_ra))
                    if last:
                        ag_step.next = False
                        done = end
                        break
                # the sum's last tap: its flags arrive in the next cycle
                yield from _cycle(clk)
                seen[-1] = (ra[0], bool(m_pad), ra[1], bool(m_first), bool(m_last))
                ra = None

        return dut, drive

    _run(bench)
    return seen, ends


def test_address_generator_follows_the_convolution_loops():
    ibuf, wbuf = 256, 64
    conv = dict(H=5, W=4, C=3, OH=3, OW=2, FH=3, FW=2, SY=2, SX=2, PT=1, PL=1, G=2, dm=1,
                chanwise=False)
    seen, ends = _addrgen_taps(conv, ibuf, wbuf)
    ref = _reference_taps(conv, ibuf, wbuf)
    assert seen == ref
    assert ends == [False] * (len(ends) - 1) + [True]  # pos_end only on the layer's last sum
    assert any(r[1] for r in ref) and not all(r[1] for r in ref)  # padded taps exercised


def test_address_generator_depthwise_channels():
    ibuf, wbuf = 256, 64
    dw = dict(H=3, W=3, C=2, OH=2, OW=2, FH=2, FW=2, SY=1, SX=1, PT=0, PL=0, G=4, dm=2,
              chanwise=True)  # depth multiplier 2: groups 0, 1 read channel 0; 2, 3 channel 1
    seen, _ = _addrgen_taps(dw, ibuf, wbuf)
    assert seen == _reference_taps(dw, ibuf, wbuf)


def test_setup_products_and_check_codes():
    P, ibuf, wbuf, cmax = 4, 1024, 512, 16
    clk, rst = Signal(bool(0)), ResetSignal(0, active=1, isasync=False)
    state, start = Signal(STATES.IDLE), Signal(bool(0))
    lay = {k: _u(8) for k in ("H", "W", "C", "OH", "OW", "OC")}
    lay.update({k: _u(4) for k in ("FH", "FW", "SY", "SX", "PT", "PL")})
    dmul = _u(8)
    mode_dw, chanwise, pool, bad_mode = (Signal(bool(0)) for _ in range(4))
    WC, T, SXC, PLC = _u(16), _u(16), _u(12), _u(12)
    SYWC, PTWC, HWC, NOUT, GT = _u(20), _u(20), _u(24), _u(24), _u(25)
    glast, klast, dm16, prod = _u(4), Signal(modbv(0)[9:]), _u(16), _u(32)
    gsum, gm = Signal(modbv(0)[9:]), Signal(modbv(0)[9:])
    setup_done, cfg_err = Signal(bool(0)), _u(4)
    cases = [  # (layer, mode: 0 conv / 1 depthwise / 2 pool, depth multiplier)
        (dict(H=6, W=5, C=3, OH=3, OW=2, OC=6, FH=3, FW=2, SY=2, SX=3, PT=1, PL=2), 0, 0),
        (dict(H=4, W=4, C=2, OH=4, OW=4, OC=4, FH=3, FW=3, SY=1, SX=1, PT=1, PL=1), 1, 2),
        (dict(H=4, W=4, C=2, OH=4, OW=4, OC=5, FH=3, FW=3, SY=1, SX=1, PT=1, PL=1), 1, 2),
        (dict(H=40, W=30, C=1, OH=1, OW=1, OC=1, FH=1, FW=1, SY=1, SX=1, PT=0, PL=0), 0, 0),
        (dict(H=1, W=1, C=200, OH=1, OW=1, OC=16, FH=1, FW=1, SY=1, SX=1, PT=0, PL=0), 0, 0),
        (dict(H=2, W=2, C=1, OH=1, OW=1, OC=17, FH=1, FW=1, SY=1, SX=1, PT=0, PL=0), 0, 0),
        (dict(H=2, W=2, C=1, OH=1, OW=0, OC=1, FH=1, FW=1, SY=1, SX=1, PT=0, PL=0), 0, 0),
        (dict(H=8, W=8, C=3, OH=4, OW=4, OC=3, FH=2, FW=2, SY=2, SX=2, PT=0, PL=0), 2, 0),
        # H*W*C beyond 16 bits (its low 16 bits would fit the buffer)
        (dict(H=255, W=255, C=255, OH=1, OW=1, OC=1, FH=1, FW=1, SY=1, SX=1, PT=0, PL=0), 0, 0),
    ]
    got = []

    @block
    def bench():
        dut = E.engine_setup(clk, rst, STATES, state, start, *(lay[k] for k in (
            "H", "W", "C", "OH", "OW", "OC", "FH", "FW", "SY", "SX", "PT", "PL")), dmul, mode_dw,
            chanwise, pool, bad_mode, WC, T, SXC, PLC, SYWC, PTWC, HWC, NOUT, GT, glast, klast,
            dm16, prod, gsum, gm, setup_done, cfg_err, P, ibuf, wbuf, cmax)

        @instance
        def drive():
            for layer, mode, dm in cases:
                for k, v in layer.items():
                    lay[k].next = v
                dmul.next = dm
                mode_dw.next, chanwise.next, pool.next = mode == 1, mode != 0, mode == 2
                state.next, start.next = STATES.IDLE, True
                yield from _cycle(clk)
                start.next = False
                state.next = STATES.SETUP
                n = 0
                while True:
                    yield delay(1)
                    n += 1
                    if setup_done:
                        break
                    yield from _cycle(clk)
                yield from _cycle(clk)
                state.next = STATES.CHECK
                yield delay(1)
                code = int(cfg_err)
                yield from _cycle(clk)
                got.append((n, code, int(WC), int(T), int(SXC), int(PLC), int(SYWC), int(PTWC),
                            int(HWC), int(NOUT), int(GT), int(glast), int(klast)))

        return dut, drive

    _run(bench)
    for (layer, mode, dm), row in zip(cases, got, strict=True):
        L = layer
        n, code, *figs = row
        assert n == 12  # twelve set-up steps
        chw = mode != 0
        G = L["OC"] if chw else -(-L["OC"] // P)
        T = L["FH"] * L["FW"] * (1 if chw else L["C"])
        want = [L["W"] * L["C"], T, L["SX"] * L["C"], L["PL"] * L["C"],
                L["SY"] * L["W"] * L["C"], L["PT"] * L["W"] * L["C"],
                L["H"] * L["W"] * L["C"], L["OH"] * L["OW"] * L["OC"], G * T, (G - 1) % 16,
                (L["OC"] - (G - 1) * P) % 512]
        if 0 in (v for k, v in L.items() if k not in ("PT", "PL")):
            want_code = 4  # an empty shape
        elif L["H"] * L["W"] * L["C"] > ibuf:
            want_code = 1
        elif G * T > wbuf and mode != 2:
            want_code = 2
        elif L["OC"] > cmax:
            want_code = 3
        elif chw and L["OC"] != L["C"] * (max(dm, 1) if mode == 1 else 1):
            want_code = 5  # depthwise / pooling: OUT_C = C * depth multiplier
        else:
            want_code = 0
        assert code == want_code, (L, mode)
        if want_code == 0:
            assert figs == want, (L, mode)
    assert [r[1] for r in got] == [0, 0, 5, 1, 2, 3, 4, 0, 1]  # every CHECK outcome covered


def test_output_stage_fifo_counts_and_room():
    """Results leave in order with tlast on the NOUT-th; a sum is issued only with room for
    the results in flight and its own; the group FIFO hands each sum's group to its results."""
    P, FD = 4, 16
    clk, rst = Signal(bool(0)), ResetSignal(0, active=1, isasync=False)
    state = Signal(STATES.IDLE)
    out_a, out_b = Signal(bool(0)), Signal(bool(0))
    out_ya, out_yb, tdata = _u(8), _u(8), _u(8)
    tvalid, tready, tlast = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    NOUT = _u(24, 10)
    issue_last, tap_last, pool, chanwise = (Signal(bool(0)) for _ in range(4))
    mode = _u(2)
    g, glast, klast = Signal(modbv(0)[4:]), _u(4, 3), Signal(modbv(2)[9:])
    mo_valid, mo_last, gh = Signal(bool(0)), Signal(bool(0)), _u(4)
    since = Signal(intbv(P, min=0, max=P + 1))
    sent, room = _u(24), Signal(bool(0))
    log = {}

    @block
    def bench():
        dut = E.output_stage(clk, rst, STATES, state, out_a, out_ya, out_b, out_yb, tdata,
                             tvalid, tready, tlast, NOUT, issue_last, tap_last, pool, chanwise,
                             mode, g, glast, klast, mo_valid, mo_last, gh, since, sent, room, P,
                             FD)

        def issue(group):
            # a last tap: P cycles after the previous one, as the control FSM waits
            while since < P:
                yield from _cycle(clk)
            g.next, issue_last.next, tap_last.next = group, True, True
            yield from _cycle(clk)
            issue_last.next = tap_last.next = False

        @instance
        def drive():
            state.next = STATES.CHECK  # clears the count of results sent
            yield from _cycle(clk)
            state.next = STATES.TAPS
            # room: sums of P results (groups 0..2) and one of klast = 2 (the last group)
            rooms = []
            for group in (0, 1, 2, 3):
                yield delay(1)
                rooms.append(bool(room))
                yield from issue(group)
            yield delay(1)
            rooms.append(bool(room))  # 14 in flight: no room for 4 more
            log["rooms"] = rooms
            # since counts the cycles from the last last tap up to P
            sinces = []
            for _ in range(P + 1):
                sinces.append(int(since))
                yield from _cycle(clk)
            log["since"] = sinces
            # results: 10 pushed (pool results on b), popped under back-pressure
            popped, tlasts = [], []
            pushes = [(k % 3 == 2, 10 + k) for k in range(10)]
            cyc = 0
            while len(popped) < 10:
                if pushes:
                    from_b, v = pushes.pop(0)
                    out_b.next, out_a.next = from_b, not from_b
                    out_yb.next, out_ya.next = v, v
                else:
                    out_a.next = out_b.next = False
                tready.next = cyc % 3 != 1
                yield delay(1)
                if tvalid and tready:
                    popped.append(int(tdata))
                    tlasts.append(bool(tlast))
                yield from _cycle(clk)
                cyc += 1
            log["popped"], log["tlast"], log["sent"] = popped, tlasts, int(sent)
            # the group FIFO: groups 0..3 were pushed (since >= P at their last taps)
            heads = []
            for _ in range(4):
                yield delay(1)
                heads.append(int(gh))
                mo_valid.next = mo_last.next = True
                yield from _cycle(clk)
                mo_valid.next = mo_last.next = False
            log["heads"] = heads
            # 4 results still in flight: room for a sum, but AveragePool takes one window at
            # a time
            mode.next = 3
            yield delay(1)
            log["avg"] = bool(room)
            mode.next = 2
            yield delay(1)
            log["max"] = bool(room)

        return dut, drive

    _run(bench)
    assert log["rooms"] == [True, True, True, True, False]  # in flight + 4 <= 16; 14 + 4 > 16
    assert log["since"] == [1, 2, 3, 4, 4]  # 1 after a last tap, saturating at P
    assert log["popped"] == list(range(10, 20))
    assert log["tlast"] == [False] * 9 + [True] and log["sent"] == 10
    assert log["heads"] == [0, 1, 2, 3]
    assert (log["avg"], log["max"]) == (False, True)
