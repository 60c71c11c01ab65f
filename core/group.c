/* The classic group protocol's state machine: the registry of groups, member
 * lifecycle (member-id handshake, static members replacing their old id,
 * fencing), JoinGroup collection and completion with the protocol vote,
 * SyncGroup distribution of the leader's assignments, heartbeats, leaves,
 * and the deadlines that drive it (session expiry, rebalance and sync
 * timeouts, the initial rebalance delay of an empty group), all on one
 * timer of the broker's loop. Rebalance rules follow Kafka's classic
 * GroupCoordinator so that every client-side assignor works unchanged. */
#define ED_LOG_MODULE "group"
#include "core/group_int.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void arm(ed_groups *g, uint64_t due);
static void prepare_rebalance(ed_groups *g, struct ed_group *grp, const char *why);
static void try_complete_join(ed_groups *g, struct ed_group *grp);

const char *ed_gstate_name(enum ed_gstate s)
{
    switch (s) {
    case ED_GS_EMPTY:
        return "Empty";
    case ED_GS_PREPARING:
        return "PreparingRebalance";
    case ED_GS_COMPLETING:
        return "CompletingRebalance";
    case ED_GS_STABLE:
        return "Stable";
    case ED_GS_DEAD:
        return "Dead";
    }
    return "Unknown";
}

/* ---- config and clock ---- */

void ed_groups_config_default(struct ed_groups_config *c)
{
    memset(c, 0, sizeof *c);
    c->initial_rebalance_delay_ms = 3000;
    c->min_session_timeout_ms = 6000;
    c->max_session_timeout_ms = 1800000;
    c->max_group_size = INT32_MAX;
    c->max_metadata_len = 4096;
    c->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_check_ms = 600000;
    c->offsets_segment_len = 1u << 20;
}

void ed_groups_config_from(const struct ed_config *cfg, struct ed_groups_config *out)
{
    ed_groups_config_default(out);
    out->initial_rebalance_delay_ms =
        (int32_t)ed_config_int(cfg, "group.initial.rebalance.delay.ms");
    out->min_session_timeout_ms = (int32_t)ed_config_int(cfg, "group.min.session.timeout.ms");
    out->max_session_timeout_ms = (int32_t)ed_config_int(cfg, "group.max.session.timeout.ms");
    out->max_group_size = (int32_t)ed_config_int(cfg, "group.max.size");
    out->max_metadata_len = (int32_t)ed_config_int(cfg, "offset.metadata.max.bytes");
    out->offsets_retention_ms = ed_config_int(cfg, "offsets.retention.minutes") * 60000;
    out->retention_check_ms = ed_config_int(cfg, "offsets.retention.check.interval.ms");
}

static uint64_t default_mono(void *arg)
{
    ed_groups *g = arg;
    return g->b->loop ? ed_plat_loop_now_ms(g->b->loop) : ed_plat_clock_mono_ms();
}

static int64_t default_wall(void *arg)
{
    ED_UNUSED(arg);
    return ed_plat_clock_wall_ms();
}

uint64_t ed_groups_mono(const ed_groups *g)
{
    return g->clock.mono_ms(g->clock.arg);
}

int64_t ed_groups_wall(const ed_groups *g)
{
    return g->clock.wall_ms(g->clock.arg);
}

void ed_groups_set_clock(ed_groups *g, const struct ed_groups_clock *clock)
{
    g->clock = *clock;
    g->next_retention_ms = ed_groups_mono(g) + (uint64_t)g->cfg.retention_check_ms;
}

/* ---- strings ---- */

static int kcmp(const char *z, ed_kstr s)
{
    size_t zl = strlen(z), sl = s.len < 0 ? 0 : (size_t)s.len;
    int c = memcmp(z, s.p, zl < sl ? zl : sl);
    if (c) return c;
    return zl < sl ? -1 : zl > sl;
}

static bool keq(const char *z, ed_kstr s)
{
    return z && s.len >= 0 && kcmp(z, s) == 0;
}

static char *kdup(ed_kstr s)
{
    if (s.len < 0) return NULL;
    return ed_strndup(s.p ? s.p : "", (size_t)s.len);
}

