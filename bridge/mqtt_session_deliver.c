/* Delivery of persistent MQTT sessions from the log: per partition the
 * next offset to look at, the pump reading from those positions through
 * the session's window, resends of deliveries in flight, what waits for a
 * durable save, and the acknowledgements that move positions on. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_session_int.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <string.h>

#define TURN_LEN     (256u << 10) /* bytes of log read per session per loop turn */
#define OUT_RETRY_MS 10

/* ---- positions ---- */

struct spos *ed_mqtt_session_pos_find(ed_mqtt_sess *ss, const ed_partition *p)
{
    for (uint32_t i = 0; i < ss->n_pos; i++)
        if (ss->pos[i].p == p) return &ss->pos[i];
    return NULL;
}

struct spos *ed_mqtt_session_pos_add(ed_mqtt_sess *ss, ed_partition *p, int64_t read)
{
    struct spos *sp = ed_mqtt_session_pos_find(ss, p);
    if (sp) return sp;
    if (ss->n_pos == ss->pos_cap) {
        uint32_t cap = ss->pos_cap ? 2 * ss->pos_cap : 8;
        struct spos *v = ed_realloc(ss->pos, cap * sizeof *v);
        if (!v) return NULL;
        ss->pos = v;
        ss->pos_cap = cap;
    }
    ss->pos[ss->n_pos] = (struct spos){p, read};
    return &ss->pos[ss->n_pos++];
}

/* ---- delivering from the log ---- */

struct pump {
    ed_mqtt_conn *c;
    struct spos *sp;
    const char *ktopic;
    bool stop;
    bool out_full; /* stopped for output waiting: on again after a pause */
    /* one record looked for (resending a delivery in flight) */
    int64_t want;
    struct outq *q;
    bool dup;
};

/* The QoS c takes record rec at (its MQTT topic: n bytes of topic): the
 * highest over c's matching subscriptions of the lower of the publish's
 * and the subscription's QoS, -1 when none takes it (No Local passes over
 * c's own publishes); *retain: RETAIN, for a retained publish and a
 * subscription with Retain As Published. */
static int qos_for(const ed_mqtt_conn *c, const struct ed_record *rec, const uint8_t *topic,
                   size_t n, bool *retain)
{
    struct ed_mqtt_origin o;
    ed_mqtt_origin_get(rec, &o);
    bool mine = o.client.len && o.client.len == strlen(c->client_id) &&
                memcmp(o.client.p, c->client_id, o.client.len) == 0;
    int best = -1;
    bool rap = false;
    for (int i = 0; i < c->n_subs; i++) {
        const struct sub *sb = &c->subs[i];
        /* shared subscriptions are their groups' (mqtt_share.c, mqtt_share_log.c) */
        if ((sb->no_local && mine) || ed_mqtt_share_is((const uint8_t *)sb->filter, sb->len) ||
            !ed_mqtt_filter_match((const uint8_t *)sb->filter, sb->len, topic, n))
            continue;
        best = ED_MAX(best, (int)ED_MIN(o.qos, sb->qos));
        rap |= sb->rap;
    }
    *retain = o.retain && rap;
    return best;
}

bool ed_mqtt_session_msg_of(ed_mqtt *m, const char *ktopic, const struct ed_record *rec,
                            uint8_t *buf, struct ed_mqtt_msg *g)
{
    memset(g, 0, sizeof *g);
    size_t n = ed_mqtt_out_topic_of(m, ktopic, rec, buf, &g->props);
    if (n == SIZE_MAX) return false;
    g->topic = (struct ed_mqtt_bytes){buf, n};
    g->payload =
        (struct ed_mqtt_bytes){rec->value, rec->value_len > 0 ? (size_t)rec->value_len : 0};
    uint32_t exp_s;
    g->expires = ed_mqtt_expiry_of_record(rec, &exp_s);
    if (g->expires &&
        !ed_mqtt_expiry_left(exp_s, rec->timestamp, ed_plat_clock_wall_ms(), &g->left_s)) {
        g->expired = true; /* left_s is 0 */
    }
    return true;
}

