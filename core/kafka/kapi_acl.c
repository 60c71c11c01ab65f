/* Kafka ACLs on the wire: CreateAcls, DescribeAcls and DeleteAcls over the
 * durable ACL store (core/acl.h), each answering only once a change is on
 * flash, and the authorization call every handler makes
 * (core/kafka/kapi_acl.h). Creating and deleting ACLs needs ALTER on the
 * cluster, describing them DESCRIBE, as in Kafka; without an authorizer
 * the three APIs answer SECURITY_DISABLED. */
#define ED_LOG_MODULE "acl"
#include "core/kafka/kapi_acl.h"

#include "core/kafka/kapi_handlers.h"
#include "core/kafka/kapi_sasl.h"
#include "core/kafka/msg_gen.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <string.h>

static const char no_authorizer[] = "No Authorizer is configured.";

static const char *principal_of(const ed_kreq *req)
{
    return req->auth ? req->auth->principal : "User:ANONYMOUS";
}

bool ed_kapi_allowed(const ed_kreq *req, enum ed_acl_op op, enum ed_acl_res res, ed_kstr name)
{
    const ed_acl *a = req->broker->acl;
    if (!a) return true;
    char host[ED_ACL_MAX_HOST];
    ed_acl_peer_host(req->peer ? req->peer : "", host, sizeof host);
    return ed_acl_authorize(a, principal_of(req), host, op, res, name.p ? name.p : "",
                            name.len > 0 ? (size_t)name.len : 0);
}

bool ed_kapi_idempotent_allowed(const ed_kreq *req)
{
    const ed_acl *a = req->broker->acl;
    if (!a ||
        ed_kapi_allowed_z(req, ED_ACL_OP_IDEMPOTENT_WRITE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME))
        return true;
    char host[ED_ACL_MAX_HOST];
    ed_acl_peer_host(req->peer ? req->peer : "", host, sizeof host);
    return ed_acl_authorize_any(a, principal_of(req), host, ED_ACL_OP_WRITE, ED_ACL_RES_TOPIC);
}

bool ed_kapi_allowed_z(const ed_kreq *req, enum ed_acl_op op, enum ed_acl_res res, const char *name)
{
    return ed_kapi_allowed(req, op, res, ed_kstr_z(name));
}

int32_t ed_kapi_allowed_ops(const ed_kreq *req, enum ed_acl_res res, ed_kstr name, int32_t ops)
{
    int32_t out = 0;
    for (int op = ED_ACL_OP_READ; op <= ED_ACL_OP_IDEMPOTENT_WRITE; op++)
        if ((ops & (1 << op)) && ed_kapi_allowed(req, (enum ed_acl_op)op, res, name))
            out |= 1 << op;
    return out;
}

/* ---- the three ACL APIs ---- */

static ed_kstr kstr_n(const char *p, size_t n)
{
    return (ed_kstr){p, (int32_t)n};
}

/* A copy in req's arena, for answers that outlive the store's copy. */
static ed_kstr kcopy(ed_kreq *req, const char *p, size_t n)
{
    char *c = ed_karena_alloc(&req->arena, n ? n : 1);
    if (!c) {
        if (req->out.err == ED_OK) req->out.err = ED_ERR_NOMEM;
        return (ed_kstr){NULL, -1};
    }
    memcpy(c, p, n);
    return kstr_n(c, n);
}

/* A filter from a request; false when a field holds no known value. */
static bool filter_of(int8_t res, ed_kstr name, int8_t pat, ed_kstr pr, ed_kstr host, int8_t op,
                      int8_t perm, struct ed_acl_binding *f)
{
    *f = (struct ed_acl_binding){(uint8_t)res,
                                 (uint8_t)pat,
                                 (uint8_t)op,
                                 (uint8_t)perm,
                                 name.len >= 0 ? name.p : NULL,
                                 name.len > 0 ? (size_t)name.len : 0,
                                 pr.len >= 0 ? pr.p : NULL,
                                 pr.len > 0 ? (size_t)pr.len : 0,
                                 host.len >= 0 ? host.p : NULL,
                                 host.len > 0 ? (size_t)host.len : 0};
    /* resource types 6 and 7 (delegation tokens, users) are valid filters
     * that match nothing here */
    return res >= ED_ACL_RES_ANY && res <= 7 && pat >= ED_ACL_PAT_ANY &&
           pat <= ED_ACL_PAT_PREFIXED && op >= ED_ACL_OP_ANY && op <= 14 &&
           perm >= ED_ACL_PERM_ANY && perm <= ED_ACL_PERM_ALLOW;
}

/* The answer to a refused or impossible ACL request: the error code, or
 * NONE when the caller may go on. */