/* ---- registry ---- */

static int32_t group_index(ed_groups *g, ed_kstr id, bool *found)
{
    int32_t lo = 0, hi = g->n_groups;
    *found = false;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = kcmp(g->groups[mid]->id, id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct ed_group *ed_group_find(ed_groups *g, ed_kstr id)
{
    bool found;
    if (id.len < 0) return NULL;
    int32_t i = group_index(g, id, &found);
    return found ? g->groups[i] : NULL;
}

struct ed_group *ed_group_find_z(ed_groups *g, const char *id)
{
    ed_kstr k = {id, (int32_t)strlen(id)};
    return ed_group_find(g, k);
}

struct ed_group *ed_group_get(ed_groups *g, const char *id, size_t len)
{
    ed_kstr k = {id, (int32_t)len};
    bool found;
    int32_t i = group_index(g, k, &found);
    if (found) return g->groups[i];
    if (g->n_groups == g->cap_groups) {
        int32_t cap = g->cap_groups ? g->cap_groups * 2 : 16;
        struct ed_group **p = ed_realloc(g->groups, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        g->groups = p;
        g->cap_groups = cap;
    }
    struct ed_group *grp = ed_calloc(1, sizeof *grp);
    if (!grp) return NULL;
    grp->id = ed_strndup(id, len);
    if (!grp->id) {
        ed_free(grp);
        return NULL;
    }
    grp->state = ED_GS_EMPTY;
    grp->state_ts = ed_groups_wall(g);
    memmove(g->groups + i + 1, g->groups + i, (size_t)(g->n_groups - i) * sizeof *g->groups);
    g->groups[i] = grp;
    g->n_groups++;
    return grp;
}

static void member_free(struct ed_gmember *m)
{
    ED_ASSERT(!m->join_req && !m->sync_req);
    for (int32_t i = 0; i < m->n_protocols; i++) {
        ed_free(m->protocols[i].name);
        ed_free(m->protocols[i].meta);
    }
    ed_free(m->protocols);
    ed_free(m->assignment);
    ed_free(m->id);
    ed_free(m->instance_id);
    ed_free(m->client_id);
    ed_free(m->client_host);
    ed_free(m);
}

static void group_free(struct ed_group *grp)
{
    while (grp->members) {
        struct ed_gmember *m = grp->members;
        grp->members = m->next;
        member_free(m);
    }
    while (grp->pending) {
        struct ed_gpending *p = grp->pending;
        grp->pending = p->next;
        ed_free(p->id);
        ed_free(p);
    }
    ed_group_offsets_free(grp);
    ed_free(grp->protocol_type);
    ed_free(grp->protocol);
    ed_free(grp->leader);
    ed_free(grp->id);
    ed_free(grp);
}

void ed_group_remove(ed_groups *g, struct ed_group *grp)
{
    ED_ASSERT(grp->n_members == 0);
    for (int32_t i = 0; i < g->n_groups; i++) {
        if (g->groups[i] != grp) continue;
        memmove(g->groups + i, g->groups + i + 1,
                (size_t)(g->n_groups - i - 1) * sizeof *g->groups);
        g->n_groups--;
        break;
    }
    group_free(grp);
}

struct ed_gmember *ed_group_member(struct ed_group *grp, ed_kstr id)
{
    if (id.len <= 0) return NULL;
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        if (keq(m->id, id)) return m;
    return NULL;
}

static struct ed_gmember *member_by_instance(struct ed_group *grp, ed_kstr inst)
{
    if (inst.len < 0) return NULL;
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        if (m->instance_id && keq(m->instance_id, inst)) return m;
    return NULL;
}

const struct ed_gproto *ed_gmember_proto(const struct ed_gmember *m, const char *name)
{
    if (!name) return NULL;
    for (int32_t i = 0; i < m->n_protocols; i++)
        if (strcmp(m->protocols[i].name, name) == 0) return &m->protocols[i];
    return NULL;
}

/* Kafka's static-member fencing: an instance id known with another member
 * id fences the request. */
static bool fenced(struct ed_group *grp, ed_kstr member_id, ed_kstr inst)
{
    struct ed_gmember *m = member_by_instance(grp, inst);
    return m && !keq(m->id, member_id);
}

/* ---- consumer protocol subscriptions (for OffsetDelete) ---- */

/* Does a ConsumerProtocolSubscription (int16 version, [string] topics, ...)
 * name topic? -1 if it does not parse. */
static int subscription_has(const uint8_t *p, int32_t len, const char *topic)
{
    ed_krd r;
    ed_krd_init(&r, p, (size_t)(len < 0 ? 0 : len));
    int16_t ver = ed_krd_i16(&r);
    int32_t n = ed_krd_array(&r, false, 2);
    if (!ed_krd_ok(&r) || ver < 0 || n < 0) return -1;
    for (int32_t i = 0; i < n; i++) {
        ed_kstr t = ed_krd_str(&r, false);
        if (!ed_krd_ok(&r)) return -1;
        if (keq(topic, t)) return 1;
    }
    return 0;
}

bool ed_group_subscribed(const struct ed_group *grp, const char *topic)
{
    if (grp->n_members == 0) return false;
    if (!grp->protocol_type || strcmp(grp->protocol_type, "consumer") != 0) return true;
    for (const struct ed_gmember *m = grp->members; m; m = m->next) {
        const struct ed_gproto *pr = ed_gmember_proto(m, grp->protocol);
        if (!pr && m->n_protocols > 0) pr = &m->protocols[0];
        if (!pr) return true;
        int has = subscription_has(pr->meta, pr->meta_len, topic);
        if (has != 0) return true; /* subscribed, or unknown */
    }
    return false;
}

/* ---- replies ---- */

static void complete(ed_kreq *req)
{
    req->ctx = NULL;
    req->cancel = NULL;
    ed_kreq_complete(req);
}

static void join_error(ed_kreq *req, int16_t err, const char *member_id)
{
    struct ed_gjoin_reply r = {0};
    r.error = err;
    r.generation = -1;
    r.leader = "";
    r.member_id = member_id ? member_id : "";
    ed_kapi_group_join_reply(req, &r);
}

/* Answers a parked JoinGroup with an error. */
static void join_fail(struct ed_gmember *m, int16_t err)
{
    ed_kreq *req = m->join_req;
    if (!req) return;
    m->join_req = NULL;
    join_error(req, err, m->id);
    complete(req);
}

static void sync_fail(struct ed_gmember *m, int16_t err)
{
    ed_kreq *req = m->sync_req;
    if (!req) return;
    m->sync_req = NULL;
    ed_kapi_group_sync_reply(req, err, NULL, NULL, NULL, 0);
    complete(req);
}

/* The JoinGroup answer of a member in the current generation. */
static void join_success(struct ed_group *grp, struct ed_gmember *m, ed_kreq *req, bool done,
                         bool with_members, bool skip_assignment)
{
    struct ed_gjoin_reply r = {0};
    r.error = ED_KERR_NONE;
    r.generation = grp->generation;
    r.protocol_type = grp->protocol_type;
    r.protocol = grp->protocol;
    r.leader = grp->leader ? grp->leader : "";
    r.member_id = m->id;
    r.skip_assignment = skip_assignment;
    r.members_of = with_members ? grp : NULL;
    ed_kapi_group_join_reply(req, &r);
    if (done) complete(req);
}

static void join_cancel(ed_kreq *req)
{
    struct ed_gmember *m = req->ctx;
    if (m && m->join_req == req) m->join_req = NULL;
}

static void sync_cancel(ed_kreq *req)
{
    struct ed_gmember *m = req->ctx;
    if (m && m->sync_req == req) m->sync_req = NULL;
}

static void park_join(struct ed_gmember *m, ed_kreq *req)
{
    /* A client never has two joins in flight unless it lost the first
     * connection's answer: the old one learns the rebalance goes on. */
    join_fail(m, ED_KERR_REBALANCE_IN_PROGRESS);
    m->join_req = req;
    req->ctx = m;
    req->cancel = join_cancel;
}

static void park_sync(struct ed_gmember *m, ed_kreq *req)
{
    sync_fail(m, ED_KERR_REBALANCE_IN_PROGRESS);
    m->sync_req = req;
    req->ctx = m;
    req->cancel = sync_cancel;
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
        p[i].name = kdup(a->proto_names[i]);
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
        if (!keq(p->name, a->proto_names[i]) || p->meta_len != len ||
            (len && memcmp(p->meta, a->proto_metas[i].p, (size_t)len) != 0))
            return false;
    }
    return true;
}

static bool member_supports(const struct ed_gmember *m, ed_kstr name)
{
    for (int32_t i = 0; i < m->n_protocols; i++)
        if (keq(m->protocols[i].name, name)) return true;
    return false;
}

/* Kafka's supportsProtocols: an empty group takes any non-empty type and
 * list; otherwise the type must match and one protocol must be supported
 * by every member. */
static bool supports_protocols(const struct ed_group *grp, const struct ed_gjoin_args *a)
{
    if (a->protocol_type.len <= 0 || a->n_protocols <= 0) return false;
    if (grp->n_members == 0) return true;
    if (!grp->protocol_type || !keq(grp->protocol_type, a->protocol_type)) return false;
    for (int32_t i = 0; i < a->n_protocols; i++) {
        bool all = true;
        for (const struct ed_gmember *m = grp->members; m && all; m = m->next)
            all = member_supports(m, a->proto_names[i]);
        if (all) return true;
    }
    return false;
}

static void fill_member(ed_groups *g, struct ed_gmember *m, ed_kreq *req,
                        const struct ed_gjoin_args *a)
{
    m->session_timeout_ms = a->session_timeout_ms;
    m->rebalance_timeout_ms = a->rebalance_timeout_ms;
    m->seen_ms = ed_groups_mono(g);
    if (!m->client_id)
        m->client_id = ed_strndup(req->client_id.len > 0 ? req->client_id.p : "",
                                  req->client_id.len > 0 ? (size_t)req->client_id.len : 0);
    if (!m->client_host) {
        /* Kafka shows "/<address>". */
        const char *peer = req->peer ? req->peer : "";
        const char *colon = strrchr(peer, ':');
        size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
        if (n > 0 && peer[0] == '[' && peer[n - 1] == ']') {
            peer++;
            n -= 2;
        }
        m->client_host = ed_malloc(n + 2);
        if (m->client_host) {
            m->client_host[0] = '/';
            memcpy(m->client_host + 1, peer, n);
            m->client_host[n + 1] = '\0';
        }
    }
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

/* Kafka's removeMemberAndUpdateGroup. */
static void remove_member(ed_groups *g, struct ed_group *grp, struct ed_gmember *m, const char *why)
{
    ED_LOG_INFO("group %s: member %s leaves (%s), generation %" PRId32, grp->id, m->id, why,
                grp->generation);
    join_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
    sync_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
    unlink_member(grp, m);
    member_free(m);
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

static struct ed_gpending *find_pending(struct ed_group *grp, ed_kstr id)
{
    for (struct ed_gpending *p = grp->pending; p; p = p->next)
        if (keq(p->id, id)) return p;
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
        m->joined = m->join_req != NULL;
    ED_LOG_INFO("group %s: preparing to rebalance (%s), generation %" PRId32 ", %" PRId32
                " members",
                grp->id, why, grp->generation, grp->n_members);
    set_state(g, grp, ED_GS_PREPARING);
    arm(g, grp->deadline_ms);
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
        ED_LOG_INFO("group %s: member %s did not rejoin in time", grp->id, m->id);
        g->stats.n_expired++;
        join_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
        sync_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
        unlink_member(grp, m);
        member_free(m);
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
        arm(g, now + (uint64_t)m->session_timeout_ms);
        ed_kreq *req = m->join_req;
        if (!req) continue;
        m->join_req = NULL;
        bool is_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
        join_success(grp, m, req, true, is_leader, false);
    }
    arm(g, grp->deadline_ms);
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

static int add_member_and_rebalance(ed_groups *g, struct ed_group *grp, ed_kreq *req,
                                    const struct ed_gjoin_args *a, char *id)
{
    if (grp->n_members >= g->cfg.max_group_size) {
        join_error(req, ED_KERR_GROUP_MAX_SIZE_REACHED, id);
        ed_free(id);
        return ED_KAPI_RESPOND;
    }
    struct ed_gmember *m = ed_calloc(1, sizeof *m);
    if (!m) {
        ed_free(id);
        join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
        return ED_KAPI_RESPOND;
    }
    m->id = id;
    if (a->instance_id.len >= 0) m->instance_id = kdup(a->instance_id);
    fill_member(g, m, req, a);
    if ((a->instance_id.len >= 0 && !m->instance_id) || !m->client_id || !m->client_host ||
        set_protocols(m, a) != ED_OK) {
        member_free(m);
        join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
        return ED_KAPI_RESPOND;
    }
    if (!grp->protocol_type || grp->n_members == 0) {
        ed_free(grp->protocol_type);
        grp->protocol_type = kdup(a->protocol_type);
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
    park_join(m, req);
    m->joined = true;
    if (grp->state != ED_GS_PREPARING)
        prepare_rebalance(g, grp, "a member joined");
    else
        try_complete_join(g, grp);
    return ED_KAPI_PENDING;
}

/* A static member rejoining without its member id takes a new one; the old
 * one is fenced. Kafka answers at once when nothing changed in a stable
 * group, so a restarted instance gets its partitions back without a
 * rebalance. */
static int replace_static(ed_groups *g, struct ed_group *grp, struct ed_gmember *m, ed_kreq *req,
                          const struct ed_gjoin_args *a)
{
    char *id = new_member_id(a->instance_id.p, (size_t)a->instance_id.len);
    if (!id) {
        join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
        return ED_KAPI_RESPOND;
    }
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
    fill_member(g, m, req, a);
    if (!same && set_protocols(m, a) != ED_OK) {
        join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
        return ED_KAPI_RESPOND;
    }
    switch (grp->state) {
    case ED_GS_STABLE:
        if (same) {
            join_success(grp, m, req, false, was_leader, was_leader);
            return ED_KAPI_RESPOND;
        }
        park_join(m, req);
        prepare_rebalance(g, grp, "a static member changed its subscription");
        return ED_KAPI_PENDING;
    case ED_GS_COMPLETING:
        park_join(m, req);
        prepare_rebalance(g, grp, "a static member rejoined");
        return ED_KAPI_PENDING;
    default: /* PreparingRebalance */
        park_join(m, req);
        m->joined = true;
        try_complete_join(g, grp);
        return ED_KAPI_PENDING;
    }
}

static int join_unknown(ed_groups *g, struct ed_group *grp, ed_kreq *req,
                        const struct ed_gjoin_args *a)
{
    if (a->instance_id.len >= 0) {
        struct ed_gmember *old = member_by_instance(grp, a->instance_id);
        if (old) return replace_static(g, grp, old, req, a);
        char *id = new_member_id(a->instance_id.p, (size_t)a->instance_id.len);
        if (!id) {
            join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
            return ED_KAPI_RESPOND;
        }
        return add_member_and_rebalance(g, grp, req, a, id);
    }
    const char *cid = req->client_id.len > 0 ? req->client_id.p : "";
    char *id = new_member_id(cid, req->client_id.len > 0 ? (size_t)req->client_id.len : 0);
    if (!id) {
        join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
        return ED_KAPI_RESPOND;
    }
    if (req->api_version >= 4) {
        /* KIP-394: the member must come back with this id. */
        struct ed_gpending *p = ed_calloc(1, sizeof *p);
        if (!p) {
            ed_free(id);
            join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, "");
            return ED_KAPI_RESPOND;
        }
        p->id = id;
        p->deadline_ms = ed_groups_mono(g) + (uint64_t)a->session_timeout_ms;
        p->next = grp->pending;
        grp->pending = p;
        grp->n_pending++;
        arm(g, p->deadline_ms);
        join_error(req, ED_KERR_MEMBER_ID_REQUIRED, id);
        return ED_KAPI_RESPOND;
    }
    return add_member_and_rebalance(g, grp, req, a, id);
}

static int join_known(ed_groups *g, struct ed_group *grp, ed_kreq *req,
                      const struct ed_gjoin_args *a)
{
    struct ed_gpending *p = find_pending(grp, a->member_id);
    if (p) {
        char *id = p->id;
        p->id = NULL;
        remove_pending(grp, p);
        return add_member_and_rebalance(g, grp, req, a, id);
    }
    if (fenced(grp, a->member_id, a->instance_id)) {
        join_error(req, ED_KERR_FENCED_INSTANCE_ID, "");
        return ED_KAPI_RESPOND;
    }
    struct ed_gmember *m = ed_group_member(grp, a->member_id);
    if (!m || grp->state == ED_GS_EMPTY || grp->state == ED_GS_DEAD) {
        char id[ED_GROUP_MEMBER_MAX + 1];
        ed_kstr_copy(a->member_id, id, sizeof id);
        join_error(req, ED_KERR_UNKNOWN_MEMBER_ID, id);
        return ED_KAPI_RESPOND;
    }
    bool same = same_protocols(m, a);
    bool is_leader = grp->leader && strcmp(grp->leader, m->id) == 0;
    fill_member(g, m, req, a);
    switch (grp->state) {
    case ED_GS_PREPARING:
        if (!same && set_protocols(m, a) != ED_OK) {
            join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, m->id);
            return ED_KAPI_RESPOND;
        }
        park_join(m, req);
        m->joined = true;
        try_complete_join(g, grp);
        return ED_KAPI_PENDING;
    case ED_GS_COMPLETING:
        if (same) {
            /* The join answer got lost: send it again. */
            join_success(grp, m, req, false, is_leader, false);
            return ED_KAPI_RESPOND;
        }
        if (set_protocols(m, a) != ED_OK) {
            join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, m->id);
            return ED_KAPI_RESPOND;
        }
        park_join(m, req);
        prepare_rebalance(g, grp, "a member changed its subscription");
        return ED_KAPI_PENDING;
    default: /* Stable */
        if (same && !is_leader) {
            join_success(grp, m, req, false, false, false);
            return ED_KAPI_RESPOND;
        }
        if (!same && set_protocols(m, a) != ED_OK) {
            join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, m->id);
            return ED_KAPI_RESPOND;
        }
        park_join(m, req);
        prepare_rebalance(g, grp, is_leader ? "the leader rejoined" : "a member changed");
        return ED_KAPI_PENDING;
    }
}

int ed_group_join(ed_groups *g, ed_kreq *req, const struct ed_gjoin_args *a)
{
    char mid[ED_GROUP_MEMBER_MAX + 1] = "";
    if (a->member_id.len > 0) ed_kstr_copy(a->member_id, mid, sizeof mid);
    if (a->group_id.len <= 0 || a->group_id.len > ED_GROUP_ID_MAX) {
        join_error(req, ED_KERR_INVALID_GROUP_ID, mid);
        return ED_KAPI_RESPOND;
    }
    if (a->member_id.len > ED_GROUP_MEMBER_MAX || a->instance_id.len > ED_GROUP_MEMBER_MAX ||
        a->instance_id.len == 0) {
        join_error(req, ED_KERR_INVALID_REQUEST, "");
        return ED_KAPI_RESPOND;
    }
    if (a->session_timeout_ms < g->cfg.min_session_timeout_ms ||
        a->session_timeout_ms > g->cfg.max_session_timeout_ms) {
        join_error(req, ED_KERR_INVALID_SESSION_TIMEOUT, mid);
        return ED_KAPI_RESPOND;
    }
    struct ed_group *grp = ed_group_find(g, a->group_id);
    if (!grp) {
        if (a->member_id.len > 0) {
            join_error(req, ED_KERR_UNKNOWN_MEMBER_ID, mid);
            return ED_KAPI_RESPOND;
        }
        if (!supports_protocols(&(struct ed_group){0}, a)) {
            join_error(req, ED_KERR_INCONSISTENT_GROUP_PROTOCOL, mid);
            return ED_KAPI_RESPOND;
        }
        grp = ed_group_get(g, a->group_id.p, (size_t)a->group_id.len);
        if (!grp) {
            join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, mid);
            return ED_KAPI_RESPOND;
        }
    }
    if (grp->state == ED_GS_DEAD) {
        join_error(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, mid);
        return ED_KAPI_RESPOND;
    }
    if (!supports_protocols(grp, a)) {
        join_error(req, ED_KERR_INCONSISTENT_GROUP_PROTOCOL, mid);
        return ED_KAPI_RESPOND;
    }
    if (a->member_id.len <= 0) return join_unknown(g, grp, req, a);
    return join_known(g, grp, req, a);
}

