/* Registers of the Xilinx AXI DMA (axi_dma) in simple (direct register) mode, as the
 * approxnn board targets build it (no scatter-gather). Offsets and bits as documented for the
 * IP; one copy of the figures the simulation model verif/zynq/dma_model.py implements. */
#ifndef AXI_DMA_SIMPLE_H
#define AXI_DMA_SIMPLE_H

#define AXI_DMA_MM2S_DMACR   0x00u
#define AXI_DMA_MM2S_DMASR   0x04u
#define AXI_DMA_MM2S_SA      0x18u
#define AXI_DMA_MM2S_SA_MSB  0x1Cu
#define AXI_DMA_MM2S_LENGTH  0x28u
#define AXI_DMA_S2MM_DMACR   0x30u
#define AXI_DMA_S2MM_DMASR   0x34u
#define AXI_DMA_S2MM_DA      0x48u
#define AXI_DMA_S2MM_DA_MSB  0x4Cu
#define AXI_DMA_S2MM_LENGTH  0x58u

#define AXI_DMA_CR_RS        (1u << 0)   /* run / stop */
#define AXI_DMA_CR_RESET     (1u << 2)   /* soft reset */
#define AXI_DMA_CR_IOC_IRQEN (1u << 12)  /* interrupt on complete enable */
#define AXI_DMA_CR_ERR_IRQEN (1u << 14)  /* error interrupt enable */
#define AXI_DMA_SR_HALTED    (1u << 0)
#define AXI_DMA_SR_IDLE      (1u << 1)
#define AXI_DMA_SR_IOC_IRQ   (1u << 12)  /* write 1 to clear */
#define AXI_DMA_SR_ERR_IRQ   (1u << 14)  /* write 1 to clear */

#endif
