/* The CoAP listener (see coap.h): paths to topics, records into the
 * ingest path, answers after durability.
 *
 * Life of a POST: libcoap decodes the datagram and calls on_request; the
 * path names a topic and partition, the answer is deferred (libcoap sends
 * a CON's empty ACK when the handler returns) and the payload is copied
 * into the partition's gathering batch with the wait as its owner. When the
 * batch's flush completes (or fails) the ingest path calls on_done, which
 * gives the wait its answer; libcoap sends it from its next processing as
 * a separate response. Retransmissions meanwhile carry the same token from
 * the same endpoint: libcoap finds the waiting request and only repeats
 * the empty ACK, so nothing is appended twice. */
#define ED_LOG_MODULE "coap"
#include "bridge/coap_int.h"
#include "bridge/mqtt_route.h"
#include "bridge/target.h"
#include "core/ingest.h"
#include "core/partitioner.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

/* A failure answered with its code and a diagnostic payload (one
 * rate-limited log line). */
void ed_coap_refuse(ed_coap *m, ed_coap_req *rq, int code, const char *path, const char *why)
{
    m->stats.n_failed++;
    ED_LOG_WARN_RL("CoAP request from %s to /%s refused (%d.%02d): %s", ed_plat_coap_peer(rq), path,
                   code / 100, code % 100, why);
    ed_plat_coap_answer(rq, code, ED_COAP_FORMAT_NONE, why, strlen(why));
}

/* The CoAP code and text for a storage error. */
static int code_of(int rc, const char **why)
{
    if (rc == ED_ERR_TOOBIG) {
        *why = "record larger than the topic's max.message.bytes";
        return 413;
    }
    *why = rc == ED_ERR_NOSPC ? "not stored: the disk is full" : "not stored: storage error";
    return 503;
}

static void on_done(void *arg, void *who, uint64_t seq, int status)
{
    ED_UNUSED(seq);
    ed_coap *m = arg;
    if (status == ED_OK) {
        m->stats.n_durable++;
        ed_plat_coap_wait_answer(who, 204, NULL);
        return;
    }
    const char *why;
    int code = code_of(status, &why);
    m->stats.n_failed++;
    ED_LOG_WARN_RL("CoAP record not stored: %s", ed_strerror(status));
    ed_plat_coap_wait_answer(who, code, why);
}

static const struct ed_ingest_cbs ingest_cbs = {on_done, NULL};

/* The Kafka topic name and key of a write to path: /t/TOPIC with k= as
 * the key, or the routes with the path as the key. ED_OK, or a CoAP code
 * with *why. */
static int name_of(ed_coap *m, ed_coap_req *rq, const char *path, char *name, size_t name_len,
                   const uint8_t **key, size_t *key_len, const char **why)
{
    bool has_k = ed_plat_coap_query(rq, "k", key, key_len);
    if (ed_coap_topic_path(path)) {
        int code = ed_coap_topic_name(path, name, why);
        if (code != ED_OK) return code;
        if (!has_k) {
            *key = NULL;
            *key_len = 0;
        }
    } else {
        /* the route's KEY template, else the path, unless k= names the key */
        const uint8_t *rkey = (const uint8_t *)path;
        size_t rkey_len = strlen(path);
        int rc =
            ed_mqtt_routes_apply(m->routes, (const uint8_t *)path, strlen(path), name, name_len,
                                 m->key_buf, sizeof m->key_buf, &rkey, &rkey_len, why);
        if (rc == ED_ERR_TOOBIG) *why = "the route's key is longer than 255 bytes";
        if (rc != ED_OK) return 400;
        if (!has_k) {
            *key = rkey;
            *key_len = rkey_len;
        }
    }
    if (*key_len > KEY_MAX_LEN) {
        *why = "key (k=) longer than 255 bytes";
        return 400;
    }
    return ED_OK;
}

bool ed_coap_topic_path(const char *path)
{
    return strncmp(path, "t/", 2) == 0 && !strchr(path + 2, '/');
}

int ed_coap_topic_name(const char *path, char *name, const char **why)
{
    size_t n = strlen(path + 2);
    if (n == 0 || n > ED_TOPIC_NAME_MAX) {
        *why = "Kafka topic names have 1..249 characters";
        return 400;
    }
    memcpy(name, path + 2, n + 1);
    if (!ed_topics_valid_name(name)) {
        *why = "Kafka topic names use only [a-zA-Z0-9._-]";
        return 400;
    }
    return ED_OK;
}

