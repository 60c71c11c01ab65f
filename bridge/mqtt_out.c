/* Kafka to MQTT: records that reach the log by any other way than an MQTT
 * publish (Kafka producers, other listeners) are delivered to the MQTT
 * subscriptions that match the MQTT topic the publish routes give them.
 * Each partition has a cursor: the next offset to look at; an append marks
 * it, a zero-delay timer reads from the cursor to the end in bounded steps
 * and delivers through the subscribers' windows and queues (whose bounds
 * and drop policy apply as for live MQTT publishes), with the Message
 * Expiry Interval of the record's mqtt.expiry header lowered by its age. */
#include "bridge/mqtt_int.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Bytes of batches read for one partition in one timer turn, and per read. */
#define TURN_LEN (256u << 10)
#define READ_LEN (64u << 10)
/* Properties of one delivery: 64 user properties of up to 64 KiB each. */
#define PROPS_MAX (1u << 20)

struct cursor {
    ed_partition *p;
    int64_t next; /* the next offset to deliver */
    bool dirty;   /* appended to since the last look */
};

struct ed_mqtt_out {
    ed_mqtt *m;
    ed_mqtt_routes *routes;
    struct cursor *v;
    uint32_t n, cap;
    ed_timer timer;
    uint8_t *topic; /* the MQTT topic being delivered (65535 bytes) */
    uint8_t *props; /* its user properties */
    size_t props_len;
    const char *ktopic; /* the Kafka topic being read */
    uint64_t last_log_ms;
};

static struct cursor *find(ed_mqtt_out *o, const ed_partition *p)
{
    for (uint32_t i = 0; i < o->n; i++)
        if (o->v[i].p == p) return &o->v[i];
    return NULL;
}

/* p's cursor, added at next when it has none: NULL when out of memory. */
static struct cursor *cursor_of(ed_mqtt_out *o, ed_partition *p, int64_t next)
{
    struct cursor *cu = find(o, p);
    if (cu) return cu;
    if (o->n == o->cap) {
        uint32_t cap = o->cap ? 2 * o->cap : 16;
        struct cursor *v = ed_realloc(o->v, cap * sizeof *v);
        if (!v) return NULL;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n] = (struct cursor){p, next, false};
    return &o->v[o->n++];
}

/* At start every existing partition's cursor is at its end: only what is
 * appended from now on is delivered. */
static void start_topic(void *arg, ed_topic *topic)
{
    ed_mqtt_out *o = arg;
    if (ed_topic_is_internal(topic)) return;
    for (int32_t i = 0; i < ed_topic_n_partitions(topic); i++) {
        ed_partition *p = ed_topic_partition(topic, i);
        if (p) (void)cursor_of(o, p, ed_log_end_offset(p->log));
    }
}

static bool anyone_subscribed(const ed_mqtt *m)
{
    for (const ed_mqtt_conn *c = m->conns; c; c = c->next)
        if (c->connected && c->n_subs > 0) return true;
    return false;
}

/* Whether rec carries the MQTT origin header. */
static bool from_mqtt(const struct ed_record *rec)
{
    struct ed_mqtt_origin o;
    ed_mqtt_origin_get(rec, &o);
    return o.mqtt;
}

static void put_str(uint8_t *p, const uint8_t *s, size_t n)
{
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    if (n) memcpy(p + 2, s, n);
}

/* The record's headers as MQTT 5 user properties, in order, but for
 * Eddy's own (mqtt_origin.h); a header that is no MQTT string pair (not
 * UTF-8) is left out. */
static void headers_to_props(ed_mqtt_out *o, const struct ed_record *rec)
{
    size_t cur = 0, n = 0;
    struct ed_record_header h;
    int k = 0;
    while (k < MAX_HEADERS && ed_record_next_header(rec, &cur, &h)) {
        size_t kl = (size_t)h.key_len, vl = h.value_len > 0 ? (size_t)h.value_len : 0;
        if (ed_mqtt_origin_is_own(h.key, kl)) continue;
        if (ed_mqtt_expiry_is_header(h.key, kl)) continue; /* a property of its own */
        if (kl > 65535 || vl > 65535 || 5 + kl + vl > PROPS_MAX - n) continue;
        if (!ed_mqtt_utf8_ok(h.key, kl) || (vl && !ed_mqtt_utf8_ok(h.value, vl))) continue;
        o->props[n] = ED_MQTT_PROP_USER;
        put_str(o->props + n + 1, h.key, kl);
        put_str(o->props + n + 3 + kl, h.value, vl);
        n += 5 + kl + vl;
        k++;
    }
    o->props_len = n;
}

