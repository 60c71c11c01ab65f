/* Kafka wire primitives: bounded reader with a sticky error, growing writer
 * with a ceiling and file splices (see kwire.h for the contract). */
#include "core/kafka/kwire.h"
#include "platform/mem.h"

#include <string.h>

void ed_krd_init(ed_krd *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
    r->err = ED_OK;
}

void ed_krd_fail(ed_krd *r, int err)
{
    if (r->err == ED_OK) r->err = err;
    r->p = r->end;
}

static const uint8_t *take(ed_krd *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

int8_t ed_krd_i8(ed_krd *r)
{
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

bool ed_krd_bool(ed_krd *r)
{
    return ed_krd_i8(r) != 0;
}

int16_t ed_krd_i16(ed_krd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)ed_get_be16(p) : 0;
}

int32_t ed_krd_i32(ed_krd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)ed_get_be32(p) : 0;
}

uint32_t ed_krd_u32(ed_krd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? ed_get_be32(p) : 0;
}

int64_t ed_krd_i64(ed_krd *r)
{
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)ed_get_be64(p) : 0;
}

static uint64_t uvarlong(ed_krd *r, int max_bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        const uint8_t *p = take(r, 1);
        if (!p) return 0;
        v |= (uint64_t)(p[0] & 0x7f) << (7 * i);
        if (!(p[0] & 0x80)) return v;
    }
    ed_krd_fail(r, ED_ERR_PROTO);
    return 0;
}

uint32_t ed_krd_uvarint(ed_krd *r)
{
    uint64_t v = uvarlong(r, 5);
    if (v > UINT32_MAX) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return 0;
    }
    return (uint32_t)v;
}

int32_t ed_krd_varint(ed_krd *r)
{
    uint32_t u = ed_krd_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t ed_krd_varlong(ed_krd *r)
{
    uint64_t u = uvarlong(r, 10);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

void ed_krd_uuid(ed_krd *r, uint8_t out[16])
{
    const uint8_t *p = take(r, 16);
    if (p)
        memcpy(out, p, 16);
    else
        memset(out, 0, 16);
}

void ed_krd_skip(ed_krd *r, size_t n)
{
    take(r, n);
}

/* Reads a length: int16/int32 classic, uvarint-1 compact. -1 = null. */
static int64_t length(ed_krd *r, bool flex, bool wide)
{
    if (flex) return (int64_t)ed_krd_uvarint(r) - 1;
    return wide ? ed_krd_i32(r) : ed_krd_i16(r);
}

ed_kstr ed_krd_str(ed_krd *r, bool flex)
{
    ed_kstr s = {NULL, -1};
    int64_t n = length(r, flex, false);
    if (n < -1) ed_krd_fail(r, ED_ERR_PROTO);
    if (n <= 0 || r->err) {
        if (n == 0 && !r->err) s = (ed_kstr){(const char *)r->p, 0};
        return s;
    }
    const uint8_t *p = take(r, (size_t)n);
    if (p) s = (ed_kstr){(const char *)p, (int32_t)n};
    return s;
}

ed_kbytes ed_krd_bytes(ed_krd *r, bool flex)
{
    ed_kbytes b = {NULL, -1};
    int64_t n = length(r, flex, true);
    if (n < -1) ed_krd_fail(r, ED_ERR_PROTO);
    if (n <= 0 || r->err) {
        if (n == 0 && !r->err) b = (ed_kbytes){r->p, 0};
        return b;
    }
    const uint8_t *p = take(r, (size_t)n);
    if (p) b = (ed_kbytes){p, (int32_t)n};
    return b;
}

int32_t ed_krd_array(ed_krd *r, bool flex, size_t min_elem_len)
{
    int64_t n = length(r, flex, true);
    if (r->err) return 0;
    if (n < -1 || (n > 0 && (uint64_t)n * (min_elem_len ? min_elem_len : 1) > ed_krd_left(r))) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return 0;
    }
    return (int32_t)n;
}

void ed_krd_tags(ed_krd *r, bool flex)
{
    if (!flex) return;
    uint32_t n = ed_krd_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        ed_krd_uvarint(r);
        ed_krd_skip(r, ed_krd_uvarint(r));
    }
}

bool ed_kstr_copy(ed_kstr s, char *out, size_t out_len)
{
    if (s.len < 0 || (size_t)s.len >= out_len || (s.len && memchr(s.p, 0, (size_t)s.len)))
        return false;
    if (s.len) memcpy(out, s.p, (size_t)s.len);
    out[s.len] = '\0';
    return true;
}

bool ed_kstr_eq(ed_kstr s, const char *z)
{
    size_t n = strlen(z);
    return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, z, n) == 0;
}

/* ---- writer ---- */

