/* CoAP reads: GET /t/TOPIC?p=&o=&n= answers records of one partition as
 * JSON (headers as the REST API shows them); GET with Observe registers the client on the topic's
 * own libcoap resource (made on the first Observe, at most coap.max.observed of them) and every
 * append to the topic notifies its observers with the newest records (CBOR instead of JSON for
 * Accept: 60); GET /.well-known/core lists the topics in CoRE Link Format.
 *
 * An append is noted by the registry's append listener (the hook long-poll
 * Fetch uses) and announced from a zero-delay timer: libcoap then calls the
 * handler once per observer with the request it registered with. */
#define ED_LOG_MODULE "coap"
#include "bridge/coap_int.h"
#include "bridge/http_out.h"
#include "core/acl.h"
#include "core/topics.h"
#include "platform/crypto.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_MAX_RECORDS 100
#define READ_DEF_RECORDS 10
#define READ_MAX_BYTES   (256 * 1024)
#define FORMAT_JSON      50
#define FORMAT_LINKS     40
#define FORMAT_CBOR      60

/* ---- a growing text buffer ---- */

struct jbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void jput(struct jbuf *j, const char *s, size_t n)
{
    if (j->oom) return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1024;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *np = ed_realloc(j->p, cap);
        if (!np) {
            j->oom = true;
            return;
        }
        j->p = np;
        j->cap = cap;
    }
    memcpy(j->p + j->len, s, n);
    j->len += n;
    j->p[j->len] = '\0';
}

static void jstr(struct jbuf *j, const char *s)
{
    jput(j, s, strlen(s));
}

/* before, then v in decimal */
static void jnum(struct jbuf *j, const char *before, int64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    jstr(j, before);
    jput(j, b, (size_t)n);
}

static bool utf8_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (k == 9 || i + k >= n + (k == 0)) return false;
        for (size_t t = 1; t <= k; t++)
            if ((p[i + t] & 0xc0) != 0x80) return false;
        i += k + 1;
    }
    return true;
}

/* "name":"text" for UTF-8 bytes, "nameBase64":"..." for others, "name":null. */
static void jbytes(struct jbuf *j, const char *name, const uint8_t *p, int32_t n)
{
    jstr(j, "\"");
    jstr(j, name);
    if (!p || n < 0) {
        jstr(j, "\":null");
        return;
    }
    if (!utf8_ok(p, (size_t)n)) {
        size_t cap = ((size_t)n + 2) / 3 * 4 + 1, out = 0;
        char *b = ed_malloc(cap);
        if (!b || ed_plat_crypto_b64_encode(p, (size_t)n, b, cap, &out) != ED_OK) {
            j->oom = true;
            ed_free(b);
            return;
        }
        jstr(j, "Base64\":\"");
        jput(j, b, out);
        jstr(j, "\"");
        ed_free(b);
        return;
    }
    jstr(j, "\":\"");
    for (int32_t i = 0; i < n; i++) {
        char c = (char)p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', c};
            jput(j, e, 2);
        } else if ((uint8_t)c < 0x20) {
            char e[8];
            int k = snprintf(e, sizeof e, "\\u%04x", (unsigned)(uint8_t)c);
            jput(j, e, (size_t)k);
        } else {
            jput(j, &c, 1);
        }
    }
    jstr(j, "\"");
}

/* ---- CBOR (RFC 8949): the same document for Accept: 60 ---- */

/* A head: major type and argument (a negative integer: major 1). */
static void chead(struct jbuf *j, int major, int64_t v)
{
    uint64_t u = (uint64_t)v;
    if (major == 0 && v < 0) {
        major = 1;
        u = (uint64_t)(-1 - v);
    }
    uint8_t b[9];
    size_t n = 1;
    uint8_t m = (uint8_t)(major << 5);
    if (u < 24) {
        b[0] = (uint8_t)(m | u);
    } else {
        int k = u < 0x100 ? 1 : u < 0x10000 ? 2 : u < 0x100000000ull ? 4 : 8;
        b[0] = (uint8_t)(m | (k == 1 ? 24 : k == 2 ? 25 : k == 4 ? 26 : 27));
        for (int i = k - 1; i >= 0; i--)
            b[n++] = (uint8_t)(u >> (8 * i));
    }
    jput(j, (const char *)b, n);
}

