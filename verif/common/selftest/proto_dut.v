// Deliberately faulty AXI4-Stream master and AXI4-Lite slave for the protocol checkers'
// self-test (verif/common/test_protocol.py). mode 0 keeps every rule; each other mode breaks
// exactly one:
//   1 tvalid withdrawn before tready      2 tdata changed while stalled
//   3 tlast changed while stalled         4 tvalid X after reset
//   5 two write responses for one write   6 bvalid dropped before bready
//   7 X in rdata of an OKAY read          8 a read response with no read
//   9 no handshake ever (the stream never valid, for the watchdog)
//  10 X in tdata of a beat that is accepted
module proto_dut (
    input clk, input rst, input [3:0] mode,
    output reg [7:0] m_axis_o_tdata, output reg m_axis_o_tvalid, input m_axis_o_tready,
    output reg m_axis_o_tlast,
    input [5:0] s_axil_awaddr, input s_axil_awvalid, output s_axil_awready,
    input [31:0] s_axil_wdata, input [3:0] s_axil_wstrb, input s_axil_wvalid,
    output s_axil_wready, output reg [1:0] s_axil_bresp, output reg s_axil_bvalid,
    input s_axil_bready,
    input [5:0] s_axil_araddr, input s_axil_arvalid, output s_axil_arready,
    output reg [31:0] s_axil_rdata, output reg [1:0] s_axil_rresp, output reg s_axil_rvalid,
    input s_axil_rready
);
    reg [7:0] count;
    reg [3:0] age;
    reg [31:0] store;
    reg extra;
    wire do_wr = s_axil_awvalid && s_axil_wvalid && !s_axil_bvalid;
    wire do_rd = s_axil_arvalid && !s_axil_rvalid && !do_wr;
    assign s_axil_awready = do_wr;
    assign s_axil_wready = do_wr;
    assign s_axil_arready = do_rd;
    always @(posedge clk) begin
        if (rst) begin
            m_axis_o_tvalid <= 0; m_axis_o_tdata <= 0; m_axis_o_tlast <= 0;
            count <= 0; age <= 0;
            s_axil_bvalid <= 0; s_axil_bresp <= 0; s_axil_rvalid <= 0; s_axil_rresp <= 0;
            s_axil_rdata <= 0; store <= 0; extra <= 0;
        end else begin
            // stream: a beat per count value, tlast every 4th
            if (mode == 9) begin
                m_axis_o_tvalid <= 0;
            end else if (mode == 4 && count == 3) begin
                m_axis_o_tvalid <= 1'bx;
            end else if (!m_axis_o_tvalid || m_axis_o_tready) begin
                m_axis_o_tvalid <= 1;
                m_axis_o_tdata <= (mode == 10 && count == 2) ? 8'hxx : count;
                m_axis_o_tlast <= count[1:0] == 3;
                count <= count + 1;
                age <= 0;
            end else begin
                age <= age + 1;
                if (mode == 1 && age == 1) m_axis_o_tvalid <= 0;
                if (mode == 2 && age == 1) m_axis_o_tdata <= m_axis_o_tdata + 1;
                if (mode == 3 && age == 1) m_axis_o_tlast <= !m_axis_o_tlast;
            end
            // AXI4-Lite: one register
            if (do_wr) begin
                s_axil_bvalid <= 1; s_axil_bresp <= 0; store <= s_axil_wdata;
                extra <= mode == 5;
            end else if (s_axil_bvalid && (s_axil_bready || (mode == 6))) begin
                s_axil_bvalid <= 0;
            end else if (extra && !s_axil_bvalid) begin
                s_axil_bvalid <= 1; extra <= 0;
            end
            if (do_rd) begin
                s_axil_rvalid <= 1; s_axil_rresp <= 0;
                s_axil_rdata <= (mode == 7) ? 32'hxxxxxxxx : store;
            end else if (s_axil_rvalid && s_axil_rready) begin
                s_axil_rvalid <= 0;
            end else if (mode == 8 && store == 32'h5) begin
                s_axil_rvalid <= 1;
            end
        end
    end
endmodule
