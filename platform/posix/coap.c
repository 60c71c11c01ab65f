/* CoAP over UDP on libcoap for the POSIX loop (see platform/coap.h):
 * libcoap's epoll descriptor watched level-triggered by the loop, one
 * handler for every path and method (libcoap's "unknown resource"),
 * deferred answers on libcoap's async requests, and DTLS endpoints keyed
 * per client identity (libcoap's DTLS is its own OpenSSL inside).
 *
 * A deferred answer is a wait of ours hung on the libcoap async as its
 * application data. When the answer is given the async is triggered;
 * libcoap then calls the handler again with its copy of the request at the
 * end of the next processing, and frees the async. A retransmission that
 * arrives in the same processing before that reaches the handler too (the
 * async is due, so libcoap no longer swallows it): it gets the same
 * answer. So a wait lives until the processing after its answer ends.
 *
 * libcoap 4.3.1 cannot say how many observers a resource has, so each
 * observable path counts its own: an Observe registration answered 2.xx
 * adds (session, token), a deregistration or an error answer to it, a
 * reset or unanswered notification (the NACK handler) and the end of the
 * client's session remove it. */
#define _GNU_SOURCE
#define ED_LOG_MODULE "coap"
#include "platform/coap.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/posix/posix_int.h"

#include <coap3/coap.h>
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define DIAG_MAX 160

/* libcoap is loaded at run time, not linked: Debian builds it once per TLS
 * library, with the same API and ABI. The build with OpenSSL initialises
 * OpenSSL as soon as it starts (about 5 MB of the idle process), so it is
 * loaded only for a context that will have DTLS endpoints; plain CoAP loads
 * the build without TLS, and a broker without a CoAP listener neither. */
#define LIBCOAP_PLAIN "libcoap-3-notls.so.3"
#define LIBCOAP_DTLS  "libcoap-3-openssl.so.3"

/* Every libcoap function used here, one line each (named without the
 * coap_ prefix); the prototypes are libcoap's own. */
#define LIBCOAP_FUNCS                                                                              \
    X(add_data)                                                                                    \
    X(add_data_large_response)                                                                     \
    X(add_option)                                                                                  \
    X(add_resource)                                                                                \
    X(address_init)                                                                                \
    X(async_get_app_data)                                                                          \
    X(async_set_app_data)                                                                          \
    X(async_trigger)                                                                               \
    X(check_option)                                                                                \
    X(context_get_coap_fd)                                                                         \
    X(context_set_block_mode)                                                                      \
    X(context_set_max_idle_sessions)                                                               \
    X(context_set_psk2)                                                                            \
    X(decode_var_bytes)                                                                            \
    X(delete_str_const)                                                                            \
    X(dtls_is_supported)                                                                           \
    X(encode_var_safe)                                                                             \
    X(endpoint_str)                                                                                \
    X(find_async)                                                                                  \
    X(free_context)                                                                                \
    X(get_app_data)                                                                                \
    X(get_data)                                                                                    \
    X(get_data_large)                                                                              \
    X(get_resource_from_uri_path)                                                                  \
    X(io_process)                                                                                  \
    X(make_str_const)                                                                              \
    X(new_context)                                                                                 \
    X(new_endpoint)                                                                                \
    X(new_str_const)                                                                               \
    X(opt_length)                                                                                  \
    X(opt_value)                                                                                   \
    X(option_filter_clear)                                                                         \
    X(option_filter_set)                                                                           \
    X(option_iterator_init)                                                                        \
    X(option_next)                                                                                 \
    X(pdu_get_code)                                                                                \
    X(pdu_get_token)                                                                               \
    X(pdu_get_type)                                                                                \
    X(pdu_set_code)                                                                                \
    X(print_addr)                                                                                  \
    X(register_async)                                                                              \
    X(register_event_handler)                                                                      \
    X(register_nack_handler)                                                                       \
    X(register_request_handler)                                                                    \
    X(resource_get_userdata)                                                                       \
    X(resource_init)                                                                               \
    X(resource_notify_observers)                                                                   \
    X(resource_set_get_observable)                                                                 \
    X(resource_set_userdata)                                                                       \
    X(resource_unknown_init2)                                                                      \
    X(session_get_addr_remote)                                                                     \
    X(session_get_context)                                                                         \
    X(session_get_proto)                                                                           \
    X(session_get_psk_identity)                                                                    \
    X(set_app_data)                                                                                \
    X(set_log_handler)                                                                             \
    X(set_log_level)                                                                               \
    X(startup)

