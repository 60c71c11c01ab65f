/* Confluent REST Proxy v3 produce: POST
 * /v3/clusters/{cluster_id}/topics/{topic}/records with one record as
 * Confluent documents it ({"partition_id", "headers": [{"name", "value"
 * (base64)}], "key" and "value": {"type": "JSON" | "BINARY" | "STRING",
 * "data"}}), answered with Confluent's response shape once the record is
 * durable (fdatasync), like acks=all.
 *
 * Writing is for authenticated users only: HTTP Basic credentials checked
 * against the user store (core/users.h, as MQTT passwords are) or a bearer
 * token of the token store (core/tokens.h) acting as its user, accepted
 * only on an https:// listener so a password never crosses the network in
 * clear, then the ACLs (WRITE on the topic). A body must be sent as
 * application/json (a browser form cannot, so a page of another site
 * cannot make a logged-in browser write: CSRF), and GET never writes. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"
#include "bridge/http_json.h"
#include "core/acl.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/partitioner.h"
#include "core/tokens.h"
#include "core/timefmt.h"
#include "core/topics.h"
#include "core/users.h"
#include "platform/crypto.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FIELD_MAX   (1u << 20)
#define MAX_HEADERS 16

/* A decoded key or value: bytes in its own buffer, or a slice of the body
 * (JSON data as sent). */
struct blob {
    const char *type; /* "JSON", "BINARY", "STRING"; NULL: absent (null) */
    const uint8_t *p;
    size_t len;
    uint8_t *own;
};

static void blob_free(struct blob *b)
{
    ed_free(b->own);
    b->own = NULL;
}

/* {"type": ..., "data": ...} into b: NULL, or what is wrong. */
static const char *blob_of(struct ed_http_json obj, struct blob *b)
{
    memset(b, 0, sizeof *b);
    struct ed_http_json t = {NULL, 0}, d = {NULL, 0};
    char type[16];
    if (!ed_http_json_member(obj, "data", &d)) return NULL; /* no data: null */
    if (!ed_http_json_member(obj, "type", &t))
        b->type = "JSON"; /* Confluent's default for embedded data */
    else if (ed_http_json_string(t, type, sizeof type) < 0)
        return "type must be JSON, BINARY or STRING";
    else if (strcmp(type, "JSON") == 0)
        b->type = "JSON";
    else if (strcmp(type, "BINARY") == 0)
        b->type = "BINARY";
    else if (strcmp(type, "STRING") == 0)
        b->type = "STRING";
    else
        return "type must be JSON, BINARY or STRING";
    if (strcmp(b->type, "JSON") == 0) {
        if (d.len == 4 && memcmp(d.p, "null", 4) == 0) return NULL;
        b->p = d.p;
        b->len = d.len;
        return NULL;
    }
    if (d.len > FIELD_MAX || !(b->own = ed_malloc(d.len + 1))) return "data is too large";
    int n = ed_http_json_string(d, (char *)b->own, d.len + 1);
    if (n < 0) return "data must be a string for BINARY and STRING";
    if (strcmp(b->type, "STRING") == 0) {
        b->p = b->own;
        b->len = (size_t)n;
        return NULL;
    }
    size_t out = 0;
    if (ed_plat_crypto_b64_decode((const char *)b->own, (size_t)n, b->own, d.len + 1, &out) !=
        ED_OK)
        return "BINARY data must be base64";
    b->p = b->own;
    b->len = out;
    return NULL;
}

/* ---- authentication and access ---- */

static const char challenge[] = "WWW-Authenticate: Basic realm=\"eddy\", charset=\"UTF-8\"\r\n"
                                "WWW-Authenticate: Bearer realm=\"eddy\"\r\n";

static void refuse_401(ed_http_conn *c, const char *message, const char *extra)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"error_code\":401,\"message\":\"%s\"}\n", message);
    c->head_only = false;
    ed_http_reply(c, 401, "application/json", body, (size_t)n, extra);
}

/* The user of a bearer token (a): checked against the token store of the
 * data directory, read for this request so that a token added or revoked
 * by `eddy tokens` counts at once (a small file; a write costs an
 * fdatasync anyway). The user must still be in the user store. */
