/* Kafka connections: framing, header decode, dispatch, in-order responses,
 * backpressure, limits and idle timeouts (see server.h).
 *
 * Life of a request: its frame is copied (small) or read directly (large)
 * into a buffer it owns, it joins the connection's queue in arrival order,
 * the handler runs; the response goes out when it is done and every earlier
 * one has gone. Closing a connection closes its socket at once but frees
 * its requests later, from a zero-delay timer ("reap"), so a close that
 * happens deep inside a handler or a completion never frees memory that a
 * caller up the stack still uses; pending requests are cancelled there. */
#define ED_LOG_MODULE "server"
#include "core/server.h"
#include "core/kapi.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#define RBUF_LEN        16384
#define MAX_IOV         64
#define READS_PER_EVENT 8

enum sreq_state { S_DISPATCHING, S_PENDING, S_DONE, S_DROP };

struct sreq {
    ed_kreq req; /* first member: ed_kreq * <-> struct sreq * */
    ed_conn *conn;
    struct sreq *next;
    uint8_t *frame; /* the request bytes (after the size prefix), just after */
    size_t frame_len;
    int state;
    bool early; /* completed while the handler was still running */
    /* send progress of the response */
    size_t mem_pos;
    int si;
    size_t s_sent;
};

struct ed_conn {
    ed_server *srv;
    ed_stream *stream; /* NULL: detached */
    ed_conn *prev, *next;
    uint8_t *rbuf;
    size_t rlen;
    struct sreq *big; /* a large frame being read straight into its buffer */
    size_t big_have;
    struct sreq *head, *tail;
    int32_t n_inflight;
    size_t out_len; /* response bytes done and not yet sent */
    size_t in_len;  /* request bytes held by open requests */
    bool paused;
    bool closing;
    bool want_write;
    uint64_t last_active_ms;
    char peer[64];
    /* detached only */
    ed_kwr capture;
    bool discard;
};

struct ed_server {
    ed_broker *b;
    struct ed_server_limits lim;
    ed_listener *listeners[ED_CONFIG_MAX_LISTENERS];
    int n_listeners;
    ed_conn *conns; /* open connections */
    ed_conn *dead;  /* closed, to reap */
    int32_t n_conns;
    ed_timer reap_timer;
    ed_timer idle_timer;
    struct ed_server_stats stats;
};

static void conn_flush(ed_conn *c);
static void conn_update_read(ed_conn *c);

/* ---- closing and reaping ---- */

static void on_reap(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_server_reap(arg);
}

static void sreq_free(struct sreq *r)
{
    ed_kwr_free(&r->req.out);
    ed_free(r);
}

void ed_server_conn_close(ed_conn *c, const char *reason)
{
    if (c->closing) return;
    ed_server *s = c->srv;
    if (reason) ED_LOG_DBG("closing %s: %s", c->peer, reason);
    c->closing = true;
    if (c->stream) {
        ed_plat_stream_close(c->stream);
        c->stream = NULL;
    }
    /* unlink from the open list, push on the dead list */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = NULL;
    c->next = s->dead;
    s->dead = c;
    s->n_conns--;
    if (s->b->loop && !ed_plat_timer_armed(&s->reap_timer))
        ed_plat_timer_start(s->b->loop, &s->reap_timer, 0, on_reap, s);
}

static void close_warn(ed_conn *c, const char *what)
{
    ED_LOG_WARN_RL("closing connection from %s: %s", c->peer, what);
    c->srv->stats.n_bad++;
    /* Answers to the requests before the bad one still go out if the
     * socket takes them now (best effort, as Kafka). */
    conn_flush(c);
    ed_server_conn_close(c, NULL);
}

static void conn_free(ed_conn *c)
{
    /* Cancel first (handlers drop their references), then free. */
    for (struct sreq *r = c->head; r; r = r->next)
        if (r->state == S_PENDING && r->req.cancel) r->req.cancel(&r->req);
    struct sreq *r = c->head;
    while (r) {
        struct sreq *n = r->next;
        sreq_free(r);
        r = n;
    }
    if (c->big) sreq_free(c->big);
    ed_kwr_free(&c->capture);
    ed_free(c->rbuf);
    ed_free(c);
}

