/* Kafka connections on the connection engine (core/conn.h): framing by the
 * size prefix, header decode, dispatch through ed_kapi_table, responses in
 * request order, and the Kafka-specific reading ceilings (requests open,
 * request bytes held).
 *
 * Life of a request: the engine hands over its whole frame, which the
 * request keeps (large frames without a copy); it joins the connection's
 * output queue in arrival order, the handler runs; the response goes out
 * when it is done and every earlier one has gone. A connection closed while
 * requests are pending cancels them when it is freed (the engine frees
 * connections from a timer, never inside a handler). */
#define ED_LOG_MODULE "server"
#include "core/kafka/server.h"
#include "core/conn.h"
#include "core/metrics.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_data.h"
#include "core/kafka/kapi_sasl.h"
#include "core/kafka/msg_gen.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

enum sreq_state { S_DISPATCHING, S_PENDING, S_DONE, S_DROP };

struct sreq {
    ed_kreq req; /* first member: ed_kreq * <-> struct sreq * */
    ed_conn *conn;
    struct ed_conn_out out;
    uint8_t *frame; /* the whole frame, size prefix included */
    size_t frame_len;
    int state;
    bool early; /* completed while the handler was still running */
};

/* Per-connection Kafka state (the engine's connection data). */
struct kconn {
    int32_t n_inflight;
    size_t in_len;        /* request bytes held by open requests */
    bool auth_ready;      /* auth initialised (at the first frame) */
    struct ed_kauth auth; /* SASL state and principal */
};

struct ed_server {
    ed_broker *b;
    struct ed_server_limits lim;
    ed_conn_set *set;
    uint64_t n_requests;
};

/* ---- requests ---- */

static ed_server *srv_of(ed_conn *c)
{
    return ed_conn_arg(c);
}

static struct kconn *kc_of(ed_conn *c)
{
    return ed_conn_data(c);
}

static void sreq_free(struct sreq *r)
{
    ed_kreq_release(&r->req);
    ed_kwr_free(&r->req.out);
    ed_conn_frame_free(r->conn, r->frame, r->frame_len);
    ed_free(r);
}

/* The engine is done with r's output: sent, or the connection is gone. */
static void sreq_release(struct ed_conn_out *o, bool sent)
{
    ED_UNUSED(sent);
    struct sreq *r = (struct sreq *)(void *)((char *)o - offsetof(struct sreq, out));
    ed_conn *c = r->conn;
    struct kconn *k = kc_of(c);
    k->n_inflight--;
    k->in_len -= r->frame_len;
    sreq_free(r);
    if (!ed_conn_closing(c)) ed_conn_update(c);
}

/* Patches the size prefix and hands the response to the engine. */
static void finish(struct sreq *r)
{
    ed_conn *c = r->conn;
    ed_kwr *w = &r->req.out;
    size_t total = ed_kwr_total_len(w);
    if (!ed_kwr_ok(w) || total - 4 > INT32_MAX) {
        if (!ed_kwr_ok(w))
            ED_LOG_ERR_RL("%s v%d response to %s failed: %s", ed_kapi_table[r->req.api_key].name,
                          r->req.api_version, ed_conn_peer(c), ed_strerror(w->err));
        else
            ED_LOG_ERR_RL("response to %s too large (%zu bytes)", ed_conn_peer(c), total);
        r->state = S_DROP;
        ed_conn_out_ready(c, &r->out); /* nothing to send */
        ed_conn_close(c, NULL);
        return;
    }
    ed_kwr_patch_i32(w, 0, (int32_t)(total - 4));
    r->state = S_DONE;
    r->out.buf = w->buf;
    r->out.len = w->len;
    r->out.splices = w->splices;
    r->out.n_splices = w->n_splices;
    ed_conn_out_ready(c, &r->out); /* may free r */
}

/* A request that sends nothing: its place in the queue is given up. */
static void drop(struct sreq *r)
{
    r->state = S_DROP;
    ed_conn_out_ready(r->conn, &r->out); /* may free r */
}

void ed_kreq_complete(ed_kreq *req)
{
    struct sreq *r = (struct sreq *)req;
    if (r->state == S_DISPATCHING) {
        r->early = true;
        return;
    }
    if (r->state != S_PENDING) return;
    if (ed_conn_closing(r->conn)) {
        r->state = S_DONE;
        return;
    }
    finish(r);
}

