/* The Kafka handlers of group membership: FindCoordinator (10) v0-4,
 * JoinGroup (11) v0-9, Heartbeat (12) v0-4, LeaveGroup (13) v0-5 and
 * SyncGroup (14) v0-5, and what every group handler shares (the request
 * context, the durable wait; core/kafka/kapi_group_int.h). Each decodes its
 * whole request through the message schema into the generated struct
 * (arrays in a per-request arena) before acting, asks the coordinator
 * (core/group*.c) with plain inputs, and encodes the response struct. The
 * handlers own the request: JoinGroup and SyncGroup park it with the
 * coordinator under a cookie until the rebalance reports back. The arena
 * lives until the request is answered or its connection closes. Offsets
 * and group administration: core/kafka/kapi_group_offsets.c. */
#define ED_LOG_MODULE "kgroup"
#include "core/kafka/kapi_group_int.h"
#include "core/group_int.h"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- one request being answered ---- */

/* Bound of one request's arena: its decoded arrays and its response's. */
#define GROUP_ARENA_MAX (64u << 20)

/* Whether field of s may be null at ver. (A schema query core/kafka/schema.c
 * does not offer: written here to leave that file to its owner.) */
static bool nullable_at(const struct ed_kstruct *s, int16_t ver, const char *field)
{
    for (uint16_t i = 0; i < s->n_fields; i++) {
        const struct ed_kfield *f = &s->fields[i];
        if (strcmp(ed_kschema_field_name(f), field) == 0)
            return f->null_min >= 0 && ver >= f->null_min && ver <= f->null_max;
    }
    return false;
}

static void gctx_free(struct gctx *c)
{
    ed_free(c->stored);
    ed_karena_free(&c->arena);
    ed_free(c);
}

/* n elements of size sz from the request's arena (zeroed); NULL if out. */
void *ed_kgroup_alloc(struct gctx *c, int32_t n, size_t sz)
{
    return ed_karena_alloc(&c->arena, (n > 0 ? (size_t)n : 1) * sz);
}

/* Decodes req's whole body into a request struct (*body) and prepares the
 * response struct (c->resp). ED_KAPI_CLOSE (logged) if malformed. */
int ed_kgroup_begin(ed_kreq *req, int16_t key, const char *what, struct gctx **out, void **body)
{
    struct gctx *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_KAPI_CLOSE;
    c->req = req;
    c->api = ed_kschema_api(key);
    c->what = what;
    ed_karena_init_heap(&c->arena, GROUP_ARENA_MAX);
    *body = ed_karena_alloc(&c->arena, c->api->request->size);
    c->resp = ed_karena_alloc(&c->arena, c->api->response->size);
    int rc = *body && c->resp
                 ? ed_kschema_decode_request(c->api, req->api_version, &req->rd, &c->arena, *body)
                 : ED_ERR_NOMEM;
    if (rc != ED_OK) {
        if (rc != ED_ERR_NOMEM)
            ED_LOG_WARN_RL("%s: malformed %s request v%d", req->peer, what, (int)req->api_version);
        gctx_free(c);
        return ED_KAPI_CLOSE;
    }
    ed_kschema_init(c->api->response, c->resp);
    *out = c;
    return ED_KAPI_RESPOND;
}

static void gctx_encode(struct gctx *c)
{
    ed_kschema_encode_response(c->api, c->req->api_version, &c->req->out, c->resp);
}

/* Closes the connection (memory is out) and frees c. */
int ed_kgroup_close(struct gctx *c)
{
    gctx_free(c);
    return ED_KAPI_CLOSE;
}

/* Encodes the response now and frees c. */
int ed_kgroup_respond(struct gctx *c)
{
    gctx_encode(c);
    gctx_free(c);
    return ED_KAPI_RESPOND;
}

/* ---- waiting for __consumer_offsets to be durable ---- */

