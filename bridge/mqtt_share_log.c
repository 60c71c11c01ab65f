/* Durable MQTT share groups: a $share/G/filter group with at least one
 * persistent member (a session that outlives its connection) outlives its
 * members' connections. Like a persistent session it reads the log from
 * its own position in every partition (mqtt_group.h) and hands each record
 * its filter matches to one connected member with room in its window,
 * round-robin; the position moves when members acknowledge (the lowest
 * unacknowledged offset; acknowledged offsets above it are not delivered
 * again). While no member is connected nothing moves, so what is published
 * meanwhile waits in the log, bounded per partition by
 * mqtt.session.max.backlog.records like an offline session. Deliveries a
 * member had not acknowledged when it left, or that were in flight when
 * Eddy stopped, go to the next member with room, with DUP. The group, its
 * persistent members and its positions are a record of __mqtt_sessions
 * (key 0x00 + filter), saved batched (SAVE_DELAY_MS) after each change:
 * QoS 1 and 2 are at least once across a crash. The group ends when its
 * last persistent member unsubscribes or its session ends; a group of
 * clean sessions only is served live (mqtt_share.c). */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_group.h"
#include "bridge/mqtt_int.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <string.h>

#define SAVE_DELAY_MS 100
#define TURN_LEN      (256u << 10) /* bytes of log read per group per loop turn */
#define READ_LEN      (64u << 10)

struct dpos {
    ed_partition *p;
    struct ed_mqtt_gpos g;
};

struct dgroup {
    struct dgroup *next;
    char *filter; /* the whole "$share/G/filter", NUL-terminated */
    size_t len;
    struct ed_mqtt_bytes inner; /* the filter after G, in filter */
    char **members;             /* client ids of its persistent members */
    uint32_t n_members, members_cap;
    struct dpos *pos;
    uint32_t n_pos, pos_cap;
    const ed_mqtt_conn *last; /* the member that took the last delivery */
    bool dirty;
    bool ended; /* its record is deleted at the next save, then it is freed */
};

struct ed_mqtt_share_logs {
    ed_mqtt *m;
    struct dgroup *groups;
    int64_t backlog_max;
    ed_timer pump_timer, save_timer;
    uint8_t *buf; /* a record's encoding */
    size_t buf_cap;
    uint8_t *topic; /* an MQTT topic recovered from a record (65535 bytes) */
};

/* ---- groups ---- */

static struct dgroup *find(const ed_mqtt_share_logs *gs, const char *f, size_t len)
{
    for (struct dgroup *g = gs ? gs->groups : NULL; g; g = g->next)
        if (!g->ended && g->len == len && memcmp(g->filter, f, len) == 0) return g;
    return NULL;
}

bool ed_mqtt_share_log_has(const ed_mqtt *m, const char *f, size_t len)
{
    return find(m->share_logs, f, len) != NULL;
}

static struct dpos *pos_find(struct dgroup *g, const ed_partition *p)
{
    for (uint32_t i = 0; i < g->n_pos; i++)
        if (g->pos[i].p == p) return &g->pos[i];
    return NULL;
}

static struct dpos *pos_add(struct dgroup *g, ed_partition *p, int64_t read)
{
    struct dpos *dp = pos_find(g, p);
    if (dp) return dp;
    if (g->n_pos == g->pos_cap) {
        uint32_t cap = g->pos_cap ? 2 * g->pos_cap : 8;
        struct dpos *v = ed_realloc(g->pos, cap * sizeof *v);
        if (!v) return NULL;
        g->pos = v;
        g->pos_cap = cap;
    }
    g->pos[g->n_pos] = (struct dpos){p, {.read = read}};
    return &g->pos[g->n_pos++];
}

static int member_index(const struct dgroup *g, const char *id, size_t len)
{
    for (uint32_t i = 0; i < g->n_members; i++)
        if (strlen(g->members[i]) == len && memcmp(g->members[i], id, len) == 0) return (int)i;
    return -1;
}

