/* The bearer-token store (see core/tokens.h): tokens sorted by id in one
 * array, the file read whole and checked before anything is taken from it,
 * every change written as a new file that replaces the old one.
 *
 * File layout (big-endian; docs/format.md), the frame of core/store_file.h:
 *   header  16 bytes: "EDTK", version u16 (1), reserved u16 (0),
 *           n_records u32, crc32c of the 12 bytes before it
 *   record  len u32, crc32c u32 of the len body bytes, body:
 *           id 8 bytes, created_ms i64, expires_ms i64 (0: never),
 *           SHA-256 of the token's text 32 bytes, user_len u8, user
 * Records are in increasing id order; the file ends after the last. */
#define ED_LOG_MODULE "tokens"
#include "core/tokens.h"

#include "core/store_file.h"
#include "core/users.h"

#include "platform/crypto.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <string.h>

#define TOKENS_MAGIC   "EDTK"
#define TOKENS_VERSION 1
#define ID_LEN         8
#define HASH_LEN       32
#define PREFIX         "eddy_"
#define PREFIX_LEN     5
#define SECRET_LEN     32 /* bytes, 64 hex digits */
#define REC_FIXED      (ID_LEN + 8 + 8 + HASH_LEN + 1)
#define REC_MAX_BODY   (REC_FIXED + ED_SASL_MAX_NAME)
#define FILE_MAX                                                                                   \
    (ED_STORE_FILE_HDR_LEN + (size_t)ED_TOKENS_MAX * (ED_STORE_FILE_REC_HDR + REC_MAX_BODY))

struct entry {
    uint8_t id[ID_LEN];
    int64_t created_ms, expires_ms;
    uint8_t hash[HASH_LEN];
    uint8_t user_len;
    char user[ED_SASL_MAX_NAME];
};

struct ed_tokens {
    struct ed_store_file_at at;
    struct entry *e; /* sorted by id */
    size_t n;
};

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Lower-case hex digits s (2 * n of them) into b: false when not hex. */
static bool unhex(const char *s, size_t n, uint8_t *b)
{
    for (size_t i = 0; i < n; i++) {
        int h = nibble(s[2 * i]), l = nibble(s[2 * i + 1]);
        if (h < 0 || l < 0) return false;
        b[i] = (uint8_t)(h << 4 | l);
    }
    return true;
}

