/* The bearer-token store: API tokens of users of the user store (one
 * token acts as `User:NAME` for HTTP writes, so ACLs apply unchanged),
 * kept in one small file of the data directory, ED_TOKENS_FILE, in the
 * same checksummed frame as the user store and replaced atomically on
 * every change. A token is shown once when it is made; the file holds only
 * its SHA-256, its id, its user, when it was made and when it expires. A
 * file that fails any check is refused whole (ED_ERR_CORRUPT, logged with
 * the reason). The layout is in docs/format.md.
 *
 * A token is ED_TOKEN_LEN characters: "eddy_", its id (16 hex digits),
 * "_", then 64 hex digits of secret. The id is not secret: listings show
 * it and revocation names it. */
#ifndef ED_CORE_TOKENS_H
#define ED_CORE_TOKENS_H

#include "platform/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_TOKENS_FILE "tokens"
#ifndef ED_TOKENS_MAX
#define ED_TOKENS_MAX 256 /* tokens in the store */
#endif
#define ED_TOKEN_ID_LEN 16 /* hex digits of a token's id */
#define ED_TOKEN_LEN    86 /* "eddy_" + id + "_" + 64 hex digits */

typedef struct ed_tokens ed_tokens;

/* Opens the store of data directory dir; a missing file is an empty
 * store. ED_ERR_CORRUPT for a torn, truncated or altered file. */
int ed_tokens_open(const char *dir, ed_tokens **out);
/* The same from a file image in memory (tests, fuzzing); changes still go
 * to dir. */
int ed_tokens_open_image(const char *dir, const uint8_t *image, size_t len, ed_tokens **out);
void ed_tokens_close(ed_tokens *t); /* NULL is a no-op */

/* What a listing shows of one token; user is not NUL-terminated and valid
 * until the next change. expires_ms 0: never. */
struct ed_token_info {
    char id[ED_TOKEN_ID_LEN + 1];
    const char *user;
    size_t user_len;
    int64_t created_ms, expires_ms;
};
size_t ed_tokens_count(const ed_tokens *t);
/* The i-th token in id order, i < ed_tokens_count(). */
struct ed_token_info ed_tokens_get(const ed_tokens *t, size_t i);

/* Makes a token for user (a valid user name, see ed_users_name_ok),
 * created at now_ms, expiring at expires_ms (0: never; otherwise after
 * now_ms), durably: out gets its text (NUL-terminated). ED_ERR_INVAL for a
 * bad name or expiry, ED_ERR_TOOBIG when the store is full, or the file's
 * write error. */
int ed_tokens_add(ed_tokens *t, const char *user, size_t user_len, int64_t now_ms,
                  int64_t expires_ms, char out[ED_TOKEN_LEN + 1]);
/* Revokes the token with id (16 hex digits) or whose whole text is id,
 * durably. ED_ERR_NOENT when there is none. */
int ed_tokens_revoke(ed_tokens *t, const char *id, size_t id_len);

/* ED_OK when token (len bytes, from a request) is in the store and not
 * expired at now_ms: user gets its user name, NUL-terminated (cap bytes at
 * least ED_SASL_MAX_NAME + 1). ED_ERR_PERM for a malformed, unknown or
 * expired token alike. The secret is compared in constant time. */
int ed_tokens_verify(const ed_tokens *t, const char *token, size_t len, int64_t now_ms, char *user,
                     size_t cap);

#endif