static int member_add(struct dgroup *g, const char *id, size_t len)
{
    if (member_index(g, id, len) >= 0) return ED_OK;
    if (g->n_members >= ED_MQTT_GROUP_MAX_MEMBERS) return ED_ERR_TOOBIG;
    if (g->n_members == g->members_cap) {
        uint32_t cap = g->members_cap ? 2 * g->members_cap : 4;
        char **v = ed_realloc(g->members, cap * sizeof *v);
        if (!v) return ED_ERR_NOMEM;
        g->members = v;
        g->members_cap = cap;
    }
    char *copy = ed_strndup(id, len);
    if (!copy) return ED_ERR_NOMEM;
    g->members[g->n_members++] = copy;
    g->dirty = true;
    return ED_OK;
}

static void member_del(struct dgroup *g, uint32_t i)
{
    ed_free(g->members[i]);
    g->members[i] = g->members[--g->n_members];
    g->dirty = true;
}

static struct dgroup *group_new(ed_mqtt_share_logs *gs, const char *f, size_t len)
{
    struct ed_mqtt_bytes inner;
    if (!ed_mqtt_share_split((const uint8_t *)f, len, &inner)) return NULL;
    char *filter = ed_strndup(f, len);
    struct dgroup *g = filter ? ed_calloc(1, sizeof *g) : NULL;
    if (!g) {
        ed_free(filter);
        return NULL;
    }
    *g = (struct dgroup){.filter = filter, .len = len, .next = gs->groups};
    g->inner =
        (struct ed_mqtt_bytes){(const uint8_t *)filter + (inner.p - (const uint8_t *)f), inner.len};
    gs->groups = g;
    return g;
}

static void group_free(struct dgroup *g)
{
    for (uint32_t i = 0; i < g->n_members; i++)
        ed_free(g->members[i]);
    for (uint32_t i = 0; i < g->n_pos; i++)
        ed_mqtt_gpos_free(&g->pos[i].g);
    ed_free(g->members);
    ed_free(g->pos);
    ed_free(g->filter);
    ed_free(g);
}

/* Writes g's record: key 0x00 then the filter, value (NULL: a tombstone). */
static int put(ed_mqtt_share_logs *gs, const struct dgroup *g, const uint8_t *value,
               size_t value_len)
{
    char *key = ed_malloc(g->len + 1);
    if (!key) return ED_ERR_NOMEM;
    key[0] = 0;
    memcpy(key + 1, g->filter, g->len);
    int rc = ed_mqtt_session_put(gs->m, key, g->len + 1, value, value_len);
    ed_free(key);
    return rc;
}

/* ---- saving ---- */

static int build(const struct dgroup *g, struct ed_mqtt_grp_rec *r)
{
    memset(r, 0, sizeof *r);
    uint32_t n_fly = 0;
    for (uint32_t i = 0; i < g->n_pos; i++)
        n_fly += g->pos[i].g.n_fly;
    r->members = g->n_members ? ed_calloc(g->n_members, sizeof *r->members) : NULL;
    r->pos = g->n_pos ? ed_calloc(g->n_pos, sizeof *r->pos) : NULL;
    r->fly = n_fly ? ed_calloc(n_fly, sizeof *r->fly) : NULL;
    if ((g->n_members && !r->members) || (g->n_pos && !r->pos) || (n_fly && !r->fly))
        return ED_ERR_NOMEM;
    for (uint32_t i = 0; i < g->n_members && i < ED_MQTT_GROUP_MAX_MEMBERS; i++)
        r->members[r->n_members++] = (struct ed_mqtt_grp_member){(const uint8_t *)g->members[i],
                                                                 (uint16_t)strlen(g->members[i])};
    for (uint32_t i = 0; i < g->n_pos; i++) {
        const struct dpos *dp = &g->pos[i];
        const char *name = ed_topic_name(dp->p->topic);
        struct ed_mqtt_grp_pos *q = &r->pos[r->n_pos++];
        *q = (struct ed_mqtt_grp_pos){(const uint8_t *)name, (uint16_t)strlen(name),
                                      dp->p->index,          dp->g.read,
                                      (uint16_t)dp->g.n_fly, r->n_fly};
        /* increasing, as the layout wants: insertion into place */
        for (uint32_t k = 0; k < dp->g.n_fly && r->n_fly < n_fly; k++) {
            int64_t off = dp->g.fly[k].offset;
            uint32_t at = r->n_fly++;
            while (at > q->fly_at && r->fly[at - 1] > off) {
                r->fly[at] = r->fly[at - 1];
                at--;
            }
            r->fly[at] = off;
        }
    }
    return ED_OK;
}