/* ---- SyncGroup ---- */

int ed_group_sync(ed_groups *g, ed_kreq *req, const struct ed_gsync_args *a)
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
    else if (fenced(grp, a->member_id, a->instance_id))
        err = ED_KERR_FENCED_INSTANCE_ID;
    else if (!(m = ed_group_member(grp, a->member_id)))
        err = ED_KERR_UNKNOWN_MEMBER_ID;
    else if (a->generation != grp->generation)
        err = ED_KERR_ILLEGAL_GENERATION;
    else if ((a->protocol_type.len >= 0 &&
              (!grp->protocol_type || !keq(grp->protocol_type, a->protocol_type))) ||
             (a->protocol_name.len >= 0 &&
              (!grp->protocol || !keq(grp->protocol, a->protocol_name))))
        err = ED_KERR_INCONSISTENT_GROUP_PROTOCOL;
    else if (grp->state == ED_GS_EMPTY)
        err = ED_KERR_UNKNOWN_MEMBER_ID;
    else if (grp->state == ED_GS_PREPARING)
        err = ED_KERR_REBALANCE_IN_PROGRESS;
    if (err != ED_KERR_NONE || !grp || !m) { /* no error implies both */
        ed_kapi_group_sync_reply(req, err, NULL, NULL, NULL, 0);
        return ED_KAPI_RESPOND;
    }
    m->seen_ms = ed_groups_mono(g);
    if (grp->state == ED_GS_STABLE) {
        ed_kapi_group_sync_reply(req, ED_KERR_NONE, grp->protocol_type, grp->protocol,
                                 m->assignment, m->assignment_len);
        return ED_KAPI_RESPOND;
    }
    /* CompletingRebalance */
    m->synced = true;
    park_sync(m, req);
    if (!grp->leader || strcmp(grp->leader, m->id) != 0) return ED_KAPI_PENDING;
    for (struct ed_gmember *o = grp->members; o; o = o->next) {
        ed_free(o->assignment);
        o->assignment = NULL;
        o->assignment_len = 0;
        for (int32_t i = 0; i < a->n_assignments; i++) {
            if (!keq(o->id, a->assign_members[i])) continue;
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
        ed_kreq *sr = o->sync_req;
        if (!sr) continue;
        o->sync_req = NULL;
        ed_kapi_group_sync_reply(sr, ED_KERR_NONE, grp->protocol_type, grp->protocol, o->assignment,
                                 o->assignment_len);
        complete(sr);
        arm(g, now + (uint64_t)o->session_timeout_ms);
    }
    return ED_KAPI_PENDING;
}

