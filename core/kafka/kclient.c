/* Eddy's Kafka client connection: a blocking socket (TLS and SASL login
 * when asked) that negotiates versions and makes calls (see kclient.h). */
#include "core/kafka/kclient.h"
#include "core/kafka/msg_gen.h"
#include "core/sasl.h"
#include "platform/mem.h"
#include "platform/netclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "kclient"
#include "platform/log.h"

/* ---- blocking connection ---- */

struct ed_kclient {
    ed_csock *sock;
    char client_id[64];
    uint32_t timeout_ms;
    size_t max_response_len;
    int32_t next_corr;
    int16_t ver[ED_KMSG_N_KEYS];
    int16_t bmin[ED_KMSG_N_KEYS], bmax[ED_KMSG_N_KEYS]; /* broker's; bmax -1 = absent */
    char err[256];
};

int ed_kc_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) return ED_ERR_INVAL;
        hl = (size_t)(rb - s - 1);
        s++;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1]) return ED_ERR_INVAL;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon) return ED_ERR_INVAL; /* bare v6 needs [] */
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hl == 0 || hl >= host_len) return ED_ERR_INVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = 9092;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || p < 1 || p > 65535) return ED_ERR_INVAL;
        *port = (uint16_t)p;
    }
    return ED_OK;
}

static int fail(ed_kclient *c, int rc, const char *fmt, const char *a)
{
    snprintf(c->err, sizeof c->err, fmt, a);
    return rc;
}

/* Closes a connection that can no longer be trusted, then fails. */
static int drop(ed_kclient *c, int rc, const char *fmt, const char *a)
{
    ed_plat_csock_close(c->sock);
    c->sock = NULL;
    return fail(c, rc, fmt, a);
}

/* Sends the framed request in w; when want_resp, reads the matching
 * response body into *resp (caller frees) and positions r after the header. */
static int roundtrip(ed_kclient *c, ed_kwr *w, int16_t key, int16_t ver, int32_t corr,
                     bool want_resp, uint8_t **resp, ed_krd *r)
{
    if (!ed_kwr_ok(w)) return fail(c, w->err, "request too large (%s)", ed_strerror(w->err));
    if (!c->sock) return fail(c, ED_ERR_CLOSED, "%s", "connection is closed");
    int rc = ed_plat_csock_write(c->sock, w->buf, w->len, c->timeout_ms);
    if (rc) goto io_fail;
    if (!want_resp) return ED_OK;
    uint8_t szb[4];
    rc = ed_plat_csock_read(c->sock, szb, 4, c->timeout_ms);
    if (rc) goto io_fail;
    uint32_t sz = ed_get_be32(szb);
    if (sz < 4 || sz > c->max_response_len)
        return drop(c, ED_ERR_PROTO, "%s", "broker sent a response of impossible size");
    uint8_t *buf = ed_malloc(sz);
    if (!buf) return fail(c, ED_ERR_NOMEM, "%s", "out of memory for the response");
    rc = ed_plat_csock_read(c->sock, buf, sz, c->timeout_ms);
    if (rc) {
        ed_free(buf);
        goto io_fail;
    }
    ed_krd_init(r, buf, sz);
    int32_t got = ed_kc_read_resp_header(r, key, ver);
    if (!ed_krd_ok(r) || got != corr) {
        ed_free(buf);
        return drop(c, ED_ERR_PROTO, "%s", "response does not match the request (correlation id)");
    }
    *resp = buf;
    return ED_OK;
io_fail:
    return drop(c, rc, "connection lost: %s", ed_strerror(rc));
}

/* Common request path: header, body by enc callback, roundtrip, decode. */
struct call {
    ed_kclient *c;
    int16_t key;
    int16_t ver;
    ed_kwr w;
    size_t start;
    int32_t corr;
    uint32_t extra_ms; /* the broker may hold the request this long (Fetch) */
};

static int call_begin(struct call *k, ed_kclient *c, int16_t key)
{
    k->c = c;
    k->key = key;
    k->extra_ms = 0;
    k->ver = ed_kclient_version(c, key);
    const struct ed_kmsg_api *api = ed_kschema_api(key);
    if (k->ver < 0)
        return fail(c, ED_ERR_UNSUPPORTED, "the broker supports no version of %s",
                    api ? api->name : "this API");
    ed_kwr_init(&k->w, 256u << 20);
    k->corr = c->next_corr++;
    k->start = ed_kc_frame_begin(&k->w, key, k->ver, k->corr, c->client_id);
    return ED_OK;
}