void ed_server_reap(ed_server *s)
{
    while (s->dead) {
        ed_conn *c = s->dead;
        s->dead = c->next;
        conn_free(c);
    }
}

/* ---- output ---- */

static bool resp_done(const struct sreq *r)
{
    return r->mem_pos == r->req.out.len && r->si == r->req.out.n_splices;
}

static void pop_head(ed_conn *c)
{
    struct sreq *r = c->head;
    c->head = r->next;
    if (!c->head) c->tail = NULL;
    c->n_inflight--;
    c->in_len -= r->frame_len;
    sreq_free(r);
}

/* Writes to the stream (or capture): returns bytes taken, or -1 on close. */
static int64_t out_writev(ed_conn *c, const struct ed_iovec *iov, int n)
{
    if (c->stream) {
        size_t k;
        if (ed_plat_stream_writev(c->stream, iov, n, &k) != ED_OK) return -1;
        return (int64_t)k;
    }
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (!c->discard) ed_kwr_raw(&c->capture, iov[i].base, iov[i].len);
        k += iov[i].len;
    }
    return (int64_t)k;
}

static int64_t out_slice(ed_conn *c, const struct ed_log_slice *sl, size_t off)
{
    size_t len = sl->len - off;
    if (c->stream) {
        size_t k;
        if (ed_plat_stream_sendfile(c->stream, sl->file, sl->pos + off, len, &k) != ED_OK)
            return -1;
        return (int64_t)k;
    }
    if (c->discard) return (int64_t)len;
    uint8_t *tmp = ed_malloc(sl->len);
    if (!tmp) return -1;
    int rc = ed_log_slice_copy(sl, tmp, sl->len);
    if (rc == ED_OK) ed_kwr_raw(&c->capture, tmp + off, len);
    ed_free(tmp);
    return rc == ED_OK ? (int64_t)len : -1;
}

/* Sends as much of the done responses at the head as the socket takes:
 * consecutive memory parts of several responses go in one gather write;
 * a file slice goes by sendfile. */
static void conn_flush(ed_conn *c)
{
    if (c->closing) return;
    for (;;) {
        while (c->head && c->head->state == S_DROP)
            pop_head(c);
        struct sreq *h = c->head;
        if (!h || h->state != S_DONE) break;
        const ed_kwr *w = &h->req.out;
        if (h->si < w->n_splices && h->mem_pos == w->splices[h->si].at) {
            const struct ed_log_slice *sl = &w->splices[h->si].slice;
            int64_t k = sl->len > h->s_sent ? out_slice(c, sl, h->s_sent) : 0;
            if (k < 0) {
                ed_server_conn_close(c, "send failed");
                return;
            }
            h->s_sent += (size_t)k;
            c->out_len -= (size_t)k;
            if (h->s_sent < sl->len) break; /* socket full */
            h->si++;
            h->s_sent = 0;
            if (resp_done(h)) pop_head(c);
            continue;
        }
        /* gather memory parts */
        struct ed_iovec iov[MAX_IOV];
        struct sreq *owners[MAX_IOV];
        int n = 0;
        for (struct sreq *r = h; r && n < MAX_IOV; r = r->next) {
            if (r->state == S_DROP) continue;
            if (r->state != S_DONE) break;
            const ed_kwr *rw = &r->req.out;
            size_t end = r->si < rw->n_splices ? rw->splices[r->si].at : rw->len;
            if (r->si < rw->n_splices && r->mem_pos == end) break; /* splice next */
            iov[n].base = rw->buf + r->mem_pos;
            iov[n].len = end - r->mem_pos;
            owners[n++] = r;
            if (end != rw->len || r->si < rw->n_splices) break;
        }
        if (n == 0) break;
        int64_t k = out_writev(c, iov, n);
        if (k < 0) {
            ed_server_conn_close(c, "send failed");
            return;
        }
        size_t left = (size_t)k;
        c->out_len -= left;
        for (int i = 0; i < n && left > 0; i++) {
            size_t take = ED_MIN(left, iov[i].len);
            owners[i]->mem_pos += take;
            left -= take;
        }
        while (c->head &&
               (c->head->state == S_DROP || (c->head->state == S_DONE && resp_done(c->head))))
            pop_head(c);
        if ((size_t)k == 0) break;
        size_t want = 0;
        for (int i = 0; i < n; i++)
            want += iov[i].len;
        if ((size_t)k < want) break; /* socket full */
    }
    if (c->closing) return;
    bool pending_out = c->head && c->head->state == S_DONE;
    if (c->stream && pending_out != c->want_write) {
        c->want_write = pending_out;
        ed_plat_stream_want_write(c->stream, pending_out);
    }
    if (c->stream) c->last_active_ms = ed_plat_loop_now_ms(c->srv->b->loop);
    conn_update_read(c);
}

