/* The port contract for the cryptography SASL/SCRAM needs: SHA-256 and
 * SHA-512 digests, HMAC, PBKDF2 (RFC 5802's Hi()), base64 and a
 * constant-time comparison. Secure random bytes are ed_plat_random()
 * (platform/platform.h). Every function returns ED_OK or a negative ed_err;
 * outputs are written only on ED_OK. */
#ifndef ED_PLATFORM_CRYPTO_H
#define ED_PLATFORM_CRYPTO_H

#include "platform/base.h"

enum ed_hash { ED_HASH_SHA256 = 1, ED_HASH_SHA512 = 2 };

#define ED_HASH_MAX_LEN 64 /* bytes of the longest digest (SHA-512) */

/* Digest length in bytes: 32 or 64; 0 for an unknown algorithm. */
size_t ed_plat_crypto_hash_len(enum ed_hash h);
/* out receives ed_plat_crypto_hash_len(h) bytes. */
int ed_plat_crypto_hash(enum ed_hash h, const void *in, size_t in_len, uint8_t *out);
int ed_plat_crypto_hmac(enum ed_hash h, const void *key, size_t key_len, const void *in,
                        size_t in_len, uint8_t *out);
/* PBKDF2-HMAC with one output block: out receives hash_len bytes.
 * ED_ERR_INVAL when iterations is 0. */
int ed_plat_crypto_pbkdf2(enum ed_hash h, const void *pw, size_t pw_len, const void *salt,
                          size_t salt_len, uint32_t iterations, uint8_t *out);
/* Standard base64 with padding. encode writes a NUL-terminated string;
 * ED_ERR_TOOBIG when it does not fit in cap (with its NUL). decode refuses
 * anything that is not base64 (no spaces or line breaks) with ED_ERR_INVAL and output over
 * cap with ED_ERR_TOOBIG. *out_len excludes the NUL. */
int ed_plat_crypto_b64_encode(const void *in, size_t in_len, char *out, size_t cap,
                              size_t *out_len);
int ed_plat_crypto_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len);
/* True when a and b hold the same len bytes; time depends on len only. */
bool ed_plat_crypto_equal(const void *a, const void *b, size_t len);

#endif
