/* The MQTT listener (see mqtt.h).
 *
 * Life of a QoS 1/2 publish: the packet is decoded in the connection's read
 * buffer, routed to a partition, and its record is added to that
 * partition's batch builder (one copy, nothing allocated per record); an
 * acknowledgement slot joins the connection's ring in arrival order and the
 * batch remembers (connection, slot). When the linger timer fires or the
 * batch is full, the batch is appended with one write and one durable wait
 * covers all its records; when the flush completes, the slots are marked
 * done and acknowledgements leave from the head of the ring, so they go out
 * in the order the publishes came in and never before their data is on
 * flash. A connection closed while a durable wait refers to it stays
 * allocated (closed) until the last wait completes.
 *
 * Failures reported by the storage (append or flush failed, partition
 * removed) and reading a paused connection again are not handled inside
 * the callback that caused them but from a zero-delay timer ("kick"):
 * answering may close an MQTT 3.1.1 connection, whose will is published
 * and may be routed to the very partition being removed, and reading may
 * gather new publishes into the batch being failed.
 *
 * Live delivery: a QoS 1/2 delivery to a subscriber whose window (its
 * Receive Maximum, at most mqtt.max.inflight) is full waits in that
 * subscriber's queue, in order, and leaves as acknowledgements free the
 * window; past mqtt.max.queued.messages or .bytes a delivery is dropped,
 * counted and logged. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt.h"
#include "bridge/mqtt_codec.h"
#include "bridge/mqtt_route.h"
#include "core/partitioner.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/ingest.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_SUBS      64
#define MAX_HEADERS   64
#define CLIENT_ID_MAX 256

/* An acknowledgement owed to the client, in arrival order. */
struct pend {
    uint16_t packet_id;
    uint8_t type;   /* PUBACK or PUBREC */
    uint8_t reason; /* set when done */
    bool done;
};

struct sub {
    char *filter;
    size_t len;
    uint8_t qos;
    bool no_local;
};

/* An outbound QoS 1/2 delivery awaiting its acknowledgement. */
enum { OUT_FREE = 0, OUT_PUBACK, OUT_PUBREC, OUT_PUBCOMP };
struct outq {
    uint16_t id;
    uint8_t state;
};

/* A QoS 1/2 delivery waiting for room in the subscriber's window: topic,
 * properties (MQTT 5 subscribers only) and payload, copied. */
struct held {
    struct held *next;
    uint8_t qos;
    size_t topic_len, props_len, payload_len;
    uint8_t data[];
};

/* A client's session: the connection engine's per-connection data. */
typedef struct ed_mqtt_conn ed_mqtt_conn;
struct ed_mqtt_conn {
    ed_mqtt *m;
    ed_conn *conn;
    ed_mqtt_conn *prev, *next; /* the listener's open sessions */
    bool connected, closing, graceful;
    bool no_will; /* closed by Eddy in a way that does not publish the will */
    bool kick;    /* acknowledgements to drain: see on_kick */
    bool drain;   /* on the listener's drains list */
    ed_mqtt_conn *drain_next;
    uint8_t level;
    uint16_t keepalive_s;
    uint64_t last_rx_ms, accepted_ms;
    char *client_id;
    char peer[64];
    /* will */
    bool has_will;
    uint8_t will_qos;
    uint8_t *will; /* topic, then payload, then props */
    size_t will_topic_len, will_payload_len, will_props_len;
    /* acknowledgements owed, a ring indexed by sequence number */
    struct pend *pend;
    uint32_t pend_cap;
    uint64_t pend_head; /* sequence number of the oldest */
    uint32_t pend_n;
    uint8_t *qos2; /* bitmap of QoS 2 packet ids received and not released */
    /* subscriptions and outbound window */
    struct sub subs[MAX_SUBS];
    int n_subs;
    struct outq *outq;
    uint16_t out_window;
    uint16_t next_pid;
    struct held *held, *held_tail; /* waiting for the window, oldest first */
    uint32_t n_held;
    size_t held_len; /* bytes of their topics, properties and payloads */
    uint32_t client_max_packet;
    uint32_t session_expiry_s; /* from CONNECT (MQTT 5) */
    int n_refs;                /* durable waits that name this connection */
};

struct ed_mqtt {
    ed_broker *b;
    struct ed_mqtt_limits lim;
    ed_mqtt_routes *routes;
    ed_conn_set *set;
    ed_mqtt_conn *conns; /* open sessions */
    ed_ingest *ingest;   /* publishes gathered per partition, appended, made durable */
    ed_timer kick_timer;
    bool kicked;          /* some connection has kick set */
    ed_mqtt_conn *drains; /* acknowledgements completed by the batch at hand */
    uint64_t n_ids;
    uint64_t last_drop_log_ms;
    uint64_t n_drops_unlogged; /* dropped deliveries since the last line about them */
    struct ed_mqtt_stats stats;
};

static void conn_close(ed_mqtt_conn *c, const char *why, bool will);
static void kick(ed_mqtt_conn *c);

static uint64_t now_ms(const ed_mqtt *m)
{
    return m->b->loop ? ed_plat_loop_now_ms(m->b->loop) : 0;
}

/* ---- output (the engine's byte queue) ---- */

/* Room for n more bytes of output, then out_commit; NULL (and the
 * connection closed, its will published) past the output limit. */
static uint8_t *out_room(ed_mqtt_conn *c, size_t n)
{
    return c->closing ? NULL : ed_conn_out_reserve(c->conn, n);
}

static void out_commit(ed_mqtt_conn *c, size_t n)
{
    ed_conn_out_commit(c->conn, n);
}

static void out_flush(ed_mqtt_conn *c)
{
    if (!c->closing) ed_conn_flush(c->conn);
}

/* Queues a small packet. */
static void send_bytes(ed_mqtt_conn *c, const uint8_t *p, size_t n)
{
    if (c->closing || n == 0) return;
    ed_conn_write(c->conn, p, n);
}

/* MQTT 5: a DISCONNECT with reason before closing (3.1.1 has none). */
static void send_disconnect(ed_mqtt_conn *c, uint8_t reason, const char *text)
{
    if (c->level != 5 || !c->connected) return;
    uint8_t b[256];
    size_t n = ed_mqtt_encode_disconnect(b, sizeof b, reason, text);
    /* The Reason String is left out where it would exceed the client's
     * Maximum Packet Size (MQTT-3.14.2-3). */
    if (c->client_max_packet && n > c->client_max_packet)
        n = ed_mqtt_encode_disconnect(b, sizeof b, reason, NULL);
    send_bytes(c, b, n);
}

