/* CRC32C throughput: portable, hardware CRC instruction and carry-less
 * multiplication folding paths on 1 KiB, 64 KiB and 1 MiB buffers, in MB/s
 * (10^6 bytes per second). Each measurement runs for a bounded time. */
#include <stdio.h>
#include <stdlib.h>

#include "platform/platform.h"
#include "storage/batch.h"
#include "storage/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static double measure(crc_fn fn, const uint8_t *buf, size_t len, uint32_t *sink)
{
    const uint64_t budget_ns = 300000000u; /* 0.3 s per measurement */
    uint64_t n_bytes = 0, t0 = ed_plat_clock_mono_ns(), t1;
    uint32_t c = 0;
    do {
        for (int i = 0; i < 64; i++) {
            c = fn(c, buf, len);
            n_bytes += len;
        }
        t1 = ed_plat_clock_mono_ns();
    } while (t1 - t0 < budget_ns);
    *sink ^= c;
    return (double)n_bytes / ((double)(t1 - t0) / 1e9) / 1e6;
}

int main(void)
{
    static const size_t lens[] = {1024, 65536, 1u << 20};
    uint8_t *buf = malloc((1u << 20) + 8);
    uint32_t sink = 0;
    if (!buf) return 1;
    for (size_t i = 0; i < (1u << 20) + 8; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    printf("crc32c implementation in use: %s\n", ed_crc32c_impl());
    printf("%-8s %10s %12s %12s %12s %12s\n", "buffer", "sw MB/s", "hw MB/s", "clmul MB/s", "hw/sw",
           "clmul/hw");
    for (size_t k = 0; k < 3; k++) {
        double sw = measure(ed_crc32c_sw, buf + 1, lens[k], &sink);
        double hw = ed_crc32c_hw_available() ? measure(ed_crc32c_hw, buf + 1, lens[k], &sink) : 0;
        double cl =
            ed_crc32c_clmul_available() ? measure(ed_crc32c_clmul, buf + 1, lens[k], &sink) : 0;
        printf("%-8zu %10.0f %12.0f %12.0f %12.1f %12.2f\n", lens[k], sw, hw, cl, hw / sw,
               hw > 0 ? cl / hw : 0);
    }
    free(buf);
    return sink == 0x12345678u; /* keeps the work observable */
}
