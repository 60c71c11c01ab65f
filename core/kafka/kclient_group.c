/* Eddy's client codec of Kafka's group APIs and the consumer protocol's
 * embedded formats (see kclient_group.h), with blocking calls over an
 * ed_kclient. The message schema (core/kafka/) encodes and decodes; this
 * file fills the request structs and copies responses into the results. */
#include "core/kafka/kclient_group.h"
#include "platform/mem.h"

#include <string.h>

#define TP_RUN(p, i, n) ed_kc_topic_run(&(p)[0].topic, sizeof *(p), (i), (n))
#define TP_RUNS(p, n)   ((n) > 0 ? ed_kc_count_topics(&(p)[0].topic, sizeof *(p), (n)) : 0)
#define STR_OR_EMPTY(s) ed_kc_str((s) ? (s) : "")

static int finish(ed_krd *r)
{
    return r->err == ED_ERR_NOMEM ? ED_ERR_NOMEM : (r->err ? ED_ERR_PROTO : ED_OK);
}

/* n partition numbers of parts in a. */
static int32_t *partitions(ed_karena *a, ed_kwr *w, const struct ed_kc_tp *parts, int n)
{
    int32_t *p = n > 0 ? ed_karena_alloc(a, sizeof *p * (size_t)n) : NULL;
    if (n > 0 && !p && w->err == ED_OK) w->err = ED_ERR_NOMEM;
    for (int i = 0; p && i < n; i++)
        p[i] = parts[i].partition;
    return p;
}

/* ---- FindCoordinator: one key before v4, a batch of keys from v4 ---- */

void ed_kc_enc_find_coordinator(ed_kwr *w, int16_t ver, int8_t key_type, const char *const *keys,
                                int n)
{
    ED_KC_ENC_BEGIN(find_coordinator_request, m);
    m.key = ed_kc_str(n > 0 ? keys[0] : "");
    m.key_type = key_type;
    m.n_coordinator_keys = n;
    m.coordinator_keys = ed_kc_enc_strs(&a, w, keys, n);
    ed_kc_enc_finish(&a, w, ED_KMSG_FIND_COORDINATOR, ver, &m);
}

int ed_kc_dec_find_coordinator(ed_krd *r, int16_t ver, struct ed_kc_find_coordinator *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_FIND_COORDINATOR, find_coordinator_response, m);
    if (!ed_kschema_has(&ed_kmsg_find_coordinator_response_desc, ver, "Coordinators")) {
        out->coordinators = ed_kc_alloc(&out->mem, r, 1, sizeof *out->coordinators);
        out->n = out->coordinators ? 1 : 0;
        if (out->n)
            *out->coordinators = (struct ed_kc_coordinator){
                {NULL, 0}, m->node_id, m->host, m->port, m->error_code, m->error_message};
        return finish(r);
    }
    out->coordinators = ed_kc_alloc(&out->mem, r, m->n_coordinators, sizeof *out->coordinators);
    out->n = out->coordinators ? m->n_coordinators : 0;
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_find_coordinator_response_coordinator *c = &m->coordinators[i];
        out->coordinators[i] = (struct ed_kc_coordinator){c->key,  c->node_id,    c->host,
                                                          c->port, c->error_code, c->error_message};
    }
    return finish(r);
}

/* ---- JoinGroup ---- */

void ed_kc_enc_join_group(ed_kwr *w, int16_t ver, const struct ed_kc_join_req *q)
{
    ED_KC_ENC_BEGIN(join_group_request, m);
    m.group_id = ed_kc_str(q->group);
    m.session_timeout_ms = q->session_timeout_ms;
    m.rebalance_timeout_ms = q->rebalance_timeout_ms;
    m.member_id = STR_OR_EMPTY(q->member_id);
    m.group_instance_id = ed_kc_str(q->instance_id);
    m.protocol_type = ed_kc_str(q->protocol_type);
    m.n_protocols = q->n_protocols;
    m.protocols = ED_KC_STRUCTS(q->n_protocols, join_group_request_protocol);
    for (int i = 0; m.protocols && i < q->n_protocols; i++) {
        m.protocols[i].name = ed_kc_str(q->protocols[i].name);
        m.protocols[i].metadata = (ed_kbytes){q->protocols[i].meta, q->protocols[i].meta_len};
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_JOIN_GROUP, ver, &m);
}