/* Closes for bad input: one log line naming the problem (rate-limited by
 * the engine); MQTT 5 gets a DISCONNECT with reason first. */
static void close_bad(ed_mqtt_conn *c, uint8_t reason, const char *what)
{
    if (c->closing) return;
    send_disconnect(c, reason, what);
    char why[320];
    if (c->client_id)
        snprintf(why, sizeof why, "client %s: %s", c->client_id, what);
    else
        snprintf(why, sizeof why, "%s", what);
    ed_conn_close_bad(c->conn, why);
}

/* ---- connections: closing ---- */

static void held_clear(ed_mqtt_conn *c);

/* A closed session freed from the engine's reap timer. */
static void arm_reap(ed_mqtt *m)
{
    ed_conn_set_reap_later(m->set);
}

static void publish_will(ed_mqtt_conn *c);

static void conn_close(ed_mqtt_conn *c, const char *why, bool will)
{
    if (c->closing) return;
    c->no_will = !will;
    ed_conn_close(c->conn, why);
}

/* Reading resumes or pauses as the acknowledgement ring and the output
 * change (the engine asks can_take). */
static void update_read(ed_mqtt_conn *c)
{
    if (!c->closing) ed_conn_update(c->conn);
}

/* ---- acknowledgements owed (inbound QoS 1/2) ---- */

static struct pend *pend_at(ed_mqtt_conn *c, uint64_t seq)
{
    if (seq < c->pend_head || seq >= c->pend_head + c->pend_n) return NULL;
    return &c->pend[seq % c->pend_cap];
}

/* Queues an acknowledgement slot; its sequence number. The caller checked
 * there is room (pend_n < pend_cap). */
static uint64_t pend_push(ed_mqtt_conn *c, uint8_t type, uint16_t id)
{
    uint64_t seq = c->pend_head + c->pend_n;
    struct pend *p = &c->pend[seq % c->pend_cap];
    p->packet_id = id;
    p->type = type;
    p->reason = 0;
    p->done = false;
    c->pend_n++;
    return seq;
}

static bool qos2_has(const ed_mqtt_conn *c, uint16_t id)
{
    return c->qos2 && (c->qos2[id >> 3] & (1u << (id & 7)));
}

static void qos2_set(ed_mqtt_conn *c, uint16_t id, bool on)
{
    if (!c->qos2) return;
    if (on)
        c->qos2[id >> 3] |= (uint8_t)(1u << (id & 7));
    else
        c->qos2[id >> 3] &= (uint8_t) ~(1u << (id & 7));
}

/* Sends the done acknowledgements at the head of the ring, in order. */
static void pend_drain(ed_mqtt_conn *c)
{
    while (!c->closing && c->pend_n > 0) {
        struct pend *p = &c->pend[c->pend_head % c->pend_cap];
        if (!p->done) break;
        if (p->reason >= 0x80 && c->level != 5 && p->type != ED_MQTT_PUBCOMP) {
            /* MQTT 3.1.1 has no negative acknowledgement: closing makes the
             * client resend after it reconnects. */
            char why[96];
            snprintf(why, sizeof why, "publish (packet id %u) could not be stored",
                     (unsigned)p->packet_id);
            ED_LOG_WARN_RL("closing MQTT connection from %s: %s", c->peer, why);
            conn_close(c, NULL, true);
            return;
        }
        if (p->type == ED_MQTT_PUBREC && p->reason >= 0x80) qos2_set(c, p->packet_id, false);
        uint8_t b[8];
        send_bytes(c, b,
                   ed_mqtt_encode_ack(b, sizeof b, p->type, c->level, p->packet_id, p->reason));
        c->pend_head++;
        c->pend_n--;
    }
    out_flush(c);
}

static void pend_complete(ed_mqtt_conn *c, uint64_t seq, uint8_t reason)
{
    struct pend *p = pend_at(c, seq);
    if (!p) return;
    p->done = true;
    p->reason = reason;
}

/* ---- durable completion (the ingest path, core/ingest.h) ---- */

static uint8_t reason_of(int rc)
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
        if (c->n_refs == 0) arm_reap(m);
        return;
    }
    pend_complete(c, seq, status == ED_OK ? 0 : reason_of(status));
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
            pend_drain(c);
        else
            kick(c);
    }
}

/* Answers what failures completed and reads what paused connections
 * buffered, for every connection kicked. */
static void run_kicks(ed_mqtt *m)
{
    while (m->kicked) {
        m->kicked = false;
        ed_mqtt_conn *c = m->conns;
        while (c) {
            ed_mqtt_conn *next = c->next;
            if (c->kick && !c->closing) {
                c->kick = false;
                pend_drain(c);
                update_read(c); /* the engine reads what is buffered */
                /* Closing one connection can close others (wills reach slow
                 * subscribers): start over if the next one went. */
                if (next && next->closing) next = m->conns;
            }
            c = next;
        }
    }
}

static void on_kick(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    run_kicks(arg);
}

static void kick(ed_mqtt_conn *c)
{
    ed_mqtt *m = c->m;
    c->kick = true;
    m->kicked = true;
    if (m->b->loop && !ed_plat_timer_armed(&m->kick_timer))
        ed_plat_timer_start(m->b->loop, &m->kick_timer, 0, on_kick, m);
}

void ed_mqtt_flush(ed_mqtt *m)
{
    run_kicks(m);
    ed_ingest_flush(m->ingest);
}

/* ---- routing a publish into the log ---- */

/* Resolves the partition of MQTT topic t: ED_OK, or an MQTT reason code
 * (>= 0x80) with *why. */