static void ctext(struct jbuf *j, const char *s)
{
    chead(j, 3, (int64_t)strlen(s));
    jstr(j, s);
}

/* A byte string, or null (0xf6). */
static void cbytes(struct jbuf *j, const uint8_t *p, int32_t n)
{
    if (!p || n < 0) {
        jput(j, "\xf6", 1);
        return;
    }
    chead(j, 2, n);
    jput(j, (const char *)p, (size_t)n);
}

/* The answer's document, JSON or CBOR. */
struct doc {
    struct jbuf j;
    bool cbor;
};

static void doc_begin(struct doc *d, const char *topic, int32_t partition)
{
    if (d->cbor) {
        jput(&d->j, "\xa4", 1); /* a map of 4: topic, partition, records, next */
        ctext(&d->j, "topic");
        ctext(&d->j, topic);
        ctext(&d->j, "partition");
        chead(&d->j, 0, partition);
        ctext(&d->j, "records");
        jput(&d->j, "\x9f", 1); /* an array of unknown length */
        return;
    }
    jstr(&d->j, "{\"topic\":\"");
    jstr(&d->j, topic);
    jnum(&d->j, "\",\"partition\":", partition);
    jstr(&d->j, ",\"records\":[");
}

/* The record's headers: JSON as the REST API shows them (shared), CBOR as
 * an array of maps {"key": text, "value": bytes or null}. */
static void doc_headers(struct doc *d, const struct ed_record *r)
{
    struct jbuf *j = &d->j;
    size_t cur = 0;
    struct ed_record_header h;
    if (d->cbor) {
        ctext(j, "headers");
        jput(j, "\x9f", 1); /* an array of unknown length */
        while (ed_record_next_header(r, &cur, &h) == 1) {
            jput(j, "\xa2", 1);
            ctext(j, "key"); /* text, or bytes when not UTF-8 */
            chead(j, utf8_ok(h.key, (size_t)h.key_len) ? 3 : 2, h.key_len);
            jput(j, (const char *)h.key, (size_t)h.key_len);
            ctext(j, "value");
            cbytes(j, h.value, h.value ? h.value_len : -1);
        }
        jput(j, "\xff", 1);
        return;
    }
    struct ed_http_out o;
    ed_http_out_init(&o, READ_MAX_BYTES);
    ed_http_out_headers(&o, r);
    if (o.err)
        j->oom = true;
    else
        jput(j, o.p, o.len);
    ed_http_out_free(&o);
}

static void doc_record(struct doc *d, const struct ed_record *r, bool first)
{
    struct jbuf *j = &d->j;
    int32_t kl = r->key ? (int32_t)r->key_len : -1, vl = r->value ? (int32_t)r->value_len : -1;
    if (d->cbor) {
        jput(j, "\xa5", 1);
        ctext(j, "offset");
        chead(j, 0, r->offset);
        ctext(j, "timestamp");
        chead(j, 0, r->timestamp);
        ctext(j, "key");
        cbytes(j, r->key, kl);
        ctext(j, "value");
        cbytes(j, r->value, vl);
        doc_headers(d, r);
        return;
    }
    jstr(j, first ? "{" : ",{");
    jnum(j, "\"offset\":", r->offset);
    jnum(j, ",\"timestamp\":", r->timestamp);
    jstr(j, ",");
    jbytes(j, "key", r->key, kl);
    jstr(j, ",");
    jbytes(j, "value", r->value, vl);
    jstr(j, ",");
    doc_headers(d, r);
    jstr(j, "}");
}

static void doc_end(struct doc *d, int64_t next)
{
    if (d->cbor) {
        jput(&d->j, "\xff", 1);
        ctext(&d->j, "next");
        chead(&d->j, 0, next);
        return;
    }
    jnum(&d->j, "],\"next\":", next);
    jstr(&d->j, "}");
}

/* ---- GET /t/TOPIC ---- */

