/* The connection engine (see conn.h).
 *
 * Reading. Bytes go into the connection's read buffer (16 KiB, allocated at
 * a read and freed again once every whole frame in it was handled and no
 * byte is left over, so an idle connection holds none). The protocol's frame_len says how long the
 * frame at the start of the buffer is; a frame longer than the buffer is charged to the memory
 * budget first (or the connection waits), then the buffer grows for it: at once up to 1 MiB, beyond
 * that doubling as bytes arrive, so a peer that announces 16 MiB and sends one byte costs a charge,
 * not 16 MiB. Whole frames are handed over in place; a protocol that keeps one takes the buffer
 * itself when the frame fills it (large frames always start at its beginning), so large requests
 * are never copied.
 *
 * Closing closes the stream at once; the connection moves to the dead list
 * and is freed from a zero-delay timer ("reap") once the protocol allows
 * it, so a close deep inside a handler or a completion never frees memory a
 * caller up the stack still uses. Reading a connection again after a pause
 * with frames already buffered also happens from a zero-delay timer
 * ("kick"): never inside the completion that lifted the pause. */
#define ED_LOG_MODULE "conn"
#include "core/conn.h"
#include "core/metrics.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdalign.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define RBUF_LEN        16384
#define WHOLE_MAX       (1u << 20) /* frames up to this get their buffer at once */
#define READS_PER_EVENT 8
#define MAX_IOV         64

struct ed_conn_budget {
    size_t max_len, used, peak;
    ed_conn *waiters; /* connections whose next frame did not fit */
};

/* A listening socket and what its connections get. */
struct conn_listener {
    ed_conn_set *set;
    ed_listener *ls;
    ed_tls_conf *tls; /* NULL: plaintext */
    char name[32];
    bool sasl;
};

struct ed_conn_set {
    ed_loop *loop;
    const struct ed_conn_proto *proto;
    void *arg;
    struct ed_conn_limits lim;
    ed_conn_budget *budget;
    struct conn_listener *listeners[8];
    int n_listeners;
    ed_conn *conns, *dead;
    ed_conn *kicks;   /* connections to read again, see the top */
    ed_conn *kicking; /* those being read again now */
    int32_t n_conns;
    ed_timer reap_timer, kick_timer, scan_timer;
    struct ed_log_rl log_rl; /* refusal and bad-input lines, rate-limited per set */
    struct ed_conn_stats stats;
};

struct ed_conn {
    ed_conn_set *set;
    ed_stream *stream; /* NULL once closed */
    ed_conn *prev, *next;
    ed_conn *wprev, *wnext; /* budget waiters */
    ed_conn *kick_next;
    uint8_t *rbuf;
    size_t rlen, rcap;
    size_t frame_len;        /* of the frame at the buffer start, once known (0: not yet) */
    size_t charged;          /* budget charged for that frame */
    const uint8_t *handing;  /* the frame being handed to on_frame */
    bool kept;               /* on_frame kept it */
    uint64_t frame_start_ms; /* first byte of an unfinished frame (0: none) */
    uint64_t last_active_ms;
    /* when reading last resumed after a pause (0: never paused) */
    uint64_t resumed_ms;
    struct ed_conn_out *oh, *ot; /* ordered output items */
    uint8_t *bq;                 /* the byte queue (NULL while empty) */
    size_t bq_pos, bq_len, bq_cap;
    size_t out_len; /* bytes ready and not sent (items and byte queue) */
    bool paused, waiting, closing, want_write, in_input, kicked;
    bool reserved; /* a byte queue region reserved, not yet committed: the queue stays */
    char peer[64];
    char host[48];
    char listener[32]; /* the name of the listener it came in on ("" when adopted) */
    bool sasl;         /* that listener requires SASL */
    alignas(max_align_t) unsigned char data[];
};

static void process_input(ed_conn *c);
static void update_read(ed_conn *c);
static void unkick(ed_conn *c);

static uint64_t now_ms(const ed_conn_set *s)
{
    return s->loop ? ed_plat_loop_now_ms(s->loop) : 0;
}

