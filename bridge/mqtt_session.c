/* Persistent MQTT sessions delivered from the log. A session (3.1.1 clean
 * session 0, MQTT 5 Session Expiry Interval > 0) is a record in the
 * compacted internal topic __mqtt_sessions (key = client id, value =
 * mqtt_session.h's encoding): its subscriptions, per partition the next
 * offset to deliver, the QoS 2 packet ids received and not released, and
 * the QoS 1 and 2 deliveries in flight by (partition, offset) and packet
 * id. Each record is delivered as its publish said (mqtt_origin.h): at the
 * lower of the publish's and the subscription's QoS, RETAIN for Retain As
 * Published, not to its own publisher on a No Local subscription. Messages published
 * while the client is away are not queued anywhere: a connected persistent
 * session reads the log from its positions (backlog and live alike, so
 * there is neither gap nor duplicate at the switch), recovers each record's
 * MQTT topic, filters by its subscriptions and delivers through its window.
 * In memory an offline session costs only an index entry: client id,
 * where its latest record is (or a lower bound while that record is still
 * being appended) and when it expires.
 *
 * Positions advance when the client acknowledges and are saved batched
 * (SAVE_DELAY_MS, no wait): QoS 1 is at least once, and a returning
 * client gets its unacknowledged QoS 1 deliveries again first, with DUP
 * and the same packet ids. A QoS 2 delivery is
 * sent only once a save naming (partition, offset, packet id) is on flash,
 * and its PUBREL only once a save saying so is: after a restart the PUBLISH
 * is resent with DUP and the same packet id, or the PUBREL, so the client
 * never takes it twice. An inbound QoS 2 PUBREC leaves once the record and
 * then a save holding its packet id are on flash. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_int.h"
#include "bridge/mqtt_session.h"
#include "core/config.h"
#include "core/partitioner.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SESSIONS_TOPIC "__mqtt_sessions"
#define LOAD_READ_LEN  (1u << 20)
#define TURN_LEN       (256u << 10) /* bytes of log read per session per loop turn */
#define READ_LEN       (64u << 10)
#define SAVE_DELAY_MS  100
#define SWEEP_MS       10000
#define RECORD_MAX     (1u << 20)
#define OUT_RETRY_MS   10

/* An index entry: one stored session. */
struct sent {
    struct sent *next;
    uint32_t hash;
    bool exact;          /* from is the offset of its latest record (else a lower bound) */
    int64_t from;        /* where its latest record is, or starts to be looked for */
    int64_t deadline_ms; /* wall clock of expiry; INT64_MAX while connected */
    char id[];
};

struct ed_mqtt_sessions {
    ed_mqtt *m;
    ed_partition *part; /* of __mqtt_sessions, once it exists */
    struct sent **b;
    uint32_t n_buckets, n;
    uint32_t expiry_max_s;
    int64_t backlog_max;
    uint32_t n_max;
    bool listening;
    ed_timer pump_timer, save_timer, sweep_timer;
    uint8_t *buf; /* encoding */
    size_t buf_cap;
    uint8_t *topic; /* an MQTT topic recovered from a record */
    uint64_t n_skipped, n_expired;
};

struct spos {
    ed_partition *p;
    int64_t read; /* the next offset to look at */
};

struct ed_mqtt_sess {
    uint32_t expiry_s;
    struct spos *pos;
    uint32_t n_pos, pos_cap;
    uint32_t gen, saved_gen; /* saves with a wait: issued, durable */
    bool dirty, pump, want_wait, resend;
};

/* ---- the index ---- */

static uint32_t hash_of(const char *id, size_t len)
{
    return (uint32_t)ed_partitioner_murmur2((const uint8_t *)id, len);
}

static struct sent **slot(ed_mqtt_sessions *s, const char *id, size_t len, uint32_t h)
{
    struct sent **pp = &s->b[h & (s->n_buckets - 1)];
    while (*pp &&
           !((*pp)->hash == h && strlen((*pp)->id) == len && memcmp((*pp)->id, id, len) == 0))
        pp = &(*pp)->next;
    return pp;
}

static struct sent *index_find(ed_mqtt_sessions *s, const char *id, size_t len)
{
    return s->n_buckets ? *slot(s, id, len, hash_of(id, len)) : NULL;
}

