/* The Kafka handlers of the group APIs: FindCoordinator (10) v0-4,
 * JoinGroup (11) v0-9, Heartbeat (12) v0-4, LeaveGroup (13) v0-5,
 * SyncGroup (14) v0-5, DescribeGroups (15) v0-5, ListGroups (16) v0-5,
 * OffsetCommit (8) v0-9, OffsetFetch (9) v0-9 (v8+ batched), DeleteGroups
 * (42) v0-2 and OffsetDelete (47) v0. Each decodes its request (fields per
 * version as in Kafka's message definitions), asks the coordinator
 * (core/group.c) and encodes the answer. JoinGroup and SyncGroup may wait
 * for the rebalance; OffsetCommit, DeleteGroups and OffsetDelete answer
 * once their records in __consumer_offsets are on flash. */
#define ED_LOG_MODULE "kgroup"
#include "core/group_int.h"
#include "core/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Kafka's error 12: commit metadata over offset.metadata.max.bytes. */
#define KERR_OFFSET_METADATA_TOO_LARGE 12
/* AclOperation bits a describing client may use (no authorizer): READ 3,
 * DELETE 6, DESCRIBE 8. */
#define GROUP_AUTHORIZED_OPS ((1 << 3) | (1 << 6) | (1 << 8))

static int malformed(ed_kreq *req, const char *what)
{
    ED_LOG_WARN_RL("%s: malformed %s request v%d", req->peer, what, (int)req->api_version);
    return ED_KAPI_CLOSE;
}

static ed_kstr null_str(void)
{
    return (ed_kstr){NULL, -1};
}

/* ---- waiting for __consumer_offsets to be durable ---- */

struct durable_wait {
    ed_kreq *req;    /* NULL once the connection went away */
    size_t *err_pos; /* int16 error codes to turn into fail_code on failure */
    int32_t n_err, cap_err;
};

