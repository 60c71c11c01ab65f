/* The crypto port contract (platform/crypto.h) on mbedtls' crypto library
 * (Debian's libmbedtls-dev, linked shared). */
#include "platform/crypto.h"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

static const mbedtls_md_info_t *md_info(enum ed_hash h)
{
    switch (h) {
    case ED_HASH_SHA256:
        return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    case ED_HASH_SHA512:
        return mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
    }
    return NULL;
}

size_t ed_plat_crypto_hash_len(enum ed_hash h)
{
    const mbedtls_md_info_t *md = md_info(h);
    return md ? mbedtls_md_get_size(md) : 0;
}

int ed_plat_crypto_hash(enum ed_hash h, const void *in, size_t in_len, uint8_t *out)
{
    const mbedtls_md_info_t *md = md_info(h);
    if (!md) return ED_ERR_INVAL;
    return mbedtls_md(md, in, in_len, out) == 0 ? ED_OK : ED_ERR_INVAL;
}

int ed_plat_crypto_hmac(enum ed_hash h, const void *key, size_t key_len, const void *in,
                        size_t in_len, uint8_t *out)
{
    const mbedtls_md_info_t *md = md_info(h);
    if (!md) return ED_ERR_INVAL;
    return mbedtls_md_hmac(md, key, key_len, in, in_len, out) == 0 ? ED_OK : ED_ERR_INVAL;
}

int ed_plat_crypto_pbkdf2(enum ed_hash h, const void *pw, size_t pw_len, const void *salt,
                          size_t salt_len, uint32_t iterations, uint8_t *out)
{
    const mbedtls_md_info_t *md = md_info(h);
    if (!md || iterations == 0) return ED_ERR_INVAL;
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    int rc = mbedtls_md_setup(&ctx, md, 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&ctx, pw, pw_len, salt, salt_len, iterations,
                                       mbedtls_md_get_size(md), out);
    mbedtls_md_free(&ctx);
    if (rc == MBEDTLS_ERR_MD_ALLOC_FAILED) return ED_ERR_NOMEM;
    return rc == 0 ? ED_OK : ED_ERR_INVAL;
}

int ed_plat_crypto_b64_encode(const void *in, size_t in_len, char *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    int rc = mbedtls_base64_encode((unsigned char *)out, cap, &n, in, in_len);
    if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) return ED_ERR_TOOBIG;
    if (rc) return ED_ERR_INVAL;
    *out_len = n;
    return ED_OK;
}

int ed_plat_crypto_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
    /* mbedtls skips spaces and line breaks; SCRAM's and the store's base64
     * has none, so anything outside the alphabet is refused here. */
    if (in_len % 4 != 0) return ED_ERR_INVAL;
    for (size_t i = 0; i < in_len; i++) {
        char c = in[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok) return ED_ERR_INVAL;
    }
    size_t n = 0;
    int rc = mbedtls_base64_decode(out, cap, &n, (const unsigned char *)in, in_len);
    if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) return ED_ERR_TOOBIG;
    if (rc) return ED_ERR_INVAL;
    *out_len = n;
    return ED_OK;
}

bool ed_plat_crypto_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < len; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}
