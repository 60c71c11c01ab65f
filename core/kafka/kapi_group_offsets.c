/* The Kafka handlers of the group APIs that keep offsets and administer
 * groups: OffsetCommit (8) v0-9, OffsetFetch (9) v0-9 (v8+ batched),
 * ListGroups (16) v0-5, DescribeGroups (15) v0-5, DeleteGroups (42) v0-2 and
 * OffsetDelete (47) v0. Like the membership handlers (kapi_group.c) each
 * decodes its whole request first and encodes the response struct; commits
 * and deletions answer once their __consumer_offsets records are on flash. */
#define ED_LOG_MODULE "kgroup"
#include "core/kafka/kapi_group_int.h"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- OffsetCommit ---- */

struct commit_item {
    const char *topic;
    const struct ed_kmsg_offset_commit_request_partition *p;
};

/* An arena copy of a topic name, NULL if null or too long for a topic. */
static const char *topic_name(struct gctx *c, ed_kstr name)
{
    if (name.len < 0 || name.len > ED_TOPIC_NAME_MAX) return NULL;
    char *z = ed_karena_alloc(&c->arena, (size_t)name.len + 1);
    if (z && !ed_kstr_copy(name, z, (size_t)name.len + 1)) z = NULL;
    return z;
}

/* Appends the records of items to __consumer_offsets; *last the last
 * offset. */
static int store_commits(ed_groups *g, ed_kstr gid, const struct commit_item *items, int32_t n,
                         int64_t now, int64_t *last)
{
    struct ed_grec *recs = ed_calloc((size_t)n, sizeof *recs);
    int rc = recs ? ED_OK : ED_ERR_NOMEM;
    char gname[ED_GROUP_ID_MAX + 1];
    if (rc == ED_OK && !ed_kstr_copy(gid, gname, sizeof gname)) rc = ED_ERR_INVAL;
    for (int32_t i = 0; i < n && rc == ED_OK; i++) {
        const struct ed_kmsg_offset_commit_request_partition *p = items[i].p;
        ed_kstr m = p->committed_metadata;
        size_t mlen = m.len < 0 ? 0 : (size_t)m.len;
        char mdbuf[64], *md = mlen + 1 > sizeof mdbuf ? ed_malloc(mlen + 1) : mdbuf;
        if (!md) {
            rc = ED_ERR_NOMEM;
            break;
        }
        if (mlen) memcpy(md, m.p, mlen);
        md[mlen] = '\0';
        rc = ed_gstore_offset_key(gname, items[i].topic, p->partition_index, &recs[i]);
        if (rc == ED_OK)
            rc = ed_gstore_offset_value(p->committed_offset, p->committed_leader_epoch, md, now,
                                        &recs[i]);
        if (md != mdbuf) ed_free(md);
    }
    if (rc == ED_OK) rc = ed_gstore_append(g, recs, n, last);
    if (recs) ed_grecs_free(recs, n);
    ed_free(recs);
    return rc;
}

/* Removes grp if a commit that stored nothing created it. */
static void drop_unused(ed_groups *g, struct ed_group *grp)
{
    if (grp && grp->n_offsets == 0 && grp->n_members == 0 && grp->state == ED_GS_EMPTY &&
        !grp->protocol_type && grp->generation == 0)
        ed_group_remove(g, grp);
}