int ed_kc_dec_join_group(ed_krd *r, int16_t ver, struct ed_kc_join *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_JOIN_GROUP, join_group_response, m);
    out->error = m->error_code;
    out->generation = m->generation_id;
    out->protocol_type = m->protocol_type;
    out->protocol = m->protocol_name;
    out->leader = m->leader;
    out->skip_assignment = m->skip_assignment;
    out->member_id = m->member_id;
    out->members = ed_kc_alloc(&out->mem, r, m->n_members, sizeof *out->members);
    out->n_members = out->members ? m->n_members : 0;
    for (int32_t i = 0; i < out->n_members; i++)
        out->members[i] = (struct ed_kc_join_member){
            m->members[i].member_id, m->members[i].group_instance_id, m->members[i].metadata};
    return finish(r);
}

/* ---- SyncGroup ---- */

void ed_kc_enc_sync_group(ed_kwr *w, int16_t ver, const struct ed_kc_sync_req *q)
{
    ED_KC_ENC_BEGIN(sync_group_request, m);
    m.group_id = ed_kc_str(q->group);
    m.generation_id = q->generation;
    m.member_id = ed_kc_str(q->member_id);
    m.group_instance_id = ed_kc_str(q->instance_id);
    m.protocol_type = ed_kc_str(q->protocol_type);
    m.protocol_name = ed_kc_str(q->protocol);
    m.n_assignments = q->n;
    m.assignments = ED_KC_STRUCTS(q->n, sync_group_request_assignment);
    for (int i = 0; m.assignments && i < q->n; i++) {
        m.assignments[i].member_id = ed_kc_str(q->assignments[i].member_id);
        m.assignments[i].assignment = (ed_kbytes){q->assignments[i].data, q->assignments[i].len};
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_SYNC_GROUP, ver, &m);
}

int ed_kc_dec_sync_group(ed_krd *r, int16_t ver, struct ed_kc_sync *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_SYNC_GROUP, sync_group_response, m);
    out->error = m->error_code;
    out->protocol_type = m->protocol_type;
    out->protocol = m->protocol_name;
    out->assignment = m->assignment;
    return finish(r);
}

/* ---- Heartbeat ---- */

void ed_kc_enc_heartbeat(ed_kwr *w, int16_t ver, const struct ed_kc_heartbeat_req *q)
{
    ED_KC_ENC_BEGIN(heartbeat_request, m);
    m.group_id = ed_kc_str(q->group);
    m.generation_id = q->generation;
    m.member_id = ed_kc_str(q->member_id);
    m.group_instance_id = ed_kc_str(q->instance_id);
    ed_kc_enc_finish(&a, w, ED_KMSG_HEARTBEAT, ver, &m);
}

int ed_kc_dec_heartbeat(ed_krd *r, int16_t ver, struct ed_kc_error *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_HEARTBEAT, heartbeat_response, m);
    out->error = m->error_code;
    return finish(r);
}

/* ---- LeaveGroup: one member before v3, a batch from v3 ---- */

void ed_kc_enc_leave_group(ed_kwr *w, int16_t ver, const struct ed_kc_leave_req *q)
{
    ED_KC_ENC_BEGIN(leave_group_request, m);
    m.group_id = ed_kc_str(q->group);
    m.member_id = STR_OR_EMPTY(q->n > 0 ? q->members[0].member_id : "");
    m.n_members = q->n;
    m.members = ED_KC_STRUCTS(q->n, leave_group_request_member_identity);
    for (int i = 0; m.members && i < q->n; i++) {
        m.members[i].member_id = STR_OR_EMPTY(q->members[i].member_id);
        m.members[i].group_instance_id = ed_kc_str(q->members[i].instance_id);
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_LEAVE_GROUP, ver, &m);
}

