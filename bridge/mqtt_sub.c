/* MQTT subscriptions and live delivery: SUBSCRIBE/UNSUBSCRIBE with + and #
 * filters (retained messages sent after the SUBACK per Retain Handling),
 * delivery of each publish to every matching subscription at the
 * lower QoS (once per connection), the subscriber's window of QoS 1/2
 * deliveries in flight (its Receive Maximum), and the queue of deliveries
 * waiting for room in that window: bounded by mqtt.max.queued.messages and
 * .bytes, past which a delivery is dropped, counted and logged. */
#define ED_LOG_MODULE "mqtt"
#include "core/acl.h"
#include "bridge/mqtt_int.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- live delivery to subscribers ---- */

int ed_mqtt_outq_take(ed_mqtt_conn *c, uint8_t state, uint16_t *id)
{
    if (!c->outq) {
        c->outq = ed_calloc(c->out_window, sizeof *c->outq);
        if (!c->outq) return ED_ERR_NOMEM;
    }
    int slot = -1;
    for (int i = 0; i < c->out_window; i++)
        if (c->outq[i].state == OUT_FREE) {
            slot = i;
            break;
        }
    if (slot < 0) return ED_ERR_AGAIN;
    /* Next packet id not in flight. */
    for (;;) {
        c->next_pid = (uint16_t)(c->next_pid == 65535 ? 1 : c->next_pid + 1);
        bool used = false;
        for (int i = 0; i < c->out_window && !used; i++)
            used = c->outq[i].state != OUT_FREE && c->outq[i].id == c->next_pid;
        if (!used) break;
    }
    c->outq[slot] = (struct outq){c->next_pid, state, 0, NULL, 0};
    *id = c->next_pid;
    return ED_OK;
}

struct outq *ed_mqtt_outq_find(ed_mqtt_conn *c, uint16_t id)
{
    for (int i = 0; c->outq && i < c->out_window; i++)
        if (c->outq[i].state != OUT_FREE && c->outq[i].id == id) return &c->outq[i];
    return NULL;
}

/* Counts n deliveries to c that will never be made and says why, at most
 * one line a second (with the count of those not logged in between). */
/* Subscribing needs READ on the Kafka topic the filter routes to; a filter
 * with wildcards may reach any topic, so it needs READ on every topic. */
static bool may_read(ed_mqtt_conn *c, struct ed_mqtt_bytes f)
{
    const ed_acl *a = c->m->b->acl;
    if (!a) return true;
    char name[ED_TOPIC_NAME_MAX + 1];
    const char *why;
    bool wild = memchr(f.p, '+', f.len) || memchr(f.p, '#', f.len);
    if (wild || ed_mqtt_routes_resolve(c->m->routes, f.p, f.len, name, sizeof name, &why) != ED_OK)
        snprintf(name, sizeof name, "*");
    bool ok = ed_acl_authorize_user(a, c->user, c->peer, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, name,
                                    strlen(name));
    if (!ok)
        ED_LOG_INFO("MQTT subscribe of %s to '%.*s' refused: no READ on Kafka topic %s", c->peer,
                    (int)ED_MIN(f.len, 200), (const char *)f.p, name);
    return ok;
}

static void drop(ed_mqtt_conn *c, uint32_t n, const char *why)
{
    ed_mqtt *m = c->m;
    m->stats.n_dropped += n;
    uint64_t now = ed_mqtt_now_ms(m);
    if (m->last_drop_log_ms != 0 && now - m->last_drop_log_ms < 1000 && m->b->loop) {
        m->n_drops_unlogged += n;
        return;
    }
    ED_LOG_WARN("dropped %" PRIu32 " deliver%s to %s%s%s%s: %s (%" PRIu64 " more since the "
                "last such line, %" PRIu64 " in all)",
                n, n == 1 ? "y" : "ies", c->client_id ? "client " : "",
                c->client_id ? c->client_id : "", c->client_id ? " at " : "", c->peer, why,
                m->n_drops_unlogged, m->stats.n_dropped);
    m->last_drop_log_ms = now;
    m->n_drops_unlogged = 0;
}

void ed_mqtt_send_publish(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                          struct ed_mqtt_bytes props, uint8_t qos, bool retain, bool dup,
                          uint16_t id)
{
    size_t total = ed_mqtt_publish_len(c->level, qos, topic.len, props.len, payload.len);
    uint8_t *dst = ed_mqtt_out_room(c, total);
    if (!dst) return;
    size_t h = ed_mqtt_encode_publish_head(dst, total, c->level, qos, retain, dup, topic, id, props,
                                           payload.len);
    ED_ASSERT(h > 0 && h + payload.len == total);
    memcpy(dst + h, payload.p, payload.len);
    ed_mqtt_out_commit(c, total);
    c->m->stats.n_delivered++;
    ed_mqtt_out_flush(c);
}

