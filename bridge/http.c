/* The HTTP/1.1 listener (see http.h): framing requests for the connection
 * engine, keep-alive and closing, the replies, and the HTTP service of a
 * broker. The endpoints are in http_api.c.
 *
 * A request is one frame of the engine: its head (found within
 * http.max.header.bytes) and the body its Content-Length announces (at
 * most http.max.body.bytes), so the engine's budget, unfinished-frame
 * timeout (http.request.timeout.ms: slow clients) and idle timeout apply
 * as to every protocol. Replies go to the connection's byte queue in the
 * order requests came in; a bad head is answered (400, 431, 413, 501,
 * 505) and the connection closed, since where the next request would
 * begin is no longer known. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"
#include "bridge/http_out.h"
#include "core/listeners.h"
#include "core/metrics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <stdio.h>
#include <string.h>

static ed_http_conn *hc_of(ed_conn *conn)
{
    return ed_conn_data(conn);
}

const char *ed_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        return "Unknown";
    }
}

void ed_http_reply(ed_http_conn *c, int status, const char *ctype, const void *body, size_t len,
                   const char *extra)
{
    if (ed_conn_closing(c->conn)) return;
    char head[512];
    /* no-store unless extra says how to cache (the dashboard's assets) */
    bool cache = extra && strstr(extra, "Cache-Control:");
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n"
                 "%sX-Content-Type-Options: nosniff\r\n%s%s\r\n",
                 status, ed_http_reason(status), ctype ? "Content-Type: " : "", ctype ? ctype : "",
                 ctype ? "\r\n" : "", len, cache ? "" : "Cache-Control: no-store\r\n",
                 extra ? extra : "", c->keep_alive ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof head) n = (int)sizeof head - 1; /* extra is ours: short */
    if (c->head_only) len = 0;
    uint8_t *w = ed_conn_out_reserve(c->conn, (size_t)n + len);
    if (!w) return; /* the connection is closed */
    memcpy(w, head, (size_t)n);
    if (len) memcpy(w + n, body, len);
    ed_conn_out_commit(c->conn, (size_t)n + len);
    c->h->stats.n_requests++;
    if (status >= 400) c->h->stats.n_errors++;
    ed_metrics_request(ED_METRICS_HTTP, c->route, status >= 400);
}

void ed_http_reply_error(ed_http_conn *c, int status, const char *message)
{
    ed_http_reply_kerror(c, status, NULL, message);
}

void ed_http_reply_kerror(ed_http_conn *c, int status, const char *error, const char *message)
{
    char body[400];
    size_t w =
        (size_t)snprintf(body, sizeof body, "{\"error_code\":%d,%s%s%s\"message\":\"", status,
                         error ? "\"error\":\"" : "", error ? error : "", error ? "\"," : "");
    /* message is ours or names the request's problem: escape what JSON needs */
    for (const char *m = message; *m && w + 8 < sizeof body; m++) {
        unsigned char ch = (unsigned char)*m;
        if (ch == '"' || ch == '\\')
            w += (size_t)snprintf(body + w, sizeof body - w, "\\%c", ch);
        else if (ch < 0x20)
            w += (size_t)snprintf(body + w, sizeof body - w, "\\u%04x", ch);
        else
            body[w++] = (char)ch;
    }
    w += (size_t)snprintf(body + w, sizeof body - w, "\"}\n");
    ed_http_reply(c, status, "application/json", body, ED_MIN(w, sizeof body - 1), NULL);
}

void ed_http_reply_json(ed_http_conn *c, struct ed_http_out *o)
{
    if (o->err)
        ed_http_reply_error(c, 500, "the answer is larger than its limit or out of memory");
    else
        ed_http_reply(c, 200, "application/json", o->p, o->len, NULL);
    ed_http_out_free(o);
}

/* Answers a head that cannot be served and makes the connection close:
 * where a next request would begin is unknown. */
static void refuse(ed_http_conn *c, int status, const char *why)
{
    c->keep_alive = false;
    c->head_only = false;
    ed_http_reply_error(c, status, why);
}

/* ---- the engine's callbacks ---- */