/* ---- requests ---- */

/* Patches the size prefix and accounts the response as ready to send. */
static void finish(struct sreq *r)
{
    ed_conn *c = r->conn;
    ed_kwr *w = &r->req.out;
    if (!ed_kwr_ok(w)) {
        ED_LOG_ERR_RL("%s v%d response to %s failed: %s", ed_kapi_table[r->req.api_key].name,
                      r->req.api_version, c->peer, ed_strerror(w->err));
        r->state = S_DROP;
        ed_server_conn_close(c, NULL);
        return;
    }
    size_t total = ed_kwr_total_len(w);
    if (total - 4 > INT32_MAX) {
        ED_LOG_ERR_RL("response to %s too large (%zu bytes)", c->peer, total);
        r->state = S_DROP;
        ed_server_conn_close(c, NULL);
        return;
    }
    ed_kwr_patch_i32(w, 0, (int32_t)(total - 4));
    r->state = S_DONE;
    c->out_len += total;
}

void ed_kreq_complete(ed_kreq *req)
{
    struct sreq *r = (struct sreq *)req;
    if (r->state == S_DISPATCHING) {
        r->early = true;
        return;
    }
    if (r->state != S_PENDING) return;
    if (r->conn->closing) {
        r->state = S_DONE;
        return;
    }
    finish(r);
    conn_flush(r->conn);
}

void ed_kreq_drop(ed_kreq *req)
{
    struct sreq *r = (struct sreq *)req;
    if (r->state == S_DISPATCHING) {
        r->state = S_DROP;
        return;
    }
    if (r->state != S_PENDING) return;
    r->state = S_DROP;
    if (!r->conn->closing) conn_flush(r->conn);
}

static void enqueue(ed_conn *c, struct sreq *r)
{
    r->conn = c;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->n_inflight++;
    c->in_len += r->frame_len;
}

/* One allocation: the request's state followed by its frame bytes. */
static struct sreq *sreq_new(size_t frame_len)
{
    struct sreq *r = ed_malloc(sizeof *r + frame_len);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->frame = (uint8_t *)(r + 1);
    r->frame_len = frame_len;
    return r;
}

/* Decodes the header of r's frame and runs the handler. r is already in
 * the connection's queue. */