int ed_coap_code_of_target(int rc)
{
    return rc == ED_ERR_PERM ? 403 : rc == ED_ERR_NOENT ? 404 : rc == ED_ERR_INVAL ? 400 : 503;
}

/* POST or PUT: one record, answered once durable. */
static void on_write(ed_coap *m, ed_coap_req *rq, const char *path)
{
    char name[ED_TOPIC_NAME_MAX + 1];
    const uint8_t *key;
    size_t key_len;
    const char *why = NULL;
    int code = name_of(m, rq, path, name, sizeof name, &key, &key_len, &why);
    if (code != ED_OK) {
        ed_coap_refuse(m, rq, code, path, why);
        return;
    }
    ed_topic *topic;
    int rc =
        ed_target_topic(m->b, ed_plat_coap_identity(rq), ed_plat_coap_peer(rq), name, &topic, &why);
    if (rc != ED_OK) {
        ed_coap_refuse(m, rq, ed_coap_code_of_target(rc), path, why);
        return;
    }
    int32_t n = ed_topic_n_partitions(topic);
    int32_t idx = key ? ed_partitioner_pick(key, key_len, n) : (int32_t)(m->rr++ % (uint32_t)n);
    ed_partition *p = ed_topic_partition(topic, idx);
    if (!p) {
        ed_coap_refuse(m, rq, 503, path, "topic has no partitions");
        return;
    }
    if (ed_plat_coap_n_waits(m->ctx) >= m->max_pending) {
        ed_coap_refuse(m, rq, 503, path,
                       "too many requests waiting for the disk (coap.max.pending)");
        return;
    }
    char fmt[8];
    struct ed_record_header h = {.key = (const uint8_t *)"content-format", .key_len = 14};
    int64_t cf = ed_plat_coap_uint_opt(rq, ED_COAP_OPT_CONTENT_FORMAT);
    int n_h = 0;
    if (cf >= 0 && cf <= 65535) {
        int k = snprintf(fmt, sizeof fmt, "%u", (unsigned)cf);
        h.value = (const uint8_t *)fmt;
        h.value_len = (int32_t)k;
        n_h = 1;
    }
    const uint8_t *body;
    size_t body_len;
    ed_plat_coap_body(rq, &body, &body_len);
    ed_coap_wait *w = ed_plat_coap_defer(rq);
    if (!w) {
        ed_coap_refuse(m, rq, 503, path, "cannot hold the request until it is stored");
        return;
    }
    rc = ed_ingest_add(m->ingest, p, key, key_len, body, body_len, &h, n_h, w, 0);
    if (rc != ED_OK) {
        /* the empty ACK is on its way: the failure leaves as a separate answer */
        code = code_of(rc, &why);
        m->stats.n_failed++;
        ED_LOG_WARN_RL("CoAP request from %s to %s-%d refused: %s", ed_plat_coap_peer(rq), name,
                       (int)idx, why);
        ed_plat_coap_wait_answer(w, code, why);
        return;
    }
    m->stats.n_appended++;
}

/* ---- client endpoints seen recently ---- */

static uint64_t now_ms(const ed_coap *m)
{
    return m->b->loop ? ed_plat_loop_now_ms(m->b->loop) : 0;
}

/* Counts a request of its endpoint: its slot, else a free one, else the
 * one whose last request is the oldest (a scan of PEERS_MAX). */
static void peer_seen(ed_coap *m, ed_coap_req *rq)
{
    const char *addr = ed_plat_coap_peer(rq);
    const char *id = ed_plat_coap_identity(rq);
    uint64_t now = now_ms(m);
    struct ed_coap_peer *hit = NULL, *victim = NULL;
    for (int i = 0; i < PEERS_MAX && !hit; i++) {
        struct ed_coap_peer *p = &m->peers[i];
        if (p->addr[0] && strcmp(p->addr, addr) == 0)
            hit = p;
        else if (!victim || (victim->addr[0] && (!p->addr[0] || p->seq < victim->seq)))
            victim = p;
    }
    if (hit && now - hit->last_ms > ED_COAP_CLIENT_IDLE_MS) hit->n_requests = 0; /* forgotten */
    if (!hit) {
        hit = victim;
        snprintf(hit->addr, sizeof hit->addr, "%s", addr);
        hit->n_requests = 0;
    }
    snprintf(hit->identity, sizeof hit->identity, "%s", id ? id : "");
    hit->n_requests++;
    hit->last_ms = now;
    hit->seq = m->stats.n_requests;
}