static void save(ed_mqtt_share_logs *gs, struct dgroup *g)
{
    struct ed_mqtt_grp_rec r;
    int rc = build(g, &r);
    size_t len = rc == ED_OK ? ed_mqtt_group_len(&r) : 0;
    if (rc == ED_OK) rc = ed_mqtt_session_room(&gs->buf, &gs->buf_cap, len);
    if (rc == ED_OK && ed_mqtt_group_encode(&r, gs->buf, gs->buf_cap) != len) rc = ED_ERR_INVAL;
    ed_free(r.members);
    ed_free(r.pos);
    ed_free(r.fly);
    if (rc == ED_OK) rc = put(gs, g, gs->buf, len);
    if (rc != ED_OK) {
        ED_LOG_WARN_RL("share group %s not saved: %s", g->filter, ed_strerror(rc));
        return;
    }
    g->dirty = false;
}

/* Ended groups' tombstones go first: a group of the same filter begun
 * since then is saved after them. */
static void save_all(ed_mqtt_share_logs *gs)
{
    for (struct dgroup **pp = &gs->groups; *pp;) {
        struct dgroup *g = *pp;
        if (!g->ended) {
            pp = &g->next;
            continue;
        }
        int rc = put(gs, g, NULL, 0);
        if (rc != ED_OK)
            ED_LOG_WARN_RL("share group %s not deleted from __mqtt_sessions: %s", g->filter,
                           ed_strerror(rc));
        *pp = g->next;
        group_free(g);
    }
    for (struct dgroup *g = gs->groups; g; g = g->next)
        if (g->dirty) save(gs, g);
}

static void on_save_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    save_all(arg);
}

static void changed(ed_mqtt_share_logs *gs, struct dgroup *g)
{
    g->dirty = true;
    ed_loop *loop = gs->m->b->loop;
    if (loop && !ed_plat_timer_armed(&gs->save_timer))
        ed_plat_timer_start(loop, &gs->save_timer, SAVE_DELAY_MS, on_save_timer, gs);
}

/* The group ends (its last persistent member left): its record is deleted
 * at the next save. Deliveries still in flight are the members' own,
 * acknowledged through their windows as usual. */
static void group_end(ed_mqtt_share_logs *gs, struct dgroup *g, const char *why)
{
    ED_LOG_INFO("share group %s ends: %s", g->filter, why);
    g->ended = true;
    changed(gs, g);
}

/* ---- delivering from the log ---- */

struct pump {
    ed_mqtt_share_logs *gs;
    struct dgroup *g;
    struct dpos *dp;
    const char *ktopic;
    int64_t want; /* >= 0: only this record, sent again (DUP) */
    bool stop, found;
};

/* Sends rec to the next member with room: false when none has room. */
static bool hand_out(struct pump *x, const struct ed_record *rec, const struct ed_mqtt_msg *msg)
{
    struct dgroup *g = x->g;
    struct ed_mqtt_origin o;
    ed_mqtt_origin_get(rec, &o);
    uint8_t qos = 0;
    uint16_t id = 0;
    bool retain = false;
    uint32_t sub_id = 0;
    ed_mqtt_conn *c = ed_mqtt_share_pick(x->gs->m, g->filter, g->len, &g->last, o.qos, o.retain,
                                         &qos, &id, &retain, &sub_id);
    if (!c) return false;
    bool dup = x->want >= 0;
    if (qos > 0 && ed_mqtt_gpos_sent(&x->dp->g, rec->offset, c, id) != ED_OK) {
        ed_mqtt_outq_find(c, id)->state = OUT_FREE;
        return false;
    }
    if (qos == 0) {
        for (uint32_t i = 0; dup && i < x->dp->g.n_fly; i++)
            if (x->dp->g.fly[i].offset == rec->offset) ed_mqtt_gpos_done(&x->dp->g, i);
        ed_mqtt_gpos_skip(&x->dp->g, rec->offset);
    }
    if (!ed_mqtt_session_send_msg(c, x->ktopic, rec, msg, qos, retain, &sub_id, sub_id ? 1 : 0, id,
                                  dup && qos > 0)) {
        /* over the member's Maximum Packet Size: given up (counted) */
        for (uint32_t i = 0; qos > 0 && i < x->dp->g.n_fly; i++)
            if (x->dp->g.fly[i].offset == rec->offset) ed_mqtt_gpos_done(&x->dp->g, i);
        if (id) ed_mqtt_outq_find(c, id)->state = OUT_FREE;
    }
    changed(x->gs, g);
    return true;
}

