/* The MQTT listener (see mqtt.h): sessions, packets, acknowledgements
 * owed, and the connection engine's callbacks. A connection's CONNECT is
 * handled in mqtt_connect.c, publishes into the log in mqtt_pub.c,
 * subscriptions and live delivery in mqtt_sub.c; what they share is in
 * mqtt_int.h.
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
#include "bridge/mqtt_int.h"
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

/* MQTT 5: a DISCONNECT with reason before closing (3.1.1 has none). */
void ed_mqtt_send_disconnect(ed_mqtt_conn *c, uint8_t reason, const char *text)
{
    if (c->level != 5 || !c->connected) return;
    uint8_t b[256];
    size_t n = ed_mqtt_encode_disconnect(b, sizeof b, reason, text);
    /* The Reason String is left out where it would exceed the client's
     * Maximum Packet Size (MQTT-3.14.2-3). */
    if (c->client_max_packet && n > c->client_max_packet)
        n = ed_mqtt_encode_disconnect(b, sizeof b, reason, NULL);
    ed_mqtt_send_bytes(c, b, n);
}

/* Closes for bad input: one log line naming the problem (rate-limited by
 * the engine); MQTT 5 gets a DISCONNECT with reason first. */
void ed_mqtt_close_bad(ed_mqtt_conn *c, uint8_t reason, const char *what)
{
    if (c->closing) return;
    ed_mqtt_send_disconnect(c, reason, what);
    char why[320];
    if (c->client_id)
        snprintf(why, sizeof why, "client %s: %s", c->client_id, what);
    else
        snprintf(why, sizeof why, "%s", what);
    ed_conn_close_bad(c->conn, why);
}

/* ---- connections: closing ---- */

/* A closed session freed from the engine's reap timer. */
void ed_mqtt_arm_reap(ed_mqtt *m)
{
    ed_conn_set_reap_later(m->set);
}

void ed_mqtt_conn_close(ed_mqtt_conn *c, const char *why, bool will)
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
 * there is room (pend_n < pend_cap) and the ring is allocated: on_publish
 * allocates it for a QoS 1/2 publish, and ed_mqtt_pend_drain frees it only
 * when empty. */
uint64_t ed_mqtt_pend_push(ed_mqtt_conn *c, uint8_t type, uint16_t id)
{
    uint64_t seq = c->pend_head + c->pend_n;
    struct pend *p = &c->pend[seq % c->pend_cap];
    p->packet_id = id;
    p->type = type;
    p->reason = 0;
    p->waits = 1;
    p->done = false;
    p->sess_wait = false;
    p->sgen = 0;
    c->pend_n++;
    return seq;
}

bool ed_mqtt_qos2_has(const ed_mqtt_conn *c, uint16_t id)
{
    return c->qos2 && (c->qos2[id >> 3] & (1u << (id & 7)));
}

void ed_mqtt_qos2_set(ed_mqtt_conn *c, uint16_t id, bool on)
{
    if (!c->qos2) return;
    if (on)
        c->qos2[id >> 3] |= (uint8_t)(1u << (id & 7));
    else
        c->qos2[id >> 3] &= (uint8_t) ~(1u << (id & 7));
}

/* Sends the done acknowledgements at the head of the ring, in order. */
void ed_mqtt_pend_drain(ed_mqtt_conn *c)
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
            ed_mqtt_conn_close(c, NULL, true);
            return;
        }
        if (p->type == ED_MQTT_PUBREC && p->reason >= 0x80)
            ed_mqtt_qos2_set(c, p->packet_id, false);
        uint8_t b[8];
        ed_mqtt_send_bytes(
            c, b, ed_mqtt_encode_ack(b, sizeof b, p->type, c->level, p->packet_id, p->reason));
        c->pend_head++;
        c->pend_n--;
    }
    if (c->pend_n == 0) { /* an idle session holds no ring */
        ed_free(c->pend);
        c->pend = NULL;
    }
    ed_mqtt_out_flush(c);
}

void ed_mqtt_pend_complete(ed_mqtt_conn *c, uint64_t seq, uint8_t reason)
{
    struct pend *p = pend_at(c, seq);
    if (!p || p->done) return;
    if (p->reason == 0) p->reason = reason;
    if (--p->waits > 0) return;
    if (c->sess && p->type == ED_MQTT_PUBREC && p->reason == 0 && !p->sess_wait) {
        /* The record is on flash: now a session save holding the packet id,
         * so that a resend after a restart is not stored twice. Saved
         * before the record, a crash in between would lose the publish. */
        p->sess_wait = true;
        p->waits = 1;
        ed_mqtt_session_save_soon(c);
        return;
    }
    p->done = true;
}