/* ---- the budget ---- */

int ed_conn_budget_new(size_t max_len, ed_conn_budget **out)
{
    ed_conn_budget *b = ed_calloc(1, sizeof *b);
    if (!b) return ED_ERR_NOMEM;
    b->max_len = max_len;
    *out = b;
    return ED_OK;
}

void ed_conn_budget_free(ed_conn_budget *b)
{
    ed_free(b);
}

size_t ed_conn_budget_used(const ed_conn_budget *b)
{
    return b->used;
}

size_t ed_conn_budget_peak(const ed_conn_budget *b)
{
    return b->peak;
}

static void charge(ed_conn_budget *b, size_t n)
{
    if (!b) return;
    b->used += n;
    b->peak = ED_MAX(b->peak, b->used);
}

static void budget_unwait(ed_conn *c)
{
    ed_conn_budget *b = c->set->budget;
    if (!c->waiting) return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        b->waiters = c->wnext;
    if (c->wnext) c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
    c->waiting = false;
}

static void release(ed_conn_budget *b, size_t n)
{
    if (!b || n == 0) return;
    ED_ASSERT(b->used >= n);
    b->used -= n;
    /* Everyone waiting tries again (from its set's kick timer). */
    while (b->waiters && b->used < b->max_len) {
        ed_conn *c = b->waiters;
        budget_unwait(c);
        ed_conn_update(c);
    }
}

/* Charges a frame of len bytes, or queues c as a waiter. */
static bool reserve(ed_conn *c, size_t len)
{
    ed_conn_budget *b = c->set->budget;
    if (!b || b->used == 0 || b->used + len <= b->max_len) {
        charge(b, len);
        return true;
    }
    if (!c->waiting) {
        c->waiting = true;
        c->wnext = b->waiters;
        if (b->waiters) b->waiters->wprev = c;
        b->waiters = c;
        c->set->stats.n_mem_waits++;
    }
    return false;
}

/* ---- closing and reaping ---- */

static void on_reap(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_conn_set_reap(arg);
}

static void conn_free(ed_conn *c)
{
    ed_conn_set *s = c->set;
    if (s->proto->on_free) s->proto->on_free(c);
    struct ed_conn_out *o = c->oh;
    while (o) {
        struct ed_conn_out *n = o->next;
        if (o->release) o->release(o, false);
        o = n;
    }
    release(s->budget, c->charged);
    ed_free(c->bq);
    ed_free(c->rbuf);
    ed_free(c);
}

void ed_conn_set_reap(ed_conn_set *s)
{
    ed_conn **pp = &s->dead;
    while (*pp) {
        ed_conn *c = *pp;
        if (s->proto->can_free && !s->proto->can_free(c)) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        conn_free(c);
    }
}

void ed_conn_set_reap_later(ed_conn_set *s)
{
    if (s->loop && !ed_plat_timer_armed(&s->reap_timer))
        ed_plat_timer_start(s->loop, &s->reap_timer, 0, on_reap, s);
}

void ed_conn_close(ed_conn *c, const char *why)
{
    if (c->closing) return;
    ed_conn_set *s = c->set;
    if (why) ED_LOG_DBG("closing %s connection from %s: %s", s->proto->name, c->peer, why);
    c->closing = true;
    budget_unwait(c);
    unkick(c);
    release(s->budget, c->charged); /* the unfinished frame's charge */
    c->charged = 0;
    if (s->proto->on_close) s->proto->on_close(c);
    ed_plat_stream_close(c->stream);
    c->stream = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = NULL;
    c->next = s->dead;
    s->dead = c;
    s->n_conns--;
    ed_metrics_conn(ed_metrics_proto_of(s->proto->name), -1);
    ed_conn_set_reap_later(s);
}

