/* The connection engine: protocol-neutral client connections on the
 * broker's loop, used by every listener (Kafka, MQTT, and those to come).
 * It owns what is the same for every protocol over a stream: listeners,
 * accept under a total and a per-address limit with one rate-limited
 * refusal log, a read buffer that grows only as bytes arrive and hands
 * whole frames to the protocol, a memory budget shared by all connections
 * for frames being read and held (reading pauses, nothing is allocated
 * past it), an ordered output queue (memory parts and file ranges sent by
 * sendfile), pausing reads on output size or on the protocol's own
 * ceilings, idle and unfinished-frame timeouts, and deferred freeing so
 * that a close deep inside a callback never frees memory a caller still
 * uses. The protocol sees frames and writes replies; it never touches the
 * stream, so TLS or an in-memory test network plug in underneath. */
#ifndef ED_CORE_CONN_H
#define ED_CORE_CONN_H

#include "core/config.h"
#include "platform/net.h"
#include "platform/tls.h"
#include "storage/log.h"

typedef struct ed_conn_set ed_conn_set;
typedef struct ed_conn ed_conn;
typedef struct ed_conn_budget ed_conn_budget;

/* ---- the memory budget (Kafka: queued.max.request.bytes) ---- */

/* A budget of max_len bytes for request frames being read or held, shared
 * by every connection set given it. A frame is charged from the moment its
 * header says its size; a connection whose next frame does not fit waits
 * (is not read) until frames are released. A frame larger than the whole
 * budget is still taken when nothing else is charged. */
int ed_conn_budget_new(size_t max_len, ed_conn_budget **out);
void ed_conn_budget_free(ed_conn_budget *b);
size_t ed_conn_budget_used(const ed_conn_budget *b);
/* Most bytes ever charged at once. */
size_t ed_conn_budget_peak(const ed_conn_budget *b);

/* ---- limits ---- */

struct ed_conn_limits {
    int32_t n_conns_max;          /* connections served at once */
    int32_t n_conns_per_host_max; /* from one address (0 = no limit) */
    struct ed_config_host_limit host_overrides[ED_CONFIG_MAX_HOST_LIMITS]; /* exceptions */
    int n_host_overrides;
    size_t frame_max_len;     /* larger frames close the connection */
    int64_t idle_ms;          /* close a connection with nothing open this long (0 = never) */
    int64_t frame_timeout_ms; /* a frame begun must end within this (0 = never) */
    size_t out_ceiling_len;   /* stop reading while this much output waits */
    size_t out_max_len;       /* close when queued bytes of ed_conn_write pass this */
    bool quickack;            /* acknowledge at the transport level at once (net.h) */
};

/* ---- the protocol ---- */

/* A whole frame in the read buffer, valid during on_frame. */
struct ed_conn_frame {
    const uint8_t *p;
    size_t len;
};

struct ed_conn_proto {
    const char *name;      /* "Kafka", "MQTT": in log lines */
    const char *limit_key; /* the setting named when max connections refuse one */
    size_t data_len;       /* protocol state allocated zeroed with each connection */
    /* The length of the frame starting at p (n bytes available, n >= 1):
     * ED_OK with *len (header included), ED_ERR_AGAIN when more bytes are
     * needed to tell, anything else is bad input: the connection is closed
     * and why logged (rate-limited). Called again for the same frame. */
    int (*frame_len)(ed_conn *c, const uint8_t *p, size_t n, size_t *len, char *why,
                     size_t why_len);
    /* A whole frame. The protocol may keep its bytes with ed_conn_frame_keep. */
    void (*on_frame)(ed_conn *c, struct ed_conn_frame *f);
    /* Whether the protocol takes another frame now (its own ceilings:
     * requests open, acknowledgements owed). NULL = always. */
    bool (*can_take)(ed_conn *c);
    /* Whether the connection has nothing open, for the idle timeout. NULL =
     * the idle timeout never applies. */
    bool (*is_idle)(ed_conn *c);
    /* A connection was accepted (before its first read): ED_OK, or an
     * error and the connection is refused (its on_free still runs). */
    int (*on_open)(ed_conn *c);
    /* Periodic check (every scan) of an open connection; may close it. */
    void (*on_scan)(ed_conn *c, uint64_t now_ms);
    /* The stream is gone (any reason): still open, not yet freed. */
    void (*on_close)(ed_conn *c);
    /* Whether the connection may be freed now (NULL = always). */
    bool (*can_free)(ed_conn *c);
    /* Frees the protocol's state; output items still queued are released
     * by the engine right after. */
    void (*on_free)(ed_conn *c);
};

/* ---- output items ---- */

/* A file range sent at memory position at of its item. */
struct ed_conn_splice {
    size_t at;
    struct ed_log_slice slice;
};

/* One reply in the ordered output queue, embedded in the protocol's own
 * object. Items leave in the order they were queued; an item not yet ready
 * holds back those behind it. */
struct ed_conn_out {
    struct ed_conn_out *next;
    const uint8_t *buf; /* memory part */
    size_t len;
    const struct ed_conn_splice *splices; /* file ranges within it, by position */
    int n_splices;
    /* Called once the item has been sent whole, or (sent = false) when the
     * connection is freed before; the owner may free the item. */
    void (*release)(struct ed_conn_out *o, bool sent);
    /* engine state */
    bool ready;
    size_t total_len, mem_pos, s_sent;
    int si;
};

/* ---- connection sets ---- */

struct ed_conn_stats {
    uint64_t n_accepted;
    uint64_t n_refused;   /* at accept: a connection limit or memory */
    uint64_t n_bad;       /* closed for bad input (logged) */
    uint64_t n_idle;      /* closed for idleness */
    uint64_t n_timeouts;  /* closed for a frame not finished in time */
    uint64_t n_pauses;    /* times a connection stopped being read */
    uint64_t n_mem_waits; /* times a connection waited for the memory budget */
};

