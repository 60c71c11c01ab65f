/* The group coordinator's registry and lifetime: groups by id (sorted),
 * members and their lookups (by id, by static instance id, fencing), the
 * consumer-protocol subscriptions OffsetDelete checks, the configuration
 * and clock, and opening (loading __consumer_offsets) and closing the
 * coordinator. The state machine is in group.c. */
#define ED_LOG_MODULE "group"
#include "core/group_int.h"
#include "core/kafka/errors.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"

#include <string.h>

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

/* The table's defaults (core/config_keys.c), read through a default config:
 * the coordinator keeps no defaults of its own. */
void ed_groups_config_default(struct ed_groups_config *c)
{
    struct ed_config *cfg = NULL;
    memset(c, 0, sizeof *c);
    c->offsets_segment_len = 1u << 20;
    if (ed_config_new(&cfg) != ED_OK) return;
    ed_groups_config_from(cfg, c);
    ed_config_free(cfg);
}

void ed_groups_config_from(const struct ed_config *cfg, struct ed_groups_config *out)
{
    memset(out, 0, sizeof *out);
    out->offsets_segment_len = 1u << 20;
    out->initial_rebalance_delay_ms = (int32_t)cfg->group_initial_rebalance_delay_ms;
    out->min_session_timeout_ms = (int32_t)cfg->group_min_session_timeout_ms;
    out->max_session_timeout_ms = (int32_t)cfg->group_max_session_timeout_ms;
    out->max_group_size = (int32_t)cfg->group_max_size;
    out->max_metadata_len = (int32_t)cfg->offset_metadata_max_bytes;
    out->offsets_retention_ms = cfg->offsets_retention_minutes * 60000;
    out->retention_check_ms = cfg->offsets_retention_check_interval_ms;
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

ed_gstr ed_gstr_z(const char *z)
{
    return z ? (ed_gstr){z, (int32_t)strlen(z)} : ED_GSTR_NULL;
}

int ed_gstr_cmp(const char *z, ed_gstr s)
{
    size_t zl = strlen(z), sl = s.len < 0 ? 0 : (size_t)s.len;
    int c = sl ? memcmp(z, s.p, zl < sl ? zl : sl) : 0;
    if (c) return c;
    return zl < sl ? -1 : zl > sl;
}

bool ed_gstr_eq(const char *z, ed_gstr s)
{
    return z && s.len >= 0 && ed_gstr_cmp(z, s) == 0;
}

char *ed_gstr_dup(ed_gstr s)
{
    if (s.len < 0) return NULL;
    return ed_strndup(s.p ? s.p : "", (size_t)s.len);
}

bool ed_gstr_copy(ed_gstr s, char *out, size_t cap)
{
    if (s.len < 0 || (size_t)s.len >= cap) return false;
    if (s.len) memcpy(out, s.p, (size_t)s.len);
    out[s.len] = '\0';
    return true;
}

/* ---- registry ---- */

int32_t ed_group_lower_bound(int32_t n, int (*cmp)(const void *arg, int32_t i), const void *arg,
                             bool *found)
{
    int32_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = cmp(arg, mid);
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

struct group_key {
    const ed_groups *g;
    ed_gstr id;
};

static int group_cmp(const void *arg, int32_t i)
{
    const struct group_key *k = arg;
    return ed_gstr_cmp(k->g->groups[i]->id, k->id);
}

static int32_t group_index(const ed_groups *g, ed_gstr id, bool *found)
{
    struct group_key k = {g, id};
    return ed_group_lower_bound(g->n_groups, group_cmp, &k, found);
}

struct ed_group *ed_group_find(ed_groups *g, ed_gstr id)
{
    bool found;
    if (id.len < 0) return NULL;
    int32_t i = group_index(g, id, &found);
    return found ? g->groups[i] : NULL;
}

struct ed_group *ed_group_find_z(ed_groups *g, const char *id)
{
    return ed_group_find(g, ed_gstr_z(id));
}

struct ed_group *ed_group_get(ed_groups *g, const char *id, size_t len)
{
    ed_gstr k = {id, (int32_t)len};
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

void ed_gmember_free(struct ed_gmember *m)
{
    ED_ASSERT(!m->join.cookie && !m->sync.cookie);
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
        ed_gmember_free(m);
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

struct ed_gmember *ed_group_member(struct ed_group *grp, ed_gstr id)
{
    if (id.len <= 0) return NULL;
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        if (ed_gstr_eq(m->id, id)) return m;
    return NULL;
}

struct ed_gmember *ed_group_member_by_instance(struct ed_group *grp, ed_gstr inst)
{
    if (inst.len < 0) return NULL;
    for (struct ed_gmember *m = grp->members; m; m = m->next)
        if (ed_gstr_eq(m->instance_id, inst)) return m;
    return NULL;
}

const struct ed_gproto *ed_gmember_proto(const struct ed_gmember *m, const char *name)
{
    if (!name) return NULL;
    for (int32_t i = 0; i < m->n_protocols; i++)
        if (strcmp(m->protocols[i].name, name) == 0) return &m->protocols[i];
    return NULL;
}

bool ed_group_fenced(struct ed_group *grp, ed_gstr member_id, ed_gstr inst)
{
    struct ed_gmember *m = ed_group_member_by_instance(grp, inst);
    return m && !ed_gstr_eq(m->id, member_id);
}

/* ---- consumer protocol subscriptions (for OffsetDelete) ---- */

/* Does a ConsumerProtocolSubscription (int16 version, int32 count of
 * int16-length topic names, ...) name topic? -1 if it does not parse. */
static int subscription_has(const uint8_t *p, int32_t len, const char *topic)
{
    size_t left = len < 0 ? 0 : (size_t)len;
    if (left < 6 || (int16_t)ed_get_be16(p) < 0) return -1;
    int32_t n = (int32_t)ed_get_be32(p + 2);
    p += 6;
    left -= 6;
    if (n < 0) return -1;
    for (int32_t i = 0; i < n; i++) {
        if (left < 2) return -1;
        int16_t tl = (int16_t)ed_get_be16(p);
        if (tl < 0 || (size_t)tl > left - 2) return -1;
        if (ed_gstr_eq(topic, (ed_gstr){(const char *)p + 2, tl})) return 1;
        p += 2 + (size_t)tl;
        left -= 2 + (size_t)tl;
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
    ed_groups_arm(g, g->next_retention_ms);
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
             * so that no caller keeps a pointer to freed memory. */
            ed_gmember_fail(m, ED_KERR_COORDINATOR_NOT_AVAILABLE);
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

void ed_groups_offsets_each(const ed_groups *g,
                            void (*fn)(void *arg, const struct ed_groups_offset *o), void *arg)
{
    for (int32_t i = 0; g && i < g->n_groups; i++) {
        const struct ed_group *grp = g->groups[i];
        struct ed_groups_offset o = {grp->id, ed_gstate_name(grp->state), grp->n_members, NULL, -1,
                                     -1};
        if (grp->n_topics == 0) fn(arg, &o);
        for (int32_t t = 0; t < grp->n_topics; t++) {
            o.topic = grp->topics[t].name;
            for (int32_t k = 0; k < grp->topics[t].n; k++) {
                o.partition = grp->topics[t].parts[k].partition;
                o.offset = grp->topics[t].parts[k].offset;
                fn(arg, &o);
            }
        }
    }
}
