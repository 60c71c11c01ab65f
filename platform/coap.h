/* CoAP over UDP for the event loop: a thin contract over libcoap (the
 * only code that includes it is the port's coap.c). A context with its
 * UDP endpoints (plain or DTLS with pre-shared keys), every request handed to one callback, answers
 * given at once or deferred ("separate responses", RFC 7252 5.2.2) until the caller says they are
 * due. libcoap's own descriptor (its epoll set, its timers inside) is watched by the loop and
 * processed without blocking when it is readable: no second thread.
 *
 * A deferred request of a confirmable message gets libcoap's empty ACK at
 * once; while it waits, libcoap answers retransmissions of it with the
 * empty ACK again and never hands them over a second time. Once the
 * answer is given (ed_plat_coap_wait_answer) it leaves from the next
 * processing as a separate CON response (a NON request: a NON response).
 * The protocol (paths, topics, codes) lives above, in bridge/coap*. */
#ifndef ED_PLATFORM_COAP_H
#define ED_PLATFORM_COAP_H

#include "platform/net.h"

typedef struct ed_coap_ctx ed_coap_ctx;
typedef struct ed_coap_req ed_coap_req;   /* a request, valid during the callback */
typedef struct ed_coap_wait ed_coap_wait; /* a deferred answer */
typedef struct ed_coap_res ed_coap_res;   /* an observable path */

enum ed_coap_method {
    ED_COAP_GET = 1,
    ED_COAP_POST = 2,
    ED_COAP_PUT = 3,
    ED_COAP_DELETE = 4,
    ED_COAP_OTHER = 5, /* FETCH, PATCH, iPATCH */
};

/* Option numbers the bridge reads (RFC 7252, 7641, 7959). */
#define ED_COAP_OPT_OBSERVE        6
#define ED_COAP_OPT_CONTENT_FORMAT 12
#define ED_COAP_OPT_ACCEPT         17
/* No Content-Format option in an answer. */
#define ED_COAP_FORMAT_NONE (-1)

struct ed_coap_cbs {
    /* One request. The callback answers it (ed_plat_coap_answer) or
     * defers it (ed_plat_coap_defer); one that does neither gets 5.00. */
    void (*on_request)(void *arg, ed_coap_req *rq);
    /* DTLS-PSK: the key of a client's identity during its handshake (the
     * bytes are copied), false for an unknown identity (the handshake
     * fails). NULL: no DTLS endpoint can be made. */
    bool (*psk_key)(void *arg, const uint8_t *identity, size_t len, const uint8_t **key,
                    size_t *key_len);
};

/* The longest PSK identity and key a DTLS client may use (libcoap's). */
#define ED_COAP_PSK_IDENTITY_MAX 64
#define ED_COAP_PSK_KEY_MAX      64

struct ed_coap_settings {
    uint32_t max_sessions; /* client endpoints (address:port) kept at once; 0 = no limit */
    /* DTLS endpoints will be made: loads libcoap's build with OpenSSL
     * (otherwise the one without TLS, and ed_plat_coap_listen_dtls fails) */
    bool dtls;
};

/* A context on loop l; the first one loads libcoap. ED_ERR_UNSUPPORTED
 * (logged, naming what is missing) when libcoap's library or one of its
 * functions is not there, or it has no epoll. */
int ed_plat_coap_new(ed_loop *l, const struct ed_coap_settings *st, const struct ed_coap_cbs *cbs,
                     void *arg, ed_coap_ctx **out);
/* Frees the context: endpoints, sessions, and every deferred request
 * whose answer was never sent (their clients get nothing more). */
void ed_plat_coap_free(ed_coap_ctx *c);
/* Binds a UDP endpoint on host:port (port 0: one the OS picks); *bound
 * gets the port. */
int ed_plat_coap_listen(ed_coap_ctx *c, const char *host, uint16_t port, uint16_t *bound);
/* The same for DTLS with pre-shared keys (cbs.psk_key says which):
 * ED_ERR_UNSUPPORTED when this libcoap has no DTLS-PSK or the context no
 * psk_key. Datagrams that are not DTLS records are dropped there. */
