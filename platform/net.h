/* The port contract for networking and the event loop: one non-blocking
 * loop per process with a timer heap, TCP listeners and streams (read,
 * gather write, zero-copy send from a file), a thread-safe wake-up for
 * completions handed back by other threads, and termination signals.
 * Callbacks run on the loop thread. UDP comes with CoAP. */
#ifndef ED_PLATFORM_NET_H
#define ED_PLATFORM_NET_H

#include "platform/platform.h"

typedef struct ed_loop ed_loop;
typedef struct ed_listener ed_listener;
typedef struct ed_stream ed_stream;
typedef struct ed_wakeup ed_wakeup;
typedef struct ed_timer ed_timer;

int ed_plat_loop_new(ed_loop **out);
/* Frees the loop; every listener, stream, wakeup must be closed first. */
void ed_plat_loop_free(ed_loop *l);
/* Runs until ed_plat_loop_stop; returns ED_OK or an error. */
int ed_plat_loop_run(ed_loop *l);
/* One round: due timers, then the ready streams, waiting at most timeout_ms
 * for them (0 = do not wait). For tests that drive the loop step by step. */
int ed_plat_loop_run_once(ed_loop *l, int timeout_ms);
/* Thread- and signal-safe: makes ed_plat_loop_run return soon. */
void ed_plat_loop_stop(ed_loop *l);
/* The loop's cached monotonic time in ms (updated every iteration). */
uint64_t ed_plat_loop_now_ms(const ed_loop *l);
/* SIGTERM/SIGINT call cb on the loop thread (not in the signal handler);
 * SIGPIPE is ignored. */
int ed_plat_loop_on_signal(ed_loop *l, void (*cb)(void *arg), void *arg);
/* SIGHUP calls cb on the loop thread (after ed_plat_loop_on_signal). */
int ed_plat_loop_on_reload(ed_loop *l, void (*cb)(void *arg), void *arg);

/* Timers: the caller owns the struct (embed it); stop before freeing. */
typedef void (*ed_timer_cb)(ed_timer *t, void *arg);
struct ed_timer {
    uint64_t due_ms;
    ed_timer_cb cb;
    void *arg;
    size_t heap_idx; /* 0 = not armed */
};
/* (Re)arms t to fire once after delay_ms. */
void ed_plat_timer_start(ed_loop *l, ed_timer *t, uint32_t delay_ms, ed_timer_cb cb, void *arg);
void ed_plat_timer_stop(ed_loop *l, ed_timer *t);
static inline bool ed_plat_timer_armed(const ed_timer *t)
{
    return t->heap_idx != 0;
}

/* Wake-up: ed_plat_wakeup_signal may be called from any thread; cb runs on
 * the loop thread (several signals may be folded into one call). */
int ed_plat_wakeup_new(ed_loop *l, void (*cb)(void *arg), void *arg, ed_wakeup **out);
void ed_plat_wakeup_signal(ed_wakeup *w);
void ed_plat_wakeup_free(ed_wakeup *w);

/* TCP. host is a numeric address or name ("0.0.0.0", "127.0.0.1", "::",
 * "localhost"); port 0 picks a free port (see ed_plat_listener_port). */
typedef void (*ed_accept_cb)(void *arg, ed_stream *s);
int ed_plat_tcp_listen(ed_loop *l, const char *host, uint16_t port, ed_accept_cb cb, void *arg,
                       ed_listener **out);
uint16_t ed_plat_listener_port(const ed_listener *ls);
void ed_plat_listener_close(ed_listener *ls);

/* Stream events: on_readable when bytes (or EOF) can be read, on_writable
 * when ed_plat_stream_want_write(s, true) and the stream can take more. */
struct ed_stream_cbs {
    void (*on_readable)(void *arg);
    void (*on_writable)(void *arg);
};

/* A stream is any byte pipe with these operations: a TCP socket of the port,
 * an in-memory pair for tests (platform/memnet.h), and TLS over another
 * stream (platform/tls.h). Every implementation starts with struct ed_stream. */