int ed_kc_dec_leave_group(ed_krd *r, int16_t ver, struct ed_kc_leave *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_LEAVE_GROUP, leave_group_response, m);
    out->error = m->error_code;
    out->members = ed_kc_alloc(&out->mem, r, m->n_members, sizeof *out->members);
    out->n = out->members ? m->n_members : 0;
    for (int32_t i = 0; i < out->n; i++)
        out->members[i] = (struct ed_kc_leave_result){
            m->members[i].member_id, m->members[i].group_instance_id, m->members[i].error_code};
    return finish(r);
}

/* ---- OffsetCommit ---- */

void ed_kc_enc_offset_commit(ed_kwr *w, int16_t ver, const struct ed_kc_commit_req *q)
{
    /* retention and commit timestamps stay the broker's (-1 defaults) */
    ED_KC_ENC_BEGIN(offset_commit_request, m);
    m.group_id = ed_kc_str(q->group);
    m.generation_id_or_member_epoch = q->generation;
    m.member_id = STR_OR_EMPTY(q->member_id);
    m.group_instance_id = ed_kc_str(q->instance_id);
    m.n_topics = TP_RUNS(q->parts, q->n);
    m.topics = ED_KC_STRUCTS(m.n_topics, offset_commit_request_topic);
    for (int i = 0, t = 0; m.topics && i < q->n; t++) {
        struct ed_kmsg_offset_commit_request_topic *d = &m.topics[t];
        int run = TP_RUN(q->parts, i, q->n);
        d->name = ed_kc_str(q->parts[i].topic);
        d->n_partitions = run;
        d->partitions = ED_KC_STRUCTS(run, offset_commit_request_partition);
        for (int k = 0; d->partitions && k < run; k++) {
            const struct ed_kc_commit_part *p = &q->parts[i + k];
            d->partitions[k].partition_index = p->partition;
            d->partitions[k].committed_offset = p->offset;
            d->partitions[k].committed_leader_epoch = p->leader_epoch;
            d->partitions[k].committed_metadata = ed_kc_str(p->metadata);
        }
        i += run;
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_OFFSET_COMMIT, ver, &m);
}

int ed_kc_dec_offset_commit(ed_krd *r, int16_t ver, struct ed_kc_part_errors *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_OFFSET_COMMIT, offset_commit_response, m);
    ED_KC_FLATTEN(n_topics, topics, n_partitions, parts)
    {
        const struct ed_kmsg_offset_commit_response_partition *p = &m->topics[i].partitions[k];
        out->parts[j] =
            (struct ed_kc_part_error){m->topics[i].name, p->partition_index, p->error_code};
    }
    return finish(r);
}

/* ---- OffsetFetch: one group before v8, a batch of groups from v8 ---- */

/* The topics of g as the request's topic structs of type T (their layout
 * is the same in both shapes); n -1 asks for every committed offset. */
#define FETCH_TOPICS(dst_n, dst, type, g)                                                          \
    do {                                                                                           \
        (dst_n) = (g)->n < 0 ? -1 : TP_RUNS((g)->parts, (g)->n);                                   \
        (dst) = ED_KC_STRUCTS(dst_n, type);                                                        \
        for (int i_ = 0, t_ = 0; (dst) && i_ < (g)->n; t_++) {                                     \
            int run_ = TP_RUN((g)->parts, i_, (g)->n);                                             \
            (dst)[t_].name = ed_kc_str((g)->parts[i_].topic);                                      \
            (dst)[t_].n_partition_indexes = run_;                                                  \
            (dst)[t_].partition_indexes = partitions(&a, w, (g)->parts + i_, run_);                \
            i_ += run_;                                                                            \
        }                                                                                          \
    } while (0)

