"""SbS update and layer units: P-lane fixed-point h update, AXI4-Stream data, AXI4-Lite control.

The update unit (:func:`sbs_update`) holds the latent vector h of one inference population
(IP), ``N_H <= N_MAX`` latents of F = 24 bits, in P banks (lane k holds latents ``i`` with
``i mod P == k``), and applies one SbS update per weight row it receives. The layer unit
(:func:`sbs_layer`) is the same engine with the h of ``IP_MAX`` IPs and ``ROWS_MAX`` weight
rows on chip: every beat ``{ip, row}`` of ``s_axis_s`` is one update, so a conv, pool or FC
layer runs from its spikes alone (the pending update of an IP is flushed before another IP is
updated). The arithmetic is exactly
:func:`refmodels.sbs.model.update_fixed` (``HFixed()`` defaults: F = 24, S = 17, PB = 17) with
weights coded ``e<E>m<M>`` (M = 0 or 1) or ``log<E>`` (E = 2..4).

Data flow (one pass per weight row, N_H / P beats)
-------------------------------------------------
A pass streams over the latents once. For every beat (P latents) it

1. finishes the *previous* update: ``P'(i)`` is recomputed from the stored ``H(i)`` and the
   stored previous weight code, normalised with the previous shift, and
   ``H(i) <- min(2**F - 1, (H(i) C1 + P'(i) Rq + 2**(S-1)) >> S)`` (when that update was taken);
2. starts the *new* one: ``P(i) = H(i) WI(i)`` with the new weight code (a shift, plus one add
   for M = 1: no multiplier), accumulated into ``r``; the new H and code are written back.

After the pass: the threshold check ``r > theta``, one leading-one detection, the rounded
normalisation of ``r`` and the reciprocal ``Rq = ((CE << F) + (r' >> 1)) // r'`` from a
restoring divider that retires ``DIV_STEP`` quotient bits per cycle. The new update is then
*pending*: it is applied by the next pass, or by a flush pass (no new row) before h is read
out. A pass is ``N_H / P`` beats plus a fixed pipeline and divider latency: the cycles per
update are ``N_H / P + C`` (C measured in simulation and reported in the README).

Streams (``byte_lanes = 1``: one beat is one word of P fields, lane 0 in the low bits)
----------------------------------------------------------------------------------
``s_axis_w``  weight rows: ``N_H / P`` beats of P codes (E + M bits each), ``tlast`` on the last.
``s_axis_h``  h load after CTRL.LOAD: ``N_H / P`` beats of P 24-bit values, ``tlast`` on the last.
``m_axis_h``  h read-out after CTRL.DUMP: as ``s_axis_h``.

A row or h frame whose ``tlast`` comes early is cut short: the row is dropped (no update; the
pending update of the previous row is still applied to all latents), the load stops (h must be
loaded again), and ERROR records it. A frame without ``tlast`` on its last beat is also dropped,
and the unit discards beats up to the next ``tlast``.

Registers (AXI4-Lite, 32-bit, byte addresses; SLVERR for unmapped addresses, for writes to
read-only registers, for configuration writes while busy and for out-of-range values)
------------------------------------------------------------------------------------------
See :data:`REGMAP` / :data:`LAYER_REGMAP` (sbs_update.rdl) and cores/sbs/update/README.md.
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
    concat,
    enum,
    intbv,
    modbv,
)

from cores.common import regmap
from cores.common.axil import axil_bridge, axil_signals
from cores.common.stream import frame_check
from refmodels.sbs.formats import FormatError, parse_format

F = 24
S = 17
PB = 17
RQ = 25  # bits of Rq = ((CE << F) + (r' >> 1)) // r' <= 2**24 + 1 (CE <= 2**16, r' >= 2**16)

#: the register maps, generated from sbs_update.rdl (cores/common/regmap.py): the layer unit
#: has the update unit's registers plus N_IP, N_ROWS, CONFIG2 and IRQ_ENABLE / IRQ_STATUS
#: (SLVERR in the update unit; the layer map has its own version)
REGMAP = regmap.load("sbs_update")
LAYER_REGMAP = regmap.load("sbs_layer")
REG = LAYER_REGMAP.offsets  # name -> byte address
ID_VALUE = REGMAP.id_value
# word indices of the address decode (plain names: the MyHDL converter inlines them)
(W_ID, W_CONFIG, W_CTRL, W_STATUS, W_ERROR, W_N_H, W_C1, W_THETA_LO, W_THETA_HI, W_UPDATES,
 W_SKIPPED, W_DROPPED, W_ROW_CYCLES, W_N_IP, W_N_ROWS, W_CONFIG2) = (
    LAYER_REGMAP.word(n) for n in (
        "ID", "CONFIG", "CTRL", "STATUS", "ERROR", "N_H", "C1", "THETA_LO", "THETA_HI",
        "UPDATES", "SKIPPED", "DROPPED", "ROW_CYCLES", "N_IP", "N_ROWS", "CONFIG2"))
#: the layer unit's identification (its register map has the interrupt registers: version 2)
LAYER_ID_VALUE = LAYER_REGMAP.id_value
W_IRQ_ENABLE, W_IRQ_STATUS = LAYER_REGMAP.word("IRQ_ENABLE"), LAYER_REGMAP.word("IRQ_STATUS")
#: IRQ_ENABLE / IRQ_STATUS bits of the layer unit
IRQ_IDLE = LAYER_REGMAP["IRQ_STATUS"].field("IDLE").mask
IRQ_ERROR = LAYER_REGMAP["IRQ_STATUS"].field("ERROR").mask
if (IRQ_IDLE, IRQ_ERROR) != (1, 2):
    raise RuntimeError("sbs_update.rdl: the interrupt logic expects IDLE in bit 0, ERROR in 1")
ERR_H_SHORT, ERR_H_LONG, ERR_W_SHORT, ERR_W_LONG, ERR_SPIKE = (
    REGMAP["ERROR"].field(f).mask for f in ("H_SHORT", "H_LONG", "W_SHORT", "W_LONG", "SPIKE"))

SUPPORTED_P = (1, 2, 4, 8, 16)


class UpdateConfigError(ValueError):
    """Parameters the update unit cannot be built with."""


def check_params(p: int, n_max: int, weights: str, div_step: int = 2):
    """Validate the generation parameters; returns the weight format."""
    try:
        fmt = parse_format(weights)
    except FormatError as exc:
        raise UpdateConfigError(str(exc)) from None
    if fmt.is_float:
        raise UpdateConfigError("the RTL update unit takes coded weights (e<E>m<M>, log<E>)")
    if fmt.m_bits > 1:
        raise UpdateConfigError(f"{fmt.name}: the RTL supports 0 or 1 mantissa bits")
    if not 2 <= fmt.e_bits <= 4:
        raise UpdateConfigError(f"{fmt.name}: the RTL supports 2..4 exponent bits")
    if p not in SUPPORTED_P:
        raise UpdateConfigError(f"lanes P={p} not supported; valid: {SUPPORTED_P}")
    if n_max < 2 * p or n_max & (n_max - 1) or n_max > 4096:
        raise UpdateConfigError(f"N_MAX={n_max}: a power of two, 2P .. 4096")
    if div_step not in (1, 2):
        raise UpdateConfigError("div_step must be 1 or 2 (quotient bits per cycle)")
    return fmt


def module_name(p: int, n_max: int, weights: str, ip_max: int = 0, rows_max: int = 0) -> str:
    """``sbs_update_<fmt>_p<P>_n<N_MAX>``, or ``sbs_layer_..._ip<IP_MAX>_r<ROWS_MAX>``."""
    fmt = parse_format(weights).name
    if rows_max:
        return f"sbs_layer_{fmt}_p{p}_n{n_max}_ip{ip_max}_r{rows_max}"
    return f"sbs_update_{fmt}_p{p}_n{n_max}"


def check_layer_params(ip_max: int, rows_max: int) -> None:
    for name, v in (("IP_MAX", ip_max), ("ROWS_MAX", rows_max)):
        if v < 1 or v & (v - 1) or v > 1 << 16:
            raise UpdateConfigError(f"{name}={v}: a power of two, 1 .. 65536")


def _clog2(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _u(n: int, v: int = 0):
    return Signal(intbv(v)[n:])


@block
def weight_product(h, code, prod, e_bits, m_bits):
    """``prod = h * WI(code)``: a shift (M = 0) or a shift of ``2h + m h`` (M = 1)."""
    emax = (1 << e_bits) - 2
    zero_e = (1 << e_bits) - 1
    hb = len(h)

    @always_comb
    def comb():
        e = code[e_bits + m_bits:m_bits]
        base = intbv(0)[hb + 2:]
        if m_bits == 1:
            if code[0]:
                base[:] = (h << 1) + h
            else:
                base[:] = h << 1
        else:
            base[:] = h
        if e == zero_e:
            prod.next = 0
        else:
            prod.next = base << (emax - e)

    return comb


@block
def sbs_lane(clk, code_in, h_in, raddr, load_we, load_addr, wb_we, wb_addr,
             sh_r, sh_l, c1, rq, pending, pnew, h_out, w_data, w_we, w_waddr, w_raddr, w_sel,
             e_bits, m_bits, depth, wdepth):
    """One lane: its bank of (H, previous code), its bank of weight codes (``wdepth > 0``:
    layer mode) and the update pipeline S1..S6. The new code of a beat is ``code_in`` (stream
    mode, registered at issue) or the weight bank read at issue (``w_sel``, one cycle later)."""
    wb = e_bits + m_bits
    zero_code = (1 << wb) - 1
    pw = F + (2 if m_bits else 0) + (1 << e_bits) - 2
    top = (1 << F) - 1
    mem = [Signal(intbv(0)[F + wb:]) for _ in range(depth)]
    rd = _u(F + wb)  # registered read port (S1)
    h1 = _u(F)
    c_prev1 = _u(wb)
    code1 = _u(wb)
    code2 = _u(wb)
    code3 = _u(wb)
    code4 = _u(wb)
    code5 = _u(wb)
    pold1 = _u(pw)
    pold2 = _u(pw)
    h2 = _u(F)
    h3 = _u(F)
    h4 = _u(F)
    ps3 = _u(PB + 1)
    t1 = _u(F + S)
    # P' (18 bits, at most 2**17) times Rq (25 bits, at most 2**24 + 1) as one 17 x 24-bit
    # product (a single DSP48E1) plus two conditional shifted adds for the top bits
    t2 = _u(F + S + 5)  # kept as wide as the sum below
    t2c = _u(F + S + 5)
    hn5 = _u(F)
    pn_c = _u(pw)
    code_q = _u(wb)
    wrd = _u(wb)

    if wdepth:
        wmem = [Signal(intbv(0)[wb:]) for _ in range(wdepth)]

        @always(clk.posedge)
        def wram():
            if w_we:
                wmem[w_waddr].next = w_data
            wrd.next = wmem[w_raddr]

        @always_comb
        def code_select():
            if w_sel:
                code1.next = wrd
            else:
                code1.next = code_q
    else:
        @always_comb
        def code_select():
            code1.next = code_q

        wram = None

    @always(clk.posedge)
    def ram():
        if load_we:
            mem[load_addr].next = (h_in << wb) | zero_code
        elif wb_we:
            mem[wb_addr].next = (hn5 << wb) | code5
        rd.next = mem[raddr]

    @always_comb
    def unpack():
        h1.next = rd[F + wb:wb]
        c_prev1.next = rd[wb:0]
        h_out.next = rd[F + wb:wb]

    old_product = weight_product(h1, c_prev1, pold1, e_bits, m_bits)
    new_product = weight_product(hn5, code5, pn_c, e_bits, m_bits)

    @always(clk.posedge)
    def pipe():
        # S0 -> S1: the new code (stream mode)
        code_q.next = code_in
        # S1 -> S2: the product of the previous update
        code2.next = code1
        pold2.next = pold1
        h2.next = h1
        # S2 -> S3: P' = round(P * 2**-sh) (or P << -sh), via (x >> (sh-1)) + 1 >> 1
        code3.next = code2
        h3.next = h2
        ps3.next = ((((pold2 >> sh_r) << sh_l) + 1) >> 1) & ((1 << (PB + 1)) - 1)
        # S3 -> S4: the two products of the h update
        code4.next = code3
        h4.next = h3
        t1.next = h3 * c1
        t2.next = ps3[PB:] * rq[RQ - 1:]
        corr = intbv(0)[F + S + 5:]
        corr[:] = 0
        if ps3[PB]:
            corr[:] = rq << PB
        if rq[RQ - 1]:
            corr[:] = corr + (ps3[PB:] << (RQ - 1))
        t2c.next = corr
        # S4 -> S5: the new H
        code5.next = code4
        if pending:
            acc = intbv(0)[F + 5:]
            acc[:] = (t1 + t2 + t2c + (1 << (S - 1))) >> S
            if acc > top:
                hn5.next = top
            else:
                hn5.next = acc[F:]
        else:
            hn5.next = h4
        # S5 -> S6: the product of the new update
        pnew.next = pn_c

    return [b for b in (ram, wram, code_select, unpack, old_product, new_product, pipe) if b]


@block
def adder_tree(ins, out):
    """``out = sum(ins)`` as a balanced tree of two-input adders (combinational)."""
    if len(ins) == 1:
        a = ins[0]

        @always_comb
        def wire():
            out.next = a

        return wire
    half = len(ins) // 2
    lo = _u(len(out))
    hi = _u(len(out))
    left = adder_tree(ins[:half], lo)
    right = adder_tree(ins[half:], hi)

    @always_comb
    def add():
        out.next = lo + hi

    return left, right, add


@block
def sbs_regfile(clk, rst, reg_addr, reg_wr, reg_wdata, reg_rdata, reg_err, wr_ctrl, wr_error,
                cmd_load, cmd_dump, cmd_loadw, state_code, busy, pending, error, n_updates,
                n_skipped, n_dropped, row_cycles, n_h, c1, theta, n_ip, n_rows, irq,
                p, n_max, ip_max, rows_max, id_value, config_value, config2_value):
    """Register file: the address decode of :data:`REGMAP` (:data:`LAYER_REGMAP` when
    ``rows_max > 0``): read data and SLVERR, the configuration registers (N_H, C1, THETA,
    N_IP, N_ROWS), the write strobes of CTRL and ERROR (their bits belong to the control FSM)
    and, in the layer unit, IRQ_ENABLE / IRQ_STATUS and ``irq``."""
    layer = rows_max > 0
    nb, ib, rb = len(n_h), len(n_ip) - 1, len(n_rows) - 1
    irq_en = _u(2)  # IRQ_ENABLE, IRQ_STATUS (layer unit)
    irq_st = _u(2)
    busy_d = Signal(bool(0))
    error_d = _u(len(error))

    @always_comb
    def decode():
        reg_rdata.next = 0
        reg_err.next = False
        if reg_addr == W_ID:
            reg_rdata.next = id_value
            reg_err.next = reg_wr
        elif reg_addr == W_CONFIG:
            reg_rdata.next = config_value
            reg_err.next = reg_wr
        elif reg_addr == W_CTRL:
            reg_rdata.next = (cmd_loadw << 3) | (cmd_dump << 1) | cmd_load
        elif reg_addr == W_STATUS:
            reg_rdata.next = (state_code << 4) | ((error != 0) << 2) | (pending << 1) | busy
            reg_err.next = reg_wr
        elif reg_addr == W_ERROR:
            reg_rdata.next = error
        elif reg_addr == W_N_H:
            reg_rdata.next = n_h
            if reg_wr and (busy or reg_wdata < 2 or reg_wdata > n_max
                           or (reg_wdata & (p - 1)) != 0):
                reg_err.next = True
        elif reg_addr == W_C1:
            reg_rdata.next = c1
            if reg_wr and (busy or reg_wdata < 65536 or reg_wdata > 131071):
                reg_err.next = True
        elif reg_addr == W_THETA_LO:
            reg_rdata.next = theta[32:0]
            reg_err.next = reg_wr and busy
        elif reg_addr == W_THETA_HI:
            reg_rdata.next = theta[64:32]
            reg_err.next = reg_wr and busy
        elif reg_addr == W_UPDATES:
            reg_rdata.next = n_updates
            reg_err.next = reg_wr
        elif reg_addr == W_SKIPPED:
            reg_rdata.next = n_skipped
            reg_err.next = reg_wr
        elif reg_addr == W_DROPPED:
            reg_rdata.next = n_dropped
            reg_err.next = reg_wr
        elif reg_addr == W_ROW_CYCLES:
            reg_rdata.next = row_cycles
            reg_err.next = reg_wr
        elif reg_addr == W_N_IP and layer:
            reg_rdata.next = n_ip
            if reg_wr and (busy or reg_wdata < 1 or reg_wdata > ip_max):
                reg_err.next = True
        elif reg_addr == W_N_ROWS and layer:
            reg_rdata.next = n_rows
            if reg_wr and (busy or reg_wdata < 1 or reg_wdata > rows_max):
                reg_err.next = True
        elif reg_addr == W_CONFIG2 and layer:
            reg_rdata.next = config2_value
            reg_err.next = reg_wr
        elif reg_addr == W_IRQ_ENABLE and layer:
            reg_rdata.next = irq_en
        elif reg_addr == W_IRQ_STATUS and layer:
            reg_rdata.next = irq_st
        else:
            reg_err.next = True

    @always_comb
    def strobes():
        wr_ctrl.next = reg_wr and not reg_err and reg_addr == W_CTRL
        wr_error.next = reg_wr and not reg_err and reg_addr == W_ERROR

    @always_seq(clk.posedge, reset=rst)
    def config_write():
        # reg_err already excludes bad values and writes while busy
        if reg_wr and not reg_err:
            if reg_addr == W_N_H:
                n_h.next = reg_wdata[nb:0]
            elif reg_addr == W_C1:
                c1.next = reg_wdata[17:0]
            elif reg_addr == W_THETA_LO:
                theta.next[32:0] = reg_wdata
            elif reg_addr == W_THETA_HI:
                theta.next[64:32] = reg_wdata
            elif reg_addr == W_N_IP:
                n_ip.next = reg_wdata[ib + 1:0]
            elif reg_addr == W_N_ROWS:
                n_rows.next = reg_wdata[rb + 1:0]

    if not layer:
        return decode, strobes, config_write

    @always_seq(clk.posedge, reset=rst)
    def irq_status():
        # events: BUSY falls, an ERROR bit is set; writing 1 clears, an event wins
        st = intbv(0)[2:]
        st[:] = irq_st
        busy_d.next = busy
        error_d.next = error
        if reg_wr and not reg_err and reg_addr == W_IRQ_ENABLE:
            irq_en.next = reg_wdata[2:0]
        if reg_wr and not reg_err and reg_addr == W_IRQ_STATUS:
            st[:] = st & ~reg_wdata[2:0]
        if busy_d and not busy:
            st[0] = 1
        if (error & ~error_d) != 0:
            st[1] = 1
        irq_st.next = st

    @always_comb
    def irq_out():
        irq.next = (irq_st & irq_en) != 0

    return decode, strobes, config_write, irq_status, irq_out


@block
def sbs_addrgen(clk, rst, t_state, state, flush, beat, n_h, ip_sel, n_ip, row_sel, n_rows,
                s_axis_w_tvalid, issue, raddr, at_last, h_last, lw_last, last_ip, w_we, w_sel1,
                w_raddr, v4, v5, v_any, a4, p, ip_max, layer):
    """Addresses: the h bank address ``{ip, beat}`` of the beat issued, loaded or dumped, the
    weight bank address ``{row, beat}`` (layer unit), the frame ends (last beat of a row, of
    the last IP, of the last row) and the valid bits and bank addresses of the update pipeline
    S1..S6 (the write-back address is ``a4`` when ``v4``)."""
    lp = _clog2(p) if p > 1 else 0
    last_beat = _u(len(beat))
    last_row = Signal(bool(0))
    w_sel0 = Signal(bool(0))
    # separate signals: MyHDL would turn a list indexed in a generator into a memory
    v0, v1, v2, v3 = (Signal(bool(0)) for _ in range(4))
    a0, a1, a2, a3 = (_u(len(raddr)) for _ in range(4))

    @always_comb
    def frame_ends():
        last_beat.next = (n_h >> lp) - 1
        last_ip.next = ip_sel == n_ip - 1
        last_row.next = row_sel == n_rows - 1

    @always_comb
    def frame_flags():
        at_last.next = beat == last_beat
        h_last.next = beat == last_beat and last_ip
        lw_last.next = beat == last_beat and last_row

    if ip_max > 1:
        @always_comb
        def h_address():
            raddr.next = concat(ip_sel, beat)
    else:
        @always_comb
        def h_address():
            raddr.next = beat

    @always_seq(clk.posedge, reset=rst)
    def pipeline():
        v0.next = issue
        v1.next = v0
        v2.next = v1
        v3.next = v2
        v4.next = v3
        v5.next = v4
        a0.next = raddr
        a1.next = a0
        a2.next = a1
        a3.next = a2
        a4.next = a3

    @always_comb
    def in_flight():
        v_any.next = v0 or v1 or v2 or v3 or v4 or v5

    blocks = [frame_ends, frame_flags, h_address, pipeline, in_flight]
    if layer:
        @always_comb
        def w_address():
            w_we.next = state == t_state.LOAD_W and s_axis_w_tvalid
            w_sel0.next = state == t_state.PASS and not flush
            w_raddr.next = concat(row_sel, beat)

        @always(clk.posedge)
        def w_select():
            w_sel1.next = w_sel0

        blocks += [w_address, w_select]
    return blocks


@block
def sbs_handshake(t_state, state, state_code, busy, cmd_load, cmd_dump, cmd_loadw, pending,
                  flush, drop, internal, short_fill, issue_done, issue, ip_sel, n_ip, n_rows,
                  h_last, r, theta, skip,
                  s_axis_w_tvalid, s_axis_w_tready, s_axis_h_tvalid, s_axis_h_tready,
                  m_axis_h_tvalid, m_axis_h_tlast, s_axis_s_tdata, s_axis_s_tvalid,
                  s_axis_s_tready, s_ip, s_row, s_take, s_bad, w_fire, h_fire, load_we):
    """The stream handshakes of the control FSM's state (ready, valid, the beat issued into
    the update pipeline, the spike taken), its STATUS view (BUSY, STATE) and the threshold
    check ``skip`` (no update from this pass)."""
    ib, rb = len(s_ip), len(s_row)
    w_ready = Signal(bool(0))
    h_ready = Signal(bool(0))

    @always_comb
    def spikes():
        s_row.next = s_axis_s_tdata[rb:0]
        s_ip.next = s_axis_s_tdata[16 + ib:16]
        s_take.next = (state == t_state.IDLE and not cmd_load and not cmd_dump
                       and not cmd_loadw and s_axis_s_tvalid
                       and not (pending and s_axis_s_tdata[32:16] != ip_sel))
        s_axis_s_tready.next = s_take
        s_bad.next = s_axis_s_tdata[16:0] >= n_rows or s_axis_s_tdata[32:16] >= n_ip

    @always_comb
    def handshake():
        w_ready.next = (state == t_state.PASS and not internal and not short_fill
                        and not issue_done) or state == t_state.DISCARD_W or \
            state == t_state.LOAD_W or state == t_state.DISCARD_LW
        h_ready.next = state == t_state.LOAD or state == t_state.DISCARD_H
        s_axis_w_tready.next = w_ready
        s_axis_h_tready.next = h_ready
        w_fire.next = w_ready and s_axis_w_tvalid
        h_fire.next = h_ready and s_axis_h_tvalid
        m_axis_h_tvalid.next = state == t_state.DUMP_OUT
        m_axis_h_tlast.next = h_last

    @always_comb
    def issue_logic():
        issue.next = False
        if state == t_state.PASS and not issue_done:
            if internal or short_fill:
                issue.next = True
            else:
                issue.next = s_axis_w_tvalid
        load_we.next = state == t_state.LOAD and s_axis_h_tvalid
        skip.next = flush or drop or r <= theta

    @always_comb
    def status():
        busy.next = state != t_state.IDLE or cmd_load or cmd_dump or cmd_loadw
        if state == t_state.IDLE:
            state_code.next = 0
        elif state == t_state.LOAD:
            state_code.next = 1
        elif state == t_state.DISCARD_H:
            state_code.next = 2
        elif state == t_state.PASS:
            state_code.next = 3
        elif state == t_state.DRAIN:
            state_code.next = 4
        elif state == t_state.DISCARD_W:
            state_code.next = 5
        elif state == t_state.NORM:
            state_code.next = 6
        elif state == t_state.SCALE:
            state_code.next = 7
        elif state == t_state.DIV:
            state_code.next = 8
        elif state == t_state.DUMP_RD:
            state_code.next = 9
        elif state == t_state.DUMP_OUT:
            state_code.next = 10
        elif state == t_state.LOAD_W:
            state_code.next = 11
        else:
            state_code.next = 12

    return spikes, handshake, issue_logic, status


@block
def sbs_control(clk, rst, t_state, state, wr_ctrl, wr_error, reg_wdata, cmd_load, cmd_dump,
                cmd_loadw, error, n_updates, n_skipped, n_dropped, row_cycles, cyc, beat,
                ip_sel, row_sel, pending, flush, internal, drop, short_fill, issue_done, issue,
                at_last, last_ip, h_fire, w_fire, h_ok, h_short, h_long, lw_ok, lw_short,
                lw_long, row_short, row_long, s_axis_h_tlast, s_axis_w_tlast, s_axis_w_tvalid,
                s_axis_s_tvalid, s_take, s_bad, s_ip, s_row, m_axis_h_tready, v_any, skip,
                div_last, layer):
    """The control FSM: commands (CTRL), errors and counters, the h load, the weight-row load
    (layer unit), the update passes (a row, a spike or a flush), the normalisation and
    division steps (:func:`sbs_divider` does their arithmetic) and the h read-out. The frame
    checks come from :func:`cores.common.stream.frame_check`."""

    @always_seq(clk.posedge, reset=rst)
    def control():
        # -------- commands and register writes (the register file decodes them)
        if wr_ctrl:
            if reg_wdata[0]:
                cmd_load.next = True
            if reg_wdata[1]:
                cmd_dump.next = True
            if reg_wdata[3] and layer:
                cmd_loadw.next = True
            if reg_wdata[2]:
                error.next = 0
                n_updates.next = 0
                n_skipped.next = 0
                n_dropped.next = 0
        elif wr_error:
            error.next = error & ~reg_wdata[5:0]
        cyc.next = cyc + 1

        # -------- sequencing
        if state == t_state.IDLE:
            beat.next = 0
            drop.next = False
            short_fill.next = False
            issue_done.next = False
            if cmd_load:
                cmd_load.next = False
                pending.next = False
                ip_sel.next = 0
                state.next = t_state.LOAD
            elif cmd_loadw:
                cmd_loadw.next = False
                row_sel.next = 0
                state.next = t_state.LOAD_W
            elif cmd_dump or (s_axis_s_tvalid and not s_take):
                # a read-out, or a spike for another IP: apply the pending update first
                if pending:
                    flush.next = True
                    internal.next = True
                    state.next = t_state.PASS
                elif cmd_dump:
                    cmd_dump.next = False
                    ip_sel.next = 0
                    state.next = t_state.DUMP_RD
            elif s_take:
                if s_bad:
                    error.next = error | ERR_SPIKE
                    n_dropped.next = n_dropped + 1
                else:
                    flush.next = False
                    internal.next = True
                    ip_sel.next = s_ip
                    row_sel.next = s_row
                    cyc.next = 2  # this cycle and the first of the pass
                    state.next = t_state.PASS
            elif s_axis_w_tvalid and not layer:
                flush.next = False
                internal.next = False
                cyc.next = 2  # this cycle and the first of the pass
                state.next = t_state.PASS
        elif state == t_state.LOAD:
            if h_fire:
                beat.next = beat + 1
                if at_last:
                    beat.next = 0
                    ip_sel.next = ip_sel + 1
            if h_ok:
                state.next = t_state.IDLE
            elif h_long:
                error.next = error | ERR_H_LONG
                state.next = t_state.DISCARD_H
            elif h_short:
                error.next = error | ERR_H_SHORT
                state.next = t_state.IDLE
        elif state == t_state.LOAD_W:
            if w_fire:
                beat.next = beat + 1
                if at_last:
                    beat.next = 0
                    row_sel.next = row_sel + 1
            if lw_ok:
                state.next = t_state.IDLE
            elif lw_long:
                error.next = error | ERR_W_LONG
                state.next = t_state.DISCARD_LW
            elif lw_short:
                error.next = error | ERR_W_SHORT
                state.next = t_state.IDLE
        elif state == t_state.DISCARD_LW:
            if w_fire and s_axis_w_tlast:
                state.next = t_state.IDLE
        elif state == t_state.DISCARD_H:
            if h_fire and s_axis_h_tlast:
                state.next = t_state.IDLE
        elif state == t_state.PASS:
            if issue:
                beat.next = beat + 1
                if at_last:
                    issue_done.next = True
                    state.next = t_state.DRAIN
                if row_long:
                    error.next = error | ERR_W_LONG
                    drop.next = True
                elif row_short:
                    error.next = error | ERR_W_SHORT
                    drop.next = True
                    short_fill.next = True
        elif state == t_state.DRAIN:
            # wait until the last beat has left the pipeline and r is complete
            if not v_any:
                if drop and not short_fill:
                    state.next = t_state.DISCARD_W
                else:
                    state.next = t_state.NORM
        elif state == t_state.DISCARD_W:
            if w_fire and s_axis_w_tlast:
                state.next = t_state.NORM
        elif state == t_state.NORM:
            # threshold check (the divider detects the leading one meanwhile)
            if skip:
                pending.next = False
                if drop:
                    n_dropped.next = n_dropped + 1
                elif not flush:
                    n_skipped.next = n_skipped + 1
                if not flush:
                    row_cycles.next = cyc
                state.next = t_state.IDLE
            else:
                state.next = t_state.SCALE
        elif state == t_state.SCALE:
            state.next = t_state.DIV
        elif state == t_state.DIV:
            if div_last:
                state.next = t_state.IDLE
                pending.next = True
                n_updates.next = n_updates + 1
                row_cycles.next = cyc
        elif state == t_state.DUMP_RD:
            state.next = t_state.DUMP_OUT
        elif state == t_state.DUMP_OUT:
            if m_axis_h_tready:
                beat.next = beat + 1
                state.next = t_state.DUMP_RD
                if at_last:
                    beat.next = 0
                    ip_sel.next = ip_sel + 1
                    if last_ip:
                        state.next = t_state.IDLE
        else:
            state.next = t_state.IDLE

    return control


@block
def sbs_divider(clk, rst, t_state, state, skip, v5, r_beat, r, c1, sh_r, sh_l, rq, div_last,
                div_step):
    """The pass's sum ``r`` (accumulated from the pipeline's S6 beats, cleared in IDLE) and,
    after the pass, its normalisation and reciprocal: the leading-one detection (NORM, when
    the update is taken), the rounded ``r' = r`` normalised to PB + 1 bits and the numerator
    ``(CE << F) + (r' >> 1)`` (SCALE), and the restoring division, ``div_step`` quotient bits
    per cycle (DIV; ``div_last`` in its last cycle). ``rq`` is the quotient."""
    rw = len(r)
    qw = 26  # quotient bits: Rq < 2**25 for CE <= 2**16
    n_steps = -(-qw // div_step)
    rs = _u(PB + 1)  # r' (normalised r)
    nlow = _u(qw)  # the low qw bits of the numerator, shifted out MSB first
    rem = _u(PB + 2)
    quo = _u(qw)
    steps = _u(5)

    @always_seq(clk.posedge, reset=rst)
    def divider():
        if state == t_state.IDLE:
            r.next = 0
        elif v5:
            r.next = r + r_beat
        if state == t_state.NORM and not skip:
            # leading-one detection (the update is taken)
            n = 0
            for k in range(rw):
                if r[k]:
                    n = k + 1
            if n >= PB + 1:
                sh_r.next = n - (PB + 1)
                sh_l.next = 0
            else:
                sh_r.next = 0
                sh_l.next = (PB + 1) - n
        if state == t_state.SCALE:
            rn = intbv(0)[PB + 1:]
            ce = intbv(0)[S + 1:]
            nm = intbv(0)[F + S + 2:]
            rn[:] = ((((r >> sh_r) << sh_l) + 1) >> 1) & ((1 << (PB + 1)) - 1)
            ce[:] = (1 << S) - c1
            nm[:] = (ce << F) + (rn >> 1)
            rs.next = rn
            nlow.next = nm[qw:]
            # the quotient has qw bits, so the bits of nm above them are less than rn
            rem.next = nm[F + S + 2:qw]
            quo.next = 0
            steps.next = 0
        if state == t_state.DIV:
            # restoring division of num by rs, div_step quotient bits per cycle, from bit qw-1
            rr = intbv(0)[PB + 3:]
            qq = modbv(0)[qw:]
            nn = modbv(0)[qw:]  # shifted out MSB first (modbv: the MyHDL simulation wraps too)
            rr[:] = rem
            qq[:] = quo
            nn[:] = nlow
            for _j in range(div_step):
                rr[:] = (rr << 1) | nn[qw - 1]
                nn[:] = nn << 1
                qq[:] = qq << 1
                if rr >= rs:
                    rr[:] = rr - rs
                    qq[0] = 1
            rem.next = rr[PB + 2:]
            quo.next = qq
            nlow.next = nn
            steps.next = steps + 1

    @always_comb
    def quotient():
        rq.next = quo[RQ:]  # the top quotient bit is 0: Rq < 2**25 when C1 >= 2**16
        div_last.next = steps == n_steps - 1

    return divider, quotient


@block
def sbs_lanes(clk, issue, internal, short_fill, raddr, load_we, v4, a4, sh_r, sh_l, c1, rq,
              pending, s_axis_w_tdata, s_axis_h_tdata, m_axis_h_tdata, w_we, w_raddr, w_sel1,
              r_beat, p, e_bits, m_bits, depth, wdepth):
    """The datapath: P lanes (:func:`sbs_lane`), the adder tree of their new products (the
    sum of a beat, ``r_beat``), the new codes of a beat (the weight stream, or zero codes in
    a flush, a layer pass or after an early ``tlast``) and the h read-out word."""
    wb = e_bits + m_bits
    zero_code = (1 << wb) - 1
    pw = F + (2 if m_bits else 0) + (1 << e_bits) - 2
    rw = len(r_beat)
    codes_in = [_u(wb) for _ in range(p)]
    h_in = [_u(F) for _ in range(p)]
    h_out = [_u(F) for _ in range(p)]
    pnew = [_u(pw) for _ in range(p)]
    pnew_wide = [_u(rw) for _ in range(p)]
    w_lane = [s_axis_w_tdata((k + 1) * wb, k * wb) for k in range(p)]
    hin_lane = [s_axis_h_tdata((k + 1) * F, k * F) for k in range(p)]
    lanes = []
    for k in range(p):
        lanes.append(sbs_lane(clk, codes_in[k], h_in[k], raddr, load_we, raddr, v4, a4,
                              sh_r, sh_l, c1, rq, pending, pnew[k], h_out[k],
                              w_lane[k], w_we, w_raddr, w_raddr, w_sel1,
                              e_bits, m_bits, depth, wdepth))
    tree = adder_tree(pnew_wide, r_beat)
    h_packed = ConcatSignal(*reversed(h_out)) if p > 1 else h_out[0]

    @block
    def lane_io(k):
        wl, hl, ci, hi_, pn, pnw = w_lane[k], hin_lane[k], codes_in[k], h_in[k], pnew[k], \
            pnew_wide[k]

        @always_comb
        def io():
            if issue and not internal and not short_fill:
                ci.next = wl
            else:
                ci.next = zero_code
            hi_.next = hl
            pnw.next = pn

        return io

    lane_ios = [lane_io(k) for k in range(p)]

    @always_comb
    def out_word():
        m_axis_h_tdata.next = h_packed

    return lanes, tree, lane_ios, out_word


@block
def sbs_engine(clk, rst,
               s_axil_awaddr, s_axil_awvalid, s_axil_awready,
               s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
               s_axil_bresp, s_axil_bvalid, s_axil_bready,
               s_axil_araddr, s_axil_arvalid, s_axil_arready,
               s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
               s_axis_w_tdata, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
               s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
               m_axis_h_tdata, m_axis_h_tvalid, m_axis_h_tready, m_axis_h_tlast,
               s_axis_s_tdata, s_axis_s_tvalid, s_axis_s_tready,
               p, n_max, weights, div_step, ip_max, rows_max, irq=None):
    """The update unit's sub-blocks and their wiring; ``rows_max == 0``: stream mode (the
    update unit), else layer mode (the layer unit: ``ip_max`` IPs and ``rows_max`` weight rows
    on chip, one update per beat of ``s_axis_s``, the interrupt registers and ``irq``).

    Sub-blocks: the AXI4-Lite bridge and :func:`sbs_regfile` (registers), :func:`sbs_control`
    (FSM) with :func:`sbs_handshake` (stream handshakes, STATUS), three
    :func:`~cores.common.stream.frame_check` (h frame, weight row, weight-row frame),
    :func:`sbs_addrgen` (addresses, pipeline valids) and the datapath :func:`sbs_lanes` and
    :func:`sbs_divider`."""
    fmt = check_params(p, n_max, weights, div_step)
    layer = rows_max > 0
    ib = _clog2(ip_max)
    hb = ib if ip_max > 1 else 0  # IP bits of an h bank address
    rb = _clog2(rows_max) if layer else 1
    e_bits, m_bits = fmt.e_bits, fmt.m_bits
    pw = F + (2 if m_bits else 0) + (1 << e_bits) - 2
    rw = pw + _clog2(n_max)
    depth = n_max // p
    ab = _clog2(depth)
    nb = _clog2(n_max + 1)
    c1_default = REGMAP["C1"].reset  # eps = 0.1 (test_regmap checks it against HFixed)
    config_value = p | (_clog2(n_max) << 8) | (e_bits << 16) | (m_bits << 20) | (F << 24)
    config2_value = ((_clog2(ip_max) if ip_max > 1 else 0) | ((_clog2(rows_max) << 8)
                     if layer else 0))

    # ---------------------------------------------------------------- register bus
    reg_addr = _u((LAYER_REGMAP if layer else REGMAP).addr_bits - 2)
    id_value = LAYER_ID_VALUE if layer else ID_VALUE
    reg_wr, reg_rd, reg_err = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    reg_wdata, reg_rdata = _u(32), _u(32)
    bridge = axil_bridge(
        clk, rst,
        s_axil_awaddr, s_axil_awvalid, s_axil_awready,
        s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
        s_axil_bresp, s_axil_bvalid, s_axil_bready,
        s_axil_araddr, s_axil_arvalid, s_axil_arready,
        s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
        reg_addr, reg_wr, reg_rd, reg_wdata, reg_rdata, reg_err,
    )

    t_state = enum("IDLE", "LOAD", "DISCARD_H", "PASS", "DRAIN", "DISCARD_W", "NORM",
                   "SCALE", "DIV", "DUMP_RD", "DUMP_OUT", "LOAD_W", "DISCARD_LW")
    state = Signal(t_state.IDLE)
    state_code = _u(4)
    # registers (register file) and the FSM's commands, errors and counters
    n_h = _u(nb, n_max)
    c1 = _u(17, c1_default)
    theta = _u(64)
    n_ip = _u(ib + 1, 1)
    n_rows = _u(rb + 1, rows_max if layer else 1)
    wr_ctrl, wr_error = Signal(bool(0)), Signal(bool(0))
    n_updates, n_skipped, n_dropped, row_cycles, cyc = (_u(32) for _ in range(5))
    error = _u(5)
    cmd_load, cmd_dump, cmd_loadw = (Signal(bool(0)) for _ in range(3))
    busy = Signal(bool(0))
    # FSM state beside `state`
    ip_sel = _u(ib)  # IP of the pass (and of the pending update), or of the h frame beat
    row_sel = _u(rb)  # weight row of the pass, or of the weight frame beat
    beat = _u(ab)  # beat issued / loaded / dumped next
    pending = Signal(bool(0))
    internal = Signal(bool(0))  # the pass issues its beats itself (flush, layer mode)
    flush = Signal(bool(0))  # the pass runs on internal zero rows
    drop = Signal(bool(0))  # the row of this pass is dropped
    short_fill = Signal(bool(0))  # an early tlast: the rest of the pass is zero-filled
    issue_done = Signal(bool(0))
    # handshakes, spikes, frame checks
    issue, skip, load_we = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    w_fire, h_fire = Signal(bool(0)), Signal(bool(0))
    s_ip, s_row = _u(ib), _u(rb)
    s_take, s_bad = Signal(bool(0)), Signal(bool(0))
    at_last, h_last, lw_last, last_ip = (Signal(bool(0)) for _ in range(4))
    h_ok, h_short, h_long = (Signal(bool(0)) for _ in range(3))
    lw_ok, lw_short, lw_long = (Signal(bool(0)) for _ in range(3))
    row_short, row_long = Signal(bool(0)), Signal(bool(0))
    # addresses and the update pipeline
    raddr = _u(hb + ab)
    w_raddr = _u(rb + ab)
    w_we, w_sel1 = Signal(bool(0)), Signal(bool(0))
    v4, v5, v_any = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    a4 = _u(hb + ab)
    # datapath
    r = _u(rw)
    r_beat = _u(rw)
    sh_r = _u(_clog2(rw + 1))
    sh_l = _u(5)
    rq = _u(RQ)
    div_last = Signal(bool(0))

    regs = sbs_regfile(clk, rst, reg_addr, reg_wr, reg_wdata, reg_rdata, reg_err, wr_ctrl,
                       wr_error, cmd_load, cmd_dump, cmd_loadw, state_code, busy, pending,
                       error, n_updates, n_skipped, n_dropped, row_cycles, n_h, c1, theta,
                       n_ip, n_rows, irq, p, n_max, ip_max, rows_max, id_value, config_value,
                       config2_value)
    fsm = sbs_control(clk, rst, t_state, state, wr_ctrl, wr_error, reg_wdata, cmd_load,
                      cmd_dump, cmd_loadw, error, n_updates, n_skipped, n_dropped, row_cycles,
                      cyc, beat, ip_sel, row_sel, pending, flush, internal, drop, short_fill,
                      issue_done, issue, at_last, last_ip, h_fire, w_fire, h_ok, h_short,
                      h_long, lw_ok, lw_short, lw_long, row_short, row_long, s_axis_h_tlast,
                      s_axis_w_tlast, s_axis_w_tvalid, s_axis_s_tvalid, s_take, s_bad, s_ip,
                      s_row, m_axis_h_tready, v_any, skip, div_last, layer)
    handshakes = sbs_handshake(t_state, state, state_code, busy, cmd_load, cmd_dump, cmd_loadw,
                               pending, flush, drop, internal, short_fill, issue_done, issue,
                               ip_sel, n_ip, n_rows, h_last, r, theta, skip,
                               s_axis_w_tvalid, s_axis_w_tready, s_axis_h_tvalid,
                               s_axis_h_tready, m_axis_h_tvalid, m_axis_h_tlast, s_axis_s_tdata,
                               s_axis_s_tvalid, s_axis_s_tready, s_ip, s_row, s_take, s_bad,
                               w_fire, h_fire, load_we)
    checks = [frame_check(h_fire, s_axis_h_tlast, h_last, h_ok, h_short, h_long),
              frame_check(w_fire, s_axis_w_tlast, at_last, None, row_short, row_long),
              frame_check(w_fire, s_axis_w_tlast, lw_last, lw_ok, lw_short, lw_long)]
    addresses = sbs_addrgen(clk, rst, t_state, state, flush, beat, n_h, ip_sel, n_ip, row_sel,
                            n_rows, s_axis_w_tvalid, issue, raddr, at_last, h_last, lw_last,
                            last_ip, w_we, w_sel1, w_raddr, v4, v5, v_any, a4, p, ip_max,
                            layer)
    lanes = sbs_lanes(clk, issue, internal, short_fill, raddr, load_we, v4, a4, sh_r, sh_l,
                      c1, rq, pending, s_axis_w_tdata, s_axis_h_tdata, m_axis_h_tdata, w_we,
                      w_raddr, w_sel1, r_beat, p, e_bits, m_bits, depth * ip_max,
                      depth * rows_max)
    divider = sbs_divider(clk, rst, t_state, state, skip, v5, r_beat, r, c1, sh_r, sh_l, rq,
                          div_last, div_step)
    return (bridge, regs, fsm, handshakes, checks, addresses, lanes, divider)


@block
def sbs_update(clk, rst,
               s_axil_awaddr, s_axil_awvalid, s_axil_awready,
               s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
               s_axil_bresp, s_axil_bvalid, s_axil_bready,
               s_axil_araddr, s_axil_arvalid, s_axil_arready,
               s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
               s_axis_w_tdata, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
               s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
               m_axis_h_tdata, m_axis_h_tvalid, m_axis_h_tready, m_axis_h_tlast,
               p, n_max, weights, div_step=2):
    """The update unit: one IP, a weight row streamed per update (see the module docstring)."""
    s_data = _u(32)
    s_valid = Signal(bool(0))
    s_ready = Signal(bool(0))
    engine = sbs_engine(
        clk, rst,
        s_axil_awaddr, s_axil_awvalid, s_axil_awready,
        s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
        s_axil_bresp, s_axil_bvalid, s_axil_bready,
        s_axil_araddr, s_axil_arvalid, s_axil_arready,
        s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
        s_axis_w_tdata, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
        s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
        m_axis_h_tdata, m_axis_h_tvalid, m_axis_h_tready, m_axis_h_tlast,
        s_data, s_valid, s_ready,
        p, n_max, weights, div_step, 1, 0)

    return engine


@block
def sbs_layer(clk, rst,
              s_axil_awaddr, s_axil_awvalid, s_axil_awready,
              s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
              s_axil_bresp, s_axil_bvalid, s_axil_bready,
              s_axil_araddr, s_axil_arvalid, s_axil_arready,
              s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
              s_axis_w_tdata, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
              s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
              m_axis_h_tdata, m_axis_h_tvalid, m_axis_h_tready, m_axis_h_tlast,
              s_axis_s_tdata, s_axis_s_tvalid, s_axis_s_tready, irq,
              p, n_max, weights, ip_max, rows_max, div_step=2):
    """The layer unit: ``ip_max`` IPs and ``rows_max`` weight rows on chip; every beat of
    ``s_axis_s`` ({ip[15:0], row[15:0]}) is one update of IP ``ip`` with weight row ``row``."""
    return sbs_engine(
        clk, rst,
        s_axil_awaddr, s_axil_awvalid, s_axil_awready,
        s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
        s_axil_bresp, s_axil_bvalid, s_axil_bready,
        s_axil_araddr, s_axil_arvalid, s_axil_arready,
        s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
        s_axis_w_tdata, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
        s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
        m_axis_h_tdata, m_axis_h_tvalid, m_axis_h_tready, m_axis_h_tlast,
        s_axis_s_tdata, s_axis_s_tvalid, s_axis_s_tready,
        p, n_max, weights, div_step, ip_max, rows_max, irq)


#: the top-level outputs (every other port is an input)
OUTPUTS = frozenset({
    "s_axil_awready", "s_axil_wready", "s_axil_bresp", "s_axil_bvalid", "s_axil_arready",
    "s_axil_rdata", "s_axil_rresp", "s_axil_rvalid", "s_axis_w_tready", "s_axis_h_tready",
    "m_axis_h_tdata", "m_axis_h_tvalid", "m_axis_h_tlast", "s_axis_s_tready", "irq",
})


def ports(p: int, n_max: int, weights: str, layer: bool = False) -> dict:
    """Fresh top-level signals of a configuration, by port name (``layer``: with the spike
    stream ``s_axis_s``)."""
    fmt = check_params(p, n_max, weights)
    wb = fmt.e_bits + fmt.m_bits
    sig = {"clk": Signal(bool(0)), "rst": ResetSignal(0, active=1, isasync=False)}
    sig.update(axil_signals((LAYER_REGMAP if layer else REGMAP).addr_bits))
    for name, width in (("s_axis_w", p * wb), ("s_axis_h", p * F), ("m_axis_h", p * F)):
        sig[f"{name}_tdata"] = _u(width)
        for s in ("tvalid", "tready", "tlast"):
            sig[f"{name}_{s}"] = Signal(bool(0))
    if layer:
        sig["s_axis_s_tdata"] = _u(32)
        sig["s_axis_s_tvalid"] = Signal(bool(0))
        sig["s_axis_s_tready"] = Signal(bool(0))
        sig["irq"] = Signal(bool(0))
    return sig


def top(p: int = 4, n_max: int = 1024, weights: str = "e4m1", div_step: int = 2):
    """An instance of the unit with fresh signals (for conversion)."""
    return sbs_update(**ports(p, n_max, weights), p=p, n_max=n_max, weights=weights,
                      div_step=div_step)


def top_layer(p: int = 4, n_max: int = 64, weights: str = "e4m1", ip_max: int = 1024,
              rows_max: int = 64, div_step: int = 2):
    """An instance of the layer unit with fresh signals (for conversion)."""
    check_layer_params(ip_max, rows_max)
    return sbs_layer(**ports(p, n_max, weights, layer=True), p=p, n_max=n_max, weights=weights,
                     ip_max=ip_max, rows_max=rows_max, div_step=div_step)