void ed_mqtt_pend_wait_more(ed_mqtt_conn *c, uint64_t seq)
{
    struct pend *p = pend_at(c, seq);
    if (p && !p->done) p->waits++;
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
                ed_mqtt_pend_drain(c);
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

void ed_mqtt_kick(ed_mqtt_conn *c)
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

/* ---- packets ---- */

/* A publish whose topic is known (its alias resolved). */
static void publish_resolved(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk)
{
    if (pk->qos > 0 && !c->pend) {
        c->pend = ed_calloc(c->pend_cap, sizeof *c->pend);
        if (!c->pend) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory");
            return;
        }
    }
    if (pk->qos == 2) {
        if (!c->qos2) {
            c->qos2 = ed_calloc(1, 65536 / 8);
            if (!c->qos2) {
                ed_mqtt_close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory");
                return;
            }
        }
        if (ed_mqtt_qos2_has(c, pk->packet_id)) {
            /* A resend of a publish already stored: never appended twice.
             * If its PUBREC is still waiting for the flush, that one
             * answers; else answer again now. */
            for (uint32_t i = 0; i < c->pend_n; i++) {
                const struct pend *p = &c->pend[(c->pend_head + i) % c->pend_cap];
                if (p->type == ED_MQTT_PUBREC && p->packet_id == pk->packet_id) return;
            }
            uint64_t seq = ed_mqtt_pend_push(c, ED_MQTT_PUBREC, pk->packet_id);
            ed_mqtt_pend_complete(c, seq, 0);
            ed_mqtt_pend_drain(c);
            return;
        }
    }
    ed_mqtt_publish(c, pk, false);
}

static void on_publish(ed_mqtt_conn *c, uint8_t flags, const uint8_t *body, size_t len)
{
    struct ed_mqtt_publish pk;
    const char *why = "?";
    int rc = ed_mqtt_decode_publish(body, len, flags, c->level, &pk, &why);
    if (rc != ED_OK) {
        ed_mqtt_close_bad(c, ed_mqtt_decode_reason(rc), why);
        return;
    }
    uint8_t *scratch = NULL;
    int arc = ed_mqtt_alias_resolve(&c->aliases, c->m->lim.topic_alias_max, &pk, &scratch, &why);
    if (arc != ED_OK) {
        ed_mqtt_close_bad(c, (uint8_t)arc, why);
        return;
    }
    if (pk.topic.len == 0) { /* and no Topic Alias: a Protocol Error (MQTT 5.0, 3.3.2.1) */
        ed_free(scratch);
        ed_mqtt_close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR, "PUBLISH topic is empty (no topic alias)");
        return;
    }
    if (!ed_mqtt_topic_name_ok(pk.topic.p, pk.topic.len)) {
        ed_free(scratch);
        ed_mqtt_close_bad(c, ED_MQTT_RC_TOPIC_NAME_INVALID, "PUBLISH topic has a wildcard");
        return;
    }
    publish_resolved(c, &pk);
    ed_free(scratch);
}

