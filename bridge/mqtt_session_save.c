/* Saving persistent MQTT sessions to __mqtt_sessions: building and
 * appending a connected session's record, batched (SAVE_DELAY_MS, no wait)
 * or with a durable wait that QoS 2 deliveries and PUBRECs wait on, and
 * deleting a session (a tombstone). */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_session_int.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <string.h>

#define SAVE_DELAY_MS 100
#define RECORD_MAX    (1u << 20)

/* ---- the topic ---- */

int ed_mqtt_session_ensure_topic(ed_mqtt_sessions *s, const char **why)
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
void ed_mqtt_session_forget(ed_mqtt_sessions *s, const char *id)
{
    size_t len = strlen(id);
    const char *why = NULL;
    /* id may be the index entry's own: used before the entry is freed */
    ed_mqtt_share_log_forget(s->m, id);
    int rc = ed_mqtt_session_ensure_topic(s, &why);
    if (rc == ED_OK) rc = ed_ingest_add(s->m->ingest, s->part, id, len, NULL, 0, NULL, 0, NULL, 0);
    if (rc != ED_OK)
        ED_LOG_WARN_RL("session of MQTT client %s not deleted from %s: %s", id, SESSIONS_TOPIC,
                       why ? why : ed_strerror(rc));
    ed_mqtt_session_index_del(s, id, len);
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
void ed_mqtt_session_unwait(ed_mqtt_conn *c, uint32_t gen)
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
void ed_mqtt_session_save(ed_mqtt_conn *c, bool wait, bool ending)
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
    if (rc == ED_OK) rc = ed_mqtt_session_ensure_topic(s, &why);
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
            ed_mqtt_session_unwait(c, gen);
        }
        ED_LOG_WARN_RL("session of MQTT client %s not saved: %s", c->client_id,
                       why ? why : ed_strerror(rc));
        return;
    }
    if (wait) ed_ingest_hurry(m->ingest, s->part);
    ss->dirty = false;
    if (wait) ss->want_wait = false; /* a save without a wait stands in for none */
    int64_t deadline =
        ending ? ed_mqtt_session_deadline_of(ed_plat_clock_wall_ms(), ss->expiry_s) : INT64_MAX;
    if (!ed_mqtt_session_index_put(s, c->client_id, id_len, end, false, deadline))
        ED_LOG_WARN_RL("session of MQTT client %s saved but not indexed: out of memory",
                       c->client_id);
}

static void on_save_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mqtt_sessions *s = arg;
    for (ed_mqtt_conn *c = s->m->conns; c; c = c->next)
        if (c->sess && c->sess->dirty && c->connected && !c->closing)
            ed_mqtt_session_save(c, false, false);
}

void ed_mqtt_session_changed(ed_mqtt_conn *c)
{
    ed_mqtt_sessions *s = c->m->sessions;
    if (!c->sess) return;
    c->sess->dirty = true;
    if (c->m->b->loop && !ed_plat_timer_armed(&s->save_timer))
        ed_plat_timer_start(c->m->b->loop, &s->save_timer, SAVE_DELAY_MS, on_save_timer, s);
}