static int pump_record(void *arg, const struct ed_record *rec)
{
    struct pump *x = arg;
    struct ed_mqtt_gpos *gp = &x->dp->g;
    if (x->want >= 0) { /* a delivery sent again */
        if (rec->offset < x->want) return 0;
        x->found = rec->offset == x->want;
        if (!x->found) return 1;
    } else if (rec->offset < gp->read) {
        return 0;
    }
    struct ed_mqtt_msg msg;
    bool ok = ed_mqtt_session_msg_of(x->gs->m, x->ktopic, rec, x->gs->topic, &msg);
    /* a message whose expiry passed while the group waited is not
     * delivered; one in flight already is sent again as it is */
    if (!ok || (msg.expired && x->want < 0) ||
        !ed_mqtt_filter_match(x->g->inner.p, x->g->inner.len, msg.topic.p, msg.topic.len)) {
        if (x->want >= 0) {
            for (uint32_t i = 0; i < gp->n_fly; i++)
                if (gp->fly[i].offset == rec->offset) ed_mqtt_gpos_done(gp, i);
            changed(x->gs, x->g);
            return 1;
        }
        ed_mqtt_gpos_skip(gp, rec->offset);
        return 0;
    }
    if (!hand_out(x, rec, &msg)) {
        x->stop = true;
        return 1;
    }
    return x->want >= 0 ? 1 : 0;
}

/* Whether the group has a connected member. */
static bool has_member(ed_mqtt *m, const struct dgroup *g)
{
    for (const ed_mqtt_conn *c = m->conns; c; c = c->next) {
        if (!c->connected || c->closing) continue;
        for (int i = 0; i < c->n_subs; i++)
            if (c->subs[i].len == g->len && memcmp(c->subs[i].filter, g->filter, g->len) == 0)
                return true;
    }
    return false;
}

/* What retention deleted and what is over the backlog bound is skipped,
 * counted and logged. */
static void bound(ed_mqtt_share_logs *gs, struct dgroup *g, struct dpos *dp)
{
    ed_log *log = dp->p->log;
    int64_t end = ed_log_end_offset(log), start = ed_log_start_offset(log);
    uint64_t n = ed_mqtt_gpos_start_at(&dp->g, start);
    if (end - dp->g.read > gs->backlog_max) {
        n += (uint64_t)(end - gs->backlog_max - dp->g.read);
        dp->g.read = end - gs->backlog_max;
    }
    if (n) {
        gs->m->stats.n_dropped += n;
        ED_LOG_WARN_RL("share group %s: %" PRIu64 " records of %s-%d skipped while it waited "
                       "(mqtt.session.max.backlog.records %" PRId64 " per partition, or retention)",
                       g->filter, n, ed_topic_name(dp->p->topic), (int)dp->p->index,
                       gs->backlog_max);
        changed(gs, g);
    }
}

/* Sends g's deliveries going to nobody again, then reads on, while a
 * member has room: whether more remains. */
static bool pump_group(ed_mqtt_share_logs *gs, struct dgroup *g)
{
    if (g->ended || !has_member(gs->m, g)) return false;
    size_t budget = TURN_LEN;
    for (uint32_t i = 0; i < g->n_pos; i++) {
        struct dpos *dp = &g->pos[i];
        bound(gs, g, dp);
        struct pump x = {gs, g, dp, ed_topic_name(dp->p->topic), -1, false, false};
        struct ed_mqtt_gfly *f;
        int64_t at;
        while ((f = ed_mqtt_gpos_orphaned(&dp->g)) != NULL) {
            x.want = f->offset;
            x.found = false;
            int rc = ed_log_each_record_from(dp->p->log, f->offset, READ_LEN, READ_LEN, pump_record,
                                             &x, NULL, &at);
            if (x.stop) return false;      /* no member has room */
            if (rc != ED_OK || !x.found) { /* gone: nothing to send again */
                f = ed_mqtt_gpos_orphaned(&dp->g);
                if (f && f->offset == x.want) ed_mqtt_gpos_done(&dp->g, (uint32_t)(f - dp->g.fly));
                changed(gs, g);
            }
        }
        x.want = -1;
        int64_t end = ed_log_end_offset(dp->p->log), before = dp->g.read;
        if (before >= end) continue;
        if (budget == 0) return true;
        at = before;
        int rc = ed_log_each_record_from(dp->p->log, before, budget, READ_LEN, pump_record, &x,
                                         NULL, &at);
        if (rc != ED_OK) {
            ED_LOG_WARN_RL("share group %s: delivery from %s-%d at %" PRId64 " skips to %" PRId64
                           ": %s",
                           g->filter, x.ktopic, (int)dp->p->index, before, end, ed_strerror(rc));
            at = end;
        }
        if (x.stop) return false;
        if (at > dp->g.read) {
            dp->g.read = at;
            changed(gs, g);
        }
        budget -= ED_MIN(budget, (size_t)READ_LEN);
        if (dp->g.read < end) return true;
    }
    return false;
}