/* The MQTT topic an MQTT publish gave its record: the origin header's
 * value, or the key when that is empty. SIZE_MAX: not MQTT's, or not a
 * valid topic name. */
static size_t origin_topic(const struct ed_mqtt_origin *o, uint8_t *buf)
{
    if (!o->mqtt || o->topic.len > 65535 || !ed_mqtt_topic_name_ok(o->topic.p, o->topic.len))
        return SIZE_MAX;
    if (o->topic.len) memcpy(buf, o->topic.p, o->topic.len);
    return o->topic.len;
}

size_t ed_mqtt_out_topic_of(ed_mqtt *m, const char *ktopic, const struct ed_record *rec,
                            uint8_t *buf, struct ed_mqtt_bytes *props)
{
    ed_mqtt_out *o = m->out;
    struct ed_mqtt_origin og;
    ed_mqtt_origin_get(rec, &og);
    size_t n = origin_topic(&og, buf);
    const char *why = "its mqtt.topic header is no valid MQTT topic name";
    if (n == SIZE_MAX && !og.mqtt) {
        size_t key_len = rec->key_len > 0 ? (size_t)rec->key_len : 0;
        n = ed_mqtt_publish_routes_apply(o->routes, ktopic, rec->key, key_len, buf, 65535, &why);
    }
    if (n == SIZE_MAX) {
        uint64_t now = ed_mqtt_now_ms(m);
        if (now - o->last_log_ms >= 10000 || o->last_log_ms == 0) {
            o->last_log_ms = now;
            ED_LOG_WARN("record %s@%" PRId64 " not delivered to MQTT subscribers: %s", ktopic,
                        rec->offset, why);
        }
        return SIZE_MAX;
    }
    headers_to_props(o, rec);
    *props = (struct ed_mqtt_bytes){o->props, o->props_len};
    return n;
}

static int deliver_record(void *arg, const struct ed_record *rec)
{
    ed_mqtt_out *o = arg;
    if (from_mqtt(rec)) return 0;
    struct ed_mqtt_bytes props;
    size_t n = ed_mqtt_out_topic_of(o->m, o->ktopic, rec, o->topic, &props);
    if (n == SIZE_MAX) return 0;
    /* A Message Expiry Interval in the record's mqtt.expiry header runs
     * from its timestamp (CreateTime: when it was produced): a record past
     * it is not delivered, others carry what is left, as a persistent
     * session reading the log does. */
    uint32_t exp_s, left_s = 0;
    bool expires = ed_mqtt_expiry_of_record(rec, &exp_s);
    if (expires && !ed_mqtt_expiry_left(exp_s, rec->timestamp, ed_plat_clock_wall_ms(), &left_s))
        return 0;
    struct ed_mqtt_subid_buf eb = {.heap = NULL};
    if (expires) props = ed_mqtt_expiry_append(&eb, props, left_s);
    struct ed_mqtt_bytes topic = {o->topic, n};
    struct ed_mqtt_bytes payload = {rec->value, rec->value_len > 0 ? (size_t)rec->value_len : 0};
    /* at the subscription's QoS */
    ed_mqtt_deliver(o->m, NULL, topic, payload, props, 2, false);
    ed_mqtt_subid_done(&eb);
    return 0;
}

/* Delivers from p's cursor, at most TURN_LEN bytes, and moves it: whether
 * more remains. Deliveries may close connections, whose wills may append
 * and add cursors: the cursor is found again afterwards. */
