/* One outgoing Kafka connection on the event loop: dial (each address in
 * turn), TLS, ApiVersions, SASL, pipelined requests matched to responses
 * by correlation id (Kafka answers in request order on a connection),
 * request timeouts and reconnection with exponential backoff and
 * jitter. */
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "klink"
#include "platform/log.h"
#include "platform/mem.h"
#include "core/kafka/klink.h"
#include "core/kafka/schema.h"
#include "core/sasl.h"

#define MAX_IN_FLIGHT 64
#define READ_CHUNK    65536
#define KEEP_LEN      (READ_CHUNK + 4096) /* buffers above this are freed once empty */
#define OUT_MAX       (256u << 20)        /* ceiling of the requests being written */
#define MAX_ADDRS     16
#define MAX_SASL_STEP 4 /* PLAIN takes one round trip, SCRAM two */

/* NEGOTIATING covers the TLS handshake too (the ApiVersions request waits
 * in the session until it is done, under the request's deadline). */
enum link_state { LINK_DOWN, LINK_DIALING, LINK_NEGOTIATING, LINK_AUTH, LINK_UP };

struct pending {
    int32_t corr;
    int16_t key, ver;
    bool own; /* the link's own ApiVersions and SASL requests */
    uint64_t deadline_ms;
    ed_klink_resp_cb cb;
    void *arg;
};

struct addr {
    char host[256];
    uint16_t port;
};

struct ed_klink {
    ed_loop *loop;
    struct addr addrs[MAX_ADDRS];
    int n_addrs, cur; /* the address dialled now or last */
    char name[280];
    char client_id[64];
    struct ed_klink_opts o;
    struct ed_klink_cbs cbs;
    void *arg;
    enum link_state state;
    ed_stream *s;
    uint32_t gen;   /* bumped at every close: callbacks of an older connection stop */
    ed_timer timer; /* backoff while down; the oldest deadline otherwise */
    uint32_t n_failures;
    uint64_t dial_deadline_ms;
    int32_t next_corr;
    struct pending q[MAX_IN_FLIGHT]; /* ring, oldest at q_head */
    int q_head, q_n;
    ed_kwr out; /* framed requests not yet written, from out_off */
    size_t out_off;
    uint8_t *in; /* received bytes */
    size_t in_len, in_cap;
    int16_t ver[ED_KMSG_N_KEYS];
    char user[ED_SASL_MAX_NAME + 1];
    char password[ED_SASL_MAX_PASSWORD + 1];
    ed_sasl_client *sasl; /* during LINK_AUTH */
    int sasl_steps;
};

static void start_dial(ed_klink *k);
static void arm(ed_klink *k);
static void on_timer(ed_timer *t, void *arg);
static int enqueue(ed_klink *k, int16_t key, int16_t ver, ed_kc_enc_fn enc, const void *enc_arg,
                   uint32_t extra_ms, ed_klink_resp_cb cb, void *cb_arg, bool own);

static void set_name(ed_klink *k)
{
    const struct addr *a = &k->addrs[k->cur];
    snprintf(k->name, sizeof k->name, strchr(a->host, ':') ? "[%s]:%u" : "%s:%u", a->host,
             (unsigned)a->port);
}

static uint64_t now_ms(const ed_klink *k)
{
    return ed_plat_loop_now_ms(k->loop);
}

