"""AXI4-Lite slave bridge to a simple register bus (MyHDL).

The bridge takes the five AXI4-Lite channels (32-bit data) and turns every accepted
transaction into a one-cycle strobe on a register bus that the core decodes itself:

``reg_addr``  word index of the register (the byte address divided by 4)
``reg_wr``    one-cycle write strobe; ``reg_wdata`` holds the data
``reg_rd``    one-cycle read strobe; the core drives ``reg_rdata`` combinationally from
              ``reg_addr`` and the bridge captures it in the same cycle
``reg_err``   driven combinationally by the core from ``reg_addr`` (and ``reg_wr`` / ``reg_rd``):
              1 when no register answers there (or it is read-only on a write). The bridge then
              responds SLVERR (``resp = 2``) and the core must ignore the strobe.

A write needs the address and the data; the bridge waits for both (``awvalid`` and ``wvalid``)
and accepts them in the same cycle. Registers are written whole: a write whose ``wstrb`` is not
all ones is answered with SLVERR and not performed. A read is accepted when no read response is
pending. Reads and writes are independent (each has its own response register); when a read and
a write arrive in the same cycle the write goes first and the read one cycle later. The byte
address bits 1:0 are ignored.
"""

from __future__ import annotations

from myhdl import Signal, always_comb, always_seq, block, intbv

OKAY = 0
SLVERR = 2


@block
def axil_bridge(
    clk, rst,
    s_axil_awaddr, s_axil_awvalid, s_axil_awready,
    s_axil_wdata, s_axil_wstrb, s_axil_wvalid, s_axil_wready,
    s_axil_bresp, s_axil_bvalid, s_axil_bready,
    s_axil_araddr, s_axil_arvalid, s_axil_arready,
    s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready,
    reg_addr, reg_wr, reg_rd, reg_wdata, reg_rdata, reg_err,
):
    aw = len(s_axil_awaddr)
    nw = len(reg_addr)
    if len(s_axil_araddr) != aw or nw != aw - 2:
        raise ValueError("reg_addr must be 2 bits narrower than the AXI addresses")
    if len(s_axil_wdata) != 32 or len(s_axil_rdata) != 32 or len(s_axil_wstrb) != 4:
        raise ValueError("the AXI4-Lite bridge has 32-bit data")

    do_wr = Signal(bool(0))
    do_rd = Signal(bool(0))
    full_strb = Signal(bool(0))

    @always_comb
    def accept():
        # write: both channels present and no response pending
        do_wr.next = s_axil_awvalid and s_axil_wvalid and not s_axil_bvalid
        # read: no write this cycle (the register bus has one address) and no response pending
        do_rd.next = (s_axil_arvalid and not s_axil_rvalid
                      and not (s_axil_awvalid and s_axil_wvalid and not s_axil_bvalid))
        full_strb.next = s_axil_wstrb == 0xF

    @always_comb
    def ready():
        s_axil_awready.next = do_wr
        s_axil_wready.next = do_wr
        s_axil_arready.next = do_rd

    @always_comb
    def bus():
        if do_wr:
            reg_addr.next = s_axil_awaddr[aw:2]
        else:
            reg_addr.next = s_axil_araddr[aw:2]
        reg_wdata.next = s_axil_wdata
        reg_wr.next = do_wr and full_strb
        reg_rd.next = do_rd

    @always_seq(clk.posedge, reset=rst)
    def responses():
        if do_wr:
            s_axil_bvalid.next = 1
            if reg_err or not full_strb:
                s_axil_bresp.next = SLVERR
            else:
                s_axil_bresp.next = OKAY
        elif s_axil_bready:
            s_axil_bvalid.next = 0
        if do_rd:
            s_axil_rvalid.next = 1
            if reg_err:
                s_axil_rresp.next = SLVERR
                s_axil_rdata.next = 0
            else:
                s_axil_rresp.next = OKAY
                s_axil_rdata.next = reg_rdata
        elif s_axil_rready:
            s_axil_rvalid.next = 0

    return accept, ready, bus, responses


def axil_signals(addr_bits: int) -> dict:
    """Fresh AXI4-Lite slave port signals named ``s_axil_*`` (32-bit data)."""
    def u(n):
        return Signal(intbv(0)[n:])

    return {
        "s_axil_awaddr": u(addr_bits), "s_axil_awvalid": Signal(bool(0)),
        "s_axil_awready": Signal(bool(0)),
        "s_axil_wdata": u(32), "s_axil_wstrb": u(4), "s_axil_wvalid": Signal(bool(0)),
        "s_axil_wready": Signal(bool(0)),
        "s_axil_bresp": u(2), "s_axil_bvalid": Signal(bool(0)), "s_axil_bready": Signal(bool(0)),
        "s_axil_araddr": u(addr_bits), "s_axil_arvalid": Signal(bool(0)),
        "s_axil_arready": Signal(bool(0)),
        "s_axil_rdata": u(32), "s_axil_rresp": u(2), "s_axil_rvalid": Signal(bool(0)),
        "s_axil_rready": Signal(bool(0)),
    }


AXIL_PORTS = tuple(axil_signals(4))
