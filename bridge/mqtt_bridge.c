/* MQTT pull bridges (see mqtt_bridge.h): one client connection per bridge
 * on the broker's loop (its settings: mqtt_bridge_conf.c). Layout: the
 * acknowledgements that leave once their records are durable, publishes
 * into the log through the routes and the ingest path, the connection
 * (dial, TLS, CONNECT, SUBSCRIBE, keep-alive, backoff) and its packets,
 * and the service.
 *
 * Acknowledgement slots form a ring indexed by a sequence number that never
 * repeats across connections: a record's durable completion names its
 * slot's number, and a completion older than the ring's head (the
 * connection it was owed to has gone) is ignored, since the source resends
 * what it did not see acknowledged. */
#define ED_LOG_MODULE "mqtt-bridge"
#include "bridge/mqtt.h"
#include "bridge/mqtt_bridge_int.h"
#include "bridge/mqtt_origin.h"
#include "bridge/target.h"
#include "core/partitioner.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#define MAX_HEADERS    64
#define OUT_MAX_LEN    (1u << 20) /* queued output beyond this: the source is not reading */
#define CONNECT_MS     10000      /* dial, TLS and CONNACK must finish within this */
#define BACKOFF_MS     200
#define BACKOFF_MAX_MS 30000
/* Mosquitto's default max_inflight_messages: with MQTT 3.1.1 the source's
 * window is its own setting, so a flush is started once this many wait. */
#define WINDOW_311 20

static void go_down(link *l, const char *why);
static void arm(link *l);
static void on_timer(ed_timer *t, void *arg);

static uint64_t now_ms(const link *l)
{
    return ed_plat_loop_now_ms(l->s->b->loop);
}

static void set_error(link *l, const char *why)
{
    snprintf(l->last_error, sizeof l->last_error, "%s", why);
}

/* A read or write failed: a failed TLS handshake says what failed (an
 * unknown authority, a name mismatch), else plain_why. */
static void lost(link *l, const char *plain_why)
{
    char why[300] = "TLS: ";
    if (l->tls && l->st && ed_plat_tls_handshake(l->st, why + 5, sizeof why - 5) != ED_OK) {
        go_down(l, why);
        return;
    }
    go_down(l, plain_why);
}

/* ---- output ---- */

static void flush_out(link *l)
{
    while (l->st && l->out_off < l->out_len) {
        struct ed_iovec v = {l->out + l->out_off, l->out_len - l->out_off};
        size_t n = 0;
        if (ed_plat_stream_writev(l->st, &v, 1, &n) != ED_OK) {
            lost(l, "connection lost while writing");
            return;
        }
        if (n == 0) break;
        l->out_off += n;
        l->last_tx_ms = now_ms(l);
    }
    if (!l->st) return;
    if (l->out_off == l->out_len) l->out_off = l->out_len = 0;
    ed_plat_stream_want_write(l->st, l->out_off < l->out_len);
}

/* Room for n more bytes of output (NULL: the source stopped reading, or
 * memory ran out; the connection is then closed). */
static uint8_t *out_room(link *l, size_t n)
{
    if (l->out_off && l->out_off == l->out_len) l->out_off = l->out_len = 0;
    if (l->out_len + n > l->out_cap) {
        size_t want = ED_MAX(l->out_len + n, (size_t)512) * 2;
        if (want > OUT_MAX_LEN) {
            go_down(l, "the source does not read what Eddy sends");
            return NULL;
        }
        uint8_t *p = ed_realloc(l->out, want);
        if (!p) {
            go_down(l, "out of memory for output");
            return NULL;
        }
        l->out = p;
        l->out_cap = want;
    }
    return l->out + l->out_len;
}

/* Sends a packet made by enc into the room of cap bytes. */
#define SEND(l, cap, expr)                                                                         \
    do {                                                                                           \
        uint8_t *out_ = out_room((l), (cap));                                                      \
        if (!out_) break;                                                                          \
        uint8_t *out = out_;                                                                       \
        size_t len_ = (expr);                                                                      \
        ED_ASSERT(len_ > 0);                                                                       \
        (l)->out_len += len_;                                                                      \
    } while (0)