static bool bearer_user(ed_broker *b, const struct ed_http_str *a, char *user, size_t cap)
{
    struct ed_storage_config sc;
    ed_tokens *t = NULL;
    if (!b->cfg || !b->users) return false;
    ed_config_storage(b->cfg, &sc);
    if (ed_tokens_open(sc.dir, &t) != ED_OK) return false;
    const char *p = (const char *)a->p + 7;
    size_t len = a->len - 7;
    while (len && *p == ' ')
        p++, len--;
    int rc = ed_tokens_verify(t, p, len, ed_plat_clock_wall_ms(), user, cap);
    ed_tokens_close(t);
    struct ed_scram_cred cred;
    size_t ul = rc == ED_OK ? strlen(user) : 0;
    if (rc == ED_OK && ed_users_lookup(b->users, user, ul, ED_SASL_SCRAM_SHA_256, &cred) != ED_OK &&
        ed_users_lookup(b->users, user, ul, ED_SASL_SCRAM_SHA_512, &cred) != ED_OK)
        rc = ED_ERR_PERM;
    memset(&cred, 0, sizeof cred);
    return rc == ED_OK;
}

/* The user of HTTP Basic credentials (a), checked against the user store. */
static bool basic_user(ed_broker *b, const struct ed_http_str *a, char *user, size_t cap)
{
    uint8_t cred[512];
    size_t n = 0;
    const uint8_t *colon = NULL;
    if (ed_plat_crypto_b64_decode(a->p + 6, a->len - 6, cred, sizeof cred - 1, &n) == ED_OK)
        colon = memchr(cred, ':', n);
    size_t ul = colon ? (size_t)(colon - cred) : 0;
    bool ok =
        colon && ul > 0 && ul < cap && b->users &&
        ed_users_check_password(b->users, (const char *)cred, ul, colon + 1, n - ul - 1) == ED_OK;
    if (ok) {
        memcpy(user, cred, ul);
        user[ul] = '\0';
    }
    memset(cred, 0, sizeof cred);
    return ok;
}

const char *ed_http_authenticate(ed_http_conn *c, const struct ed_http_req *r, char *user,
                                 size_t cap)
{
    ed_broker *b = c->h->b;
    if (strcmp(ed_conn_listener(c->conn), "https") != 0) {
        ed_http_reply_error(c, 403,
                            "writing needs an https:// listener (credentials are never taken in "
                            "clear)");
        return NULL;
    }
    const struct ed_http_str *a = ed_http_header_get(r, "authorization");
    bool basic = a && a->len >= 7 && ed_http_str_ieq((struct ed_http_str){a->p, 6}, "basic ");
    bool bearer = a && a->len >= 8 && ed_http_str_ieq((struct ed_http_str){a->p, 7}, "bearer ");
    if (!basic && !bearer) {
        refuse_401(c, "credentials needed", challenge);
        return NULL;
    }
    if (bearer ? !bearer_user(b, a, user, cap) : !basic_user(b, a, user, cap)) {
        ED_LOG_WARN_RL("HTTP client %s: authentication failed (%s)", ed_conn_peer(c->conn),
                       bearer ? "Bearer" : "Basic");
        if (bearer)
            refuse_401(c, "bad token",
                       "WWW-Authenticate: Bearer realm=\"eddy\", error=\"invalid_token\"\r\n");
        else
            refuse_401(c, "bad credentials", challenge);
        return NULL;
    }
    return user;
}

/* ---- the durable answer ---- */

static void answer(ed_http_conn *c, int status)
{
    struct ed_http_produce *pr = &c->produce;
    pr->pending = false;
    if (ed_conn_closing(c->conn)) return;
    if (status != ED_OK) {
        ed_http_reply_error(c, 500, "the record could not be made durable");
    } else {
        struct ed_http_out o;
        ed_http_out_init(&o, 4096);
        ed_http_out_printf(&o, "{\"error_code\":200,\"cluster_id\":");
        ed_http_out_json_str(&o, c->h->b->cluster_id, strlen(c->h->b->cluster_id));
        ed_http_out_printf(&o, ",\"topic_name\":");
        ed_http_out_json_str(&o, pr->topic, strlen(pr->topic));
        ed_http_out_printf(&o, ",\"partition_id\":%d,\"offset\":%" PRId64 ",\"timestamp\":\"%s\"",
                           (int)pr->partition, pr->offset, pr->timestamp);
        if (pr->key_type[0])
            ed_http_out_printf(&o, ",\"key\":{\"type\":\"%s\",\"size\":%zu}", pr->key_type,
                               pr->key_len);
        if (pr->value_type[0])
            ed_http_out_printf(&o, ",\"value\":{\"type\":\"%s\",\"size\":%zu}", pr->value_type,
                               pr->value_len);
        ed_http_out_printf(&o, "}\n");
        ed_http_reply_json(c, &o);
    }
    ed_http_request_done(c);
}