static int call_end(struct call *k, struct ed_kc_mem *mem, ed_krd *r)
{
    ed_kc_frame_end(&k->w, k->start);
    uint32_t saved = k->c->timeout_ms;
    k->c->timeout_ms += k->extra_ms;
    int rc = roundtrip(k->c, &k->w, k->key, k->ver, k->corr, true, &mem->resp, r);
    k->c->timeout_ms = saved;
    ed_kwr_free(&k->w);
    return rc;
}

int ed_kclient_decoded(ed_kclient *c, int rc, struct ed_kc_mem *mem)
{
    if (rc == ED_OK) return ED_OK;
    ed_kc_free(mem);
    return fail(c, rc, "malformed response from the broker (%s)", ed_strerror(rc));
}

static int negotiate(ed_kclient *c)
{
    int16_t ver = 3;
    for (int attempt = 0; attempt < 2; attempt++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        int32_t corr = c->next_corr++;
        size_t start = ed_kc_frame_begin(&w, ED_KMSG_API_VERSIONS, ver, corr, c->client_id);
        ed_kc_enc_api_versions(&w, ver);
        ed_kc_frame_end(&w, start);
        struct ed_kc_api_versions av;
        memset(&av, 0, sizeof av);
        ed_krd r;
        int rc = roundtrip(c, &w, ED_KMSG_API_VERSIONS, ver, corr, true, &av.mem.resp, &r);
        ed_kwr_free(&w);
        if (rc) return rc;
        /* a broker that does not know this version answers in v0 form */
        if ((rc = ed_kclient_decoded(c, ed_kc_dec_api_versions(&r, ver, &av), &av.mem))) return rc;
        for (int i = 0; i < ED_KMSG_N_KEYS; i++)
            c->bmin[i] = c->bmax[i] = -1;
        for (int32_t i = 0; i < av.n_apis; i++) {
            int16_t k = av.apis[i].key;
            if (k < 0 || k >= ED_KMSG_N_KEYS) continue;
            c->bmin[k] = av.apis[i].min;
            c->bmax[k] = av.apis[i].max;
        }
        int16_t err = av.error;
        ed_kc_free(&av.mem);
        if (err == 35 && attempt == 0) {
            int16_t bmax = c->bmax[ED_KMSG_API_VERSIONS];
            if (bmax < 0) return fail(c, ED_ERR_PROTO, "%s", "broker does not list ApiVersions");
            ver = bmax < 3 ? bmax : 3;
            continue;
        }
        if (err) return fail(c, ED_ERR_PROTO, "ApiVersions failed: %s", ed_kc_errname(err));
        break;
    }
    for (int k = 0; k < ED_KMSG_N_KEYS; k++) {
        int16_t mn, mx;
        c->ver[k] = -1;
        if (!ed_kc_api_range((int16_t)k, &mn, &mx) || c->bmax[k] < 0) continue;
        int16_t v = ED_MIN(mx, c->bmax[k]);
        if (v >= mn && v >= c->bmin[k]) c->ver[k] = v;
    }
    return ED_OK;
}

/* TLS on the connected socket; the server's certificate is checked
 * against the trust store and, unless turned off, host. */
static int start_tls(ed_kclient *c, const struct ed_kclient_tls *t, const char *host)
{
    struct ed_tls_settings st = {
        .cert_file = t->cert_file,
        .key_file = t->key_file,
        .ca_file = t->ca_file,
        .verify_host = !t->no_host_check,
    };
    ed_tls_conf *conf;
    int rc = ed_plat_tls_conf_new(&st, &conf, c->err, sizeof c->err);
    if (rc) return rc;
    rc = ed_plat_csock_start_tls(c->sock, conf, host, c->timeout_ms, c->err, sizeof c->err);
    ed_plat_tls_conf_unref(conf);
    return rc;
}

/* ---- SASL (SaslHandshake v1, then SaslAuthenticate round trips driven by
 * the client side of core/sasl.h) ---- */