void ed_coap_clients_each(const ed_coap *m, bool (*fn)(void *arg, const struct ed_coap_client *c),
                          void *arg)
{
    uint64_t now = now_ms(m);
    for (int i = 0; i < PEERS_MAX; i++) {
        const struct ed_coap_peer *p = &m->peers[i];
        if (!p->addr[0] || now - p->last_ms > ED_COAP_CLIENT_IDLE_MS) continue;
        struct ed_coap_client v = {p->addr, p->identity[0] ? p->identity : NULL, p->n_requests,
                                   p->last_ms};
        if (!fn(arg, &v)) return;
    }
}

static void on_request(void *arg, ed_coap_req *rq)
{
    ed_coap *m = arg;
    m->stats.n_requests++;
    peer_seen(m, rq);
    char path[PATH_MAX_LEN];
    int rc = ed_plat_coap_path(rq, path, sizeof path);
    if (rc != ED_OK) {
        ed_coap_refuse(m, rq, 400, "?",
                       rc == ED_ERR_TOOBIG ? "Uri-Path longer than 511 bytes"
                                           : "Uri-Path segment empty or holding '/' or NUL");
        return;
    }
    enum ed_coap_method how = ed_plat_coap_method(rq);
    if (!*path) {
        ed_coap_refuse(m, rq, 404, path,
                       "nothing at /: write to /t/TOPIC or a path coap.routes maps");
        return;
    }
    if (how == ED_COAP_POST || how == ED_COAP_PUT) {
        on_write(m, rq, path);
        return;
    }
    if (how == ED_COAP_GET) {
        ed_coap_on_read(m, rq, path);
        return;
    }
    ed_coap_refuse(m, rq, 405, path, "only GET, POST and PUT are served");
}

/* ---- the listener ---- */

static bool psk_key(void *arg, const uint8_t *identity, size_t len, const uint8_t **key,
                    size_t *key_len)
{
    const ed_coap *m = arg;
    return ed_coap_psk_find(m->psks, identity, len, key, key_len);
}

int ed_coap_new(ed_broker *b, bool dtls, char *why, size_t why_len, ed_coap **out)
{
    const struct ed_config *cfg = b->cfg;
    ed_coap *m = ed_calloc(1, sizeof *m);
    if (!m) return ED_ERR_NOMEM;
    m->b = b;
    m->max_pending = (uint32_t)cfg->coap_max_pending;
    m->max_observed = (int)cfg->coap_max_observed;
    m->max_observers = (uint32_t)cfg->coap_max_observers_per_topic;
    int rc = ed_mqtt_routes_parse_as("coap.routes", cfg->coap_routes, &m->routes, why, why_len);
    if (rc != ED_OK) goto fail;
    struct ed_ingest_config ic = {.linger_ms = (uint32_t)cfg->coap_linger_ms,
                                  .durable_max_ms = (uint32_t)cfg->eddy_linger_durable_max_ms,
                                  .batch_len = (size_t)cfg->coap_batch_bytes,
                                  .what = "CoAP requests",
                                  .proto = ED_METRICS_COAP};
    rc = ed_ingest_new(b->loop, b->topics, &ic, &ingest_cbs, m, &m->ingest);
    if (rc != ED_OK) goto fail;
    struct ed_coap_settings st = {(uint32_t)cfg->coap_max_clients, dtls};
    struct ed_coap_cbs cbs = {on_request, psk_key};
    rc = ed_plat_coap_new(b->loop, &st, &cbs, m, &m->ctx);
    if (rc != ED_OK) goto fail;
    *out = m;
    return ED_OK;
fail:
    ed_coap_free(m);
    return rc;
}

void ed_coap_free(ed_coap *m)
{
    if (!m) return;
    ed_coap_reads_free(m);
    ed_ingest_free(m->ingest); /* no callback after this */
    ed_plat_coap_free(m->ctx);
    ed_coap_psk_free(m->psks);
    ed_mqtt_routes_free(m->routes);
    ed_free(m);
}