int ed_kapi_offset_commit(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_offset_commit_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_OFFSET_COMMIT, "offset-commit", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_offset_commit_response *r = c->resp;
    ed_groups *g = req->broker->groups;
    int32_t nt = q->n_topics < 0 ? 0 : q->n_topics, total = 0;
    for (int32_t t = 0; t < nt; t++)
        total += q->topics[t].n_partitions < 0 ? 0 : q->topics[t].n_partitions;
    struct commit_item *items = ed_kgroup_alloc(c, total, sizeof *items);
    r->topics = ed_kgroup_alloc(c, nt, sizeof *r->topics);
    if (!items || !r->topics) return ed_kgroup_close(c);
    struct ed_group *grp = NULL;
    int16_t gerr = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (!ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_GROUP, q->group_id))
        gerr = ED_KERR_GROUP_AUTHORIZATION_FAILED;
    else if (g && ed_gstore_ensure(g) == ED_OK)
        gerr = ed_group_commit_check(g, gs(q->group_id), q->generation_id_or_member_epoch,
                                     gs(q->member_id), gs(q->group_instance_id), &grp);
    int64_t now = g ? ed_groups_wall(g) : 0;
    int32_t n_items = 0;
    bool nomem = false;
    r->n_topics = nt;
    for (int32_t t = 0; t < nt; t++) {
        const struct ed_kmsg_offset_commit_request_topic *qt = &q->topics[t];
        struct ed_kmsg_offset_commit_response_topic *rt = &r->topics[t];
        int32_t np = qt->n_partitions < 0 ? 0 : qt->n_partitions;
        const char *tname = topic_name(c, qt->name);
        ed_topic *topic = tname ? ed_topics_find(req->broker->topics, tname) : NULL;
        rt->name = qt->name;
        rt->partitions = ed_kgroup_alloc(c, np, sizeof *rt->partitions);
        nomem |= !rt->partitions;
        for (int32_t i = 0; i < np && rt->partitions; i++) {
            const struct ed_kmsg_offset_commit_request_partition *qp = &qt->partitions[i];
            struct ed_kmsg_offset_commit_response_partition *rp = &rt->partitions[i];
            int16_t err = gerr;
            if (!err && !ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, qt->name))
                err = ED_KERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!err && (!topic || !ed_topic_partition(topic, qp->partition_index)))
                err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (!err && qp->committed_metadata.len > g->cfg.max_metadata_len)
                err = KERR_OFFSET_METADATA_TOO_LARGE;
            rp->partition_index = qp->partition_index;
            rp->error_code = err;
            rt->n_partitions = i + 1;
            if (err) continue;
            items[n_items++] = (struct commit_item){tname, qp};
            nomem |= ed_kgroup_note_stored(c, &rp->error_code) != ED_OK;
        }
    }
    if (nomem) {
        drop_unused(g, grp);
        return ed_kgroup_close(c);
    }
    bool appended = false;
    int64_t last = -1;
    if (n_items > 0) {
        int rc = store_commits(g, q->group_id, items, n_items, now, &last);
        if (rc != ED_OK) {
            ed_kgroup_set_stored(c, ed_kgroup_append_error(rc));
        } else {
            appended = true;
            /* Visible at once (as in Kafka); answered once durable. */
            for (int32_t i = 0; i < n_items; i++) {
                const struct ed_kmsg_offset_commit_request_partition *p = items[i].p;
                ed_kstr m = p->committed_metadata;
                ed_group_offset_set(grp, items[i].topic, p->partition_index, p->committed_offset,
                                    p->committed_leader_epoch, m.len > 0 ? m.p : "",
                                    m.len > 0 ? (size_t)m.len : 0, now);
            }
        }
    }
    if (!appended) drop_unused(g, grp);
    return ed_kgroup_finish_durable(c, appended, last);
}

/* ---- OffsetFetch ---- */

/* The single-group response (v0-7) and each group of the batched one (v8+)
 * have the same topic and partition shapes: one filler serves both. */
typedef struct ed_kmsg_offset_fetch_response_topics fetch_topic;
typedef struct ed_kmsg_offset_fetch_response_partitions fetch_part;
_Static_assert(sizeof(struct ed_kmsg_offset_fetch_request_topic) ==
                       sizeof(struct ed_kmsg_offset_fetch_request_topics) &&
                   offsetof(struct ed_kmsg_offset_fetch_request_topic, partition_indexes) ==
                       offsetof(struct ed_kmsg_offset_fetch_request_topics, partition_indexes) &&
                   sizeof(struct ed_kmsg_offset_fetch_response_topic) == sizeof(fetch_topic) &&
                   sizeof(struct ed_kmsg_offset_fetch_response_partition) == sizeof(fetch_part) &&
                   offsetof(struct ed_kmsg_offset_fetch_response_topic, partitions) ==
                       offsetof(fetch_topic, partitions) &&
                   offsetof(struct ed_kmsg_offset_fetch_response_partition, error_code) ==
                       offsetof(fetch_part, error_code) &&
                   offsetof(struct ed_kmsg_offset_fetch_response_partition, metadata) ==
                       offsetof(fetch_part, metadata),
               "OffsetFetch topic shapes differ");