void ed_mqtt_pack(struct ed_mqtt_packed *k, uint8_t *data, struct ed_mqtt_bytes topic,
                  struct ed_mqtt_bytes props, struct ed_mqtt_bytes payload)
{
    *k = (struct ed_mqtt_packed){topic.len, props.len, payload.len};
    if (topic.len) memcpy(data, topic.p, topic.len);
    if (props.len) memcpy(data + topic.len, props.p, props.len);
    if (payload.len) memcpy(data + topic.len + props.len, payload.p, payload.len);
}

size_t ed_mqtt_packed_len(const struct ed_mqtt_packed *k)
{
    return k->topic_len + k->props_len + k->payload_len;
}

struct ed_mqtt_bytes ed_mqtt_packed_topic(const struct ed_mqtt_packed *k, const uint8_t *data)
{
    return (struct ed_mqtt_bytes){data, k->topic_len};
}

struct ed_mqtt_bytes ed_mqtt_packed_props(const struct ed_mqtt_packed *k, const uint8_t *data)
{
    return (struct ed_mqtt_bytes){data + k->topic_len, k->props_len};
}

struct ed_mqtt_bytes ed_mqtt_packed_payload(const struct ed_mqtt_packed *k, const uint8_t *data)
{
    return (struct ed_mqtt_bytes){data + k->topic_len + k->props_len, k->payload_len};
}

/* Queues a QoS 1/2 delivery behind the full window, within the limits. */
static void hold(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                 struct ed_mqtt_bytes props, uint8_t qos, bool retain)
{
    const struct ed_mqtt_limits *lim = &c->m->lim;
    size_t len = topic.len + props.len + payload.len;
    if (c->n_held >= lim->n_queued_max ||
        len > lim->queued_max_len - ED_MIN(c->held_len, lim->queued_max_len)) {
        char why[160];
        snprintf(why, sizeof why,
                 "its window of %d is full and %" PRIu32 " deliveries (%zu bytes) wait "
                 "(mqtt.max.queued.messages %" PRIu32 ", mqtt.max.queued.bytes %zu)",
                 (int)c->out_window, c->n_held, c->held_len, lim->n_queued_max,
                 lim->queued_max_len);
        drop(c, 1, why);
        return;
    }
    struct held *h = ed_malloc(sizeof *h + len);
    if (!h) {
        drop(c, 1, "out of memory to hold it");
        return;
    }
    h->next = NULL;
    h->at_ms = ed_plat_clock_wall_ms();
    h->qos = qos;
    h->retain = retain;
    ed_mqtt_pack(&h->k, h->data, topic, props, payload);
    if (c->held_tail)
        c->held_tail->next = h;
    else
        c->held = h;
    c->held_tail = h;
    c->n_held++;
    c->held_len += len;
}

/* Sends held deliveries while the window has room (after an
 * acknowledgement freed a slot). */
static void send_held(ed_mqtt_conn *c)
{
    while (c->held && !c->closing) {
        struct held *h = c->held;
        uint16_t id;
        int rc = ed_mqtt_outq_take(c, h->qos == 1 ? OUT_PUBACK : OUT_PUBREC, &id);
        if (rc == ED_ERR_AGAIN) return;
        c->held = h->next;
        if (!c->held) c->held_tail = NULL;
        c->n_held--;
        c->held_len -= ed_mqtt_packed_len(&h->k);
        struct ed_mqtt_bytes props = ed_mqtt_packed_props(&h->k, h->data);
        struct ed_mqtt_subid_buf eb;
        if (rc == ED_OK &&
            ed_mqtt_expiry_rewrite(&eb, &props, h->at_ms, ed_plat_clock_wall_ms()) < 0) {
            /* expired while it waited: not sent (MQTT-3.3.2-5) */
            ed_mqtt_outq_find(c, id)->state = OUT_FREE;
            drop(c, 1, "its Message Expiry Interval passed while it waited");
        } else if (rc == ED_OK) {
            struct ed_mqtt_bytes topic = ed_mqtt_packed_topic(&h->k, h->data);
            struct ed_mqtt_bytes payload = ed_mqtt_packed_payload(&h->k, h->data);
            ed_mqtt_send_publish(c, topic, payload, props, h->qos, h->retain, false, id);
            ed_mqtt_subid_done(&eb);
        } else {
            drop(c, 1, "out of memory for its window");
        }
        ed_free(h);
    }
}

/* The subscriber's own held deliveries first, then its share groups'. */
void ed_mqtt_release_held(ed_mqtt_conn *c)
{
    send_held(c);
    ed_mqtt_share_release(c);
}