static int grow(ed_mqtt_sessions *s)
{
    uint32_t nb = s->n_buckets ? s->n_buckets * 2 : 64;
    struct sent **b = ed_calloc(nb, sizeof *b);
    if (!b) return ED_ERR_NOMEM;
    for (uint32_t i = 0; i < s->n_buckets; i++)
        while (s->b[i]) {
            struct sent *e = s->b[i];
            s->b[i] = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    ed_free(s->b);
    s->b = b;
    s->n_buckets = nb;
    return ED_OK;
}

static struct sent *index_put(ed_mqtt_sessions *s, const char *id, size_t len, int64_t from,
                              bool exact, int64_t deadline_ms)
{
    if ((s->n_buckets == 0 || s->n >= s->n_buckets) && grow(s) != ED_OK) return NULL;
    uint32_t h = hash_of(id, len);
    struct sent **pp = slot(s, id, len, h);
    struct sent *e = *pp;
    if (!e) {
        e = ed_malloc(sizeof *e + len + 1);
        if (!e) return NULL;
        e->hash = h;
        memcpy(e->id, id, len);
        e->id[len] = 0;
        e->next = s->b[h & (s->n_buckets - 1)];
        s->b[h & (s->n_buckets - 1)] = e;
        s->n++;
    }
    e->from = from;
    e->exact = exact;
    e->deadline_ms = deadline_ms;
    return e;
}

static void index_del(ed_mqtt_sessions *s, const char *id, size_t len)
{
    if (!s->n_buckets) return;
    struct sent **pp = slot(s, id, len, hash_of(id, len));
    struct sent *e = *pp;
    if (!e) return;
    *pp = e->next;
    ed_free(e);
    s->n--;
}

static int64_t deadline_of(int64_t from_ms, uint32_t expiry_s)
{
    return from_ms + (int64_t)expiry_s * 1000;
}

/* ---- the topic ---- */

static int ensure_topic(ed_mqtt_sessions *s, const char **why)
{
    if (s->part) return ED_OK;
    ed_topics *topics = s->m->b->topics;
    ed_topic *t = ed_topics_find(topics, SESSIONS_TOPIC);
    if (!t) {
        const char *keys[] = {"cleanup.policy"};
        const char *values[] = {"compact"};
        int rc = ed_topics_create(topics, SESSIONS_TOPIC, 1, keys, values, 1, why, &t);
        if (rc != ED_OK) return rc;
        ED_LOG_INFO("created %s (1 partition, compacted) for persistent MQTT sessions",
                    SESSIONS_TOPIC);
    }
    s->part = ed_topic_partition(t, 0);
    if (!s->part) *why = "no partition";
    return s->part ? ED_OK : ED_ERR_NOENT;
}

/* Deletes the stored session of id (a tombstone) and its index entry. */
static void forget(ed_mqtt_sessions *s, const char *id)
{
    size_t len = strlen(id);
    const char *why = NULL;
    /* id may be the index entry's own: used before the entry is freed */
    ed_mqtt_share_log_forget(s->m, id);
    int rc = ensure_topic(s, &why);
    if (rc == ED_OK) rc = ed_ingest_add(s->m->ingest, s->part, id, len, NULL, 0, NULL, 0, NULL, 0);
    if (rc != ED_OK)
        ED_LOG_WARN_RL("session of MQTT client %s not deleted from %s: %s", id, SESSIONS_TOPIC,
                       why ? why : ed_strerror(rc));
    index_del(s, id, len);
}

/* ---- positions ---- */

static struct spos *pos_find(ed_mqtt_sess *ss, const ed_partition *p)
{
    for (uint32_t i = 0; i < ss->n_pos; i++)
        if (ss->pos[i].p == p) return &ss->pos[i];
    return NULL;
}

static struct spos *pos_add(ed_mqtt_sess *ss, ed_partition *p, int64_t read)
{
    struct spos *sp = pos_find(ss, p);
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

struct snap {
    ed_mqtt_sess *ss;
    bool at_end; /* partitions the session has no position in: from their end, else start */
    int64_t backlog_max;
    uint64_t n_skipped;
};

/* Every partition of a non-internal topic gets a position: at its end for a
 * new session, at its start for one created while the session was away. */
static void snap_topic(void *arg, ed_topic *topic)
{
    struct snap *sn = arg;
    if (ed_topic_is_internal(topic)) return;
    for (int32_t i = 0; i < ed_topic_n_partitions(topic); i++) {
        ed_partition *p = ed_topic_partition(topic, i);
        if (!p || pos_find(sn->ss, p)) continue;
        int64_t end = ed_log_end_offset(p->log), start = ed_log_start_offset(p->log);
        int64_t at = sn->at_end ? end : start;
        if (end - at > sn->backlog_max) {
            sn->n_skipped += (uint64_t)(end - sn->backlog_max - at);
            at = end - sn->backlog_max;
        }
        if (!pos_add(sn->ss, p, at))
            ED_LOG_WARN_RL("MQTT session: no memory for a position in %s-%d", ed_topic_name(topic),
                           (int)i);
    }
}

/* The position to save for sp: nothing before the oldest delivery in
 * flight from its partition is lost. */
static int64_t pos_saved(const ed_mqtt_conn *c, const struct spos *sp)
{
    int64_t at = sp->read;
    for (int i = 0; c->outq && i < c->out_window; i++)
        if (c->outq[i].state != OUT_FREE && c->outq[i].p == sp->p)
            at = ED_MIN(at, c->outq[i].offset);
    return at;
}

/* ---- saving ---- */

static uint32_t pos_index(const ed_mqtt_sess *ss, const ed_partition *p)
{
    for (uint32_t i = 0; i < ss->n_pos; i++)
        if (ss->pos[i].p == p) return i;
    return UINT32_MAX;
}

/* Whether QoS 2 packet id of an inbound publish may be saved: not while its
 * record is not yet on flash (a resend after a crash must be stored). */
static bool in_savable(const ed_mqtt_conn *c, uint16_t id)
{
    for (uint32_t i = 0; c->pend && i < c->pend_n; i++) {
        const struct pend *p = &c->pend[(c->pend_head + i) % c->pend_cap];
        if (p->type == ED_MQTT_PUBREC && p->packet_id == id && !p->done && !p->sess_wait)
            return false;
    }
    return true;
}

/* Fills r from c's session (arrays allocated: free them with ed_free). */
static int build(ed_mqtt_conn *c, struct ed_mqtt_sess_rec *r, bool ending)
{
    ed_mqtt_sess *ss = c->sess;
    memset(r, 0, sizeof *r);
    r->flags = ending ? 0 : ED_MQTT_SESSION_CONNECTED;
    r->expiry_s = ss->expiry_s;
    r->saved_ms = ed_plat_clock_wall_ms();
    r->next_pid = c->next_pid;
    r->subs = c->n_subs ? ed_calloc((size_t)c->n_subs, sizeof *r->subs) : NULL;
    r->pos = ss->n_pos ? ed_calloc(ss->n_pos, sizeof *r->pos) : NULL;
    r->out = c->outq ? ed_calloc(c->out_window, sizeof *r->out) : NULL;
    uint32_t n_in = 0;
    for (uint32_t id = 1; c->qos2 && id < 65536; id++)
        n_in += ed_mqtt_qos2_has(c, (uint16_t)id);
    r->in = n_in ? ed_calloc(n_in, sizeof *r->in) : NULL;
    if ((c->n_subs && !r->subs) || (ss->n_pos && !r->pos) || (c->outq && !r->out) ||
        (n_in && !r->in))
        return ED_ERR_NOMEM;
    for (int i = 0; i < c->n_subs; i++) {
        const struct sub *s = &c->subs[i];
        r->subs[r->n_subs++] =
            (struct ed_mqtt_sess_sub){(const uint8_t *)s->filter, (uint16_t)s->len,
                                      (uint8_t)(s->qos | (s->no_local ? 4 : 0) | (s->rap ? 8 : 0))};
        r->subs[r->n_subs - 1].sub_id = s->sub_id;
    }
    for (uint32_t i = 0; i < ss->n_pos; i++) {
        const struct spos *sp = &ss->pos[i];
        const char *name = ed_topic_name(sp->p->topic);
        r->pos[r->n_pos++] = (struct ed_mqtt_sess_pos){
            (const uint8_t *)name, (uint16_t)strlen(name), sp->p->index, pos_saved(c, sp)};
    }
    for (uint32_t id = 1; n_in && id < 65536; id++)
        if (ed_mqtt_qos2_has(c, (uint16_t)id) && in_savable(c, (uint16_t)id))
            r->in[r->n_in++] = (uint16_t)id;
    for (int i = 0; c->outq && i < c->out_window; i++) {
        const struct outq *q = &c->outq[i];
        uint8_t st = q->state == OUT_PUBREC || q->state == OUT_SAVE_PUB    ? ED_MQTT_SESSION_OUT_PUB
                     : q->state == OUT_PUBCOMP || q->state == OUT_SAVE_REL ? ED_MQTT_SESSION_OUT_REL
                     : q->state == OUT_PUBACK                              ? ED_MQTT_SESSION_OUT_ACK
                                                                           : 0;
        uint32_t pi = q->p ? pos_index(ss, q->p) : UINT32_MAX;
        if (st && pi != UINT32_MAX)
            r->out[r->n_out++] = (struct ed_mqtt_sess_out){q->id, st, pi, q->offset};
    }
    return ED_OK;
}

static void rec_release(struct ed_mqtt_sess_rec *r)
{
    ed_free(r->subs);
    ed_free(r->pos);
    ed_free(r->out);
    ed_free(r->in);
}

/* Resets the waits a failed save held. */
static void unwait(ed_mqtt_conn *c, uint32_t gen)
{
    for (int i = 0; c->outq && i < c->out_window; i++)
        if (c->outq[i].gen && c->outq[i].gen <= gen &&
            (c->outq[i].state == OUT_SAVE_PUB || c->outq[i].state == OUT_SAVE_REL))
            c->outq[i].gen = 0;
    for (uint32_t i = 0; c->pend && i < c->pend_n; i++) {
        struct pend *p = &c->pend[(c->pend_head + i) % c->pend_cap];
        if (p->sess_wait && p->sgen && p->sgen <= gen) p->sgen = 0;
    }
}

int ed_mqtt_session_room(uint8_t **buf, size_t *cap, size_t len)
{
    if (len > RECORD_MAX) return ED_ERR_TOOBIG;
    if (len <= *cap) return ED_OK;
    uint8_t *b = ed_realloc(*buf, len);
    if (!b) return ED_ERR_NOMEM;
    *buf = b;
    *cap = len;
    return ED_OK;
}

/* Stores c's session; wait: with a durable wait for what waits on it. */
static void save(ed_mqtt_conn *c, bool wait, bool ending)
{
    ed_mqtt *m = c->m;
    ed_mqtt_sessions *s = m->sessions;
    ed_mqtt_sess *ss = c->sess;
    const char *why = NULL;
    struct ed_mqtt_sess_rec r;
    int rc = build(c, &r, ending);
    size_t len = rc == ED_OK ? ed_mqtt_session_len(&r) : 0;
    if (rc == ED_OK) rc = ed_mqtt_session_room(&s->buf, &s->buf_cap, len);
    if (rc == ED_OK && ed_mqtt_session_encode(&r, s->buf, s->buf_cap) != len) rc = ED_ERR_INVAL;
    rec_release(&r);
    if (rc == ED_OK) rc = ensure_topic(s, &why);
    uint32_t gen = 0;
    if (rc == ED_OK && wait) {
        gen = ++ss->gen;
        for (int i = 0; c->outq && i < c->out_window; i++)
            if (!c->outq[i].gen &&
                (c->outq[i].state == OUT_SAVE_PUB || c->outq[i].state == OUT_SAVE_REL))
                c->outq[i].gen = gen;
        for (uint32_t i = 0; c->pend && i < c->pend_n; i++) {
            struct pend *p = &c->pend[(c->pend_head + i) % c->pend_cap];
            if (p->sess_wait && !p->sgen && !p->done) p->sgen = gen;
        }
        c->n_refs++; /* until on_done */
    }
    size_t id_len = strlen(c->client_id);
    int64_t end = s->part ? ed_log_end_offset(s->part->log) : 0;
    if (rc == ED_OK)
        rc = ed_ingest_add(m->ingest, s->part, c->client_id, id_len, s->buf, len, NULL, 0,
                           wait ? c : NULL, wait ? ED_MQTT_SESS_SEQ | gen : 0);
    if (rc != ED_OK) {
        if (wait && gen) {
            c->n_refs--;
            unwait(c, gen);
        }
        ED_LOG_WARN_RL("session of MQTT client %s not saved: %s", c->client_id,
                       why ? why : ed_strerror(rc));
        return;
    }
    if (wait) ed_ingest_hurry(m->ingest, s->part);
    ss->dirty = false;
    if (wait) ss->want_wait = false; /* a save without a wait stands in for none */
    int64_t deadline = ending ? deadline_of(ed_plat_clock_wall_ms(), ss->expiry_s) : INT64_MAX;
    if (!index_put(s, c->client_id, id_len, end, false, deadline))
        ED_LOG_WARN_RL("session of MQTT client %s saved but not indexed: out of memory",
                       c->client_id);
}

static void on_save_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mqtt_sessions *s = arg;
    for (ed_mqtt_conn *c = s->m->conns; c; c = c->next)
        if (c->sess && c->sess->dirty && c->connected && !c->closing) save(c, false, false);
}

void ed_mqtt_session_changed(ed_mqtt_conn *c)
{
    ed_mqtt_sessions *s = c->m->sessions;
    if (!c->sess) return;
    c->sess->dirty = true;
    if (c->m->b->loop && !ed_plat_timer_armed(&s->save_timer))
        ed_plat_timer_start(c->m->b->loop, &s->save_timer, SAVE_DELAY_MS, on_save_timer, s);
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
    if (ss->want_wait) save(c, true, false);
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
        unwait(c, (uint32_t)gen);
        ss->want_wait = true;
    } else if (gen > ss->saved_gen) {
        ss->saved_gen = (uint32_t)gen;
    }
    ed_mqtt_session_pump_soon(c); /* answers from the timer, not inside the completion */
}