/* Closes the connection; the owner hears why and a reconnect is timed. */
static void go_down(ed_klink *k, const char *why)
{
    if (k->state == LINK_DOWN) return;
    bool was_up = k->state == LINK_UP;
    ed_plat_stream_close(k->s);
    k->s = NULL;
    ed_sasl_client_free(k->sasl);
    k->sasl = NULL;
    k->gen++;
    k->state = LINK_DOWN;
    k->q_n = 0;
    k->q_head = 0;
    ed_kwr_reset(&k->out);
    k->out_off = 0;
    k->in_len = 0;
    /* A connection that never came up moves on to the next address; the
     * backoff grows once per round through all of them. */
    char name[sizeof k->name];
    memcpy(name, k->name, sizeof name);
    bool next_addr = !was_up && k->n_addrs > 1;
    if (next_addr) {
        k->cur = (k->cur + 1) % k->n_addrs;
        set_name(k);
    }
    uint64_t delay = 0;
    if (!next_addr || k->cur == 0) {
        k->n_failures++;
        uint32_t shift = k->n_failures > 16 ? 16 : k->n_failures - 1;
        delay = (uint64_t)k->o.backoff_ms << shift;
        if (delay > k->o.backoff_max_ms) delay = k->o.backoff_max_ms;
        uint16_t rnd = 0;
        ed_plat_random(&rnd, sizeof rnd);
        delay = delay * (80u + rnd % 41u) / 100u; /* +-20 % so a fleet does not reconnect in step */
    }
    if (next_addr)
        ED_LOG_INFO("%s: %s; trying %s in %llu ms", name, why, k->name, (unsigned long long)delay);
    else if (was_up || k->n_failures == 1)
        ED_LOG_WARN("%s: connection lost (%s); reconnecting in %llu ms", k->name, why,
                    (unsigned long long)delay);
    else
        ED_LOG_DBG("%s: %s; retrying in %llu ms", k->name, why, (unsigned long long)delay);
    ed_plat_timer_start(k->loop, &k->timer, (uint32_t)delay, on_timer, k);
    if (k->cbs.on_down) k->cbs.on_down(k->arg, why);
}

/* Why a read or write failed: a failed TLS handshake says what failed
 * (an unknown authority, a name mismatch), else the peer closed. */
static void lost(ed_klink *k, const char *plain_why)
{
    char why[300] = "TLS: ";
    if (k->o.tls && k->s && ed_plat_tls_handshake(k->s, why + 5, sizeof why - 5) != ED_OK) {
        go_down(k, why);
        return;
    }
    go_down(k, plain_why);
}

static void flush_out(ed_klink *k)
{
    while (k->out_off < k->out.len) {
        struct ed_iovec v = {k->out.buf + k->out_off, k->out.len - k->out_off};
        size_t n = 0;
        int rc = ed_plat_stream_writev(k->s, &v, 1, &n);
        if (rc) {
            lost(k, "write failed");
            return;
        }
        if (n == 0) break;
        k->out_off += n;
    }
    bool left = k->out_off < k->out.len;
    if (!left) {
        /* a large request (a mirror batch) does not keep its buffer */
        if (k->out.cap > KEEP_LEN) {
            ed_kwr_free(&k->out);
            ed_kwr_init(&k->out, OUT_MAX);
        }
        ed_kwr_reset(&k->out);
        k->out_off = 0;
    }
    ed_plat_stream_want_write(k->s, left);
}

static int enqueue(ed_klink *k, int16_t key, int16_t ver, ed_kc_enc_fn enc, const void *enc_arg,
                   uint32_t extra_ms, ed_klink_resp_cb cb, void *cb_arg, bool own)
{
    size_t mark = k->out.len;
    int32_t corr = k->next_corr++;
    if (k->next_corr < 0) k->next_corr = 1;
    size_t start = ed_kc_frame_begin(&k->out, key, ver, corr, k->client_id);
    enc(&k->out, ver, enc_arg);
    ed_kc_frame_end(&k->out, start);
    if (!ed_kwr_ok(&k->out)) {
        int rc = k->out.err;
        k->out.err = ED_OK;
        k->out.len = mark;
        return rc;
    }
    if (cb || own) {
        struct pending *p = &k->q[(k->q_head + k->q_n) % MAX_IN_FLIGHT];
        *p = (struct pending){corr, key,   ver, own, now_ms(k) + k->o.request_timeout_ms + extra_ms,
                              cb,   cb_arg};
        k->q_n++;
    }
    flush_out(k);
    arm(k);
    return ED_OK;
}

static void enc_api_versions(ed_kwr *w, int16_t ver, const void *arg)
{
    ED_UNUSED(arg);
    ed_kc_enc_api_versions(w, ver);
}