static void fetch_partition(fetch_part *o, struct ed_group *grp, const char *topic, int32_t index,
                            int16_t err)
{
    struct ed_goffset *off = grp && topic && !err ? ed_group_offset(grp, topic, index) : NULL;
    o->partition_index = index;
    o->committed_offset = off ? off->offset : -1;
    o->committed_leader_epoch = off ? off->leader_epoch : -1;
    o->metadata = ks(off ? off->metadata : "");
    o->error_code = err;
}

/* Fills the topics of one group: the requested ones, or (requested null)
 * every committed offset. As Kafka, a requested topic the principal may not
 * DESCRIBE answers TOPIC_AUTHORIZATION_FAILED per partition, and such a
 * topic is left out of "every". False when the arena is out. */
static bool fetch_group(struct gctx *c, struct ed_group *grp, int16_t gerr,
                        const struct ed_kmsg_offset_fetch_request_topics *qt, int32_t n_req,
                        fetch_topic **out, int32_t *n_out)
{
    bool all = n_req < 0;
    int32_t nt = all ? (grp && !gerr ? grp->n_topics : 0) : n_req, k = 0;
    fetch_topic *ts = ed_kgroup_alloc(c, nt, sizeof *ts);
    if (!ts) return false;
    for (int32_t t = 0; t < nt; t++) {
        const struct ed_gtopic *gt = all ? &grp->topics[t] : NULL;
        ed_kstr name = all ? ks(gt->name) : qt[t].name;
        bool described = ed_kapi_allowed(c->req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, name);
        if (all && !described) continue;
        int32_t np = all ? gt->n : (qt[t].n_partition_indexes < 0 ? 0 : qt[t].n_partition_indexes);
        const char *tname = all ? gt->name : topic_name(c, qt[t].name);
        int16_t err = gerr || described ? gerr : ED_KERR_TOPIC_AUTHORIZATION_FAILED;
        fetch_topic *o = &ts[k++];
        o->name = name;
        o->partitions = ed_kgroup_alloc(c, np, sizeof *o->partitions);
        if (!o->partitions) return false;
        o->n_partitions = np;
        for (int32_t i = 0; i < np; i++)
            fetch_partition(&o->partitions[i], grp, tname,
                            all ? gt->parts[i].partition : qt[t].partition_indexes[i], err);
    }
    *out = ts;
    *n_out = k;
    return true;
}