static bool drain(ed_mqtt_out *o, ed_partition *p, int64_t from, bool subscribed)
{
    ed_log *log = p->log;
    int64_t end = ed_log_end_offset(log), at = end;
    from = ED_MAX(from, ed_log_start_offset(log));
    if (subscribed && from < end) {
        o->ktopic = ed_topic_name(p->topic);
        int rc =
            ed_log_each_record_from(log, from, TURN_LEN, READ_LEN, deliver_record, o, NULL, &at);
        if (rc != ED_OK || at <= from) {
            ED_LOG_WARN("MQTT delivery from %s-%d at %" PRId64 " skips to %" PRId64 ": %s",
                        o->ktopic, (int)p->index, from, end, ed_strerror(rc));
            at = end;
        }
    }
    struct cursor *cu = find(o, p);
    if (!cu) return false;
    cu->next = ED_MAX(cu->next, at);
    cu->dirty |= at < end;
    return cu->dirty;
}

static void on_timer(ed_timer *t, void *arg)
{
    (void)t;
    ed_mqtt_out *o = arg;
    bool subscribed = anyone_subscribed(o->m), more = false;
    for (uint32_t i = 0; i < o->n; i++) {
        if (!o->v[i].dirty) continue;
        o->v[i].dirty = false; /* an append meanwhile marks it again */
        more |= drain(o, o->v[i].p, o->v[i].next, subscribed);
    }
    if (more && !ed_plat_timer_armed(&o->timer))
        ed_plat_timer_start(o->m->b->loop, &o->timer, 0, on_timer, o);
}

static void on_append(void *arg, ed_partition *p)
{
    ed_mqtt_out *o = arg;
    if (ed_topic_is_internal(p->topic)) return;
    /* a partition new since the start: everything in it is new */
    struct cursor *cu = cursor_of(o, p, ed_log_start_offset(p->log));
    if (!cu) {
        ED_LOG_WARN_RL("MQTT delivery from %s-%d: %s", ed_topic_name(p->topic), (int)p->index,
                       ed_strerror(ED_ERR_NOMEM));
        return;
    }
    cu->dirty = true;
    if (!ed_plat_timer_armed(&o->timer))
        ed_plat_timer_start(o->m->b->loop, &o->timer, 0, on_timer, o);
}

static void on_remove(void *arg, ed_partition *p)
{
    ed_mqtt_out *o = arg;
    struct cursor *cu = find(o, p);
    if (cu) *cu = o->v[--o->n];
}

int ed_mqtt_out_open(ed_mqtt *m, const struct ed_config *cfg, char *why, size_t why_len)
{
    ed_mqtt_out *o = ed_calloc(1, sizeof *o);
    if (!o) return ED_ERR_NOMEM;
    m->out = o;
    o->m = m;
    int rc = ed_mqtt_publish_routes_parse(cfg->mqtt_publish_routes, &o->routes, why, why_len);
    if (rc != ED_OK) return rc;
    if (!m->b->loop || !m->b->topics) return ED_OK; /* nothing is appended without a loop */
    o->topic = ed_malloc(65535);
    o->props = ed_malloc(PROPS_MAX);
    if (!o->topic || !o->props) rc = ED_ERR_NOMEM;
    if (rc == ED_OK) ed_topics_each(m->b->topics, start_topic, o);
    if (rc == ED_OK) rc = ed_topics_add_append_listener(m->b->topics, on_append, o);
    if (rc == ED_OK) {
        rc = ed_topics_add_remove_listener(m->b->topics, on_remove, o);
        if (rc != ED_OK) ed_topics_del_append_listener(m->b->topics, on_append, o);
    }
    if (rc != ED_OK) snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
    return rc;
}

void ed_mqtt_out_close(ed_mqtt *m)
{
    ed_mqtt_out *o = m->out;
    if (!o) return;
    if (o->topic && m->b->topics) {
        ed_topics_del_append_listener(m->b->topics, on_append, o);
        ed_topics_del_remove_listener(m->b->topics, on_remove, o);
    }
    if (m->b->loop) ed_plat_timer_stop(m->b->loop, &o->timer);
    ed_mqtt_routes_free(o->routes);
    ed_free(o->v);
    ed_free(o->topic);
    ed_free(o->props);
    ed_free(o);
    m->out = NULL;
}