/* A connection's end: what still waits for its window is dropped
 * (sessions do not outlive connections); its unacknowledged shared
 * deliveries go to other members. */
void ed_mqtt_held_clear(ed_mqtt_conn *c)
{
    ed_mqtt_share_leave(c);
    if (c->n_held) drop(c, c->n_held, "the connection closed while they waited for its window");
    while (c->held) {
        struct held *h = c->held;
        c->held = h->next;
        ed_free(h);
    }
    c->held_tail = NULL;
    c->n_held = 0;
    c->held_len = 0;
}

void ed_mqtt_deliver_to(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                        struct ed_mqtt_bytes props, uint8_t qos, bool retain)
{
    struct ed_mqtt_bytes p = c->level == 5 ? props : (struct ed_mqtt_bytes){NULL, 0};
    size_t total = ed_mqtt_publish_len(c->level, qos, topic.len, p.len, payload.len);
    if (total == SIZE_MAX || (c->client_max_packet && total > c->client_max_packet)) {
        /* MQTT-3.1.2-25: a packet over the client's maximum is discarded. */
        char why[96];
        snprintf(why, sizeof why, "%zu bytes, over its Maximum Packet Size of %" PRIu32, total,
                 c->client_max_packet);
        drop(c, 1, why);
        return;
    }
    uint16_t id = 0;
    if (qos > 0) {
        /* Behind deliveries already waiting, or when the window is full. */
        int rc =
            c->held ? ED_ERR_AGAIN : ed_mqtt_outq_take(c, qos == 1 ? OUT_PUBACK : OUT_PUBREC, &id);
        if (rc == ED_ERR_AGAIN) {
            hold(c, topic, payload, p, qos, retain);
            return;
        }
        if (rc != ED_OK) {
            drop(c, 1, "out of memory for its window");
            return;
        }
    }
    ed_mqtt_send_publish(c, topic, payload, p, qos, retain, false, id);
}

/* Delivers a publish to every matching subscription, at the lower of the
 * publish's and the subscription's QoS (the highest over overlapping
 * subscriptions of one connection, delivered once); RETAIN set only for
 * a retained publish and a subscription with Retain As Published. */
void ed_mqtt_deliver(ed_mqtt *m, ed_mqtt_conn *from, struct ed_mqtt_bytes topic,
                     struct ed_mqtt_bytes payload, struct ed_mqtt_bytes props, uint8_t qos,
                     bool retain)
{
    ed_mqtt_conn *c = m->conns;
    while (c) {
        ed_mqtt_conn *next = c->next;
        int best = -1;
        bool rap = false;
        uint32_t ids[MAX_SUBS];
        int n_ids = 0;
        /* persistent sessions read what they get from the log (mqtt_session_deliver.c) */
        for (int i = 0; c->connected && !c->closing && !c->sess && i < c->n_subs; i++) {
            const struct sub *s = &c->subs[i];
            if (s->no_local && c == from) continue;
            if (ed_mqtt_share_is((const uint8_t *)s->filter, s->len)) continue;
            if (ed_mqtt_filter_match((const uint8_t *)s->filter, s->len, topic.p, topic.len)) {
                best = ED_MAX(best, (int)ED_MIN(qos, s->qos));
                rap |= s->rap;
                if (s->sub_id) ids[n_ids++] = s->sub_id;
            }
        }
        if (best >= 0) {
            struct ed_mqtt_subid_buf sb;
            struct ed_mqtt_bytes p =
                ed_mqtt_subid_props(&sb, props, ids, c->level == 5 ? n_ids : 0);
            ed_mqtt_deliver_to(c, topic, payload, p, (uint8_t)best, retain && rap);
            ed_mqtt_subid_done(&sb);
        }
        c = next;
    }
    /* persistent sessions included: a group's messages are not in their positions */
    ed_mqtt_share_deliver(m, topic, payload, props, qos, retain);
}

/* Room for one more subscription: the slots are allocated at the first
 * SUBSCRIBE and doubled as needed up to MAX_SUBS, so a publish-only client
 * holds none. False when out of memory (nothing changed). */
static bool subs_room(ed_mqtt_conn *c)
{
    if (c->n_subs < c->subs_cap) return true;
    struct sub *s = ed_mem_grow(c->subs, &c->subs_cap, MAX_SUBS, sizeof *s);
    if (!s) return false;
    c->subs = s;
    return true;
}