static int route(ed_mqtt *m, struct ed_mqtt_bytes t, ed_partition **out, const char **why)
{
    char name[ED_TOPIC_NAME_MAX + 1];
    if (ed_mqtt_routes_resolve(m->routes, t.p, t.len, name, sizeof name, why) != ED_OK)
        return ED_MQTT_RC_TOPIC_NAME_INVALID;
    ed_topic *topic = ed_topics_find(m->b->topics, name);
    if (!topic) {
        int rc = ed_topics_auto_create(m->b->topics, name, &topic);
        if (rc == ED_ERR_EXIST) topic = ed_topics_find(m->b->topics, name);
        if (!topic) {
            *why = rc == ED_ERR_NOENT    ? "Kafka topic does not exist and "
                                           "auto.create.topics.enable is off"
                   : rc == ED_ERR_INVAL  ? "Kafka topic name is not valid"
                   : rc == ED_ERR_TOOBIG ? "Kafka topic not created: the broker's topic or "
                                           "partition limit is reached"
                   : rc == ED_ERR_EXIST  ? "a Kafka topic of that name is still being deleted"
                                         : "Kafka topic could not be created";
            return rc == ED_ERR_NOENT || rc == ED_ERR_INVAL ? ED_MQTT_RC_TOPIC_NAME_INVALID
                   : rc == ED_ERR_TOOBIG                    ? ED_MQTT_RC_QUOTA_EXCEEDED
                                                            : ED_MQTT_RC_UNSPECIFIED;
        }
        ED_LOG_DBG("created topic %s (%d partition%s) for MQTT topic %.*s", name,
                   (int)ed_topic_n_partitions(topic), ed_topic_n_partitions(topic) == 1 ? "" : "s",
                   (int)ED_MIN(t.len, 200), (const char *)t.p);
    }
    if (ed_topic_is_internal(topic)) {
        *why = "cannot publish to an internal topic";
        return ED_MQTT_RC_TOPIC_NAME_INVALID;
    }
    int32_t n = ed_topic_n_partitions(topic);
    *out = ed_topic_partition(topic, ed_partitioner_pick(t.p, t.len, n));
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

/* ---- live delivery to subscribers ---- */

static int outq_take(ed_mqtt_conn *c, uint8_t state, uint16_t *id)
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
    c->outq[slot].id = c->next_pid;
    c->outq[slot].state = state;
    *id = c->next_pid;
    return ED_OK;
}

static struct outq *outq_find(ed_mqtt_conn *c, uint16_t id)
{
    for (int i = 0; c->outq && i < c->out_window; i++)
        if (c->outq[i].state != OUT_FREE && c->outq[i].id == id) return &c->outq[i];
    return NULL;
}

/* Counts n deliveries to c that will never be made and says why, at most
 * one line a second (with the count of those not logged in between). */
static void drop(ed_mqtt_conn *c, uint32_t n, const char *why)
{
    ed_mqtt *m = c->m;
    m->stats.n_dropped += n;
    uint64_t now = now_ms(m);
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

/* Sends one PUBLISH; id is its packet id (QoS 1/2, slot taken). props are
 * already empty for an MQTT 3.1.1 subscriber. */
static void send_publish(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                         struct ed_mqtt_bytes props, uint8_t qos, uint16_t id)
{
    size_t total = ed_mqtt_publish_len(c->level, qos, topic.len, props.len, payload.len);
    uint8_t *dst = out_room(c, total);
    if (!dst) return;
    size_t h = ed_mqtt_encode_publish_head(dst, total, c->level, qos, false, false, topic, id,
                                           props, payload.len);
    ED_ASSERT(h > 0 && h + payload.len == total);
    memcpy(dst + h, payload.p, payload.len);
    out_commit(c, total);
    c->m->stats.n_delivered++;
    out_flush(c);
}

/* Queues a QoS 1/2 delivery behind the full window, within the limits. */
static void hold(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                 struct ed_mqtt_bytes props, uint8_t qos)
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
    h->qos = qos;
    h->topic_len = topic.len;
    h->props_len = props.len;
    h->payload_len = payload.len;
    if (topic.len) memcpy(h->data, topic.p, topic.len);
    if (props.len) memcpy(h->data + topic.len, props.p, props.len);
    if (payload.len) memcpy(h->data + topic.len + props.len, payload.p, payload.len);
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
static void release_held(ed_mqtt_conn *c)
{
    while (c->held && !c->closing) {
        struct held *h = c->held;
        uint16_t id;
        int rc = outq_take(c, h->qos == 1 ? OUT_PUBACK : OUT_PUBREC, &id);
        if (rc == ED_ERR_AGAIN) return;
        c->held = h->next;
        if (!c->held) c->held_tail = NULL;
        c->n_held--;
        c->held_len -= h->topic_len + h->props_len + h->payload_len;
        if (rc == ED_OK) {
            struct ed_mqtt_bytes topic = {h->data, h->topic_len};
            struct ed_mqtt_bytes props = {h->data + h->topic_len, h->props_len};
            struct ed_mqtt_bytes payload = {h->data + h->topic_len + h->props_len, h->payload_len};
            send_publish(c, topic, payload, props, h->qos, id);
        } else {
            drop(c, 1, "out of memory for its window");
        }
        ed_free(h);
    }
}

/* A connection's end: what still waits for its window is dropped
 * (sessions do not outlive connections). */
static void held_clear(ed_mqtt_conn *c)
{
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

static void deliver_one(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                        struct ed_mqtt_bytes props, uint8_t qos)
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
        int rc = c->held ? ED_ERR_AGAIN : outq_take(c, qos == 1 ? OUT_PUBACK : OUT_PUBREC, &id);
        if (rc == ED_ERR_AGAIN) {
            hold(c, topic, payload, p, qos);
            return;
        }
        if (rc != ED_OK) {
            drop(c, 1, "out of memory for its window");
            return;
        }
    }
    send_publish(c, topic, payload, p, qos, id);
}

/* Delivers a publish to every matching subscription, at the lower of the
 * publish's and the subscription's QoS (the highest over overlapping
 * subscriptions of one connection, delivered once). */
static void deliver(ed_mqtt *m, ed_mqtt_conn *from, struct ed_mqtt_bytes topic,
                    struct ed_mqtt_bytes payload, struct ed_mqtt_bytes props, uint8_t qos)
{
    ed_mqtt_conn *c = m->conns;
    while (c) {
        ed_mqtt_conn *next = c->next;
        int best = -1;
        for (int i = 0; c->connected && !c->closing && i < c->n_subs; i++) {
            const struct sub *s = &c->subs[i];
            if (s->no_local && c == from) continue;
            if (ed_mqtt_filter_match((const uint8_t *)s->filter, s->len, topic.p, topic.len))
                best = ED_MAX(best, (int)ED_MIN(qos, s->qos));
        }
        if (best >= 0) deliver_one(c, topic, payload, props, (uint8_t)best);
        c = next;
    }
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
        conn_close(c, NULL, true);
        return;
    }
    uint64_t seq = pend_push(c, pk->qos == 1 ? ED_MQTT_PUBACK : ED_MQTT_PUBREC, pk->packet_id);
    pend_complete(c, seq, reason);
    pend_drain(c);
}

