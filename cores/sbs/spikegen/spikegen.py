"""SbS spike generator: per-source xorshift32 and running-sum selection, bit-exact with
:mod:`refmodels.sbs.rng` (``xorshift`` generator, ``select_fixed``).

The unit draws one spike per source and spike step. It holds the xorshift32 state of up to
SRC_MAX sources (the positions of a layer, row-major) and seeds them itself on CTRL.SEED from
the SEED and LAYER registers exactly as ``xorshift_seed`` does (``fmix32(seed + 0x9E3779B9 *
(1 + (layer << 20) + j))``, 0 replaced by 0x6D2B79F5), one source per 4 cycles.

Per step the h of every source arrives on ``s_axis_h`` (one 24-bit latent per beat, sources in
order, ``N_H`` beats each, ``tlast`` on the very last beat). For each source the unit sums the
latents into S while storing them, steps the source's generator (``u`` = the new state), computes
``t = (u S) >> 32`` and scans the stored latents until the running sum exceeds ``t``; the index
goes out on ``m_axis_spk`` (16 bits, 0xFFFF when S = 0: no spike; ``tlast`` on the last source).
Cycles per source: ``N_H`` (receive) + ``N_H``-or-fewer (scan, stops at the spike) + 4.

Registers (AXI4-Lite, 32-bit; SLVERR for unmapped addresses, writes to read-only registers,
out-of-range values and configuration writes while busy): :data:`REGMAP` (sbs_spikegen.rdl).
"""

from __future__ import annotations

from myhdl import ResetSignal, Signal, always, always_comb, always_seq, block, enum, intbv

from cores.common import regmap
from cores.common.axil import axil_bridge, axil_signals

F = 24
NO_SPIKE = 0xFFFF
GOLDEN = 0x9E3779B9
M1 = 0x85EBCA6B
M2 = 0xC2B2AE35
ZERO_SUBST = 0x6D2B79F5

#: the register map, generated from sbs_spikegen.rdl (cores/common/regmap.py)
REGMAP = regmap.load("sbs_spikegen")
REG = REGMAP.offsets  # name -> byte address
ID_VALUE = REGMAP.id_value
# word indices of the address decode (plain names: the MyHDL converter inlines them)
(W_ID, W_CONFIG, W_CTRL, W_STATUS, W_ERROR, W_N_H, W_N_SRC, W_SEED, W_LAYER,
 W_SPIKES) = (REGMAP.word(n) for n in ("ID", "CONFIG", "CTRL", "STATUS", "ERROR", "N_H",
                                       "N_SRC", "SEED", "LAYER", "SPIKES"))
ERR_H_SHORT, ERR_H_LONG = (REGMAP["ERROR"].field(f).mask for f in ("H_SHORT", "H_LONG"))

OUTPUTS = frozenset({
    "s_axil_awready", "s_axil_wready", "s_axil_bresp", "s_axil_bvalid", "s_axil_arready",
    "s_axil_rdata", "s_axil_rresp", "s_axil_rvalid", "s_axis_h_tready", "m_axis_spk_tdata",
    "m_axis_spk_tvalid", "m_axis_spk_tlast",
})


class SpikegenConfigError(ValueError):
    """Parameters the spike generator cannot be built with."""


def check_params(n_max: int, src_max: int) -> None:
    if n_max < 2 or n_max & (n_max - 1) or n_max > 128:
        raise SpikegenConfigError(
            f"N_MAX={n_max}: a power of two, 2..128 (the sum of h must stay below 2**31)")
    if src_max < 1 or src_max & (src_max - 1) or src_max > 1 << 16:
        raise SpikegenConfigError(f"SRC_MAX={src_max}: a power of two, 1..65536")


def module_name(n_max: int, src_max: int) -> str:
    return f"sbs_spikegen_n{n_max}_s{src_max}"