static void send_ack(link *l, int type, uint16_t id)
{
    SEND(l, 8, ed_mqtt_encode_ack(out, 8, type, l->level, id, 0));
}

/* ---- acknowledgements once durable ---- */

static struct slot *slot_at(link *l, uint64_t seq)
{
    return &l->ring[seq % l->cap];
}

static bool qos2_has(const link *l, uint16_t id)
{
    return (l->qos2[id >> 3] >> (id & 7)) & 1;
}

static void qos2_set(link *l, uint16_t id, bool on)
{
    if (on)
        l->qos2[id >> 3] |= (uint8_t)(1u << (id & 7));
    else
        l->qos2[id >> 3] &= (uint8_t) ~(1u << (id & 7));
}

/* Sends the acknowledgements whose records are durable, oldest first; a
 * failed store closes the connection unacknowledged (the source resends
 * after the reconnect). */
static void drain_acks(link *l)
{
    if (l->state != S_UP && l->state != S_CONNECTING) return;
    bool sent = false;
    while (l->n && slot_at(l, l->head)->done) {
        struct slot *sl = slot_at(l, l->head);
        if (sl->status != ED_OK) {
            char why[160];
            snprintf(why, sizeof why,
                     "storing a message failed (%s); reconnecting so that the "
                     "source resends it",
                     ed_strerror(sl->status));
            go_down(l, why);
            return;
        }
        send_ack(l, sl->type, sl->id);
        sent = true;
        l->head++;
        l->n--;
    }
    if (sent) flush_out(l);
    if (l->paused && l->st && l->n < l->cap) {
        /* packets already read wait for the timer: not inside a storage completion */
        l->paused = false;
        ed_plat_stream_want_read(l->st, true);
        ed_plat_timer_start(l->s->b->loop, &l->timer, 0, on_timer, l);
    }
}

static void on_done(void *arg, void *who, uint64_t seq, int status)
{
    ed_mqtt_bridges *s = arg;
    link *l = who;
    if (seq < l->head || seq >= l->head + l->n) return; /* owed to a connection that has gone */
    struct slot *sl = slot_at(l, seq);
    sl->done = true;
    sl->status = status;
    if (!l->drain) {
        l->drain = true;
        l->drain_next = s->drains;
        s->drains = l;
    }
}

/* A failure answers from the link's timer: closing the connection inside
 * a storage completion could re-enter the ingest path. */
static void on_batch_done(void *arg, int status)
{
    ed_mqtt_bridges *s = arg;
    while (s->drains) {
        link *l = s->drains;
        s->drains = l->drain_next;
        l->drain_next = NULL;
        l->drain = false;
        if (status == ED_OK) {
            drain_acks(l);
        } else {
            l->failed = true;
            ed_plat_timer_start(s->b->loop, &l->timer, 0, on_timer, l);
        }
    }
}

static const struct ed_ingest_cbs ingest_cbs = {on_done, on_batch_done};

/* ---- publishes into the log ---- */

/* The partition and key of MQTT topic t through mqtt.routes: ED_OK, or an
 * error with *why (a route, name or ACL that does not take it). */
static int route(link *l, struct ed_mqtt_bytes t, ed_partition **out, struct ed_mqtt_bytes *key,
                 const char **why)
{
    ed_mqtt_bridges *s = l->s;
    char name[ED_TOPIC_NAME_MAX + 1];
    int rc = ed_mqtt_routes_apply(s->routes, t.p, t.len, name, sizeof name, s->key_buf,
                                  s->key_buf ? ED_MQTT_ROUTE_KEY_MAX : 0, &key->p, &key->len, why);
    if (rc != ED_OK) return rc;
    ed_topic *topic;
    rc = ed_target_topic(s->b, NULL, l->name, name, &topic, why);
    if (rc != ED_OK) return rc;
    *out = ed_topic_partition(topic,
                              ed_partitioner_pick(key->p, key->len, ed_topic_n_partitions(topic)));
    if (!*out) {
        *why = "topic has no partitions";
        return ED_ERR_NOENT;
    }
    return ED_OK;
}

