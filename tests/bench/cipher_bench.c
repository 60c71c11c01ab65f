/* Bulk cipher throughput of the mbedtls Eddy links (what a TLS record
 * costs, handshake aside): AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305
 * sealing 16 KiB records (TLS's largest) and 1 KiB ones, in MB/s of
 * record data on one core, and whether mbedtls uses AES-NI and PCLMULQDQ
 * on this CPU. Each measurement runs for a bounded time. */
#include <stdio.h>
#include <string.h>

#include <mbedtls/aesni.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>

#include "platform/platform.h"

#define BUDGET_NS 300000000u /* 0.3 s per measurement */

static unsigned char buf[16384], out[16384], tag[16];
static const unsigned char key[32] = {1, 2, 3}, iv[12] = {9};

static double gcm(unsigned key_bits, size_t len)
{
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    if (mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, key_bits) != 0) return 0;
    uint64_t bytes = 0, t0 = ed_plat_clock_mono_ns(), t1;
    do {
        for (int i = 0; i < 16; i++) {
            mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, iv, sizeof iv, NULL, 0, buf,
                                      out, sizeof tag, tag);
            bytes += len;
        }
        t1 = ed_plat_clock_mono_ns();
    } while (t1 - t0 < BUDGET_NS);
    mbedtls_gcm_free(&g);
    return (double)bytes / ((double)(t1 - t0) / 1e9) / 1e6;
}

static double chacha(size_t len)
{
    mbedtls_chachapoly_context c;
    mbedtls_chachapoly_init(&c);
    if (mbedtls_chachapoly_setkey(&c, key) != 0) return 0;
    uint64_t bytes = 0, t0 = ed_plat_clock_mono_ns(), t1;
    do {
        for (int i = 0; i < 16; i++) {
            mbedtls_chachapoly_encrypt_and_tag(&c, len, iv, NULL, 0, buf, out, tag);
            bytes += len;
        }
        t1 = ed_plat_clock_mono_ns();
    } while (t1 - t0 < BUDGET_NS);
    mbedtls_chachapoly_free(&c);
    return (double)bytes / ((double)(t1 - t0) / 1e9) / 1e6;
}

int main(void)
{
    memset(buf, 0x5a, sizeof buf);
#if defined(MBEDTLS_AESNI_C)
    printf("mbedtls AES-NI: %s, PCLMULQDQ (GCM): %s\n",
           mbedtls_aesni_has_support(MBEDTLS_AESNI_AES) ? "used" : "not on this CPU",
           mbedtls_aesni_has_support(MBEDTLS_AESNI_CLMUL) ? "used" : "not on this CPU");
#else
    printf("mbedtls built without AES-NI support\n");
#endif
    printf("%-20s %14s %14s\n", "cipher", "16 KiB MB/s", "1 KiB MB/s");
    printf("%-20s %14.0f %14.0f\n", "AES-128-GCM", gcm(128, 16384), gcm(128, 1024));
    printf("%-20s %14.0f %14.0f\n", "AES-256-GCM", gcm(256, 16384), gcm(256, 1024));
    printf("%-20s %14.0f %14.0f\n", "ChaCha20-Poly1305", chacha(16384), chacha(1024));
    return 0;
}