/* Stores one publish (client publish or will) and delivers it live. c is
 * the connection owed the acknowledgement (NULL for a will). */
static void publish(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk, bool is_will)
{
    ed_mqtt *m = c->m;
    const char *why = NULL;
    ed_partition *p = NULL;
    int reason = route(m, pk->topic, &p, &why);
    if (reason != ED_OK) {
        if (is_will)
            ED_LOG_WARN("will of %s to '%.*s' dropped: %s", c->peer,
                        (int)ED_MIN(pk->topic.len, 200), (const char *)pk->topic.p, why);
        else
            publish_failed(c, pk, (uint8_t)reason, why);
        return;
    }
    struct ed_record_header h[MAX_HEADERS];
    int n_h = user_headers(pk->props, h);
    if (n_h < 0) {
        if (is_will)
            ED_LOG_WARN("will of %s to '%.*s' dropped: more than 64 user properties", c->peer,
                        (int)ED_MIN(pk->topic.len, 200), (const char *)pk->topic.p);
        else
            publish_failed(c, pk, ED_MQTT_RC_IMPL_SPECIFIC, "more than 64 user properties");
        return;
    }
    bool acked = !is_will && pk->qos > 0;
    uint64_t seq = 0;
    if (acked) {
        seq = pend_push(c, pk->qos == 1 ? ED_MQTT_PUBACK : ED_MQTT_PUBREC, pk->packet_id);
        if (pk->qos == 2) qos2_set(c, pk->packet_id, true);
    }
    if (acked) c->n_refs++; /* until on_done */
    int rc = ed_ingest_add(m->ingest, p, pk->topic.p, pk->topic.len, pk->payload.p, pk->payload.len,
                           h, n_h, acked ? c : NULL, seq);
    if (rc != ED_OK) {
        if (acked) c->n_refs--;
        m->stats.n_failed++;
        const char *what = rc == ED_ERR_TOOBIG ? "record larger than the topic's max.message.bytes"
                                               : ed_strerror(rc);
        ED_LOG_WARN_RL("MQTT publish from %s to %s-%d refused: %s", c->peer,
                       ed_topic_name(p->topic), (int)p->index, what);
        if (acked) {
            pend_complete(c, seq, reason_of(rc));
            pend_drain(c);
        }
        return;
    }
    deliver(m, c, pk->topic, pk->payload, pk->props, pk->qos);
}

static void publish_will(ed_mqtt_conn *c)
{
    struct ed_mqtt_publish pk;
    memset(&pk, 0, sizeof pk);
    pk.qos = c->will_qos;
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
    publish(c, &pk, true);
}

/* ---- packets ---- */

static void assign_client_id(ed_mqtt_conn *c)
{
    char id[48];
    snprintf(id, sizeof id, "eddy-%" PRIu64 "-%08x", ++c->m->n_ids,
             (unsigned)(ed_plat_clock_mono_ns() & 0xffffffffu));
    c->client_id = ed_strdup(id);
}