/* A message that no route or topic takes: logged and acknowledged at once
 * (holding it would stop the whole session behind it). */
static void drop(link *l, const struct ed_mqtt_publish *pk, const char *why)
{
    l->n_dropped++;
    ED_LOG_WARN_RL("bridge %s: message on '%.*s' dropped: %s", l->name,
                   (int)ED_MIN(pk->topic.len, 200), (const char *)pk->topic.p, why);
    if (pk->qos == 0) return;
    uint64_t seq = l->head + l->n++;
    *slot_at(l, seq) =
        (struct slot){pk->packet_id, pk->qos == 1 ? ED_MQTT_PUBACK : ED_MQTT_PUBREC, true, ED_OK};
    if (pk->qos == 2) qos2_set(l, pk->packet_id, true);
    drain_acks(l);
}

/* Whether a QoS 2 id being stored still waits for its PUBREC. */
static bool pubrec_owed(link *l, uint16_t id)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct slot *sl = slot_at(l, l->head + i);
        if (sl->type == ED_MQTT_PUBREC && sl->id == id) return true;
    }
    return false;
}

static void on_publish(link *l, const struct ed_mqtt_publish *pk)
{
    ed_mqtt_bridges *s = l->s;
    if (pk->qos == 2 && qos2_has(l, pk->packet_id)) {
        /* a redelivery before PUBREL: stored already */
        l->n_dup++;
        if (!pubrec_owed(l, pk->packet_id)) {
            send_ack(l, ED_MQTT_PUBREC, pk->packet_id);
            flush_out(l);
        }
        return;
    }
    const char *why = NULL;
    ed_partition *p = NULL;
    struct ed_mqtt_bytes key = pk->topic;
    if (pk->has_topic_alias) {
        go_down(l, "the source used a topic alias (none allowed)");
        return;
    }
    if (route(l, pk->topic, &p, &key, &why) != ED_OK) {
        drop(l, pk, why);
        return;
    }
    struct ed_record_header h[MAX_HEADERS + ED_MQTT_ORIGIN_N];
    int n_h = 0;
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, pk->props);
    while (ed_mqtt_prop_next(&it, &pr)) {
        if (pr.id != ED_MQTT_PROP_USER) continue;
        if (n_h == MAX_HEADERS) {
            drop(l, pk, "more than 64 user properties");
            return;
        }
        h[n_h++] = (struct ed_record_header){pr.data.p, (int32_t)pr.data.len, pr.value.p,
                                             (int32_t)pr.value.len};
    }
    bool key_is_topic = key.p == pk->topic.p && key.len == pk->topic.len;
    n_h += ed_mqtt_origin_put(h + n_h, pk->topic, key_is_topic, pk->qos, pk->retain,
                              (struct ed_mqtt_bytes){NULL, 0});
    uint64_t seq = l->head + l->n;
    int rc = ed_ingest_add(s->ingest, p, key.p, key.len, pk->payload.p, pk->payload.len, h, n_h,
                           pk->qos ? l : NULL, seq);
    if (rc == ED_ERR_TOOBIG) {
        drop(l, pk, "larger than the topic's max.message.bytes");
        return;
    }
    if (rc != ED_OK) {
        char w[160];
        snprintf(w, sizeof w, "storing a message failed (%s)", ed_strerror(rc));
        go_down(l, w);
        return;
    }
    l->n_in++;
    /* live subscribers of Eddy's listener get it now, as a publish to the
     * listener (persistent sessions read it from the log) */
    ed_mqtt *m = ed_broker_service_obj(s->b, ED_MQTT_SERVICE);
    if (m) ed_mqtt_deliver_pulled(m, pk);
    if (pk->qos == 0) return;
    l->n++;
    *slot_at(l, seq) =
        (struct slot){pk->packet_id, pk->qos == 1 ? ED_MQTT_PUBACK : ED_MQTT_PUBREC, false, 0};
    if (pk->qos == 2) qos2_set(l, pk->packet_id, true);
    uint32_t urgent = l->level == 5 ? l->cap : ED_MIN((uint32_t)WINDOW_311, l->cap);
    if (l->n >= urgent) ed_ingest_hurry(s->ingest, p);
}