static void link_up(ed_klink *k)
{
    k->state = LINK_UP;
    k->n_failures = 0;
    ED_LOG_INFO("%s: connected%s", k->name, k->o.sasl_mech ? " and authenticated" : "");
    if (k->cbs.on_up) k->cbs.on_up(k->arg);
}

/* ---- SASL: SaslHandshake v1, then SaslAuthenticate round trips driven
 * by the client side of core/sasl.h ---- */

static void sasl_failed(ed_klink *k, const char *why)
{
    go_down(k, why);
}

/* Feeds the server's token (NULL at the start) to the mechanism and sends
 * the answer, or finishes. */
static void sasl_step(ed_klink *k, const uint8_t *in, size_t in_len)
{
    struct ed_kc_sasl_token out;
    enum ed_sasl_status st = ed_sasl_client_step(k->sasl, in, in_len, &out.p, &out.len);
    if (st == ED_SASL_DONE) {
        ed_sasl_client_free(k->sasl);
        k->sasl = NULL;
        link_up(k);
        return;
    }
    char why[300];
    if (st == ED_SASL_FAILED || ++k->sasl_steps > MAX_SASL_STEP) {
        snprintf(why, sizeof why, "SASL %s: %s", ed_sasl_mech_name(k->o.sasl_mech),
                 st == ED_SASL_FAILED ? ed_sasl_client_reason(k->sasl) : "too many steps");
        sasl_failed(k, why);
        return;
    }
    int16_t ver = k->ver[ED_KMSG_SASL_AUTHENTICATE];
    if (enqueue(k, ED_KMSG_SASL_AUTHENTICATE, ver, ed_kc_enc_sasl_authenticate, &out, 0, NULL, NULL,
                true) != ED_OK)
        sasl_failed(k, "cannot encode SaslAuthenticate");
}

static void start_sasl(ed_klink *k)
{
    if (k->ver[ED_KMSG_SASL_HANDSHAKE] < 1 || k->ver[ED_KMSG_SASL_AUTHENTICATE] < 0) {
        sasl_failed(k, "the broker offers no SaslHandshake v1 / SaslAuthenticate (no SASL "
                       "listener at this address?)");
        return;
    }
    if (ed_sasl_client_new(k->o.sasl_mech, k->user, k->password, &k->sasl) != ED_OK) {
        sasl_failed(k, "cannot start SASL (user name and password need 1..255 bytes each)");
        return;
    }
    k->state = LINK_AUTH;
    k->sasl_steps = 0;
    if (enqueue(k, ED_KMSG_SASL_HANDSHAKE, k->ver[ED_KMSG_SASL_HANDSHAKE], ed_kc_enc_sasl_handshake,
                ed_sasl_mech_name(k->o.sasl_mech), 0, NULL, NULL, true) != ED_OK)
        sasl_failed(k, "cannot encode SaslHandshake");
}

static void on_sasl(ed_klink *k, int16_t key, int16_t ver, ed_krd *r)
{
    char why[400];
    struct ed_kc_mem mem;
    memset(&mem, 0, sizeof mem);
    if (key == ED_KMSG_SASL_HANDSHAKE) {
        struct ed_kmsg_sasl_handshake_response hr;
        if (ed_kc_decode(r, key, ver, &mem, &hr) != ED_OK) {
            ed_kc_free(&mem);
            sasl_failed(k, "malformed SaslHandshake response");
            return;
        }
        int16_t err = hr.error_code;
        ed_kc_free(&mem);
        if (err) {
            snprintf(why, sizeof why, "SASL mechanism %s refused: %s",
                     ed_sasl_mech_name(k->o.sasl_mech), ed_kc_errname(err));
            sasl_failed(k, why);
            return;
        }
        sasl_step(k, NULL, 0);
        return;
    }
    struct ed_kmsg_sasl_authenticate_response ar;
    if (ed_kc_decode(r, key, ver, &mem, &ar) != ED_OK) {
        ed_kc_free(&mem);
        sasl_failed(k, "malformed SaslAuthenticate response");
        return;
    }
    if (ar.error_code) {
        ed_kc_sasl_auth_error(why, sizeof why, ar.error_code, ar.error_message);
        ed_kc_free(&mem);
        sasl_failed(k, why);
        return;
    }
    if (ar.auth_bytes.len < 0 || ar.auth_bytes.len > ED_SASL_MAX_MSG) {
        ed_kc_free(&mem);
        sasl_failed(k, "SASL answer from the broker too long");
        return;
    }
    sasl_step(k, ar.auth_bytes.p, (size_t)ar.auth_bytes.len);
    ed_kc_free(&mem);
}