static void on_connect(ed_mqtt_conn *c, uint8_t flags, const uint8_t *body, size_t len)
{
    ed_mqtt *m = c->m;
    struct ed_mqtt_connect ck;
    const char *why = "?";
    int rc = ed_mqtt_decode_connect(body, len, flags, &ck, &why);
    if (rc == ED_ERR_UNSUPPORTED) {
        m->stats.n_bad++;
        ED_LOG_WARN_RL("refusing MQTT connection from %s: %s (level %u)", c->peer, why,
                       (unsigned)ck.level);
        if (ck.level != 0) {
            /* A 3.1.1-style refusal: return code 1, understood by every
             * version's clients. */
            uint8_t b[8];
            send_bytes(c, b,
                       ed_mqtt_encode_connack(b, sizeof b, 4, false, ED_MQTT_RC_UNSUPPORTED_VERSION,
                                              NULL));
            out_flush(c);
        }
        conn_close(c, NULL, false);
        return;
    }
    if (rc != ED_OK) {
        c->level = 0;
        close_bad(c, ED_MQTT_RC_MALFORMED, why);
        return;
    }
    c->level = ck.level;
    c->keepalive_s = ck.keepalive_s;
    c->client_max_packet = ck.max_packet_len;
    c->session_expiry_s = ck.session_expiry_s;
    c->out_window = (uint16_t)ED_MIN(ck.receive_max, m->lim.n_inflight_max);
    uint8_t b[512];
    if (ck.has_auth_method) {
        ED_LOG_WARN("refusing MQTT connection from %s: enhanced authentication is not supported",
                    c->peer);
        send_bytes(c, b,
                   ed_mqtt_encode_connack(b, sizeof b, 5, false, ED_MQTT_RC_BAD_AUTH_METHOD, NULL));
        out_flush(c);
        conn_close(c, NULL, false);
        return;
    }
    bool assigned = false;
    if (ck.client_id.len == 0) {
        if (ck.level == 4 && !ck.clean) {
            ED_LOG_WARN("refusing MQTT connection from %s: empty client id needs clean session",
                        c->peer);
            send_bytes(c, b,
                       ed_mqtt_encode_connack(b, sizeof b, 4, false, ED_MQTT_RC_CLIENT_ID_NOT_VALID,
                                              NULL));
            out_flush(c);
            conn_close(c, NULL, false);
            return;
        }
        assign_client_id(c);
        assigned = true;
    } else if (ck.client_id.len > CLIENT_ID_MAX) {
        ED_LOG_WARN("refusing MQTT connection from %s: client id of %zu bytes (limit %d)", c->peer,
                    ck.client_id.len, CLIENT_ID_MAX);
        send_bytes(c, b,
                   ed_mqtt_encode_connack(b, sizeof b, ck.level, false,
                                          ED_MQTT_RC_CLIENT_ID_NOT_VALID, NULL));
        out_flush(c);
        conn_close(c, NULL, false);
        return;
    } else {
        c->client_id = ed_strndup((const char *)ck.client_id.p, ck.client_id.len);
    }
    if (!c->client_id) {
        close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory");
        return;
    }
    if (ck.will) {
        if (!ed_mqtt_topic_name_ok(ck.will_topic.p, ck.will_topic.len)) {
            close_bad(c, ED_MQTT_RC_TOPIC_NAME_INVALID, "will topic is not a valid topic name");
            return;
        }
        if (ck.will_retain && ck.level == 5) {
            ED_LOG_WARN("refusing MQTT connection from %s: retained wills are not supported",
                        c->peer);
            send_bytes(c, b,
                       ed_mqtt_encode_connack(b, sizeof b, 5, false,
                                              ED_MQTT_RC_RETAIN_NOT_SUPPORTED, NULL));
            out_flush(c);
            conn_close(c, NULL, false);
            return;
        }
        size_t n = ck.will_topic.len + ck.will_payload.len + ck.will_props.len;
        c->will = ed_malloc(n ? n : 1);
        if (!c->will) {
            close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory for the will");
            return;
        }
        memcpy(c->will, ck.will_topic.p, ck.will_topic.len);
        if (ck.will_payload.len)
            memcpy(c->will + ck.will_topic.len, ck.will_payload.p, ck.will_payload.len);
        c->will_topic_len = ck.will_topic.len;
        c->will_payload_len = ck.will_payload.len;
        /* The will's properties become the PUBLISH's: all but the Will
         * Delay Interval, which only a will has. */
        uint8_t *wp = c->will + ck.will_topic.len + ck.will_payload.len;
        size_t wn = 0;
        struct ed_mqtt_prop_iter it;
        struct ed_mqtt_prop pr;
        ed_mqtt_prop_iter_init(&it, ck.will_props);
        for (const uint8_t *at = it.p; ed_mqtt_prop_next(&it, &pr); at = it.p) {
            if (pr.id == ED_MQTT_PROP_WILL_DELAY) continue;
            memcpy(wp + wn, at, (size_t)(it.p - at));
            wn += (size_t)(it.p - at);
        }
        c->will_props_len = wn;
        c->will_qos = ck.will_qos;
        c->has_will = true;
    }
    /* Take-over: an existing connection with the same client id goes. */
    for (ed_mqtt_conn *o = m->conns; o; o = o->next) {
        if (o == c || !o->connected || o->closing || strcmp(o->client_id, c->client_id) != 0)
            continue;
        ED_LOG_INFO("client %s from %s takes over the session of %s", c->client_id, c->peer,
                    o->peer);
        send_disconnect(o, ED_MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
        out_flush(o);
        conn_close(o, NULL, true);
        break;
    }
    c->connected = true;
    struct ed_mqtt_connack_props cp;
    memset(&cp, 0, sizeof cp);
    cp.receive_max = m->lim.n_inflight_max;
    cp.max_packet_len = m->lim.max_packet_len;
    cp.max_qos = -1;
    cp.retain_unavailable = true;
    cp.shared_unavailable = true;
    cp.sub_ids_unavailable = true;
    /* No session outlives the connection: a client asking for one is told
     * its Session Expiry Interval is 0 (absent would mean "as asked"). */
    cp.session_expiry_zero = c->level == 5 && ck.session_expiry_s > 0;
    if (assigned) {
        cp.assigned_client_id.p = (const uint8_t *)c->client_id;
        cp.assigned_client_id.len = strlen(c->client_id);
    }
    send_bytes(c, b, ed_mqtt_encode_connack(b, sizeof b, c->level, false, 0, &cp));
    ED_LOG_DBG("MQTT %s client %s connected from %s (keep-alive %u s)",
               c->level == 5 ? "5.0" : "3.1.1", c->client_id, c->peer, (unsigned)c->keepalive_s);
}

static void on_publish(ed_mqtt_conn *c, uint8_t flags, const uint8_t *body, size_t len)
{
    struct ed_mqtt_publish pk;
    const char *why = "?";
    if (ed_mqtt_decode_publish(body, len, flags, c->level, &pk, &why) != ED_OK) {
        close_bad(c, ED_MQTT_RC_MALFORMED, why);
        return;
    }
    if (pk.has_topic_alias) {
        close_bad(c, ED_MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias used (Topic Alias Maximum is 0)");
        return;
    }
    if (!ed_mqtt_topic_name_ok(pk.topic.p, pk.topic.len)) {
        close_bad(c, ED_MQTT_RC_TOPIC_NAME_INVALID, "PUBLISH topic is empty or has a wildcard");
        return;
    }
    if (pk.retain && c->level == 5) {
        close_bad(c, ED_MQTT_RC_RETAIN_NOT_SUPPORTED, "retained messages are not supported");
        return;
    }
    if (pk.qos == 2) {
        if (!c->qos2) {
            c->qos2 = ed_calloc(1, 65536 / 8);
            if (!c->qos2) {
                close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory");
                return;
            }
        }
        if (qos2_has(c, pk.packet_id)) {
            /* A resend of a publish already stored: never appended twice.
             * If its PUBREC is still waiting for the flush, that one
             * answers; else answer again now. */
            for (uint32_t i = 0; i < c->pend_n; i++) {
                const struct pend *p = &c->pend[(c->pend_head + i) % c->pend_cap];
                if (p->type == ED_MQTT_PUBREC && p->packet_id == pk.packet_id) return;
            }
            uint64_t seq = pend_push(c, ED_MQTT_PUBREC, pk.packet_id);
            pend_complete(c, seq, 0);
            pend_drain(c);
            return;
        }
    }
    publish(c, &pk, false);
}

static void on_ack(ed_mqtt_conn *c, int type, uint8_t flags, const uint8_t *body, size_t len)
{
    struct ed_mqtt_ack a;
    const char *why = "?";
    if (ed_mqtt_decode_ack(type, body, len, flags, c->level, &a, &why) != ED_OK) {
        close_bad(c, ED_MQTT_RC_MALFORMED, why);
        return;
    }
    uint8_t b[8];
    if (type == ED_MQTT_PUBREL) {
        bool known = qos2_has(c, a.packet_id);
        qos2_set(c, a.packet_id, false);
        if (c->pend_n > 0) {
            /* PUBCOMP must not overtake acknowledgements still owed. */
            if (c->pend_n == c->pend_cap) {
                close_bad(c, ED_MQTT_RC_RECEIVE_MAX_EXCEEDED, "too many packets in flight");
                return;
            }
            uint64_t seq = pend_push(c, ED_MQTT_PUBCOMP, a.packet_id);
            pend_complete(c, seq, known ? 0 : ED_MQTT_RC_PACKET_ID_NOT_FOUND);
            pend_drain(c);
            return;
        }
        send_bytes(c, b,
                   ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBCOMP, c->level, a.packet_id,
                                      known ? 0 : ED_MQTT_RC_PACKET_ID_NOT_FOUND));
        return;
    }
    struct outq *q = outq_find(c, a.packet_id);
    if (!q) {
        ED_LOG_DBG("%s: %s for unknown packet id %u", c->peer, ed_mqtt_type_name(type),
                   (unsigned)a.packet_id);
        return;
    }
    if (type == ED_MQTT_PUBACK && q->state == OUT_PUBACK) {
        q->state = OUT_FREE;
    } else if (type == ED_MQTT_PUBREC && q->state == OUT_PUBREC) {
        if (a.reason >= 0x80) {
            q->state = OUT_FREE;
        } else {
            q->state = OUT_PUBCOMP;
            send_bytes(c, b,
                       ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBREL, c->level, a.packet_id, 0));
        }
    } else if (type == ED_MQTT_PUBCOMP && q->state == OUT_PUBCOMP) {
        q->state = OUT_FREE;
    } else {
        close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR,
                  "acknowledgement of the wrong kind for its packet id");
        return;
    }
    if (q->state == OUT_FREE) release_held(c);
}