void ed_kreq_drop(ed_kreq *req)
{
    struct sreq *r = (struct sreq *)req;
    if (r->state == S_DISPATCHING) {
        r->state = S_DROP;
        return;
    }
    if (r->state != S_PENDING) return;
    if (ed_conn_closing(r->conn)) {
        r->state = S_DROP;
        return;
    }
    drop(r);
}

/* Decodes the header of r's frame and runs the handler (which decodes the
 * body through the schema first: ed_kapi_serve). r is already in
 * the connection's output queue. */
static void dispatch(ed_conn *c, struct sreq *r)
{
    ed_kreq *q = &r->req;
    ed_krd hd;
    ed_krd_init(&hd, r->frame + 4, r->frame_len - 4);
    q->api_key = ed_krd_i16(&hd);
    q->api_version = ed_krd_i16(&hd);
    q->correlation_id = ed_krd_i32(&hd);
    q->broker = srv_of(c)->b;
    q->peer = ed_conn_peer(c);
    q->listener = ed_conn_listener(c);
    q->auth = &kc_of(c)->auth;
    srv_of(c)->n_requests++;
    r->state = S_DISPATCHING;
    if (!ed_krd_ok(&hd)) {
        r->state = S_DROP;
        ed_conn_close_bad(c, "request shorter than its header");
        return;
    }
    const struct ed_kapi_entry *e =
        q->api_key >= 0 && q->api_key < ED_KAPI_N_KEYS ? &ed_kapi_table[q->api_key] : NULL;
    if (!e || !e->fn) {
        char why[64];
        snprintf(why, sizeof why, "unknown API key %d", q->api_key);
        r->state = S_DROP;
        ed_conn_close_bad(c, why);
        return;
    }
    const char *denied = NULL;
    if (!ed_kauth_allows(q->auth, q->api_key, ed_plat_clock_mono_ms(), &denied)) {
        char why[128];
        snprintf(why, sizeof why, "%s (%s v%d)", denied, e->name, q->api_version);
        r->state = S_DROP;
        ed_conn_close_bad(c, why);
        return;
    }
    bool is_versions = q->api_key == ED_KAPI_API_VERSIONS;
    bool in_range = q->api_version >= e->min_version && q->api_version <= e->max_version;
    if (!in_range && !is_versions) {
        char why[96];
        snprintf(why, sizeof why, "%s v%d not supported (%d..%d)", e->name, q->api_version,
                 e->min_version, e->max_version);
        r->state = S_DROP;
        ed_conn_close_bad(c, why);
        return;
    }
    /* ApiVersions above our range: its header is v2 from v3 on (KIP-511). */
    q->flex = e->flex_from >= 0 && q->api_version >= e->flex_from;
    q->client_id = ed_krd_str(&hd, false);
    ed_krd_tags(&hd, q->flex);
    if (!ed_krd_ok(&hd) && !(is_versions && !in_range)) {
        r->state = S_DROP;
        ed_conn_close_bad(c, "malformed request header");
        return;
    }
    q->rd = hd;
    ed_kwr_init(&q->out, ED_KAPI_RESPONSE_MAX);
    ed_kwr_reserve_i32(&q->out);
    ed_kwr_i32(&q->out, q->correlation_id);
    if (q->flex && !is_versions) ed_kwr_tags(&q->out, true);
    q->n_open = kc_of(c)->n_inflight;
    int st = ed_kapi_serve(q);
    ed_metrics_request(ED_METRICS_KAFKA, q->api_key, st == ED_KAPI_CLOSE);
    bool close_after = q->auth->close_after;
    switch (st) {
    case ED_KAPI_RESPOND:
        finish(r);
        break;
    case ED_KAPI_PENDING:
        if (r->state == S_DROP) {
            drop(r);
            break;
        }
        if (r->early) {
            finish(r);
            break;
        }
        /* A pending request must be cancellable: the connection may close. */
        ED_ASSERT(q->cancel != NULL);
        r->state = S_PENDING;
        break;
    case ED_KAPI_NO_RESPONSE:
        drop(r);
        break;
    case ED_KAPI_CLOSE:
    default: {
        char why[96];
        snprintf(why, sizeof why, "malformed %s v%d request", e->name, q->api_version);
        r->state = S_DROP;
        ed_conn_close_bad(c, why);
        return;
    }
    }
    /* A refused SASL exchange: the answer goes out, then the connection
     * closes (as Kafka does). */
    if (close_after && !ed_conn_closing(c)) ed_conn_close_bad(c, "SASL authentication refused");
}