void ed_kwr_init(ed_kwr *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

void ed_kwr_reset(ed_kwr *w)
{
    for (int i = 0; i < w->n_splices; i++)
        ed_log_slice_release(&w->splices[i].slice);
    w->n_splices = 0;
    w->splice_len = 0;
    w->len = 0;
    w->err = ED_OK;
}

void ed_kwr_free(ed_kwr *w)
{
    ed_kwr_reset(w);
    ed_free(w->buf);
    ed_free(w->splices);
    memset(w, 0, sizeof *w);
}

static uint8_t *room(ed_kwr *w, size_t n)
{
    if (w->err) return NULL;
    if (n > w->max || w->len > w->max - n) {
        w->err = ED_ERR_TOOBIG;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        if (cap > w->max) cap = w->max;
        uint8_t *b = ed_realloc(w->buf, cap);
        if (!b) {
            w->err = ED_ERR_NOMEM;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void ed_kwr_raw(ed_kwr *w, const void *p, size_t len)
{
    uint8_t *d = room(w, len);
    if (d && len) memcpy(d, p, len);
}

void ed_kwr_i8(ed_kwr *w, int8_t v)
{
    uint8_t *d = room(w, 1);
    if (d) d[0] = (uint8_t)v;
}

void ed_kwr_bool(ed_kwr *w, bool v)
{
    ed_kwr_i8(w, v ? 1 : 0);
}

void ed_kwr_i16(ed_kwr *w, int16_t v)
{
    uint8_t *d = room(w, 2);
    if (d) ed_put_be16(d, (uint16_t)v);
}

void ed_kwr_i32(ed_kwr *w, int32_t v)
{
    uint8_t *d = room(w, 4);
    if (d) ed_put_be32(d, (uint32_t)v);
}

void ed_kwr_u32(ed_kwr *w, uint32_t v)
{
    uint8_t *d = room(w, 4);
    if (d) ed_put_be32(d, v);
}

void ed_kwr_i64(ed_kwr *w, int64_t v)
{
    uint8_t *d = room(w, 8);
    if (d) ed_put_be64(d, (uint64_t)v);
}

static void uvarlong_put(ed_kwr *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    ed_kwr_raw(w, tmp, n);
}

void ed_kwr_uvarint(ed_kwr *w, uint32_t v)
{
    uvarlong_put(w, v);
}

void ed_kwr_varint(ed_kwr *w, int32_t v)
{
    uvarlong_put(w, ((uint32_t)v << 1) ^ (v < 0 ? UINT32_MAX : 0u));
}

void ed_kwr_varlong(ed_kwr *w, int64_t v)
{
    uvarlong_put(w, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0u));
}

void ed_kwr_uuid(ed_kwr *w, const uint8_t v[16])
{
    ed_kwr_raw(w, v, 16);
}

static void put_len(ed_kwr *w, int64_t n, bool flex, bool wide)
{
    if (flex)
        ed_kwr_uvarint(w, (uint32_t)(n + 1));
    else if (wide)
        ed_kwr_i32(w, (int32_t)n);
    else
        ed_kwr_i16(w, (int16_t)n);
}

void ed_kwr_strn(ed_kwr *w, const char *p, int32_t len, bool flex)
{
    if (len > INT16_MAX && !flex) {
        w->err = ED_ERR_TOOBIG;
        return;
    }
    put_len(w, len < 0 ? -1 : len, flex, false);
    if (len > 0) ed_kwr_raw(w, p, (size_t)len);
}

void ed_kwr_str(ed_kwr *w, const char *s, bool flex)
{
    ed_kwr_strn(w, s, s ? (int32_t)strlen(s) : -1, flex);
}

void ed_kwr_kstr(ed_kwr *w, ed_kstr s, bool flex)
{
    ed_kwr_strn(w, s.p, s.len, flex);
}

void ed_kwr_bytes(ed_kwr *w, const void *p, int32_t len, bool flex)
{
    put_len(w, len < 0 ? -1 : len, flex, true);
    if (len > 0) ed_kwr_raw(w, p, (size_t)len);
}

void ed_kwr_array(ed_kwr *w, int32_t n, bool flex)
{
    put_len(w, n < 0 ? -1 : n, flex, true);
}

void ed_kwr_tags(ed_kwr *w, bool flex)
{
    if (flex) ed_kwr_uvarint(w, 0);
}

size_t ed_kwr_reserve_i32(ed_kwr *w)
{
    size_t pos = w->len;
    ed_kwr_i32(w, 0);
    return pos;
}

void ed_kwr_patch_i32(ed_kwr *w, size_t pos, int32_t v)
{
    if (w->err || pos + 4 > w->len) return;
    ed_put_be32(w->buf + pos, (uint32_t)v);
}

void ed_kwr_splice(ed_kwr *w, struct ed_log_slice *slice)
{
    if (w->err) {
        ed_log_slice_release(slice);
        return;
    }
    if (w->n_splices == w->cap_splices) {
        int cap = w->cap_splices ? w->cap_splices * 2 : 8;
        struct ed_conn_splice *s = ed_realloc(w->splices, (size_t)cap * sizeof *s);
        if (!s) {
            w->err = ED_ERR_NOMEM;
            ed_log_slice_release(slice);
            return;
        }
        w->splices = s;
        w->cap_splices = cap;
    }
    w->splices[w->n_splices].at = w->len;
    w->splices[w->n_splices].slice = *slice;
    w->n_splices++;
    w->splice_len += slice->len;
    memset(slice, 0, sizeof *slice);
}