static void on_subscribe(ed_mqtt_conn *c, int type, uint8_t flags, const uint8_t *body, size_t len)
{
    struct ed_mqtt_subscribe s;
    const char *why = "?";
    if (ed_mqtt_decode_subscribe(type, body, len, flags, c->level, &s, &why) != ED_OK) {
        close_bad(c, ED_MQTT_RC_MALFORMED, why);
        return;
    }
    if (s.sub_id && c->level == 5) {
        close_bad(c, ED_MQTT_RC_SUB_IDS_NOT_SUPPORTED,
                  "subscription identifiers are not supported");
        return;
    }
    uint8_t codes[256];
    int n = 0;
    struct ed_mqtt_bytes f;
    uint8_t opt;
    if (s.n > (int)sizeof codes) {
        close_bad(c, ED_MQTT_RC_IMPL_SPECIFIC, "more than 256 topic filters in one packet");
        return;
    }
    while (ed_mqtt_subscribe_next(type, &s, &f, &opt)) {
        uint8_t code;
        if (!ed_mqtt_filter_ok(f.p, f.len)) {
            code = c->level == 5 ? ED_MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
        } else if (f.len >= 7 && memcmp(f.p, "$share/", 7) == 0) {
            code = c->level == 5 ? ED_MQTT_RC_SHARED_SUBS_NOT_SUPPORTED : 0x80;
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
                    c->subs[i].filter = ed_strndup((const char *)f.p, f.len);
                    if (!c->subs[i].filter) {
                        codes[n++] = 0x80;
                        continue;
                    }
                    c->subs[i].len = f.len;
                    c->n_subs++;
                }
                c->subs[i].qos = qos;
                c->subs[i].no_local = c->level == 5 && (opt & 4);
                code = qos; /* granted as asked: QoS 0, 1 and 2 are served */
            }
        }
        codes[n++] = code;
    }
    uint8_t b[300];
    send_bytes(c, b,
               ed_mqtt_encode_suback(b, sizeof b,
                                     type == ED_MQTT_SUBSCRIBE ? ED_MQTT_SUBACK : ED_MQTT_UNSUBACK,
                                     c->level, s.packet_id, codes, n));
}

/* One whole packet: first byte, body. */
static void on_packet(ed_mqtt_conn *c, uint8_t first, const uint8_t *body, size_t len)
{
    int type = first >> 4;
    uint8_t flags = first & 15;
    const char *why = "?";
    if (!c->connected) {
        if (type != ED_MQTT_CONNECT) {
            char w[64];
            snprintf(w, sizeof w, "first packet is %s, not CONNECT", ed_mqtt_type_name(type));
            close_bad(c, 0, w);
            return;
        }
        on_connect(c, flags, body, len);
        return;
    }
    switch (type) {
    case ED_MQTT_PUBLISH:
        on_publish(c, flags, body, len);
        break;
    case ED_MQTT_PUBACK:
    case ED_MQTT_PUBREC:
    case ED_MQTT_PUBREL:
    case ED_MQTT_PUBCOMP:
        on_ack(c, type, flags, body, len);
        break;
    case ED_MQTT_SUBSCRIBE:
    case ED_MQTT_UNSUBSCRIBE:
        on_subscribe(c, type, flags, body, len);
        break;
    case ED_MQTT_PINGREQ: {
        if (ed_mqtt_decode_empty(body, len, flags, &why) != ED_OK) {
            close_bad(c, ED_MQTT_RC_MALFORMED, why);
            return;
        }
        uint8_t b[2];
        send_bytes(c, b, ed_mqtt_encode_pingresp(b, sizeof b));
        break;
    }
    case ED_MQTT_DISCONNECT: {
        struct ed_mqtt_disconnect d;
        if (ed_mqtt_decode_disconnect(body, len, flags, c->level, &d, &why) != ED_OK) {
            close_bad(c, ED_MQTT_RC_MALFORMED, why);
            return;
        }
        if (d.session_expiry_s > 0 && c->session_expiry_s == 0) {
            close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR,
                      "DISCONNECT sets a Session Expiry Interval after CONNECT set none");
            return;
        }
        /* Only a normal disconnection (MQTT 5 reason 0x00) discards the
         * will; 0x04 and the error reasons publish it (MQTT-3.14.4-3). */
        c->graceful = d.reason == ED_MQTT_RC_SUCCESS;
        out_flush(c);
        conn_close(c, "DISCONNECT", true);
        break;
    }
    case ED_MQTT_CONNECT:
        close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR, "second CONNECT on a connection");
        break;
    default: {
        char w[64];
        snprintf(w, sizeof w, "unexpected %s packet", ed_mqtt_type_name(type));
        close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR, w);
        break;
    }
    }
}

/* ---- the engine's callbacks ---- */

static ed_mqtt_conn *mc_of(ed_conn *conn)
{
    return ed_conn_data(conn);
}

/* The length of the packet at p: its fixed header says. Garbage before
 * CONNECT and oversized packets are refused before their body arrives. */
