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

/* width bytes big-endian; 0 once the reader failed */
static uint64_t get_be(ed_bytes_rd *r, unsigned width)
{
    const uint8_t *p = take(r, width);
    uint64_t v = 0;
    for (unsigned i = 0; p && i < width; i++)
        v = v << 8 | p[i];
    return v;
}

uint8_t ed_bytes_get_u8(ed_bytes_rd *r)
{
    return (uint8_t)get_be(r, 1);
}

int16_t ed_bytes_get_i16(ed_bytes_rd *r)
{
    return (int16_t)get_be(r, 2);
}

int32_t ed_bytes_get_i32(ed_bytes_rd *r)
{
    return (int32_t)get_be(r, 4);
}

int64_t ed_bytes_get_i64(ed_bytes_rd *r)
{
    return (int64_t)get_be(r, 8);
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

void ed_bytes_wr_fixed(ed_bytes_wr *w, uint8_t *out, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = out;
    w->cap = w->max = out ? cap : 0;
    w->fixed = true;
}

/* Makes the buffer hold need bytes: doubling from 64, at most max. */
static bool grow(ed_bytes_wr *w, size_t need)
{
    size_t cap = ED_MAX(w->cap, (size_t)64);
    while (cap < need)
        cap = cap > w->max / 2 ? w->max : cap * 2;
    cap = ED_MIN(cap, w->max);
    uint8_t *b = ed_realloc(w->buf, cap);
    if (!b) return false;
    w->buf = b;
    w->cap = cap;
    return true;
}

/* Reserves n bytes at the end; NULL once the writer failed. */
static uint8_t *reserve(ed_bytes_wr *w, size_t n)
{
    if (w->err) return NULL;
    if (n > w->max - w->len)
        w->err = ED_ERR_TOOBIG;
    else if (w->len + n > w->cap && (w->fixed || !grow(w, w->len + n)))
        w->err = w->fixed ? ED_ERR_TOOBIG : ED_ERR_NOMEM;
    if (w->err) return NULL;
    w->len += n;
    return w->buf + w->len - n;
}

void ed_bytes_put_raw(ed_bytes_wr *w, const void *p, size_t len)
{
    uint8_t *d = reserve(w, len);
    if (d && len) memcpy(d, p, len);
}

void ed_bytes_put_be(ed_bytes_wr *w, uint64_t v, unsigned width)
{
    if (width > 8 && !w->err) w->err = ED_ERR_INVAL;
    uint8_t *d = reserve(w, width);
    for (unsigned i = 0; d && i < width; i++)
        d[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

void ed_bytes_put_str(ed_bytes_wr *w, const char *z)
{
    if (!z) {
        ed_bytes_put_be(w, UINT16_MAX, 2); /* -1 */
        return;
    }
    size_t n = strlen(z);
    if (n > INT16_MAX) {
        if (!w->err) w->err = ED_ERR_TOOBIG;
        return;
    }
    ed_bytes_put_be(w, n, 2);
    ed_bytes_put_raw(w, z, n);
}

void ed_bytes_put_run(ed_bytes_wr *w, const void *p, int32_t len)
{
    ed_bytes_put_be(w, (uint32_t)(len < 0 ? -1 : len), 4);
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
    if (w->fixed) {
        w->len = 0;
        return;
    }
    ed_free(w->buf);
    size_t max = w->max;
    memset(w, 0, sizeof *w);
    w->max = max;
}