static int sasl_handshake(ed_kclient *c, const char *mech)
{
    struct ed_kc_mem mem;
    memset(&mem, 0, sizeof mem);
    ed_krd r;
    int16_t ver;
    int rc =
        ed_kclient_call(c, ED_KMSG_SASL_HANDSHAKE, ed_kc_enc_sasl_handshake, mech, &mem, &r, &ver);
    if (rc) return rc;
    struct ed_kmsg_sasl_handshake_response hr;
    rc = ed_kclient_decoded(c, ed_kc_decode(&r, ED_KMSG_SASL_HANDSHAKE, ver, &mem, &hr), &mem);
    if (rc) return rc;
    int16_t err = hr.error_code;
    ed_kc_free(&mem);
    if (err) {
        snprintf(c->err, sizeof c->err, "SASL mechanism %s refused: %s", mech, ed_kc_errname(err));
        return ED_ERR_PERM;
    }
    return ED_OK;
}

/* One SaslAuthenticate round trip: sends t, copies the answer to buf. */
static int sasl_round(ed_kclient *c, const struct ed_kc_sasl_token *t, uint8_t *buf, size_t cap,
                      size_t *len)
{
    struct ed_kc_mem mem;
    memset(&mem, 0, sizeof mem);
    ed_krd r;
    int16_t ver;
    int rc = ed_kclient_call(c, ED_KMSG_SASL_AUTHENTICATE, ed_kc_enc_sasl_authenticate, t, &mem, &r,
                             &ver);
    if (rc) return rc;
    struct ed_kmsg_sasl_authenticate_response ar;
    rc = ed_kclient_decoded(c, ed_kc_decode(&r, ED_KMSG_SASL_AUTHENTICATE, ver, &mem, &ar), &mem);
    if (rc) return rc;
    if (ar.error_code) {
        ed_kc_sasl_auth_error(c->err, sizeof c->err, ar.error_code, ar.error_message);
        rc = ED_ERR_PERM;
    } else if (ar.auth_bytes.len < 0 || (size_t)ar.auth_bytes.len > cap) {
        rc = fail(c, ED_ERR_PROTO, "%s", "SASL answer from the broker too long");
    } else {
        if (ar.auth_bytes.len) memcpy(buf, ar.auth_bytes.p, (size_t)ar.auth_bytes.len);
        *len = (size_t)ar.auth_bytes.len;
    }
    ed_kc_free(&mem);
    return rc;
}

static int sasl_login(ed_kclient *c, const struct ed_kclient_opts *o)
{
    enum ed_sasl_mech m = ed_sasl_mech_parse(o->sasl_mechanism, strlen(o->sasl_mechanism));
    if (!m) return fail(c, ED_ERR_INVAL, "unknown sasl.mechanism '%s'", o->sasl_mechanism);
    if (c->ver[ED_KMSG_SASL_HANDSHAKE] < 1 || c->ver[ED_KMSG_SASL_AUTHENTICATE] < 0)
        return fail(c, ED_ERR_UNSUPPORTED, "%s",
                    "the broker offers no SaslHandshake v1 / SaslAuthenticate");
    ed_sasl_client *sc;
    if (ed_sasl_client_new(m, o->sasl_username ? o->sasl_username : "",
                           o->sasl_password ? o->sasl_password : "", &sc) != ED_OK)
        return fail(c, ED_ERR_INVAL, "%s",
                    "sasl.username and sasl.password must have 1..255 bytes each");
    int rc = sasl_handshake(c, o->sasl_mechanism);
    uint8_t buf[ED_SASL_MAX_MSG];
    struct ed_kc_sasl_token in = {NULL, 0};
    /* PLAIN takes one round trip, SCRAM two; anything longer is refused */
    for (int step = 0; rc == ED_OK; step++) {
        struct ed_kc_sasl_token out;
        enum ed_sasl_status st = ed_sasl_client_step(sc, in.p, in.len, &out.p, &out.len);
        if (st == ED_SASL_DONE) break;
        if (st == ED_SASL_FAILED || step == 3) {
            snprintf(c->err, sizeof c->err, "SASL %s: %s", o->sasl_mechanism,
                     st == ED_SASL_FAILED ? ed_sasl_client_reason(sc) : "too many steps");
            rc = ED_ERR_PERM;
            break;
        }
        rc = sasl_round(c, &out, buf, sizeof buf, &in.len);
        in.p = buf;
    }
    ed_sasl_client_free(sc);
    return rc;
}