static int frame_len(ed_conn *conn, const uint8_t *p, size_t n, size_t *len, char *why,
                     size_t why_len)
{
    ed_mqtt_conn *c = mc_of(conn);
    ed_mqtt *m = c->m;
    uint8_t first;
    uint32_t rem;
    size_t hl;
    int rc = ed_mqtt_fixed_header(p, n, &first, &rem, &hl);
    if (rc == ED_ERR_AGAIN) return rc;
    if (rc != ED_OK) {
        close_bad(c, ED_MQTT_RC_MALFORMED, "Remaining Length longer than 4 bytes");
        snprintf(why, why_len, "Remaining Length longer than 4 bytes");
        return ED_ERR_PROTO;
    }
    if (!c->connected && p[0] >> 4 != ED_MQTT_CONNECT) {
        /* Said before the whole packet is in: garbage is closed at once. */
        snprintf(why, why_len, "first packet is %s, not CONNECT", ed_mqtt_type_name(p[0] >> 4));
        close_bad(c, 0, why);
        return ED_ERR_PROTO;
    }
    if ((uint64_t)hl + rem > m->lim.max_packet_len) {
        snprintf(why, why_len,
                 "%s packet of %" PRIu32 " bytes over mqtt.max.packet.bytes (%" PRIu32 ")",
                 ed_mqtt_type_name(first >> 4), (uint32_t)(hl + rem), m->lim.max_packet_len);
        close_bad(c, ED_MQTT_RC_PACKET_TOO_LARGE, why);
        return ED_ERR_TOOBIG;
    }
    *len = hl + rem;
    return ED_OK;
}

static void on_frame(ed_conn *conn, struct ed_conn_frame *f)
{
    ed_mqtt_conn *c = mc_of(conn);
    uint8_t first;
    uint32_t rem;
    size_t hl;
    int rc = ed_mqtt_fixed_header(f->p, f->len, &first, &rem, &hl);
    ED_ASSERT(rc == ED_OK && hl + rem == f->len);
    c->last_rx_ms = ed_conn_now_ms(conn);
    on_packet(c, first, f->p + hl, rem);
}

/* Reading pauses while every acknowledgement slot is taken: the packet
 * stays buffered until a flush frees some. */
static bool can_take(ed_conn *conn)
{
    const ed_mqtt_conn *c = mc_of(conn);
    return c->pend_n < c->pend_cap;
}

static int on_open(ed_conn *conn)
{
    ed_mqtt_conn *c = mc_of(conn);
    ed_mqtt *m = ed_conn_arg(conn);
    c->m = m;
    c->conn = conn;
    snprintf(c->peer, sizeof c->peer, "%s", ed_conn_peer(conn));
    c->pend_cap = m->lim.n_inflight_max;
    c->pend = ed_calloc(c->pend_cap, sizeof *c->pend);
    if (!c->pend) return ED_ERR_NOMEM;
    c->out_window = m->lim.n_inflight_max;
    c->next = m->conns;
    if (m->conns) m->conns->prev = c;
    m->conns = c;
    c->accepted_ms = c->last_rx_ms = now_ms(m);
    return ED_OK;
}

