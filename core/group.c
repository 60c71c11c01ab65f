/* The classic group protocol's state machine: member lifecycle (member-id
 * handshake, static members replacing their old id, fencing), JoinGroup
 * collection and completion with the protocol vote, SyncGroup distribution
 * of the leader's assignments, heartbeats, leaves, and the deadlines that
 * drive it (session expiry, rebalance and sync timeouts, the initial
 * rebalance delay of an empty group), all on one timer of the broker's
 * loop. Outcomes of JoinGroup and SyncGroup go to the caller's completion
 * callback, at once or when the rebalance completes. Rebalance rules follow
 * Kafka's classic GroupCoordinator so that every client-side assignor works
 * unchanged. */
#define ED_LOG_MODULE "group"
#include "core/group_int.h"
#include "core/kafka/errors.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void prepare_rebalance(ed_groups *g, struct ed_group *grp, const char *why);
static void try_complete_join(ed_groups *g, struct ed_group *grp);

/* ---- outcomes ---- */

static void join_error(const struct ed_gjoin_waiter *w, int16_t err, const char *member_id)
{
    struct ed_gjoin_result r = {0};
    r.error = err;
    r.generation = -1;
    r.leader = "";
    r.member_id = member_id ? member_id : "";
    w->done(w->cookie, &r);
}

/* Answers a parked JoinGroup with an error. */
static void join_fail(struct ed_gmember *m, int16_t err)
{
    struct ed_gjoin_waiter w = m->join;
    if (!w.cookie) return;
    m->join.cookie = NULL;
    join_error(&w, err, m->id);
}

static void sync_fail(struct ed_gmember *m, int16_t err)
{
    struct ed_gsync_waiter w = m->sync;
    if (!w.cookie) return;
    m->sync.cookie = NULL;
    struct ed_gsync_result r = {err, NULL, NULL, NULL, 0};
    w.done(w.cookie, &r);
}

void ed_gmember_fail(struct ed_gmember *m, int16_t err)
{
    join_fail(m, err);
    sync_fail(m, err);
}

/* The JoinGroup answer of a member in the current generation. */
static void join_success(struct ed_group *grp, struct ed_gmember *m,
                         const struct ed_gjoin_waiter *w, bool with_members, bool skip_assignment)
{
    struct ed_gjoin_result r = {0};
    r.error = ED_KERR_NONE;
    r.generation = grp->generation;
    r.protocol_type = grp->protocol_type;
    r.protocol = grp->protocol;
    r.leader = grp->leader ? grp->leader : "";
    r.member_id = m->id;
    r.skip_assignment = skip_assignment;
    r.members_of = with_members ? grp : NULL;
    w->done(w->cookie, &r);
}

void ed_groups_cancel(ed_groups *g, void *cookie)
{
    if (!g || !cookie) return;
    for (int32_t i = 0; i < g->n_groups; i++)
        for (struct ed_gmember *m = g->groups[i]->members; m; m = m->next) {
            if (m->join.cookie == cookie) m->join.cookie = NULL;
            if (m->sync.cookie == cookie) m->sync.cookie = NULL;
        }
}

static void park_join(struct ed_gmember *m, const struct ed_gjoin_waiter *w)
{
    /* A client never has two joins in flight unless it lost the first
     * connection's answer: the old one learns the rebalance goes on. */
    join_fail(m, ED_KERR_REBALANCE_IN_PROGRESS);
    m->join = *w;
}

static void park_sync(struct ed_gmember *m, const struct ed_gsync_waiter *w)
{
    sync_fail(m, ED_KERR_REBALANCE_IN_PROGRESS);
    m->sync = *w;
}

/* ---- members ---- */

static char *new_member_id(const char *prefix, size_t prefix_len)
{
    uint8_t u[16];
    ed_plat_random(u, sizeof u);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    if (prefix_len > 200) prefix_len = 200;
    char *s = ed_malloc(prefix_len + 1 + 36 + 1);
    if (!s) return NULL;
    memcpy(s, prefix, prefix_len);
    char *o = s + prefix_len;
    *o++ = '-';
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    *o = '\0';
    return s;
}