static void on_pump_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mqtt_share_logs *gs = arg;
    bool more = false;
    for (struct dgroup *g = gs->groups; g; g = g->next)
        more |= pump_group(gs, g);
    for (ed_mqtt_conn *c = gs->m->conns; c; c = c->next)
        ed_mqtt_out_flush(c);
    if (more) ed_mqtt_share_log_pump_soon(gs->m);
}

void ed_mqtt_share_log_pump_soon(ed_mqtt *m)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    if (gs && gs->groups && m->b->loop && !ed_plat_timer_armed(&gs->pump_timer))
        ed_plat_timer_start(m->b->loop, &gs->pump_timer, 0, on_pump_timer, gs);
}

/* ---- members ---- */

/* Whether c still owes the acknowledgement of delivery f (QoS 1: PUBACK;
 * QoS 2: PUBREC, after which the message is the member's). */
static bool owed(ed_mqtt_conn *c, const struct ed_mqtt_gfly *f)
{
    const struct outq *q = ed_mqtt_outq_find(c, f->id);
    return q && q->p == NULL && (q->state == OUT_PUBACK || q->state == OUT_PUBREC);
}

void ed_mqtt_share_log_release(ed_mqtt_conn *c)
{
    ed_mqtt_share_logs *gs = c->m->share_logs;
    bool any = false;
    for (struct dgroup *g = gs ? gs->groups : NULL; g; g = g->next)
        for (uint32_t i = 0; i < g->n_pos; i++) {
            struct ed_mqtt_gpos *gp = &g->pos[i].g;
            for (uint32_t k = 0; k < gp->n_fly;)
                if (gp->fly[k].to == c && !owed(c, &gp->fly[k])) {
                    ed_mqtt_gpos_done(gp, k);
                    changed(gs, g);
                    any = true;
                } else {
                    k++;
                }
        }
    if (any) ed_mqtt_share_log_pump_soon(c->m);
}

void ed_mqtt_share_log_leave(ed_mqtt_conn *c)
{
    ed_mqtt_share_logs *gs = c->m->share_logs;
    if (!gs) return;
    ed_mqtt_share_log_release(c); /* what it acknowledged is done */
    for (struct dgroup *g = gs->groups; g; g = g->next) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < g->n_pos; i++)
            n += ed_mqtt_gpos_orphan(&g->pos[i].g, c);
        if (n)
            ED_LOG_INFO("%" PRIu32 " unacknowledged deliver%s of share group %s to %s go to "
                        "another member",
                        n, n == 1 ? "y" : "ies", g->filter, c->client_id ? c->client_id : c->peer);
        if (g->last == c) g->last = NULL;
    }
    ed_mqtt_share_log_pump_soon(c->m);
}

struct snap {
    struct dgroup *g;
    bool ok;
};

/* A new group starts at the end of every partition. */
static void snap_topic(void *arg, ed_topic *topic)
{
    struct snap *sn = arg;
    if (ed_topic_is_internal(topic)) return;
    for (int32_t i = 0; i < ed_topic_n_partitions(topic); i++) {
        ed_partition *p = ed_topic_partition(topic, i);
        if (p && !pos_add(sn->g, p, ed_log_end_offset(p->log))) sn->ok = false;
    }
}