/* ---- the append and remove listeners ---- */

static void on_append(void *arg, ed_partition *p)
{
    ed_mqtt_sessions *s = arg;
    if (ed_topic_is_internal(p->topic)) return;
    ed_mqtt_share_log_appended(s->m, p);
    for (ed_mqtt_conn *c = s->m->conns; c; c = c->next) {
        if (!c->sess || !c->connected || c->closing) continue;
        /* a partition new since the session started: everything in it is new */
        if (!pos_add(c->sess, p, ed_log_start_offset(p->log)))
            ED_LOG_WARN_RL("MQTT client %s: no memory for a position in %s-%d", c->client_id,
                           ed_topic_name(p->topic), (int)p->index);
        if (c->n_subs) ed_mqtt_session_pump_soon(c);
    }
}

static void on_remove(void *arg, ed_partition *p)
{
    ed_mqtt_sessions *s = arg;
    if (s->part == p) s->part = NULL;
    ed_mqtt_share_log_removed(s->m, p);
    for (ed_mqtt_conn *c = s->m->conns; c; c = c->next) {
        ed_mqtt_sess *ss = c->sess;
        if (!ss) continue;
        struct spos *sp = pos_find(ss, p);
        if (sp) *sp = ss->pos[--ss->n_pos];
        for (int i = 0; c->outq && i < c->out_window; i++) {
            struct outq *q = &c->outq[i];
            if (q->p != p) continue;
            q->p = NULL;
            if (q->state == OUT_SAVE_PUB || q->state == OUT_SAVE_REL) q->state = OUT_FREE;
        }
    }
}

