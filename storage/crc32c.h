/* CRC32C implementation access for tests and benchmarks. Normal callers use
 * ed_crc32c() from storage/batch.h, which picks the fastest path. */
#ifndef ED_STORAGE_CRC32C_H
#define ED_STORAGE_CRC32C_H

#include "platform/base.h"

/* The portable slicing-by-8 path, whatever the CPU has. */
uint32_t ed_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* True if this build and CPU have a hardware CRC32C path. */
bool ed_crc32c_hw_available(void);
/* The hardware path; falls back to ed_crc32c_sw() when not available. */
uint32_t ed_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* True if this build and CPU have the carry-less multiplication path
 * (x86-64 AVX-512 VPCLMULQDQ, with SSE4.2); ed_crc32c() takes it for
 * buffers of 4 KiB and more. */
bool ed_crc32c_clmul_available(void);
/* That path (the CRC instruction below 256 bytes); falls back to
 * ed_crc32c_hw() when not available. */
uint32_t ed_crc32c_clmul(uint32_t crc, const void *buf, size_t len);

#endif