/* ---- Heartbeat, LeaveGroup, OffsetCommit checks ---- */

int16_t ed_group_heartbeat(ed_groups *g, ed_kstr group_id, int32_t generation, ed_kstr member_id,
                           ed_kstr instance_id)
{
    if (group_id.len <= 0) return ED_KERR_INVALID_GROUP_ID;
    struct ed_group *grp = ed_group_find(g, group_id);
    if (!grp) return ED_KERR_UNKNOWN_MEMBER_ID;
    if (grp->state == ED_GS_DEAD) return ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (fenced(grp, member_id, instance_id)) return ED_KERR_FENCED_INSTANCE_ID;
    struct ed_gmember *m = ed_group_member(grp, member_id);
    if (!m) return ED_KERR_UNKNOWN_MEMBER_ID;
    if (generation != grp->generation) return ED_KERR_ILLEGAL_GENERATION;
    m->seen_ms = ed_groups_mono(g);
    arm(g, m->seen_ms + (uint64_t)m->session_timeout_ms);
    switch (grp->state) {
    case ED_GS_PREPARING:
        return ED_KERR_REBALANCE_IN_PROGRESS;
    case ED_GS_EMPTY:
        return ED_KERR_UNKNOWN_MEMBER_ID;
    default:
        return ED_KERR_NONE;
    }
}