def _clog2(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _u(n: int, v: int = 0):
    return Signal(intbv(v)[n:])


@block
def sbs_spikegen(clk, rst,
                 s_axil_awaddr, s_axil_awvalid, s_axil_awready,
                 s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
                 s_axil_bresp, s_axil_bvalid, s_axil_bready,
                 s_axil_araddr, s_axil_arvalid, s_axil_arready,
                 s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
                 s_axis_h_tdata, s_axis_h_tvalid, s_axis_h_tready, s_axis_h_tlast,
                 m_axis_spk_tdata, m_axis_spk_tvalid, m_axis_spk_tready, m_axis_spk_tlast,
                 n_max, src_max):
    check_params(n_max, src_max)
    nb = _clog2(n_max)
    sb = _clog2(src_max)
    config_value = nb | (sb << 8)
    sum_bits = F + nb

    reg_addr = _u(REGMAP.addr_bits - 2)
    reg_wr = Signal(bool(0))
    reg_rd = Signal(bool(0))
    reg_wdata = _u(32)
    reg_rdata = _u(32)
    reg_err = Signal(bool(0))
    bridge = axil_bridge(
        clk, rst,
        s_axil_awaddr, s_axil_awvalid, s_axil_awready,
        s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
        s_axil_bresp, s_axil_bvalid, s_axil_bready,
        s_axil_araddr, s_axil_arvalid, s_axil_arready,
        s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
        reg_addr, reg_wr, reg_rd, reg_wdata, reg_rdata, reg_err,
    )

    t_state = enum("IDLE", "SEED0", "SEED1", "SEED2", "SEED3", "RECV", "DISCARD", "DRAW",
                   "THRESH", "SCAN", "OUT")
    state = Signal(t_state.IDLE)
    state_code = _u(4)
    n_h = _u(nb + 1, n_max)
    n_src = _u(sb + 1, 1)
    seed = _u(32)
    layer = _u(11)
    spikes = _u(32)
    error = _u(2)
    cmd_seed = Signal(bool(0))
    busy = Signal(bool(0))

    hbuf = [Signal(intbv(0)[F:]) for _ in range(n_max)]
    hb_rd = _u(F)
    hb_raddr = _u(nb)
    hb_we = Signal(bool(0))
    states = [Signal(intbv(0)[32:]) for _ in range(src_max)]
    st_rd = _u(32)
    st_we = Signal(bool(0))
    st_waddr = _u(sb)
    st_wdata = _u(32)

    k = _u(nb + 1)  # latent index (receive / scan; reaches N_MAX in the scan)
    j = _u(sb)  # source index
    x = _u(32)  # seeding / drawing register
    total = _u(sum_bits)  # S
    thr = _u(sum_bits)  # t
    acc = _u(sum_bits)  # running sum
    spike = _u(16)
    last_k = Signal(bool(0))
    last_j = Signal(bool(0))
    h_fire = Signal(bool(0))
    h_ready = Signal(bool(0))
    # one 32 x 32-bit multiplier shared by the seeding hash and the selection threshold
    mul_a = _u(32)
    mul_b = _u(32)
    mul_p = _u(64)

    @always(clk.posedge)
    def memories():
        if hb_we:
            hbuf[hb_raddr].next = s_axis_h_tdata
        hb_rd.next = hbuf[hb_raddr]
        if st_we:
            states[st_waddr].next = st_wdata
        st_rd.next = states[j]

    @always_comb
    def comb():
        h_ready.next = state == t_state.RECV or state == t_state.DISCARD
        s_axis_h_tready.next = h_ready
        h_fire.next = h_ready and s_axis_h_tvalid
        hb_we.next = state == t_state.RECV and s_axis_h_tvalid
        hb_raddr.next = k[nb:]
        last_k.next = k == n_h - 1
        last_j.next = j == n_src - 1
        m_axis_spk_tdata.next = spike
        m_axis_spk_tvalid.next = state == t_state.OUT
        m_axis_spk_tlast.next = last_j
        busy.next = state != t_state.IDLE or cmd_seed

    @always_comb
    def multiplier_operands():
        if state == t_state.SEED0:
            mul_a.next = (1 + (layer << 20) + j) & 0xFFFFFFFF
            mul_b.next = GOLDEN
        elif state == t_state.SEED1:
            mul_a.next = x ^ (x >> 16)
            mul_b.next = M1
        elif state == t_state.SEED2:
            mul_a.next = x ^ (x >> 13)
            mul_b.next = M2
        else:
            mul_a.next = x
            mul_b.next = total

    @always_comb
    def multiplier():
        mul_p.next = mul_a * mul_b

    @always_comb
    def state_number():
        if state == t_state.IDLE:
            state_code.next = 0
        elif state == t_state.RECV:
            state_code.next = 1
        elif state == t_state.SCAN:
            state_code.next = 2
        elif state == t_state.OUT:
            state_code.next = 3
        else:
            state_code.next = 4

    @always_comb
    def decode():
        reg_rdata.next = 0
        reg_err.next = False
        if reg_addr == W_ID:
            reg_rdata.next = ID_VALUE
            reg_err.next = reg_wr
        elif reg_addr == W_CONFIG:
            reg_rdata.next = config_value
            reg_err.next = reg_wr
        elif reg_addr == W_CTRL:
            reg_rdata.next = cmd_seed
        elif reg_addr == W_STATUS:
            reg_rdata.next = (state_code << 4) | ((error != 0) << 2) | busy
            reg_err.next = reg_wr
        elif reg_addr == W_ERROR:
            reg_rdata.next = error
        elif reg_addr == W_N_H:
            reg_rdata.next = n_h
            reg_err.next = reg_wr and (busy or reg_wdata < 1 or reg_wdata > n_max)
        elif reg_addr == W_N_SRC:
            reg_rdata.next = n_src
            reg_err.next = reg_wr and (busy or reg_wdata < 1 or reg_wdata > src_max)
        elif reg_addr == W_SEED:
            reg_rdata.next = seed
            reg_err.next = reg_wr and busy
        elif reg_addr == W_LAYER:
            reg_rdata.next = layer
            reg_err.next = reg_wr and (busy or reg_wdata > 2047)
        elif reg_addr == W_SPIKES:
            reg_rdata.next = spikes
            reg_err.next = reg_wr
        else:
            reg_err.next = True

    @always_seq(clk.posedge, reset=rst)
    def control():
        st_we.next = False
        if reg_wr and not reg_err:
            if reg_addr == W_CTRL:
                if reg_wdata[0]:
                    cmd_seed.next = True
                if reg_wdata[1]:
                    error.next = 0
                    spikes.next = 0
            elif reg_addr == W_ERROR:
                error.next = error & ~reg_wdata[2:0]
            elif reg_addr == W_N_H:
                n_h.next = reg_wdata[nb + 1:]
            elif reg_addr == W_N_SRC:
                n_src.next = reg_wdata[sb + 1:]
            elif reg_addr == W_SEED:
                seed.next = reg_wdata
            elif reg_addr == W_LAYER:
                layer.next = reg_wdata[11:]

        if state == t_state.IDLE:
            k.next = 0
            total.next = 0
            if cmd_seed:
                cmd_seed.next = False
                j.next = 0
                state.next = t_state.SEED0
            elif s_axis_h_tvalid:
                state.next = t_state.RECV
        elif state == t_state.SEED0:
            # v = seed + 0x9E3779B9 (1 + (layer << 20) + j) mod 2**32
            x.next = (seed + mul_p[32:]) & 0xFFFFFFFF
            state.next = t_state.SEED1
        elif state == t_state.SEED1:
            x.next = mul_p[32:]
            state.next = t_state.SEED2
        elif state == t_state.SEED2:
            x.next = mul_p[32:]
            state.next = t_state.SEED3
        elif state == t_state.SEED3:
            fin = intbv(0)[32:]
            fin[:] = x ^ (x >> 16)
            if fin == 0:
                st_wdata.next = ZERO_SUBST
            else:
                st_wdata.next = fin
            st_we.next = True
            st_waddr.next = j
            j.next = j + 1
            state.next = t_state.SEED0
            if last_j:
                j.next = 0
                state.next = t_state.IDLE
        elif state == t_state.RECV:
            if h_fire:
                total.next = total + s_axis_h_tdata
                k.next = k + 1
                if last_k:
                    k.next = 0
                    state.next = t_state.DRAW
                    if last_j and not s_axis_h_tlast:
                        error.next = error | ERR_H_LONG
                        state.next = t_state.DISCARD
                    elif s_axis_h_tlast and not last_j:
                        error.next = error | ERR_H_SHORT
                        j.next = 0
                        state.next = t_state.IDLE
                elif s_axis_h_tlast:
                    error.next = error | ERR_H_SHORT
                    j.next = 0
                    state.next = t_state.IDLE
        elif state == t_state.DISCARD:
            if h_fire and s_axis_h_tlast:
                j.next = 0
                state.next = t_state.IDLE
        elif state == t_state.DRAW:
            # st_rd holds the state of source j: one xorshift32 step (13, 17, 5)
            u = intbv(0)[32:]
            u[:] = st_rd ^ ((st_rd << 13) & 0xFFFFFFFF)
            u[:] = u ^ (u >> 17)
            u[:] = u ^ ((u << 5) & 0xFFFFFFFF)
            x.next = u
            st_wdata.next = u
            st_we.next = True
            st_waddr.next = j
            state.next = t_state.THRESH
        elif state == t_state.THRESH:
            thr.next = mul_p[32 + sum_bits:32]
            acc.next = 0
            if total == 0:
                spike.next = NO_SPIKE
                state.next = t_state.OUT
            else:
                k.next = 1
                state.next = t_state.SCAN
        elif state == t_state.SCAN:
            # hb_rd holds latent k - 1 (read one cycle ago)
            s_new = intbv(0)[sum_bits:]
            s_new[:] = acc + hb_rd
            acc.next = s_new
            k.next = k + 1
            if s_new > thr:
                spike.next = k - 1
                state.next = t_state.OUT
        else:  # OUT
            if m_axis_spk_tready:
                spikes.next = spikes + 1
                k.next = 0
                total.next = 0
                if last_j:
                    j.next = 0
                    state.next = t_state.IDLE
                else:
                    j.next = j + 1
                    state.next = t_state.RECV

    return (bridge, memories, comb, multiplier_operands, multiplier, state_number, decode,
            control)


def ports(n_max: int, src_max: int) -> dict:
    check_params(n_max, src_max)
    sig = {"clk": Signal(bool(0)), "rst": ResetSignal(0, active=1, isasync=False)}
    sig.update(axil_signals(6))
    sig["s_axis_h_tdata"] = _u(F)
    sig["m_axis_spk_tdata"] = _u(16)
    for name in ("s_axis_h", "m_axis_spk"):
        for s in ("tvalid", "tready", "tlast"):
            sig[f"{name}_{s}"] = Signal(bool(0))
    return sig


def top(n_max: int = 64, src_max: int = 1024):
    """An instance of the spike generator with fresh signals (for conversion)."""
    return sbs_spikegen(**ports(n_max, src_max), n_max=n_max, src_max=src_max)
