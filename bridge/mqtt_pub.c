/* MQTT publishes into the log: a publish's topic is routed to a Kafka topic
 * and partition (mqtt_route.h; murmur2 of the key, as Kafka's producers),
 * its user properties become record headers, and the record joins the
 * ingest path (core/ingest.h) with its acknowledgement slot; when its batch
 * is durable, or failed, the slot is completed and the connection's
 * acknowledgements leave in arrival order (see mqtt.c). Wills go the same
 * way, unacknowledged. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_int.h"
#include "bridge/target.h"
#include "core/partitioner.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- durable completion (the ingest path, core/ingest.h) ---- */

uint8_t ed_mqtt_reason_of(int rc)
{
    return rc == ED_ERR_NOSPC    ? ED_MQTT_RC_QUOTA_EXCEEDED
           : rc == ED_ERR_TOOBIG ? ED_MQTT_RC_PACKET_TOO_LARGE
                                 : ED_MQTT_RC_UNSPECIFIED;
}

/* One publish's batch is on flash or failed: its slot is done; the
 * connection's acknowledgements go out once the whole batch is answered. */
static void on_done(void *arg, void *who, uint64_t seq, int status)
{
    ed_mqtt *m = arg;
    ed_mqtt_conn *c = who;
    c->n_refs--;
    if (c->closing) {
        if (c->n_refs == 0) ed_mqtt_arm_reap(m);
        return;
    }
    if (seq & ED_MQTT_SESS_SEQ) { /* a session save (mqtt_session_save.c) */
        ed_mqtt_session_saved(c, seq & ~ED_MQTT_SESS_SEQ, status);
        return;
    }
    ed_mqtt_pend_complete(c, seq, status == ED_OK ? 0 : ed_mqtt_reason_of(status));
    if (!c->drain) {
        c->drain = true;
        c->drain_next = m->drains;
        m->drains = c;
    }
}

/* Durable: acknowledgements leave now. Failed (an append or flush that
 * failed, a partition removed): they leave from the kick timer, since
 * answering may close a 3.1.1 connection whose will could be routed to the
 * very partition being removed. */
static void on_batch_done(void *arg, int status)
{
    ed_mqtt *m = arg;
    while (m->drains) {
        ed_mqtt_conn *c = m->drains;
        m->drains = c->drain_next;
        c->drain_next = NULL;
        c->drain = false;
        if (c->closing) continue;
        if (status == ED_OK)
            ed_mqtt_pend_drain(c);
        else
            ed_mqtt_kick(c);
    }
}

/* ---- a full window is urgent ---- */

/* The acknowledgements a client is assumed to wait for before it sends
 * more: mosquitto_pub's and paho's default window (and Mosquitto's
 * max_inflight_messages), or Eddy's Receive Maximum (mqtt.max.inflight)
 * if smaller. A sensor at 100 msg/s keeps about 10 waiting per gather.ms
 * of 100 ms, so everyday loads still gather. */
#define URGENT_WINDOW 20

/* A connection that has this many publishes waiting cannot be relied on to
 * send more: its partition's flush starts at once instead of gathering.
 * With every slot taken it is not even read until answered, so its batch
 * is appended without the short linger. */
static void hurry_if_window_full(ed_mqtt_conn *c, ed_partition *p)
{
    if (c->pend_n >= c->pend_cap)
        ed_ingest_append_now(c->m->ingest, p);
    else if (c->pend_n >= ED_MIN((uint32_t)URGENT_WINDOW, c->pend_cap))
        ed_ingest_hurry(c->m->ingest, p);
}

/* ---- routing a publish into the log ---- */

/* Resolves the partition and the record key of MQTT topic t (the key may
 * point into the listener's key buffer, valid until the next publish):
 * ED_OK, or an MQTT reason code (>= 0x80) with *why. */
static int route(ed_mqtt_conn *c, struct ed_mqtt_bytes t, ed_partition **out,
                 struct ed_mqtt_bytes *key, const char **why)
{
    ed_mqtt *m = c->m;
    char name[ED_TOPIC_NAME_MAX + 1];
    int rc = ed_mqtt_routes_apply(m->routes, t.p, t.len, name, sizeof name, m->key_buf,
                                  m->key_buf ? ED_MQTT_ROUTE_KEY_MAX : 0, &key->p, &key->len, why);
    if (rc == ED_ERR_TOOBIG) return ED_MQTT_RC_IMPL_SPECIFIC;
    if (rc != ED_OK) return ED_MQTT_RC_TOPIC_NAME_INVALID;
    ed_topic *topic;
    rc = ed_target_topic(m->b, c->user, c->peer, name, &topic, why);
    if (rc != ED_OK)
        return rc == ED_ERR_PERM                          ? ED_MQTT_RC_NOT_AUTHORIZED
               : rc == ED_ERR_NOENT || rc == ED_ERR_INVAL ? ED_MQTT_RC_TOPIC_NAME_INVALID
               : rc == ED_ERR_TOOBIG                      ? ED_MQTT_RC_QUOTA_EXCEEDED
                                                          : ED_MQTT_RC_UNSPECIFIED;
    int32_t n = ed_topic_n_partitions(topic);
    *out = ed_topic_partition(topic, ed_partitioner_pick(key->p, key->len, n));
    if (!*out) {
        *why = "topic has no partitions";
        return ED_MQTT_RC_UNSPECIFIED;
    }
    return ED_OK;
}