static void dispatch(ed_conn *c, struct sreq *r)
{
    ed_kreq *q = &r->req;
    ed_krd hd;
    ed_krd_init(&hd, r->frame, r->frame_len);
    q->api_key = ed_krd_i16(&hd);
    q->api_version = ed_krd_i16(&hd);
    q->correlation_id = ed_krd_i32(&hd);
    q->broker = c->srv->b;
    q->peer = c->peer;
    c->srv->stats.n_requests++;
    r->state = S_DISPATCHING;
    if (!ed_krd_ok(&hd)) {
        r->state = S_DROP;
        close_warn(c, "request shorter than its header");
        return;
    }
    const struct ed_kapi_entry *e =
        q->api_key >= 0 && q->api_key < ED_KAPI_N_KEYS ? &ed_kapi_table[q->api_key] : NULL;
    if (!e || !e->fn) {
        char why[64];
        snprintf(why, sizeof why, "unknown API key %d", q->api_key);
        r->state = S_DROP;
        close_warn(c, why);
        return;
    }
    bool is_versions = q->api_key == ED_KAPI_API_VERSIONS;
    bool in_range = q->api_version >= e->min_version && q->api_version <= e->max_version;
    if (!in_range && !is_versions) {
        char why[96];
        snprintf(why, sizeof why, "%s v%d not supported (%d..%d)", e->name, q->api_version,
                 e->min_version, e->max_version);
        r->state = S_DROP;
        close_warn(c, why);
        return;
    }
    /* ApiVersions above our range: its header is v2 from v3 on (KIP-511). */
    q->flex = e->flex_from >= 0 && q->api_version >= e->flex_from;
    q->client_id = ed_krd_str(&hd, false);
    ed_krd_tags(&hd, q->flex);
    if (!ed_krd_ok(&hd) && !(is_versions && !in_range)) {
        r->state = S_DROP;
        close_warn(c, "malformed request header");
        return;
    }
    q->rd = hd;
    ed_kwr_init(&q->out, ED_KAPI_RESPONSE_MAX);
    ed_kwr_reserve_i32(&q->out);
    ed_kwr_i32(&q->out, q->correlation_id);
    if (q->flex && !is_versions) ed_kwr_tags(&q->out, true);
    int st = e->fn(q);
    switch (st) {
    case ED_KAPI_RESPOND:
        finish(r);
        break;
    case ED_KAPI_PENDING:
        if (r->state == S_DROP) break;
        if (r->early) {
            finish(r);
            break;
        }
        /* A pending request must be cancellable: the connection may close. */
        ED_ASSERT(q->cancel != NULL);
        r->state = S_PENDING;
        break;
    case ED_KAPI_NO_RESPONSE:
        r->state = S_DROP;
        break;
    case ED_KAPI_CLOSE:
    default: {
        char why[96];
        snprintf(why, sizeof why, "malformed %s v%d request", e->name, q->api_version);
        r->state = S_DROP;
        close_warn(c, why);
        break;
    }
    }
}

/* ---- input ---- */

static void conn_update_read(ed_conn *c)
{
    const struct ed_server_limits *l = &c->srv->lim;
    bool pause = c->out_len > l->out_ceiling_len || c->n_inflight >= l->n_inflight_max ||
                 c->in_len > l->request_max_len;
    if (pause == c->paused) return;
    c->paused = pause;
    if (pause) c->srv->stats.n_pauses++;
    if (c->stream) ed_plat_stream_want_read(c->stream, !pause);
}

/* Takes a complete frame (or the start of one) out of the read buffer. */
static void take_frames(ed_conn *c)
{
    size_t pos = 0;
    while (!c->closing && c->rlen - pos >= 4) {
        int32_t size = (int32_t)ed_get_be32(c->rbuf + pos);
        if (size <= 0 || (size_t)size > c->srv->lim.request_max_len) {
            char why[96];
            snprintf(why, sizeof why, "request frame of %d bytes (limit %zu)", size,
                     c->srv->lim.request_max_len);
            close_warn(c, why);
            return;
        }
        size_t have = c->rlen - pos - 4;
        struct sreq *r = sreq_new((size_t)size);
        if (!r) {
            close_warn(c, "out of memory for a request");
            return;
        }
        if (have >= (size_t)size) {
            memcpy(r->frame, c->rbuf + pos + 4, (size_t)size);
            pos += 4 + (size_t)size;
            enqueue(c, r);
            dispatch(c, r);
            continue;
        }
        /* Incomplete: the rest is read straight into the request's buffer. */
        memcpy(r->frame, c->rbuf + pos + 4, have);
        c->big = r;
        c->big_have = have;
        pos = c->rlen;
        break;
    }
    if (pos > 0 && pos < c->rlen) memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= ED_MIN(pos, c->rlen);
}