/* A raw SASL token after SaslHandshake v0, framed by its size alone; the
 * answer token is framed the same way. A refusal closes the connection
 * without an answer (as Kafka does). */
static void raw_token(ed_conn *c, struct sreq *r)
{
    struct kconn *k = kc_of(c);
    ed_kreq *q = &r->req;
    q->api_key = ED_KMSG_SASL_AUTHENTICATE; /* for log lines */
    r->state = S_DISPATCHING;
    ed_kwr_init(&q->out, ED_KAPI_RESPONSE_MAX);
    ed_kwr_reserve_i32(&q->out);
    enum ed_sasl_status st = ed_kauth_raw_token(&k->auth, srv_of(c)->b, ed_conn_peer(c),
                                                r->frame + 4, r->frame_len - 4, &q->out);
    if (st == ED_SASL_FAILED) {
        drop(r);
        ed_conn_close_bad(c, "SASL authentication refused");
        return;
    }
    finish(r);
}

/* ---- the engine's callbacks ---- */

static int frame_len(ed_conn *c, const uint8_t *p, size_t n, size_t *len, char *why, size_t why_len)
{
    if (n < 4) return ED_ERR_AGAIN;
    int32_t size = (int32_t)ed_get_be32(p);
    size_t max = srv_of(c)->lim.request_max_len;
    if (size <= 0 || (size_t)size > max) {
        snprintf(why, why_len, "request frame of %d bytes (limit %zu)", size, max);
        return ED_ERR_PROTO;
    }
    *len = 4 + (size_t)size;
    return ED_OK;
}

/* The principal's name for a client certificate's subject through the
 * listener's ssl.principal.mapping.rules (Kafka's), into name. false: no
 * rule gives a name, and the connection is closed (as Kafka refuses it). */
static bool cert_name(ed_conn *c, const char *subject, char *name, size_t name_len)
{
    const ed_sslmap *m = ed_broker_sslmap(srv_of(c)->b, ed_conn_listener(c));
    int rc = m                            ? ed_sslmap_apply(m, subject, name, name_len)
             : strlen(subject) < name_len ? ED_OK
                                          : ED_ERR_TOOBIG;
    if (!m && rc == ED_OK) memcpy(name, subject, strlen(subject) + 1);
    if (rc == ED_OK) return true;
    char why[ED_SSLMAP_MAX_SUBJECT + 128];
    snprintf(why, sizeof why, "client certificate %s: %s", subject,
             rc == ED_ERR_NOENT  ? "no ssl.principal.mapping.rules rule applies"
             : rc == ED_ERR_BUSY ? "ssl.principal.mapping.rules took too many steps"
                                 : "the principal's name would be too long");
    ed_conn_close_bad(c, why);
    return false;
}

static bool can_take(ed_conn *c)
{
    const struct kconn *k = kc_of(c);
    const struct ed_server_limits *l = &srv_of(c)->lim;
    return k->n_inflight < l->n_inflight_max && k->in_len <= l->request_max_len;
}

/* The connection is read no more until answers go out: its open requests
 * are all the client can have waiting, so they are urged (ed_kreq.urge).
 * Every item of a Kafka connection's output queue is a request's. */
static void urge_open(ed_conn *c)
{
    for (struct ed_conn_out *o = ed_conn_out_head(c); o; o = o->next) {
        struct sreq *r = (struct sreq *)(void *)((char *)o - offsetof(struct sreq, out));
        if (r->state == S_PENDING && r->req.urge) r->req.urge(&r->req);
    }
}

static void on_frame(ed_conn *c, struct ed_conn_frame *f)
{
    struct kconn *k = kc_of(c);
    char cert[ED_KAUTH_PRINCIPAL_MAX];
    const char *subject = k->auth_ready ? NULL : ed_conn_principal(c);
    if (subject && *subject && !cert_name(c, subject, cert, sizeof cert - 5)) return;
    struct sreq *r = ed_calloc(1, sizeof *r);
    uint8_t *frame = r ? ed_conn_frame_keep(c, f) : NULL;
    if (!frame) {
        ed_free(r);
        ed_conn_close_bad(c, "out of memory for a request");
        return;
    }
    r->conn = c;
    r->frame = frame;
    r->frame_len = f->len;
    r->out.release = sreq_release;
    k->n_inflight++;
    k->in_len += f->len;
    if (!k->auth_ready) {
        ed_kauth_init(&k->auth, ed_conn_sasl_required(c), subject && *subject ? cert : NULL);
        k->auth_ready = true;
    }
    ed_conn_out_queue(c, &r->out);
    if (k->auth.raw)
        raw_token(c, r);
    else
        dispatch(c, r);
    if (!ed_conn_closing(c) && !can_take(c)) urge_open(c);
}

