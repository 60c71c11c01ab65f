/* The HTTP/1.1 listener: Eddy's own small server on the connection engine
 * (core/conn.h), so TLS (https://), the connection limits, the shared
 * request-memory budget and the timeouts are the engine's. Requests are
 * framed by their head and Content-Length (bridge/http_parse.h), answered
 * in order on one connection (keep-alive, pipelining), and dispatched to
 * the endpoints of bridge/http_api.c: /healthz, /readyz, /metrics, the
 * read-only JSON API, live tails (Server-Sent Events) and the Confluent v3
 * produce (docs/http-api.md). Oversized heads
 * are answered 431, oversized bodies 413, malformed heads 400, and the
 * connection is closed after the answer. */
#ifndef ED_BRIDGE_HTTP_H
#define ED_BRIDGE_HTTP_H

#include "core/broker.h"

typedef struct ed_http ed_http;

/* Settings (from the broker's config: http.* keys). */
struct ed_http_limits {
    int32_t n_conns_max;        /* http.max.connections */
    size_t header_max_len;      /* http.max.header.bytes */
    size_t body_max_len;        /* http.max.body.bytes */
    int64_t request_timeout_ms; /* http.request.timeout.ms */
    int64_t idle_ms;            /* http.idle.timeout.ms */
    size_t out_max_len;         /* close a connection whose output exceeds this */
};

struct ed_http_stats {
    struct ed_conn_stats conn; /* the engine's: accepted, refused, bad, timeouts, ... */
    uint64_t n_requests;       /* requests answered */
    uint64_t n_errors;         /* of which answered 4xx or 5xx */
};

/* Starts the HTTP service of a broker made by ed_broker_open from
 * http.listeners (none: nothing is started, *out is NULL); the broker owns
 * it from here. ED_OK, or an error with why. */
int ed_http_start(ed_broker *b, ed_http **out, char *why, size_t why_len);

/* A listener for broker b (b->loop, b->topics set; b->cfg NULL: defaults). */
int ed_http_new(ed_broker *b, char *why, size_t why_len, ed_http **out);
/* Closes every connection and listener. */
void ed_http_free(ed_http *h);
/* Stops accepting and closes every connection (shutdown; /readyz says 503
 * from the moment it begins). */
void ed_http_shutdown(ed_http *h);
const struct ed_http_limits *ed_http_limits_get(const ed_http *h);
void ed_http_stats_get(const ed_http *h, struct ed_http_stats *out);
/* Serves a stream as if accepted (tests and fuzzing, in-memory streams). */
void ed_http_adopt(ed_http *h, ed_stream *st);
/* Frees closed connections now (the loop does this on its own). */
void ed_http_reap(ed_http *h);

#endif
