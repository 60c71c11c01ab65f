/* The connection engine (see conn.h): connection sets, their listeners
 * and accepting under the connection limits, the timeouts' scan, closing
 * and reaping, and one connection's accessors. Reading is conn_in.c, output
 * conn_out.c, the memory budget conn_budget.c (shared structures in
 * conn_int.h).
 *
 * Closing closes the stream at once; the connection moves to the dead list
 * and is freed from a zero-delay timer ("reap") once the protocol allows
 * it, so a close deep inside a handler or a completion never frees memory a
 * caller up the stack still uses. */
#define ED_LOG_MODULE "conn"
#include "core/conn_int.h"
#include "core/metrics.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

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
    ed_conn_budget_release(s->budget, c->charged);
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
    ed_conn_budget_unwait(c);
    ed_conn_in_unkick(c);
    ed_conn_budget_release(s->budget, c->charged); /* the unfinished frame's charge */
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
    struct ed_stream_cbs cbs = {ed_conn_in_on_readable, on_writable};
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
