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
 * gather new publishes into the batch being failed. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt.h"
#include "bridge/mqtt_codec.h"
#include "bridge/mqtt_route.h"
#include "core/kclient.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RBUF_MIN        4096
#define READS_PER_EVENT 8
#define MAX_ACC         16
#define MAX_SUBS        64
#define MAX_HEADERS     64
#define CLIENT_ID_MAX   256
#define SCAN_MS         500

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

struct obuf {
    uint8_t *buf;
    size_t pos, len, cap;
};

struct ed_mqtt_conn {
    ed_mqtt *m;
    ed_stream *stream; /* NULL: detached */
    ed_mqtt_conn *prev, *next;
    uint8_t *rbuf;
    size_t rlen, rcap;
    struct obuf out;
    bool connected, closing, paused, want_write, in_input, graceful;
    bool kick; /* acknowledgements to drain or input to read: see on_kick */
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
    uint32_t client_max_packet;
    uint32_t session_expiry_s; /* from CONNECT (MQTT 5) */
    int n_refs;                /* durable waits that name this connection */
};

struct wref {
    ed_mqtt_conn *c;
    uint64_t seq;
};

/* One partition's gathering batch. */
struct acc {
    ed_partition *p; /* NULL: free */
    ed_batch_builder *bb;
    size_t bb_max_len;
    size_t bytes;
    struct wref *w;
    int n_w, cap_w;
};

/* A durable wait of one appended batch. */
struct bwait {
    ed_mqtt *m; /* NULL once the listener is gone */
    struct bwait *prev, *next;
    int n;
    struct wref w[];
};

struct ed_mqtt {
    ed_broker *b;
    struct ed_mqtt_limits lim;
    ed_mqtt_routes *routes;
    ed_listener *listeners[ED_CONFIG_MAX_LISTENERS];
    int n_listeners;
    ed_mqtt_conn *conns, *dead;
    int32_t n_conns;
    ed_timer reap_timer, linger_timer, scan_timer, kick_timer;
    bool kicked; /* some connection has kick set */
    struct acc acc[MAX_ACC];
    struct bwait *waits;
    uint64_t n_ids;
    struct ed_mqtt_stats stats;
};

static void conn_close(ed_mqtt_conn *c, const char *why, bool will);
static void out_flush(ed_mqtt_conn *c);
static void process_input(ed_mqtt_conn *c);
static void update_read(ed_mqtt_conn *c);
static void kick(ed_mqtt_conn *c);

static uint64_t now_ms(const ed_mqtt *m)
{
    return m->b->loop ? ed_plat_loop_now_ms(m->b->loop) : 0;
}

/* ---- output ---- */

/* Room for n more bytes of output; false (and the connection closed) past
 * the output limit. */
static uint8_t *out_room(ed_mqtt_conn *c, size_t n)
{
    struct obuf *o = &c->out;
    if (o->pos > 0 && o->pos == o->len) o->pos = o->len = 0;
    if (o->cap - o->len >= n) return o->buf + o->len;
    if (o->pos > 0) {
        memmove(o->buf, o->buf + o->pos, o->len - o->pos);
        o->len -= o->pos;
        o->pos = 0;
        if (o->cap - o->len >= n) return o->buf + o->len;
    }
    size_t need = o->len + n;
    if (need > c->m->lim.out_max_len) {
        char why[96];
        snprintf(why, sizeof why, "output backed up over %zu bytes (slow subscriber)",
                 c->m->lim.out_max_len);
        c->m->stats.n_bad++;
        ED_LOG_WARN("closing %s: %s", c->peer, why);
        conn_close(c, NULL, true);
        return NULL;
    }
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < need)
        cap *= 2;
    uint8_t *nb = ed_realloc(o->buf, cap);
    if (!nb) {
        ED_LOG_WARN("closing %s: out of memory for output", c->peer);
        conn_close(c, NULL, true);
        return NULL;
    }
    o->buf = nb;
    o->cap = cap;
    return o->buf + o->len;
}