int16_t ed_group_leave(ed_groups *g, struct ed_group *grp, ed_kstr member_id, ed_kstr instance_id)
{
    if (!grp || grp->state == ED_GS_DEAD) return ED_KERR_UNKNOWN_MEMBER_ID;
    struct ed_gmember *m;
    if (instance_id.len >= 0) {
        m = member_by_instance(grp, instance_id);
        if (!m) return ED_KERR_UNKNOWN_MEMBER_ID;
        if (member_id.len > 0 && !keq(m->id, member_id)) return ED_KERR_FENCED_INSTANCE_ID;
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

int16_t ed_group_commit_check(ed_groups *g, ed_kstr group_id, int32_t generation, ed_kstr member_id,
                              ed_kstr instance_id, struct ed_group **out)
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
        if (fenced(grp, member_id, instance_id)) return ED_KERR_FENCED_INSTANCE_ID;
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

static void arm(ed_groups *g, uint64_t due)
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
    if (m->join_req || m->sync_req) return true;
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
            ED_LOG_INFO("group %s: member %s did not sync in time", grp->id, m->id);
            g->stats.n_expired++;
            join_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
            sync_fail(m, ED_KERR_UNKNOWN_MEMBER_ID);
            unlink_member(grp, m);
            member_free(m);
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
        if (!m->join_req && !m->sync_req) NOTE(m->seen_ms + (uint64_t)m->session_timeout_ms);
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
        arm(g, next);
    }
}