/* ---- connecting ---- */

struct find {
    const char *id;
    size_t len;
    int64_t want; /* the exact offset, or -1: the last record of id */
    uint8_t *val; /* a copy of the value found (NULL: a tombstone or none) */
    size_t val_len;
    bool found;
    int rc;
};

static int find_record(void *arg, const struct ed_record *rec)
{
    struct find *f = arg;
    if (f->want >= 0 && rec->offset > f->want) return 1;
    if (rec->key_len < 0 || (size_t)rec->key_len != f->len || memcmp(rec->key, f->id, f->len) != 0)
        return 0;
    if (f->want >= 0 && rec->offset != f->want) return 0;
    ed_free(f->val);
    f->val = NULL;
    f->found = true;
    if (rec->value_len >= 0) {
        f->val = ed_malloc(rec->value_len ? (size_t)rec->value_len : 1);
        if (!f->val) {
            f->rc = ED_ERR_NOMEM;
            return 1;
        }
        if (rec->value_len) memcpy(f->val, rec->value, (size_t)rec->value_len);
        f->val_len = (size_t)rec->value_len;
    }
    return f->want >= 0 ? 1 : 0;
}

/* Reads the latest record of e: ED_OK with f->val (NULL: none). */
static int read_entry(ed_mqtt_sessions *s, struct sent *e, struct find *f)
{
    if (!s->part) return ED_OK;
    if (!e->exact) ed_ingest_flush(s->m->ingest); /* its record may still be gathering */
    ed_log *log = s->part->log;
    int64_t from = ED_MAX(e->from, ed_log_start_offset(log)), at = from;
    int rc = ed_log_each_record_from(log, from, SIZE_MAX, READ_LEN, find_record, f, NULL, &at);
    if (rc == ED_OK) rc = f->rc;
    return rc;
}