static struct {
#define X(f) __typeof__(coap_##f) *f;
    LIBCOAP_FUNCS
#undef X
} lc;

static const char *lc_loaded; /* the library lc was resolved from, NULL: none yet */

/* Resolves lc from the library dtls asks for (once per process: the build
 * with DTLS serves plain contexts too). false (logged, naming the library
 * or symbol) when it cannot be loaded. */
static bool lc_load(bool dtls)
{
    const char *want = dtls ? LIBCOAP_DTLS : LIBCOAP_PLAIN;
    if (lc_loaded && (!dtls || strcmp(lc_loaded, LIBCOAP_DTLS) == 0)) return true;
    if (lc_loaded) {
        ED_LOG_ERR("coaps:// needs %s, but this process already runs CoAP on %s", want, lc_loaded);
        return false;
    }
    /* never closed: libcoap and its TLS library stay for the process */
    void *h = dlopen(want, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ED_LOG_ERR("CoAP%s needs %s (Debian package libcoap3): %s", dtls ? " over DTLS" : "", want,
                   dlerror());
        return false;
    }
#define X(f)                                                                                       \
    lc.f = (__typeof__(lc.f))dlsym(h, "coap_" #f);                                                 \
    if (!lc.f) {                                                                                   \
        ED_LOG_ERR("%s has no function coap_" #f ": a libcoap 4.3.1 or later is needed", want);    \
        dlclose(h);                                                                                \
        return false;                                                                              \
    }
    LIBCOAP_FUNCS
#undef X
    lc_loaded = want;
    return true;
}

/* libcoap's descriptor in the loop (freed by the loop once closed). */
struct coap_io {
    struct ed_posix_io io; /* first member */
    ed_coap_ctx *c;
};

struct ed_coap_wait {
    ed_coap_wait *prev, *next;
    ed_coap_ctx *c;
    coap_async_t *async;
    bool ready;      /* answered, leaves with the next processing */
    bool redispatch; /* handed over again as a new request (see ed_plat_coap_redispatch) */
    int code;
    char diag[DIAG_MAX];
};

/* An observer: the client's session and its request's token. */
struct observer {
    const coap_session_t *session;
    uint8_t token[8];
    uint8_t token_len;
};

/* An observable path (ed_coap_res is this): libcoap's resource and the
 * observers counted on it. */
struct obs_res {
    struct obs_res *next;
    ed_coap_ctx *c;
    coap_resource_t *r;
    struct observer *obs;
    uint32_t n_obs, cap_obs;
};

struct ed_coap_ctx {
    ed_loop *loop;
    coap_context_t *ctx;
    struct coap_io *io;
    struct ed_coap_cbs cbs;
    void *arg;
    ed_coap_wait *waits;  /* every wait not yet freed */
    ed_timer kick;        /* answers given: process in the next turn of the loop */
    struct obs_res *res;  /* every observable path */
    bool dtls;            /* made for DTLS endpoints (ed_coap_settings.dtls) */
    bool psk;             /* libcoap took the PSK callback: DTLS endpoints can be made */
    coap_bin_const_t key; /* the key psk_lookup hands libcoap (it copies it) */
};

struct ed_coap_req {
    ed_coap_ctx *c;
    coap_resource_t *resource;
    coap_session_t *session;
    const coap_pdu_t *req;
    coap_pdu_t *resp;
    const coap_string_t *query;
    bool done; /* answered or deferred */
    char peer[64];
    char identity[ED_COAP_PSK_IDENTITY_MAX + 1];
};

/* libcoap's log lines go to Eddy's log (its warnings and worse). */
static void coap_log_line(coap_log_t level, const char *message)
{
    size_t n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    /* libcoap's copy of a waiting request keeps no block-wise body (the
     * bridge copied it already): not worth a warning */
    if (strncmp(message, "coap_pdu_resize: pdu too big", 28) == 0) {
        ED_LOG_DBG("libcoap: %.*s", (int)n, message);
        return;
    }
    if (level <= LOG_ERR)
        ED_LOG_ERR_RL("libcoap: %.*s", (int)n, message);
    else
        ED_LOG_WARN_RL("libcoap: %.*s", (int)n, message);
}

static void set_code(coap_pdu_t *resp, int code)
{
    lc.pdu_set_code(resp, (coap_pdu_code_t)COAP_RESPONSE_CODE(code));
}

/* ---- observers counted ---- */

static struct observer *obs_find(struct obs_res *o, const coap_session_t *s, coap_bin_const_t t)
{
    for (uint32_t i = 0; i < o->n_obs; i++) {
        struct observer *e = &o->obs[i];
        if (e->session == s && e->token_len == t.length && memcmp(e->token, t.s, t.length) == 0)
            return e;
    }
    return NULL;
}

static void obs_add(struct obs_res *o, const coap_session_t *s, coap_bin_const_t t)
{
    if (t.length > sizeof o->obs[0].token || obs_find(o, s, t)) return;
    if (o->n_obs == o->cap_obs) {
        uint32_t cap = o->cap_obs ? o->cap_obs * 2 : 8;
        struct observer *n = ed_realloc(o->obs, cap * sizeof *n);
        if (!n) return; /* uncounted: a later limit check sees one fewer */
        o->obs = n;
        o->cap_obs = cap;
    }
    struct observer *e = &o->obs[o->n_obs++];
    e->session = s;
    e->token_len = (uint8_t)t.length;
    memcpy(e->token, t.s, t.length);
}

static void obs_drop(struct obs_res *o, struct observer *e)
{
    *e = o->obs[--o->n_obs];
}

/* The observer (s, token t) is gone from every path (NULL token: every
 * observer of s). */
static void obs_forget(ed_coap_ctx *c, const coap_session_t *s, const coap_bin_const_t *t)
{
    for (struct obs_res *o = c->res; o; o = o->next) {
        if (t) {
            struct observer *e = obs_find(o, s, *t);
            if (e) obs_drop(o, e);
            continue;
        }
        for (uint32_t i = o->n_obs; i-- > 0;)
            if (o->obs[i].session == s) obs_drop(o, &o->obs[i]);
    }
}

/* A CON notification reset or never acknowledged: libcoap drops its
 * observer (the reset at once, the silence after a few). Counted gone now. */
static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t why,
                    const coap_mid_t mid)
{
    ED_UNUSED(mid);
    if (!sent || COAP_RESPONSE_CLASS(lc.pdu_get_code(sent)) != 2) return;
    if (why != COAP_NACK_RST && why != COAP_NACK_TOO_MANY_RETRIES) return;
    coap_bin_const_t t = lc.pdu_get_token(sent);
    obs_forget(lc.get_app_data(lc.session_get_context(s)), s, &t);
}

/* A client's session freed: its observers with it. */
static int on_coap_event(coap_session_t *s, const coap_event_t ev)
{
    if (ev == COAP_EVENT_SERVER_SESSION_DEL)
        obs_forget(lc.get_app_data(lc.session_get_context(s)), s, NULL);
    return 0;
}

/* After a GET on an observable path was answered: what libcoap did with
 * its Observe option, counted. */
static void obs_account(ed_coap_req *rq)
{
    struct obs_res *o = lc.resource_get_userdata(rq->resource);
    int64_t ob = ed_plat_coap_uint_opt(rq, ED_COAP_OPT_OBSERVE);
    int cls = COAP_RESPONSE_CLASS(lc.pdu_get_code(rq->resp));
    coap_bin_const_t t = lc.pdu_get_token(rq->req);
    if (ob == 0 && cls == 2) {
        obs_add(o, rq->session, t);
    } else if (ob == 1 || (ob == 0 && cls > 2)) {
        struct observer *e = obs_find(o, rq->session, t);
        if (e) obs_drop(o, e);
    }
}

/* ---- requests ---- */

static void handler(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                    const coap_string_t *query, coap_pdu_t *resp)
{
    ed_coap_ctx *c = lc.get_app_data(lc.session_get_context(s));
    coap_async_t *a = lc.find_async(s, lc.pdu_get_token(req));
    ed_coap_wait *w = a ? lc.async_get_app_data(a) : NULL;
    if (a && !(w && w->redispatch)) {
        /* libcoap hands a waiting request over only once it is due */
        if (!w || !w->ready) return;
        set_code(resp, w->code);
        if (*w->diag) lc.add_data(resp, strlen(w->diag), (const uint8_t *)w->diag);
        return;
    }
    struct ed_coap_req rq = {
        .c = c, .resource = r, .session = s, .req = req, .resp = resp, .query = query};
    c->cbs.on_request(c->arg, &rq);
    if (!rq.done) set_code(resp, 500);
    if (ed_plat_coap_observable(&rq) && ed_plat_coap_method(&rq) == ED_COAP_GET) obs_account(&rq);
}

enum ed_coap_method ed_plat_coap_method(const ed_coap_req *rq)
{
    switch (lc.pdu_get_code(rq->req)) {
    case COAP_REQUEST_CODE_GET:
        return ED_COAP_GET;
    case COAP_REQUEST_CODE_POST:
        return ED_COAP_POST;
    case COAP_REQUEST_CODE_PUT:
        return ED_COAP_PUT;
    case COAP_REQUEST_CODE_DELETE:
        return ED_COAP_DELETE;
    default:
        return ED_COAP_OTHER;
    }
}

bool ed_plat_coap_confirmable(const ed_coap_req *rq)
{
    return lc.pdu_get_type(rq->req) == COAP_MESSAGE_CON;
}

int ed_plat_coap_path(const ed_coap_req *rq, char *out, size_t out_len)
{
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    lc.option_filter_clear(&f);
    lc.option_filter_set(&f, COAP_OPTION_URI_PATH);
    lc.option_iterator_init(rq->req, &it, &f);
    size_t w = 0;
    coap_opt_t *o;
    if (out_len == 0) return ED_ERR_TOOBIG;
    out[0] = '\0';
    while ((o = lc.option_next(&it))) {
        const uint8_t *v = lc.opt_value(o);
        size_t n = lc.opt_length(o);
        if (n == 0 || memchr(v, '/', n) || memchr(v, '\0', n)) return ED_ERR_INVAL;
        if (w + (w > 0) + n + 1 > out_len) return ED_ERR_TOOBIG;
        if (w > 0) out[w++] = '/';
        memcpy(out + w, v, n);
        w += n;
        out[w] = '\0';
    }
    return ED_OK;
}

bool ed_plat_coap_query(const ed_coap_req *rq, const char *name, const uint8_t **v, size_t *len)
{
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    lc.option_filter_clear(&f);
    lc.option_filter_set(&f, COAP_OPTION_URI_QUERY);
    lc.option_iterator_init(rq->req, &it, &f);
    size_t nl = strlen(name);
    coap_opt_t *o;
    while ((o = lc.option_next(&it))) {
        const uint8_t *p = lc.opt_value(o);
        size_t n = lc.opt_length(o);
        if (n > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            *v = p + nl + 1;
            *len = n - nl - 1;
            return true;
        }
    }
    return false;
}

int64_t ed_plat_coap_uint_opt(const ed_coap_req *rq, uint16_t number)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = lc.check_option(rq->req, number, &it);
    if (!o) return -1;
    if (lc.opt_length(o) > 4) return -2;
    return (int64_t)lc.decode_var_bytes(lc.opt_value(o), lc.opt_length(o));
}