/* ---- the connection ---- */

static void send_connect(link *l)
{
    struct ed_mqtt_connect_opts o = {
        .level = l->level,
        .clean = false,
        .keepalive_s = l->keepalive_s,
        .client_id = {(const uint8_t *)l->client_id, strlen(l->client_id)},
        .has_username = l->username != NULL,
        .has_password = l->password != NULL,
        .username = {(const uint8_t *)l->username, l->username ? strlen(l->username) : 0},
        .password = {(const uint8_t *)l->password, l->password ? strlen(l->password) : 0},
        .session_expiry_s = UINT32_MAX, /* never: as 3.1.1's Clean Session 0 */
        .receive_max = (uint16_t)l->cap,
        .max_packet_len = l->s->max_packet_len,
    };
    size_t cap = 64 + o.client_id.len + o.username.len + o.password.len;
    SEND(l, cap, ed_mqtt_encode_connect(out, cap, &o));
    flush_out(l);
}

static void send_subscribe(link *l)
{
    size_t cap = 16;
    for (int i = 0; i < l->n_filters; i++)
        cap += 3 + l->filters[i].len;
    SEND(l, cap, ed_mqtt_encode_subscribe(out, cap, l->level, 1, l->filters, l->qos, l->n_filters));
    flush_out(l);
}

/* Closes the connection and times the reconnect: the backoff doubles from
 * BACKOFF_MS up to BACKOFF_MAX_MS with +-20 % jitter, and starts over once
 * a session was accepted. Slots still owed are forgotten: their messages
 * come again from the source. */
static void go_down(link *l, const char *why)
{
    if (l->state == S_DOWN) return;
    bool was_up = l->connected;
    ed_plat_stream_close(l->st);
    l->st = NULL;
    l->state = S_DOWN;
    l->connected = l->subscribed = l->paused = l->failed = false;
    /* A QoS 2 message not yet durable may fail to be: its redelivery must
     * be stored (a duplicate at worst), not taken for one already stored. */
    for (uint32_t i = 0; i < l->n; i++) {
        const struct slot *sl = slot_at(l, l->head + i);
        if (sl->type == ED_MQTT_PUBREC && !sl->done) qos2_set(l, sl->id, false);
    }
    l->head += l->n;
    l->n = 0;
    l->out_len = l->out_off = 0;
    l->in_len = 0;
    l->ping_ms = 0;
    set_error(l, why);
    l->n_failures++;
    uint32_t shift = l->n_failures > 16 ? 16 : l->n_failures - 1;
    uint64_t delay = ED_MIN((uint64_t)BACKOFF_MS << shift, (uint64_t)BACKOFF_MAX_MS);
    uint16_t rnd = 0;
    ed_plat_random(&rnd, sizeof rnd);
    delay = delay * (80u + rnd % 41u) / 100u;
    if (was_up || l->n_failures == 1)
        ED_LOG_WARN("bridge %s: %s:%u: %s; reconnecting in %llu ms", l->name, l->host,
                    (unsigned)l->port, why, (unsigned long long)delay);
    else
        ED_LOG_DBG("bridge %s: %s; retrying in %llu ms", l->name, why, (unsigned long long)delay);
    ed_plat_timer_start(l->s->b->loop, &l->timer, (uint32_t)delay, on_timer, l);
}