/* A set of connections of one protocol. arg is the protocol's (ed_conn_arg).
 * budget may be NULL (no shared cap). */
int ed_conn_set_new(ed_loop *loop, const struct ed_conn_proto *proto, void *arg,
                    const struct ed_conn_limits *lim, ed_conn_budget *budget, ed_conn_set **out);
/* Closes every connection and listener and frees them all. */
void ed_conn_set_free(ed_conn_set *s);
/* Listens on host:port (port 0 = any); *bound gets the port (may be NULL). */
int ed_conn_set_listen(ed_conn_set *s, const char *host, uint16_t port, uint16_t *bound);
/* A listener with a name and a security protocol: tls non-NULL wraps every
 * accepted stream in a TLS server session with that configuration (the
 * set takes a reference); sasl marks its connections as requiring SASL
 * authentication (ed_conn_sasl_required). */
struct ed_conn_listen {
    const char *host;
    uint16_t port;
    const char *name;
    ed_tls_conf *tls;
    bool sasl;
};
int ed_conn_set_listen_on(ed_conn_set *s, const struct ed_conn_listen *how, uint16_t *bound);
/* New connections of the TLS listeners named name use tls from now on
 * (open ones keep theirs). */
void ed_conn_set_tls_swap(ed_conn_set *s, const char *name, ed_tls_conf *tls);
/* Takes a stream as if accepted (tests: platform/memnet.h; later TLS). */
void ed_conn_set_adopt(ed_conn_set *s, ed_stream *st);
void ed_conn_set_stop_accepting(ed_conn_set *s);
/* Closes every connection now. */
void ed_conn_set_close_all(ed_conn_set *s, const char *why);
/* Frees the closed connections that may be freed (the loop does this). */
void ed_conn_set_reap(ed_conn_set *s);
/* Reaps from a zero-delay timer (when a protocol's can_free turns true). */
void ed_conn_set_reap_later(ed_conn_set *s);
int32_t ed_conn_set_n_conns(const ed_conn_set *s);
const struct ed_conn_limits *ed_conn_set_limits(const ed_conn_set *s);
/* Replaces the limits (from now on; reading is re-evaluated). */
void ed_conn_set_limits_set(ed_conn_set *s, const struct ed_conn_limits *l);
void ed_conn_set_stats(const ed_conn_set *s, struct ed_conn_stats *out);

/* ---- one connection ---- */

void *ed_conn_data(ed_conn *c);
/* The connection whose protocol state is d. */
ed_conn *ed_conn_of(void *d);
void *ed_conn_arg(const ed_conn *c);
const char *ed_conn_peer(const ed_conn *c);
/* The name of the listener the connection came in on ("" when adopted). */
const char *ed_conn_listener(const ed_conn *c);
/* Whether that listener requires SASL (SASL_PLAINTEXT, SASL_SSL). */
bool ed_conn_sasl_required(const ed_conn *c);
/* The verified subject of the peer's TLS client certificate, or NULL. */
const char *ed_conn_principal(const ed_conn *c);
bool ed_conn_closing(const ed_conn *c);
uint64_t ed_conn_now_ms(const ed_conn *c);
/* Whether reading is paused (output above the ceiling, the protocol's
 * can_take, the memory budget), and when it last resumed (0: never
 * paused): a protocol's own timeouts need not count time Eddy held the
 * connection back. */
bool ed_conn_paused(const ed_conn *c);
uint64_t ed_conn_resumed_ms(const ed_conn *c);

/* Keeps the bytes of the frame being handled beyond on_frame: returns an
 * allocation holding them (the read buffer itself when the frame fills it,
 * else a copy), or NULL when out of memory. The bytes stay charged to the
 * budget until ed_conn_frame_free. */
uint8_t *ed_conn_frame_keep(ed_conn *c, const struct ed_conn_frame *f);
void ed_conn_frame_free(ed_conn *c, uint8_t *p, size_t len);

/* Queues an item (not ready: it holds the queue back until ready). */
void ed_conn_out_queue(ed_conn *c, struct ed_conn_out *o);
/* The item's bytes are set: send what the stream takes. */
void ed_conn_out_ready(ed_conn *c, struct ed_conn_out *o);
/* The oldest queued item (NULL: none), then o->next. */
struct ed_conn_out *ed_conn_out_head(ed_conn *c);
/* Appends bytes to the connection's own byte queue (for protocols that
 * write packets rather than items; a connection uses one or the other):
 * false, and the connection closed, past out_max_len. */
bool ed_conn_write(ed_conn *c, const void *p, size_t n);
/* Room for n bytes at the end of the byte queue, to encode into, then
 * ed_conn_out_commit(c, n); NULL (and the connection closed) past
 * out_max_len or out of memory. The queue is freed whenever it has drained,
 * but never while a reservation is not committed. */
uint8_t *ed_conn_out_reserve(ed_conn *c, size_t n);
void ed_conn_out_commit(ed_conn *c, size_t n);
/* Output bytes queued and not yet sent. */
size_t ed_conn_out_pending(const ed_conn *c);
/* Sends what can be sent now (also re-evaluates reading). */
void ed_conn_flush(ed_conn *c);
/* The protocol's ceilings changed: re-evaluate reading, and handle frames
 * already buffered (from a zero-delay timer, never inside this call). */
void ed_conn_update(ed_conn *c);
/* Closes the connection (why is logged at debug level; may be NULL). */
void ed_conn_close(ed_conn *c, const char *why);
/* Closes for bad input: one warning line naming it (rate-limited), output
 * already queued goes out if the stream takes it now. */
void ed_conn_close_bad(ed_conn *c, const char *why);

#endif
