/* The Kafka server: listeners and client connections on the broker's loop.
 * Reads size-prefixed request frames into bounded buffers, decodes request
 * headers, dispatches through ed_kapi_table, and sends responses strictly in
 * request order (memory parts with gather writes, file slices with
 * sendfile). Applies backpressure per connection, closes connections that
 * send garbage, oversized frames or unknown API keys (logging the reason),
 * enforces the connection limit and the idle timeout. */
#ifndef ED_CORE_SERVER_H
#define ED_CORE_SERVER_H

#include "core/broker.h"

typedef struct ed_server ed_server;
typedef struct ed_conn ed_conn;

/* Limits (from the broker's config when cfg is set, else these defaults). */
struct ed_server_limits {
    size_t request_max_len; /* socket.request.max.bytes */
    int32_t n_conns_max;    /* max.connections */
    int64_t idle_ms;        /* connections.max.idle.ms; 0 = never */
    size_t out_ceiling_len; /* stop reading while this many response bytes wait */
    int32_t n_inflight_max; /* stop reading while this many requests are open */
};

/* A server for broker b (b->loop must be set). */
int ed_server_new(ed_broker *b, ed_server **out);
/* Closes every connection (cancelling pending requests) and listener. */
void ed_server_free(ed_server *s);
/* Listens on host:port (port 0 = any); *bound gets the port (may be NULL). */
int ed_server_listen(ed_server *s, const char *host, uint16_t port, uint16_t *bound);
/* Closes the listeners (first step of a shutdown). */
void ed_server_stop_accepting(ed_server *s);
/* Closes every connection now (pending requests are cancelled). */
void ed_server_close_all(ed_server *s);
int32_t ed_server_n_conns(const ed_server *s);

/* Counters for metrics and tests. */
struct ed_server_stats {
    uint64_t n_accepted; /* connections accepted */
    uint64_t n_refused;  /* refused at accept (max.connections, memory) */
    uint64_t n_bad;      /* closed for bad input (logged) */
    uint64_t n_idle;     /* closed for idleness */
    uint64_t n_requests; /* requests dispatched */
    uint64_t n_pauses;   /* times a connection stopped being read (backpressure) */
};
void ed_server_stats_get(const ed_server *s, struct ed_server_stats *out);
const struct ed_server_limits *ed_server_limits_get(const ed_server *s);
/* Replaces the limits (applies to reads from now on). */
void ed_server_limits_set(ed_server *s, const struct ed_server_limits *l);

/* ---- connections without a socket, for tests and the fuzzer ---- */
/* A connection whose output is collected in memory (up to capture_max
 * bytes; 0 = discard output). */
int ed_server_conn_detached(ed_server *s, size_t capture_max, ed_conn **out);
/* Feeds bytes as if read from the socket. ED_OK, or ED_ERR_CLOSED once the
 * connection has been closed (it is freed by ed_server_reap/free). */
int ed_server_conn_feed(ed_conn *c, const void *buf, size_t len);
/* The bytes the connection has "sent" so far, and forgets them. */
const uint8_t *ed_server_conn_output(ed_conn *c, size_t *len);
void ed_server_conn_output_clear(ed_conn *c);
/* Whether the server has stopped reading the connection (backpressure). */
bool ed_server_conn_paused(const ed_conn *c);
/* Closes a connection (cancelling its pending requests at the next reap). */
void ed_server_conn_close(ed_conn *c, const char *reason);
/* Frees connections closed so far (the loop does this on its own). */
void ed_server_reap(ed_server *s);

#endif