static void on_connack(link *l, const uint8_t *body, size_t len, uint8_t flags)
{
    struct ed_mqtt_connack ca;
    const char *why = NULL;
    if (l->state != S_CONNECTING) {
        go_down(l, "a second CONNACK");
        return;
    }
    if (ed_mqtt_decode_connack(body, len, flags, l->level, &ca, &why) != ED_OK) {
        go_down(l, why);
        return;
    }
    if (ca.reason != 0) {
        char w[200];
        snprintf(w, sizeof w, "the source refused the connection: %s",
                 ed_mqtt_connack_text(l->level, ca.reason));
        /* every refusal is logged (go_down logs the first): wrong credentials
         * should be plain to see */
        if (l->n_failures) ED_LOG_WARN("bridge %s: %s", l->name, w);
        go_down(l, w);
        return;
    }
    if (ca.server_keepalive) l->keepalive_s = ca.server_keepalive;
    l->state = S_UP;
    l->connected = true;
    l->n_failures = 0;
    l->n_connects++;
    l->last_error[0] = '\0';
    ED_LOG_INFO("bridge %s: connected to %s:%u as %s (%s session)", l->name, l->host,
                (unsigned)l->port, l->client_id, ca.session_present ? "resumed" : "new");
    /* Subscribing again on a resumed session is harmless and covers a
     * changed list of filters. */
    send_subscribe(l);
}

static void on_suback(link *l, const uint8_t *body, size_t len, uint8_t flags)
{
    struct ed_mqtt_suback sa;
    const char *why = NULL;
    if (ed_mqtt_decode_suback(body, len, flags, l->level, &sa, &why) != ED_OK) {
        go_down(l, why);
        return;
    }
    if (sa.n != l->n_filters) {
        go_down(l, "SUBACK does not answer every filter");
        return;
    }
    int granted = 0;
    for (int i = 0; i < sa.n; i++) {
        if (sa.codes[i] < 0x80) {
            granted++;
            continue;
        }
        char w[200];
        snprintf(w, sizeof w, "the source refused the subscription to '%.*s' (code 0x%02x)",
                 (int)ED_MIN(l->filters[i].len, 100), (const char *)l->filters[i].p, sa.codes[i]);
        ED_LOG_WARN("bridge %s: %s", l->name, w);
        set_error(l, w);
    }
    l->subscribed = granted > 0;
    if (!granted) go_down(l, "the source refused every subscription");
}

static void on_pubrel(link *l, const uint8_t *body, size_t len, uint8_t flags)
{
    struct ed_mqtt_ack a;
    const char *why = NULL;
    if (ed_mqtt_decode_ack(ED_MQTT_PUBREL, body, len, flags, l->level, &a, &why) != ED_OK) {
        go_down(l, why);
        return;
    }
    /* Also for an id unknown here (released before a restart of Eddy): the
     * source waits for this PUBCOMP either way. */
    qos2_set(l, a.packet_id, false);
    send_ack(l, ED_MQTT_PUBCOMP, a.packet_id);
    flush_out(l);
}

/* One whole packet from the source. */
static void on_packet(link *l, uint8_t first, const uint8_t *body, size_t len)
{
    int type = first >> 4;
    uint8_t flags = first & 0x0f;
    const char *why = NULL;
    if (type != ED_MQTT_CONNACK && l->state != S_UP) {
        go_down(l, "a packet before CONNACK");
        return;
    }
    switch (type) {
    case ED_MQTT_CONNACK:
        on_connack(l, body, len, flags);
        return;
    case ED_MQTT_SUBACK:
        on_suback(l, body, len, flags);
        return;
    case ED_MQTT_PUBLISH: {
        struct ed_mqtt_publish pk;
        if (ed_mqtt_decode_publish(body, len, flags, l->level, &pk, &why) != ED_OK) {
            go_down(l, why);
            return;
        }
        on_publish(l, &pk);
        return;
    }
    case ED_MQTT_PUBREL:
        on_pubrel(l, body, len, flags);
        return;
    case ED_MQTT_PINGRESP:
        if (ed_mqtt_decode_empty(body, len, flags, &why) != ED_OK) {
            go_down(l, "malformed PINGRESP");
            return;
        }
        l->ping_ms = 0;
        return;
    case ED_MQTT_DISCONNECT: {
        struct ed_mqtt_disconnect d;
        char w[120];
        if (l->level == 5 &&
            ed_mqtt_decode_disconnect(body, len, flags, l->level, &d, &why) == ED_OK)
            snprintf(w, sizeof w, "the source disconnected (reason 0x%02x)", d.reason);
        else
            snprintf(w, sizeof w, "the source disconnected");
        go_down(l, w);
        return;
    }
    default: {
        char w[80];
        snprintf(w, sizeof w, "unexpected %s from the source", ed_mqtt_type_name(type));
        go_down(l, w);
        return;
    }
    }
}