static bool is_idle(ed_conn *c)
{
    return kc_of(c)->n_inflight == 0;
}

/* Pending requests are cancelled before the engine releases them (the
 * handlers drop their references first). */
static void on_free(ed_conn *c)
{
    if (kc_of(c)->auth_ready) ed_kauth_fini(&kc_of(c)->auth);
    for (struct ed_conn_out *o = ed_conn_out_head(c); o; o = o->next) {
        struct sreq *r = (struct sreq *)(void *)((char *)o - offsetof(struct sreq, out));
        if (r->state == S_PENDING && r->req.cancel) r->req.cancel(&r->req);
    }
}

static const struct ed_conn_proto kafka_proto = {
    .name = "Kafka",
    .limit_key = "max.connections",
    .data_len = sizeof(struct kconn),
    .frame_len = frame_len,
    .on_frame = on_frame,
    .can_take = can_take,
    .is_idle = is_idle,
    .on_free = on_free,
};

/* ---- the server ---- */

static void conn_limits(const struct ed_server_limits *l, struct ed_conn_limits *cl)
{
    cl->n_conns_max = l->n_conns_max;
    cl->n_conns_per_host_max = l->n_conns_per_host_max;
    cl->frame_max_len = 4 + l->request_max_len;
    cl->idle_ms = l->idle_ms;
    cl->frame_timeout_ms = l->frame_timeout_ms;
    cl->out_ceiling_len = l->out_ceiling_len;
    cl->out_max_len = SIZE_MAX; /* responses are items, bounded by n_inflight_max */
}

int ed_server_new(ed_broker *b, ed_server **out)
{
    ed_server *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    s->b = b;
    /* Without a broker config (unit tests) the table's defaults apply. */
    struct ed_config *def;
    const struct ed_config *cfg = ed_config_or_default(b->cfg, &def);
    if (!cfg) {
        ed_free(s);
        return ED_ERR_NOMEM;
    }
    s->lim.request_max_len = (size_t)cfg->socket_request_max_bytes;
    s->lim.n_conns_max = (int32_t)cfg->max_connections;
    s->lim.n_conns_per_host_max = (int32_t)cfg->max_connections_per_ip;
    s->lim.idle_ms = cfg->connections_max_idle_ms;
    s->lim.frame_timeout_ms = cfg->socket_request_timeout_ms;
    s->lim.out_ceiling_len = 4u << 20;
    s->lim.n_inflight_max = 128;
    struct ed_conn_limits cl = {0};
    char why[160];
    int hrc =
        ed_config_host_limits(cfg->max_connections_per_ip_overrides, cl.host_overrides,
                              ED_CONFIG_MAX_HOST_LIMITS, &cl.n_host_overrides, why, sizeof why);
    ed_config_free(def);
    if (hrc != ED_OK) {
        ED_LOG_ERR("max.connections.per.ip.overrides: %s", why);
        ed_free(s);
        return ED_ERR_INVAL;
    }
    conn_limits(&s->lim, &cl);
    int rc = ed_conn_set_new(b->loop, &kafka_proto, s, &cl, b->budget, &s->set);
    if (rc != ED_OK) {
        ed_free(s);
        return rc;
    }
    *out = s;
    return ED_OK;
}

int ed_server_listen(ed_server *s, const char *host, uint16_t port, uint16_t *bound)
{
    return ed_conn_set_listen(s->set, host, port, bound);
}

void ed_server_adopt(ed_server *s, ed_stream *st)
{
    ed_conn_set_adopt(s->set, st);
}

void ed_server_stop_accepting(ed_server *s)
{
    ed_conn_set_stop_accepting(s->set);
}

void ed_server_close_all(ed_server *s)
{
    ed_conn_set_close_all(s->set, "shutting down");
}

void ed_server_free(ed_server *s)
{
    if (!s) return;
    ed_conn_set_free(s->set);
    ed_free(s);
}