int ed_kgroup_note_stored(struct gctx *c, int16_t *err)
{
    if (c->n_stored == c->cap_stored) {
        int32_t cap = c->cap_stored ? c->cap_stored * 2 : 16;
        int16_t **p = ed_realloc(c->stored, (size_t)cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        c->stored = p;
        c->cap_stored = cap;
    }
    c->stored[c->n_stored++] = err;
    return ED_OK;
}

void ed_kgroup_set_stored(struct gctx *c, int16_t code)
{
    for (int32_t i = 0; i < c->n_stored; i++)
        *c->stored[i] = code;
}

static void durable_cancel(ed_kreq *req)
{
    struct gctx *c = req->ctx;
    if (c) c->req = NULL;
}

static void durable_done(void *arg, int status)
{
    struct gctx *c = arg;
    ed_kreq *req = c->req;
    if (req) {
        if (status != ED_OK) {
            ED_LOG_WARN_RL("%s: committed offsets are not durable: %s", req->peer,
                           ed_strerror(status));
            ed_kgroup_set_stored(c, ED_KERR_COORDINATOR_NOT_AVAILABLE);
        }
        gctx_encode(c);
        req->ctx = NULL;
        req->cancel = NULL;
        ed_kreq_complete(req);
    }
    gctx_free(c);
}

/* Answers once offsets up to last are durable (at once if nothing was
 * appended or the wait cannot start). Takes c. */
int ed_kgroup_finish_durable(struct gctx *c, bool appended, int64_t last)
{
    ed_kreq *req = c->req;
    ed_groups *g = req->broker->groups;
    if (!appended || !g || !g->part) {
        gctx_encode(c);
        gctx_free(c);
        return ED_KAPI_RESPOND;
    }
    req->ctx = c;
    req->cancel = durable_cancel;
    int rc = ed_log_wait_durable(g->part->log, last, durable_done, c);
    if (rc != ED_OK) {
        /* the callback will not run */
        req->ctx = NULL;
        req->cancel = NULL;
        ed_kgroup_set_stored(c, ED_KERR_COORDINATOR_NOT_AVAILABLE);
        gctx_encode(c);
        gctx_free(c);
        return ED_KAPI_RESPOND;
    }
    return ED_KAPI_PENDING;
}

int16_t ed_kgroup_append_error(int rc)
{
    return rc == ED_ERR_TOOBIG ? ED_KERR_INVALID_COMMIT_OFFSET_SIZE
                               : ED_KERR_COORDINATOR_NOT_AVAILABLE;
}

/* ---- parked JoinGroup / SyncGroup ---- */

static void park_cancel(ed_kreq *req)
{
    struct gctx *c = req->ctx;
    if (!c) return;
    ed_groups_cancel(req->broker->groups, c);
    req->ctx = NULL;
    req->cancel = NULL;
    gctx_free(c);
}

/* The coordinator reported: answer now (during the call) or complete the
 * parked request. */
static void reported(struct gctx *c)
{
    gctx_encode(c);
    if (!c->parked) {
        c->answered = true;
        return;
    }
    ed_kreq *req = c->req;
    req->ctx = NULL;
    req->cancel = NULL;
    gctx_free(c);
    ed_kreq_complete(req);
}

/* After asking the coordinator: RESPOND if it reported, else park. */
static int after_call(struct gctx *c)
{
    if (c->answered) {
        gctx_free(c);
        return ED_KAPI_RESPOND;
    }
    c->parked = true;
    c->req->ctx = c;
    c->req->cancel = park_cancel;
    return ED_KAPI_PENDING;
}

/* ---- FindCoordinator ---- */

static void coordinator_for(ed_kreq *req, int8_t key_type, ed_kstr key, int16_t *err,
                            const char **msg)
{
    ed_groups *g = req->broker->groups;
    *err = ED_KERR_NONE;
    *msg = NULL;
    /* as Kafka: DESCRIBE on the group or transactional id comes first */
    if (key_type == 0 && !ed_kapi_allowed(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_GROUP, key)) {
        *err = ED_KERR_GROUP_AUTHORIZATION_FAILED;
    } else if (key_type == 1 &&
               !ed_kapi_allowed(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TRANSACTIONAL_ID, key)) {
        *err = ED_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (key_type == 1) {
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

int ed_kapi_find_coordinator(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_find_coordinator_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_FIND_COORDINATOR, "find-coordinator", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_find_coordinator_response *r = c->resp;
    ed_broker *b = req->broker;
    int16_t err;
    const char *msg;
    /* one key before v4, a batch of keys after */
    if (!ed_kschema_has(c->api->request, req->api_version, "CoordinatorKeys")) {
        coordinator_for(req, q->key_type, q->key, &err, &msg);
        r->error_code = err;
        r->error_message = ks(msg);
        r->node_id = err ? -1 : b->node_id;
        r->host = ks(err ? "" : ed_broker_adv_host(b, req->listener));
        r->port = err ? -1 : (int32_t)ed_broker_adv_port(b, req->listener);
        return ed_kgroup_respond(c);
    }
    int32_t n = q->n_coordinator_keys < 0 ? 0 : q->n_coordinator_keys;
    r->coordinators = ed_kgroup_alloc(c, n, sizeof *r->coordinators);
    if (!r->coordinators) return ed_kgroup_close(c);
    r->n_coordinators = n;
    for (int32_t i = 0; i < n; i++) {
        struct ed_kmsg_find_coordinator_response_coordinator *o = &r->coordinators[i];
        coordinator_for(req, q->key_type, q->coordinator_keys[i], &err, &msg);
        o->key = q->coordinator_keys[i];
        o->node_id = err ? -1 : b->node_id;
        o->host = ks(err ? "" : ed_broker_adv_host(b, req->listener));
        o->port = err ? -1 : (int32_t)ed_broker_adv_port(b, req->listener);
        o->error_code = err;
        o->error_message = ks(msg);
    }
    return ed_kgroup_respond(c);
}

/* ---- JoinGroup ---- */

static void join_done(void *cookie, const struct ed_gjoin_result *res)
{
    struct gctx *c = cookie;
    struct ed_kmsg_join_group_response *r = c->resp;
    int16_t v = c->req->api_version;
    r->error_code = res->error;
    r->generation_id = res->generation;
    r->protocol_type = ks(res->protocol_type);
    r->protocol_name = nullable_at(c->api->response, v, "ProtocolName")
                           ? ks(res->protocol)
                           : ks_or_empty(res->protocol);
    r->leader = ks_or_empty(res->leader);
    r->skip_assignment = res->skip_assignment;
    r->member_id = ks_or_empty(res->member_id);
    r->n_members = 0;
    const struct ed_group *grp = res->members_of;
    if (grp) r->members = ed_kgroup_alloc(c, grp->n_members, sizeof *r->members);
    if (grp && !r->members) r->error_code = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    for (const struct ed_gmember *m = grp && r->members ? grp->members : NULL; m; m = m->next) {
        const struct ed_gproto *p = ed_gmember_proto(m, grp->protocol);
        struct ed_kmsg_join_group_response_member *o = &r->members[r->n_members++];
        o->member_id = ks(m->id);
        o->group_instance_id = ks(m->instance_id);
        o->metadata = p ? kb(p->meta, p->meta_len) : kb(NULL, 0);
    }
    reported(c);
}

/* Kafka shows a member's host as "/<address>" (the peer without port). */
static ed_gstr client_host(const char *peer, char *buf, size_t cap)
{
    peer = peer ? peer : "";
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n + 2 > cap) n = cap - 2;
    buf[0] = '/';
    memcpy(buf + 1, peer, n);
    buf[n + 1] = '\0';
    return (ed_gstr){buf, (int32_t)(n + 1)};
}

int ed_kapi_join_group(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_join_group_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_JOIN_GROUP, "join-group", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    int32_t n = q->n_protocols < 0 ? 0 : q->n_protocols;
    ed_gstr *names = ed_kgroup_alloc(c, n, sizeof *names);
    ed_gstr *metas = ed_kgroup_alloc(c, n, sizeof *metas);
    if (!names || !metas) return ed_kgroup_close(c);
    for (int32_t i = 0; i < n; i++) {
        names[i] = gs(q->protocols[i].name);
        metas[i] =
            (ed_gstr){(const char *)q->protocols[i].metadata.p, q->protocols[i].metadata.len};
    }
    char host[96];
    struct ed_gjoin_args a = {
        .group_id = gs(q->group_id),
        .session_timeout_ms = q->session_timeout_ms,
        .rebalance_timeout_ms = q->rebalance_timeout_ms,
        .member_id = gs(q->member_id),
        .instance_id = gs(q->group_instance_id),
        .protocol_type = gs(q->protocol_type),
        .n_protocols = n,
        .proto_names = names,
        .proto_metas = metas,
        .client_id = gs(req->client_id),
        .client_host = client_host(req->peer, host, sizeof host),
        .require_known_member = req->api_version >= 4, /* KIP-394, from v4 on */
        .waiter = {join_done, c},
    };
    struct ed_gjoin_result err = {.generation = -1, .leader = "", .member_id = ""};
    /* v0 has no rebalance timeout: the session timeout is both */
    if (!ed_kschema_has(c->api->request, req->api_version, "RebalanceTimeoutMs"))
        a.rebalance_timeout_ms = a.session_timeout_ms;
    if (!ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_GROUP, q->group_id))
        err.error = ED_KERR_GROUP_AUTHORIZATION_FAILED;
    else if (a.rebalance_timeout_ms < 0)
        err.error = ED_KERR_INVALID_REQUEST;
    else if (!req->broker->groups)
        err.error = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    if (err.error)
        join_done(c, &err);
    else
        ed_group_join(req->broker->groups, &a);
    return after_call(c);
}

/* ---- SyncGroup ---- */

static void sync_done(void *cookie, const struct ed_gsync_result *res)
{
    struct gctx *c = cookie;
    struct ed_kmsg_sync_group_response *r = c->resp;
    r->error_code = res->error;
    r->protocol_type = ks(res->error ? NULL : res->protocol_type);
    r->protocol_name = ks(res->error ? NULL : res->protocol);
    r->assignment = kb(res->assignment, res->assignment_len);
    reported(c);
}

int ed_kapi_sync_group(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_sync_group_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_SYNC_GROUP, "sync-group", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    int32_t n = q->n_assignments < 0 ? 0 : q->n_assignments;
    ed_gstr *members = ed_kgroup_alloc(c, n, sizeof *members);
    ed_gstr *bytes = ed_kgroup_alloc(c, n, sizeof *bytes);
    if (!members || !bytes) return ed_kgroup_close(c);
    for (int32_t i = 0; i < n; i++) {
        members[i] = gs(q->assignments[i].member_id);
        bytes[i] = (ed_gstr){(const char *)q->assignments[i].assignment.p,
                             q->assignments[i].assignment.len};
    }
    struct ed_gsync_args a = {
        .group_id = gs(q->group_id),
        .generation = q->generation_id,
        .member_id = gs(q->member_id),
        .instance_id = gs(q->group_instance_id),
        .protocol_type = gs(q->protocol_type),
        .protocol_name = gs(q->protocol_name),
        .n_assignments = n,
        .assign_members = members,
        .assign_bytes = bytes,
        .waiter = {sync_done, c},
    };
    bool allowed = ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_GROUP, q->group_id);
    if (!req->broker->groups || !allowed) {
        struct ed_gsync_result err = {allowed ? ED_KERR_COORDINATOR_NOT_AVAILABLE
                                              : ED_KERR_GROUP_AUTHORIZATION_FAILED,
                                      NULL, NULL, NULL, 0};
        sync_done(c, &err);
    } else {
        ed_group_sync(req->broker->groups, &a);
    }
    return after_call(c);
}

/* ---- Heartbeat ---- */

int ed_kapi_heartbeat(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_heartbeat_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_HEARTBEAT, "heartbeat", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_heartbeat_response *r = c->resp;
    ed_groups *g = req->broker->groups;
    if (!ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_GROUP, q->group_id))
        r->error_code = ED_KERR_GROUP_AUTHORIZATION_FAILED;
    else
        r->error_code = g ? ed_group_heartbeat(g, gs(q->group_id), q->generation_id,
                                               gs(q->member_id), gs(q->group_instance_id))
                          : ED_KERR_COORDINATOR_NOT_AVAILABLE;
    return ed_kgroup_respond(c);
}