void ed_plat_coap_body(const ed_coap_req *rq, const uint8_t **p, size_t *len)
{
    size_t n = 0, off = 0, total = 0;
    const uint8_t *d = NULL;
    if (!lc.get_data_large(rq->req, &n, &d, &off, &total)) {
        *p = NULL;
        *len = 0;
        return;
    }
    *p = d;
    *len = n;
}

const char *ed_plat_coap_peer(const ed_coap_req *rq)
{
    ed_coap_req *m = (ed_coap_req *)rq; /* filled on first use */
    if (!m->peer[0]) {
        const coap_address_t *a = lc.session_get_addr_remote(rq->session);
        if (!a || lc.print_addr(a, (uint8_t *)m->peer, sizeof m->peer - 1) == 0)
            snprintf(m->peer, sizeof m->peer, "?");
    }
    return m->peer;
}

const char *ed_plat_coap_identity(const ed_coap_req *rq)
{
    if (lc.session_get_proto(rq->session) != COAP_PROTO_DTLS) return NULL;
    ed_coap_req *m = (ed_coap_req *)rq; /* filled on first use */
    if (!m->identity[0]) {
        const coap_bin_const_t *id = lc.session_get_psk_identity(rq->session);
        size_t n = id ? id->length : 0;
        if (n == 0 || n >= sizeof m->identity || memchr(id->s, '\0', n)) return NULL;
        memcpy(m->identity, id->s, n);
        m->identity[n] = '\0';
    }
    return m->identity;
}