/* Handles every whole packet in the input buffer. */
static void consume(link *l)
{
    size_t pos = 0;
    while (l->st && !l->paused) {
        uint8_t first;
        uint32_t rem;
        size_t hl;
        int rc = ed_mqtt_fixed_header(l->in + pos, l->in_len - pos, &first, &rem, &hl);
        if (rc == ED_ERR_AGAIN) break;
        if (rc != ED_OK || rem > l->s->max_packet_len) {
            go_down(l, rc != ED_OK ? "malformed packet length"
                                   : "a packet larger than mqtt.max.packet.bytes");
            return;
        }
        if (l->in_len - pos - hl < rem) break;
        on_packet(l, first, l->in + pos + hl, rem);
        if (!l->st) return; /* closed: the buffer was reset */
        pos += hl + rem;
        if (l->n >= l->cap) { /* every slot taken: read no more until some are answered */
            l->paused = true;
            ed_plat_stream_want_read(l->st, false);
        }
    }
    memmove(l->in, l->in + pos, l->in_len - pos);
    l->in_len -= pos;
}

static void on_readable(void *arg)
{
    link *l = arg;
    for (int round = 0; round < 16 && l->st && !l->paused; round++) {
        size_t want = l->in_len + 16384;
        uint8_t first;
        uint32_t rem;
        size_t hl;
        if (ed_mqtt_fixed_header(l->in, l->in_len, &first, &rem, &hl) == ED_OK &&
            rem <= l->s->max_packet_len && hl + rem > want)
            want = hl + rem;
        if (want > l->in_cap) {
            uint8_t *p = ed_realloc(l->in, want);
            if (!p) {
                go_down(l, "out of memory for input");
                return;
            }
            l->in = p;
            l->in_cap = want;
        }
        size_t n = 0;
        int rc = ed_plat_stream_read(l->st, l->in + l->in_len, l->in_cap - l->in_len, &n);
        if (rc == ED_ERR_AGAIN) break;
        if (rc != ED_OK) {
            lost(l, "connection closed by the source");
            return;
        }
        l->in_len += n;
        l->ping_ms = 0; /* anything heard answers the keep-alive */
        consume(l);
    }
    if (l->st) arm(l);
}

static void on_writable(void *arg)
{
    flush_out(arg);
}

static const struct ed_stream_cbs stream_cbs = {on_readable, on_writable};

static void on_dialled(void *arg, int status)
{
    link *l = arg;
    if (status != ED_OK) {
        go_down(l, status == ED_ERR_CLOSED ? "connection refused or unreachable"
                                           : ed_strerror(status));
        return;
    }
    if (l->tls) {
        ed_stream *t = NULL;
        int rc = ed_plat_tls_client(l->s->b->loop, l->tls, l->st, l->host, &t);
        l->st = t; /* on failure the TCP stream is closed already */
        if (rc != ED_OK) {
            go_down(l, "cannot start a TLS session");
            return;
        }
    }
    l->state = S_CONNECTING;
    ed_plat_stream_set_cbs(l->st, &stream_cbs, l);
    send_connect(l);
}