static struct dgroup *join(ed_mqtt_share_logs *gs, const ed_mqtt_conn *c, const struct sub *s)
{
    struct dgroup *g = find(gs, s->filter, s->len);
    bool fresh = !g;
    if (fresh) {
        g = group_new(gs, s->filter, s->len);
        struct snap sn = {g, true};
        if (g) ed_topics_each(gs->m->b->topics, snap_topic, &sn);
        if (g && !sn.ok) {
            gs->groups = g->next;
            group_free(g);
            g = NULL;
        }
    }
    int rc = g ? member_add(g, c->client_id, strlen(c->client_id)) : ED_ERR_NOMEM;
    if (rc != ED_OK) {
        ED_LOG_WARN_RL("MQTT client %s: share group %s not kept for its session: %s", c->client_id,
                       s->filter, ed_strerror(rc));
        if (g && fresh && g->n_members == 0) {
            gs->groups = g->next;
            group_free(g);
        }
        return NULL;
    }
    if (fresh) ED_LOG_INFO("share group %s is kept across connections", g->filter);
    return g;
}

void ed_mqtt_share_log_sync(ed_mqtt_conn *c)
{
    ed_mqtt_share_logs *gs = c->m->share_logs;
    if (!gs || !c->sess || !c->client_id || !c->m->b->topics) return;
    for (int i = 0; i < c->n_subs; i++) {
        struct ed_mqtt_bytes inner;
        const struct sub *s = &c->subs[i];
        if (!ed_mqtt_share_split((const uint8_t *)s->filter, s->len, &inner)) continue;
        struct dgroup *g = join(gs, c, s);
        /* a new group or member is written at once, not batched: messages
         * published from now on are the group's, also after a crash */
        if (g && g->dirty) save(gs, g);
    }
    size_t id_len = strlen(c->client_id);
    for (struct dgroup *g = gs->groups, *next; g; g = next) {
        next = g->next;
        int k = g->ended ? -1 : member_index(g, c->client_id, id_len);
        bool holds = false;
        for (int i = 0; k >= 0 && i < c->n_subs && !holds; i++)
            holds = c->subs[i].len == g->len && memcmp(c->subs[i].filter, g->filter, g->len) == 0;
        if (k < 0 || holds) continue;
        member_del(g, (uint32_t)k);
        if (g->n_members == 0)
            group_end(gs, g, "its last persistent member unsubscribed");
        else
            changed(gs, g);
    }
    ed_mqtt_share_log_pump_soon(c->m);
}

void ed_mqtt_share_log_forget(ed_mqtt *m, const char *id)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    size_t len = strlen(id);
    for (struct dgroup *g = gs ? gs->groups : NULL, *next; g; g = next) {
        next = g->next;
        int k = g->ended ? -1 : member_index(g, id, len);
        if (k < 0) continue;
        member_del(g, (uint32_t)k);
        if (g->n_members == 0)
            group_end(gs, g, "the session of its last persistent member ended");
        else
            changed(gs, g);
    }
}

/* ---- partitions ---- */

void ed_mqtt_share_log_appended(ed_mqtt *m, ed_partition *p)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    if (!gs || !gs->groups) return;
    for (struct dgroup *g = gs->groups; g; g = g->next)
        if (!pos_find(g, p) && !pos_add(g, p, ed_log_start_offset(p->log)))
            ED_LOG_WARN_RL("share group %s: no memory for a position in %s-%d", g->filter,
                           ed_topic_name(p->topic), (int)p->index);
    ed_mqtt_share_log_pump_soon(m);
}

void ed_mqtt_share_log_removed(ed_mqtt *m, ed_partition *p)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    for (struct dgroup *g = gs ? gs->groups : NULL; g; g = g->next) {
        struct dpos *dp = pos_find(g, p);
        if (!dp) continue;
        ed_mqtt_gpos_free(&dp->g);
        *dp = g->pos[--g->n_pos];
        changed(gs, g);
    }
}

/* ---- loading ---- */

