/* The connection engine's output: the ordered queue of items (memory parts
 * and file ranges sent by sendfile; an item not yet ready holds back those
 * behind it), the plain byte queue of packet protocols (freed whenever it
 * has drained), and flushing both to the stream. */
#include "core/conn_int.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#define MAX_IOV 64

static bool item_done(const struct ed_conn_out *o)
{
    return o->mem_pos == o->len && o->si == o->n_splices;
}

static void pop_item(ed_conn *c)
{
    struct ed_conn_out *o = c->oh;
    c->oh = o->next;
    if (!c->oh) c->ot = NULL;
    if (o->release) o->release(o, true);
}

/* Sends ready items from the head: consecutive memory parts of several
 * items in one gather write, a file range by sendfile. false: closed. */
static bool flush_items(ed_conn *c)
{
    for (;;) {
        while (c->oh && c->oh->ready && item_done(c->oh))
            pop_item(c);
        struct ed_conn_out *h = c->oh;
        if (!h || !h->ready) return true;
        if (h->si < h->n_splices && h->mem_pos == h->splices[h->si].at) {
            const struct ed_log_slice *sl = &h->splices[h->si].slice;
            size_t k = 0;
            if (sl->len > h->s_sent &&
                ed_plat_stream_sendfile(c->stream, sl->file, sl->pos + h->s_sent,
                                        sl->len - h->s_sent, &k) != ED_OK) {
                ed_conn_close(c, "send failed");
                return false;
            }
            h->s_sent += k;
            c->out_len -= k;
            if (h->s_sent < sl->len) return true; /* stream full */
            h->si++;
            h->s_sent = 0;
            continue;
        }
        struct ed_iovec iov[MAX_IOV];
        struct ed_conn_out *owners[MAX_IOV];
        int n = 0;
        size_t want = 0;
        for (struct ed_conn_out *o = h; o && o->ready && n < MAX_IOV; o = o->next) {
            size_t end = o->si < o->n_splices ? o->splices[o->si].at : o->len;
            if (o->mem_pos == end) {
                if (item_done(o)) continue; /* empty: popped below */
                break;                      /* a file range comes first */
            }
            iov[n].base = o->buf + o->mem_pos;
            iov[n].len = end - o->mem_pos;
            want += iov[n].len;
            owners[n++] = o;
            if (end != o->len || o->si < o->n_splices) break;
        }
        if (n == 0) return true;
        size_t k;
        if (ed_plat_stream_writev(c->stream, iov, n, &k) != ED_OK) {
            ed_conn_close(c, "send failed");
            return false;
        }
        c->out_len -= k;
        c->sent |= k > 0;
        size_t left = k;
        for (int i = 0; i < n && left > 0; i++) {
            size_t take = ED_MIN(left, iov[i].len);
            owners[i]->mem_pos += take;
            left -= take;
        }
        if (k < want) return true; /* stream full */
    }
}

static bool flush_bytes(ed_conn *c)
{
    while (c->bq_pos < c->bq_len) {
        struct ed_iovec iov = {c->bq + c->bq_pos, c->bq_len - c->bq_pos};
        size_t k;
        if (ed_plat_stream_writev(c->stream, &iov, 1, &k) != ED_OK) {
            ed_conn_close(c, "send failed");
            return false;
        }
        if (k == 0) break;
        c->bq_pos += k;
        c->out_len -= k;
        c->sent = true;
    }
    if (c->bq_pos == c->bq_len) {
        c->bq_pos = c->bq_len = 0;
        if (!c->reserved) { /* drained: an idle connection holds no queue */
            ed_free(c->bq);
            c->bq = NULL;
            c->bq_cap = 0;
        }
    }
    return true;
}

void ed_conn_flush(ed_conn *c)
{
    if (c->closing) return;
    size_t before = c->out_len;
    if (!flush_items(c) || !flush_bytes(c)) return;
    /* Write interest only while something can go out now: ready items
     * behind one not yet ready wait for it (ed_conn_out_ready flushes), and
     * a level-triggered writable event for them would spin the loop until
     * then (a produce answered after its sync, with later answers ready). */
    bool pending = (c->oh && c->oh->ready) || c->bq_pos < c->bq_len;
    if (pending != c->want_write) {
        c->want_write = pending;
        ed_plat_stream_want_write(c->stream, pending);
    }
    if (c->out_len != before) c->last_active_ms = now_ms(c->set);
    ed_conn_in_update(c);
}

void ed_conn_out_queue(ed_conn *c, struct ed_conn_out *o)
{
    o->next = NULL;
    o->ready = false;
    o->mem_pos = o->s_sent = 0;
    o->si = 0;
    if (c->ot)
        c->ot->next = o;
    else
        c->oh = o;
    c->ot = o;
}

void ed_conn_out_ready(ed_conn *c, struct ed_conn_out *o)
{
    o->total_len = o->len;
    for (int i = 0; i < o->n_splices; i++)
        o->total_len += o->splices[i].slice.len;
    o->ready = true;
    c->out_len += o->total_len;
    ed_conn_flush(c);
}

struct ed_conn_out *ed_conn_out_head(ed_conn *c)
{
    return c->oh;
}

uint8_t *ed_conn_out_reserve(ed_conn *c, size_t n)
{
    if (c->closing) return NULL;
    if (c->bq_cap - c->bq_len < n && c->bq_pos > 0) {
        memmove(c->bq, c->bq + c->bq_pos, c->bq_len - c->bq_pos);
        c->bq_len -= c->bq_pos;
        c->bq_pos = 0;
    }
    if (c->bq_cap - c->bq_len < n) {
        size_t need = c->bq_len + n;
        if (need > c->set->lim.out_max_len) {
            char why[96];
            snprintf(why, sizeof why, "output backed up over %zu bytes (slow reader)",
                     c->set->lim.out_max_len);
            ed_conn_close_bad(c, why);
            return NULL;
        }
        size_t cap = c->bq_cap ? c->bq_cap : 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = ed_realloc(c->bq, cap);
        if (!nb) {
            ed_conn_close_bad(c, "out of memory for output");
            return NULL;
        }
        c->bq = nb;
        c->bq_cap = cap;
    }
    c->reserved = true;
    return c->bq + c->bq_len;
}

void ed_conn_out_commit(ed_conn *c, size_t n)
{
    ED_ASSERT(c->reserved && c->bq_cap - c->bq_len >= n);
    c->bq_len += n;
    c->out_len += n;
    c->reserved = false;
}

bool ed_conn_write(ed_conn *c, const void *p, size_t n)
{
    if (n == 0) return !c->closing;
    uint8_t *dst = ed_conn_out_reserve(c, n);
    if (!dst) return false;
    memcpy(dst, p, n);
    ed_conn_out_commit(c, n);
    return true;
}

size_t ed_conn_out_pending(const ed_conn *c)
{
    return c->out_len;
}