/* Collects MQTT 5 user properties as record headers. */
static int user_headers(struct ed_mqtt_bytes props, struct ed_record_header *h)
{
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    int n = 0;
    ed_mqtt_prop_iter_init(&it, props);
    while (ed_mqtt_prop_next(&it, &pr)) {
        if (pr.id != ED_MQTT_PROP_USER) continue;
        if (n == MAX_HEADERS) return -1;
        h[n].key = pr.data.p;
        h[n].key_len = (int32_t)pr.data.len;
        h[n].value = pr.value.p;
        h[n].value_len = (int32_t)pr.value.len;
        n++;
    }
    return n;
}

/* Whether c's own publishes must say who published them: a persistent
 * session (it reads them back from the log) with a No Local subscription. */
static bool has_no_local(const ed_mqtt_conn *c)
{
    for (int i = 0; c->sess && c->client_id && i < c->n_subs; i++)
        if (c->subs[i].no_local) return true;
    return false;
}

/* A publish that cannot be stored: MQTT 5 gets a negative acknowledgement,
 * 3.1.1 is closed (QoS 1/2) or the message dropped (QoS 0). */
static void publish_failed(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk, uint8_t reason,
                           const char *why)
{
    ed_mqtt *m = c->m;
    m->stats.n_failed++;
    ED_LOG_WARN_RL("MQTT publish from %s to '%.*s' refused: %s", c->peer,
                   (int)ED_MIN(pk->topic.len, 200), (const char *)pk->topic.p, why);
    if (pk->qos == 0) return;
    if (c->level != 5) {
        ED_LOG_WARN_RL("closing MQTT connection from %s: %s (MQTT 3.1.1 has no negative "
                       "acknowledgement)",
                       c->peer, why);
        ed_mqtt_conn_close(c, NULL, true);
        return;
    }
    uint64_t seq =
        ed_mqtt_pend_push(c, pk->qos == 1 ? ED_MQTT_PUBACK : ED_MQTT_PUBREC, pk->packet_id);
    ed_mqtt_pend_complete(c, seq, reason);
    ed_mqtt_pend_drain(c);
}

/* A publish or will that cannot be stored: the will is dropped (logged),
 * a publish refused (publish_failed). */
static void refuse(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk, bool is_will, uint8_t reason,
                   const char *why)
{
    if (is_will)
        ED_LOG_WARN("will of %s to '%.*s' dropped: %s", c->peer, (int)ED_MIN(pk->topic.len, 200),
                    (const char *)pk->topic.p, why);
    else
        publish_failed(c, pk, reason, why);
}

/* Stores the retained message of pk: true, or false when it cannot be
 * stored (the publish is answered as failed; nothing is stored). Its
 * durable wait joins the publish's acknowledgement slot seq. */
static bool store_retained(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk, bool acked,
                           uint64_t seq)
{
    ed_mqtt *m = c->m;
    const char *why = NULL;
    if (acked) c->n_refs++; /* until on_done */
    int rc = ed_mqtt_retain_store(m, pk, acked ? c : NULL, seq, &why);
    if (rc == ED_OK) {
        if (acked) ed_mqtt_pend_wait_more(c, seq);
        return true;
    }
    if (acked) c->n_refs--;
    m->stats.n_failed++;
    ED_LOG_WARN_RL("retained MQTT publish from %s to '%.*s' refused: %s", c->peer,
                   (int)ED_MIN(pk->topic.len, 200), (const char *)pk->topic.p, why);
    if (acked) {
        ed_mqtt_pend_complete(c, seq, ed_mqtt_reason_of(rc));
        ed_mqtt_pend_drain(c);
    }
    return false;
}

/* Stores one publish (client publish or will) and delivers it live. c is
 * the connection owed the acknowledgement (NULL for a will). */