bool ed_mqtt_session_send_msg(ed_mqtt_conn *c, const char *ktopic, const struct ed_record *rec,
                              const struct ed_mqtt_msg *g, uint8_t qos, bool retain,
                              const uint32_t *ids, int n_ids, uint16_t id, bool dup)
{
    struct ed_mqtt_bytes props = c->level == 5 ? g->props : (struct ed_mqtt_bytes){NULL, 0};
    struct ed_mqtt_subid_buf eb = {.heap = NULL};
    if (g->expires && c->level == 5) props = ed_mqtt_expiry_append(&eb, props, g->left_s);
    struct ed_mqtt_subid_buf sb;
    props = ed_mqtt_subid_props(&sb, props, ids, c->level == 5 ? n_ids : 0);
    size_t total = ed_mqtt_publish_len(c->level, qos, g->topic.len, props.len, g->payload.len);
    bool ok = total != SIZE_MAX && (!c->client_max_packet || total <= c->client_max_packet);
    if (ok) {
        ed_mqtt_send_publish(c, g->topic, g->payload, props, qos, retain, dup, id);
    } else {
        c->m->stats.n_dropped++;
        ED_LOG_WARN_RL("record %s@%" PRId64 " not delivered to MQTT client %s: %zu bytes, over "
                       "its Maximum Packet Size",
                       ktopic, rec->offset, c->client_id, total);
    }
    ed_mqtt_subid_done(&sb);
    ed_mqtt_subid_done(&eb);
    return ok;
}

/* Sends record rec to c: the PUBLISH of slot q (NULL: QoS 0). False when
 * the record has no MQTT topic or is too big for the client. With
 * best_out, sends nothing and says at which QoS c takes it (-1: not). */
static bool send_record(ed_mqtt_conn *c, const char *ktopic, const struct ed_record *rec,
                        uint8_t qos, uint16_t id, bool dup, int *best_out)
{
    /* A message whose expiry passed while the client was away is not
     * delivered; one whose delivery had started (in flight, sent again
     * with DUP) is completed, carrying what is left of its interval: 0
     * once passed (MQTT 5.0, 3.3.2.3.3 deletes only what has not started). */
    struct ed_mqtt_msg g;
    if (!ed_mqtt_session_msg_of(c->m, ktopic, rec, c->m->sessions->topic, &g) ||
        (g.expired && best_out))
        return false;
    bool retain = false;
    int best = qos_for(c, rec, g.topic.p, g.topic.len, &retain);
    if (best_out) {
        *best_out = best;
        return true;
    }
    uint32_t ids[MAX_SUBS];
    int n_ids = c->level == 5 ? ed_mqtt_subid_match(c, g.topic, ids) : 0;
    return ed_mqtt_session_send_msg(c, ktopic, rec, &g, qos, retain, ids, n_ids, id, dup);
}

static int pump_record(void *arg, const struct ed_record *rec)
{
    struct pump *x = arg;
    ed_mqtt_conn *c = x->c;
    struct spos *sp = x->sp;
    if (rec->offset < sp->read) return 0;
    if (c->closing || ed_conn_out_pending(c->conn) > c->m->lim.out_ceiling_len) {
        x->stop = true;
        x->out_full = !c->closing;
        return 1;
    }
    for (int i = 0; c->outq && i < c->out_window; i++)
        if (c->outq[i].state != OUT_FREE && c->outq[i].p == sp->p &&
            c->outq[i].offset == rec->offset) {
            sp->read = rec->offset + 1; /* in flight since before a restart */
            return 0;
        }
    int best = -1;
    if (!send_record(c, x->ktopic, rec, 0, 0, false, &best) || best < 0) {
        sp->read = rec->offset + 1;
        return 0;
    }
    uint16_t id = 0;
    if (best > 0) {
        int rc = ed_mqtt_outq_take(c, best == 1 ? OUT_PUBACK : OUT_SAVE_PUB, &id);
        if (rc != ED_OK) { /* window full (or no memory): on at the next acknowledgement */
            x->stop = true;
            return 1;
        }
        struct outq *q = ed_mqtt_outq_find(c, id);
        q->p = sp->p;
        q->offset = rec->offset;
        q->gen = 0;
        if (best == 2) {
            c->sess->want_wait = true; /* sent once a save names it */
            sp->read = rec->offset + 1;
            return 0;
        }
    }
    if (!send_record(c, x->ktopic, rec, (uint8_t)best, id, false, NULL) && id) {
        struct outq *q = ed_mqtt_outq_find(c, id);
        if (q) q->state = OUT_FREE;
    }
    sp->read = rec->offset + 1;
    return 0;
}