static struct ed_group *fetch_lookup(ed_kreq *req, ed_kstr gid, int16_t *err)
{
    ed_groups *g = req->broker->groups;
    *err = ED_KERR_NONE;
    if (!g) {
        *err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    if (!ed_kapi_allowed(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_GROUP, gid)) {
        *err = ED_KERR_GROUP_AUTHORIZATION_FAILED;
        return NULL;
    }
    struct ed_group *grp = ed_group_find(g, gs(gid));
    if (grp && grp->state == ED_GS_DEAD) *err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    return grp;
}

int ed_kapi_offset_fetch(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_offset_fetch_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_OFFSET_FETCH, "offset-fetch", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_offset_fetch_response *r = c->resp;
    int16_t v = req->api_version, err;
    bool ok = true;
    /* one group before v8, a batch after */
    if (!ed_kschema_has(c->api->request, v, "Groups")) {
        struct ed_group *grp = fetch_lookup(req, q->group_id, &err);
        /* without a top-level error code (v0-1) errors go per partition */
        bool top = ed_kschema_has(c->api->response, v, "ErrorCode");
        fetch_topic *ts = NULL;
        ok =
            fetch_group(c, grp, top ? ED_KERR_NONE : err,
                        (const struct ed_kmsg_offset_fetch_request_topics *)(const void *)q->topics,
                        q->n_topics, &ts, &r->n_topics);
        r->topics = (struct ed_kmsg_offset_fetch_response_topic *)(void *)ts;
        r->error_code = err;
    } else {
        int32_t ng = q->n_groups < 0 ? 0 : q->n_groups;
        r->groups = ed_kgroup_alloc(c, ng, sizeof *r->groups);
        ok = r->groups != NULL;
        r->n_groups = ok ? ng : 0;
        for (int32_t i = 0; i < ng && ok; i++) {
            const struct ed_kmsg_offset_fetch_request_group *qg = &q->groups[i];
            struct ed_group *grp = fetch_lookup(req, qg->group_id, &err);
            r->groups[i].group_id = qg->group_id;
            r->groups[i].error_code = err;
            ok = fetch_group(c, grp, ED_KERR_NONE, qg->topics, qg->n_topics, &r->groups[i].topics,
                             &r->groups[i].n_topics);
        }
    }
    if (!ok) return ed_kgroup_close(c);
    return ed_kgroup_respond(c);
}

/* ---- ListGroups ---- */

static bool in_filter(const ed_kstr *filter, int32_t n, const char *what)
{
    if (n <= 0 || !filter) return true;
    for (int32_t i = 0; i < n; i++) {
        if (filter[i].len != (int32_t)strlen(what)) continue;
        bool eq = true;
        for (int32_t k = 0; k < filter[i].len && eq; k++) {
            char a = filter[i].p[k], b = what[k];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
            eq = a == b;
        }
        if (eq) return true;
    }
    return false;
}

int ed_kapi_list_groups(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_list_groups_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_LIST_GROUPS, "list-groups", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_list_groups_response *r = c->resp;
    ed_groups *g = req->broker->groups;
    r->error_code = g ? ED_KERR_NONE : ED_KERR_COORDINATOR_NOT_AVAILABLE;
    r->groups = ed_kgroup_alloc(c, g ? g->n_groups : 0, sizeof *r->groups);
    if (!r->groups) return ed_kgroup_close(c);
    r->n_groups = 0;
    /* as Kafka: DESCRIBE on the cluster lists every group, else only those
     * the principal may DESCRIBE */
    bool all = ed_kapi_allowed_z(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME);
    for (int32_t i = 0; g && i < g->n_groups; i++) {
        struct ed_group *grp = g->groups[i];
        if (grp->state == ED_GS_DEAD ||
            (!all && !ed_kapi_allowed_z(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_GROUP, grp->id)) ||
            !in_filter(q->states_filter, q->n_states_filter, ed_gstate_name(grp->state)) ||
            !in_filter(q->types_filter, q->n_types_filter, "classic"))
            continue;
        struct ed_kmsg_list_groups_response_listed_group *o = &r->groups[r->n_groups++];
        o->group_id = ks(grp->id);
        o->protocol_type = ks_or_empty(grp->protocol_type);
        o->group_state = ks(ed_gstate_name(grp->state));
        o->group_type = ks("classic");
    }
    return ed_kgroup_respond(c);
}

/* ---- DescribeGroups ---- */

static bool describe_group(struct gctx *c,
                           struct ed_kmsg_describe_groups_response_described_group *o, ed_kstr gid,
                           bool include_ops)
{
    ed_groups *g = c->req->broker->groups;
    if (!ed_kapi_allowed(c->req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_GROUP, gid)) {
        /* as Kafka: the id and the error, every other field empty */
        o->error_code = ED_KERR_GROUP_AUTHORIZATION_FAILED;
        o->group_id = gid;
        o->group_state = ks("");
        o->protocol_type = ks("");
        o->protocol_data = ks("");
        o->authorized_operations = INT32_MIN;
        return true;
    }
    struct ed_group *grp = g ? ed_group_find(g, gs(gid)) : NULL;
    bool live = grp && grp->state != ED_GS_DEAD;
    bool stable = grp && grp->state == ED_GS_STABLE;
    o->error_code = g ? ED_KERR_NONE : ED_KERR_COORDINATOR_NOT_AVAILABLE;
    o->group_id = gid;
    o->group_state = ks(grp ? ed_gstate_name(grp->state) : "Dead");
    o->protocol_type = ks_or_empty(grp ? grp->protocol_type : NULL);
    o->protocol_data = ks_or_empty(stable ? grp->protocol : NULL);
    o->authorized_operations =
        include_ops ? ed_kapi_allowed_ops(c->req, ED_ACL_RES_GROUP, gid, GROUP_OPS) : INT32_MIN;
    o->members = ed_kgroup_alloc(c, live ? grp->n_members : 0, sizeof *o->members);
    if (!o->members) return false;
    for (struct ed_gmember *m = live ? grp->members : NULL; m; m = m->next) {
        struct ed_kmsg_describe_groups_response_described_group_member *om =
            &o->members[o->n_members++];
        const struct ed_gproto *p = stable ? ed_gmember_proto(m, grp->protocol) : NULL;
        om->member_id = ks(m->id);
        om->group_instance_id = ks(m->instance_id);
        om->client_id = ks_or_empty(m->client_id);
        om->client_host = ks_or_empty(m->client_host);
        om->member_metadata = p ? kb(p->meta, p->meta_len) : kb(NULL, 0);
        om->member_assignment = stable ? kb(m->assignment, m->assignment_len) : kb(NULL, 0);
    }
    return true;
}

int ed_kapi_describe_groups(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_describe_groups_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_DESCRIBE_GROUPS, "describe-groups", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_describe_groups_response *r = c->resp;
    int32_t n = q->n_groups < 0 ? 0 : q->n_groups;
    r->groups = ed_kgroup_alloc(c, n, sizeof *r->groups);
    bool ok = r->groups != NULL;
    r->n_groups = ok ? n : 0;
    for (int32_t i = 0; i < n && ok; i++)
        ok = describe_group(c, &r->groups[i], q->groups[i], q->include_authorized_operations);
    if (!ok) return ed_kgroup_close(c);
    return ed_kgroup_respond(c);
}

/* ---- DeleteGroups ---- */

/* Tombstones of every offset of grp and of its metadata. */
static int group_tombstones(struct ed_group *grp, struct ed_grec **out, int *n_out)
{
    int n = (int)grp->n_offsets + 1, k = 0, rc = ED_OK;
    struct ed_grec *r = ed_calloc((size_t)n, sizeof *r);
    if (!r) return ED_ERR_NOMEM;
    for (int32_t t = 0; t < grp->n_topics && rc == ED_OK; t++)
        for (int32_t p = 0; p < grp->topics[t].n && rc == ED_OK; p++)
            rc = ed_gstore_offset_key(grp->id, grp->topics[t].name,
                                      grp->topics[t].parts[p].partition, &r[k++]);
    if (rc == ED_OK) rc = ed_gstore_group_key(grp->id, &r[k++]);
    if (rc != ED_OK) {
        ed_grecs_free(r, k);
        ed_free(r);
        return rc;
    }
    *out = r;
    *n_out = k;
    return ED_OK;
}

/* Deletes one empty group: its tombstones appended, then gone from the
 * registry. *last gets the last offset appended. */
static int16_t delete_group(ed_kreq *req, ed_kstr gid, int64_t *last)
{
    ed_groups *g = req->broker->groups;
    struct ed_group *grp = g && gid.len > 0 ? ed_group_find(g, gs(gid)) : NULL;
    if (!ed_kapi_allowed(req, ED_ACL_OP_DELETE, ED_ACL_RES_GROUP, gid))
        return ED_KERR_GROUP_AUTHORIZATION_FAILED;
    if (!g) return ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (gid.len <= 0) return ED_KERR_INVALID_GROUP_ID;
    if (!grp || grp->state == ED_GS_DEAD) return ED_KERR_GROUP_ID_NOT_FOUND;
    if (grp->state != ED_GS_EMPTY || grp->n_members > 0) return ED_KERR_NON_EMPTY_GROUP;
    struct ed_grec *recs = NULL;
    int nr = 0;
    int rc = group_tombstones(grp, &recs, &nr);
    if (rc == ED_OK) rc = ed_gstore_append(g, recs, nr, last);
    if (recs) ed_grecs_free(recs, nr);
    ed_free(recs);
    if (rc != ED_OK) return ed_kgroup_append_error(rc);
    ED_LOG_INFO("%s: deleted group %s (%" PRId64 " committed offsets)", req->peer, grp->id,
                grp->n_offsets);
    ed_group_remove(g, grp);
    return ED_KERR_NONE;
}

int ed_kapi_delete_groups(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_delete_groups_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_DELETE_GROUPS, "delete-groups", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_delete_groups_response *r = c->resp;
    int32_t n = q->n_groups_names < 0 ? 0 : q->n_groups_names;
    r->results = ed_kgroup_alloc(c, n, sizeof *r->results);
    if (!r->results) return ed_kgroup_close(c);
    r->n_results = n;
    bool appended = false;
    int64_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        int64_t l = -1;
        r->results[i].group_id = q->groups_names[i];
        r->results[i].error_code = delete_group(req, q->groups_names[i], &l);
        if (r->results[i].error_code) continue;
        appended = true;
        last = l;
        if (ed_kgroup_note_stored(c, &r->results[i].error_code) != ED_OK)
            r->results[i].error_code = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    }
    return ed_kgroup_finish_durable(c, appended, last);
}