static int16_t gate(const ed_kreq *req, enum ed_acl_op op, const char **why)
{
    if (!req->broker->acl) {
        *why = no_authorizer;
        return ED_KERR_SECURITY_DISABLED;
    }
    if (!ed_kapi_allowed_z(req, op, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME)) {
        *why = "Cluster authorization failed.";
        return ED_KERR_CLUSTER_AUTHORIZATION_FAILED;
    }
    return ED_KERR_NONE;
}

int ed_kapi_describe_acls(ed_kreq *req)
{
    const struct ed_kmsg_describe_acls_request *q = req->body;
    struct ed_kmsg_describe_acls_response resp;
    ed_kschema_init(req->api->response, &resp);
    const char *why = NULL;
    resp.error_code = gate(req, ED_ACL_OP_DESCRIBE, &why);
    struct ed_acl_binding f;
    if (!resp.error_code &&
        !filter_of(q->resource_type_filter, q->resource_name_filter, q->pattern_type_filter,
                   q->principal_filter, q->host_filter, q->operation, q->permission_type, &f)) {
        resp.error_code = ED_KERR_INVALID_REQUEST;
        why = "the filter holds an unknown resource type, pattern type, operation or permission";
    }
    resp.error_message = ed_kstr_z(why);
    if (resp.error_code) {
        ed_kreq_respond(req, &resp);
        return ED_KAPI_RESPOND;
    }
    const ed_acl *a = req->broker->acl;
    size_t n = ed_acl_count(a);
    /* res_of[i]: the response resource of binding i (-1: not matched) */
    int32_t *res_of = ed_karena_alloc(&req->arena, (n ? n : 1) * sizeof *res_of);
    int32_t *first = ed_karena_alloc(&req->arena, (n ? n : 1) * sizeof *first);
    if (!res_of || !first) return ED_KAPI_CLOSE;
    int32_t n_res = 0;
    for (size_t i = 0; i < n; i++) {
        struct ed_acl_binding b, o;
        ed_acl_get(a, i, &b);
        res_of[i] = -1;
        if (!ed_acl_filter_matches(&f, &b)) continue;
        for (int32_t r = 0; r < n_res && res_of[i] < 0; r++) {
            ed_acl_get(a, (size_t)first[r], &o);
            if (o.res_type == b.res_type && o.pattern == b.pattern && o.name_len == b.name_len &&
                memcmp(o.name, b.name, b.name_len) == 0)
                res_of[i] = r;
        }
        if (res_of[i] < 0) {
            first[n_res] = (int32_t)i;
            res_of[i] = n_res++;
        }
    }
    if (!ed_kreq_array(req, n_res, &ed_kmsg_describe_acls_response_describe_acls_resource_desc,
                       &resp.n_resources, &resp.resources))
        return ED_KAPI_RESPOND;
    for (int32_t r = 0; r < n_res; r++) {
        struct ed_kmsg_describe_acls_response_describe_acls_resource *out = &resp.resources[r];
        struct ed_acl_binding b;
        ed_acl_get(a, (size_t)first[r], &b);
        out->resource_type = (int8_t)b.res_type;
        out->resource_name = kstr_n(b.name, b.name_len);
        out->pattern_type = (int8_t)b.pattern;
        int32_t k = 0;
        for (size_t i = 0; i < n; i++)
            k += res_of[i] == r;
        if (!ed_kreq_array(req, k, &ed_kmsg_describe_acls_response_acl_description_desc,
                           &out->n_acls, &out->acls))
            return ED_KAPI_RESPOND;
        k = 0;
        for (size_t i = 0; i < n; i++) {
            if (res_of[i] != r) continue;
            ed_acl_get(a, i, &b);
            out->acls[k].principal = kstr_n(b.principal, b.principal_len);
            out->acls[k].host = kstr_n(b.host, b.host_len);
            out->acls[k].operation = (int8_t)b.op;
            out->acls[k].permission_type = (int8_t)b.perm;
            k++;
        }
    }
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}

