/* MQTT retained messages: the last retained publish of each MQTT topic,
 * kept durably in the compacted internal topic __mqtt_retained (one
 * partition; key = MQTT topic, value = payload, a null value deletes;
 * headers "qos" and, for MQTT 5 publishers, "props" with the publish's
 * properties) and in memory (a hash table by topic) for delivery on
 * SUBSCRIBE. The table is rebuilt from the topic at start; it is bounded by
 * mqtt.retained.max.messages and .total.bytes, each payload by
 * mqtt.retained.max.bytes. A message whose Message Expiry Interval has
 * passed is deleted like one an empty publish replaced (a null record, so
 * compaction drops the stored copy too) the next time the table is walked:
 * at a SUBSCRIBE, or when a new retained message would not fit. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_int.h"
#include "core/partitioner.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RETAINED_TOPIC "__mqtt_retained"
#define LOAD_READ_LEN  (1u << 20)

struct rent {
    struct rent *next; /* in its bucket */
    uint32_t hash;
    uint8_t qos;
    int64_t at_ms; /* when it was published (Unix epoch), for its expiry */
    size_t topic_len, props_len, payload_len;
    uint8_t data[]; /* topic, properties, payload */
};

struct ed_mqtt_retained {
    struct rent **b;
    uint32_t n_buckets; /* a power of two */
    uint32_t n;
    size_t len; /* memory the entries take, as counted against len_max */
    size_t max_payload_len;
    uint32_t n_max;
    size_t len_max;
    ed_partition *part; /* of __mqtt_retained, once it exists */
};

/* Bookkeeping counted per entry besides its bytes. */
#define ENTRY_OVERHEAD 64

static size_t entry_len(size_t topic_len, size_t props_len, size_t payload_len)
{
    return topic_len + props_len + payload_len + ENTRY_OVERHEAD;
}

static uint32_t hash_of(const uint8_t *t, size_t len)
{
    return (uint32_t)ed_partitioner_murmur2(t, len);
}

static struct rent **slot(ed_mqtt_retained *r, const uint8_t *t, size_t len, uint32_t h)
{
    struct rent **pp = &r->b[h & (r->n_buckets - 1)];
    while (*pp &&
           !((*pp)->hash == h && (*pp)->topic_len == len && memcmp((*pp)->data, t, len) == 0))
        pp = &(*pp)->next;
    return pp;
}