/* An unsigned query item (k absent: def). false when not a number. */
static bool query_num(ed_coap_req *rq, const char *k, int64_t def, int64_t *out)
{
    const uint8_t *v;
    size_t n;
    *out = def;
    if (!ed_plat_coap_query(rq, k, &v, &n)) return true;
    if (n == 0 || n > 18) return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* Records [o, o + n) of p as the answer's document. */
static int records_doc(ed_partition *p, const char *topic, int64_t o, int64_t n, struct doc *d)
{
    ed_log *log = p->log;
    int64_t end = ed_log_end_offset(log);
    doc_begin(d, topic, p->index);
    int64_t next = o, got = 0;
    while (got < n && next < end) {
        struct ed_log_slice sl;
        int rc = ed_log_read(log, next, READ_MAX_BYTES, &sl);
        if (rc != ED_OK || sl.len == 0) {
            if (rc == ED_OK) ed_log_slice_release(&sl);
            break;
        }
        size_t len = sl.len;
        uint8_t *buf = ed_malloc(len);
        rc = buf ? ed_log_slice_copy(&sl, buf, len) : ED_ERR_NOMEM;
        ed_log_slice_release(&sl);
        size_t pos = 0;
        int64_t before = next;
        while (rc == ED_OK && pos < len && got < n) {
            struct ed_batch_iter it;
            ed_batch_iter_init(&it, READ_MAX_BYTES * 4);
            rc = ed_batch_iter_begin(&it, buf + pos, len - pos);
            struct ed_record r;
            while (rc == ED_OK && got < n && ed_batch_iter_next(&it, &r) == 1) {
                if (r.offset < next) continue;
                doc_record(d, &r, got == 0);
                next = r.offset + 1;
                got++;
            }
            if (rc == ED_OK) pos += ed_batch_total_len(&it.info);
            ed_batch_iter_release(&it);
        }
        ed_free(buf);
        if (rc != ED_OK) return rc;
        if (next == before) break; /* nothing readable there */
    }
    doc_end(d, next);
    return d->j.oom ? ED_ERR_NOMEM : ED_OK;
}

/* The observed topic of that name (NULL: none yet). */
static struct ed_coap_observed *observed(ed_coap *m, const char *topic)
{
    for (int i = 0; i < m->n_obs; i++)
        if (strcmp(m->obs[i].topic, topic) == 0) return &m->obs[i];
    return NULL;
}

static void on_notify(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_coap *m = arg;
    for (int i = 0; i < m->n_obs; i++)
        if (m->obs[i].dirty) {
            m->obs[i].dirty = false;
            ed_plat_coap_notify(m->obs[i].res);
        }
}

static void on_append(void *arg, ed_partition *p)
{
    ed_coap *m = arg;
    struct ed_coap_observed *o = observed(m, ed_topic_name(p->topic));
    if (!o || o->dirty) return;
    o->dirty = true;
    if (!ed_plat_timer_armed(&m->notify_timer))
        ed_plat_timer_start(m->b->loop, &m->notify_timer, 0, on_notify, m);
}

/* The first Observe of a topic: its resource, then the request again. */
static void observe(ed_coap *m, ed_coap_req *rq, const char *path, const char *topic)
{
    if (!observed(m, topic)) {
        if (m->n_obs >= m->max_observed) {
            ed_coap_refuse(m, rq, 503, path, "too many observed topics (coap.max.observed)");
            return;
        }
        if (!m->listening) {
            if (ed_topics_add_append_listener(m->b->topics, on_append, m) != ED_OK) {
                ed_coap_refuse(m, rq, 503, path, "observing is not available (no append hook)");
                return;
            }
            m->listening = true;
        }
        if (!m->obs) {
            m->obs = ed_calloc((size_t)m->max_observed, sizeof *m->obs);
            if (!m->obs) {
                ed_coap_refuse(m, rq, 503, path, "out of memory");
                return;
            }
        }
        ed_coap_res *r = ed_plat_coap_resource(m->ctx, path);
        if (!r) {
            ed_coap_refuse(m, rq, 503, path, "out of memory");
            return;
        }
        struct ed_coap_observed *o = &m->obs[m->n_obs++];
        snprintf(o->topic, sizeof o->topic, "%s", topic);
        o->res = r;
        o->dirty = false;
    }
    if (!ed_plat_coap_redispatch(rq)) ed_coap_refuse(m, rq, 503, path, "out of memory");
}

/* GET /.well-known/core: the topics, each observable. */
static void link_topic(void *arg, ed_topic *t)
{
    struct jbuf *j = arg;
    if (ed_topic_is_internal(t)) return;
    jstr(j, j->len ? ",</t/" : "</t/");
    jstr(j, ed_topic_name(t));
    jstr(j, ">;rt=\"kafka.topic\";ct=50;obs");
}

void ed_coap_on_read(ed_coap *m, ed_coap_req *rq, const char *path)
{
    struct jbuf j = {0};
    if (strcmp(path, ".well-known/core") == 0) {
        ed_topics_each(m->b->topics, link_topic, &j);
        if (j.oom) {
            ed_coap_refuse(m, rq, 503, path, "out of memory");
        } else {
            ed_plat_coap_answer(rq, 205, FORMAT_LINKS, j.p ? j.p : "", j.len);
        }
        ed_free(j.p);
        return;
    }
    if (!ed_coap_topic_path(path)) {
        ed_coap_refuse(m, rq, 404, path, "GET is served on /t/TOPIC and /.well-known/core");
        return;
    }
    char name[ED_TOPIC_NAME_MAX + 1];
    const char *why = NULL;
    int code = ed_coap_topic_name(path, name, &why);
    if (code != ED_OK) {
        ed_coap_refuse(m, rq, code, path, why);
        return;
    }
    if (!ed_acl_authorize_user(m->b->acl, ed_plat_coap_identity(rq), ed_plat_coap_peer(rq),
                               ED_ACL_OP_READ, ED_ACL_RES_TOPIC, name, strlen(name))) {
        ed_coap_refuse(m, rq, 403, path, "not authorized: no READ on the Kafka topic");
        return;
    }
    ed_topic *t = ed_topics_find(m->b->topics, name);
    if (!t || ed_topic_is_internal(t)) {
        ed_coap_refuse(m, rq, 404, path, "no such Kafka topic");
        return;
    }
    int64_t pi, o, n;
    if (!query_num(rq, "p", 0, &pi) || !query_num(rq, "o", -1, &o) ||
        !query_num(rq, "n", READ_DEF_RECORDS, &n)) {
        ed_coap_refuse(m, rq, 400, path, "p=, o= and n= take decimal numbers");
        return;
    }
    int64_t accept = ed_plat_coap_uint_opt(rq, ED_COAP_OPT_ACCEPT);
    if (accept >= 0 && accept != FORMAT_JSON && accept != FORMAT_CBOR) {
        ed_coap_refuse(m, rq, 406, path, "records come as JSON (50) or CBOR (60)");
        return;
    }
    if (n < 1 || n > READ_MAX_RECORDS) {
        ed_coap_refuse(m, rq, 400, path, "n= takes 1..100 records");
        return;
    }
    ed_partition *p = pi < ed_topic_n_partitions(t) ? ed_topic_partition(t, (int32_t)pi) : NULL;
    if (!p) {
        ed_coap_refuse(m, rq, 404, path, "no such partition (p=)");
        return;
    }
    if (ed_plat_coap_uint_opt(rq, ED_COAP_OPT_OBSERVE) == 0) {
        if (!ed_plat_coap_observable(rq)) {
            observe(m, rq, path, name);
            return;
        }
        /* a new observer (not a notification of one) */
        if (m->max_observers > 0 && !ed_plat_coap_observing(rq) &&
            ed_plat_coap_n_observers(rq) >= m->max_observers) {
            ed_coap_refuse(m, rq, 503, path,
                           "too many observers of this topic (coap.max.observers.per.topic)");
            return;
        }
    }
    /* without o=: the newest n records */
    int64_t start = ed_log_start_offset(p->log);
    if (o < 0) o = ED_MAX(start, ed_log_end_offset(p->log) - n);
    if (o < start) o = start;
    struct doc d = {.cbor = accept == FORMAT_CBOR};
    int rc = records_doc(p, name, o, n, &d);
    if (rc != ED_OK)
        ed_coap_refuse(m, rq, 503, path, ed_strerror(rc));
    else
        ed_plat_coap_answer(rq, 205, d.cbor ? FORMAT_CBOR : FORMAT_JSON, d.j.p, d.j.len);
    ed_free(d.j.p);
}

void ed_coap_reads_free(ed_coap *m)
{
    if (m->listening) ed_topics_del_append_listener(m->b->topics, on_append, m);
    if (m->b->loop) ed_plat_timer_stop(m->b->loop, &m->notify_timer);
    ed_free(m->obs);
    m->obs = NULL;
    m->n_obs = 0;
}
