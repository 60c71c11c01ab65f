/* The Kafka server: Kafka connections on the connection engine (core/conn.h).
 * Decodes request headers, dispatches through ed_kapi_table, and sends
 * responses strictly in request order (memory parts with gather writes,
 * file slices with sendfile). Stops reading a connection with too many
 * requests or request bytes open; closes connections that send garbage,
 * oversized frames or unknown API keys (logging the reason). */
#ifndef ED_CORE_SERVER_H
#define ED_CORE_SERVER_H

#include "core/broker.h"

typedef struct ed_server ed_server;

/* Limits (from the broker's config when cfg is set, else these defaults). */
struct ed_server_limits {
    size_t request_max_len;       /* socket.request.max.bytes */
    int32_t n_conns_max;          /* max.connections */
    int32_t n_conns_per_host_max; /* max.connections.per.ip (0 = none) */
    int64_t idle_ms;              /* connections.max.idle.ms; 0 = never */
    int64_t frame_timeout_ms;     /* socket.request.timeout.ms; 0 = never */
    size_t out_ceiling_len;       /* stop reading while this many response bytes wait */
    int32_t n_inflight_max;       /* stop reading while this many requests are open */
};

/* Starts the Kafka service of a broker made by ed_broker_open: the server,
 * a listener per `listeners` entry, the address Metadata advertises; the
 * broker owns it from here (*out, may be NULL, names it). ED_OK, or an
 * error with why. */
int ed_server_start(ed_broker *b, ed_server **out, char *why, size_t why_len);

/* A server for broker b (b->loop must be set). */
int ed_server_new(ed_broker *b, ed_server **out);
/* Closes every connection (cancelling pending requests) and listener. */
void ed_server_free(ed_server *s);
/* Listens on host:port (port 0 = any); *bound gets the port (may be NULL). */
int ed_server_listen(ed_server *s, const char *host, uint16_t port, uint16_t *bound);
/* Serves a stream as if accepted (tests drive in-memory streams this way). */
void ed_server_adopt(ed_server *s, ed_stream *st);
/* Closes the listeners (first step of a shutdown). */
void ed_server_stop_accepting(ed_server *s);
/* Closes every connection now (pending requests are cancelled). */
void ed_server_close_all(ed_server *s);
int32_t ed_server_n_conns(const ed_server *s);

/* Counters for metrics and tests. */
struct ed_server_stats {
    uint64_t n_accepted;  /* connections accepted */
    uint64_t n_refused;   /* refused at accept (connection limits, memory) */
    uint64_t n_bad;       /* closed for bad input (logged) */
    uint64_t n_idle;      /* closed for idleness */
    uint64_t n_timeouts;  /* closed for a request not received in time */
    uint64_t n_requests;  /* requests dispatched */
    uint64_t n_pauses;    /* times a connection stopped being read (backpressure) */
    uint64_t n_mem_waits; /* times a connection waited for queued.max.request.bytes */
};
void ed_server_stats_get(const ed_server *s, struct ed_server_stats *out);
const struct ed_server_limits *ed_server_limits_get(const ed_server *s);
/* Replaces the limits (applies to reads from now on). */
void ed_server_limits_set(ed_server *s, const struct ed_server_limits *l);

#endif