void ed_conn_close_bad(ed_conn *c, const char *why)
{
    if (c->closing) return;
    ed_conn_set *s = c->set;
    s->stats.n_bad++;
    ed_metrics_bad_input(ed_metrics_proto_of(s->proto->name));
    ED_LOG_WARN_RL_AT(&s->log_rl, "closing %s connection from %s: %s", s->proto->name, c->peer,
                      why);
    /* Replies before the bad frame still go out if the stream takes them
     * now (best effort, as Kafka). */
    ed_conn_flush(c);
    ed_conn_close(c, NULL);
}

/* ---- output ---- */

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
    bool pending = c->out_len > 0;
    if (pending != c->want_write) {
        c->want_write = pending;
        ed_plat_stream_want_write(c->stream, pending);
    }
    if (c->out_len != before) c->last_active_ms = now_ms(c->set);
    update_read(c);
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

/* ---- input ---- */

static bool must_pause(ed_conn *c)
{
    const struct ed_conn_proto *p = c->set->proto;
    return c->waiting || c->out_len > c->set->lim.out_ceiling_len ||
           (p->can_take && !p->can_take(c));
}

static void on_kick(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_conn_set *s = arg;
    /* Kicks made meanwhile wait for the next round; a connection closed
     * meanwhile has left the list (unkick). */
    s->kicking = s->kicks;
    s->kicks = NULL;
    while (s->kicking) {
        ed_conn *c = s->kicking;
        s->kicking = c->kick_next;
        c->kick_next = NULL;
        c->kicked = false;
        process_input(c);
        ed_conn_flush(c);
    }
}

static void unkick(ed_conn *c)
{
    if (!c->kicked) return;
    ed_conn_set *s = c->set;
    for (ed_conn **pp = &s->kicks; *pp; pp = &(*pp)->kick_next)
        if (*pp == c) {
            *pp = c->kick_next;
            break;
        }
    for (ed_conn **pp = &s->kicking; *pp; pp = &(*pp)->kick_next)
        if (*pp == c) {
            *pp = c->kick_next;
            break;
        }
    c->kick_next = NULL;
    c->kicked = false;
}

static void kick(ed_conn *c)
{
    ed_conn_set *s = c->set;
    if (c->kicked || c->closing) return;
    c->kicked = true;
    c->kick_next = s->kicks;
    s->kicks = c;
    if (s->loop && !ed_plat_timer_armed(&s->kick_timer))
        ed_plat_timer_start(s->loop, &s->kick_timer, 0, on_kick, s);
}

static void update_read(ed_conn *c)
{
    if (c->closing) return;
    bool pause = must_pause(c);
    if (pause == c->paused) return;
    c->paused = pause;
    if (pause) {
        c->set->stats.n_pauses++;
    } else {
        c->resumed_ms = now_ms(c->set);
        /* Time spent held back by Eddy does not count against the peer. */
        if (c->frame_start_ms) c->frame_start_ms = c->resumed_ms;
    }
    ed_plat_stream_want_read(c->stream, !pause);
    if (!pause && c->rlen > 0) kick(c);
}

void ed_conn_update(ed_conn *c)
{
    if (c->closing) return;
    update_read(c);
    if (!c->paused && c->rlen > 0) kick(c);
}

uint8_t *ed_conn_frame_keep(ed_conn *c, const struct ed_conn_frame *f)
{
    ED_ASSERT(f->p == c->handing && !c->kept);
    uint8_t *p;
    if (f->p == c->rbuf && f->len == c->rlen && f->len == c->rcap) {
        p = c->rbuf; /* the buffer holds just this frame: hand it over */
        c->rbuf = NULL;
        c->rcap = c->rlen = 0;
    } else {
        p = ed_malloc(f->len);
        if (!p) return NULL;
        memcpy(p, f->p, f->len);
    }
    c->kept = true;
    if (c->charged)
        c->charged = 0; /* the charge goes with the bytes */
    else
        charge(c->set->budget, f->len);
    return p;
}

void ed_conn_frame_free(ed_conn *c, uint8_t *p, size_t len)
{
    if (!p) return;
    ed_free(p);
    release(c->set->budget, len);
}

/* An empty read buffer goes back: an idle connection holds none (the next
 * read allocates one again). */