/* A DTLS client's identity during its handshake: its key, or NULL (an
 * unknown identity: the handshake fails). */
static const coap_bin_const_t *psk_lookup(coap_bin_const_t *identity, coap_session_t *s, void *arg)
{
    ed_coap_ctx *c = arg;
    const uint8_t *k = NULL;
    size_t kl = 0;
    if (identity && c->cbs.psk_key(c->arg, identity->s, identity->length, &k, &kl) && kl > 0 &&
        kl <= ED_COAP_PSK_KEY_MAX) {
        c->key.length = kl;
        c->key.s = k;
        return &c->key;
    }
    char peer[64] = "?";
    const coap_address_t *a = lc.session_get_addr_remote(s);
    if (a) lc.print_addr(a, (uint8_t *)peer, sizeof peer - 1);
    ED_LOG_WARN_RL("DTLS handshake from %s refused: unknown PSK identity", peer);
    return NULL;
}

static void release_copy(coap_session_t *s, void *p)
{
    ED_UNUSED(s);
    ed_free(p);
}

void ed_plat_coap_answer(ed_coap_req *rq, int code, int format, const void *body, size_t len)
{
    set_code(rq->resp, code);
    if (code / 100 == 2 && format >= 0 && len > 0) {
        /* a body of any size: libcoap sends it block by block (Block2) */
        uint8_t *copy = ed_malloc(len);
        if (copy) {
            memcpy(copy, body, len);
            if (lc.add_data_large_response(rq->resource, rq->session, rq->req, rq->resp, rq->query,
                                           (uint16_t)format, -1, 0, len, copy, release_copy,
                                           copy)) {
                rq->done = true;
                return;
            }
            /* refused (a Block2 request beyond the body): libcoap has put
             * its own error answer in place (and released the copy) */
            size_t dn;
            const uint8_t *dp;
            if (lc.get_data(rq->resp, &dn, &dp)) {
                rq->done = true;
                return;
            }
        }
        set_code(rq->resp, 503);
        static const char oom[] = "out of memory for the answer";
        lc.add_data(rq->resp, sizeof oom - 1, (const uint8_t *)oom);
        rq->done = true;
        return;
    }
    if (format >= 0) {
        uint8_t b[4];
        lc.add_option(rq->resp, COAP_OPTION_CONTENT_FORMAT,
                      lc.encode_var_safe(b, sizeof b, (unsigned)format), b);
    }
    if (len > 0) lc.add_data(rq->resp, len, body);
    rq->done = true;
}

