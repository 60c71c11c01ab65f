/* The bounded byte cursor of core/bytes.h: reads with a sticky error, writes
 * into a buffer that grows up to a limit. */
#include "core/bytes.h"

#include "platform/mem.h"

#include <string.h>

/* ---- reader ---- */

void ed_bytes_rd_init(ed_bytes_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->left = p ? len : 0;
    r->err = ED_OK;
}

bool ed_bytes_rd_ok(const ed_bytes_rd *r)
{
    return r->err == ED_OK;
}

static const uint8_t *take(ed_bytes_rd *r, size_t n)
{
    if (r->err) return NULL;
    if (n > r->left) {
        r->err = ED_ERR_PROTO;
        r->left = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

uint8_t ed_bytes_get_u8(ed_bytes_rd *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

int16_t ed_bytes_get_i16(ed_bytes_rd *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)ed_get_be16(p) : 0;
}

int32_t ed_bytes_get_i32(ed_bytes_rd *r)
{
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)ed_get_be32(p) : 0;
}

int64_t ed_bytes_get_i64(ed_bytes_rd *r)
{
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)ed_get_be64(p) : 0;
}

uint32_t ed_bytes_get_uvarint(ed_bytes_rd *r)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 5; i++) {
        const uint8_t *p = take(r, 1);
        if (!p) return 0;
        v |= (uint64_t)(p[0] & 0x7f) << (7 * i);
        if (!(p[0] & 0x80)) {
            if (v <= UINT32_MAX) return (uint32_t)v;
            break;
        }
    }
    r->err = ED_ERR_PROTO;
    r->left = 0;
    return 0;
}

ed_bytes_run ed_bytes_get_span(ed_bytes_rd *r, int64_t n)
{
    ed_bytes_run run = {NULL, -1};
    if (r->err) return run;
    if (n < -1 || n > INT32_MAX) {
        r->err = ED_ERR_PROTO;
        r->left = 0;
        return run;
    }
    if (n == -1) return run;
    const uint8_t *p = take(r, (size_t)n);
    if (p) run = (ed_bytes_run){p, (int32_t)n};
    return run;
}

ed_kstr ed_bytes_get_str(ed_bytes_rd *r)
{
    ed_bytes_run run = ed_bytes_get_span(r, ed_bytes_get_i16(r));
    return (ed_kstr){(const char *)run.p, run.len};
}

ed_bytes_run ed_bytes_get_run(ed_bytes_rd *r)
{
    return ed_bytes_get_span(r, ed_bytes_get_i32(r));
}

/* ---- writer ---- */

void ed_bytes_wr_init(ed_bytes_wr *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

static uint8_t *room(ed_bytes_wr *w, size_t n)
{
    if (w->err) return NULL;
    if (n > w->max || w->len > w->max - n) {
        w->err = ED_ERR_TOOBIG;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 64;
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

void ed_bytes_put_raw(ed_bytes_wr *w, const void *p, size_t len)
{
    uint8_t *d = room(w, len);
    if (d && len) memcpy(d, p, len);
}

void ed_bytes_put_u8(ed_bytes_wr *w, uint8_t v)
{
    uint8_t *d = room(w, 1);
    if (d) d[0] = v;
}

void ed_bytes_put_i16(ed_bytes_wr *w, int16_t v)
{
    uint8_t *d = room(w, 2);
    if (d) ed_put_be16(d, (uint16_t)v);
}

void ed_bytes_put_i32(ed_bytes_wr *w, int32_t v)
{
    uint8_t *d = room(w, 4);
    if (d) ed_put_be32(d, (uint32_t)v);
}

void ed_bytes_put_i64(ed_bytes_wr *w, int64_t v)
{
    uint8_t *d = room(w, 8);
    if (d) ed_put_be64(d, (uint64_t)v);
}

void ed_bytes_put_str(ed_bytes_wr *w, const char *z)
{
    if (!z) {
        ed_bytes_put_i16(w, -1);
        return;
    }
    size_t n = strlen(z);
    if (n > INT16_MAX) {
        if (!w->err) w->err = ED_ERR_TOOBIG;
        return;
    }
    ed_bytes_put_i16(w, (int16_t)n);
    ed_bytes_put_raw(w, z, n);
}

void ed_bytes_put_run(ed_bytes_wr *w, const void *p, int32_t len)
{
    ed_bytes_put_i32(w, len < 0 ? -1 : len);
    if (len > 0) ed_bytes_put_raw(w, p, (size_t)len);
}

int ed_bytes_wr_take(ed_bytes_wr *w, uint8_t **out, size_t *len)
{
    int rc = w->err ? w->err : w->len == 0 ? ED_ERR_INVAL : ED_OK;
    if (rc != ED_OK) {
        ed_bytes_wr_free(w);
        return rc;
    }
    *out = w->buf;
    *len = w->len;
    w->buf = NULL;
    ed_bytes_wr_free(w);
    return ED_OK;
}

void ed_bytes_wr_free(ed_bytes_wr *w)
{
    ed_free(w->buf);
    size_t max = w->max;
    memset(w, 0, sizeof *w);
    w->max = max;
}
