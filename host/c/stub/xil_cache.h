/* Stub of the Xilinx standalone BSP's xil_cache.h (see xil_io.h). */
#ifndef XIL_CACHE_H
#define XIL_CACHE_H
#include "xil_io.h"
static inline void Xil_DCacheFlushRange(UINTPTR addr, uint32_t len) { (void)addr; (void)len; }
static inline void Xil_DCacheInvalidateRange(UINTPTR addr, uint32_t len)
{ (void)addr; (void)len; }
#endif
