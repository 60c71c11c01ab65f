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
 * then a save holding its packet id are on flash.
 *
 * This file is their lifecycle: loading the index at start, connecting
 * (new or resumed), ending, expiry, and partitions that appear or go.
 * The index is mqtt_session_index.c, saving mqtt_session_save.c and
 * delivery mqtt_session_deliver.c. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_session_int.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LOAD_READ_LEN (1u << 20)
#define SWEEP_MS      10000

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
        if (!p || ed_mqtt_session_pos_find(sn->ss, p)) continue;
        int64_t end = ed_log_end_offset(p->log), start = ed_log_start_offset(p->log);
        int64_t at = sn->at_end ? end : start;
        if (end - at > sn->backlog_max) {
            sn->n_skipped += (uint64_t)(end - sn->backlog_max - at);
            at = end - sn->backlog_max;
        }
        if (!ed_mqtt_session_pos_add(sn->ss, p, at))
            ED_LOG_WARN_RL("MQTT session: no memory for a position in %s-%d", ed_topic_name(topic),
                           (int)i);
    }
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
        if (!ed_mqtt_session_pos_add(c->sess, p, ed_log_start_offset(p->log)))
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
        struct spos *sp = ed_mqtt_session_pos_find(ss, p);
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
        if (!ed_mqtt_session_pos_add(ss, p, at)) {
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
    struct sent *e = ed_mqtt_session_index_find(s, c->client_id, id_len);
    if (e && (ck->clean || e->deadline_ms < ed_plat_clock_wall_ms())) {
        if (!ck->clean) s->n_expired++;
        ed_mqtt_session_forget(s, c->client_id);
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
    if (!ed_mqtt_session_index_put(s, c->client_id, id_len,
                                   s->part ? ed_log_end_offset(s->part->log) : 0, false,
                                   INT64_MAX)) {
        ed_mqtt_session_free_conn(c);
        return ED_MQTT_RC_UNSPECIFIED;
    }
    ed_mqtt_session_save(c, false, false); /* the session exists from now on */
    ed_mqtt_share_log_sync(c);             /* its share groups, as its subscriptions say */
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
        ed_mqtt_session_forget(c->m->sessions, c->client_id);
    else
        ed_mqtt_session_save(c, false, true);
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
    return m->sessions && ed_mqtt_session_index_find(m->sessions, id, strlen(id)) != NULL;
}

int ed_mqtt_session_put(ed_mqtt *m, const void *key, size_t key_len, const void *value,
                        size_t value_len)
{
    ed_mqtt_sessions *s = m->sessions;
    const char *why = NULL;
    if (!s || !m->ingest) return ED_ERR_CLOSED;
    int rc = ed_mqtt_session_ensure_topic(s, &why);
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
                ed_mqtt_session_forget(s, e->id); /* frees e */
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
        ed_mqtt_session_index_del(s, id, len);
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
    if (!ed_mqtt_session_index_put(s, id, len, rec->offset, true,
                                   ed_mqtt_session_deadline_of(base, exp))) {
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
