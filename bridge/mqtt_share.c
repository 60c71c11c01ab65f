/* MQTT shared subscriptions ($share/{ShareName}/{filter}, MQTT 5 section
 * 4.8.2, taken from MQTT 3.1.1 clients too): each message matching a share
 * group goes to exactly one of its connected members, round-robin among
 * those with room in their window. A group is every connected session
 * holding the same $share filter (membership is read from the sessions'
 * subscriptions, so SUBSCRIBE, UNSUBSCRIBE and a resumed persistent session
 * need no bookkeeping here); it exists while it has members or messages.
 * A group with a persistent member is durable and delivered from the log
 * instead (mqtt_share_log.c): the live path here passes it over.
 * Messages wait in the group's queue (bounded like a subscriber's queue)
 * until a member has room; QoS 1/2 deliveries stay copied until the member
 * acknowledges (PUBACK, or PUBREC for QoS 2), and those a member had not
 * acknowledged when its connection ended go to another member. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_int.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <string.h>

#define SHARE_PREFIX     "$share/"
#define SHARE_PREFIX_LEN 7

/* A message of a group: queued (to NULL) or in flight to member to under
 * packet id id. */
struct smsg {
    struct smsg *next;
    const ed_mqtt_conn *to;
    uint16_t id;
    uint8_t qos; /* the publish's; in flight: as delivered */
    bool retain; /* the publish's RETAIN (passed on with Retain As Published) */
    struct ed_mqtt_packed k;
    uint8_t data[];
};

struct group {
    struct group *next;
    char *filter; /* the whole "$share/name/filter" */
    size_t len;
    struct smsg *q, *q_tail; /* queued, oldest first */
    uint32_t n_q;
    size_t q_len;
    struct smsg *fly;         /* in flight */
    const ed_mqtt_conn *last; /* the member that took the last message */
    uint64_t stamp;           /* the delivery that last queued here */
};

struct ed_mqtt_share {
    struct group *groups;
    uint64_t stamp;
    bool busy, again; /* dispatching; a nested delivery queued meanwhile */
};

static size_t msg_len(const struct smsg *s)
{
    return ed_mqtt_packed_len(&s->k);
}

bool ed_mqtt_share_is(const uint8_t *f, size_t len)
{
    return len >= SHARE_PREFIX_LEN && memcmp(f, SHARE_PREFIX, SHARE_PREFIX_LEN) == 0;
}

bool ed_mqtt_share_split(const uint8_t *f, size_t len, struct ed_mqtt_bytes *inner)
{
    if (!ed_mqtt_share_is(f, len)) return false;
    const uint8_t *name = f + SHARE_PREFIX_LEN;
    size_t rest = len - SHARE_PREFIX_LEN;
    const uint8_t *slash = memchr(name, '/', rest);
    if (!slash || slash == name) return false;
    if (memchr(name, '+', (size_t)(slash - name)) || memchr(name, '#', (size_t)(slash - name)))
        return false;
    size_t n = rest - (size_t)(slash + 1 - name);
    if (n == 0 || !ed_mqtt_filter_ok(slash + 1, n)) return false;
    *inner = (struct ed_mqtt_bytes){slash + 1, n};
    return true;
}

/* The subscription of c to $share filter f (NULL: c is no connected
 * member). */
static const struct sub *member_sub(const ed_mqtt_conn *c, const char *f, size_t len)
{
    if (!c->connected || c->closing) return NULL;
    for (int i = 0; i < c->n_subs; i++)
        if (c->subs[i].len == len && memcmp(c->subs[i].filter, f, len) == 0) return &c->subs[i];
    return NULL;
}

static ed_mqtt_share *share_of(ed_mqtt *m)
{
    if (!m->share) m->share = ed_calloc(1, sizeof *m->share);
    return m->share;
}