int ed_coap_listen(ed_coap *m, const char *host, uint16_t port, uint16_t *bound)
{
    return ed_plat_coap_listen(m->ctx, host, port, bound);
}

int ed_coap_listen_dtls(ed_coap *m, ed_coap_psks *psks, const char *host, uint16_t port,
                        uint16_t *bound)
{
    if (psks != m->psks) {
        ed_coap_psk_free(m->psks);
        m->psks = psks;
    }
    return ed_plat_coap_listen_dtls(m->ctx, host, port, bound);
}

void ed_coap_flush(ed_coap *m)
{
    ed_ingest_flush(m->ingest);
}

void ed_coap_process(ed_coap *m)
{
    ed_plat_coap_process(m->ctx);
}

void ed_coap_stats_get(const ed_coap *m, struct ed_coap_stats *out)
{
    *out = m->stats;
}

/* ---- the broker's service ---- */

static void service_shutdown(void *obj)
{
    ed_coap_flush(obj);
}

static void service_free(void *obj)
{
    ed_coap_free(obj);
}

int ed_coap_start(ed_broker *b, ed_coap **out, char *why, size_t why_len)
{
    if (out) *out = NULL;
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    int n = 0;
    int rc = ed_listeners_parse_coap(b->cfg->coap_listeners, ls, ED_CONFIG_MAX_LISTENERS, &n, why,
                                     why_len);
    if (rc != ED_OK || n == 0) return rc;
    for (int i = 0; i < n; i++) {
        rc = ed_broker_check_public(b, "CoAP", &ls[i], why, why_len);
        if (rc != ED_OK) return rc;
    }
    /* coaps:// listeners share one keys file */
    ed_coap_psks *psks = NULL;
    for (int i = 0; i < n && !psks; i++) {
        if (ls[i].sec == ED_SEC_PLAINTEXT) continue;
        if (!*b->cfg->coap_psk_file) {
            snprintf(why, why_len,
                     "CoAP listener coaps://%s:%u needs coap.psk.file (the "
                     "clients' pre-shared keys)",
                     ls[i].host, ls[i].port);
            return ED_ERR_INVAL;
        }
        char inner[256];
        rc = ed_coap_psk_load(b->cfg->coap_psk_file, &psks, inner, sizeof inner);
        if (rc != ED_OK) {
            snprintf(why, why_len, "coap.psk.file: %s",
                     rc == ED_ERR_NOMEM ? "out of memory" : inner);
            return rc;
        }
        ED_LOG_INFO("coap.psk.file: %d DTLS client identities", ed_coap_psk_count(psks));
    }
    ed_coap *m;
    rc = ed_coap_new(b, psks != NULL, why, why_len, &m);
    if (rc != ED_OK) {
        ed_coap_psk_free(psks);
        if (rc != ED_ERR_INVAL)
            snprintf(why, why_len, "CoAP listener: %s%s", ed_strerror(rc),
                     rc == ED_ERR_UNSUPPORTED ? " (libcoap: the error above says why)" : "");
        return rc;
    }
    m->psks = psks;
    struct ed_broker_service svc = {"CoAP", m, service_shutdown, service_free};
    rc = ed_broker_add_service(b, &svc);
    if (rc != ED_OK) {
        snprintf(why, why_len, "CoAP listener: %s", ed_strerror(rc));
        return rc;
    }
    if (out) *out = m;
    for (int i = 0; i < n; i++) {
        const char *host = ed_broker_listen_host(&ls[i]);
        uint16_t bound = 0;
        bool dtls = ls[i].sec != ED_SEC_PLAINTEXT;
        rc = dtls ? ed_coap_listen_dtls(m, m->psks, host, ls[i].port, &bound)
                  : ed_coap_listen(m, host, ls[i].port, &bound);
        if (rc != ED_OK) {
            snprintf(why, why_len, "cannot listen on %s:%u (CoAP%s): %s", host, ls[i].port,
                     dtls ? " over DTLS" : "", ed_strerror(rc));
            return rc;
        }
        ED_LOG_INFO("listening on %s:%u (CoAP, %s)", host, bound, dtls ? "DTLS-PSK" : "UDP");
        ed_broker_note_bound(b, ls[i].name, host, bound);
    }
    return ED_OK;
}