static int frame_len(ed_conn *conn, const uint8_t *p, size_t n, size_t *len, char *why,
                     size_t why_len)
{
    ed_http_conn *c = hc_of(conn);
    const struct ed_http_limits *lim = &c->h->lim;
    size_t head_len;
    if (ed_http_head_end(p, ED_MIN(n, lim->header_max_len), &head_len) != ED_OK) {
        if (n < lim->header_max_len) return ED_ERR_AGAIN;
        snprintf(why, why_len, "request head longer than http.max.header.bytes (%zu)",
                 lim->header_max_len);
        refuse(c, 431, why);
        return ED_ERR_TOOBIG;
    }
    struct ed_http_req r;
    int status;
    int rc = ed_http_parse(p, head_len, &r, &status, why, why_len);
    if (rc != ED_OK) {
        refuse(c, status, why);
        return rc;
    }
    if (r.body_len > lim->body_max_len) {
        snprintf(why, why_len, "request body of %llu bytes over http.max.body.bytes (%zu)",
                 (unsigned long long)r.body_len, lim->body_max_len);
        refuse(c, 413, why);
        return ED_ERR_TOOBIG;
    }
    /* A client waiting for the go-ahead before sending its body gets it
     * once the head is known to be acceptable. */
    if (r.expect_continue && r.body_len > 0 && n == head_len && !c->sent_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        c->sent_continue = true;
        if (!ed_conn_write(conn, cont, sizeof cont - 1)) return ED_ERR_NOMEM;
        ed_conn_flush(conn);
    }
    *len = head_len + (size_t)r.body_len;
    return ED_OK;
}

static void on_frame(ed_conn *conn, struct ed_conn_frame *f)
{
    ed_http_conn *c = hc_of(conn);
    struct ed_http_req r;
    int status;
    char why[160];
    size_t head_len = 0;
    int rc = ed_http_head_end(f->p, f->len, &head_len);
    if (rc == ED_OK) rc = ed_http_parse(f->p, head_len, &r, &status, why, sizeof why);
    if (rc != ED_OK) { /* frame_len accepted this head: not reached */
        ed_conn_close_bad(conn, "request head changed");
        return;
    }
    c->sent_continue = false;
    c->keep_alive = r.keep_alive && !c->h->stopping;
    c->head_only = r.method == ED_HTTP_HEAD;
    c->route = 0;
    c->in_frame = true;
    ed_http_api_serve(c, &r, f->p + head_len);
    c->in_frame = false;
    if (!c->tail && !c->produce.pending) ed_http_request_done(c);
}

void ed_http_request_done(ed_http_conn *c)
{
    ed_conn *conn = c->conn;
    if (c->in_frame || ed_conn_closing(conn)) return;
    if (!c->keep_alive) {
        c->close_after = true;
        ed_conn_flush(conn);
        if (!ed_conn_closing(conn) && ed_conn_out_pending(conn) == 0) ed_conn_close(conn, NULL);
    } else {
        ed_conn_flush(conn);
        ed_conn_update(conn); /* a request held back while this one waited */
    }
}

/* Nothing more is read from a connection that is to close. */
static bool can_take(ed_conn *conn)
{
    const ed_http_conn *c = hc_of(conn);
    return !c->close_after && !c->tailing && !c->produce.pending;
}

/* A produce waiting for durability refers to the connection. */
static bool can_free(ed_conn *conn)
{
    return !hc_of(conn)->produce.pending;
}

/* A live tail is never idle: it is waiting for records. */
static bool is_idle(ed_conn *conn)
{
    return !hc_of(conn)->tailing;
}

static int on_open(ed_conn *conn)
{
    ed_http_conn *c = hc_of(conn);
    c->h = ed_conn_arg(conn);
    c->conn = conn;
    c->keep_alive = true;
    return ED_OK;
}

/* A connection to close once its last answer has left. */
static void on_scan(ed_conn *conn, uint64_t now)
{
    ed_http_conn *c = hc_of(conn);
    if (c->close_after && ed_conn_out_pending(conn) == 0)
        ed_conn_close(conn, NULL);
    else
        ed_http_sse_scan(c, now);
}

static void on_close(ed_conn *conn)
{
    ed_http_conn *c = hc_of(conn);
    if (c->h) ed_http_sse_close(c);
}

static const struct ed_conn_proto http_proto = {
    .name = "HTTP",
    .limit_key = "http.max.connections",
    .data_len = sizeof(ed_http_conn),
    .frame_len = frame_len,
    .on_frame = on_frame,
    .can_take = can_take,
    .is_idle = is_idle,
    .on_open = on_open,
    .on_scan = on_scan,
    .on_close = on_close,
    .can_free = can_free,
};