static int resend_record(void *arg, const struct ed_record *rec)
{
    struct pump *x = arg;
    if (rec->offset < x->want) return 0;
    if (rec->offset == x->want) {
        struct outq *q = x->q;
        if (!send_record(x->c, x->ktopic, rec, q->state == OUT_PUBACK ? 1 : 2, q->id, x->dup, NULL))
            q->state = OUT_FREE;
        x->q = NULL;
    }
    return 1;
}

/* Sends the PUBLISH of slot q again from its record (gone: the slot is). */
static void send_slot(ed_mqtt_conn *c, struct outq *q, bool dup)
{
    struct pump x = {c, NULL, ed_topic_name(q->p->topic), false, false, q->offset, q, dup};
    int64_t at;
    int rc = ed_log_each_record_from(q->p->log, q->offset, READ_LEN, READ_LEN, resend_record, &x,
                                     NULL, &at);
    if (rc != ED_OK || x.q) q->state = OUT_FREE; /* deleted meanwhile: nothing to resend */
}

/* Saves durable: what waited on them goes out. */
static void release_saved(ed_mqtt_conn *c)
{
    ed_mqtt_sess *ss = c->sess;
    uint8_t b[8];
    for (int i = 0; c->outq && i < c->out_window && !c->closing; i++) {
        struct outq *q = &c->outq[i];
        bool due = q->gen && q->gen <= ss->saved_gen;
        if (q->state == OUT_SAVE_PUB && due) {
            q->state = OUT_PUBREC;
            send_slot(c, q, false);
        } else if (q->state == OUT_SAVE_REL && due) {
            q->state = OUT_PUBCOMP;
            ed_mqtt_send_bytes(c, b,
                               ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBREL, c->level, q->id, 0));
        } else if (ss->resend && q->p && (q->state == OUT_PUBREC || q->state == OUT_PUBACK)) {
            send_slot(c, q, true);
        } else if (ss->resend && q->p && q->state == OUT_PUBCOMP) {
            ed_mqtt_send_bytes(c, b,
                               ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBREL, c->level, q->id, 0));
        }
    }
    ss->resend = false;
    bool acks = false;
    for (uint32_t i = 0; c->pend && i < c->pend_n; i++) {
        struct pend *p = &c->pend[(c->pend_head + i) % c->pend_cap];
        if (p->sess_wait && p->sgen && p->sgen <= ss->saved_gen && !p->done) {
            p->done = true;
            acks = true;
        }
    }
    if (acks) ed_mqtt_pend_drain(c);
}

static void pump_later(ed_mqtt_conn *c, uint32_t delay_ms);

/* Whether c has a subscription its positions serve (shared subscriptions
 * are their groups', mqtt_share.c and mqtt_share_log.c). */
static bool reads_log(const ed_mqtt_conn *c)
{
    for (int i = 0; i < c->n_subs; i++)
        if (!ed_mqtt_share_is((const uint8_t *)c->subs[i].filter, c->subs[i].len)) return true;
    return false;
}

/* Reads c's partitions from its positions and delivers what its
 * subscriptions match, while its window and output have room. */
static void pump(ed_mqtt_conn *c)
{
    ed_mqtt_sess *ss = c->sess;
    ss->pump = false;
    if (!c->connected || c->closing) return;
    release_saved(c);
    bool more = false, moved = false, out_full = false;
    size_t budget = TURN_LEN;
    for (uint32_t i = 0; i < ss->n_pos && !c->closing; i++) {
        struct spos *sp = &ss->pos[i];
        ed_log *log = sp->p->log;
        int64_t end = ed_log_end_offset(log), start = ed_log_start_offset(log);
        if (sp->read < start) { /* deleted by retention while unread */
            c->m->sessions->n_skipped += (uint64_t)(start - sp->read);
            ED_LOG_WARN_RL("MQTT client %s: %" PRId64 " records of %s-%d deleted before "
                           "delivery (retention)",
                           c->client_id, start - sp->read, ed_topic_name(sp->p->topic),
                           (int)sp->p->index);
            sp->read = start;
            moved = true;
        }
        if (sp->read >= end) continue;
        if (!reads_log(c)) { /* nothing to deliver: a first subscription starts here */
            sp->read = end;
            continue;
        }
        if (budget == 0) {
            more = true;
            break;
        }
        struct pump x = {c, sp, ed_topic_name(sp->p->topic), false, false, -1, NULL, false};
        int64_t before = sp->read, at = before;
        int rc =
            ed_log_each_record_from(log, sp->read, budget, READ_LEN, pump_record, &x, NULL, &at);
        if (rc != ED_OK) {
            ED_LOG_WARN_RL(
                "MQTT client %s: delivery from %s-%d at %" PRId64 " skips to %" PRId64 ": %s",
                c->client_id, x.ktopic, (int)sp->p->index, sp->read, end, ed_strerror(rc));
            at = end;
        }
        if (!x.stop) sp->read = ED_MAX(sp->read, at);
        moved |= sp->read != before;
        budget -= ED_MIN(budget, (size_t)(at > before ? READ_LEN : 0));
        out_full = x.out_full;
        if (x.stop) break;
        if (sp->read < end) more = true;
    }
    if (ss->want_wait) ed_mqtt_session_save(c, true, false);
    if (moved) ed_mqtt_session_changed(c);
    ed_mqtt_out_flush(c);
    if (more) ed_mqtt_session_pump_soon(c);
    if (out_full) pump_later(c, OUT_RETRY_MS);
}