int ed_kclient_connect(const char *hostport, const struct ed_kclient_opts *opts, ed_kclient **out,
                       char *why, size_t why_len)
{
    char host[256];
    uint16_t port;
    if (ed_kc_parse_hostport(hostport, host, sizeof host, &port) != ED_OK) {
        if (why) snprintf(why, why_len, "bad broker address '%s' (want host:port)", hostport);
        return ED_ERR_INVAL;
    }
    ed_kclient *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    snprintf(c->client_id, sizeof c->client_id, "%s",
             opts && opts->client_id ? opts->client_id : "eddy");
    c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 30000;
    c->max_response_len = opts && opts->max_response_len ? opts->max_response_len : 64u << 20;
    c->next_corr = 1;
    int rc = ed_plat_csock_connect(host, port, c->timeout_ms, &c->sock);
    if (rc) {
        if (why)
            snprintf(why, why_len, "cannot connect to %s: %s", hostport,
                     rc == ED_ERR_CLOSED ? "connection refused" : ed_strerror(rc));
        ed_free(c);
        return rc;
    }
    if (opts && opts->tls) {
        rc = start_tls(c, opts->tls, host);
        if (rc) {
            if (why) snprintf(why, why_len, "%s: %s", hostport, c->err);
            ed_kclient_close(c);
            return rc;
        }
    }
    rc = negotiate(c);
    if (rc == ED_OK && opts && opts->sasl_mechanism) rc = sasl_login(c, opts);
    if (rc) {
        if (why) snprintf(why, why_len, "%s: %s", hostport, c->err);
        ed_kclient_close(c);
        return rc;
    }
    *out = c;
    return ED_OK;
}

void ed_kclient_close(ed_kclient *c)
{
    if (!c) return;
    ed_plat_csock_close(c->sock);
    ed_free(c);
}

int16_t ed_kclient_version(const ed_kclient *c, int16_t api_key)
{
    if (api_key < 0 || api_key >= ED_KMSG_N_KEYS) return -1;
    return c->ver[api_key];
}

int ed_kclient_set_version(ed_kclient *c, int16_t api_key, int16_t ver)
{
    int16_t mn, mx;
    if (api_key < 0 || api_key >= ED_KMSG_N_KEYS || !ed_kc_api_range(api_key, &mn, &mx) ||
        ver < mn || ver > mx || ver < c->bmin[api_key] || ver > c->bmax[api_key])
        return ED_ERR_UNSUPPORTED;
    c->ver[api_key] = ver;
    return ED_OK;
}

const char *ed_kclient_last_error(const ed_kclient *c)
{
    return c->err;
}

bool ed_kclient_broker_range(const ed_kclient *c, int16_t api_key, int16_t *min, int16_t *max)
{
    if (api_key < 0 || api_key >= ED_KMSG_N_KEYS || c->bmax[api_key] < 0) return false;
    *min = c->bmin[api_key];
    *max = c->bmax[api_key];
    return true;
}

int ed_kclient_call(ed_kclient *c, int16_t api_key, ed_kc_enc_fn enc, const void *arg,
                    struct ed_kc_mem *mem, ed_krd *r, int16_t *ver)
{
    struct call k;
    int rc = call_begin(&k, c, api_key);
    if (rc) return rc;
    *ver = k.ver;
    enc(&k.w, k.ver, arg);
    return call_end(&k, mem, r);
}

/* The body of a request whose response is decoded into out. */
#define REQUEST(key, ENC, DEC)                                                                     \
    memset(out, 0, sizeof *out);                                                                   \
    struct call k;                                                                                 \
    ed_krd r;                                                                                      \
    int rc = call_begin(&k, c, key);                                                               \
    if (rc) return rc;                                                                             \
    ENC;                                                                                           \
    if ((rc = call_end(&k, &out->mem, &r))) return rc;                                             \
    return ed_kclient_decoded(c, DEC, &out->mem)