static void big_complete(ed_conn *c)
{
    struct sreq *r = c->big;
    c->big = NULL;
    c->big_have = 0;
    enqueue(c, r);
    dispatch(c, r);
}

/* Consumes bytes read from the peer (socket or feed). */
static void conn_input(ed_conn *c, const uint8_t *p, size_t n)
{
    while (n > 0 && !c->closing) {
        if (c->big) {
            size_t k = ED_MIN(n, c->big->frame_len - c->big_have);
            memcpy(c->big->frame + c->big_have, p, k);
            c->big_have += k;
            p += k;
            n -= k;
            if (c->big_have == c->big->frame_len) big_complete(c);
            continue;
        }
        size_t k = ED_MIN(n, RBUF_LEN - c->rlen);
        memcpy(c->rbuf + c->rlen, p, k);
        c->rlen += k;
        p += k;
        n -= k;
        take_frames(c);
    }
}

static void on_readable(void *arg)
{
    ed_conn *c = arg;
    for (int i = 0; i < READS_PER_EVENT && !c->closing && !c->paused; i++) {
        size_t n;
        int rc;
        if (c->big) {
            /* Read a large frame in place: no copy through the buffer. */
            rc = ed_plat_stream_read(c->stream, c->big->frame + c->big_have,
                                     c->big->frame_len - c->big_have, &n);
            if (rc == ED_OK) {
                c->big_have += n;
                if (c->big_have == c->big->frame_len) big_complete(c);
            }
        } else {
            rc = ed_plat_stream_read(c->stream, c->rbuf + c->rlen, RBUF_LEN - c->rlen, &n);
            if (rc == ED_OK) {
                c->rlen += n;
                take_frames(c);
            }
        }
        if (rc == ED_ERR_AGAIN) break;
        if (rc != ED_OK) {
            ed_server_conn_close(c, "closed by peer");
            return;
        }
        if (c->stream) c->last_active_ms = ed_plat_loop_now_ms(c->srv->b->loop);
    }
    if (!c->closing) conn_flush(c);
}

static void on_writable(void *arg)
{
    conn_flush(arg);
}

/* ---- connections ---- */

static ed_conn *conn_new(ed_server *s)
{
    ed_conn *c = ed_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->rbuf = ed_malloc(RBUF_LEN);
    if (!c->rbuf) {
        ed_free(c);
        return NULL;
    }
    c->srv = s;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    c->last_active_ms = s->b->loop ? ed_plat_loop_now_ms(s->b->loop) : 0;
    return c;
}

static void on_accept(void *arg, ed_stream *st)
{
    ed_server *s = arg;
    if (s->n_conns >= s->lim.n_conns_max) {
        ED_LOG_WARN_RL("refusing connection from %s: max.connections (%d) reached",
                       ed_plat_stream_peer(st), (int)s->lim.n_conns_max);
        s->stats.n_refused++;
        ed_plat_stream_close(st);
        return;
    }
    ed_conn *c = conn_new(s);
    if (!c) {
        ED_LOG_WARN_RL("refusing connection from %s: out of memory", ed_plat_stream_peer(st));
        s->stats.n_refused++;
        ed_plat_stream_close(st);
        return;
    }
    s->stats.n_accepted++;
    c->stream = st;
    snprintf(c->peer, sizeof c->peer, "%s", ed_plat_stream_peer(st));
    ED_LOG_DBG("connection from %s", c->peer);
    struct ed_stream_cbs cbs = {on_readable, on_writable};
    ed_plat_stream_set_cbs(st, &cbs, c);
}

static void on_idle(ed_timer *t, void *arg)
{
    ed_server *s = arg;
    uint64_t now = ed_plat_loop_now_ms(s->b->loop);
    ed_conn *c = s->conns;
    while (c) {
        ed_conn *n = c->next;
        if (c->stream && c->n_inflight == 0 && !c->big && c->rlen == 0 &&
            now - c->last_active_ms >= (uint64_t)s->lim.idle_ms) {
            ED_LOG_INFO("closing %s: idle for %lld ms", c->peer, (long long)s->lim.idle_ms);
            s->stats.n_idle++;
            ed_server_conn_close(c, NULL);
        }
        c = n;
    }
    uint64_t period = (uint64_t)s->lim.idle_ms / 10;
    ed_plat_timer_start(s->b->loop, t, (uint32_t)ED_MAX(100, ED_MIN(period, 10000)), on_idle, s);
}