static int grow(ed_mqtt_retained *r)
{
    uint32_t nb = r->n_buckets ? r->n_buckets * 2 : 64;
    struct rent **b = ed_calloc(nb, sizeof *b);
    if (!b) return ED_ERR_NOMEM;
    for (uint32_t i = 0; i < r->n_buckets; i++)
        while (r->b[i]) {
            struct rent *e = r->b[i];
            r->b[i] = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    ed_free(r->b);
    r->b = b;
    r->n_buckets = nb;
    return ED_OK;
}

/* Sets (payload not NULL) or deletes the retained message of topic t. */
static int table_put(ed_mqtt_retained *r, struct ed_mqtt_bytes t, const uint8_t *payload,
                     size_t payload_len, struct ed_mqtt_bytes props, uint8_t qos, int64_t at_ms)
{
    if (r->n_buckets == 0 || (payload && r->n >= r->n_buckets)) {
        int rc = grow(r);
        if (rc != ED_OK) return rc;
    }
    uint32_t h = hash_of(t.p, t.len);
    struct rent **pp = slot(r, t.p, t.len, h);
    struct rent *e = NULL;
    if (payload) {
        e = ed_malloc(sizeof *e + t.len + props.len + payload_len);
        if (!e) return ED_ERR_NOMEM;
        e->hash = h;
        e->qos = qos;
        e->at_ms = at_ms;
        e->topic_len = t.len;
        e->props_len = props.len;
        e->payload_len = payload_len;
        memcpy(e->data, t.p, t.len);
        if (props.len) memcpy(e->data + t.len, props.p, props.len);
        if (payload_len) memcpy(e->data + t.len + props.len, payload, payload_len);
    }
    struct rent *old = *pp;
    if (old) {
        *pp = old->next;
        r->len -= entry_len(old->topic_len, old->props_len, old->payload_len);
        ed_free(old);
        r->n--;
    }
    if (e) {
        e->next = r->b[h & (r->n_buckets - 1)];
        r->b[h & (r->n_buckets - 1)] = e;
        r->len += entry_len(t.len, props.len, payload_len);
        r->n++;
    }
    return ED_OK;
}

/* Whether a retained message of topic t fits the limits in place of the
 * one it replaces: NULL, or why not. */
static const char *fits(ed_mqtt_retained *r, struct ed_mqtt_bytes t, size_t props_len,
                        size_t payload_len)
{
    if (payload_len > r->max_payload_len)
        return "retained payload larger than mqtt.retained.max.bytes";
    const struct rent *old = r->n_buckets ? *slot(r, t.p, t.len, hash_of(t.p, t.len)) : NULL;
    if (!old && r->n >= r->n_max)
        return "mqtt.retained.max.messages topics already hold a retained message";
    size_t freed = old ? entry_len(old->topic_len, old->props_len, old->payload_len) : 0;
    if (r->len - freed + entry_len(t.len, props_len, payload_len) > r->len_max)
        return "retained messages would take more than mqtt.retained.max.total.bytes";
    return NULL;
}

/* ---- loading ---- */

struct load {
    ed_mqtt_retained *r;
    uint64_t n_records, n_skipped;
};

static int load_record(void *arg, const struct ed_record *rec)
{
    struct load *ld = arg;
    ed_mqtt_retained *r = ld->r;
    ld->n_records++;
    struct ed_mqtt_bytes t = {rec->key, rec->key_len > 0 ? (size_t)rec->key_len : 0};
    struct ed_mqtt_bytes props = {NULL, 0};
    int qos = -1;
    size_t cur = 0;
    struct ed_record_header hd;
    while (ed_record_next_header(rec, &cur, &hd) == 1) {
        if (hd.key_len == 3 && memcmp(hd.key, "qos", 3) == 0 && hd.value_len == 1 &&
            hd.value[0] >= '0' && hd.value[0] <= '2')
            qos = hd.value[0] - '0';
        else if (hd.key_len == 5 && memcmp(hd.key, "props", 5) == 0 && hd.value_len > 0)
            props = (struct ed_mqtt_bytes){hd.value, (size_t)hd.value_len};
    }
    bool del = rec->value_len < 0;
    const char *w;
    if (!ed_mqtt_topic_name_ok(t.p, t.len) || (!del && qos < 0) ||
        (props.len && ed_mqtt_props_check(props, ED_MQTT_PUBLISH, false, &w) != ED_OK)) {
        ld->n_skipped++;
        return 0;
    }
    if (!del && fits(r, t, props.len, (size_t)rec->value_len) != NULL) {
        ld->n_skipped++; /* beyond limits lowered since it was written */
        return 0;
    }
    if (table_put(r, t, del ? NULL : rec->value, del ? 0 : (size_t)rec->value_len, props,
                  (uint8_t)ED_MAX(qos, 0), rec->timestamp) != ED_OK)
        return 1;
    return 0;
}

int ed_mqtt_retain_open(ed_mqtt *m, const struct ed_config *cfg, char *why, size_t why_len)
{
    ed_mqtt_retained *r = ed_calloc(1, sizeof *r);
    if (!r) return ED_ERR_NOMEM;
    r->max_payload_len = (size_t)cfg->mqtt_retained_max_bytes;
    r->n_max = (uint32_t)cfg->mqtt_retained_max_messages;
    r->len_max = (size_t)cfg->mqtt_retained_max_total_bytes;
    m->retained = r;
    ed_topic *t = ed_topics_find(m->b->topics, RETAINED_TOPIC);
    if (!t) return ED_OK;
    r->part = ed_topic_partition(t, 0);
    if (!r->part) return ED_OK;
    struct load ld = {r, 0, 0};
    int64_t at = 0;
    int rc = ed_log_each_record(r->part->log, LOAD_READ_LEN, load_record, &ld, &ld.n_skipped, &at);
    if (rc != ED_OK) {
        snprintf(why, why_len, "%s: cannot load retained messages at offset %" PRId64 ": %s",
                 RETAINED_TOPIC, at, ed_strerror(rc));
        return rc;
    }
    if (ld.n_skipped)
        ED_LOG_WARN("%s: %" PRIu64 " records skipped (not parsed, or beyond "
                    "mqtt.retained.max.messages / .bytes)",
                    RETAINED_TOPIC, ld.n_skipped);
    ED_LOG_INFO("loaded %" PRIu32 " retained MQTT messages from %" PRIu64 " records", r->n,
                ld.n_records);
    return ED_OK;
}

void ed_mqtt_retain_close(ed_mqtt *m)
{
    ed_mqtt_retained *r = m->retained;
    if (!r) return;
    for (uint32_t i = 0; i < r->n_buckets; i++)
        while (r->b[i]) {
            struct rent *e = r->b[i];
            r->b[i] = e->next;
            ed_free(e);
        }
    ed_free(r->b);
    ed_free(r);
    m->retained = NULL;
}

uint32_t ed_mqtt_retain_count(const ed_mqtt *m)
{
    return m->retained ? m->retained->n : 0;
}

/* ---- storing ---- */

static int ensure_topic(ed_mqtt_retained *r, ed_topics *topics, const char **why)
{
    if (r->part) return ED_OK;
    ed_topic *t = ed_topics_find(topics, RETAINED_TOPIC);
    if (!t) {
        const char *keys[] = {"cleanup.policy"};
        const char *values[] = {"compact"};
        int rc = ed_topics_create(topics, RETAINED_TOPIC, 1, keys, values, 1, why, &t);
        if (rc != ED_OK) return rc;
        ED_LOG_INFO("created %s (1 partition, compacted) for retained MQTT messages",
                    RETAINED_TOPIC);
    }
    r->part = ed_topic_partition(t, 0);
    return r->part ? ED_OK : ED_ERR_NOENT;
}

/* Deletes every retained message whose expiry has passed, from the table
 * and, by a null record through the ingest path (no wait: it is made
 * durable by the next flush), from the log. */
static void sweep_expired(ed_mqtt *m)
{
    ed_mqtt_retained *r = m->retained;
    int64_t now_ms = ed_plat_clock_wall_ms();
    for (uint32_t i = 0; r && i < r->n_buckets; i++)
        for (struct rent **pp = &r->b[i]; *pp;) {
            struct rent *e = *pp;
            uint32_t exp_s, left_s;
            struct ed_mqtt_bytes props = {e->data + e->topic_len, e->props_len};
            if (!ed_mqtt_expiry_in_props(props, &exp_s) ||
                ed_mqtt_expiry_left(exp_s, e->at_ms, now_ms, &left_s)) {
                pp = &e->next;
                continue;
            }
            int rc = r->part ? ed_ingest_add(m->ingest, r->part, e->data, e->topic_len, NULL, 0,
                                             NULL, 0, NULL, 0)
                             : ED_ERR_NOENT;
            if (rc != ED_OK) {
                ED_LOG_WARN_RL("expired retained message of '%.*s' not deleted from %s: %s",
                               (int)ED_MIN(e->topic_len, 200), (const char *)e->data,
                               RETAINED_TOPIC, ed_strerror(rc));
                pp = &e->next; /* not sent meanwhile; tried again at the next walk */
                continue;
            }
            *pp = e->next;
            r->len -= entry_len(e->topic_len, e->props_len, e->payload_len);
            r->n--;
            ed_free(e);
        }
}

int ed_mqtt_retain_check(ed_mqtt *m, const struct ed_mqtt_publish *pk, const char **why)
{
    if (pk->payload.len == 0) return ED_OK; /* a deletion is always taken */
    *why = fits(m->retained, pk->topic, pk->props.len, pk->payload.len);
    if (*why) { /* expired messages make room */
        sweep_expired(m);
        *why = fits(m->retained, pk->topic, pk->props.len, pk->payload.len);
    }
    return *why ? ED_MQTT_RC_QUOTA_EXCEEDED : ED_OK;
}

int ed_mqtt_retain_store(ed_mqtt *m, const struct ed_mqtt_publish *pk, void *who, uint64_t seq,
                         const char **why)
{
    ed_mqtt_retained *r = m->retained;
    int rc = ensure_topic(r, m->b->topics, why);
    if (rc != ED_OK) return rc;
    bool del = pk->payload.len == 0;
    char q = (char)('0' + pk->qos);
    struct ed_record_header h[2] = {
        {(const uint8_t *)"qos", 3, (const uint8_t *)&q, 1},
        {(const uint8_t *)"props", 5, pk->props.p, (int32_t)pk->props.len},
    };
    int n_h = del ? 0 : pk->props.len ? 2 : 1;
    rc = ed_ingest_add(m->ingest, r->part, pk->topic.p, pk->topic.len, del ? NULL : pk->payload.p,
                       pk->payload.len, h, n_h, who, seq);
    if (rc != ED_OK) {
        *why = ed_strerror(rc);
        return rc;
    }
    /* Stored: the table follows the log again at the next start if memory
     * is short now. */
    if (table_put(r, pk->topic, del ? NULL : pk->payload.p, pk->payload.len, pk->props, pk->qos,
                  ed_plat_clock_wall_ms()) != ED_OK)
        ED_LOG_WARN_RL("retained message of '%.*s' stored but not kept in memory: out of memory",
                       (int)ED_MIN(pk->topic.len, 200), (const char *)pk->topic.p);
    return ED_OK;
}

/* ---- delivery on SUBSCRIBE ---- */

void ed_mqtt_retain_send(ed_mqtt_conn *c, const uint8_t *f, size_t flen, uint8_t qos,
                         uint32_t sub_id)
{
    ed_mqtt_retained *r = c->m->retained;
    sweep_expired(c->m);
    for (uint32_t i = 0; r && i < r->n_buckets && !c->closing; i++)
        for (struct rent *e = r->b[i]; e && !c->closing; e = e->next) {
            if (!ed_mqtt_filter_match(f, flen, e->data, e->topic_len)) continue;
            struct ed_mqtt_bytes t = {e->data, e->topic_len};
            struct ed_mqtt_bytes props = {e->data + e->topic_len, e->props_len};
            struct ed_mqtt_bytes payload = {e->data + e->topic_len + e->props_len, e->payload_len};
            /* one that expired since the sweep is not sent (MQTT-3.3.2-5) */
            struct ed_mqtt_subid_buf eb, sb;
            if (ed_mqtt_expiry_rewrite(&eb, &props, e->at_ms, ed_plat_clock_wall_ms()) < 0)
                continue;
            props = ed_mqtt_subid_props(&sb, props, &sub_id, sub_id && c->level == 5);
            ed_mqtt_deliver_to(c, t, payload, props, (uint8_t)ED_MIN(qos, e->qos), true);
            ed_mqtt_subid_done(&sb);
            ed_mqtt_subid_done(&eb);
        }
}