static void on_ack(ed_mqtt_conn *c, int type, uint8_t flags, const uint8_t *body, size_t len)
{
    struct ed_mqtt_ack a;
    const char *why = "?";
    int rc = ed_mqtt_decode_ack(type, body, len, flags, c->level, &a, &why);
    if (rc != ED_OK) {
        ed_mqtt_close_bad(c, ed_mqtt_decode_reason(rc), why);
        return;
    }
    uint8_t b[8];
    if (type == ED_MQTT_PUBREL) {
        bool known = ed_mqtt_qos2_has(c, a.packet_id);
        ed_mqtt_qos2_set(c, a.packet_id, false);
        if (known && c->sess) {
            /* A persistent session answers once a save without the packet
             * id is on flash: a client reusing the id after a restart
             * must not be taken for a resend. */
            if (!c->pend) c->pend = ed_calloc(c->pend_cap, sizeof *c->pend);
            if (!c->pend || c->pend_n == c->pend_cap) {
                ed_mqtt_close_bad(c, ED_MQTT_RC_RECEIVE_MAX_EXCEEDED,
                                  c->pend ? "too many packets in flight" : "out of memory");
                return;
            }
            uint64_t seq = ed_mqtt_pend_push(c, ED_MQTT_PUBCOMP, a.packet_id);
            pend_at(c, seq)->sess_wait = true;
            ed_mqtt_session_save_soon(c);
            return;
        }
        if (c->pend_n > 0) {
            /* PUBCOMP must not overtake acknowledgements still owed. */
            if (c->pend_n == c->pend_cap) {
                ed_mqtt_close_bad(c, ED_MQTT_RC_RECEIVE_MAX_EXCEEDED, "too many packets in flight");
                return;
            }
            uint64_t seq = ed_mqtt_pend_push(c, ED_MQTT_PUBCOMP, a.packet_id);
            ed_mqtt_pend_complete(c, seq, known ? 0 : ED_MQTT_RC_PACKET_ID_NOT_FOUND);
            ed_mqtt_pend_drain(c);
            return;
        }
        ed_mqtt_send_bytes(c, b,
                           ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBCOMP, c->level, a.packet_id,
                                              known ? 0 : ED_MQTT_RC_PACKET_ID_NOT_FOUND));
        return;
    }
    struct outq *q = ed_mqtt_outq_find(c, a.packet_id);
    if (!q) {
        ED_LOG_DBG("%s: %s for unknown packet id %u", c->peer, ed_mqtt_type_name(type),
                   (unsigned)a.packet_id);
        return;
    }
    if (q->p && ed_mqtt_session_on_ack(c, q, type, a.reason)) {
        if (q->state == OUT_FREE) ed_mqtt_release_held(c);
        return;
    }
    if (type == ED_MQTT_PUBACK && q->state == OUT_PUBACK) {
        q->state = OUT_FREE;
    } else if (type == ED_MQTT_PUBREC && q->state == OUT_PUBREC) {
        if (a.reason >= 0x80) {
            q->state = OUT_FREE;
        } else {
            q->state = OUT_PUBCOMP;
            ed_mqtt_send_bytes(
                c, b, ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBREL, c->level, a.packet_id, 0));
        }
    } else if (type == ED_MQTT_PUBCOMP && q->state == OUT_PUBCOMP) {
        q->state = OUT_FREE;
    } else {
        ed_mqtt_close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR,
                          "acknowledgement of the wrong kind for its packet id");
        return;
    }
    if (q->state == OUT_FREE) ed_mqtt_release_held(c);
}