/* Index of id, or where it would go when *found is false. */
static size_t find(const struct entry *e, size_t n, const uint8_t id[ID_LEN], bool *found)
{
    size_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(id, e[mid].id, ID_LEN);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- reading ---- */

static int parse_elem(const char *path, const uint8_t *b, size_t len, void *elems, uint32_t i)
{
    struct entry *e = &((struct entry *)elems)[i];
    if (len < REC_FIXED) return ED_ERR_CORRUPT_AT("%s: short record", path);
    memcpy(e->id, b, ID_LEN);
    e->created_ms = (int64_t)ed_get_be64(b + ID_LEN);
    e->expires_ms = (int64_t)ed_get_be64(b + ID_LEN + 8);
    memcpy(e->hash, b + ID_LEN + 16, HASH_LEN);
    e->user_len = b[REC_FIXED - 1];
    if (len != REC_FIXED + (size_t)e->user_len)
        return ED_ERR_CORRUPT_AT("%s: record length does not match its fields", path);
    memcpy(e->user, b + REC_FIXED, e->user_len);
    if (!ed_users_name_ok(e->user, e->user_len))
        return ED_ERR_CORRUPT_AT("%s: bad user name", path);
    if (e->created_ms < 0 || e->expires_ms < 0)
        return ED_ERR_CORRUPT_AT("%s: negative time in record %u", path, i);
    if (i > 0 && memcmp(e->id, e[-1].id, ID_LEN) <= 0)
        return ED_ERR_CORRUPT_AT("%s: records out of order at %u", path, i);
    return ED_OK;
}

/* Opens the store of dir from image (len bytes) or, when image is NULL,
 * from its file. */
static int open_with(const char *dir, const uint8_t *image, size_t len, ed_tokens **out)
{
    static const struct ed_store_file_fmt fmt = {ED_TOKENS_FILE,       TOKENS_MAGIC, TOKENS_VERSION,
                                                 ED_TOKENS_MAX,        REC_MAX_BODY, FILE_MAX,
                                                 sizeof(struct entry), parse_elem};
    ed_tokens *t = ed_calloc(1, sizeof *t);
    if (!t) return ED_ERR_NOMEM;
    void *e;
    int rc = ed_store_file_open(&t->at, dir, &fmt, image, len, &e, &t->n);
    t->e = e;
    if (rc) {
        ed_tokens_close(t);
        return rc;
    }
    *out = t;
    return ED_OK;
}

int ed_tokens_open(const char *dir, ed_tokens **out)
{
    return open_with(dir, NULL, 0, out);
}

int ed_tokens_open_image(const char *dir, const uint8_t *image, size_t len, ed_tokens **out)
{
    static const uint8_t empty;
    return open_with(dir, image ? image : &empty, len, out);
}

void ed_tokens_close(ed_tokens *t)
{
    if (!t) return;
    if (t->e) memset(t->e, 0, t->n * sizeof *t->e);
    ed_free(t->e);
    ed_store_file_at_free(&t->at);
    ed_free(t);
}

/* ---- queries ---- */

size_t ed_tokens_count(const ed_tokens *t)
{
    return t->n;
}

struct ed_token_info ed_tokens_get(const ed_tokens *t, size_t i)
{
    ED_ASSERT(i < t->n);
    struct ed_token_info ti = {
        {0}, t->e[i].user, t->e[i].user_len, t->e[i].created_ms, t->e[i].expires_ms};
    hex(t->e[i].id, ID_LEN, ti.id);
    return ti;
}

/* The id of a token's text (prefix, 16 hex digits, "_", 64 hex digits). */
static bool token_id(const char *s, size_t len, uint8_t id[ID_LEN])
{
    uint8_t secret[SECRET_LEN];
    return len == ED_TOKEN_LEN && memcmp(s, PREFIX, PREFIX_LEN) == 0 &&
           s[PREFIX_LEN + ED_TOKEN_ID_LEN] == '_' && unhex(s + PREFIX_LEN, ID_LEN, id) &&
           unhex(s + PREFIX_LEN + ED_TOKEN_ID_LEN + 1, SECRET_LEN, secret);
}

int ed_tokens_verify(const ed_tokens *t, const char *token, size_t len, int64_t now_ms, char *user,
                     size_t cap)
{
    uint8_t id[ID_LEN], h[HASH_LEN];
    bool found = false;
    if (!token_id(token, len, id)) return ED_ERR_PERM;
    size_t i = find(t->e, t->n, id, &found);
    if (!found || ed_plat_crypto_hash(ED_HASH_SHA256, token, len, h) != ED_OK) return ED_ERR_PERM;
    const struct entry *e = &t->e[i];
    bool same = ed_plat_crypto_equal(h, e->hash, HASH_LEN);
    if (!same || (e->expires_ms && now_ms >= e->expires_ms) || cap <= e->user_len)
        return ED_ERR_PERM;
    memcpy(user, e->user, e->user_len);
    user[e->user_len] = '\0';
    return ED_OK;
}

/* ---- changes: build the new array, write it, then adopt it ---- */

static int commit(ed_tokens *t, struct entry *e, size_t n)
{
    uint8_t *b =
        ed_malloc(ED_STORE_FILE_HDR_LEN + (n ? n : 1) * (ED_STORE_FILE_REC_HDR + REC_MAX_BODY));
    int rc = b ? ED_OK : ED_ERR_NOMEM;
    if (rc == ED_OK) {
        ed_store_file_put_header(b, TOKENS_MAGIC, TOKENS_VERSION, (uint32_t)n);
        size_t pos = ED_STORE_FILE_HDR_LEN;
        for (size_t i = 0; i < n; i++) {
            uint8_t *r = b + pos + ED_STORE_FILE_REC_HDR;
            memcpy(r, e[i].id, ID_LEN);
            ed_put_be64(r + ID_LEN, (uint64_t)e[i].created_ms);
            ed_put_be64(r + ID_LEN + 8, (uint64_t)e[i].expires_ms);
            memcpy(r + ID_LEN + 16, e[i].hash, HASH_LEN);
            r[REC_FIXED - 1] = e[i].user_len;
            memcpy(r + REC_FIXED, e[i].user, e[i].user_len);
            pos += ed_store_file_put_record(b + pos, REC_FIXED + (size_t)e[i].user_len);
        }
        rc = ed_store_file_save(&t->at, b, pos);
    }
    ed_free(b);
    if (rc) {
        ed_free(e);
        return rc;
    }
    ed_free(t->e);
    t->e = e;
    t->n = n;
    return ED_OK;
}

int ed_tokens_add(ed_tokens *t, const char *user, size_t user_len, int64_t now_ms,
                  int64_t expires_ms, char out[ED_TOKEN_LEN + 1])
{
    if (!ed_users_name_ok(user, user_len) || now_ms < 0 || expires_ms < 0 ||
        (expires_ms && expires_ms <= now_ms))
        return ED_ERR_INVAL;
    if (t->n >= ED_TOKENS_MAX) return ED_ERR_TOOBIG;
    struct entry ne = {
        .created_ms = now_ms, .expires_ms = expires_ms, .user_len = (uint8_t)user_len};
    memcpy(ne.user, user, user_len);
    bool found = true;
    size_t at = 0;
    while (found) { /* a fresh id (a collision of 64 random bits is only theoretical) */
        ed_plat_random(ne.id, ID_LEN);
        at = find(t->e, t->n, ne.id, &found);
    }
    uint8_t secret[SECRET_LEN];
    ed_plat_random(secret, sizeof secret);
    char text[ED_TOKEN_LEN + 1];
    memcpy(text, PREFIX, PREFIX_LEN);
    hex(ne.id, ID_LEN, text + PREFIX_LEN);
    text[PREFIX_LEN + ED_TOKEN_ID_LEN] = '_';
    hex(secret, SECRET_LEN, text + PREFIX_LEN + ED_TOKEN_ID_LEN + 1);
    memset(secret, 0, sizeof secret);
    int rc = ed_plat_crypto_hash(ED_HASH_SHA256, text, ED_TOKEN_LEN, ne.hash);
    struct entry *e = rc == ED_OK ? ed_calloc(t->n + 1, sizeof *e) : NULL;
    if (rc == ED_OK && !e) rc = ED_ERR_NOMEM;
    if (rc == ED_OK) {
        if (at) memcpy(e, t->e, at * sizeof *e);
        e[at] = ne;
        if (t->n > at) memcpy(e + at + 1, t->e + at, (t->n - at) * sizeof *e);
        rc = commit(t, e, t->n + 1);
    }
    if (rc == ED_OK) memcpy(out, text, sizeof text);
    memset(text, 0, sizeof text);
    return rc;
}

int ed_tokens_revoke(ed_tokens *t, const char *id, size_t id_len)
{
    uint8_t bin[ID_LEN];
    bool found = false;
    if (!(id_len == ED_TOKEN_ID_LEN && unhex(id, ID_LEN, bin)) && !token_id(id, id_len, bin))
        return ED_ERR_NOENT;
    size_t at = find(t->e, t->n, bin, &found);
    if (!found) return ED_ERR_NOENT;
    struct entry *e = ed_calloc(t->n > 1 ? t->n - 1 : 1, sizeof *e);
    if (!e) return ED_ERR_NOMEM;
    if (at) memcpy(e, t->e, at * sizeof *e);
    if (t->n > at + 1) memcpy(e + at, t->e + at + 1, (t->n - at - 1) * sizeof *e);
    return commit(t, e, t->n - 1);
}