int ed_server_new(ed_broker *b, ed_server **out)
{
    ed_server *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    s->b = b;
    s->lim.request_max_len = 16u << 20;
    s->lim.n_conns_max = 512;
    s->lim.idle_ms = 600000;
    s->lim.out_ceiling_len = 4u << 20;
    s->lim.n_inflight_max = 128;
    if (b->cfg) {
        s->lim.request_max_len = (size_t)ed_config_int(b->cfg, "socket.request.max.bytes");
        s->lim.n_conns_max = (int32_t)ed_config_int(b->cfg, "max.connections");
        s->lim.idle_ms = ed_config_int(b->cfg, "connections.max.idle.ms");
    }
    if (b->loop && s->lim.idle_ms > 0) on_idle(&s->idle_timer, s);
    *out = s;
    return ED_OK;
}

int ed_server_listen(ed_server *s, const char *host, uint16_t port, uint16_t *bound)
{
    if (s->n_listeners == ED_CONFIG_MAX_LISTENERS) return ED_ERR_TOOBIG;
    ed_listener *ls;
    int rc = ed_plat_tcp_listen(s->b->loop, host, port, on_accept, s, &ls);
    if (rc != ED_OK) return rc;
    s->listeners[s->n_listeners++] = ls;
    if (bound) *bound = ed_plat_listener_port(ls);
    return ED_OK;
}

void ed_server_stop_accepting(ed_server *s)
{
    for (int i = 0; i < s->n_listeners; i++)
        ed_plat_listener_close(s->listeners[i]);
    s->n_listeners = 0;
}

void ed_server_close_all(ed_server *s)
{
    while (s->conns)
        ed_server_conn_close(s->conns, "shutting down");
}

void ed_server_free(ed_server *s)
{
    if (!s) return;
    ed_server_stop_accepting(s);
    ed_server_close_all(s);
    ed_server_reap(s);
    if (s->b->loop) {
        ed_plat_timer_stop(s->b->loop, &s->reap_timer);
        ed_plat_timer_stop(s->b->loop, &s->idle_timer);
    }
    ed_free(s);
}

int32_t ed_server_n_conns(const ed_server *s)
{
    return s->n_conns;
}

const struct ed_server_limits *ed_server_limits_get(const ed_server *s)
{
    return &s->lim;
}

/* ---- detached connections ---- */

int ed_server_conn_detached(ed_server *s, size_t capture_max, ed_conn **out)
{
    ed_conn *c = conn_new(s);
    if (!c) return ED_ERR_NOMEM;
    snprintf(c->peer, sizeof c->peer, "detached");
    ed_kwr_init(&c->capture, capture_max);
    c->discard = capture_max == 0;
    *out = c;
    return ED_OK;
}

int ed_server_conn_feed(ed_conn *c, const void *buf, size_t len)
{
    if (c->closing) return ED_ERR_CLOSED;
    conn_input(c, buf, len);
    if (!c->closing) conn_flush(c);
    return c->closing ? ED_ERR_CLOSED : ED_OK;
}

const uint8_t *ed_server_conn_output(ed_conn *c, size_t *len)
{
    *len = c->capture.len;
    return c->capture.buf;
}

void ed_server_conn_output_clear(ed_conn *c)
{
    ed_kwr_reset(&c->capture);
}

bool ed_server_conn_paused(const ed_conn *c)
{
    return c->paused;
}

void ed_server_limits_set(ed_server *s, const struct ed_server_limits *l)
{
    s->lim = *l;
    for (ed_conn *c = s->conns; c; c = c->next)
        conn_update_read(c);
}

void ed_server_stats_get(const ed_server *s, struct ed_server_stats *out)
{
    *out = s->stats;
}