static void negotiated(ed_klink *k, int16_t ver, ed_krd *r)
{
    struct ed_kc_api_versions av;
    memset(&av, 0, sizeof av);
    int rc = ed_kc_dec_api_versions(r, ver, &av);
    if (rc || av.error) {
        bool retry = rc == ED_OK && av.error == 35 && ver > 0;
        ed_kc_free(&av.mem);
        if (retry) { /* the broker predates ApiVersions v3: ask in v0 */
            enqueue(k, ED_KMSG_API_VERSIONS, 0, enc_api_versions, NULL, 0, NULL, NULL, true);
            return;
        }
        go_down(k, rc ? "malformed ApiVersions response" : "ApiVersions refused");
        return;
    }
    for (int i = 0; i < ED_KMSG_N_KEYS; i++)
        k->ver[i] = -1;
    for (int32_t i = 0; i < av.n_apis; i++) {
        int16_t key = av.apis[i].key, mn, mx;
        if (key < 0 || key >= ED_KMSG_N_KEYS || !ed_kc_api_range(key, &mn, &mx)) continue;
        int16_t v = ED_MIN(mx, av.apis[i].max);
        if (v >= mn && v >= av.apis[i].min) k->ver[key] = v;
    }
    ed_kc_free(&av.mem);
    if (k->o.sasl_mech) {
        start_sasl(k);
        return;
    }
    link_up(k);
}

/* Hands every whole response in the input buffer to its request. */
static void consume(ed_klink *k)
{
    uint32_t gen = k->gen;
    size_t pos = 0;
    while (k->gen == gen && k->in_len - pos >= 4) {
        uint32_t sz = ed_get_be32(k->in + pos);
        if (sz < 4 || sz > k->o.max_response_len) {
            go_down(k, "response of impossible size");
            return;
        }
        if (k->in_len - pos - 4 < sz) break;
        if (k->q_n == 0) {
            go_down(k, "response to no request");
            return;
        }
        struct pending p = k->q[k->q_head];
        k->q_head = (k->q_head + 1) % MAX_IN_FLIGHT;
        k->q_n--;
        ed_krd r;
        ed_krd_init(&r, k->in + pos + 4, sz);
        int32_t corr = ed_kc_read_resp_header(&r, p.key, p.ver);
        pos += 4 + (size_t)sz;
        if (!ed_krd_ok(&r) || corr != p.corr) {
            go_down(k, "response does not match its request (correlation id)");
            return;
        }
        if (p.own && p.key == ED_KMSG_API_VERSIONS)
            negotiated(k, p.ver, &r);
        else if (p.own)
            on_sasl(k, p.key, p.ver, &r);
        else if (p.cb)
            p.cb(p.arg, p.key, p.ver, &r);
    }
    if (k->gen != gen) return; /* a callback reset the link: the buffer is gone */
    memmove(k->in, k->in + pos, k->in_len - pos);
    k->in_len -= pos;
    if (!k->in_len && k->in_cap > KEEP_LEN) { /* nor a large response */
        ed_free(k->in);
        k->in = NULL;
        k->in_cap = 0;
    }
    arm(k);
}

static void on_readable(void *arg)
{
    ed_klink *k = arg;
    uint32_t gen = k->gen;
    for (int round = 0; round < 16 && k->gen == gen; round++) {
        size_t want = k->in_len + READ_CHUNK;
        if (k->in_len >= 4) {
            size_t frame = 4 + (size_t)ed_get_be32(k->in);
            if (frame > want && frame <= k->o.max_response_len + 4) want = frame;
        }
        if (want > k->in_cap) {
            uint8_t *p = ed_realloc(k->in, want);
            if (!p) {
                go_down(k, "out of memory for a response");
                return;
            }
            k->in = p;
            k->in_cap = want;
        }
        size_t n = 0;
        int rc = ed_plat_stream_read(k->s, k->in + k->in_len, k->in_cap - k->in_len, &n);
        if (rc == ED_ERR_AGAIN) return;
        if (rc) {
            lost(k, "closed by the broker");
            return;
        }
        k->in_len += n;
        consume(k);
    }
}