static void on_durable(void *arg, int status)
{
    answer(arg, status);
}

/* The record's timestamp: Confluent's date-time string, or Unix
 * milliseconds; null leaves the broker's time. */
static bool record_time(struct ed_http_json v, int64_t *ms)
{
    char text[64];
    int64_t t;
    if (v.len == 4 && memcmp(v.p, "null", 4) == 0) return true;
    if (!ed_http_json_int(v, &t) &&
        !(ed_http_json_string(v, text, sizeof text) > 0 && ed_timefmt_parse(text, &t)))
        return false;
    if (t < 0 || t > INT64_C(253402300799999)) return false; /* up to 9999-12-31 */
    *ms = t;
    return true;
}

bool ed_http_json_type(ed_http_conn *c, const struct ed_http_req *r)
{
    const struct ed_http_str *ct = ed_http_header_get(r, "content-type");
    if (!ct || ct->len < 16 ||
        !ed_http_str_ieq((struct ed_http_str){ct->p, 16}, "application/json") ||
        (ct->len > 16 && ct->p[16] != ';' && ct->p[16] != ' ')) {
        ed_http_reply_error(c, 415, "the body must be sent as application/json");
        return false;
    }
    return true;
}

void ed_http_produce(struct ed_http_call *k)
{
    ed_http_conn *c = k->c;
    ed_broker *b = c->h->b;
    if (!ed_http_json_type(c, k->r)) return;
    char user[256];
    if (!ed_http_authenticate(c, k->r, user, sizeof user)) return;
    if (strcmp(k->seg[2], b->cluster_id) != 0) {
        ed_http_reply_error(c, 404, "no such cluster");
        return;
    }
    ed_topic *t = ed_topics_find(b->topics, k->seg[4]);
    if (!t || ed_topic_is_internal(t)) {
        ed_http_reply_error(c, 404, "no such topic");
        return;
    }
    if (!ed_acl_authorize_user(b->acl, user, ed_conn_peer(c->conn), ED_ACL_OP_WRITE,
                               ED_ACL_RES_TOPIC, k->seg[4], strlen(k->seg[4]))) {
        ed_http_reply_error(c, 403, "not authorized to write to this topic");
        return;
    }
    struct ed_http_json body = {k->body, (size_t)k->r->body_len}, v = {NULL, 0};
    if (!ed_http_json_valid(body.p, body.len) || body.len == 0 || body.p[0] != '{') {
        ed_http_reply_error(c, 400, "the body is not a JSON object");
        return;
    }
    struct blob key = {0}, val = {0};
    const char *bad = NULL;
    if (ed_http_json_member(body, "key", &v)) bad = blob_of(v, &key);
    if (!bad && ed_http_json_member(body, "value", &v)) bad = blob_of(v, &val);
    struct ed_record_header hs[MAX_HEADERS];
    uint8_t *hbuf[MAX_HEADERS] = {0};
    char hname[MAX_HEADERS][256];
    int n_h = 0;
    struct ed_http_json hv = {NULL, 0}, item = {NULL, 0}, f = {NULL, 0};
    if (!bad && ed_http_json_member(body, "headers", &hv)) {
        for (int i = 0; !bad && ed_http_json_item(hv, i, &item); i++) {
            if (n_h == MAX_HEADERS) {
                bad = "at most 16 headers";
                break;
            }
            int nl = ed_http_json_member(item, "name", &f)
                         ? ed_http_json_string(f, hname[n_h], sizeof hname[n_h])
                         : -1;
            size_t vl = 0;
            if (nl < 0) bad = "a header needs a name";
            if (!bad && ed_http_json_member(item, "value", &f) && !(f.len == 4 && f.p[0] == 'n')) {
                hbuf[n_h] = f.len <= FIELD_MAX ? ed_malloc(f.len + 1) : NULL;
                int sl = hbuf[n_h] ? ed_http_json_string(f, (char *)hbuf[n_h], f.len + 1) : -1;
                if (sl < 0 || ed_plat_crypto_b64_decode((const char *)hbuf[n_h], (size_t)sl,
                                                        hbuf[n_h], f.len + 1, &vl) != ED_OK)
                    bad = "a header value must be base64";
            }
            hs[n_h] = (struct ed_record_header){(const uint8_t *)hname[n_h], nl, hbuf[n_h],
                                                hbuf[n_h] ? (int32_t)vl : -1};
            n_h++;
        }
    }
    int64_t part = -1;
    if (!bad && ed_http_json_member(body, "partition_id", &v) &&
        !(ed_http_json_int(v, &part) && part >= 0 && part < ed_topic_n_partitions(t)))
        bad = "partition_id is not a partition of the topic";
    int64_t ts = ed_plat_clock_wall_ms();
    if (!bad && ed_http_json_member(body, "timestamp", &v) && !record_time(v, &ts))
        bad = "timestamp must be an RFC 3339 date-time (2021-02-05T19:14:42Z) or Unix "
              "milliseconds";
    int rc = ED_OK;
    if (!bad) {
        if (part < 0)
            part = key.p ? ed_partitioner_pick(key.p, key.len, ed_topic_n_partitions(t))
                         : (int64_t)(c->h->rr++ % (uint32_t)ed_topic_n_partitions(t));
        ed_partition *p = ed_topic_partition(t, (int32_t)part);
        uint8_t *batch;
        size_t len;
        struct ed_append_result res;
        rc = p && p->log ? ED_OK : ED_ERR_NOENT;
        if (rc == ED_OK) rc = ed_batch_builder_begin(c->h->bb, 0, ts, -1, -1, -1);
        if (rc == ED_OK)
            rc =
                ed_batch_builder_add(c->h->bb, key.p, key.len, val.p, val.len, hs, (size_t)n_h, ts);
        if (rc == ED_OK) rc = ed_batch_builder_finish(c->h->bb, &batch, &len);
        if (rc == ED_OK) rc = ed_log_append(p->log, batch, len, &res);
        if (rc == ED_OK) {
            struct ed_http_produce *pr = &c->produce;
            ed_metrics_in(ED_METRICS_HTTP, ed_topic_name(t), 1, len);
            ed_topics_appended(b->topics, p);
            snprintf(pr->topic, sizeof pr->topic, "%s", ed_topic_name(t));
            pr->partition = (int32_t)part;
            pr->offset = res.base_offset;
            ed_timefmt_iso8601(ts, pr->timestamp);
            snprintf(pr->key_type, sizeof pr->key_type, "%s", key.p ? key.type : "");
            snprintf(pr->value_type, sizeof pr->value_type, "%s", val.p ? val.type : "");
            pr->key_len = key.len;
            pr->value_len = val.len;
            pr->pending = true;
            rc = ed_log_wait_durable(p->log, res.base_offset, on_durable, c);
            if (rc != ED_OK) pr->pending = false;
        }
    }
    blob_free(&key);
    blob_free(&val);
    for (int i = 0; i < n_h; i++)
        ed_free(hbuf[i]);
    if (bad) {
        ed_http_reply_error(c, 400, bad);
    } else if (rc == ED_ERR_TOOBIG) {
        ed_http_reply_error(c, 413, "the record is larger than the topic's max.message.bytes");
    } else if (rc == ED_ERR_NOSPC) {
        ed_http_reply_error(c, 507, "the disk is full");
    } else if (rc != ED_OK) {
        ED_LOG_WARN_RL("HTTP produce to %s failed: %s", k->seg[4], ed_strerror(rc));
        ed_http_reply_error(c, 500, "the record could not be appended");
    }
}

void ed_http_clusters(struct ed_http_call *k)
{
    const char *id = k->c->h->b->cluster_id;
    struct ed_http_out o;
    ed_http_out_init(&o, 4096);
    ed_http_out_printf(&o, "{\"kind\":\"KafkaClusterList\",\"data\":[{\"kind\":\"KafkaCluster\","
                           "\"cluster_id\":");
    ed_http_out_json_str(&o, id, strlen(id));
    ed_http_out_printf(&o, "}]}\n");
    ed_http_reply_json(k->c, &o);
}