static int set_protocols(struct ed_gmember *m, const struct ed_gjoin_args *a)
{
    struct ed_gproto *p = ed_calloc((size_t)a->n_protocols, sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    int32_t i;
    for (i = 0; i < a->n_protocols; i++) {
        p[i].name = ed_gstr_dup(a->proto_names[i]);
        int32_t len = a->proto_metas[i].len < 0 ? 0 : a->proto_metas[i].len;
        p[i].meta = ed_malloc(len ? (size_t)len : 1);
        if (!p[i].name || !p[i].meta) break;
        if (len) memcpy(p[i].meta, a->proto_metas[i].p, (size_t)len);
        p[i].meta_len = len;
    }
    if (i < a->n_protocols) {
        for (int32_t k = 0; k <= i && k < a->n_protocols; k++) {
            ed_free(p[k].name);
            ed_free(p[k].meta);
        }
        ed_free(p);
        return ED_ERR_NOMEM;
    }
    for (int32_t k = 0; k < m->n_protocols; k++) {
        ed_free(m->protocols[k].name);
        ed_free(m->protocols[k].meta);
    }
    ed_free(m->protocols);
    m->protocols = p;
    m->n_protocols = a->n_protocols;
    return ED_OK;
}

static bool same_protocols(const struct ed_gmember *m, const struct ed_gjoin_args *a)
{
    if (m->n_protocols != a->n_protocols) return false;
    for (int32_t i = 0; i < a->n_protocols; i++) {
        const struct ed_gproto *p = &m->protocols[i];
        int32_t len = a->proto_metas[i].len < 0 ? 0 : a->proto_metas[i].len;
        if (!ed_gstr_eq(p->name, a->proto_names[i]) || p->meta_len != len ||
            (len && memcmp(p->meta, a->proto_metas[i].p, (size_t)len) != 0))
            return false;
    }
    return true;
}

static bool member_supports(const struct ed_gmember *m, ed_gstr name)
{
    for (int32_t i = 0; i < m->n_protocols; i++)
        if (ed_gstr_eq(m->protocols[i].name, name)) return true;
    return false;
}

/* Kafka's supportsProtocols: an empty group takes any non-empty type and
 * list; otherwise the type must match and one protocol must be supported
 * by every member. */
static bool supports_protocols(const struct ed_group *grp, const struct ed_gjoin_args *a)
{
    if (a->protocol_type.len <= 0 || a->n_protocols <= 0) return false;
    if (grp->n_members == 0) return true;
    if (!grp->protocol_type || !ed_gstr_eq(grp->protocol_type, a->protocol_type)) return false;
    for (int32_t i = 0; i < a->n_protocols; i++) {
        bool all = true;
        for (const struct ed_gmember *m = grp->members; m && all; m = m->next)
            all = member_supports(m, a->proto_names[i]);
        if (all) return true;
    }
    return false;
}

static void fill_member(ed_groups *g, struct ed_gmember *m, const struct ed_gjoin_args *a)
{
    m->session_timeout_ms = a->session_timeout_ms;
    m->rebalance_timeout_ms = a->rebalance_timeout_ms;
    m->seen_ms = ed_groups_mono(g);
    if (!m->client_id)
        m->client_id = ed_gstr_dup(a->client_id.len < 0 ? ed_gstr_z("") : a->client_id);
    if (!m->client_host)
        m->client_host = ed_gstr_dup(a->client_host.len < 0 ? ed_gstr_z("") : a->client_host);
}

static void unlink_member(struct ed_group *grp, struct ed_gmember *m)
{
    for (struct ed_gmember **pp = &grp->members; *pp; pp = &(*pp)->next) {
        if (*pp != m) continue;
        *pp = m->next;
        grp->n_members--;
        break;
    }
    if (grp->leader && strcmp(grp->leader, m->id) == 0) {
        ed_free(grp->leader);
        grp->leader = grp->members ? ed_strdup(grp->members->id) : NULL;
    }
}

/* Drops a member that did not join or sync (what) before the rebalance's
 * deadline; its parked requests are answered UNKNOWN_MEMBER_ID. */
static void expire_member(ed_groups *g, struct ed_group *grp, struct ed_gmember *m,
                          const char *what)
{
    ED_LOG_INFO("group %s: member %s did not %s in time", grp->id, m->id, what);
    g->stats.n_expired++;
    join_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
    sync_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
    unlink_member(grp, m);
    ed_gmember_free(m);
}

/* Kafka's removeMemberAndUpdateGroup. */
static void remove_member(ed_groups *g, struct ed_group *grp, struct ed_gmember *m, const char *why)
{
    ED_LOG_INFO("group %s: member %s leaves (%s), generation %" PRId32, grp->id, m->id, why,
                grp->generation);
    join_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
    sync_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
    unlink_member(grp, m);
    ed_gmember_free(m);
    switch (grp->state) {
    case ED_GS_STABLE:
    case ED_GS_COMPLETING:
        prepare_rebalance(g, grp, why);
        break;
    case ED_GS_PREPARING:
        try_complete_join(g, grp);
        break;
    default:
        break;
    }
}

static void remove_pending(struct ed_group *grp, struct ed_gpending *p)
{
    for (struct ed_gpending **pp = &grp->pending; *pp; pp = &(*pp)->next) {
        if (*pp != p) continue;
        *pp = p->next;
        grp->n_pending--;
        break;
    }
    ed_free(p->id);
    ed_free(p);
}

static struct ed_gpending *find_pending(struct ed_group *grp, ed_gstr id)
{
    for (struct ed_gpending *p = grp->pending; p; p = p->next)
        if (ed_gstr_eq(p->id, id)) return p;
    return NULL;
}

/* ---- rebalance ---- */

static int32_t max_rebalance_timeout(const struct ed_group *grp)
{
    int32_t t = 0;
    for (const struct ed_gmember *m = grp->members; m; m = m->next)
        if (m->rebalance_timeout_ms > t) t = m->rebalance_timeout_ms;
    return t;
}

static void set_state(ed_groups *g, struct ed_group *grp, enum ed_gstate s)
{
    if (grp->state == s) return;
    ED_LOG_DBG("group %s: %s -> %s", grp->id, ed_gstate_name(grp->state), ed_gstate_name(s));
    grp->state = s;
    grp->state_ts = ed_groups_wall(g);
}

/* Kafka's prepareRebalance: parked syncs learn of it, everyone must rejoin
 * within the largest rebalance timeout (the initial delay for an empty
 * group). */
static void prepare_rebalance(ed_groups *g, struct ed_group *grp, const char *why)
{
    if (grp->state == ED_GS_COMPLETING) {
        for (struct ed_gmember *m = grp->members; m; m = m->next) {
            ed_free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
            sync_fail(m, ED_KERR_REBALANCE_IN_PROGRESS);
        }
    }
    uint64_t now = ed_groups_mono(g);
    int32_t rt = max_rebalance_timeout(grp);
    if (grp->state == ED_GS_EMPTY && g->cfg.initial_rebalance_delay_ms > 0) {
        grp->initial = true;
        grp->new_in_delay = false;
        int32_t d = g->cfg.initial_rebalance_delay_ms;
        grp->initial_left_ms = rt > d ? rt - d : 0;
        grp->deadline_ms = now + (uint64_t)d;
    } else {
        grp->initial = false;
        grp->deadline_ms = now + (uint64_t)rt;
    }
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        m->joined = m->join.cookie != NULL;
    ED_LOG_INFO("group %s: preparing to rebalance (%s), generation %" PRId32 ", %" PRId32
                " members",
                grp->id, why, grp->generation, grp->n_members);
    set_state(g, grp, ED_GS_PREPARING);
    ed_groups_arm(g, grp->deadline_ms);
    /* Kafka tries to complete at once: e.g. the last member left. */
    try_complete_join(g, grp);
}

/* The protocol most members prefer among those every member supports. */
static const char *vote(const struct ed_group *grp)
{
    const struct ed_gmember *first = grp->members;
    const char *best = NULL;
    int32_t best_votes = -1;
    for (int32_t i = 0; first && i < first->n_protocols; i++) {
        const char *cand = first->protocols[i].name;
        bool all = true;
        for (const struct ed_gmember *m = grp->members; m && all; m = m->next)
            all = ed_gmember_proto(m, cand) != NULL;
        if (!all) continue;
        int32_t votes = 0;
        for (const struct ed_gmember *m = grp->members; m; m = m->next) {
            /* each member votes for its first supported candidate */
            for (int32_t k = 0; k < m->n_protocols; k++) {
                const char *p = m->protocols[k].name;
                bool ok = true;
                for (const struct ed_gmember *o = grp->members; o && ok; o = o->next)
                    ok = ed_gmember_proto(o, p) != NULL;
                if (!ok) continue;
                if (strcmp(p, cand) == 0) votes++;
                break;
            }
        }
        if (votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

/* Kafka's onCompleteJoin + initNextGeneration. */
static void complete_join(ed_groups *g, struct ed_group *grp)
{
    /* Dynamic members that did not rejoin in time are gone; static ones
     * stay until their session expires. */
    for (struct ed_gmember *m = grp->members, *next; m; m = next) {
        next = m->next;
        if (m->joined || m->instance_id) continue;
        expire_member(g, grp, m, "rejoin");
    }
    grp->initial = false;
    grp->generation++;
    g->stats.n_rebalances++;
    ed_free(grp->protocol);
    grp->protocol = NULL;
    if (grp->n_members == 0) {
        ed_free(grp->leader);
        grp->leader = NULL;
        grp->deadline_ms = 0;
        set_state(g, grp, ED_GS_EMPTY);
        ED_LOG_INFO("group %s: generation %" PRId32 " is empty", grp->id, grp->generation);
        ed_gstore_write_group(g, grp, false);
        return;
    }
    const char *p = vote(grp);
    grp->protocol = p ? ed_strdup(p) : NULL;
    /* The leader stays if it rejoined; else the first member that did. */
    struct ed_gmember *lead = NULL;
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        if (grp->leader && strcmp(grp->leader, m->id) == 0 && m->joined) lead = m;
    for (struct ed_gmember *m = grp->members; m && !lead; m = m->next)
        if (m->joined) lead = m;
    if (!lead) lead = grp->members;
    if (!lead) return; /* unreachable: an empty group returned above */
    if (!grp->leader || strcmp(grp->leader, lead->id) != 0) {
        ed_free(grp->leader);
        grp->leader = ed_strdup(lead->id);
    }
    uint64_t now = ed_groups_mono(g);
    grp->deadline_ms = now + (uint64_t)max_rebalance_timeout(grp);
    set_state(g, grp, ED_GS_COMPLETING);
    ED_LOG_INFO("group %s: generation %" PRId32 " with %" PRId32 " members, protocol %s, leader %s",
                grp->id, grp->generation, grp->n_members, grp->protocol ? grp->protocol : "-",
                grp->leader);
    for (struct ed_gmember *m = grp->members; m; m = m->next) {
        m->synced = false;
        m->joined = false;
        m->seen_ms = now;
        ed_groups_arm(g, now + (uint64_t)m->session_timeout_ms);
        struct ed_gjoin_waiter w = m->join;
        if (!w.cookie) continue;
        m->join.cookie = NULL;
        bool is_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
        join_success(grp, m, &w, is_leader, false);
    }
    ed_groups_arm(g, grp->deadline_ms);
}

static bool all_joined(const struct ed_group *grp)
{
    if (grp->n_pending > 0) return false;
    for (const struct ed_gmember *m = grp->members; m; m = m->next)
        if (!m->joined) return false;
    return true;
}

static void try_complete_join(ed_groups *g, struct ed_group *grp)
{
    if (grp->state != ED_GS_PREPARING || grp->initial) return;
    if (all_joined(grp)) complete_join(g, grp);
}

/* ---- JoinGroup ---- */

/* Answers a JoinGroup that met an allocation failure and frees id (may be
 * NULL); false: nothing was parked. */
static bool join_no_memory(const struct ed_gjoin_args *a, char *id)
{
    ed_free(id);
    join_error(&a->waiter, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
    return false;
}

static bool add_member_and_rebalance(ed_groups *g, struct ed_group *grp,
                                     const struct ed_gjoin_args *a, char *id)
{
    if (grp->n_members >= g->cfg.max_group_size) {
        join_error(&a->waiter, ED_KERR_GROUP_MAX_SIZE_REACHED, id);
        ed_free(id);
        return false;
    }
    struct ed_gmember *m = ed_calloc(1, sizeof *m);
    if (!m) return join_no_memory(a, id);
    m->id = id;
    if (a->instance_id.len >= 0) m->instance_id = ed_gstr_dup(a->instance_id);
    fill_member(g, m, a);
    if ((a->instance_id.len >= 0 && !m->instance_id) || !m->client_id || !m->client_host ||
        set_protocols(m, a) != ED_OK) {
        ed_gmember_free(m);
        return join_no_memory(a, NULL);
    }
    if (!grp->protocol_type || grp->n_members == 0) {
        ed_free(grp->protocol_type);
        grp->protocol_type = ed_gstr_dup(a->protocol_type);
    }
    /* append: the member list keeps join order (the leader is the first) */
    struct ed_gmember **pp = &grp->members;
    while (*pp)
        pp = &(*pp)->next;
    *pp = m;
    grp->n_members++;
    if (!grp->leader) grp->leader = ed_strdup(m->id);
    ED_LOG_INFO("group %s: member %s joins (client %s, session %" PRId32 " ms)", grp->id, m->id,
                m->client_id, m->session_timeout_ms);
    if (grp->state == ED_GS_PREPARING && grp->generation == 0) grp->new_in_delay = true;
    park_join(m, &a->waiter);
    m->joined = true;
    if (grp->state != ED_GS_PREPARING)
        prepare_rebalance(g, grp, "a member joined");
    else
        try_complete_join(g, grp);
    return true;
}

/* A static member rejoining without its member id takes a new one; the old
 * one is fenced. Kafka answers at once when nothing changed in a stable
 * group, so a restarted instance gets its partitions back without a
 * rebalance. */
static bool replace_static(ed_groups *g, struct ed_group *grp, struct ed_gmember *m,
                           const struct ed_gjoin_args *a)
{
    char *id = new_member_id(a->instance_id.p, (size_t)a->instance_id.len);
    if (!id) return join_no_memory(a, NULL);
    join_fail(m, ED_KERR_FENCED_INSTANCE_ID);
    sync_fail(m, ED_KERR_FENCED_INSTANCE_ID);
    ED_LOG_INFO("group %s: static member %s rejoins as %s (was %s)", grp->id, m->instance_id, id,
                m->id);
    bool was_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
    ed_free(m->id);
    m->id = id;
    if (was_leader) {
        ed_free(grp->leader);
        grp->leader = ed_strdup(id);
    }
    bool same = same_protocols(m, a);
    fill_member(g, m, a);
    if (!same && set_protocols(m, a) != ED_OK) return join_no_memory(a, NULL);
    switch (grp->state) {
    case ED_GS_STABLE:
        if (same) {
            join_success(grp, m, &a->waiter, was_leader, was_leader);
            return false;
        }
        park_join(m, &a->waiter);
        prepare_rebalance(g, grp, "a static member changed its subscription");
        return true;
    case ED_GS_COMPLETING:
        park_join(m, &a->waiter);
        prepare_rebalance(g, grp, "a static member rejoined");
        return true;
    default: /* PreparingRebalance */
        park_join(m, &a->waiter);
        m->joined = true;
        try_complete_join(g, grp);
        return true;
    }
}

static bool join_unknown(ed_groups *g, struct ed_group *grp, const struct ed_gjoin_args *a)
{
    if (a->instance_id.len >= 0) {
        struct ed_gmember *old = ed_group_member_by_instance(grp, a->instance_id);
        if (old) return replace_static(g, grp, old, a);
        char *id = new_member_id(a->instance_id.p, (size_t)a->instance_id.len);
        if (!id) return join_no_memory(a, NULL);
        return add_member_and_rebalance(g, grp, a, id);
    }
    const char *cid = a->client_id.len > 0 ? a->client_id.p : "";
    char *id = new_member_id(cid, a->client_id.len > 0 ? (size_t)a->client_id.len : 0);
    if (!id) return join_no_memory(a, NULL);
    if (a->require_known_member) {
        /* KIP-394: the member must come back with this id. */
        struct ed_gpending *p = ed_calloc(1, sizeof *p);
        if (!p) return join_no_memory(a, id);
        p->id = id;
        p->deadline_ms = ed_groups_mono(g) + (uint64_t)a->session_timeout_ms;
        p->next = grp->pending;
        grp->pending = p;
        grp->n_pending++;
        ed_groups_arm(g, p->deadline_ms);
        join_error(&a->waiter, ED_KERR_MEMBER_ID_REQUIRED, id);
        return false;
    }
    return add_member_and_rebalance(g, grp, a, id);
}

static bool join_known(ed_groups *g, struct ed_group *grp, const struct ed_gjoin_args *a)
{
    struct ed_gpending *p = find_pending(grp, a->member_id);
    if (p) {
        char *id = p->id;
        p->id = NULL;
        remove_pending(grp, p);
        return add_member_and_rebalance(g, grp, a, id);
    }
    if (ed_group_fenced(grp, a->member_id, a->instance_id)) {
        join_error(&a->waiter, ED_KERR_FENCED_INSTANCE_ID, "");
        return false;
    }
    struct ed_gmember *m = ed_group_member(grp, a->member_id);
    if (!m || grp->state == ED_GS_EMPTY || grp->state == ED_GS_DEAD) {
        char id[ED_GROUP_MEMBER_MAX + 1];
        ed_gstr_copy(a->member_id, id, sizeof id);
        join_error(&a->waiter, ED_KERR_UNKNOWN_MEMBER_ID, id);
        return false;
    }
    bool same = same_protocols(m, a);
    bool is_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
    fill_member(g, m, a);
    switch (grp->state) {
    case ED_GS_PREPARING:
        if (!same && set_protocols(m, a) != ED_OK) {
            join_error(&a->waiter, ED_KERR_COORDINATOR_NOT_AVAILABLE, m->id);
            return false;
        }
        park_join(m, &a->waiter);
        m->joined = true;
        try_complete_join(g, grp);
        return true;
    case ED_GS_COMPLETING:
        if (same) {
            /* The join answer got lost: send it again. */
            join_success(grp, m, &a->waiter, is_leader, false);
            return false;
        }
        if (set_protocols(m, a) != ED_OK) {
            join_error(&a->waiter, ED_KERR_COORDINATOR_NOT_AVAILABLE, m->id);
            return false;
        }
        park_join(m, &a->waiter);
        prepare_rebalance(g, grp, "a member changed its subscription");
        return true;
    default: /* Stable */
        if (same && !is_leader) {
            join_success(grp, m, &a->waiter, false, false);
            return false;
        }
        if (!same && set_protocols(m, a) != ED_OK) {
            join_error(&a->waiter, ED_KERR_COORDINATOR_NOT_AVAILABLE, m->id);
            return false;
        }
        park_join(m, &a->waiter);
        prepare_rebalance(g, grp, is_leader ? "the leader rejoined" : "a member changed");
        return true;
    }
}

static bool join(ed_groups *g, const struct ed_gjoin_args *a)
{
    char mid[ED_GROUP_MEMBER_MAX + 1] = "";
    if (a->member_id.len > 0) ed_gstr_copy(a->member_id, mid, sizeof mid);
    if (a->group_id.len <= 0 || a->group_id.len > ED_GROUP_ID_MAX) {
        join_error(&a->waiter, ED_KERR_INVALID_GROUP_ID, mid);
        return false;
    }
    if (a->member_id.len > ED_GROUP_MEMBER_MAX || a->instance_id.len > ED_GROUP_MEMBER_MAX ||
        a->instance_id.len == 0) {
        join_error(&a->waiter, ED_KERR_INVALID_REQUEST, "");
        return false;
    }
    if (a->session_timeout_ms < g->cfg.min_session_timeout_ms ||
        a->session_timeout_ms > g->cfg.max_session_timeout_ms) {
        join_error(&a->waiter, ED_KERR_INVALID_SESSION_TIMEOUT, mid);
        return false;
    }
    struct ed_group *grp = ed_group_find(g, a->group_id);
    if (!grp) {
        if (a->member_id.len > 0) {
            join_error(&a->waiter, ED_KERR_UNKNOWN_MEMBER_ID, mid);
            return false;
        }
        if (!supports_protocols(&(struct ed_group){0}, a)) {
            join_error(&a->waiter, ED_KERR_INCONSISTENT_GROUP_PROTOCOL, mid);
            return false;
        }
        grp = ed_group_get(g, a->group_id.p, (size_t)a->group_id.len);
        if (!grp) {
            join_error(&a->waiter, ED_KERR_COORDINATOR_NOT_AVAILABLE, mid);
            return false;
        }
    }
    if (grp->state == ED_GS_DEAD) {
        join_error(&a->waiter, ED_KERR_COORDINATOR_NOT_AVAILABLE, mid);
        return false;
    }
    if (!supports_protocols(grp, a)) {
        join_error(&a->waiter, ED_KERR_INCONSISTENT_GROUP_PROTOCOL, mid);
        return false;
    }
    if (a->member_id.len <= 0) return join_unknown(g, grp, a);
    return join_known(g, grp, a);
}

/* ---- SyncGroup ---- */

static bool sync(ed_groups *g, const struct ed_gsync_args *a)
{
    struct ed_group *grp = a->group_id.len > 0 ? ed_group_find(g, a->group_id) : NULL;
    int16_t err = ED_KERR_NONE;
    struct ed_gmember *m = NULL;
    if (a->group_id.len <= 0)
        err = ED_KERR_INVALID_GROUP_ID;
    else if (!grp)
        err = ED_KERR_UNKNOWN_MEMBER_ID;
    else if (grp->state == ED_GS_DEAD)
        err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    else if (ed_group_fenced(grp, a->member_id, a->instance_id))
        err = ED_KERR_FENCED_INSTANCE_ID;
    else if (!(m = ed_group_member(grp, a->member_id)))
        err = ED_KERR_UNKNOWN_MEMBER_ID;
    else if (a->generation != grp->generation)
        err = ED_KERR_ILLEGAL_GENERATION;
    else if ((a->protocol_type.len >= 0 &&
              (!grp->protocol_type || !ed_gstr_eq(grp->protocol_type, a->protocol_type))) ||
             (a->protocol_name.len >= 0 &&
              (!grp->protocol || !ed_gstr_eq(grp->protocol, a->protocol_name))))
        err = ED_KERR_INCONSISTENT_GROUP_PROTOCOL;
    else if (grp->state == ED_GS_EMPTY)
        err = ED_KERR_UNKNOWN_MEMBER_ID;
    else if (grp->state == ED_GS_PREPARING)
        err = ED_KERR_REBALANCE_IN_PROGRESS;
    if (err != ED_KERR_NONE || !grp || !m) { /* no error implies both */
        struct ed_gsync_result r = {err, NULL, NULL, NULL, 0};
        a->waiter.done(a->waiter.cookie, &r);
        return false;
    }
    m->seen_ms = ed_groups_mono(g);
    if (grp->state == ED_GS_STABLE) {
        struct ed_gsync_result r = {ED_KERR_NONE, grp->protocol_type, grp->protocol, m->assignment,
                                    m->assignment_len};
        a->waiter.done(a->waiter.cookie, &r);
        return false;
    }
    /* CompletingRebalance */
    m->synced = true;
    park_sync(m, &a->waiter);
    if (!grp->leader || strcmp(grp->leader, m->id) != 0) return true;
    for (struct ed_gmember *o = grp->members; o; o = o->next) {
        ed_free(o->assignment);
        o->assignment = NULL;
        o->assignment_len = 0;
        for (int32_t i = 0; i < a->n_assignments; i++) {
            if (!ed_gstr_eq(o->id, a->assign_members[i])) continue;
            int32_t len = a->assign_bytes[i].len < 0 ? 0 : a->assign_bytes[i].len;
            o->assignment = ed_malloc(len ? (size_t)len : 1);
            if (!o->assignment) break;
            if (len) memcpy(o->assignment, a->assign_bytes[i].p, (size_t)len);
            o->assignment_len = len;
            break;
        }
    }
    grp->deadline_ms = 0;
    set_state(g, grp, ED_GS_STABLE);
    ED_LOG_INFO("group %s: generation %" PRId32 " is stable", grp->id, grp->generation);
    ed_gstore_write_group(g, grp, false);
    uint64_t now = ed_groups_mono(g);
    for (struct ed_gmember *o = grp->members; o; o = o->next) {
        o->seen_ms = now;
        struct ed_gsync_waiter w = o->sync;
        if (!w.cookie) continue;
        o->sync.cookie = NULL;
        struct ed_gsync_result r = {ED_KERR_NONE, grp->protocol_type, grp->protocol, o->assignment,
                                    o->assignment_len};
        w.done(w.cookie, &r);
        ed_groups_arm(g, now + (uint64_t)o->session_timeout_ms);
    }
    return true;
}

void ed_group_join(ed_groups *g, const struct ed_gjoin_args *a)
{
    (void)join(g, a);
}

void ed_group_sync(ed_groups *g, const struct ed_gsync_args *a)
{
    (void)sync(g, a);
}

/* ---- Heartbeat, LeaveGroup, OffsetCommit checks ---- */

int16_t ed_group_heartbeat(ed_groups *g, ed_gstr group_id, int32_t generation, ed_gstr member_id,
                           ed_gstr instance_id)
{
    if (group_id.len <= 0) return ED_KERR_INVALID_GROUP_ID;
    struct ed_group *grp = ed_group_find(g, group_id);
    if (!grp) return ED_KERR_UNKNOWN_MEMBER_ID;
    if (grp->state == ED_GS_DEAD) return ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (ed_group_fenced(grp, member_id, instance_id)) return ED_KERR_FENCED_INSTANCE_ID;
    struct ed_gmember *m = ed_group_member(grp, member_id);
    if (!m) return ED_KERR_UNKNOWN_MEMBER_ID;
    if (generation != grp->generation) return ED_KERR_ILLEGAL_GENERATION;
    m->seen_ms = ed_groups_mono(g);
    ed_groups_arm(g, m->seen_ms + (uint64_t)m->session_timeout_ms);
    switch (grp->state) {
    case ED_GS_PREPARING:
        return ED_KERR_REBALANCE_IN_PROGRESS;
    case ED_GS_EMPTY:
        return ED_KERR_UNKNOWN_MEMBER_ID;
    default:
        return ED_KERR_NONE;
    }
}

int16_t ed_group_leave(ed_groups *g, struct ed_group *grp, ed_gstr member_id, ed_gstr instance_id)
{
    if (!grp || grp->state == ED_GS_DEAD) return ED_KERR_UNKNOWN_MEMBER_ID;
    struct ed_gmember *m;
    if (instance_id.len >= 0) {
        m = ed_group_member_by_instance(grp, instance_id);
        if (!m) return ED_KERR_UNKNOWN_MEMBER_ID;
        if (member_id.len > 0 && !ed_gstr_eq(m->id, member_id)) return ED_KERR_FENCED_INSTANCE_ID;
    } else {
        struct ed_gpending *p = find_pending(grp, member_id);
        if (p) {
            remove_pending(grp, p);
            try_complete_join(g, grp);
            return ED_KERR_NONE;
        }
        m = ed_group_member(grp, member_id);
        if (!m) return ED_KERR_UNKNOWN_MEMBER_ID;
    }
    remove_member(g, grp, m, "it left the group");
    return ED_KERR_NONE;
}

int16_t ed_group_commit_check(ed_groups *g, ed_gstr group_id, int32_t generation, ed_gstr member_id,
                              ed_gstr instance_id, struct ed_group **out)
{
    *out = NULL;
    if (group_id.len < 0 || group_id.len > ED_GROUP_ID_MAX) return ED_KERR_INVALID_GROUP_ID;
    bool member = generation >= 0 || member_id.len > 0 || instance_id.len >= 0;
    struct ed_group *grp = ed_group_find(g, group_id);
    bool created = false;
    if (!grp) {
        /* Only a group that does not use Kafka's membership commits
         * without a generation; a generation names a stale member. */
        if (generation >= 0) return ED_KERR_ILLEGAL_GENERATION;
        grp = ed_group_get(g, group_id.p, (size_t)group_id.len);
        if (!grp) return ED_KERR_COORDINATOR_NOT_AVAILABLE;
        created = true;
    }
    if (grp->state == ED_GS_DEAD) return ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (member) {
        if (ed_group_fenced(grp, member_id, instance_id)) return ED_KERR_FENCED_INSTANCE_ID;
        struct ed_gmember *m = ed_group_member(grp, member_id);
        if (!m) {
            if (created) ed_group_remove(g, grp);
            return ED_KERR_UNKNOWN_MEMBER_ID;
        }
        if (generation != grp->generation) return ED_KERR_ILLEGAL_GENERATION;
        if (grp->state == ED_GS_COMPLETING) return ED_KERR_REBALANCE_IN_PROGRESS;
        m->seen_ms = ed_groups_mono(g);
    } else if (grp->state != ED_GS_EMPTY) {
        return ED_KERR_UNKNOWN_MEMBER_ID;
    }
    *out = grp;
    return ED_KERR_NONE;
}

/* ---- deadlines ---- */

static void on_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_groups *g = arg;
    g->timer_due = 0;
    ed_groups_advance(g);
}

void ed_groups_arm(ed_groups *g, uint64_t due)
{
    if (!g->b->loop) return;
    if (ed_plat_timer_armed(&g->timer) && g->timer_due && g->timer_due <= due) return;
    uint64_t now = ed_groups_mono(g);
    uint64_t delay = due > now ? due - now : 0;
    if (delay > 3600000) delay = 3600000;
    g->timer_due = due;
    ed_plat_timer_start(g->b->loop, &g->timer, (uint32_t)delay, on_timer, g);
}

/* Is the member still alive at now? Members parked in a join or a sync are
 * kept alive: the rebalance and sync deadlines bound how long they wait. */
static bool alive(const struct ed_gmember *m, uint64_t now)
{
    if (m->join.cookie || m->sync.cookie) return true;
    return now < m->seen_ms + (uint64_t)m->session_timeout_ms;
}

/* Runs the due deadlines of one group; returns its next deadline (0 none). */
static uint64_t advance_group(ed_groups *g, struct ed_group *grp, uint64_t now)
{
    for (struct ed_gpending *p = grp->pending, *next; p; p = next) {
        next = p->next;
        if (p->deadline_ms > now) continue;
        ED_LOG_INFO("group %s: pending member %s never joined", grp->id, p->id);
        remove_pending(grp, p);
        try_complete_join(g, grp);
    }
    for (struct ed_gmember *m = grp->members, *next; m; m = next) {
        next = m->next;
        if (alive(m, now)) continue;
        ED_LOG_INFO("group %s: member %s session expired (%" PRId32 " ms)", grp->id, m->id,
                    m->session_timeout_ms);
        g->stats.n_expired++;
        remove_member(g, grp, m, "its session timed out");
        next = grp->members; /* the list may have changed: restart */
    }
    if (grp->state == ED_GS_PREPARING && grp->deadline_ms <= now) {
        if (grp->initial && grp->new_in_delay && grp->initial_left_ms > 0) {
            int64_t d = ED_MIN((int64_t)g->cfg.initial_rebalance_delay_ms, grp->initial_left_ms);
            grp->initial_left_ms -= d;
            grp->new_in_delay = false;
            grp->deadline_ms = now + (uint64_t)d;
        } else {
            complete_join(g, grp);
        }
    } else if (grp->state == ED_GS_COMPLETING && grp->deadline_ms <= now) {
        bool removed = false;
        for (struct ed_gmember *m = grp->members, *next; m; m = next) {
            next = m->next;
            if (m->synced) continue;
            expire_member(g, grp, m, "sync");
            removed = true;
        }
        if (removed)
            prepare_rebalance(g, grp, "members did not sync in time");
        else
            grp->deadline_ms = 0;
    }
    uint64_t next_due = 0;
#define NOTE(t)                                                                                    \
    do {                                                                                           \
        uint64_t t_ = (t);                                                                         \
        if (!next_due || t_ < next_due) next_due = t_;                                             \
    } while (0)
    if ((grp->state == ED_GS_PREPARING || grp->state == ED_GS_COMPLETING) && grp->deadline_ms)
        NOTE(grp->deadline_ms);
    for (struct ed_gpending *p = grp->pending; p; p = p->next)
        NOTE(p->deadline_ms);
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        if (!m->join.cookie && !m->sync.cookie) NOTE(m->seen_ms + (uint64_t)m->session_timeout_ms);
#undef NOTE
    return next_due;
}

void ed_groups_advance(ed_groups *g)
{
    uint64_t now = ed_groups_mono(g);
    uint64_t next = 0;
    for (int32_t i = 0; i < g->n_groups; i++) {
        uint64_t t = advance_group(g, g->groups[i], now);
        if (t && (!next || t < next)) next = t;
    }
    if (now >= g->next_retention_ms) {
        ed_gstore_expire(g);
        g->next_retention_ms = now + (uint64_t)g->cfg.retention_check_ms;
    }
    if (!next || g->next_retention_ms < next) next = g->next_retention_ms;
    if (g->b->loop) {
        ed_plat_timer_stop(g->b->loop, &g->timer);
        g->timer_due = 0;
        ed_groups_arm(g, next);
    }
}