static void start_dial(link *l)
{
    l->state = S_DIALING;
    l->deadline_ms = now_ms(l) + CONNECT_MS;
    ed_mqtt_bridges *s = l->s;
    int rc = s->dial ? s->dial(s->dial_arg, s->b->loop, l->host, l->port, on_dialled, l, &l->st)
                     : ed_plat_tcp_dial(s->b->loop, l->host, l->port, on_dialled, l, &l->st);
    if (rc != ED_OK) {
        l->st = NULL;
        go_down(l, rc == ED_ERR_NOENT ? "the name does not resolve" : ed_strerror(rc));
        return;
    }
    arm(l);
}

/* The one timer: reconnect when down, the connect deadline, then the
 * keep-alive (a PINGREQ when nothing was sent for keepalive seconds; no
 * answer within keepalive seconds: half-open). */
static void on_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    link *l = arg;
    uint64_t now = now_ms(l);
    if (l->failed) {
        l->failed = false;
        drain_acks(l);
        if (l->state == S_DOWN) return;
    }
    switch (l->state) {
    case S_DOWN:
        start_dial(l);
        return;
    case S_DIALING:
    case S_CONNECTING:
        if (now >= l->deadline_ms) {
            go_down(l, l->state == S_DIALING ? "connect timed out" : "no CONNACK in time");
            return;
        }
        break;
    case S_UP: {
        if (l->in_len && !l->paused) {
            consume(l);
            if (!l->st) return;
        }
        uint64_t ka = (uint64_t)l->keepalive_s * 1000;
        if (l->ping_ms && now >= l->ping_ms + ka) {
            go_down(l, "no answer to PINGREQ (half-open connection?)");
            return;
        }
        if (!l->ping_ms && now >= l->last_tx_ms + ka) {
            SEND(l, 2, ed_mqtt_encode_pingreq(out, 2));
            l->ping_ms = now;
            flush_out(l);
            if (!l->st) return;
        }
        break;
    }
    }
    arm(l);
}

static void arm(link *l)
{
    if (l->state == S_DOWN) return; /* the backoff is armed by go_down */
    uint64_t due = l->deadline_ms;
    if (l->state == S_UP) {
        uint64_t ka = (uint64_t)l->keepalive_s * 1000;
        due = l->ping_ms ? l->ping_ms + ka : l->last_tx_ms + ka;
    }
    uint64_t now = now_ms(l);
    ed_plat_timer_start(l->s->b->loop, &l->timer, due > now ? (uint32_t)(due - now) : 0, on_timer,
                        l);
}

/* ---- the service ---- */

static void bridges_free(ed_mqtt_bridges *s)
{
    if (!s) return;
    ed_ingest_free(s->ingest); /* no callback after this */
    for (int i = 0; s->links && i < s->n_links; i++)
        ed_mqtt_bridge_link_free(&s->links[i]);
    ed_free(s->links);
    ed_mqtt_routes_free(s->routes);
    ed_free(s->key_buf);
    ed_free(s);
}

/* Stops pulling: what is gathered is appended, each source hears a
 * DISCONNECT (the session stays there, with what was not acknowledged). */
static void service_shutdown(void *obj)
{
    ed_mqtt_bridges *s = obj;
    ed_ingest_flush(s->ingest);
    for (int i = 0; i < s->n_links; i++) {
        link *l = &s->links[i];
        if (l->state == S_UP) {
            SEND(l, 2, ed_mqtt_encode_client_disconnect(out, 2));
            flush_out(l);
        }
        ed_plat_timer_stop(s->b->loop, &l->timer);
        ed_plat_stream_close(l->st);
        l->st = NULL;
        l->state = S_DOWN;
        l->connected = false;
    }
}

static void service_free(void *obj)
{
    bridges_free(obj);
}