int ed_kclient_metadata(ed_kclient *c, const char *const *topics, int n_topics,
                        bool allow_auto_create, struct ed_kc_metadata *out)
{
    REQUEST(ED_KMSG_METADATA, ed_kc_enc_metadata(&k.w, k.ver, topics, n_topics, allow_auto_create),
            ed_kc_dec_metadata(&r, k.ver, out));
}

int ed_kclient_create_topics(ed_kclient *c, const struct ed_kc_new_topic *t, int n,
                             bool validate_only, struct ed_kc_create_topics *out)
{
    REQUEST(ED_KMSG_CREATE_TOPICS,
            ed_kc_enc_create_topics(&k.w, k.ver, t, n, (int32_t)c->timeout_ms, validate_only),
            ed_kc_dec_create_topics(&r, k.ver, out));
}

int ed_kclient_delete_topics(ed_kclient *c, const char *const *names, int n,
                             struct ed_kc_items *out)
{
    REQUEST(ED_KMSG_DELETE_TOPICS,
            ed_kc_enc_delete_topics(&k.w, k.ver, names, n, (int32_t)c->timeout_ms),
            ed_kc_dec_delete_topics(&r, k.ver, out));
}

int ed_kclient_create_partitions(ed_kclient *c, const struct ed_kc_new_partitions *p, int n,
                                 bool validate_only, struct ed_kc_items *out)
{
    REQUEST(ED_KMSG_CREATE_PARTITIONS,
            ed_kc_enc_create_partitions(&k.w, k.ver, p, n, (int32_t)c->timeout_ms, validate_only),
            ed_kc_dec_create_partitions(&r, k.ver, out));
}

int ed_kclient_describe_configs(ed_kclient *c, const struct ed_kc_describe_resource *res, int n,
                                bool synonyms, bool docs, struct ed_kc_describe_configs *out)
{
    REQUEST(ED_KMSG_DESCRIBE_CONFIGS,
            ed_kc_enc_describe_configs(&k.w, k.ver, res, n, synonyms, docs),
            ed_kc_dec_describe_configs(&r, k.ver, out));
}

int ed_kclient_incremental_alter_configs(ed_kclient *c, const struct ed_kc_alter_resource *res,
                                         int n, bool validate_only, struct ed_kc_items *out)
{
    REQUEST(ED_KMSG_INCREMENTAL_ALTER_CONFIGS,
            ed_kc_enc_incremental_alter_configs(&k.w, k.ver, res, n, validate_only),
            ed_kc_dec_alter_configs(&r, ED_KMSG_INCREMENTAL_ALTER_CONFIGS, k.ver, out));
}

int ed_kclient_produce(ed_kclient *c, int16_t acks, const struct ed_kc_produce_part *p, int n,
                       struct ed_kc_produce *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KMSG_PRODUCE);
    if (rc) return rc;
    ed_kc_enc_produce(&k.w, k.ver, acks, (int32_t)c->timeout_ms, p, n);
    if (acks == 0) {
        ed_kc_frame_end(&k.w, k.start);
        rc = roundtrip(c, &k.w, k.key, k.ver, k.corr, false, NULL, NULL);
        ed_kwr_free(&k.w);
        return rc;
    }
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return ed_kclient_decoded(c, ed_kc_dec_produce(&r, k.ver, out), &out->mem);
}

int ed_kclient_fetch(ed_kclient *c, int32_t max_wait_ms, int32_t min_bytes, int32_t max_bytes,
                     const struct ed_kc_fetch_part *p, int n, struct ed_kc_fetch *out)
{
    REQUEST(ED_KMSG_FETCH, ed_kc_enc_fetch(&k.w, k.ver, max_wait_ms, min_bytes, max_bytes, p, n);
            k.extra_ms = max_wait_ms > 0 ? (uint32_t)max_wait_ms : 0,
            ed_kc_dec_fetch(&r, k.ver, out));
}

int ed_kclient_list_offsets(ed_kclient *c, const struct ed_kc_list_part *p, int n,
                            struct ed_kc_list_offsets *out)
{
    REQUEST(ED_KMSG_LIST_OFFSETS, ed_kc_enc_list_offsets(&k.w, k.ver, p, n),
            ed_kc_dec_list_offsets(&r, k.ver, out));
}