static void on_pump_timer(ed_timer *t, void *arg);

/* The engine does not say when output drained: a session stopped by its
 * output waiting tries again after a pause. */
static void pump_later(ed_mqtt_conn *c, uint32_t delay_ms)
{
    ed_mqtt_sessions *s = c->m->sessions;
    c->sess->pump = true;
    if (c->m->b->loop && !ed_plat_timer_armed(&s->pump_timer))
        ed_plat_timer_start(c->m->b->loop, &s->pump_timer, delay_ms, on_pump_timer, s);
}

static void on_pump_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mqtt_sessions *s = arg;
    ed_mqtt_conn *c = s->m->conns;
    while (c) {
        ed_mqtt_conn *next = c->next;
        if (c->sess && c->sess->pump) {
            pump(c);
            if (next && next->closing) next = s->m->conns;
        }
        c = next;
    }
}

void ed_mqtt_session_pump_soon(ed_mqtt_conn *c)
{
    if (c->sess) pump_later(c, 0);
}

void ed_mqtt_session_save_soon(ed_mqtt_conn *c)
{
    if (!c->sess) return;
    c->sess->want_wait = true;
    ed_mqtt_session_pump_soon(c);
}

bool ed_mqtt_session_on_ack(ed_mqtt_conn *c, struct outq *q, int type, uint8_t reason)
{
    if (!c->sess) return false;
    if (type == ED_MQTT_PUBACK && q->state == OUT_PUBACK) {
        q->state = OUT_FREE;
    } else if (type == ED_MQTT_PUBREC && q->state == OUT_PUBREC) {
        if (reason >= 0x80) {
            q->state = OUT_FREE;
        } else { /* PUBREL once a save says it was received */
            q->state = OUT_SAVE_REL;
            q->gen = 0;
            c->sess->want_wait = true;
        }
    } else if (type == ED_MQTT_PUBREC && q->state == OUT_SAVE_REL) {
        return true; /* a repeated PUBREC: the PUBREL follows the save */
    } else if (type == ED_MQTT_PUBCOMP && q->state == OUT_PUBCOMP) {
        q->state = OUT_FREE;
    } else {
        return false;
    }
    if (q->state == OUT_FREE) q->p = NULL;
    ed_mqtt_session_changed(c);
    /* Refill once half the window is free: each refill reads (and
     * decompresses) the log again from the position. */
    int n_free = 0;
    for (int i = 0; i < c->out_window; i++)
        n_free += c->outq[i].state == OUT_FREE;
    if (q->state != OUT_FREE || 2 * n_free >= c->out_window) ed_mqtt_session_pump_soon(c);
    return true;
}

void ed_mqtt_session_saved(ed_mqtt_conn *c, uint64_t gen, int status)
{
    ed_mqtt_sess *ss = c->sess;
    if (!ss) return;
    if (status != ED_OK) {
        ED_LOG_WARN_RL("session of MQTT client %s not saved: %s (retrying)", c->client_id,
                       ed_strerror(status));
        ed_mqtt_session_unwait(c, (uint32_t)gen);
        ss->want_wait = true;
    } else if (gen > ss->saved_gen) {
        ss->saved_gen = (uint32_t)gen;
    }
    ed_mqtt_session_pump_soon(c); /* answers from the timer, not inside the completion */
}