void ed_kc_enc_offset_fetch(ed_kwr *w, int16_t ver, const struct ed_kc_fetch_group *g, int n,
                            bool require_stable)
{
    ED_KC_ENC_BEGIN(offset_fetch_request, m);
    if (n > 0) {
        m.group_id = ed_kc_str(g[0].group);
        FETCH_TOPICS(m.n_topics, m.topics, offset_fetch_request_topic, &g[0]);
    }
    m.n_groups = n;
    m.groups = ED_KC_STRUCTS(n, offset_fetch_request_group);
    for (int i = 0; m.groups && i < n; i++) {
        m.groups[i].group_id = ed_kc_str(g[i].group);
        FETCH_TOPICS(m.groups[i].n_topics, m.groups[i].topics, offset_fetch_request_topics, &g[i]);
    }
    m.require_stable = require_stable;
    ed_kc_enc_finish(&a, w, ED_KMSG_OFFSET_FETCH, ver, &m);
}

/* The committed offsets of one group's topics (either shape). */
#define FETCHED(dst, m_topics, m_n)                                                                \
    do {                                                                                           \
        int32_t total_ = 0;                                                                        \
        for (int32_t t_ = 0; t_ < (m_n); t_++)                                                     \
            total_ += (m_topics)[t_].n_partitions;                                                 \
        (dst)->parts = ed_kc_alloc(&out->mem, r, total_, sizeof *(dst)->parts);                    \
        (dst)->n = (dst)->parts ? total_ : 0;                                                      \
        for (int32_t t_ = 0, j_ = 0; j_ < (dst)->n; t_++)                                          \
            for (int32_t k_ = 0; k_ < (m_topics)[t_].n_partitions; k_++, j_++)                     \
                (dst)->parts[j_] =                                                                 \
                    (struct ed_kc_committed){(m_topics)[t_].name,                                  \
                                             (m_topics)[t_].partitions[k_].partition_index,        \
                                             (m_topics)[t_].partitions[k_].committed_offset,       \
                                             (m_topics)[t_].partitions[k_].committed_leader_epoch, \
                                             (m_topics)[t_].partitions[k_].metadata,               \
                                             (m_topics)[t_].partitions[k_].error_code};            \
    } while (0)

int ed_kc_dec_offset_fetch(ed_krd *r, int16_t ver, struct ed_kc_offset_fetch *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_OFFSET_FETCH, offset_fetch_response, m);
    if (!ed_kschema_has(&ed_kmsg_offset_fetch_response_desc, ver, "Groups")) {
        out->groups = ed_kc_alloc(&out->mem, r, 1, sizeof *out->groups);
        out->n_groups = out->groups ? 1 : 0;
        if (out->groups) {
            out->groups->error = m->error_code;
            FETCHED(out->groups, m->topics, m->n_topics);
        }
        return finish(r);
    }
    out->groups = ed_kc_alloc(&out->mem, r, m->n_groups, sizeof *out->groups);
    out->n_groups = out->groups ? m->n_groups : 0;
    for (int32_t i = 0; i < out->n_groups; i++) {
        out->groups[i].group = m->groups[i].group_id;
        out->groups[i].error = m->groups[i].error_code;
        FETCHED(&out->groups[i], m->groups[i].topics, m->groups[i].n_topics);
    }
    return finish(r);
}

/* ---- ListGroups ---- */

void ed_kc_enc_list_groups(ed_kwr *w, int16_t ver, const struct ed_kc_list_groups_req *q)
{
    ED_KC_ENC_BEGIN(list_groups_request, m);
    if (q) {
        m.n_states_filter = q->n_states;
        m.states_filter = ed_kc_enc_strs(&a, w, q->states, q->n_states);
        m.n_types_filter = q->n_types;
        m.types_filter = ed_kc_enc_strs(&a, w, q->types, q->n_types);
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_LIST_GROUPS, ver, &m);
}