/* Restores c's session from record r. */
static int restore(ed_mqtt_conn *c, const struct ed_mqtt_sess_rec *r, uint64_t *n_skipped)
{
    ed_mqtt_sessions *s = c->m->sessions;
    ed_mqtt_sess *ss = c->sess;
    if (r->n_subs) {
        c->subs = ed_calloc(ED_MQTT_SESSION_MAX_SUBS, sizeof *c->subs);
        if (!c->subs) return ED_ERR_NOMEM;
        c->subs_cap = ED_MQTT_SESSION_MAX_SUBS;
    }
    for (uint16_t i = 0; i < r->n_subs; i++) {
        char *f = ed_strndup((const char *)r->subs[i].filter, r->subs[i].len);
        if (!f) return ED_ERR_NOMEM;
        c->subs[c->n_subs++] = (struct sub){f, r->subs[i].len, (uint8_t)(r->subs[i].opts & 3),
                                            c->level == 5 && (r->subs[i].opts & 4),
                                            c->level == 5 && (r->subs[i].opts & 8)};
        c->subs[c->n_subs - 1].sub_id = c->level == 5 ? r->subs[i].sub_id : 0;
    }
    ed_partition **parts = r->n_pos ? ed_calloc(r->n_pos, sizeof *parts) : NULL;
    if (r->n_pos && !parts) return ED_ERR_NOMEM;
    char name[256];
    for (uint32_t i = 0; i < r->n_pos; i++) {
        memcpy(name, r->pos[i].topic, r->pos[i].topic_len);
        name[r->pos[i].topic_len] = 0;
        ed_topic *t = ed_topics_find(c->m->b->topics, name);
        ed_partition *p = t ? ed_topic_partition(t, r->pos[i].partition) : NULL;
        if (!p || ed_topic_is_internal(t)) continue;
        int64_t end = ed_log_end_offset(p->log), start = ed_log_start_offset(p->log);
        int64_t at = ED_MIN(ED_MAX(r->pos[i].next, start), end);
        if (r->pos[i].next < start) *n_skipped += (uint64_t)(start - r->pos[i].next);
        if (c->n_subs && end - at > s->backlog_max) {
            *n_skipped += (uint64_t)(end - s->backlog_max - at);
            at = end - s->backlog_max;
        }
        if (!c->n_subs) at = end;
        if (!pos_add(ss, p, at)) {
            ed_free(parts);
            return ED_ERR_NOMEM;
        }
        parts[i] = p;
    }
    if (r->n_in) {
        c->qos2 = ed_calloc(1, 65536 / 8);
        if (!c->qos2) {
            ed_free(parts);
            return ED_ERR_NOMEM;
        }
        for (uint16_t i = 0; i < r->n_in; i++)
            ed_mqtt_qos2_set(c, r->in[i], true);
    }
    if (r->n_out && !c->outq) c->outq = ed_calloc(c->out_window, sizeof *c->outq);
    int k = 0;
    for (uint16_t i = 0; parts && c->outq && i < r->n_out && k < c->out_window; i++) {
        ed_partition *p = parts[r->out[i].pos];
        if (!p) continue;
        uint8_t st = r->out[i].state == ED_MQTT_SESSION_OUT_PUB   ? OUT_PUBREC
                     : r->out[i].state == ED_MQTT_SESSION_OUT_REL ? OUT_PUBCOMP
                                                                  : OUT_PUBACK;
        c->outq[k++] = (struct outq){r->out[i].packet_id, st, 0, p, r->out[i].offset};
        ss->resend = true;
    }
    ed_free(parts);
    c->next_pid = r->next_pid;
    return ED_OK;
}