int32_t ed_server_n_conns(const ed_server *s)
{
    return ed_conn_set_n_conns(s->set);
}

const struct ed_server_limits *ed_server_limits_get(const ed_server *s)
{
    return &s->lim;
}

void ed_server_limits_set(ed_server *s, const struct ed_server_limits *l)
{
    s->lim = *l;
    struct ed_conn_limits cl = *ed_conn_set_limits(s->set);
    conn_limits(&s->lim, &cl);
    ed_conn_set_limits_set(s->set, &cl);
}

void ed_server_stats_get(const ed_server *s, struct ed_server_stats *out)
{
    struct ed_conn_stats cs;
    ed_conn_set_stats(s->set, &cs);
    out->n_accepted = cs.n_accepted;
    out->n_refused = cs.n_refused;
    out->n_bad = cs.n_bad;
    out->n_idle = cs.n_idle;
    out->n_timeouts = cs.n_timeouts;
    out->n_pauses = cs.n_pauses;
    out->n_mem_waits = cs.n_mem_waits;
    out->n_requests = s->n_requests;
}

/* ---- the Kafka service of a broker ---- */

/* Listens on every configured listener; Metadata names one address: the
 * advertised listener of the first served listener's name (port 0 there:
 * the port it bound), else that listener's address (every interface: this
 * machine's name). */
static int listen_all(ed_server *s, char *why, size_t why_len)
{
    ed_broker *b = s->b;
    const char *map = b->cfg->listener_security_protocol_map;
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    struct ed_config_listener adv[ED_CONFIG_MAX_LISTENERS];
    uint16_t bound[ED_CONFIG_MAX_LISTENERS];
    int n = 0, n_adv = 0;
    int rc =
        ed_listeners_parse(b->cfg->listeners, map, ls, ED_CONFIG_MAX_LISTENERS, &n, why, why_len);
    if (rc != ED_OK) return rc;
    ed_config_listeners(b->cfg->advertised_listeners, adv, ED_CONFIG_MAX_LISTENERS, &n_adv, why,
                        why_len);
    rc = ed_broker_listen(b, s->set, "Kafka", ls, n, false, bound, why, why_len);
    if (rc != ED_OK) return rc;
    /* Each listener advertises its own address: a client is sent back to
     * the listener (and so the security protocol) it came in on. */
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (ls[i].sec == ED_SEC_CONTROLLER) continue;
        char host[256];
        uint16_t port = bound[i];
        if (ed_listeners_any(ls[i].host))
            ed_plat_net_default_host(host, sizeof host);
        else
            snprintf(host, sizeof host, "%s", ls[i].host);
        for (int k = 0; k < n_adv; k++) {
            if (strcmp(adv[k].name, ls[i].name) != 0) continue;
            snprintf(host, sizeof host, "%s", adv[k].host);
            if (adv[k].port) port = adv[k].port;
            break;
        }
        ed_broker_advertise(b, ls[i].name, host, port);
        if (first) {
            snprintf(b->adv_host, sizeof b->adv_host, "%s", host);
            b->adv_port = port;
            first = false;
        }
        ED_LOG_INFO("advertising %s:%u to clients of listener %s", host, port, ls[i].name);
    }
    return ED_OK;
}

static void service_shutdown(void *obj)
{
    ed_server_stop_accepting(obj);
    ed_server_close_all(obj); /* pending requests are cancelled */
}

static void service_free(void *obj)
{
    ed_server_free(obj);
}

int ed_server_start(ed_broker *b, ed_server **out, char *why, size_t why_len)
{
    int rc = ed_kapi_data_attach(b->topics);
    if (rc != ED_OK) {
        snprintf(why, why_len, "Kafka handlers: %s", ed_strerror(rc));
        return rc;
    }
    ed_server *s;
    rc = ed_server_new(b, &s);
    if (rc != ED_OK) {
        snprintf(why, why_len, "Kafka server: %s", ed_strerror(rc));
        return rc;
    }
    struct ed_broker_service svc = {"Kafka", s, service_shutdown, service_free};
    rc = ed_broker_add_service(b, &svc);
    if (rc != ED_OK) {
        snprintf(why, why_len, "Kafka server: %s", ed_strerror(rc));
        return rc;
    }
    if (out) *out = s;
    return listen_all(s, why, why_len);
}
