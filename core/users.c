/* The user store (see core/users.h): credentials sorted by (name,
 * mechanism) in one array, the file read whole and checked before anything
 * is taken from it, and every change written as a new file that replaces
 * the old one.
 *
 * File layout (big-endian; docs/format.md):
 *   header  16 bytes: "EDUS", version u16 (1), reserved u16 (0),
 *           n_records u32, crc32c of the 12 bytes before it
 *   record  len u32, crc32c u32 of the len body bytes, body:
 *           mech u8 (2 SCRAM-SHA-256, 4 SCRAM-SHA-512), name_len u8, name,
 *           iterations u32, salt_len u8, salt, StoredKey, ServerKey
 *           (each the digest length of the mechanism)
 * The file ends right after the last record. */
#define ED_LOG_MODULE "users"
#include "core/users.h"

#include "core/store_file.h"

#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <string.h>

#define USERS_MAGIC   "EDUS"
#define USERS_VERSION 1
#define HDR_LEN       ED_STORE_FILE_HDR_LEN
#define REC_HDR_LEN   ED_STORE_FILE_REC_HDR
#define REC_MAX_BODY  (2 + ED_SASL_MAX_NAME + 4 + 1 + ED_SCRAM_MAX_SALT + 2 * ED_HASH_MAX_LEN)
#define FILE_MAX      (HDR_LEN + (size_t)ED_USERS_MAX * (REC_HDR_LEN + REC_MAX_BODY))

struct entry {
    enum ed_sasl_mech mech;
    uint8_t name_len;
    char name[ED_SASL_MAX_NAME];
    struct ed_scram_cred cred;
};

struct ed_users {
    struct ed_store_file_at at;
    struct entry *e; /* sorted by (name, mech) */
    size_t n;
};