/* ---- OffsetDelete ---- */

/* Deletes one committed offset of grp: its tombstone appended, then gone. */
static int16_t delete_offset(ed_groups *g, struct ed_group *grp, ed_topic *topic, const char *tname,
                             bool subscribed, int32_t index, bool *appended, int64_t *last)
{
    if (!topic || !ed_topic_partition(topic, index)) return ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (subscribed) return ED_KERR_GROUP_SUBSCRIBED_TO_TOPIC;
    if (!ed_group_offset(grp, tname, index)) return ED_KERR_NONE;
    struct ed_grec rec = {0};
    int rc = ed_gstore_offset_key(grp->id, tname, index, &rec);
    if (rc == ED_OK) rc = ed_gstore_append(g, &rec, 1, last);
    ed_grecs_free(&rec, 1);
    if (rc != ED_OK) return ed_kgroup_append_error(rc);
    ed_group_offset_del(grp, tname, index);
    *appended = true;
    return ED_KERR_NONE;
}

int ed_kapi_offset_delete(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_offset_delete_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_OFFSET_DELETE, "offset-delete", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_offset_delete_response *r = c->resp;
    ed_groups *g = req->broker->groups;
    struct ed_group *grp = g ? ed_group_find(g, gs(q->group_id)) : NULL;
    if (!ed_kapi_allowed(req, ED_ACL_OP_DELETE, ED_ACL_RES_GROUP, q->group_id))
        r->error_code = ED_KERR_GROUP_AUTHORIZATION_FAILED;
    else if (!g)
        r->error_code = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    else if (!grp || grp->state == ED_GS_DEAD)
        r->error_code = ED_KERR_GROUP_ID_NOT_FOUND;
    if (r->error_code) return ed_kgroup_respond(c);
    int32_t nt = q->n_topics < 0 ? 0 : q->n_topics;
    r->topics = ed_kgroup_alloc(c, nt, sizeof *r->topics);
    bool ok = r->topics != NULL, appended = false;
    int64_t last = -1;
    r->n_topics = ok ? nt : 0;
    for (int32_t t = 0; t < nt && ok; t++) {
        const struct ed_kmsg_offset_delete_request_topic *qt = &q->topics[t];
        int32_t np = qt->n_partitions < 0 ? 0 : qt->n_partitions;
        const char *tname = topic_name(c, qt->name);
        /* as Kafka: READ on the topic, else TOPIC_AUTHORIZATION_FAILED */
        bool readable = ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_TOPIC, qt->name);
        ed_topic *topic = tname ? ed_topics_find(req->broker->topics, tname) : NULL;
        bool subscribed = tname && ed_group_subscribed(grp, tname);
        struct ed_kmsg_offset_delete_response_topic *rt = &r->topics[t];
        rt->name = qt->name;
        rt->partitions = ed_kgroup_alloc(c, np, sizeof *rt->partitions);
        ok = rt->partitions != NULL;
        rt->n_partitions = ok ? np : 0;
        for (int32_t i = 0; i < np && ok; i++) {
            struct ed_kmsg_offset_delete_response_partition *rp = &rt->partitions[i];
            bool stored = false;
            rp->partition_index = qt->partitions[i].partition_index;
            rp->error_code = readable ? delete_offset(g, grp, topic, tname, subscribed,
                                                      rp->partition_index, &stored, &last)
                                      : ED_KERR_TOPIC_AUTHORIZATION_FAILED;
            appended |= stored;
            if (stored && ed_kgroup_note_stored(c, &rp->error_code) != ED_OK)
                rp->error_code = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    if (!ok) return ed_kgroup_close(c);
    /* as Kafka: an empty group left without offsets is gone, its
     * tombstone after theirs */
    if (appended && grp->state == ED_GS_EMPTY && grp->n_members == 0 && grp->n_offsets == 0) {
        struct ed_grec rec = {0};
        int rc = ed_gstore_group_key(grp->id, &rec);
        if (rc == ED_OK) rc = ed_gstore_append(g, &rec, 1, &last);
        ed_grecs_free(&rec, 1);
        if (rc == ED_OK) ed_group_remove(g, grp);
    }
    return ed_kgroup_finish_durable(c, appended, last);
}