/* ---- LeaveGroup ---- */

int ed_kapi_leave_group(ed_kreq *req)
{
    struct gctx *c;
    struct ed_kmsg_leave_group_request *q;
    int st = ed_kgroup_begin(req, ED_KMSG_LEAVE_GROUP, "leave-group", &c, (void **)&q);
    if (st != ED_KAPI_RESPOND) return st;
    struct ed_kmsg_leave_group_response *r = c->resp;
    ed_groups *g = req->broker->groups;
    int16_t top = ED_KERR_NONE;
    if (!g)
        top = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    else if (!ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_GROUP, q->group_id))
        top = ED_KERR_GROUP_AUTHORIZATION_FAILED;
    else if (q->group_id.len <= 0)
        top = ED_KERR_INVALID_GROUP_ID;
    /* one member before v3 (its error is the response's), a batch after */
    if (!ed_kschema_has(c->api->request, req->api_version, "Members")) {
        r->error_code = top ? top
                            : ed_group_leave(g, ed_group_find(g, gs(q->group_id)), gs(q->member_id),
                                             ED_GSTR_NULL);
        return ed_kgroup_respond(c);
    }
    r->error_code = top;
    int32_t n = top || q->n_members < 0 ? 0 : q->n_members;
    r->members = ed_kgroup_alloc(c, n, sizeof *r->members);
    if (!r->members) return ed_kgroup_close(c);
    r->n_members = n;
    for (int32_t i = 0; i < n; i++) {
        const struct ed_kmsg_leave_group_request_member_identity *mi = &q->members[i];
        /* the group is looked up again: an earlier leave may have emptied it */
        r->members[i].member_id = mi->member_id;
        r->members[i].group_instance_id = mi->group_instance_id;
        r->members[i].error_code = ed_group_leave(g, ed_group_find(g, gs(q->group_id)),
                                                  gs(mi->member_id), gs(mi->group_instance_id));
    }
    return ed_kgroup_respond(c);
}