void ed_mqtt_publish(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk, bool is_will)
{
    ed_mqtt *m = c->m;
    const char *why = NULL;
    ed_partition *p = NULL;
    struct ed_mqtt_bytes key = pk->topic;
    int reason = route(c, pk->topic, &p, &key, &why);
    if (reason != ED_OK) {
        refuse(c, pk, is_will, (uint8_t)reason, why);
        return;
    }
    struct ed_record_header h[MAX_HEADERS + ED_MQTT_ORIGIN_N + 1];
    int n_h = user_headers(pk->props, h);
    if (n_h < 0) {
        refuse(c, pk, is_will, ED_MQTT_RC_IMPL_SPECIFIC, "more than 64 user properties");
        return;
    }
    /* A Message Expiry Interval stays with the record (docs/format.md):
     * deliveries from the log count it from the record's timestamp. */
    char exp[ED_MQTT_EXPIRY_BUF];
    if (ed_mqtt_expiry_put_header(pk->props, exp, &h[n_h])) n_h++;
    /* The origin mark (docs/format.md): the MQTT topic (empty when it is
     * the key), the QoS and RETAIN, and the publisher where a No Local
     * subscription of its persistent session may have to pass it over. */
    bool key_is_topic = key.p == pk->topic.p && key.len == pk->topic.len;
    struct ed_mqtt_bytes me = {NULL, 0};
    if (has_no_local(c))
        me = (struct ed_mqtt_bytes){(const uint8_t *)c->client_id, strlen(c->client_id)};
    n_h += ed_mqtt_origin_put(h + n_h, pk->topic, key_is_topic, pk->qos, pk->retain, me);
    reason = pk->retain ? ed_mqtt_retain_check(m, pk, &why) : ED_OK;
    if (reason != ED_OK) {
        refuse(c, pk, is_will, (uint8_t)reason, why);
        return;
    }
    bool acked = !is_will && pk->qos > 0;
    uint64_t seq = 0;
    if (acked) {
        seq = ed_mqtt_pend_push(c, pk->qos == 1 ? ED_MQTT_PUBACK : ED_MQTT_PUBREC, pk->packet_id);
        if (pk->qos == 2) ed_mqtt_qos2_set(c, pk->packet_id, true);
    }
    if (pk->retain && !store_retained(c, pk, acked, seq)) return;
    if (acked) c->n_refs++; /* until on_done */
    int rc = ed_ingest_add(m->ingest, p, key.p, key.len, pk->payload.p, pk->payload.len, h, n_h,
                           acked ? c : NULL, seq);
    if (rc != ED_OK) {
        if (acked) c->n_refs--;
        m->stats.n_failed++;
        const char *what = rc == ED_ERR_TOOBIG ? "record larger than the topic's max.message.bytes"
                                               : ed_strerror(rc);
        ED_LOG_WARN_RL("MQTT publish from %s to %s-%d refused: %s", c->peer,
                       ed_topic_name(p->topic), (int)p->index, what);
        if (acked) {
            ed_mqtt_pend_complete(c, seq, ed_mqtt_reason_of(rc));
            ed_mqtt_pend_drain(c);
        }
        return;
    }
    if (acked) hurry_if_window_full(c, p);
    ed_mqtt_deliver(m, c, pk->topic, pk->payload, pk->props, pk->qos, pk->retain);
}

void ed_mqtt_deliver_pulled(ed_mqtt *m, const struct ed_mqtt_publish *pk)
{
    /* A Subscription Identifier names the source's subscription, not one of
     * Eddy's (the bridge asks for none, so sources send none): properties
     * holding one are not passed on. */
    struct ed_mqtt_bytes props = pk->props;
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, props);
    while (ed_mqtt_prop_next(&it, &pr))
        if (pr.id == ED_MQTT_PROP_SUBSCRIPTION_ID || pr.id == ED_MQTT_PROP_TOPIC_ALIAS)
            props = (struct ed_mqtt_bytes){NULL, 0};
    ed_mqtt_deliver(m, NULL, pk->topic, pk->payload, props, pk->qos, pk->retain);
}

void ed_mqtt_publish_will(ed_mqtt_conn *c)
{
    struct ed_mqtt_publish pk;
    memset(&pk, 0, sizeof pk);
    pk.qos = c->will_qos;
    pk.retain = c->will_retain;
    pk.topic.p = c->will;
    pk.topic.len = c->will_topic_len;
    pk.payload.p = c->will + c->will_topic_len;
    pk.payload.len = c->will_payload_len;
    pk.props.p = c->will + c->will_topic_len + c->will_payload_len;
    pk.props.len = c->will_props_len;
    c->has_will = false;
    c->m->stats.n_wills++;
    ED_LOG_DBG("publishing the will of %s to %.*s", c->peer, (int)ED_MIN(pk.topic.len, 200),
               (const char *)pk.topic.p);
    ed_mqtt_publish(c, &pk, true);
}

const struct ed_ingest_cbs ed_mqtt_ingest_cbs = {on_done, on_batch_done};