ed_coap_wait *ed_plat_coap_defer(ed_coap_req *rq)
{
    ed_coap_ctx *c = rq->c;
    ed_coap_wait *w = ed_calloc(1, sizeof *w);
    if (!w) return NULL;
    coap_async_t *a = lc.register_async(rq->session, rq->req, 0);
    if (!a) {
        ed_free(w);
        return NULL;
    }
    lc.async_set_app_data(a, w);
    w->next = c->waits;
    if (c->waits) c->waits->prev = w;
    c->waits = w;
    w->async = a;
    w->c = c;
    /* The answer stays empty: a CON gets the empty ACK now, a NON nothing. */
    rq->done = true;
    return w;
}

static void on_kick(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_plat_coap_process(arg);
}

/* w is due: libcoap sends it from its next processing, which runs in the
 * loop's next turn (libcoap arms its own timer only when nothing is due
 * sooner by its reckoning: not waited for). */
static void trigger(ed_coap_wait *w)
{
    lc.async_trigger(w->async);
    if (!ed_plat_timer_armed(&w->c->kick))
        ed_plat_timer_start(w->c->loop, &w->c->kick, 0, on_kick, w->c);
}

bool ed_plat_coap_redispatch(ed_coap_req *rq)
{
    ed_coap_wait *w = ed_plat_coap_defer(rq);
    if (!w) return false;
    w->redispatch = true;
    w->ready = true;
    trigger(w);
    return true;
}

