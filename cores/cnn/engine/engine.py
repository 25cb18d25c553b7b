"""CNN layer engine: one Conv2D / DepthwiseConv2D / FullyConnected / MaxPool / AveragePool
layer per run, streamed over AXI4-Stream, configured over AXI4-Lite; int8 (TFLite) or
Hybrid-Float6 (``mul="hf6"``: float32 activations, HF6 weights and biases).

A run (CTRL.START) checks the configured shapes against the buffers, then

1. takes the input feature map on ``s_axis_x`` (one activation per beat: an int8 code, or the
   float32 bit pattern in the HF6 build; NHWC order, H*W*C beats) into the input buffer;
2. takes the weights on ``s_axis_w`` (one beat per output-channel group g and filter tap
   t = (ky*FW + kx)*C + ci: P weights, lane i = output channel g*P + i in bits 8i+7..8i, an int8
   code or an HF6 code in bits 8i+5..8i; ceil(OUT_C/P) * FH*FW*C beats; lanes beyond OUT_C are
   ignored) into the weight buffer; pooling layers take no weights;
3. for every output position (oy, ox) and channel group, streams the FH*FW*C taps through the
   MAC array (:mod:`cores.cnn.mac`, or :mod:`cores.cnn.hf6mac` in the HF6 build; taps outside
   the image are padded taps) and the P sums through the requantisation unit
   (:mod:`cores.cnn.requant`) with each channel's bias, M and shift, or bias and float64 scale
   with MODE.FLOAT_SCALE (TFLite's reference FullyConnected rounding; HF6: the bias code enters
   the MAC array with the first tap, the float32 results pass the activation), and sends the
   results on ``m_axis_y`` (NHWC order, OH*OW*OUT_C beats, ``tlast`` on the last).
   Pooling layers stream the FH*FW taps of each window and channel through the pooling unit
   (:mod:`cores.cnn.pool`; HF6: a float32 maximum), padded taps skipped.

FullyConnected is the 1x1 case (H = W = FH = FW = 1, C inputs). The output size and the
padding before the first row / column come from the host (``tflite.compute_padding`` gives
them for SAME / VALID), so any TFLite padding is expressed. Sums follow each other without
waiting for the previous results (see the engine README).

The register map is :data:`REGMAP`, generated from cnn_engine.rdl (table in the README).
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

from cores.cnn.hf6mac.hf6mac import cnn_hf6mac
from cores.cnn.mac.mac import (
    SEL_BITS,
    MacConfigError,
    cnn_mac,
    normalise,
    select_register,
)
from cores.cnn.pool.pool import cnn_pool
from cores.cnn.requant.requant import cnn_requant
from cores.common import regmap
from cores.common.axil import axil_bridge, axil_signals
from cores.common.stream import frame_check

LANES = (1, 2, 4, 8, 16)
#: the register map, generated from cnn_engine.rdl (cores/common/regmap.py)
REGMAP = regmap.load("cnn_engine")
ID_VALUE = REGMAP.id_value
# word indices of the address decode (plain names: the MyHDL converter inlines them)
(W_CTRL, W_STATUS, W_CAPS, W_IN_SHAPE, W_OUT_SHAPE, W_FILTER, W_QUANT, W_CYCLES, W_MODE,
 W_ID) = (REGMAP.word(n) for n in ("CTRL", "STATUS", "CAPS", "IN_SHAPE", "OUT_SHAPE", "FILTER",
                                   "QUANT", "CYCLES", "MODE", "ID"))
TABLES = ("BIAS", "MULT", "SHIFT", "SCALE_HI")
#: their memories in the converted Verilog, in the channel_tables sub-block (the HF6 build has
#: BIAS only)
TABLE_MEMORIES = tuple(f"channel_tables0_{t}" for t in ("bias_t", "mult_t", "shift_t",
                                                         "scale_t"))
BIAS_BASE, MULT_BASE, SHIFT_BASE, SCALE_HI_BASE = (REGMAP.word(n) for n in TABLES)
W_IRQ_ENABLE, W_IRQ_STATUS = REGMAP.word("IRQ_ENABLE"), REGMAP.word("IRQ_STATUS")
#: IRQ_ENABLE / IRQ_STATUS bits
IRQ_DONE = REGMAP["IRQ_STATUS"].field("DONE").mask
IRQ_ERROR = REGMAP["IRQ_STATUS"].field("ERROR").mask
if (IRQ_DONE, IRQ_ERROR) != (1, 2) or REGMAP["IRQ_ENABLE"].writable_mask != 3:
    raise RuntimeError("cnn_engine.rdl: the interrupt logic expects DONE in bit 0, ERROR in 1")
# the decode below selects a table by word-index bits 8:6 (1 BIAS, 2 MULT, 3 SHIFT, 4 SCALE_HI;
# 5..7 unmapped) and the channel by bits 5:0: the .rdl must place the tables so
if (BIAS_BASE, MULT_BASE, SHIFT_BASE, SCALE_HI_BASE) != (64, 128, 192, 256) or any(
        REGMAP[n].count != 64 for n in TABLES) or REGMAP.size != 2048 or max(
        W_CTRL, W_STATUS, W_CAPS, W_IN_SHAPE, W_OUT_SHAPE, W_FILTER, W_QUANT, W_CYCLES, W_MODE,
        W_ID, W_IRQ_ENABLE, W_IRQ_STATUS) >= 64 or REGMAP["MODE"].field("FLOAT_SCALE").lsb != 4:
    raise RuntimeError("cnn_engine.rdl does not match the engine's table decode")


class EngineConfigError(ValueError):
    """The engine cannot be generated with these parameters."""


def _u(n, v=0):
    return Signal(intbv(v)[n:])


def _s(n):
    return Signal(intbv(0, min=-(1 << (n - 1)), max=1 << (n - 1)))


def _m(n):
    return Signal(modbv(0)[n:])


def _log2(n):
    return (n - 1).bit_length()


def _bits(sig, hi, lo):
    """Shadow of bits hi-1..lo of ``sig`` (a bit shadow for a single bit)."""
    return sig(lo) if hi - lo == 1 else sig(hi, lo)


F32_SIX = 0x40C00000  # 6.0 (ReLU6)


@block
def _bias_lane(bias_t, chanwise, g2, CB, LP, i, code):
    """The bias code of lane ``i``: channel g2 * P + i (Conv2D) or g2 (one channel per sum)."""
    idx = _u(CB)
    gch = _bits(g2, CB, 0)
    gi = ConcatSignal(_bits(g2, CB - LP, 0), intbv(i)[LP:]) if 0 < LP < CB else None

    if LP == 0:

        @always_comb
        def lane_index():
            idx.next = gch

    elif LP == CB:

        @always_comb
        def lane_index():
            if chanwise:
                idx.next = gch
            else:
                idx.next = i

    else:

        @always_comb
        def lane_index():
            if chanwise:
                idx.next = gch
            else:
                idx.next = gi

    @always_comb
    def lane_bias():
        code.next = bias_t[idx]

    return lane_index, lane_bias


@block
def _hf6_datapath(clk, rst, P, LP, CB, bias_t, act, mode, chanwise, g, x_q, w_q, m_valid,
                  m_first, m_last, m_pad, pl_valid, mo_valid, mo_lane, mo_last, keep_in,
                  out_a, out_ya, out_b, out_yb, bad_mode):
    """The HF6 engine's arithmetic: the HF6 MAC array (the P bias codes of the sum's channels
    with its first tap; padded taps are activations 0.0), the P float32 results of a sum
    passed on one lane per cycle, the activation (``act``: 0 none, 1 ReLU, 2 ReLU6) and the
    float32 MaxPool of one window (``pl_valid`` taps; padded taps skipped)."""
    # the group of a tap follows it through the two tap stages
    g1, g2 = _u(len(g)), _u(len(g))
    bcodes = [_u(6) for _ in range(P)]
    b_cat = ConcatSignal(*reversed(bcodes)) if P > 1 else bcodes[0]
    a_in = _u(32)
    ho_valid = Signal(bool(0))
    ho_acc, ho_y = _u(64 * P), _u(32 * P)
    mac = cnn_hf6mac(clk, rst, m_valid, m_first, m_last, a_in, w_q, b_cat, ho_valid, ho_acc,
                     ho_y, lanes=P)
    bank = _u(32 * P)  # the results of a sum, lane 0 in the low bits
    mo_y = _u(32)
    fp_max = _u(32)
    fp_has = Signal(bool(0))

    @always(clk.posedge)
    def group_taps():
        g1.next = g
        g2.next = g1

    lanes_b = [_bias_lane(bias_t, chanwise, g2, CB, LP, i, bcodes[i]) for i in range(P)]

    @always_comb
    def mac_feed():
        if m_pad:
            a_in.next = 0
        else:
            a_in.next = x_q
        mo_y.next = bank[32:]
        mo_last.next = mo_valid and mo_lane == P - 1
        bad_mode.next = mode == 3  # no float32 AveragePool

    @always_seq(clk.posedge, reset=rst)
    def serialise():
        if ho_valid:
            bank.next = ho_y
            mo_valid.next = 1
            mo_lane.next = 0
        elif mo_valid:
            bank.next = bank >> 32
            if mo_lane == P - 1:
                mo_valid.next = 0
            else:
                mo_lane.next = mo_lane + 1

    @always_seq(clk.posedge, reset=rst)
    def activation():
        y = intbv(0)[32:]
        y[:] = mo_y
        if act != 0 and mo_y[31]:
            y[:] = 0  # ReLU / ReLU6 of a negative value: +0.0
        elif act == 2 and mo_y > F32_SIX:
            y[:] = F32_SIX
        out_a.next = keep_in
        out_ya.next = y

    @always_seq(clk.posedge, reset=rst)
    def max_pool():
        # order keys: float32 compare as unsigned integers (finite values)
        out_b.next = 0
        mx = intbv(0)[32:]
        key_x = intbv(0)[32:]
        key_m = intbv(0)[32:]
        has = fp_has and not m_first
        mx[:] = fp_max
        if pl_valid:
            if not m_pad:
                key_x[:] = x_q
                if x_q[31]:
                    key_x[:] = ~x_q
                else:
                    key_x[31] = 1
                key_m[:] = mx
                if mx[31]:
                    key_m[:] = ~mx
                else:
                    key_m[31] = 1
                if not has or key_x > key_m:
                    mx[:] = x_q
                has = True
            fp_max.next = mx
            fp_has.next = has
            if m_last:
                out_yb.next = mx
                out_b.next = 1

    unused_acc = Signal(bool(0))  # the accumulators themselves are not needed

    @always_comb
    def acc_unused():
        unused_acc.next = ho_acc != 0

    return (mac, group_taps, lanes_b, mac_feed, serialise, activation, max_pool, acc_unused)


def check_params(lanes=4, mul="int8", ibuf=1024, wbuf=512, cmax=16):
    if lanes not in LANES:
        raise EngineConfigError(f"lanes must be one of {LANES}, got {lanes!r}")
    if isinstance(mul, str) and mul.strip() == "hf6":
        mp = {"mul": "hf6", "spec": None}
    else:
        try:
            mp = normalise(lanes, mul)
        except MacConfigError as exc:
            raise EngineConfigError(f"{exc} (or 'hf6' for the Hybrid-Float6 engine)") from None
    for name, v, lo, hi in (("ibuf", ibuf, 16, 1 << 16), ("wbuf", wbuf, 4, 1 << 14)):
        if not isinstance(v, int) or v < lo or v > hi or v & (v - 1):
            raise EngineConfigError(f"{name} must be a power of two in {lo}..{hi}, got {v!r}")
    if not isinstance(cmax, int) or cmax < max(2, lanes) or cmax > 64 or cmax & (cmax - 1):
        raise EngineConfigError(
            f"cmax must be a power of two in {max(2, lanes)}..64, got {cmax!r}")
    return {"lanes": lanes, "mul": mp["mul"], "spec": mp["spec"], "ibuf": ibuf, "wbuf": wbuf,
            "cmax": cmax}


def module_name(p) -> str:
    from cores.cnn.mac.mac import module_name as mac_name  # noqa: PLC0415

    if p["mul"] == "hf6":
        mac = f"cnn_mac_p{p['lanes']}_hf6"
    else:
        mac = mac_name({"lanes": p["lanes"], "mul": p["mul"], "spec": p["spec"], "pack": True})
    return (f"cnn_engine_{mac[len('cnn_mac_'):]}_i{p['ibuf']}_w{p['wbuf']}_c{p['cmax']}")


def value_bits(p) -> int:
    """Bits of one activation on the streams and in the buffers: int8, or float32 (HF6)."""
    return 32 if p["mul"] == "hf6" else 8


def addr_bits(p) -> int:
    """AXI4-Lite byte-address bits (word index 0..511)."""
    return REGMAP.addr_bits


def ports(p) -> dict:
    sig = {"clk": Signal(bool(0)), "rst": ResetSignal(0, active=1, isasync=False)}
    sig.update(axil_signals(addr_bits(p)))
    xw = value_bits(p)
    for name, width in (("s_axis_x", xw), ("s_axis_w", 8 * p["lanes"]), ("m_axis_y", xw)):
        sig[f"{name}_tdata"] = _u(width)
        for s in ("tvalid", "tready", "tlast"):
            sig[f"{name}_{s}"] = Signal(bool(0))
    sig["irq"] = Signal(bool(0))
    return sig


@block
def engine_regfile(clk, rst, reg_addr, reg_wr, reg_wdata, reg_rdata, reg_err, in_shape,
                   out_shape, filt, quant, mode, dmul, fsc, start, busy, done, err, err_code,
                   cycles, ch_ok, tab_rd, irq, H, W, C, OH, OW, OC, FH, FW, SY, SX, PT, PL,
                   in_zp, out_zp, act_min, act_max, mode_dw, pool, chanwise, P, IB, WB, cmax,
                   HF, mul_sel=None):
    """Register file: the decode of :data:`REGMAP` (read data, SLVERR; the channel tables
    answer through ``ch_ok`` / ``tab_rd``, :func:`channel_tables`), the configuration
    registers and their fields, CTRL.START, and IRQ_ENABLE / IRQ_STATUS with ``irq``.
    ``mul_sel``: MODE.MUL of a heterogeneous build (stored by
    :func:`~cores.cnn.mac.mac.select_register`), read back here."""
    QW = len(quant)

    def zext(sig, n):
        return sig if len(sig) == n else ConcatSignal(intbv(0)[n - len(sig):], sig)

    if HF:
        mode_w = ConcatSignal(intbv(0)[16:], dmul, intbv(0)[6:], mode)
    elif mul_sel is not None:  # MODE.MUL: the unit of the heterogeneous MAC array
        mode_w = ConcatSignal(intbv(0)[12:], mul_sel, dmul, intbv(0)[3:], fsc, intbv(0)[2:],
                              mode)
    else:
        mode_w = ConcatSignal(intbv(0)[16:], dmul, intbv(0)[3:], fsc, intbv(0)[2:], mode)
    irq_en, irq_st = _u(2), _u(2)  # IRQ_ENABLE, IRQ_STATUS
    irq_en_w = ConcatSignal(intbv(0)[30:], irq_en)
    irq_st_w = ConcatSignal(intbv(0)[30:], irq_st)
    done_d = Signal(bool(0))
    status_w = ConcatSignal(intbv(0)[20:], err_code, intbv(0)[5:], err, done, busy)
    caps_w = ConcatSignal(intbv(int(HF))[1:], intbv(cmax)[7:], intbv(WB)[8:], intbv(IB)[8:],
                          intbv(P)[8:])
    in_shape_w, out_shape_w, filt_w = zext(in_shape, 32), zext(out_shape, 32), zext(filt, 32)
    quant_w = zext(quant, 32)
    q_bad = Signal(bool(0))  # a write of a reserved value to QUANT / ACT

    @always_comb
    def read_mux():
        reg_rdata.next = 0
        reg_err.next = 0
        if reg_addr == W_CTRL:
            reg_rdata.next = 0
        elif reg_addr == W_STATUS:
            reg_rdata.next = status_w
            reg_err.next = reg_wr
        elif reg_addr == W_CAPS:
            reg_rdata.next = caps_w
            reg_err.next = reg_wr
        elif reg_addr == W_IN_SHAPE:
            reg_rdata.next = in_shape_w
        elif reg_addr == W_OUT_SHAPE:
            reg_rdata.next = out_shape_w
        elif reg_addr == W_FILTER:
            reg_rdata.next = filt_w
        elif reg_addr == W_QUANT:
            reg_rdata.next = quant_w
            reg_err.next = reg_wr and q_bad
        elif reg_addr == W_CYCLES:
            reg_rdata.next = cycles
            reg_err.next = reg_wr
        elif reg_addr == W_MODE:
            reg_rdata.next = mode_w
        elif reg_addr == W_ID:
            reg_rdata.next = ID_VALUE
            reg_err.next = reg_wr
        elif reg_addr == W_IRQ_ENABLE:
            reg_rdata.next = irq_en_w
        elif reg_addr == W_IRQ_STATUS:
            reg_rdata.next = irq_st_w
        elif ch_ok:
            reg_rdata.next = tab_rd
        else:
            reg_err.next = 1

    @always_seq(clk.posedge, reset=rst)
    def reg_write():
        start.next = 0
        if reg_wr and not reg_err:
            if reg_addr == W_CTRL:
                start.next = reg_wdata[0]
            elif reg_addr == W_IN_SHAPE:
                in_shape.next = reg_wdata[24:]
            elif reg_addr == W_OUT_SHAPE:
                out_shape.next = reg_wdata[24:]
            elif reg_addr == W_FILTER:
                filt.next = reg_wdata[24:]
            elif reg_addr == W_QUANT:
                quant.next = reg_wdata[QW:]
            elif reg_addr == W_MODE:
                mode.next = reg_wdata[2:]
                dmul.next = reg_wdata[16:8]
            elif reg_addr == W_IRQ_ENABLE:
                irq_en.next = reg_wdata[2:]

    @always_seq(clk.posedge, reset=rst)
    def irq_status():
        # a run ends when DONE rises; writing 1 clears a bit, an end in the same cycle wins
        st = intbv(0)[2:]
        st[:] = irq_st
        done_d.next = done
        if reg_wr and not reg_err and reg_addr == W_IRQ_STATUS:
            st[:] = st & ~reg_wdata[2:]
        if done and not done_d:
            st[0] = 1
            if err:
                st[1] = 1
        irq_st.next = st

    @always_comb
    def irq_out():
        irq.next = (irq_st & irq_en) != 0

    fields = _layer_fields(in_shape, out_shape, filt, quant, mode, H, W, C, OH, OW, OC, FH, FW,
                           SY, SX, PT, PL, in_zp, out_zp, act_min, act_max, mode_dw, pool,
                           chanwise, HF)
    if HF:

        @always_comb
        def quant_check():
            q_bad.next = reg_wdata[2:] == 3  # ACT 3 is reserved

        extra = quant_check
    else:

        @always_seq(clk.posedge, reset=rst)
        def float_scale_write():
            if reg_wr and not reg_err and reg_addr == W_MODE:
                fsc.next = reg_wdata[4]

        extra = float_scale_write
    return read_mux, reg_write, irq_status, irq_out, fields, extra


@block
def _layer_fields(in_shape, out_shape, filt, quant, mode, H, W, C, OH, OW, OC, FH, FW, SY, SX,
                  PT, PL, in_zp, out_zp, act_min, act_max, mode_dw, pool, chanwise, HF):
    """The fields of IN_SHAPE, OUT_SHAPE, FILTER, QUANT (int8) and MODE."""

    @always_comb
    def mode_decode():
        mode_dw.next = mode == 1
        pool.next = mode[1]
        chanwise.next = mode != 0

    @always_comb
    def fields():
        H.next = in_shape[8:]
        W.next = in_shape[16:8]
        C.next = in_shape[24:16]
        OH.next = out_shape[8:]
        OW.next = out_shape[16:8]
        OC.next = out_shape[24:16]
        FH.next = filt[4:]
        FW.next = filt[8:4]
        SY.next = filt[12:8]
        SX.next = filt[16:12]
        PT.next = filt[20:16]
        PL.next = filt[24:20]

    if HF:
        return mode_decode, fields

    @always_comb
    def quant_fields():
        in_zp.next = quant[8:].signed()
        out_zp.next = quant[16:8].signed()
        act_min.next = quant[24:16].signed()
        act_max.next = quant[32:24].signed()

    return mode_decode, fields, quant_fields


@block
def channel_tables(clk, reg_addr, reg_wr, reg_wdata, bias_t, mult_t, shift_t, scale_t, ch_sel,
                   ch_ok, tab_rd, CB, cmax, HF):
    """The channel tables' side of the register file: the table select (word-index bits 8:6)
    and channel (bits 5:0) of an address, the addressed entry (``tab_rd``) and the writes."""
    ch_idx = _u(CB)
    sel_ok = Signal(bool(0))  # a table select this build has
    idx_ok = Signal(bool(0))  # a channel below cmax

    if HF:

        @always_comb
        def decode_sel():
            sel_ok.next = reg_addr[9:6] == 1

    else:

        @always_comb
        def decode_sel():
            sel_ok.next = reg_addr[9:6] != 0 and reg_addr[9:6] <= 4

    if cmax < 64:

        @always_comb
        def decode_idx():
            idx_ok.next = reg_addr[6:] < cmax

        decoders = (decode_sel, decode_idx)
    else:
        idx_ok = Signal(bool(1))  # constant: every channel index is in the table
        decoders = (decode_sel,)

    @always_comb
    def decode():
        ch_sel.next = reg_addr[9:6]
        ch_idx.next = reg_addr[CB:]
        ch_ok.next = sel_ok and idx_ok

    if HF:
        bias_rd = _u(6)
        bias_rd_w = ConcatSignal(intbv(0)[26:], bias_rd)

        @always_comb
        def table_read():
            bias_rd.next = bias_t[ch_idx]

        @always_comb
        def table_mux():
            tab_rd.next = bias_rd_w

        @always(clk.posedge)
        def table_write():
            if reg_wr and ch_ok:
                bias_t[ch_idx].next = reg_wdata[6:]

        return decoders, decode, table_read, table_mux, table_write

    shift_rd = _u(6)
    shift_rd_w = ConcatSignal(intbv(0)[26:], shift_rd)

    @always_comb
    def table_read():
        shift_rd.next = shift_t[ch_idx]

    @always_comb
    def table_mux():
        if ch_sel == 1:
            tab_rd.next = bias_t[ch_idx]
        elif ch_sel == 2:
            tab_rd.next = mult_t[ch_idx]
        elif ch_sel == 3:
            tab_rd.next = shift_rd_w
        else:
            tab_rd.next = scale_t[ch_idx]

    @always(clk.posedge)
    def table_write():
        if reg_wr and ch_ok:
            if ch_sel == 1:
                bias_t[ch_idx].next = reg_wdata
            elif ch_sel == 2:
                mult_t[ch_idx].next = reg_wdata
            elif ch_sel == 3:
                shift_t[ch_idx].next = reg_wdata[6:]
            else:
                scale_t[ch_idx].next = reg_wdata

    return decoders, decode, table_read, table_mux, table_write


@block
def engine_setup(clk, rst, t_state, state, start, H, W, C, OH, OW, OC, FH, FW, SY, SX, PT, PL,
                 dmul, mode_dw, chanwise, pool, bad_mode, WC, T, SXC, PLC, SYWC, PTWC, HWC,
                 NOUT, GT, glast, klast, dm16, prod, gsum, gm, setup_done, cfg_err, P, ibuf,
                 wbuf, cmax):
    """The run's set-up: twelve products of the layer's sizes through one shared multiplier,
    one per cycle in SETUP (``setup_done`` in the last), and the CHECK of the shapes against
    the buffers and the channel tables (``cfg_err``: the error code, 0 when the run can go)."""
    LP = _log2(P)
    GB = len(glast)
    HW, OHW = _u(16), _u(16)
    FHW = _u(8)
    G = _u(9)  # groups: ceil(OUT_C / P), or OUT_C (depthwise)

    def zext(sig, n):
        return sig if len(sig) == n else ConcatSignal(intbv(0)[n - len(sig):], sig)

    oc9 = zext(OC, 9)
    pm1 = _u(9, P - 1)  # constant
    gconv = zext(_bits(gsum, 9, LP), 9) if LP > 0 else gsum
    ks = _u(4)  # set-up step
    opa, opb = _u(16), _u(16)
    h16, w16, c16, sx16, pl16 = (zext(v, 16) for v in (H, W, C, SX, PL))
    fh16, fw16, oh16, ow16, sy16 = (zext(v, 16) for v in (FH, FW, OH, OW, SY))
    pt16, oc16, g16, fhw16 = (zext(v, 16) for v in (PT, OC, G, FHW))
    one16 = _u(16, 1)  # constant
    dmul16 = zext(dmul, 16)

    @always_comb
    def group_count():
        gsum.next = oc9 + pm1
        gm.next = G - 1

    @always_comb
    def depth_mult():
        dm16.next = 1
        if mode_dw and dmul > 1:
            dm16.next = dmul16

    operands = _setup_operands(ks, chanwise, opa, opb, h16, w16, c16, sx16, pl16, fh16, fw16,
                               oh16, ow16, HW, fhw16, sy16, WC, pt16, OHW, oc16, g16, T, dm16,
                               one16)

    @always_comb
    def setup_product():
        prod.next = opa * opb
        setup_done.next = ks >= 11

    @always_comb
    def check():
        cfg_err.next = 0
        if H == 0 or W == 0 or C == 0 or OH == 0 or OW == 0 or OC == 0 or FH == 0 \
                or FW == 0 or SY == 0 or SX == 0:
            cfg_err.next = 4
        elif HWC > ibuf:
            cfg_err.next = 1
        elif GT > wbuf and not pool:
            cfg_err.next = 2
        elif OC > cmax:
            cfg_err.next = 3
        elif chanwise and oc16 != prod[16:]:
            cfg_err.next = 5
        elif bad_mode:
            cfg_err.next = 6

    @always_seq(clk.posedge, reset=rst)
    def setup():
        if start and state == t_state.IDLE:
            ks.next = 0
        if state == t_state.SETUP:
            ks.next = ks + 1
            if ks == 0:
                HW.next = prod[16:]
                if chanwise:
                    G.next = oc9
                else:
                    G.next = gconv
            elif ks == 1:
                WC.next = prod[16:]
            elif ks == 2:
                SXC.next = prod[12:]
            elif ks == 3:
                PLC.next = prod[12:]
            elif ks == 4:
                FHW.next = prod[8:]
            elif ks == 5:
                OHW.next = prod[16:]
            elif ks == 6:
                HWC.next = prod[24:]
            elif ks == 7:
                T.next = prod[16:]
            elif ks == 8:
                SYWC.next = prod[20:]
            elif ks == 9:
                PTWC.next = prod[20:]
            elif ks == 10:
                NOUT.next = prod[24:]
            else:
                GT.next = prod[25:]
                glast.next = gm[GB:]
        if state == t_state.CHECK:
            klast.next = oc9 - (gm << LP)

    return group_count, depth_mult, operands, setup_product, check, setup


@block
def _setup_operands(ks, chanwise, opa, opb, h16, w16, c16, sx16, pl16, fh16, fw16, oh16, ow16,
                    HW, fhw16, sy16, WC, pt16, OHW, oc16, g16, T, dm16, one16):
    """The operands of set-up step ``ks`` (12 in CHECK: C * depth multiplier)."""

    @always_comb
    def setup_operands():
        opa.next = 0
        opb.next = 0
        if ks == 0:
            opa.next = h16
            opb.next = w16
        elif ks == 1:
            opa.next = w16
            opb.next = c16
        elif ks == 2:
            opa.next = sx16
            opb.next = c16
        elif ks == 3:
            opa.next = pl16
            opb.next = c16
        elif ks == 4:
            opa.next = fh16
            opb.next = fw16
        elif ks == 5:
            opa.next = oh16
            opb.next = ow16
        elif ks == 6:
            opa.next = HW
            opb.next = c16
        elif ks == 7:
            opa.next = fhw16
            if chanwise:  # depthwise, pooling: a sum runs over FH*FW taps of one channel
                opb.next = one16
            else:
                opb.next = c16
        elif ks == 8:
            opa.next = sy16
            opb.next = WC
        elif ks == 9:
            opa.next = pt16
            opb.next = WC
        elif ks == 10:
            opa.next = OHW
            opb.next = oc16
        elif ks == 11:
            opa.next = g16
            opb.next = T
        else:  # in CHECK: C * depth multiplier, the OUT_C of a depthwise layer
            opa.next = c16
            opb.next = dm16

    return setup_operands


@block
def tap_addrgen(clk, rst, ag_init, ag_sum, ag_step, H, W, C, OH, OW, FW, SY, SX, PT, PL, WC,
                SXC, PLC, SYWC, PTWC, T, glast, dm16, chanwise, pool, g, tap_last, pos_end,
                xa_c, i_ra, w_ra, m_valid, pl_valid, m_first, m_last, m_pad, IB, WB):
    """Address generator: the loops over output positions (oy, ox), channel groups g and the
    FH*FW*C taps of a sum, the input-buffer address of a tap (padded taps outside the image)
    and the weight address g*T + tap; ``ag_init`` starts a layer, ``ag_sum`` a sum, ``ag_step``
    issues a tap. Two tap stages (address registered, buffers answer) lead to the MAC array
    (``m_*``) or the pooling unit (``pl_valid``)."""
    AW = len(xa_c)
    GB = len(g)

    def zext(sig, n):
        return sig if len(sig) == n else ConcatSignal(intbv(0)[n - len(sig):], sig)

    oy, ox, ci = _u(8), _u(8), _u(8)
    ky, kx = _u(4), _u(4)
    tap = _u(16)
    wrd = _m(WB)  # weight address: g*T + tap, restarting at every output position
    iyb, ixb = _s(14), _s(14)  # oy*SY - PT, ox*SX - PL
    rowb, colb = _m(AW), _m(AW)  # iyb*W*C, ixb*C (modulo 2^AW)
    kywc, kxc = _m(AW), _m(AW)  # ky*W*C, kx*C
    sy14, sx14, pt14, pl14 = zext(SY, 14), zext(SX, 14), zext(PT, 14), zext(PL, 14)
    ky14, kx14, h14, w14 = zext(ky, 14), zext(kx, 14), zext(H, 14), zext(W, 14)
    wc24, sywc24, ptwc24 = zext(WC, AW), zext(SYWC, AW), zext(PTWC, AW)
    c24, sxc24, plc24, ci24 = zext(C, AW), zext(SXC, AW), zext(PLC, AW), zext(ci, AW)
    gin = _m(GB)  # input channel of a one-channel sum: g / depth multiplier
    gdm = _u(16)  # g modulo the depth multiplier
    g24 = zext(gin, AW)
    # tap pipeline: stage 1 (addresses registered), stage 2 (buffers answer) -> MAC
    v1, f1, l1, p1 = (Signal(bool(0)) for _ in range(4))
    v2, f2, l2, p2 = (Signal(bool(0)) for _ in range(4))
    pad_c = Signal(bool(0))

    @always_comb
    def loop_ends():
        tap_last.next = tap + 1 == T
        pos_end.next = g == glast and ox + 1 == OW and oy + 1 == OH

    @always_seq(clk.posedge, reset=rst)
    def loops():
        v1.next = 0
        if ag_init:
            oy.next = 0
            ox.next = 0
            g.next = 0
            gin.next = 0
            gdm.next = 0
            wrd.next = 0
            iyb.next = 0 - pt14.signed()
            ixb.next = 0 - pl14.signed()
            rowb.next = 0 - ptwc24
            colb.next = 0 - plc24
        elif ag_sum:
            ky.next = 0
            kx.next = 0
            ci.next = 0
            tap.next = 0
            kywc.next = 0
            kxc.next = 0
        elif ag_step:
            v1.next = 1
            f1.next = tap == 0
            l1.next = tap + 1 == T
            tap.next = tap + 1
            wrd.next = wrd + 1
            if chanwise or ci + 1 == C:
                ci.next = 0
                if kx + 1 == FW:
                    kx.next = 0
                    kxc.next = 0
                    ky.next = ky + 1
                    kywc.next = kywc + wc24
                else:
                    kx.next = kx + 1
                    kxc.next = kxc + c24
            else:
                ci.next = ci + 1
            if tap + 1 == T:
                # next sum: next group, position, row
                if g == glast:
                    g.next = 0
                    gin.next = 0
                    gdm.next = 0
                    wrd.next = 0
                    if ox + 1 == OW:
                        ox.next = 0
                        ixb.next = 0 - pl14.signed()
                        colb.next = 0 - plc24
                        if oy + 1 != OH:
                            oy.next = oy + 1
                            iyb.next = iyb + sy14.signed()
                            rowb.next = rowb + sywc24
                    else:
                        ox.next = ox + 1
                        ixb.next = ixb + sx14.signed()
                        colb.next = colb + sxc24
                else:
                    g.next = g + 1
                    if gdm + 1 == dm16:
                        gdm.next = 0
                        gin.next = gin + 1
                    else:
                        gdm.next = gdm + 1

    # tap address (combinational from the counters) -> registered (stage 1)
    @always_comb
    def tap_address():
        iy = intbv(0, min=-(1 << 13), max=1 << 13)
        ix = intbv(0, min=-(1 << 13), max=1 << 13)
        a = modbv(0)[AW:]
        iy[:] = iyb + ky14.signed()
        ix[:] = ixb + kx14.signed()
        pad_c.next = iy < 0 or iy >= h14.signed() or ix < 0 or ix >= w14.signed()
        a[:] = rowb + kywc
        a[:] = a + colb
        a[:] = a + kxc
        if chanwise:
            a[:] = a + g24
        else:
            a[:] = a + ci24
        xa_c.next = a

    @always(clk.posedge)
    def tap_stage():
        p1.next = pad_c
        if pad_c:
            i_ra.next = 0
        else:
            i_ra.next = xa_c[IB:]
        w_ra.next = wrd

    @always_seq(clk.posedge, reset=rst)
    def tap_stage2():
        # the buffers answer one cycle after the address: the flags follow
        v2.next = v1
        f2.next = f1
        l2.next = l1
        p2.next = p1

    @always_comb
    def mac_in():
        m_valid.next = v2 and not pool
        pl_valid.next = v2 and pool
        m_first.next = f2
        m_last.next = l2
        m_pad.next = p2

    return loop_ends, loops, tap_address, tap_stage, tap_stage2, mac_in


@block
def engine_control(clk, rst, t_state, state, start, busy, done, err, err_code, cycles, cnt,
                   setup_done, cfg_err, pool, HWC, GT, x_ok, x_short, x_long, x_last, w_ok,
                   w_short, w_long, w_last, s_axis_x_tvalid, s_axis_x_tready, s_axis_x_tlast,
                   s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast, i_we, w_we, i_wa, w_wa,
                   room, since, tap_last, pos_end, ag_init, ag_sum, ag_step, issue_last, sent,
                   NOUT, P):
    """The control FSM of a run: START, SETUP and CHECK, the input-map and weight frames
    (checked by :func:`cores.common.stream.frame_check`; a long frame is drained to its
    ``tlast``), the sums (SUM_START waits for room in the output FIFO, TAPS issues the taps
    through :func:`tap_addrgen`) and FLUSH (the last results leave)."""
    IB, WB = len(i_wa), len(w_wa)
    drain_w = Signal(bool(0))  # DRAIN reads the weight stream (else the input map stream)
    hwc25 = ConcatSignal(intbv(0)[25 - len(HWC):], HWC)

    @always_comb
    def strobes():
        x_last.next = cnt + 1 == hwc25
        w_last.next = cnt + 1 == GT
        ag_init.next = state == t_state.LOAD_W and (pool or w_ok)
        ag_sum.next = state == t_state.SUM_START and room
        ag_step.next = state == t_state.TAPS and (not tap_last or since >= P or pool)
        issue_last.next = state == t_state.TAPS and tap_last and (since >= P or pool)

    @always_comb
    def stream_ready():
        s_axis_x_tready.next = state == t_state.LOAD_X or (state == t_state.DRAIN and
                                                           not drain_w)
        s_axis_w_tready.next = (state == t_state.LOAD_W and not pool) or (
            state == t_state.DRAIN and drain_w)
        i_we.next = state == t_state.LOAD_X and s_axis_x_tvalid
        w_we.next = state == t_state.LOAD_W and s_axis_w_tvalid and not pool
        i_wa.next = cnt[IB:]
        w_wa.next = cnt[WB:]

    @always_seq(clk.posedge, reset=rst)
    def control():
        if busy:
            cycles.next = cycles + 1
        if state == t_state.IDLE:
            if start:
                busy.next = 1
                done.next = 0
                err.next = 0
                err_code.next = 0
                cycles.next = 0
                state.next = t_state.SETUP
        elif state == t_state.SETUP:
            if setup_done:
                state.next = t_state.CHECK
        elif state == t_state.CHECK:
            cnt.next = 0
            if cfg_err != 0:
                err_code.next = cfg_err
                err.next = 1
                done.next = 1
                busy.next = 0
                state.next = t_state.IDLE
            else:
                state.next = t_state.LOAD_X
        elif state == t_state.LOAD_X:
            # a frame of H*W*C beats with tlast on the last one; a shorter frame ends the run
            # with error 7, a longer one is read to its tlast and dropped (error 7)
            if x_ok:
                cnt.next = 0
                state.next = t_state.LOAD_W
            elif x_long:
                cnt.next = 0
                err_code.next = 7
                err.next = 1
                drain_w.next = 0
                state.next = t_state.DRAIN
            elif x_short:
                err_code.next = 7
                err.next = 1
                done.next = 1
                busy.next = 0
                state.next = t_state.IDLE
            elif s_axis_x_tvalid:
                cnt.next = cnt + 1
        elif state == t_state.LOAD_W:
            # pooling has no weights; the weights as one frame, checked like the input map
            if ag_init:
                state.next = t_state.SUM_START
            elif w_long:
                err_code.next = 8
                err.next = 1
                drain_w.next = 1
                state.next = t_state.DRAIN
            elif w_short:
                err_code.next = 8
                err.next = 1
                done.next = 1
                busy.next = 0
                state.next = t_state.IDLE
            elif s_axis_w_tvalid:
                cnt.next = cnt + 1
        elif state == t_state.DRAIN:
            # the rest of a frame that was too long, up to its tlast
            if (drain_w and s_axis_w_tvalid and s_axis_w_tlast) or \
                    (not drain_w and s_axis_x_tvalid and s_axis_x_tlast):
                done.next = 1
                busy.next = 0
                state.next = t_state.IDLE
        elif state == t_state.SUM_START:
            if ag_sum:
                state.next = t_state.TAPS
        elif state == t_state.TAPS:
            # a last tap waits until P cycles after the previous one (the MAC output bank)
            if issue_last:
                # next sum: next group, position, row (FLUSH after the last)
                if pos_end:
                    state.next = t_state.FLUSH
                else:
                    state.next = t_state.SUM_START
        else:  # FLUSH: the last results leave the FIFO
            if sent == NOUT:
                busy.next = 0
                done.next = 1
                state.next = t_state.IDLE

    return strobes, stream_ready, control


@block
def output_stage(clk, rst, t_state, state, out_a, out_ya, out_b, out_yb, m_axis_y_tdata,
                 m_axis_y_tvalid, m_axis_y_tready, m_axis_y_tlast, NOUT, issue_last, tap_last,
                 pool, chanwise, mode, g, glast, klast, mo_valid, mo_last, gh, since, sent, room,
                 P, FD):
    """The output FIFO (results of the MAC path, ``a``, and of the pooling unit, ``b``), the
    count of results in flight and of cycles since the last last tap, the room check of a new
    sum, and the small FIFO that carries the group of every sum from its last tap to its
    results."""
    FB = _log2(FD)
    QD = 8  # sums in flight at most: last taps come >= P cycles apart, a sum takes P + 6
    XW = len(out_ya)
    fifo = [_u(XW) for _ in range(FD)]
    f_wp, f_rp = _m(FB), _m(FB)
    f_cnt = _u(FB + 1)
    f9 = ConcatSignal(intbv(0)[8 - FB:], f_cnt)
    push, pop = Signal(bool(0)), Signal(bool(0))
    pending = _u(9)  # results of issued sums not yet in the output FIFO
    kept = _u(9)  # results of the sum being issued
    gq = [_u(len(g)) for _ in range(QD)]
    gq_wp, gq_rp = _m(3), _m(3)
    gq_push = Signal(bool(0))

    @always_comb
    def fifo_flags():
        push.next = out_a or out_b
        pop.next = f_cnt != 0 and m_axis_y_tready
        m_axis_y_tvalid.next = f_cnt != 0
        m_axis_y_tdata.next = fifo[f_rp]
        m_axis_y_tlast.next = sent + 1 == NOUT

    @always(clk.posedge)
    def fifo_ram():
        if out_b:
            fifo[f_wp].next = out_yb
        elif out_a:
            fifo[f_wp].next = out_ya

    @always_comb
    def issue():
        gq_push.next = state == t_state.TAPS and tap_last and since >= P and not pool
        if chanwise:
            kept.next = 1
        elif g == glast:
            kept.next = klast
        else:
            kept.next = P
        # room in the output FIFO for the results in flight and those of this sum; the
        # pooling unit takes one AveragePool window at a time (MaxPool back to back)
        room.next = f9 + pending + P <= FD and (pending == 0 or mode != 3)

    @always_seq(clk.posedge, reset=rst)
    def counts():
        if pop:
            f_rp.next = f_rp + 1
            sent.next = sent + 1
        if state == t_state.CHECK:
            sent.next = 0
        if push:
            f_wp.next = f_wp + 1
        if push and not pop:
            f_cnt.next = f_cnt + 1
        elif pop and not push:
            f_cnt.next = f_cnt - 1
        if issue_last and push:
            pending.next = pending + kept - 1
        elif issue_last:
            pending.next = pending + kept
        elif push:
            pending.next = pending - 1
        if gq_push:
            gq_wp.next = gq_wp + 1
        if issue_last:
            since.next = 1
        elif since < P:
            since.next = since + 1
        if mo_valid and mo_last:
            gq_rp.next = gq_rp + 1

    @always(clk.posedge)
    def group_fifo():
        if gq_push:
            gq[gq_wp].next = g

    @always_comb
    def group_head():
        gh.next = gq[gq_rp]

    return fifo_flags, fifo_ram, issue, counts, group_fifo, group_head


@block
def engine_buffers(clk, s_axis_x_tdata, s_axis_w_tdata, i_we, i_wa, i_ra, w_we, w_wa, w_ra, x_q,
                   w_q, P, ibuf, wbuf, HF):
    """The input buffer (one activation per word) and the weight buffer (P weights per word:
    int8 codes, or the HF6 codes, bits 8i+5..8i of a weight beat), one read port each."""
    ibuf_m = [_u(32) if HF else _s(8) for _ in range(ibuf)]
    wbuf_m = [_u((6 if HF else 8) * P) for _ in range(wbuf)]
    if HF:
        # the HF6 code of lane i is bits 8i+5..8i of a weight beat
        w_in = ConcatSignal(*[_bits(s_axis_w_tdata, 8 * i + 6, 8 * i)
                              for i in reversed(range(P))]) \
            if P > 1 else _bits(s_axis_w_tdata, 6, 0)

        @always(clk.posedge)
        def ibuf_ram():
            if i_we:
                ibuf_m[i_wa].next = s_axis_x_tdata
            x_q.next = ibuf_m[i_ra]

        @always(clk.posedge)
        def wbuf_ram():
            if w_we:
                wbuf_m[w_wa].next = w_in
            w_q.next = wbuf_m[w_ra]

    else:

        @always(clk.posedge)
        def ibuf_ram():
            if i_we:
                ibuf_m[i_wa].next = s_axis_x_tdata.signed()
            x_q.next = ibuf_m[i_ra]

        @always(clk.posedge)
        def wbuf_ram():
            if w_we:
                wbuf_m[w_wa].next = s_axis_w_tdata
            w_q.next = wbuf_m[w_ra]

    return ibuf_ram, wbuf_ram


@block
def _result_channel(mode_dw, gh, mo_valid, mo_lane, OC, chan, keep_in, P, CB):
    """The channel of the MAC array's result on ``mo_lane``: g * P + lane (< cmax: OUT_C <=
    cmax is checked at START), or g in depthwise mode (lane 0 only); ``keep_in``: a result of
    a channel < OUT_C."""
    LP = _log2(P)
    if P == 1:
        chan_conv = _bits(gh, CB, 0)
    elif CB == LP:
        chan_conv = mo_lane
    else:
        chan_conv = ConcatSignal(_bits(gh, CB - LP, 0), mo_lane)
    chan_dw = _bits(gh, CB, 0)
    chan8 = ConcatSignal(intbv(0)[8 - CB:], chan)

    @always_comb
    def channel():
        if mode_dw:
            chan.next = chan_dw
            keep_in.next = mo_valid and mo_lane == 0
        else:
            chan.next = chan_conv
            keep_in.next = mo_valid and chan8 < OC

    return channel


@block
def _int8_datapath(clk, rst, P, mul, spec, bias_t, mult_t, shift_t, scale_t, fsc, mode, quant,
                   in_zp, out_zp, act_min, act_max, chan, keep_in, x_q, w_q, m_valid, m_first,
                   m_last, m_pad, pl_valid, mo_valid, mo_lane, mo_last, out_a, out_ya, out_b,
                   out_yb, m_ready, pl_ready, mul_sel=None):
    """The int8 engine's arithmetic: the MAC array (:mod:`cores.cnn.mac`; ``mul_sel`` picks the
    unit of a heterogeneous one), the requantisation
    of each result with its channel's bias, M and shift (or bias and float64 scale with
    MODE.FLOAT_SCALE), and the pooling unit (:mod:`cores.cnn.pool`; one result per window)."""
    mo_acc = _s(32)
    mac = cnn_mac(clk, rst, m_valid, m_ready, m_first, m_last, m_pad, x_q, w_q, in_zp,
                  mo_valid, mo_lane, mo_last, mo_acc, lanes=P, mul=mul, pack=True,
                  spec=spec, **({} if mul_sel is None else {"sel": mul_sel}))
    rq_valid = Signal(bool(0))
    rq_acc, rq_bias, rq_mult = _s(32), _s(32), _s(32)
    rq_shift = _s(6)
    rq_scale = _u(32)
    rq_out_valid = Signal(bool(0))
    rq_y = _s(8)
    requant = cnn_requant(clk, rst, rq_valid, rq_acc, rq_bias, rq_mult, rq_shift, fsc,
                          rq_scale, out_zp, act_min, act_max, rq_out_valid, rq_y)
    keep_pipe = _u(7)
    # pooling unit: the taps of one window (padded taps skipped), one result per window
    pl_first, pl_last, pl_pad, pl_avg = (Signal(bool(0)) for _ in range(4))
    pl_x, pl_min, pl_max = _u(8), _u(8), _u(8)
    pooler = cnn_pool(clk, rst, pl_valid, pl_ready, pl_first, pl_last, pl_pad, pl_x,
                      pl_avg, pl_min, pl_max, out_b, out_yb)

    @always(clk.posedge)
    def requant_feed():
        rq_valid.next = mo_valid
        rq_acc.next = mo_acc
        rq_bias.next = bias_t[chan].signed()
        rq_mult.next = mult_t[chan].signed()
        rq_shift.next = shift_t[chan].signed()
        rq_scale.next = scale_t[chan]

    @always_seq(clk.posedge, reset=rst)
    def side_pipe():
        # keep (channel < OUT_C) travels beside the requant pipeline
        keep_pipe.next = concat(keep_pipe[6:], keep_in)

    @always_comb
    def int8_out():
        out_a.next = rq_out_valid and keep_pipe[6]
        out_ya.next = rq_y[8:]
        pl_first.next = m_first
        pl_last.next = m_last
        pl_pad.next = m_pad
        pl_x.next = x_q[8:]
        pl_avg.next = mode[0]
        pl_min.next = quant[24:16]
        pl_max.next = quant[32:24]

    return mac, requant, pooler, requant_feed, side_pipe, int8_out


@block
def _lint_sink(spare):
    """Reads the signals (or bits) in ``spare`` that the engine does not need, so that lint
    sees them read."""
    unused_cat = ConcatSignal(*spare)
    unused_bits = Signal(bool(0))

    @always_comb
    def unused():
        unused_bits.next = unused_cat != 0

    return unused


@block
def cnn_engine(clk, rst,
               s_axil_awaddr, s_axil_awvalid, s_axil_awready,
               s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
               s_axil_bresp, s_axil_bvalid, s_axil_bready,
               s_axil_araddr, s_axil_arvalid, s_axil_arready,
               s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
               s_axis_x_tdata, s_axis_x_tvalid, s_axis_x_tready, s_axis_x_tlast,
               s_axis_w_tdata, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
               m_axis_y_tdata, m_axis_y_tvalid, m_axis_y_tready, m_axis_y_tlast,
               irq,
               lanes, mul, spec, ibuf, wbuf, cmax):
    """The engine's sub-blocks and their wiring: the AXI4-Lite bridge, :func:`engine_regfile`
    and :func:`channel_tables` (registers), :func:`engine_setup` (set-up products, CHECK),
    :func:`engine_control` (FSM) with two :func:`~cores.common.stream.frame_check` (input map,
    weights), :func:`tap_addrgen` (address generator), :func:`engine_buffers`, the datapath
    (:func:`_int8_datapath` or :func:`_hf6_datapath`) and :func:`output_stage`."""
    P = lanes
    LP = _log2(P)
    IB = _log2(ibuf)
    WB = _log2(wbuf)
    CB = _log2(cmax)
    GB = max(1, CB)  # bits of the group counter (cmax groups at most, depthwise)
    FD = max(8, 4 * P)  # output FIFO depth (a power of two)
    AW = 24  # width of the buffer address arithmetic (modulo 2^24)
    HF = mul == "hf6"  # Hybrid-Float6: float32 activations, HF6 weights and biases
    XW = 32 if HF else 8  # bits of one activation (streams, buffers)
    NU = len(spec) if isinstance(spec, tuple) else 1  # units of a heterogeneous MAC array
    mul_sel = _u(SEL_BITS) if NU > 1 else None  # MODE.MUL
    bits = _bits

    # ------------------------------------------------------------------ register file
    reg_addr = _u(len(s_axil_awaddr) - 2)
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
    # QUANT (int8) or ACT (HF6: bits 1:0, the only bits kept)
    in_shape, out_shape, filt, quant = _u(24), _u(24), _u(24), _u(2 if HF else 32)
    mode = _u(2)
    dmul = _u(8)  # depth multiplier of a DepthwiseConv2D (0 counts as 1)
    fsc = Signal(bool(0))  # MODE.FLOAT_SCALE (int8 build): the reference FC rescale
    mode_dw = Signal(bool(0))  # DepthwiseConv2D
    pool = Signal(bool(0))  # MaxPool / AveragePool: taps go to the pooling unit
    chanwise = Signal(bool(0))  # one channel per sum (depthwise, pooling)
    # channel table: BIAS (int32, or the HF6 bias code), MULT, SHIFT and SCALE_HI (int8 only)
    bias_t = [_u(6 if HF else 32) for _ in range(cmax)]
    mult_t = [_u(32) for _ in range(cmax)]
    shift_t = [_u(6) for _ in range(cmax)]
    scale_t = [_u(32) for _ in range(cmax)]
    busy, done, err = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    err_code = _u(4)
    cycles = _u(32)
    start = Signal(bool(0))
    ch_sel = _u(3)
    ch_ok = Signal(bool(0))
    tab_rd = _u(32)  # the addressed channel-table entry
    # layer parameters (register fields)
    H, W, C = _u(8), _u(8), _u(8)
    OH, OW, OC = _u(8), _u(8), _u(8)
    FH, FW, SY, SX, PT, PL = (_u(4) for _ in range(6))
    in_zp, out_zp, act_min, act_max = _s(8), _s(8), _s(8), _s(8)
    regs = engine_regfile(clk, rst, reg_addr, reg_wr, reg_wdata, reg_rdata, reg_err, in_shape,
                          out_shape, filt, quant, mode, dmul, fsc, start, busy, done, err,
                          err_code, cycles, ch_ok, tab_rd, irq, H, W, C, OH, OW, OC, FH, FW, SY,
                          SX, PT, PL, in_zp, out_zp, act_min, act_max, mode_dw, pool, chanwise,
                          P, IB, WB, cmax, HF, mul_sel)
    tables = channel_tables(clk, reg_addr, reg_wr, reg_wdata, bias_t, mult_t, shift_t, scale_t,
                            ch_sel, ch_ok, tab_rd, CB, cmax, HF)

    # ------------------------------------------------------------------ set-up (SETUP, CHECK)
    WC, T = _u(16), _u(16)
    SXC, PLC = _u(12), _u(12)
    SYWC, PTWC = _u(20), _u(20)
    HWC, NOUT = _u(24), _u(24)
    GT = _u(25)
    glast = _u(GB)  # G - 1 in the group counter's width
    klast = _m(9)  # results of the last group of a position: OUT_C - (G-1)*P (conv)
    dm16 = _u(16)  # the depth multiplier in use: MODE's, at least 1; 1 but for depthwise
    prod = _u(32)  # the shared set-up multiplier
    gsum, gm = _m(9), _m(9)  # OUT_C + P - 1, G - 1
    setup_done = Signal(bool(0))
    cfg_err = _u(4)
    bad_mode = Signal(bool(0))  # a layer kind this build does not have (error code 6)
    # ------------------------------------------------------------------ control
    t_state = enum("IDLE", "SETUP", "CHECK", "LOAD_X", "LOAD_W",
                   "SUM_START", "TAPS", "FLUSH", "DRAIN")
    state = Signal(t_state.IDLE)
    cnt = _u(25)  # beat of the input-map / weight frame
    x_ok, x_short, x_long, x_last = (Signal(bool(0)) for _ in range(4))
    w_ok, w_short, w_long, w_last = (Signal(bool(0)) for _ in range(4))
    i_we, w_we = Signal(bool(0)), Signal(bool(0))
    i_wa, i_ra = _u(IB), _u(IB)
    w_wa, w_ra = _u(WB), _u(WB)
    room = Signal(bool(0))  # the output FIFO has room for a new sum
    since = Signal(intbv(P, min=0, max=P + 1))  # cycles since the last last tap
    tap_last, pos_end = Signal(bool(0)), Signal(bool(0))
    ag_init, ag_sum, ag_step = (Signal(bool(0)) for _ in range(3))
    issue_last = Signal(bool(0))  # the last tap of a sum is issued this cycle
    sent = _u(24)
    setup = engine_setup(clk, rst, t_state, state, start, H, W, C, OH, OW, OC, FH, FW, SY, SX,
                         PT, PL, dmul, mode_dw, chanwise, pool, bad_mode, WC, T, SXC, PLC, SYWC,
                         PTWC, HWC, NOUT, GT, glast, klast, dm16, prod, gsum, gm, setup_done,
                         cfg_err, P, ibuf, wbuf, cmax)
    fsm = engine_control(clk, rst, t_state, state, start, busy, done, err, err_code, cycles, cnt,
                         setup_done, cfg_err, pool, HWC, GT, x_ok, x_short, x_long, x_last, w_ok,
                         w_short, w_long, w_last, s_axis_x_tvalid, s_axis_x_tready,
                         s_axis_x_tlast, s_axis_w_tvalid, s_axis_w_tready, s_axis_w_tlast,
                         i_we, w_we, i_wa, w_wa, room, since, tap_last, pos_end, ag_init, ag_sum,
                         ag_step, issue_last, sent, NOUT, P)
    checks = (frame_check(s_axis_x_tvalid, s_axis_x_tlast, x_last, x_ok, x_short, x_long),
              frame_check(s_axis_w_tvalid, s_axis_w_tlast, w_last, w_ok, w_short, w_long))

    # ------------------------------------------------------------------ addresses, buffers
    g = _m(GB)  # channel group of the sum being issued
    xa_c = _m(AW)  # input-buffer address of the tap (modulo 2^AW)
    x_q = _u(32) if HF else _s(8)
    w_q = _u((6 if HF else 8) * P)
    # taps from the tap pipeline (stage 2): MAC array, or pooling when `pool`
    m_valid, m_first, m_last, m_pad = (Signal(bool(0)) for _ in range(4))
    pl_valid = Signal(bool(0))
    addresses = tap_addrgen(clk, rst, ag_init, ag_sum, ag_step, H, W, C, OH, OW, FW, SY, SX, PT,
                            PL, WC, SXC, PLC, SYWC, PTWC, T, glast, dm16, chanwise, pool, g,
                            tap_last, pos_end, xa_c, i_ra, w_ra, m_valid, pl_valid, m_first,
                            m_last, m_pad, IB, WB)
    buffers = engine_buffers(clk, s_axis_x_tdata, s_axis_w_tdata, i_we, i_wa, i_ra, w_we, w_wa,
                             w_ra, x_q, w_q, P, ibuf, wbuf, HF)

    # ------------------------------------------------------------------ MAC, output stage
    # the MAC array's results, one lane per cycle
    mo_valid, mo_last = Signal(bool(0)), Signal(bool(0))
    mo_lane = _u(max(1, LP))
    # results for the output FIFO: a (MAC path: requantised / activated) and b (pooling)
    out_a, out_b = Signal(bool(0)), Signal(bool(0))
    out_ya, out_yb = _u(XW), _u(XW)
    gh = _u(GB)  # group of the sum leaving the MAC array
    chan = _u(CB)
    keep_in = Signal(bool(0))  # a MAC result of a channel < OUT_C
    channel = _result_channel(mode_dw, gh, mo_valid, mo_lane, OC, chan, keep_in, P, CB)
    if HF:
        datapath = _hf6_datapath(clk, rst, P, LP, CB, bias_t, quant, mode, chanwise, g,
                                 x_q, w_q, m_valid, m_first, m_last, m_pad, pl_valid,
                                 mo_valid, mo_lane, mo_last, keep_in, out_a, out_ya,
                                 out_b, out_yb, bad_mode)
        spare_dp = [bits(s_axis_w_tdata, 8 * i + 8, 8 * i + 6) for i in range(P)]
        spare_dp += [bits(reg_wdata, 32, 24), ch_sel]
    else:
        m_ready, pl_ready = Signal(bool(0)), Signal(bool(0))
        datapath = _int8_datapath(clk, rst, P, mul, spec, bias_t, mult_t, shift_t, scale_t, fsc,
                                  mode, quant, in_zp, out_zp, act_min, act_max, chan, keep_in,
                                  x_q, w_q, m_valid, m_first, m_last, m_pad, pl_valid, mo_valid,
                                  mo_lane, mo_last, out_a, out_ya, out_b, out_yb, m_ready,
                                  pl_ready, mul_sel)
        if NU > 1:  # a MODE.MUL naming no unit of the build: error code 6 at START
            datapath = (datapath, select_register(clk, rst, reg_wr, reg_err, reg_addr,
                                                  reg_wdata, mul_sel, bad_mode, W_MODE,
                                                  REGMAP["MODE"].field("MUL").lsb, NU))
        spare_dp = [m_ready, pl_ready]
    output = output_stage(clk, rst, t_state, state, out_a, out_ya, out_b, out_yb, m_axis_y_tdata,
                          m_axis_y_tvalid, m_axis_y_tready, m_axis_y_tlast, NOUT, issue_last,
                          tap_last, pool, chanwise, mode, g, glast, klast, mo_valid, mo_last, gh,
                          since, sent, room, P, FD)

    # signals (or bits) the engine does not need, gathered so that lint sees them read
    spare = [reg_rd, *spare_dp, bits(xa_c, AW, IB),
             bits(cnt, 25, IB), bits(prod, 32, 25)]
    if LP > 0:
        spare.append(bits(gsum, LP, 0))
    if 9 > GB:
        spare.append(bits(gm, 9, GB))
    if P == 1:
        spare.append(mo_lane)  # always lane 0
    return (bridge, regs, tables, setup, fsm, checks, addresses, buffers, channel, datapath,
            output, _lint_sink(spare))


def build(lanes=4, mul="int8", ibuf=1024, wbuf=512, cmax=16):
    """(factory, module name) of the engine; bad parameters raise EngineConfigError."""
    p = check_params(lanes, mul, ibuf, wbuf, cmax)

    def factory():
        inst = cnn_engine(**ports(p), lanes=p["lanes"], mul=p["mul"], spec=p["spec"],
                          ibuf=p["ibuf"], wbuf=p["wbuf"], cmax=p["cmax"])
        # the channel tables have no reset: they start at 0 (a memory initial value, the
        # INIT of their LUTRAM) and keep what was written through a reset (README)
        inst.zero_init_memories = TABLE_MEMORIES[:1] if p["mul"] == "hf6" else TABLE_MEMORIES
        return inst

    return factory, module_name(p)