int ed_mqtt_session_connect(ed_mqtt_conn *c, const struct ed_mqtt_connect *ck, bool *present,
                            uint32_t *expiry_s)
{
    ed_mqtt_sessions *s = c->m->sessions;
    *present = false;
    *expiry_s = 0;
    if (!s || !s->topic) return ED_OK; /* no loop: sessions end with their connection */
    size_t id_len = strlen(c->client_id);
    uint32_t want = ck->level == 4 ? (ck->clean ? 0 : s->expiry_max_s)
                                   : ED_MIN(ck->session_expiry_s, s->expiry_max_s);
    struct sent *e = index_find(s, c->client_id, id_len);
    if (e && (ck->clean || e->deadline_ms < ed_plat_clock_wall_ms())) {
        if (!ck->clean) s->n_expired++;
        forget(s, c->client_id);
        e = NULL;
    }
    if (!e && want == 0) return ED_OK;
    if (!e && s->n >= s->n_max) {
        ED_LOG_WARN_RL("refusing MQTT client %s from %s: mqtt.session.max.count (%" PRIu32
                       ") persistent sessions exist",
                       c->client_id, c->peer, s->n_max);
        return ED_MQTT_RC_QUOTA_EXCEEDED;
    }
    c->sess = ed_calloc(1, sizeof *c->sess);
    if (!c->sess) return ED_MQTT_RC_UNSPECIFIED;
    c->sess->expiry_s = want;
    *expiry_s = want;
    uint64_t n_skipped = 0;
    if (e) {
        struct find f = {c->client_id, id_len, e->exact ? e->from : -1, NULL, 0, false, ED_OK};
        int rc = read_entry(s, e, &f);
        struct ed_mqtt_sess_rec r;
        const char *why = "not found";
        if (rc == ED_OK && f.val)
            rc = ed_mqtt_session_decode(f.val, f.val_len, &r, &why);
        else if (rc == ED_OK)
            rc = ED_ERR_NOENT;
        if (rc == ED_OK) {
            rc = restore(c, &r, &n_skipped);
            ed_mqtt_session_free(&r);
            *present = rc == ED_OK;
        }
        ed_free(f.val);
        if (rc != ED_OK) {
            ED_LOG_WARN("session of MQTT client %s not resumed, a new one starts: %s", c->client_id,
                        rc == ED_ERR_NOMEM ? "out of memory" : why);
            ed_mqtt_session_free_conn(c);
            c->sess = ed_calloc(1, sizeof *c->sess);
            if (!c->sess) return ED_MQTT_RC_UNSPECIFIED;
            c->sess->expiry_s = want;
        }
    }
    struct snap sn = {c->sess, !*present, c->n_subs ? s->backlog_max : 0, 0};
    if (!c->n_subs) sn.at_end = true;
    ed_topics_each(c->m->b->topics, snap_topic, &sn);
    n_skipped += sn.n_skipped;
    if (n_skipped) {
        s->n_skipped += n_skipped;
        ED_LOG_WARN("MQTT client %s: %" PRIu64 " records skipped while it was away "
                    "(mqtt.session.max.backlog.records %" PRId64 " per partition, or retention)",
                    c->client_id, n_skipped, s->backlog_max);
    }
    if (!index_put(s, c->client_id, id_len, s->part ? ed_log_end_offset(s->part->log) : 0, false,
                   INT64_MAX)) {
        ed_mqtt_session_free_conn(c);
        return ED_MQTT_RC_UNSPECIFIED;
    }
    save(c, false, false);     /* the session exists from now on */
    ed_mqtt_share_log_sync(c); /* its share groups, as its subscriptions say */
    ed_mqtt_session_pump_soon(c);
    return ED_OK;
}