int ed_mqtt_share_log_load(ed_mqtt *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                           int64_t value_len)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    const char *f = (const char *)key + 1;
    size_t len = key_len - 1;
    struct ed_mqtt_bytes inner;
    if (!gs || key_len < 2 || key[0] != 0 || !ed_mqtt_share_split(key + 1, len, &inner))
        return ED_ERR_CORRUPT;
    struct dgroup *g = find(gs, f, len);
    if (g) { /* a later record replaces it */
        for (struct dgroup **pp = &gs->groups; *pp; pp = &(*pp)->next)
            if (*pp == g) {
                *pp = g->next;
                break;
            }
        group_free(g);
    }
    if (value_len < 0) return ED_OK;
    struct ed_mqtt_grp_rec r;
    const char *why;
    int rc = ed_mqtt_group_decode(value, (size_t)value_len, &r, &why);
    if (rc != ED_OK) return rc;
    g = group_new(gs, f, len);
    if (!g) rc = ED_ERR_NOMEM;
    for (uint16_t i = 0; rc == ED_OK && i < r.n_members; i++)
        rc = member_add(g, (const char *)r.members[i].id, r.members[i].len);
    char name[256];
    for (uint32_t i = 0; rc == ED_OK && i < r.n_pos; i++) {
        const struct ed_mqtt_grp_pos *q = &r.pos[i];
        memcpy(name, q->topic, q->topic_len);
        name[q->topic_len] = 0;
        ed_topic *t = ed_topics_find(m->b->topics, name);
        ed_partition *p =
            t && !ed_topic_is_internal(t) ? ed_topic_partition(t, q->partition) : NULL;
        if (!p) continue; /* deleted meanwhile */
        struct dpos *dp = pos_add(g, p, q->read);
        if (!dp) rc = ED_ERR_NOMEM;
        /* in flight when Eddy stopped: to nobody, sent again with DUP */
        for (uint16_t k = 0; rc == ED_OK && k < q->n_fly; k++)
            rc = ed_mqtt_gpos_sent(&dp->g, r.fly[q->fly_at + k], NULL, 0);
    }
    ed_mqtt_group_free(&r);
    if (g) g->dirty = false;
    if (rc != ED_OK && g) {
        gs->groups = g->next;
        group_free(g);
    }
    return rc;
}

struct newer {
    struct dgroup *g;
};

/* Partitions created after the group's last save: from their start. */
static void newer_topic(void *arg, ed_topic *topic)
{
    struct newer *nw = arg;
    if (ed_topic_is_internal(topic)) return;
    for (int32_t i = 0; i < ed_topic_n_partitions(topic); i++) {
        ed_partition *p = ed_topic_partition(topic, i);
        if (p && !pos_find(nw->g, p)) pos_add(nw->g, p, ed_log_start_offset(p->log));
    }
}

void ed_mqtt_share_log_loaded(ed_mqtt *m)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    for (struct dgroup *g = gs ? gs->groups : NULL, *next; g; g = next) {
        next = g->next;
        if (g->ended) continue;
        for (uint32_t i = 0; i < g->n_members;)
            if (!ed_mqtt_session_exists(m, g->members[i]))
                member_del(g, i);
            else
                i++;
        if (g->n_members == 0) {
            group_end(gs, g, "no session of a persistent member remains");
            continue;
        }
        struct newer nw = {g};
        ed_topics_each(m->b->topics, newer_topic, &nw);
        if (g->dirty) changed(gs, g);
    }
}

int ed_mqtt_share_log_open(ed_mqtt *m, const struct ed_config *cfg)
{
    ed_mqtt_share_logs *gs = ed_calloc(1, sizeof *gs);
    if (!gs) return ED_ERR_NOMEM;
    m->share_logs = gs;
    gs->m = m;
    gs->backlog_max = cfg->mqtt_session_max_backlog_records;
    gs->topic = ed_malloc(65535);
    return gs->topic ? ED_OK : ED_ERR_NOMEM;
}

void ed_mqtt_share_log_close(ed_mqtt *m)
{
    ed_mqtt_share_logs *gs = m->share_logs;
    if (!gs) return;
    if (m->b->loop) {
        ed_plat_timer_stop(m->b->loop, &gs->pump_timer);
        ed_plat_timer_stop(m->b->loop, &gs->save_timer);
    }
    save_all(gs); /* a clean stop keeps the latest state */
    for (struct dgroup *g = gs->groups; g; g = gs->groups) {
        gs->groups = g->next;
        group_free(g);
    }
    ed_free(gs->buf);
    ed_free(gs->topic);
    ed_free(gs);
    m->share_logs = NULL;
}