static struct group *group_of(ed_mqtt_share *sh, const char *f, size_t len)
{
    for (struct group *g = sh->groups; g; g = g->next)
        if (g->len == len && memcmp(g->filter, f, len) == 0) return g;
    struct group *g = ed_calloc(1, sizeof *g);
    char *filter = g ? ed_strndup(f, len) : NULL;
    if (!filter) {
        ed_free(g);
        return NULL;
    }
    g->filter = filter;
    g->len = len;
    g->next = sh->groups;
    sh->groups = g;
    return g;
}

static void lost(ed_mqtt *m, const struct group *g, uint32_t n, const char *why)
{
    m->stats.n_dropped += n;
    ED_LOG_WARN_RL("dropped %" PRIu32 " deliver%s to shared subscription %.*s: %s", n,
                   n == 1 ? "y" : "ies", (int)ED_MIN(g->len, 200), g->filter, why);
}

static void push(struct group *g, struct smsg *s, bool front)
{
    s->to = NULL;
    s->id = 0;
    if (front) {
        s->next = g->q;
        g->q = s;
        if (!g->q_tail) g->q_tail = s;
    } else {
        s->next = NULL;
        if (g->q_tail)
            g->q_tail->next = s;
        else
            g->q = s;
        g->q_tail = s;
    }
    g->n_q++;
    g->q_len += msg_len(s);
}

ed_mqtt_conn *ed_mqtt_share_pick(ed_mqtt *m, const char *f, size_t len, const ed_mqtt_conn **last,
                                 uint8_t qos_in, bool retain_in, uint8_t *qos, uint16_t *id,
                                 bool *retain, uint32_t *sub_id)
{
    ed_mqtt_conn *start = m->conns;
    for (ed_mqtt_conn *c = m->conns; c && *last; c = c->next)
        if (c == *last) {
            start = c->next ? c->next : m->conns;
            break;
        }
    ed_mqtt_conn *c = start;
    do {
        if (!c) break;
        const struct sub *sub = member_sub(c, f, len);
        if (sub) {
            *qos = (uint8_t)ED_MIN(qos_in, sub->qos);
            *retain = retain_in && sub->rap;
            *sub_id = sub->sub_id;
            /* behind the member's own deliveries waiting for its window */
            if (*qos == 0 || (!c->held && ed_mqtt_outq_take(c, *qos == 1 ? OUT_PUBACK : OUT_PUBREC,
                                                            id) == ED_OK)) {
                *last = c;
                return c;
            }
        }
        c = c->next ? c->next : m->conns;
    } while (c != start);
    return NULL;
}

static bool any_member(const ed_mqtt *m, const struct group *g)
{
    for (const ed_mqtt_conn *c = m->conns; c; c = c->next)
        if (member_sub(c, g->filter, g->len)) return true;
    return false;
}

/* Sends g's queued messages to members while one has room. */
static void dispatch(ed_mqtt *m, struct group *g)
{
    while (g->q) {
        struct smsg *s = g->q;
        uint8_t qos = 0;
        uint16_t id = 0;
        bool retain = false;
        uint32_t sub_id = 0;
        ed_mqtt_conn *c = ed_mqtt_share_pick(m, g->filter, g->len, &g->last, s->qos, s->retain,
                                             &qos, &id, &retain, &sub_id);
        if (!c) return;
        g->q = s->next;
        if (!g->q) g->q_tail = NULL;
        g->n_q--;
        g->q_len -= msg_len(s);
        struct ed_mqtt_bytes topic = ed_mqtt_packed_topic(&s->k, s->data);
        /* the member's $share subscription's identifier (MQTT 5.0, 3.3.4) */
        struct ed_mqtt_bytes props = ed_mqtt_packed_props(&s->k, s->data);
        if (c->level != 5) props.len = 0;
        struct ed_mqtt_subid_buf sb;
        props = ed_mqtt_subid_props(&sb, props, &sub_id, c->level == 5 && sub_id);
        struct ed_mqtt_bytes payload = ed_mqtt_packed_payload(&s->k, s->data);
        size_t total = ed_mqtt_publish_len(c->level, qos, topic.len, props.len, payload.len);
        if (total == SIZE_MAX || (c->client_max_packet && total > c->client_max_packet)) {
            /* MQTT-3.1.2-25: a packet over the client's maximum is discarded */
            ed_mqtt_subid_done(&sb);
            if (id) ed_mqtt_outq_find(c, id)->state = OUT_FREE;
            lost(m, g, 1, "over the Maximum Packet Size of the member it went to");
            ed_free(s);
            continue;
        }
        if (qos > 0) {
            s->to = c;
            s->id = id;
            s->qos = qos;
            s->next = g->fly;
            g->fly = s;
        }
        ed_mqtt_send_publish(c, topic, payload, props, qos, retain, false, id);
        ed_mqtt_subid_done(&sb);
        if (qos == 0) ed_free(s);
    }
}