bool ed_plat_coap_observable(const ed_coap_req *rq)
{
    const struct obs_res *o = rq->resource ? lc.resource_get_userdata(rq->resource) : NULL;
    return o && o->c == rq->c && o->r == rq->resource;
}

uint32_t ed_plat_coap_n_observers(const ed_coap_req *rq)
{
    if (!ed_plat_coap_observable(rq)) return 0;
    const struct obs_res *o = lc.resource_get_userdata(rq->resource);
    return o->n_obs;
}

bool ed_plat_coap_observing(const ed_coap_req *rq)
{
    if (!ed_plat_coap_observable(rq)) return false;
    return obs_find(lc.resource_get_userdata(rq->resource), rq->session,
                    lc.pdu_get_token(rq->req)) != NULL;
}

bool ed_plat_coap_redispatched(const ed_coap_req *rq)
{
    coap_async_t *a = lc.find_async(rq->session, lc.pdu_get_token(rq->req));
    ed_coap_wait *w = a ? lc.async_get_app_data(a) : NULL;
    return w && w->redispatch;
}

ed_coap_res *ed_plat_coap_resource(ed_coap_ctx *c, const char *path)
{
    coap_str_const_t p = {strlen(path), (const uint8_t *)path};
    coap_resource_t *r = lc.get_resource_from_uri_path(c->ctx, &p);
    struct obs_res *o = r ? lc.resource_get_userdata(r) : NULL;
    if (o && o->c == c && o->r == r) return (ed_coap_res *)o;
    o = ed_calloc(1, sizeof *o);
    coap_str_const_t *own = o ? lc.new_str_const((const uint8_t *)path, strlen(path)) : NULL;
    r = own ? lc.resource_init(own,
                               COAP_RESOURCE_FLAGS_RELEASE_URI | COAP_RESOURCE_FLAGS_NOTIFY_CON)
            : NULL;
    if (!r) {
        if (own) lc.delete_str_const(own);
        ed_free(o);
        return NULL;
    }
    o->c = c;
    o->r = r;
    o->next = c->res;
    c->res = o;
    lc.register_request_handler(r, COAP_REQUEST_GET, handler);
    lc.register_request_handler(r, COAP_REQUEST_POST, handler);
    lc.register_request_handler(r, COAP_REQUEST_PUT, handler);
    lc.resource_set_get_observable(r, 1);
    lc.resource_set_userdata(r, o);
    lc.add_resource(c->ctx, r);
    return (ed_coap_res *)o;
}