static void on_writable(void *arg)
{
    ed_klink *k = arg;
    flush_out(k);
}

static const struct ed_stream_cbs stream_cbs = {on_readable, on_writable};

static void on_dialled(void *arg, int status)
{
    ed_klink *k = arg;
    if (status) {
        go_down(k, status == ED_ERR_CLOSED ? "connection refused or unreachable"
                                           : ed_strerror(status));
        return;
    }
    if (k->o.tls) {
        ed_stream *t = NULL;
        int rc = ed_plat_tls_client(k->loop, k->o.tls, k->s, k->addrs[k->cur].host, &t);
        k->s = t; /* on failure the TCP stream is closed already */
        if (rc) {
            go_down(k, "cannot start a TLS session");
            return;
        }
    }
    k->state = LINK_NEGOTIATING;
    ed_plat_stream_set_cbs(k->s, &stream_cbs, k);
    if (enqueue(k, ED_KMSG_API_VERSIONS, 3, enc_api_versions, NULL, 0, NULL, NULL, true) != ED_OK)
        go_down(k, "cannot encode ApiVersions");
}

/* The one timer: reconnect when down, the connect deadline while dialling,
 * the oldest request's deadline otherwise. */
static void on_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_klink *k = arg;
    uint64_t now = now_ms(k);
    switch (k->state) {
    case LINK_DOWN:
        start_dial(k);
        return;
    case LINK_DIALING:
        if (now >= k->dial_deadline_ms) {
            go_down(k, "connect timed out");
            return;
        }
        break;
    case LINK_NEGOTIATING:
    case LINK_AUTH:
    case LINK_UP:
        if (k->q_n && now >= k->q[k->q_head].deadline_ms) {
            go_down(k, "request timed out (no answer within the request timeout)");
            return;
        }
        break;
    }
    arm(k);
}

static void arm(ed_klink *k)
{
    if (k->state == LINK_DOWN) return; /* the backoff is armed by go_down */
    uint64_t due = 0;
    if (k->state == LINK_DIALING)
        due = k->dial_deadline_ms;
    else if (k->q_n)
        due = k->q[k->q_head].deadline_ms;
    if (!due) {
        ed_plat_timer_stop(k->loop, &k->timer);
        return;
    }
    uint64_t now = now_ms(k);
    ed_plat_timer_start(k->loop, &k->timer, due > now ? (uint32_t)(due - now) : 0, on_timer, k);
}

static void start_dial(ed_klink *k)
{
    ed_klink_dial_fn dial = k->o.dial;
    const struct addr *a = &k->addrs[k->cur];
    int rc = dial ? dial(k->o.dial_arg, k->loop, a->host, a->port, on_dialled, k, &k->s)
                  : ed_plat_tcp_dial(k->loop, a->host, a->port, on_dialled, k, &k->s);
    k->state = LINK_DIALING;
    k->dial_deadline_ms = now_ms(k) + k->o.request_timeout_ms;
    if (rc) {
        k->s = NULL;
        go_down(k, rc == ED_ERR_NOENT ? "the name does not resolve" : ed_strerror(rc));
        return;
    }
    arm(k);
}