static void dispatch_all(ed_mqtt *m)
{
    ed_mqtt_share *sh = m->share;
    if (!sh) return;
    if (sh->busy) { /* a delivery made while sending (a will): the loop below takes it */
        sh->again = true;
        return;
    }
    sh->busy = true;
    do {
        sh->again = false;
        for (struct group *g = sh->groups; g; g = g->next)
            dispatch(m, g);
    } while (sh->again);
    sh->busy = false;
}

void ed_mqtt_share_deliver(ed_mqtt *m, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                           struct ed_mqtt_bytes props, uint8_t qos, bool retain)
{
    ed_mqtt_share *sh = NULL;
    uint64_t stamp = 0;
    bool queued = false;
    for (ed_mqtt_conn *c = m->conns; c; c = c->next) {
        for (int i = 0; c->connected && !c->closing && i < c->n_subs; i++) {
            const struct sub *sub = &c->subs[i];
            struct ed_mqtt_bytes inner;
            /* a durable group reads the log (mqtt_share_log.c) */
            if (!ed_mqtt_share_split((const uint8_t *)sub->filter, sub->len, &inner) ||
                !ed_mqtt_filter_match(inner.p, inner.len, topic.p, topic.len) ||
                ed_mqtt_share_log_has(m, sub->filter, sub->len))
                continue;
            if (!sh) {
                sh = share_of(m);
                if (!sh) {
                    m->stats.n_dropped++;
                    ED_LOG_WARN_RL("dropped a delivery to shared subscriptions: %s",
                                   ed_strerror(ED_ERR_NOMEM));
                    return;
                }
                stamp = ++sh->stamp;
            }
            struct group *g = group_of(sh, sub->filter, sub->len);
            if (!g) {
                m->stats.n_dropped++;
                ED_LOG_WARN_RL("dropped a delivery to shared subscription %s: %s", sub->filter,
                               ed_strerror(ED_ERR_NOMEM));
                continue;
            }
            if (g->stamp == stamp) continue; /* once per group */
            g->stamp = stamp;
            const struct ed_mqtt_limits *lim = &m->lim;
            size_t len = topic.len + props.len + payload.len;
            if (g->n_q >= lim->n_queued_max ||
                len > lim->queued_max_len - ED_MIN(g->q_len, lim->queued_max_len)) {
                lost(m, g, 1,
                     "its queue is full (mqtt.max.queued.messages, mqtt.max.queued.bytes): no "
                     "member has room in its window");
                continue;
            }
            struct smsg *s = ed_malloc(sizeof *s + len);
            if (!s) {
                lost(m, g, 1, "out of memory to hold it");
                continue;
            }
            memset(s, 0, sizeof *s);
            s->qos = qos;
            s->retain = retain;
            ed_mqtt_pack(&s->k, s->data, topic, props, payload);
            push(g, s, false);
            queued = true;
        }
    }
    if (queued) dispatch_all(m);
}

/* Whether c still owes the acknowledgement of s (QoS 1: PUBACK; QoS 2:
 * PUBREC, after which the message is the member's). */
static bool unacked(ed_mqtt_conn *c, const struct smsg *s)
{
    const struct outq *q = ed_mqtt_outq_find(c, s->id);
    return q && q->p == NULL && q->state == (s->qos == 1 ? OUT_PUBACK : OUT_PUBREC);
}