bool ed_users_name_ok(const char *name, size_t name_len)
{
    if (name_len == 0 || name_len > ED_SASL_MAX_NAME) return false;
    for (size_t i = 0; i < name_len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return false;
    return true;
}

static bool scram_mech(enum ed_sasl_mech m)
{
    return m == ED_SASL_SCRAM_SHA_256 || m == ED_SASL_SCRAM_SHA_512;
}

static int cmp(const char *a, size_t al, enum ed_sasl_mech am, const struct entry *b)
{
    int c = memcmp(a, b->name, ED_MIN(al, (size_t)b->name_len));
    if (c) return c;
    if (al != b->name_len) return al < b->name_len ? -1 : 1;
    return am == b->mech ? 0 : am < b->mech ? -1 : 1;
}

/* Index of (name, m), or where it would go when *found is false. */
static size_t find(const struct entry *e, size_t n, const char *name, size_t name_len,
                   enum ed_sasl_mech m, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(name, name_len, m, &e[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = false;
    return lo;
}

/* ---- reading ---- */

static int parse_record(const char *path, const uint8_t *b, size_t len, struct entry *out)
{
    size_t pos = 0;
    if (len < 2) return ED_ERR_CORRUPT_AT("%s: short record", path);
    out->mech = b[pos++];
    out->name_len = b[pos++];
    if (!scram_mech(out->mech)) return ED_ERR_CORRUPT_AT("%s: unknown mechanism %u", path, b[0]);
    size_t hl = ed_plat_crypto_hash_len(ed_sasl_mech_hash(out->mech));
    if (len - pos < (size_t)out->name_len + 5) return ED_ERR_CORRUPT_AT("%s: short record", path);
    memcpy(out->name, b + pos, out->name_len);
    pos += out->name_len;
    if (!ed_users_name_ok(out->name, out->name_len))
        return ED_ERR_CORRUPT_AT("%s: bad user name", path);
    out->cred.iterations = ed_get_be32(b + pos);
    pos += 4;
    out->cred.salt_len = b[pos++];
    if (out->cred.iterations < ED_SCRAM_MIN_ITER || out->cred.iterations > ED_SCRAM_MAX_ITER ||
        out->cred.salt_len == 0 || out->cred.salt_len > ED_SCRAM_MAX_SALT)
        return ED_ERR_CORRUPT_AT("%s: bad iterations or salt length", path);
    if (len - pos != out->cred.salt_len + 2 * hl)
        return ED_ERR_CORRUPT_AT("%s: record length does not match its fields", path);
    memcpy(out->cred.salt, b + pos, out->cred.salt_len);
    pos += out->cred.salt_len;
    memcpy(out->cred.stored_key, b + pos, hl);
    memcpy(out->cred.server_key, b + pos + hl, hl);
    return ED_OK;
}

/* One record into element i, in (name, mechanism) order after i - 1. */
static int parse_elem(const char *path, const uint8_t *body, size_t len, void *elems, uint32_t i)
{
    struct entry *e = elems;
    int rc = parse_record(path, body, len, &e[i]);
    if (rc == ED_OK && i > 0 && cmp(e[i].name, e[i].name_len, e[i].mech, &e[i - 1]) <= 0)
        rc = ED_ERR_CORRUPT_AT("%s: records out of order at %u", path, i);
    return rc;
}

/* Opens the store of dir from image (len bytes) or, when image is NULL,
 * from its file. */
static int open_with(const char *dir, const uint8_t *image, size_t len, ed_users **out)
{
    static const struct ed_store_file_fmt fmt = {ED_USERS_FILE,        USERS_MAGIC,  USERS_VERSION,
                                                 ED_USERS_MAX,         REC_MAX_BODY, FILE_MAX,
                                                 sizeof(struct entry), parse_elem};
    ed_users *u = ed_calloc(1, sizeof *u);
    if (!u) return ED_ERR_NOMEM;
    void *e;
    int rc = ed_store_file_open(&u->at, dir, &fmt, image, len, &e, &u->n);
    u->e = e;
    if (rc) {
        ed_users_close(u);
        return rc;
    }
    *out = u;
    return ED_OK;
}

int ed_users_open(const char *dir, ed_users **out)
{
    return open_with(dir, NULL, 0, out);
}

int ed_users_open_image(const char *dir, const uint8_t *image, size_t len, ed_users **out)
{
    static const uint8_t empty;
    return open_with(dir, image ? image : &empty, len, out);
}

void ed_users_close(ed_users *u)
{
    if (!u) return;
    if (u->e) memset(u->e, 0, u->n * sizeof *u->e);
    ed_free(u->e);
    ed_store_file_at_free(&u->at);
    ed_free(u);
}

/* ---- queries ---- */

size_t ed_users_count(const ed_users *u)
{
    return u->n;
}

struct ed_user_info ed_users_get(const ed_users *u, size_t i)
{
    ED_ASSERT(i < u->n);
    return (struct ed_user_info){u->e[i].name, u->e[i].name_len, u->e[i].mech,
                                 u->e[i].cred.iterations};
}

int ed_users_lookup(const ed_users *u, const char *name, size_t name_len, enum ed_sasl_mech m,
                    struct ed_scram_cred *out)
{
    bool found;
    if (!ed_users_name_ok(name, name_len) || !scram_mech(m)) return ED_ERR_NOENT;
    size_t i = find(u->e, u->n, name, name_len, m, &found);
    if (!found) return ED_ERR_NOENT;
    *out = u->e[i].cred;
    return ED_OK;
}

int ed_users_sasl_lookup(void *arg, const char *name, size_t name_len, enum ed_sasl_mech m,
                         struct ed_scram_cred *out)
{
    return ed_users_lookup(arg, name, name_len, m, out);
}

int ed_users_check_password(const ed_users *u, const char *name, size_t name_len, const void *pw,
                            size_t pw_len)
{
    struct ed_scram_cred c;
    enum ed_sasl_mech m = ED_SASL_SCRAM_SHA_256;
    int rc = ed_users_lookup(u, name, name_len, m, &c);
    if (rc == ED_ERR_NOENT) rc = ed_users_lookup(u, name, name_len, m = ED_SASL_SCRAM_SHA_512, &c);
    if (rc == ED_OK) rc = ed_scram_cred_check(m, &c, pw, pw_len);
    memset(&c, 0, sizeof c);
    return rc == ED_OK ? ED_OK : ED_ERR_PERM;
}

/* ---- changes: build the new array, write it, then adopt it ---- */

static size_t encode(const struct entry *e, size_t n, uint8_t *b)
{
    ed_store_file_put_header(b, USERS_MAGIC, USERS_VERSION, (uint32_t)n);
    size_t pos = HDR_LEN;
    for (size_t i = 0; i < n; i++) {
        size_t hl = ed_plat_crypto_hash_len(ed_sasl_mech_hash(e[i].mech));
        uint8_t *r = b + pos + REC_HDR_LEN;
        size_t l = 0;
        r[l++] = (uint8_t)e[i].mech;
        r[l++] = e[i].name_len;
        memcpy(r + l, e[i].name, e[i].name_len);
        l += e[i].name_len;
        ed_put_be32(r + l, e[i].cred.iterations);
        l += 4;
        r[l++] = e[i].cred.salt_len;
        memcpy(r + l, e[i].cred.salt, e[i].cred.salt_len);
        l += e[i].cred.salt_len;
        memcpy(r + l, e[i].cred.stored_key, hl);
        memcpy(r + l + hl, e[i].cred.server_key, hl);
        l += 2 * hl;
        pos += ed_store_file_put_record(b + pos, l);
    }
    return pos;
}

static int write_file(ed_users *u, const struct entry *e, size_t n)
{
    uint8_t *b = ed_malloc(HDR_LEN + n * (REC_HDR_LEN + REC_MAX_BODY));
    if (!b) return ED_ERR_NOMEM;
    size_t len = encode(e, n, b);
    int rc = ed_store_file_save(&u->at, b, len);
    memset(b, 0, len);
    ed_free(b);
    return rc;
}

/* A copy of the array with room for extra more entries. */
static struct entry *copy(const ed_users *u, size_t extra)
{
    struct entry *e = ed_calloc(u->n + extra ? u->n + extra : 1, sizeof *e);
    if (e && u->n) memcpy(e, u->e, u->n * sizeof *e);
    return e;
}

static int commit(ed_users *u, struct entry *e, size_t n)
{
    int rc = write_file(u, e, n);
    if (rc) {
        memset(e, 0, n * sizeof *e);
        ed_free(e);
        return rc;
    }
    if (u->e) memset(u->e, 0, u->n * sizeof *u->e);
    ed_free(u->e);
    u->e = e;
    u->n = n;
    return ED_OK;
}

/* Puts (name, m, cred) into e (n entries, room for one more). */
static void upsert(struct entry *e, size_t *n, const char *name, size_t name_len,
                   enum ed_sasl_mech m, const struct ed_scram_cred *cred)
{
    bool found;
    size_t i = find(e, *n, name, name_len, m, &found);
    if (!found) {
        memmove(&e[i + 1], &e[i], (*n - i) * sizeof *e);
        (*n)++;
        memset(&e[i], 0, sizeof e[i]);
        e[i].mech = m;
        e[i].name_len = (uint8_t)name_len;
        memcpy(e[i].name, name, name_len);
    }
    e[i].cred = *cred;
}

static int cred_ok(enum ed_sasl_mech m, const struct ed_scram_cred *c)
{
    if (!scram_mech(m) || c->iterations < ED_SCRAM_MIN_ITER || c->iterations > ED_SCRAM_MAX_ITER ||
        c->salt_len == 0 || c->salt_len > ED_SCRAM_MAX_SALT)
        return ED_ERR_INVAL;
    return ED_OK;
}

int ed_users_put(ed_users *u, const char *name, size_t name_len, enum ed_sasl_mech m,
                 const struct ed_scram_cred *cred)
{
    if (!ed_users_name_ok(name, name_len) || cred_ok(m, cred)) return ED_ERR_INVAL;
    bool found;
    find(u->e, u->n, name, name_len, m, &found);
    if (!found && u->n >= ED_USERS_MAX) return ED_ERR_TOOBIG;
    struct entry *e = copy(u, 1);
    if (!e) return ED_ERR_NOMEM;
    size_t n = u->n;
    upsert(e, &n, name, name_len, m, cred);
    return commit(u, e, n);
}

int ed_users_set_password(ed_users *u, const char *name, size_t name_len, const void *pw,
                          size_t pw_len, uint32_t iterations)
{
    if (!ed_users_name_ok(name, name_len) || pw_len == 0 || pw_len > ED_SASL_MAX_PASSWORD)
        return ED_ERR_INVAL;
    static const enum ed_sasl_mech ms[] = {ED_SASL_SCRAM_SHA_256, ED_SASL_SCRAM_SHA_512};
    struct ed_scram_cred c[2];
    size_t n_new = 0;
    for (size_t i = 0; i < 2; i++) {
        uint8_t salt[ED_SCRAM_SALT_LEN];
        ed_plat_random(salt, sizeof salt);
        int rc = ed_scram_cred_make(ms[i], pw, pw_len, salt, sizeof salt, iterations, &c[i]);
        if (rc) return rc;
        bool found;
        find(u->e, u->n, name, name_len, ms[i], &found);
        n_new += !found;
    }
    if (u->n + n_new > ED_USERS_MAX) return ED_ERR_TOOBIG;
    struct entry *e = copy(u, 2);
    if (!e) return ED_ERR_NOMEM;
    size_t n = u->n;
    for (size_t i = 0; i < 2; i++)
        upsert(e, &n, name, name_len, ms[i], &c[i]);
    memset(c, 0, sizeof c);
    return commit(u, e, n);
}

int ed_users_delete(ed_users *u, const char *name, size_t name_len, enum ed_sasl_mech m)
{
    if (m && !scram_mech(m)) return ED_ERR_INVAL;
    struct entry *e = copy(u, 0);
    if (!e) return ED_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < u->n; i++) {
        bool same = u->e[i].name_len == name_len && memcmp(u->e[i].name, name, name_len) == 0 &&
                    (m == 0 || u->e[i].mech == m);
        if (!same) e[n++] = u->e[i];
    }
    if (n == u->n) {
        ed_free(e);
        return ED_ERR_NOENT;
    }
    return commit(u, e, n);
}