int ed_klink_new(ed_loop *l, const char *host, uint16_t port, const struct ed_klink_opts *opts,
                 const struct ed_klink_cbs *cbs, void *arg, ed_klink **out)
{
    ed_klink *k = ed_calloc(1, sizeof *k);
    if (!k) return ED_ERR_NOMEM;
    k->loop = l;
    snprintf(k->addrs[0].host, sizeof k->addrs[0].host, "%s", host);
    k->addrs[0].port = port;
    k->n_addrs = 1;
    set_name(k);
    if (opts) k->o = *opts;
    snprintf(k->user, sizeof k->user, "%s", k->o.sasl_username ? k->o.sasl_username : "");
    snprintf(k->password, sizeof k->password, "%s", k->o.sasl_password ? k->o.sasl_password : "");
    k->o.sasl_username = k->o.sasl_password = NULL;
    if (k->o.tls) ed_plat_tls_conf_ref(k->o.tls);
    snprintf(k->client_id, sizeof k->client_id, "%s", k->o.client_id ? k->o.client_id : "eddy");
    k->o.client_id = k->client_id;
    if (!k->o.request_timeout_ms) k->o.request_timeout_ms = 30000;
    if (!k->o.backoff_ms) k->o.backoff_ms = 100;
    if (!k->o.backoff_max_ms) k->o.backoff_max_ms = 10000;
    if (k->o.max_in_flight <= 0) k->o.max_in_flight = 5;
    if (k->o.max_in_flight > MAX_IN_FLIGHT) k->o.max_in_flight = MAX_IN_FLIGHT;
    if (!k->o.max_response_len) k->o.max_response_len = 64u << 20;
    if (cbs) k->cbs = *cbs;
    k->arg = arg;
    k->next_corr = 1;
    ed_kwr_init(&k->out, OUT_MAX);
    for (int i = 0; i < ED_KMSG_N_KEYS; i++)
        k->ver[i] = -1;
    start_dial(k);
    *out = k;
    return ED_OK;
}

int ed_klink_add_address(ed_klink *k, const char *host, uint16_t port)
{
    if (k->n_addrs == MAX_ADDRS) return ED_ERR_TOOBIG;
    struct addr *a = &k->addrs[k->n_addrs++];
    snprintf(a->host, sizeof a->host, "%s", host);
    a->port = port;
    return ED_OK;
}

void ed_klink_free(ed_klink *k)
{
    if (!k) return;
    ed_plat_timer_stop(k->loop, &k->timer);
    ed_plat_stream_close(k->s);
    ed_sasl_client_free(k->sasl);
    ed_plat_tls_conf_unref(k->o.tls);
    memset(k->password, 0, sizeof k->password);
    ed_kwr_free(&k->out);
    ed_free(k->in);
    ed_free(k);
}

bool ed_klink_up(const ed_klink *k)
{
    return k->state == LINK_UP;
}

const char *ed_klink_name(const ed_klink *k)
{
    return k->name;
}

int16_t ed_klink_version(const ed_klink *k, int16_t api_key)
{
    if (k->state != LINK_UP || api_key < 0 || api_key >= ED_KMSG_N_KEYS) return -1;
    return k->ver[api_key];
}

int ed_klink_in_flight(const ed_klink *k)
{
    return k->q_n;
}

int ed_klink_send(ed_klink *k, int16_t api_key, ed_kc_enc_fn enc, const void *enc_arg,
                  uint32_t extra_ms, ed_klink_resp_cb cb, void *cb_arg)
{
    if (k->state != LINK_UP) return ED_ERR_CLOSED;
    if (k->q_n >= k->o.max_in_flight) return ED_ERR_AGAIN;
    int16_t ver = ed_klink_version(k, api_key);
    if (ver < 0) return ED_ERR_UNSUPPORTED;
    return enqueue(k, api_key, ver, enc, enc_arg, extra_ms, cb, cb_arg, false);
}

void ed_klink_reset(ed_klink *k, const char *why)
{
    go_down(k, why);
}

void ed_klink_set_security(ed_klink *k, ed_tls_conf *tls, int sasl_mech, const char *username,
                           const char *password)
{
    if (tls) ed_plat_tls_conf_ref(tls);
    ed_plat_tls_conf_unref(k->o.tls);
    k->o.tls = tls;
    k->o.sasl_mech = sasl_mech;
    snprintf(k->user, sizeof k->user, "%s", username ? username : "");
    snprintf(k->password, sizeof k->password, "%s", password ? password : "");
    if (k->state != LINK_DOWN) return;
    k->n_failures = 0;
    ed_plat_timer_start(k->loop, &k->timer, 0, on_timer, k);
}
