/* One outgoing Kafka connection driven by the event loop (the upstream
 * mirror's transport): dial without blocking (trying each of its
 * addresses in turn), run a TLS client session over the connection when
 * configured, negotiate versions with ApiVersions, authenticate with SASL
 * (SaslHandshake v1, SaslAuthenticate) when configured, send requests
 * framed by the shared codec (core/kclient.h) and hand each response to
 * its callback, matched by correlation id. TLS and SASL run again on
 * every reconnect; a failed handshake or refused login counts as a failed
 * connection (backoff, on_down with the reason).
 *
 * At most max_in_flight requests are outstanding; a request not answered
 * within request_timeout_ms means the link is dead (half-open TCP, a
 * black hole): the link closes, drops every outstanding request without
 * calling its callback, tells the owner through on_down and reconnects
 * after a backoff that doubles from backoff_ms up to backoff_max_ms, with
 * +-20 % jitter, reset once a connection is up again. The owner learns
 * that the link is usable again from on_up.
 *
 * Callbacks run on the loop thread, never inside the call that caused
 * them except that ed_klink_reset calls on_down at once. Callbacks may
 * send, reset, but never free the link they are called from. */
#ifndef ED_CORE_KAFKA_KLINK_H
#define ED_CORE_KAFKA_KLINK_H

#include "platform/net.h"
#include "platform/tls.h"
#include "core/kafka/kclient.h"

typedef struct ed_klink ed_klink;

/* How a link reaches host:port (tests pass memnet pairs): the contract of
 * ed_plat_tcp_dial. */
typedef int (*ed_klink_dial_fn)(void *dial_arg, ed_loop *l, const char *host, uint16_t port,
                                ed_dial_cb cb, void *cb_arg, ed_stream **out);

struct ed_klink_opts {
    const char *client_id;       /* NULL = "eddy" */
    uint32_t request_timeout_ms; /* 0 = 30000; also bounds connecting and ApiVersions */
    uint32_t backoff_ms;         /* 0 = 100 */
    uint32_t backoff_max_ms;     /* 0 = 10000 */
    int max_in_flight;           /* 0 = 5, at most 64 */
    size_t max_response_len;     /* 0 = 64 MiB; a larger announced response kills the link */
    ed_klink_dial_fn dial;       /* NULL = ed_plat_tcp_dial */
    void *dial_arg;
    ed_tls_conf *tls; /* NULL = plaintext; else a TLS client session (own reference taken) */
    int sasl_mech;    /* 0 = no SASL; else one enum ed_sasl_mech */
    const char *sasl_username; /* copied */
    const char *sasl_password; /* copied; never logged */
};

struct ed_klink_cbs {
    void (*on_up)(void *arg);                    /* connected and versions negotiated */
    void (*on_down)(void *arg, const char *why); /* closed; reconnecting after a backoff */
};

/* A response: r is positioned after the response header of api_key at
 * version ver and reads the body; its bytes live until the callback
 * returns. */
typedef void (*ed_klink_resp_cb)(void *arg, int16_t api_key, int16_t ver, ed_krd *r);

/* Creates the link and starts connecting to host:port. */
int ed_klink_new(ed_loop *l, const char *host, uint16_t port, const struct ed_klink_opts *opts,
                 const struct ed_klink_cbs *cbs, void *arg, ed_klink **out);
/* Adds an address tried after the others when a connection cannot be
 * made (a list of bootstrap servers): each failed attempt moves to the
 * next address, and the backoff grows once every address has failed.
 * ED_ERR_NOMEM, or ED_ERR_TOOBIG past 16 addresses. */
int ed_klink_add_address(ed_klink *k, const char *host, uint16_t port);
/* Closes the connection and frees; no callback runs afterwards. */
void ed_klink_free(ed_klink *k);
/* Connected and negotiated. */
bool ed_klink_up(const ed_klink *k);
/* "host:port" of the address in use (or last tried). */
const char *ed_klink_name(const ed_klink *k);
/* Negotiated version of api_key (-1: none shared or not up). */
int16_t ed_klink_version(const ed_klink *k, int16_t api_key);
/* Requests now outstanding. */
int ed_klink_in_flight(const ed_klink *k);
/* Encodes api_key's request at the negotiated version with enc(w, ver,
 * enc_arg) and queues it; cb(cb_arg, ...) gets the response (NULL cb:
 * none is expected, acks=0). extra_ms lengthens this request's timeout
 * (the broker may hold a Fetch). ED_ERR_CLOSED (not up), ED_ERR_AGAIN
 * (max_in_flight reached), ED_ERR_UNSUPPORTED (no version shared),
 * ED_ERR_TOOBIG/NOMEM (encoding failed; the link is unchanged). */
int ed_klink_send(ed_klink *k, int16_t api_key, ed_kc_enc_fn enc, const void *enc_arg,
                  uint32_t extra_ms, ed_klink_resp_cb cb, void *cb_arg);
/* Drops the connection (outstanding requests are forgotten), calls on_down
 * with why, and reconnects after the backoff. No-op while already down. */
void ed_klink_reset(ed_klink *k, const char *why);
/* Replaces the TLS configuration (a reference taken; NULL = plaintext)
 * and the SASL login (mechanism 0 = none; strings copied) used by the
 * next connection: an open one keeps its session; a link waiting to
 * reconnect tries again at once, its backoff reset. */
void ed_klink_set_security(ed_klink *k, ed_tls_conf *tls, int sasl_mech, const char *username,
                           const char *password);

#endif