int ed_kc_dec_list_groups(ed_krd *r, int16_t ver, struct ed_kc_list_groups *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_LIST_GROUPS, list_groups_response, m);
    out->error = m->error_code;
    out->groups = ed_kc_alloc(&out->mem, r, m->n_groups, sizeof *out->groups);
    out->n = out->groups ? m->n_groups : 0;
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_list_groups_response_listed_group *g = &m->groups[i];
        out->groups[i] = (struct ed_kc_listed_group){g->group_id, g->protocol_type, g->group_state,
                                                     g->group_type};
    }
    return finish(r);
}

/* ---- DescribeGroups ---- */

void ed_kc_enc_describe_groups(ed_kwr *w, int16_t ver, const struct ed_kc_describe_groups_req *q)
{
    ED_KC_ENC_BEGIN(describe_groups_request, m);
    m.n_groups = q->n;
    m.groups = ed_kc_enc_strs(&a, w, q->groups, q->n);
    m.include_authorized_operations = q->include_ops;
    ed_kc_enc_finish(&a, w, ED_KMSG_DESCRIBE_GROUPS, ver, &m);
}

int ed_kc_dec_describe_groups(ed_krd *r, int16_t ver, struct ed_kc_describe_groups *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_DESCRIBE_GROUPS, describe_groups_response, m);
    out->groups = ed_kc_alloc(&out->mem, r, m->n_groups, sizeof *out->groups);
    out->n = out->groups ? m->n_groups : 0;
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_describe_groups_response_described_group *s = &m->groups[i];
        struct ed_kc_described_group *g = &out->groups[i];
        *g = (struct ed_kc_described_group){
            s->error_code,    s->group_id, s->group_state, s->protocol_type,
            s->protocol_data, 0,           NULL,           s->authorized_operations};
        g->members = ed_kc_alloc(&out->mem, r, s->n_members, sizeof *g->members);
        g->n_members = g->members ? s->n_members : 0;
        for (int32_t k = 0; k < g->n_members; k++) {
            const struct ed_kmsg_describe_groups_response_described_group_member *mm =
                &s->members[k];
            g->members[k] = (struct ed_kc_group_member){mm->member_id,       mm->group_instance_id,
                                                        mm->client_id,       mm->client_host,
                                                        mm->member_metadata, mm->member_assignment};
        }
    }
    return finish(r);
}

/* ---- DeleteGroups ---- */

void ed_kc_enc_delete_groups(ed_kwr *w, int16_t ver, const struct ed_kc_names *q)
{
    ED_KC_ENC_BEGIN(delete_groups_request, m);
    m.n_groups_names = q->n;
    m.groups_names = ed_kc_enc_strs(&a, w, q->names, q->n);
    ed_kc_enc_finish(&a, w, ED_KMSG_DELETE_GROUPS, ver, &m);
}

int ed_kc_dec_delete_groups(ed_krd *r, int16_t ver, struct ed_kc_items *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_DELETE_GROUPS, delete_groups_response, m);
    out->items = ed_kc_alloc(&out->mem, r, m->n_results, sizeof *out->items);
    out->n = out->items ? m->n_results : 0;
    for (int32_t i = 0; i < out->n; i++) {
        out->items[i].name = m->results[i].group_id;
        out->items[i].error = m->results[i].error_code;
        out->items[i].message = (ed_kstr){NULL, -1};
    }
    return finish(r);
}

/* ---- OffsetDelete ---- */

void ed_kc_enc_offset_delete(ed_kwr *w, int16_t ver, const struct ed_kc_offset_delete_req *q)
{
    ED_KC_ENC_BEGIN(offset_delete_request, m);
    m.group_id = ed_kc_str(q->group);
    m.n_topics = TP_RUNS(q->parts, q->n);
    m.topics = ED_KC_STRUCTS(m.n_topics, offset_delete_request_topic);
    for (int i = 0, t = 0; m.topics && i < q->n; t++) {
        int run = TP_RUN(q->parts, i, q->n);
        m.topics[t].name = ed_kc_str(q->parts[i].topic);
        m.topics[t].n_partitions = run;
        m.topics[t].partitions = ED_KC_STRUCTS(run, offset_delete_request_partition);
        for (int k = 0; m.topics[t].partitions && k < run; k++)
            m.topics[t].partitions[k].partition_index = q->parts[i + k].partition;
        i += run;
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_OFFSET_DELETE, ver, &m);
}

