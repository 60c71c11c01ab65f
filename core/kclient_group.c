/* Eddy's client codec of Kafka's group APIs and the consumer protocol's
 * embedded formats (see kclient_group.h), with blocking calls over an
 * ed_kclient. Field lists per version follow Kafka's message definitions. */
#include "core/kclient_group.h"
#include "platform/mem.h"

#include <string.h>

static bool flex_of(int16_t key, int16_t ver)
{
    int16_t f = ed_kc_flex_from(key);
    return f >= 0 && ver >= f;
}

static int finish(ed_krd *r)
{
    return r->err == ED_ERR_NOMEM ? ED_ERR_NOMEM : (r->err ? ED_ERR_PROTO : ED_OK);
}

/* Entries [i, i+run) share parts[i].topic. */
static int run_of(const struct ed_kc_tp *p, int i, int n)
{
    int k = i + 1;
    while (k < n && strcmp(p[k].topic, p[i].topic) == 0)
        k++;
    return k - i;
}

static int n_runs(const struct ed_kc_tp *p, int n)
{
    int runs = 0;
    for (int i = 0; i < n; i += run_of(p, i, n))
        runs++;
    return runs;
}

/* ---- FindCoordinator ---- */

void ed_kc_enc_find_coordinator(ed_kwr *w, int16_t ver, int8_t key_type, const char *const *keys,
                                int n)
{
    bool flex = flex_of(ED_KC_FIND_COORDINATOR, ver);
    if (ver <= 3) {
        ed_kwr_str(w, n > 0 ? keys[0] : "", flex);
        if (ver >= 1) ed_kwr_i8(w, key_type);
    } else {
        ed_kwr_i8(w, key_type);
        ed_kwr_array(w, n, flex);
        for (int i = 0; i < n; i++)
            ed_kwr_str(w, keys[i], flex);
    }
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_find_coordinator(ed_krd *r, int16_t ver, struct ed_kc_find_coordinator *out)
{
    bool flex = flex_of(ED_KC_FIND_COORDINATOR, ver);
    if (ver >= 1) ed_krd_i32(r);
    if (ver <= 3) {
        out->n = 1;
        out->coordinators = ed_kc_alloc(&out->mem, r, 1, sizeof *out->coordinators);
        struct ed_kc_coordinator *c = out->coordinators;
        if (c) {
            c->error = ed_krd_i16(r);
            if (ver >= 1) c->message = ed_krd_str(r, flex);
            c->node_id = ed_krd_i32(r);
            c->host = ed_krd_str(r, flex);
            c->port = ed_krd_i32(r);
        }
    } else {
        int32_t n = ed_krd_array(r, flex, 12);
        out->coordinators = ed_kc_alloc(&out->mem, r, n, sizeof *out->coordinators);
        out->n = out->coordinators ? n : 0;
        for (int32_t i = 0; i < out->n; i++) {
            struct ed_kc_coordinator *c = &out->coordinators[i];
            c->key = ed_krd_str(r, flex);
            c->node_id = ed_krd_i32(r);
            c->host = ed_krd_str(r, flex);
            c->port = ed_krd_i32(r);
            c->error = ed_krd_i16(r);
            c->message = ed_krd_str(r, flex);
            ed_krd_tags(r, flex);
        }
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- JoinGroup ---- */

void ed_kc_enc_join_group(ed_kwr *w, int16_t ver, const struct ed_kc_join_req *q)
{
    bool flex = flex_of(ED_KC_JOIN_GROUP, ver);
    ed_kwr_str(w, q->group, flex);
    ed_kwr_i32(w, q->session_timeout_ms);
    if (ver >= 1) ed_kwr_i32(w, q->rebalance_timeout_ms);
    ed_kwr_str(w, q->member_id ? q->member_id : "", flex);
    if (ver >= 5) ed_kwr_str(w, q->instance_id, flex);
    ed_kwr_str(w, q->protocol_type, flex);
    ed_kwr_array(w, q->n_protocols, flex);
    for (int i = 0; i < q->n_protocols; i++) {
        ed_kwr_str(w, q->protocols[i].name, flex);
        ed_kwr_bytes(w, q->protocols[i].meta, q->protocols[i].meta_len, flex);
        ed_kwr_tags(w, flex);
    }
    if (ver >= 8) ed_kwr_str(w, NULL, flex); /* reason */
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_join_group(ed_krd *r, int16_t ver, struct ed_kc_join *out)
{
    bool flex = flex_of(ED_KC_JOIN_GROUP, ver);
    if (ver >= 2) ed_krd_i32(r);
    out->error = ed_krd_i16(r);
    out->generation = ed_krd_i32(r);
    out->protocol_type = ver >= 7 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
    out->protocol = ed_krd_str(r, flex);
    out->leader = ed_krd_str(r, flex);
    out->skip_assignment = ver >= 9 ? ed_krd_bool(r) : false;
    out->member_id = ed_krd_str(r, flex);
    int32_t n = ed_krd_array(r, flex, flex ? 3 : 6);
    out->members = ed_kc_alloc(&out->mem, r, n, sizeof *out->members);
    out->n_members = out->members ? n : 0;
    for (int32_t i = 0; i < out->n_members; i++) {
        struct ed_kc_join_member *m = &out->members[i];
        m->member_id = ed_krd_str(r, flex);
        m->instance_id = ver >= 5 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
        m->metadata = ed_krd_bytes(r, flex);
        ed_krd_tags(r, flex);
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- SyncGroup ---- */

void ed_kc_enc_sync_group(ed_kwr *w, int16_t ver, const struct ed_kc_sync_req *q)
{
    bool flex = flex_of(ED_KC_SYNC_GROUP, ver);
    ed_kwr_str(w, q->group, flex);
    ed_kwr_i32(w, q->generation);
    ed_kwr_str(w, q->member_id, flex);
    if (ver >= 3) ed_kwr_str(w, q->instance_id, flex);
    if (ver >= 5) {
        ed_kwr_str(w, q->protocol_type, flex);
        ed_kwr_str(w, q->protocol, flex);
    }
    ed_kwr_array(w, q->n, flex);
    for (int i = 0; i < q->n; i++) {
        ed_kwr_str(w, q->assignments[i].member_id, flex);
        ed_kwr_bytes(w, q->assignments[i].data, q->assignments[i].len, flex);
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_sync_group(ed_krd *r, int16_t ver, struct ed_kc_sync *out)
{
    bool flex = flex_of(ED_KC_SYNC_GROUP, ver);
    if (ver >= 1) ed_krd_i32(r);
    out->error = ed_krd_i16(r);
    out->protocol_type = out->protocol = (ed_kstr){NULL, -1};
    if (ver >= 5) {
        out->protocol_type = ed_krd_str(r, flex);
        out->protocol = ed_krd_str(r, flex);
    }
    out->assignment = ed_krd_bytes(r, flex);
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- Heartbeat ---- */

void ed_kc_enc_heartbeat(ed_kwr *w, int16_t ver, const struct ed_kc_heartbeat_req *q)
{
    bool flex = flex_of(ED_KC_HEARTBEAT, ver);
    ed_kwr_str(w, q->group, flex);
    ed_kwr_i32(w, q->generation);
    ed_kwr_str(w, q->member_id, flex);
    if (ver >= 3) ed_kwr_str(w, q->instance_id, flex);
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_heartbeat(ed_krd *r, int16_t ver, struct ed_kc_error *out)
{
    bool flex = flex_of(ED_KC_HEARTBEAT, ver);
    if (ver >= 1) ed_krd_i32(r);
    out->error = ed_krd_i16(r);
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- LeaveGroup ---- */

void ed_kc_enc_leave_group(ed_kwr *w, int16_t ver, const struct ed_kc_leave_req *q)
{
    bool flex = flex_of(ED_KC_LEAVE_GROUP, ver);
    ed_kwr_str(w, q->group, flex);
    if (ver <= 2) {
        ed_kwr_str(w, q->n > 0 ? q->members[0].member_id : "", flex);
    } else {
        ed_kwr_array(w, q->n, flex);
        for (int i = 0; i < q->n; i++) {
            ed_kwr_str(w, q->members[i].member_id ? q->members[i].member_id : "", flex);
            ed_kwr_str(w, q->members[i].instance_id, flex);
            if (ver >= 5) ed_kwr_str(w, NULL, flex); /* reason */
            ed_kwr_tags(w, flex);
        }
    }
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_leave_group(ed_krd *r, int16_t ver, struct ed_kc_leave *out)
{
    bool flex = flex_of(ED_KC_LEAVE_GROUP, ver);
    if (ver >= 1) ed_krd_i32(r);
    out->error = ed_krd_i16(r);
    if (ver >= 3) {
        int32_t n = ed_krd_array(r, flex, flex ? 4 : 6);
        out->members = ed_kc_alloc(&out->mem, r, n, sizeof *out->members);
        out->n = out->members ? n : 0;
        for (int32_t i = 0; i < out->n; i++) {
            out->members[i].member_id = ed_krd_str(r, flex);
            out->members[i].instance_id = ed_krd_str(r, flex);
            out->members[i].error = ed_krd_i16(r);
            ed_krd_tags(r, flex);
        }
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- OffsetCommit ---- */

void ed_kc_enc_offset_commit(ed_kwr *w, int16_t ver, const struct ed_kc_commit_req *q)
{
    bool flex = flex_of(ED_KC_OFFSET_COMMIT, ver);
    ed_kwr_str(w, q->group, flex);
    if (ver >= 1) {
        ed_kwr_i32(w, q->generation);
        ed_kwr_str(w, q->member_id ? q->member_id : "", flex);
    }
    if (ver >= 7) ed_kwr_str(w, q->instance_id, flex);
    if (ver >= 2 && ver <= 4) ed_kwr_i64(w, -1); /* retention: the broker's */
    int topics = 0;
    for (int i = 0; i < q->n; i++)
        if (i == 0 || strcmp(q->parts[i].topic, q->parts[i - 1].topic) != 0) topics++;
    ed_kwr_array(w, topics, flex);
    for (int i = 0; i < q->n;) {
        int k = i + 1;
        while (k < q->n && strcmp(q->parts[k].topic, q->parts[i].topic) == 0)
            k++;
        ed_kwr_str(w, q->parts[i].topic, flex);
        ed_kwr_array(w, k - i, flex);
        for (int j = i; j < k; j++) {
            const struct ed_kc_commit_part *p = &q->parts[j];
            ed_kwr_i32(w, p->partition);
            ed_kwr_i64(w, p->offset);
            if (ver >= 6) ed_kwr_i32(w, p->leader_epoch);
            if (ver == 1) ed_kwr_i64(w, -1);
            ed_kwr_str(w, p->metadata, flex);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
        i = k;
    }
    ed_kwr_tags(w, flex);
}

static int dec_part_errors(ed_krd *r, bool flex, struct ed_kc_part_errors *out, bool index_first)
{
    int32_t n_topics = ed_krd_array(r, flex, flex ? 2 : 6);
    /* first pass: count partitions on a copy of the cursor */
    ed_krd probe = *r;
    int64_t total = 0;
    for (int32_t t = 0; t < n_topics && ed_krd_ok(&probe); t++) {
        ed_krd_str(&probe, flex);
        int32_t n = ed_krd_array(&probe, flex, 6);
        if (n > 0) total += n;
        for (int32_t i = 0; i < n && ed_krd_ok(&probe); i++) {
            ed_krd_i32(&probe);
            ed_krd_i16(&probe);
            ed_krd_tags(&probe, flex);
        }
        ed_krd_tags(&probe, flex);
    }
    if (!ed_krd_ok(&probe) || total > INT32_MAX) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return finish(r);
    }
    out->parts = ed_kc_alloc(&out->mem, r, (int32_t)total, sizeof *out->parts);
    out->n = 0;
    for (int32_t t = 0; t < n_topics && ed_krd_ok(r); t++) {
        ed_kstr name = ed_krd_str(r, flex);
        int32_t n = ed_krd_array(r, flex, 6);
        for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
            struct ed_kc_part_error *p = &out->parts[out->n++];
            p->topic = name;
            if (index_first) {
                p->partition = ed_krd_i32(r);
                p->error = ed_krd_i16(r);
            }
            ed_krd_tags(r, flex);
        }
        ed_krd_tags(r, flex);
    }
    return finish(r);
}

int ed_kc_dec_offset_commit(ed_krd *r, int16_t ver, struct ed_kc_part_errors *out)
{
    bool flex = flex_of(ED_KC_OFFSET_COMMIT, ver);
    if (ver >= 3) ed_krd_i32(r);
    int rc = dec_part_errors(r, flex, out, true);
    ed_krd_tags(r, flex);
    return rc ? rc : finish(r);
}

/* ---- OffsetFetch ---- */

static void enc_fetch_topics(ed_kwr *w, bool flex, const struct ed_kc_fetch_group *g)
{
    if (g->n < 0) {
        ed_kwr_array(w, -1, flex);
        return;
    }
    ed_kwr_array(w, n_runs(g->parts, g->n), flex);
    for (int i = 0; i < g->n;) {
        int run = run_of(g->parts, i, g->n);
        ed_kwr_str(w, g->parts[i].topic, flex);
        ed_kwr_array(w, run, flex);
        for (int k = i; k < i + run; k++)
            ed_kwr_i32(w, g->parts[k].partition);
        ed_kwr_tags(w, flex);
        i += run;
    }
}

void ed_kc_enc_offset_fetch(ed_kwr *w, int16_t ver, const struct ed_kc_fetch_group *g, int n,
                            bool require_stable)
{
    bool flex = flex_of(ED_KC_OFFSET_FETCH, ver);
    if (ver <= 7) {
        ed_kwr_str(w, n > 0 ? g[0].group : "", flex);
        enc_fetch_topics(w, flex, &g[0]);
    } else {
        ed_kwr_array(w, n, flex);
        for (int i = 0; i < n; i++) {
            ed_kwr_str(w, g[i].group, flex);
            if (ver >= 9) {
                ed_kwr_str(w, NULL, flex);
                ed_kwr_i32(w, -1);
            }
            enc_fetch_topics(w, flex, &g[i]);
            ed_kwr_tags(w, flex);
        }
    }
    if (ver >= 7) ed_kwr_bool(w, require_stable);
    ed_kwr_tags(w, flex);
}

/* Topics of one group: counted on a probe, then decoded. */
static void dec_group_offsets(ed_krd *r, int16_t ver, bool flex, struct ed_kc_mem *mem,
                              struct ed_kc_group_offsets *g)
{
    int32_t n_topics = ed_krd_array(r, flex, flex ? 2 : 6);
    ed_krd probe = *r;
    int64_t total = 0;
    for (int32_t t = 0; t < n_topics && ed_krd_ok(&probe); t++) {
        ed_krd_str(&probe, flex);
        int32_t n = ed_krd_array(&probe, flex, 16);
        if (n > 0) total += n;
        for (int32_t i = 0; i < n && ed_krd_ok(&probe); i++) {
            ed_krd_i32(&probe);
            ed_krd_i64(&probe);
            if (ver >= 5) ed_krd_i32(&probe);
            ed_krd_str(&probe, flex);
            ed_krd_i16(&probe);
            ed_krd_tags(&probe, flex);
        }
        ed_krd_tags(&probe, flex);
    }
    if (!ed_krd_ok(&probe) || total > INT32_MAX) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return;
    }
    g->parts = ed_kc_alloc(mem, r, (int32_t)total, sizeof *g->parts);
    g->n = 0;
    for (int32_t t = 0; t < n_topics && ed_krd_ok(r); t++) {
        ed_kstr name = ed_krd_str(r, flex);
        int32_t n = ed_krd_array(r, flex, 16);
        for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
            struct ed_kc_committed *p = &g->parts[g->n++];
            p->topic = name;
            p->partition = ed_krd_i32(r);
            p->offset = ed_krd_i64(r);
            p->leader_epoch = ver >= 5 ? ed_krd_i32(r) : -1;
            p->metadata = ed_krd_str(r, flex);
            p->error = ed_krd_i16(r);
            ed_krd_tags(r, flex);
        }
        ed_krd_tags(r, flex);
    }
}

int ed_kc_dec_offset_fetch(ed_krd *r, int16_t ver, struct ed_kc_offset_fetch *out)
{
    bool flex = flex_of(ED_KC_OFFSET_FETCH, ver);
    if (ver >= 3) ed_krd_i32(r);
    if (ver <= 7) {
        out->groups = ed_kc_alloc(&out->mem, r, 1, sizeof *out->groups);
        out->n_groups = out->groups ? 1 : 0;
        if (out->groups) {
            dec_group_offsets(r, ver, flex, &out->mem, out->groups);
            if (ver >= 2) out->groups->error = ed_krd_i16(r);
        }
    } else {
        int32_t n = ed_krd_array(r, flex, 4);
        out->groups = ed_kc_alloc(&out->mem, r, n, sizeof *out->groups);
        out->n_groups = out->groups ? n : 0;
        for (int32_t i = 0; i < out->n_groups && ed_krd_ok(r); i++) {
            out->groups[i].group = ed_krd_str(r, flex);
            dec_group_offsets(r, ver, flex, &out->mem, &out->groups[i]);
            out->groups[i].error = ed_krd_i16(r);
            ed_krd_tags(r, flex);
        }
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- ListGroups ---- */

void ed_kc_enc_list_groups(ed_kwr *w, int16_t ver, const struct ed_kc_list_groups_req *q)
{
    bool flex = flex_of(ED_KC_LIST_GROUPS, ver);
    if (ver >= 4) {
        ed_kwr_array(w, q ? q->n_states : 0, flex);
        for (int i = 0; q && i < q->n_states; i++)
            ed_kwr_str(w, q->states[i], flex);
    }
    if (ver >= 5) {
        ed_kwr_array(w, q ? q->n_types : 0, flex);
        for (int i = 0; q && i < q->n_types; i++)
            ed_kwr_str(w, q->types[i], flex);
    }
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_list_groups(ed_krd *r, int16_t ver, struct ed_kc_list_groups *out)
{
    bool flex = flex_of(ED_KC_LIST_GROUPS, ver);
    if (ver >= 1) ed_krd_i32(r);
    out->error = ed_krd_i16(r);
    int32_t n = ed_krd_array(r, flex, flex ? 3 : 4);
    out->groups = ed_kc_alloc(&out->mem, r, n, sizeof *out->groups);
    out->n = out->groups ? n : 0;
    for (int32_t i = 0; i < out->n; i++) {
        struct ed_kc_listed_group *g = &out->groups[i];
        g->group = ed_krd_str(r, flex);
        g->protocol_type = ed_krd_str(r, flex);
        g->state = ver >= 4 ? ed_krd_str(r, flex) : (ed_kstr){"", 0};
        g->type = ver >= 5 ? ed_krd_str(r, flex) : (ed_kstr){"", 0};
        ed_krd_tags(r, flex);
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- DescribeGroups ---- */

void ed_kc_enc_describe_groups(ed_kwr *w, int16_t ver, const struct ed_kc_describe_groups_req *q)
{
    bool flex = flex_of(ED_KC_DESCRIBE_GROUPS, ver);
    ed_kwr_array(w, q->n, flex);
    for (int i = 0; i < q->n; i++)
        ed_kwr_str(w, q->groups[i], flex);
    if (ver >= 3) ed_kwr_bool(w, q->include_ops);
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_describe_groups(ed_krd *r, int16_t ver, struct ed_kc_describe_groups *out)
{
    bool flex = flex_of(ED_KC_DESCRIBE_GROUPS, ver);
    if (ver >= 1) ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, flex ? 7 : 14);
    out->groups = ed_kc_alloc(&out->mem, r, n, sizeof *out->groups);
    out->n = out->groups ? n : 0;
    for (int32_t i = 0; i < out->n && ed_krd_ok(r); i++) {
        struct ed_kc_described_group *g = &out->groups[i];
        g->error = ed_krd_i16(r);
        g->group = ed_krd_str(r, flex);
        g->state = ed_krd_str(r, flex);
        g->protocol_type = ed_krd_str(r, flex);
        g->protocol = ed_krd_str(r, flex);
        int32_t m = ed_krd_array(r, flex, flex ? 6 : 16);
        g->members = ed_kc_alloc(&out->mem, r, m, sizeof *g->members);
        g->n_members = g->members ? m : 0;
        for (int32_t k = 0; k < g->n_members; k++) {
            struct ed_kc_group_member *mm = &g->members[k];
            mm->member_id = ed_krd_str(r, flex);
            mm->instance_id = ver >= 4 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
            mm->client_id = ed_krd_str(r, flex);
            mm->client_host = ed_krd_str(r, flex);
            mm->metadata = ed_krd_bytes(r, flex);
            mm->assignment = ed_krd_bytes(r, flex);
            ed_krd_tags(r, flex);
        }
        g->authorized_ops = ver >= 3 ? ed_krd_i32(r) : INT32_MIN;
        ed_krd_tags(r, flex);
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- DeleteGroups ---- */

void ed_kc_enc_delete_groups(ed_kwr *w, int16_t ver, const struct ed_kc_names *q)
{
    bool flex = flex_of(ED_KC_DELETE_GROUPS, ver);
    ed_kwr_array(w, q->n, flex);
    for (int i = 0; i < q->n; i++)
        ed_kwr_str(w, q->names[i], flex);
    ed_kwr_tags(w, flex);
}

int ed_kc_dec_delete_groups(ed_krd *r, int16_t ver, struct ed_kc_items *out)
{
    bool flex = flex_of(ED_KC_DELETE_GROUPS, ver);
    ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, flex ? 3 : 4);
    out->items = ed_kc_alloc(&out->mem, r, n, sizeof *out->items);
    out->n = out->items ? n : 0;
    for (int32_t i = 0; i < out->n; i++) {
        out->items[i].name = ed_krd_str(r, flex);
        out->items[i].error = ed_krd_i16(r);
        out->items[i].message = (ed_kstr){NULL, -1};
        ed_krd_tags(r, flex);
    }
    ed_krd_tags(r, flex);
    return finish(r);
}

/* ---- OffsetDelete ---- */

void ed_kc_enc_offset_delete(ed_kwr *w, int16_t ver, const struct ed_kc_offset_delete_req *q)
{
    ED_UNUSED(ver);
    ed_kwr_str(w, q->group, false);
    ed_kwr_array(w, n_runs(q->parts, q->n), false);
    for (int i = 0; i < q->n;) {
        int run = run_of(q->parts, i, q->n);
        ed_kwr_str(w, q->parts[i].topic, false);
        ed_kwr_array(w, run, false);
        for (int k = i; k < i + run; k++)
            ed_kwr_i32(w, q->parts[k].partition);
        i += run;
    }
}

int ed_kc_dec_offset_delete(ed_krd *r, int16_t ver, struct ed_kc_part_errors *out)
{
    ED_UNUSED(ver);
    out->error = ed_krd_i16(r);
    ed_krd_i32(r);
    return dec_part_errors(r, false, out, true);
}

/* ---- blocking calls ---- */

struct enc_args {
    const void *q;
    int n;
    int8_t key_type;
    bool flag;
};

#define CALL(c, key, enc_fn, dec_fn, out)                                                          \
    do {                                                                                           \
        memset((out), 0, sizeof *(out));                                                           \
        ed_krd r_;                                                                                 \
        int16_t v_;                                                                                \
        int rc_ = ed_kclient_call((c), (key), (enc_fn), &a_, &(out)->mem, &r_, &v_);               \
        if (rc_) return rc_;                                                                       \
        return ed_kclient_decoded((c), dec_fn(&r_, v_, (out)), &(out)->mem);                       \
    } while (0)

static void enc_find(ed_kwr *w, int16_t ver, const void *arg)
{
    const struct enc_args *a = arg;
    ed_kc_enc_find_coordinator(w, ver, a->key_type, a->q, 1);
}

int ed_kclient_find_coordinator(ed_kclient *c, int8_t key_type, const char *key,
                                struct ed_kc_find_coordinator *out)
{
    const char *keys[1] = {key};
    struct enc_args a_ = {keys, 1, key_type, false};
    CALL(c, ED_KC_FIND_COORDINATOR, enc_find, ed_kc_dec_find_coordinator, out);
}

static void enc_join(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_join_group(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_join_group(ed_kclient *c, const struct ed_kc_join_req *q, struct ed_kc_join *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_JOIN_GROUP, enc_join, ed_kc_dec_join_group, out);
}

static void enc_sync(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_sync_group(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_sync_group(ed_kclient *c, const struct ed_kc_sync_req *q, struct ed_kc_sync *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_SYNC_GROUP, enc_sync, ed_kc_dec_sync_group, out);
}

static void enc_hb(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_heartbeat(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_heartbeat(ed_kclient *c, const struct ed_kc_heartbeat_req *q,
                         struct ed_kc_error *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_HEARTBEAT, enc_hb, ed_kc_dec_heartbeat, out);
}

static void enc_leave(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_leave_group(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_leave_group(ed_kclient *c, const struct ed_kc_leave_req *q, struct ed_kc_leave *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_LEAVE_GROUP, enc_leave, ed_kc_dec_leave_group, out);
}

static void enc_commit(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_offset_commit(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_offset_commit(ed_kclient *c, const struct ed_kc_commit_req *q,
                             struct ed_kc_part_errors *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_OFFSET_COMMIT, enc_commit, ed_kc_dec_offset_commit, out);
}

static void enc_ofetch(ed_kwr *w, int16_t ver, const void *arg)
{
    const struct enc_args *a = arg;
    ed_kc_enc_offset_fetch(w, ver, a->q, a->n, a->flag);
}

int ed_kclient_offset_fetch(ed_kclient *c, const struct ed_kc_fetch_group *g, int n,
                            struct ed_kc_offset_fetch *out)
{
    struct enc_args a_ = {g, n, 0, false};
    if (n > 1 && ed_kclient_version(c, ED_KC_OFFSET_FETCH) < 8) {
        memset(out, 0, sizeof *out);
        return ED_ERR_UNSUPPORTED;
    }
    CALL(c, ED_KC_OFFSET_FETCH, enc_ofetch, ed_kc_dec_offset_fetch, out);
}

static void enc_list(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_list_groups(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_list_groups(ed_kclient *c, const struct ed_kc_list_groups_req *q,
                           struct ed_kc_list_groups *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_LIST_GROUPS, enc_list, ed_kc_dec_list_groups, out);
}

static void enc_describe(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_describe_groups(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_describe_groups(ed_kclient *c, const struct ed_kc_describe_groups_req *q,
                               struct ed_kc_describe_groups *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_DESCRIBE_GROUPS, enc_describe, ed_kc_dec_describe_groups, out);
}

static void enc_delete(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_delete_groups(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_delete_groups(ed_kclient *c, const struct ed_kc_names *q, struct ed_kc_items *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_DELETE_GROUPS, enc_delete, ed_kc_dec_delete_groups, out);
}

static void enc_odelete(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_offset_delete(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_offset_delete(ed_kclient *c, const struct ed_kc_offset_delete_req *q,
                             struct ed_kc_part_errors *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KC_OFFSET_DELETE, enc_odelete, ed_kc_dec_offset_delete, out);
}

/* ---- consumer protocol ---- */

int ed_kc_consumer_subscription(ed_kwr *w, const char *const *topics, int n)
{
    ed_kwr_i16(w, 0);
    ed_kwr_array(w, n, false);
    for (int i = 0; i < n; i++)
        ed_kwr_str(w, topics[i], false);
    ed_kwr_bytes(w, NULL, -1, false);
    return w->err;
}

int ed_kc_consumer_assignment(ed_kwr *w, const struct ed_kc_tp *parts, int n)
{
    ed_kwr_i16(w, 0);
    ed_kwr_array(w, n_runs(parts, n), false);
    for (int i = 0; i < n;) {
        int run = run_of(parts, i, n);
        ed_kwr_str(w, parts[i].topic, false);
        ed_kwr_array(w, run, false);
        for (int k = i; k < i + run; k++)
            ed_kwr_i32(w, parts[k].partition);
        i += run;
    }
    ed_kwr_bytes(w, NULL, -1, false);
    return w->err;
}

int ed_kc_consumer_assignment_each(const uint8_t *p, int32_t len,
                                   void (*cb)(void *arg, ed_kstr topic, int32_t partition),
                                   void *arg)
{
    if (len <= 0) return ED_OK; /* no assignment */
    ed_krd r;
    ed_krd_init(&r, p, (size_t)len);
    int16_t ver = ed_krd_i16(&r);
    int32_t n = ed_krd_array(&r, false, 6);
    if (!ed_krd_ok(&r) || ver < 0 || n < 0) return ED_ERR_PROTO;
    /* validate before calling back */
    ed_krd probe = r;
    for (int32_t t = 0; t < n && ed_krd_ok(&probe); t++) {
        ed_krd_str(&probe, false);
        int32_t k = ed_krd_array(&probe, false, 4);
        if (k > 0) ed_krd_skip(&probe, (size_t)k * 4);
    }
    if (!ed_krd_ok(&probe)) return ED_ERR_PROTO;
    for (int32_t t = 0; t < n; t++) {
        ed_kstr topic = ed_krd_str(&r, false);
        int32_t k = ed_krd_array(&r, false, 4);
        for (int32_t i = 0; i < k; i++)
            cb(arg, topic, ed_krd_i32(&r));
    }
    return ED_OK;
}