void ed_mqtt_on_subscribe(ed_mqtt_conn *c, int type, uint8_t flags, const uint8_t *body, size_t len)
{
    struct ed_mqtt_subscribe s;
    const char *why = "?";
    int rc = ed_mqtt_decode_subscribe(type, body, len, flags, c->level, &s, &why);
    if (rc != ED_OK) {
        ed_mqtt_close_bad(c, ed_mqtt_decode_reason(rc), why);
        return;
    }
    int n_before = c->n_subs;
    bool any_shared = false;
    uint8_t codes[256];
    /* retained messages to send once the SUBACK is out: filter i of the
     * packet when send[i] */
    struct ed_mqtt_bytes filters[256];
    bool send[256];
    int n = 0;
    struct ed_mqtt_bytes f;
    uint8_t opt;
    if (s.n > (int)sizeof codes) {
        ed_mqtt_close_bad(c, ED_MQTT_RC_IMPL_SPECIFIC, "more than 256 topic filters in one packet");
        return;
    }
    while (ed_mqtt_subscribe_next(type, &s, &f, &opt)) {
        uint8_t code;
        filters[n] = f;
        send[n] = false;
        /* $share/{ShareName}/{filter}: the ACL and retained messages by the
         * filter (retained messages are not sent on a shared subscription) */
        struct ed_mqtt_bytes inner = f;
        bool shared = ed_mqtt_share_is(f.p, f.len);
        any_shared |= shared;
        if (shared && type == ED_MQTT_SUBSCRIBE && c->level == 5 && (opt & 4)) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR,
                              "No Local set on a shared subscription (MQTT-3.8.3-4)");
            return;
        }
        if (!ed_mqtt_filter_ok(f.p, f.len) ||
            (shared && !ed_mqtt_share_split(f.p, f.len, &inner))) {
            code = c->level == 5 ? ED_MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
        } else if (type == ED_MQTT_SUBSCRIBE && !may_read(c, inner)) {
            code = c->level == 5 ? ED_MQTT_RC_NOT_AUTHORIZED : 0x80;
        } else if (type == ED_MQTT_UNSUBSCRIBE) {
            code = ED_MQTT_RC_NO_SUBSCRIPTION_EXISTED;
            for (int i = 0; i < c->n_subs; i++) {
                if (c->subs[i].len != f.len || memcmp(c->subs[i].filter, f.p, f.len) != 0) continue;
                ed_free(c->subs[i].filter);
                c->subs[i] = c->subs[--c->n_subs];
                code = 0;
                break;
            }
        } else {
            uint8_t qos = opt & 3;
            int i;
            for (i = 0; i < c->n_subs; i++)
                if (c->subs[i].len == f.len && memcmp(c->subs[i].filter, f.p, f.len) == 0) break;
            if (i == c->n_subs && c->n_subs == MAX_SUBS) {
                code = c->level == 5 ? ED_MQTT_RC_QUOTA_EXCEEDED : 0x80;
            } else {
                if (i == c->n_subs) {
                    char *filter = subs_room(c) ? ed_strndup((const char *)f.p, f.len) : NULL;
                    if (!filter) {
                        codes[n++] = 0x80;
                        continue;
                    }
                    c->subs[i].filter = filter;
                    /* Retain Handling 1: only for a new subscription */
                    send[n] = ((opt >> 4) & 3) == 1 && !shared;
                    c->subs[i].len = f.len;
                    c->n_subs++;
                }
                c->subs[i].qos = qos;
                c->subs[i].no_local = c->level == 5 && (opt & 4);
                c->subs[i].rap = c->level == 5 && (opt & 8);
                c->subs[i].sub_id = s.sub_id;                /* a SUBSCRIBE without one clears it */
                send[n] |= ((opt >> 4) & 3) == 0 && !shared; /* Retain Handling 0: always */
                code = qos; /* granted as asked: QoS 0, 1 and 2 are served */
            }
        }
        codes[n++] = code;
    }
    uint8_t b[300];
    ed_mqtt_send_bytes(
        c, b,
        ed_mqtt_encode_suback(b, sizeof b,
                              type == ED_MQTT_SUBSCRIBE ? ED_MQTT_SUBACK : ED_MQTT_UNSUBACK,
                              c->level, s.packet_id, codes, n));
    if (any_shared && type == ED_MQTT_SUBSCRIBE)
        ed_mqtt_share_subscribed(c); /* messages waiting in a group may go */
    else if (any_shared)
        ed_mqtt_share_unsubscribed(c);
    if (c->sess) { /* saved soon; a first subscription starts at the ends of the log */
        if (n_before == 0 && c->n_subs > 0) ed_mqtt_session_first_sub(c);
        ed_mqtt_session_changed(c);
    }
    for (int i = 0; i < n && type == ED_MQTT_SUBSCRIBE; i++)
        if (send[i]) ed_mqtt_retain_send(c, filters[i].p, filters[i].len, codes[i], s.sub_id);
}