/* Keep-alive (1.5x the client's interval) and CONNECT timeouts. */
static void on_scan(ed_conn *conn, uint64_t now)
{
    ed_mqtt_conn *c = mc_of(conn);
    ed_mqtt *m = c->m;
    if (!c->connected && now - c->accepted_ms >= m->lim.connect_timeout_ms) {
        ED_LOG_INFO("closing MQTT connection from %s: no CONNECT within %u ms", c->peer,
                    (unsigned)m->lim.connect_timeout_ms);
        conn_close(c, NULL, false);
    } else if (c->connected && c->keepalive_s > 0 &&
               c->pend_n < c->pend_cap && /* not while Eddy itself holds it back */
               now - c->last_rx_ms >= (uint64_t)c->keepalive_s * 1500) {
        ED_LOG_INFO("closing MQTT client %s from %s: nothing received for 1.5 x its "
                    "keep-alive of %u s",
                    c->client_id, c->peer, (unsigned)c->keepalive_s);
        m->stats.n_keepalive++;
        send_disconnect(c, ED_MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep-alive timeout");
        out_flush(c);
        conn_close(c, NULL, true);
    }
}

/* The stream is gone: the will goes out unless the client or Eddy said
 * otherwise; the session leaves the open list. */
static void on_close(ed_conn *conn)
{
    ed_mqtt_conn *c = mc_of(conn);
    ed_mqtt *m = c->m;
    if (!m) return; /* on_open never ran */
    if (!c->no_will && c->connected && c->has_will && !c->graceful) {
        c->connected = false; /* not a subscriber of its own will any more */
        publish_will(c);
    }
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else if (m->conns == c)
        m->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* A closed session is freed once no durable wait names it. */
static bool can_free(ed_conn *conn)
{
    return mc_of(conn)->n_refs == 0;
}

static void on_free(ed_conn *conn)
{
    ed_mqtt_conn *c = mc_of(conn);
    held_clear(c);
    for (int i = 0; i < c->n_subs; i++)
        ed_free(c->subs[i].filter);
    ed_free(c->outq);
    ed_free(c->qos2);
    ed_free(c->pend);
    ed_free(c->will);
    ed_free(c->client_id);
}

static const struct ed_conn_proto mqtt_proto = {
    .name = "MQTT",
    .limit_key = "mqtt.max.connections",
    .data_len = sizeof(struct ed_mqtt_conn),
    .frame_len = frame_len,
    .on_frame = on_frame,
    .can_take = can_take,
    .on_open = on_open,
    .on_scan = on_scan,
    .on_close = on_close,
    .can_free = can_free,
    .on_free = on_free,
};

/* ---- the listener ---- */

int ed_mqtt_new(ed_broker *b, char *why, size_t why_len, ed_mqtt **out)
{
    ed_mqtt *m = ed_calloc(1, sizeof *m);
    if (!m) return ED_ERR_NOMEM;
    m->b = b;
    m->lim.max_packet_len = 1u << 20;
    m->lim.n_conns_max = 1024;
    m->lim.n_inflight_max = 64;
    m->lim.linger_ms = 2;
    m->lim.batch_len = 65536;
    m->lim.connect_timeout_ms = 10000;
    m->lim.n_queued_max = 1000;
    m->lim.queued_max_len = 1u << 20;
    const char *routes = "";
    struct ed_conn_limits cl = {0};
    cl.frame_timeout_ms = 30000;
    if (b->cfg) {
        m->lim.max_packet_len = (uint32_t)ed_config_int(b->cfg, "mqtt.max.packet.bytes");
        m->lim.n_conns_max = (int32_t)ed_config_int(b->cfg, "mqtt.max.connections");
        m->lim.n_inflight_max = (uint16_t)ed_config_int(b->cfg, "mqtt.max.inflight");
        m->lim.linger_ms = (uint32_t)ed_config_int(b->cfg, "mqtt.linger.ms");
        m->lim.batch_len = (size_t)ed_config_int(b->cfg, "mqtt.batch.bytes");
        m->lim.connect_timeout_ms = (uint32_t)ed_config_int(b->cfg, "mqtt.connect.timeout.ms");
        m->lim.n_queued_max = (uint32_t)ed_config_int(b->cfg, "mqtt.max.queued.messages");
        m->lim.queued_max_len = (size_t)ed_config_int(b->cfg, "mqtt.max.queued.bytes");
        routes = ed_config_str(b->cfg, "mqtt.routes");
        cl.n_conns_per_host_max = (int32_t)ed_config_int(b->cfg, "mqtt.max.connections.per.ip");
        cl.frame_timeout_ms = ed_config_int(b->cfg, "mqtt.packet.timeout.ms");
        if (ed_config_host_limits(ed_config_str(b->cfg, "mqtt.max.connections.per.ip.overrides"),
                                  cl.host_overrides, ED_CONFIG_MAX_HOST_LIMITS,
                                  &cl.n_host_overrides, why, why_len) != ED_OK) {
            ed_free(m);
            return ED_ERR_INVAL;
        }
    }
    m->lim.out_ceiling_len = ED_MAX((size_t)256 << 10, (size_t)m->lim.max_packet_len + 64);
    m->lim.out_max_len = ED_MAX((size_t)8 << 20, 4 * m->lim.out_ceiling_len);
    cl.n_conns_max = m->lim.n_conns_max;
    cl.frame_max_len = m->lim.max_packet_len;
    cl.out_ceiling_len = m->lim.out_ceiling_len;
    cl.out_max_len = m->lim.out_max_len;
    int rc = ed_mqtt_routes_parse(routes, &m->routes, why, why_len);
    if (rc != ED_OK) {
        ed_free(m);
        return rc;
    }
    struct ed_ingest_config ic = {m->lim.linger_ms, m->lim.batch_len, "MQTT publishes"};
    static const struct ed_ingest_cbs icbs = {on_done, on_batch_done};
    rc = ed_ingest_new(b->loop, b->topics, &ic, &icbs, m, &m->ingest);
    if (rc == ED_OK) rc = ed_conn_set_new(b->loop, &mqtt_proto, m, &cl, b->budget, &m->set);
    if (rc != ED_OK) {
        snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        ed_ingest_free(m->ingest);
        ed_mqtt_routes_free(m->routes);
        ed_free(m);
        return rc;
    }
    *out = m;
    return ED_OK;
}

int ed_mqtt_listen(ed_mqtt *m, const char *host, uint16_t port, uint16_t *bound)
{
    return ed_conn_set_listen(m->set, host, port, bound);
}

void ed_mqtt_adopt(ed_mqtt *m, ed_stream *st)
{
    ed_conn_set_adopt(m->set, st);
}

void ed_mqtt_shutdown(ed_mqtt *m)
{
    ed_conn_set_stop_accepting(m->set);
    ed_mqtt_flush(m);
    while (m->conns) {
        ed_mqtt_conn *c = m->conns;
        send_disconnect(c, ED_MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down");
        out_flush(c);
        conn_close(c, "shutting down", false);
    }
}

void ed_mqtt_free(ed_mqtt *m)
{
    if (!m) return;
    ed_mqtt_shutdown(m);
    /* Waits still registered with the storage outlive the listener: they
     * complete later without calling back. */
    ed_ingest_free(m->ingest);
    ed_conn_set_free(m->set);
    if (m->b->loop) ed_plat_timer_stop(m->b->loop, &m->kick_timer);
    ed_mqtt_routes_free(m->routes);
    ed_free(m);
}

int32_t ed_mqtt_n_conns(const ed_mqtt *m)
{
    return ed_conn_set_n_conns(m->set);
}

const struct ed_mqtt_limits *ed_mqtt_limits_get(const ed_mqtt *m)
{
    return &m->lim;
}

void ed_mqtt_stats_get(const ed_mqtt *m, struct ed_mqtt_stats *out)
{
    struct ed_conn_stats cs;
    ed_conn_set_stats(m->set, &cs);
    struct ed_ingest_stats is;
    ed_ingest_stats_get(m->ingest, &is);
    *out = m->stats;
    out->n_published = is.n_records;
    out->n_batches = is.n_batches;
    out->n_failed = m->stats.n_failed + is.n_failed;
    out->n_accepted = cs.n_accepted;
    out->n_refused = cs.n_refused;
    out->n_bad = cs.n_bad + m->stats.n_bad; /* the engine's and refusals in CONNECT */
    out->n_timeouts = cs.n_timeouts;
    out->n_pauses = cs.n_pauses;
}

void ed_mqtt_reap(ed_mqtt *m)
{
    ed_conn_set_reap(m->set);
}

/* ---- the MQTT service of a broker ---- */

static void service_shutdown(void *obj)
{
    ed_mqtt_shutdown(obj);
}

static void service_free(void *obj)
{
    ed_mqtt_free(obj);
}

int ed_mqtt_start(ed_broker *b, ed_mqtt **out, char *why, size_t why_len)
{
    if (out) *out = NULL;
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    int n = 0;
    ed_config_listeners(ed_config_str(b->cfg, "mqtt.listeners"), ls, ED_CONFIG_MAX_LISTENERS, &n,
                        why, why_len);
    if (n == 0) return ED_OK;
    ed_mqtt *m;
    int rc = ed_mqtt_new(b, why, why_len, &m);
    if (rc != ED_OK) {
        if (rc != ED_ERR_INVAL) snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        return rc;
    }
    /* What is gathered is appended at shutdown (and flushed at close);
     * clients whose acknowledgement was still owed resend on reconnect. */
    struct ed_broker_service svc = {"MQTT", m, service_shutdown, service_free};
    rc = ed_broker_add_service(b, &svc);
    if (rc != ED_OK) {
        snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        return rc;
    }
    if (out) *out = m;
    for (int i = 0; i < n; i++) {
        uint16_t port;
        const char *host = *ls[i].host ? ls[i].host : "0.0.0.0";
        rc = ed_mqtt_listen(m, host, ls[i].port, &port);
        if (rc != ED_OK) {
            snprintf(why, why_len, "cannot listen on %s:%u (MQTT): %s", host, ls[i].port,
                     ed_strerror(rc));
            return rc;
        }
        ED_LOG_INFO("listening on %s:%u (MQTT)", host, port);
        ed_broker_note_bound(b, "mqtt", host, port);
    }
    return ED_OK;
}