void ed_mqtt_session_set_expiry(ed_mqtt_conn *c, uint32_t expiry_s)
{
    if (c->sess) c->sess->expiry_s = ED_MIN(expiry_s, c->m->sessions->expiry_max_s);
}

void ed_mqtt_session_end(ed_mqtt_conn *c)
{
    if (!c->sess || !c->client_id) return;
    if (c->sess->expiry_s == 0)
        forget(c->m->sessions, c->client_id);
    else
        save(c, false, true);
}

void ed_mqtt_session_free_conn(ed_mqtt_conn *c)
{
    if (!c->sess) return;
    ed_free(c->sess->pos);
    ed_free(c->sess);
    c->sess = NULL;
}

void ed_mqtt_session_first_sub(ed_mqtt_conn *c)
{
    ed_mqtt_sess *ss = c->sess;
    for (uint32_t i = 0; ss && i < ss->n_pos; i++)
        ss->pos[i].read = ed_log_end_offset(ss->pos[i].p->log);
}

bool ed_mqtt_session_exists(ed_mqtt *m, const char *id)
{
    return m->sessions && index_find(m->sessions, id, strlen(id)) != NULL;
}

int ed_mqtt_session_put(ed_mqtt *m, const void *key, size_t key_len, const void *value,
                        size_t value_len)
{
    ed_mqtt_sessions *s = m->sessions;
    const char *why = NULL;
    if (!s || !m->ingest) return ED_ERR_CLOSED;
    int rc = ensure_topic(s, &why);
    if (rc == ED_OK)
        rc = ed_ingest_add(m->ingest, s->part, key, key_len, value, value ? value_len : 0, NULL, 0,
                           NULL, 0);
    return rc;
}

uint32_t ed_mqtt_session_count(const ed_mqtt *m)
{
    return m->sessions ? m->sessions->n : 0;
}

/* ---- expiry ---- */

static void on_sweep(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mqtt_sessions *s = arg;
    int64_t now = ed_plat_clock_wall_ms();
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->n_buckets; i++) {
        struct sent *e = s->b[i];
        while (e) {
            struct sent *next = e->next;
            if (e->deadline_ms < now) {
                forget(s, e->id); /* frees e */
                n++;
            }
            e = next;
        }
    }
    if (n) {
        s->n_expired += n;
        ED_LOG_INFO("%" PRIu64 " persistent MQTT sessions expired (%" PRIu32 " remain)", n, s->n);
    }
    ed_plat_timer_start(s->m->b->loop, &s->sweep_timer, SWEEP_MS, on_sweep, s);
}

/* ---- loading ---- */

struct load {
    ed_mqtt_sessions *s;
    int64_t now;
    uint64_t n_records, n_bad;
    int rc;
};