int ed_plat_coap_listen_dtls(ed_coap_ctx *c, const char *host, uint16_t port, uint16_t *bound);
/* Runs libcoap's input, timers and due deferred answers now, without
 * blocking (the loop does this itself when libcoap's descriptor is
 * readable; tests call it). */
void ed_plat_coap_process(ed_coap_ctx *c);
/* Deferred requests not yet answered and sent. */
uint32_t ed_plat_coap_n_waits(const ed_coap_ctx *c);

/* ---- a request (inside on_request) ---- */
enum ed_coap_method ed_plat_coap_method(const ed_coap_req *rq);
bool ed_plat_coap_confirmable(const ed_coap_req *rq);
/* The Uri-Path options joined with '/' (no leading '/'), NUL-terminated.
 * ED_ERR_TOOBIG when it does not fit out_len, ED_ERR_INVAL when a segment
 * holds '/' or a NUL byte or is empty. */
int ed_plat_coap_path(const ed_coap_req *rq, char *out, size_t out_len);
/* The value of Uri-Query item name=value (false: no such item). */
bool ed_plat_coap_query(const ed_coap_req *rq, const char *name, const uint8_t **v, size_t *len);
/* An unsigned option's value (Content-Format, Accept, Observe); -1 when
 * absent, -2 when longer than 4 bytes. */
int64_t ed_plat_coap_uint_opt(const ed_coap_req *rq, uint16_t number);
/* The payload (the whole body once block-wise transfer is reassembled). */
void ed_plat_coap_body(const ed_coap_req *rq, const uint8_t **p, size_t *len);
/* "host:port" of the client, for logs. */
const char *ed_plat_coap_peer(const ed_coap_req *rq);
/* The PSK identity the client's DTLS session was keyed with (NUL-free by
 * the psk_key callback's choice), NUL-terminated; NULL over plain UDP. */
const char *ed_plat_coap_identity(const ed_coap_req *rq);

/* Answers now: code as class * 100 + detail (204, 404, 503, ...), format
 * a Content-Format (ED_COAP_FORMAT_NONE: no option) and body (a
 * diagnostic text for errors). A 2.xx body with a format is copied and may
 * be of any size: libcoap sends it block-wise (RFC 7959, Block2) when it
 * does not fit one datagram, and with the Observe option when the request
 * registered an observer. */
void ed_plat_coap_answer(ed_coap_req *rq, int code, int format, const void *body, size_t len);
/* Defers the answer: NULL when it cannot be kept (out of memory, or the
 * same token is already waiting); then answer at once. */
ed_coap_wait *ed_plat_coap_defer(ed_coap_req *rq);
/* Hands the request over again, as new, from the next processing (after
 * the path gained a resource: libcoap registers observers only on a
 * resource of their own). A CON gets the empty ACK now and the answer
 * separately. false when it cannot be kept (answer now). */
bool ed_plat_coap_redispatch(ed_coap_req *rq);
/* Whether the request is such a second hand-over. */
bool ed_plat_coap_redispatched(const ed_coap_req *rq);
/* Whether the request reached a path of ed_plat_coap_resource (so an
 * Observe option in it registered an observer). */
bool ed_plat_coap_observable(const ed_coap_req *rq);
/* The observable path (no leading '/'), made on first use: NULL when out
 * of memory. The caller caps how many it makes; they live as long as the
 * context. */
ed_coap_res *ed_plat_coap_resource(ed_coap_ctx *c, const char *path);
/* Its observers get a notification: on_request runs for each with the
 * request it registered with (CON notifications). */
void ed_plat_coap_notify(ed_coap_res *r);
/* Observers of the request's observable path (0 when it is none),
 * counted as libcoap keeps them: a GET with Observe 0 answered 2.xx adds
 * one; Observe 1, an error answer, a reset or unacknowledged notification,
 * or the end of the client's session removes it. */
uint32_t ed_plat_coap_n_observers(const ed_coap_req *rq);
/* Whether the request's client and token already observe its path (a
 * notification or a re-registration, not a new observer). */
bool ed_plat_coap_observing(const ed_coap_req *rq);

/* The deferred answer is due: code and a diagnostic text (copied, may be
 * NULL); it leaves from the next processing. Call once per wait; after
 * it the wait belongs to the context again. */
void ed_plat_coap_wait_answer(ed_coap_wait *w, int code, const char *diag);

#endif