/* ---- open / close ---- */

int ed_groups_open(ed_broker *b, const struct ed_groups_config *cfg, ed_groups **out)
{
    ed_groups *g = ed_calloc(1, sizeof *g);
    if (!g) return ED_ERR_NOMEM;
    g->b = b;
    if (cfg)
        g->cfg = *cfg;
    else
        ed_groups_config_default(&g->cfg);
    if (g->cfg.retention_check_ms < 1) g->cfg.retention_check_ms = 1;
    if (g->cfg.max_group_size < 1) g->cfg.max_group_size = 1;
    g->clock.mono_ms = default_mono;
    g->clock.wall_ms = default_wall;
    g->clock.arg = g;
    g->next_retention_ms = ed_groups_mono(g) + (uint64_t)g->cfg.retention_check_ms;
    int rc = ed_batch_builder_new(1u << 20, &g->builder);
    if (rc == ED_OK) rc = ed_gstore_load(g);
    if (rc != ED_OK) {
        ed_groups_close(g);
        return rc;
    }
    arm(g, g->next_retention_ms);
    *out = g;
    return ED_OK;
}

void ed_groups_close(ed_groups *g)
{
    if (!g) return;
    if (g->b->loop) ed_plat_timer_stop(g->b->loop, &g->timer);
    for (int32_t i = 0; i < g->n_groups; i++) {
        struct ed_group *grp = g->groups[i];
        for (struct ed_gmember *m = grp->members; m; m = m->next) {
            /* The server cancels parked requests before; answer any left
             * so that no request keeps a pointer to freed memory. */
            join_fail(m, ED_KERR_COORDINATOR_NOT_AVAILABLE);
            sync_fail(m, ED_KERR_COORDINATOR_NOT_AVAILABLE);
        }
        group_free(grp);
    }
    ed_free(g->groups);
    ed_batch_builder_free(g->builder);
    ed_free(g);
}

void ed_groups_stats_get(const ed_groups *g, struct ed_groups_stats *out)
{
    *out = g->stats;
    out->n_groups = g->n_groups;
    out->n_members = 0;
    out->n_offsets = 0;
    for (int32_t i = 0; i < g->n_groups; i++) {
        out->n_members += g->groups[i]->n_members;
        out->n_offsets += g->groups[i]->n_offsets;
    }
}