void ed_plat_coap_notify(ed_coap_res *r)
{
    lc.resource_notify_observers(((struct obs_res *)r)->r, NULL);
}

void ed_plat_coap_wait_answer(ed_coap_wait *w, int code, const char *diag)
{
    if (w->ready) return;
    w->ready = true;
    w->code = code;
    snprintf(w->diag, sizeof w->diag, "%s", diag ? diag : "");
    trigger(w);
}

uint32_t ed_plat_coap_n_waits(const ed_coap_ctx *c)
{
    uint32_t n = 0;
    for (const ed_coap_wait *w = c->waits; w; w = w->next)
        n += !w->ready;
    return n;
}

static void wait_unlink(ed_coap_ctx *c, ed_coap_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        c->waits = w->next;
    if (w->next) w->next->prev = w->prev;
    ed_free(w);
}

/* ---- the context and the loop ---- */

void ed_plat_coap_process(ed_coap_ctx *c)
{
    /* Answered before this processing: libcoap sends them at its end (its
     * check of due asyncs) and frees their asyncs. */
    for (ed_coap_wait *w = c->waits; w; w = w->next)
        if (w->ready) w->async = NULL;
    lc.io_process(c->ctx, COAP_IO_NO_WAIT);
    ed_coap_wait *w = c->waits;
    while (w) {
        ed_coap_wait *next = w->next;
        if (w->ready && !w->async) wait_unlink(c, w);
        w = next;
    }
}

static void on_event(struct ed_posix_io *io, uint32_t events)
{
    ED_UNUSED(events);
    ed_plat_coap_process(((struct coap_io *)io)->c);
}

int ed_plat_coap_new(ed_loop *l, const struct ed_coap_settings *st, const struct ed_coap_cbs *cbs,
                     void *arg, ed_coap_ctx **out)
{
    static bool started;
    if (!lc_load(st->dtls)) return ED_ERR_UNSUPPORTED;
    if (!started) {
        lc.startup();
        lc.set_log_handler(coap_log_line);
        lc.set_log_level(LOG_WARNING);
        started = true;
    }
    ed_coap_ctx *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    c->loop = l;
    c->cbs = *cbs;
    c->arg = arg;
    int rc = ED_ERR_NOMEM;
    c->ctx = lc.new_context(NULL);
    if (!c->ctx) goto fail;
    lc.set_app_data(c->ctx, c);
    if (st->max_sessions) lc.context_set_max_idle_sessions(c->ctx, st->max_sessions);
    c->dtls = st->dtls;
    if (st->dtls && cbs->psk_key && lc.dtls_is_supported()) {
        coap_dtls_spsk_t sp = {.version = COAP_DTLS_SPSK_SETUP_VERSION,
                               .validate_id_call_back = psk_lookup,
                               .id_call_back_arg = c};
        c->psk = lc.context_set_psk2(c->ctx, &sp) == 1;
    }
    lc.register_nack_handler(c->ctx, on_nack);
    lc.register_event_handler(c->ctx, on_coap_event);
    int fd = lc.context_get_coap_fd(c->ctx);
    if (fd < 0) {
        ED_LOG_ERR("this libcoap has no epoll descriptor: it cannot run in Eddy's loop");
        rc = ED_ERR_UNSUPPORTED;
        goto fail;
    }
    coap_resource_t *r = lc.resource_unknown_init2(handler, 0);
    if (!r) goto fail;
    lc.register_request_handler(r, COAP_REQUEST_GET, handler);
    lc.register_request_handler(r, COAP_REQUEST_POST, handler);
    lc.register_request_handler(r, COAP_REQUEST_DELETE, handler);
    lc.add_resource(c->ctx, r);
    /* /.well-known/core is the bridge's (libcoap's own lists resources,
     * not topics) */
    r = lc.resource_init(lc.make_str_const(".well-known/core"), 0);
    if (!r) goto fail;
    lc.register_request_handler(r, COAP_REQUEST_GET, handler);
    lc.add_resource(c->ctx, r);
    lc.context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    c->io = ed_calloc(1, sizeof *c->io);
    if (!c->io) goto fail;
    c->io->c = c;
    c->io->io.fd = fd;
    c->io->io.on_event = on_event;
    rc = ed_posix_io_set(l, &c->io->io, EPOLLIN);
    if (rc != ED_OK) goto fail;
    *out = c;
    return ED_OK;
fail:
    ed_plat_coap_free(c);
    return rc;
}

