/* Stub of the Xilinx standalone BSP's xil_io.h: only what the example uses, so that the host
 * gcc can compile it (a board build uses the BSP's own header). */
#ifndef XIL_IO_H
#define XIL_IO_H
#include <stdint.h>
typedef uintptr_t UINTPTR;
static inline uint32_t Xil_In32(UINTPTR addr) { return *(volatile uint32_t *)addr; }
static inline void Xil_Out32(UINTPTR addr, uint32_t value) { *(volatile uint32_t *)addr = value; }
#endif
