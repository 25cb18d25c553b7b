/* Minimal bare-metal example: one int8 1x1 Conv2D layer (a FullyConnected layer of 16 inputs
 * and 4 outputs) on the CNN layer engine of the approxnn_cnn board target, through its two
 * AXI DMAs in simple mode, on the Zynq's Cortex-A9 with the Xilinx standalone BSP.
 * Registers: cnn_engine.h, generated from cores/cnn/engine/cnn_engine.rdl. Addresses: the
 * block design's address map (fpga/boards.py). The host gcc compiles this file against the
 * stub headers of host/c/stub (fpga/test_fpga.py). */
#include <stddef.h>
#include <stdint.h>

#include "axi_dma_simple.h"
#include "cnn_engine.h"
#include "xil_cache.h"
#include "xil_io.h"

#define ENGINE_BASE 0x40000000u /* engine (cnn_engine_axi) on GP0 */
#define DMA_XY_BASE 0x40400000u /* input map (MM2S) and output (S2MM), 8 bits */
#define DMA_W_BASE  0x40410000u /* weights (MM2S), 8P bits */

#define N_IN  16
#define N_OUT 4
#define LANES 4 /* CAPS.P of the build */

#define REG(name) (ENGINE_BASE + (UINTPTR)offsetof(cnn_engine_t, name))
#define TABLE(name, c) (ENGINE_BASE + (UINTPTR)offsetof(cnn_engine_t, name) + 4u * (c))

static int8_t x[N_IN] __attribute__((aligned(64)));
static int8_t w[N_IN * LANES] __attribute__((aligned(64))); /* one word of 4 lanes per tap */
static int8_t y[N_OUT] __attribute__((aligned(64)));

static void dma_start(UINTPTR dma, uint32_t ch, const void *buf, uint32_t bytes)
{
    Xil_Out32(dma + ch, AXI_DMA_CR_RS | AXI_DMA_CR_IOC_IRQEN);
    Xil_Out32(dma + ch + (AXI_DMA_MM2S_SA - AXI_DMA_MM2S_DMACR), (uint32_t)(UINTPTR)buf);
    Xil_Out32(dma + ch + (AXI_DMA_MM2S_LENGTH - AXI_DMA_MM2S_DMACR), bytes);
}

static void dma_wait(UINTPTR dma, uint32_t ch)
{
    while (!(Xil_In32(dma + ch + 4u) & AXI_DMA_SR_IOC_IRQ)) {
    }
    Xil_Out32(dma + ch + 4u, AXI_DMA_SR_IOC_IRQ);
}

int run_fc_layer(void)
{
    uint32_t status;
    int i, o;

    for (i = 0; i < N_IN; i++) {
        x[i] = (int8_t)(i - 8);
        for (o = 0; o < LANES; o++)
            w[i * LANES + o] = (int8_t)((o + 1) * (i % 3 - 1)); /* lane o = output o */
    }
    Xil_Out32(REG(IN_SHAPE), (1u << CNN_ENGINE__IN_SHAPE__H_bp) |
              (1u << CNN_ENGINE__IN_SHAPE__W_bp) | ((uint32_t)N_IN << CNN_ENGINE__IN_SHAPE__C_bp));
    Xil_Out32(REG(OUT_SHAPE), (1u << CNN_ENGINE__OUT_SHAPE__OH_bp) |
              (1u << CNN_ENGINE__OUT_SHAPE__OW_bp) |
              ((uint32_t)N_OUT << CNN_ENGINE__OUT_SHAPE__OC_bp));
    Xil_Out32(REG(FILTER), (1u << CNN_ENGINE__FILTER__FH_bp) | (1u << CNN_ENGINE__FILTER__FW_bp) |
              (1u << CNN_ENGINE__FILTER__SY_bp) | (1u << CNN_ENGINE__FILTER__SX_bp));
    /* zero points 0, clamp -128..127 */
    Xil_Out32(REG(QUANT), (0x80u << CNN_ENGINE__QUANT__ACT_MIN_bp) |
              (0x7Fu << CNN_ENGINE__QUANT__ACT_MAX_bp));
    Xil_Out32(REG(MODE), 0); /* Conv2D / FullyConnected */
    for (o = 0; o < N_OUT; o++) {
        Xil_Out32(TABLE(BIAS, o), 0);
        Xil_Out32(TABLE(MULT, o), 0x40000000u); /* 0.5 */
        Xil_Out32(TABLE(SHIFT, o), 0);
    }
    Xil_Out32(REG(IRQ_STATUS), CNN_ENGINE__IRQ_STATUS__DONE_bm | CNN_ENGINE__IRQ_STATUS__ERROR_bm);
    Xil_DCacheFlushRange((UINTPTR)x, sizeof x);
    Xil_DCacheFlushRange((UINTPTR)w, sizeof w);
    Xil_DCacheInvalidateRange((UINTPTR)y, sizeof y);

    dma_start(DMA_XY_BASE, AXI_DMA_S2MM_DMACR, y, sizeof y);
    Xil_Out32(REG(CTRL), CNN_ENGINE__CTRL__START_bm);
    dma_start(DMA_XY_BASE, AXI_DMA_MM2S_DMACR, x, sizeof x);
    dma_start(DMA_W_BASE, AXI_DMA_MM2S_DMACR, w, sizeof w);
    dma_wait(DMA_W_BASE, AXI_DMA_MM2S_DMACR);
    dma_wait(DMA_XY_BASE, AXI_DMA_MM2S_DMACR);
    dma_wait(DMA_XY_BASE, AXI_DMA_S2MM_DMACR);
    do {
        status = Xil_In32(REG(STATUS));
    } while (status & CNN_ENGINE__STATUS__BUSY_bm);
    Xil_DCacheInvalidateRange((UINTPTR)y, sizeof y);
    if (status & CNN_ENGINE__STATUS__ERROR_bm)
        return -(int)((status & CNN_ENGINE__STATUS__CODE_bm) >> CNN_ENGINE__STATUS__CODE_bp);
    return y[0];
}