static int note_err_pos(struct durable_wait *d, size_t pos)
{
    if (d->n_err == d->cap_err) {
        int32_t cap = d->cap_err ? d->cap_err * 2 : 16;
        size_t *p = ed_realloc(d->err_pos, (size_t)cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        d->err_pos = p;
        d->cap_err = cap;
    }
    d->err_pos[d->n_err++] = pos;
    return ED_OK;
}

static void patch_errors(ed_kwr *w, const struct durable_wait *d, int16_t code)
{
    for (int32_t i = 0; i < d->n_err; i++)
        if (d->err_pos[i] + 2 <= w->len) ed_put_be16(w->buf + d->err_pos[i], (uint16_t)code);
}

static void durable_free(struct durable_wait *d)
{
    ed_free(d->err_pos);
    ed_free(d);
}

static void durable_cancel(ed_kreq *req)
{
    struct durable_wait *d = req->ctx;
    if (d) d->req = NULL;
}

static void durable_done(void *arg, int status)
{
    struct durable_wait *d = arg;
    ed_kreq *req = d->req;
    if (req) {
        if (status != ED_OK) {
            ED_LOG_WARN_RL("%s: committed offsets are not durable: %s", req->peer,
                           ed_strerror(status));
            patch_errors(&req->out, d, ED_KERR_COORDINATOR_NOT_AVAILABLE);
        }
        req->ctx = NULL;
        req->cancel = NULL;
        ed_kreq_complete(req);
    }
    durable_free(d);
}

/* Answers once offsets up to last are durable (RESPOND at once if nothing
 * was appended or the wait cannot start). Takes d. */
static int finish_durable(ed_kreq *req, struct durable_wait *d, bool appended, int64_t last)
{
    ed_groups *g = req->broker->groups;
    if (!appended || !g || !g->part) {
        durable_free(d);
        return ED_KAPI_RESPOND;
    }
    d->req = req;
    req->ctx = d;
    req->cancel = durable_cancel;
    int rc = ed_log_wait_durable(g->part->log, last, durable_done, d);
    if (rc != ED_OK) {
        /* the callback will not run */
        if (d->req) {
            req->ctx = NULL;
            req->cancel = NULL;
            patch_errors(&req->out, d, ED_KERR_COORDINATOR_NOT_AVAILABLE);
            durable_free(d);
            return ED_KAPI_RESPOND;
        }
        durable_free(d);
    }
    return ED_KAPI_PENDING;
}

static int16_t append_error(int rc)
{
    switch (rc) {
    case ED_ERR_TOOBIG:
        return ED_KERR_INVALID_COMMIT_OFFSET_SIZE;
    default:
        return ED_KERR_COORDINATOR_NOT_AVAILABLE;
    }
}

/* ---- FindCoordinator ---- */

static void coordinator_for(ed_kreq *req, int8_t key_type, int16_t *err, const char **msg)
{
    ed_groups *g = req->broker->groups;
    *err = ED_KERR_NONE;
    *msg = NULL;
    if (key_type == 1) {
        *err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        *msg = "Eddy has no transaction coordinator (transactions are not supported)";
    } else if (key_type != 0) {
        *err = ED_KERR_INVALID_REQUEST;
        *msg = "unknown coordinator key type";
    } else if (!g || ed_gstore_ensure(g) != ED_OK) {
        *err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        *msg = "the group coordinator is not available";
    }
}

static void write_node(ed_kreq *req, int16_t err, bool flex)
{
    ed_broker *b = req->broker;
    ed_kwr *w = &req->out;
    ed_kwr_i32(w, err ? -1 : b->node_id);
    ed_kwr_str(w, err ? "" : b->adv_host, flex);
    ed_kwr_i32(w, err ? -1 : (int32_t)b->adv_port);
}

int ed_kapi_find_coordinator(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    if (v >= 1) ed_kwr_i32(w, 0); /* throttle_time_ms */
    if (v <= 3) {
        ed_kstr key = ed_krd_str(rd, flex);
        int8_t type = v >= 1 ? ed_krd_i8(rd) : 0;
        ed_krd_tags(rd, flex);
        if (!ed_krd_ok(rd) || key.len < 0) return malformed(req, "find-coordinator");
        int16_t err;
        const char *msg;
        coordinator_for(req, type, &err, &msg);
        ed_kwr_i16(w, err);
        if (v >= 1) ed_kwr_str(w, msg, flex);
        write_node(req, err, flex);
        ed_kwr_tags(w, flex);
        return ED_KAPI_RESPOND;
    }
    int8_t type = ed_krd_i8(rd);
    int32_t n = ed_krd_array(rd, flex, 1);
    if (!ed_krd_ok(rd) || n < 0) return malformed(req, "find-coordinator");
    ed_kwr_array(w, n, flex);
    for (int32_t i = 0; i < n; i++) {
        ed_kstr key = ed_krd_str(rd, flex);
        if (!ed_krd_ok(rd) || key.len < 0) return malformed(req, "find-coordinator");
        int16_t err;
        const char *msg;
        coordinator_for(req, type, &err, &msg);
        ed_kwr_kstr(w, key, flex);
        write_node(req, err, flex);
        ed_kwr_i16(w, err);
        ed_kwr_str(w, msg, flex);
        ed_kwr_tags(w, flex);
    }
    ed_krd_tags(rd, flex);
    ed_kwr_tags(w, flex);
    if (!ed_krd_ok(rd)) return malformed(req, "find-coordinator");
    return ED_KAPI_RESPOND;
}

/* ---- JoinGroup ---- */

void ed_kapi_group_join_reply(ed_kreq *req, const struct ed_gjoin_reply *r)
{
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    if (v >= 2) ed_kwr_i32(w, 0);
    ed_kwr_i16(w, r->error);
    ed_kwr_i32(w, r->generation);
    if (v >= 7) ed_kwr_str(w, r->protocol_type, flex);
    if (v >= 7)
        ed_kwr_str(w, r->protocol, flex);
    else
        ed_kwr_str(w, r->protocol ? r->protocol : "", flex);
    ed_kwr_str(w, r->leader ? r->leader : "", flex);
    if (v >= 9) ed_kwr_bool(w, r->skip_assignment);
    ed_kwr_str(w, r->member_id ? r->member_id : "", flex);
    const struct ed_group *grp = r->members_of;
    ed_kwr_array(w, grp ? grp->n_members : 0, flex);
    for (const struct ed_gmember *m = grp ? grp->members : NULL; m; m = m->next) {
        const struct ed_gproto *p = ed_gmember_proto(m, grp->protocol);
        ed_kwr_str(w, m->id, flex);
        if (v >= 5) ed_kwr_str(w, m->instance_id, flex);
        ed_kwr_bytes(w, p ? p->meta : (const uint8_t *)"", p ? p->meta_len : 0, flex);
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
}

int ed_kapi_join_group(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    int16_t v = req->api_version;
    bool flex = req->flex;
    struct ed_gjoin_args a;
    memset(&a, 0, sizeof a);
    a.group_id = ed_krd_str(rd, flex);
    a.session_timeout_ms = ed_krd_i32(rd);
    a.rebalance_timeout_ms = v >= 1 ? ed_krd_i32(rd) : a.session_timeout_ms;
    a.member_id = ed_krd_str(rd, flex);
    a.instance_id = v >= 5 ? ed_krd_str(rd, flex) : null_str();
    a.protocol_type = ed_krd_str(rd, flex);
    int32_t n = ed_krd_array(rd, flex, flex ? 2 : 6);
    if (!ed_krd_ok(rd) || n < 0 || a.group_id.len < 0 || a.member_id.len < 0 ||
        a.protocol_type.len < 0)
        return malformed(req, "join-group");
    a.n_protocols = n;
    a.proto_names = ed_malloc(((size_t)n + 1) * sizeof *a.proto_names);
    a.proto_metas = ed_malloc(((size_t)n + 1) * sizeof *a.proto_metas);
    if (!a.proto_names || !a.proto_metas) {
        ed_free(a.proto_names);
        ed_free(a.proto_metas);
        return ED_KAPI_CLOSE;
    }
    bool bad = false;
    for (int32_t i = 0; i < n && ed_krd_ok(rd); i++) {
        a.proto_names[i] = ed_krd_str(rd, flex);
        a.proto_metas[i] = ed_krd_bytes(rd, flex);
        ed_krd_tags(rd, flex);
        if (a.proto_names[i].len < 0 || a.proto_metas[i].len < 0) bad = true;
    }
    if (v >= 8) ed_krd_str(rd, flex); /* reason */
    ed_krd_tags(rd, flex);
    int status;
    if (!ed_krd_ok(rd) || bad) {
        status = malformed(req, "join-group");
    } else if (a.rebalance_timeout_ms < 0 && v >= 1) {
        struct ed_gjoin_reply r = {ED_KERR_INVALID_REQUEST, -1, NULL, NULL, "", "", false, NULL};
        ed_kapi_group_join_reply(req, &r);
        status = ED_KAPI_RESPOND;
    } else if (!req->broker->groups) {
        struct ed_gjoin_reply r = {
            ED_KERR_COORDINATOR_NOT_AVAILABLE, -1, NULL, NULL, "", "", false, NULL};
        ed_kapi_group_join_reply(req, &r);
        status = ED_KAPI_RESPOND;
    } else {
        status = ed_group_join(req->broker->groups, req, &a);
    }
    ed_free(a.proto_names);
    ed_free(a.proto_metas);
    return status;
}

/* ---- SyncGroup ---- */

void ed_kapi_group_sync_reply(ed_kreq *req, int16_t error, const char *protocol_type,
                              const char *protocol, const uint8_t *assignment, int32_t len)
{
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    if (v >= 1) ed_kwr_i32(w, 0);
    ed_kwr_i16(w, error);
    if (v >= 5) {
        ed_kwr_str(w, error ? NULL : protocol_type, flex);
        ed_kwr_str(w, error ? NULL : protocol, flex);
    }
    ed_kwr_bytes(w, assignment ? assignment : (const uint8_t *)"", assignment ? len : 0, flex);
    ed_kwr_tags(w, flex);
}

int ed_kapi_sync_group(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    int16_t v = req->api_version;
    bool flex = req->flex;
    struct ed_gsync_args a;
    memset(&a, 0, sizeof a);
    a.group_id = ed_krd_str(rd, flex);
    a.generation = ed_krd_i32(rd);
    a.member_id = ed_krd_str(rd, flex);
    a.instance_id = v >= 3 ? ed_krd_str(rd, flex) : null_str();
    a.protocol_type = v >= 5 ? ed_krd_str(rd, flex) : null_str();
    a.protocol_name = v >= 5 ? ed_krd_str(rd, flex) : null_str();
    int32_t n = ed_krd_array(rd, flex, flex ? 2 : 6);
    if (!ed_krd_ok(rd) || n < 0 || a.group_id.len < 0 || a.member_id.len < 0)
        return malformed(req, "sync-group");
    a.n_assignments = n;
    a.assign_members = ed_malloc(((size_t)n + 1) * sizeof *a.assign_members);
    a.assign_bytes = ed_malloc(((size_t)n + 1) * sizeof *a.assign_bytes);
    if (!a.assign_members || !a.assign_bytes) {
        ed_free(a.assign_members);
        ed_free(a.assign_bytes);
        return ED_KAPI_CLOSE;
    }
    for (int32_t i = 0; i < n && ed_krd_ok(rd); i++) {
        a.assign_members[i] = ed_krd_str(rd, flex);
        a.assign_bytes[i] = ed_krd_bytes(rd, flex);
        ed_krd_tags(rd, flex);
        if (a.assign_members[i].len < 0 || a.assign_bytes[i].len < 0) ed_krd_fail(rd, ED_ERR_PROTO);
    }
    ed_krd_tags(rd, flex);
    int status;
    if (!ed_krd_ok(rd)) {
        status = malformed(req, "sync-group");
    } else if (!req->broker->groups) {
        ed_kapi_group_sync_reply(req, ED_KERR_COORDINATOR_NOT_AVAILABLE, NULL, NULL, NULL, 0);
        status = ED_KAPI_RESPOND;
    } else {
        status = ed_group_sync(req->broker->groups, req, &a);
    }
    ed_free(a.assign_members);
    ed_free(a.assign_bytes);
    return status;
}

/* ---- Heartbeat ---- */

int ed_kapi_heartbeat(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    ed_kstr gid = ed_krd_str(rd, flex);
    int32_t gen = ed_krd_i32(rd);
    ed_kstr mid = ed_krd_str(rd, flex);
    ed_kstr inst = v >= 3 ? ed_krd_str(rd, flex) : null_str();
    ed_krd_tags(rd, flex);
    if (!ed_krd_ok(rd) || gid.len < 0 || mid.len < 0) return malformed(req, "heartbeat");
    ed_groups *g = req->broker->groups;
    int16_t err =
        g ? ed_group_heartbeat(g, gid, gen, mid, inst) : ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (v >= 1) ed_kwr_i32(w, 0);
    ed_kwr_i16(w, err);
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}

/* ---- LeaveGroup ---- */

int ed_kapi_leave_group(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    ed_groups *g = req->broker->groups;
    ed_kstr gid = ed_krd_str(rd, flex);
    if (v >= 1) ed_kwr_i32(w, 0);
    if (v <= 2) {
        ed_kstr mid = ed_krd_str(rd, flex);
        if (!ed_krd_ok(rd) || gid.len < 0 || mid.len < 0) return malformed(req, "leave-group");
        int16_t err;
        if (!g)
            err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        else if (gid.len <= 0)
            err = ED_KERR_INVALID_GROUP_ID;
        else
            err = ed_group_leave(g, ed_group_find(g, gid), mid, null_str());
        ed_kwr_i16(w, err);
        return ED_KAPI_RESPOND;
    }
    int32_t n = ed_krd_array(rd, flex, flex ? 3 : 4);
    if (!ed_krd_ok(rd) || n < 0 || gid.len < 0) return malformed(req, "leave-group");
    /* Validate the whole request before anyone leaves. */
    ed_krd probe = *rd;
    for (int32_t i = 0; i < n; i++) {
        ed_krd_str(&probe, flex);
        ed_krd_str(&probe, flex);
        if (v >= 5) ed_krd_str(&probe, flex);
        ed_krd_tags(&probe, flex);
    }
    ed_krd_tags(&probe, flex);
    if (!ed_krd_ok(&probe)) return malformed(req, "leave-group");
    int16_t top = ED_KERR_NONE;
    if (!g)
        top = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    else if (gid.len == 0)
        top = ED_KERR_INVALID_GROUP_ID;
    ed_kwr_i16(w, top);
    ed_kwr_array(w, top ? 0 : n, flex);
    for (int32_t i = 0; i < n; i++) {
        ed_kstr mid = ed_krd_str(rd, flex);
        ed_kstr inst = ed_krd_str(rd, flex);
        if (v >= 5) ed_krd_str(rd, flex);
        ed_krd_tags(rd, flex);
        if (top) continue;
        /* the group is looked up again: an earlier leave may have emptied it */
        int16_t err = ed_group_leave(g, ed_group_find(g, gid), mid, inst);
        ed_kwr_kstr(w, mid.len < 0 ? (ed_kstr){"", 0} : mid, flex);
        ed_kwr_kstr(w, inst, flex);
        ed_kwr_i16(w, err);
        ed_kwr_tags(w, flex);
    }
    ed_krd_tags(rd, flex);
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}

/* ---- OffsetCommit ---- */

struct commit_item {
    char topic[ED_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int64_t offset;
    int32_t epoch;
    ed_kstr metadata;
};

int ed_kapi_offset_commit(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    ed_groups *g = req->broker->groups;

    ed_kstr gid = ed_krd_str(rd, flex);
    int32_t gen = v >= 1 ? ed_krd_i32(rd) : -1;
    ed_kstr mid = v >= 1 ? ed_krd_str(rd, flex) : (ed_kstr){"", 0};
    ed_kstr inst = v >= 7 ? ed_krd_str(rd, flex) : null_str();
    if (v >= 2 && v <= 4) ed_krd_i64(rd); /* retention_time_ms: the broker's setting rules */
    size_t part_len = 4 + 8 + (v >= 6 ? 4 : 0) + (v == 1 ? 8 : 0) + (flex ? 2 : 2);
    int32_t n_topics = ed_krd_array(rd, flex, flex ? 2 : 6);
    if (!ed_krd_ok(rd) || n_topics < 0 || gid.len < 0 || mid.len < 0)
        return malformed(req, "offset-commit");

    struct ed_group *grp = NULL;
    int16_t gerr = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (g && ed_gstore_ensure(g) == ED_OK)
        gerr = ed_group_commit_check(g, gid, gen, mid, inst, &grp);
    int64_t now = g ? ed_groups_wall(g) : 0;

    struct durable_wait *d = ed_calloc(1, sizeof *d);
    struct commit_item *items = NULL;
    struct ed_grec *recs = NULL;
    int32_t n_items = 0, cap_items = 0;
    if (!d) return ED_KAPI_CLOSE;

    if (v >= 3) ed_kwr_i32(w, 0);
    ed_kwr_array(w, n_topics, flex);
    for (int32_t t = 0; t < n_topics && ed_krd_ok(rd); t++) {
        ed_kstr name = ed_krd_str(rd, flex);
        int32_t n = ed_krd_array(rd, flex, part_len);
        if (!ed_krd_ok(rd) || n < 0 || name.len < 0) break;
        char tname[ED_TOPIC_NAME_MAX + 1];
        bool name_ok = ed_kstr_copy(name, tname, sizeof tname);
        ed_topic *topic = name_ok ? ed_topics_find(req->broker->topics, tname) : NULL;
        ed_kwr_kstr(w, name, flex);
        ed_kwr_array(w, n, flex);
        for (int32_t i = 0; i < n && ed_krd_ok(rd); i++) {
            int32_t index = ed_krd_i32(rd);
            int64_t off = ed_krd_i64(rd);
            int32_t epoch = v >= 6 ? ed_krd_i32(rd) : -1;
            if (v == 1) ed_krd_i64(rd); /* commit_timestamp */
            ed_kstr md = ed_krd_str(rd, flex);
            ed_krd_tags(rd, flex);
            if (!ed_krd_ok(rd)) break;
            int16_t err = gerr;
            if (!err && (!topic || !ed_topic_partition(topic, index)))
                err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (!err && md.len > g->cfg.max_metadata_len)
                err = KERR_OFFSET_METADATA_TOO_LARGE;
            ed_kwr_i32(w, index);
            if (!err) {
                if (n_items == cap_items) {
                    int32_t cap = cap_items ? cap_items * 2 : 8;
                    struct commit_item *p = ed_realloc(items, (size_t)cap * sizeof *p);
                    if (!p || note_err_pos(d, w->len) != ED_OK) {
                        ed_free(p ? p : items);
                        items = NULL;
                        ed_krd_fail(rd, ED_ERR_NOMEM);
                        break;
                    }
                    items = p;
                    cap_items = cap;
                } else if (note_err_pos(d, w->len) != ED_OK) {
                    ed_krd_fail(rd, ED_ERR_NOMEM);
                    break;
                }
                struct commit_item *it = &items[n_items++];
                memcpy(it->topic, tname, sizeof tname);
                it->partition = index;
                it->offset = off;
                it->epoch = epoch;
                it->metadata = md.len < 0 ? (ed_kstr){"", 0} : md;
            }
            ed_kwr_i16(w, err);
            ed_kwr_tags(w, flex);
        }
        ed_krd_tags(rd, flex);
        ed_kwr_tags(w, flex);
    }
    ed_krd_tags(rd, flex);
    ed_kwr_tags(w, flex);
    if (!ed_krd_ok(rd)) {
        ed_free(items);
        durable_free(d);
        return rd->err == ED_ERR_NOMEM ? ED_KAPI_CLOSE : malformed(req, "offset-commit");
    }

    bool appended = false;
    int64_t last = -1;
    if (n_items > 0) {
        recs = ed_calloc((size_t)n_items, sizeof *recs);
        int rc = recs ? ED_OK : ED_ERR_NOMEM;
        char gname[ED_GROUP_ID_MAX + 1];
        if (rc == ED_OK && !ed_kstr_copy(gid, gname, sizeof gname)) rc = ED_ERR_INVAL;
        for (int32_t i = 0; i < n_items && rc == ED_OK; i++) {
            struct commit_item *it = &items[i];
            char mdbuf[64], *md = mdbuf;
            size_t mlen = (size_t)it->metadata.len;
            if (mlen + 1 > sizeof mdbuf) md = ed_malloc(mlen + 1);
            if (!md) {
                rc = ED_ERR_NOMEM;
                break;
            }
            memcpy(md, it->metadata.p ? it->metadata.p : "", mlen);
            md[mlen] = '\0';
            rc = ed_gstore_offset_key(gname, it->topic, it->partition, &recs[i]);
            if (rc == ED_OK) rc = ed_gstore_offset_value(it->offset, it->epoch, md, now, &recs[i]);
            if (md != mdbuf) ed_free(md);
        }
        if (rc == ED_OK) rc = ed_gstore_append(g, recs, n_items, &last);
        if (rc != ED_OK) {
            patch_errors(w, d, append_error(rc));
        } else {
            appended = true;
            /* Visible at once (as in Kafka); answered once durable. */
            for (int32_t i = 0; i < n_items; i++) {
                struct commit_item *it = &items[i];
                ed_group_offset_set(grp, it->topic, it->partition, it->offset, it->epoch,
                                    it->metadata.p, (size_t)it->metadata.len, now);
            }
        }
        if (recs) ed_grecs_free(recs, n_items);
        ed_free(recs);
    }
    if (grp && !appended && grp->n_offsets == 0 && grp->n_members == 0 &&
        grp->state == ED_GS_EMPTY && !grp->protocol_type && grp->generation == 0)
        ed_group_remove(g, grp); /* created by this commit, which stored nothing */
    ed_free(items);
    return finish_durable(req, d, appended, last);
}

/* ---- OffsetFetch ---- */

static void fetch_partition(ed_kwr *w, int16_t v, bool flex, struct ed_group *grp,
                            const char *topic, int32_t index, int16_t err)
{
    struct ed_goffset *o = grp && !err ? ed_group_offset(grp, topic, index) : NULL;
    ed_kwr_i32(w, index);
    ed_kwr_i64(w, o ? o->offset : -1);
    if (v >= 5) ed_kwr_i32(w, o ? o->leader_epoch : -1);
    ed_kwr_str(w, o ? o->metadata : "", flex);
    ed_kwr_i16(w, err);
    ed_kwr_tags(w, flex);
}

/* Writes the topics of one group. topics null: every committed offset. */
static bool fetch_group(ed_kreq *req, ed_krd *rd, struct ed_group *grp, int16_t gerr,
                        bool all_topics, int32_t n_topics)
{
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    if (all_topics) {
        int32_t n = grp && !gerr ? grp->n_topics : 0;
        ed_kwr_array(w, n, flex);
        for (int32_t t = 0; t < n; t++) {
            const struct ed_gtopic *tp = &grp->topics[t];
            ed_kwr_str(w, tp->name, flex);
            ed_kwr_array(w, tp->n, flex);
            for (int32_t i = 0; i < tp->n; i++)
                fetch_partition(w, v, flex, grp, tp->name, tp->parts[i].partition, ED_KERR_NONE);
            ed_kwr_tags(w, flex);
        }
        return true;
    }
    ed_kwr_array(w, n_topics, flex);
    for (int32_t t = 0; t < n_topics && ed_krd_ok(rd); t++) {
        ed_kstr name = ed_krd_str(rd, flex);
        int32_t n = ed_krd_array(rd, flex, 4);
        if (!ed_krd_ok(rd) || n < 0 || name.len < 0) return false;
        char tname[ED_TOPIC_NAME_MAX + 1];
        bool name_ok = ed_kstr_copy(name, tname, sizeof tname);
        ed_kwr_kstr(w, name, flex);
        ed_kwr_array(w, n, flex);
        for (int32_t i = 0; i < n; i++) {
            int32_t index = ed_krd_i32(rd);
            fetch_partition(w, v, flex, name_ok ? grp : NULL, tname, index, gerr);
        }
        ed_krd_tags(rd, flex);
        ed_kwr_tags(w, flex);
    }
    return ed_krd_ok(rd);
}

static struct ed_group *fetch_lookup(ed_kreq *req, ed_kstr gid, int16_t *err)
{
    ed_groups *g = req->broker->groups;
    *err = ED_KERR_NONE;
    if (!g) {
        *err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    if (gid.len < 0) {
        *err = ED_KERR_INVALID_GROUP_ID;
        return NULL;
    }
    struct ed_group *grp = ed_group_find(g, gid);
    if (grp && grp->state == ED_GS_DEAD) *err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    return grp;
}

int ed_kapi_offset_fetch(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    if (v >= 3) ed_kwr_i32(w, 0);
    if (v <= 7) {
        ed_kstr gid = ed_krd_str(rd, flex);
        int32_t n_topics = ed_krd_array(rd, flex, flex ? 2 : 6);
        if (!ed_krd_ok(rd) || gid.len < 0 || (n_topics < 0 && v < 2))
            return malformed(req, "offset-fetch");
        int16_t err;
        struct ed_group *grp = fetch_lookup(req, gid, &err);
        /* v0-1 carry errors per partition only */
        if (!fetch_group(req, rd, grp, v < 2 ? err : ED_KERR_NONE, n_topics < 0, n_topics))
            return malformed(req, "offset-fetch");
        if (v >= 7) ed_krd_bool(rd); /* require_stable: no transactions, always stable */
        ed_krd_tags(rd, flex);
        if (!ed_krd_ok(rd)) return malformed(req, "offset-fetch");
        if (v >= 2) ed_kwr_i16(w, err);
        ed_kwr_tags(w, flex);
        return ED_KAPI_RESPOND;
    }
    int32_t n_groups = ed_krd_array(rd, flex, 3);
    if (!ed_krd_ok(rd) || n_groups < 0) return malformed(req, "offset-fetch");
    ed_kwr_array(w, n_groups, flex);
    for (int32_t i = 0; i < n_groups; i++) {
        ed_kstr gid = ed_krd_str(rd, flex);
        if (v >= 9) {
            ed_krd_str(rd, flex); /* member_id: KIP-848 only */
            ed_krd_i32(rd);       /* member_epoch */
        }
        int32_t n_topics = ed_krd_array(rd, flex, 2);
        if (!ed_krd_ok(rd) || gid.len < 0) return malformed(req, "offset-fetch");
        int16_t err;
        struct ed_group *grp = fetch_lookup(req, gid, &err);
        ed_kwr_kstr(w, gid, flex);
        if (!fetch_group(req, rd, grp, ED_KERR_NONE, n_topics < 0, n_topics))
            return malformed(req, "offset-fetch");
        ed_krd_tags(rd, flex);
        ed_kwr_i16(w, err);
        ed_kwr_tags(w, flex);
    }
    ed_krd_bool(rd); /* require_stable */
    ed_krd_tags(rd, flex);
    if (!ed_krd_ok(rd)) return malformed(req, "offset-fetch");
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}

/* ---- ListGroups ---- */

static bool in_filter(ed_kstr *filter, int32_t n, const char *what)
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

static int32_t read_filter(ed_krd *rd, bool flex, ed_kstr **out)
{
    int32_t n = ed_krd_array(rd, flex, 1);
    *out = NULL;
    if (!ed_krd_ok(rd) || n <= 0) return n;
    *out = ed_malloc((size_t)n * sizeof **out);
    if (!*out) {
        ed_krd_fail(rd, ED_ERR_NOMEM);
        return -1;
    }
    for (int32_t i = 0; i < n; i++)
        (*out)[i] = ed_krd_str(rd, flex);
    return n;
}

int ed_kapi_list_groups(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    ed_kstr *states = NULL, *types = NULL;
    int32_t n_states = v >= 4 ? read_filter(rd, flex, &states) : 0;
    int32_t n_types = v >= 5 ? read_filter(rd, flex, &types) : 0;
    ed_krd_tags(rd, flex);
    if (!ed_krd_ok(rd) || n_states < 0 || n_types < 0) {
        ed_free(states);
        ed_free(types);
        return malformed(req, "list-groups");
    }
    ed_groups *g = req->broker->groups;
    if (v >= 1) ed_kwr_i32(w, 0);
    ed_kwr_i16(w, g ? ED_KERR_NONE : ED_KERR_COORDINATOR_NOT_AVAILABLE);
    int32_t n = 0;
    for (int32_t i = 0; g && i < g->n_groups; i++) {
        struct ed_group *grp = g->groups[i];
        if (grp->state != ED_GS_DEAD && in_filter(states, n_states, ed_gstate_name(grp->state)) &&
            in_filter(types, n_types, "classic"))
            n++;
    }
    ed_kwr_array(w, n, flex);
    for (int32_t i = 0; g && i < g->n_groups; i++) {
        struct ed_group *grp = g->groups[i];
        if (grp->state == ED_GS_DEAD || !in_filter(states, n_states, ed_gstate_name(grp->state)) ||
            !in_filter(types, n_types, "classic"))
            continue;
        ed_kwr_str(w, grp->id, flex);
        ed_kwr_str(w, grp->protocol_type ? grp->protocol_type : "", flex);
        if (v >= 4) ed_kwr_str(w, ed_gstate_name(grp->state), flex);
        if (v >= 5) ed_kwr_str(w, "classic", flex);
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
    ed_free(states);
    ed_free(types);
    return ED_KAPI_RESPOND;
}

/* ---- DescribeGroups ---- */

int ed_kapi_describe_groups(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    int16_t v = req->api_version;
    bool flex = req->flex;
    ed_groups *g = req->broker->groups;
    int32_t n = ed_krd_array(rd, flex, 1);
    if (!ed_krd_ok(rd) || n < 0) return malformed(req, "describe-groups");
    ed_krd probe = *rd;
    for (int32_t i = 0; i < n; i++)
        ed_krd_str(&probe, flex);
    bool include_ops = v >= 3 ? ed_krd_bool(&probe) : false;
    ed_krd_tags(&probe, flex);
    if (!ed_krd_ok(&probe)) return malformed(req, "describe-groups");
    if (v >= 1) ed_kwr_i32(w, 0);
    ed_kwr_array(w, n, flex);
    for (int32_t i = 0; i < n; i++) {
        ed_kstr gid = ed_krd_str(rd, flex);
        struct ed_group *grp = g && gid.len >= 0 ? ed_group_find(g, gid) : NULL;
        int16_t err = !g            ? ED_KERR_COORDINATOR_NOT_AVAILABLE
                      : gid.len < 0 ? ED_KERR_INVALID_GROUP_ID
                                    : ED_KERR_NONE;
        bool stable = grp && grp->state == ED_GS_STABLE;
        ed_kwr_i16(w, err);
        ed_kwr_kstr(w, gid.len < 0 ? (ed_kstr){"", 0} : gid, flex);
        ed_kwr_str(w, grp ? ed_gstate_name(grp->state) : "Dead", flex);
        ed_kwr_str(w, grp && grp->protocol_type ? grp->protocol_type : "", flex);
        ed_kwr_str(w, grp && stable && grp->protocol ? grp->protocol : "", flex);
        ed_kwr_array(w, grp && grp->state != ED_GS_DEAD ? grp->n_members : 0, flex);
        for (struct ed_gmember *m = grp && grp->state != ED_GS_DEAD ? grp->members : NULL; m;
             m = m->next) {
            ed_kwr_str(w, m->id, flex);
            if (v >= 4) ed_kwr_str(w, m->instance_id, flex);
            ed_kwr_str(w, m->client_id ? m->client_id : "", flex);
            ed_kwr_str(w, m->client_host ? m->client_host : "", flex);
            const struct ed_gproto *p = stable ? ed_gmember_proto(m, grp->protocol) : NULL;
            ed_kwr_bytes(w, p ? p->meta : (const uint8_t *)"", p ? p->meta_len : 0, flex);
            bool has_a = stable && m->assignment;
            ed_kwr_bytes(w, has_a ? m->assignment : (const uint8_t *)"",
                         has_a ? m->assignment_len : 0, flex);
            ed_kwr_tags(w, flex);
        }
        if (v >= 3) ed_kwr_i32(w, include_ops ? GROUP_AUTHORIZED_OPS : INT32_MIN);
        ed_kwr_tags(w, flex);
    }
    *rd = probe;
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
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

int ed_kapi_delete_groups(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    bool flex = req->flex;
    ed_groups *g = req->broker->groups;
    int32_t n = ed_krd_array(rd, flex, 1);
    if (!ed_krd_ok(rd) || n < 0) return malformed(req, "delete-groups");
    ed_krd probe = *rd;
    for (int32_t i = 0; i < n; i++)
        ed_krd_str(&probe, flex);
    ed_krd_tags(&probe, flex);
    if (!ed_krd_ok(&probe)) return malformed(req, "delete-groups");
    struct durable_wait *d = ed_calloc(1, sizeof *d);
    if (!d) return ED_KAPI_CLOSE;
    bool appended = false;
    int64_t last = -1;
    ed_kwr_i32(w, 0);
    ed_kwr_array(w, n, flex);
    for (int32_t i = 0; i < n; i++) {
        ed_kstr gid = ed_krd_str(rd, flex);
        struct ed_group *grp = g && gid.len > 0 ? ed_group_find(g, gid) : NULL;
        int16_t err = ED_KERR_NONE;
        if (!g)
            err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        else if (gid.len <= 0)
            err = ED_KERR_INVALID_GROUP_ID;
        else if (!grp || grp->state == ED_GS_DEAD)
            err = ED_KERR_GROUP_ID_NOT_FOUND;
        else if (grp->state != ED_GS_EMPTY || grp->n_members > 0)
            err = ED_KERR_NON_EMPTY_GROUP;
        if (!err) {
            struct ed_grec *recs = NULL;
            int nr = 0;
            int64_t l = -1;
            int rc = group_tombstones(grp, &recs, &nr);
            if (rc == ED_OK) rc = ed_gstore_append(g, recs, nr, &l);
            if (recs) ed_grecs_free(recs, nr);
            ed_free(recs);
            if (rc != ED_OK) {
                err = append_error(rc);
            } else {
                ED_LOG_INFO("%s: deleted group %s (%" PRId64 " committed offsets)", req->peer,
                            grp->id, grp->n_offsets);
                ed_group_remove(g, grp);
                appended = true;
                last = l;
            }
        }
        ed_kwr_kstr(w, gid.len < 0 ? (ed_kstr){"", 0} : gid, flex);
        if (!err) note_err_pos(d, w->len);
        ed_kwr_i16(w, err);
        ed_kwr_tags(w, flex);
    }
    *rd = probe;
    ed_kwr_tags(w, flex);
    return finish_durable(req, d, appended, last);
}

/* ---- OffsetDelete ---- */

int ed_kapi_offset_delete(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    ed_groups *g = req->broker->groups;
    ed_kstr gid = ed_krd_str(rd, false);
    int32_t n_topics = ed_krd_array(rd, false, 6);
    if (!ed_krd_ok(rd) || n_topics < 0 || gid.len < 0) return malformed(req, "offset-delete");
    ed_krd probe = *rd;
    for (int32_t t = 0; t < n_topics; t++) {
        ed_krd_str(&probe, false);
        int32_t n = ed_krd_array(&probe, false, 4);
        if (n > 0) ed_krd_skip(&probe, (size_t)n * 4);
    }
    if (!ed_krd_ok(&probe)) return malformed(req, "offset-delete");
    struct ed_group *grp = g ? ed_group_find(g, gid) : NULL;
    int16_t top = ED_KERR_NONE;
    if (!g)
        top = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    else if (!grp || grp->state == ED_GS_DEAD)
        top = ED_KERR_GROUP_ID_NOT_FOUND;
    ed_kwr_i16(w, top);
    ed_kwr_i32(w, 0);
    if (top) {
        ed_kwr_array(w, 0, false);
        *rd = probe;
        return ED_KAPI_RESPOND;
    }
    struct durable_wait *d = ed_calloc(1, sizeof *d);
    if (!d) return ED_KAPI_CLOSE;
    bool appended = false;
    int64_t last = -1;
    ed_kwr_array(w, n_topics, false);
    for (int32_t t = 0; t < n_topics; t++) {
        ed_kstr name = ed_krd_str(rd, false);
        int32_t n = ed_krd_array(rd, false, 4);
        char tname[ED_TOPIC_NAME_MAX + 1];
        bool name_ok = ed_kstr_copy(name, tname, sizeof tname);
        ed_topic *topic = name_ok ? ed_topics_find(req->broker->topics, tname) : NULL;
        bool subscribed = name_ok && ed_group_subscribed(grp, tname);
        ed_kwr_kstr(w, name.len < 0 ? (ed_kstr){"", 0} : name, false);
        ed_kwr_array(w, n < 0 ? 0 : n, false);
        for (int32_t i = 0; i < n; i++) {
            int32_t index = ed_krd_i32(rd);
            int16_t err = ED_KERR_NONE;
            if (!topic || !ed_topic_partition(topic, index))
                err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (subscribed)
                err = ED_KERR_GROUP_SUBSCRIBED_TO_TOPIC;
            else if (ed_group_offset(grp, tname, index)) {
                struct ed_grec r = {0};
                int64_t l;
                int rc = ed_gstore_offset_key(grp->id, tname, index, &r);
                if (rc == ED_OK) rc = ed_gstore_append(g, &r, 1, &l);
                ed_grecs_free(&r, 1);
                if (rc != ED_OK) {
                    err = append_error(rc);
                } else {
                    ed_group_offset_del(grp, tname, index);
                    appended = true;
                    last = l;
                }
            }
            ed_kwr_i32(w, index);
            if (!err && appended) note_err_pos(d, w->len);
            ed_kwr_i16(w, err);
        }
    }
    return finish_durable(req, d, appended, last);
}