void ed_mqtt_share_release(ed_mqtt_conn *c)
{
    ed_mqtt_share_log_release(c);
    ed_mqtt_share *sh = c->m->share;
    if (!sh) return;
    for (struct group *g = sh->groups; g; g = g->next)
        for (struct smsg **pp = &g->fly; *pp;) {
            struct smsg *s = *pp;
            if (s->to == c && !unacked(c, s)) {
                *pp = s->next;
                ed_free(s);
            } else {
                pp = &s->next;
            }
        }
    dispatch_all(c->m);
}

/* Frees g when nobody is a member and nothing waits in it. */
static void collect(ed_mqtt *m)
{
    ed_mqtt_share *sh = m->share;
    for (struct group **pp = &sh->groups; *pp;) {
        struct group *g = *pp;
        if (!g->q && !g->fly && !any_member(m, g)) {
            *pp = g->next;
            ed_free(g->filter);
            ed_free(g);
        } else {
            pp = &g->next;
        }
    }
}

/* Whether c holds a shared subscription or a group's delivery. */
static bool involved(const ed_mqtt_conn *c)
{
    for (int i = 0; i < c->n_subs; i++)
        if (ed_mqtt_share_is((const uint8_t *)c->subs[i].filter, c->subs[i].len)) return true;
    for (const struct group *g = c->m->share->groups; g; g = g->next)
        for (const struct smsg *s = g->fly; s; s = s->next)
            if (s->to == c) return true;
    return false;
}

void ed_mqtt_share_leave(ed_mqtt_conn *c)
{
    ed_mqtt_share_log_leave(c);
    ed_mqtt *m = c->m;
    ed_mqtt_share *sh = m->share;
    if (!sh || !involved(c)) return;
    for (struct group *g = sh->groups; g; g = g->next) {
        /* in flight to c and not acknowledged: back to the front of the
         * queue, oldest first (the in-flight list is newest first) */
        struct smsg *back = NULL;
        uint32_t n_back = 0;
        for (struct smsg **pp = &g->fly; *pp;) {
            struct smsg *s = *pp;
            if (s->to != c) {
                pp = &s->next;
                continue;
            }
            *pp = s->next;
            if (c->outq && unacked(c, s)) {
                s->next = back;
                back = s;
                n_back++;
            } else {
                ed_free(s);
            }
        }
        while (back) {
            struct smsg *s = back;
            back = s->next;
            push(g, s, true);
        }
        if (n_back)
            ED_LOG_INFO("%" PRIu32 " unacknowledged deliver%s of shared subscription %.*s to %s "
                        "go to another member",
                        n_back, n_back == 1 ? "y" : "ies", (int)ED_MIN(g->len, 200), g->filter,
                        c->client_id ? c->client_id : c->peer);
        if (g->last == c) g->last = NULL;
    }
    dispatch_all(m);
    collect(m);
}

void ed_mqtt_share_unsubscribed(ed_mqtt_conn *c)
{
    if (c->sess) ed_mqtt_share_log_sync(c);
    if (c->m->share) collect(c->m);
}

void ed_mqtt_share_subscribed(ed_mqtt_conn *c)
{
    if (c->sess) ed_mqtt_share_log_sync(c);
    ed_mqtt_share_log_pump_soon(c->m);
    dispatch_all(c->m);
}

void ed_mqtt_share_close(ed_mqtt *m)
{
    ed_mqtt_share *sh = m->share;
    if (!sh) return;
    while (sh->groups) {
        struct group *g = sh->groups;
        sh->groups = g->next;
        uint32_t n = g->n_q;
        for (struct smsg *s = g->fly; s; s = g->fly) {
            g->fly = s->next;
            ed_free(s);
            n++;
        }
        for (struct smsg *s = g->q; s; s = g->q) {
            g->q = s->next;
            ed_free(s);
        }
        if (n) lost(m, g, n, "the listener closed before a member took them");
        ed_free(g->filter);
        ed_free(g);
    }
    ed_free(sh);
    m->share = NULL;
}