/* One whole packet: first byte, body. */
static void on_packet(ed_mqtt_conn *c, uint8_t first, const uint8_t *body, size_t len)
{
    int type = first >> 4;
    uint8_t flags = first & 15;
    ed_metrics_request(ED_METRICS_MQTT, type, false);
    const char *why = "?";
    if (!c->connected) {
        if (type != ED_MQTT_CONNECT) {
            char w[64];
            snprintf(w, sizeof w, "first packet is %s, not CONNECT", ed_mqtt_type_name(type));
            ed_mqtt_close_bad(c, 0, w);
            return;
        }
        ed_mqtt_on_connect(c, flags, body, len);
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
        ed_mqtt_on_subscribe(c, type, flags, body, len);
        break;
    case ED_MQTT_PINGREQ: {
        if (ed_mqtt_decode_empty(body, len, flags, &why) != ED_OK) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_MALFORMED, why);
            return;
        }
        uint8_t b[2];
        ed_mqtt_send_bytes(c, b, ed_mqtt_encode_pingresp(b, sizeof b));
        break;
    }
    case ED_MQTT_DISCONNECT: {
        struct ed_mqtt_disconnect d;
        int rc = ed_mqtt_decode_disconnect(body, len, flags, c->level, &d, &why);
        if (rc != ED_OK) {
            ed_mqtt_close_bad(c, ed_mqtt_decode_reason(rc), why);
            return;
        }
        if (d.session_expiry_s > 0 && c->session_expiry_s == 0) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR,
                              "DISCONNECT sets a Session Expiry Interval after CONNECT set none");
            return;
        }
        /* Only a normal disconnection (MQTT 5 reason 0x00) discards the
         * will; 0x04 and the error reasons publish it (MQTT-3.14.4-3). */
        c->graceful = d.reason == ED_MQTT_RC_SUCCESS;
        if (d.has_session_expiry) ed_mqtt_session_set_expiry(c, d.session_expiry_s);
        ed_mqtt_out_flush(c);
        ed_mqtt_conn_close(c, "DISCONNECT", true);
        break;
    }
    case ED_MQTT_CONNECT:
        ed_mqtt_close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR, "second CONNECT on a connection");
        break;
    default: {
        char w[64];
        snprintf(w, sizeof w, "unexpected %s packet", ed_mqtt_type_name(type));
        ed_mqtt_close_bad(c, ED_MQTT_RC_PROTOCOL_ERROR, w);
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
        ed_mqtt_close_bad(c, ED_MQTT_RC_MALFORMED, "Remaining Length longer than 4 bytes");
        snprintf(why, why_len, "Remaining Length longer than 4 bytes");
        return ED_ERR_PROTO;
    }
    if (!c->connected && p[0] >> 4 != ED_MQTT_CONNECT) {
        /* Said before the whole packet is in: garbage is closed at once. */
        snprintf(why, why_len, "first packet is %s, not CONNECT", ed_mqtt_type_name(p[0] >> 4));
        ed_mqtt_close_bad(c, 0, why);
        return ED_ERR_PROTO;
    }
    if ((uint64_t)hl + rem > m->lim.max_packet_len) {
        snprintf(why, why_len,
                 "%s packet of %" PRIu32 " bytes over mqtt.max.packet.bytes (%" PRIu32 ")",
                 ed_mqtt_type_name(first >> 4), (uint32_t)(hl + rem), m->lim.max_packet_len);
        ed_mqtt_close_bad(c, ED_MQTT_RC_PACKET_TOO_LARGE, why);
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
    c->pend_cap = m->lim.n_inflight_max; /* the ring itself comes with the first QoS 1/2 */
    c->out_window = m->lim.n_inflight_max;
    c->next = m->conns;
    if (m->conns) m->conns->prev = c;
    m->conns = c;
    c->accepted_ms = c->last_rx_ms = ed_mqtt_now_ms(m);
    return ED_OK;
}

/* Whether Eddy itself holds the connection back (not reading it: its
 * acknowledgement slots are all taken, output waits above the ceiling, or
 * the memory budget is exhausted). Packets the client sends meanwhile wait
 * unread, so the keep-alive does not run, and restarts when reading
 * resumes. */
static bool held_back(ed_mqtt_conn *c)
{
    return c->pend_n >= c->pend_cap || ed_conn_paused(c->conn);
}