int ed_kc_dec_offset_delete(ed_krd *r, int16_t ver, struct ed_kc_part_errors *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_OFFSET_DELETE, offset_delete_response, m);
    out->error = m->error_code;
    ED_KC_FLATTEN(n_topics, topics, n_partitions, parts)
    {
        const struct ed_kmsg_offset_delete_response_partition *p = &m->topics[i].partitions[k];
        out->parts[j] =
            (struct ed_kc_part_error){m->topics[i].name, p->partition_index, p->error_code};
    }
    return finish(r);
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
    CALL(c, ED_KMSG_FIND_COORDINATOR, enc_find, ed_kc_dec_find_coordinator, out);
}

static void enc_join(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_join_group(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_join_group(ed_kclient *c, const struct ed_kc_join_req *q, struct ed_kc_join *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_JOIN_GROUP, enc_join, ed_kc_dec_join_group, out);
}

static void enc_sync(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_sync_group(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_sync_group(ed_kclient *c, const struct ed_kc_sync_req *q, struct ed_kc_sync *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_SYNC_GROUP, enc_sync, ed_kc_dec_sync_group, out);
}

static void enc_hb(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_heartbeat(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_heartbeat(ed_kclient *c, const struct ed_kc_heartbeat_req *q,
                         struct ed_kc_error *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_HEARTBEAT, enc_hb, ed_kc_dec_heartbeat, out);
}

static void enc_leave(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_leave_group(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_leave_group(ed_kclient *c, const struct ed_kc_leave_req *q, struct ed_kc_leave *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_LEAVE_GROUP, enc_leave, ed_kc_dec_leave_group, out);
}

static void enc_commit(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_offset_commit(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_offset_commit(ed_kclient *c, const struct ed_kc_commit_req *q,
                             struct ed_kc_part_errors *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_OFFSET_COMMIT, enc_commit, ed_kc_dec_offset_commit, out);
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
    if (n > 1 && ed_kclient_version(c, ED_KMSG_OFFSET_FETCH) < 8) {
        memset(out, 0, sizeof *out);
        return ED_ERR_UNSUPPORTED;
    }
    CALL(c, ED_KMSG_OFFSET_FETCH, enc_ofetch, ed_kc_dec_offset_fetch, out);
}

static void enc_list(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_list_groups(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_list_groups(ed_kclient *c, const struct ed_kc_list_groups_req *q,
                           struct ed_kc_list_groups *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_LIST_GROUPS, enc_list, ed_kc_dec_list_groups, out);
}

static void enc_describe(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_describe_groups(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_describe_groups(ed_kclient *c, const struct ed_kc_describe_groups_req *q,
                               struct ed_kc_describe_groups *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_DESCRIBE_GROUPS, enc_describe, ed_kc_dec_describe_groups, out);
}

static void enc_delete(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_delete_groups(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_delete_groups(ed_kclient *c, const struct ed_kc_names *q, struct ed_kc_items *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_DELETE_GROUPS, enc_delete, ed_kc_dec_delete_groups, out);
}

static void enc_odelete(ed_kwr *w, int16_t ver, const void *arg)
{
    ed_kc_enc_offset_delete(w, ver, ((const struct enc_args *)arg)->q);
}

int ed_kclient_offset_delete(ed_kclient *c, const struct ed_kc_offset_delete_req *q,
                             struct ed_kc_part_errors *out)
{
    struct enc_args a_ = {q, 0, 0, false};
    CALL(c, ED_KMSG_OFFSET_DELETE, enc_odelete, ed_kc_dec_offset_delete, out);
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
    ed_kwr_array(w, TP_RUNS(parts, n), false);
    for (int i = 0; i < n;) {
        int run = TP_RUN(parts, i, n);
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