static size_t out_pending(const ed_mqtt_conn *c)
{
    return c->out.len - c->out.pos;
}

static void out_flush(ed_mqtt_conn *c)
{
    if (c->closing || !c->stream) {
        if (!c->closing) update_read(c);
        return;
    }
    while (out_pending(c) > 0) {
        struct ed_iovec iov = {c->out.buf + c->out.pos, out_pending(c)};
        size_t k;
        if (ed_plat_stream_writev(c->stream, &iov, 1, &k) != ED_OK) {
            conn_close(c, "send failed", true);
            return;
        }
        if (k == 0) break;
        c->out.pos += k;
    }
    bool want = out_pending(c) > 0;
    if (want != c->want_write) {
        c->want_write = want;
        ed_plat_stream_want_write(c->stream, want);
    }
    update_read(c);
}

/* Sends a small packet encoded by fn into a stack buffer. */
static void send_bytes(ed_mqtt_conn *c, const uint8_t *p, size_t n)
{
    if (c->closing || n == 0) return;
    uint8_t *dst = out_room(c, n);
    if (!dst) return;
    memcpy(dst, p, n);
    c->out.len += n;
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

/* Closes for bad input: one log line naming the problem; MQTT 5 gets a
 * DISCONNECT with reason first. */
static void close_bad(ed_mqtt_conn *c, uint8_t reason, const char *what)
{
    if (c->closing) return;
    ED_LOG_WARN_RL("closing MQTT connection from %s%s%s: %s", c->peer,
                   c->client_id ? " client " : "", c->client_id ? c->client_id : "", what);
    c->m->stats.n_bad++;
    send_disconnect(c, reason, what);
    out_flush(c);
    conn_close(c, NULL, true);
}

/* ---- connections: closing and reaping ---- */

static void on_reap(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mqtt_reap(arg);
}

static void conn_free(ed_mqtt_conn *c)
{
    for (int i = 0; i < c->n_subs; i++)
        ed_free(c->subs[i].filter);
    ed_free(c->outq);
    ed_free(c->qos2);
    ed_free(c->pend);
    ed_free(c->will);
    ed_free(c->client_id);
    ed_free(c->out.buf);
    ed_free(c->rbuf);
    ed_free(c);
}

void ed_mqtt_reap(ed_mqtt *m)
{
    ed_mqtt_conn **pp = &m->dead;
    while (*pp) {
        ed_mqtt_conn *c = *pp;
        if (c->n_refs > 0) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        conn_free(c);
    }
}

static void arm_reap(ed_mqtt *m)
{
    if (m->b->loop && !ed_plat_timer_armed(&m->reap_timer))
        ed_plat_timer_start(m->b->loop, &m->reap_timer, 0, on_reap, m);
}

static void publish_will(ed_mqtt_conn *c);

static void conn_close(ed_mqtt_conn *c, const char *why, bool will)
{
    if (c->closing) return;
    ed_mqtt *m = c->m;
    if (why) ED_LOG_DBG("closing %s: %s", c->peer, why);
    if (will && c->connected && c->has_will && !c->graceful) {
        c->connected = false; /* not a subscriber of its own will any more */
        publish_will(c);
    }
    c->closing = true;
    if (c->stream) {
        ed_plat_stream_close(c->stream);
        c->stream = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = NULL;
    c->next = m->dead;
    m->dead = c;
    m->n_conns--;
    arm_reap(m);
}

/* ---- reading pauses ---- */

static void update_read(ed_mqtt_conn *c)
{
    if (c->closing) return;
    bool pause = out_pending(c) > c->m->lim.out_ceiling_len || c->pend_n >= c->pend_cap;
    if (pause == c->paused) return;
    c->paused = pause;
    if (pause) c->m->stats.n_pauses++;
    if (c->stream) ed_plat_stream_want_read(c->stream, !pause);
    /* Bytes already buffered raise no readable event: read them from the
     * kick timer (never from inside a flush completion, see the top). */
    if (!pause && c->rlen > 0) kick(c);
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

/* ---- batches: gathering, appending, durable completion ---- */

static void on_durable(void *arg, int status)
{
    struct bwait *bw = arg;
    ed_mqtt *m = bw->m;
    if (m) {
        if (status != ED_OK)
            ED_LOG_WARN_RL("flush of MQTT publishes failed: %s", ed_strerror(status));
        uint8_t reason = status == ED_OK ? 0 : ED_MQTT_RC_UNSPECIFIED;
        for (int i = 0; i < bw->n; i++) {
            ed_mqtt_conn *c = bw->w[i].c;
            if (!c->closing) pend_complete(c, bw->w[i].seq, reason);
        }
        for (int i = 0; i < bw->n; i++) {
            ed_mqtt_conn *c = bw->w[i].c;
            c->n_refs--;
            if (c->closing) {
                if (c->n_refs == 0) arm_reap(m);
            } else if (status == ED_OK) {
                pend_drain(c);
            } else {
                kick(c); /* a failed flush may come from a partition's removal */
            }
        }
        if (bw->prev)
            bw->prev->next = bw->next;
        else
            m->waits = bw->next;
        if (bw->next) bw->next->prev = bw->prev;
    }
    ed_free(bw);
}

/* Completes every publish waiting on a's batch with reason; the answers
 * leave from the kick timer. */
static void acc_fail(ed_mqtt *m, struct acc *a, uint8_t reason)
{
    for (int i = 0; i < a->n_w; i++) {
        ed_mqtt_conn *c = a->w[i].c;
        c->n_refs--;
        if (!c->closing) {
            pend_complete(c, a->w[i].seq, reason);
            kick(c);
        } else if (c->n_refs == 0) {
            arm_reap(m);
        }
    }
    a->n_w = 0;
}

static uint8_t reason_of(int rc)
{
    return rc == ED_ERR_NOSPC    ? ED_MQTT_RC_QUOTA_EXCEEDED
           : rc == ED_ERR_TOOBIG ? ED_MQTT_RC_PACKET_TOO_LARGE
                                 : ED_MQTT_RC_UNSPECIFIED;
}

/* Appends a partition's gathered batch and registers its durable wait. */
static void acc_flush(ed_mqtt *m, struct acc *a)
{
    if (!a->p) return;
    ed_partition *p = a->p;
    a->p = NULL;
    a->bytes = 0;
    uint8_t *buf;
    size_t len;
    int rc = ed_batch_builder_finish(a->bb, &buf, &len);
    int32_t n_rec = ed_batch_builder_count(a->bb);
    struct ed_append_result res;
    if (rc == ED_OK) rc = ed_log_append(p->log, buf, len, &res);
    if (rc != ED_OK) {
        m->stats.n_failed += (uint64_t)n_rec;
        ED_LOG_WARN_RL("append of %d MQTT publish%s to %s-%d failed: %s", (int)n_rec,
                       n_rec == 1 ? "" : "es", ed_topic_name(p->topic), (int)p->index,
                       ed_strerror(rc));
        acc_fail(m, a, reason_of(rc));
        return;
    }
    m->stats.n_published += (uint64_t)n_rec;
    m->stats.n_batches++;
    ed_topics_appended(m->b->topics, p);
    if (a->n_w == 0) return;
    struct bwait *bw = ed_malloc(sizeof *bw + (size_t)a->n_w * sizeof(struct wref));
    if (!bw) {
        ED_LOG_WARN("no memory to wait for the flush of %d MQTT publishes", a->n_w);
        acc_fail(m, a, ED_MQTT_RC_UNSPECIFIED);
        return;
    }
    bw->m = m;
    bw->n = a->n_w;
    memcpy(bw->w, a->w, (size_t)a->n_w * sizeof(struct wref));
    a->n_w = 0;
    bw->prev = NULL;
    bw->next = m->waits;
    if (m->waits) m->waits->prev = bw;
    m->waits = bw;
    rc = ed_log_wait_durable(p->log, res.last_offset, on_durable, bw);
    if (rc != ED_OK) on_durable(bw, rc);
}

static void flush_all(ed_mqtt *m)
{
    for (int i = 0; i < MAX_ACC; i++)
        acc_flush(m, &m->acc[i]);
}

static void on_linger(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    flush_all(arg);
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
                if (!c->closing && !c->paused && c->rlen > 0) process_input(c);
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
    flush_all(m);
}

/* A partition about to be freed (its topic deleted): the batch gathering
 * for it is dropped and its publishers get a negative acknowledgement
 * (3.1.1: closed, the client resends). */
static void on_partition_removed(void *arg, ed_partition *p)
{
    ed_mqtt *m = arg;
    for (int i = 0; i < MAX_ACC; i++) {
        struct acc *a = &m->acc[i];
        if (a->p != p) continue;
        int32_t n = ed_batch_builder_count(a->bb);
        m->stats.n_failed += (uint64_t)n;
        ED_LOG_WARN("%d gathered MQTT publish%s to %s-%d dropped: the topic is being deleted",
                    (int)n, n == 1 ? "" : "es", ed_topic_name(p->topic), (int)p->index);
        a->p = NULL;
        a->bytes = 0;
        acc_fail(m, a, ED_MQTT_RC_UNSPECIFIED);
    }
}

/* The gathering batch of partition p, flushing another if all are busy. */
static struct acc *acc_get(ed_mqtt *m, ed_partition *p, int *rc)
{
    struct acc *free_a = NULL;
    for (int i = 0; i < MAX_ACC; i++) {
        if (m->acc[i].p == p) return &m->acc[i];
        if (!m->acc[i].p && !free_a) free_a = &m->acc[i];
    }
    if (!free_a) {
        flush_all(m);
        for (int i = 0; i < MAX_ACC && !free_a; i++)
            if (!m->acc[i].p) free_a = &m->acc[i];
        if (!free_a) {
            *rc = ED_ERR_BUSY;
            return NULL;
        }
    }
    const struct ed_log_config *lc = ed_log_get_config(p->log);
    size_t max_len = (size_t)ED_MAX(lc->max_message_len, 1024);
    if (free_a->bb && free_a->bb_max_len != max_len) {
        ed_batch_builder_free(free_a->bb);
        free_a->bb = NULL;
    }
    if (!free_a->bb) {
        /* Kept for later batches: its buffer is reused. */
        *rc = ed_batch_builder_new(max_len, &free_a->bb);
        if (*rc != ED_OK) return NULL;
        free_a->bb_max_len = max_len;
    }
    int comp = lc->compression;
    if (!ed_codec_supported(comp, true)) comp = ED_COMPRESSION_NONE;
    *rc = ed_batch_builder_begin(free_a->bb, comp, ed_plat_clock_wall_ms(), -1, -1, -1);
    if (*rc != ED_OK) return NULL;
    free_a->p = p;
    free_a->bytes = 0;
    return free_a;
}

/* Adds one record to p's batch; the slot (c, seq) waits for it when c. */
static int acc_add(ed_mqtt *m, ed_partition *p, struct ed_mqtt_bytes key,
                   struct ed_mqtt_bytes value, const struct ed_record_header *h, int n_h,
                   ed_mqtt_conn *c, uint64_t seq)
{
    int rc = ED_OK;
    struct acc *a = acc_get(m, p, &rc);
    if (!a) return rc;
    int64_t ts = ed_plat_clock_wall_ms();
    rc = ed_batch_builder_add(a->bb, key.p, key.len, value.p, value.len, h, (size_t)n_h, ts);
    if (rc == ED_ERR_TOOBIG && ed_batch_builder_count(a->bb) > 0) {
        acc_flush(m, a);
        a = acc_get(m, p, &rc);
        if (!a) return rc;
        rc = ed_batch_builder_add(a->bb, key.p, key.len, value.p, value.len, h, (size_t)n_h, ts);
    }
    if (rc != ED_OK) {
        if (ed_batch_builder_count(a->bb) == 0) a->p = NULL;
        return rc;
    }
    a->bytes += key.len + value.len + 16;
    for (int i = 0; i < n_h; i++)
        a->bytes += (size_t)h[i].key_len + (size_t)ED_MAX(h[i].value_len, 0) + 4;
    if (c) {
        if (a->n_w == a->cap_w) {
            int ncap = a->cap_w ? a->cap_w * 2 : 64;
            struct wref *nw = ed_realloc(a->w, (size_t)ncap * sizeof *nw);
            if (!nw) return ED_ERR_NOMEM; /* the record goes out unacknowledged */
            a->w = nw;
            a->cap_w = ncap;
        }
        a->w[a->n_w].c = c;
        a->w[a->n_w].seq = seq;
        a->n_w++;
        c->n_refs++;
    }
    if (a->bytes >= m->lim.batch_len) {
        acc_flush(m, a);
    } else if (m->b->loop && !ed_plat_timer_armed(&m->linger_timer)) {
        ed_plat_timer_start(m->b->loop, &m->linger_timer, m->lim.linger_ms, on_linger, m);
    }
    return ED_OK;
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
            *why = rc == ED_ERR_NOENT   ? "Kafka topic does not exist and "
                                          "auto.create.topics.enable is off"
                   : rc == ED_ERR_INVAL ? "Kafka topic name is not valid"
                                        : "Kafka topic could not be created";
            return rc == ED_ERR_NOENT || rc == ED_ERR_INVAL ? ED_MQTT_RC_TOPIC_NAME_INVALID
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
    *out = ed_topic_partition(topic, ed_kc_partition_for(t.p, t.len, n));
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

static void deliver_one(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                        struct ed_mqtt_bytes props, uint8_t qos)
{
    ed_mqtt *m = c->m;
    struct ed_mqtt_bytes p = c->level == 5 ? props : (struct ed_mqtt_bytes){NULL, 0};
    size_t total = ed_mqtt_publish_len(c->level, qos, topic.len, p.len, payload.len);
    if (total == SIZE_MAX || (c->client_max_packet && total > c->client_max_packet)) {
        m->stats.n_dropped++;
        ED_LOG_DBG("not delivering %zu bytes to %s: over its maximum packet size", total, c->peer);
        return;
    }
    uint16_t id = 0;
    if (qos > 0) {
        int rc = outq_take(c, qos == 1 ? OUT_PUBACK : OUT_PUBREC, &id);
        if (rc != ED_OK) {
            m->stats.n_dropped++;
            ED_LOG_DBG("not delivering to %s: %d QoS %d deliveries in flight", c->peer,
                       (int)c->out_window, (int)qos);
            return;
        }
    }
    uint8_t *dst = out_room(c, total);
    if (!dst) return;
    size_t h = ed_mqtt_encode_publish_head(dst, total, c->level, qos, false, false, topic, id, p,
                                           payload.len);
    ED_ASSERT(h > 0 && h + payload.len == total);
    memcpy(dst + h, payload.p, payload.len);
    c->out.len += total;
    m->stats.n_delivered++;
    out_flush(c);
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
        ED_LOG_WARN("closing MQTT connection from %s: %s (MQTT 3.1.1 has no negative "
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
    int rc = acc_add(m, p, pk->topic, pk->payload, h, n_h, acked ? c : NULL, seq);
    if (rc != ED_OK) {
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
    }
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

/* Handles every whole packet in the read buffer; stops while paused. */
static void process_input(ed_mqtt_conn *c)
{
    ed_mqtt *m = c->m;
    if (c->in_input) return;
    c->in_input = true;
    size_t pos = 0;
    while (!c->closing && pos < c->rlen) {
        /* Reading pauses while every acknowledgement slot is taken: the
         * packet stays buffered until the flush frees some. */
        if (c->pend_n >= c->pend_cap || out_pending(c) > m->lim.out_ceiling_len) break;
        uint8_t first;
        uint32_t rem;
        size_t hl;
        int rc = ed_mqtt_fixed_header(c->rbuf + pos, c->rlen - pos, &first, &rem, &hl);
        if (rc == ED_ERR_AGAIN) break;
        if (rc != ED_OK) {
            close_bad(c, ED_MQTT_RC_MALFORMED, "Remaining Length longer than 4 bytes");
            break;
        }
        if (!c->connected && first >> 4 != ED_MQTT_CONNECT) {
            /* Said before the whole packet is in: garbage is closed at once. */
            char w[64];
            snprintf(w, sizeof w, "first packet is %s, not CONNECT", ed_mqtt_type_name(first >> 4));
            close_bad(c, 0, w);
            break;
        }
        if ((uint64_t)hl + rem > m->lim.max_packet_len) {
            char why[128];
            snprintf(why, sizeof why,
                     "%s packet of %" PRIu32 " bytes over mqtt.max.packet.bytes (%" PRIu32 ")",
                     ed_mqtt_type_name(first >> 4), (uint32_t)(hl + rem), m->lim.max_packet_len);
            close_bad(c, ED_MQTT_RC_PACKET_TOO_LARGE, why);
            break;
        }
        if (c->rlen - pos < hl + rem) {
            /* Incomplete: make room for the whole packet. */
            size_t need = hl + rem;
            if (need > c->rcap) {
                if (pos > 0) {
                    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
                    c->rlen -= pos;
                    pos = 0;
                }
                uint8_t *nb = ed_realloc(c->rbuf, need);
                if (!nb) {
                    close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory for a packet");
                    break;
                }
                c->rbuf = nb;
                c->rcap = need;
            }
            break;
        }
        on_packet(c, first, c->rbuf + pos + hl, rem);
        pos += hl + rem;
    }
    if (!c->closing) {
        if (pos > 0 && pos < c->rlen) memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= ED_MIN(pos, c->rlen);
        /* Shrink a buffer grown for one large packet once it is empty. */
        if (c->rlen == 0 && c->rcap > RBUF_MIN * 4) {
            uint8_t *nb = ed_realloc(c->rbuf, RBUF_MIN);
            if (nb) {
                c->rbuf = nb;
                c->rcap = RBUF_MIN;
            }
        }
    }
    c->in_input = false;
    if (!c->closing) out_flush(c);
}

/* ---- socket events ---- */

static void on_readable(void *arg)
{
    ed_mqtt_conn *c = arg;
    for (int i = 0; i < READS_PER_EVENT && !c->closing && !c->paused; i++) {
        if (c->rlen == c->rcap) break; /* a whole packet is waiting to be handled */
        size_t n;
        int rc = ed_plat_stream_read(c->stream, c->rbuf + c->rlen, c->rcap - c->rlen, &n);
        if (rc == ED_ERR_AGAIN) break;
        if (rc != ED_OK) {
            conn_close(c, "closed by peer", true);
            return;
        }
        c->rlen += n;
        c->last_rx_ms = now_ms(c->m);
        process_input(c);
    }
}

static void on_writable(void *arg)
{
    out_flush(arg);
}

static ed_mqtt_conn *conn_new(ed_mqtt *m)
{
    ed_mqtt_conn *c = ed_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->rcap = RBUF_MIN;
    c->rbuf = ed_malloc(c->rcap);
    c->pend_cap = m->lim.n_inflight_max;
    c->pend = ed_calloc(c->pend_cap, sizeof *c->pend);
    if (!c->rbuf || !c->pend) {
        ed_free(c->rbuf);
        ed_free(c->pend);
        ed_free(c);
        return NULL;
    }
    c->out_window = m->lim.n_inflight_max;
    c->next = m->conns;
    if (m->conns) m->conns->prev = c;
    m->conns = c;
    m->n_conns++;
    c->accepted_ms = c->last_rx_ms = now_ms(m);
    return c;
}

static void on_accept(void *arg, ed_stream *st)
{
    ed_mqtt *m = arg;
    if (m->n_conns >= m->lim.n_conns_max) {
        ED_LOG_WARN_RL("refusing MQTT connection from %s: mqtt.max.connections (%d) reached",
                       ed_plat_stream_peer(st), (int)m->lim.n_conns_max);
        m->stats.n_refused++;
        ed_plat_stream_close(st);
        return;
    }
    ed_mqtt_conn *c = conn_new(m);
    if (!c) {
        ED_LOG_WARN_RL("refusing MQTT connection from %s: out of memory", ed_plat_stream_peer(st));
        m->stats.n_refused++;
        ed_plat_stream_close(st);
        return;
    }
    m->stats.n_accepted++;
    c->stream = st;
    snprintf(c->peer, sizeof c->peer, "%s", ed_plat_stream_peer(st));
    struct ed_stream_cbs cbs = {on_readable, on_writable};
    ed_plat_stream_set_cbs(st, &cbs, c);
}

/* Keep-alive (1.5x the client's interval) and CONNECT timeouts. */
static void on_scan(ed_timer *t, void *arg)
{
    ed_mqtt *m = arg;
    uint64_t now = now_ms(m);
    ed_mqtt_conn *c = m->conns;
    while (c) {
        ed_mqtt_conn *n = c->next;
        if (c->stream && !c->connected && now - c->accepted_ms >= m->lim.connect_timeout_ms) {
            ED_LOG_INFO("closing MQTT connection from %s: no CONNECT within %u ms", c->peer,
                        (unsigned)m->lim.connect_timeout_ms);
            conn_close(c, NULL, false);
        } else if (c->stream && c->connected && c->keepalive_s > 0 &&
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
        c = n;
    }
    ed_plat_timer_start(m->b->loop, t, SCAN_MS, on_scan, m);
}

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
    const char *routes = "";
    if (b->cfg) {
        m->lim.max_packet_len = (uint32_t)ed_config_int(b->cfg, "mqtt.max.packet.bytes");
        m->lim.n_conns_max = (int32_t)ed_config_int(b->cfg, "mqtt.max.connections");
        m->lim.n_inflight_max = (uint16_t)ed_config_int(b->cfg, "mqtt.max.inflight");
        m->lim.linger_ms = (uint32_t)ed_config_int(b->cfg, "mqtt.linger.ms");
        m->lim.batch_len = (size_t)ed_config_int(b->cfg, "mqtt.batch.bytes");
        m->lim.connect_timeout_ms = (uint32_t)ed_config_int(b->cfg, "mqtt.connect.timeout.ms");
        routes = ed_config_str(b->cfg, "mqtt.routes");
    }
    m->lim.out_ceiling_len = ED_MAX((size_t)256 << 10, (size_t)m->lim.max_packet_len + 64);
    m->lim.out_max_len = ED_MAX((size_t)8 << 20, 4 * m->lim.out_ceiling_len);
    int rc = ed_mqtt_routes_parse(routes, &m->routes, why, why_len);
    if (rc != ED_OK) {
        ed_free(m);
        return rc;
    }
    if (b->topics) {
        rc = ed_topics_add_remove_listener(b->topics, on_partition_removed, m);
        if (rc != ED_OK) {
            snprintf(why, why_len, "MQTT listener: cannot watch topic deletions: %s",
                     ed_strerror(rc));
            ed_mqtt_routes_free(m->routes);
            ed_free(m);
            return rc;
        }
    }
    if (b->loop) on_scan(&m->scan_timer, m);
    *out = m;
    return ED_OK;
}

int ed_mqtt_listen(ed_mqtt *m, const char *host, uint16_t port, uint16_t *bound)
{
    if (m->n_listeners == ED_CONFIG_MAX_LISTENERS) return ED_ERR_TOOBIG;
    ed_listener *ls;
    int rc = ed_plat_tcp_listen(m->b->loop, host, port, on_accept, m, &ls);
    if (rc != ED_OK) return rc;
    m->listeners[m->n_listeners++] = ls;
    if (bound) *bound = ed_plat_listener_port(ls);
    return ED_OK;
}

void ed_mqtt_shutdown(ed_mqtt *m)
{
    for (int i = 0; i < m->n_listeners; i++)
        ed_plat_listener_close(m->listeners[i]);
    m->n_listeners = 0;
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
     * only free themselves when they complete. */
    for (struct bwait *bw = m->waits; bw; bw = bw->next)
        bw->m = NULL;
    for (int i = 0; i < MAX_ACC; i++) {
        struct acc *a = &m->acc[i];
        ed_batch_builder_free(a->bb);
        ed_free(a->w);
    }
    while (m->dead) {
        ed_mqtt_conn *c = m->dead;
        m->dead = c->next;
        conn_free(c);
    }
    if (m->b->topics) ed_topics_del_remove_listener(m->b->topics, on_partition_removed, m);
    if (m->b->loop) {
        ed_plat_timer_stop(m->b->loop, &m->kick_timer);
        ed_plat_timer_stop(m->b->loop, &m->reap_timer);
        ed_plat_timer_stop(m->b->loop, &m->linger_timer);
        ed_plat_timer_stop(m->b->loop, &m->scan_timer);
    }
    ed_mqtt_routes_free(m->routes);
    ed_free(m);
}

int32_t ed_mqtt_n_conns(const ed_mqtt *m)
{
    return m->n_conns;
}

const struct ed_mqtt_limits *ed_mqtt_limits_get(const ed_mqtt *m)
{
    return &m->lim;
}

void ed_mqtt_stats_get(const ed_mqtt *m, struct ed_mqtt_stats *out)
{
    *out = m->stats;
}

/* ---- detached connections ---- */

int ed_mqtt_conn_detached(ed_mqtt *m, ed_mqtt_conn **out)
{
    ed_mqtt_conn *c = conn_new(m);
    if (!c) return ED_ERR_NOMEM;
    snprintf(c->peer, sizeof c->peer, "detached");
    *out = c;
    return ED_OK;
}

int ed_mqtt_conn_feed(ed_mqtt_conn *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0 && !c->closing) {
        if (c->rlen == c->rcap) {
            /* Paused with a full buffer: keep the rest in a bigger one, as
             * the socket would keep it. */
            uint8_t *nb = ed_realloc(c->rbuf, c->rcap + len);
            if (!nb) return ED_ERR_NOMEM;
            c->rbuf = nb;
            c->rcap += len;
        }
        size_t k = ED_MIN(len, c->rcap - c->rlen);
        memcpy(c->rbuf + c->rlen, p, k);
        c->rlen += k;
        p += k;
        len -= k;
        c->last_rx_ms = now_ms(c->m);
        process_input(c);
    }
    return c->closing ? ED_ERR_CLOSED : ED_OK;
}

const uint8_t *ed_mqtt_conn_output(ed_mqtt_conn *c, size_t *len)
{
    *len = out_pending(c);
    return c->out.buf ? c->out.buf + c->out.pos : (const uint8_t *)"";
}

void ed_mqtt_conn_output_clear(ed_mqtt_conn *c)
{
    c->out.pos = c->out.len = 0;
    if (!c->closing) update_read(c);
    run_kicks(c->m);
}

bool ed_mqtt_conn_closed(const ed_mqtt_conn *c)
{
    return c->closing;
}