/* Keep-alive (1.5x the client's interval) and CONNECT timeouts. */
static void on_scan(ed_conn *conn, uint64_t now)
{
    ed_mqtt_conn *c = mc_of(conn);
    ed_mqtt *m = c->m;
    if (!c->connected && now - c->accepted_ms >= m->lim.connect_timeout_ms) {
        ED_LOG_INFO("closing MQTT connection from %s: no CONNECT within %u ms", c->peer,
                    (unsigned)m->lim.connect_timeout_ms);
        ed_mqtt_conn_close(c, NULL, false);
    } else if (c->connected && c->keepalive_s > 0 && !held_back(c) &&
               now - ED_MAX(c->last_rx_ms, ed_conn_resumed_ms(conn)) >=
                   (uint64_t)c->keepalive_s * 1500) {
        ED_LOG_INFO("closing MQTT client %s from %s: nothing received for 1.5 x its "
                    "keep-alive of %u s",
                    c->client_id, c->peer, (unsigned)c->keepalive_s);
        m->stats.n_keepalive++;
        ed_mqtt_send_disconnect(c, ED_MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep-alive timeout");
        ed_mqtt_out_flush(c);
        ed_mqtt_conn_close(c, NULL, true);
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
        ed_mqtt_publish_will(c);
    }
    if (c->connected) ed_mqtt_session_end(c); /* saved for later, or deleted */
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
    ed_mqtt_held_clear(c);
    ed_mqtt_session_free_conn(c);
    for (int i = 0; i < c->n_subs; i++)
        ed_free(c->subs[i].filter);
    ed_free(c->subs);
    ed_free(c->outq);
    ed_free(c->qos2);
    ed_free(c->pend);
    ed_free(c->will);
    ed_mqtt_alias_free(c->aliases);
    ed_free(c->client_id);
    ed_free(c->user);
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
    /* Without a broker config (unit tests) the table's defaults apply. */
    struct ed_config *def;
    const struct ed_config *cfg = ed_config_or_default(b->cfg, &def);
    ed_mqtt *m = cfg ? ed_calloc(1, sizeof *m) : NULL;
    if (!m) {
        ed_config_free(def);
        return ED_ERR_NOMEM;
    }
    m->b = b;
    m->lim.max_packet_len = (uint32_t)cfg->mqtt_max_packet_bytes;
    m->lim.n_conns_max = (int32_t)cfg->mqtt_max_connections;
    m->lim.n_inflight_max = (uint16_t)cfg->mqtt_max_inflight;
    m->lim.linger_ms = (uint32_t)cfg->mqtt_linger_ms;
    m->lim.batch_len = (size_t)cfg->mqtt_batch_bytes;
    m->lim.connect_timeout_ms = (uint32_t)cfg->mqtt_connect_timeout_ms;
    m->lim.n_queued_max = (uint32_t)cfg->mqtt_max_queued_messages;
    m->lim.queued_max_len = (size_t)cfg->mqtt_max_queued_bytes;
    m->lim.topic_alias_max = (uint16_t)cfg->mqtt_topic_alias_max;
    m->lim.keepalive_max_s = (uint16_t)cfg->mqtt_keepalive_max;
    uint32_t durable_max_ms = (uint32_t)cfg->eddy_linger_durable_max_ms;
    const char *anon = cfg->mqtt_allow_anonymous;
    m->allow_anonymous = strcmp(anon, "true") == 0 ? 1 : strcmp(anon, "false") == 0 ? 0 : -1;
    struct ed_conn_limits cl = {0};
    cl.n_conns_per_host_max = (int32_t)cfg->mqtt_max_connections_per_ip;
    cl.frame_timeout_ms = cfg->mqtt_packet_timeout_ms;
    int rc = ed_config_host_limits(cfg->mqtt_max_connections_per_ip_overrides, cl.host_overrides,
                                   ED_CONFIG_MAX_HOST_LIMITS, &cl.n_host_overrides, why, why_len);
    if (rc == ED_OK) rc = ed_mqtt_routes_parse(cfg->mqtt_routes, &m->routes, why, why_len);
    if (rc == ED_OK && ed_mqtt_routes_have_keys(m->routes)) {
        m->key_buf = ed_malloc(ED_MQTT_ROUTE_KEY_MAX);
        if (!m->key_buf) {
            snprintf(why, why_len, "MQTT listener: %s", ed_strerror(ED_ERR_NOMEM));
            rc = ED_ERR_NOMEM;
        }
    }
    if (rc == ED_OK) rc = ed_mqtt_retain_open(m, cfg, why, why_len);
    if (rc == ED_OK) rc = ed_mqtt_out_open(m, cfg, why, why_len);
    if (rc == ED_OK) {
        rc = ed_mqtt_share_log_open(m, cfg);
        if (rc != ED_OK) snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
    }
    if (rc == ED_OK) rc = ed_mqtt_session_open(m, cfg, why, why_len);
    ed_config_free(def);
    if (rc != ED_OK) {
        ed_mqtt_share_log_close(m);
        ed_mqtt_session_close(m);
        ed_mqtt_out_close(m);
        ed_mqtt_retain_close(m);
        ed_mqtt_routes_free(m->routes);
        ed_free(m->key_buf);
        ed_free(m);
        return rc;
    }
    m->lim.out_ceiling_len = ED_MAX((size_t)256 << 10, (size_t)m->lim.max_packet_len + 64);
    m->lim.out_max_len = ED_MAX((size_t)8 << 20, 4 * m->lim.out_ceiling_len);
    cl.n_conns_max = m->lim.n_conns_max;
    cl.frame_max_len = m->lim.max_packet_len;
    cl.out_ceiling_len = m->lim.out_ceiling_len;
    cl.out_max_len = m->lim.out_max_len;
    /* PUBACKs wait for the flush: acknowledge TCP segments at once, or a
     * client's Nagle holds its next publish until the delayed ACK. */
    cl.quickack = true;
    struct ed_ingest_config ic = {.linger_ms = m->lim.linger_ms,
                                  .durable_max_ms = durable_max_ms,
                                  .batch_len = m->lim.batch_len,
                                  .what = "MQTT publishes",
                                  .proto = ED_METRICS_MQTT};
    rc = ed_ingest_new(b->loop, b->topics, &ic, &ed_mqtt_ingest_cbs, m, &m->ingest);
    if (rc == ED_OK) rc = ed_conn_set_new(b->loop, &mqtt_proto, m, &cl, b->budget, &m->set);
    if (rc != ED_OK) {
        snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        ed_ingest_free(m->ingest);
        ed_mqtt_share_log_close(m);
        ed_mqtt_session_close(m);
        ed_mqtt_out_close(m);
        ed_mqtt_retain_close(m);
        ed_mqtt_routes_free(m->routes);
        ed_free(m->key_buf);
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
        ed_mqtt_send_disconnect(c, ED_MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down");
        ed_mqtt_out_flush(c);
        ed_mqtt_conn_close(c, "shutting down", false);
    }
    ed_mqtt_share_log_close(m); /* durable share groups saved */
    ed_ingest_flush(m->ingest); /* the sessions saved as they closed */
}

void ed_mqtt_free(ed_mqtt *m)
{
    if (!m) return;
    ed_mqtt_shutdown(m);
    ed_mqtt_out_close(m);
    ed_mqtt_session_close(m);
    /* Waits still registered with the storage outlive the listener: they
     * complete later without calling back. */
    ed_ingest_free(m->ingest);
    ed_conn_set_free(m->set);
    ed_mqtt_share_close(m);
    if (m->b->loop) ed_plat_timer_stop(m->b->loop, &m->kick_timer);
    ed_mqtt_retain_close(m);
    ed_mqtt_routes_free(m->routes);
    ed_free(m->key_buf);
    ed_free(m);
}

int32_t ed_mqtt_n_conns(const ed_mqtt *m)
{
    return ed_conn_set_n_conns(m->set);
}

void ed_mqtt_clients_each(const ed_mqtt *m, bool (*fn)(void *arg, const struct ed_mqtt_client *c),
                          void *arg)
{
    for (const ed_mqtt_conn *c = m->conns; c; c = c->next) {
        if (!c->connected || c->closing) continue;
        struct ed_mqtt_client v = {.client_id = c->client_id ? c->client_id : "",
                                   .peer = c->peer,
                                   .user = c->user,
                                   .level = c->level,
                                   .persistent = c->sess != NULL,
                                   .keepalive_s = c->keepalive_s,
                                   .accepted_ms = c->accepted_ms,
                                   .n_subs = c->n_subs,
                                   .n_in_flight_in = c->pend_n};
        for (int i = 0; c->outq && i < c->out_window; i++)
            if (c->outq[i].state != OUT_FREE) v.n_in_flight_out++;
        if (!fn(arg, &v)) return;
    }
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
    struct ed_listeners_spec ls[ED_CONFIG_MAX_LISTENERS];
    uint16_t bound[ED_CONFIG_MAX_LISTENERS];
    int n = 0;
    int rc = ed_listeners_parse_mqtt(b->cfg->mqtt_listeners, ls, ED_CONFIG_MAX_LISTENERS, &n, why,
                                     why_len);
    if (rc != ED_OK || n == 0) return rc;
    ed_mqtt *m;
    rc = ed_mqtt_new(b, why, why_len, &m);
    if (rc != ED_OK) {
        if (rc != ED_ERR_INVAL) snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        return rc;
    }
    /* What is gathered is appended at shutdown (and flushed at close);
     * clients whose acknowledgement was still owed resend on reconnect. */
    struct ed_broker_service svc = {ED_MQTT_SERVICE, m, service_shutdown, service_free};
    rc = ed_broker_add_service(b, &svc);
    if (rc != ED_OK) {
        snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        return rc;
    }
    if (out) *out = m;
    ED_LOG_INFO("MQTT clients without a user name are %s (mqtt.allow.anonymous=%s%s)",
                ed_mqtt_anonymous_ok(m) ? "allowed" : "refused", b->cfg->mqtt_allow_anonymous,
                m->allow_anonymous < 0
                    ? (ed_mqtt_anonymous_ok(m) ? ": no user exists yet" : ": users exist")
                    : "");
    return ed_broker_listen(b, m->set, "MQTT", ls, n, true, bound, why, why_len);
}