int ed_kapi_create_acls(ed_kreq *req)
{
    const struct ed_kmsg_create_acls_request *q = req->body;
    struct ed_kmsg_create_acls_response resp;
    ed_kschema_init(req->api->response, &resp);
    int32_t n = q->n_creations > 0 ? q->n_creations : 0;
    if (!ed_kreq_array(req, n, &ed_kmsg_create_acls_response_acl_creation_result_desc,
                       &resp.n_results, &resp.results))
        return ED_KAPI_RESPOND;
    const char *why = NULL;
    int16_t err = gate(req, ED_ACL_OP_ALTER, &why);
    struct ed_acl_binding *b = ed_karena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof *b);
    if (!b) return ED_KAPI_CLOSE;
    size_t n_ok = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct ed_kmsg_create_acls_request_acl_creation *c = &q->creations[i];
        const char *bad = why;
        int16_t e = err;
        if (!e && (!filter_of(c->resource_type, c->resource_name, c->resource_pattern_type,
                              c->principal, c->host, c->operation, c->permission_type, &b[n_ok]) ||
                   !ed_acl_binding_ok(&b[n_ok], &bad)))
            e = ED_KERR_INVALID_REQUEST;
        resp.results[i].error_code = e;
        resp.results[i].error_message = ed_kstr_z(e ? bad : NULL);
        if (!e) n_ok++;
    }
    if (n_ok) {
        int rc = ed_acl_add(req->broker->acl, b, n_ok);
        if (rc == ED_OK) ED_LOG_INFO("%s (%s) added %zu ACLs", req->peer, principal_of(req), n_ok);
        for (int32_t i = 0; i < n && rc; i++) {
            if (resp.results[i].error_code) continue;
            resp.results[i].error_code =
                rc == ED_ERR_TOOBIG ? ED_KERR_INVALID_REQUEST : ED_KERR_UNKNOWN_SERVER_ERROR;
            resp.results[i].error_message = ed_kstr_z(
                rc == ED_ERR_TOOBIG ? "the ACL store is full" : "cannot write the ACL store");
        }
    }
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}

int ed_kapi_delete_acls(ed_kreq *req)
{
    const struct ed_kmsg_delete_acls_request *q = req->body;
    struct ed_kmsg_delete_acls_response resp;
    ed_kschema_init(req->api->response, &resp);
    int32_t n = q->n_filters > 0 ? q->n_filters : 0;
    if (!ed_kreq_array(req, n, &ed_kmsg_delete_acls_response_delete_acls_filter_result_desc,
                       &resp.n_filter_results, &resp.filter_results))
        return ED_KAPI_RESPOND;
    const char *why = NULL;
    int16_t err = gate(req, ED_ACL_OP_ALTER, &why);
    struct ed_acl_binding *f = ed_karena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof *f);
    if (!f) return ED_KAPI_CLOSE;
    ed_acl *a = req->broker->acl;
    size_t n_ok = 0;
    for (int32_t i = 0; i < n; i++) {
        const struct ed_kmsg_delete_acls_request_delete_acls_filter *c = &q->filters[i];
        struct ed_kmsg_delete_acls_response_delete_acls_filter_result *r = &resp.filter_results[i];
        int16_t e = err;
        const char *bad = why;
        if (!e && !filter_of(c->resource_type_filter, c->resource_name_filter,
                             c->pattern_type_filter, c->principal_filter, c->host_filter,
                             c->operation, c->permission_type, &f[n_ok])) {
            e = ED_KERR_INVALID_REQUEST;
            bad = "the filter holds an unknown resource type, pattern type, operation or "
                  "permission";
        }
        r->error_code = e;
        r->error_message = ed_kstr_z(e ? bad : NULL);
        if (e) continue;
        /* the bindings it removes, copied: the store's copy goes away */
        int32_t k = 0;
        struct ed_acl_binding b;
        for (size_t j = 0; j < ed_acl_count(a); j++) {
            ed_acl_get(a, j, &b);
            k += ed_acl_filter_matches(&f[n_ok], &b);
        }
        if (!ed_kreq_array(req, k, &ed_kmsg_delete_acls_response_delete_acls_matching_acl_desc,
                           &r->n_matching_acls, &r->matching_acls))
            return ED_KAPI_RESPOND;
        k = 0;
        for (size_t j = 0; j < ed_acl_count(a); j++) {
            ed_acl_get(a, j, &b);
            if (!ed_acl_filter_matches(&f[n_ok], &b)) continue;
            struct ed_kmsg_delete_acls_response_delete_acls_matching_acl *m =
                &r->matching_acls[k++];
            m->resource_type = (int8_t)b.res_type;
            m->resource_name = kcopy(req, b.name, b.name_len);
            m->pattern_type = (int8_t)b.pattern;
            m->principal = kcopy(req, b.principal, b.principal_len);
            m->host = kcopy(req, b.host, b.host_len);
            m->operation = (int8_t)b.op;
            m->permission_type = (int8_t)b.perm;
        }
        n_ok++;
    }
    if (n_ok && ed_kwr_ok(&req->out)) {
        size_t removed;
        int rc = ed_acl_remove(a, f, n_ok, &removed);
        if (rc == ED_OK && removed)
            ED_LOG_INFO("%s (%s) removed %zu ACLs", req->peer, principal_of(req), removed);
        for (int32_t i = 0; i < n && rc; i++) {
            if (resp.filter_results[i].error_code) continue;
            resp.filter_results[i].error_code = ED_KERR_UNKNOWN_SERVER_ERROR;
            resp.filter_results[i].error_message = ed_kstr_z("cannot write the ACL store");
            resp.filter_results[i].n_matching_acls = 0;
        }
    }
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}