int ed_mqtt_bridge_new(ed_broker *b, ed_mqtt_bridge_dial_fn dial, void *dial_arg,
                       ed_mqtt_bridges **out, char *why, size_t why_len)
{
    *out = NULL;
    const struct ed_config *cfg = b->cfg;
    if (cfg->n_bridges == 0) return ED_OK;
    ed_mqtt_bridges *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    s->b = b;
    s->dial = dial;
    s->dial_arg = dial_arg;
    s->max_packet_len = (uint32_t)cfg->mqtt_max_packet_bytes;
    int rc = ed_mqtt_routes_parse(cfg->mqtt_routes, &s->routes, why, why_len);
    if (rc == ED_OK && ed_mqtt_routes_have_keys(s->routes)) {
        s->key_buf = ed_malloc(ED_MQTT_ROUTE_KEY_MAX);
        if (!s->key_buf) rc = ED_ERR_NOMEM;
    }
    struct ed_ingest_config ic = {.linger_ms = (uint32_t)cfg->mqtt_linger_ms,
                                  .durable_max_ms = (uint32_t)cfg->eddy_linger_durable_max_ms,
                                  .batch_len = (size_t)cfg->mqtt_batch_bytes,
                                  .what = "bridged MQTT messages",
                                  .proto = ED_METRICS_MQTT};
    if (rc == ED_OK) rc = ed_ingest_new(b->loop, b->topics, &ic, &ingest_cbs, s, &s->ingest);
    if (rc == ED_OK) {
        s->links = ed_calloc((size_t)cfg->n_bridges, sizeof *s->links);
        if (!s->links) rc = ED_ERR_NOMEM;
    }
    for (int i = 0; rc == ED_OK && i < cfg->n_bridges; i++) {
        rc = ed_mqtt_bridge_link_setup(s, &s->links[i], &cfg->bridges[i], why, why_len);
        s->n_links = i + 1;
    }
    if (rc != ED_OK) {
        if (rc == ED_ERR_NOMEM) snprintf(why, why_len, "MQTT bridges: %s", ed_strerror(rc));
        bridges_free(s);
        return rc;
    }
    for (int i = 0; i < s->n_links; i++) {
        const link *l = &s->links[i];
        ED_LOG_INFO("bridge %s: pulling %d filter(s) from %s:%u%s as %s (MQTT %s)", l->name,
                    l->n_filters, l->host, (unsigned)l->port, l->tls ? " (TLS)" : "", l->client_id,
                    l->level == 5 ? "5" : "3.1.1");
        start_dial(&s->links[i]);
    }
    *out = s;
    return ED_OK;
}

void ed_mqtt_bridge_free(ed_mqtt_bridges *s)
{
    bridges_free(s);
}

void ed_mqtt_bridge_flush(ed_mqtt_bridges *s)
{
    ed_ingest_flush(s->ingest);
}

int ed_mqtt_bridge_start(ed_broker *b, ed_mqtt_bridges **out, char *why, size_t why_len)
{
    if (out) *out = NULL;
    ed_mqtt_bridges *s;
    int rc = ed_mqtt_bridge_new(b, NULL, NULL, &s, why, why_len);
    if (rc != ED_OK || !s) return rc;
    struct ed_broker_service svc = {ED_MQTT_BRIDGE_SERVICE, s, service_shutdown, service_free};
    rc = ed_broker_add_service(b, &svc);
    if (rc != ED_OK) {
        snprintf(why, why_len, "MQTT bridges: %s", ed_strerror(rc));
        return rc;
    }
    if (out) *out = s;
    return ED_OK;
}

int ed_mqtt_bridge_count(const ed_mqtt_bridges *s)
{
    return s ? s->n_links : 0;
}

void ed_mqtt_bridge_status_get(const ed_mqtt_bridges *s, int i, struct ed_mqtt_bridge_status *out)
{
    const link *l = &s->links[i];
    *out = (struct ed_mqtt_bridge_status){l->name,      l->connected,  l->n_in, l->n_dup,
                                          l->n_dropped, l->n_connects, l->n,    l->last_error};
}