static int load_record(void *arg, const struct ed_record *rec)
{
    struct load *ld = arg;
    ed_mqtt_sessions *s = ld->s;
    ld->n_records++;
    if (rec->key_len <= 0 || rec->key_len > 65535) {
        ld->n_bad++;
        return 0;
    }
    const char *id = (const char *)rec->key;
    size_t len = (size_t)rec->key_len;
    if (id[0] == 0) { /* a durable share group (mqtt_group.h) */
        if (ed_mqtt_share_log_load(s->m, rec->key, len, rec->value, rec->value_len) ==
            ED_ERR_NOMEM) {
            ld->rc = ED_ERR_NOMEM;
            return 1;
        }
        return 0;
    }
    if (memchr(id, 0, len)) {
        ld->n_bad++;
        return 0;
    }
    if (rec->value_len < 0) {
        index_del(s, id, len);
        return 0;
    }
    struct ed_mqtt_sess_rec r;
    const char *why;
    if (ed_mqtt_session_decode(rec->value, (size_t)rec->value_len, &r, &why) != ED_OK) {
        ld->n_bad++;
        return 0;
    }
    uint32_t exp = ED_MIN(r.expiry_s, s->expiry_max_s);
    /* saved while connected (a crash): it expires counting from now */
    int64_t base = (r.flags & ED_MQTT_SESSION_CONNECTED) ? ld->now : r.saved_ms;
    ed_mqtt_session_free(&r);
    if (!index_put(s, id, len, rec->offset, true, deadline_of(base, exp))) {
        ld->rc = ED_ERR_NOMEM;
        return 1;
    }
    return 0;
}

int ed_mqtt_session_open(ed_mqtt *m, const struct ed_config *cfg, char *why, size_t why_len)
{
    ed_mqtt_sessions *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    m->sessions = s;
    s->m = m;
    s->expiry_max_s = (uint32_t)cfg->mqtt_session_expiry_max;
    s->backlog_max = cfg->mqtt_session_max_backlog_records;
    s->n_max = (uint32_t)cfg->mqtt_session_max_count;
    if (!m->b->loop || !m->b->topics) return ED_OK;
    s->topic = ed_malloc(65535);
    if (!s->topic) return ED_ERR_NOMEM;
    ed_topic *t = ed_topics_find(m->b->topics, SESSIONS_TOPIC);
    s->part = t ? ed_topic_partition(t, 0) : NULL;
    if (s->part) {
        struct load ld = {s, ed_plat_clock_wall_ms(), 0, 0, ED_OK};
        int64_t at = 0;
        int rc = ed_log_each_record(s->part->log, LOAD_READ_LEN, load_record, &ld, &ld.n_bad, &at);
        if (rc == ED_OK) rc = ld.rc;
        if (rc != ED_OK) {
            snprintf(why, why_len, "%s: cannot load MQTT sessions at offset %" PRId64 ": %s",
                     SESSIONS_TOPIC, at, ed_strerror(rc));
            return rc;
        }
        ed_mqtt_share_log_loaded(m);
        if (ld.n_bad)
            ED_LOG_WARN("%s: %" PRIu64 " records skipped (not parsed)", SESSIONS_TOPIC, ld.n_bad);
        ED_LOG_INFO("loaded %" PRIu32 " persistent MQTT sessions from %" PRIu64 " records", s->n,
                    ld.n_records);
    }
    int rc = ed_topics_add_append_listener(m->b->topics, on_append, s);
    if (rc == ED_OK) {
        rc = ed_topics_add_remove_listener(m->b->topics, on_remove, s);
        if (rc != ED_OK) ed_topics_del_append_listener(m->b->topics, on_append, s);
    }
    if (rc != ED_OK) {
        snprintf(why, why_len, "MQTT listener: %s", ed_strerror(rc));
        return rc;
    }
    s->listening = true;
    ed_plat_timer_start(m->b->loop, &s->sweep_timer, SWEEP_MS, on_sweep, s);
    return ED_OK;
}

void ed_mqtt_session_close(ed_mqtt *m)
{
    ed_mqtt_sessions *s = m->sessions;
    if (!s) return;
    if (s->listening) {
        ed_topics_del_append_listener(m->b->topics, on_append, s);
        ed_topics_del_remove_listener(m->b->topics, on_remove, s);
    }
    if (m->b->loop) {
        ed_plat_timer_stop(m->b->loop, &s->pump_timer);
        ed_plat_timer_stop(m->b->loop, &s->save_timer);
        ed_plat_timer_stop(m->b->loop, &s->sweep_timer);
    }
    for (uint32_t i = 0; i < s->n_buckets; i++)
        while (s->b[i]) {
            struct sent *e = s->b[i];
            s->b[i] = e->next;
            ed_free(e);
        }
    ed_free(s->b);
    ed_free(s->buf);
    ed_free(s->topic);
    ed_free(s);
    m->sessions = NULL;
}