/* ---- the listener ---- */

int ed_http_new(ed_broker *b, char *why, size_t why_len, ed_http **out)
{
    struct ed_config *def;
    const struct ed_config *cfg = ed_config_or_default(b->cfg, &def);
    ed_http *h = cfg ? ed_calloc(1, sizeof *h) : NULL;
    if (!h) {
        ed_config_free(def);
        snprintf(why, why_len, "HTTP listener: %s", ed_strerror(ED_ERR_NOMEM));
        return ED_ERR_NOMEM;
    }
    h->b = b;
    h->started_ms = ed_plat_clock_wall_ms();
    h->lim.n_conns_max = (int32_t)cfg->http_max_connections;
    h->lim.header_max_len = (size_t)cfg->http_max_header_bytes;
    h->lim.body_max_len = (size_t)cfg->http_max_body_bytes;
    h->lim.request_timeout_ms = cfg->http_request_timeout_ms;
    h->lim.idle_ms = cfg->http_idle_timeout_ms;
    h->lim.out_max_len = (size_t)8 << 20;
    ed_config_free(def);
    struct ed_conn_limits cl = {0};
    cl.n_conns_max = h->lim.n_conns_max;
    cl.frame_max_len = h->lim.header_max_len + h->lim.body_max_len;
    cl.idle_ms = h->lim.idle_ms;
    cl.frame_timeout_ms = h->lim.request_timeout_ms;
    cl.out_ceiling_len = (size_t)256 << 10;
    cl.out_max_len = h->lim.out_max_len;
    int rc = ed_conn_set_new(b->loop, &http_proto, h, &cl, b->budget, &h->set);
    if (rc == ED_OK) rc = ed_batch_builder_new(h->lim.body_max_len + 4096, &h->bb);
    if (rc == ED_OK) rc = ed_http_sse_init(h);
    if (rc != ED_OK) {
        ed_batch_builder_free(h->bb);
        ed_conn_set_free(h->set);
        snprintf(why, why_len, "HTTP listener: %s", ed_strerror(rc));
        ed_free(h);
        return rc;
    }
    *out = h;
    return ED_OK;
}

void ed_http_shutdown(ed_http *h)
{
    h->stopping = true;
    ed_conn_set_stop_accepting(h->set);
    ed_conn_set_close_all(h->set, "shutting down");
}

void ed_http_free(ed_http *h)
{
    if (!h) return;
    ed_conn_set_free(h->set);
    ed_http_sse_fini(h);
    ed_batch_builder_free(h->bb);
    ed_free(h);
}

void ed_http_adopt(ed_http *h, ed_stream *st)
{
    ed_conn_set_adopt(h->set, st);
}

void ed_http_reap(ed_http *h)
{
    ed_conn_set_reap(h->set);
}

const struct ed_http_limits *ed_http_limits_get(const ed_http *h)
{
    return &h->lim;
}

void ed_http_stats_get(const ed_http *h, struct ed_http_stats *out)
{
    *out = h->stats;
    ed_conn_set_stats(h->set, &out->conn);
}

/* ---- the HTTP service of a broker ---- */

static void service_shutdown(void *obj)
{
    ed_http_shutdown(obj);
}

static void service_free(void *obj)
{
    ed_http_free(obj);
}

int ed_http_start(ed_broker *b, ed_http **out, char *why, size_t why_len)
{
    if (out) *out = NULL;
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    uint16_t bound[ED_CONFIG_MAX_LISTENERS];
    int n = 0;
    int rc = ed_listeners_parse_http(b->cfg->http_listeners, ls, ED_CONFIG_MAX_LISTENERS, &n, why,
                                     why_len);
    if (rc != ED_OK || n == 0) return rc;
    ed_http *h;
    rc = ed_http_new(b, why, why_len, &h);
    if (rc != ED_OK) return rc;
    struct ed_broker_service svc = {"HTTP", h, service_shutdown, service_free};
    rc = ed_broker_add_service(b, &svc);
    if (rc != ED_OK) {
        snprintf(why, why_len, "HTTP listener: %s", ed_strerror(rc));
        return rc;
    }
    if (out) *out = h;
    return ed_broker_listen(b, h->set, "HTTP", ls, n, false, bound, why, why_len);
}