void ed_plat_coap_free(ed_coap_ctx *c)
{
    if (!c) return;
    if (c->loop) ed_plat_timer_stop(c->loop, &c->kick);
    if (c->io) {
        /* the descriptor is libcoap's: out of the loop, closed by libcoap */
        ed_posix_io_unwatch(c->loop, &c->io->io);
        c->io->io.fd = -1;
        ed_posix_io_close(c->loop, &c->io->io);
    }
    if (c->ctx) lc.free_context(c->ctx);
    while (c->waits)
        wait_unlink(c, c->waits);
    while (c->res) {
        struct obs_res *o = c->res;
        c->res = o->next;
        ed_free(o->obs);
        ed_free(o);
    }
    ed_free(c);
}

static int listen_on(ed_coap_ctx *c, const char *host, uint16_t port, coap_proto_t proto,
                     uint16_t *bound)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int e = getaddrinfo(*host ? host : NULL, ps, &hints, &res);
    if (e != 0 || !res) {
        ED_LOG_ERR("CoAP listener %s:%u: %s", host, port, gai_strerror(e));
        return ED_ERR_NOENT;
    }
    coap_address_t a;
    lc.address_init(&a);
    a.size = res->ai_addrlen;
    memcpy(&a.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    coap_endpoint_t *ep = lc.new_endpoint(c->ctx, &a, proto);
    if (!ep) {
        ED_LOG_ERR("CoAP listener %s:%u: cannot bind (address in use or not local)", host, port);
        return ED_ERR_IO;
    }
    /* "127.0.0.1:5683", "[::1]:5683": the port the OS chose */
    const char *s = lc.endpoint_str(ep);
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (bound) *bound = colon ? (uint16_t)strtoul(colon + 1, NULL, 10) : port;
    /* libcoap reads new datagrams through its own descriptor, already
     * watched */
    return ED_OK;
}

int ed_plat_coap_listen(ed_coap_ctx *c, const char *host, uint16_t port, uint16_t *bound)
{
    return listen_on(c, host, port, COAP_PROTO_UDP, bound);
}

int ed_plat_coap_listen_dtls(ed_coap_ctx *c, const char *host, uint16_t port, uint16_t *bound)
{
    if (!c->psk) {
        ED_LOG_ERR("CoAP listener %s:%u: %s", host, port,
                   c->dtls ? "this libcoap has no DTLS with pre-shared keys"
                           : "the CoAP context was made without DTLS");
        return ED_ERR_UNSUPPORTED;
    }
    return listen_on(c, host, port, COAP_PROTO_DTLS, bound);
}