static void drop_empty_rbuf(ed_conn *c)
{
    if (c->rbuf && c->rlen == 0 && !c->in_input) {
        ed_free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

/* Handles every whole frame in the buffer while reading is allowed. */
static void process_input(ed_conn *c)
{
    ed_conn_set *s = c->set;
    if (c->in_input) return;
    c->in_input = true;
    size_t pos = 0;
    while (!c->closing && c->rbuf && pos < c->rlen) {
        if (must_pause(c)) break;
        const uint8_t *p = c->rbuf + pos;
        size_t have = c->rlen - pos;
        if (c->frame_len == 0) {
            char why[160] = "malformed frame";
            size_t len = 0;
            int rc = s->proto->frame_len(c, p, have, &len, why, sizeof why);
            if (rc == ED_ERR_AGAIN) break;
            if (rc == ED_OK && len > s->lim.frame_max_len) {
                snprintf(why, sizeof why, "frame of %zu bytes over the limit of %zu", len,
                         s->lim.frame_max_len);
                rc = ED_ERR_TOOBIG;
            }
            if (rc != ED_OK || len == 0) {
                ed_conn_close_bad(c, why);
                break;
            }
            if (len > RBUF_LEN && len > have) {
                if (!reserve(c, len)) break;
                c->charged = len;
            }
            c->frame_len = len;
        }
        if (have < c->frame_len) break;
        /* A whole frame. */
        struct ed_conn_frame f = {p, c->frame_len};
        size_t len = c->frame_len;
        c->frame_len = 0;
        c->handing = p;
        c->kept = false;
        s->proto->on_frame(c, &f);
        c->handing = NULL;
        if (c->charged) {
            release(s->budget, c->charged);
            c->charged = 0;
        }
        if (!c->rbuf) { /* kept whole: the buffer went with it */
            pos = 0;
            c->frame_start_ms = 0;
            break;
        }
        pos += len;
    }
    if (c->rbuf && !c->closing) {
        if (pos > 0 && pos < c->rlen) memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= ED_MIN(pos, c->rlen);
        if (pos > 0) c->frame_start_ms = c->rlen > 0 ? now_ms(s) : 0;
    }
    c->in_input = false;
    if (!c->closing) drop_empty_rbuf(c);
    if (!c->closing) update_read(c);
}

/* Room to read into: the base buffer, or more of the frame being read. */
static bool make_room(ed_conn *c)
{
    if (!c->rbuf) {
        size_t cap = ED_MAX((size_t)RBUF_LEN, c->frame_len);
        c->rbuf = ed_malloc(cap);
        if (!c->rbuf) return false;
        c->rcap = cap;
    }
    if (c->rlen < c->rcap) return true;
    if (c->frame_len <= c->rlen) return true; /* nothing more wanted now */
    size_t cap = c->frame_len <= WHOLE_MAX ? c->frame_len : ED_MIN(c->frame_len, c->rcap * 2);
    if (c->rcap < WHOLE_MAX && c->frame_len > WHOLE_MAX) cap = WHOLE_MAX;
    uint8_t *nb = ed_realloc(c->rbuf, cap);
    if (!nb) return false;
    c->rbuf = nb;
    c->rcap = cap;
    return true;
}

static void on_readable(void *arg)
{
    ed_conn *c = arg;
    for (int i = 0; i < READS_PER_EVENT && !c->closing && !c->paused; i++) {
        if (!make_room(c)) {
            ed_conn_close_bad(c, "out of memory for a frame");
            return;
        }
        if (c->rlen == c->rcap) break; /* whole frames wait to be handled */
        size_t n;
        int rc = ed_plat_stream_read(c->stream, c->rbuf + c->rlen, c->rcap - c->rlen, &n);
        if (rc == ED_ERR_AGAIN) {
            /* The stream's own unit (a TLS handshake or record) under way
             * counts as an unfinished frame from its first bytes; once the
             * stream has none, the clock stops (a handshake done). */
            if (c->rlen == 0) {
                bool busy = ed_plat_stream_busy(c->stream);
                if (busy && !c->frame_start_ms)
                    c->frame_start_ms = ED_MAX(now_ms(c->set), (uint64_t)1);
                else if (!busy)
                    c->frame_start_ms = 0;
            }
            break;
        }
        if (rc != ED_OK) {
            ed_conn_close(c, "closed by peer");
            return;
        }
        uint64_t now = now_ms(c->set);
        if (c->rlen == 0) c->frame_start_ms = now ? now : 1;
        c->rlen += n;
        c->last_active_ms = now;
        process_input(c);
    }
    if (!c->closing) drop_empty_rbuf(c);
    if (!c->closing) ed_conn_flush(c);
}

static void on_writable(void *arg)
{
    ed_conn_flush(arg);
}

/* ---- accepting ---- */

static const char *host_of(const char *peer, char *out, size_t len)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    snprintf(out, len, "%.*s", (int)n, peer);
    return out;
}

static int32_t host_limit(const ed_conn_set *s, const char *host)
{
    for (int i = 0; i < s->lim.n_host_overrides; i++)
        if (strcmp(s->lim.host_overrides[i].host, host) == 0) return s->lim.host_overrides[i].n_max;
    return s->lim.n_conns_per_host_max;
}

static void refuse(ed_conn_set *s, ed_stream *st, const char *what, int32_t limit)
{
    ED_LOG_WARN_RL_AT(&s->log_rl, "refusing %s connection from %s: %s (%d) reached", s->proto->name,
                      ed_plat_stream_peer(st), what, (int)limit);
    s->stats.n_refused++;
    ed_plat_stream_close(st);
}

static void adopt(ed_conn_set *s, ed_stream *st, const struct conn_listener *via)
{
    if (s->n_conns >= s->lim.n_conns_max) {
        refuse(s, st, s->proto->limit_key, s->lim.n_conns_max);
        return;
    }
    char host[48];
    host_of(ed_plat_stream_peer(st), host, sizeof host);
    int32_t per_host = host_limit(s, host);
    if (per_host > 0) {
        int32_t n = 0;
        for (ed_conn *o = s->conns; o; o = o->next)
            n += strcmp(o->host, host) == 0;
        if (n >= per_host) {
            refuse(s, st, "connections from one address", per_host);
            return;
        }
    }
    ed_conn *c = ed_calloc(1, sizeof *c + s->proto->data_len);
    if (!c) {
        refuse(s, st, "out of memory; connections", s->n_conns);
        return;
    }
    c->set = s;
    c->stream = st;
    snprintf(c->peer, sizeof c->peer, "%s", ed_plat_stream_peer(st));
    snprintf(c->host, sizeof c->host, "%s", host);
    c->last_active_ms = now_ms(s);
    if (via) {
        snprintf(c->listener, sizeof c->listener, "%s", via->name);
        c->sasl = via->sasl;
    }
    /* A stream that starts with its own exchange (a TLS handshake) must
     * finish it within the unfinished-frame timeout. */
    if (ed_plat_stream_busy(st)) c->frame_start_ms = ED_MAX(c->last_active_ms, (uint64_t)1);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    s->stats.n_accepted++;
    ed_metrics_conn(ed_metrics_proto_of(s->proto->name), 1);
    ED_LOG_DBG("%s connection from %s", s->proto->name, c->peer);
    if (s->proto->on_open && s->proto->on_open(c) != ED_OK) {
        ED_LOG_WARN_RL_AT(&s->log_rl, "refusing %s connection from %s: out of memory",
                          s->proto->name, c->peer);
        s->stats.n_refused++;
        s->stats.n_accepted--;
        ed_conn_close(c, NULL);
        return;
    }
    if (s->lim.quickack) ed_plat_stream_set_quickack(st, true);
    struct ed_stream_cbs cbs = {on_readable, on_writable};
    ed_plat_stream_set_cbs(st, &cbs, c);
}

void ed_conn_set_adopt(ed_conn_set *s, ed_stream *st)
{
    adopt(s, st, NULL);
}

static void on_accept(void *arg, ed_stream *st)
{
    struct conn_listener *l = arg;
#if ED_WITH_TLS
    if (l->tls) {
        ed_stream *tls;
        if (ed_plat_tls_server(l->set->loop, l->tls, st, &tls) != ED_OK) {
            l->set->stats.n_refused++;
            ED_LOG_WARN_RL_AT(&l->set->log_rl, "refusing %s connection: out of memory for TLS",
                              l->set->proto->name);
            return;
        }
        st = tls;
    }
#endif
    adopt(l->set, st, l);
}

/* ---- timeouts ---- */

static uint32_t scan_period(const ed_conn_set *s)
{
    int64_t p = 1000;
    if (s->lim.idle_ms > 0) p = ED_MIN(p, s->lim.idle_ms / 10);
    if (s->lim.frame_timeout_ms > 0) p = ED_MIN(p, s->lim.frame_timeout_ms / 10);
    return (uint32_t)ED_MAX(p, 50);
}

static void on_scan(ed_timer *t, void *arg)
{
    ed_conn_set *s = arg;
    uint64_t now = now_ms(s);
    ed_conn *c = s->conns;
    while (c) {
        ed_conn *n = c->next;
        /* Bytes of a frame, or of the stream's own unit (a TLS handshake
         * or record), arrived and the rest did not. */
        bool unfinished =
            (c->rlen > 0 || ed_plat_stream_busy(c->stream)) && !c->paused && c->frame_start_ms;
        if (unfinished && s->lim.frame_timeout_ms > 0 &&
            now - c->frame_start_ms >= (uint64_t)s->lim.frame_timeout_ms) {
            char why[96];
            snprintf(why, sizeof why, "frame not finished within %lld ms",
                     (long long)s->lim.frame_timeout_ms);
            s->stats.n_timeouts++;
            ed_conn_close_bad(c, why);
        } else if (s->lim.idle_ms > 0 && c->rlen == 0 && c->out_len == 0 && s->proto->is_idle &&
                   s->proto->is_idle(c) && now - c->last_active_ms >= (uint64_t)s->lim.idle_ms) {
            ED_LOG_INFO("closing %s connection from %s: idle for %lld ms", s->proto->name, c->peer,
                        (long long)s->lim.idle_ms);
            s->stats.n_idle++;
            ed_conn_close(c, NULL);
        } else if (s->proto->on_scan) {
            s->proto->on_scan(c, now);
        }
        c = n;
    }
    ed_plat_timer_start(s->loop, t, scan_period(s), on_scan, s);
}

/* ---- sets ---- */

int ed_conn_set_new(ed_loop *loop, const struct ed_conn_proto *proto, void *arg,
                    const struct ed_conn_limits *lim, ed_conn_budget *budget, ed_conn_set **out)
{
    ed_conn_set *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    s->loop = loop;
    s->proto = proto;
    s->arg = arg;
    s->lim = *lim;
    s->budget = budget;
    if (loop) ed_plat_timer_start(loop, &s->scan_timer, scan_period(s), on_scan, s);
    *out = s;
    return ED_OK;
}

int ed_conn_set_listen_on(ed_conn_set *s, const struct ed_conn_listen *how, uint16_t *bound)
{
    if (s->n_listeners == (int)ED_ARRAY_LEN(s->listeners)) return ED_ERR_TOOBIG;
#if !ED_WITH_TLS
    if (how->tls) return ED_ERR_UNSUPPORTED;
#endif
    struct conn_listener *l = ed_calloc(1, sizeof *l);
    if (!l) return ED_ERR_NOMEM;
    l->set = s;
    snprintf(l->name, sizeof l->name, "%s", how->name ? how->name : "");
    l->sasl = how->sasl;
    int rc = ed_plat_tcp_listen(s->loop, how->host, how->port, on_accept, l, &l->ls);
    if (rc != ED_OK) {
        ed_free(l);
        return rc;
    }
#if ED_WITH_TLS
    l->tls = how->tls;
    if (l->tls) ed_plat_tls_conf_ref(l->tls);
#endif
    s->listeners[s->n_listeners++] = l;
    if (bound) *bound = ed_plat_listener_port(l->ls);
    return ED_OK;
}

int ed_conn_set_listen(ed_conn_set *s, const char *host, uint16_t port, uint16_t *bound)
{
    struct ed_conn_listen how = {host, port, NULL, NULL, false};
    return ed_conn_set_listen_on(s, &how, bound);
}

void ed_conn_set_tls_swap(ed_conn_set *s, const char *name, ed_tls_conf *tls)
{
#if ED_WITH_TLS
    for (int i = 0; i < s->n_listeners; i++) {
        struct conn_listener *l = s->listeners[i];
        if (!l->tls || strcmp(l->name, name) != 0) continue;
        ed_plat_tls_conf_ref(tls);
        ed_plat_tls_conf_unref(l->tls);
        l->tls = tls;
    }
#else
    ED_UNUSED(s);
    ED_UNUSED(name);
    ED_UNUSED(tls);
#endif
}

void ed_conn_set_stop_accepting(ed_conn_set *s)
{
    for (int i = 0; i < s->n_listeners; i++) {
        struct conn_listener *l = s->listeners[i];
        ed_plat_listener_close(l->ls);
#if ED_WITH_TLS
        ed_plat_tls_conf_unref(l->tls);
#endif
        ed_free(l);
    }
    s->n_listeners = 0;
}

void ed_conn_set_close_all(ed_conn_set *s, const char *why)
{
    while (s->conns)
        ed_conn_close(s->conns, why);
}

void ed_conn_set_free(ed_conn_set *s)
{
    if (!s) return;
    ed_conn_set_stop_accepting(s);
    ed_conn_set_close_all(s, "shutting down");
    /* Whatever the protocol still holds is let go now. */
    while (s->dead) {
        ed_conn *c = s->dead;
        s->dead = c->next;
        conn_free(c);
    }
    if (s->loop) {
        ed_plat_timer_stop(s->loop, &s->reap_timer);
        ed_plat_timer_stop(s->loop, &s->kick_timer);
        ed_plat_timer_stop(s->loop, &s->scan_timer);
    }
    ed_free(s);
}

int32_t ed_conn_set_n_conns(const ed_conn_set *s)
{
    return s->n_conns;
}

const struct ed_conn_limits *ed_conn_set_limits(const ed_conn_set *s)
{
    return &s->lim;
}

void ed_conn_set_limits_set(ed_conn_set *s, const struct ed_conn_limits *l)
{
    s->lim = *l;
    for (ed_conn *c = s->conns; c; c = c->next)
        ed_conn_update(c);
}

void ed_conn_set_stats(const ed_conn_set *s, struct ed_conn_stats *out)
{
    *out = s->stats;
}

/* ---- one connection ---- */

void *ed_conn_data(ed_conn *c)
{
    return c->data;
}

ed_conn *ed_conn_of(void *d)
{
    return (ed_conn *)(void *)((unsigned char *)d - offsetof(ed_conn, data));
}

void *ed_conn_arg(const ed_conn *c)
{
    return c->set->arg;
}

const char *ed_conn_peer(const ed_conn *c)
{
    return c->peer;
}

const char *ed_conn_listener(const ed_conn *c)
{
    return c->listener;
}

bool ed_conn_sasl_required(const ed_conn *c)
{
    return c->sasl;
}

const char *ed_conn_principal(const ed_conn *c)
{
    return c->stream ? ed_plat_stream_principal(c->stream) : NULL;
}

bool ed_conn_closing(const ed_conn *c)
{
    return c->closing;
}

uint64_t ed_conn_now_ms(const ed_conn *c)
{
    return now_ms(c->set);
}

bool ed_conn_paused(const ed_conn *c)
{
    return c->paused;
}

uint64_t ed_conn_resumed_ms(const ed_conn *c)
{
    return c->resumed_ms;
}