struct ed_stream_ops {
    void (*set_cbs)(ed_stream *s, const struct ed_stream_cbs *cbs, void *arg);
    int (*read)(ed_stream *s, void *buf, size_t len, size_t *n);
    int (*writev)(ed_stream *s, const struct ed_iovec *iov, int n_iov, size_t *n);
    int (*sendfile)(ed_stream *s, ed_file *f, uint64_t pos, size_t len, size_t *n);
    void (*want_write)(ed_stream *s, bool on);
    void (*want_read)(ed_stream *s, bool on);
    const char *(*peer)(const ed_stream *s);
    void (*close)(ed_stream *s);
    /* Optional (NULL = never): whether a unit of the stream's own protocol
     * is under way (a TLS handshake, a partly received TLS record), so
     * that the engine's unfinished-frame timeout covers it. */
    bool (*busy)(const ed_stream *s);
    /* Optional (NULL = none): the peer's verified identity (the subject of
     * a TLS client certificate, in RFC 2253 form: "CN=gw-17,O=Acme"), or
     * NULL. */
    const char *(*principal)(const ed_stream *s);
    /* Optional (NULL = not supported): with on, acknowledge the bytes read
     * so far at the transport level now instead of delaying the
     * acknowledgement for a reply to carry it (TCP_QUICKACK; Linux leaves
     * quick-ack mode on its own, so this is asked again after each burst of
     * reads that no reply followed), for protocols whose replies wait
     * (MQTT's PUBACK waits for the flush) while the peer's Nagle holds its
     * next small packet until then. */
    void (*set_quickack)(ed_stream *s, bool on);
    /* A read that returned less than asked left nothing buffered that the
     * poller would not report (a plain socket), so the reader may wait for
     * the next readable event instead of reading again to meet "again".
     * False where the stream keeps bytes of its own (TLS records). */
    bool short_read_drains;
};
struct ed_stream {
    const struct ed_stream_ops *ops;
};

/* Installs the callbacks and starts reading. */
static inline void ed_plat_stream_set_cbs(ed_stream *s, const struct ed_stream_cbs *cbs, void *arg)
{
    s->ops->set_cbs(s, cbs, arg);
}
/* Reads up to len bytes: ED_OK with *n > 0; ED_ERR_AGAIN when nothing is
 * ready; ED_ERR_CLOSED at EOF or reset. */
static inline int ed_plat_stream_read(ed_stream *s, void *buf, size_t len, size_t *n)
{
    return s->ops->read(s, buf, len, n);
}
/* Writes what the stream takes now: ED_OK with *n (possibly less than all,
 * possibly 0), ED_ERR_CLOSED when the peer is gone. */
static inline int ed_plat_stream_writev(ed_stream *s, const struct ed_iovec *iov, int n_iov,
                                        size_t *n)
{
    return s->ops->writev(s, iov, n_iov, n);
}
/* Zero-copy send of file bytes [pos, pos+len) (sendfile); same contract. */
static inline int ed_plat_stream_sendfile(ed_stream *s, ed_file *f, uint64_t pos, size_t len,
                                          size_t *n)
{
    return s->ops->sendfile(s, f, pos, len, n);
}
static inline void ed_plat_stream_want_write(ed_stream *s, bool on)
{
    s->ops->want_write(s, on);
}
static inline void ed_plat_stream_want_read(ed_stream *s, bool on)
{
    s->ops->want_read(s, on);
}
/* "host:port" (or "[v6]:port") of the peer, for logs and per-address limits. */
static inline const char *ed_plat_stream_peer(const ed_stream *s)
{
    return s->ops->peer(s);
}
static inline bool ed_plat_stream_busy(const ed_stream *s)
{
    return s->ops->busy && s->ops->busy(s);
}
static inline const char *ed_plat_stream_principal(const ed_stream *s)
{
    return s->ops->principal ? s->ops->principal(s) : NULL;
}
static inline bool ed_plat_stream_short_read_drains(const ed_stream *s)
{
    return s->ops->short_read_drains;
}
static inline void ed_plat_stream_set_quickack(ed_stream *s, bool on)
{
    if (s->ops->set_quickack) s->ops->set_quickack(s, on);
}
/* Closes the stream and frees s; no callbacks run afterwards. */
static inline void ed_plat_stream_close(ed_stream *s)
{
    if (s) s->ops->close(s);
}

/* Outgoing TCP driven by the loop. The name is resolved at once (numeric
 * addresses and /etc/hosts cost nothing; a DNS name blocks the loop for the
 * resolver's time) and the first address is dialled without blocking; the
 * stream comes back at once. cb(arg, status) runs on the loop thread when
 * the connection is made (ED_OK: install callbacks and use the stream) or
 * has failed (ED_ERR_CLOSED: refused or unreachable; then only
 * ed_plat_stream_close is allowed). ED_ERR_NOENT at once when the name does
 * not resolve. Closing the stream before cb ran cancels it. */
typedef void (*ed_dial_cb)(void *arg, int status);
int ed_plat_tcp_dial(ed_loop *l, const char *host, uint16_t port, ed_dial_cb cb, void *arg,
                     ed_stream **out);

/* A name clients can use to reach this machine when a listener binds every
 * interface: the host name if it resolves to an address of this machine,
 * else "127.0.0.1". */
void ed_plat_net_default_host(char *out, size_t len);

#endif
